//! What may be attached to an assignment: size, name and type, with the
//! type checked against the content, not only the name a client gives.

use super::{GradebookError, error::FieldViolation};

/// The largest attachment: a scanned page or a short document, well inside
/// one gRPC message.
pub const MAX_BYTES: usize = 3 * 1024 * 1024;
/// Attachments of one assignment.
pub const MAX_PER_ASSIGNMENT: i64 = 10;

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

/// Checks a file to attach; every violation names its field.
pub fn validate(
    file_name: &str,
    content_type: &str,
    content: &[u8],
) -> Result<String, GradebookError> {
    let mut violations = Vec::new();
    let name = file_name.trim();
    if name.is_empty()
        || name.chars().count() > 200
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control)
        || name.starts_with('.')
    {
        violations.push(FieldViolation::new(
            "file_name",
            "must be 1 to 200 characters, a plain file name without folders",
        ));
    }
    if content.is_empty() {
        violations.push(FieldViolation::new("content", "is empty"));
    } else if content.len() > MAX_BYTES {
        violations.push(FieldViolation::new(
            "content",
            format!(
                "is {} bytes; an attachment is at most {} MiB",
                content.len(),
                MAX_BYTES / 1024 / 1024
            ),
        ));
    }
    match content_matches(content_type, content) {
        None => violations.push(FieldViolation::new(
            "content_type",
            format!(
                "{content_type:?} is not accepted: attach PDF, PNG, JPEG, plain text or an office document"
            ),
        )),
        Some(false) if !content.is_empty() => {
            violations.push(FieldViolation::new(
                "content",
                format!("is not a {content_type} file"),
            ))
        }
        _ => {}
    }
    if violations.is_empty() {
        Ok(name.to_owned())
    } else {
        Err(GradebookError::Invalid(violations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<String, GradebookError>) -> Vec<String> {
        match result {
            Err(GradebookError::Invalid(violations)) => {
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
