//! Sending what the feed cannot carry: e-mails and pushes, each at least
//! once and with its notification's id, so a crash between sending and
//! recording sends at most one copy more, which the receiver drops.
//!
//! A delivery is claimed with a lease (another replica takes it only after
//! the lease runs out), held back while its person's quiet hours last,
//! sent, and recorded. A transient failure is tried again with a growing
//! delay until the attempts run out ("failed"); a permanent one is
//! "refused"; an address or a push subscription that is gone is switched
//! off for the person, who is told in their feed.

pub mod digest;
pub mod email;
pub mod push;

use std::{sync::Arc, time::Duration};

use asurso_runtime::Shutdown;
use futures::StreamExt;
use serde::Deserialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    domain::{Draft, Kind},
    feed,
    hub::Hub,
    preferences,
};

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Might work later (a server down, a 4xx answer, a timeout).
    Transient(String),
    /// This one can never go (too large, malformed): it is given up.
    Refused(String),
    /// The address or subscription is gone: switched off for the person.
    Gone(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliverySettings {
    /// Attempts before a delivery is given up as failed.
    pub max_attempts: i32,
    /// The first retry's delay; it doubles with each attempt, up to an hour.
    pub retry_seconds: u64,
    /// How long a claimed delivery is this replica's before another may
    /// take it; a send is cut off at half of it.
    pub lease_seconds: u64,
    /// Deliveries claimed and sent at once.
    pub concurrency: usize,
    /// Where links in e-mails and pushes lead: the system's public address.
    pub public_url: String,
    /// Seconds between looks for digests that are due.
    pub digest_every: u64,
}

pub struct Dispatcher {
    pub pool: PgPool,
    pub hub: Arc<Hub>,
    pub mailer: Option<email::Mailer>,
    pub pusher: Option<Arc<push::Pusher>>,
    pub settings: DeliverySettings,
}

#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    notification_id: Uuid,
    channel: String,
    target: String,
    confirmation: bool,
    person_id: Uuid,
    attempts: i32,
    /// The lease this replica took: what it records under.
    leased_until: OffsetDateTime,
    kind: String,
    outside_title: String,
    outside_body: String,
    link: String,
    /// What is left of the person's quiet hours, if they are in them.
    quiet_seconds: Option<f64>,
}

impl Dispatcher {
    /// Sends until `stop`: at once when woken, else every second for what
    /// fell due (retries, the end of quiet hours).
    pub async fn run(self: Arc<Self>, stop: Shutdown) {
        loop {
            let woken = self.hub.deliveries().notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.round().await {
                Ok(claimed) if claimed >= self.settings.concurrency.max(1) => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "claiming deliveries failed"),
            }
            tokio::select! {
                () = stop.wait() => return,
                () = &mut woken => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Claims a batch of due deliveries and sends them; how many it claimed.
    pub async fn round(&self) -> Result<usize, sqlx::Error> {
        let claimed: Vec<Claimed> = sqlx::query_as(
            "WITH due AS ( \
                 SELECT notification_id, channel, target FROM deliveries \
                 WHERE state = 'pending' AND due_at <= now() \
                   AND (leased_until IS NULL OR leased_until < now()) \
                 ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries d SET leased_until = now() + make_interval(secs => $2), \
                 attempts = d.attempts + 1, last_attempt_at = now() \
             FROM due, notifications n \
             WHERE d.notification_id = due.notification_id AND d.channel = due.channel \
               AND d.target = due.target AND n.id = d.notification_id \
             RETURNING d.notification_id, d.channel, d.target, d.confirmation, d.person_id, \
                 d.attempts, d.leased_until, n.kind, n.outside_title, n.outside_body, n.link, \
                 CASE WHEN d.confirmation THEN NULL \
                      ELSE extract(epoch FROM quiet_left(d.person_id))::float8 END AS quiet_seconds",
        )
        .bind(i64::try_from(self.settings.concurrency.max(1)).unwrap_or(1))
        .bind(self.settings.lease_seconds as f64)
        .fetch_all(&self.pool)
        .await?;
        let count = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.settings.concurrency.max(1), |delivery| async move {
                let span = tracing::info_span!(
                    "notification.deliver",
                    notification_id = %delivery.notification_id,
                    channel = %delivery.channel,
                    attempt = delivery.attempts,
                );
                if let Err(error) = self.deliver(delivery).instrument(span).await {
                    tracing::warn!(%error, "recording a delivery failed; its lease will run out");
                }
            })
            .await;
        Ok(count)
    }

    async fn deliver(&self, delivery: Claimed) -> Result<(), sqlx::Error> {
        if let Some(seconds) = delivery.quiet_seconds {
            sqlx::query(
                "UPDATE deliveries SET due_at = now() + make_interval(secs => $4), held = true, \
                     leased_until = NULL, attempts = attempts - 1 \
                 WHERE notification_id = $1 AND channel = $2 AND target = $3 \
                   AND state = 'pending' AND leased_until = $5",
            )
            .bind(delivery.notification_id)
            .bind(&delivery.channel)
            .bind(&delivery.target)
            .bind(seconds)
            .bind(delivery.leased_until)
            .execute(&self.pool)
            .await?;
            tracing::debug!(seconds, "held back by quiet hours");
            return Ok(());
        }
        let started = std::time::Instant::now();
        // Cut off well inside the lease, so no other replica takes it while
        // it is still being sent.
        let limit = Duration::from_secs((self.settings.lease_seconds / 2).max(1));
        let sending = async {
            match delivery.channel.as_str() {
                "email" => self.email(&delivery).await,
                _ => self.push(&delivery).await,
            }
        };
        let outcome = match tokio::time::timeout(limit, sending).await {
            Ok(outcome) => outcome?,
            Err(_) => Outcome::Transient(format!("no answer within {limit:?}")),
        };
        let label = match &outcome {
            Outcome::Sent => "sent",
            Outcome::Transient(_) if delivery.attempts >= self.settings.max_attempts => "failed",
            Outcome::Transient(_) => "retry",
            Outcome::Refused(_) => "refused",
            Outcome::Gone(_) => "gone",
        };
        metrics::counter!("notifications_deliveries_total", "channel" => delivery.channel.clone(), "outcome" => label)
            .increment(1);
        metrics::histogram!("notifications_delivery_seconds", "channel" => delivery.channel.clone())
            .record(started.elapsed().as_secs_f64());
        self.record(&delivery, outcome).await
    }

    /// The e-mail of a delivery: a confirmation code to its address; any
    /// other notification only to the person's confirmed address still.
    async fn email(&self, delivery: &Claimed) -> Result<Outcome, sqlx::Error> {
        let Some(mailer) = &self.mailer else {
            return Ok(Outcome::Refused("e-mail is not set up".to_owned()));
        };
        if !delivery.confirmation {
            let current: Option<(String, bool, String)> = sqlx::query_as(
                "SELECT email, email_confirmed, email_disabled_reason FROM preferences WHERE person_id = $1",
            )
            .bind(delivery.person_id)
            .fetch_optional(&self.pool)
            .await?;
            let still = current.is_some_and(|(email, confirmed, disabled)| {
                email == delivery.target && confirmed && disabled.is_empty()
            });
            if !still {
                return Ok(Outcome::Refused(
                    "the address is no longer the person's confirmed one".to_owned(),
                ));
            }
        }
        let body = if delivery.link.is_empty() {
            delivery.outside_body.clone()
        } else {
            format!(
                "{}\n\n{}{}\n\n—\nАСУ РСО. Настроить уведомления: {}/settings/notifications",
                delivery.outside_body,
                self.settings.public_url,
                delivery.link,
                self.settings.public_url
            )
        };
        Ok(mailer
            .send(
                delivery.notification_id,
                &delivery.target,
                &delivery.outside_title,
                body,
            )
            .await)
    }

    async fn push(&self, delivery: &Claimed) -> Result<Outcome, sqlx::Error> {
        let Some(pusher) = &self.pusher else {
            return Ok(Outcome::Refused("web push is not set up".to_owned()));
        };
        let Ok(id) = Uuid::parse_str(&delivery.target) else {
            return Ok(Outcome::Refused("not a subscription".to_owned()));
        };
        let mut connection = self.pool.acquire().await?;
        let Some(subscription) = preferences::subscription(&mut connection, id).await? else {
            return Ok(Outcome::Refused("the device was removed".to_owned()));
        };
        drop(connection);
        let payload = payload(
            delivery.notification_id,
            &delivery.kind,
            &delivery.outside_title,
            &delivery.outside_body,
            &format!("{}{}", self.settings.public_url, delivery.link),
        );
        Ok(pusher
            .send(
                &subscription.endpoint,
                &subscription.p256dh,
                &subscription.auth,
                &delivery.notification_id.simple().to_string(),
                &payload,
            )
            .await)
    }

    /// Records how a send ended; a gone address or device is switched off
    /// and its person told, in one transaction.
    async fn record(&self, delivery: &Claimed, outcome: Outcome) -> Result<(), sqlx::Error> {
        let mut transaction = self.pool.begin().await?;
        let key = Key {
            notification: delivery.notification_id,
            channel: &delivery.channel,
            target: &delivery.target,
            lease: delivery.leased_until,
        };
        let (state, error) = match &outcome {
            Outcome::Sent => ("sent", ""),
            Outcome::Transient(error) if delivery.attempts >= self.settings.max_attempts => {
                tracing::warn!(%error, "delivery failed; attempts exhausted");
                ("failed", error.as_str())
            }
            Outcome::Transient(error) => ("pending", error.as_str()),
            Outcome::Refused(error) => {
                tracing::warn!(%error, "delivery refused");
                ("refused", error.as_str())
            }
            Outcome::Gone(error) => {
                tracing::warn!(%error, "address or device gone; switching it off");
                ("refused", error.as_str())
            }
        };
        let recorded = if state == "pending" {
            let doublings = u32::try_from(delivery.attempts.clamp(1, 12) - 1).unwrap_or(0);
            let delay = (self.settings.retry_seconds.max(1) * 2u64.pow(doublings)).min(3600);
            tracing::info!(error, delay, "delivery failed; will retry");
            sqlx::query(
                "UPDATE deliveries SET due_at = now() + make_interval(secs => $5), \
                     leased_until = NULL, last_error = $6 \
                 WHERE notification_id = $1 AND channel = $2 AND target = $3 \
                   AND state = 'pending' AND leased_until = $4",
            )
            .bind(key.notification)
            .bind(key.channel)
            .bind(key.target)
            .bind(key.lease)
            .bind(delay as f64)
            .bind(error)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
                > 0
        } else {
            set_state(&mut transaction, &key, state, error).await?
        };
        if !recorded {
            // Another replica took it after this one's lease ran out: what
            // it records stands.
            tracing::warn!("the delivery's lease ran out before it was recorded");
            return transaction.commit().await;
        }
        if let Outcome::Gone(error) = &outcome {
            switch_off(&mut transaction, delivery, error).await?;
        }
        if delivery.confirmation && state != "pending" {
            // The code has gone (or never will): it stays in no table.
            sqlx::query("UPDATE notifications SET body = '', outside_body = '' WHERE id = $1")
                .bind(delivery.notification_id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await
    }
}

/// A claimed delivery, as this replica's lease names it.
struct Key<'a> {
    notification: Uuid,
    channel: &'a str,
    target: &'a str,
    lease: OffsetDateTime,
}

/// Ends a delivery still under this replica's lease; whether it was.
async fn set_state(
    transaction: &mut PgConnection,
    key: &Key<'_>,
    state: &str,
    error: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE deliveries SET state = $5, leased_until = NULL, last_error = $6, \
             sent_at = CASE WHEN $5 = 'sent' THEN now() END \
         WHERE notification_id = $1 AND channel = $2 AND target = $3 \
           AND state = 'pending' AND leased_until = $4",
    )
    .bind(key.notification)
    .bind(key.channel)
    .bind(key.target)
    .bind(key.lease)
    .bind(state)
    .bind(error)
    .execute(transaction)
    .await?
    .rows_affected()
        > 0)
}

/// Stops using a gone address or device, drops what was waiting for it,
/// and tells the person in their feed (the feed always reaches them).
async fn switch_off(
    transaction: &mut PgConnection,
    delivery: &Claimed,
    error: &str,
) -> Result<(), sqlx::Error> {
    let (title, body) = if delivery.channel == "email" {
        let changed = sqlx::query(
            "UPDATE preferences SET email_disabled_reason = $3 \
             WHERE person_id = $1 AND email = $2 AND email_disabled_reason = ''",
        )
        .bind(delivery.person_id)
        .bind(&delivery.target)
        .bind(error)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(());
        }
        (
            "Уведомления по почте отключены".to_owned(),
            format!(
                "Письма на адрес {} не доходят: почтовый сервер отказывается их принимать. \
                 Укажите другой адрес в настройках уведомлений.",
                delivery.target
            ),
        )
    } else {
        let changed = sqlx::query(
            "UPDATE push_subscriptions SET gone_at = now() WHERE id::text = $1 AND gone_at IS NULL",
        )
        .bind(&delivery.target)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(());
        }
        (
            "Уведомления на устройство отключены".to_owned(),
            "Одно из ваших устройств больше не принимает уведомления (подписка отозвана). \
             Разрешите уведомления в браузере снова, чтобы получать их."
                .to_owned(),
        )
    };
    sqlx::query(
        "UPDATE deliveries SET state = 'dropped', last_error = $3 \
         WHERE channel = $1 AND target = $2 AND state = 'pending'",
    )
    .bind(&delivery.channel)
    .bind(&delivery.target)
    .bind(error)
    .execute(&mut *transaction)
    .await?;
    let notice = Draft {
        kind: Kind::System,
        title: title.clone(),
        body: body.clone(),
        plain_title: title,
        plain_body: body,
        link: "/settings/notifications".to_owned(),
        student: None,
        school: None,
    };
    feed::give(transaction, Uuid::now_v7(), &[delivery.person_id], &notice).await?;
    Ok(())
}

/// What a push carries: the id (for the receiver to drop a repeat), the
/// words, and the link, as JSON, cut to fit one push record.
pub fn payload(id: Uuid, kind: &str, title: &str, body: &str, url: &str) -> Vec<u8> {
    let mut body = body.to_owned();
    loop {
        let payload = serde_json::json!({
            "id": id.to_string(),
            "kind": kind,
            "title": title,
            "body": body,
            "url": url,
            "sent_at": OffsetDateTime::now_utc().unix_timestamp(),
        })
        .to_string()
        .into_bytes();
        if payload.len() <= push::MAX_PAYLOAD || body.is_empty() {
            return payload;
        }
        let keep = body.chars().count().saturating_sub(200);
        body = body.chars().take(keep).collect();
    }
}
