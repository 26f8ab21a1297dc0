//! Assignments, attachments, marks with their history, term marks.

use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentType {
    pub code: String,
    pub name: String,
    pub abbreviation: String,
    pub default_weight: i32,
}

/// An assignment with what the journal shows of its lesson and type.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub id: Uuid,
    pub lesson_id: Uuid,
    pub school_id: Uuid,
    pub class_id: Uuid,
    pub subgroup_id: Option<Uuid>,
    pub subject_id: Uuid,
    pub subject_name: String,
    pub lesson_date: Date,
    pub type_code: String,
    pub type_name: String,
    pub type_abbreviation: String,
    pub type_default_weight: i32,
    pub weight: i32,
    pub due_date: Date,
    pub title: String,
    pub body: String,
    pub teacher_id: Uuid,
}

impl AssignmentRow {
    pub fn kind(&self) -> AssignmentType {
        AssignmentType {
            code: self.type_code.clone(),
            name: self.type_name.clone(),
            abbreviation: self.type_abbreviation.clone(),
            default_weight: self.type_default_weight,
        }
    }
}

macro_rules! assignment_select {
    () => {
        "SELECT a.id, a.lesson_id, l.school_id, l.class_id, l.subgroup_id, l.subject_id, \
         s.name AS subject_name, l.date AS lesson_date, a.type_code, t.name AS type_name, \
         t.abbreviation AS type_abbreviation, t.default_weight AS type_default_weight, a.weight, \
         a.due_date, a.title, a.body, a.teacher_id \
         FROM assignments a \
         JOIN lessons l ON l.id = a.lesson_id \
         JOIN subjects s ON s.id = l.subject_id \
         JOIN assignment_types t ON t.code = a.type_code "
    };
}
pub(crate) use assignment_select;

pub async fn types(connection: &mut PgConnection) -> Result<Vec<AssignmentType>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code, name, abbreviation, default_weight FROM assignment_types ORDER BY position",
    )
    .fetch_all(connection)
    .await
}

pub async fn assignment_type(
    connection: &mut PgConnection,
    code: &str,
) -> Result<Option<AssignmentType>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code, name, abbreviation, default_weight FROM assignment_types WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(connection)
    .await
}

/// What an assignment is made of (the lesson gives class and subject).
#[derive(Debug, Clone)]
pub struct AssignmentFields {
    pub type_code: String,
    pub weight: i32,
    pub due_date: Date,
    pub title: String,
    pub body: String,
}

pub async fn insert_assignment(
    connection: &mut PgConnection,
    id: Uuid,
    lesson: Uuid,
    teacher: Uuid,
    fields: &AssignmentFields,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO assignments (id, lesson_id, class_id, type_code, weight, due_date, title, body, \
         teacher_id) SELECT $1, $2, l.class_id, $3, $4, $5, $6, $7, $8 FROM lessons l WHERE l.id = $2",
    )
    .bind(id)
    .bind(lesson)
    .bind(&fields.type_code)
    .bind(fields.weight)
    .bind(fields.due_date)
    .bind(&fields.title)
    .bind(&fields.body)
    .bind(teacher)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn update_assignment(
    connection: &mut PgConnection,
    id: Uuid,
    teacher: Uuid,
    fields: &AssignmentFields,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE assignments SET type_code = $2, weight = $3, due_date = $4, title = $5, body = $6, \
         teacher_id = $7, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(&fields.type_code)
    .bind(fields.weight)
    .bind(fields.due_date)
    .bind(&fields.title)
    .bind(&fields.body)
    .bind(teacher)
    .execute(connection)
    .await
    .map(|_| ())
}

/// The assignment, locked for the rest of the transaction when `lock`.
pub async fn assignment(
    connection: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<AssignmentRow>, sqlx::Error> {
    let query = if lock {
        concat!(assignment_select!(), "WHERE a.id = $1 FOR UPDATE OF a")
    } else {
        concat!(assignment_select!(), "WHERE a.id = $1")
    };
    sqlx::query_as(query)
        .bind(id)
        .fetch_optional(connection)
        .await
}

pub async fn of_lesson(
    connection: &mut PgConnection,
    lesson: Uuid,
) -> Result<Vec<AssignmentRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        assignment_select!(),
        "WHERE a.lesson_id = $1 ORDER BY a.created_at, a.id"
    ))
    .bind(lesson)
    .fetch_all(connection)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentInfo {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

pub async fn insert_attachment(
    connection: &mut PgConnection,
    info: &AttachmentInfo,
    content: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO attachments (id, assignment_id, file_name, content_type, size, sha256, content) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(info.id)
    .bind(info.assignment_id)
    .bind(&info.file_name)
    .bind(&info.content_type)
    .bind(info.size)
    .bind(&info.sha256)
    .bind(content)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn attachment_count(
    connection: &mut PgConnection,
    assignment: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM attachments WHERE assignment_id = $1")
        .bind(assignment)
        .fetch_one(connection)
        .await
}

/// Attachments of these assignments (without their contents).
pub async fn attachments_of(
    connection: &mut PgConnection,
    assignments: &[Uuid],
) -> Result<Vec<AttachmentInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, assignment_id, file_name, content_type, size, sha256 FROM attachments \
         WHERE assignment_id = ANY($1) ORDER BY created_at, id",
    )
    .bind(assignments)
    .fetch_all(connection)
    .await
}

pub async fn attachment(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(AttachmentInfo, Vec<u8>)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        info: AttachmentInfo,
        content: Vec<u8>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, assignment_id, file_name, content_type, size, sha256, content \
         FROM attachments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(connection)
    .await?;
    Ok(row.map(|row| (row.info, row.content)))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MarkRow {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub student_id: Uuid,
    pub kind: String,
    pub grade: Option<i32>,
    pub comment: String,
    pub teacher_id: Uuid,
    pub updated_at: OffsetDateTime,
}

macro_rules! mark_columns {
    () => {
        "id, assignment_id, student_id, kind, grade, comment, teacher_id, updated_at"
    };
}

/// The assignment's marks, locked for the rest of the transaction.
pub async fn marks_of(
    connection: &mut PgConnection,
    assignment: Uuid,
) -> Result<Vec<MarkRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        mark_columns!(),
        " FROM marks WHERE assignment_id = $1 ORDER BY student_id FOR UPDATE"
    ))
    .bind(assignment)
    .fetch_all(connection)
    .await
}

/// Posts or changes a mark; writes the change to the history.
pub async fn put_mark(
    connection: &mut PgConnection,
    mark: &MarkRow,
    before: Option<&MarkRow>,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO marks (",
        mark_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (assignment_id, student_id) DO UPDATE SET kind = $4, grade = $5, \
         comment = $6, teacher_id = $7, updated_at = $8"
    ))
    .bind(mark.id)
    .bind(mark.assignment_id)
    .bind(mark.student_id)
    .bind(&mark.kind)
    .bind(mark.grade)
    .bind(&mark.comment)
    .bind(mark.teacher_id)
    .bind(mark.updated_at)
    .execute(&mut *connection)
    .await?;
    record_change(
        connection,
        mark.assignment_id,
        mark.student_id,
        before,
        Some(mark),
        mark.teacher_id,
    )
    .await
}

pub async fn remove_mark(
    connection: &mut PgConnection,
    before: &MarkRow,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM marks WHERE id = $1")
        .bind(before.id)
        .execute(&mut *connection)
        .await?;
    record_change(
        connection,
        before.assignment_id,
        before.student_id,
        Some(before),
        None,
        by,
    )
    .await
}

async fn record_change(
    connection: &mut PgConnection,
    assignment: Uuid,
    student: Uuid,
    before: Option<&MarkRow>,
    after: Option<&MarkRow>,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mark_history (assignment_id, student_id, old_kind, old_grade, old_comment, \
         new_kind, new_grade, new_comment, changed_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(assignment)
    .bind(student)
    .bind(before.map(|m| m.kind.as_str()))
    .bind(before.and_then(|m| m.grade))
    .bind(before.map(|m| m.comment.as_str()).unwrap_or(""))
    .bind(after.map(|m| m.kind.as_str()))
    .bind(after.and_then(|m| m.grade))
    .bind(after.map(|m| m.comment.as_str()).unwrap_or(""))
    .bind(by)
    .execute(connection)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MarkChangeRow {
    pub old_kind: Option<String>,
    pub old_grade: Option<i32>,
    pub old_comment: String,
    pub new_kind: Option<String>,
    pub new_grade: Option<i32>,
    pub new_comment: String,
    pub changed_by: Uuid,
    pub changed_at: OffsetDateTime,
}

pub async fn mark_history(
    connection: &mut PgConnection,
    assignment: Uuid,
    student: Uuid,
) -> Result<Vec<MarkChangeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT old_kind, old_grade, old_comment, new_kind, new_grade, new_comment, changed_by, \
         changed_at FROM mark_history WHERE assignment_id = $1 AND student_id = $2 ORDER BY id",
    )
    .bind(assignment)
    .bind(student)
    .fetch_all(connection)
    .await
}

/// Students enrolled in the class on `date` and, for a subgroup's lesson,
/// members of the subgroup: who can get a mark for it.
pub async fn markable_students(
    connection: &mut PgConnection,
    class: Uuid,
    subgroup: Option<Uuid>,
    date: Date,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT e.student_id FROM enrolments e WHERE e.class_id = $1 AND e.start_date <= $3 \
         AND (e.end_date IS NULL OR e.end_date >= $3) \
         AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
              WHERE m.subgroup_id = $2 AND m.student_id = e.student_id))",
    )
    .bind(class)
    .bind(subgroup)
    .bind(date)
    .fetch_all(connection)
    .await
}

/// The groups the teacher teaches the subject to in the class by the load:
/// `None` for a whole-class load, a subgroup's id for a group's.
pub async fn taught_groups(
    connection: &mut PgConnection,
    teacher: Uuid,
    class: Uuid,
    subject: Uuid,
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT subgroup_id FROM teaching_load WHERE teacher_id = $1 AND class_id = $2 \
         AND subject_id = $3",
    )
    .bind(teacher)
    .bind(class)
    .bind(subject)
    .fetch_all(connection)
    .await
}

/// A student's marks for a subject's assignments in a span of lesson dates,
/// as (grade, weight) of the 1-5 marks, per student of `students`.
pub async fn grades_in(
    connection: &mut PgConnection,
    subject: Uuid,
    students: &[Uuid],
    from: Date,
    to: Date,
) -> Result<Vec<(Uuid, i32, i32)>, sqlx::Error> {
    // Every class the students were in counts: a student who moved class
    // keeps the marks from the first one.
    sqlx::query_as(
        "SELECT m.student_id, m.grade, a.weight FROM marks m \
         JOIN assignments a ON a.id = m.assignment_id \
         JOIN lessons l ON l.id = a.lesson_id \
         WHERE m.student_id = ANY($1) AND m.kind = 'grade' AND l.subject_id = $2 \
           AND l.date BETWEEN $3 AND $4",
    )
    .bind(students)
    .bind(subject)
    .bind(from)
    .bind(to)
    .fetch_all(connection)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TermMarkRow {
    pub id: Uuid,
    pub student_id: Uuid,
    pub subject_id: Uuid,
    pub period: String,
    pub number: i32,
    pub kind: String,
    pub grade: Option<i32>,
}

/// Term marks of a year for these students, of a subject and a period
/// (all of them where `None`), locked when `lock`.
pub async fn term_marks(
    connection: &mut PgConnection,
    year: Uuid,
    students: &[Uuid],
    subject: Option<Uuid>,
    period: Option<(&str, i32)>,
    lock: bool,
) -> Result<Vec<TermMarkRow>, sqlx::Error> {
    macro_rules! select {
        () => {
            "SELECT id, student_id, subject_id, period, number, kind, grade FROM term_marks \
             WHERE school_year_id = $1 AND student_id = ANY($2) AND ($3::uuid IS NULL OR subject_id = $3) \
               AND ($4::text IS NULL OR (period = $4 AND number = $5)) \
             ORDER BY subject_id, period, number"
        };
    }
    let query = if lock {
        concat!(select!(), " FOR UPDATE")
    } else {
        select!()
    };
    sqlx::query_as(query)
        .bind(year)
        .bind(students)
        .bind(subject)
        .bind(period.map(|period| period.0))
        .bind(period.map_or(0, |period| period.1))
        .fetch_all(connection)
        .await
}

/// Sets (kind `Some`) or removes a term mark, with its history.
#[allow(clippy::too_many_arguments)]
pub async fn put_term_mark(
    connection: &mut PgConnection,
    before: Option<&TermMarkRow>,
    year: Uuid,
    class: Uuid,
    subject: Uuid,
    student: Uuid,
    period: (&str, i32),
    value: Option<(&str, Option<i32>)>,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    let id = match (before, value) {
        (Some(before), None) => {
            sqlx::query("DELETE FROM term_marks WHERE id = $1")
                .bind(before.id)
                .execute(&mut *connection)
                .await?;
            before.id
        }
        (_, Some((kind, grade))) => {
            sqlx::query_scalar(
                "INSERT INTO term_marks (id, school_year_id, class_id, subject_id, student_id, \
                 period, number, kind, grade, teacher_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (school_year_id, student_id, subject_id, period, number) DO UPDATE \
                 SET class_id = $3, kind = $8, grade = $9, teacher_id = $10, updated_at = now() \
                 RETURNING id",
            )
            .bind(Uuid::now_v7())
            .bind(year)
            .bind(class)
            .bind(subject)
            .bind(student)
            .bind(period.0)
            .bind(period.1)
            .bind(kind)
            .bind(grade)
            .bind(by)
            .fetch_one(&mut *connection)
            .await?
        }
        (None, None) => return Ok(()),
    };
    sqlx::query(
        "INSERT INTO term_mark_history (term_mark_id, old_kind, old_grade, new_kind, new_grade, changed_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(before.map(|m| m.kind.as_str()))
    .bind(before.and_then(|m| m.grade))
    .bind(value.map(|v| v.0))
    .bind(value.and_then(|v| v.1))
    .bind(by)
    .execute(connection)
    .await
    .map(|_| ())
}

/// Serialises term-mark changes of one class and subject (rows that do not
/// exist yet cannot be locked).
pub async fn lock_term_marks(
    connection: &mut PgConnection,
    class: Uuid,
    subject: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || $2::text, 8))")
        .bind(class)
        .bind(subject)
        .execute(connection)
        .await
        .map(|_| ())
}
