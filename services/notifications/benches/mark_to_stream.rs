//! `make bench`, notifications: the time from a mark posted through the
//! gateway to the parent's open `Subscribe` stream (through the same
//! gateway) receiving it, at 100 and at 1,000 marks a second.
//!
//! Identity, the gradebook, notifications and the gateway run in this
//! process on one machine. A class of 40 students, each with a parent
//! whose stream is open; the teacher posts marks in rows of 10 (one
//! `SetMarks` call per row, as a journal page saves them), on a clock, not
//! waiting for answers. A mark's time runs from the moment its call is
//! sent until its entry arrives on the parent's stream.
//!
//! Settings (environment): BENCH_SECONDS (per rate, default 10).
//! PostgreSQL and NATS as the tests find them (DATABASE_URL, NATS_URL, or
//! throw-away servers).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use asurso_gateway::{
    Application as Gateway, CONFIG as GATEWAY_CONFIG, Settings as GatewaySettings,
};
use asurso_gradebook::harness::{
    Gradebook, class, enrol, gradebook_database, load, subject, year_around,
};
use asurso_identity::harness::{Bearer, World, identity_login};
use asurso_notifications::harness::{Notifications, notifications_database};
use asurso_proto::{common::CivilDate, gradebook as gb, identity::Role, notifications as nf};
use asurso_testkit::load::{percentile, setting};
use futures::StreamExt;
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

const STUDENTS: usize = 40;
const ROW: usize = 10;

type Sent = Arc<Mutex<HashMap<Uuid, VecDeque<Instant>>>>;

async fn gateway(
    world: &World,
    gradebook: &str,
    notifications: &str,
) -> anyhow::Result<(String, asurso_testkit::Spawned)> {
    let mut settings: GatewaySettings = GATEWAY_CONFIG.load()?;
    settings.grpc.port = 0;
    settings
        .upstreams
        .insert("identity".into(), world.identity.address.clone());
    settings
        .upstreams
        .insert("gradebook".into(), gradebook.to_owned());
    settings
        .upstreams
        .insert("notifications".into(), notifications.to_owned());
    settings.limits.session_per_second = 1_000_000;
    settings.limits.session_burst = 1_000_000;
    let gateway = Gateway::build(settings).await?;
    let address = format!("http://{}", gateway.local_addr());
    let serving = asurso_testkit::spawn("gateway", |shutdown| gateway.run_until_stopped(shutdown));
    Ok((address, serving))
}

async fn through(
    gateway: &str,
    token: &str,
) -> anyhow::Result<InterceptedService<Channel, Bearer>> {
    let channel = Channel::from_shared(gateway.to_owned())?.connect().await?;
    Ok(InterceptedService::new(channel, Bearer::new(token)?))
}

/// What one rate measured.
struct Run {
    posted: usize,
    received: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    errors: usize,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    rate: usize,
    seconds: u64,
    journal: &gb::journal_service_client::JournalServiceClient<InterceptedService<Channel, Bearer>>,
    assignments: &mut VecDeque<String>,
    students: &[Uuid],
    sent: &Sent,
    latencies: &Arc<Mutex<Vec<Duration>>>,
    received: &Arc<std::sync::atomic::AtomicUsize>,
) -> anyhow::Result<Run> {
    if let Ok(mut all) = latencies.lock() {
        all.clear();
    }
    received.store(0, std::sync::atomic::Ordering::SeqCst);
    let calls_per_second = (rate / ROW).max(1);
    let calls = calls_per_second * usize::try_from(seconds)?;
    let mut ticker =
        tokio::time::interval(Duration::from_secs(1) / u32::try_from(calls_per_second)?);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(calls);
    let rows_per_assignment = STUDENTS / ROW;
    let mut current = assignments
        .pop_front()
        .ok_or_else(|| anyhow::anyhow!("out of assignments"))?;
    for call in 0..calls {
        ticker.tick().await;
        let row = call % rows_per_assignment;
        if call > 0 && row == 0 {
            current = assignments
                .pop_front()
                .ok_or_else(|| anyhow::anyhow!("out of assignments"))?;
        }
        let these = &students[row * ROW..(row + 1) * ROW];
        let now = Instant::now();
        if let Ok(mut queues) = sent.lock() {
            for student in these {
                queues.entry(*student).or_default().push_back(now);
            }
        }
        let request = gb::SetMarksRequest {
            assignment_id: current.clone(),
            marks: these
                .iter()
                .map(|student| gb::MarkEntry {
                    student_id: student.to_string(),
                    value: Some(gb::MarkValue {
                        kind: gb::MarkKind::Grade.into(),
                        grade: 5,
                    }),
                    comment: String::new(),
                })
                .collect(),
            idempotency_key: String::new(),
        };
        let mut journal = journal.clone();
        let errors = Arc::clone(&errors);
        tasks.push(tokio::spawn(async move {
            if journal.set_marks(request).await.is_err() {
                errors.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let posted_in = started.elapsed().as_secs_f64();
    let posted = calls * ROW;
    // Whatever is still on its way, for up to a minute.
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(std::sync::atomic::Ordering::SeqCst) < posted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut measured = latencies.lock().map(|all| all.clone()).unwrap_or_default();
    measured.sort();
    Ok(Run {
        posted,
        received: received.load(std::sync::atomic::Ordering::SeqCst),
        seconds: posted_in,
        latencies: measured,
        errors: errors.load(std::sync::atomic::Ordering::SeqCst),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = setting("BENCH_SECONDS", 10);
    let mut world = World::new().await?;
    let gradebook = Gradebook::start(&world, gradebook_database().await?).await?;
    let notifications = Notifications::start(&world, notifications_database().await?, None).await?;
    let (gateway, gateway_serving) =
        gateway(&world, &gradebook.address, &notifications.address).await?;
    let school = world.school_a;

    // The school: its director, the maths teacher, a class of 40 and
    // their parents, each parent's stream open through the gateway.
    let started = Instant::now();
    let mut seed = 30_000;
    let mut login = async |world: &mut World, role: Role, name: String| {
        seed += 1;
        identity_login(&world.identity, &mut world.admin, school, role, &name, seed).await
    };
    let (director, _) = login(&mut world, Role::SchoolAdmin, "bench.director".into()).await?;
    let (teacher, teacher_id) = login(&mut world, Role::Teacher, "bench.teacher".into()).await?;
    let mut students = Vec::new();
    let mut parents = Vec::new();
    for n in 0..STUDENTS {
        let (_, student) = login(&mut world, Role::Student, format!("bench.s{n}")).await?;
        let (token, parent) = login(&mut world, Role::Parent, format!("bench.p{n}")).await?;
        world
            .admin
            .people
            .link_guardian(asurso_proto::identity::LinkGuardianRequest {
                parent_id: parent.to_string(),
                student_id: student.to_string(),
            })
            .await?;
        students.push(student);
        parents.push((parent, student, token));
    }
    let mut admin = gradebook.clients(&director).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let year = year_around(&mut admin, school, today).await?;
    let class_5a = class(&mut admin, &year, "5А", 5).await?;
    let maths = subject(&mut admin, school, "Математика").await?;
    load(&mut admin, &class_5a, &maths, teacher_id).await?;
    for student in &students {
        enrol(&mut admin, &class_5a, *student).await?;
    }
    let day = if today.weekday() == time::Weekday::Sunday {
        today - time::Duration::days(1)
    } else {
        today
    };
    let lesson = admin
        .timetable
        .schedule_lesson(gb::ScheduleLessonRequest {
            class_id: class_5a.id.clone(),
            subgroup_id: String::new(),
            subject_id: maths.id.clone(),
            date: Some(CivilDate {
                year: day.year(),
                month: i32::from(u8::from(day.month())),
                day: i32::from(day.day()),
            }),
            period: 1,
            teacher_id: teacher_id.to_string(),
            room: String::new(),
        })
        .await?
        .into_inner()
        .lesson
        .ok_or_else(|| anyhow::anyhow!("no lesson"))?;
    for (parent, student, _) in &parents {
        notifications.knows_guardian(*parent, *student).await?;
        notifications
            .knows_enrolment(*student, uuid::Uuid::parse_str(&class_5a.id)?)
            .await?;
    }

    let journal =
        gb::journal_service_client::JournalServiceClient::new(through(&gateway, &teacher).await?);
    // Enough assignments for both runs, made before the clock starts.
    let needed = (100 + 1_000) * usize::try_from(seconds)? / STUDENTS + 4;
    let mut assignments = VecDeque::new();
    for n in 0..needed {
        let made = journal
            .clone()
            .create_assignment(gb::CreateAssignmentRequest {
                lesson_id: lesson.id.clone(),
                r#type: "classwork".into(),
                title: format!("Работа {n}"),
                ..Default::default()
            })
            .await?
            .into_inner()
            .assignment
            .ok_or_else(|| anyhow::anyhow!("no assignment"))?;
        assignments.push_back(made.id);
    }

    let sent: Sent = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut streams = Vec::new();
    for (_, student, token) in &parents {
        let mut feed =
            nf::feed_service_client::FeedServiceClient::new(through(&gateway, token).await?);
        let mut stream = feed
            .subscribe(nf::SubscribeRequest { after: None })
            .await?
            .into_inner();
        let (sent, latencies, received, student) = (
            Arc::clone(&sent),
            Arc::clone(&latencies),
            Arc::clone(&received),
            *student,
        );
        streams.push(tokio::spawn(async move {
            while let Some(Ok(entry)) = stream.next().await {
                if entry.kind != nf::Kind::Mark as i32 || entry.student_id != student.to_string() {
                    continue;
                }
                let at = sent
                    .lock()
                    .ok()
                    .and_then(|mut queues| queues.get_mut(&student).and_then(VecDeque::pop_front));
                if let Some(at) = at {
                    if let Ok(mut all) = latencies.lock() {
                        all.push(at.elapsed());
                    }
                    received.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }));
    }
    println!(
        "notifications: a class of {STUDENTS}, each parent's stream open through the gateway (ready in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    for rate in [100, 1_000] {
        let run = run(
            rate,
            seconds,
            &journal,
            &mut assignments,
            &students,
            &sent,
            &latencies,
            &received,
        )
        .await?;
        println!(
            "  mark posted → parent's stream at {rate}/s asked: {:.0} marks/s posted, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} of {} received, {} failed calls)",
            run.posted as f64 / run.seconds,
            percentile(&run.latencies, 0.50),
            percentile(&run.latencies, 0.99),
            percentile(&run.latencies, 1.0),
            run.received,
            run.posted,
            run.errors
        );
    }
    for stream in streams {
        stream.abort();
    }
    gateway_serving.stop().await?;
    notifications.stop().await?;
    gradebook.stop().await?;
    Ok(())
}
