//! The gRPC edge: each method authenticated and handed to its handler
//! (`asurso_runtime::handle!`), whose error becomes the gRPC status.

pub mod announcements;
pub mod mail;
pub mod rules;

use std::sync::Arc;

use asurso_proto::messaging as pb;
use asurso_runtime::{attachments, errors::ServiceError};

use crate::{domain::MAX_ATTACHMENTS, storage::attachments::NewFile};

/// What every handler shares: the directory's edge state (pool, identity's
/// keys, relay; callers whose grant was revoked refused).
pub type State = asurso_directory::EdgeState;

pub type Shared = Arc<State>;

/// The files of a request, each checked by the rule every service shares
/// (size, name, type by content), every violation named.
fn new_files(files: &[pb::NewAttachment]) -> Result<Vec<NewFile>, ServiceError> {
    if files.len() > MAX_ATTACHMENTS {
        return Err(ServiceError::invalid(
            "attachments",
            format!("at most {MAX_ATTACHMENTS} files"),
        ));
    }
    let mut checked = Vec::with_capacity(files.len());
    let mut violations = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let content_type = file.content_type.trim().to_ascii_lowercase();
        match attachments::validate_at(
            &format!("attachments[{index}]."),
            &file.file_name,
            &content_type,
            &file.content,
        ) {
            Ok(file_name) => checked.push(NewFile {
                file_name,
                content_type,
                content: file.content.clone(),
            }),
            Err(ServiceError::Invalid(found)) => violations.extend(found),
            Err(other) => return Err(other),
        }
    }
    if violations.is_empty() {
        Ok(checked)
    } else {
        Err(ServiceError::Invalid(violations))
    }
}

/// A person as the contracts show them.
fn person(id: uuid::Uuid, name: String) -> pb::Person {
    pb::Person {
        id: id.to_string(),
        name,
    }
}
