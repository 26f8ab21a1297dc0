//! The NetSchool-compatible /webapi end to end with a real client: the
//! PyPI package `netschoolapi` 11.0.5 (pinned, in the project's own
//! virtual environment) logs in with an app password a parent made after
//! logging in through ESIA, reads the diary with a mark a teacher posted
//! through gRPC a moment before, the overdue work, the announcements, an
//! assignment's files and their bytes, the schools and the school's card;
//! a wrong password is the client's own error with our words; after the
//! session runs out the client logs in again by itself; bad input is
//! refused with a message; after logout the session is gone. Beside the
//! library, as other apps call them: the context, years, bells, and a
//! letter with a file to the class teacher.

use asurso_devstack::seed;
use asurso_e2e::{System, browser_login, login};
use asurso_proto::{common::CivilDate, gradebook as gb, identity as pb, messaging as msg};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The session (identity's access token) lives this long: the client must
/// log in again within the test.
const ACCESS_TTL: u32 = 8;
/// The development ESIA's parent of one child in the first school.
const PARENT: &str = "1000000001";
const TITLE: &str = "Дроби: № 301–305 (webapi)";
const OWED: &str = "Доклад о дробях (webapi)";
const LETTER: &str = "Пересдача доклада (webapi)";
const LETTER_FILE: &str = "Справка: был болен с 1 по 5 декабря.\n";
const FILE: &[u8] = "Решить № 301–305 до пятницы.\n".as_bytes();

fn civil(date: time::Date) -> Option<CivilDate> {
    Some(CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    })
}

/// Runs the client's script with `case`; what it saw.
async fn run_client(case: &Value) -> anyhow::Result<Value> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("webapi/netschool_client.py");
    let output = tokio::process::Command::new(asurso_testkit::python())
        .arg(&script)
        .env("WEBAPI_CASE", case.to_string())
        .kill_on_drop(true)
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "the netschoolapi client failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

#[tokio::test]
async fn a_netschool_app_reads_the_diary_with_an_app_password() -> anyhow::Result<()> {
    let system = System::start(ACCESS_TTL).await?;
    let demo = system.demo.clone();
    let parent = demo.family(PARENT)?;
    let child = parent
        .children
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the demo parent has no child"))?;
    let (school, class) = demo.class_of(&child)?;

    // This school week (inside the school year, whatever today is).
    let today = time::OffsetDateTime::now_utc().date();
    let (_, friday) = seed::journal_weeks(today)?;
    let monday = friday - time::Duration::days(4);

    // A teacher sets work in a lesson of the child's class this week, with
    // a file, gives the child a 4, and a debt for a second piece of work.
    let teacher = &school.teachers[0];
    let teacher_token = login(&system, &teacher.login).await?.0;
    let as_teacher = system.as_caller(&teacher_token).await?;
    let lessons = gb::timetable_service_client::TimetableServiceClient::new(as_teacher.clone())
        .get_timetable(gb::GetTimetableRequest {
            of: Some(gb::get_timetable_request::Of::ClassId(class.id.clone())),
            from_date: civil(monday),
            to_date: civil(friday),
        })
        .await?
        .into_inner()
        .lessons;
    let lesson = lessons
        .iter()
        .find(|lesson| lesson.teacher_id == teacher.person_id && lesson.subgroup_id.is_empty())
        .ok_or_else(|| anyhow::anyhow!("the teacher has no lesson in {} this week", class.name))?;
    let mut journal = gb::journal_service_client::JournalServiceClient::new(as_teacher);
    let assignment = |title: &str| {
        let mut journal = journal.clone();
        let request = gb::CreateAssignmentRequest {
            lesson_id: lesson.id.clone(),
            r#type: "homework".into(),
            weight: 0,
            due_date: None,
            title: title.into(),
            text: "Учебник, с. 84".into(),
            idempotency_key: String::new(),
        };
        async move {
            journal
                .create_assignment(request)
                .await?
                .into_inner()
                .assignment
                .ok_or_else(|| anyhow::anyhow!("no assignment in the answer"))
        }
    };
    let given = assignment(TITLE).await?;
    let owed = assignment(OWED).await?;
    journal
        .add_attachment(gb::AddAttachmentRequest {
            assignment_id: given.id.clone(),
            file_name: "задание.txt".into(),
            content_type: "text/plain".into(),
            content: FILE.to_vec(),
        })
        .await?;
    for (id, kind, grade, comment) in [
        (&given.id, gb::MarkKind::Grade, 4, "Хорошо"),
        (&owed.id, gb::MarkKind::Debt, 0, ""),
    ] {
        journal
            .set_marks(gb::SetMarksRequest {
                assignment_id: id.clone(),
                marks: vec![gb::MarkEntry {
                    student_id: child.clone(),
                    value: Some(gb::MarkValue {
                        kind: kind.into(),
                        grade,
                    }),
                    comment: comment.into(),
                }],
                idempotency_key: String::new(),
            })
            .await?;
    }

    // The director posts an announcement to the school.
    let director_token = login(&system, &format!("director{}", 1)).await?.0;
    let announcement = "Родительское собрание в четверг (webapi)";
    msg::announcement_service_client::AnnouncementServiceClient::new(
        system.as_caller(&director_token).await?,
    )
    .publish_announcement(msg::PublishAnnouncementRequest {
        audience: Some(msg::Audience {
            org_unit_id: school.id.clone(),
            ..Default::default()
        }),
        title: announcement.into(),
        text: "В 18:00, актовый зал.".into(),
        idempotency_key: "webapi-announcement".into(),
        ..Default::default()
    })
    .await?;

    // The parent logs in through ESIA and makes an app password.
    let parent_token = browser_login(&system, PARENT).await?;
    let made = pb::app_password_service_client::AppPasswordServiceClient::new(
        system.as_caller(&parent_token).await?,
    )
    .create_app_password(pb::CreateAppPasswordRequest {
        name: "Дневник на телефоне".into(),
    })
    .await?
    .into_inner();
    let app_login = made
        .app_password
        .map(|made| made.login)
        .ok_or_else(|| anyhow::anyhow!("no app password in the answer"))?;

    let seen = run_client(&serde_json::json!({
        "url": system.layout.gateway_url(),
        "login": app_login,
        "password": made.password,
        "school": school.name,
        "monday": format!("{monday}"),
        "assignment": TITLE,
        "letter": LETTER,
        "letter_file": LETTER_FILE,
        "session_seconds": ACCESS_TTL,
    }))
    .await?;

    // A wrong password: the client's AuthError, with our message.
    let wrong = seen["wrong_password"].as_str().unwrap_or("(accepted)");
    assert!(
        wrong.contains("Неверный логин или пароль"),
        "wrong password: {wrong}"
    );

    // The diary of the week holds the lesson with the new work and its 4.
    let assignments: Vec<&Value> = seen["diary"]["days"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|day| day["lessons"].as_array().into_iter().flatten())
        .flat_map(|lesson| lesson["assignments"].as_array().into_iter().flatten())
        .collect();
    let marked = assignments
        .iter()
        .find(|a| a["content"] == TITLE)
        .ok_or_else(|| anyhow::anyhow!("the new work is not in the diary: {}", seen["diary"]))?;
    assert_eq!(marked["mark"], 4, "{marked}");
    assert_eq!(marked["comment"], "Хорошо", "{marked}");
    assert_eq!(marked["is_duty"], false, "{marked}");
    assert_eq!(marked["type"], "Домашнее задание", "{marked}");
    let lesson_day = lesson
        .date
        .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .ok_or_else(|| anyhow::anyhow!("a lesson without a date"))?;
    assert_eq!(marked["deadline"], lesson_day.as_str(), "{marked}");
    let days: Vec<&str> = seen["diary"]["days"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|day| day["day"].as_str())
        .collect();
    assert!(days.contains(&lesson_day.as_str()), "{days:?}");
    assert!(
        days.iter().all(|day| *day >= format!("{monday}").as_str()),
        "{days:?}"
    );

    // The debt: no number, owed, and listed as overdue.
    let debt = assignments
        .iter()
        .find(|a| a["content"] == OWED)
        .ok_or_else(|| anyhow::anyhow!("the owed work is not in the diary"))?;
    assert_eq!(debt["mark"], Value::Null, "{debt}");
    assert_eq!(debt["is_duty"], true, "{debt}");
    let overdue: Vec<&Value> = seen["overdue"].as_array().into_iter().flatten().collect();
    assert!(
        overdue
            .iter()
            .any(|a| a["content"] == OWED && a["is_duty"] == true),
        "overdue: {overdue:?}"
    );
    assert!(overdue.iter().all(|a| a["content"] != TITLE), "{overdue:?}");

    // The file of the work, byte for byte.
    let files = seen["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["name"], "задание.txt");
    let digest: String = Sha256::digest(FILE)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(files[0]["sha256"], digest.as_str());

    // The announcement, with its author.
    let board = seen["announcements"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let posted = board
        .iter()
        .find(|a| a["name"] == announcement)
        .ok_or_else(|| anyhow::anyhow!("the announcement is missing: {board:?}"))?;
    assert_eq!(posted["content"], "В 18:00, актовый зал.");
    assert!(
        posted["author"]
            .as_str()
            .is_some_and(|author| author.contains("Директорова")),
        "{posted}"
    );

    // Every demo school, and this one's card as its director filled it in.
    let schools = seen["schools"].as_array().cloned().unwrap_or_default();
    for demo_school in &demo.schools {
        assert!(
            schools
                .iter()
                .any(|s| s["name"] == demo_school.name.as_str()),
            "{} missing from {schools:?}",
            demo_school.name
        );
    }
    let card = &seen["card"];
    assert_eq!(card["name"], school.name.as_str(), "{card}");
    assert!(
        card["address"]
            .as_str()
            .is_some_and(|a| a.contains("Самара")),
        "{card}"
    );
    assert_eq!(card["director"], "Директорова Ольга Ивановна", "{card}");
    assert!(
        card["email"].as_str().is_some_and(|e| e.contains('@')),
        "{card}"
    );

    // The session ran out; the client logged in again by itself (its
    // second login) and read on.
    assert_eq!(seen["logins"], 2, "{seen}");
    assert!(
        seen["diary_after_expiry_days"].as_u64().unwrap_or(0) > 0,
        "{seen}"
    );

    // Bad input: refused with a message naming it, never a 500.
    for (probe, status, says) in [
        ("student_not_a_number", 400, "studentId"),
        ("week_not_a_date", 400, "weekStart"),
        ("student_not_ours", 403, "studentId"),
        ("assignment_unknown", 404, "id"),
        ("attachment_not_a_number", 400, "id"),
    ] {
        let answer = &seen["probes"][probe];
        assert_eq!(answer[0], status, "{probe}: {answer}");
        assert!(
            answer[1].as_str().is_some_and(|m| m.contains(says)),
            "{probe}: {answer}"
        );
    }

    // The context, the years, the bells; a letter to the class teacher,
    // found in the sent folder and read back.
    let school_number = schools
        .iter()
        .find(|s| s["name"] == school.name.as_str())
        .map(|s| s["id"].clone())
        .unwrap_or_default();
    assert_eq!(
        seen["context"]["schoolId"], school_number,
        "{}",
        seen["context"]
    );
    assert_eq!(seen["context"]["organizationName"], school.name.as_str());
    let years = seen["years"].as_array().cloned().unwrap_or_default();
    assert!(
        years.iter().any(|y| y["id"] == seen["year_id"]
            && y["startDate"]
                .as_str()
                .is_some_and(|d| d.ends_with("T00:00:00"))),
        "{years:?}"
    );
    let bells = seen["bells"].as_array().cloned().unwrap_or_default();
    assert!(!bells.is_empty(), "no bell schedule");
    assert!(
        bells
            .iter()
            .all(|b| (2..=7).contains(&b["weekDay"].as_i64().unwrap_or(0))
                && b["startTime"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("1900-01-01T") && t.len() == 19)),
        "{bells:?}"
    );
    let recipients = seen["recipients"].as_array().cloned().unwrap_or_default();
    assert!(
        !recipients.is_empty() && recipients.iter().all(|r| r["id"].is_string()),
        "class teachers to write to: {recipients:?}"
    );
    assert_eq!(seen["sent_status"], 200, "{}", seen["sent"]);
    let rows = seen["sent_folder"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        rows.iter()
            .any(|r| r["subject"] == LETTER && r["id"] == seen["sent"]["messageId"]),
        "{rows:?}"
    );
    assert_eq!(seen["letter"]["subject"], LETTER, "{}", seen["letter"]);
    assert_eq!(
        seen["letter"]["text"],
        "Здравствуйте! Можно ли пересдать доклад?"
    );
    assert_eq!(seen["letter"]["mailBox"], "Sent");
    // Its file went with it, byte for byte, and cannot be sent again.
    assert_eq!(seen["upload_status"], 200, "{seen}");
    assert_eq!(seen["letter"]["fileAttachments"][0]["name"], "справка.txt");
    let letter_digest: String = Sha256::digest(LETTER_FILE.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(seen["letter_file_sha256"], letter_digest.as_str());
    assert_eq!(seen["reused_upload"][0], 400, "{}", seen["reused_upload"]);
    assert!(
        seen["reused_upload"][1]
            .as_str()
            .is_some_and(|m| m.contains("fileAttachmentGuids[0]")),
        "{}",
        seen["reused_upload"]
    );
    assert!(seen["unread"].is_array(), "{}", seen["unread"]);

    // After logout the session is refused.
    assert_eq!(seen["after_logout_status"], 401, "{seen}");
    assert!(
        seen["after_logout_message"]
            .as_str()
            .is_some_and(|m| m.contains("войдите")),
        "{seen}"
    );

    system.stop().await
}
