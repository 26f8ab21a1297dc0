//! `make bench`, attendance: taking 30-student lessons (writes/s), reading
//! a student's term and a class's month sheet (reads/s), each with p50 and
//! p99, on one generated school and then on ten.
//!
//! A school here: 33 classes of 30 students, six lessons a day on the
//! weekdays of the last 170 days (≈ 24,000 lessons), every lesson but the
//! last 90 days' taken (those are the ones the bench takes), one student in
//! twenty absent or late at each. It is
//! written straight into attendance's tables with set-based SQL (what the
//! gradebook's events would have projected), by one teacher who teaches
//! every lesson of the first school; the calls go through the gRPC API
//! with tokens identity issued, as a journal app would make them.
//!
//! Settings (environment): BENCH_SECONDS (per run, default 15),
//! BENCH_CONCURRENCY (callers at once, default 8), BENCH_SCALE (schools in
//! the second round, default 10). PostgreSQL and NATS as the tests find
//! them (DATABASE_URL, NATS_URL, or throw-away servers).

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use asurso_attendance::harness::{Attendance, Clients, attendance_database};
use asurso_identity::harness::{World, identity_login};
use asurso_proto::{attendance as pb, common::CivilDate, identity::Role};
use asurso_runtime::convert::civil_date;
use asurso_testkit::load::{Call, Figures, drive, setting};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Statements that generate school number $1 with id $2, today $3 and the
/// teacher of every lesson $4.
const SEED: &[&str] = &[
    "INSERT INTO classes (id, school_id, school_year_id, name) \
     SELECT md5('class-' || $1 || '-' || c)::uuid, $2, md5('year-' || $1)::uuid, (c / 3 + 1) || '-' || c \
     FROM generate_series(0, 32) c",
    "INSERT INTO subjects (id, school_id, name, short_name) \
     SELECT md5('subject-' || $1 || '-' || s)::uuid, $2, 'Предмет ' || s, 'П' || s \
     FROM generate_series(0, 5) s",
    "INSERT INTO enrolments (id, class_id, student_id, start_date) \
     SELECT md5('enrolment-' || $1 || '-' || c || '-' || s)::uuid, md5('class-' || $1 || '-' || c)::uuid, \
            md5('student-' || $1 || '-' || c || '-' || s)::uuid, $3::date - 200 \
     FROM generate_series(0, 32) c, generate_series(0, 29) s",
    "INSERT INTO lessons (id, school_id, class_id, subject_id, teacher_id, date, period) \
     SELECT md5('lesson-' || $1 || '-' || c || '-' || d || '-' || p)::uuid, $2, \
            md5('class-' || $1 || '-' || c)::uuid, md5('subject-' || $1 || '-' || ((p + c) % 6))::uuid, \
            $4, $3::date - d, p \
     FROM generate_series(0, 32) c, generate_series(1, 170) d, generate_series(1, 6) p \
     WHERE extract(isodow FROM $3::date - d) < 6",
    "INSERT INTO taken_lessons (lesson_id, taken_by) \
     SELECT id, $4 FROM lessons WHERE school_id = $2 AND date < $3::date - 90",
    "INSERT INTO absences (lesson_id, student_id, code, minutes_late) \
     SELECT lesson_id, student_id, code, CASE WHEN code = 'ОП' THEN 10 ELSE 0 END FROM ( \
         SELECT l.id AS lesson_id, e.student_id, \
                (ARRAY['НП', 'Б', 'УП', 'ОП'])[1 + abs(hashtext(l.id::text || e.student_id::text)) % 4] AS code \
         FROM taken_lessons t JOIN lessons l ON l.id = t.lesson_id \
         JOIN enrolments e ON e.class_id = l.class_id \
         WHERE l.school_id = $2 AND abs(hashtext(e.student_id::text || l.id::text)) % 20 = 0) a",
];

async fn seed_school(
    pool: &PgPool,
    number: i32,
    school: Uuid,
    teacher: Uuid,
) -> anyhow::Result<()> {
    let today = OffsetDateTime::now_utc().date();
    let mut transaction = pool.begin().await?;
    for statement in SEED {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .bind(number)
            .bind(school)
            .bind(today)
            .bind(teacher)
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}

fn bail_on_errors(figures: &Figures, what: &str) -> anyhow::Result<()> {
    if figures.errors > 0 {
        anyhow::bail!(
            "{} of {what} failed: {}",
            figures.errors,
            figures.first_error.clone().unwrap_or_default()
        );
    }
    Ok(())
}

/// The teacher (`teacher_id`) takes their untaken lessons, each with two
/// of its students absent. What an earlier run took of the last 90 days is
/// untaken first, so each run has the same lessons to take.
async fn take_lessons(
    pool: &PgPool,
    teacher_id: Uuid,
    teacher: &Clients,
    label: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "WITH recent AS (SELECT id FROM lessons WHERE teacher_id = $1 AND date >= CURRENT_DATE - 90), \
         gone AS (DELETE FROM absences WHERE lesson_id IN (SELECT id FROM recent)) \
         DELETE FROM taken_lessons WHERE lesson_id IN (SELECT id FROM recent)",
    )
    .bind(teacher_id)
    .execute(pool)
    .await?;
    let lessons: Vec<(Uuid, Vec<Uuid>)> = sqlx::query_as(
        "SELECT l.id, array_agg(e.student_id ORDER BY e.student_id) FROM lessons l \
         JOIN enrolments e ON e.class_id = l.class_id \
         WHERE NOT EXISTS (SELECT 1 FROM taken_lessons t WHERE t.lesson_id = l.id) \
           AND l.date < CURRENT_DATE AND l.teacher_id = $1 \
         GROUP BY l.id ORDER BY l.id",
    )
    .bind(teacher_id)
    .fetch_all(pool)
    .await?;
    // Each lesson is taken once: the run lasts no longer than the teacher's
    // untaken lessons allow at up to 1,500 takes a second (2 s of warm-up
    // included), or it would run out and measure refusals.
    let seconds =
        setting("BENCH_SECONDS", 15).min((lessons.len() as u64 / 1_500).saturating_sub(2).max(1));
    let lessons = Arc::new(lessons);
    let next = Arc::new(AtomicUsize::new(0));
    let figures = drive(setting("BENCH_CONCURRENCY", 8), seconds, |_| -> Call {
        let (lessons, next, client) = (
            Arc::clone(&lessons),
            Arc::clone(&next),
            teacher.attendance.clone(),
        );
        Box::new(move |random| {
            let (lessons, next, mut client) =
                (Arc::clone(&lessons), Arc::clone(&next), client.clone());
            Box::pin(async move {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let (lesson, students) = lessons
                    .get(index)
                    .ok_or_else(|| "every lesson is taken: run shorter".to_owned())?;
                let pick = |k: u64| students[((random >> (k * 8)) as usize) % students.len()];
                let absent: Vec<Uuid> = [pick(0), pick(1)]
                    .into_iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                client
                    .take_lesson(pb::TakeLessonRequest {
                        lesson_id: lesson.to_string(),
                        absences: absent
                            .into_iter()
                            .map(|student| pb::Absence {
                                student_id: student.to_string(),
                                code: "НП".into(),
                                minutes_late: 0,
                            })
                            .collect(),
                        reason: String::new(),
                        idempotency_key: String::new(),
                    })
                    .await
                    .map(|_| ())
                    .map_err(|status| status.to_string())
            })
        })
    })
    .await?;
    figures.print(&format!("TakeLesson, 30 students, {label}"), "lessons");
    bail_on_errors(&figures, "the takes")
}

/// A parent of every student of the first school reads random students'
/// last 90 days.
async fn read_terms(
    parent: &Clients,
    students: &Arc<Vec<Uuid>>,
    label: &str,
) -> anyhow::Result<()> {
    let today = OffsetDateTime::now_utc().date();
    let (from, to) = (civil_date(today - Duration::days(90)), civil_date(today));
    let figures = drive(
        setting("BENCH_CONCURRENCY", 8),
        setting("BENCH_SECONDS", 15),
        |_| -> Call {
            let (students, client) = (Arc::clone(students), parent.attendance.clone());
            Box::new(move |random| {
                let mut client = client.clone();
                let student = students[(random as usize) % students.len()];
                Box::pin(async move {
                    client
                        .get_student_attendance(pb::GetStudentAttendanceRequest {
                            student_id: student.to_string(),
                            from_date: Some(from),
                            to_date: Some(to),
                        })
                        .await
                        .map(|_| ())
                        .map_err(|status| status.to_string())
                })
            })
        },
    )
    .await?;
    figures.print(&format!("GetStudentAttendance, 90 days, {label}"), "reads");
    bail_on_errors(&figures, "the term reads")
}

/// The teacher reads random classes' month sheets (the month 45 days ago).
async fn read_sheets(
    teacher: &Clients,
    classes: &Arc<Vec<Uuid>>,
    label: &str,
) -> anyhow::Result<()> {
    let month: CivilDate = civil_date(OffsetDateTime::now_utc().date() - Duration::days(45));
    let figures = drive(
        setting("BENCH_CONCURRENCY", 8),
        setting("BENCH_SECONDS", 15),
        |_| -> Call {
            let (classes, client) = (Arc::clone(classes), teacher.attendance.clone());
            Box::new(move |random| {
                let mut client = client.clone();
                let class = classes[(random as usize) % classes.len()];
                Box::pin(async move {
                    client
                        .get_class_sheet(pb::GetClassSheetRequest {
                            class_id: class.to_string(),
                            year: month.year,
                            month: month.month,
                            subject_id: String::new(),
                        })
                        .await
                        .map(|_| ())
                        .map_err(|status| status.to_string())
                })
            })
        },
    )
    .await?;
    figures.print(&format!("GetClassSheet, a month, {label}"), "reads");
    bail_on_errors(&figures, "the sheet reads")
}

async fn describe(pool: &PgPool, label: &str) -> anyhow::Result<()> {
    sqlx::query("ANALYZE").execute(pool).await?;
    let (lessons, taken, absences): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM lessons), (SELECT count(*) FROM taken_lessons), \
                (SELECT count(*) FROM absences)",
    )
    .fetch_one(pool)
    .await?;
    println!("{label}: {lessons} lessons, {taken} taken, {absences} absences");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scale = i32::try_from(setting("BENCH_SCALE", 10))?;
    let mut world = World::new().await?;
    let attendance = Attendance::start(&world, attendance_database().await?).await?;
    let (teacher_token, teacher) = identity_login(
        &world.identity,
        &mut world.admin_a,
        world.school_a,
        Role::Teacher,
        "bench.teacher",
        901,
    )
    .await?;
    let (parent_token, parent) = identity_login(
        &world.identity,
        &mut world.admin_a,
        world.school_a,
        Role::Parent,
        "bench.parent",
        902,
    )
    .await?;
    attendance.knows(teacher).await?;
    attendance.knows(parent).await?;
    let pool = attendance.db.pool.clone();
    seed_school(&pool, 0, world.school_a, teacher).await?;
    let students: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO guardians (parent_id, student_id) \
         SELECT $1, e.student_id FROM enrolments e JOIN classes c ON c.id = e.class_id \
         WHERE c.school_id = $2 RETURNING student_id",
    )
    .bind(parent)
    .bind(world.school_a)
    .fetch_all(&pool)
    .await?;
    let students = Arc::new(students);
    let classes: Arc<Vec<Uuid>> = Arc::new(
        sqlx::query_scalar("SELECT id FROM classes WHERE school_id = $1")
            .bind(world.school_a)
            .fetch_all(&pool)
            .await?,
    );
    let teacher_clients = attendance.clients(&teacher_token).await?;
    let parent_clients = attendance.clients(&parent_token).await?;

    describe(&pool, "one school").await?;
    take_lessons(&pool, teacher, &teacher_clients, "one school").await?;
    read_terms(&parent_clients, &students, "one school").await?;
    read_sheets(&teacher_clients, &classes, "one school").await?;

    for number in 1..scale {
        seed_school(&pool, number, Uuid::now_v7(), Uuid::now_v7()).await?;
    }
    describe(&pool, &format!("{scale} schools")).await?;
    take_lessons(
        &pool,
        teacher,
        &teacher_clients,
        &format!("{scale} schools"),
    )
    .await?;
    read_terms(&parent_clients, &students, &format!("{scale} schools")).await?;
    read_sheets(&teacher_clients, &classes, &format!("{scale} schools")).await?;

    attendance.stop().await?;
    world.identity.stop().await
}
