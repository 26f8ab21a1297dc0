//! Marks for an assignment: setting a batch of them and a mark's history;
//! and how a mark is sent, stored and told, which term marks share.

use std::collections::{HashMap, HashSet};

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::{auth::Caller, errors::FieldViolation};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::assignments::{assignment_of, writable_assignment};
use crate::{
    access::{self, StudentReader},
    api::{Edge, Idempotent, State, civil_date, optional_text, timestamp, uuid_field},
    domain::{
        GradebookError,
        mark_changes::{MarkChange, RecordedMark, mark_change},
        marks::{MarkUse, MarkValue},
    },
    events::{publish, report_read},
    storage::{self, directory::School, journal::MarkRow, lessons::LessonRow},
};

const MAX_COMMENT: usize = 500;

fn kind_name(kind: i32) -> &'static str {
    match pb::MarkKind::try_from(kind).unwrap_or(pb::MarkKind::Unspecified) {
        pb::MarkKind::Unspecified => "",
        pb::MarkKind::Grade => "grade",
        pb::MarkKind::Pass => "pass",
        pb::MarkKind::Fail => "fail",
        pb::MarkKind::Debt => "debt",
        pb::MarkKind::NotAssessed => "not_assessed",
        pb::MarkKind::Exempt => "exempt",
    }
}

/// A mark as sent, checked for where it is used.
pub fn mark_value(
    value: &pb::MarkValue,
    used: MarkUse,
    field: &str,
) -> Result<MarkValue, GradebookError> {
    let grade = (value.grade != 0).then_some(value.grade);
    MarkValue::parse(kind_name(value.kind), grade, used, field)
}

/// A stored mark as sent back (a row the schema checked).
pub fn stored_value(kind: &str, grade: Option<i32>) -> pb::MarkValue {
    let kind = match kind {
        "grade" => pb::MarkKind::Grade,
        "pass" => pb::MarkKind::Pass,
        "fail" => pb::MarkKind::Fail,
        "debt" => pb::MarkKind::Debt,
        "not_assessed" => pb::MarkKind::NotAssessed,
        "exempt" => pb::MarkKind::Exempt,
        _ => pb::MarkKind::Unspecified,
    };
    pb::MarkValue {
        kind: kind.into(),
        grade: grade.unwrap_or(0),
    }
}

pub(super) fn fact(kind: &str, grade: Option<i32>) -> events::MarkValueFact {
    events::MarkValueFact {
        kind: kind.to_owned(),
        grade: grade.unwrap_or(0),
    }
}

fn mark(row: &MarkRow) -> pb::Mark {
    pb::Mark {
        id: row.id.to_string(),
        assignment_id: row.assignment_id.to_string(),
        student_id: row.student_id.to_string(),
        value: Some(stored_value(&row.kind, row.grade)),
        comment: row.comment.clone(),
        teacher_id: row.teacher_id.to_string(),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

/// Checks every entry of a batch of marks before anything is written and
/// names all that is wrong at once: each entry's student (a UUID, given
/// once), then the rest by `check(entry, "marks[i]")`.
pub(super) fn check_entries<E, T>(
    entries: &[E],
    student_of: impl Fn(&E) -> &str,
    mut check: impl FnMut(&E, &str) -> Result<T, GradebookError>,
) -> Result<Vec<(Uuid, T)>, GradebookError> {
    if entries.is_empty() {
        return Err(GradebookError::invalid("marks", "give at least one mark"));
    }
    let mut violations = Vec::new();
    let mut checked = Vec::with_capacity(entries.len());
    let mut seen = HashSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let field = format!("marks[{index}]");
        let student = format!("{field}.student_id");
        let result = uuid_field(student_of(entry), &student)
            .and_then(|id| {
                if seen.insert(id) {
                    Ok(id)
                } else {
                    Err(GradebookError::invalid(student, "appears twice"))
                }
            })
            .and_then(|id| Ok((id, check(entry, &field)?)));
        match result {
            Ok(entry) => checked.push(entry),
            Err(GradebookError::Invalid(found)) => violations.extend(found),
            Err(other) => return Err(other),
        }
    }
    if violations.is_empty() {
        Ok(checked)
    } else {
        Err(GradebookError::Invalid(violations))
    }
}

/// The entries whose student is not in `allowed`, each named.
pub(super) fn outsiders<T>(
    entries: &[(Uuid, T)],
    allowed: &HashSet<Uuid>,
    why: impl Fn(Uuid) -> String,
) -> Result<(), GradebookError> {
    let violations: Vec<_> = entries
        .iter()
        .enumerate()
        .filter(|(_, (student, _))| !allowed.contains(student))
        .map(|(index, (student, _))| {
            FieldViolation::new(format!("marks[{index}].student_id"), why(*student))
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(GradebookError::Invalid(violations))
    }
}

/// A stored mark as the domain compares it with a new one.
impl RecordedMark for MarkRow {
    fn value(&self) -> (&str, Option<i32>) {
        (&self.kind, self.grade)
    }

    fn comment(&self) -> &str {
        &self.comment
    }
}

/// Where the marks of one assignment are written from, and by whom.
struct Marking<'a> {
    school: &'a School,
    lesson: &'a LessonRow,
    assignment: Uuid,
    teacher: Uuid,
    at: OffsetDateTime,
}

impl Marking<'_> {
    /// Writes what setting a student's mark changes (with its history) and
    /// tells it by the event the change calls for.
    async fn apply(
        &self,
        transaction: &mut PgConnection,
        student: Uuid,
        change: MarkChange<&MarkRow>,
        comment: String,
    ) -> Result<(), GradebookError> {
        let (school, lesson) = (self.school, self.lesson);
        let written = |id, value: MarkValue| MarkRow {
            id,
            assignment_id: self.assignment,
            student_id: student,
            kind: value.kind().to_owned(),
            grade: value.grade(),
            comment,
            teacher_id: self.teacher,
            updated_at: self.at,
        };
        match change {
            MarkChange::Unchanged => {}
            MarkChange::Removed(before) => {
                storage::journal::remove_mark(transaction, before, self.teacher).await?;
                publish(
                    transaction,
                    school,
                    ("mark", before.id),
                    "removed",
                    &events::MarkRemoved {
                        mark_id: before.id.to_string(),
                        assignment_id: self.assignment.to_string(),
                        class_id: lesson.class_id.to_string(),
                        subject_id: lesson.subject_id.to_string(),
                        student_id: student.to_string(),
                        old_value: Some(fact(&before.kind, before.grade)),
                        teacher_id: self.teacher.to_string(),
                    },
                )
                .await?;
            }
            MarkChange::Posted(value) => {
                let new = written(Uuid::now_v7(), value);
                storage::journal::put_mark(transaction, &new, None).await?;
                publish(
                    transaction,
                    school,
                    ("mark", new.id),
                    "posted",
                    &events::MarkPosted {
                        mark_id: new.id.to_string(),
                        assignment_id: self.assignment.to_string(),
                        lesson_id: lesson.id.to_string(),
                        class_id: lesson.class_id.to_string(),
                        subject_id: lesson.subject_id.to_string(),
                        student_id: student.to_string(),
                        value: Some(fact(&new.kind, new.grade)),
                        comment: new.comment.clone(),
                        lesson_date: Some(civil_date(lesson.date)),
                        teacher_id: self.teacher.to_string(),
                    },
                )
                .await?;
            }
            MarkChange::Changed { before, after } => {
                let new = written(before.id, after);
                storage::journal::put_mark(transaction, &new, Some(before)).await?;
                publish(
                    transaction,
                    school,
                    ("mark", new.id),
                    "changed",
                    &events::MarkChanged {
                        mark_id: new.id.to_string(),
                        assignment_id: self.assignment.to_string(),
                        class_id: lesson.class_id.to_string(),
                        subject_id: lesson.subject_id.to_string(),
                        student_id: student.to_string(),
                        old_value: Some(fact(&before.kind, before.grade)),
                        new_value: Some(fact(&new.kind, new.grade)),
                        comment: new.comment.clone(),
                        teacher_id: self.teacher.to_string(),
                    },
                )
                .await?;
            }
        }
        Ok(())
    }
}

pub(super) async fn set_marks(
    state: &State,
    caller: &Caller,
    request: pb::SetMarksRequest,
) -> Result<pb::SetMarksResponse, GradebookError> {
    let id = uuid_field(&request.assignment_id, "assignment_id")?;
    let entries = check_entries(
        &request.marks,
        |entry| &entry.student_id,
        |entry, field| {
            let value = entry
                .value
                .as_ref()
                .map(|value| mark_value(value, MarkUse::Assignment, &format!("{field}.value")))
                .transpose()?;
            let comment = optional_text(&entry.comment, &format!("{field}.comment"), MAX_COMMENT)?;
            Ok((value, comment))
        },
    )?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    // Locking the assignment makes mark changes of one assignment
    // happen one after another, so the history's "before" is true.
    let (_, lesson, school) = writable_assignment(&mut transaction, caller, id).await?;
    if lesson.status == "cancelled" {
        return Err(GradebookError::FailedPrecondition(
            "assignment_id: its lesson was cancelled: no marks for it".to_owned(),
        ));
    }
    let markable: HashSet<Uuid> = storage::journal::markable_students(
        &mut transaction,
        lesson.class_id,
        lesson.subgroup_id,
        lesson.date,
    )
    .await?
    .into_iter()
    .collect();
    let group = if lesson.subgroup_id.is_some() {
        "group"
    } else {
        "class"
    };
    outsiders(&entries, &markable, |student| {
        format!(
            "{student} was not a student of this lesson's {group} on {}",
            lesson.date
        )
    })?;
    let existing: HashMap<Uuid, MarkRow> = storage::journal::marks_of(&mut transaction, id)
        .await?
        .into_iter()
        .map(|mark| (mark.student_id, mark))
        .collect();
    let marking = Marking {
        school: &school,
        lesson: &lesson,
        assignment: id,
        teacher: caller.person_id,
        at: OffsetDateTime::now_utc(),
    };
    for (student, (value, comment)) in entries {
        let change = mark_change(existing.get(&student), value, &comment);
        marking
            .apply(&mut transaction, student, change, comment)
            .await?;
    }
    let answer = pb::SetMarksResponse {
        marks: storage::journal::marks_of(&mut transaction, id)
            .await?
            .iter()
            .map(mark)
            .collect(),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(assignment_id = %id, entries = request.marks.len(), "marks set");
    Ok(answer)
}

pub(super) async fn get_mark_history(
    state: &State,
    caller: &Caller,
    request: pb::GetMarkHistoryRequest,
) -> Result<pb::GetMarkHistoryResponse, GradebookError> {
    let id = uuid_field(&request.assignment_id, "assignment_id")?;
    let student = uuid_field(&request.student_id, "student_id")?;
    let mut transaction = state.begin().await?;
    let row = assignment_of(&mut transaction, id, false).await?;
    let (class, school) = access::class(&mut transaction, row.class_id, "assignment_id").await?;
    let family = matches!(
        access::read_student(&state.memory, &mut transaction, caller, student).await,
        Ok(StudentReader::Family)
    );
    if !family {
        // What the caller's journal page shows: a group's teacher reads
        // their groups' students' marks, of their lessons and the
        // whole class's.
        let reach = access::read_journal(
            &mut transaction,
            caller,
            &class,
            &school,
            row.subject_id,
            None,
        )
        .await?;
        let subgroups = storage::classes::subgroups(&mut transaction, &[class.id]).await?;
        if !reach.shows(row.subgroup_id) || !reach.covers(student, &subgroups) {
            return Err(GradebookError::denied(format!(
                "{student} is not a student of the groups of {} you teach this subject to",
                class.name
            )));
        }
        report_read(&mut transaction, caller, &school, student, "mark history").await?;
    }
    let changes = storage::journal::mark_history(&mut transaction, id, student).await?;
    state.commit(transaction).await?;
    Ok(pb::GetMarkHistoryResponse {
        changes: changes
            .iter()
            .map(|change| pb::MarkChange {
                old_value: change
                    .old_kind
                    .as_deref()
                    .map(|kind| stored_value(kind, change.old_grade)),
                new_value: change
                    .new_kind
                    .as_deref()
                    .map(|kind| stored_value(kind, change.new_grade)),
                old_comment: change.old_comment.clone(),
                new_comment: change.new_comment.clone(),
                changed_by: change.changed_by.to_string(),
                changed_at: Some(timestamp(change.changed_at)),
            })
            .collect(),
    })
}
