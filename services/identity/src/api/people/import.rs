//! The CSV import: a school's people and their guardian links from one
//! file, all of it or nothing. The file is read into rows ([`rows`]), every
//! row is checked before anything is written ([`plan`]), and the plan is
//! written here in the request's transaction.

mod plan;
mod rows;

use std::collections::HashMap;

use asurso_proto::{events, identity as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::{Edge, Idempotent};
use uuid::Uuid;

use self::{
    plan::{ChildRef, plan_import},
    rows::parse_csv,
};
use super::register::insert_person;
use crate::api::State;
use crate::{
    access,
    api::uuid_field,
    domain::{IdentityError, rights::right},
    events::publish,
    storage,
};

/// The largest CSV accepted in one import.
pub const MAX_CSV_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_CSV_ROWS: usize = 20_000;

pub(super) async fn import_people(
    state: &State,
    caller: &Caller,
    request: pb::ImportPeopleRequest,
) -> Result<pb::ImportPeopleResponse, IdentityError> {
    let school_id = uuid_field(&request.school_id, "school_id")?;
    if request.csv.len() > MAX_CSV_BYTES {
        return Err(IdentityError::invalid(
            "csv",
            "is larger than 5 MiB: split the file",
        ));
    }
    let mut transaction = state.pool.begin().await?;
    let school = access::unit(&mut transaction, school_id, "school_id").await?;
    if school.kind != "school" {
        return Err(IdentityError::invalid("school_id", "is not a school"));
    }
    access::authorize(&mut transaction, caller, right::PEOPLE_IMPORT, &school).await?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    if let Some(answer) = idempotent
        .replay::<pb::ImportPeopleResponse>(&mut transaction)
        .await?
    {
        return Ok(answer);
    }

    let rows = parse_csv(&request.csv)?;
    let plan = plan_import(state, &mut transaction, caller, school.id, &rows).await?;
    let mut by_snils: HashMap<Vec<u8>, Uuid> = HashMap::new();
    for row in &plan.people {
        let (person, _) = insert_person(
            state,
            &mut transaction,
            &school,
            &row.person,
            row.role,
            caller.person_id,
        )
        .await?;
        if let Some(snils) = &row.person.snils {
            by_snils.insert(state.secrets.snils_hash(snils), person.id);
        }
    }
    let mut links = 0u32;
    for (parent_hash, child) in &plan.links {
        let parent = by_snils.get(parent_hash).copied();
        let child = match child {
            ChildRef::InFile(hash) => by_snils.get(hash).copied(),
            ChildRef::Existing(id) => Some(*id),
        };
        if let (Some(parent), Some(child)) = (parent, child)
            && storage::people::link_guardian(&mut transaction, parent, child).await?
        {
            links += 1;
            publish(
                &mut transaction,
                &school,
                ("guardian", child.to_string()),
                "linked",
                &events::GuardianLinked {
                    parent_id: parent.to_string(),
                    student_id: child.to_string(),
                },
            )
            .await?;
        }
    }
    let answer = pb::ImportPeopleResponse {
        people_imported: u32::try_from(plan.people.len()).unwrap_or(u32::MAX),
        guardian_links: links,
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(school_id = %school.id, people = answer.people_imported, links, "people imported");
    Ok(answer)
}
