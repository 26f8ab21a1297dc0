//! What a caller sees of a person, and the audit record a read leaves.

use asurso_proto::identity as pb;
use asurso_runtime::auth::{Caller, role_name};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    api::{State, civil_date},
    domain::IdentityError,
    storage::{self, people::PersonRow},
};

/// The person as a caller may see them: SNILS in full only for admins of
/// the person's own unit.
pub fn person_view(
    state: &State,
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
