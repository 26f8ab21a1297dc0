//! The first slice end to end, through the gateway only: a teacher posts
//! homework and a mark; a parent logs in through the development ESIA in a
//! browser, lists her children and reads each one's diary week, the new
//! mark in it; another family's child, a tampered and an expired token are
//! refused; a login flood is throttled.

use std::time::Duration;

use asurso_e2e::{System, browser_login, login};
use asurso_proto::{common::CivilDate, gradebook as gb, identity as pb};
use tonic::Code;

/// Short-lived tokens, so the test can watch one expire.
const ACCESS_TTL: u32 = 15;
/// The development ESIA's parent of two children in two schools.
const KUZNETSOVA: &str = "1000000003";

fn school_day(date: time::Date) -> Option<CivilDate> {
    Some(CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    })
}

#[tokio::test]
async fn a_parent_logs_in_through_esia_and_reads_each_childs_diary() -> anyhow::Result<()> {
    let system = System::start(ACCESS_TTL).await?;
    let demo = system.demo.clone();
    let school = &demo.schools[0];
    let class = &school.classes[1];
    let kuznetsova = demo.family(KUZNETSOVA)?;
    let child = kuznetsova.children[0].clone();
    anyhow::ensure!(
        class.students.iter().any(|(id, _)| *id == child),
        "the seed put her first child in {}",
        class.name
    );

    // A teacher logs in and, in a lesson of the child's class, sets
    // homework and gives the child a 5.
    let teacher = &school.teachers[0];
    let (teacher_token, teacher_expires) = login(&system, &teacher.login).await?;
    let mut timetable = gb::timetable_service_client::TimetableServiceClient::new(
        system.as_caller(&teacher_token).await?,
    );
    let today = time::OffsetDateTime::now_utc().date();
    // The weeks the demo's journal covers (inside the school year, whatever
    // today is).
    let (from, to) = asurso_devstack::seed::journal_weeks(today)?;
    let lessons = timetable
        .get_timetable(gb::GetTimetableRequest {
            of: Some(gb::get_timetable_request::Of::TeacherId(
                teacher.person_id.clone(),
            )),
            from_date: school_day(from),
            to_date: school_day(to),
        })
        .await?
        .into_inner()
        .lessons;
    let lesson = lessons
        .iter()
        .find(|lesson| lesson.class_id == class.id)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the teacher has no lesson in {} in the demo weeks",
                class.name
            )
        })?;
    let mut journal = gb::journal_service_client::JournalServiceClient::new(
        system.as_caller(&teacher_token).await?,
    );
    let assignment = journal
        .create_assignment(gb::CreateAssignmentRequest {
            lesson_id: lesson.id.clone(),
            r#type: "homework".into(),
            weight: 0,
            due_date: None,
            title: "Контрольная по дробям (e2e)".into(),
            text: "№ 301–305".into(),
            idempotency_key: String::new(),
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
                    grade: 5,
                }),
                comment: "Отлично".into(),
            }],
            idempotency_key: String::new(),
        })
        .await?;

    // The parent logs in through ESIA in a browser and lists her children.
    let parent_token = browser_login(&system, KUZNETSOVA).await?;
    let as_parent = system.as_caller(&parent_token).await?;
    let children = pb::people_service_client::PeopleServiceClient::new(as_parent.clone())
        .list_children(pb::ListChildrenRequest::default())
        .await?
        .into_inner()
        .children;
    let mut ids: Vec<String> = children.iter().map(|child| child.id.clone()).collect();
    ids.sort();
    let mut expected = kuznetsova.children.clone();
    expected.sort();
    assert_eq!(ids, expected, "her two children, in two schools");

    // Each child's diary for the lesson's week; the new mark is there.
    let mut diary = gb::diary_service_client::DiaryServiceClient::new(as_parent.clone());
    for child_id in &kuznetsova.children {
        let week = diary
            .get_diary_week(gb::GetDiaryWeekRequest {
                student_id: child_id.clone(),
                date: lesson.date,
            })
            .await?
            .into_inner();
        let lessons: usize = week.days.iter().map(|day| day.lessons.len()).sum();
        assert!(lessons > 0, "a school week has lessons: {week:?}");
        let posted = week
            .days
            .iter()
            .flat_map(|day| &day.lessons)
            .flat_map(|lesson| &lesson.assignments)
            .find(|seen| seen.id == assignment.id);
        if *child_id == child {
            let posted =
                posted.ok_or_else(|| anyhow::anyhow!("the new homework is not in the diary"))?;
            assert_eq!(posted.mark.as_ref().map(|mark| mark.grade), Some(5));
            assert_eq!(posted.mark_comment, "Отлично");
        } else {
            assert!(posted.is_none(), "another class's homework in the diary");
        }
    }

    // Another family's child is not hers to read.
    let stranger = demo.family("1000000001")?.children[0].clone();
    let refused = diary
        .get_diary_week(gb::GetDiaryWeekRequest {
            student_id: stranger,
            date: lesson.date,
        })
        .await;
    assert_eq!(
        refused.err().map(|status| status.code()),
        Some(Code::PermissionDenied)
    );

    // A token with another signature is refused at the gateway.
    let (claims, signature) = parent_token.rsplit_once('.').unwrap_or_default();
    let tampered = format!("{claims}.{}", signature.chars().rev().collect::<String>());
    let refused =
        gb::diary_service_client::DiaryServiceClient::new(system.as_caller(&tampered).await?)
            .get_diary_week(gb::GetDiaryWeekRequest {
                student_id: child.clone(),
                date: lesson.date,
            })
            .await;
    assert_eq!(
        refused.err().map(|status| status.code()),
        Some(Code::Unauthenticated)
    );

    // The teacher's token, once expired (and past the checks' leeway), too.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let wait = u64::try_from(teacher_expires + 7 - now).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let expired = timetable
        .get_timetable(gb::GetTimetableRequest {
            of: Some(gb::get_timetable_request::Of::ClassId(class.id.clone())),
            from_date: school_day(today),
            to_date: school_day(today),
        })
        .await;
    match expired {
        Err(status) => {
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            assert!(status.message().contains("expired"), "{status:?}");
        }
        Ok(_) => panic!("an expired token was accepted"),
    }

    // A flood of logins from one client is cut off before identity.
    let mut auth = pb::auth_service_client::AuthServiceClient::new(system.gateway().await?);
    let mut codes = Vec::new();
    for attempt in 0..40 {
        let answer = auth
            .login(pb::LoginRequest {
                login: format!("guess{attempt}"),
                password: "not-the-password".into(),
                grant_id: String::new(),
            })
            .await;
        codes.push(answer.err().map(|status| status.code()));
    }
    assert_eq!(
        codes.first(),
        Some(&Some(Code::Unauthenticated)),
        "{codes:?}"
    );
    assert!(
        codes.contains(&Some(Code::ResourceExhausted)),
        "40 logins in a row were not throttled: {codes:?}"
    );

    system.stop().await
}
