//! May this caller do this here? The checks every service makes (the grant
//! is not known to be revoked, it covers the school, the rights matrix in
//! force there gives the role the right) are the directory's, re-exported
//! here; what this module adds are the gradebook's own: how the caller
//! relates to a class or a student (teaches the class or a group of it, is
//! the student, is their guardian) and what that lets them read and write.

use asurso_proto::identity::Role;
use asurso_runtime::{
    auth::{Caller, role_name},
    rights::{Right, right},
};
use sqlx::PgConnection;
use uuid::Uuid;

pub use asurso_directory::access::{
    authorize, ensure_grant_stands, holds_role, is_family, is_student_of, matrix_at, read_school,
};
use asurso_directory::{Memory, access as directory};

use crate::{
    domain::GradebookError,
    storage::{
        self,
        classes::{ClassRow, SubgroupRow},
        directory::School,
    },
};

/// The right to keep a school's calendar, classes, load and timetable.
pub const MANAGE: Right = right::TIMETABLE_MANAGE;
/// The right to keep the journal of the classes and subjects one teaches.
pub const JOURNAL_WRITE: Right = right::JOURNAL_WRITE;
/// The right to read a whole class's journal (its class teacher, the
/// school's administration).
pub const JOURNAL_READ_CLASS: Right = right::JOURNAL_READ_CLASS;
/// The right to read one's own or one's children's diary.
pub const DIARY_READ: Right = right::DIARY_READ;
/// The right to read a class's or a school's summaries.
pub const REPORTS_SCHOOL: Right = right::REPORTS_SCHOOL;
/// The right to read summaries of the schools under a municipality or region.
pub const REPORTS_AGGREGATE: Right = right::REPORTS_AGGREGATE;

/// Roles of a school's staff.
pub const STAFF: [Role; 3] = [Role::SchoolAdmin, Role::Teacher, Role::ClassTeacher];
/// Grants that make someone a teacher of a school.
pub const TEACHER_ROLES: [Role; 2] = [Role::Teacher, Role::ClassTeacher];

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

/// Whether the caller may manage the school (without refusing).
pub async fn may_manage(
    connection: &mut PgConnection,
    caller: &Caller,
    school: &School,
) -> Result<bool, GradebookError> {
    directory::may(connection, caller, MANAGE, school).await
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
/// school the student is enrolled in who may manage it or works with the
/// student there: their class teacher, or a teacher of theirs (of the
/// whole class, or of a group they are in; a group's teacher does not read
/// the other groups' students).
pub async fn read_student(
    memory: &Memory,
    connection: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
) -> Result<StudentReader, GradebookError> {
    if is_family(memory, connection, caller, student).await? {
        return Ok(StudentReader::Family);
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

/// Reading what a class is taught (its timetable, its assignments): the
/// school's staff and administration, the class's students and their
/// parents.
pub async fn read_class(
    connection: &mut PgConnection,
    caller: &Caller,
    class: &ClassRow,
    school: &School,
) -> Result<(), GradebookError> {
    read_school(caller, school)?;
    let allowed = match caller.role {
        Role::Student => {
            storage::classes::ever_in_class(connection, class.id, caller.person_id).await?
        }
        Role::Parent => {
            storage::classes::has_child_in(connection, caller.person_id, class.id).await?
        }
        _ => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(GradebookError::denied(format!(
            "you may read what your own or your children's class is taught, not {}",
            class.name
        )))
    }
}

/// What a lesson's journal belongs to: the class, its subject and group.
#[derive(Debug, Clone, Copy)]
pub struct JournalScope {
    pub class_id: Uuid,
    pub subject_id: Uuid,
    pub subgroup_id: Option<Uuid>,
}

/// How much of a class's journal of a subject a caller reaches: the whole
/// class, or only the groups of it they teach the subject to. A class split
/// into groups (English group A and group B) has a teacher per group, and
/// neither reads or marks the other's students, whatever the request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Class,
    Groups(Vec<Uuid>),
}

impl Reach {
    /// The reach a teacher's load of a subject in a class gives: the whole
    /// class with a whole-class load (`None`), else the groups they teach;
    /// no reach without a load.
    pub fn of_load(groups: impl IntoIterator<Item = Option<Uuid>>) -> Option<Self> {
        let mut taught = Vec::new();
        for group in groups {
            match group {
                None => return Some(Self::Class),
                Some(group) => taught.push(group),
            }
        }
        (!taught.is_empty()).then_some(Self::Groups(taught))
    }

    /// The groups to keep to, `None` for the whole class.
    pub fn groups(&self) -> Option<&[Uuid]> {
        match self {
            Self::Class => None,
            Self::Groups(groups) => Some(groups),
        }
    }

    /// Whether the lessons of `subgroup` (the whole class's where `None`)
    /// are the caller's to keep: a whole-class lesson is not a group
    /// teacher's, it marks the other groups' students too.
    pub fn keeps(&self, subgroup: Option<Uuid>) -> bool {
        match (self, subgroup) {
            (Self::Class, _) => true,
            (Self::Groups(groups), Some(subgroup)) => groups.contains(&subgroup),
            (Self::Groups(_), None) => false,
        }
    }

    /// Whether the lessons of `subgroup` show on the caller's page: a group
    /// teacher's page has the whole-class lessons too, with their groups'
    /// students' marks only.
    pub fn shows(&self, subgroup: Option<Uuid>) -> bool {
        subgroup.is_none() || self.keeps(subgroup)
    }

    /// Whether the student is within reach, given the class's groups.
    pub fn covers(&self, student: Uuid, subgroups: &[SubgroupRow]) -> bool {
        match self {
            Self::Class => true,
            Self::Groups(groups) => subgroups
                .iter()
                .any(|row| groups.contains(&row.id) && row.student_ids.contains(&student)),
        }
    }
}

const NOT_TAUGHT: &str =
    "you do not teach this subject in this class: the journal is kept by its teacher";

/// The caller's reach in a class's subject as one who keeps its journal:
/// `journal.write` at the school by the matrix, a grant at the school
/// itself, and the reach their teaching load gives (`None` without one).
async fn keeper_reach(
    connection: &mut PgConnection,
    caller: &Caller,
    school: &School,
    class_id: Uuid,
    subject_id: Uuid,
) -> Result<Option<Reach>, GradebookError> {
    if caller.org_unit_id != school.id {
        return Err(GradebookError::denied(format!(
            "only teachers of {} keep its journal",
            school.name
        )));
    }
    authorize(connection, caller, JOURNAL_WRITE, school).await?;
    let groups =
        storage::journal::taught_groups(connection, caller.person_id, class_id, subject_id).await?;
    Ok(Reach::of_load(groups))
}

/// Refuses unless the caller may write this journal: they keep the class's
/// subject (see [`keep_journal`]) and the lesson's group, or the whole
/// class for a whole-class lesson, is within their reach; or the lesson
/// is theirs (a substitute, `lesson_teacher`).
pub async fn write_journal(
    connection: &mut PgConnection,
    caller: &Caller,
    school: &School,
    scope: JournalScope,
    lesson_teacher: Option<Uuid>,
) -> Result<(), GradebookError> {
    let reach = keeper_reach(connection, caller, school, scope.class_id, scope.subject_id).await?;
    if lesson_teacher == Some(caller.person_id) {
        return Ok(());
    }
    match reach {
        Some(reach) if reach.keeps(scope.subgroup_id) => Ok(()),
        Some(_) => Err(GradebookError::denied(
            "this lesson is not of the groups you teach this subject to: its journal is kept by \
             its teacher",
        )),
        None => Err(GradebookError::denied(NOT_TAUGHT)),
    }
}

/// Refuses unless the caller keeps some of the journal of a class's subject
/// (`journal.write` at the school and a load of it there), and says how
/// much: whom they may give term marks.
pub async fn keep_journal(
    connection: &mut PgConnection,
    caller: &Caller,
    school: &School,
    class_id: Uuid,
    subject_id: Uuid,
) -> Result<Reach, GradebookError> {
    keeper_reach(connection, caller, school, class_id, subject_id)
        .await?
        .ok_or_else(|| GradebookError::denied(NOT_TAUGHT))
}

/// Whether the caller reads the whole class's journal: `journal.read_class`
/// at the school, as its administration or as the class's class teacher.
pub async fn reads_whole_class(
    connection: &mut PgConnection,
    caller: &Caller,
    class: &ClassRow,
    school: &School,
) -> Result<bool, GradebookError> {
    if !directory::may(connection, caller, JOURNAL_READ_CLASS, school).await? {
        return Ok(false);
    }
    Ok(caller.role == Role::SchoolAdmin || class.class_teacher_id == Some(caller.person_id))
}

/// Refuses unless the caller may read the class's journal of a subject, and
/// says how much of it: the whole class for one who reads the whole class
/// or teaches it the subject, the groups they teach it to for a group's
/// teacher. A group the request names narrows that to the group, and is
/// refused when outside it.
pub async fn read_journal(
    connection: &mut PgConnection,
    caller: &Caller,
    class: &ClassRow,
    school: &School,
    subject_id: Uuid,
    subgroup: Option<Uuid>,
) -> Result<Reach, GradebookError> {
    let refused = || {
        GradebookError::denied(format!(
            "the journal of {} is read by its class teacher, the school's administration and \
             the subject's teachers, each of their own groups",
            class.name
        ))
    };
    let reach = if reads_whole_class(connection, caller, class, school).await? {
        Reach::Class
    } else {
        keep_journal(connection, caller, school, class.id, subject_id)
            .await
            .map_err(|_| refused())?
    };
    match subgroup {
        None => Ok(reach),
        Some(subgroup) if reach.keeps(Some(subgroup)) => Ok(Reach::Groups(vec![subgroup])),
        Some(_) => Err(refused()),
    }
}

/// Refuses the family's read of a diary unless the rights matrix at one of
/// the student's `schools` gives their role `diary.read` (the right is the
/// school's to give; a student in no school yet has nothing to hide).
pub async fn family_reads_diary(
    memory: &Memory,
    connection: &mut PgConnection,
    caller: &Caller,
    schools: &[Uuid],
) -> Result<(), GradebookError> {
    let known = memory
        .known(|known| known.allows_at_any(schools, caller.role, DIARY_READ))
        .flatten();
    let allowed = schools.is_empty()
        || match known {
            Some(allowed) => allowed,
            None => {
                let mut allowed = false;
                for school_id in schools {
                    let school = school(connection, *school_id, "student_id").await?;
                    if matrix_at(connection, &school)
                        .await?
                        .allows(caller.role, DIARY_READ)
                    {
                        allowed = true;
                        break;
                    }
                }
                allowed
            }
        };
    if allowed {
        Ok(())
    } else {
        Err(GradebookError::denied(format!(
            "the {} role may not read the diary here",
            role_name(caller.role)
        )))
    }
}

/// Refuses unless the caller may read a student's diary or marks, and says
/// how: the student or a guardian (with `diary.read`), or staff.
pub async fn read_diary(
    memory: &Memory,
    connection: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
) -> Result<StudentReader, GradebookError> {
    if family_reads(memory, connection, caller, student).await? {
        return Ok(StudentReader::Family);
    }
    read_student(memory, connection, caller, student).await
}

/// Whether the caller reads the student's diary or marks as family (the
/// student, a guardian), refusing such a caller unless `diary.read` is
/// theirs at one of the student's schools; `false` for anyone else.
pub async fn family_reads(
    memory: &Memory,
    connection: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
) -> Result<bool, GradebookError> {
    if !is_family(memory, connection, caller, student).await? {
        return Ok(false);
    }
    let schools = storage::classes::schools_of_student(connection, student).await?;
    family_reads_diary(memory, connection, caller, &schools).await?;
    Ok(true)
}

pub use directory::read_aggregates;

/// Refuses unless the caller may read a class's summary: `reports.school`
/// at the school, as its administration or the class's class teacher.
pub async fn read_class_reports(
    connection: &mut PgConnection,
    caller: &Caller,
    class: &ClassRow,
    school: &School,
) -> Result<(), GradebookError> {
    authorize(connection, caller, REPORTS_SCHOOL, school).await?;
    if caller.role == Role::SchoolAdmin || class.class_teacher_id == Some(caller.person_id) {
        Ok(())
    } else {
        Err(GradebookError::denied(format!(
            "the summary of {} is read by its class teacher and the school's administration",
            class.name
        )))
    }
}
