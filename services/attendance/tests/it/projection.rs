use asurso_attendance::projection::Gradebook;
use asurso_gradebook::harness::class;
use asurso_proto::{attendance as pb, events::Envelope, gradebook as gb};
use asurso_runtime::events::{EventHandler, ReceivedEvent, streams};
use futures::StreamExt;
use prost::Message as _;
use tonic::Code;
use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn after_being_down_attendance_catches_up_with_a_new_teacher_and_a_moved_student()
-> anyhow::Result<()> {
    let mut c = Class5::new("catchup").await?;
    let s = c.students.clone();
    let db = c.stack.attendance.stop().await?;

    // While attendance is down the school gives the lesson to another
    // teacher and moves a student to 5Б from that day.
    c.admin
        .gb
        .timetable
        .change_lesson(gb::ChangeLessonRequest {
            lesson_id: c.recent.id.clone(),
            teacher_id: Some(c.other_teacher.id.to_string()),
            ..Default::default()
        })
        .await?;
    let year = gb::SchoolYear {
        id: c.class.school_year_id.clone(),
        ..Default::default()
    };
    let other_class = class(&mut c.admin.gb, &year, "5Б", 5).await?;
    c.admin
        .gb
        .classes
        .move_student(gb::MoveStudentRequest {
            student_id: s[2].to_string(),
            to_class_id: other_class.id.clone(),
            date: c.recent.date,
            idempotency_key: String::new(),
        })
        .await?;

    c.stack.attendance = asurso_attendance::harness::Attendance::start(&c.stack.world, db).await?;
    // Clients of the attendance now serving.
    c.teacher.at = c.stack.attendance.clients(&c.teacher.token).await?;
    c.other_teacher.at = c.stack.attendance.clients(&c.other_teacher.token).await?;
    let recent = Uuid::parse_str(&c.recent.id)?;
    let other_teacher = c.other_teacher.id;
    asurso_testkit::eventually(std::time::Duration::from_secs(15), || {
        let pool = c.stack.attendance.db.pool.clone();
        async move {
            Ok(
                sqlx::query_scalar::<_, Uuid>("SELECT teacher_id FROM lessons WHERE id = $1")
                    .bind(recent)
                    .fetch_one(&pool)
                    .await?
                    == other_teacher,
            )
        }
    })
    .await?;
    // Moves come after the lesson change on the stream: wait for it too.
    let moved = s[2];
    asurso_testkit::eventually(std::time::Duration::from_secs(15), || {
        let pool = c.stack.attendance.db.pool.clone();
        async move {
            Ok(sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM enrolments WHERE student_id = $1",
            )
            .bind(moved)
            .fetch_one(&pool)
            .await?
                == 2)
        }
    })
    .await?;

    let take = |absences: Vec<pb::Absence>| pb::TakeLessonRequest {
        lesson_id: c.recent.id.clone(),
        absences,
        reason: String::new(),
        idempotency_key: String::new(),
    };
    // The first teacher no longer holds it; the new one does, and the moved
    // student is no longer in it.
    let refused = c.teacher.at.attendance.take_lesson(take(Vec::new())).await;
    assert_eq!(
        refused.err().map(|status| status.code()),
        Some(Code::PermissionDenied)
    );
    let absent = |student: Uuid| pb::Absence {
        student_id: student.to_string(),
        code: "НП".into(),
        minutes_late: 0,
    };
    let refused = c
        .other_teacher
        .at
        .attendance
        .take_lesson(take(vec![absent(s[2])]))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a moved student recorded in the old class"))?;
    assert_eq!(violated_fields(&refused), ["absences[0].student_id"]);
    let taken = c
        .other_teacher
        .at
        .attendance
        .take_lesson(take(vec![absent(s[0])]))
        .await?
        .into_inner()
        .attendance
        .ok_or_else(|| anyhow::anyhow!("no attendance"))?;
    let students: Vec<&str> = taken
        .students
        .iter()
        .map(|student| student.student_id.as_str())
        .collect();
    assert_eq!(students.len(), 2, "{students:?}");
    assert!(!students.contains(&s[2].to_string().as_str()));
    c.stack.stop().await
}

/// Every event on the test's GRADEBOOK stream, in order, as handlers see
/// them.
async fn gradebook_events(c: &Class5) -> anyhow::Result<Vec<ReceivedEvent>> {
    let bus = &c.stack.world.identity.bus;
    let stream = bus.ensure_stream(streams::GRADEBOOK).await?;
    let reader = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await?;
    let mut batch = reader
        .fetch()
        .max_messages(2_000)
        .expires(std::time::Duration::from_millis(500))
        .messages()
        .await?;
    let mut events = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
        let envelope = Envelope::decode(message.payload.clone())?;
        events.push(ReceivedEvent {
            event_id: Uuid::parse_str(&envelope.event_id)?,
            subject: bus.logical_subject(message.subject.as_str()).to_owned(),
            delivered: 1,
            envelope,
        });
    }
    Ok(events)
}

/// The projected tables, as text to compare.
async fn projected(pool: &sqlx::PgPool) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    for table in [
        "classes",
        "subjects",
        "lessons",
        "enrolments",
        "subgroup_members",
        "bells",
        "terms",
        "loads",
    ] {
        let query = format!("SELECT t::text FROM {table} t ORDER BY 1");
        let mut found: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_all(pool)
            .await?;
        found.iter_mut().for_each(|row| row.insert_str(0, table));
        rows.extend(found);
    }
    Ok(rows)
}

#[tokio::test]
async fn the_gradebook_stream_replayed_twice_rebuilds_the_same_projection() -> anyhow::Result<()> {
    let mut c = Class5::new("replay").await?;
    // Some history beyond the set-up: a lesson to another teacher, one
    // cancelled.
    c.admin
        .gb
        .timetable
        .change_lesson(gb::ChangeLessonRequest {
            lesson_id: c.recent.id.clone(),
            teacher_id: Some(c.other_teacher.id.to_string()),
            ..Default::default()
        })
        .await?;
    c.admin
        .gb
        .timetable
        .change_lesson(gb::ChangeLessonRequest {
            lesson_id: c.old.id.clone(),
            cancel: true,
            cancel_reason: "карантин".into(),
            ..Default::default()
        })
        .await?;
    // What the running service projected, once it has seen them all (the
    // cancellation is the last).
    let old = Uuid::parse_str(&c.old.id)?;
    asurso_testkit::eventually(std::time::Duration::from_secs(15), || {
        let pool = c.stack.attendance.db.pool.clone();
        async move {
            Ok(
                sqlx::query_scalar::<_, String>("SELECT status FROM lessons WHERE id = $1")
                    .bind(old)
                    .fetch_one(&pool)
                    .await?
                    == "cancelled",
            )
        }
    })
    .await?;
    let live = projected(&c.stack.attendance.db.pool).await?;
    let events = gradebook_events(&c).await?;
    assert!(events.len() >= 10, "{} events", events.len());

    // A new deployment from the stream alone, then the stream once more.
    let fresh = asurso_attendance::harness::attendance_database().await?;
    for _ in 0..2 {
        for event in &events {
            let mut transaction = fresh.pool.begin().await?;
            Gradebook
                .handle(&mut transaction, event)
                .await
                .map_err(|error| anyhow::anyhow!("{}: {error}", event.subject))?;
            transaction.commit().await?;
        }
        assert_eq!(projected(&fresh.pool).await?, live);
    }
    c.stack.stop().await
}
