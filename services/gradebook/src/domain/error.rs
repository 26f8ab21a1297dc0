//! Everything that can go wrong in the gradebook is one of the kinds every
//! service shares ([`ServiceError`]), mapped to one gRPC code in one place
//! (the runtime). Storage turns the schema's constraints into kinds; the
//! domain knows neither sqlx nor SQL.

pub use asurso_runtime::errors::{FieldViolation, ServiceError};

/// The gradebook's error: the shared kinds.
pub type GradebookError = ServiceError;
