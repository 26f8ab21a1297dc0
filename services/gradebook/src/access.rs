//! May this caller do this here? Checked in the gradebook from the caller's
//! verified token and the projection of identity: the grant is not known to
//! be revoked, it covers the school (scope), and the rights matrix in force
//! there gives the role the right. Reads of a class or a student also ask
//! how the caller relates to them (teaches the class, is the student, is
//! their guardian).

use asurso_proto::identity::Role;
use asurso_runtime::{
    auth::{Caller, role_name},
    rights::{Matrix, cells_from_rows},
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::GradebookError,
    storage::{self, classes::ClassRow, directory::School},
};

/// The right to keep a school's calendar, classes, load and timetable.
pub const MANAGE: &str = "timetable.manage";

/// Roles of a school's staff.
pub const STAFF: [Role; 3] = [Role::SchoolAdmin, Role::Teacher, Role::ClassTeacher];
/// Grants that make someone a teacher of a school.
pub const TEACHER_ROLES: [&str; 2] = ["teacher", "class_teacher"];

/// The school, or NOT_FOUND naming the field it came from.
pub async fn school(
    connection: &mut PgConnection,
    id: Uuid,
    field: &str,
) -> Result<School, GradebookError> {
    storage::directory::school(connection, id)
        .await?
        .ok_or_else(|| {
            GradebookError::NotFound(format!(
                "{field}: no school {id} (a school created a moment ago may take a second to reach the gradebook)"
            ))
        })
}

/// The class with its school, or NOT_FOUND naming the field.
pub async fn class(
    connection: &mut PgConnection,
    id: Uuid,
    field: &str,
) -> Result<(ClassRow, School), GradebookError> {
    let class = storage::classes::get(connection, id)
        .await?
        .ok_or_else(|| GradebookError::not_found(field, format_args!("class {id}")))?;
    let school = school(connection, class.school_id, field).await?;
    Ok((class, school))
}

/// Refuses a caller whose grant identity has revoked: tokens outlive a
/// revocation by at most their lifetime, this closes even that gap.
pub async fn ensure_grant_stands(
    connection: &mut PgConnection,
    caller: &Caller,
) -> Result<(), GradebookError> {
    if storage::directory::grant_revoked(connection, caller.grant_id).await? {
        return Err(GradebookError::Unauthenticated(
            "the role this token acts in was revoked: log in again".to_owned(),
        ));
    }
    Ok(())
}

/// The matrix in force at a school: defaults, its region's cells, its own.
pub async fn matrix_at(
    connection: &mut PgConnection,
    school: &School,
) -> Result<Matrix, GradebookError> {
    let cells = cells_from_rows;
    let region = match school.region_id {
        Some(region) => cells(storage::directory::right_cells(connection, region).await?),
        None => Vec::new(),
    };
    let own = cells(storage::directory::right_cells(connection, school.id).await?);
    Ok(Matrix::effective(&region, &own))
}

/// Refuses unless the caller's grant covers the school and the matrix there
/// gives the caller's role `right`.
pub async fn authorize(
    connection: &mut PgConnection,
    caller: &Caller,
    right: &str,
    school: &School,
) -> Result<(), GradebookError> {
    if !school.is_within(caller.org_unit_id) {
        return Err(GradebookError::denied(format!(
            "your {} role covers another part of the org tree than {}",
            role_name(caller.role),
            school.name
        )));
    }
    if !matrix_at(connection, school)
        .await?
        .allows(caller.role, right)
    {
        return Err(GradebookError::denied(format!(
            "the {} role may not {right} in {}",
            role_name(caller.role),
            school.name
        )));
    }
    Ok(())
}

/// Whether the caller may manage the school (without refusing).
pub async fn may_manage(
    connection: &mut PgConnection,
    caller: &Caller,
    school: &School,
) -> Result<bool, GradebookError> {
    Ok(school.is_within(caller.org_unit_id)
        && matrix_at(connection, school)
            .await?
            .allows(caller.role, MANAGE))
}

/// Reading what a school publishes to everyone in it (its calendar, bell
/// schedule, classes, subjects): any grant that covers the school.
pub fn read_school(caller: &Caller, school: &School) -> Result<(), GradebookError> {
    if school.is_within(caller.org_unit_id) {
        Ok(())
    } else {
        Err(GradebookError::denied(format!(
            "your {} role does not cover {}",
            role_name(caller.role),
            school.name
        )))
    }
}

/// Staff of the school who work with the class: those who may manage the
/// school, its class teacher, and the teachers who teach it.
pub async fn works_with_class(
    connection: &mut PgConnection,
    caller: &Caller,
    class: &ClassRow,
    school: &School,
) -> Result<bool, GradebookError> {
    if may_manage(connection, caller, school).await? {
        return Ok(true);
    }
    if !STAFF.contains(&caller.role) || caller.org_unit_id != school.id {
        return Ok(false);
    }
    Ok(class.class_teacher_id == Some(caller.person_id)
        || storage::curriculum::teaches_class(connection, caller.person_id, class.id).await?)
}

/// How the caller may see a student's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudentReader {
    /// The student or their guardian: everything, no audit record.
    Family,
    /// Staff of this school: what happened there, with an audit record.
    Staff(Uuid),
}

/// Refuses unless the caller is the student, their guardian, or staff of a
/// school the student is enrolled in who works with one of their classes.
pub async fn read_student(
    connection: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
) -> Result<StudentReader, GradebookError> {
    match caller.role {
        Role::Student if caller.person_id == student => return Ok(StudentReader::Family),
        Role::Parent
            if storage::directory::is_guardian(connection, caller.person_id, student).await? =>
        {
            return Ok(StudentReader::Family);
        }
        _ => {}
    }
    let schools = storage::classes::schools_of_student(connection, student).await?;
    for school_id in schools {
        let school = school(connection, school_id, "student_id").await?;
        if !school.is_within(caller.org_unit_id) {
            continue;
        }
        if may_manage(connection, caller, &school).await? {
            return Ok(StudentReader::Staff(school.id));
        }
        if STAFF.contains(&caller.role)
            && storage::classes::works_with_student(
                connection,
                caller.person_id,
                student,
                school.id,
            )
            .await?
        {
            return Ok(StudentReader::Staff(school.id));
        }
    }
    Err(GradebookError::denied(
        "you may read only your own, your children's, or your students' data",
    ))
}
