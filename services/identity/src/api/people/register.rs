//! Registering a person, reading one, and correcting one.

use asurso_proto::{events, identity as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::{
    auth::role_name,
    edge::{Edge, Idempotent},
};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{audit_read, person_view, today};
use crate::api::State;
use crate::{
    access,
    api::{civil_date, role_field, uuid_field},
    domain::{
        IdentityError,
        person::{NewPerson, PersonInput},
        rights::{self, right},
    },
    events::{person_registered, publish},
    storage::{self, org::OrgUnitRow, people::PersonRow},
};

fn input_of(data: &pb::PersonData) -> PersonInput<'_> {
    let contacts = data.contacts.as_ref();
    PersonInput {
        last_name: &data.last_name,
        first_name: &data.first_name,
        middle_name: &data.middle_name,
        birth_date: data.birth_date.as_ref().map(|d| (d.year, d.month, d.day)),
        snils: &data.snils,
        email: contacts.map_or("", |c| c.email.as_str()),
        phone: contacts.map_or("", |c| c.phone.as_str()),
    }
}

/// Inserts a person with one role, and the events; the caller's transaction.
pub(super) async fn insert_person(
    state: &State,
    transaction: &mut PgConnection,
    unit: &OrgUnitRow,
    person: &NewPerson,
    role: pb::Role,
    by: Uuid,
) -> Result<(PersonRow, Uuid), IdentityError> {
    let row = PersonRow {
        id: Uuid::now_v7(),
        org_unit_id: unit.id,
        last_name: person.last_name.clone(),
        first_name: person.first_name.clone(),
        middle_name: person.middle_name.clone(),
        birth_date: person.birth_date,
        snils_cipher: person
            .snils
            .as_ref()
            .map(|snils| state.secrets.encrypt_snils(snils)),
        snils_hash: person
            .snils
            .as_ref()
            .map(|snils| state.secrets.snils_hash(snils)),
        email: person.email.clone(),
        phone: person.phone.clone(),
    };
    if let Err(error) = storage::people::insert(transaction, &row).await {
        return Err(if storage::is_unique_violation(&error) {
            IdentityError::AlreadyExists(
                "person.snils: a person with this SNILS is already registered; grant them a role or link them instead"
                    .to_owned(),
            )
        } else {
            error.into()
        });
    }
    let (grant_id, _) =
        storage::grants::grant(transaction, row.id, role_name(role), unit.id, Some(by)).await?;
    publish(
        transaction,
        unit,
        ("person", row.id.to_string()),
        "registered",
        &person_registered(&row),
    )
    .await?;
    publish(
        transaction,
        unit,
        ("person", row.id.to_string()),
        "role_granted",
        &events::RoleGranted {
            grant_id: grant_id.to_string(),
            person_id: row.id.to_string(),
            role: role_name(role).to_owned(),
            org_unit_id: unit.id.to_string(),
        },
    )
    .await?;
    Ok((row, grant_id))
}

pub(super) async fn register_person(
    state: &State,
    caller: &Caller,
    request: pb::RegisterPersonRequest,
) -> Result<pb::RegisterPersonResponse, IdentityError> {
    let unit_id = uuid_field(&request.org_unit_id, "org_unit_id")?;
    let role = role_field(request.role, "role")?;
    let data = request
        .person
        .as_ref()
        .ok_or_else(|| IdentityError::invalid("person", "is required"))?;
    let person =
        NewPerson::parse(&input_of(data), "person.", today()).map_err(IdentityError::Invalid)?;

    let mut transaction = state.pool.begin().await?;
    let unit = access::unit(&mut transaction, unit_id, "org_unit_id").await?;
    if !rights::role_fits_unit(role, &unit.kind) {
        return Err(IdentityError::invalid(
            "role",
            format!(
                "{} is not a role people have in a {}",
                role_name(role),
                unit.kind
            ),
        ));
    }
    access::authorize(&mut transaction, caller, right::PEOPLE_REGISTER, &unit).await?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    if let Some(stored) = idempotent
        .replay::<pb::RegisterPersonResponse>(&mut transaction)
        .await?
    {
        // Stored masked; the caller's view is rebuilt from the person.
        let id = uuid_field(
            &stored.person.map(|p| p.id).unwrap_or_default(),
            "person_id",
        )?;
        let row = storage::people::get(&mut transaction, id)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {id}")))?;
        return Ok(pb::RegisterPersonResponse {
            person: Some(person_view(state, Some(caller), &row)?),
            grant_id: stored.grant_id,
        });
    }
    let (row, grant_id) = insert_person(
        state,
        &mut transaction,
        &unit,
        &person,
        role,
        caller.person_id,
    )
    .await?;
    let answer = pb::RegisterPersonResponse {
        person: Some(person_view(state, Some(caller), &row)?),
        grant_id: grant_id.to_string(),
    };
    // Never a SNILS in plain text at rest: the stored answer is masked.
    let stored = pb::RegisterPersonResponse {
        person: Some(person_view(state, None, &row)?),
        grant_id: answer.grant_id.clone(),
    };
    idempotent.remember(&mut transaction, &stored).await?;
    state.commit(transaction).await?;
    tracing::info!(person_id = %row.id, role = role_name(role), org_unit_id = %unit.id, "person registered");
    Ok(answer)
}

pub(super) async fn get_person(
    state: &State,
    caller: &Caller,
    request: pb::GetPersonRequest,
) -> Result<pb::GetPersonResponse, IdentityError> {
    let person_id = uuid_field(&request.person_id, "person_id")?;
    let mut transaction = state.pool.begin().await?;
    let person = storage::people::get(&mut transaction, person_id)
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {person_id}")))?;
    let own = caller.person_id == person.id
        || storage::people::is_guardian(&mut transaction, caller.person_id, person.id).await?;
    if !own {
        let unit = access::unit(&mut transaction, person.org_unit_id, "person_id").await?;
        access::authorize(&mut transaction, caller, right::PEOPLE_READ, &unit).await?;
        audit_read(&mut transaction, caller, person.id, "person").await?;
    }
    let view = person_view(state, Some(caller), &person)?;
    transaction.commit().await?;
    Ok(pb::GetPersonResponse { person: Some(view) })
}

pub(super) async fn update_person(
    state: &State,
    caller: &Caller,
    request: pb::UpdatePersonRequest,
) -> Result<pb::UpdatePersonResponse, IdentityError> {
    let person_id = uuid_field(&request.person_id, "person_id")?;
    let data = request
        .person
        .as_ref()
        .ok_or_else(|| IdentityError::invalid("person", "is required"))?;
    let parsed =
        NewPerson::parse(&input_of(data), "person.", today()).map_err(IdentityError::Invalid)?;
    let mut transaction = state.pool.begin().await?;
    let mut person = storage::people::get(&mut transaction, person_id)
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {person_id}")))?;
    let unit = access::unit(&mut transaction, person.org_unit_id, "person_id").await?;
    // Registering people and correcting them is the same responsibility.
    access::authorize(&mut transaction, caller, right::PEOPLE_REGISTER, &unit).await?;
    // The SNILS is a key, not just a record: a first Gosuslugi (ESIA)
    // login links to whoever bears it. Changing it chooses who may log
    // in as this person, as a password does, so it takes managing
    // accounts wherever their access reaches (for a parent, every
    // child's school). A person already linked keeps the link, but an
    // unlink would open the new SNILS, so the same check applies. An
    // empty SNILS keeps the stored one and so changes nothing here.
    let snils_changes = parsed.snils.as_ref().is_some_and(|snils| {
        person.snils_hash.as_deref() != Some(state.secrets.snils_hash(snils).as_slice())
    });
    if snils_changes {
        access::authorize_over_person(
            &mut transaction,
            caller,
            right::ACCOUNTS_MANAGE,
            &person,
            "person.snils",
        )
        .await?;
    }
    person.last_name = parsed.last_name;
    person.first_name = parsed.first_name;
    person.middle_name = parsed.middle_name;
    person.birth_date = parsed.birth_date;
    person.email = parsed.email;
    person.phone = parsed.phone;
    if let Some(snils) = &parsed.snils {
        person.snils_cipher = Some(state.secrets.encrypt_snils(snils));
        person.snils_hash = Some(state.secrets.snils_hash(snils));
    }
    if let Err(error) = storage::people::update(&mut transaction, &person).await {
        return Err(if storage::is_unique_violation(&error) {
            IdentityError::AlreadyExists(
                "person.snils: belongs to another registered person".to_owned(),
            )
        } else {
            error.into()
        });
    }
    publish(
        &mut transaction,
        &unit,
        ("person", person.id.to_string()),
        "changed",
        &events::PersonChanged {
            person_id: person.id.to_string(),
            last_name: person.last_name.clone(),
            first_name: person.first_name.clone(),
            middle_name: person.middle_name.clone(),
            birth_date: Some(civil_date(person.birth_date)),
        },
    )
    .await?;
    let view = person_view(state, Some(caller), &person)?;
    transaction.commit().await?;
    state.relay.wake();
    Ok(pb::UpdatePersonResponse { person: Some(view) })
}
