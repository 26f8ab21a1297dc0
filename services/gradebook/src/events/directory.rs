//! The gradebook's projection of identity: schools and the units above
//! them, people's names, role grants, guardian links and rights cells.
//!
//! A durable consumer of identity's stream: it survives restarts and, after
//! downtime, catches up from where it stopped. Each event is applied once
//! (the runtime's inbox); every write here is an upsert, so an event that
//! arrives after a later one about the same thing does no harm.

use asurso_proto::events as ev;
use asurso_runtime::events::{ConsumerSpec, EventHandler, HandleError, ReceivedEvent, streams};
use prost::Name;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::storage::directory as store;

pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new("gradebook-directory", streams::IDENTITY)
}

pub struct Directory;

fn uuid(value: &str, field: &str) -> Result<Uuid, HandleError> {
    Uuid::parse_str(value).map_err(|_| HandleError::Permanent(format!("{field} is not a UUID")))
}

impl EventHandler for Directory {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let type_url = event
            .envelope
            .payload
            .as_ref()
            .map(|payload| payload.type_url.clone())
            .unwrap_or_default();
        tracing::debug!(subject = %event.subject, %type_url, "identity event");
        if type_url == ev::OrgUnitCreated::type_url() {
            let unit: ev::OrgUnitCreated = event.payload()?;
            let parent = if unit.parent_id.is_empty() {
                None
            } else {
                Some(uuid(&unit.parent_id, "parent_id")?)
            };
            store::upsert_org_unit(
                transaction,
                uuid(&unit.org_unit_id, "org_unit_id")?,
                &unit.kind,
                parent,
                &unit.name,
                &unit.time_zone,
            )
            .await?;
        } else if type_url == ev::PersonRegistered::type_url() {
            let person: ev::PersonRegistered = event.payload()?;
            let names = [&person.last_name, &person.first_name, &person.middle_name];
            person_named(transaction, &person.person_id, names).await?;
        } else if type_url == ev::PersonChanged::type_url() {
            let person: ev::PersonChanged = event.payload()?;
            let names = [&person.last_name, &person.first_name, &person.middle_name];
            person_named(transaction, &person.person_id, names).await?;
        } else if type_url == ev::RoleGranted::type_url() {
            let grant: ev::RoleGranted = event.payload()?;
            let parts = [
                &grant.grant_id,
                &grant.person_id,
                &grant.role,
                &grant.org_unit_id,
            ];
            grant_seen(transaction, parts, false).await?;
        } else if type_url == ev::RoleRevoked::type_url() {
            let grant: ev::RoleRevoked = event.payload()?;
            let parts = [
                &grant.grant_id,
                &grant.person_id,
                &grant.role,
                &grant.org_unit_id,
            ];
            grant_seen(transaction, parts, true).await?;
        } else if type_url == ev::GuardianLinked::type_url() {
            let link: ev::GuardianLinked = event.payload()?;
            guardian(transaction, &link.parent_id, &link.student_id, true).await?;
        } else if type_url == ev::GuardianUnlinked::type_url() {
            let link: ev::GuardianUnlinked = event.payload()?;
            guardian(transaction, &link.parent_id, &link.student_id, false).await?;
        } else if type_url == ev::RightChanged::type_url() {
            let cell: ev::RightChanged = event.payload()?;
            store::set_right_cell(
                transaction,
                uuid(&cell.org_unit_id, "org_unit_id")?,
                &cell.role,
                &cell.right,
                cell.allowed,
                cell.adjustable,
            )
            .await?;
        }
        // Anything else identity says is not the gradebook's business.
        Ok(())
    }
}

/// A person registered or renamed: last, first and middle name.
async fn person_named(
    transaction: &mut PgConnection,
    person: &str,
    [last, first, middle]: [&String; 3],
) -> Result<(), HandleError> {
    store::upsert_person(transaction, uuid(person, "person_id")?, last, first, middle).await?;
    Ok(())
}

/// A grant given or revoked: its id, person, role and org unit.
async fn grant_seen(
    transaction: &mut PgConnection,
    [grant, person, role, unit]: [&String; 4],
    revoked: bool,
) -> Result<(), HandleError> {
    store::record_grant(
        transaction,
        uuid(grant, "grant_id")?,
        uuid(person, "person_id")?,
        role,
        uuid(unit, "org_unit_id")?,
        revoked,
    )
    .await?;
    Ok(())
}

async fn guardian(
    transaction: &mut PgConnection,
    parent: &str,
    student: &str,
    linked: bool,
) -> Result<(), HandleError> {
    store::link_guardian(
        transaction,
        uuid(parent, "parent_id")?,
        uuid(student, "student_id")?,
        linked,
    )
    .await?;
    Ok(())
}
