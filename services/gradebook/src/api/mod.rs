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

/// What every handler shares: the directory's edge state (pool, identity's
/// keys, relay; callers whose grant was revoked refused).
pub type State = asurso_directory::EdgeState;

pub type Shared = Arc<State>;
