//! The feed: who hears of what, the live stream and its cursor, read marks.

use std::time::Duration;

use asurso_proto::notifications as nf;
use futures::StreamExt;
use tonic::Code;

use crate::support::{School, feed, feed_of, school_day, violated_fields};

#[tokio::test]
async fn a_mark_reaches_the_student_and_each_guardian_and_nobody_else() -> anyhow::Result<()> {
    let mut school = School::start("nf-reach", false).await?;
    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 1).await?;
    let ivanov = school.ivanovs.student.id;
    school.marks(&lesson, &[(ivanov, 5)]).await?;

    let parent = feed_of(&mut school.ivanovs.parent, 1).await?;
    let student = feed_of(&mut school.ivanovs.student, 1).await?;
    assert_eq!(parent.len(), 1);
    assert_eq!(student.len(), 1);
    let entry = &parent[0];
    assert_eq!(entry.kind, nf::Kind::Mark as i32);
    assert_eq!(entry.title, "Новая оценка");
    assert!(
        entry.body.contains(": 5 по предмету «Математика»"),
        "{}",
        entry.body
    );
    assert_eq!(entry.student_id, ivanov.to_string());
    assert!(entry.link.starts_with(&format!("/diary?student={ivanov}")));
    assert!(!entry.read);
    assert_ne!(
        entry.id, student[0].id,
        "each person has an entry of their own"
    );

    // A later mark of the Petrovs' child: once it has arrived, the
    // Ivanovs' was handled long before (one consumer, in order).
    let petrov = school.petrovs.student.id;
    school.marks(&lesson, &[(petrov, 4)]).await?;
    let petrovs = feed_of(&mut school.petrovs.parent, 1).await?;
    assert_eq!(petrovs.len(), 1, "the Petrovs hear only of their own child");
    assert!(
        petrovs[0].body.contains(": 4 по предмету"),
        "{}",
        petrovs[0].body
    );
    assert!(!petrovs[0].body.contains(&parent[0].body));
    assert!(
        feed(&mut school.sidorovs.parent).await?.is_empty(),
        "another class's family"
    );
    assert!(feed(&mut school.sidorovs.student).await?.is_empty());
    assert!(
        feed(&mut school.teacher).await?.is_empty(),
        "the teacher who posted it"
    );
    assert_eq!(
        feed(&mut school.ivanovs.parent).await?.len(),
        1,
        "nothing of the Petrovs"
    );
    Ok(())
}

#[tokio::test]
async fn homework_reaches_the_families_of_its_class_only() -> anyhow::Result<()> {
    let mut school = School::start("nf-homework", false).await?;
    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 2).await?;
    school
        .teacher_gb
        .journal
        .create_assignment(asurso_proto::gradebook::CreateAssignmentRequest {
            lesson_id: lesson.id.clone(),
            r#type: "homework".into(),
            weight: 0,
            due_date: Some(crate::support::civil(
                school_day() + time::Duration::days(7),
            )),
            title: "№ 301–305".into(),
            text: String::new(),
            idempotency_key: String::new(),
        })
        .await?;
    for person in [
        &mut school.ivanovs.parent,
        &mut school.ivanovs.student,
        &mut school.petrovs.parent,
        &mut school.petrovs.student,
    ] {
        let entries = feed_of(person, 1).await?;
        assert_eq!(entries[0].kind, nf::Kind::Homework as i32);
        assert!(
            entries[0].body.starts_with("Математика: № 301–305, срок"),
            "{}",
            entries[0].body
        );
    }
    assert!(
        feed(&mut school.sidorovs.parent).await?.is_empty(),
        "5Б has no such homework"
    );
    Ok(())
}

#[tokio::test]
async fn subscribe_streams_from_a_cursor_missing_nothing_across_reconnects() -> anyhow::Result<()> {
    let mut school = School::start("nf-stream", false).await?;
    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 3).await?;
    let child = school.ivanovs.student.id;

    // Open before anything happened: only what comes.
    let mut stream = school
        .ivanovs
        .parent
        .n
        .feed
        .subscribe(nf::SubscribeRequest { after: None })
        .await?
        .into_inner();
    let first = school.marks(&lesson, &[(child, 5)]).await?;
    let second = school.marks(&lesson, &[(child, 4)]).await?;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let entry = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the stream ended"))??;
        seen.push(entry);
    }
    assert!(seen[0].cursor < seen[1].cursor, "in cursor order");
    assert!(seen[0].body.contains(": 5 "), "{}", seen[0].body);
    assert!(seen[1].body.contains(": 4 "), "{}", seen[1].body);
    let last = seen[1].cursor;
    drop(stream);

    // While the parent is away, two more; and a change of the first.
    school.marks(&lesson, &[(child, 3)]).await?;
    school.set_marks(&first, &[(child, 2)]).await?;
    let _ = second;
    feed_of(&mut school.ivanovs.parent, 4).await?;

    let mut resumed = school
        .ivanovs
        .parent
        .n
        .feed
        .subscribe(nf::SubscribeRequest { after: Some(last) })
        .await?
        .into_inner();
    let mut missed = Vec::new();
    while missed.len() < 2 {
        let entry = tokio::time::timeout(Duration::from_secs(20), resumed.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the stream ended"))??;
        missed.push(entry);
    }
    assert!(
        missed.iter().all(|entry| entry.cursor > last),
        "nothing seen before"
    );
    assert_eq!(missed[0].title, "Новая оценка");
    assert_eq!(missed[1].title, "Оценка исправлена");
    assert!(missed[1].body.contains("5 → 2"), "{}", missed[1].body);
    // Nothing else is waiting.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), resumed.next())
            .await
            .is_err(),
        "a repeat came through the stream"
    );
    Ok(())
}

#[tokio::test]
async fn read_marks_and_unread_counts_are_the_callers_own() -> anyhow::Result<()> {
    let mut school = School::start("nf-read", false).await?;
    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 4).await?;
    let child = school.ivanovs.student.id;
    school.marks(&lesson, &[(child, 5)]).await?;
    school.marks(&lesson, &[(child, 3)]).await?;
    let entries = feed_of(&mut school.ivanovs.parent, 2).await?;
    let page = school
        .ivanovs
        .parent
        .n
        .feed
        .list_feed(nf::ListFeedRequest {
            page: Some(asurso_proto::common::PageRequest {
                page_size: 1,
                page_token: String::new(),
            }),
            unread_only: false,
        })
        .await?
        .into_inner();
    assert_eq!(page.unread_count, 2);
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].id, entries[0].id, "newest first");
    assert_eq!(page.cursor, entries[0].cursor);
    let token = page
        .page
        .map(|page| page.next_page_token)
        .unwrap_or_default();
    let next = school
        .ivanovs
        .parent
        .n
        .feed
        .list_feed(nf::ListFeedRequest {
            page: Some(asurso_proto::common::PageRequest {
                page_size: 1,
                page_token: token,
            }),
            unread_only: false,
        })
        .await?
        .into_inner();
    assert_eq!(next.entries[0].id, entries[1].id);

    // The student's own entry cannot be marked by the parent.
    let students = feed_of(&mut school.ivanovs.student, 2).await?;
    let theirs = school
        .ivanovs
        .parent
        .n
        .feed
        .mark_read(nf::MarkReadRequest {
            ids: vec![students[0].id.clone()],
            all: false,
        })
        .await?
        .into_inner();
    assert_eq!(theirs.marked, 0);
    assert_eq!(theirs.unread_count, 2);
    let one = school
        .ivanovs
        .parent
        .n
        .feed
        .mark_read(nf::MarkReadRequest {
            ids: vec![entries[1].id.clone()],
            all: false,
        })
        .await?
        .into_inner();
    assert_eq!((one.marked, one.unread_count), (1, 1));
    let all = school
        .ivanovs
        .parent
        .n
        .feed
        .mark_read(nf::MarkReadRequest {
            ids: Vec::new(),
            all: true,
        })
        .await?
        .into_inner();
    assert_eq!((all.marked, all.unread_count), (1, 0));
    assert_eq!(
        feed(&mut school.ivanovs.student)
            .await?
            .iter()
            .filter(|entry| entry.read)
            .count(),
        0,
        "the student's entries are theirs to mark"
    );

    // Bad input names its field and changes nothing.
    let bad = school
        .ivanovs
        .parent
        .n
        .feed
        .mark_read(nf::MarkReadRequest {
            ids: vec![entries[0].id.clone(), "seven".into()],
            all: false,
        })
        .await
        .expect_err("not a UUID");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad), vec!["ids[1]".to_owned()]);
    let bad = school
        .ivanovs
        .parent
        .n
        .feed
        .list_feed(nf::ListFeedRequest {
            page: Some(asurso_proto::common::PageRequest {
                page_size: 5,
                page_token: "x".into(),
            }),
            unread_only: false,
        })
        .await
        .expect_err("not a token");
    assert_eq!(violated_fields(&bad), vec!["page.page_token".to_owned()]);
    // A cursor the feed has not reached would skip what comes: refused.
    let ahead = school
        .ivanovs
        .parent
        .n
        .feed
        .subscribe(nf::SubscribeRequest {
            after: Some(entries[0].cursor + 1_000),
        })
        .await
        .expect_err("a cursor from the future");
    assert_eq!(violated_fields(&ahead), vec!["after".to_owned()]);
    Ok(())
}
