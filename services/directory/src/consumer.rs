//! The projection of identity: schools and the units above them, people's
//! names, role grants, guardian links and rights cells.
//!
//! A durable consumer of identity's stream: it survives restarts and, after
//! downtime, catches up from where it stopped. Each event is applied once
//! (the runtime's inbox); every write here is an upsert, so an event that
//! arrives after a later one about the same thing does no harm.

use asurso_proto::events as ev;
use asurso_runtime::events::{
    ConsumerSpec, EventHandler, HandleError, ReceivedEvent, consumer::event_uuid, streams,
};
use prost::Name;
use sqlx::PgConnection;

use crate::storage as store;

/// The durable consumer of identity's stream for `service`
/// (`gradebook-directory`): one per service, each keeping its own copy.
pub fn consumer_spec(service: &str) -> ConsumerSpec {
    ConsumerSpec::new(format!("{service}-directory"), streams::IDENTITY)
}

pub struct Directory;

/// The package of identity's events; a payload of another package is not
/// the directory's business.
const EVENTS: &str = ev::OrgUnitCreated::PACKAGE;

impl EventHandler for Directory {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let name = event.name_in(EVENTS);
        tracing::debug!(subject = %event.subject, event = name.unwrap_or_default(), "identity event");
        match name {
            Some(ev::OrgUnitCreated::NAME) => org_unit_created(transaction, event.payload()?).await,
            Some(ev::PersonRegistered::NAME) => {
                let person: ev::PersonRegistered = event.payload()?;
                let names = [&person.last_name, &person.first_name, &person.middle_name];
                person_named(transaction, &person.person_id, names).await
            }
            Some(ev::PersonChanged::NAME) => {
                let person: ev::PersonChanged = event.payload()?;
                let names = [&person.last_name, &person.first_name, &person.middle_name];
                person_named(transaction, &person.person_id, names).await
            }
            Some(ev::RoleGranted::NAME) => {
                let grant: ev::RoleGranted = event.payload()?;
                let parts = [
                    &grant.grant_id,
                    &grant.person_id,
                    &grant.role,
                    &grant.org_unit_id,
                ];
                grant_seen(transaction, parts, false).await
            }
            Some(ev::RoleRevoked::NAME) => {
                let grant: ev::RoleRevoked = event.payload()?;
                let parts = [
                    &grant.grant_id,
                    &grant.person_id,
                    &grant.role,
                    &grant.org_unit_id,
                ];
                grant_seen(transaction, parts, true).await
            }
            Some(ev::GuardianLinked::NAME) => {
                let link: ev::GuardianLinked = event.payload()?;
                guardian(transaction, &link.parent_id, &link.student_id, true).await
            }
            Some(ev::GuardianUnlinked::NAME) => {
                let link: ev::GuardianUnlinked = event.payload()?;
                guardian(transaction, &link.parent_id, &link.student_id, false).await
            }
            Some(ev::RightChanged::NAME) => right_changed(transaction, event.payload()?).await,
            // Anything else identity says is not the directory's business.
            _ => Ok(()),
        }
    }
}

async fn org_unit_created(
    transaction: &mut PgConnection,
    unit: ev::OrgUnitCreated,
) -> Result<(), HandleError> {
    let parent = if unit.parent_id.is_empty() {
        None
    } else {
        Some(event_uuid(&unit.parent_id, "parent_id")?)
    };
    store::upsert_org_unit(
        transaction,
        event_uuid(&unit.org_unit_id, "org_unit_id")?,
        &unit.kind,
        parent,
        &unit.name,
        &unit.time_zone,
    )
    .await?;
    Ok(())
}

/// A person registered or renamed: last, first and middle name.
async fn person_named(
    transaction: &mut PgConnection,
    person: &str,
    [last, first, middle]: [&String; 3],
) -> Result<(), HandleError> {
    store::upsert_person(
        transaction,
        event_uuid(person, "person_id")?,
        last,
        first,
        middle,
    )
    .await?;
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
        event_uuid(grant, "grant_id")?,
        event_uuid(person, "person_id")?,
        role,
        event_uuid(unit, "org_unit_id")?,
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
        event_uuid(parent, "parent_id")?,
        event_uuid(student, "student_id")?,
        linked,
    )
    .await?;
    Ok(())
}

async fn right_changed(
    transaction: &mut PgConnection,
    cell: ev::RightChanged,
) -> Result<(), HandleError> {
    store::set_right_cell(
        transaction,
        event_uuid(&cell.org_unit_id, "org_unit_id")?,
        &cell.role,
        &cell.right,
        cell.allowed,
        cell.adjustable,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use asurso_proto::events::Envelope;
    use uuid::Uuid;

    use super::*;

    fn received(payload: prost_types::Any) -> ReceivedEvent {
        ReceivedEvent {
            event_id: Uuid::nil(),
            subject: "identity.test".to_owned(),
            delivered: 1,
            envelope: Envelope {
                payload: Some(payload),
                ..Default::default()
            },
        }
    }

    #[test]
    fn an_event_is_named_by_its_type_within_identitys_package() -> Result<(), prost::EncodeError> {
        let granted = received(prost_types::Any::from_msg(&ev::RoleGranted::default())?);
        assert_eq!(granted.name_in(EVENTS), Some("RoleGranted"));

        let foreign = received(prost_types::Any {
            type_url: format!("type.googleapis.com/other.v1.{}", ev::RoleGranted::NAME),
            value: Vec::new(),
        });
        assert_eq!(foreign.name_in(EVENTS), None);
        Ok(())
    }
}
