//! What the gradebook publishes (through the outbox, in the caller's
//! transaction). What it keeps from identity's events is the shared
//! directory's ([`asurso_directory::WithDirectory`]).

use asurso_directory::events::Publisher;
use asurso_runtime::{auth::Caller, events::streams};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{domain::GradebookError, storage::directory::School};

/// The gradebook's events go to its stream, under its name.
pub const GRADEBOOK: Publisher = Publisher {
    producer: "gradebook",
    stream: streams::GRADEBOOK,
};

/// Records one event in the outbox, in the caller's transaction.
pub async fn publish<M: prost::Name>(
    transaction: &mut PgConnection,
    school: &School,
    aggregate: (&str, Uuid),
    event: &str,
    payload: &M,
) -> Result<(), GradebookError> {
    GRADEBOOK
        .publish(transaction, school, aggregate, event, payload)
        .await
}

/// Reports that staff read a student's data; identity records it in the
/// personal-data audit. In the read's own transaction: no record, no read.
pub async fn report_read(
    transaction: &mut PgConnection,
    caller: &Caller,
    school: &School,
    student: Uuid,
    what: &str,
) -> Result<(), GradebookError> {
    GRADEBOOK
        .report_read(transaction, caller, school, student, what)
        .await
}
