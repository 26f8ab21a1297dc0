//! The gRPC edge: each method authenticated and handed to its handler
//! (`asurso_runtime::handle!`), whose error becomes the gRPC status.

pub mod admin;
pub mod feed;
pub mod preferences;

use std::{sync::Arc, time::Duration};

use asurso_runtime::{auth::Caller, edge::Edge, events::relay::RelayWaker};
use sqlx::PgPool;
use tonic::Status;

use crate::{delivery::push::Pusher, hub::Hub};

/// What every handler shares: the directory's edge state (pool, identity's
/// keys, relay; callers whose grant was revoked refused), the hub that wakes
/// subscribers, and what the settings say of streams, codes and push.
pub struct State {
    pub edge: asurso_directory::EdgeState,
    pub hub: Arc<Hub>,
    /// How long one `Subscribe` stream lives before the client resumes
    /// it with a fresh token.
    pub stream_lifetime: Duration,
    /// Whether e-mail is set up (an address can be confirmed).
    pub email_on: bool,
    /// Web push, when set up.
    pub pusher: Option<Arc<Pusher>>,
}

impl Edge for State {
    fn pool(&self) -> &PgPool {
        &self.edge.pool
    }

    fn relay(&self) -> &RelayWaker {
        &self.edge.relay
    }

    async fn caller<T: Send + Sync>(&self, request: &tonic::Request<T>) -> Result<Caller, Status> {
        self.edge.caller(request).await
    }
}

pub type Shared = Arc<State>;
