//! The journal a teacher keeps: assignments with attachments, marks with
//! their history, term and final marks.

use std::collections::{HashMap, HashSet};

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::{auth::Caller, errors::FieldViolation};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Shared, civil_date, optional_date, optional_text, remember, replay, text_field, text_of,
    timestamp, uuid_field,
};
use crate::{
    access::{self, JournalScope, Reach, StudentReader},
    domain::{
        GradebookError, attachments,
        calendar::{Days, TermKind},
        marks::{MarkUse, MarkValue, Period, rounded, suggested_grade, weighted_average},
    },
    events::{publish, report_read},
    storage::{
        self,
        classes::ClassRow,
        directory::School,
        journal::{
            AssignmentFields, AssignmentRow, AssignmentType, AttachmentInfo, MarkRow, TermMarkRow,
        },
        lessons::LessonRow,
    },
};

pub struct JournalApi(pub Shared);

/// The longest title (the lesson's topic) and text of an assignment.
const MAX_TITLE: usize = 300;
const MAX_TEXT: usize = 10_000;
const MAX_COMMENT: usize = 500;

pub fn assignment_type(kind: &AssignmentType) -> pb::AssignmentType {
    pb::AssignmentType {
        code: kind.code.clone(),
        name: kind.name.clone(),
        abbreviation: kind.abbreviation.clone(),
        default_weight: kind.default_weight,
    }
}

pub fn attachment_info(info: &AttachmentInfo) -> pb::AttachmentInfo {
    pb::AttachmentInfo {
        id: info.id.to_string(),
        file_name: info.file_name.clone(),
        content_type: info.content_type.clone(),
        size: info.size,
        sha256: info.sha256.clone(),
    }
}

/// Attachments of these assignments, by assignment.
pub async fn attachments_by_assignment(
    connection: &mut PgConnection,
    assignments: &[Uuid],
) -> Result<HashMap<Uuid, Vec<pb::AttachmentInfo>>, GradebookError> {
    let mut by = HashMap::<Uuid, Vec<pb::AttachmentInfo>>::new();
    if assignments.is_empty() {
        return Ok(by);
    }
    for info in storage::journal::attachments_of(connection, assignments).await? {
        by.entry(info.assignment_id)
            .or_default()
            .push(attachment_info(&info));
    }
    Ok(by)
}

fn assignment(row: &AssignmentRow, attachments: Vec<pb::AttachmentInfo>) -> pb::Assignment {
    pb::Assignment {
        id: row.id.to_string(),
        lesson_id: row.lesson_id.to_string(),
        class_id: row.class_id.to_string(),
        subgroup_id: text_of(row.subgroup_id),
        subject_id: row.subject_id.to_string(),
        lesson_date: Some(civil_date(row.lesson_date)),
        r#type: Some(assignment_type(&row.kind())),
        weight: row.weight,
        due_date: Some(civil_date(row.due_date)),
        title: row.title.clone(),
        text: row.body.clone(),
        teacher_id: row.teacher_id.to_string(),
        attachments,
    }
}

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

fn fact(kind: &str, grade: Option<i32>) -> events::MarkValueFact {
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

fn weight_field(weight: i32, field: &str) -> Result<i32, GradebookError> {
    if (1..=20).contains(&weight) {
        Ok(weight)
    } else {
        Err(GradebookError::invalid(
            field,
            format!("{weight} is outside 1 to 20"),
        ))
    }
}

async fn lesson_of(
    connection: &mut PgConnection,
    id: Uuid,
    field: &str,
) -> Result<(LessonRow, School), GradebookError> {
    let lesson = storage::lessons::get(connection, id)
        .await?
        .ok_or_else(|| GradebookError::not_found(field, format_args!("lesson {id}")))?;
    let school = access::school(connection, lesson.school_id, field).await?;
    Ok((lesson, school))
}

async fn assignment_of(
    connection: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<AssignmentRow, GradebookError> {
    storage::journal::assignment(connection, id, lock)
        .await?
        .ok_or_else(|| GradebookError::not_found("assignment_id", format_args!("assignment {id}")))
}

async fn type_of(
    connection: &mut PgConnection,
    code: &str,
) -> Result<AssignmentType, GradebookError> {
    storage::journal::assignment_type(connection, code)
        .await?
        .ok_or_else(|| {
            GradebookError::invalid(
                "type",
                format!("{code:?} is not an assignment type (see ListAssignmentTypes)"),
            )
        })
}

fn scope_of(lesson: &LessonRow) -> JournalScope {
    JournalScope {
        class_id: lesson.class_id,
        subject_id: lesson.subject_id,
        subgroup_id: lesson.subgroup_id,
    }
}

/// The due date checked against the lesson and the school year.
async fn due_date(
    connection: &mut PgConnection,
    lesson: &LessonRow,
    due: Option<time::Date>,
) -> Result<time::Date, GradebookError> {
    let Some(due) = due else {
        return Ok(lesson.date);
    };
    if due < lesson.date {
        return Err(GradebookError::invalid(
            "due_date",
            format!("is before the lesson ({})", lesson.date),
        ));
    }
    let end = storage::lessons::year_end_of(connection, lesson.id).await?;
    if end.is_some_and(|end| due > end) {
        return Err(GradebookError::invalid(
            "due_date",
            "is after the end of the school year",
        ));
    }
    Ok(due)
}

fn changed_event(row: &AssignmentRow) -> events::AssignmentChanged {
    events::AssignmentChanged {
        assignment_id: row.id.to_string(),
        lesson_id: row.lesson_id.to_string(),
        class_id: row.class_id.to_string(),
        subject_id: row.subject_id.to_string(),
        r#type: row.type_code.clone(),
        weight: row.weight,
        due_date: Some(civil_date(row.due_date)),
        title: row.title.clone(),
        teacher_id: row.teacher_id.to_string(),
    }
}

/// A class's subject for term marks: the class, its school and year.
struct Sheet {
    class: ClassRow,
    school: School,
    year_id: Uuid,
    period: Period,
    days: Days,
}

impl Sheet {
    /// The class's students some day of the period (of these groups only,
    /// when given).
    async fn students(
        &self,
        connection: &mut PgConnection,
        groups: Option<&[Uuid]>,
    ) -> Result<HashSet<Uuid>, GradebookError> {
        Ok(storage::reports::students_between(
            connection,
            self.class.id,
            groups,
            self.days.start,
            self.days.end,
        )
        .await?
        .into_iter()
        .map(|row| row.student_id)
        .collect())
    }

    /// The period's marks of a subject set so far, by student.
    async fn marks_set(
        &self,
        connection: &mut PgConnection,
        subject: Uuid,
        students: &[Uuid],
        lock: bool,
    ) -> Result<HashMap<Uuid, TermMarkRow>, GradebookError> {
        let period = (self.period.as_str(), self.period.number());
        Ok(storage::journal::term_marks(
            connection,
            self.year_id,
            students,
            Some(subject),
            Some(period),
            lock,
        )
        .await?
        .into_iter()
        .map(|row| (row.student_id, row))
        .collect())
    }
}

async fn sheet_of(
    connection: &mut PgConnection,
    class_id: &str,
    subject_id: &str,
    period: Option<&pb::MarkPeriod>,
) -> Result<(Sheet, Uuid), GradebookError> {
    let class_id = uuid_field(class_id, "class_id")?;
    let subject_id = uuid_field(subject_id, "subject_id")?;
    let period = period.ok_or_else(|| GradebookError::invalid("period", "is required"))?;
    let kind = match pb::PeriodKind::try_from(period.kind).unwrap_or(pb::PeriodKind::Unspecified) {
        pb::PeriodKind::Unspecified => "",
        pb::PeriodKind::Term => "term",
        pb::PeriodKind::HalfYear => "half_year",
        pb::PeriodKind::Year => "year",
        pb::PeriodKind::Exam => "exam",
        pb::PeriodKind::Final => "final",
    };
    let parsed = Period::requested(kind, period.number, "period")?;
    let (class, school) = access::class(connection, class_id, "class_id").await?;
    let subject = storage::curriculum::subject(connection, subject_id)
        .await?
        .filter(|subject| subject.school_id == school.id)
        .ok_or_else(|| {
            GradebookError::not_found(
                "subject_id",
                format_args!("subject {subject_id} in {}", school.name),
            )
        })?;
    let year = storage::calendar::get(connection, class.school_year_id)
        .await?
        .ok_or_else(|| GradebookError::Internal("a class's school year vanished".into()))?;
    let terms: Vec<Days> = year
        .terms
        .iter()
        .map(|term| Days {
            start: term.start_date,
            end: term.end_date,
        })
        .collect();
    let kind = TermKind::parse(&year.year.term_kind).unwrap_or(TermKind::Quarters);
    let days = parsed.days(
        Days {
            start: year.year.start_date,
            end: year.year.end_date,
        },
        kind,
        &terms,
        "period",
    )?;
    Ok((
        Sheet {
            class,
            school,
            year_id: year.year.id,
            period: parsed,
            days,
        },
        subject.id,
    ))
}

/// The sheet's rows: the class's students in the period within `reach`
/// (their ids, and rows with their weighted averages and the marks set).
async fn sheet_rows(
    connection: &mut PgConnection,
    sheet: &Sheet,
    subject: Uuid,
    reach: &Reach,
) -> Result<(Vec<Uuid>, Vec<pb::TermMarkRow>), GradebookError> {
    let students = storage::reports::students_between(
        connection,
        sheet.class.id,
        reach.groups(),
        sheet.days.start,
        sheet.days.end,
    )
    .await?;
    let ids: Vec<Uuid> = students.iter().map(|s| s.student_id).collect();
    let mut grades = HashMap::<Uuid, Vec<(i32, i32)>>::new();
    for (student, grade, weight) in
        storage::journal::grades_in(connection, subject, &ids, sheet.days.start, sheet.days.end)
            .await?
    {
        grades.entry(student).or_default().push((grade, weight));
    }
    let set = sheet.marks_set(connection, subject, &ids, false).await?;
    let rows = students
        .iter()
        .map(|student| {
            let marks = grades.remove(&student.student_id).unwrap_or_default();
            let count = i32::try_from(marks.len()).unwrap_or(i32::MAX);
            let average = weighted_average(marks);
            pb::TermMarkRow {
                student_id: student.student_id.to_string(),
                student_name: student.student_name.clone(),
                average: average.map(rounded).unwrap_or(0.0),
                marks_count: count,
                suggested_grade: average.map(suggested_grade).unwrap_or(0),
                mark: set
                    .get(&student.student_id)
                    .map(|row| stored_value(&row.kind, row.grade)),
            }
        })
        .collect();
    Ok((ids, rows))
}

/// Checks every entry of a batch of marks before anything is written and
/// names all that is wrong at once: each entry's student (a UUID, given
/// once), then the rest by `check(entry, "marks[i]")`.
fn check_entries<E, T>(
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
fn outsiders<T>(
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

impl JournalApi {
    async fn create_assignment(
        &self,
        caller: &Caller,
        request: pb::CreateAssignmentRequest,
    ) -> Result<pb::CreateAssignmentResponse, GradebookError> {
        const OPERATION: &str = "gradebook.CreateAssignment";
        let lesson_id = uuid_field(&request.lesson_id, "lesson_id")?;
        let title = text_field(&request.title, "title", MAX_TITLE)?;
        let text = optional_text(&request.text, "text", MAX_TEXT)?;
        let due = optional_date(request.due_date.as_ref(), "due_date")?;
        let mut transaction = self.0.begin().await?;
        if let Some(answer) = replay(
            &mut transaction,
            caller,
            OPERATION,
            &request.idempotency_key,
        )
        .await?
        {
            return Ok(answer);
        }
        let (lesson, school) = lesson_of(&mut transaction, lesson_id, "lesson_id").await?;
        access::write_journal(
            &mut transaction,
            caller,
            &school,
            scope_of(&lesson),
            Some(lesson.teacher_id),
        )
        .await?;
        if lesson.status == "cancelled" {
            return Err(GradebookError::FailedPrecondition(format!(
                "lesson_id: the lesson was cancelled ({})",
                lesson.cancel_reason
            )));
        }
        let kind = type_of(&mut transaction, request.r#type.trim()).await?;
        let weight = if request.weight == 0 {
            kind.default_weight
        } else {
            weight_field(request.weight, "weight")?
        };
        let fields = AssignmentFields {
            type_code: kind.code,
            weight,
            due_date: due_date(&mut transaction, &lesson, due).await?,
            title,
            body: text,
        };
        let id = Uuid::now_v7();
        storage::journal::insert_assignment(
            &mut transaction,
            id,
            lesson.id,
            caller.person_id,
            &fields,
        )
        .await?;
        let row = assignment_of(&mut transaction, id, false).await?;
        publish(
            &mut transaction,
            &school,
            ("assignment", id),
            "published",
            &events::AssignmentPublished {
                assignment_id: id.to_string(),
                lesson_id: lesson.id.to_string(),
                class_id: lesson.class_id.to_string(),
                subgroup_id: text_of(lesson.subgroup_id),
                subject_id: lesson.subject_id.to_string(),
                r#type: row.type_code.clone(),
                weight: row.weight,
                due_date: Some(civil_date(row.due_date)),
                title: row.title.clone(),
                teacher_id: caller.person_id.to_string(),
            },
        )
        .await?;
        let answer = pb::CreateAssignmentResponse {
            assignment: Some(assignment(&row, Vec::new())),
        };
        remember(
            &mut transaction,
            caller,
            OPERATION,
            &request.idempotency_key,
            &answer,
        )
        .await?;
        self.0.commit(transaction).await?;
        tracing::info!(assignment_id = %id, lesson_id = %lesson.id, "assignment published");
        Ok(answer)
    }

    async fn change_assignment(
        &self,
        caller: &Caller,
        request: pb::ChangeAssignmentRequest,
    ) -> Result<pb::ChangeAssignmentResponse, GradebookError> {
        let id = uuid_field(&request.assignment_id, "assignment_id")?;
        let due = optional_date(request.due_date.as_ref(), "due_date")?;
        let mut transaction = self.0.begin().await?;
        let row = assignment_of(&mut transaction, id, true).await?;
        let (lesson, school) = lesson_of(&mut transaction, row.lesson_id, "assignment_id").await?;
        access::write_journal(
            &mut transaction,
            caller,
            &school,
            scope_of(&lesson),
            Some(lesson.teacher_id),
        )
        .await?;
        let mut fields = AssignmentFields {
            type_code: row.type_code.clone(),
            weight: row.weight,
            due_date: row.due_date,
            title: row.title.clone(),
            body: row.body.clone(),
        };
        if let Some(code) = request.r#type.as_deref() {
            fields.type_code = type_of(&mut transaction, code.trim()).await?.code;
        }
        if let Some(weight) = request.weight {
            fields.weight = weight_field(weight, "weight")?;
        }
        if let Some(title) = request.title.as_deref() {
            fields.title = text_field(title, "title", MAX_TITLE)?;
        }
        if let Some(text) = request.text.as_deref() {
            fields.body = optional_text(text, "text", MAX_TEXT)?;
        }
        if due.is_some() {
            fields.due_date = due_date(&mut transaction, &lesson, due).await?;
        }
        storage::journal::update_assignment(&mut transaction, id, caller.person_id, &fields)
            .await?;
        let row = assignment_of(&mut transaction, id, false).await?;
        publish(
            &mut transaction,
            &school,
            ("assignment", id),
            "changed",
            &changed_event(&row),
        )
        .await?;
        let mut attachments = attachments_by_assignment(&mut transaction, &[id]).await?;
        self.0.commit(transaction).await?;
        Ok(pb::ChangeAssignmentResponse {
            assignment: Some(assignment(
                &row,
                attachments.remove(&id).unwrap_or_default(),
            )),
        })
    }

    async fn list_assignments(
        &self,
        caller: &Caller,
        request: pb::ListAssignmentsRequest,
    ) -> Result<pb::ListAssignmentsResponse, GradebookError> {
        let lesson_id = uuid_field(&request.lesson_id, "lesson_id")?;
        let mut transaction = self.0.begin().await?;
        let view = storage::lessons::view(&mut transaction, lesson_id)
            .await?
            .ok_or_else(|| {
                GradebookError::not_found("lesson_id", format_args!("lesson {lesson_id}"))
            })?;
        let (class, school) = access::class(&mut transaction, view.class_id, "lesson_id").await?;
        access::read_class(&mut transaction, caller, &class, &school).await?;
        let rows = storage::journal::of_lesson(&mut transaction, lesson_id).await?;
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let mut attachments = attachments_by_assignment(&mut transaction, &ids).await?;
        transaction.commit().await?;
        Ok(pb::ListAssignmentsResponse {
            assignments: rows
                .iter()
                .map(|row| assignment(row, attachments.remove(&row.id).unwrap_or_default()))
                .collect(),
        })
    }

    async fn add_attachment(
        &self,
        caller: &Caller,
        request: pb::AddAttachmentRequest,
    ) -> Result<pb::AddAttachmentResponse, GradebookError> {
        let id = uuid_field(&request.assignment_id, "assignment_id")?;
        let content_type = request.content_type.trim().to_ascii_lowercase();
        let file_name = attachments::validate(&request.file_name, &content_type, &request.content)?;
        let mut transaction = self.0.begin().await?;
        let row = assignment_of(&mut transaction, id, true).await?;
        let (lesson, school) = lesson_of(&mut transaction, row.lesson_id, "assignment_id").await?;
        access::write_journal(
            &mut transaction,
            caller,
            &school,
            scope_of(&lesson),
            Some(lesson.teacher_id),
        )
        .await?;
        if storage::journal::attachment_count(&mut transaction, id).await?
            >= attachments::MAX_PER_ASSIGNMENT
        {
            return Err(GradebookError::FailedPrecondition(format!(
                "assignment_id: an assignment holds at most {} attachments",
                attachments::MAX_PER_ASSIGNMENT
            )));
        }
        let digest = Sha256::digest(&request.content);
        let info = AttachmentInfo {
            id: Uuid::now_v7(),
            assignment_id: id,
            file_name,
            content_type,
            size: i64::try_from(request.content.len()).unwrap_or(i64::MAX),
            sha256: digest.iter().map(|byte| format!("{byte:02x}")).collect(),
        };
        storage::journal::insert_attachment(&mut transaction, &info, &request.content).await?;
        self.0.commit(transaction).await?;
        tracing::info!(attachment_id = %info.id, assignment_id = %id, size = info.size, "attachment added");
        Ok(pb::AddAttachmentResponse {
            attachment: Some(attachment_info(&info)),
        })
    }

    async fn get_attachment(
        &self,
        caller: &Caller,
        request: pb::GetAttachmentRequest,
    ) -> Result<pb::GetAttachmentResponse, GradebookError> {
        let id = uuid_field(&request.attachment_id, "attachment_id")?;
        let mut transaction = self.0.begin().await?;
        let (info, content) = storage::journal::attachment(&mut transaction, id)
            .await?
            .ok_or_else(|| {
                GradebookError::not_found("attachment_id", format_args!("attachment {id}"))
            })?;
        let row = assignment_of(&mut transaction, info.assignment_id, false).await?;
        let (class, school) =
            access::class(&mut transaction, row.class_id, "attachment_id").await?;
        access::read_class(&mut transaction, caller, &class, &school).await?;
        transaction.commit().await?;
        Ok(pb::GetAttachmentResponse {
            attachment: Some(attachment_info(&info)),
            content,
        })
    }

    async fn set_marks(
        &self,
        caller: &Caller,
        request: pb::SetMarksRequest,
    ) -> Result<pb::SetMarksResponse, GradebookError> {
        const OPERATION: &str = "gradebook.SetMarks";
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
                let comment =
                    optional_text(&entry.comment, &format!("{field}.comment"), MAX_COMMENT)?;
                Ok((value, comment))
            },
        )?;
        let mut transaction = self.0.begin().await?;
        if let Some(answer) = replay(
            &mut transaction,
            caller,
            OPERATION,
            &request.idempotency_key,
        )
        .await?
        {
            return Ok(answer);
        }
        // Locking the assignment makes mark changes of one assignment
        // happen one after another, so the history's "before" is true.
        let row = assignment_of(&mut transaction, id, true).await?;
        let (lesson, school) = lesson_of(&mut transaction, row.lesson_id, "assignment_id").await?;
        access::write_journal(
            &mut transaction,
            caller,
            &school,
            scope_of(&lesson),
            Some(lesson.teacher_id),
        )
        .await?;
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
        let now = OffsetDateTime::now_utc();
        let teacher = caller.person_id.to_string();
        for (student, (value, comment)) in entries {
            let before = existing.get(&student);
            let Some(value) = value else {
                if let Some(before) = before {
                    storage::journal::remove_mark(&mut transaction, before, caller.person_id)
                        .await?;
                    publish(
                        &mut transaction,
                        &school,
                        ("mark", before.id),
                        "removed",
                        &events::MarkRemoved {
                            mark_id: before.id.to_string(),
                            assignment_id: id.to_string(),
                            class_id: lesson.class_id.to_string(),
                            subject_id: lesson.subject_id.to_string(),
                            student_id: student.to_string(),
                            old_value: Some(fact(&before.kind, before.grade)),
                            teacher_id: teacher.clone(),
                        },
                    )
                    .await?;
                }
                continue;
            };
            if before.is_some_and(|before| {
                before.kind == value.kind()
                    && before.grade == value.grade()
                    && before.comment == comment
            }) {
                continue;
            }
            let new = MarkRow {
                id: before.map(|before| before.id).unwrap_or_else(Uuid::now_v7),
                assignment_id: id,
                student_id: student,
                kind: value.kind().to_owned(),
                grade: value.grade(),
                comment,
                teacher_id: caller.person_id,
                updated_at: now,
            };
            storage::journal::put_mark(&mut transaction, &new, before).await?;
            match before {
                None => {
                    publish(
                        &mut transaction,
                        &school,
                        ("mark", new.id),
                        "posted",
                        &events::MarkPosted {
                            mark_id: new.id.to_string(),
                            assignment_id: id.to_string(),
                            lesson_id: lesson.id.to_string(),
                            class_id: lesson.class_id.to_string(),
                            subject_id: lesson.subject_id.to_string(),
                            student_id: student.to_string(),
                            value: Some(fact(&new.kind, new.grade)),
                            comment: new.comment.clone(),
                            lesson_date: Some(civil_date(lesson.date)),
                            teacher_id: teacher.clone(),
                        },
                    )
                    .await?
                }
                Some(before) => {
                    publish(
                        &mut transaction,
                        &school,
                        ("mark", new.id),
                        "changed",
                        &events::MarkChanged {
                            mark_id: new.id.to_string(),
                            assignment_id: id.to_string(),
                            class_id: lesson.class_id.to_string(),
                            subject_id: lesson.subject_id.to_string(),
                            student_id: student.to_string(),
                            old_value: Some(fact(&before.kind, before.grade)),
                            new_value: Some(fact(&new.kind, new.grade)),
                            comment: new.comment.clone(),
                            teacher_id: teacher.clone(),
                        },
                    )
                    .await?
                }
            }
        }
        let answer = pb::SetMarksResponse {
            marks: storage::journal::marks_of(&mut transaction, id)
                .await?
                .iter()
                .map(mark)
                .collect(),
        };
        remember(
            &mut transaction,
            caller,
            OPERATION,
            &request.idempotency_key,
            &answer,
        )
        .await?;
        self.0.commit(transaction).await?;
        tracing::info!(assignment_id = %id, entries = request.marks.len(), "marks set");
        Ok(answer)
    }

    async fn get_mark_history(
        &self,
        caller: &Caller,
        request: pb::GetMarkHistoryRequest,
    ) -> Result<pb::GetMarkHistoryResponse, GradebookError> {
        let id = uuid_field(&request.assignment_id, "assignment_id")?;
        let student = uuid_field(&request.student_id, "student_id")?;
        let mut transaction = self.0.begin().await?;
        let row = assignment_of(&mut transaction, id, false).await?;
        let (class, school) =
            access::class(&mut transaction, row.class_id, "assignment_id").await?;
        let family = matches!(
            access::read_student(&mut transaction, caller, student).await,
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
        self.0.commit(transaction).await?;
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

    async fn get_term_mark_sheet(
        &self,
        caller: &Caller,
        request: pb::GetTermMarkSheetRequest,
    ) -> Result<pb::GetTermMarkSheetResponse, GradebookError> {
        let mut transaction = self.0.begin().await?;
        let (sheet, subject) = sheet_of(
            &mut transaction,
            &request.class_id,
            &request.subject_id,
            request.period.as_ref(),
        )
        .await?;
        // A group's teacher gets their groups' students.
        let reach = access::read_journal(
            &mut transaction,
            caller,
            &sheet.class,
            &sheet.school,
            subject,
            None,
        )
        .await?;
        let (students, rows) = sheet_rows(&mut transaction, &sheet, subject, &reach).await?;
        for student in students {
            report_read(
                &mut transaction,
                caller,
                &sheet.school,
                student,
                "term marks",
            )
            .await?;
        }
        self.0.commit(transaction).await?;
        Ok(pb::GetTermMarkSheetResponse {
            from_date: Some(civil_date(sheet.days.start)),
            to_date: Some(civil_date(sheet.days.end)),
            rows,
        })
    }

    async fn set_term_marks(
        &self,
        caller: &Caller,
        request: pb::SetTermMarksRequest,
    ) -> Result<pb::SetTermMarksResponse, GradebookError> {
        const OPERATION: &str = "gradebook.SetTermMarks";
        let entries = check_entries(
            &request.marks,
            |entry| &entry.student_id,
            |entry, field| {
                entry
                    .value
                    .as_ref()
                    .map(|value| mark_value(value, MarkUse::Period, &format!("{field}.value")))
                    .transpose()
            },
        )?;
        let mut transaction = self.0.begin().await?;
        if let Some(answer) = replay(
            &mut transaction,
            caller,
            OPERATION,
            &request.idempotency_key,
        )
        .await?
        {
            return Ok(answer);
        }
        let (sheet, subject) = sheet_of(
            &mut transaction,
            &request.class_id,
            &request.subject_id,
            request.period.as_ref(),
        )
        .await?;
        let reach = access::keep_journal(
            &mut transaction,
            caller,
            &sheet.school,
            sheet.class.id,
            subject,
        )
        .await?;
        storage::journal::lock_term_marks(&mut transaction, sheet.class.id, subject).await?;
        let in_class = sheet.students(&mut transaction, None).await?;
        let reached = match reach.groups() {
            None => in_class.clone(),
            Some(groups) => sheet.students(&mut transaction, Some(groups)).await?,
        };
        // Nothing is written when an entry is refused. A student outside the
        // class is a mistake in the request; one of the class outside the
        // caller's groups is not theirs to mark, and each such entry is
        // named.
        outsiders(&entries, &in_class, |student| {
            format!("{student} was not in {} in that period", sheet.class.name)
        })?;
        let beyond_reach: Vec<String> = entries
            .iter()
            .enumerate()
            .filter(|(_, (student, _))| !reached.contains(student))
            .map(|(index, (student, _))| {
                format!(
                    "marks[{index}].student_id: {student} is not in the groups of {} you teach \
                     this subject to",
                    sheet.class.name
                )
            })
            .collect();
        if !beyond_reach.is_empty() {
            return Err(GradebookError::denied(beyond_reach.join("; ")));
        }
        let ids: Vec<Uuid> = entries.iter().map(|(student, _)| *student).collect();
        let existing = sheet
            .marks_set(&mut transaction, subject, &ids, true)
            .await?;
        for (student, value) in entries {
            let before = existing.get(&student);
            let unchanged = match (before, value) {
                (Some(before), Some(value)) => {
                    before.kind == value.kind() && before.grade == value.grade()
                }
                (None, None) => true,
                _ => false,
            };
            if unchanged {
                continue;
            }
            storage::journal::put_term_mark(
                &mut transaction,
                before,
                sheet.year_id,
                sheet.class.id,
                subject,
                student,
                (sheet.period.as_str(), sheet.period.number()),
                value.map(|value| (value.kind(), value.grade())),
                caller.person_id,
            )
            .await?;
            publish(
                &mut transaction,
                &sheet.school,
                ("student", student),
                "term_mark_set",
                &events::TermMarkSet {
                    student_id: student.to_string(),
                    class_id: sheet.class.id.to_string(),
                    subject_id: subject.to_string(),
                    school_year_id: sheet.year_id.to_string(),
                    period: sheet.period.as_str().to_owned(),
                    number: sheet.period.number(),
                    value: value.map(|value| fact(value.kind(), value.grade())),
                    teacher_id: caller.person_id.to_string(),
                },
            )
            .await?;
        }
        let answer = pb::SetTermMarksResponse {
            rows: sheet_rows(&mut transaction, &sheet, subject, &reach)
                .await?
                .1,
        };
        remember(
            &mut transaction,
            caller,
            OPERATION,
            &request.idempotency_key,
            &answer,
        )
        .await?;
        self.0.commit(transaction).await?;
        tracing::info!(class_id = %sheet.class.id, subject_id = %subject, period = sheet.period.as_str(), "term marks set");
        Ok(answer)
    }
}

#[tonic::async_trait]
impl pb::journal_service_server::JournalService for JournalApi {
    async fn list_assignment_types(
        &self,
        request: Request<pb::ListAssignmentTypesRequest>,
    ) -> Result<Response<pb::ListAssignmentTypesResponse>, Status> {
        self.0.caller(&request).await?;
        let mut connection = self.0.pool.acquire().await.map_err(GradebookError::from)?;
        let types = storage::journal::types(&mut connection)
            .await
            .map_err(GradebookError::from)?;
        Ok(Response::new(pb::ListAssignmentTypesResponse {
            types: types.iter().map(assignment_type).collect(),
        }))
    }

    async fn create_assignment(
        &self,
        request: Request<pb::CreateAssignmentRequest>,
    ) -> Result<Response<pb::CreateAssignmentResponse>, Status> {
        handle!(self, request, create_assignment)
    }

    async fn change_assignment(
        &self,
        request: Request<pb::ChangeAssignmentRequest>,
    ) -> Result<Response<pb::ChangeAssignmentResponse>, Status> {
        handle!(self, request, change_assignment)
    }

    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        handle!(self, request, list_assignments)
    }

    async fn add_attachment(
        &self,
        request: Request<pb::AddAttachmentRequest>,
    ) -> Result<Response<pb::AddAttachmentResponse>, Status> {
        handle!(self, request, add_attachment)
    }

    async fn get_attachment(
        &self,
        request: Request<pb::GetAttachmentRequest>,
    ) -> Result<Response<pb::GetAttachmentResponse>, Status> {
        handle!(self, request, get_attachment)
    }

    async fn set_marks(
        &self,
        request: Request<pb::SetMarksRequest>,
    ) -> Result<Response<pb::SetMarksResponse>, Status> {
        handle!(self, request, set_marks)
    }

    async fn get_mark_history(
        &self,
        request: Request<pb::GetMarkHistoryRequest>,
    ) -> Result<Response<pb::GetMarkHistoryResponse>, Status> {
        handle!(self, request, get_mark_history)
    }

    async fn get_term_mark_sheet(
        &self,
        request: Request<pb::GetTermMarkSheetRequest>,
    ) -> Result<Response<pb::GetTermMarkSheetResponse>, Status> {
        handle!(self, request, get_term_mark_sheet)
    }

    async fn set_term_marks(
        &self,
        request: Request<pb::SetTermMarksRequest>,
    ) -> Result<Response<pb::SetTermMarksResponse>, Status> {
        handle!(self, request, set_term_marks)
    }
}
