//! Everything that can go wrong in identity, by kind. The API maps each kind
//! to one gRPC code in one place; storage and domain never build a Status.

pub use asurso_runtime::errors::FieldViolation;
use asurso_runtime::errors::describe;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
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
    #[error("{0}")]
    FailedPrecondition(String),
    /// Something the call depends on (the identity provider) is down: try
    /// again later.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl IdentityError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    pub fn denied(reason: impl Into<String>) -> Self {
        Self::PermissionDenied(reason.into())
    }
}

impl From<sqlx::Error> for IdentityError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<asurso_runtime::events::OutboxError> for IdentityError {
    fn from(error: asurso_runtime::events::OutboxError) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<crate::crypto::CryptoError> for IdentityError {
    fn from(error: crate::crypto::CryptoError) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<asurso_runtime::idempotency::IdempotencyError> for IdentityError {
    fn from(error: asurso_runtime::idempotency::IdempotencyError) -> Self {
        match error {
            asurso_runtime::idempotency::IdempotencyError::KeyTooLong => {
                Self::invalid("idempotency_key", error.to_string())
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}
