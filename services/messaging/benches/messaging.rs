//! `make bench`, messaging: listing an inbox of 10,000 letters (a page of
//! 50, and a search in it), a region's board of 10,000 announcements, and
//! sending one letter to a whole school of 2,010 students (67 classes of
//! 30, addressed as 67 class groups), each with p50 and p99.
//!
//! The data is written straight into messaging's tables with set-based SQL
//! (what identity's and the gradebook's events would have projected, and
//! what senders would have sent): beside the parent's 10,000 letters, 200
//! other people hold 50,000 more, and 10,000 announcements of other schools
//! are on nobody's board here. The calls go through the gRPC API with
//! tokens identity issued.
//!
//! Settings (environment): BENCH_SECONDS (per run, default 15),
//! BENCH_CONCURRENCY (callers at once for reads, default 8; sends run with
//! 2). PostgreSQL and NATS as the tests find them (DATABASE_URL, NATS_URL,
//! or throw-away servers).

use std::sync::Arc;

use asurso_identity::harness::{World, identity_login};
use asurso_messaging::harness::{Clients, Messaging, messaging_database};
use asurso_proto::{identity::Role, messaging as pb};
use asurso_testkit::load::{Call, Figures, drive, setting};
use sqlx::PgPool;
use uuid::Uuid;

/// Statements that generate the data, given the school $1, the region $2,
/// the parent $3 and the teacher $4.
const SEED: &[&str] = &[
    // 67 classes of 30 students at the school, each a person with a
    // student grant and a current enrolment.
    "INSERT INTO classes (id, school_id, school_year_id, name) \
     SELECT md5('class-' || c)::uuid, $1, md5('year')::uuid, (c / 6 + 1) || '-' || c \
     FROM generate_series(0, 66) c",
    "INSERT INTO known_people (id, last_name, first_name) \
     SELECT md5('student-' || c || '-' || s)::uuid, 'Ученик ' || s, 'Класс ' || c \
     FROM generate_series(0, 66) c, generate_series(0, 29) s",
    "INSERT INTO known_grants (id, person_id, role, org_unit_id) \
     SELECT md5('grant-' || c || '-' || s)::uuid, md5('student-' || c || '-' || s)::uuid, 'student', $1 \
     FROM generate_series(0, 66) c, generate_series(0, 29) s",
    "INSERT INTO enrolments (id, class_id, student_id, start_date) \
     SELECT md5('enrolment-' || c || '-' || s)::uuid, md5('class-' || c)::uuid, \
            md5('student-' || c || '-' || s)::uuid, current_date - 100 \
     FROM generate_series(0, 66) c, generate_series(0, 29) s",
    // The parent's 10,000 letters from the teacher over a year, a third
    // unread; 50,000 more between 200 other people.
    "INSERT INTO messages (id, thread_id, sender_id, region_id, org_unit_id, subject, body, format, sent_at, recipient_count) \
     SELECT md5('letter-' || n)::uuid, md5('letter-' || n)::uuid, $4, $2, $1, \
            (ARRAY['Собрание', 'Экскурсия', 'Оценки за четверть', 'Дежурство', 'Олимпиада'])[1 + n % 5] || ' № ' || n, \
            'Уважаемые родители! Письмо номер ' || n || ' о школьной жизни.', 'plain', \
            now() - make_interval(mins => n * 50), 1 \
     FROM generate_series(1, 10000) n",
    "INSERT INTO recipients (message_id, person_id, kind) \
     SELECT md5('letter-' || n)::uuid, $3, 'to' FROM generate_series(1, 10000) n",
    "INSERT INTO mailbox (owner_id, message_id, folder, read, sort_at) \
     SELECT $3, md5('letter-' || n)::uuid, 'inbox', n % 3 <> 0, now() - make_interval(mins => n * 50) \
     FROM generate_series(1, 10000) n \
     UNION ALL SELECT $4, md5('letter-' || n)::uuid, 'sent', true, now() - make_interval(mins => n * 50) \
     FROM generate_series(1, 10000) n",
    "INSERT INTO messages (id, thread_id, sender_id, region_id, org_unit_id, subject, body, format, sent_at, recipient_count) \
     SELECT md5('other-' || n)::uuid, md5('other-' || n)::uuid, md5('person-' || (n % 200))::uuid, $2, $1, \
            'Письмо ' || n, 'Текст письма ' || n, 'plain', now() - make_interval(mins => n * 10), 1 \
     FROM generate_series(1, 50000) n",
    "INSERT INTO mailbox (owner_id, message_id, folder, read, sort_at) \
     SELECT md5('person-' || ((n + 1) % 200))::uuid, md5('other-' || n)::uuid, 'inbox', false, \
            now() - make_interval(mins => n * 10) \
     FROM generate_series(1, 50000) n",
    // 10,000 announcements to the region over a year, 10,000 to other
    // schools.
    "INSERT INTO announcements (id, audience_id, audience_kind, audience_name, region_id, author_id, \
         author_role, title, body, format, visible_from, pinned) \
     SELECT md5('announcement-' || n)::uuid, $2, 'region', 'Область', $2, $4, 'region_admin', \
            'Объявление ' || n, 'Текст объявления ' || n, 'plain', now() - make_interval(mins => n * 50), n % 1000 = 0 \
     FROM generate_series(1, 10000) n",
    "INSERT INTO announcements (id, audience_id, audience_kind, audience_name, region_id, author_id, \
         author_role, title, body, format, visible_from, pinned) \
     SELECT md5('elsewhere-' || n)::uuid, md5('school-' || (n % 500))::uuid, 'school', 'Школа', $2, $4, \
            'school_admin', 'Чужое ' || n, 'Текст', 'plain', now() - make_interval(mins => n * 50), false \
     FROM generate_series(1, 10000) n",
    // Staff write as much as a bench asks.
    "INSERT INTO mail_rules (region_id, staff_messages_per_hour) VALUES ($2, 10000)",
];

async fn seed(pool: &PgPool, world: &World, parent: Uuid, teacher: Uuid) -> anyhow::Result<()> {
    let mut transaction = pool.begin().await?;
    for statement in SEED {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .bind(world.school_a)
            .bind(world.region)
            .bind(parent)
            .bind(teacher)
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    sqlx::query("ANALYZE").execute(pool).await?;
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

/// Reads with `make(client, random)` from `callers` callers.
async fn reads<F>(clients: &Clients, callers: u64, label: &str, make: F) -> anyhow::Result<()>
where
    F: Fn(
            Clients,
            u64,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync
        + 'static,
{
    let make = Arc::new(make);
    let figures = drive(callers, setting("BENCH_SECONDS", 15), |_| -> Call {
        let (clients, make) = (clients.clone(), Arc::clone(&make));
        Box::new(move |random| make(clients.clone(), random))
    })
    .await?;
    figures.print(label, "calls");
    bail_on_errors(&figures, label)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let messaging = Messaging::start(&world, messaging_database().await?).await?;
    let (teacher_token, teacher) = identity_login(
        &world.identity,
        &mut world.admin_a,
        world.school_a,
        Role::SchoolAdmin,
        "bench.director",
        911,
    )
    .await?;
    let (parent_token, parent) = identity_login(
        &world.identity,
        &mut world.admin_a,
        world.school_a,
        Role::Parent,
        "bench.parent",
        912,
    )
    .await?;
    messaging.knows(teacher).await?;
    messaging.knows(parent).await?;
    let pool = messaging.db.pool.clone();
    seed(&pool, &world, parent, teacher).await?;
    let (messages, mailbox, announcements): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM mailbox), \
                (SELECT count(*) FROM announcements)",
    )
    .fetch_one(&pool)
    .await?;
    println!("{messages} letters, {mailbox} mailbox copies, {announcements} announcements");
    let parent_clients = messaging.clients(&parent_token).await?;
    let teacher_clients = messaging.clients(&teacher_token).await?;
    let callers = setting("BENCH_CONCURRENCY", 8);

    reads(
        &parent_clients,
        callers,
        "ListMessages, inbox of 10,000, first page of 50",
        |mut clients, _| {
            Box::pin(async move {
                clients
                    .mail
                    .list_messages(pb::ListMessagesRequest::default())
                    .await
                    .map(|_| ())
                    .map_err(|status| status.to_string())
            })
        },
    )
    .await?;
    // A page deep in the inbox: the cursor of the letter number N.
    let tokens: Arc<Vec<String>> = Arc::new(
        sqlx::query_as::<_, (time::OffsetDateTime, Uuid)>(
            "SELECT sort_at, message_id FROM mailbox WHERE owner_id = $1 AND folder = 'inbox' \
             ORDER BY sort_at DESC LIMIT 9950",
        )
        .bind(parent)
        .fetch_all(&pool)
        .await?
        .into_iter()
        .map(|(at, id)| {
            asurso_messaging::domain::Cursor {
                at,
                id,
                pinned: false,
            }
            .token()
        })
        .collect(),
    );
    reads(
        &parent_clients,
        callers,
        "ListMessages, inbox of 10,000, a page anywhere",
        move |mut clients, random| {
            let token = tokens[(random as usize) % tokens.len()].clone();
            Box::pin(async move {
                clients
                    .mail
                    .list_messages(pb::ListMessagesRequest {
                        page: Some(asurso_proto::common::PageRequest {
                            page_size: 50,
                            page_token: token,
                        }),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(|status| status.to_string())
            })
        },
    )
    .await?;
    reads(
        &parent_clients,
        callers,
        "ListMessages, search in an inbox of 10,000",
        |mut clients, random| {
            let word =
                ["собрания", "экскурсии", "оценка", "дежурный", "олимпиаду"][(random % 5) as usize];
            Box::pin(async move {
                clients
                    .mail
                    .list_messages(pb::ListMessagesRequest {
                        query: word.to_owned(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(|status| status.to_string())
            })
        },
    )
    .await?;
    reads(
        &parent_clients,
        callers,
        "ListAnnouncements, region board of 10,000",
        |mut clients, _| {
            Box::pin(async move {
                clients
                    .board
                    .list_announcements(pb::ListAnnouncementsRequest::default())
                    .await
                    .map(|_| ())
                    .map_err(|status| status.to_string())
            })
        },
    )
    .await?;

    let classes: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM classes WHERE school_id = $1 ORDER BY name")
            .bind(world.school_a)
            .fetch_all(&pool)
            .await?;
    let whole_school: Vec<pb::Address> = classes
        .iter()
        .map(|class| pb::Address {
            target: Some(pb::address::Target::Group(pb::Group {
                kind: pb::GroupKind::ClassStudents.into(),
                class_id: class.to_string(),
                ..Default::default()
            })),
        })
        .collect();
    let whole_school = Arc::new(whole_school);
    reads(
        &teacher_clients,
        2,
        "SendMessage to 2,010 students (67 class groups)",
        move |mut clients, _| {
            let to = (*whole_school).clone();
            Box::pin(async move {
                let sent = clients
                    .mail
                    .send_message(pb::SendMessageRequest {
                        to,
                        subject: "Всем ученикам".into(),
                        text: "Завтра линейка в 8:30.".into(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|status| status.to_string())?
                    .into_inner();
                if sent.delivered_to == 2010 {
                    Ok(())
                } else {
                    Err(format!("delivered to {}", sent.delivered_to))
                }
            })
        },
    )
    .await?;
    let (outbox,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await?;
    println!("{outbox} delivery events in the outbox");

    messaging.stop().await?;
    world.identity.stop().await
}
