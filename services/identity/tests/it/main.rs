//! The identity service over real gRPC, against real PostgreSQL and NATS.

mod audit;
mod escalation;
mod events;
mod import;
mod org;
mod rights;
mod scope;
mod snils;
mod support;
mod tokens;
