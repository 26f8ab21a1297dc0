//! The runtime every ASU RSO service stands on: typed settings, telemetry
//! (structured logs, OpenTelemetry spans, W3C trace context across gRPC and
//! NATS), the gRPC server with health, reflection, deadlines and graceful
//! shutdown, the PostgreSQL pool with migrations, and the event plumbing:
//! the transactional outbox, the relay that publishes it to JetStream, and
//! the idempotent consumer.
//!
//! Beyond roles and the one rights matrix every service enforces, it knows
//! nothing of schools, marks or people: domain rules belong in the services. It must never lose an acknowledged write or an event whose
//! transaction committed, and never publish one whose transaction did not.

pub mod admin;
pub mod allocator;
pub mod attachments;
pub mod auth;
pub mod convert;
pub mod db;
pub mod edge;
pub mod errors;
pub mod events;
pub mod idempotency;
pub mod lifecycle;
pub mod listen;
pub mod metrics;
pub mod rights;
pub mod server;
pub mod service;
pub mod settings;
pub mod telemetry;

pub use lifecycle::Shutdown;
/// For [`service_settings!`]: a service needs no serde of its own.
#[doc(hidden)]
pub use serde;
/// For [`application!`].
#[doc(hidden)]
pub use sqlx;
