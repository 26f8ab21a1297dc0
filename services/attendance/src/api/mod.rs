//! The gRPC edge: each method authenticated and handed to its handler
//! (`asurso_runtime::handle!`), whose error becomes the gRPC status.

pub mod codes;
pub mod lessons;
pub mod notes;
pub mod reports;
pub mod students;

use std::sync::Arc;

/// What every handler shares: the directory's edge state (pool, identity's
/// keys, relay; callers whose grant was revoked refused).
pub type State = asurso_directory::EdgeState;

pub type Shared = Arc<State>;
