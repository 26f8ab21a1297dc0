//! What the benches share (feature `bench`): a school the size of a real
//! one written straight into the gradebook's tables, a gradebook serving it
//! in this process, and parents reading random diary weeks as fast as they
//! can. The gradebook's own bench (`benches/diary_week.rs`) and the
//! gateway's comparison (`services/gateway/benches/through_gateway.rs`)
//! both use it, so the two measure the same reads on the same data; it
//! lives here, beside the tables it seeds, so that the gateway depends on
//! the gradebook and never the other way round.
//!
//! A school here is what a Russian secondary school holds by the end of a
//! year: 33 classes (grades 1 to 11, three of each) of 25 students, 40
//! teachers, 12 subjects, six lessons a day on every school day of four
//! quarters (≈ 33,000 lessons), work in class on every lesson and homework
//! on every second one (≈ 50,000 assignments), five marks per lesson in
//! class and two per homework (≈ 200,000 marks). The data is written with
//! set-based SQL and deterministic ids; the reads go through the gRPC API
//! as a parent's app would, with a token identity issued, for a random
//! child of the parent and a random week of the year.
//!
//! It must never be enabled in the service's build: it starts throw-away
//! servers and writes rows no API would.
//!
//! Settings (environment): BENCH_SECONDS (per run, default 15),
//! BENCH_CONCURRENCY (callers at once, default 8). PostgreSQL and NATS as
//! the tests find them (DATABASE_URL, NATS_URL, or throw-away servers).

use std::{
    ops::Range,
    sync::Arc,
    time::{Duration, Instant},
};

use asurso_identity::harness::{World, identity_login};
use asurso_proto::{common::CivilDate, gradebook as gb, identity::Role};
use asurso_runtime::{auth::Bearer, convert::civil_date};
use asurso_testkit::load::percentile;
use sqlx::{PgPool, Row};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::harness::{Gradebook, gradebook_database};

pub use asurso_testkit::load::setting;

/// Deterministic ids: `md5(text)::uuid` in SQL, the same here.
macro_rules! id {
    ($($part:tt)*) => { concat!("md5(", $($part)*, ")::uuid") };
}

/// Statements that seed school number $1 (ids derived from it).
const SEED: &[&str] = &[
    concat!(
        "INSERT INTO known_org_units (id, kind, parent_id, name) VALUES \
         (",
        id!("'region'"),
        ", 'region', NULL, 'Регион'), \
         (",
        id!("'municipality'"),
        ", 'municipality', ",
        id!("'region'"),
        ", 'Округ') \
         ON CONFLICT DO NOTHING"
    ),
    concat!(
        "INSERT INTO known_org_units (id, kind, parent_id, name) VALUES \
         (",
        id!("'school-' || $1"),
        ", 'school', ",
        id!("'municipality'"),
        ", 'Школа № ' || $1)"
    ),
    concat!(
        "INSERT INTO known_people (id, last_name, first_name) \
         SELECT ",
        id!("'student-' || $1 || '-' || c || '-' || s"),
        ", 'Ученик' || s, 'Класс' || c \
         FROM generate_series(0, 32) c, generate_series(0, 24) s \
         UNION ALL SELECT ",
        id!("'teacher-' || $1 || '-' || t"),
        ", 'Учитель' || t, 'Имя' \
         FROM generate_series(0, 39) t"
    ),
    concat!(
        "INSERT INTO school_years (id, school_id, name, start_date, end_date, term_kind, days_per_week) \
         VALUES (",
        id!("'year-' || $1"),
        ", ",
        id!("'school-' || $1"),
        ", '2026/2027', \
         '2026-09-01', '2027-05-31', 'quarters', 5)"
    ),
    concat!(
        "INSERT INTO terms (id, school_year_id, number, name, start_date, end_date) \
         SELECT ",
        id!("'term-' || $1 || '-' || n"),
        ", ",
        id!("'year-' || $1"),
        ", n, n || ' четверть', s, e \
         FROM (VALUES (1, date '2026-09-01', date '2026-10-23'), (2, date '2026-11-02', date '2026-12-29'), \
                      (3, date '2027-01-11', date '2027-03-19'), (4, date '2027-03-29', date '2027-05-31')) t(n, s, e)"
    ),
    concat!(
        "INSERT INTO bell_periods (school_year_id, number, start_time, end_time) \
         SELECT ",
        id!("'year-' || $1"),
        ", p, time '08:00' + (p - 1) * interval '55 minutes', \
                time '08:45' + (p - 1) * interval '55 minutes' FROM generate_series(1, 6) p"
    ),
    concat!(
        "INSERT INTO subjects (id, school_id, name, short_name) \
         SELECT ",
        id!("'subject-' || $1 || '-' || j"),
        ", ",
        id!("'school-' || $1"),
        ", 'Предмет ' || j, 'П' || j \
         FROM generate_series(0, 11) j"
    ),
    concat!(
        "INSERT INTO classes (id, school_id, school_year_id, name, grade) \
         SELECT ",
        id!("'class-' || $1 || '-' || c"),
        ", ",
        id!("'school-' || $1"),
        ", ",
        id!("'year-' || $1"),
        ", \
                (c / 3 + 1) || chr(1040 + c % 3), c / 3 + 1 FROM generate_series(0, 32) c"
    ),
    concat!(
        "INSERT INTO enrolments (id, class_id, student_id, start_date) \
         SELECT ",
        id!("'enrolment-' || $1 || '-' || c || '-' || s"),
        ", ",
        id!("'class-' || $1 || '-' || c"),
        ", \
                ",
        id!("'student-' || $1 || '-' || c || '-' || s"),
        ", date '2026-09-01' \
         FROM generate_series(0, 32) c, generate_series(0, 24) s"
    ),
    // Six lessons on every school day of the terms; a teacher is in one
    // place at a time ((class + day + period) mod 40 differs per class).
    concat!(
        "INSERT INTO lessons (id, school_id, class_id, subject_id, date, period, teacher_id, \
                              planned_teacher_id, room, source) \
         SELECT ",
        id!("'lesson-' || $1 || '-' || c || '-' || d || '-' || p"),
        ", ",
        id!("'school-' || $1"),
        ", \
                ",
        id!("'class-' || $1 || '-' || c"),
        ", ",
        id!("'subject-' || $1 || '-' || ((c + extract(isodow FROM d)::int * 6 + p) % 12)"),
        ", \
                d, p, ",
        id!("'teacher-' || $1 || '-' || ((c + extract(doy FROM d)::int + p) % 40)"),
        ", \
                ",
        id!("'teacher-' || $1 || '-' || ((c + extract(doy FROM d)::int + p) % 40)"),
        ", \
                (100 + c)::text, 'timetable' \
         FROM generate_series(0, 32) c, generate_series(1, 6) p, \
              generate_series(date '2026-09-01', date '2027-05-31', interval '1 day') g(d) \
         WHERE extract(isodow FROM d) < 6 AND EXISTS (SELECT 1 FROM terms t \
               WHERE t.school_year_id = ",
        id!("'year-' || $1"),
        " AND d BETWEEN t.start_date AND t.end_date)"
    ),
    concat!(
        "INSERT INTO assignments (id, lesson_id, class_id, type_code, weight, due_date, title, body, teacher_id) \
         SELECT ",
        id!("'cw-' || l.id"),
        ", l.id, l.class_id, 'classwork', 1, l.date, 'Тема урока', '', l.teacher_id \
         FROM lessons l WHERE l.school_id = ",
        id!("'school-' || $1"),
        " \
         UNION ALL \
         SELECT ",
        id!("'hw-' || l.id"),
        ", l.id, l.class_id, 'homework', 1, l.date + 2, 'Домашнее задание', \
                'Параграф ' || l.period || ', упражнения 1-5', l.teacher_id \
         FROM lessons l WHERE l.school_id = ",
        id!("'school-' || $1"),
        " AND (l.period + extract(doy FROM l.date)::int) % 2 = 0"
    ),
    // Five marks in class per lesson, two per homework (one in ten a debt).
    concat!(
        "INSERT INTO marks (id, assignment_id, student_id, kind, grade, teacher_id) \
         SELECT gen_random_uuid(), a.id, \
                ",
        id!(
            "'student-' || $1 || '-' || ((c.grade - 1) * 3 + ascii(right(c.name, 1)) - 1040) || '-' || ((extract(doy FROM l.date)::int * 7 + l.period * 3 + j * 5) % 25)"
        ),
        ", \
                CASE WHEN a.type_code = 'homework' AND (extract(doy FROM l.date)::int + j) % 10 = 0 THEN 'debt' ELSE 'grade' END, \
                CASE WHEN a.type_code = 'homework' AND (extract(doy FROM l.date)::int + j) % 10 = 0 THEN NULL \
                     ELSE 2 + (extract(doy FROM l.date)::int + l.period + j) % 4 END, \
                a.teacher_id \
         FROM assignments a JOIN lessons l ON l.id = a.lesson_id JOIN classes c ON c.id = l.class_id, \
              generate_series(0, 4) j \
         WHERE l.school_id = ",
        id!("'school-' || $1"),
        " AND (a.type_code = 'classwork' OR j < 2)"
    ),
];

/// School number `number` (ids derived from it), in one transaction.
pub async fn seed_school(pool: &PgPool, number: i32) -> anyhow::Result<()> {
    let mut transaction = pool.begin().await?;
    for statement in SEED {
        let query = sqlx::query(*statement);
        let query = if statement.contains("$1") {
            query.bind(number.to_string())
        } else {
            query
        };
        query.execute(&mut *transaction).await?;
    }
    transaction.commit().await?;
    Ok(())
}

async fn count(pool: &PgPool, table: &str) -> anyhow::Result<i64> {
    Ok(
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(pool)
            .await?
            .try_get(0)?,
    )
}

/// A logged-in parent and the children they may read.
pub struct Parent {
    pub token: String,
    pub children: Arc<Vec<Uuid>>,
}

/// Identity, a database of the gradebook's own and a gradebook serving it,
/// all in this process (the gradebook's [`crate::harness`]).
pub struct Bench {
    pub world: World,
    pub gradebook: Gradebook,
}

impl Bench {
    pub async fn start() -> anyhow::Result<Self> {
        let world = World::new().await?;
        let gradebook = Gradebook::start(&world, gradebook_database().await?).await?;
        Ok(Self { world, gradebook })
    }

    /// The gradebook's gRPC address.
    pub fn address(&self) -> &str {
        &self.gradebook.address
    }

    /// The gradebook's database.
    pub fn pool(&self) -> &PgPool {
        &self.gradebook.db.pool
    }

    /// Seeds the schools numbered `numbers`; how long it took.
    pub async fn seed(&self, numbers: Range<i32>) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for number in numbers {
            seed_school(self.pool(), number).await?;
        }
        Ok(started.elapsed())
    }

    /// A parent of every child of the first `schools` schools, logged in
    /// (`seed` tells parents apart; tokens live minutes, so each run after
    /// a long seeding wants a fresh one).
    pub async fn parent_of_all(&mut self, schools: i32, seed: u32) -> anyhow::Result<Parent> {
        let world = &mut self.world;
        let (token, parent) = identity_login(
            &world.identity,
            &mut world.admin,
            world.school_a,
            Role::Parent,
            &format!("bench.parent{seed}"),
            seed,
        )
        .await?;
        let children: Vec<Uuid> = sqlx::query_scalar(concat!(
            "INSERT INTO guardians (parent_id, student_id) \
             SELECT $1, ",
            id!("'student-' || k || '-' || c || '-' || s"),
            " \
             FROM generate_series(0, $2 - 1) k, generate_series(0, 32) c, generate_series(0, 24) s \
             RETURNING student_id"
        ))
        .bind(parent)
        .bind(schools)
        .fetch_all(self.pool())
        .await?;
        Ok(Parent {
            token,
            children: Arc::new(children),
        })
    }

    /// Fresh planner statistics, then what the database holds, under `label`.
    pub async fn describe(&self, label: &str) -> anyhow::Result<()> {
        let pool = self.pool();
        sqlx::query("ANALYZE").execute(pool).await?;
        println!(
            "{label}: {} lessons, {} assignments, {} marks, {} students",
            count(pool, "lessons").await?,
            count(pool, "assignments").await?,
            count(pool, "marks").await?,
            count(pool, "enrolments").await?,
        );
        Ok(())
    }

    /// Stops the gradebook, then identity, before their databases go:
    /// otherwise their outbox relays warn about the missing databases on
    /// the way out.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.gradebook.stop().await?;
        self.world.identity.stop().await?;
        Ok(())
    }
}

/// A small, fast, seeded generator: the bench needs spread, not secrecy.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// Mondays of the school year.
fn weeks() -> Vec<CivilDate> {
    let mut weeks = Vec::new();
    let mut day = time::macros::date!(2026 - 08 - 31);
    while day < time::macros::date!(2027 - 05 - 31) {
        weeks.push(civil_date(day));
        day += time::Duration::weeks(1);
    }
    weeks
}

struct Run {
    reads: usize,
    errors: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    lessons_seen: usize,
}

async fn measure(
    address: &str,
    parent: &Parent,
    seconds: u64,
    concurrency: u64,
) -> anyhow::Result<Run> {
    let weeks = Arc::new(weeks());
    let bearer = Bearer::new(&parent.token)?;
    let mut callers = Vec::new();
    let start = Instant::now();
    let warmup = Duration::from_secs(2);
    let until = start + warmup + Duration::from_secs(seconds);
    for caller in 0..concurrency {
        let channel = Channel::from_shared(address.to_owned())?.connect().await?;
        let mut client =
            gb::diary_service_client::DiaryServiceClient::with_interceptor(channel, bearer.clone());
        let (children, weeks) = (Arc::clone(&parent.children), Arc::clone(&weeks));
        callers.push(tokio::spawn(async move {
            let mut random = XorShift(0x9E37_79B9_7F4A_7C15 ^ (caller + 1));
            let mut latencies = Vec::new();
            let (mut errors, mut lessons) = (0, 0);
            loop {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                let request = gb::GetDiaryWeekRequest {
                    student_id: children[random.below(children.len())].to_string(),
                    date: Some(weeks[random.below(weeks.len())]),
                };
                let answer = client.get_diary_week(request).await;
                let took = now.elapsed();
                if now < start + warmup {
                    continue;
                }
                match answer {
                    Ok(week) => {
                        lessons += week
                            .into_inner()
                            .days
                            .iter()
                            .map(|day| day.lessons.len())
                            .sum::<usize>();
                        latencies.push(took);
                    }
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors, lessons)
        }));
    }
    let mut run = Run {
        reads: 0,
        errors: 0,
        seconds: seconds as f64,
        latencies: Vec::new(),
        lessons_seen: 0,
    };
    for caller in callers {
        let (latencies, errors, lessons) = caller.await?;
        run.errors += errors;
        run.lessons_seen += lessons;
        run.latencies.extend(latencies);
    }
    run.reads = run.latencies.len();
    run.latencies.sort();
    Ok(run)
}

/// Reads per second and the median latency of one run.
#[derive(Debug, Clone, Copy)]
pub struct Reads {
    pub per_second: f64,
    pub p50_ms: f64,
}

/// `parent` reads diary weeks through `address` (the gradebook or anything
/// in front of it) for BENCH_SECONDS with BENCH_CONCURRENCY callers; prints
/// the figures under `way` and fails if any read failed.
pub async fn read_diary_weeks(way: &str, address: &str, parent: &Parent) -> anyhow::Result<Reads> {
    let seconds = setting("BENCH_SECONDS", 15);
    let concurrency = setting("BENCH_CONCURRENCY", 8);
    let run = measure(address, parent, seconds, concurrency).await?;
    let reads = Reads {
        per_second: run.reads as f64 / run.seconds,
        p50_ms: percentile(&run.latencies, 0.50),
    };
    println!(
        "  GetDiaryWeek {way}, {concurrency} callers, {seconds} s: {:.0} reads/s, p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms ({} reads, {} errors, {:.1} lessons a week on average)",
        reads.per_second,
        reads.p50_ms,
        percentile(&run.latencies, 0.99),
        percentile(&run.latencies, 1.0),
        run.reads,
        run.errors,
        run.lessons_seen as f64 / run.reads.max(1) as f64,
    );
    if run.errors > 0 {
        anyhow::bail!("{} reads failed", run.errors);
    }
    Ok(reads)
}
