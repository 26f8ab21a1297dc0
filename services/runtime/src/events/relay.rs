//! The relay: publishes committed outbox rows to JetStream and marks each one
//! published only after the broker acknowledged it.
//!
//! - Rows are claimed, not followed by position: `FOR UPDATE SKIP LOCKED`
//!   over unpublished rows, so a transaction that commits late with a low
//!   sequence number is still published.
//! - Several relays (one per replica) may run against one database: a
//!   transaction-scoped advisory lock lets one of them work at a time, which
//!   also keeps each aggregate's events in order.
//! - Within a batch, events of different aggregates are published
//!   concurrently; events of one aggregate go one after another, and after a
//!   failure the aggregate's later events wait for the next batch.
//! - A crash after the PubAck and before the commit re-sends the row: the
//!   broker drops it by `Nats-Msg-Id` within its window, consumers' inboxes
//!   catch anything later.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_nats::jetstream::message::PublishMessage;
use futures::future::join_all;
use sqlx::{PgPool, Row};
use tokio::sync::Notify;
use tracing::Instrument;
use uuid::Uuid;

use super::{EventBus, MSG_ID_HEADER};
use crate::{Shutdown, settings::OutboxSettings, telemetry};

/// `pg_try_advisory_xact_lock` key shared by every relay of a database.
const RELAY_LOCK: i64 = 0x6173_7572_736f_0001;
/// How often published rows past their retention are removed.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);
/// The longest the relay waits between attempts while NATS is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the backlog gauges are sampled.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);
/// How long a stopping relay keeps publishing what was committed.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox relay: database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Counters of what a relay did, for metrics and tests.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Events the broker stored for the first time.
    pub published: AtomicU64,
    /// Events the broker had already (a re-send after a crash).
    pub duplicates: AtomicU64,
    /// Publish attempts that failed and will be retried.
    pub failures: AtomicU64,
}

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Another relay held the lock; nothing was done.
    pub busy: bool,
    pub claimed: usize,
    pub published: usize,
    pub failed: usize,
}

/// Wakes a sleeping relay after a commit, so events leave at once instead of
/// at the next poll.
#[derive(Debug, Clone, Default)]
pub struct RelayWaker(Arc<Notify>);

impl RelayWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    bus: EventBus,
    settings: OutboxSettings,
    stats: Arc<RelayStats>,
    waker: RelayWaker,
}

struct OutboxRow {
    seq: i64,
    event_id: Uuid,
    subject: String,
    aggregate: (String, String),
    body: Vec<u8>,
    headers: serde_json::Value,
}

impl Relay {
    pub fn new(pool: PgPool, bus: EventBus, settings: OutboxSettings) -> Self {
        Self {
            pool,
            bus,
            settings,
            stats: Arc::default(),
            waker: RelayWaker::default(),
        }
    }

    pub fn stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.stats)
    }

    pub fn waker(&self) -> RelayWaker {
        self.waker.clone()
    }

    /// Publishes until `shutdown`, then publishes what is still committed
    /// and unpublished (for a few seconds at most) and returns.
    pub async fn run(self, shutdown: Shutdown) {
        let mut backoff = self.settings.poll_interval;
        let mut last_housekeeping = Instant::now();
        let mut last_backlog: Option<Instant> = None;
        while !shutdown.is_triggered() {
            if last_backlog.is_none_or(|at| at.elapsed() >= BACKLOG_EVERY) {
                last_backlog = Some(Instant::now());
                if let Err(error) = self.sample_backlog().await {
                    tracing::debug!(%error, "sampling the outbox backlog failed");
                }
            }
            let wait = match self.publish_pending().await {
                Ok(pass) if pass.failed == 0 && pass.claimed >= self.batch_size() => {
                    backoff = self.settings.poll_interval;
                    continue;
                }
                Ok(pass) if pass.failed == 0 => {
                    backoff = self.settings.poll_interval;
                    self.settings.poll_interval
                }
                Ok(_) => {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
                Err(error) => {
                    tracing::warn!(%error, "outbox relay pass failed");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            if last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY {
                last_housekeeping = Instant::now();
                if let Err(error) = self.housekeeping().await {
                    tracing::warn!(%error, "outbox housekeeping failed");
                }
            }
            tokio::select! {
                () = shutdown.wait() => {}
                () = self.waker.0.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.final_flush().await;
    }

    async fn final_flush(&self) {
        let deadline = Instant::now() + FINAL_FLUSH;
        while Instant::now() < deadline {
            match self.publish_pending().await {
                Ok(pass) if pass.busy => tokio::time::sleep(Duration::from_millis(50)).await,
                Ok(pass) if pass.claimed == 0 => return,
                Ok(pass) if pass.failed > 0 => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "outbox relay final flush failed");
                    break;
                }
            }
        }
        tracing::warn!(
            "outbox relay stopped with events unpublished; the next start publishes them"
        );
    }

    fn batch_size(&self) -> usize {
        self.settings.batch_size.max(1) as usize
    }

    /// One pass: claim a batch of unpublished rows, publish them, mark what
    /// the broker acknowledged.
    pub async fn publish_pending(&self) -> Result<Pass, RelayError> {
        let span = tracing::debug_span!("outbox.relay", claimed = tracing::field::Empty);
        self.pass().instrument(span).await
    }

    async fn pass(&self) -> Result<Pass, RelayError> {
        let mut transaction = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(RELAY_LOCK)
            .fetch_one(&mut *transaction)
            .await?;
        if !locked {
            transaction.commit().await?;
            return Ok(Pass {
                busy: true,
                ..Pass::default()
            });
        }

        let rows: Vec<OutboxRow> = sqlx::query(
            "SELECT seq, event_id, subject, aggregate_type, aggregate_id, body, headers \
             FROM outbox WHERE published_at IS NULL \
             ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(i64::from(self.settings.batch_size.max(1)))
        .fetch_all(&mut *transaction)
        .await?
        .into_iter()
        .map(|row| {
            Ok(OutboxRow {
                seq: row.try_get("seq")?,
                event_id: row.try_get("event_id")?,
                subject: row.try_get("subject")?,
                aggregate: (row.try_get("aggregate_type")?, row.try_get("aggregate_id")?),
                body: row.try_get("body")?,
                headers: row.try_get("headers")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        tracing::Span::current().record("claimed", rows.len());
        if rows.is_empty() {
            transaction.commit().await?;
            return Ok(Pass::default());
        }

        let (published, failed) = self.publish_in_waves(&rows).await;
        if !published.is_empty() {
            sqlx::query("UPDATE outbox SET published_at = now() WHERE seq = ANY($1)")
                .bind(&published)
                .execute(&mut *transaction)
                .await?;
        }
        if let Some((_, error)) = failed.first() {
            let seqs: Vec<i64> = failed.iter().map(|(seq, _)| *seq).collect();
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = ANY($1)",
            )
            .bind(&seqs)
            .bind(error)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(Pass {
            busy: false,
            claimed: rows.len(),
            published: published.len(),
            failed: failed.len(),
        })
    }

    /// Publishes the rows, each aggregate's in order. Returns the sequence
    /// numbers acknowledged, and those that failed with the reason.
    async fn publish_in_waves(&self, rows: &[OutboxRow]) -> (Vec<i64>, Vec<(i64, String)>) {
        // Wave n holds the n-th pending event of every aggregate.
        let mut position: HashMap<&(String, String), usize> = HashMap::new();
        let mut waves: Vec<Vec<&OutboxRow>> = Vec::new();
        for row in rows {
            let n = position.entry(&row.aggregate).or_insert(0);
            if waves.len() <= *n {
                waves.push(Vec::new());
            }
            waves[*n].push(row);
            *n += 1;
        }

        let mut published = Vec::with_capacity(rows.len());
        let mut failed = Vec::new();
        let mut stalled: HashSet<&(String, String)> = HashSet::new();
        for wave in waves {
            let (ready, held): (Vec<&OutboxRow>, Vec<&OutboxRow>) = wave
                .into_iter()
                .partition(|row| !stalled.contains(&row.aggregate));
            // Later events of a stalled aggregate stay unpublished, untouched.
            drop(held);
            let results = join_all(ready.iter().map(|row| self.publish(row))).await;
            for (row, result) in ready.into_iter().zip(results) {
                match result {
                    Ok(duplicate) => {
                        let counter = if duplicate {
                            &self.stats.duplicates
                        } else {
                            &self.stats.published
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("outbox_published_total").increment(1);
                        published.push(row.seq);
                    }
                    Err(error) => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("outbox_publish_failures_total").increment(1);
                        tracing::warn!(event_id = %row.event_id, subject = %row.subject, %error, "publishing an event failed; will retry");
                        stalled.insert(&row.aggregate);
                        failed.push((row.seq, error));
                    }
                }
            }
        }
        (published, failed)
    }

    /// Publishes one event and waits for the PubAck. `Ok(true)` when the
    /// broker already had it.
    async fn publish(&self, row: &OutboxRow) -> Result<bool, String> {
        let subject = self.bus.subject(&row.subject);
        let span = tracing::info_span!(
            "event.publish",
            otel.name = %format!("{} publish", row.subject),
            otel.kind = "producer",
            messaging.system = "nats",
            messaging.destination = %subject,
            event_id = %row.event_id,
        );
        let stored = stored_headers(&row.headers);
        telemetry::set_parent_from(&span, &telemetry::HeaderReader(&stored));

        async {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(MSG_ID_HEADER, row.event_id.to_string().as_str());
            let mut trace = telemetry::Pairs::default();
            telemetry::inject_current(&mut trace);
            for (key, value) in &trace.0 {
                headers.insert(key.as_str(), value.as_str());
            }
            let publish = PublishMessage::build()
                .payload(row.body.clone().into())
                .headers(headers);
            let ack = self
                .bus
                .jetstream()
                .send_publish(subject.clone(), publish)
                .await
                .map_err(|error| error.to_string())?
                .await
                .map_err(|error| error.to_string())?;
            Ok(ack.duplicate)
        }
        .instrument(span)
        .await
    }

    /// Publishes the outbox backlog as gauges: how many events wait, and
    /// for how long the oldest has waited (the lag an operator alerts on).
    pub async fn sample_backlog(&self) -> Result<(), RelayError> {
        let (waiting, oldest): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM now() - min(created_at))::float8 \
             FROM outbox WHERE published_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        metrics::gauge!("outbox_unpublished").set(waiting as f64);
        metrics::gauge!("outbox_oldest_unpublished_seconds").set(oldest.unwrap_or(0.0));
        Ok(())
    }

    /// Removes published rows past the retention period, and consumers'
    /// records of handled events and stored idempotent answers just as old.
    pub async fn housekeeping(&self) -> Result<(), RelayError> {
        let retention = self.settings.retention.as_secs_f64();
        sqlx::query("DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)")
            .bind(retention)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM inbox WHERE handled_at < now() - make_interval(secs => $1)")
            .bind(retention)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM idempotency WHERE created_at < now() - make_interval(secs => $1)")
            .bind(retention)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn stored_headers(stored: &serde_json::Value) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    if let Some(object) = stored.as_object() {
        for (key, value) in object {
            if let (Ok(name), Some(Ok(value))) = (
                http::header::HeaderName::from_bytes(key.as_bytes()),
                value.as_str().map(http::header::HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    headers
}
