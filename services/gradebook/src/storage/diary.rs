//! The diary's reads: a student's assignments of a week with their marks,
//! and their debts. The lessons come from [`super::lessons::of_student`].

use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

use super::journal::{AssignmentRow, assignment_select};

/// An assignment as one student sees it: with their own mark.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StudentAssignment {
    #[sqlx(flatten)]
    pub assignment: AssignmentRow,
    pub mark_kind: Option<String>,
    pub mark_grade: Option<i32>,
    pub mark_comment: Option<String>,
}

/// Assignments of lessons ($2) with the student's ($1) marks.
pub const OF_LESSONS: &str = concat!(
    "SELECT q.*, m.kind AS mark_kind, m.grade AS mark_grade, m.comment AS mark_comment FROM (",
    assignment_select!(),
    "WHERE a.lesson_id = ANY($2)) q \
     LEFT JOIN marks m ON m.assignment_id = q.id AND m.student_id = $1 \
     ORDER BY q.lesson_date, q.id"
);

/// Assignments of these lessons with the student's marks.
pub async fn of_lessons(
    connection: &mut PgConnection,
    student: Uuid,
    lessons: &[Uuid],
) -> Result<Vec<StudentAssignment>, sqlx::Error> {
    sqlx::query_as(OF_LESSONS)
        .bind(student)
        .bind(lessons)
        .fetch_all(connection)
        .await
}

/// Work due from `from` to `to` that was set in an earlier lesson of the
/// student's (their class on that day, their group).
pub async fn due_between(
    connection: &mut PgConnection,
    student: Uuid,
    from: Date,
    to: Date,
) -> Result<Vec<StudentAssignment>, sqlx::Error> {
    sqlx::query_as(DUE_BETWEEN)
        .bind(student)
        .bind(from)
        .bind(to)
        .fetch_all(connection)
        .await
}

/// Work due from $2 to $3 set earlier in the student's ($1) lessons.
pub const DUE_BETWEEN: &str = concat!(
    "SELECT q.*, m.kind AS mark_kind, m.grade AS mark_grade, m.comment AS mark_comment FROM (",
    assignment_select!(),
    "JOIN enrolments e ON e.student_id = $1 AND e.class_id = a.class_id \
           AND l.date >= e.start_date AND (e.end_date IS NULL OR l.date <= e.end_date) \
         WHERE a.due_date BETWEEN $2 AND $3 AND l.date < a.due_date \
           AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members g \
                WHERE g.subgroup_id = l.subgroup_id AND g.student_id = $1))) q \
         LEFT JOIN marks m ON m.assignment_id = q.id AND m.student_id = $1 \
         ORDER BY q.due_date, q.subject_name, q.id"
);

/// Assignments the student has a debt mark for, oldest due date first;
/// only those of `school` when given.
pub async fn debts(
    connection: &mut PgConnection,
    student: Uuid,
    school: Option<Uuid>,
) -> Result<Vec<StudentAssignment>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT q.*, m.kind AS mark_kind, m.grade AS mark_grade, m.comment AS mark_comment FROM (",
        assignment_select!(),
        "WHERE a.id IN (SELECT assignment_id FROM marks WHERE student_id = $1 AND kind = 'debt') \
           AND ($2::uuid IS NULL OR l.school_id = $2)) q \
         JOIN marks m ON m.assignment_id = q.id AND m.student_id = $1 \
         ORDER BY q.due_date, q.id"
    ))
    .bind(student)
    .bind(school)
    .fetch_all(connection)
    .await
}

/// An assignment of the student's with who set it and for which group.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentDetail {
    #[sqlx(flatten)]
    pub row: StudentAssignment,
    pub teacher_name: String,
    pub class_name: String,
    pub subgroup_name: String,
}

/// These assignments ($2) where they belong to lessons of the student's
/// ($1: their class on that day, their group); only `school`'s ($3) when
/// given.
pub async fn of_student_by_id(
    connection: &mut PgConnection,
    student: Uuid,
    ids: &[Uuid],
    school: Option<Uuid>,
) -> Result<Vec<AssignmentDetail>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT q.*, m.kind AS mark_kind, m.grade AS mark_grade, m.comment AS mark_comment, \
           COALESCE(concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')), '') \
             AS teacher_name, c.name AS class_name, COALESCE(g.name, '') AS subgroup_name FROM (",
        assignment_select!(),
        "JOIN enrolments e ON e.student_id = $1 AND e.class_id = a.class_id \
           AND l.date >= e.start_date AND (e.end_date IS NULL OR l.date <= e.end_date) \
         WHERE a.id = ANY($2) AND ($3::uuid IS NULL OR l.school_id = $3) \
           AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members sm \
                WHERE sm.subgroup_id = l.subgroup_id AND sm.student_id = $1))) q \
         JOIN classes c ON c.id = q.class_id \
         LEFT JOIN subgroups g ON g.id = q.subgroup_id \
         LEFT JOIN known_people p ON p.id = q.teacher_id \
         LEFT JOIN marks m ON m.assignment_id = q.id AND m.student_id = $1 \
         ORDER BY q.lesson_date, q.id"
    ))
    .bind(student)
    .bind(ids)
    .bind(school)
    .fetch_all(connection)
    .await
}

/// What the diary's read model holds for a (student, week) now: the
/// student's epoch, the week if it is kept at that epoch (encoded
/// `GetDiaryWeekResponse`), and the schools the student has been enrolled
/// in (whose rights matrices say whether the family may read it).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Kept {
    pub epoch: i64,
    pub body: Option<Vec<u8>>,
    pub schools: Vec<Uuid>,
}

/// The read model's one lookup for a (student, week).
pub async fn kept(
    connection: &mut PgConnection,
    student: Uuid,
    week_start: Date,
) -> Result<Kept, sqlx::Error> {
    sqlx::query_as(
        "SELECT now.epoch, w.body, ARRAY(SELECT DISTINCT c.school_id FROM enrolments e \
             JOIN classes c ON c.id = e.class_id WHERE e.student_id = $1) AS schools \
         FROM (SELECT COALESCE((SELECT epoch FROM diary_epochs WHERE student_id = $1), 0) AS epoch) now \
         LEFT JOIN diary_weeks w ON w.student_id = $1 AND w.week_start = $2 AND w.epoch = now.epoch",
    )
    .bind(student)
    .bind(week_start)
    .fetch_one(connection)
    .await
}

/// The student's epoch as the connection's snapshot sees it.
pub async fn epoch(connection: &mut PgConnection, student: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE((SELECT epoch FROM diary_epochs WHERE student_id = $1), 0)")
        .bind(student)
        .fetch_one(connection)
        .await
}

/// Keeps a week computed at `epoch` (served only while that is the
/// student's epoch).
pub async fn keep(
    connection: &mut PgConnection,
    student: Uuid,
    week_start: Date,
    epoch: i64,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO diary_weeks (student_id, week_start, epoch, body) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (student_id, week_start) DO UPDATE SET epoch = excluded.epoch, body = excluded.body",
    )
    .bind(student)
    .bind(week_start)
    .bind(epoch)
    .bind(body)
    .execute(connection)
    .await
    .map(|_| ())
}

/// Every (student, week) a diary can show: the weeks (Mondays) from each
/// enrolment's start to its end or its school year's end.
pub async fn all_weeks(connection: &mut PgConnection) -> Result<Vec<(Uuid, Date)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT e.student_id, monday::date FROM enrolments e \
         JOIN classes c ON c.id = e.class_id JOIN school_years y ON y.id = c.school_year_id, \
         generate_series(date_trunc('week', e.start_date), \
                         COALESCE(e.end_date, y.end_date), interval '1 week') monday \
         ORDER BY 1, 2",
    )
    .fetch_all(connection)
    .await
}
