//! Reads behind the grade reports.

use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

/// One mark with what a report shows of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportMarkRow {
    pub student_id: Uuid,
    pub subject_id: Uuid,
    pub subject_name: String,
    pub assignment_id: Uuid,
    pub lesson_date: Date,
    pub kind: String,
    pub grade: Option<i32>,
    pub type_abbreviation: String,
    pub weight: i32,
    pub comment: String,
}

/// A student's marks with lessons from `from` to `to` (at `school` only,
/// when given), by subject name and date.
pub async fn marks_of_student(
    connection: &mut PgConnection,
    student: Uuid,
    from: Date,
    to: Date,
    school: Option<Uuid>,
) -> Result<Vec<ReportMarkRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.student_id, l.subject_id, s.name AS subject_name, a.id AS assignment_id, \
         l.date AS lesson_date, m.kind, m.grade, t.abbreviation AS type_abbreviation, a.weight, m.comment \
         FROM marks m JOIN assignments a ON a.id = m.assignment_id \
         JOIN lessons l ON l.id = a.lesson_id JOIN subjects s ON s.id = l.subject_id \
         JOIN assignment_types t ON t.code = a.type_code \
         WHERE m.student_id = $1 AND l.date BETWEEN $2 AND $3 AND ($4::uuid IS NULL OR l.school_id = $4) \
         ORDER BY s.name, l.subject_id, l.date, l.period, a.id",
    )
    .bind(student)
    .bind(from)
    .bind(to)
    .bind(school)
    .fetch_all(connection)
    .await
}

/// A column of a class journal page: an assignment with its lesson.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ColumnRow {
    pub lesson_id: Uuid,
    pub date: Date,
    pub period: i32,
    pub assignment_id: Uuid,
    pub type_abbreviation: String,
    pub weight: i32,
    pub title: String,
}

pub async fn journal_columns(
    connection: &mut PgConnection,
    class: Uuid,
    subject: Uuid,
    groups: Option<&[Uuid]>,
    from: Date,
    to: Date,
) -> Result<Vec<ColumnRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id AS lesson_id, l.date, l.period, a.id AS assignment_id, \
         t.abbreviation AS type_abbreviation, a.weight, a.title \
         FROM lessons l JOIN assignments a ON a.lesson_id = l.id \
         JOIN assignment_types t ON t.code = a.type_code \
         WHERE l.class_id = $1 AND l.subject_id = $2 AND l.date BETWEEN $4 AND $5 \
           AND ($3::uuid[] IS NULL OR l.subgroup_id IS NULL OR l.subgroup_id = ANY($3)) \
         ORDER BY l.date, l.period, a.created_at, a.id",
    )
    .bind(class)
    .bind(subject)
    .bind(groups)
    .bind(from)
    .bind(to)
    .fetch_all(connection)
    .await
}

/// A student of a page: enrolled in the class some day of the span (and a
/// member of one of the groups, when given).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StudentRow {
    pub student_id: Uuid,
    pub student_name: String,
}

pub async fn students_between(
    connection: &mut PgConnection,
    class: Uuid,
    groups: Option<&[Uuid]>,
    from: Date,
    to: Date,
) -> Result<Vec<StudentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT e.student_id, \
         COALESCE(concat_ws(' ', p.last_name, p.first_name), '') AS student_name \
         FROM enrolments e LEFT JOIN known_people p ON p.id = e.student_id \
         WHERE e.class_id = $1 AND e.start_date <= $4 AND (e.end_date IS NULL OR e.end_date >= $3) \
           AND ($2::uuid[] IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
                WHERE m.subgroup_id = ANY($2) AND m.student_id = e.student_id)) \
         ORDER BY student_name, e.student_id",
    )
    .bind(class)
    .bind(groups)
    .bind(from)
    .bind(to)
    .fetch_all(connection)
    .await
}

/// Marks for these assignments: (assignment, student, kind, grade, comment).
pub async fn marks_for(
    connection: &mut PgConnection,
    assignments: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, String, Option<i32>, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT assignment_id, student_id, kind, grade, comment FROM marks \
         WHERE assignment_id = ANY($1)",
    )
    .bind(assignments)
    .fetch_all(connection)
    .await
}

/// Per student and subject, the weighted average of 1-5 marks with lessons
/// from $2 to $3 at the schools of $1 (of one class when $4 is given), and
/// each student's rounded results over all subjects. Shared by every
/// summary so that one definition holds from a class to the region.
macro_rules! results {
    () => {
        "WITH per_subject AS ( \
           SELECT l.school_id, e.class_id, m.student_id, l.subject_id, \
                  sum(m.grade * a.weight)::float8 / sum(a.weight) AS average \
           FROM lessons l \
           JOIN assignments a ON a.lesson_id = l.id \
           JOIN marks m ON m.assignment_id = a.id AND m.kind = 'grade' \
           JOIN enrolments e ON e.student_id = m.student_id AND e.class_id = l.class_id \
             AND l.date >= e.start_date AND (e.end_date IS NULL OR l.date <= e.end_date) \
           WHERE l.school_id = ANY($1) AND l.date BETWEEN $2 AND $3 \
             AND ($4::uuid IS NULL OR l.class_id = $4) \
           GROUP BY 1, 2, 3, 4), \
         per_student AS ( \
           SELECT school_id, class_id, student_id, avg(average) AS average, \
                  min(floor(average + 0.5)) AS lowest \
           FROM per_subject GROUP BY 1, 2, 3) "
    };
}

/// A summary row: (group id, students, average, quality, success).
pub type SummaryRow = (Uuid, i64, f64, f64, f64);

/// Students, average, quality and success over the rows of a group.
macro_rules! stats {
    () => {
        "count(*), avg(average)::float8, \
         (count(*) FILTER (WHERE lowest >= 4))::float8 / count(*), \
         (count(*) FILTER (WHERE lowest > 2))::float8 / count(*)"
    };
}

/// The groups' summaries, then the total over every student (the row with
/// no key; none without marks), in one statement: the results are worked
/// out once.
macro_rules! summary_of {
    ($key:literal, $from:literal) => {
        concat!(
            results!(),
            "(SELECT ",
            $key,
            ", ",
            stats!(),
            " FROM ",
            $from,
            " GROUP BY ",
            $key,
            " ORDER BY ",
            $key,
            ") \
             UNION ALL (SELECT NULL, ",
            stats!(),
            " FROM per_student HAVING count(*) > 0)"
        )
    };
}

/// Summaries by school, by class, or by subject (per subject, a student's
/// "lowest" is their one result in it).
#[derive(Debug, Clone, Copy)]
pub enum SummaryBy {
    School,
    Class,
    Subject,
}

/// The summaries by group and the total over all of them.
pub async fn summaries(
    connection: &mut PgConnection,
    schools: &[Uuid],
    class: Option<Uuid>,
    from: Date,
    to: Date,
    by: SummaryBy,
) -> Result<(Vec<SummaryRow>, Option<SummaryRow>), sqlx::Error> {
    let query = match by {
        SummaryBy::School => summary_of!("school_id", "per_student"),
        SummaryBy::Class => summary_of!("class_id", "per_student"),
        SummaryBy::Subject => summary_of!(
            "subject_id",
            "(SELECT subject_id, average, floor(average + 0.5) AS lowest FROM per_subject) s"
        ),
    };
    let rows: Vec<(Option<Uuid>, i64, f64, f64, f64)> = sqlx::query_as(query)
        .bind(schools)
        .bind(from)
        .bind(to)
        .bind(class)
        .fetch_all(connection)
        .await?;
    let mut groups = Vec::with_capacity(rows.len());
    let mut total = None;
    for (key, students, average, quality, success) in rows {
        match key {
            Some(key) => groups.push((key, students, average, quality, success)),
            None => total = Some((Uuid::nil(), students, average, quality, success)),
        }
    }
    Ok((groups, total))
}

/// Schools under a municipality or region: (id, name).
pub async fn schools_under(
    connection: &mut PgConnection,
    unit: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.name FROM known_org_units s \
         LEFT JOIN known_org_units m ON m.id = s.parent_id \
         WHERE s.kind = 'school' AND (s.parent_id = $1 OR m.parent_id = $1) ORDER BY s.name",
    )
    .bind(unit)
    .fetch_all(connection)
    .await
}

/// Names of classes or subjects by id.
pub async fn names(
    connection: &mut PgConnection,
    classes: bool,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let query = if classes {
        "SELECT id, name FROM classes WHERE id = ANY($1)"
    } else {
        "SELECT id, name FROM subjects WHERE id = ANY($1)"
    };
    sqlx::query_as(query).bind(ids).fetch_all(connection).await
}
