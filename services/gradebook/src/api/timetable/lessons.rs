//! Lessons one by one: scheduled by hand beside the timetable, changed
//! (another teacher or room, moved) or cancelled; and how a lesson is sent
//! and told.

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::Edge;
use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

use crate::{
    access,
    api::{
        State, calendar::year_and_school, civil_date, classes::ensure_teacher_of, date_field,
        optional_date, optional_uuid, text_of, time_of_day, uuid_field,
    },
    domain::{GradebookError, calendar::Calendar, timetable::BellPeriod},
    events::publish,
    storage::{
        self,
        classes::ClassRow,
        curriculum::LoadRow,
        lessons::{LessonRow, LessonView, NewLesson},
    },
};

/// A lesson's stored status as sent.
pub fn lesson_status(status: &str) -> pb::LessonStatus {
    if status == "cancelled" {
        pb::LessonStatus::Cancelled
    } else {
        pb::LessonStatus::Scheduled
    }
}

pub(super) fn lesson(view: &LessonView) -> pb::Lesson {
    pb::Lesson {
        id: view.id.to_string(),
        date: Some(civil_date(view.date)),
        period: view.period,
        start_time: view.start_time.map(time_of_day),
        end_time: view.end_time.map(time_of_day),
        class_id: view.class_id.to_string(),
        class_name: view.class_name.clone(),
        subgroup_id: text_of(view.subgroup_id),
        subgroup_name: view.subgroup_name.clone(),
        subject_id: view.subject_id.to_string(),
        subject_name: view.subject_name.clone(),
        teacher_id: view.teacher_id.to_string(),
        teacher_name: view.teacher_name.clone(),
        planned_teacher_id: if view.planned_teacher_id == view.teacher_id {
            String::new()
        } else {
            view.planned_teacher_id.to_string()
        },
        room: view.room.clone(),
        status: lesson_status(&view.status).into(),
        cancel_reason: view.cancel_reason.clone(),
        moved_from_date: view.moved_from_date.map(civil_date),
        moved_from_period: view.moved_from_period.unwrap_or(0),
    }
}

/// The event telling of a lesson added to the timetable.
pub(super) fn scheduled(lesson: &NewLesson) -> events::LessonScheduled {
    events::LessonScheduled {
        lesson_id: lesson.id.to_string(),
        class_id: lesson.class_id.to_string(),
        subgroup_id: text_of(lesson.subgroup_id),
        subject_id: lesson.subject_id.to_string(),
        teacher_id: lesson.teacher_id.to_string(),
        date: Some(civil_date(lesson.date)),
        period: lesson.period,
        room: lesson.room.clone(),
    }
}

/// A lesson just written, as sent back.
async fn lesson_view(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<LessonView, GradebookError> {
    storage::lessons::view(connection, id)
        .await?
        .ok_or_else(|| GradebookError::Internal("a lesson vanished".into()))
}

/// Who teaches a class's subject (or a subgroup's) by the class's load.
pub(super) fn resolve_subject(
    load: &[LoadRow],
    class: &ClassRow,
    subject_id: Uuid,
    subgroup_id: Option<Uuid>,
    field: &str,
) -> Result<Uuid, GradebookError> {
    load.iter()
        .find(|row| row.subject_id == subject_id && row.subgroup_id == subgroup_id)
        .map(|row| row.teacher_id)
        .ok_or_else(|| {
            GradebookError::invalid(
                field,
                format!(
                    "{} has no teaching load for this subject{}: assign a teacher first",
                    class.name,
                    if subgroup_id.is_some() {
                        " and group"
                    } else {
                        ""
                    }
                ),
            )
        })
}

/// The date must be a school day and the period must ring.
fn check_when(
    calendar: &Calendar,
    bells: &[BellPeriod],
    date: Date,
    period: i32,
    fields: (&str, &str),
) -> Result<(), GradebookError> {
    if let Some(off) = calendar.day_off(date) {
        return Err(GradebookError::invalid(
            fields.0,
            format!("no lessons on {date}: {off}"),
        ));
    }
    if !bells.iter().any(|bell| bell.number == period) {
        return Err(GradebookError::invalid(
            fields.1,
            format!("period {period} is not in the bell schedule"),
        ));
    }
    Ok(())
}

/// Nobody else uses the class (or group) or the teacher then.
async fn check_free(
    connection: &mut PgConnection,
    lesson: &LessonRow,
    class: &ClassRow,
    fields: (&str, &str),
) -> Result<(), GradebookError> {
    if storage::lessons::group_busy(
        connection,
        lesson.class_id,
        lesson.subgroup_id,
        lesson.date,
        lesson.period,
        Some(lesson.id),
    )
    .await?
    .is_some()
    {
        return Err(GradebookError::FailedPrecondition(format!(
            "{}: {} already has a lesson on {}, period {}",
            fields.0, class.name, lesson.date, lesson.period
        )));
    }
    if let Some(other) = storage::lessons::teacher_busy(
        connection,
        lesson.teacher_id,
        lesson.date,
        lesson.period,
        Some(lesson.id),
    )
    .await?
    {
        return Err(GradebookError::invalid(
            fields.1,
            format!(
                "the teacher already teaches {other} on {}, period {}",
                lesson.date, lesson.period
            ),
        ));
    }
    Ok(())
}

pub(super) async fn schedule_lesson(
    state: &State,
    caller: &Caller,
    request: pb::ScheduleLessonRequest,
) -> Result<pb::ScheduleLessonResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let subgroup_id = optional_uuid(&request.subgroup_id, "subgroup_id")?;
    let subject_id = uuid_field(&request.subject_id, "subject_id")?;
    let date = date_field(request.date.as_ref(), "date")?;
    let teacher = optional_uuid(&request.teacher_id, "teacher_id")?;
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    // After any layout of the year in progress (it reads the lessons).
    storage::calendar::lock(&mut transaction, class.school_year_id).await?;
    let (year, _) = year_and_school(&mut transaction, class.school_year_id, "class_id").await?;
    let bells = storage::timetable::bells(&mut transaction, year.year.id).await?;
    check_when(
        &year.calendar(),
        &bells,
        date,
        request.period,
        ("date", "period"),
    )?;
    let load = storage::curriculum::load_of_class(&mut transaction, class_id).await?;
    let by_load = resolve_subject(&load, &class, subject_id, subgroup_id, "subject_id")?;
    let teacher_id = match teacher {
        Some(teacher) if teacher != by_load => {
            ensure_teacher_of(&mut transaction, teacher, &school, "teacher_id").await?;
            teacher
        }
        _ => by_load,
    };
    let new = NewLesson {
        id: Uuid::now_v7(),
        school_id: school.id,
        class_id,
        subgroup_id,
        subject_id,
        date,
        period: request.period,
        teacher_id,
        room: request.room.trim().to_owned(),
        source: "manual",
    };
    let probe = LessonRow {
        id: new.id,
        school_id: school.id,
        class_id,
        subgroup_id,
        subject_id,
        date,
        period: new.period,
        teacher_id,
        planned_teacher_id: teacher_id,
        room: new.room.clone(),
        status: "scheduled".to_owned(),
        cancel_reason: String::new(),
        moved_from_date: None,
        moved_from_period: None,
    };
    check_free(&mut transaction, &probe, &class, ("period", "teacher_id")).await?;
    storage::lessons::insert_many(&mut transaction, std::slice::from_ref(&new)).await?;
    publish(
        &mut transaction,
        &school,
        ("lesson", new.id),
        "scheduled",
        &scheduled(&new),
    )
    .await?;
    let view = lesson_view(&mut transaction, new.id).await?;
    state.commit(transaction).await?;
    Ok(pb::ScheduleLessonResponse {
        lesson: Some(lesson(&view)),
    })
}

pub(super) async fn change_lesson(
    state: &State,
    caller: &Caller,
    request: pb::ChangeLessonRequest,
) -> Result<pb::ChangeLessonResponse, GradebookError> {
    let id = uuid_field(&request.lesson_id, "lesson_id")?;
    let teacher = match &request.teacher_id {
        Some(teacher) => Some(uuid_field(teacher, "teacher_id")?),
        None => None,
    };
    let move_to = optional_date(request.move_to_date.as_ref(), "move_to_date")?;
    if move_to.is_none() && request.move_to_period != 0 {
        return Err(GradebookError::invalid(
            "move_to_date",
            "is required with move_to_period",
        ));
    }
    let mut transaction = state.begin().await?;
    // The year first, then the lesson: the order a layout takes them in.
    if let Some(year) = storage::lessons::year_of(&mut transaction, id).await? {
        storage::calendar::lock(&mut transaction, year).await?;
    }
    let mut row = storage::lessons::get(&mut transaction, id)
        .await?
        .ok_or_else(|| GradebookError::not_found("lesson_id", format_args!("lesson {id}")))?;
    let (class, school) = access::class(&mut transaction, row.class_id, "lesson_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    storage::calendar::lock(&mut transaction, class.school_year_id).await?;
    if row.status == "cancelled" {
        return Err(GradebookError::FailedPrecondition(format!(
            "lesson_id: the lesson was cancelled ({}); schedule a new one instead",
            row.cancel_reason
        )));
    }
    if request.cancel {
        if teacher.is_some() || request.room.is_some() || move_to.is_some() {
            return Err(GradebookError::invalid(
                "cancel",
                "a cancelled lesson takes no other change",
            ));
        }
        let reason = request.cancel_reason.trim();
        row.status = "cancelled".to_owned();
        row.cancel_reason = if reason.is_empty() {
            "отменён".to_owned()
        } else {
            reason.chars().take(200).collect()
        };
        storage::lessons::update(&mut transaction, &row).await?;
        publish(
            &mut transaction,
            &school,
            ("lesson", id),
            "cancelled",
            &events::LessonCancelled {
                lesson_id: id.to_string(),
                class_id: class.id.to_string(),
                reason: row.cancel_reason.clone(),
            },
        )
        .await?;
    } else {
        if teacher.is_none() && request.room.is_none() && move_to.is_none() {
            return Err(GradebookError::invalid(
                "lesson_id",
                "nothing to change: give teacher_id, room, move_to_date or cancel",
            ));
        }
        if let Some(teacher) = teacher {
            ensure_teacher_of(&mut transaction, teacher, &school, "teacher_id").await?;
            row.teacher_id = teacher;
        }
        if let Some(room) = &request.room {
            if room.chars().count() > 50 {
                return Err(GradebookError::invalid("room", "at most 50 characters"));
            }
            row.room = room.trim().to_owned();
        }
        if let Some(date) = move_to {
            let period = if request.move_to_period == 0 {
                row.period
            } else {
                request.move_to_period
            };
            let (year, _) =
                year_and_school(&mut transaction, class.school_year_id, "lesson_id").await?;
            let bells = storage::timetable::bells(&mut transaction, year.year.id).await?;
            check_when(
                &year.calendar(),
                &bells,
                date,
                period,
                ("move_to_date", "move_to_period"),
            )?;
            if row.moved_from_date.is_none() {
                row.moved_from_date = Some(row.date);
                row.moved_from_period = Some(row.period);
            }
            row.date = date;
            row.period = period;
        }
        check_free(
            &mut transaction,
            &row,
            &class,
            ("move_to_date", "teacher_id"),
        )
        .await?;
        storage::lessons::update(&mut transaction, &row).await?;
        publish(
            &mut transaction,
            &school,
            ("lesson", id),
            "changed",
            &events::LessonChanged {
                lesson_id: id.to_string(),
                class_id: class.id.to_string(),
                teacher_id: row.teacher_id.to_string(),
                date: Some(civil_date(row.date)),
                period: row.period,
                room: row.room.clone(),
            },
        )
        .await?;
    }
    let view = lesson_view(&mut transaction, id).await?;
    state.commit(transaction).await?;
    tracing::info!(lesson_id = %id, cancelled = request.cancel, "lesson changed");
    Ok(pb::ChangeLessonResponse {
        lesson: Some(lesson(&view)),
    })
}
