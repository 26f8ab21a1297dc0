//! Everything that can go wrong in the gradebook, by kind. The API maps each
//! kind to one gRPC code in one place; storage and domain never build a
//! Status.

pub use asurso_runtime::errors::FieldViolation;
use asurso_runtime::errors::describe;

#[derive(Debug, thiserror::Error)]
pub enum GradebookError {
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// The request is well formed but clashes with what is recorded: a
    /// teacher already busy, a student already in a class.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl GradebookError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    pub fn denied(reason: impl Into<String>) -> Self {
        Self::PermissionDenied(reason.into())
    }

    pub fn not_found(field: &str, what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{field}: no {what}"))
    }
}

impl From<sqlx::Error> for GradebookError {
    fn from(error: sqlx::Error) -> Self {
        // The schema's last word on double booking, when two changes race
        // past the checks made before writing.
        let constraint = error
            .as_database_error()
            .filter(|e| e.is_unique_violation())
            .and_then(|e| e.constraint().map(str::to_owned));
        match constraint.as_deref() {
            Some("lessons_teacher_busy") => Self::FailedPrecondition(
                "teacher_id: the teacher has another lesson then (changed a moment ago)".to_owned(),
            ),
            Some("lessons_group_busy") => Self::FailedPrecondition(
                "the class has another lesson then (changed a moment ago)".to_owned(),
            ),
            _ => Self::Internal(Box::new(error)),
        }
    }
}

impl From<asurso_runtime::events::OutboxError> for GradebookError {
    fn from(error: asurso_runtime::events::OutboxError) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<asurso_runtime::idempotency::IdempotencyError> for GradebookError {
    fn from(error: asurso_runtime::idempotency::IdempotencyError) -> Self {
        match error {
            asurso_runtime::idempotency::IdempotencyError::KeyTooLong => {
                Self::invalid("idempotency_key", error.to_string())
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}
