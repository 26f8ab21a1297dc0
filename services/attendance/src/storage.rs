//! Attendance's queries: the projected lessons, classes and enrolments as
//! attendance reads them, and its own taken lessons, absences and changes.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::domain::{Code, DEFAULT_LESSON_MINUTES, DEFAULT_TEACHER_CORRECTION_DAYS, Mark};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LessonRow {
    pub id: Uuid,
    pub school_id: Uuid,
    pub class_id: Uuid,
    pub subgroup_id: Option<Uuid>,
    pub subject_id: Uuid,
    pub teacher_id: Uuid,
    pub date: Date,
    pub period: i32,
    pub status: String,
    pub class_teacher_id: Option<Uuid>,
    pub school_year_id: Uuid,
}

macro_rules! lesson_select {
    () => {
        "SELECT l.id, l.school_id, l.class_id, l.subgroup_id, l.subject_id, l.teacher_id, \
                l.date, l.period, l.status, c.class_teacher_id, c.school_year_id \
         FROM lessons l JOIN classes c ON c.id = l.class_id WHERE l.id = $1"
    };
}

/// The lesson, locked for the rest of the transaction when `lock`.
pub async fn lesson(
    connection: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<LessonRow>, sqlx::Error> {
    let query = if lock {
        sqlx::query_as(concat!(lesson_select!(), " FOR UPDATE OF l"))
    } else {
        sqlx::query_as(lesson_select!())
    };
    query.bind(id).fetch_optional(connection).await
}

/// The students of a lesson on its day: enrolled in its class then, and in
/// its group when it is a group's.
pub async fn students_of(
    connection: &mut PgConnection,
    lesson: &LessonRow,
) -> Result<BTreeSet<Uuid>, sqlx::Error> {
    let students: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT e.student_id FROM enrolments e \
         WHERE e.class_id = $1 AND e.start_date <= $2 AND (e.end_date IS NULL OR e.end_date >= $2) \
           AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
                 WHERE m.subgroup_id = $3 AND m.student_id = e.student_id))",
    )
    .bind(lesson.class_id)
    .bind(lesson.date)
    .bind(lesson.subgroup_id)
    .fetch_all(connection)
    .await?;
    Ok(students.into_iter().collect())
}

/// The codes in force in a region: every region's and its own.
pub async fn codes(
    connection: &mut PgConnection,
    region: Option<Uuid>,
) -> Result<Vec<Code>, sqlx::Error> {
    let rows: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT code, valid_reason, late FROM absence_codes \
         WHERE region_id IS NULL OR region_id = $1",
    )
    .bind(region)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(code, valid_reason, late)| Code {
            code,
            valid_reason,
            late,
        })
        .collect())
}

/// The lesson's length in minutes by its school year's bells.
pub async fn lesson_minutes(
    connection: &mut PgConnection,
    lesson: &LessonRow,
) -> Result<i32, sqlx::Error> {
    let minutes: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM (ends - starts))::float8 / 60 FROM bells \
         WHERE school_year_id = $1 AND number = $2",
    )
    .bind(lesson.school_year_id)
    .bind(lesson.period)
    .fetch_optional(connection)
    .await?;
    Ok(minutes
        .map(|minutes| minutes.round() as i32)
        .filter(|minutes| *minutes > 0)
        .unwrap_or(DEFAULT_LESSON_MINUTES))
}

/// Today in `time_zone` (an IANA name PostgreSQL knows).
pub async fn today_in(connection: &mut PgConnection, time_zone: &str) -> Result<Date, sqlx::Error> {
    sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date")
        .bind(time_zone)
        .fetch_one(connection)
        .await
}

pub async fn teacher_correction_days(
    connection: &mut PgConnection,
    region: Option<Uuid>,
) -> Result<i32, sqlx::Error> {
    let days: Option<i32> =
        sqlx::query_scalar("SELECT teacher_correction_days FROM region_rules WHERE region_id = $1")
            .bind(region)
            .fetch_optional(connection)
            .await?;
    Ok(days.unwrap_or(DEFAULT_TEACHER_CORRECTION_DAYS))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Taken {
    pub taken_by: Uuid,
    pub taken_at: OffsetDateTime,
}

pub async fn taken(
    connection: &mut PgConnection,
    lesson: Uuid,
) -> Result<Option<Taken>, sqlx::Error> {
    sqlx::query_as("SELECT taken_by, taken_at FROM taken_lessons WHERE lesson_id = $1")
        .bind(lesson)
        .fetch_optional(connection)
        .await
}

pub async fn absences_of(
    connection: &mut PgConnection,
    lesson: Uuid,
) -> Result<BTreeMap<Uuid, Mark>, sqlx::Error> {
    let rows: Vec<(Uuid, String, i32)> =
        sqlx::query_as("SELECT student_id, code, minutes_late FROM absences WHERE lesson_id = $1")
            .bind(lesson)
            .fetch_all(connection)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(student, code, minutes_late)| (student, Mark { code, minutes_late }))
        .collect())
}

pub async fn mark_taken(
    connection: &mut PgConnection,
    lesson: Uuid,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO taken_lessons (lesson_id, taken_by) VALUES ($1, $2) \
         ON CONFLICT (lesson_id) DO UPDATE SET changed_at = now()",
    )
    .bind(lesson)
    .bind(by)
    .execute(connection)
    .await?;
    Ok(())
}

/// Sets (or with `None`, clears) a student's absence at a taken lesson.
pub async fn set_absence(
    connection: &mut PgConnection,
    lesson: Uuid,
    student: Uuid,
    mark: Option<&Mark>,
) -> Result<(), sqlx::Error> {
    match mark {
        Some(mark) => {
            sqlx::query(
                "INSERT INTO absences (lesson_id, student_id, code, minutes_late) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (lesson_id, student_id) \
                 DO UPDATE SET code = excluded.code, minutes_late = excluded.minutes_late",
            )
            .bind(lesson)
            .bind(student)
            .bind(&mark.code)
            .bind(mark.minutes_late)
            .execute(connection)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM absences WHERE lesson_id = $1 AND student_id = $2")
                .bind(lesson)
                .bind(student)
                .execute(connection)
                .await?;
        }
    }
    Ok(())
}

pub struct NewChange<'a> {
    pub lesson: Uuid,
    pub student: Uuid,
    pub old: Option<&'a Mark>,
    pub new: Option<&'a Mark>,
    pub by: Uuid,
    pub reason: &'a str,
}

pub async fn record_change(
    connection: &mut PgConnection,
    change: NewChange<'_>,
) -> Result<(), sqlx::Error> {
    let code = |mark: Option<&Mark>| mark.map(|mark| mark.code.clone()).unwrap_or_default();
    let minutes = |mark: Option<&Mark>| mark.map_or(0, |mark| mark.minutes_late);
    sqlx::query(
        "INSERT INTO attendance_changes (id, lesson_id, student_id, old_code, old_minutes_late, \
             new_code, new_minutes_late, changed_by, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7())
    .bind(change.lesson)
    .bind(change.student)
    .bind(code(change.old))
    .bind(minutes(change.old))
    .bind(code(change.new))
    .bind(minutes(change.new))
    .bind(change.by)
    .bind(change.reason)
    .execute(connection)
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct ChangeRow {
    pub student_id: Uuid,
    pub old_code: String,
    pub old_minutes_late: i32,
    pub new_code: String,
    pub new_minutes_late: i32,
    pub changed_by: Uuid,
    pub changed_at: OffsetDateTime,
    pub reason: String,
}

pub async fn history(
    connection: &mut PgConnection,
    lesson: Uuid,
) -> Result<Vec<ChangeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT student_id, old_code, old_minutes_late, new_code, new_minutes_late, changed_by, \
                changed_at, reason \
         FROM attendance_changes WHERE lesson_id = $1 ORDER BY changed_at, id",
    )
    .bind(lesson)
    .fetch_all(connection)
    .await
}

/// Students in name order (as the directory knows them), unknown names last.
pub async fn in_name_order(
    connection: &mut PgConnection,
    students: &BTreeSet<Uuid>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = students.iter().copied().collect();
    sqlx::query_scalar(
        "SELECT s.id FROM unnest($1::uuid[]) AS s(id) \
         LEFT JOIN known_people p ON p.id = s.id \
         ORDER BY p.last_name NULLS LAST, p.first_name, p.middle_name, s.id",
    )
    .bind(&ids)
    .fetch_all(connection)
    .await
}

/// The schools a student has been enrolled in (by their classes).
pub async fn schools_of_student(
    connection: &mut PgConnection,
    student: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT c.school_id FROM enrolments e JOIN classes c ON c.id = e.class_id \
         WHERE e.student_id = $1",
    )
    .bind(student)
    .fetch_all(connection)
    .await
}

/// Whether `teacher` works with `student` at `school`: their class
/// teacher, a teacher of their class's load (the whole class or a group
/// they are in), or the teacher of a lesson of a class (and group) they
/// were in.
pub async fn works_with_student(
    connection: &mut PgConnection,
    teacher: Uuid,
    student: Uuid,
    school: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS ( \
             SELECT 1 FROM enrolments e JOIN classes c ON c.id = e.class_id \
             WHERE e.student_id = $2 AND c.school_id = $3 AND ( \
                 c.class_teacher_id = $1 \
                 OR EXISTS (SELECT 1 FROM loads d WHERE d.class_id = c.id AND d.teacher_id = $1 \
                     AND (d.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
                          WHERE m.subgroup_id = d.subgroup_id AND m.student_id = $2))) \
                 OR EXISTS (SELECT 1 FROM lessons l WHERE l.class_id = c.id AND l.teacher_id = $1 \
                     AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
                          WHERE m.subgroup_id = l.subgroup_id AND m.student_id = $2)))))",
    )
    .bind(teacher)
    .bind(student)
    .bind(school)
    .fetch_one(connection)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct StudentLesson {
    pub lesson_id: Uuid,
    pub date: Date,
    pub period: i32,
    pub subject_id: Uuid,
    pub subject_name: Option<String>,
    pub code: Option<String>,
    pub minutes_late: Option<i32>,
    pub valid_reason: Option<bool>,
    pub late: Option<bool>,
}

/// The taken lessons a student was in between two days (inclusive), with
/// their absence at each if any; `schools` limits them to those schools.
pub async fn student_lessons(
    connection: &mut PgConnection,
    student: Uuid,
    from: Date,
    to: Date,
    schools: Option<&[Uuid]>,
) -> Result<Vec<StudentLesson>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id AS lesson_id, l.date, l.period, l.subject_id, s.name AS subject_name, \
                a.code, a.minutes_late, ac.valid_reason, ac.late \
         FROM lessons l \
         JOIN taken_lessons t ON t.lesson_id = l.id \
         JOIN enrolments e ON e.class_id = l.class_id AND e.student_id = $1 \
              AND e.start_date <= l.date AND (e.end_date IS NULL OR e.end_date >= l.date) \
         LEFT JOIN subjects s ON s.id = l.subject_id \
         LEFT JOIN absences a ON a.lesson_id = l.id AND a.student_id = $1 \
         LEFT JOIN LATERAL (SELECT valid_reason, late FROM absence_codes c \
              WHERE c.code = a.code ORDER BY c.region_id NULLS FIRST LIMIT 1) ac ON true \
         WHERE l.date BETWEEN $2 AND $3 AND l.status = 'scheduled' \
           AND ($4::uuid[] IS NULL OR l.school_id = ANY($4)) \
           AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
                WHERE m.subgroup_id = l.subgroup_id AND m.student_id = $1)) \
         ORDER BY l.date, l.period",
    )
    .bind(student)
    .bind(from)
    .bind(to)
    .bind(schools)
    .fetch_all(connection)
    .await
}

/// The class (and its school) a student was in during any of the days,
/// the earliest such enrolment.
pub async fn class_of_student_between(
    connection: &mut PgConnection,
    student: Uuid,
    from: Date,
    to: Date,
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.school_id FROM enrolments e JOIN classes c ON c.id = e.class_id \
         WHERE e.student_id = $1 AND e.start_date <= $3 AND (e.end_date IS NULL OR e.end_date >= $2) \
         ORDER BY e.start_date LIMIT 1",
    )
    .bind(student)
    .bind(from)
    .bind(to)
    .fetch_optional(connection)
    .await
}

/// Whether `teacher` is the class teacher of a class `student` has been in.
pub async fn is_class_teacher_of(
    connection: &mut PgConnection,
    teacher: Uuid,
    student: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM enrolments e JOIN classes c ON c.id = e.class_id \
         WHERE e.student_id = $2 AND c.class_teacher_id = $1)",
    )
    .bind(teacher)
    .bind(student)
    .fetch_one(connection)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoteRow {
    pub id: Uuid,
    pub student_id: Uuid,
    pub school_id: Uuid,
    pub submitted_by: Uuid,
    pub from_date: Date,
    pub to_date: Date,
    pub code: String,
    pub text: String,
    pub scan_type: String,
    pub scan_bytes: i32,
    pub status: String,
    pub submitted_at: OffsetDateTime,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<OffsetDateTime>,
    pub decision_comment: String,
    pub absences_changed: i32,
}

macro_rules! note_columns {
    () => {
        "SELECT id, student_id, school_id, submitted_by, from_date, to_date, code, text, scan_type, \
                COALESCE(octet_length(scan), 0) AS scan_bytes, status, submitted_at, decided_by, \
                decided_at, decision_comment, absences_changed FROM notes "
    };
}

pub struct NewNote<'a> {
    pub id: Uuid,
    pub student: Uuid,
    pub school: Uuid,
    pub by: Uuid,
    pub from: Date,
    pub to: Date,
    pub code: &'a str,
    pub text: &'a str,
    pub scan: Option<(&'a [u8], &'a str)>,
}

pub async fn insert_note(
    connection: &mut PgConnection,
    note: NewNote<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO notes (id, student_id, school_id, submitted_by, from_date, to_date, code, text, \
             scan, scan_type) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(note.id)
    .bind(note.student)
    .bind(note.school)
    .bind(note.by)
    .bind(note.from)
    .bind(note.to)
    .bind(note.code)
    .bind(note.text)
    .bind(note.scan.map(|(bytes, _)| bytes))
    .bind(note.scan.map_or("", |(_, kind)| kind))
    .execute(connection)
    .await?;
    Ok(())
}

/// The note, locked for the rest of the transaction when `lock`.
pub async fn note(
    connection: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<NoteRow>, sqlx::Error> {
    let query = if lock {
        sqlx::query_as(concat!(note_columns!(), "WHERE id = $1 FOR UPDATE"))
    } else {
        sqlx::query_as(concat!(note_columns!(), "WHERE id = $1"))
    };
    query.bind(id).fetch_optional(connection).await
}

pub async fn notes_of(
    connection: &mut PgConnection,
    student: Uuid,
) -> Result<Vec<NoteRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        note_columns!(),
        "WHERE student_id = $1 ORDER BY submitted_at DESC, id DESC LIMIT 500"
    ))
    .bind(student)
    .fetch_all(connection)
    .await
}

pub async fn note_scan(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT scan_type, scan FROM notes WHERE id = $1 AND scan IS NOT NULL")
        .bind(id)
        .fetch_optional(connection)
        .await
}

pub async fn decide_note(
    connection: &mut PgConnection,
    id: Uuid,
    accepted: bool,
    by: Uuid,
    comment: &str,
    changed: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notes SET status = $2, decided_by = $3, decided_at = now(), decision_comment = $4, \
             absences_changed = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(if accepted { "accepted" } else { "declined" })
    .bind(by)
    .bind(comment)
    .bind(changed)
    .execute(connection)
    .await?;
    Ok(())
}

/// The student's absences with `code` at taken lessons between two days,
/// with their lessons, locked for the rest of the transaction.
pub async fn absences_between(
    connection: &mut PgConnection,
    student: Uuid,
    from: Date,
    to: Date,
    code: &str,
) -> Result<Vec<(LessonRow, Mark)>, sqlx::Error> {
    let rows: Vec<(Uuid, String, i32)> = sqlx::query_as(
        "SELECT a.lesson_id, a.code, a.minutes_late FROM absences a JOIN lessons l ON l.id = a.lesson_id \
         WHERE a.student_id = $1 AND a.code = $4 AND l.date BETWEEN $2 AND $3 \
         ORDER BY l.date, l.period FOR UPDATE OF a",
    )
    .bind(student)
    .bind(from)
    .bind(to)
    .bind(code)
    .fetch_all(&mut *connection)
    .await?;
    let mut found = Vec::new();
    for (lesson, code, minutes_late) in rows {
        if let Some(lesson) = self::lesson(connection, lesson, false).await? {
            found.push((lesson, Mark { code, minutes_late }));
        }
    }
    Ok(found)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClassRow {
    pub id: Uuid,
    pub school_id: Uuid,
    pub name: String,
    pub class_teacher_id: Option<Uuid>,
}

pub async fn class(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<ClassRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, school_id, name, class_teacher_id FROM classes WHERE id = $1")
        .bind(id)
        .fetch_optional(connection)
        .await
}

/// Whether `teacher` teaches the class: by its load or a lesson of it.
pub async fn teaches_class(
    connection: &mut PgConnection,
    teacher: Uuid,
    class: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM loads WHERE class_id = $1 AND teacher_id = $2) \
         OR EXISTS (SELECT 1 FROM lessons WHERE class_id = $1 AND teacher_id = $2)",
    )
    .bind(class)
    .bind(teacher)
    .fetch_one(connection)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct SheetLessonRow {
    pub id: Uuid,
    pub date: Date,
    pub period: i32,
    pub subject_id: Uuid,
    pub subject_name: Option<String>,
    pub subgroup_id: Option<Uuid>,
    pub taken: bool,
}

/// A class's held lessons between two days, of one subject and one
/// teacher when given.
pub async fn class_lessons(
    connection: &mut PgConnection,
    class: Uuid,
    from: Date,
    to: Date,
    subject: Option<Uuid>,
    teacher: Option<Uuid>,
) -> Result<Vec<SheetLessonRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.date, l.period, l.subject_id, s.name AS subject_name, l.subgroup_id, \
                t.lesson_id IS NOT NULL AS taken \
         FROM lessons l LEFT JOIN subjects s ON s.id = l.subject_id \
         LEFT JOIN taken_lessons t ON t.lesson_id = l.id \
         WHERE l.class_id = $1 AND l.date BETWEEN $2 AND $3 AND l.status = 'scheduled' \
           AND ($4::uuid IS NULL OR l.subject_id = $4) AND ($5::uuid IS NULL OR l.teacher_id = $5) \
         ORDER BY l.date, l.period, l.id",
    )
    .bind(class)
    .bind(from)
    .bind(to)
    .bind(subject)
    .bind(teacher)
    .fetch_all(connection)
    .await
}

/// The students in a class on any of the days, by name: (id, "Фамилия Имя").
pub async fn class_students(
    connection: &mut PgConnection,
    class: Uuid,
    from: Date,
    to: Date,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.student_id, COALESCE(p.last_name || ' ' || p.first_name, '') \
         FROM (SELECT DISTINCT student_id FROM enrolments WHERE class_id = $1 \
               AND start_date <= $3 AND (end_date IS NULL OR end_date >= $2)) s \
         LEFT JOIN known_people p ON p.id = s.student_id \
         ORDER BY p.last_name NULLS LAST, p.first_name, s.student_id",
    )
    .bind(class)
    .bind(from)
    .bind(to)
    .fetch_all(connection)
    .await
}

/// Who was in which of the lessons (enrolled in the class that day, and in
/// the group for a group's lesson): (student, lesson).
pub async fn presence_pairs(
    connection: &mut PgConnection,
    lessons: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.student_id, l.id FROM lessons l \
         JOIN enrolments e ON e.class_id = l.class_id AND e.start_date <= l.date \
              AND (e.end_date IS NULL OR e.end_date >= l.date) \
         WHERE l.id = ANY($1) AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
              WHERE m.subgroup_id = l.subgroup_id AND m.student_id = e.student_id))",
    )
    .bind(lessons)
    .fetch_all(connection)
    .await
}

/// The absences at the lessons: (student, lesson, code, minutes late).
pub async fn absences_at(
    connection: &mut PgConnection,
    lessons: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, String, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT student_id, lesson_id, code, minutes_late FROM absences WHERE lesson_id = ANY($1) \
         ORDER BY lesson_id, student_id",
    )
    .bind(lessons)
    .fetch_all(connection)
    .await
}

/// Counts per group (a class of a school, or a school): its id, the
/// student-lessons of taken lessons, and the absences by code.
#[derive(Debug, sqlx::FromRow)]
pub struct CountRow {
    pub group_id: Uuid,
    pub student_lessons: i64,
    pub code: Option<String>,
    pub absences: i64,
}

/// Student-lessons and absences by code of taken lessons between two days
/// in `schools`, grouped by class (`by_class`) or by school.
pub async fn counts(
    connection: &mut PgConnection,
    schools: &[Uuid],
    from: Date,
    to: Date,
    by_class: bool,
) -> Result<Vec<CountRow>, sqlx::Error> {
    sqlx::query_as(
        "WITH held AS ( \
             SELECT l.id, l.class_id, l.school_id, l.date, l.subgroup_id FROM lessons l \
             JOIN taken_lessons t ON t.lesson_id = l.id \
             WHERE l.school_id = ANY($1) AND l.date BETWEEN $2 AND $3 AND l.status = 'scheduled'), \
         seats AS ( \
             SELECT CASE WHEN $4 THEN h.class_id ELSE h.school_id END AS group_id, count(*) AS n \
             FROM held h JOIN enrolments e ON e.class_id = h.class_id AND e.start_date <= h.date \
                  AND (e.end_date IS NULL OR e.end_date >= h.date) \
             WHERE h.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
                  WHERE m.subgroup_id = h.subgroup_id AND m.student_id = e.student_id) \
             GROUP BY 1), \
         missed AS ( \
             SELECT CASE WHEN $4 THEN h.class_id ELSE h.school_id END AS group_id, a.code, count(*) AS n \
             FROM held h JOIN absences a ON a.lesson_id = h.id GROUP BY 1, 2) \
         SELECT s.group_id, s.n AS student_lessons, m.code, COALESCE(m.n, 0) AS absences \
         FROM seats s LEFT JOIN missed m ON m.group_id = s.group_id \
         ORDER BY s.group_id, m.code",
    )
    .bind(schools)
    .bind(from)
    .bind(to)
    .bind(by_class)
    .fetch_all(connection)
    .await
}

/// The schools under a municipality or region, with their names.
pub async fn schools_under(
    connection: &mut PgConnection,
    unit: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.name FROM known_org_units s \
         LEFT JOIN known_org_units m ON m.id = s.parent_id \
         WHERE s.kind = 'school' AND (s.parent_id = $1 OR m.parent_id = $1) ORDER BY s.name, s.id",
    )
    .bind(unit)
    .fetch_all(connection)
    .await
}

/// The classes of a school, with their names.
pub async fn classes_of_school(
    connection: &mut PgConnection,
    school: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM classes WHERE school_id = $1 ORDER BY name, id")
        .bind(school)
        .fetch_all(connection)
        .await
}

/// The last day of the term a lesson falls in, if the gradebook told of
/// its year's terms.
pub async fn term_end(
    connection: &mut PgConnection,
    lesson: &LessonRow,
) -> Result<Option<Date>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT end_date FROM terms WHERE school_year_id = $1 AND $2 BETWEEN start_date AND end_date",
    )
    .bind(lesson.school_year_id)
    .bind(lesson.date)
    .fetch_optional(connection)
    .await
}
