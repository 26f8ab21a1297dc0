//! Notifications against real PostgreSQL, NATS JetStream, an SMTP server
//! and a push endpoint, with identity and the gradebook in the same
//! process.

mod email;
mod feed;
mod push;
mod sources;
mod support;
