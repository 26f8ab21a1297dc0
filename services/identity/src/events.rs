//! What identity publishes, through the outbox in the caller's transaction.

use asurso_proto::{common::OrgScope, events};
use asurso_runtime::events::{NewEvent, enqueue, streams};
use sqlx::PgConnection;

use crate::{domain::IdentityError, storage::org::OrgUnitRow};

pub const PRODUCER: &str = "identity";

/// The subject of an identity event: `identity.<aggregate>.<event>.<unit>`.
pub fn subject(aggregate: &str, event: &str, unit: uuid::Uuid) -> String {
    format!(
        "{}.{aggregate}.{event}.{unit}",
        streams::IDENTITY.subject_root
    )
}

/// The scope of a fact about something in `unit`.
pub fn scope_of(unit: &OrgUnitRow) -> OrgScope {
    let at = |index: usize| {
        unit.path
            .get(index)
            .map(ToString::to_string)
            .unwrap_or_default()
    };
    OrgScope {
        region_id: at(0),
        municipality_id: at(1),
        school_id: at(2),
    }
}

/// Records one event in the outbox.
pub async fn publish<M: prost::Name>(
    transaction: &mut PgConnection,
    unit: &OrgUnitRow,
    aggregate: (&str, String),
    event: &str,
    payload: &M,
) -> Result<(), IdentityError> {
    enqueue(
        transaction,
        PRODUCER,
        NewEvent {
            subject: subject(aggregate.0, event, unit.id),
            aggregate_type: aggregate.0,
            aggregate_id: aggregate.1,
            scope: scope_of(unit),
            payload,
        },
    )
    .await?;
    Ok(())
}

/// The event payload of a person, without personal identifiers beyond the
/// name and birth date consumers need.
pub fn person_registered(person: &crate::storage::people::PersonRow) -> events::PersonRegistered {
    events::PersonRegistered {
        person_id: person.id.to_string(),
        school_id: person.org_unit_id.to_string(),
        last_name: person.last_name.clone(),
        first_name: person.first_name.clone(),
        middle_name: person.middle_name.clone(),
        birth_date: Some(crate::api::civil_date(person.birth_date)),
    }
}
