//! Attendance's and messaging's events, with those services running on
//! the same bus: an absence reaches the absent student's family, a letter
//! its recipient, an announcement to a class its audience there — and no
//! one else.

use asurso_attendance::harness::{Attendance, attendance_database};
use asurso_messaging::harness::{Messaging, messaging_database};
use asurso_proto::{attendance as at, identity::Role, messaging as msg, notifications as nf};

use crate::support::{School, feed, feed_of, previous_school_day};

#[tokio::test]
async fn absences_letters_and_announcements_reach_whom_they_concern() -> anyhow::Result<()> {
    let mut school = School::start("nf-sources", false).await?;
    let attendance = Attendance::start(&school.world, attendance_database().await?).await?;
    let messaging = Messaging::start(&school.world, messaging_database().await?).await?;
    let class = school.class_5a.clone();

    // Yesterday's lesson, taken: the Ivanovs' child missed it.
    let lesson = school.lesson(&class, previous_school_day(), 2).await?;
    attendance
        .knows_lesson(uuid::Uuid::parse_str(&lesson.id)?)
        .await?;
    let ivanov = school.ivanovs.student.id;
    attendance
        .clients(&school.teacher.token)
        .await?
        .attendance
        .take_lesson(at::TakeLessonRequest {
            lesson_id: lesson.id.clone(),
            absences: vec![at::Absence {
                student_id: ivanov.to_string(),
                code: "НП".into(),
                minutes_late: 0,
            }],
            reason: String::new(),
            idempotency_key: String::new(),
        })
        .await?;
    let entries = feed_of(&mut school.ivanovs.parent, 1).await?;
    assert_eq!(entries[0].kind, nf::Kind::Absence as i32);
    assert_eq!(entries[0].title, "Пропуск урока");
    assert!(
        entries[0].body.contains("пропуск урока (НП) — Математика"),
        "{}",
        entries[0].body
    );
    assert_eq!(entries[0].student_id, ivanov.to_string());

    // The teacher writes to the Petrovs' mother.
    messaging.knows(school.teacher.id).await?;
    messaging.knows(school.petrovs.parent.id).await?;
    messaging
        .knows_enrolment(school.petrovs.student.id, uuid::Uuid::parse_str(&class.id)?)
        .await?;
    messaging
        .clients(&school.teacher.token)
        .await?
        .mail
        .send_message(msg::SendMessageRequest {
            to: vec![msg::Address {
                target: Some(msg::address::Target::PersonId(
                    school.petrovs.parent.id.to_string(),
                )),
            }],
            subject: "Родительское собрание".into(),
            text: "В четверг в 18:00.".into(),
            ..Default::default()
        })
        .await?;
    let letters = feed_of(&mut school.petrovs.parent, 1).await?;
    assert_eq!(letters[0].kind, nf::Kind::Mail as i32);
    assert!(
        letters[0].body.ends_with(": Родительское собрание"),
        "{}",
        letters[0].body
    );
    assert!(letters[0].link.starts_with("/mail/"));

    // The director posts to 5А's parents.
    messaging.knows(school.director.id).await?;
    messaging
        .clients(&school.director.token)
        .await?
        .board
        .publish_announcement(msg::PublishAnnouncementRequest {
            audience: Some(msg::Audience {
                org_unit_id: String::new(),
                class_id: class.id.clone(),
                roles: vec![Role::Parent as i32],
            }),
            title: "Экскурсия в музей".into(),
            text: "В субботу.".into(),
            ..Default::default()
        })
        .await?;
    for parent in [&mut school.ivanovs.parent, &mut school.petrovs.parent] {
        let entries = feed_of(parent, 2).await?;
        assert_eq!(entries[0].kind, nf::Kind::Announcement as i32);
        assert_eq!(entries[0].body, "Экскурсия в музей");
    }
    // Nobody else heard of any of it: not the students (the board was for
    // parents), not 5Б's family, not the Ivanovs of the Petrovs' letter.
    assert_eq!(feed(&mut school.ivanovs.parent).await?.len(), 2);
    assert_eq!(feed(&mut school.petrovs.parent).await?.len(), 2);
    assert_eq!(
        feed(&mut school.ivanovs.student).await?.len(),
        1,
        "their own absence"
    );
    assert!(feed(&mut school.petrovs.student).await?.is_empty());
    assert!(feed(&mut school.sidorovs.parent).await?.is_empty());
    attendance.stop().await?;
    messaging.stop().await?;
    Ok(())
}
