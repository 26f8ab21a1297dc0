//! Identity's queries, one module per aggregate. Each function takes a
//! connection or the caller's transaction; none decides who may do what.

pub mod accounts;
pub mod app_passwords;
pub mod audit;
pub mod federation;
pub mod grants;
pub mod keys;
pub mod org;
pub mod people;
pub mod policy;
pub mod rights;
pub mod sessions;

/// Whether a failed statement broke a unique constraint.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "23505")
}
