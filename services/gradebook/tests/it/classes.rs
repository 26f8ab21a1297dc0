use asurso_proto::{
    gradebook::{self as gb, get_timetable_request::Of},
    identity::Role,
};
use tonic::Code;

use crate::support::*;

#[tokio::test]
async fn a_student_moving_class_mid_term_keeps_the_old_enrolment_and_follows_the_new_timetable()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.move")
        .await?
        .gb;
    let teacher_a = stack
        .person(school, Role::Teacher, "teacher.a.move")
        .await?;
    let teacher_b = stack
        .person(school, Role::Teacher, "teacher.b.move")
        .await?;
    let mut student = stack.person(school, Role::Student, "student.move").await?;
    let year = school_year(&mut admin, school).await?;
    let class_6a = class(&mut admin, &year, "6А", 6).await?;
    let class_6b = class(&mut admin, &year, "6Б", 6).await?;
    let history = subject(&mut admin, school, "История").await?;
    let biology = subject(&mut admin, school, "Биология").await?;
    load(&mut admin, &class_6a, &history, teacher_a.id).await?;
    load(&mut admin, &class_6b, &biology, teacher_b.id).await?;
    for (class, subject) in [(&class_6a, &history), (&class_6b, &biology)] {
        admin
            .timetable
            .set_class_timetable(gb::SetClassTimetableRequest {
                class_id: class.id.clone(),
                slots: vec![slot(1, 2, subject), slot(4, 2, subject)],
                apply_from: None,
            })
            .await?;
    }
    enrol(&mut admin, &class_6a, student.id).await?;

    // Enrolling again, anywhere, is refused: a move is a move.
    let refused = admin
        .classes
        .enrol_student(gb::EnrolStudentRequest {
            class_id: class_6b.id.clone(),
            student_id: student.id.to_string(),
            start_date: day(2026, 11, 16),
            idempotency_key: String::new(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("enrolled in two classes"))?;
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("6А"), "{}", refused.message());

    // Moved on Monday 16 November, retried with the same key: applied once.
    let request = gb::MoveStudentRequest {
        student_id: student.id.to_string(),
        to_class_id: class_6b.id.clone(),
        date: day(2026, 11, 16),
        idempotency_key: "move-6a-6b".into(),
    };
    let moved = admin
        .classes
        .move_student(request.clone())
        .await?
        .into_inner();
    let retried = admin.classes.move_student(request).await?.into_inner();
    assert_eq!(moved, retried);
    let ended = moved
        .ended
        .ok_or_else(|| anyhow::anyhow!("nothing ended"))?;
    assert_eq!(ended.end_date, day(2026, 11, 15));
    assert!(ended.end_reason.contains("6Б"), "{}", ended.end_reason);

    let roster = |on: Option<asurso_proto::common::CivilDate>, class: &gb::Class| {
        gb::ListEnrolmentsRequest {
            class_id: class.id.clone(),
            on_date: on,
        }
    };
    let before = admin
        .classes
        .list_enrolments(roster(day(2026, 11, 13), &class_6a))
        .await?
        .into_inner();
    let after = admin
        .classes
        .list_enrolments(roster(day(2026, 11, 16), &class_6a))
        .await?
        .into_inner();
    let history_6a = admin
        .classes
        .list_enrolments(roster(None, &class_6a))
        .await?
        .into_inner();
    let now_6b = admin
        .classes
        .list_enrolments(roster(day(2026, 11, 16), &class_6b))
        .await?
        .into_inner();
    assert_eq!(before.enrolments.len(), 1);
    assert!(after.enrolments.is_empty());
    assert_eq!(history_6a.enrolments.len(), 1, "the old enrolment stays");
    assert_eq!(now_6b.enrolments.len(), 1);
    assert_eq!(now_6b.enrolments[0].student_name, "Петров Иван");

    // The student's own timetable: 6А's history before the move, 6Б's
    // biology from it.
    let lessons = timetable_of(
        &mut student.gb,
        Of::StudentId(student.id.to_string()),
        (2026, 11, 9),
        (2026, 11, 22),
    )
    .await?;
    let seen: Vec<(i32, String)> = lessons
        .iter()
        .map(|lesson| {
            (
                lesson.date.as_ref().map_or(0, |d| d.day),
                lesson.subject_name.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (9, "История".to_owned()),
            (12, "История".to_owned()),
            (16, "Биология".to_owned()),
            (19, "Биология".to_owned())
        ]
    );

    // Withdrawn at the end of the quarter: gone from the roster after it.
    let withdrawn = admin
        .classes
        .withdraw_student(gb::WithdrawStudentRequest {
            class_id: class_6b.id.clone(),
            student_id: student.id.to_string(),
            end_date: day(2026, 12, 29),
            reason: "переезд в другой регион".into(),
        })
        .await?
        .into_inner();
    assert!(
        withdrawn
            .enrolment
            .is_some_and(|e| e.end_reason.contains("переезд"))
    );
    let january = admin
        .classes
        .list_enrolments(roster(day(2027, 1, 11), &class_6b))
        .await?
        .into_inner();
    assert!(january.enrolments.is_empty());
    Ok(())
}

#[tokio::test]
async fn only_students_of_the_school_are_enrolled() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.enrol")
        .await?
        .gb;
    let teacher = stack.person(school, Role::Teacher, "teacher.enrol").await?;
    let elsewhere = stack
        .person(stack.world.school_b, Role::Student, "student.b.enrol")
        .await?;
    let year = school_year(&mut admin, school).await?;
    let class_1a = class(&mut admin, &year, "1А", 1).await?;
    for (who, field) in [(teacher.id, "student_id"), (elsewhere.id, "student_id")] {
        let refused = admin
            .classes
            .enrol_student(gb::EnrolStudentRequest {
                class_id: class_1a.id.clone(),
                student_id: who.to_string(),
                start_date: None,
                idempotency_key: String::new(),
            })
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("not a student of the school, enrolled"))?;
        assert_eq!(violated_fields(&refused), [field]);
    }
    let roster = admin
        .classes
        .list_enrolments(gb::ListEnrolmentsRequest {
            class_id: class_1a.id.clone(),
            on_date: None,
        })
        .await?
        .into_inner();
    assert!(roster.enrolments.is_empty());
    // A duplicate class name in the same year is refused.
    let refused = admin
        .classes
        .create_class(gb::CreateClassRequest {
            school_year_id: year.id.clone(),
            name: "1А".into(),
            grade: 1,
            idempotency_key: String::new(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("two classes 1А"))?;
    assert_eq!(refused.code(), Code::AlreadyExists);
    Ok(())
}
