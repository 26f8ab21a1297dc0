//! Domain events between services: the streams and subjects (named once,
//! here), the envelope, the transactional outbox, the relay that publishes
//! it, and the idempotent consumer.
//!
//! Subjects follow `<service>.<aggregate>.<event>`, with the school id as a
//! further token where consumers filter by school. Each producing service
//! owns one JetStream stream. A deployment's namespace (empty in production,
//! unique per test) prefixes every stream name and subject.

pub mod consumer;
pub mod dead_letters;
pub mod outbox;
pub mod relay;

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::settings::NatsSettings;

pub use consumer::{
    ConsumerSpec, Disposition, EventHandler, HandleError, IdempotentConsumer, ReceivedEvent,
};
pub use outbox::{NewEvent, OutboxError, enqueue, enqueue_many};
pub use relay::{Relay, RelayStats, RelayWaker};

/// A JetStream stream and the subjects it captures, in logical (namespace
/// free) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDef {
    pub name: &'static str,
    /// The first token of every subject in this stream, e.g. `identity`.
    pub subject_root: &'static str,
}

/// Every stream of the system. Producers and consumers name streams only
/// through these.
pub mod streams {
    use super::StreamDef;

    pub const IDENTITY: StreamDef = StreamDef {
        name: "IDENTITY",
        subject_root: "identity",
    };
    pub const GRADEBOOK: StreamDef = StreamDef {
        name: "GRADEBOOK",
        subject_root: "gradebook",
    };
    pub const ATTENDANCE: StreamDef = StreamDef {
        name: "ATTENDANCE",
        subject_root: "attendance",
    };
    pub const MESSAGING: StreamDef = StreamDef {
        name: "MESSAGING",
        subject_root: "messaging",
    };
    pub const NOTIFICATIONS: StreamDef = StreamDef {
        name: "NOTIFICATIONS",
        subject_root: "notifications",
    };
    /// Where consumers put events they gave up on, for an operator to look at.
    pub const DEAD_LETTERS: StreamDef = StreamDef {
        name: "DEAD_LETTERS",
        subject_root: "deadletter",
    };

    /// Every stream, e.g. to create them all at once.
    pub const ALL: [StreamDef; 6] = [
        IDENTITY,
        GRADEBOOK,
        ATTENDANCE,
        MESSAGING,
        NOTIFICATIONS,
        DEAD_LETTERS,
    ];
}

/// Subjects shared by more than one service.
pub mod subjects {
    use super::StreamDef;

    /// Where a service reports that it served a student's personal data to
    /// someone other than the student or a guardian (payload
    /// `asurso.events.v1.PersonalDataRead`); identity records it in the audit
    /// log. In the reporting service's own stream.
    pub fn personal_data_read(stream: StreamDef, school: uuid::Uuid) -> String {
        format!("{}.audit.read.{school}", stream.subject_root)
    }

    /// Every personal-data read reported in a stream.
    pub fn personal_data_reads(stream: StreamDef) -> String {
        format!("{}.audit.read.>", stream.subject_root)
    }
}

/// The header JetStream de-duplicates on; always the event id.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// On an event an operator sent back from the dead letters: the one
/// consumer it is for. Every other consumer of the subject acknowledges it
/// untouched (it may have applied the event so long ago that its inbox no
/// longer remembers).
pub const REPLAY_FOR_HEADER: &str = "Asurso-Replay-For";

/// A deployment's view of the NATS server: its namespace and stream policy.
#[derive(Debug, Clone)]
pub struct EventBus {
    jetstream: jetstream::Context,
    namespace: String,
    replicas: usize,
    duplicate_window: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("nats: connecting to {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
    #[error("nats: stream {stream}: {source}")]
    Stream {
        stream: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl EventBus {
    /// Connects to NATS. The client reconnects by itself after a server
    /// restart; publishes made meanwhile fail and the relay retries them.
    pub async fn connect(settings: &NatsSettings, client_name: &str) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name(client_name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .event_callback(|event| async move {
                tracing::info!(%event, "nats connection");
            })
            .connect(&settings.url)
            .await
            .map_err(|source| BusError::Connect {
                url: settings.url.clone(),
                source,
            })?;
        Ok(Self::new(client, settings))
    }

    pub fn new(client: async_nats::Client, settings: &NatsSettings) -> Self {
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(client);
        Self {
            jetstream,
            namespace: settings.namespace.clone(),
            replicas: settings.replicas.max(1),
            duplicate_window: settings.duplicate_window,
        }
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    pub fn client(&self) -> async_nats::Client {
        self.jetstream.client()
    }

    /// The stream's name in this deployment.
    pub fn stream_name(&self, stream: StreamDef) -> String {
        if self.namespace.is_empty() {
            stream.name.to_owned()
        } else {
            format!("{}_{}", self.namespace.to_ascii_uppercase(), stream.name)
        }
    }

    /// A logical subject as published in this deployment.
    pub fn subject(&self, logical: &str) -> String {
        if self.namespace.is_empty() {
            logical.to_owned()
        } else {
            format!("{}.{logical}", self.namespace)
        }
    }

    /// The logical subject of a subject seen on the wire.
    pub fn logical_subject<'a>(&self, subject: &'a str) -> &'a str {
        if self.namespace.is_empty() {
            subject
        } else {
            subject
                .strip_prefix(self.namespace.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(subject)
        }
    }

    /// Creates the stream if it does not exist yet (producers and consumers
    /// both call this, so either may start first) and returns it.
    pub async fn ensure_stream(&self, stream: StreamDef) -> Result<stream::Stream, BusError> {
        let name = self.stream_name(stream);
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![self.subject(&format!("{}.>", stream.subject_root))],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            max_age: Duration::from_secs(30 * 24 * 3600),
            ..Default::default()
        };
        self.jetstream
            .get_or_create_stream(config)
            .await
            .map_err(|source| BusError::Stream {
                stream: name,
                source: Box::new(source),
            })
    }
}
