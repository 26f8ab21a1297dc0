//! The directory: what a service knows of identity. Org units (schools and
//! the municipality and region above them), people's names, role grants,
//! guardian links and the rights matrix's cells, kept in the service's own
//! database as a projection of identity's events ([`consumer`]), read
//! through [`storage`], and the access checks every service makes on them
//! ([`access`]): the caller's token verified, their grant not revoked, the
//! grant covering the school, the matrix there giving the role the right.
//!
//!
//! Services that need the gradebook's classes (who is in 5А, who teaches
//! it, who leads it) keep them the same way with [`roster`].
//!
//! It must never call identity on a request (a service keeps answering
//! while identity is down), never write to these tables other than from
//! identity's events, and never hold a rule of one service (classes,
//! journals, messages): those stay in the service, built on these checks.

pub mod access;
pub mod consumer;
pub mod events;
pub mod memory;
pub mod roster;
pub mod storage;

use asurso_runtime::{
    auth::{Caller, IdentityKeys, IdentitySettings, Verifier},
    db::DbError,
    edge::Edge,
    events::relay::RelayWaker,
    service::{Foundation, StartError},
};
use sqlx::{PgPool, migrate::Migrator};
use tonic::Status;

use std::sync::Arc;

pub use consumer::{Directory, consumer_spec};
pub use memory::Memory;
pub use storage::School;

/// The directory's tables, with their own bookkeeping table: a service's
/// `migrations/` and these never collide on a version number.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_asurso_directory_migrations");
    migrator
}

/// Creates the directory's tables where they do not exist yet. Run after
/// the service's own migrations, before it serves or consumes.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    migrator().run(pool).await?;
    Ok(())
}

/// What the handlers of a service that knows its callers through the
/// directory share: its pool, identity's keys, its relay, the directory in
/// memory. A caller is verified by token and refused when identity has
/// revoked their grant.
pub struct EdgeState {
    pub pool: PgPool,
    pub verifier: Verifier<IdentityKeys>,
    pub relay: RelayWaker,
    pub memory: Arc<Memory>,
}

impl EdgeState {
    pub fn new(foundation: &Foundation, identity: &IdentitySettings) -> Result<Self, StartError> {
        Ok(Self {
            pool: foundation.pool.clone(),
            verifier: identity.verifier()?,
            relay: foundation.relay_waker(),
            memory: Arc::default(),
        })
    }
}

/// The directory's part of a service: its consumer of identity's events
/// (`<service>-directory`) and the listener that keeps `state`'s memory.
pub trait WithDirectory {
    fn with_directory(self, service: &str, state: &EdgeState) -> Self;
}

impl WithDirectory for Foundation {
    fn with_directory(self, service: &str, state: &EdgeState) -> Self {
        let (memory, pool) = (Arc::clone(&state.memory), state.pool.clone());
        self.consume(consumer_spec(service), Directory)
            .task(move |stop| memory.listen(pool, stop))
    }
}

impl Edge for EdgeState {
    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn relay(&self) -> &RelayWaker {
        &self.relay
    }

    async fn caller<T: Send + Sync>(&self, request: &tonic::Request<T>) -> Result<Caller, Status> {
        access::caller(&self.verifier, &self.memory, &self.pool, request).await
    }
}
