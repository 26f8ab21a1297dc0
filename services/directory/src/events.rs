//! What a directory-backed service publishes, the same way in each: an
//! event about a school's data on `<service>.<aggregate>.<event>.<school>`
//! with the school's org scope, and staff reads of a student's data
//! reported to identity's personal-data audit. Both through the outbox, in
//! the caller's transaction: no commit, no event; no record, no read.

use asurso_proto::{common::OrgScope, events::PersonalDataRead};
use asurso_runtime::{
    auth::{Caller, role_name},
    errors::ServiceError,
    events::{NewEvent, StreamDef, enqueue, subjects},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::storage::School;

/// A service's voice: its name as the producer, its stream.
pub struct Publisher {
    pub producer: &'static str,
    pub stream: StreamDef,
}

pub fn scope_of(school: &School) -> OrgScope {
    let text = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    OrgScope {
        region_id: text(school.region_id),
        municipality_id: text(school.municipality_id),
        school_id: school.id.to_string(),
    }
}

impl Publisher {
    /// `<service>.<aggregate>.<event>.<school>`.
    pub fn subject(&self, aggregate: &str, event: &str, school: Uuid) -> String {
        format!("{}.{aggregate}.{event}.{school}", self.stream.subject_root)
    }

    /// Records one event in the outbox, in the caller's transaction.
    pub async fn publish<M: prost::Name>(
        &self,
        transaction: &mut PgConnection,
        school: &School,
        aggregate: (&str, Uuid),
        event: &str,
        payload: &M,
    ) -> Result<(), ServiceError> {
        enqueue(
            transaction,
            self.producer,
            NewEvent {
                subject: self.subject(aggregate.0, event, school.id),
                aggregate_type: aggregate.0,
                aggregate_id: aggregate.1.to_string(),
                scope: scope_of(school),
                payload,
            },
        )
        .await?;
        Ok(())
    }

    /// Reports that staff read a student's data; identity records it in
    /// the personal-data audit.
    pub async fn report_read(
        &self,
        transaction: &mut PgConnection,
        caller: &Caller,
        school: &School,
        student: Uuid,
        what: &str,
    ) -> Result<(), ServiceError> {
        enqueue(
            transaction,
            self.producer,
            NewEvent {
                subject: subjects::personal_data_read(self.stream, school.id),
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
}
