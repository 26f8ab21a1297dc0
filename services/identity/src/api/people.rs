//! People, guardian links and the CSV import.

use std::collections::HashMap;

use asurso_proto::{events, identity as pb};
use asurso_runtime::{
    auth::{Caller, role_name},
    idempotency::{self, Claim},
};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Shared, civil_date, role_field, uuid_field};
use crate::{
    access,
    domain::{
        IdentityError,
        error::FieldViolation,
        person::{CONTROL_CHARACTER, NewPerson, PersonInput, holds_control},
        rights,
        snils::Snils,
    },
    events::{person_registered, publish},
    storage::{self, org::OrgUnitRow, people::PersonRow},
};
use tonic::{Request, Response, Status};

pub struct PeopleApi(pub Shared);

/// The largest CSV accepted in one import.
pub const MAX_CSV_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_CSV_ROWS: usize = 20_000;
/// At most this many row problems are reported at once.
const MAX_REPORTED: usize = 200;

fn today() -> time::Date {
    OffsetDateTime::now_utc().date()
}

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

/// The person as a caller may see them: SNILS in full only for admins of
/// the person's own unit.
pub fn person_view(
    state: &Shared,
    caller: Option<&Caller>,
    person: &PersonRow,
) -> Result<pb::Person, IdentityError> {
    let snils = match &person.snils_cipher {
        None => String::new(),
        Some(sealed) => {
            let snils = state.secrets.decrypt_snils(sealed)?;
            let admin_here = caller.is_some_and(|caller| {
                caller.org_unit_id == person.org_unit_id
                    && matches!(
                        caller.role,
                        pb::Role::SchoolAdmin | pb::Role::MunicipalAdmin | pb::Role::RegionAdmin
                    )
            });
            if admin_here {
                snils.expose()
            } else {
                snils.masked()
            }
        }
    };
    Ok(pb::Person {
        id: person.id.to_string(),
        last_name: person.last_name.clone(),
        first_name: person.first_name.clone(),
        middle_name: person.middle_name.clone(),
        birth_date: Some(civil_date(person.birth_date)),
        snils,
        contacts: Some(pb::Contacts {
            email: person.email.clone(),
            phone: person.phone.clone(),
        }),
        org_unit_id: person.org_unit_id.to_string(),
    })
}

/// Inserts a person with one role, and the events; the caller's transaction.
async fn insert_person(
    state: &Shared,
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

/// Records that `caller` read `subject`'s data, when the subject is a
/// student and the caller is neither the student nor their guardian. In the
/// read's own transaction: no record, no read.
pub async fn audit_read(
    connection: &mut PgConnection,
    caller: &Caller,
    subject: Uuid,
    what: &str,
) -> Result<(), IdentityError> {
    if caller.person_id == subject
        || storage::people::is_guardian(connection, caller.person_id, subject).await?
    {
        return Ok(());
    }
    if !storage::grants::has_role(connection, subject, "student").await? {
        return Ok(());
    }
    storage::audit::record(
        connection,
        &storage::audit::NewAuditRecord {
            actor_id: caller.person_id,
            actor_role: role_name(caller.role),
            actor_org_unit_id: caller.org_unit_id,
            subject_id: subject,
            what,
            service: "identity",
            event_id: None,
        },
    )
    .await?;
    Ok(())
}

#[tonic::async_trait]
impl pb::people_service_server::PeopleService for PeopleApi {
    async fn register_person(
        &self,
        request: Request<pb::RegisterPersonRequest>,
    ) -> Result<Response<pb::RegisterPersonResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let unit_id = uuid_field(&request.org_unit_id, "org_unit_id")?;
        let role = role_field(request.role, "role")?;
        let data = request
            .person
            .as_ref()
            .ok_or_else(|| IdentityError::invalid("person", "is required"))?;
        let person = NewPerson::parse(&input_of(data), "person.", today())
            .map_err(IdentityError::Invalid)?;

        let mut transaction = self.0.pool.begin().await.map_err(IdentityError::from)?;
        let unit = access::unit(&mut transaction, unit_id, "org_unit_id").await?;
        if !rights::role_fits_unit(role, &unit.kind) {
            return Err(IdentityError::invalid(
                "role",
                format!(
                    "{} is not a role people have in a {}",
                    role_name(role),
                    unit.kind
                ),
            )
            .into());
        }
        access::authorize(&mut transaction, &caller, "people.register", &unit).await?;
        let claim = idempotency::claim::<pb::RegisterPersonResponse>(
            &mut transaction,
            caller.person_id,
            "people.register",
            &request.idempotency_key,
        )
        .await
        .map_err(IdentityError::from)?;
        if let Claim::Replay(stored) = claim {
            // Stored masked; the caller's view is rebuilt from the person.
            let id = uuid_field(
                &stored.person.map(|p| p.id).unwrap_or_default(),
                "person_id",
            )?;
            let row = storage::people::get(&mut transaction, id)
                .await
                .map_err(IdentityError::from)?
                .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {id}")))?;
            return Ok(Response::new(pb::RegisterPersonResponse {
                person: Some(person_view(&self.0, Some(&caller), &row)?),
                grant_id: stored.grant_id,
            }));
        }
        let (row, grant_id) = insert_person(
            &self.0,
            &mut transaction,
            &unit,
            &person,
            role,
            caller.person_id,
        )
        .await?;
        let answer = pb::RegisterPersonResponse {
            person: Some(person_view(&self.0, Some(&caller), &row)?),
            grant_id: grant_id.to_string(),
        };
        // Never a SNILS in plain text at rest: the stored answer is masked.
        let stored = pb::RegisterPersonResponse {
            person: Some(person_view(&self.0, None, &row)?),
            grant_id: answer.grant_id.clone(),
        };
        idempotency::complete(
            &mut transaction,
            caller.person_id,
            "people.register",
            &request.idempotency_key,
            &stored,
        )
        .await
        .map_err(IdentityError::from)?;
        transaction.commit().await.map_err(IdentityError::from)?;
        self.0.relay.wake();
        tracing::info!(person_id = %row.id, role = role_name(role), org_unit_id = %unit.id, "person registered");
        Ok(Response::new(answer))
    }

    async fn get_person(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Result<Response<pb::GetPersonResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let person_id = uuid_field(&request.get_ref().person_id, "person_id")?;
        let mut transaction = self.0.pool.begin().await.map_err(IdentityError::from)?;
        let person = storage::people::get(&mut transaction, person_id)
            .await
            .map_err(IdentityError::from)?
            .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {person_id}")))?;
        let own = caller.person_id == person.id
            || storage::people::is_guardian(&mut transaction, caller.person_id, person.id)
                .await
                .map_err(IdentityError::from)?;
        if !own {
            let unit = access::unit(&mut transaction, person.org_unit_id, "person_id").await?;
            access::authorize(&mut transaction, &caller, "people.read", &unit).await?;
            audit_read(&mut transaction, &caller, person.id, "person").await?;
        }
        let view = person_view(&self.0, Some(&caller), &person)?;
        transaction.commit().await.map_err(IdentityError::from)?;
        Ok(Response::new(pb::GetPersonResponse { person: Some(view) }))
    }

    async fn update_person(
        &self,
        request: Request<pb::UpdatePersonRequest>,
    ) -> Result<Response<pb::UpdatePersonResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let person_id = uuid_field(&request.person_id, "person_id")?;
        let data = request
            .person
            .as_ref()
            .ok_or_else(|| IdentityError::invalid("person", "is required"))?;
        let parsed = NewPerson::parse(&input_of(data), "person.", today())
            .map_err(IdentityError::Invalid)?;
        let mut transaction = self.0.pool.begin().await.map_err(IdentityError::from)?;
        let mut person = storage::people::get(&mut transaction, person_id)
            .await
            .map_err(IdentityError::from)?
            .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {person_id}")))?;
        let unit = access::unit(&mut transaction, person.org_unit_id, "person_id").await?;
        // Registering people and correcting them is the same responsibility.
        access::authorize(&mut transaction, &caller, "people.register", &unit).await?;
        // The SNILS is a key, not just a record: a first Gosuslugi (ESIA)
        // login links to whoever bears it. Changing it chooses who may log
        // in as this person, as a password does, so it takes managing
        // accounts wherever their access reaches (for a parent, every
        // child's school). A person already linked keeps the link, but an
        // unlink would open the new SNILS, so the same check applies. An
        // empty SNILS keeps the stored one and so changes nothing here.
        let snils_changes = parsed.snils.as_ref().is_some_and(|snils| {
            person.snils_hash.as_deref() != Some(self.0.secrets.snils_hash(snils).as_slice())
        });
        if snils_changes {
            access::authorize_over_person(
                &mut transaction,
                &caller,
                "accounts.manage",
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
            person.snils_cipher = Some(self.0.secrets.encrypt_snils(snils));
            person.snils_hash = Some(self.0.secrets.snils_hash(snils));
        }
        if let Err(error) = storage::people::update(&mut transaction, &person).await {
            return Err(if storage::is_unique_violation(&error) {
                IdentityError::AlreadyExists(
                    "person.snils: belongs to another registered person".to_owned(),
                )
            } else {
                error.into()
            }
            .into());
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
        let view = person_view(&self.0, Some(&caller), &person)?;
        transaction.commit().await.map_err(IdentityError::from)?;
        self.0.relay.wake();
        Ok(Response::new(pb::UpdatePersonResponse {
            person: Some(view),
        }))
    }

    async fn import_people(
        &self,
        request: Request<pb::ImportPeopleRequest>,
    ) -> Result<Response<pb::ImportPeopleResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let school_id = uuid_field(&request.school_id, "school_id")?;
        if request.csv.len() > MAX_CSV_BYTES {
            return Err(
                IdentityError::invalid("csv", "is larger than 5 MiB: split the file").into(),
            );
        }
        let mut transaction = self.0.pool.begin().await.map_err(IdentityError::from)?;
        let school = access::unit(&mut transaction, school_id, "school_id").await?;
        if school.kind != "school" {
            return Err(IdentityError::invalid("school_id", "is not a school").into());
        }
        access::authorize(&mut transaction, &caller, "people.import", &school).await?;
        let claim = idempotency::claim::<pb::ImportPeopleResponse>(
            &mut transaction,
            caller.person_id,
            "people.import",
            &request.idempotency_key,
        )
        .await
        .map_err(IdentityError::from)?;
        if let Claim::Replay(answer) = claim {
            return Ok(Response::new(answer));
        }

        let rows = parse_csv(&request.csv)?;
        let plan = plan_import(&self.0, &mut transaction, &caller, school.id, &rows).await?;
        let mut by_snils: HashMap<Vec<u8>, Uuid> = HashMap::new();
        for row in &plan.people {
            let (person, _) = insert_person(
                &self.0,
                &mut transaction,
                &school,
                &row.person,
                row.role,
                caller.person_id,
            )
            .await?;
            if let Some(snils) = &row.person.snils {
                by_snils.insert(self.0.secrets.snils_hash(snils), person.id);
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
                && storage::people::link_guardian(&mut transaction, parent, child)
                    .await
                    .map_err(IdentityError::from)?
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
        idempotency::complete(
            &mut transaction,
            caller.person_id,
            "people.import",
            &request.idempotency_key,
            &answer,
        )
        .await
        .map_err(IdentityError::from)?;
        transaction.commit().await.map_err(IdentityError::from)?;
        self.0.relay.wake();
        tracing::info!(school_id = %school.id, people = answer.people_imported, links, "people imported");
        Ok(Response::new(answer))
    }

    async fn link_guardian(
        &self,
        request: Request<pb::LinkGuardianRequest>,
    ) -> Result<Response<pb::LinkGuardianResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        self.change_guardian(&caller, &request.parent_id, &request.student_id, true)
            .await?;
        Ok(Response::new(pb::LinkGuardianResponse {}))
    }

    async fn unlink_guardian(
        &self,
        request: Request<pb::UnlinkGuardianRequest>,
    ) -> Result<Response<pb::UnlinkGuardianResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        self.change_guardian(&caller, &request.parent_id, &request.student_id, false)
            .await?;
        Ok(Response::new(pb::UnlinkGuardianResponse {}))
    }

    async fn list_children(
        &self,
        request: Request<pb::ListChildrenRequest>,
    ) -> Result<Response<pb::ListChildrenResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let parent_id = match request.get_ref().parent_id.as_str() {
            "" => caller.person_id,
            id => uuid_field(id, "parent_id")?,
        };
        let mut transaction = self.0.pool.begin().await.map_err(IdentityError::from)?;
        let mut children = storage::people::children(&mut transaction, parent_id)
            .await
            .map_err(IdentityError::from)?;
        if parent_id != caller.person_id {
            let parent = storage::people::get(&mut transaction, parent_id)
                .await
                .map_err(IdentityError::from)?
                .ok_or_else(|| {
                    IdentityError::NotFound(format!("parent_id: no person {parent_id}"))
                })?;
            let unit = access::unit(&mut transaction, parent.org_unit_id, "parent_id").await?;
            access::authorize(&mut transaction, &caller, "people.read", &unit).await?;
            // Staff see only the children they may read themselves: a
            // parent's child in another school stays out of the answer.
            let mut readable = Vec::with_capacity(children.len());
            for child in children {
                let unit = access::unit(&mut transaction, child.org_unit_id, "parent_id").await?;
                if access::authorize(&mut transaction, &caller, "people.read", &unit)
                    .await
                    .is_ok()
                {
                    audit_read(&mut transaction, &caller, child.id, "person").await?;
                    readable.push(child);
                }
            }
            children = readable;
        }
        let views = children
            .iter()
            .map(|child| person_view(&self.0, Some(&caller), child))
            .collect::<Result<Vec<_>, _>>()?;
        transaction.commit().await.map_err(IdentityError::from)?;
        Ok(Response::new(pb::ListChildrenResponse { children: views }))
    }
}

impl PeopleApi {
    /// Links (or unlinks) a parent and a student, with its event, in one
    /// transaction. Linking twice changes nothing; unlinking what is not
    /// linked is NOT_FOUND.
    async fn change_guardian(
        &self,
        caller: &Caller,
        parent: &str,
        student: &str,
        link: bool,
    ) -> Result<(), IdentityError> {
        let (parent, student) = (
            uuid_field(parent, "parent_id")?,
            uuid_field(student, "student_id")?,
        );
        let mut transaction = self.0.pool.begin().await?;
        let (unit, parent, student) =
            guardian_pair(&mut transaction, caller, parent, student, link).await?;
        let changed = if link {
            storage::people::link_guardian(&mut transaction, parent, student).await?
        } else {
            storage::people::unlink_guardian(&mut transaction, parent, student).await?
        };
        if !changed && !link {
            return Err(IdentityError::NotFound(
                "parent_id: this parent is not linked to this student".to_owned(),
            ));
        }
        if changed {
            let (parent_id, student_id) = (parent.to_string(), student.to_string());
            let aggregate = ("guardian", student_id.clone());
            if link {
                publish(
                    &mut transaction,
                    &unit,
                    aggregate,
                    "linked",
                    &events::GuardianLinked {
                        parent_id,
                        student_id,
                    },
                )
                .await?;
            } else {
                let payload = events::GuardianUnlinked {
                    parent_id,
                    student_id,
                };
                publish(&mut transaction, &unit, aggregate, "unlinked", &payload).await?;
            }
        }
        transaction.commit().await?;
        self.0.relay.wake();
        Ok(())
    }
}

/// Checks a guardian link request: both people exist with the right roles;
/// the caller manages guardians wherever the student is registered or
/// studies; and a link that would carry the parent's local login further
/// is made only by someone who could have given that login anew.
async fn guardian_pair(
    transaction: &mut PgConnection,
    caller: &Caller,
    parent: Uuid,
    student: Uuid,
    linking: bool,
) -> Result<(OrgUnitRow, Uuid, Uuid), IdentityError> {
    let student_row = storage::people::get(transaction, student)
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("student_id: no person {student}")))?;
    // Locked, as CreateLocalAccount locks it: a login made meanwhile would
    // be checked against the parent's reach before this link.
    if storage::people::get_for_update(transaction, parent)
        .await?
        .is_none()
    {
        return Err(IdentityError::NotFound(format!(
            "parent_id: no person {parent}"
        )));
    }
    let unit = access::unit(transaction, student_row.org_unit_id, "student_id").await?;
    // The link opens every school the student studies at to the parent,
    // and an unlink may narrow the parent's reach down to one school, whose
    // director could then give them a password: both are the business of
    // each of those schools, not only of the one the student is registered
    // at (a pupil keeps that unit when studying elsewhere).
    let student_units = storage::grants::units_of_student(transaction, student).await?;
    access::authorize_at_each(
        transaction,
        caller,
        "guardians.manage",
        &student_units,
        "student_id",
        |reached, reason| {
            format!(
                "student_id: the student is registered or studies at {}, and a guardian \
                 link opens it to the parent: {reason}",
                reached.name
            )
        },
    )
    .await?;
    // A link can always be removed, even after a role was revoked.
    if !linking {
        return Ok((unit, parent, student));
    }
    if !storage::grants::has_role(transaction, student, "student").await? {
        return Err(IdentityError::invalid("student_id", "is not a student"));
    }
    if !storage::grants::has_role(transaction, parent, "parent").await? {
        return Err(IdentityError::invalid(
            "parent_id",
            "is not a parent: grant the parent role first",
        ));
    }
    ensure_login_stays_covered(transaction, caller, parent, &student_units).await?;
    Ok((unit, parent, student))
}

/// A parent's local login was given by someone whose authority covered the
/// parent's reach at the time, and who may know the password. A link that
/// widens the reach would carry that login into schools the giver had no
/// say over, so it takes what giving the login anew takes: managing
/// accounts wherever the login would then open. A link that opens nothing
/// new, or a parent without a password (a Gosuslugi login is the parent's
/// own), needs nothing more.
async fn ensure_login_stays_covered(
    transaction: &mut PgConnection,
    caller: &Caller,
    parent: Uuid,
    student_units: &[Uuid],
) -> Result<(), IdentityError> {
    if !storage::accounts::exists(transaction, parent).await? {
        return Ok(());
    }
    let mut reach = storage::grants::units_reached(transaction, parent).await?;
    let widened: Vec<Uuid> = student_units
        .iter()
        .filter(|unit| !reach.contains(unit))
        .copied()
        .collect();
    if widened.is_empty() {
        return Ok(());
    }
    reach.extend(widened);
    access::authorize_at_each(
        transaction,
        caller,
        "accounts.manage",
        &reach,
        "parent_id",
        |reached, reason| {
            format!(
                "parent_id: the parent has a local login (a password) that your authority \
                 does not cover: with this child it would open everything the parent \
                 reaches, {} included, and {reason}; the link takes someone who manages \
                 accounts over all of it",
                reached.name
            )
        },
    )
    .await
}

/// One CSV row, raw.
struct CsvRow {
    line: usize,
    fields: HashMap<&'static str, String>,
}

const COLUMNS: [&str; 9] = [
    "role",
    "last_name",
    "first_name",
    "middle_name",
    "birth_date",
    "snils",
    "email",
    "phone",
    "child_snils",
];

fn parse_csv(bytes: &[u8]) -> Result<Vec<CsvRow>, IdentityError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| IdentityError::invalid("csv", "is not UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|error| {
            IdentityError::invalid("csv", format!("cannot read the header row: {error}"))
        })?
        .iter()
        .map(|name| name.to_ascii_lowercase())
        .collect();
    let mut positions = HashMap::new();
    for column in COLUMNS {
        match header.iter().position(|name| name == column) {
            Some(position) => {
                positions.insert(column, position);
            }
            None if matches!(
                column,
                "middle_name" | "email" | "phone" | "child_snils" | "snils"
            ) => {}
            None => {
                return Err(IdentityError::invalid(
                    "csv",
                    format!("the header has no {column} column"),
                ));
            }
        }
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record
            .map_err(|error| IdentityError::invalid(format!("row {line}"), error.to_string()))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() == MAX_CSV_ROWS {
            return Err(IdentityError::invalid(
                "csv",
                format!("has more than {MAX_CSV_ROWS} rows: split the file"),
            ));
        }
        let fields = positions
            .iter()
            .map(|(column, position)| (*column, record.get(*position).unwrap_or("").to_owned()))
            .collect();
        rows.push(CsvRow { line, fields });
    }
    if rows.is_empty() {
        return Err(IdentityError::invalid("csv", "has no rows"));
    }
    Ok(rows)
}

struct PlannedPerson {
    person: NewPerson,
    role: pb::Role,
}

enum ChildRef {
    InFile(Vec<u8>),
    Existing(Uuid),
}

struct Plan {
    people: Vec<PlannedPerson>,
    /// (parent's SNILS hash, child)
    links: Vec<(Vec<u8>, ChildRef)>,
}

/// A school other than the importing one where the student also studies
/// and the caller does not manage guardians, if there is one: a link made
/// by the import opens it to the parent as LinkGuardian's would, and so
/// takes what LinkGuardian takes there.
async fn school_out_of_reach(
    transaction: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
    school: Uuid,
) -> Result<Option<String>, IdentityError> {
    for unit_id in storage::grants::units_of_student(transaction, student).await? {
        if unit_id == school {
            continue;
        }
        let unit = access::unit(transaction, unit_id, "csv").await?;
        match access::authorize(transaction, caller, "guardians.manage", &unit).await {
            Ok(()) => {}
            Err(IdentityError::PermissionDenied(_)) => return Ok(Some(unit.name)),
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}

fn parse_birth_date(text: &str) -> Option<(i32, i32, i32)> {
    let parts: Vec<&str> = text.split(['-', '.']).collect();
    let numbers: Vec<i32> = parts
        .iter()
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    match (numbers.as_slice(), parts.first().map(|part| part.len())) {
        ([year, month, day], Some(4)) => Some((*year, *month, *day)),
        ([day, month, year], Some(1 | 2)) => Some((*year, *month, *day)),
        _ => None,
    }
}

/// Checks every row against the rules, the file and the database; any
/// problem anywhere means nothing is written.
async fn plan_import(
    state: &Shared,
    transaction: &mut PgConnection,
    caller: &Caller,
    school: Uuid,
    rows: &[CsvRow],
) -> Result<Plan, IdentityError> {
    let mut problems: Vec<FieldViolation> = Vec::new();
    let mut people = Vec::new();
    let mut students_in_file: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut pending_links: Vec<(usize, Vec<u8>, Vec<Snils>)> = Vec::new();

    for row in rows {
        let prefix = format!("row {}: ", row.line);
        let field = |name: &str| row.fields.get(name).map(String::as_str).unwrap_or("");
        // The file is bytes, not checked on the way in as request strings
        // are: each column is named here, and the row is not read further.
        let unprintable: Vec<&str> = COLUMNS
            .into_iter()
            .filter(|column| holds_control(field(column)))
            .collect();
        if !unprintable.is_empty() {
            problems.extend(
                unprintable.into_iter().map(|column| {
                    FieldViolation::new(format!("{prefix}{column}"), CONTROL_CHARACTER)
                }),
            );
            continue;
        }
        let role = match field("role").to_ascii_lowercase().as_str() {
            "student" => Some(pb::Role::Student),
            "parent" => Some(pb::Role::Parent),
            "teacher" => Some(pb::Role::Teacher),
            "school_admin" => Some(pb::Role::SchoolAdmin),
            _ => {
                problems.push(FieldViolation::new(
                    format!("{prefix}role"),
                    "must be student, parent, teacher or school_admin",
                ));
                None
            }
        };
        let birth = field("birth_date");
        let birth_date = parse_birth_date(birth);
        let input = PersonInput {
            last_name: field("last_name"),
            first_name: field("first_name"),
            middle_name: field("middle_name"),
            birth_date,
            snils: field("snils"),
            email: field("email"),
            phone: field("phone"),
        };
        let parsed = NewPerson::parse(&input, &prefix, today());
        if birth_date.is_none() && !birth.is_empty() {
            problems.push(FieldViolation::new(
                format!("{prefix}birth_date"),
                "must be YYYY-MM-DD or DD.MM.YYYY",
            ));
        }
        let person = match parsed {
            Ok(person) => Some(person),
            Err(found) => {
                problems.extend(found.into_iter().filter(|p| {
                    !(birth_date.is_none() && !birth.is_empty() && p.field.ends_with("birth_date"))
                }));
                None
            }
        };
        let Some(person) = person else { continue };
        let Some(role) = role else { continue };

        if let Some(snils) = &person.snils {
            let hash = state.secrets.snils_hash(snils);
            if let Some(first) = seen.insert(hash.clone(), row.line) {
                problems.push(FieldViolation::new(
                    format!("{prefix}snils"),
                    format!("is the same as in row {first}"),
                ));
                continue;
            }
            if storage::people::find_by_snils_hash(transaction, &hash)
                .await?
                .is_some()
            {
                problems.push(FieldViolation::new(
                    format!("{prefix}snils"),
                    "belongs to a person already registered",
                ));
                continue;
            }
            if role == pb::Role::Student {
                students_in_file.insert(hash.clone(), row.line);
            }
        } else if role == pb::Role::Parent && !field("child_snils").is_empty() {
            problems.push(FieldViolation::new(
                format!("{prefix}snils"),
                "is required for a parent with children listed",
            ));
            continue;
        }

        let children_text = field("child_snils");
        if !children_text.is_empty() {
            if role != pb::Role::Parent {
                problems.push(FieldViolation::new(
                    format!("{prefix}child_snils"),
                    "is only for parents",
                ));
            } else {
                let mut children = Vec::new();
                for text in children_text
                    .split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                {
                    match Snils::parse(text) {
                        Ok(snils) => children.push(snils),
                        Err(error) => problems.push(FieldViolation::new(
                            format!("{prefix}child_snils"),
                            error.to_string(),
                        )),
                    }
                }
                if let Some(snils) = &person.snils {
                    pending_links.push((row.line, state.secrets.snils_hash(snils), children));
                }
            }
        }
        people.push(PlannedPerson { person, role });
    }

    let mut links = Vec::new();
    for (line, parent_hash, children) in pending_links {
        for snils in children {
            let hash = state.secrets.snils_hash(&snils);
            if students_in_file.contains_key(&hash) {
                links.push((parent_hash.clone(), ChildRef::InFile(hash)));
                continue;
            }
            // Only this school's own students: an import never reaches into
            // another school's people.
            match storage::people::find_by_snils_hash(transaction, &hash).await? {
                Some(existing)
                    if existing.org_unit_id == school
                        && storage::grants::has_role(transaction, existing.id, "student")
                            .await? =>
                {
                    match school_out_of_reach(transaction, caller, existing.id, school).await? {
                        None => {
                            links.push((parent_hash.clone(), ChildRef::Existing(existing.id)));
                        }
                        Some(elsewhere) => problems.push(FieldViolation::new(
                            format!("row {line}: child_snils"),
                            format!(
                                "{} also studies at {elsewhere}, where you do not manage \
                                 guardians: an admin over both schools links them",
                                snils.masked()
                            ),
                        )),
                    }
                }
                _ => problems.push(FieldViolation::new(
                    format!("row {line}: child_snils"),
                    format!(
                        "{} is not a student of this school, in this file or registered before",
                        snils.masked()
                    ),
                )),
            }
        }
    }

    if problems.is_empty() {
        Ok(Plan { people, links })
    } else {
        problems.sort_by_key(|problem| {
            problem
                .field
                .strip_prefix("row ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
        });
        let total = problems.len();
        problems.truncate(MAX_REPORTED);
        if total > MAX_REPORTED {
            problems.push(FieldViolation::new(
                "csv",
                format!("{} more problems not listed", total - MAX_REPORTED),
            ));
        }
        Err(IdentityError::Invalid(problems))
    }
}
