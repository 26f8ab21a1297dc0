//! What the gradebook publishes (through the outbox, in the caller's
//! transaction) and what it keeps from identity's events.

pub mod directory;

use asurso_proto::{common::OrgScope, events::PersonalDataRead};
use asurso_runtime::{
    auth::{Caller, role_name},
    events::{NewEvent, enqueue, streams, subjects},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{domain::GradebookError, storage::directory::School};

pub const PRODUCER: &str = "gradebook";

/// The subject of a gradebook event: `gradebook.<aggregate>.<event>.<school>`.
pub fn subject(aggregate: &str, event: &str, school: Uuid) -> String {
    format!(
        "{}.{aggregate}.{event}.{school}",
        streams::GRADEBOOK.subject_root
    )
}

pub fn scope_of(school: &School) -> OrgScope {
    let text = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    OrgScope {
        region_id: text(school.region_id),
        municipality_id: text(school.municipality_id),
        school_id: school.id.to_string(),
    }
}

/// Records one event in the outbox, in the caller's transaction.
pub async fn publish<M: prost::Name>(
    transaction: &mut PgConnection,
    school: &School,
    aggregate: (&str, Uuid),
    event: &str,
    payload: &M,
) -> Result<(), GradebookError> {
    enqueue(
        transaction,
        PRODUCER,
        NewEvent {
            subject: subject(aggregate.0, event, school.id),
            aggregate_type: aggregate.0,
            aggregate_id: aggregate.1.to_string(),
            scope: scope_of(school),
            payload,
        },
    )
    .await?;
    Ok(())
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
    enqueue(
        transaction,
        PRODUCER,
        NewEvent {
            subject: subjects::personal_data_read(streams::GRADEBOOK, school.id),
            aggregate_type: "student",
            aggregate_id: student.to_string(),
            scope: scope_of(school),
            payload: &PersonalDataRead {
                actor_id: caller.person_id.to_string(),
                actor_role: role_name(caller.role).to_owned(),
                actor_org_unit_id: caller.org_unit_id.to_string(),
                subject_id: student.to_string(),
                what: what.to_owned(),
            },
        },
    )
    .await?;
    Ok(())
}
