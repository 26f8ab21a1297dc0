//! The local stack behaves as production would for the people using it:
//! what they changed in the demo region survives a new seeding (which
//! reports the conflict instead of stopping), and a service that dies is
//! started again while the rest keep running.

use std::time::{Duration, Instant};

use asurso_e2e::{System, login};
use asurso_proto::gradebook as gb;

#[tokio::test]
async fn people_s_changes_survive_seeding_and_a_dead_service_comes_back() -> anyhow::Result<()> {
    let system = System::start(600).await?;
    let school = system.demo.schools[0].clone();
    let class = school.classes[0].clone();

    // A director splits the class and gives one half a lesson of its own,
    // after the last period of a day the seed filled with marks.
    let (director, _) = login(&system, &school.director).await?;
    let as_director = system.as_caller(&director).await?;
    let mut classes = gb::class_service_client::ClassServiceClient::new(as_director.clone());
    let subgroup = classes
        .create_subgroup(gb::CreateSubgroupRequest {
            class_id: class.id.clone(),
            name: "Группа 1 (кружок)".into(),
        })
        .await?
        .into_inner()
        .subgroup
        .ok_or_else(|| anyhow::anyhow!("no subgroup"))?;
    let members: Vec<String> = class.students.iter().take(2).map(|s| s.0.clone()).collect();
    classes
        .set_subgroup_members(gb::SetSubgroupMembersRequest {
            subgroup_id: subgroup.id.clone(),
            student_ids: members,
        })
        .await?;
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = asurso_devstack::seed::journal_weeks(today)?;
    let civil = |date: time::Date| asurso_proto::common::CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    };
    let mut timetable =
        gb::timetable_service_client::TimetableServiceClient::new(as_director.clone());
    let lessons = timetable
        .get_timetable(gb::GetTimetableRequest {
            of: Some(gb::get_timetable_request::Of::ClassId(class.id.clone())),
            from_date: Some(civil(from)),
            to_date: Some(civil(to)),
        })
        .await?
        .into_inner()
        .lessons;
    // The earliest lesson: taught already wherever today falls in the
    // demo weeks, so the seed would give marks in it.
    let taught = lessons
        .iter()
        .min_by_key(|lesson| lesson.date.map(|d| (d.year, d.month, d.day)))
        .ok_or_else(|| anyhow::anyhow!("no lessons in the demo weeks"))?;
    gb::curriculum_service_client::CurriculumServiceClient::new(as_director.clone())
        .assign_load(gb::AssignLoadRequest {
            class_id: class.id.clone(),
            subgroup_id: subgroup.id.clone(),
            subject_id: taught.subject_id.clone(),
            teacher_id: taught.teacher_id.clone(),
            hours_per_week: 1,
        })
        .await?;
    let theirs = timetable
        .schedule_lesson(gb::ScheduleLessonRequest {
            class_id: class.id.clone(),
            subgroup_id: subgroup.id.clone(),
            subject_id: taught.subject_id.clone(),
            date: taught.date,
            period: 6,
            teacher_id: taught.teacher_id.clone(),
            room: "12".into(),
        })
        .await?
        .into_inner()
        .lesson
        .ok_or_else(|| anyhow::anyhow!("no lesson"))?;

    // Seeding again (every `make run` does) leaves their lesson alone.
    let again = asurso_devstack::seed::seed(&system.layout).await?;
    assert_eq!(again.schools.len(), system.demo.schools.len());
    assert!(
        again.conflicts.is_empty(),
        "a lesson the seed does not own is no conflict: {:?}",
        again.conflicts
    );
    let mut journal = gb::journal_service_client::JournalServiceClient::new(as_director.clone());
    let on_their_lesson = journal
        .list_assignments(gb::ListAssignmentsRequest {
            lesson_id: theirs.id.clone(),
        })
        .await?
        .into_inner()
        .assignments;
    assert!(
        on_their_lesson.is_empty(),
        "the seed wrote into a lesson people made: {on_their_lesson:?}"
    );
    let on_a_demo_lesson = journal
        .list_assignments(gb::ListAssignmentsRequest {
            lesson_id: taught.id.clone(),
        })
        .await?
        .into_inner()
        .assignments;
    assert_eq!(on_a_demo_lesson.len(), 1, "the demo homework, once");

    // The gradebook dies; the stack starts it again and the diary answers
    // through the gateway once more, while identity never stopped.
    let before = system
        .pid("gradebook")
        .await
        .ok_or_else(|| anyhow::anyhow!("the gradebook is not running"))?;
    let killed = tokio::process::Command::new("kill")
        .args(["-KILL", &before.to_string()])
        .status()
        .await?;
    anyhow::ensure!(killed.success(), "kill -KILL {before}");
    let student = class.students[0].0.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut diary = gb::diary_service_client::DiaryServiceClient::new(as_director.clone());
    let mut saw_it_down = false;
    loop {
        let answer = diary
            .get_diary_week(gb::GetDiaryWeekRequest {
                student_id: student.clone(),
                date: taught.date,
            })
            .await;
        match answer {
            Ok(week) if saw_it_down || system.pid("gradebook").await != Some(before) => {
                let lessons: usize = week.get_ref().days.iter().map(|d| d.lessons.len()).sum();
                assert!(lessons > 0, "the week after the restart has lessons");
                break;
            }
            Ok(_) => {}
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                saw_it_down = true;
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gradebook did not come back within a minute"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = system.pid("gradebook").await;
    assert!(
        after.is_some() && after != Some(before),
        "a new gradebook process: {before} → {after:?}"
    );
    // Identity kept running all along.
    login(&system, &school.director).await?;

    system.stop().await
}
