//! Queries, one module per aggregate, each taking a connection or a
//! transaction. No rules here beyond what the schema enforces.

pub mod calendar;
pub mod classes;
pub mod curriculum;
pub mod diary;
pub mod directory;
pub mod journal;
pub mod lessons;
pub mod reports;
pub mod timetable;

/// Whether an error is a unique-constraint violation of `constraint`.
pub fn violates(error: &sqlx::Error, constraint: &str) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation() && e.constraint() == Some(constraint))
}
