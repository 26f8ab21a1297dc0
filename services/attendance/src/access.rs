//! Who may take, correct and read attendance: the directory's checks (the
//! caller's grant covers the school, the matrix there gives the role the
//! right) and attendance's own (the lesson's teacher, the class's class
//! teacher, the student's family and the staff who work with them).

pub use asurso_directory::access::is_family;
use asurso_directory::{Memory, School, access as directory, storage as known};
use asurso_proto::identity::Role;
use asurso_runtime::{auth::Caller, errors::ServiceError, rights::right};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::storage::{self, LessonRow};

/// The school, or NOT_FOUND naming the field it came from.
pub async fn school(
    connection: &mut PgConnection,
    id: Uuid,
    field: &str,
) -> Result<School, ServiceError> {
    known::school(connection, id).await?.ok_or_else(|| {
        ServiceError::NotFound(format!(
            "{field}: no school {id} (a school created a moment ago may take a second to reach attendance)"
        ))
    })
}

/// The lesson and its school, or NOT_FOUND naming the field.
pub async fn lesson(
    connection: &mut PgConnection,
    id: Uuid,
    lock: bool,
    field: &str,
) -> Result<(LessonRow, School), ServiceError> {
    let lesson = storage::lesson(connection, id, lock).await?.ok_or_else(|| {
        ServiceError::NotFound(format!(
            "{field}: no lesson {id} (a lesson scheduled a moment ago may take a second to reach attendance)"
        ))
    })?;
    let school = school(connection, lesson.school_id, field).await?;
    Ok((lesson, school))
}

/// How the caller keeps a lesson's attendance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeper {
    /// The lesson's teacher (or the one who holds it instead).
    Teacher,
    /// The class's class teacher or the school's administration: may
    /// correct at any time, with a reason.
    Corrector,
}

/// Whether the caller may correct attendance for a class as its class
/// teacher or as the school's administration (without refusing). The
/// class teacher is who the gradebook names for the class, whatever
/// teaching role their grant is (a teacher or a class teacher), as long as
/// the matrix lets that role take or correct attendance; other teachers
/// never correct; everyone else by the correcting right.
async fn corrects_for(
    connection: &mut PgConnection,
    caller: &Caller,
    class_teacher: bool,
    school: &School,
) -> Result<bool, ServiceError> {
    if class_teacher {
        return Ok(
            directory::may(connection, caller, right::ATTENDANCE_CORRECT, school).await?
                || directory::may(connection, caller, right::ATTENDANCE_TAKE, school).await?,
        );
    }
    if matches!(caller.role, Role::Teacher | Role::ClassTeacher) {
        return Ok(false);
    }
    directory::may(connection, caller, right::ATTENDANCE_CORRECT, school).await
}

/// Whether the caller may correct the lesson as its class's class teacher
/// or the school's administration (see `corrects_for`).
pub async fn corrects(
    connection: &mut PgConnection,
    caller: &Caller,
    lesson: &LessonRow,
    school: &School,
) -> Result<bool, ServiceError> {
    let class_teacher = lesson.class_teacher_id == Some(caller.person_id);
    corrects_for(connection, caller, class_teacher, school).await
}

/// Refuses unless the caller keeps this lesson's attendance; says how.
pub async fn keeper(
    connection: &mut PgConnection,
    caller: &Caller,
    lesson: &LessonRow,
    school: &School,
) -> Result<Keeper, ServiceError> {
    if caller.person_id == lesson.teacher_id
        && directory::may(connection, caller, right::ATTENDANCE_TAKE, school).await?
    {
        return Ok(Keeper::Teacher);
    }
    if corrects(connection, caller, lesson, school).await? {
        return Ok(Keeper::Corrector);
    }
    Err(ServiceError::denied(
        "only the lesson's teacher takes its attendance; its class teacher or the school's \
         administration corrects it",
    ))
}

/// Who reads a student's attendance.
pub enum StudentReader {
    /// The student or their guardian: everything.
    Family,
    /// Staff of this school (reads reported to the audit): its lessons.
    Staff(School),
}

/// Refuses unless the caller is the student, their guardian, or staff of a
/// school the student was enrolled in who manages it (the matrix gives
/// them the correcting right and they are not a class teacher of another
/// class) or works with the student there.
pub async fn read_student(
    memory: &Memory,
    connection: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
) -> Result<StudentReader, ServiceError> {
    if is_family(memory, connection, caller, student).await? {
        return Ok(StudentReader::Family);
    }
    for school_id in storage::schools_of_student(connection, student).await? {
        let school = school(connection, school_id, "student_id").await?;
        if !school.is_within(caller.org_unit_id) {
            continue;
        }
        let admin = matches!(
            caller.role,
            Role::SchoolAdmin | Role::MunicipalAdmin | Role::RegionAdmin
        ) && directory::may(connection, caller, right::ATTENDANCE_CORRECT, &school)
            .await?;
        let teacher = matches!(caller.role, Role::Teacher | Role::ClassTeacher)
            && storage::works_with_student(connection, caller.person_id, student, school.id)
                .await?;
        if admin || teacher {
            return Ok(StudentReader::Staff(school));
        }
    }
    Err(ServiceError::denied(
        "you may read only your own, your children's, or your students' attendance",
    ))
}

/// Whether the caller decides notes about `student` at `school`: the
/// class teacher of a class the student has been in, or the school's
/// administration (see `corrects_for`).
pub async fn decides_for(
    connection: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
    school: &School,
) -> Result<bool, ServiceError> {
    let class_teacher = storage::is_class_teacher_of(connection, caller.person_id, student).await?;
    corrects_for(connection, caller, class_teacher, school).await
}
