//! The gRPC edge: each method authenticated and handed to its handler
//! (`asurso_runtime::handle!`), whose error becomes the gRPC status.

pub mod codes;

use std::sync::Arc;

use asurso_runtime::{
    auth::{Caller, IdentityKeys, Verifier},
    edge::Edge,
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

    /// The verified caller, whose grant identity has not revoked.
    async fn caller<T: Send + Sync>(&self, request: &tonic::Request<T>) -> Result<Caller, Status> {
        asurso_directory::access::caller(&self.verifier, &self.pool, request).await
    }
}
