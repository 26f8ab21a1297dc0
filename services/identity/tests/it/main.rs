//! The identity service over real gRPC, against real PostgreSQL and NATS.

mod accounts;
mod audit;
mod escalation;
mod esia_support;
mod events;
mod federation;
mod gost;
mod import;
mod limits;
mod oidc;
mod org;
mod policy;
mod rekey;
mod rights;
mod scope;
mod snils;
mod support;
mod tokens;
