//! The runtime against real PostgreSQL and NATS JetStream servers.

mod events;
mod operations;
mod server;
mod support;
