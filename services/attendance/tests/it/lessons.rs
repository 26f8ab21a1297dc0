use asurso_proto::attendance as pb;
use tonic::Code;
use uuid::Uuid;

use crate::support::*;

fn absence(student: Uuid, code: &str, minutes_late: i32) -> pb::Absence {
    pb::Absence {
        student_id: student.to_string(),
        code: code.into(),
        minutes_late,
    }
}

fn take(
    lesson: &str,
    absences: Vec<pb::Absence>,
    reason: &str,
    key: &str,
) -> pb::TakeLessonRequest {
    pb::TakeLessonRequest {
        lesson_id: lesson.into(),
        absences,
        reason: reason.into(),
        idempotency_key: key.into(),
    }
}

/// (student, code, minutes) of each student not simply present.
fn marked(attendance: &pb::LessonAttendance) -> Vec<(String, String, i32)> {
    attendance
        .students
        .iter()
        .filter(|student| !student.code.is_empty())
        .map(|student| {
            (
                student.student_id.clone(),
                student.code.clone(),
                student.minutes_late,
            )
        })
        .collect()
}

fn code_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Option<Code> {
    result.err().map(|status| status.code())
}

#[tokio::test]
async fn a_teacher_takes_a_lesson_the_family_reads_it_and_corrections_are_kept_with_reasons()
-> anyhow::Result<()> {
    let mut c = Class5::new("take").await?;
    let s = c.students.clone();

    // Monday morning: two of three missing, one of them late.
    let taken = c
        .teacher
        .at
        .attendance
        .take_lesson(take(
            &c.recent.id,
            vec![absence(s[0], "НП", 0), absence(s[1], "ОП", 10)],
            "",
            "recent-1",
        ))
        .await?
        .into_inner()
        .attendance
        .ok_or_else(|| anyhow::anyhow!("no attendance"))?;
    assert!(taken.taken);
    assert_eq!(taken.taken_by, c.teacher.id.to_string());
    assert_eq!(taken.students.len(), 3, "everyone of the class that day");
    let mut expected = vec![
        (s[0].to_string(), "НП".to_owned(), 0),
        (s[1].to_string(), "ОП".to_owned(), 10),
    ];
    expected.sort();
    let mut got = marked(&taken);
    got.sort();
    assert_eq!(got, expected);
    // The answer was lost; the retry applies once and answers the same.
    let again = c
        .teacher
        .at
        .attendance
        .take_lesson(take(
            &c.recent.id,
            vec![absence(s[0], "НП", 0), absence(s[1], "ОП", 10)],
            "",
            "recent-1",
        ))
        .await?
        .into_inner()
        .attendance;
    assert_eq!(again.as_ref(), Some(&taken));

    // The parent of the first student reads it; another family may not.
    let from = civil(time::OffsetDateTime::now_utc().date() - time::Duration::days(30));
    let to = civil(time::OffsetDateTime::now_utc().date());
    let read = |student: Uuid| pb::GetStudentAttendanceRequest {
        student_id: student.to_string(),
        from_date: from,
        to_date: to,
    };
    let child = c
        .parent
        .at
        .attendance
        .get_student_attendance(read(s[0]))
        .await?
        .into_inner();
    assert_eq!(child.absences.len(), 1);
    assert_eq!(child.absences[0].code, "НП");
    assert_eq!(child.absences[0].subject_name, "Математика");
    let maths = child
        .subjects
        .iter()
        .find(|subject| subject.subject_id == c.maths.id)
        .ok_or_else(|| anyhow::anyhow!("no maths"))?;
    assert_eq!(
        (maths.lessons, maths.missed, maths.missed_with_valid_reason),
        (1, 1, 0)
    );
    let refused = c
        .other_parent
        .at
        .attendance
        .get_student_attendance(read(s[0]))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    let refused = c
        .parent
        .at
        .attendance
        .get_student_attendance(read(s[1]))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    // The late student: one time, ten minutes.
    let late = c
        .class_teacher
        .at
        .attendance
        .get_student_attendance(read(s[1]))
        .await?
        .into_inner();
    let maths = late
        .subjects
        .iter()
        .find(|subject| subject.subject_id == c.maths.id)
        .ok_or_else(|| anyhow::anyhow!("no maths"))?;
    assert_eq!(
        (maths.missed, maths.times_late, maths.minutes_late),
        (0, 1, 10)
    );

    // The note came: within their days, the teacher corrects without a
    // reason; the change is kept.
    c.teacher
        .at
        .attendance
        .take_lesson(take(
            &c.recent.id,
            vec![absence(s[0], "УП", 0), absence(s[1], "ОП", 10)],
            "",
            "",
        ))
        .await?;
    let history = c
        .teacher
        .at
        .attendance
        .get_lesson_history(pb::GetLessonHistoryRequest {
            lesson_id: c.recent.id.clone(),
        })
        .await?
        .into_inner()
        .changes;
    let changes: Vec<(String, String, String, String)> = history
        .iter()
        .map(|change| {
            (
                change.student_id.clone(),
                change.old_code.clone(),
                change.new_code.clone(),
                change.changed_by.clone(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [(
            s[0].to_string(),
            "НП".to_owned(),
            "УП".to_owned(),
            c.teacher.id.to_string()
        )]
    );
    let child = c
        .parent
        .at
        .attendance
        .get_student_attendance(read(s[0]))
        .await?
        .into_inner();
    assert_eq!(child.absences[0].code, "УП");

    // Two weeks ago: the teacher takes it late (a first take is no
    // correction), but may no longer correct it; the class teacher may,
    // with a reason; another teacher may do neither.
    c.teacher
        .at
        .attendance
        .take_lesson(take(&c.old.id, vec![absence(s[2], "НП", 0)], "", ""))
        .await?;
    let refused = c
        .teacher
        .at
        .attendance
        .take_lesson(take(&c.old.id, Vec::new(), "", ""))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    let refused = c
        .class_teacher
        .at
        .attendance
        .take_lesson(take(&c.old.id, vec![absence(s[2], "Б", 0)], "", ""))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a correction without a reason"))?;
    assert_eq!(violated_fields(&refused), ["reason"]);
    c.class_teacher
        .at
        .attendance
        .take_lesson(take(
            &c.old.id,
            vec![absence(s[2], "Б", 0)],
            "справка из поликлиники",
            "",
        ))
        .await?;
    let history = c
        .class_teacher
        .at
        .attendance
        .get_lesson_history(pb::GetLessonHistoryRequest {
            lesson_id: c.old.id.clone(),
        })
        .await?
        .into_inner()
        .changes;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].reason, "справка из поликлиники");
    assert_eq!(history[0].changed_by, c.class_teacher.id.to_string());
    // A month ago, in the closed first half: taken late once, it stands.
    c.teacher
        .at
        .attendance
        .take_lesson(take(&c.ancient.id, vec![absence(s[1], "НП", 0)], "", ""))
        .await?;
    let closed = c
        .class_teacher
        .at
        .attendance
        .take_lesson(take(&c.ancient.id, Vec::new(), "справка", ""))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a correction in a closed term"))?;
    assert_eq!(closed.code(), Code::FailedPrecondition);
    assert!(
        closed.message().contains("term is closed"),
        "{}",
        closed.message()
    );
    let refused = c
        .other_teacher
        .at
        .attendance
        .take_lesson(take(&c.recent.id, Vec::new(), "заменял", ""))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    let refused = c
        .other_teacher
        .at
        .attendance
        .get_lesson_attendance(pb::GetLessonAttendanceRequest {
            lesson_id: c.recent.id.clone(),
        })
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));

    // Every absence first recorded and every correction went out as an
    // event, through the outbox.
    let events: Vec<(String, i64)> = sqlx::query_as(
        "SELECT split_part(subject, '.', 3), count(*) FROM outbox \
         WHERE subject LIKE 'attendance.absence.%' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&c.stack.attendance.db.pool)
    .await?;
    assert_eq!(
        events,
        [("corrected".to_owned(), 2), ("recorded".to_owned(), 4)]
    );
    c.stack.stop().await
}

#[tokio::test]
async fn a_wrong_lesson_record_is_refused_by_field_and_writes_nothing() -> anyhow::Result<()> {
    let mut c = Class5::new("wrong").await?;
    let s = c.students.clone();
    let stranger = c.other_parent.id;
    let teacher = &mut c.teacher.at.attendance;
    let cases: [(Vec<pb::Absence>, &str); 5] = [
        (vec![absence(stranger, "НП", 0)], "absences[0].student_id"),
        (vec![absence(s[0], "ЖЖ", 0)], "absences[0].code"),
        (vec![absence(s[0], "ОП", 0)], "absences[0].minutes_late"),
        (vec![absence(s[0], "ОП", 46)], "absences[0].minutes_late"),
        (
            vec![absence(s[0], "Б", 0), absence(s[1], "НП", 5)],
            "absences[1].minutes_late",
        ),
    ];
    for (absences, field) in cases {
        let refused = teacher
            .take_lesson(take(&c.recent.id, absences, "", ""))
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("accepted what {field} makes wrong"))?;
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(violated_fields(&refused), [field]);
    }
    // A lesson in a few days: not yet.
    let refused = teacher
        .take_lesson(take(&c.ahead.id, Vec::new(), "", ""))
        .await;
    let status = refused
        .err()
        .ok_or_else(|| anyhow::anyhow!("a future lesson taken"))?;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().starts_with("lesson_id:"),
        "{}",
        status.message()
    );
    // A cancelled lesson: nothing to take.
    c.admin
        .gb
        .timetable
        .change_lesson(asurso_proto::gradebook::ChangeLessonRequest {
            lesson_id: c.old.id.clone(),
            cancel: true,
            cancel_reason: "карантин".into(),
            ..Default::default()
        })
        .await?;
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
    let refused = teacher
        .take_lesson(take(&c.old.id, Vec::new(), "", ""))
        .await;
    assert_eq!(code_of(refused), Some(Code::FailedPrecondition));
    let refused = teacher
        .take_lesson(take("not-a-lesson", Vec::new(), "", ""))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a lesson id that is no UUID"))?;
    assert_eq!(violated_fields(&refused), ["lesson_id"]);
    let refused = teacher
        .take_lesson(take(&Uuid::now_v7().to_string(), Vec::new(), "", ""))
        .await;
    assert_eq!(code_of(refused), Some(Code::NotFound));

    // Nothing of it was written.
    let read = teacher
        .get_lesson_attendance(pb::GetLessonAttendanceRequest {
            lesson_id: c.recent.id.clone(),
        })
        .await?
        .into_inner()
        .attendance
        .ok_or_else(|| anyhow::anyhow!("no attendance"))?;
    assert!(!read.taken);
    assert!(marked(&read).is_empty());
    let written: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM taken_lessons) + (SELECT count(*) FROM absences) \
         + (SELECT count(*) FROM outbox WHERE subject LIKE 'attendance.%')",
    )
    .fetch_one(&c.stack.attendance.db.pool)
    .await?;
    assert_eq!(written, 0);
    c.stack.stop().await
}
