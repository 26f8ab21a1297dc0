//! Lessons: laid out from the timetable, changed one by one, read as a
//! timetable of a class, a teacher or a student.

use sqlx::PgConnection;
use time::{Date, Time};
use uuid::Uuid;

use crate::domain::GradebookError;

/// The schema's last word on double booking, when two changes race past
/// the checks made before writing: the unique indexes of the first
/// migration, read back as the rule they stand for.
fn busy_or_internal(error: sqlx::Error) -> GradebookError {
    let constraint = error
        .as_database_error()
        .filter(|e| e.is_unique_violation())
        .and_then(|e| e.constraint().map(str::to_owned));
    match constraint.as_deref() {
        Some("lessons_teacher_busy") => GradebookError::FailedPrecondition(
            "teacher_id: the teacher has another lesson then (changed a moment ago)".to_owned(),
        ),
        Some("lessons_group_busy") => GradebookError::FailedPrecondition(
            "the class has another lesson then (changed a moment ago)".to_owned(),
        ),
        _ => GradebookError::internal(error),
    }
}

/// A lesson to record.
#[derive(Debug, Clone)]
pub struct NewLesson {
    pub id: Uuid,
    pub school_id: Uuid,
    pub class_id: Uuid,
    pub subgroup_id: Option<Uuid>,
    pub subject_id: Uuid,
    pub date: Date,
    pub period: i32,
    pub teacher_id: Uuid,
    pub room: String,
    /// "timetable" or "manual".
    pub source: &'static str,
}

/// A lesson as recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LessonRow {
    pub id: Uuid,
    pub school_id: Uuid,
    pub class_id: Uuid,
    pub subgroup_id: Option<Uuid>,
    pub subject_id: Uuid,
    pub date: Date,
    pub period: i32,
    pub teacher_id: Uuid,
    pub planned_teacher_id: Uuid,
    pub room: String,
    pub status: String,
    pub cancel_reason: String,
    pub moved_from_date: Option<Date>,
    pub moved_from_period: Option<i32>,
}

/// A lesson with the names and times a timetable shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LessonView {
    pub id: Uuid,
    pub school_id: Uuid,
    pub date: Date,
    pub period: i32,
    pub start_time: Option<Time>,
    pub end_time: Option<Time>,
    pub class_id: Uuid,
    pub class_name: String,
    pub subgroup_id: Option<Uuid>,
    pub subgroup_name: String,
    pub subject_id: Uuid,
    pub subject_name: String,
    pub teacher_id: Uuid,
    pub teacher_name: String,
    pub planned_teacher_id: Uuid,
    pub room: String,
    pub status: String,
    pub cancel_reason: String,
    pub moved_from_date: Option<Date>,
    pub moved_from_period: Option<i32>,
}

macro_rules! lesson_columns {
    () => {
        "id, school_id, class_id, subgroup_id, subject_id, date, period, teacher_id, \
         planned_teacher_id, room, status, cancel_reason, moved_from_date, moved_from_period"
    };
}

macro_rules! view_select {
    () => {
        "SELECT l.id, l.school_id, l.date, l.period, b.start_time, b.end_time, l.class_id, c.name AS class_name, \
         l.subgroup_id, COALESCE(g.name, '') AS subgroup_name, l.subject_id, s.name AS subject_name, \
         l.teacher_id, COALESCE(concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')), '') AS teacher_name, \
         l.planned_teacher_id, l.room, l.status, l.cancel_reason, l.moved_from_date, l.moved_from_period \
         FROM lessons l \
         JOIN classes c ON c.id = l.class_id \
         JOIN subjects s ON s.id = l.subject_id \
         LEFT JOIN bell_periods b ON b.school_year_id = c.school_year_id AND b.number = l.period \
         LEFT JOIN subgroups g ON g.id = l.subgroup_id \
         LEFT JOIN known_people p ON p.id = l.teacher_id "
    };
}

pub async fn get(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<LessonRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        lesson_columns!(),
        " FROM lessons WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(connection)
    .await
}

pub async fn view(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<LessonView>, sqlx::Error> {
    sqlx::query_as(concat!(view_select!(), "WHERE l.id = $1"))
        .bind(id)
        .fetch_optional(connection)
        .await
}

pub async fn of_class(
    connection: &mut PgConnection,
    class: Uuid,
    from: Date,
    to: Date,
) -> Result<Vec<LessonView>, sqlx::Error> {
    sqlx::query_as(concat!(
        view_select!(),
        "WHERE l.class_id = $1 AND l.date BETWEEN $2 AND $3 ORDER BY l.date, l.period, g.name NULLS FIRST"
    ))
    .bind(class)
    .bind(from)
    .bind(to)
    .fetch_all(connection)
    .await
}

/// What the teacher teaches, and lessons of theirs someone else took over.
pub async fn of_teacher(
    connection: &mut PgConnection,
    teacher: Uuid,
    from: Date,
    to: Date,
) -> Result<Vec<LessonView>, sqlx::Error> {
    sqlx::query_as(concat!(
        view_select!(),
        "WHERE (l.teacher_id = $1 OR l.planned_teacher_id = $1) AND l.date BETWEEN $2 AND $3 \
         ORDER BY l.date, l.period"
    ))
    .bind(teacher)
    .bind(from)
    .bind(to)
    .fetch_all(connection)
    .await
}

/// The student's lessons ($1) from $2 to $3: the diary's first read (its
/// text is public for the benchmark's query plans).
pub const OF_STUDENT: &str = concat!(
    view_select!(),
    "JOIN enrolments e ON e.class_id = l.class_id AND e.student_id = $1 \
       AND l.date >= e.start_date AND (e.end_date IS NULL OR l.date <= e.end_date) \
     WHERE l.date BETWEEN $2 AND $3 \
       AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
            WHERE m.subgroup_id = l.subgroup_id AND m.student_id = $1)) \
     ORDER BY l.date, l.period"
);

/// The student's lessons: those of the class they were in on each day, for
/// the whole class or their subgroup.
pub async fn of_student(
    connection: &mut PgConnection,
    student: Uuid,
    from: Date,
    to: Date,
) -> Result<Vec<LessonView>, sqlx::Error> {
    sqlx::query_as(OF_STUDENT)
        .bind(student)
        .bind(from)
        .bind(to)
        .fetch_all(connection)
        .await
}

/// The class's lessons from `from` on that came from the timetable, were
/// not changed one by one and hold nothing of the journal: a new layout may
/// replace them.
pub async fn laid_out(
    connection: &mut PgConnection,
    class: Uuid,
    from: Date,
) -> Result<Vec<LessonRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        lesson_columns!(),
        " FROM lessons WHERE class_id = $1 AND date >= $2 AND source = 'timetable' AND NOT changed \
         AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.lesson_id = lessons.id) FOR UPDATE"
    ))
    .bind(class)
    .bind(from)
    .fetch_all(connection)
    .await
}

pub async fn remove(connection: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM lessons WHERE id = ANY($1)")
        .bind(ids)
        .execute(connection)
        .await
        .map(|_| ())
}

/// Positions (subgroup, date, period) from `from` on that lessons changed
/// one by one, added by hand or holding assignments hold, or were moved
/// away from: a new layout leaves them alone.
pub async fn kept_positions(
    connection: &mut PgConnection,
    class: Uuid,
    from: Date,
) -> Result<Vec<(Option<Uuid>, Date, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT subgroup_id, date, period FROM lessons \
         WHERE class_id = $1 AND date >= $2 AND (source = 'manual' OR changed \
               OR EXISTS (SELECT 1 FROM assignments a WHERE a.lesson_id = lessons.id)) \
         UNION SELECT subgroup_id, moved_from_date, moved_from_period FROM lessons \
         WHERE class_id = $1 AND moved_from_date >= $2",
    )
    .bind(class)
    .bind(from)
    .fetch_all(connection)
    .await
}

/// A scheduled lesson of another class with one of these teachers at the
/// same time: (index into the arrays, the other class's name).
pub async fn first_teacher_clash(
    connection: &mut PgConnection,
    class: Uuid,
    teachers: &[Uuid],
    dates: &[Date],
    periods: &[i32],
) -> Result<Option<(i32, String, Date, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT (w.n - 1)::int4, c.name, l.date, l.period \
         FROM unnest($2::uuid[], $3::date[], $4::int4[]) WITH ORDINALITY AS w(teacher, date, period, n) \
         JOIN lessons l ON l.teacher_id = w.teacher AND l.date = w.date AND l.period = w.period \
              AND l.status = 'scheduled' AND l.class_id <> $1 \
         JOIN classes c ON c.id = l.class_id \
         ORDER BY w.n LIMIT 1",
    )
    .bind(class)
    .bind(teachers)
    .bind(dates)
    .bind(periods)
    .fetch_optional(connection)
    .await
}

pub async fn insert_many(
    connection: &mut PgConnection,
    lessons: &[NewLesson],
) -> Result<(), GradebookError> {
    if lessons.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&NewLesson) -> Uuid| lessons.iter().map(f).collect::<Vec<_>>();
    let ids = column(|l| l.id);
    let schools = column(|l| l.school_id);
    let classes = column(|l| l.class_id);
    let subjects = column(|l| l.subject_id);
    let teachers = column(|l| l.teacher_id);
    let subgroups: Vec<Option<Uuid>> = lessons.iter().map(|l| l.subgroup_id).collect();
    let dates: Vec<Date> = lessons.iter().map(|l| l.date).collect();
    let periods: Vec<i32> = lessons.iter().map(|l| l.period).collect();
    let rooms: Vec<String> = lessons.iter().map(|l| l.room.clone()).collect();
    let sources: Vec<&str> = lessons.iter().map(|l| l.source).collect();
    sqlx::query(
        "INSERT INTO lessons (id, school_id, class_id, subgroup_id, subject_id, date, period, \
             teacher_id, planned_teacher_id, room, source) \
         SELECT id, school, class, subgroup, subject, date, period, teacher, teacher, room, source \
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::date[], \
                     $7::int4[], $8::uuid[], $9::text[], $10::text[]) \
              AS t(id, school, class, subgroup, subject, date, period, teacher, room, source)",
    )
    .bind(&ids)
    .bind(&schools)
    .bind(&classes)
    .bind(&subgroups)
    .bind(&subjects)
    .bind(&dates)
    .bind(&periods)
    .bind(&teachers)
    .bind(&rooms)
    .bind(&sources)
    .execute(connection)
    .await
    .map(|_| ())
    .map_err(busy_or_internal)
}

/// The class (or a clashing group of it) has a scheduled lesson then.
pub async fn group_busy(
    connection: &mut PgConnection,
    class: Uuid,
    subgroup: Option<Uuid>,
    date: Date,
    period: i32,
    except: Option<Uuid>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM lessons WHERE class_id = $1 AND date = $3 AND period = $4 \
           AND status = 'scheduled' AND ($5::uuid IS NULL OR id <> $5) \
           AND ($2::uuid IS NULL OR subgroup_id IS NULL OR subgroup_id = $2) LIMIT 1",
    )
    .bind(class)
    .bind(subgroup)
    .bind(date)
    .bind(period)
    .bind(except)
    .fetch_optional(connection)
    .await
}

/// The name of the class the teacher has a scheduled lesson with then.
pub async fn teacher_busy(
    connection: &mut PgConnection,
    teacher: Uuid,
    date: Date,
    period: i32,
    except: Option<Uuid>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.name FROM lessons l JOIN classes c ON c.id = l.class_id \
         WHERE l.teacher_id = $1 AND l.date = $2 AND l.period = $3 AND l.status = 'scheduled' \
           AND ($4::uuid IS NULL OR l.id <> $4) LIMIT 1",
    )
    .bind(teacher)
    .bind(date)
    .bind(period)
    .bind(except)
    .fetch_optional(connection)
    .await
}

/// Writes a lesson's changed fields and marks it changed one by one.
pub async fn update(
    connection: &mut PgConnection,
    lesson: &LessonRow,
) -> Result<(), GradebookError> {
    sqlx::query(
        "UPDATE lessons SET date = $2, period = $3, teacher_id = $4, room = $5, status = $6, \
             cancel_reason = $7, moved_from_date = $8, moved_from_period = $9, changed = true, \
             updated_at = now() \
         WHERE id = $1",
    )
    .bind(lesson.id)
    .bind(lesson.date)
    .bind(lesson.period)
    .bind(lesson.teacher_id)
    .bind(&lesson.room)
    .bind(&lesson.status)
    .bind(&lesson.cancel_reason)
    .bind(lesson.moved_from_date)
    .bind(lesson.moved_from_period)
    .execute(connection)
    .await
    .map(|_| ())
    .map_err(busy_or_internal)
}

/// Cancels the year's scheduled lessons on days from `start` to `end`.
pub async fn cancel_between(
    connection: &mut PgConnection,
    year: Uuid,
    start: Date,
    end: Date,
    reason: &str,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE lessons l SET status = 'cancelled', cancel_reason = $4, changed = true, updated_at = now() \
         FROM classes c WHERE c.id = l.class_id AND c.school_year_id = $1 \
           AND l.date BETWEEN $2 AND $3 AND l.status = 'scheduled' \
         RETURNING l.id, l.class_id",
    )
    .bind(year)
    .bind(start)
    .bind(end)
    .bind(reason)
    .fetch_all(connection)
    .await
}

/// The school year a lesson belongs to.
/// The last day of the school year a lesson belongs to.
pub async fn year_end_of(
    connection: &mut PgConnection,
    lesson: Uuid,
) -> Result<Option<Date>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT y.end_date FROM lessons l JOIN classes c ON c.id = l.class_id \
         JOIN school_years y ON y.id = c.school_year_id WHERE l.id = $1",
    )
    .bind(lesson)
    .fetch_optional(connection)
    .await
}

pub async fn year_of(
    connection: &mut PgConnection,
    lesson: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.school_year_id FROM lessons l JOIN classes c ON c.id = l.class_id WHERE l.id = $1",
    )
    .bind(lesson)
    .fetch_optional(connection)
    .await
}
