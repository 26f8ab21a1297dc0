//! The shapes every service's error takes at the gRPC edge: user mistakes
//! name their field (google.rpc.BadRequest, readable by grpcurl), internal
//! causes are logged with their chain and answered with a reference only.
//!
//! A status travels in HTTP/2 headers, and common clients (grpc-java,
//! grpc-core, many proxies) refuse a header block over 8 KiB: the caller
//! then gets UNAVAILABLE instead of the refusal. So a refusal with many
//! violations names the first ones and counts the rest, and every part of
//! it is bounded, whatever the violations hold.

use std::borrow::Cow;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

/// Violations listed in the message of INVALID_ARGUMENT; the rest are
/// counted.
const LISTED_IN_MESSAGE: usize = 5;
/// Bytes of the message before the count. It is sent twice (in
/// `grpc-message`, percent-encoded: up to three times as long, and inside
/// the details).
const MESSAGE_BYTES: usize = 600;
/// Violations in the BadRequest detail, and the bytes of their fields and
/// descriptions together (the detail is sent base64-encoded: 4/3 as long).
const DETAILED: usize = 20;
const DETAILED_BYTES: usize = 2560;
/// Bytes of one violation's field name and description.
const FIELD_BYTES: usize = 100;
const DESCRIPTION_BYTES: usize = 200;

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

/// `field: what is wrong; other: ...`, every violation in full (for logs
/// and errors' `Display`; the status sent to the caller is bounded, see
/// [`invalid_argument`]).
pub fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|violation| format!("{}: {}", violation.field, violation.description))
        .collect::<Vec<_>>()
        .join("; ")
}

/// INVALID_ARGUMENT naming each field, with a BadRequest detail. Of many
/// violations, the message lists the first few and says how many more
/// there are; the detail holds the first [`DETAILED`]. A caller fixes those
/// and sends again: the count tells how far it has to go.
pub fn invalid_argument(violations: Vec<FieldViolation>) -> Status {
    let message = summary(&violations);
    let mut room = DETAILED_BYTES;
    let mut detailed = Vec::new();
    for violation in violations.iter().take(DETAILED) {
        let field = clip(&violation.field, FIELD_BYTES);
        let description = clip(&violation.description, DESCRIPTION_BYTES);
        let size = field.len() + description.len();
        if size > room {
            break;
        }
        room -= size;
        detailed.push(tonic_types::FieldViolation::new(field, description));
    }
    let details = ErrorDetails::with_bad_request(detailed);
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The message of INVALID_ARGUMENT: `field: what; ...; … and 995 more`.
fn summary(violations: &[FieldViolation]) -> String {
    let mut message = String::new();
    let mut listed = 0;
    for violation in violations.iter().take(LISTED_IN_MESSAGE) {
        let part = format!(
            "{}: {}",
            clip(&violation.field, FIELD_BYTES),
            clip(&violation.description, DESCRIPTION_BYTES)
        );
        if listed > 0 {
            if message.len() + 2 + part.len() > MESSAGE_BYTES {
                break;
            }
            message.push_str("; ");
        }
        message.push_str(&part);
        listed += 1;
    }
    let more = violations.len() - listed;
    if more > 0 {
        message.push_str(&format!("; … and {more} more"));
    }
    message
}

/// `text` cut to at most `max` bytes on a character boundary, an ellipsis
/// saying it was cut.
fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let end = text.floor_char_boundary(max.saturating_sub('…'.len_utf8()));
    Cow::Owned(format!("{}…", &text[..end]))
}

/// INTERNAL with a reference the operator finds in the log beside the cause.
pub fn internal(source: &(dyn std::error::Error + Send + Sync)) -> Status {
    let reference = Uuid::new_v4();
    tracing::error!(%reference, error = %source, source = ?source, "internal error");
    opaque_internal(reference)
}

/// What the caller is told of an internal failure: only the reference under
/// which it was logged.
pub fn opaque_internal(reference: Uuid) -> Status {
    Status::internal(format!("internal error (reference {reference})"))
}

/// What went wrong, by kind: the one error of every service's domain,
/// storage and handlers, with one mapping to a gRPC status ([`From`] for
/// [`Status`]). A service names its own error as this type; constraint
/// names and other SQL are turned into a kind in its storage, never in its
/// domain.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is wrong; each field says how.
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
    /// Something the call depends on (an identity provider) is down: try
    /// again later.
    #[error("{0}")]
    Unavailable(String),
    /// The caller did this too often (a sender's hourly messages): wait.
    #[error("{0}")]
    Exhausted(String),
    /// Our fault: logged with its chain, answered with a reference only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    pub fn denied(reason: impl Into<String>) -> Self {
        Self::PermissionDenied(reason.into())
    }

    /// `field: no <what>`.
    pub fn not_found(field: &str, what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{field}: no {what}"))
    }

    pub fn internal(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(source))
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Invalid(violations) => invalid_argument(violations),
            ServiceError::AlreadyExists(message) => Status::already_exists(message),
            ServiceError::NotFound(message) => Status::not_found(message),
            ServiceError::PermissionDenied(message) => Status::permission_denied(message),
            ServiceError::Unauthenticated(message) => Status::unauthenticated(message),
            ServiceError::FailedPrecondition(message) => Status::failed_precondition(message),
            ServiceError::Unavailable(message) => Status::unavailable(message),
            ServiceError::Exhausted(message) => Status::resource_exhausted(message),
            ServiceError::Internal(source) => internal(source.as_ref()),
        }
    }
}

/// A query that failed is ours to look into. Where a constraint stands for
/// a rule the caller can break (two lessons at once), the storage function
/// that hits it says so instead.
impl From<sqlx::Error> for ServiceError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(error)
    }
}

impl From<crate::events::OutboxError> for ServiceError {
    fn from(error: crate::events::OutboxError) -> Self {
        Self::internal(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes HTTP/2 counts for a header block (RFC 9113 §6.5.2: name,
    /// value and 32 per field), as the client's limit sees it.
    fn header_list_size(status: Status) -> usize {
        let response: http::Response<()> = status.into_http();
        response
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum()
    }

    #[test]
    fn a_few_violations_are_all_named_as_before() {
        let violations = vec![
            FieldViolation::new("student_id", "is not a UUID"),
            FieldViolation::new("date", "is required"),
        ];
        let status = invalid_argument(violations.clone());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), describe(&violations));
        let fields: Vec<String> = status
            .get_details_bad_request()
            .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["student_id", "date"]);
    }

    #[test]
    fn a_thousand_violations_name_the_first_and_count_the_rest_within_8_kib() {
        let violations: Vec<FieldViolation> = (0..1000)
            .map(|n| {
                FieldViolation::new(
                    format!("marks[{n}].student_id"),
                    format!("{n} was not a student of this lesson's class on 2025-09-01"),
                )
            })
            .collect();
        let status = invalid_argument(violations);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with(
                "marks[0].student_id: 0 was not a student of this lesson's class on 2025-09-01; \
                 marks[1].student_id"
            ),
            "{}",
            status.message()
        );
        assert!(
            status.message().ends_with("; … and 995 more"),
            "{}",
            status.message()
        );
        let detailed = status
            .get_details_bad_request()
            .map(|bad| bad.field_violations)
            .unwrap_or_default();
        assert!(
            (10..=DETAILED).contains(&detailed.len()),
            "{}",
            detailed.len()
        );
        assert_eq!(
            detailed.first().map(|v| v.field.as_str()),
            Some("marks[0].student_id")
        );
        let size = header_list_size(status);
        assert!(size < 6 * 1024, "{size} bytes of headers");
    }

    #[test]
    fn long_non_ascii_violations_are_cut_on_character_boundaries_within_8_kib() {
        // The worst case: every byte of the message percent-encoded, every
        // part at its limit.
        let violations: Vec<FieldViolation> = (0..1000)
            .map(|n| {
                FieldViolation::new(
                    format!("строка {n}: {}", "поле".repeat(50)),
                    "ё".repeat(1000),
                )
            })
            .collect();
        let status = invalid_argument(violations);
        assert!(status.message().ends_with(" more"), "{}", status.message());
        let detailed = status
            .get_details_bad_request()
            .map(|bad| bad.field_violations)
            .unwrap_or_default();
        assert!(!detailed.is_empty());
        for violation in &detailed {
            assert!(violation.field.len() <= FIELD_BYTES, "{}", violation.field);
            assert!(violation.description.len() <= DESCRIPTION_BYTES);
            assert!(
                violation.description.ends_with("ё…"),
                "{}",
                violation.description
            );
        }
        let size = header_list_size(status);
        assert!(size < 7 * 1024, "{size} bytes of headers");
    }

    #[test]
    fn clipping_keeps_short_text_and_cuts_long_text_on_a_boundary() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("абвгд", 6), "а…");
        assert_eq!(clip("abcdefgh", 5), "ab…");
    }
}
