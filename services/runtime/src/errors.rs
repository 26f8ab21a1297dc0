//! The shapes every service's error takes at the gRPC edge: user mistakes
//! name their field (google.rpc.BadRequest, readable by grpcurl), internal
//! causes are logged with their chain and answered with a reference only.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

/// A field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// `field: what is wrong; other: ...`, the message of INVALID_ARGUMENT.
pub fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|violation| format!("{}: {}", violation.field, violation.description))
        .collect::<Vec<_>>()
        .join("; ")
}

/// INVALID_ARGUMENT naming each field, with a BadRequest detail.
pub fn invalid_argument(violations: Vec<FieldViolation>) -> Status {
    let message = describe(&violations);
    let details = ErrorDetails::with_bad_request(
        violations
            .into_iter()
            .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// INTERNAL with a reference the operator finds in the log beside the cause.
pub fn internal(source: &(dyn std::error::Error + Send + Sync)) -> Status {
    let reference = Uuid::new_v4();
    tracing::error!(%reference, error = %source, source = ?source, "internal error");
    Status::internal(format!("internal error (reference {reference})"))
}
