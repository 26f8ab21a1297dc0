//! The idempotent consumer: a durable JetStream pull consumer with explicit
//! acks, whose handler runs in a database transaction that also records the
//! event id. A redelivered event (a crash before the ack, a re-sent event)
//! finds its id recorded and changes nothing.
//!
//! Failures are retried with a growing delay up to a bounded number of
//! deliveries; then, or at once for an event that cannot be decoded, the
//! event goes to the dead-letter stream and is acknowledged there, never
//! silently dropped.

use std::{future::Future, time::Duration};

use asurso_proto::events::{DeadLetter, Envelope};
use async_nats::jetstream::{
    self, AckKind,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
    message::PublishMessage,
};
use futures::{FutureExt, StreamExt};
use prost::Message as _;
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;
use uuid::Uuid;

use super::{BusError, EventBus, StreamDef, streams};
use crate::{Shutdown, lifecycle::Backoff, telemetry};

/// How often a consumer reports its backlog (`events_consumer_pending`).
const PENDING_REPORT_EVERY: Duration = Duration::from_secs(15);

/// What a consumer is: its durable name, what it reads, how hard it tries.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// The durable consumer's name; also its key in the inbox. Stable across
    /// releases, unique per service and purpose: `gradebook-guardians`.
    pub durable_name: String,
    pub stream: StreamDef,
    /// Logical subjects (wildcards allowed); empty means the whole stream.
    pub subjects: Vec<String>,
    /// Deliveries before an event goes to the dead letters.
    pub max_deliver: i64,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// The delay before the first retry; doubles with each delivery.
    pub retry_delay: Duration,
    /// At most this many events that are already waiting are applied in
    /// one transaction (1: each in its own). A batch whose handling fails
    /// is rolled back and its events applied one at a time, so a bad event
    /// is retried or dead-lettered alone.
    pub batch: usize,
}

impl ConsumerSpec {
    pub fn new(durable_name: impl Into<String>, stream: StreamDef) -> Self {
        Self {
            durable_name: durable_name.into(),
            stream,
            subjects: Vec::new(),
            max_deliver: 10,
            ack_wait: Duration::from_secs(30),
            retry_delay: Duration::from_millis(500),
            batch: 1,
        }
    }

    /// Applies up to `size` waiting events in one transaction.
    pub fn batch(mut self, size: usize) -> Self {
        self.batch = size.max(1);
        self
    }

    pub fn subjects(mut self, subjects: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.subjects = subjects.into_iter().map(Into::into).collect();
        self
    }
}

/// An event as a handler sees it.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    pub event_id: Uuid,
    /// The logical subject it was published on.
    pub subject: String,
    /// How many times it has been delivered, this time included.
    pub delivered: i64,
    pub envelope: Envelope,
}

impl ReceivedEvent {
    /// The name of the payload's type within `package` (`OrgUnitCreated` of
    /// `type.googleapis.com/asurso.events.v1.OrgUnitCreated` in
    /// `asurso.events.v1`), if it is of that package: what a handler
    /// dispatches on, matching `<Event as prost::Name>::NAME`.
    pub fn name_in(&self, package: &str) -> Option<&str> {
        let type_url = &self.envelope.payload.as_ref()?.type_url;
        let full_name = type_url
            .rsplit_once('/')
            .map_or(type_url.as_str(), |(_, name)| name);
        full_name.strip_prefix(package)?.strip_prefix('.')
    }

    /// Decodes the payload as `M`; a payload of another type is a permanent
    /// failure (the event goes to the dead letters).
    pub fn payload<M: prost::Name + Default>(&self) -> Result<M, HandleError> {
        let any = self
            .envelope
            .payload
            .as_ref()
            .ok_or_else(|| HandleError::Permanent("the envelope has no payload".to_owned()))?;
        any.to_msg::<M>().map_err(|error| {
            HandleError::Permanent(format!(
                "payload {} is not {}: {error}",
                any.type_url,
                M::type_url()
            ))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Retrying cannot help (a malformed event): dead-letter it now.
    #[error("{0}")]
    Permanent(String),
    /// Might work later (database busy, serialization failure).
    #[error(transparent)]
    Transient(Box<dyn std::error::Error + Send + Sync>),
}

/// A UUID field of an event; a malformed one is a permanent failure.
pub fn event_uuid(value: &str, field: &str) -> Result<Uuid, HandleError> {
    Uuid::parse_str(value).map_err(|_| HandleError::Permanent(format!("{field} is not a UUID")))
}

/// An optional UUID field of an event: empty means none.
pub fn optional_event_uuid(value: &str, field: &str) -> Result<Option<Uuid>, HandleError> {
    if value.is_empty() {
        Ok(None)
    } else {
        event_uuid(value, field).map(Some)
    }
}

/// A civil date field of an event; a missing or impossible one is a
/// permanent failure.
pub fn event_date(
    value: Option<&asurso_proto::common::CivilDate>,
    field: &str,
) -> Result<time::Date, HandleError> {
    value
        .ok_or_else(|| HandleError::Permanent(format!("{field} is missing")))
        .and_then(|value| {
            crate::convert::date(value, field)
                .map_err(|violation| HandleError::Permanent(violation.description))
        })
}

impl From<sqlx::Error> for HandleError {
    fn from(error: sqlx::Error) -> Self {
        Self::Transient(Box::new(error))
    }
}

/// Applies one event's effect inside the given transaction. The transaction
/// commits only if the handler succeeds, together with the inbox record.
pub trait EventHandler: Send + Sync + 'static {
    fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> impl Future<Output = Result<(), HandleError>> + Send;
}

/// How a delivered message is settled with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Handled now or before: done.
    Ack,
    /// Failed, try again after the delay.
    Retry(Duration),
    /// Given up on and recorded in the dead letters: never deliver again.
    DeadLettered,
}

/// What happened when an event was applied.
enum Applied {
    Handled,
    Duplicate,
}

pub struct IdempotentConsumer<H> {
    pool: PgPool,
    bus: EventBus,
    spec: ConsumerSpec,
    handler: H,
    consumer: PullConsumer,
}

impl<H: EventHandler> IdempotentConsumer<H> {
    /// Makes sure the stream and the durable consumer exist.
    pub async fn create(
        pool: PgPool,
        bus: EventBus,
        spec: ConsumerSpec,
        handler: H,
    ) -> Result<Self, BusError> {
        let stream = bus.ensure_stream(spec.stream).await?;
        bus.ensure_stream(streams::DEAD_LETTERS).await?;
        let mut subjects: Vec<String> = spec
            .subjects
            .iter()
            .map(|subject| bus.subject(subject))
            .collect();
        // One subject goes in `filter_subject`: servers before NATS 2.10
        // (Debian's 2.9) ignore `filter_subjects` and would deliver the
        // whole stream.
        let (filter_subject, filter_subjects) = if subjects.len() == 1 {
            (subjects.pop().unwrap_or_default(), Vec::new())
        } else {
            (String::new(), subjects)
        };
        let config = pull::Config {
            durable_name: Some(spec.durable_name.clone()),
            filter_subject,
            filter_subjects,
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            ack_wait: spec.ack_wait,
            // Unlimited on the server: our own count decides when an event
            // goes to the dead letters, and an event whose dead-lettering
            // fails keeps coming back instead of being dropped.
            max_deliver: -1,
            ..Default::default()
        };
        let consumer = stream
            .get_or_create_consumer(&spec.durable_name, config)
            .await
            .map_err(|source| BusError::Stream {
                stream: bus.stream_name(spec.stream),
                source: Box::new(source),
            })?;
        Ok(Self {
            pool,
            bus,
            spec,
            handler,
            consumer,
        })
    }

    /// The JetStream consumer underneath, for tools and tests.
    pub fn jetstream_consumer(&self) -> &PullConsumer {
        &self.consumer
    }

    /// Handles events one at a time until `shutdown`, finishing the event in
    /// hand first. Reconnects by itself when the message stream breaks.
    pub async fn run(self, shutdown: Shutdown) {
        let mut backoff = Backoff::default();
        while !shutdown.is_triggered() {
            let mut messages = match self.consumer.messages().await {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::warn!(consumer = %self.spec.durable_name, %error, "cannot pull events; retrying");
                    if !backoff.wait(&shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            backoff.reset();
            // The backlog as the server counts it, also while idle: a gauge
            // set only when events arrive would keep a stale backlog for
            // ever on a replica that has nothing to do.
            let mut report = tokio::time::interval(PENDING_REPORT_EVERY);
            report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                let next = tokio::select! {
                    () = shutdown.wait() => return,
                    _ = report.tick() => {
                        self.report_pending().await;
                        continue;
                    }
                    next = messages.next() => next,
                };
                match next {
                    Some(Ok(message)) => {
                        let started = std::time::Instant::now();
                        // What else is already here, up to the batch size.
                        let mut batch = vec![message];
                        while batch.len() < self.spec.batch {
                            match messages.next().now_or_never() {
                                Some(Some(Ok(more))) => batch.push(more),
                                _ => break,
                            }
                        }
                        let dispositions = if batch.len() == 1 {
                            vec![self.apply(&batch[0]).await]
                        } else {
                            self.apply_batch(&batch).await
                        };
                        let consumer = self.spec.durable_name.clone();
                        let each = started.elapsed().as_secs_f64() / batch.len() as f64;
                        for (message, disposition) in batch.iter().zip(dispositions) {
                            settle(message, disposition).await;
                            let outcome = match disposition {
                                Disposition::Ack => "done",
                                Disposition::Retry(_) => "retry",
                                Disposition::DeadLettered => "dead_lettered",
                            };
                            metrics::counter!("events_handled_total", "consumer" => consumer.clone(), "outcome" => outcome)
                                .increment(1);
                            metrics::histogram!("events_handling_seconds", "consumer" => consumer.clone())
                                .record(each);
                        }
                        if let Some(info) = batch.last().and_then(|message| message.info().ok()) {
                            metrics::gauge!("events_consumer_pending", "consumer" => consumer)
                                .set(info.pending as f64);
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(consumer = %self.spec.durable_name, %error, "pulling events");
                    }
                    None => break,
                }
            }
        }
    }

    /// The handling span of one message, a child of the producer's trace.
    fn span_of(
        &self,
        message: &jetstream::Message,
        subject: &str,
        delivered: i64,
    ) -> tracing::Span {
        let span = tracing::info_span!(
            "event.consume",
            otel.name = %format!("{subject} process"),
            otel.kind = "consumer",
            messaging.system = "nats",
            messaging.consumer = %self.spec.durable_name,
            messaging.destination = %subject,
            event_id = tracing::field::Empty,
            delivered,
        );
        if let Some(headers) = &message.headers {
            telemetry::set_parent_from(&span, &telemetry::NatsHeaders(headers));
        }
        span
    }

    /// Applies several delivered messages in one transaction, each at most
    /// once per event id, in order; if any fails (or cannot be decoded),
    /// nothing of the batch stays and each is applied alone instead.
    pub async fn apply_batch(&self, messages: &[jetstream::Message]) -> Vec<Disposition> {
        if messages
            .iter()
            .any(|message| self.replayed_for_another(message))
        {
            return self.one_by_one(messages).await;
        }
        let mut events = Vec::with_capacity(messages.len());
        for message in messages {
            let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
            let subject = self
                .bus
                .logical_subject(message.subject.as_str())
                .to_owned();
            match decode(&message.payload, subject, delivered) {
                Ok(event) => events.push(event),
                Err(_) => return self.one_by_one(messages).await,
            }
        }
        match self.apply_together(messages, &events).await {
            Ok(()) => vec![Disposition::Ack; messages.len()],
            Err(error) => {
                tracing::debug!(%error, size = messages.len(), "a batch failed; applying its events one at a time");
                self.one_by_one(messages).await
            }
        }
    }

    async fn report_pending(&self) {
        if let Ok(info) = self.consumer.get_info().await {
            metrics::gauge!("events_consumer_pending", "consumer" => self.spec.durable_name.clone())
                .set(info.num_pending as f64);
        }
    }

    /// A dead letter sent back for another consumer ([`super::REPLAY_FOR_HEADER`]).
    fn replayed_for_another(&self, message: &jetstream::Message) -> bool {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(super::REPLAY_FOR_HEADER))
            .is_some_and(|target| target.as_str() != self.spec.durable_name)
    }

    async fn one_by_one(&self, messages: &[jetstream::Message]) -> Vec<Disposition> {
        let mut dispositions = Vec::with_capacity(messages.len());
        for message in messages {
            dispositions.push(self.apply(message).await);
        }
        dispositions
    }

    async fn apply_together(
        &self,
        messages: &[jetstream::Message],
        events: &[ReceivedEvent],
    ) -> Result<(), HandleError> {
        let mut transaction = self.pool.begin().await?;
        let ids: Vec<Uuid> = events.iter().map(|event| event.event_id).collect();
        let subjects: Vec<&str> = events.iter().map(|event| event.subject.as_str()).collect();
        let mut new: std::collections::HashSet<Uuid> = sqlx::query_scalar(
            "INSERT INTO inbox (consumer, event_id, subject) \
             SELECT $1, id, subject FROM unnest($2::uuid[], $3::text[]) AS e(id, subject) \
             ON CONFLICT DO NOTHING RETURNING event_id",
        )
        .bind(&self.spec.durable_name)
        .bind(&ids)
        .bind(&subjects)
        .fetch_all(&mut *transaction)
        .await?
        .into_iter()
        .collect();
        for (message, event) in messages.iter().zip(events) {
            // A second copy of an event in the same batch finds it taken.
            if !new.remove(&event.event_id) {
                continue;
            }
            let span = self.span_of(message, &event.subject, event.delivered);
            span.record("event_id", tracing::field::display(event.event_id));
            self.handler
                .handle(&mut transaction, event)
                .instrument(span)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Applies one delivered message (at most once per event id) and says
    /// how to settle it. Does not ack: see [`settle`].
    pub async fn apply(&self, message: &jetstream::Message) -> Disposition {
        if self.replayed_for_another(message) {
            return Disposition::Ack;
        }
        let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
        let subject = self
            .bus
            .logical_subject(message.subject.as_str())
            .to_owned();
        let span = self.span_of(message, &subject, delivered);
        async {
            let event = match decode(&message.payload, subject, delivered) {
                Ok(event) => event,
                Err(reason) => return self.dead_letter(message, delivered, &reason).await,
            };
            tracing::Span::current().record("event_id", tracing::field::display(event.event_id));
            match self.apply_once(&event).await {
                Ok(Applied::Handled) => Disposition::Ack,
                Ok(Applied::Duplicate) => {
                    tracing::debug!("already handled, skipping");
                    Disposition::Ack
                }
                Err(HandleError::Permanent(reason)) => {
                    self.dead_letter(message, delivered, &reason).await
                }
                Err(HandleError::Transient(error)) if delivered >= self.spec.max_deliver => {
                    self.dead_letter(message, delivered, &error.to_string())
                        .await
                }
                Err(HandleError::Transient(error)) => {
                    tracing::warn!(%error, "handling failed; will retry");
                    Disposition::Retry(self.retry_delay(delivered))
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn apply_once(&self, event: &ReceivedEvent) -> Result<Applied, HandleError> {
        let mut transaction = self.pool.begin().await?;
        let recorded = sqlx::query(
            "INSERT INTO inbox (consumer, event_id, subject) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.spec.durable_name)
        .bind(event.event_id)
        .bind(&event.subject)
        .execute(&mut *transaction)
        .await?;
        if recorded.rows_affected() == 0 {
            transaction.rollback().await?;
            return Ok(Applied::Duplicate);
        }
        self.handler.handle(&mut transaction, event).await?;
        transaction.commit().await?;
        Ok(Applied::Handled)
    }

    fn retry_delay(&self, delivered: i64) -> Duration {
        let doublings = u32::try_from(delivered.clamp(1, 10) - 1).unwrap_or(0);
        (self.spec.retry_delay * 2u32.pow(doublings)).min(Duration::from_secs(60))
    }

    /// Records the event in the dead-letter stream. If even that fails, the
    /// event is retried rather than lost.
    async fn dead_letter(
        &self,
        message: &jetstream::Message,
        delivered: i64,
        reason: &str,
    ) -> Disposition {
        let letter = DeadLetter {
            consumer: self.spec.durable_name.clone(),
            subject: message.subject.to_string(),
            deliveries: u64::try_from(delivered).unwrap_or(0),
            reason: reason.to_owned(),
            body: message.payload.to_vec(),
            failed_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        };
        let subject = self.bus.subject(&format!(
            "{}.{}",
            streams::DEAD_LETTERS.subject_root,
            self.spec.durable_name
        ));
        // The original trace headers, but a de-duplication id of our own:
        // the event id alone would make a second consumer's letter for the
        // same event look like a duplicate and vanish.
        let mut headers = async_nats::HeaderMap::new();
        if let Some(original) = &message.headers {
            for (name, values) in original.iter() {
                if AsRef::<str>::as_ref(name) != super::MSG_ID_HEADER {
                    for value in values {
                        headers.append(name.clone(), value.clone());
                    }
                }
            }
        }
        let event_id = Envelope::decode(message.payload.as_ref())
            .map(|envelope| envelope.event_id)
            .unwrap_or_else(|_| {
                message
                    .info()
                    .map(|info| info.stream_sequence.to_string())
                    .unwrap_or_default()
            });
        // The delivered message's sequence too: the same message dead-lettered
        // again (its ack lost) is one letter, but the same event sent back
        // and failing again is a new message and must make a new letter.
        let sequence = message
            .info()
            .map(|info| info.stream_sequence)
            .unwrap_or_default();
        headers.insert(
            super::MSG_ID_HEADER,
            format!("{}:{event_id}:{sequence}", self.spec.durable_name).as_str(),
        );
        let publish = PublishMessage::build()
            .payload(letter.encode_to_vec().into())
            .headers(headers);
        let stored = async {
            self.bus
                .jetstream()
                .send_publish(subject, publish)
                .await
                .map_err(|error| error.to_string())?
                .await
                .map_err(|error| error.to_string())
        }
        .await;
        match stored {
            Ok(_) => {
                tracing::error!(reason, deliveries = delivered, "event dead-lettered");
                Disposition::DeadLettered
            }
            Err(error) => {
                tracing::error!(%error, reason, "cannot dead-letter an event; will retry it");
                Disposition::Retry(self.spec.retry_delay)
            }
        }
    }
}

fn decode(payload: &[u8], subject: String, delivered: i64) -> Result<ReceivedEvent, String> {
    let envelope =
        Envelope::decode(payload).map_err(|error| format!("not an event envelope: {error}"))?;
    let event_id = Uuid::parse_str(&envelope.event_id)
        .map_err(|error| format!("event_id {:?}: {error}", envelope.event_id))?;
    Ok(ReceivedEvent {
        event_id,
        subject,
        delivered,
        envelope,
    })
}

/// Tells the server how a message ended. A lost ack only means a
/// redelivery, which the inbox turns into a no-op.
pub async fn settle(message: &jetstream::Message, disposition: Disposition) {
    let kind = match disposition {
        Disposition::Ack => AckKind::Ack,
        Disposition::Retry(delay) => AckKind::Nak(Some(delay)),
        Disposition::DeadLettered => AckKind::Term,
    };
    if let Err(error) = message.ack_with(kind).await {
        tracing::warn!(%error, "settling a message failed; it will be redelivered");
    }
}
