//! Guardian links: a parent and a student linked or unlinked, and a
//! parent's children listed.

use asurso_proto::{events, identity as pb};
use asurso_runtime::auth::Caller;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{audit_read, person_view};
use crate::api::State;
use crate::{
    access,
    api::uuid_field,
    domain::{IdentityError, rights::right},
    events::publish,
    storage::{self, org::OrgUnitRow},
};

pub(super) async fn link_guardian(
    state: &State,
    caller: &Caller,
    request: pb::LinkGuardianRequest,
) -> Result<pb::LinkGuardianResponse, IdentityError> {
    change_guardian(state, caller, &request.parent_id, &request.student_id, true).await?;
    Ok(pb::LinkGuardianResponse {})
}

pub(super) async fn unlink_guardian(
    state: &State,
    caller: &Caller,
    request: pb::UnlinkGuardianRequest,
) -> Result<pb::UnlinkGuardianResponse, IdentityError> {
    change_guardian(
        state,
        caller,
        &request.parent_id,
        &request.student_id,
        false,
    )
    .await?;
    Ok(pb::UnlinkGuardianResponse {})
}

pub(super) async fn list_children(
    state: &State,
    caller: &Caller,
    request: pb::ListChildrenRequest,
) -> Result<pb::ListChildrenResponse, IdentityError> {
    let parent_id = match request.parent_id.as_str() {
        "" => caller.person_id,
        id => uuid_field(id, "parent_id")?,
    };
    let mut transaction = state.pool.begin().await?;
    let mut children = storage::people::children(&mut transaction, parent_id).await?;
    if parent_id != caller.person_id {
        let parent = storage::people::get(&mut transaction, parent_id)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("parent_id: no person {parent_id}")))?;
        let unit = access::unit(&mut transaction, parent.org_unit_id, "parent_id").await?;
        access::authorize(&mut transaction, caller, right::PEOPLE_READ, &unit).await?;
        // Staff see only the children they may read themselves: a
        // parent's child in another school stays out of the answer.
        let mut readable = Vec::with_capacity(children.len());
        for child in children {
            let unit = access::unit(&mut transaction, child.org_unit_id, "parent_id").await?;
            if access::authorize(&mut transaction, caller, right::PEOPLE_READ, &unit)
                .await
                .is_ok()
            {
                audit_read(&mut transaction, caller, child.id, "person").await?;
                readable.push(child);
            }
        }
        children = readable;
    }
    let views = children
        .iter()
        .map(|child| person_view(state, Some(caller), child))
        .collect::<Result<Vec<_>, _>>()?;
    transaction.commit().await?;
    Ok(pb::ListChildrenResponse { children: views })
}

/// Links (or unlinks) a parent and a student, with its event, in one
/// transaction. Linking twice changes nothing; unlinking what is not
/// linked is NOT_FOUND.
async fn change_guardian(
    state: &State,
    caller: &Caller,
    parent: &str,
    student: &str,
    link: bool,
) -> Result<(), IdentityError> {
    let (parent, student) = (
        uuid_field(parent, "parent_id")?,
        uuid_field(student, "student_id")?,
    );
    let mut transaction = state.pool.begin().await?;
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
    state.relay.wake();
    Ok(())
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
        right::GUARDIANS_MANAGE,
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
        right::ACCOUNTS_MANAGE,
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
