use std::time::Duration;

use asurso_proto::{
    gradebook::{self as gb, get_timetable_request::Of},
    identity::Role,
};
use asurso_runtime::events::{EventBus, streams};
use async_nats::jetstream::consumer::pull;
use tonic::Code;

use crate::support::*;

fn on(lessons: &[gb::Lesson], date: (i32, i32, i32)) -> Vec<&gb::Lesson> {
    lessons
        .iter()
        .filter(|lesson| lesson.date == day(date.0, date.1, date.2))
        .collect()
}

#[tokio::test]
async fn a_term_is_laid_out_from_the_timetable_around_a_holiday_and_a_replacement_teacher()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.tt")
        .await?
        .gb;
    let maths_teacher = stack.person(school, Role::Teacher, "maths.tt").await?;
    let russian_teacher = stack.person(school, Role::Teacher, "russian.tt").await?;
    let mut substitute = stack.person(school, Role::Teacher, "substitute.tt").await?;
    let year = school_year(&mut admin, school).await?;
    let class_5a = class(&mut admin, &year, "5А", 5).await?;
    let maths = subject(&mut admin, school, "Математика").await?;
    let russian = subject(&mut admin, school, "Русский язык").await?;
    load(&mut admin, &class_5a, &maths, maths_teacher.id).await?;
    load(&mut admin, &class_5a, &russian, russian_teacher.id).await?;

    // Monday: maths, Russian; Wednesday: maths; Friday: Russian in period 3.
    let week = vec![
        slot(1, 1, &maths),
        slot(1, 2, &russian),
        slot(3, 1, &maths),
        slot(5, 3, &russian),
    ];
    let laid_out = admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: class_5a.id.clone(),
            slots: week.clone(),
            apply_from: None,
        })
        .await?
        .into_inner();
    assert!(laid_out.lessons_scheduled > 100, "{laid_out:?}");

    // The second quarter: 2 November (Monday) to 29 December, 4 November off.
    let of_class = Of::ClassId(class_5a.id.clone());
    let mut quarter =
        timetable_of(&mut admin, of_class.clone(), (2026, 11, 2), (2026, 12, 13)).await?;
    quarter
        .extend(timetable_of(&mut admin, of_class.clone(), (2026, 12, 14), (2026, 12, 29)).await?);
    assert_eq!(
        quarter.len(),
        33,
        "9 Mondays x 2 + 7 Wednesdays + 8 Fridays"
    );
    assert!(
        on(&quarter, (2026, 11, 4)).is_empty(),
        "a lesson on the holiday"
    );
    let monday = on(&quarter, (2026, 11, 9));
    assert_eq!(monday.len(), 2);
    assert_eq!(monday[0].subject_name, "Математика");
    assert_eq!(monday[0].start_time, at(8, 30));
    assert_eq!(monday[0].teacher_id, maths_teacher.id.to_string());
    // The autumn break (24 October to 1 November) is between terms.
    assert!(
        timetable_of(&mut admin, of_class.clone(), (2026, 10, 24), (2026, 11, 1))
            .await?
            .is_empty()
    );

    // A replacement teacher for one Monday's maths.
    let lesson_id = monday[0].id.clone();
    let replaced = admin
        .timetable
        .change_lesson(gb::ChangeLessonRequest {
            lesson_id: lesson_id.clone(),
            teacher_id: Some(substitute.id.to_string()),
            ..Default::default()
        })
        .await?
        .into_inner()
        .lesson
        .ok_or_else(|| anyhow::anyhow!("no lesson"))?;
    assert_eq!(replaced.teacher_id, substitute.id.to_string());
    assert_eq!(replaced.planned_teacher_id, maths_teacher.id.to_string());
    let theirs = timetable_of(
        &mut substitute.gb,
        Of::TeacherId(substitute.id.to_string()),
        (2026, 11, 9),
        (2026, 11, 15),
    )
    .await?;
    assert_eq!(theirs.len(), 1, "the substitute sees the lesson they take");
    assert_eq!(theirs[0].id, lesson_id);

    // Moving a lesson onto the holiday is refused, naming the field.
    let refused = admin
        .timetable
        .change_lesson(gb::ChangeLessonRequest {
            lesson_id: lesson_id.clone(),
            move_to_date: day(2026, 11, 4),
            move_to_period: 4,
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a lesson moved onto a holiday"))?;
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), ["move_to_date"]);
    assert!(
        refused.message().contains("День народного единства"),
        "{}",
        refused.message()
    );

    // Setting the same week again changes nothing and keeps the replacement.
    let again = admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: class_5a.id.clone(),
            slots: week.clone(),
            apply_from: day(2026, 11, 2),
        })
        .await?
        .into_inner();
    assert_eq!((again.lessons_scheduled, again.lessons_removed), (0, 0));
    // Dropping Friday's Russian from December removes those lessons only.
    let shorter = admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: class_5a.id.clone(),
            slots: week[..3].to_vec(),
            apply_from: day(2026, 12, 1),
        })
        .await?
        .into_inner();
    assert_eq!(shorter.lessons_scheduled, 0);
    assert!(shorter.lessons_removed > 20, "{shorter:?}");
    let after = timetable_of(&mut admin, of_class.clone(), (2026, 11, 2), (2026, 12, 13)).await?;
    assert_eq!(
        on(&after, (2026, 11, 27)).len(),
        1,
        "November keeps its Fridays"
    );
    assert!(on(&after, (2026, 12, 4)).is_empty(), "December lost them");
    assert_eq!(
        on(&after, (2026, 11, 9))[0].teacher_id,
        substitute.id.to_string()
    );

    // Every lesson laid out was published once its transaction committed.
    let bus = EventBus::connect(&stack.world.identity.nats, "probe").await?;
    let stream = bus
        .jetstream()
        .get_stream(bus.stream_name(streams::GRADEBOOK))
        .await?;
    let scheduled = stream
        .create_consumer(pull::Config {
            filter_subject: bus.subject(&format!("gradebook.lesson.scheduled.{school}")),
            ..Default::default()
        })
        .await?;
    let expected = u64::try_from(laid_out.lessons_scheduled)?;
    eventually(Duration::from_secs(10), || {
        let mut consumer = scheduled.clone();
        async move { Ok(consumer.info().await?.num_pending == expected) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_teacher_in_two_places_or_a_slot_outside_the_bells_is_refused() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.clash")
        .await?
        .gb;
    let teacher = stack.person(school, Role::Teacher, "teacher.clash").await?;
    let year = school_year(&mut admin, school).await?;
    let class_5a = class(&mut admin, &year, "5А", 5).await?;
    let class_5b = class(&mut admin, &year, "5Б", 5).await?;
    let maths = subject(&mut admin, school, "Математика").await?;
    load(&mut admin, &class_5a, &maths, teacher.id).await?;
    load(&mut admin, &class_5b, &maths, teacher.id).await?;
    admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: class_5a.id.clone(),
            slots: vec![slot(2, 3, &maths)],
            apply_from: None,
        })
        .await?;
    for (week, field) in [
        (
            vec![slot(1, 1, &maths), slot(2, 3, &maths)],
            "slots[1].teacher_id",
        ),
        (vec![slot(1, 7, &maths)], "slots[0].period"),
        (vec![slot(6, 1, &maths)], "slots[0].weekday"),
        (
            vec![slot(1, 1, &maths), slot(1, 1, &maths)],
            "slots[1].period",
        ),
    ] {
        let refused = admin
            .timetable
            .set_class_timetable(gb::SetClassTimetableRequest {
                class_id: class_5b.id.clone(),
                slots: week,
                apply_from: None,
            })
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("{field}: accepted"))?;
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(violated_fields(&refused), [field]);
    }
    let written = timetable_of(
        &mut admin,
        Of::ClassId(class_5b.id.clone()),
        (2026, 9, 1),
        (2026, 10, 10),
    )
    .await?;
    assert!(written.is_empty(), "a refused timetable laid out lessons");

    // A one-off lesson with the teacher when they already teach 5А.
    let refused = admin
        .timetable
        .schedule_lesson(gb::ScheduleLessonRequest {
            class_id: class_5b.id.clone(),
            subject_id: maths.id.clone(),
            date: day(2026, 9, 8),
            period: 3,
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a teacher booked twice"))?;
    assert_eq!(violated_fields(&refused), ["teacher_id"]);
    assert!(refused.message().contains("5А"), "{}", refused.message());
    Ok(())
}

#[tokio::test]
async fn days_off_added_later_cancel_the_lessons_on_them() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.off")
        .await?
        .gb;
    let teacher = stack.person(school, Role::Teacher, "teacher.off").await?;
    let year = school_year(&mut admin, school).await?;
    let class_7v = class(&mut admin, &year, "7В", 7).await?;
    let physics = subject(&mut admin, school, "Физика").await?;
    load(&mut admin, &class_7v, &physics, teacher.id).await?;
    admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: class_7v.id.clone(),
            slots: vec![slot(1, 1, &physics), slot(2, 1, &physics)],
            apply_from: None,
        })
        .await?;
    let added = admin
        .calendar
        .add_holidays(gb::AddHolidaysRequest {
            school_year_id: year.id.clone(),
            holidays: vec![gb::HolidayInput {
                name: "Карантин".into(),
                start_date: day(2026, 9, 14),
                end_date: day(2026, 9, 15),
            }],
        })
        .await?
        .into_inner();
    assert_eq!(added.lessons_cancelled, 2);
    let week = timetable_of(
        &mut admin,
        Of::ClassId(class_7v.id.clone()),
        (2026, 9, 14),
        (2026, 9, 20),
    )
    .await?;
    assert!(week.iter().all(
        |lesson| lesson.status == i32::from(gb::LessonStatus::Cancelled)
            && lesson.cancel_reason.contains("Карантин")
    ));
    // A day off outside the year is refused, naming it.
    let refused = admin
        .calendar
        .add_holidays(gb::AddHolidaysRequest {
            school_year_id: year.id.clone(),
            holidays: vec![gb::HolidayInput {
                name: "Лето".into(),
                start_date: day(2027, 6, 10),
                end_date: None,
            }],
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a day off outside the year accepted"))?;
    assert_eq!(violated_fields(&refused), ["holidays[0].start_date"]);
    Ok(())
}

/// How many events JetStream holds on a gradebook subject of the school.
#[tokio::test]
async fn a_lesson_changes_room_moves_and_is_cancelled_and_each_change_is_published()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.change")
        .await?
        .gb;
    let teacher = stack
        .person(school, Role::Teacher, "teacher.change")
        .await?;
    let student = stack
        .person(school, Role::Student, "student.change")
        .await?;
    let year = school_year(&mut admin, school).await?;
    let class_9a = class(&mut admin, &year, "9А", 9).await?;
    let chemistry = subject(&mut admin, school, "Химия").await?;
    load(&mut admin, &class_9a, &chemistry, teacher.id).await?;
    enrol(&mut admin, &class_9a, student.id).await?;
    admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: class_9a.id.clone(),
            slots: vec![slot(1, 1, &chemistry), slot(3, 1, &chemistry)],
            apply_from: None,
        })
        .await?;
    let week = timetable_of(
        &mut admin,
        Of::ClassId(class_9a.id.clone()),
        (2026, 9, 14),
        (2026, 9, 20),
    )
    .await?;
    assert_eq!(week.len(), 2);
    let (monday, wednesday) = (week[0].id.clone(), week[1].id.clone());

    let change = |request: gb::ChangeLessonRequest| {
        let mut admin = admin.clone();
        async move {
            anyhow::Ok(
                admin
                    .timetable
                    .change_lesson(request)
                    .await?
                    .into_inner()
                    .lesson
                    .ok_or_else(|| anyhow::anyhow!("no lesson"))?,
            )
        }
    };
    let lab = change(gb::ChangeLessonRequest {
        lesson_id: monday.clone(),
        room: Some("Лаборатория 2".into()),
        ..Default::default()
    })
    .await?;
    assert_eq!(lab.room, "Лаборатория 2");
    // Monday's lesson moves to Tuesday, period 5; where it came from is kept.
    let moved = change(gb::ChangeLessonRequest {
        lesson_id: monday.clone(),
        move_to_date: day(2026, 9, 15),
        move_to_period: 5,
        ..Default::default()
    })
    .await?;
    assert_eq!((moved.date, moved.period), (day(2026, 9, 15), 5));
    assert_eq!(
        (moved.moved_from_date, moved.moved_from_period),
        (day(2026, 9, 14), 1)
    );
    assert_eq!(moved.room, "Лаборатория 2");
    let cancelled = change(gb::ChangeLessonRequest {
        lesson_id: wednesday.clone(),
        cancel: true,
        cancel_reason: "учитель на курсах".into(),
        ..Default::default()
    })
    .await?;
    assert_eq!(cancelled.status, i32::from(gb::LessonStatus::Cancelled));
    // A cancelled lesson takes no further change.
    let refused = admin
        .timetable
        .change_lesson(gb::ChangeLessonRequest {
            lesson_id: wednesday,
            room: Some("5".into()),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a cancelled lesson changed"))?;
    assert_eq!(refused.code(), Code::FailedPrecondition);

    let after = timetable_of(
        &mut admin,
        Of::ClassId(class_9a.id.clone()),
        (2026, 9, 14),
        (2026, 9, 20),
    )
    .await?;
    let days: Vec<(i32, i32)> = after
        .iter()
        .map(|lesson| (lesson.date.as_ref().map_or(0, |d| d.day), lesson.period))
        .collect();
    assert_eq!(
        days,
        [(15, 5), (16, 1)],
        "nothing left on Monday, the moved lesson on Tuesday"
    );

    // Each fact reached JetStream once its transaction committed.
    for (event, count) in [
        ("class.created", 1),
        ("enrolment.enrolled", 1),
        ("lesson.changed", 2),
        ("lesson.cancelled", 1),
    ] {
        let stack = &stack;
        eventually(Duration::from_secs(10), || async move {
            Ok(published(stack, event, school).await? == count)
        })
        .await
        .map_err(|error| anyhow::anyhow!("{event}: {error}"))?;
    }
    Ok(())
}
