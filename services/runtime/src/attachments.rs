//! What may be attached to anything a person writes (an assignment, a
//! letter, an announcement): size, name and type, with the type checked
//! against the content, not only the name a client gives. One rule for
//! every service, so a file one accepts another does not refuse.

use crate::errors::{FieldViolation, ServiceError};

/// The largest attachment: a scanned page or a short document, well inside
/// one gRPC message.
pub const MAX_BYTES: usize = 3 * 1024 * 1024;

const ZIP_BASED: [&str; 5] = [
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
];

/// Whether `content` is what `content_type` says, by its first bytes.
fn content_matches(content_type: &str, content: &[u8]) -> Option<bool> {
    Some(match content_type {
        "application/pdf" => content.starts_with(b"%PDF-"),
        "image/png" => content.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => content.starts_with(&[0xFF, 0xD8, 0xFF]),
        "text/plain" => std::str::from_utf8(content).is_ok_and(|text| !text.contains('\0')),
        other if ZIP_BASED.contains(&other) => content.starts_with(b"PK\x03\x04"),
        _ => return None,
    })
}

/// The hex SHA-256 of a file, kept with it and shown beside it.
pub fn sha256_hex(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(content)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Checks a file to attach; every violation names its field.
pub fn validate(
    file_name: &str,
    content_type: &str,
    content: &[u8],
) -> Result<String, ServiceError> {
    validate_at("", file_name, content_type, content)
}

/// [`validate`] for one file of a list: fields are named after `prefix`
/// (`attachments[2].`).
pub fn validate_at(
    prefix: &str,
    file_name: &str,
    content_type: &str,
    content: &[u8],
) -> Result<String, ServiceError> {
    let field = |name: &str| format!("{prefix}{name}");
    let mut violations = Vec::new();
    let name = file_name.trim();
    if name.is_empty()
        || name.chars().count() > 200
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control)
        || name.starts_with('.')
    {
        violations.push(FieldViolation::new(
            field("file_name"),
            "must be 1 to 200 characters, a plain file name without folders",
        ));
    }
    if content.is_empty() {
        violations.push(FieldViolation::new(field("content"), "is empty"));
    } else if content.len() > MAX_BYTES {
        violations.push(FieldViolation::new(
            field("content"),
            format!(
                "is {} bytes; an attachment is at most {} MiB",
                content.len(),
                MAX_BYTES / 1024 / 1024
            ),
        ));
    }
    match content_matches(content_type, content) {
        None => violations.push(FieldViolation::new(
            field("content_type"),
            format!(
                "{content_type:?} is not accepted: attach PDF, PNG, JPEG, plain text or an office document"
            ),
        )),
        Some(false) if !content.is_empty() => {
            violations.push(FieldViolation::new(
            field("content"),
                format!("is not a {content_type} file"),
            ))
        }
        _ => {}
    }
    if violations.is_empty() {
        Ok(name.to_owned())
    } else {
        Err(ServiceError::Invalid(violations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<String, ServiceError>) -> Vec<String> {
        match result {
            Err(ServiceError::Invalid(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_file_is_checked_by_content_name_and_size() {
        assert!(validate("задание.pdf", "application/pdf", b"%PDF-1.7 ...").is_ok());
        assert_eq!(
            fields(validate("virus.pdf", "application/pdf", b"MZ\x90\x00")),
            ["content"]
        );
        assert_eq!(
            fields(validate("run.exe", "application/x-msdownload", b"MZ")),
            ["content_type"]
        );
        assert_eq!(
            fields(validate("../../etc/passwd", "text/plain", b"root")),
            ["file_name"]
        );
        let big = vec![b'a'; MAX_BYTES + 1];
        assert_eq!(fields(validate("big.txt", "text/plain", &big)), ["content"]);
    }
}
