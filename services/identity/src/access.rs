//! May this caller do this here? Two checks, both from data: the caller's
//! grant covers the target org unit (scope), and the rights matrix in force
//! at that unit gives the caller's role the right.

use asurso_runtime::auth::{Caller, role_name};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{
        IdentityError,
        rights::{Matrix, Right},
    },
    storage::{self, org::OrgUnitRow, people::PersonRow},
};

/// The effective matrix at a unit: defaults, the region's cells, and the
/// school's when the unit is a school.
pub async fn matrix_at(
    connection: &mut PgConnection,
    unit: &OrgUnitRow,
) -> Result<Matrix, IdentityError> {
    let region = storage::rights::cells(connection, unit.region_id()).await?;
    let school = if unit.kind == "school" {
        storage::rights::cells(connection, unit.id).await?
    } else {
        Vec::new()
    };
    Ok(Matrix::effective(&region, &school))
}

/// The caller's grant must still stand (tokens outlive a revocation by at
/// most their lifetime; writes check the grant itself).
pub async fn ensure_grant_active(
    connection: &mut PgConnection,
    caller: &Caller,
) -> Result<(), IdentityError> {
    let grant = storage::grants::get(connection, caller.grant_id).await?;
    match grant {
        Some(grant) if !grant.revoked && grant.person_id == caller.person_id => Ok(()),
        _ => Err(IdentityError::Unauthenticated(
            "the role this token acts in was revoked: log in again".to_owned(),
        )),
    }
}

/// The org unit, or NOT_FOUND naming the field it came from.
pub async fn unit(
    connection: &mut PgConnection,
    id: Uuid,
    field: &str,
) -> Result<OrgUnitRow, IdentityError> {
    storage::org::get(connection, id)
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("{field}: no org unit {id}")))
}

/// Refuses unless the caller's grant covers `target` and the matrix there
/// gives the caller's role `right`.
pub async fn authorize(
    connection: &mut PgConnection,
    caller: &Caller,
    right: Right,
    target: &OrgUnitRow,
) -> Result<(), IdentityError> {
    ensure_grant_active(connection, caller).await?;
    if !target.is_within(caller.org_unit_id) {
        return Err(IdentityError::denied(format!(
            "your {} role covers another part of the org tree than {}",
            role_name(caller.role),
            target.name
        )));
    }
    if !matrix_at(connection, target)
        .await?
        .allows(caller.role, right)
    {
        return Err(IdentityError::denied(format!(
            "the {} role may not {right} in {}",
            role_name(caller.role),
            target.name
        )));
    }
    Ok(())
}

/// Refuses unless the caller holds `right` at every unit the person's access
/// reaches (see `storage::grants::units_reached`). What is done to a
/// person's account (a password, a reset) opens all of it: authority over
/// one school must not become a key to a parent's child in another.
pub async fn authorize_over_person(
    connection: &mut PgConnection,
    caller: &Caller,
    right: Right,
    person: &PersonRow,
    field: &str,
) -> Result<(), IdentityError> {
    let units = storage::grants::units_reached(connection, person.id).await?;
    authorize_at_each(
        connection,
        caller,
        right,
        &units,
        field,
        |reached, reason| {
            format!(
                "{field}: this person's access (their roles, and their children's \
                 schools) reaches {}: {reason}",
                reached.name
            )
        },
    )
    .await
}

/// Refuses unless the caller holds `right` at each of `units`; a refusal is
/// worded by `why` (the unit out of reach, and the reason), since only the
/// caller knows what that unit has to do with the request.
pub async fn authorize_at_each(
    connection: &mut PgConnection,
    caller: &Caller,
    right: Right,
    units: &[Uuid],
    field: &str,
    why: impl Fn(&OrgUnitRow, &str) -> String,
) -> Result<(), IdentityError> {
    for unit_id in units {
        let reached = unit(connection, *unit_id, field).await?;
        authorize(connection, caller, right, &reached)
            .await
            .map_err(|error| match error {
                IdentityError::PermissionDenied(reason) => {
                    IdentityError::PermissionDenied(why(&reached, &reason))
                }
                other => other,
            })?;
    }
    Ok(())
}
