//! Attendance end to end, through the gateway only: the class teacher
//! marks a child absent at a past lesson of the demo's (the seed took it:
//! a correction, with its reason, keeping the other absences); the parent,
//! logged in through the development ESIA in a browser, reads it and
//! submits a note; the class teacher accepts it and the parent sees the
//! absence excused; another family's child is refused.

use std::time::Duration;

use asurso_e2e::{System, browser_login, login};
use asurso_proto::{attendance as at, common::CivilDate, gradebook as gb};
use tonic::Code;

/// The development ESIA's parent of two children in two schools.
const KUZNETSOVA: &str = "1000000003";

fn civil(date: time::Date) -> Option<CivilDate> {
    Some(CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    })
}

#[tokio::test]
async fn a_teacher_marks_a_child_absent_and_the_parent_reads_it() -> anyhow::Result<()> {
    let system = System::start(300).await?;
    let demo = system.demo.clone();
    let school = &demo.schools[0];
    let kuznetsova = demo
        .families
        .iter()
        .find(|family| family.oid == KUZNETSOVA)
        .ok_or_else(|| anyhow::anyhow!("no demo family {KUZNETSOVA}"))?;
    let child = kuznetsova.children[0].clone();
    let class = school
        .classes
        .iter()
        .find(|class| class.students.iter().any(|(id, _)| *id == child))
        .ok_or_else(|| anyhow::anyhow!("her first child is in no class of the first school"))?;

    // The lessons of the child's class before today in the demo weeks.
    let director = login(&system, &school.director).await?.0;
    let today = time::OffsetDateTime::now_utc().date();
    let (from, _) = asurso_devstack::seed::journal_weeks(today)?;
    let lessons = gb::timetable_service_client::TimetableServiceClient::new(
        system.as_caller(&director).await?,
    )
    .get_timetable(gb::GetTimetableRequest {
        of: Some(gb::get_timetable_request::Of::ClassId(class.id.clone())),
        from_date: civil(from),
        to_date: civil(today - time::Duration::days(1)),
    })
    .await?
    .into_inner()
    .lessons;
    // The most recent one.
    let lesson = lessons
        .iter()
        .rfind(|lesson| lesson.subgroup_id.is_empty())
        .ok_or_else(|| anyhow::anyhow!("no past lesson of {} in the demo weeks", class.name))?;

    // Its class teacher (a teacher of the school the gradebook names).
    let as_director = system.as_caller(&director).await?;
    let years = gb::calendar_service_client::CalendarServiceClient::new(as_director.clone())
        .list_school_years(gb::ListSchoolYearsRequest {
            school_id: school.id.clone(),
        })
        .await?
        .into_inner()
        .school_years;
    let mut class_teacher = None;
    for year in years {
        let classes = gb::class_service_client::ClassServiceClient::new(as_director.clone())
            .list_classes(gb::ListClassesRequest {
                school_year_id: year.id,
            })
            .await?
            .into_inner()
            .classes;
        if let Some(found) = classes.into_iter().find(|found| found.id == class.id) {
            class_teacher = school
                .teachers
                .iter()
                .find(|teacher| teacher.person_id == found.class_teacher_id);
        }
    }
    let class_teacher =
        class_teacher.ok_or_else(|| anyhow::anyhow!("{} has no class teacher", class.name))?;
    let class_teacher_token = login(&system, &class_teacher.login).await?.0;

    // The class teacher marks the child absent, keeping what else the
    // lesson recorded. Attendance learns of the demo's lessons from the
    // gradebook's stream; give it the moment it may need.
    let mut attendance = at::attendance_service_client::AttendanceServiceClient::new(
        system.as_caller(&class_teacher_token).await?,
    );
    let read_lesson = at::GetLessonAttendanceRequest {
        lesson_id: lesson.id.clone(),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let before = loop {
        match attendance.get_lesson_attendance(read_lesson.clone()).await {
            Err(status)
                if status.code() == Code::NotFound && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            outcome => break outcome?.into_inner().attendance.unwrap_or_default(),
        }
    };
    let mut absences: Vec<at::Absence> = before
        .students
        .iter()
        .filter(|student| !student.code.is_empty() && student.student_id != child)
        .map(|student| at::Absence {
            student_id: student.student_id.clone(),
            code: student.code.clone(),
            minutes_late: student.minutes_late,
        })
        .collect();
    absences.push(at::Absence {
        student_id: child.clone(),
        code: "НП".into(),
        minutes_late: 0,
    });
    let taken = attendance
        .take_lesson(at::TakeLessonRequest {
            lesson_id: lesson.id.clone(),
            absences,
            reason: "не было на уроке (e2e)".into(),
            idempotency_key: format!("e2e-{}", lesson.id),
        })
        .await?
        .into_inner();
    let marked = taken
        .attendance
        .iter()
        .flat_map(|attendance| &attendance.students)
        .find(|student| student.student_id == child)
        .map(|student| student.code.clone());
    assert_eq!(marked.as_deref(), Some("НП"));

    // The parent logs in through ESIA and reads her child's attendance.
    let parent_token = browser_login(&system, KUZNETSOVA).await?;
    let mut as_parent = at::attendance_service_client::AttendanceServiceClient::new(
        system.as_caller(&parent_token).await?,
    );
    let read = |student: &str| at::GetStudentAttendanceRequest {
        student_id: student.to_owned(),
        from_date: civil(from),
        to_date: civil(today),
    };
    let seen = as_parent
        .get_student_attendance(read(&child))
        .await?
        .into_inner();
    let absence = seen
        .absences
        .iter()
        .find(|absence| absence.lesson_id == lesson.id)
        .ok_or_else(|| anyhow::anyhow!("the absence is not in her child's attendance"))?;
    assert_eq!(absence.code, "НП");
    assert!(!absence.subject_name.is_empty(), "{absence:?}");

    // She sends a note for that day; the class teacher accepts it; she
    // sees the absence excused.
    let mut notes = at::absence_note_service_client::AbsenceNoteServiceClient::new(
        system.as_caller(&parent_token).await?,
    );
    let submitted = notes
        .submit_note(at::SubmitNoteRequest {
            student_id: child.clone(),
            from_date: lesson.date,
            to_date: lesson.date,
            code: "УП".into(),
            text: "Семейные обстоятельства".into(),
            scan: Vec::new(),
            idempotency_key: format!("e2e-note-{}", lesson.id),
        })
        .await?
        .into_inner()
        .note
        .ok_or_else(|| anyhow::anyhow!("no note"))?;
    let decided = at::absence_note_service_client::AbsenceNoteServiceClient::new(
        system.as_caller(&class_teacher_token).await?,
    )
    .decide_note(at::DecideNoteRequest {
        note_id: submitted.id.clone(),
        accept: true,
        comment: String::new(),
        idempotency_key: String::new(),
    })
    .await?
    .into_inner()
    .note
    .ok_or_else(|| anyhow::anyhow!("no note"))?;
    assert_eq!(decided.status, i32::from(at::NoteStatus::Accepted));
    let mine = notes
        .list_notes(at::ListNotesRequest {
            student_id: child.clone(),
        })
        .await?
        .into_inner()
        .notes;
    assert!(
        mine.iter()
            .any(|note| note.id == submitted.id
                && note.status == i32::from(at::NoteStatus::Accepted)),
        "{mine:?}"
    );
    let seen = as_parent
        .get_student_attendance(read(&child))
        .await?
        .into_inner();
    let excused = seen
        .absences
        .iter()
        .find(|absence| absence.lesson_id == lesson.id)
        .map(|absence| absence.code.as_str());
    assert_eq!(excused, Some("УП"));

    // Another family's child is not hers to read.
    let stranger = class
        .students
        .iter()
        .map(|(id, _)| id)
        .find(|id| !kuznetsova.children.contains(id))
        .ok_or_else(|| anyhow::anyhow!("a class of one"))?;
    let refused = as_parent.get_student_attendance(read(stranger)).await;
    assert_eq!(
        refused.err().map(|status| status.code()),
        Some(Code::PermissionDenied)
    );
    system.stop().await
}
