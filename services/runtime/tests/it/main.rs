//! The runtime against real PostgreSQL and NATS JetStream servers.

mod events;
mod server;
mod support;
