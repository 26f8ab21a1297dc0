//! The gRPC edge: proto <-> domain conversions, the caller from the token,
//! and the one place where a [`GradebookError`] becomes a gRPC status.

pub mod calendar;
pub mod classes;
pub mod curriculum;
pub mod diary;
pub mod journal;
pub mod reports;
pub mod timetable;

pub use asurso_runtime::{
    convert::{civil_date, timestamp},
    edge::{
        Edge, Idempotent, date_field, optional_date, optional_text, optional_uuid, text_field,
        text_of, time_field, time_of_day, uuid_field,
    },
};
use std::sync::Arc;

use asurso_runtime::{
    auth::{Caller, IdentityKeys, Verifier},
    events::relay::RelayWaker,
};
use sqlx::PgPool;
use tonic::Status;

/// What every handler shares.
pub struct State {
    pub pool: PgPool,
    pub verifier: Verifier<IdentityKeys>,
    pub relay: RelayWaker,
}

pub type Shared = Arc<State>;

impl Edge for State {
    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn relay(&self) -> &RelayWaker {
        &self.relay
    }

    /// The verified caller of a request, whose grant identity has not
    /// revoked (as far as the gradebook has heard).
    async fn caller<T: Send + Sync>(&self, request: &tonic::Request<T>) -> Result<Caller, Status> {
        asurso_directory::access::caller(&self.verifier, &self.pool, request).await
    }
}
