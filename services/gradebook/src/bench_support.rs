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
use asurso_testkit::load::{self, Call, Figures};
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
    pub id: Uuid,
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
        use sqlx::ConnectOptions as _;
        let started = Instant::now();
        // Seeding statements run for seconds: not worth a warning each.
        let options: sqlx::postgres::PgConnectOptions = self.gradebook.db.url.parse()?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.disable_statement_logging())
            .await?;
        for number in numbers {
            seed_school(&pool, number).await?;
        }
        pool.close().await;
        Ok(started.elapsed())
    }

    /// Seeds the first school; a parent of all its children, logged in.
    pub async fn first_school(&mut self) -> anyhow::Result<Parent> {
        let took = self.seed(0..1).await?;
        println!("seeded one school in {:.1} s", took.as_secs_f64());
        self.parent_of_all(1, 1).await
    }

    /// Seeds the schools after the first up to `scale`; a parent of all
    /// their children, logged in afresh (tokens live minutes).
    pub async fn grow_to(&mut self, scale: i32) -> anyhow::Result<Parent> {
        let took = self.seed(1..scale).await?;
        println!(
            "seeded {} more schools in {:.1} s",
            scale - 1,
            took.as_secs_f64()
        );
        self.parent_of_all(scale, 2).await
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
            id: parent,
            token,
            children: Arc::new(children),
        })
    }

    /// Lets the database settle before a measurement: what seeding and
    /// warming wrote vacuumed and analysed and on disk, so no autovacuum of
    /// a million fresh rows or checkpoint of them runs during the figures
    /// of one round and not the other (a region's database is settled).
    /// Says how long it took.
    pub async fn settle(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let pool = self.pool();
        sqlx::query("VACUUM (ANALYZE)").execute(pool).await?;
        sqlx::query("CHECKPOINT").execute(pool).await?;
        println!(
            "  then VACUUM (ANALYZE) and CHECKPOINT in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Prints how the diary's read model is stored: weeks kept, a body's
    /// size as encoded and as stored (PostgreSQL compresses large values
    /// and moves them out of line, to TOAST), the table's size with its
    /// TOAST and indexes, and the server's shared buffers: whether the
    /// kept weeks fit in them or are read from the OS.
    pub async fn describe_read_model(&self) -> anyhow::Result<()> {
        let (weeks, encoded, stored, size, buffers): (i64, f64, f64, i64, String) = sqlx::query_as(
            "SELECT count(*), COALESCE(avg(octet_length(body)), 0)::float8, \
                   COALESCE(avg(pg_column_size(body)), 0)::float8, \
                   pg_total_relation_size('diary_weeks'), current_setting('shared_buffers') \
                 FROM diary_weeks",
        )
        .fetch_one(self.pool())
        .await?;
        println!(
            "  read model: {weeks} weeks kept, a body {encoded:.0} bytes encoded and {stored:.0} \
             stored, {:.0} MiB with TOAST and indexes; shared_buffers {buffers}",
            size as f64 / (1024.0 * 1024.0)
        );
        Ok(())
    }

    /// The read model's blocks read so far (its table, TOAST and indexes),
    /// from shared buffers or from the OS.
    pub async fn read_model_blocks(&self) -> anyhow::Result<Blocks> {
        Ok(sqlx::query_as(
            "SELECT COALESCE(heap_blks_hit, 0) + COALESCE(toast_blks_hit, 0) \
                      + COALESCE(idx_blks_hit, 0) + COALESCE(tidx_blks_hit, 0) AS hit, \
                    COALESCE(heap_blks_read, 0) + COALESCE(toast_blks_read, 0) \
                      + COALESCE(idx_blks_read, 0) + COALESCE(tidx_blks_read, 0) AS read, \
                    COALESCE(toast_blks_hit, 0) + COALESCE(toast_blks_read, 0) AS toast \
             FROM pg_statio_user_tables WHERE relname = 'diary_weeks'",
        )
        .fetch_optional(self.pool())
        .await?
        .unwrap_or_default())
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

/// The weeks families read of an evening (BENCH_WEEKS of them, default 4:
/// the week before, this one and the next ones of February 2027): every
/// way of reading reads the same ones.
pub fn evening_weeks() -> Vec<time::Date> {
    let first = time::macros::date!(2027 - 02 - 01);
    (0..setting("BENCH_WEEKS", 4))
        .map(|n| first + time::Duration::weeks(i64::try_from(n).unwrap_or(0)))
        .collect()
}

/// The same question the bare database answers in one statement, the
/// anchor `make bench` prints beside the gradebook: the guardian check, the
/// week's lessons with times, subject, teacher and room, each lesson's work
/// with the student's mark, the work due in the week set earlier, and the
/// files of each, as one JSON document. $1 the parent, $2 the student, $3
/// the Monday.
pub const BARE_WEEK: &str = "WITH reader AS ( \
         SELECT 1 FROM guardians WHERE parent_id = $1 AND student_id = $2 \
     ), \
     lesson AS ( \
         SELECT l.id, l.date, l.period, b.start_time, b.end_time, l.subject_id, s.name AS subject, \
                concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')) AS teacher, \
                l.room, l.status, l.cancel_reason \
         FROM lessons l \
         JOIN enrolments e ON e.class_id = l.class_id AND e.student_id = $2 \
              AND l.date >= e.start_date AND (e.end_date IS NULL OR l.date <= e.end_date) \
         JOIN classes c ON c.id = l.class_id \
         JOIN subjects s ON s.id = l.subject_id \
         LEFT JOIN bell_periods b ON b.school_year_id = c.school_year_id AND b.number = l.period \
         LEFT JOIN known_people p ON p.id = l.teacher_id \
         WHERE EXISTS (SELECT 1 FROM reader) AND l.date BETWEEN $3 AND $3 + 5 \
           AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members g \
                WHERE g.subgroup_id = l.subgroup_id AND g.student_id = $2)) \
     ), \
     work AS ( \
         SELECT a.id, a.lesson_id, a.due_date, a.title, a.body, a.weight, t.name AS type, \
                l.date AS lesson_date, s.name AS subject, m.kind, m.grade, m.comment \
         FROM assignments a \
         JOIN lessons l ON l.id = a.lesson_id \
         JOIN subjects s ON s.id = l.subject_id \
         JOIN assignment_types t ON t.code = a.type_code \
         LEFT JOIN marks m ON m.assignment_id = a.id AND m.student_id = $2 \
         WHERE a.lesson_id IN (SELECT id FROM lesson) \
         UNION ALL \
         SELECT a.id, NULL, a.due_date, a.title, a.body, a.weight, t.name, \
                l.date, s.name, m.kind, m.grade, m.comment \
         FROM assignments a \
         JOIN lessons l ON l.id = a.lesson_id \
         JOIN subjects s ON s.id = l.subject_id \
         JOIN assignment_types t ON t.code = a.type_code \
         JOIN enrolments e ON e.student_id = $2 AND e.class_id = a.class_id \
              AND l.date >= e.start_date AND (e.end_date IS NULL OR l.date <= e.end_date) \
         LEFT JOIN marks m ON m.assignment_id = a.id AND m.student_id = $2 \
         WHERE EXISTS (SELECT 1 FROM reader) AND a.due_date BETWEEN $3 AND $3 + 5 AND l.date < a.due_date \
           AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members g \
                WHERE g.subgroup_id = l.subgroup_id AND g.student_id = $2)) \
     ), \
     shown AS ( \
         SELECT w.*, (SELECT json_agg(json_build_object('id', f.id, 'name', f.file_name, \
                          'type', f.content_type, 'size', f.size)) \
                      FROM attachments f WHERE f.assignment_id = w.id) AS files \
         FROM work w \
     ) \
     SELECT json_build_object( \
         'lessons', (SELECT json_agg(json_build_object( \
             'id', l.id, 'date', l.date, 'period', l.period, 'start', l.start_time, 'end', l.end_time, \
             'subject', l.subject, 'teacher', l.teacher, 'room', l.room, 'status', l.status, \
             'cancel_reason', l.cancel_reason, \
             'assignments', (SELECT json_agg(to_json(w)) FROM shown w WHERE w.lesson_id = l.id)) \
             ORDER BY l.date, l.period) FROM lesson l), \
         'due', (SELECT json_agg(to_json(w) ORDER BY w.due_date) FROM shown w WHERE w.lesson_id IS NULL) \
     )::text";

fn pick<T: Copy>(items: &[T], random: u64) -> T {
    items[usize::try_from(random % items.len() as u64).unwrap_or(0)]
}

/// Reads every week of [`evening_weeks`] of every child once, eight at a
/// time: what an evening's first reads leave kept. How many and how long.
pub async fn warm(address: &str, parent: &Parent) -> anyhow::Result<(usize, Duration)> {
    let started = Instant::now();
    let weeks = evening_weeks();
    let pairs: Vec<(Uuid, CivilDate)> = parent
        .children
        .iter()
        .flat_map(|child| weeks.iter().map(|week| (*child, civil_date(*week))))
        .collect();
    let pairs = Arc::new(pairs);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bearer = Bearer::new(&parent.token)?;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let channel = Channel::from_shared(address.to_owned())?.connect().await?;
        let mut client =
            gb::diary_service_client::DiaryServiceClient::with_interceptor(channel, bearer.clone());
        let (pairs, next) = (Arc::clone(&pairs), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((child, week)) = pairs.get(index) else {
                    return Ok::<_, tonic::Status>(());
                };
                client
                    .get_diary_week(gb::GetDiaryWeekRequest {
                        student_id: child.to_string(),
                        date: Some(*week),
                    })
                    .await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((pairs.len(), started.elapsed()))
}

/// Blocks of the read model's relations PostgreSQL read: from its shared
/// buffers (`hit`) or from the OS (`read`), and how many of either were
/// TOAST's.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct Blocks {
    pub hit: i64,
    pub read: i64,
    pub toast: i64,
}

impl Blocks {
    /// One line of what was read between `before` and this, per `reads`
    /// (every read made in between, warm-ups too).
    pub fn since(&self, before: &Self, reads: usize) -> String {
        let (hit, read, toast) = (
            self.hit - before.hit,
            self.read - before.read,
            self.toast - before.toast,
        );
        let per = |blocks: i64| blocks as f64 / reads.max(1) as f64;
        format!(
            "read model blocks a read: {:.2} from shared buffers, {:.2} from the OS \
             ({:.2} of them TOAST's)",
            per(hit),
            per(read),
            per(toast)
        )
    }
}

/// How the callers of a run call: each again as soon as answered (a
/// closed loop, as fast as the system goes), or each once every interval
/// on average, at random moments (people reading at their pace).
#[derive(Debug, Clone, Copy)]
pub enum Callers {
    Closed(u64),
    Paced(u64, Duration),
}

impl Callers {
    fn count(self) -> u64 {
        match self {
            Self::Closed(count) | Self::Paced(count, _) => count,
        }
    }

    async fn drive(self, seconds: u64, caller: impl FnMut(u64) -> Call) -> anyhow::Result<Figures> {
        match self {
            Self::Closed(count) => load::drive(count, seconds, caller).await,
            Self::Paced(count, every) => load::drive_paced(count, seconds, every, caller).await,
        }
    }
}

impl std::fmt::Display for Callers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed(count) => write!(f, "{count} callers"),
            Self::Paced(count, every) => write!(
                f,
                "{count} callers at their pace, each every {} ms on average ({:.0}/s offered)",
                every.as_millis(),
                *count as f64 / every.as_secs_f64()
            ),
        }
    }
}

/// What a family's app reads in the benches.
#[derive(Debug, Clone, Copy)]
pub enum FamilyRead {
    /// GetDiaryWeek of an evening week.
    DiaryWeek,
    /// GetStudentReport over the four weeks before an evening week.
    MarksReport,
}

/// `parent` reads random evening weeks of random children through
/// `address` (the gradebook or anything in front of it) with `callers`
/// for BENCH_SECONDS; prints the figures under `way` and fails if any read
/// failed.
pub async fn read_diary_weeks(
    way: &str,
    address: &str,
    parent: &Parent,
    callers: Callers,
) -> anyhow::Result<Figures> {
    read_as_family(FamilyRead::DiaryWeek, way, address, parent, callers).await
}

/// `parent` makes `read`s of random children at random evening weeks
/// through `address` with `callers` for BENCH_SECONDS; prints the figures
/// under `way` and fails if any read failed.
pub async fn read_as_family(
    read: FamilyRead,
    way: &str,
    address: &str,
    parent: &Parent,
    callers: Callers,
) -> anyhow::Result<Figures> {
    let concurrency = callers.count();
    let seconds = setting("BENCH_SECONDS", 15);
    let weeks = Arc::new(evening_weeks());
    let bearer = Bearer::new(&parent.token)?;
    let mut channels = Vec::new();
    for _ in 0..concurrency {
        channels.push(Channel::from_shared(address.to_owned())?.connect().await?);
    }
    let channels = std::sync::Mutex::new(channels);
    let figures = callers
        .drive(seconds, |_| -> Call {
            let channel = channels.lock().ok().and_then(|mut channels| channels.pop());
            let (children, weeks, bearer) = (
                Arc::clone(&parent.children),
                Arc::clone(&weeks),
                bearer.clone(),
            );
            Box::new(move |random| {
                let (channel, bearer) = (channel.clone(), bearer.clone());
                let student = pick(&children, random).to_string();
                let monday = pick(&weeks, random >> 24);
                Box::pin(async move {
                    let channel = channel.ok_or("no channel")?;
                    match read {
                        FamilyRead::DiaryWeek => {
                            gb::diary_service_client::DiaryServiceClient::with_interceptor(
                                channel, bearer,
                            )
                            .get_diary_week(gb::GetDiaryWeekRequest {
                                student_id: student,
                                date: Some(civil_date(monday)),
                            })
                            .await
                            .map(drop)
                        }
                        FamilyRead::MarksReport => {
                            gb::report_service_client::ReportServiceClient::with_interceptor(
                                channel, bearer,
                            )
                            .get_student_report(gb::GetStudentReportRequest {
                                student_id: student,
                                from_date: Some(civil_date(monday - time::Duration::weeks(4))),
                                to_date: Some(civil_date(monday)),
                            })
                            .await
                            .map(drop)
                        }
                    }
                    .map_err(|status| status.to_string())
                })
            })
        })
        .await?;
    let what = match read {
        FamilyRead::DiaryWeek => "GetDiaryWeek",
        FamilyRead::MarksReport => "GetStudentReport (four weeks)",
    };
    figures.print(&format!("{what} {way}, {callers}, {seconds} s"), "reads");
    if figures.errors > 0 {
        anyhow::bail!(
            "{} reads failed: {}",
            figures.errors,
            figures.first_error.unwrap_or_default()
        );
    }
    Ok(figures)
}

/// The bare database answering the same reads with [`BARE_WEEK`], on as
/// many connections as callers (at most 64), for BENCH_SECONDS.
pub async fn read_bare(
    database: &str,
    parent: &Parent,
    callers: Callers,
) -> anyhow::Result<Figures> {
    let seconds = setting("BENCH_SECONDS", 15);
    let concurrency = callers.count();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(u32::try_from(concurrency.min(64))?)
        .connect(database)
        .await?;
    let weeks = Arc::new(evening_weeks());
    let figures = callers
        .drive(seconds, |_| -> Call {
            let (pool, children, weeks, parent) = (
                pool.clone(),
                Arc::clone(&parent.children),
                Arc::clone(&weeks),
                parent.id,
            );
            Box::new(move |random| {
                let pool = pool.clone();
                let student = pick(&children, random);
                let monday = pick(&weeks, random >> 24);
                Box::pin(async move {
                    let answer: Option<String> = sqlx::query_scalar(BARE_WEEK)
                        .bind(parent)
                        .bind(student)
                        .bind(monday)
                        .fetch_one(&pool)
                        .await
                        .map_err(|error| error.to_string())?;
                    answer.map(|_| ()).ok_or_else(|| "no answer".to_owned())
                })
            })
        })
        .await?;
    figures.print(
        &format!("the bare database, one statement, {callers}, {seconds} s"),
        "reads",
    );
    pool.close().await;
    if figures.errors > 0 {
        anyhow::bail!(
            "{} bare reads failed: {}",
            figures.errors,
            figures.first_error.unwrap_or_default()
        );
    }
    Ok(figures)
}
