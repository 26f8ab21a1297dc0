//! Notifications end to end, every service a process of its own, every
//! call through the gateway: a parent's open Subscribe stream (gRPC, and
//! gRPC-Web as a browser speaks it) receives the mark a teacher posts; and
//! the notifications process killed with SIGKILL in the middle of 5,000
//! marks leaves every feed with exactly the entries it should have.

use std::{collections::HashMap, time::Duration};

use asurso_e2e::{System, browser_login, login, past_lesson};
use asurso_proto::{gradebook as gb, notifications as nf};
use futures::StreamExt;
use prost::Message;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// The development ESIA's parent of two children in two schools.
const KUZNETSOVA: &str = "1000000003";

/// Waits until `count` of the notifications database stops moving (the
/// service has caught up with what was published before).
async fn settled(db: &mut PgConnection, query: &'static str) -> anyhow::Result<i64> {
    let mut last = -1;
    let mut steady = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let now: i64 = sqlx::query_scalar(query).fetch_one(&mut *db).await?;
        if now == last {
            steady += 1;
            if steady >= 4 {
                return Ok(now);
            }
        } else {
            steady = 0;
            last = now;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The gRPC-Web frames in `bytes` that are data, decoded.
fn web_entries(bytes: &[u8]) -> Vec<nf::FeedEntry> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let flag = rest[0];
        let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if rest.len() < 5 + length {
            break;
        }
        if flag == 0
            && let Ok(entry) = nf::FeedEntry::decode(&rest[5..5 + length])
        {
            entries.push(entry);
        }
        rest = &rest[5 + length..];
    }
    entries
}

/// The notifications service's own database (to count what it keeps).
fn notifications_database(system: &System) -> anyhow::Result<String> {
    system
        .database_url("notifications")
        .ok_or_else(|| anyhow::anyhow!("no notifications database"))
}

#[tokio::test]
async fn a_parents_open_stream_receives_the_mark_a_teacher_posts() -> anyhow::Result<()> {
    let system = System::start(600).await?;
    let demo = system.demo.clone();
    let kuznetsova = demo.family(KUZNETSOVA)?;
    let child = kuznetsova.children[0].clone();
    let (school, class) = demo.class_of(&child)?;
    let parent = browser_login(&system, KUZNETSOVA).await?;

    // What the seed's marks gave her has arrived; the streams open after it.
    let mut feed =
        nf::feed_service_client::FeedServiceClient::new(system.as_caller(&parent).await?);
    let mut db = PgConnection::connect(&notifications_database(&system)?).await?;
    settled(&mut db, "SELECT count(*) FROM notifications").await?;
    let cursor = feed
        .list_feed(nf::ListFeedRequest::default())
        .await?
        .into_inner()
        .cursor;
    let mut stream = feed
        .subscribe(nf::SubscribeRequest {
            after: Some(cursor),
        })
        .await?
        .into_inner();
    // The browser's way: gRPC-Web over HTTP/1.1.
    let web = reqwest::Client::builder()
        .http1_only()
        .build()?
        .post(format!(
            "{}/asurso.notifications.v1.FeedService/Subscribe",
            system.layout.gateway_url()
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", format!("Bearer {parent}"))
        .body(asurso_testkit::wire::frame(
            &nf::SubscribeRequest {
                after: Some(cursor),
            }
            .encode_to_vec(),
        ))
        .send()
        .await?;
    anyhow::ensure!(web.status().is_success(), "gRPC-Web: {}", web.status());

    // The class's teacher gives her child a 2.
    let teacher = school
        .teachers
        .iter()
        .find(|teacher| teacher.subject == "Математика")
        .unwrap_or(&school.teachers[0]);
    let (teacher_token, _) = login(&system, &teacher.login).await?;
    let lesson = past_lesson(&system, &teacher_token, &teacher.person_id, &class.id).await?;
    let mut journal = gb::journal_service_client::JournalServiceClient::new(
        system.as_caller(&teacher_token).await?,
    );
    let assignment = journal
        .create_assignment(gb::CreateAssignmentRequest {
            lesson_id: lesson.id.clone(),
            r#type: "classwork".into(),
            title: "Самостоятельная (уведомления)".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .assignment
        .ok_or_else(|| anyhow::anyhow!("no assignment"))?;
    journal
        .set_marks(gb::SetMarksRequest {
            assignment_id: assignment.id.clone(),
            marks: vec![gb::MarkEntry {
                student_id: child.clone(),
                value: Some(gb::MarkValue {
                    kind: gb::MarkKind::Grade.into(),
                    grade: 2,
                }),
                comment: String::new(),
            }],
            idempotency_key: String::new(),
        })
        .await?;

    let entry = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the stream ended"))??;
    assert_eq!(entry.kind, nf::Kind::Mark as i32);
    assert_eq!(entry.student_id, child);
    assert!(entry.body.contains(": 2 по предмету"), "{}", entry.body);
    assert!(entry.cursor > cursor);

    let mut web = web;
    let mut bytes = Vec::new();
    let web_entry = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(found) = web_entries(&bytes).into_iter().next() {
                return Ok::<_, anyhow::Error>(found);
            }
            match web.chunk().await? {
                Some(chunk) => bytes.extend_from_slice(&chunk),
                None => anyhow::bail!("the gRPC-Web stream ended"),
            }
        }
    })
    .await??;
    assert_eq!(web_entry.id, entry.id, "the same entry both ways");
    system.stop().await
}

#[tokio::test]
async fn killed_in_the_middle_of_5000_marks_every_feed_holds_each_once() -> anyhow::Result<()> {
    // One teacher posts as fast as the gateway lets a busy session.
    let system = System::start_with(
        600,
        vec![
            ("GATEWAY_LIMITS__SESSION_PER_SECOND".into(), "100000".into()),
            ("GATEWAY_LIMITS__SESSION_BURST".into(), "100000".into()),
        ],
    )
    .await?;
    let demo = system.demo.clone();
    let mut db = PgConnection::connect(&notifications_database(&system)?).await?;
    const MARKS_GIVEN: &str = "SELECT count(*) FROM notifications WHERE kind = 'mark'";
    settled(&mut db, MARKS_GIVEN).await?;
    let before: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT person_id, count(*) FROM notifications WHERE kind = 'mark' GROUP BY person_id",
    )
    .fetch_all(&mut db)
    .await?
    .into_iter()
    .collect();

    // 5,000 marks through the gateway: one class's teacher, a column of
    // marks per assignment, eight requests at a time.
    let school = &demo.schools[0];
    let class = &school.classes[0];
    let teacher = &school.teachers[0];
    let (teacher_token, _) = login(&system, &teacher.login).await?;
    let lesson = past_lesson(&system, &teacher_token, &teacher.person_id, &class.id).await?;
    let students: Vec<String> = class.students.iter().map(|(id, _)| id.clone()).collect();
    let mut columns: Vec<Vec<gb::MarkEntry>> = Vec::new();
    let mut posted: HashMap<String, i64> = HashMap::new();
    let mut total = 0;
    while total < 5_000 {
        let column = columns.len();
        let marks: Vec<gb::MarkEntry> = students
            .iter()
            .take(5_000 - total)
            .enumerate()
            .map(|(n, student)| gb::MarkEntry {
                student_id: student.clone(),
                value: Some(gb::MarkValue {
                    kind: gb::MarkKind::Grade.into(),
                    grade: i32::try_from(2 + (n + column) % 4).unwrap_or(5),
                }),
                comment: String::new(),
            })
            .collect();
        for mark in &marks {
            *posted.entry(mark.student_id.clone()).or_default() += 1;
        }
        total += marks.len();
        columns.push(marks);
    }
    let journal = gb::journal_service_client::JournalServiceClient::new(
        system.as_caller(&teacher_token).await?,
    );
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let posting = futures::stream::iter(columns.into_iter().enumerate())
        .map(|(column, marks)| {
            let mut journal = journal.clone();
            let lesson = lesson.id.clone();
            let done = std::sync::Arc::clone(&done);
            async move {
                let assignment = journal
                    .create_assignment(gb::CreateAssignmentRequest {
                        lesson_id: lesson,
                        r#type: "classwork".into(),
                        title: format!("Срез {column}"),
                        idempotency_key: format!("crash-{column}"),
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .assignment
                    .ok_or_else(|| anyhow::anyhow!("no assignment"))?;
                let count = marks.len();
                journal
                    .set_marks(gb::SetMarksRequest {
                        assignment_id: assignment.id,
                        marks,
                        idempotency_key: format!("crash-marks-{column}"),
                    })
                    .await?;
                done.fetch_add(count, std::sync::atomic::Ordering::SeqCst);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    // Half way, while it is busy with what came before: SIGKILL.
    let killing = async {
        while done.load(std::sync::atomic::Ordering::SeqCst) < 2_500 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = system
            .pid("notifications")
            .await
            .ok_or_else(|| anyhow::anyhow!("notifications is not running"))?;
        let status = tokio::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -KILL {pid}");
        anyhow::Ok(pid)
    };
    let (results, killed) = tokio::join!(posting, killing);
    for result in results {
        result?;
    }
    let killed = killed?;
    let given: i64 = sqlx::query_scalar(MARKS_GIVEN).fetch_one(&mut db).await?;
    eprintln!(
        "killed notifications ({killed}) half way; {given} mark entries when all were posted"
    );

    // The supervisor starts it again; it catches up. Each student and each
    // of their guardians has one entry more per mark: none lost, none twice.
    let guardians: Vec<(Uuid, Uuid)> =
        sqlx::query_as("SELECT parent_id, student_id FROM guardians")
            .fetch_all(&mut db)
            .await?;
    let mut expected: HashMap<Uuid, i64> = before.clone();
    for (student, count) in &posted {
        let student = Uuid::parse_str(student)?;
        *expected.entry(student).or_default() += count;
        for (parent, _) in guardians.iter().filter(|(_, child)| *child == student) {
            *expected.entry(*parent).or_default() += count;
        }
    }
    let want: i64 = expected.values().sum();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let now: i64 = sqlx::query_scalar(MARKS_GIVEN).fetch_one(&mut db).await?;
        if now >= want {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{now} mark entries, {want} expected"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT person_id, count(*) FROM notifications WHERE kind = 'mark' GROUP BY person_id",
    )
    .fetch_all(&mut db)
    .await?
    .into_iter()
    .collect();
    let mut wrong = Vec::new();
    for (person, count) in &expected {
        let got = after.get(person).copied().unwrap_or(0);
        if got != *count {
            wrong.push(format!("{person}: {got} entries, {count} expected"));
        }
    }
    for person in after.keys().filter(|person| !expected.contains_key(person)) {
        wrong.push(format!("{person}: entries for someone no mark concerns"));
    }
    assert!(wrong.is_empty(), "feeds after the crash: {wrong:?}");
    // Cursors stay a strict order per feed: no two entries share one.
    let shared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT person_id, cursor FROM notifications \
         GROUP BY person_id, cursor HAVING count(*) > 1) AS twice",
    )
    .fetch_one(&mut db)
    .await?;
    assert_eq!(shared, 0);
    db.close().await?;
    system.stop().await
}
