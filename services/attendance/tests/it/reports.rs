use asurso_identity::harness::access_token;
use asurso_proto::{attendance as pb, common::CivilDate};
use tonic::Code;
use uuid::Uuid;

use asurso_gradebook::harness::{load, subject};

use crate::support::*;

fn absence(student: Uuid, code: &str, minutes_late: i32) -> pb::Absence {
    pb::Absence {
        student_id: student.to_string(),
        code: code.into(),
        minutes_late,
    }
}

fn code_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Option<Code> {
    result.err().map(|status| status.code())
}

fn date(of: &Option<CivilDate>) -> (i32, i32, i32) {
    of.as_ref()
        .map_or((0, 0, 0), |date| (date.year, date.month, date.day))
}

#[tokio::test]
async fn a_month_sheet_and_summaries_count_what_was_taken_for_those_who_may_read_them()
-> anyhow::Result<()> {
    let mut c = Class5::new("sheet").await?;
    let s = c.students.clone();
    let takes = [
        (
            c.recent.id.clone(),
            vec![absence(s[0], "НП", 0), absence(s[1], "ОП", 10)],
        ),
        (c.old.id.clone(), vec![absence(s[2], "Б", 0)]),
    ];
    for (lesson, absences) in takes {
        c.teacher
            .at
            .attendance
            .take_lesson(pb::TakeLessonRequest {
                lesson_id: lesson,
                absences,
                reason: String::new(),
                idempotency_key: String::new(),
            })
            .await?;
    }

    // The month of the recent lesson, as the class teacher sees it.
    let (year, month, _) = date(&c.recent.date);
    let sheet_request = |month: i32| pb::GetClassSheetRequest {
        class_id: c.class.id.clone(),
        year,
        month,
        subject_id: String::new(),
    };
    let sheet = c
        .class_teacher
        .at
        .attendance
        .get_class_sheet(sheet_request(month))
        .await?
        .into_inner();
    assert_eq!(sheet.students.len(), 3);
    let in_month: Vec<&asurso_proto::gradebook::Lesson> = [&c.recent, &c.old, &c.ahead, &c.ancient]
        .into_iter()
        .filter(|lesson| {
            let (y, m, _) = date(&lesson.date);
            (y, m) == (year, month)
        })
        .collect();
    assert_eq!(sheet.lessons.len(), in_month.len(), "{:?}", sheet.lessons);
    let recent_marks: Vec<(String, String)> = sheet
        .marks
        .iter()
        .filter(|mark| mark.lesson_id == c.recent.id)
        .map(|mark| (mark.student_id.clone(), mark.code.clone()))
        .collect();
    assert_eq!(recent_marks.len(), 2);
    assert!(recent_marks.contains(&(s[0].to_string(), "НП".to_owned())));
    let first = sheet
        .students
        .iter()
        .find(|student| student.student_id == s[0].to_string())
        .ok_or_else(|| anyhow::anyhow!("no first student"))?;
    assert_eq!(first.missed, 1);
    let refused = c
        .other_teacher
        .at
        .attendance
        .get_class_sheet(sheet_request(month))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    let refused = c
        .parent
        .at
        .attendance
        .get_class_sheet(sheet_request(month))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    // Given a subject of the class (its load, no lessons yet), the other
    // teacher reads the sheet: the class's students, none of the maths
    // lessons.
    let physics = subject(&mut c.admin.gb, c.stack.world.school_a, "Физика").await?;
    load(&mut c.admin.gb, &c.class, &physics, c.other_teacher.id).await?;
    let other = c.other_teacher.id;
    asurso_testkit::eventually(std::time::Duration::from_secs(15), || {
        let pool = c.stack.attendance.db.pool.clone();
        async move {
            Ok(sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM loads WHERE teacher_id = $1)",
            )
            .bind(other)
            .fetch_one(&pool)
            .await?)
        }
    })
    .await?;
    let theirs = c
        .other_teacher
        .at
        .attendance
        .get_class_sheet(sheet_request(month))
        .await?
        .into_inner();
    assert_eq!((theirs.students.len(), theirs.lessons.len()), (3, 0));
    let refused = c
        .class_teacher
        .at
        .attendance
        .get_class_sheet(sheet_request(13))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("month 13"))?;
    assert_eq!(violated_fields(&refused), ["month"]);

    // The school's summary over both days: 2 taken lessons × 3 students.
    let summary = |unit: Uuid| pb::GetAttendanceSummaryRequest {
        org_unit_id: unit.to_string(),
        from_date: c.old.date,
        to_date: c.recent.date,
    };
    let school = c
        .admin
        .at
        .attendance
        .get_attendance_summary(summary(c.stack.world.school_a))
        .await?
        .into_inner();
    let total = school.total.ok_or_else(|| anyhow::anyhow!("no total"))?;
    assert_eq!(
        (
            total.student_lessons,
            total.missed,
            total.missed_with_valid_reason,
            total.late
        ),
        (6, 2, 1, 1)
    );
    assert!((total.missed_share - 2.0 / 6.0).abs() < 1e-9);
    assert_eq!(total.by_code.get("НП"), Some(&1));
    assert_eq!(total.by_code.get("Б"), Some(&1));
    let class_row = school
        .rows
        .iter()
        .find(|row| row.id == c.class.id)
        .and_then(|row| row.counts.clone())
        .ok_or_else(|| anyhow::anyhow!("no row of the class"))?;
    assert_eq!(class_row.missed, 2);
    let refused = c
        .teacher
        .at
        .attendance
        .get_attendance_summary(summary(c.stack.world.school_a))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));

    // The region's, by school, for its admin only.
    let (_, login) = c.stack.world.identity.region_admin().await?;
    let mut region_admin = c.stack.attendance.clients(&access_token(&login)).await?;
    let region = region_admin
        .attendance
        .get_attendance_summary(summary(c.stack.world.region))
        .await?
        .into_inner();
    assert_eq!(
        region
            .total
            .map(|total| (total.student_lessons, total.missed)),
        Some((6, 2))
    );
    assert!(region.rows.len() >= 2, "both schools: {:?}", region.rows);
    let refused = c
        .admin
        .at
        .attendance
        .get_attendance_summary(summary(c.stack.world.region))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    c.stack.stop().await
}
