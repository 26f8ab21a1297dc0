//! PostgreSQL's LISTEN, kept open: what every replica of a service hears of
//! every commit, whichever replica (or consumer) made it. A transaction's
//! `NOTIFY` is delivered when it commits and never otherwise.
//!
//! Notifications are lost while the listening connection is down; each
//! time listening starts again, [`Listening::resumed`] is told first, so
//! what depends on them reads afresh what came in between.

use std::future::Future;

use sqlx::{PgPool, postgres::PgListener};

use crate::{Shutdown, lifecycle::Backoff};

/// What hears the channels.
pub trait Listening: Send + Sync {
    /// Listening has (re)started: anything may have happened while nobody
    /// listened. Notifications that arrive meanwhile wait for this.
    fn resumed(&self) -> impl Future<Output = ()> + Send;

    /// One notification, in commit order.
    fn heard(&self, channel: &str, payload: &str) -> impl Future<Output = ()> + Send;

    /// The connection is lost: until [`Self::resumed`], nothing is heard.
    fn lost(&self) {}
}

/// Listens on `channels` until `shutdown`, reconnecting by itself (see
/// [`Backoff`]).
pub async fn listen(
    pool: PgPool,
    channels: &[&str],
    listening: &impl Listening,
    shutdown: Shutdown,
) {
    let mut backoff = Backoff::default();
    while !shutdown.is_triggered() {
        let connected = match PgListener::connect_with(&pool).await {
            Ok(mut listener) => listener
                .listen_all(channels.iter().copied())
                .await
                .map(|()| listener),
            Err(error) => Err(error),
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, ?channels, "cannot listen; retrying");
                if !backoff.wait(&shutdown).await {
                    return;
                }
                continue;
            }
        };
        backoff.reset();
        tokio::select! {
            () = shutdown.wait() => return,
            () = listening.resumed() => {}
        }
        loop {
            let next = tokio::select! {
                () = shutdown.wait() => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(news)) => listening.heard(news.channel(), news.payload()).await,
                // The connection was lost: listen again on a new one.
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, ?channels, "listening failed; reconnecting");
                    break;
                }
            }
        }
        listening.lost();
    }
}
