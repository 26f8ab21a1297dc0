//! `make bench`, last: what each service holds resident, each a release
//! build in a process of its own (as a region runs them), after an evening
//! of use and a minute idle, against the budget of 30 MiB plus the state it
//! keeps in memory.
//!
//! The demo region is seeded; then the directory every replica keeps in
//! memory grows by BENCH_STUDENTS students (default 100,000), each with two
//! guardians, written into each directory service's tables as its event
//! consumer writes them (their triggers tell the memory, as in production);
//! then an evening: a burst of password logins (argon2, ~19 MiB each while
//! it runs) and parents reading diaries, inboxes and attendance through the
//! gateway for BENCH_SECONDS (default 30); then BENCH_IDLE seconds of quiet
//! (default 60). Each service's resident size is read from `/proc`, its
//! state's size from its own `/metrics` (`asurso_state_bytes`), and the
//! state's bytes per student give what a region of 800,000 costs a replica.
//!
//! Needs the release binaries beside it (`cargo build --release --bins`,
//! as `make bench` does); PostgreSQL and NATS as the tests find them.

use std::{sync::Arc, time::Duration};

use asurso_devstack::seed::{self, Bearer};
use asurso_e2e::{System, browser_login};
use asurso_proto::{
    attendance as at, common::CivilDate, gradebook as gb, identity as pb, messaging as msg,
};
use asurso_testkit::load::{self, Call, resident_mib, setting};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

/// Each service's budget beyond its state, in MiB (the line).
const BUDGET_MIB: f64 = 30.0;

/// A region's students, to read the state's cost off.
const REGION_STUDENTS: f64 = 800_000.0;

/// The services whose resident size is measured, in start order.
fn measured() -> impl Iterator<Item = &'static str> {
    asurso_devstack::SERVICES.iter().map(|service| service.name)
}

/// The services that keep the directory (and its memory).
const DIRECTORIES: [&str; 4] = ["gradebook", "attendance", "messaging", "notifications"];

/// The metrics port the bench gave `name`.
fn metrics_port(ports: &[(&str, u16)], name: &str) -> u16 {
    ports
        .iter()
        .find(|(service, _)| *service == name)
        .map_or(0, |(_, port)| *port)
}

fn civil(date: time::Date) -> Option<CivilDate> {
    Some(CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    })
}

/// The directory's state in `service` now, as its `/metrics` reports it:
/// (entries, bytes); `None` when it keeps none.
async fn state_of(http: &reqwest::Client, metrics_port: u16) -> Option<(f64, f64)> {
    let text = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let gauge = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(&format!("{name}{{state=\"directory\"}}")))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
    };
    Some((gauge("asurso_state_entries")?, gauge("asurso_state_bytes")?))
}

/// Each measured service's resident size, in MiB.
async fn resident(system: &System) -> Vec<f64> {
    let mut sizes = Vec::new();
    for name in measured() {
        sizes.push(resident_mib(system.pid(name).await));
    }
    sizes
}

fn print_sizes(label: &str, sizes: &[f64]) {
    let each: Vec<String> = measured()
        .zip(sizes)
        .map(|(name, mib)| format!("{name} {mib:.1}"))
        .collect();
    println!("  {label}: {} (MiB)", each.join(", "));
}

/// `students` students with two guardians each, in the directory tables of
/// every service that keeps them (one statement each, as a consumer that
/// applied a region's links would leave them).
async fn grow_directory(system: &System, students: u64) -> anyhow::Result<()> {
    for name in DIRECTORIES {
        let url = system
            .database_url(name)
            .ok_or_else(|| anyhow::anyhow!("{name} keeps no database"))?;
        let pool = sqlx::PgPool::connect(&url).await?;
        sqlx::query(
            "INSERT INTO guardians (parent_id, student_id) \
             SELECT gen_random_uuid(), student FROM \
             (SELECT gen_random_uuid() AS student FROM generate_series(1, $1)) s, \
             generate_series(1, 2)",
        )
        .bind(i64::try_from(students)?)
        .execute(&pool)
        .await?;
        pool.close().await;
    }
    Ok(())
}

/// A burst of password logins, `at_once` at a time, for `seconds`.
async fn logins(system: &System, at_once: u64, seconds: u64) -> anyhow::Result<load::Figures> {
    let logins: Arc<Vec<String>> = Arc::new(
        system
            .demo
            .schools
            .iter()
            .flat_map(|school| school.teachers.iter().map(|teacher| teacher.login.clone()))
            .collect(),
    );
    anyhow::ensure!(!logins.is_empty(), "the demo region has no teachers");
    let gateway = system.gateway().await?;
    let figures = load::drive(at_once, seconds, |_| -> Call {
        let (logins, gateway) = (Arc::clone(&logins), gateway.clone());
        Box::new(move |random| {
            let login = logins[usize::try_from(random % logins.len() as u64).unwrap_or(0)].clone();
            let mut client = pb::auth_service_client::AuthServiceClient::new(gateway.clone());
            Box::pin(async move {
                client
                    .login(pb::LoginRequest {
                        login,
                        password: seed::DEMO_PASSWORD.into(),
                        grant_id: String::new(),
                    })
                    .await
                    .map(drop)
                    .map_err(|status| status.to_string())
            })
        })
    })
    .await?;
    figures.print(
        &format!("password logins, {at_once} at once, {seconds} s"),
        "logins",
    );
    Ok(figures)
}

/// A parent's way in and the children it reads.
struct Reader {
    channel: InterceptedService<Channel, Bearer>,
    children: Vec<String>,
}

/// Parents reading the week's diary, their inbox and their children's
/// attendance through the gateway, `callers` at once for `seconds`.
async fn evening(system: &System, callers: u64, seconds: u64) -> anyhow::Result<load::Figures> {
    let mut readers = Vec::new();
    for family in system
        .demo
        .families
        .iter()
        .filter(|f| !f.children.is_empty())
    {
        // An unconfirmed ESIA account is refused, as it should be.
        if let Ok(token) = browser_login(system, family.oid).await {
            readers.push(Reader {
                channel: system.as_caller(&token).await?,
                children: family.children.clone(),
            });
        }
    }
    anyhow::ensure!(!readers.is_empty(), "no demo parent could log in");
    let readers = Arc::new(readers);
    let (from, to) = seed::journal_weeks(time::OffsetDateTime::now_utc().date())?;
    let figures = load::drive(callers, seconds, |_| -> Call {
        let readers = Arc::clone(&readers);
        Box::new(move |random| {
            let reader = &readers[usize::try_from(random % readers.len() as u64).unwrap_or(0)];
            let channel = reader.channel.clone();
            let child = reader.children
                [usize::try_from((random >> 16) % reader.children.len() as u64).unwrap_or(0)]
            .clone();
            let day = from + time::Duration::days(i64::try_from((random >> 32) % 19).unwrap_or(0));
            Box::pin(async move {
                let answer = match (random >> 48) % 4 {
                    0 => msg::mail_service_client::MailServiceClient::new(channel)
                        .list_messages(msg::ListMessagesRequest {
                            folder: msg::Folder::Inbox.into(),
                            ..Default::default()
                        })
                        .await
                        .map(drop),
                    1 => at::attendance_service_client::AttendanceServiceClient::new(channel)
                        .get_student_attendance(at::GetStudentAttendanceRequest {
                            student_id: child,
                            from_date: civil(from),
                            to_date: civil(to),
                        })
                        .await
                        .map(drop),
                    _ => gb::diary_service_client::DiaryServiceClient::new(channel)
                        .get_diary_week(gb::GetDiaryWeekRequest {
                            student_id: child,
                            date: civil(day.min(to)),
                        })
                        .await
                        .map(drop),
                };
                answer.map_err(|status| status.to_string())
            })
        })
    })
    .await?;
    figures.print(
        &format!(
            "parents' diaries, inboxes and attendance through the gateway, {callers} callers, {seconds} s"
        ),
        "reads",
    );
    Ok(figures)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let students = setting("BENCH_STUDENTS", 100_000);
    let seconds = setting("BENCH_SECONDS", 30);
    let idle = setting("BENCH_IDLE", 60);
    // Metrics on ports of their own, to read each service's state.
    let mut ports = Vec::new();
    let mut settings = asurso_e2e::unthrottled();
    for spec in asurso_devstack::SERVICES {
        let port = asurso_testkit::servers::free_port()?;
        ports.push((spec.name, port));
        settings.push((
            format!("{}_TELEMETRY__METRICS_PORT", spec.env_prefix),
            port.to_string(),
        ));
    }
    let system = System::start_with(3_600, settings).await?;
    let outcome = measure(&system, &ports, students, seconds, idle).await;
    system.stop().await?;
    outcome
}

async fn measure(
    system: &System,
    ports: &[(&str, u16)],
    students: u64,
    seconds: u64,
    idle: u64,
) -> anyhow::Result<()> {
    println!("resident memory, release build, each service a process of its own:");
    print_sizes("started, the demo region seeded", &resident(system).await);

    grow_directory(system, students).await?;
    let http = reqwest::Client::new();
    // Every directory's memory hears the new links; wait until each has.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for name in DIRECTORIES {
        while state_of(&http, metrics_port(ports, name))
            .await
            .is_none_or(|(entries, _)| entries < (2 * students) as f64)
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{name}'s memory did not hear {students} students' guardians in 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    print_sizes(
        &format!("{students} students with two guardians each in the directory"),
        &resident(system).await,
    );

    let login_figures = logins(system, 32, 10).await?;
    let read_figures = evening(system, 16, seconds).await?;
    for (what, figures) in [("logins", &login_figures), ("reads", &read_figures)] {
        anyhow::ensure!(
            figures.errors == 0,
            "{} {what} failed: {}",
            figures.errors,
            figures.first_error.clone().unwrap_or_default()
        );
    }
    print_sizes("right after the evening", &resident(system).await);
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let sizes = resident(system).await;
    print_sizes(&format!("after {idle} s idle"), &sizes);

    let mut over = Vec::new();
    for (name, mib) in measured().zip(&sizes) {
        let state = state_of(&http, metrics_port(ports, name)).await;
        let state_mib = state.map_or(0.0, |(_, bytes)| bytes / (1024.0 * 1024.0));
        let beyond = mib - state_mib;
        let verdict = if beyond <= BUDGET_MIB {
            "within"
        } else {
            "OVER"
        };
        match state {
            Some((entries, bytes)) => println!(
                "  {name}: {mib:.1} MiB resident = {state_mib:.1} MiB directory state \
                 ({entries:.0} guardian links, {:.0} bytes a student) + {beyond:.1} MiB, \
                 {verdict} {BUDGET_MIB:.0} MiB; {REGION_STUDENTS:.0} students: {:.0} MiB of state",
                bytes / students as f64,
                bytes / students as f64 * REGION_STUDENTS / (1024.0 * 1024.0),
            ),
            None => println!(
                "  {name}: {mib:.1} MiB resident, no state kept in memory, \
                 {verdict} {BUDGET_MIB:.0} MiB"
            ),
        }
        if beyond > BUDGET_MIB {
            over.push(name);
        }
    }
    if !over.is_empty() {
        println!("  over the budget: {}", over.join(", "));
    }
    Ok(())
}
