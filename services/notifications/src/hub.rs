//! Wakes what waits for news: each open `Subscribe` stream when its
//! person's feed grows, the senders when deliveries are due. News comes
//! from PostgreSQL's LISTEN on the channels [`crate::feed`] notifies on
//! commit, so every replica hears of every commit, whichever replica (or
//! consumer) made it.
//!
//! A wake-up is only a hint: a waiter always reads what is new from the
//! database, so a lost or repeated hint costs a read, never an entry. When
//! the listening connection is lost, everyone is woken once it listens
//! again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, Weak},
};

use asurso_runtime::{
    Shutdown,
    listen::{self, Listening},
};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::feed::{DELIVERY_CHANNEL, FEED_CHANNEL};

#[derive(Default)]
pub struct Hub {
    people: Mutex<HashMap<Uuid, Weak<Notify>>>,
    deliveries: Notify,
}

impl Hub {
    /// What a subscriber of `person` waits on; dropped with its last holder.
    pub fn watch(&self, person: Uuid) -> Arc<Notify> {
        let mut people = self.people.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(notify) = people.get(&person).and_then(Weak::upgrade) {
            return notify;
        }
        // Now and then, forget the people whose streams have all ended.
        if people.len() >= 1024 && people.len().is_power_of_two() {
            people.retain(|_, notify| notify.strong_count() > 0);
        }
        let notify = Arc::new(Notify::new());
        people.insert(person, Arc::downgrade(&notify));
        notify
    }

    /// What the senders wait on.
    pub fn deliveries(&self) -> &Notify {
        &self.deliveries
    }

    fn person(&self, person: Uuid) {
        let people = self.people.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(notify) = people.get(&person).and_then(Weak::upgrade) {
            notify.notify_waiters();
        }
    }

    fn everyone(&self) {
        let mut people = self.people.lock().unwrap_or_else(PoisonError::into_inner);
        people.retain(|_, notify| match notify.upgrade() {
            Some(notify) => {
                notify.notify_waiters();
                true
            }
            None => false,
        });
        self.deliveries.notify_one();
    }

    /// Listens until `shutdown`, reconnecting by itself.
    pub async fn listen(self: Arc<Self>, pool: PgPool, shutdown: Shutdown) {
        listen::listen(pool, &[FEED_CHANNEL, DELIVERY_CHANNEL], &*self, shutdown).await;
    }
}

impl Listening for Hub {
    /// Everyone looks for what came in between.
    async fn resumed(&self) {
        self.everyone();
    }

    async fn heard(&self, channel: &str, payload: &str) {
        if channel == FEED_CHANNEL {
            if let Ok(person) = Uuid::parse_str(payload) {
                self.person(person);
            }
        } else {
            self.deliveries.notify_one();
        }
    }
}
