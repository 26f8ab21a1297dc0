//! May this caller do this here? The checks every service makes, from the
//! caller's verified token and the directory: the grant is not known to be
//! revoked, it covers the school (scope), and the rights matrix in force
//! there gives the role the right. How the caller relates to what they ask
//! about (teaches the class, writes in the thread) is the service's own
//! rule, built on these.

use asurso_proto::identity::Role;
use asurso_runtime::{
    auth::{Caller, KeySource, Verifier, role_name},
    errors::ServiceError,
    rights::{Matrix, Right, cells_from_rows, right},
};
use sqlx::{PgConnection, PgPool};
use tonic::Status;
use uuid::Uuid;

pub use crate::storage::School;
use crate::{memory::Memory, storage};

/// The caller of a request: their token verified with identity's keys, and
/// their grant not revoked as far as the directory has heard (in memory;
/// the database while the memory loads).
pub async fn caller<S: KeySource, T>(
    verifier: &Verifier<S>,
    memory: &Memory,
    pool: &PgPool,
    request: &tonic::Request<T>,
) -> Result<Caller, Status> {
    let caller = verifier.authenticate(request).await?;
    match memory.known(|known| known.grant_revoked(caller.grant_id)) {
        Some(false) => {}
        Some(true) => return Err(revoked().into()),
        None => {
            let mut connection = pool.acquire().await.map_err(ServiceError::from)?;
            ensure_grant_stands(&mut connection, &caller).await?;
        }
    }
    Ok(caller)
}

fn revoked() -> ServiceError {
    ServiceError::Unauthenticated(
        "the role this token acts in was revoked: log in again".to_owned(),
    )
}

/// Refuses a caller whose grant identity has revoked: tokens outlive a
/// revocation by at most their lifetime, this closes even that gap.
pub async fn ensure_grant_stands(
    connection: &mut PgConnection,
    caller: &Caller,
) -> Result<(), ServiceError> {
    if storage::grant_revoked(connection, caller.grant_id).await? {
        return Err(revoked());
    }
    Ok(())
}

/// The matrix in force at a school: defaults, its region's cells, its own.
pub async fn matrix_at(
    connection: &mut PgConnection,
    school: &School,
) -> Result<Matrix, ServiceError> {
    let cells = cells_from_rows;
    let region = match school.region_id {
        Some(region) => cells(storage::right_cells(connection, region).await?),
        None => Vec::new(),
    };
    let own = cells(storage::right_cells(connection, school.id).await?);
    Ok(Matrix::effective(&region, &own))
}

/// The matrix in force over a whole region: defaults and the region's
/// cells, without any school's.
pub async fn region_matrix(
    connection: &mut PgConnection,
    region: Uuid,
) -> Result<Matrix, ServiceError> {
    let cells = cells_from_rows(storage::right_cells(connection, region).await?);
    Ok(Matrix::effective(&cells, &[]))
}

/// Refuses unless the caller's grant covers the school and the matrix there
/// gives the caller's role `right`.
pub async fn authorize(
    connection: &mut PgConnection,
    caller: &Caller,
    right: Right,
    school: &School,
) -> Result<(), ServiceError> {
    if !school.is_within(caller.org_unit_id) {
        return Err(ServiceError::denied(format!(
            "your {} role covers another part of the org tree than {}",
            role_name(caller.role),
            school.name
        )));
    }
    if !matrix_at(connection, school)
        .await?
        .allows(caller.role, right)
    {
        return Err(ServiceError::denied(format!(
            "the {} role may not {right} in {}",
            role_name(caller.role),
            school.name
        )));
    }
    Ok(())
}

/// Whether the caller's grant covers the school and the matrix there gives
/// their role `right` (without refusing).
pub async fn may(
    connection: &mut PgConnection,
    caller: &Caller,
    right: Right,
    school: &School,
) -> Result<bool, ServiceError> {
    Ok(school.is_within(caller.org_unit_id)
        && matrix_at(connection, school)
            .await?
            .allows(caller.role, right))
}

/// Reading what a school publishes to everyone in it: any grant that covers
/// the school.
pub fn read_school(caller: &Caller, school: &School) -> Result<(), ServiceError> {
    if school.is_within(caller.org_unit_id) {
        Ok(())
    } else {
        Err(ServiceError::denied(format!(
            "your {} role does not cover {}",
            role_name(caller.role),
            school.name
        )))
    }
}

/// Whether the caller reads the student's data as family: the student
/// themself or a guardian of theirs. The directory in memory answers; the
/// database while it loads.
pub async fn is_family(
    memory: &Memory,
    connection: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
) -> Result<bool, ServiceError> {
    Ok(match caller.role {
        Role::Student => caller.person_id == student,
        Role::Parent => match memory.known(|known| known.is_guardian(caller.person_id, student)) {
            Some(linked) => linked,
            None => is_guardian(connection, caller.person_id, student).await?,
        },
        _ => false,
    })
}

/// Whether `parent` is a guardian of `student`.
pub async fn is_guardian(
    connection: &mut PgConnection,
    parent: Uuid,
    student: Uuid,
) -> Result<bool, ServiceError> {
    Ok(storage::is_guardian(connection, parent, student).await?)
}

/// Whether `person` holds one of `roles` at `school`, not revoked.
pub async fn holds_role(
    connection: &mut PgConnection,
    person: Uuid,
    roles: &[Role],
    school: Uuid,
) -> Result<bool, ServiceError> {
    let names: Vec<&str> = roles.iter().map(|role| role_name(*role)).collect();
    Ok(storage::holds_role(connection, person, &names, school).await?)
}

/// Whether `person` is a student of `school` (a student grant there, not
/// revoked).
pub async fn is_student_of(
    connection: &mut PgConnection,
    person: Uuid,
    school: Uuid,
) -> Result<bool, ServiceError> {
    holds_role(connection, person, &[Role::Student], school).await
}

/// Refuses unless the caller may read the summaries of the schools under
/// `unit` (a municipality or the region): `reports.aggregate` by the
/// region's matrix, with a grant at the unit or the region above it.
pub async fn read_aggregates(
    connection: &mut PgConnection,
    caller: &Caller,
    unit: Uuid,
) -> Result<(), ServiceError> {
    let (kind, parent) = storage::org_unit(connection, unit)
        .await?
        .ok_or_else(|| ServiceError::not_found("org_unit_id", format_args!("org unit {unit}")))?;
    let region = match kind.as_str() {
        "region" => unit,
        "municipality" => parent
            .ok_or_else(|| ServiceError::Internal("a municipality without a region".into()))?,
        _ => {
            return Err(ServiceError::invalid(
                "org_unit_id",
                "aggregates are of a municipality or the region; a school has its own summary",
            ));
        }
    };
    if caller.org_unit_id != unit && caller.org_unit_id != region {
        return Err(ServiceError::denied(format!(
            "your {} role covers another part of the org tree",
            role_name(caller.role)
        )));
    }
    if !region_matrix(connection, region)
        .await?
        .allows(caller.role, right::REPORTS_AGGREGATE)
    {
        return Err(ServiceError::denied(format!(
            "the {} role may not {}",
            role_name(caller.role),
            right::REPORTS_AGGREGATE
        )));
    }
    Ok(())
}
