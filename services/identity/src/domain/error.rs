//! Everything that can go wrong in identity is one of the kinds every
//! service shares ([`ServiceError`]), mapped to one gRPC code in one place
//! (the runtime); storage and domain never build a Status.

pub use asurso_runtime::errors::{FieldViolation, ServiceError};

/// Identity's error: the shared kinds.
pub type IdentityError = ServiceError;

impl From<crate::crypto::CryptoError> for ServiceError {
    fn from(error: crate::crypto::CryptoError) -> Self {
        Self::internal(error)
    }
}
