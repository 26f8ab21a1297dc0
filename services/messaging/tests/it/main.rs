//! Messaging against real PostgreSQL and NATS, with identity (tokens, the
//! directory) and the gradebook (classes, enrolments, the load) in the
//! same process.

mod board;
mod mail;
mod support;
