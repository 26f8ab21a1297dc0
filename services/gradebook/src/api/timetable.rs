//! The bell schedule, the weekly timetable, lessons laid out from it and
//! changed one by one, and the timetable of a class, teacher or student.

use std::collections::HashSet;

use asurso_proto::{events, gradebook as pb};
use sqlx::PgConnection;
use time::Date;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Shared, calendar::year_and_school, civil_date, classes::ensure_teacher_of, date_field,
    optional_date, optional_uuid, text_of, time_field, time_of_day, uuid_field,
};
use crate::{
    access::{self, StudentReader},
    domain::{
        GradebookError,
        calendar::weekday_number,
        timetable::{BellPeriod, Slot, groups_clash, validate_bells, validate_week},
    },
    events::{publish, report_read},
    storage::{
        self,
        classes::ClassRow,
        curriculum::LoadRow,
        lessons::{LessonRow, LessonView, NewLesson},
    },
};

/// The longest stretch one GetTimetable call covers (six weeks: a month
/// view with the days around it).
const MAX_TIMETABLE_DAYS: i64 = 42;

pub struct TimetableApi(pub Shared);

fn period(period: &BellPeriod) -> pb::Period {
    pb::Period {
        number: period.number,
        start_time: Some(time_of_day(period.start)),
        end_time: Some(time_of_day(period.end)),
    }
}

fn slot(slot: &Slot) -> pb::Slot {
    pb::Slot {
        weekday: i32::from(slot.weekday),
        period: slot.period,
        subject_id: slot.subject_id.to_string(),
        subgroup_id: text_of(slot.subgroup_id),
        teacher_id: slot.teacher_id.to_string(),
        room: slot.room.clone(),
    }
}

/// A lesson's stored status as sent.
pub fn lesson_status(status: &str) -> pb::LessonStatus {
    if status == "cancelled" {
        pb::LessonStatus::Cancelled
    } else {
        pb::LessonStatus::Scheduled
    }
}

fn lesson(view: &LessonView) -> pb::Lesson {
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

fn scheduled(lesson: &NewLesson) -> events::LessonScheduled {
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

async fn lesson_view(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<LessonView, GradebookError> {
    storage::lessons::view(connection, id)
        .await?
        .ok_or_else(|| GradebookError::Internal("a lesson vanished".into()))
}

/// Who teaches a class's subject (or a subgroup's) by the class's load.
fn resolve_subject(
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
    calendar: &crate::domain::calendar::Calendar,
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

/// Who may read which lessons of a timetable.
enum Reader {
    All,
    /// Only what happened in this school.
    School(Uuid),
}

impl Reader {
    fn keep(&self, view: &LessonView) -> bool {
        match self {
            Self::All => true,
            Self::School(school) => view.school_id == *school,
        }
    }
}

#[tonic::async_trait]
impl pb::timetable_service_server::TimetableService for TimetableApi {
    async fn set_bell_schedule(
        &self,
        request: Request<pb::SetBellScheduleRequest>,
    ) -> Result<Response<pb::SetBellScheduleResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let year_id = uuid_field(&request.school_year_id, "school_year_id")?;
        let periods = request
            .periods
            .iter()
            .enumerate()
            .map(|(index, period)| {
                Ok(BellPeriod {
                    number: period.number,
                    start: time_field(
                        period.start_time.as_ref(),
                        &format!("periods[{index}].start_time"),
                    )?,
                    end: time_field(
                        period.end_time.as_ref(),
                        &format!("periods[{index}].end_time"),
                    )?,
                })
            })
            .collect::<Result<Vec<_>, GradebookError>>()?;
        validate_bells(&periods)?;
        let mut transaction = self.0.begin().await?;
        let (_, school) = year_and_school(&mut transaction, year_id, "school_year_id").await?;
        access::authorize(&mut transaction, &caller, access::MANAGE, &school).await?;
        storage::calendar::lock(&mut transaction, year_id)
            .await
            .map_err(GradebookError::from)?;
        for used in storage::timetable::periods_in_use(&mut transaction, year_id)
            .await
            .map_err(GradebookError::from)?
        {
            if !periods.iter().any(|period| period.number == used) {
                return Err(GradebookError::invalid(
                    "periods",
                    format!("period {used} is used by the timetable; keep it or change the timetable first"),
                )
                .into());
            }
        }
        storage::timetable::replace_bells(&mut transaction, year_id, &periods)
            .await
            .map_err(GradebookError::from)?;
        self.0.commit(transaction).await?;
        Ok(Response::new(pb::SetBellScheduleResponse {
            periods: periods.iter().map(period).collect(),
        }))
    }

    async fn get_bell_schedule(
        &self,
        request: Request<pb::GetBellScheduleRequest>,
    ) -> Result<Response<pb::GetBellScheduleResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let year_id = uuid_field(&request.get_ref().school_year_id, "school_year_id")?;
        let mut connection = self.0.pool.acquire().await.map_err(GradebookError::from)?;
        let (_, school) = year_and_school(&mut connection, year_id, "school_year_id").await?;
        access::read_school(&caller, &school)?;
        let periods = storage::timetable::bells(&mut connection, year_id)
            .await
            .map_err(GradebookError::from)?;
        Ok(Response::new(pb::GetBellScheduleResponse {
            periods: periods.iter().map(period).collect(),
        }))
    }

    async fn set_class_timetable(
        &self,
        request: Request<pb::SetClassTimetableRequest>,
    ) -> Result<Response<pb::SetClassTimetableResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let class_id = uuid_field(&request.class_id, "class_id")?;
        let apply_from = optional_date(request.apply_from.as_ref(), "apply_from")?;
        let mut transaction = self.0.begin().await?;
        let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
        access::authorize(&mut transaction, &caller, access::MANAGE, &school).await?;
        // One layout of a year at a time: clashes between classes are
        // checked against what the others have committed.
        storage::calendar::lock(&mut transaction, class.school_year_id)
            .await
            .map_err(GradebookError::from)?;
        let (year, _) = year_and_school(&mut transaction, class.school_year_id, "class_id").await?;
        let apply_from = apply_from.unwrap_or(year.year.start_date);
        if apply_from < year.year.start_date || apply_from > year.year.end_date {
            return Err(GradebookError::invalid(
                "apply_from",
                format!("{apply_from} is outside the school year {}", year.year.name),
            )
            .into());
        }
        let bells = storage::timetable::bells(&mut transaction, year.year.id)
            .await
            .map_err(GradebookError::from)?;
        if bells.is_empty() {
            return Err(GradebookError::FailedPrecondition(format!(
                "class_id: the school year {} has no bell schedule yet; set it first",
                year.year.name
            ))
            .into());
        }
        let load = storage::curriculum::load_of_class(&mut transaction, class_id)
            .await
            .map_err(GradebookError::from)?;
        let mut slots = Vec::with_capacity(request.slots.len());
        for (index, input) in request.slots.iter().enumerate() {
            let subject_id = uuid_field(&input.subject_id, &format!("slots[{index}].subject_id"))?;
            let subgroup_id =
                optional_uuid(&input.subgroup_id, &format!("slots[{index}].subgroup_id"))?;
            let by_load = resolve_subject(
                &load,
                &class,
                subject_id,
                subgroup_id,
                &format!("slots[{index}].subject_id"),
            )?;
            let teacher_id =
                match optional_uuid(&input.teacher_id, &format!("slots[{index}].teacher_id"))? {
                    Some(teacher) if teacher != by_load => {
                        ensure_teacher_of(
                            &mut transaction,
                            teacher,
                            &school,
                            &format!("slots[{index}].teacher_id"),
                        )
                        .await?;
                        teacher
                    }
                    _ => by_load,
                };
            slots.push(Slot {
                weekday: u8::try_from(input.weekday).unwrap_or(0),
                period: input.period,
                subject_id,
                subgroup_id,
                teacher_id,
                room: input.room.trim().to_owned(),
            });
        }
        let days_per_week = u8::try_from(year.year.days_per_week).unwrap_or(5);
        validate_week(&slots, days_per_week, &bells)?;
        for (index, wanted) in slots.iter().enumerate() {
            if let Some(other) =
                storage::timetable::clash_elsewhere(&mut transaction, class_id, wanted, false)
                    .await
                    .map_err(GradebookError::from)?
            {
                return Err(GradebookError::invalid(
                    format!("slots[{index}].teacher_id"),
                    format!(
                        "the teacher already teaches {other} on weekday {}, period {}",
                        wanted.weekday, wanted.period
                    ),
                )
                .into());
            }
            if !wanted.room.is_empty()
                && let Some(other) =
                    storage::timetable::clash_elsewhere(&mut transaction, class_id, wanted, true)
                        .await
                        .map_err(GradebookError::from)?
            {
                return Err(GradebookError::invalid(
                    format!("slots[{index}].room"),
                    format!(
                        "room {} is taken by {other} on weekday {}, period {}",
                        wanted.room, wanted.weekday, wanted.period
                    ),
                )
                .into());
            }
        }
        storage::timetable::replace_slots(&mut transaction, class_id, &slots)
            .await
            .map_err(GradebookError::from)?;

        // Lay the week out over the school days from apply_from: keep what
        // already matches, remove what no longer does, add what is missing.
        let calendar = year.calendar();
        let kept: HashSet<(Option<Uuid>, Date, i32)> =
            storage::lessons::kept_positions(&mut transaction, class_id, apply_from)
                .await
                .map_err(GradebookError::from)?
                .into_iter()
                .collect();
        let mut existing = storage::lessons::laid_out(&mut transaction, class_id, apply_from)
            .await
            .map_err(GradebookError::from)?;
        let mut wanted = Vec::new();
        for date in calendar.school_days_from(apply_from) {
            let weekday = weekday_number(date);
            for (index, slot) in slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.weekday == weekday)
            {
                // A lesson changed by hand (or the place one was moved
                // from) holds the slot for every group it clashes with.
                if kept.iter().any(|(group, day, period)| {
                    *day == date && *period == slot.period && groups_clash(*group, slot.subgroup_id)
                }) {
                    continue;
                }
                let same = existing.iter().position(|row| {
                    row.date == date
                        && row.period == slot.period
                        && row.subgroup_id == slot.subgroup_id
                        && row.subject_id == slot.subject_id
                        && row.teacher_id == slot.teacher_id
                        && row.room == slot.room
                        && row.status == "scheduled"
                });
                if let Some(position) = same {
                    existing.swap_remove(position);
                    continue;
                }
                wanted.push((
                    index,
                    NewLesson {
                        id: Uuid::now_v7(),
                        school_id: school.id,
                        class_id,
                        subgroup_id: slot.subgroup_id,
                        subject_id: slot.subject_id,
                        date,
                        period: slot.period,
                        teacher_id: slot.teacher_id,
                        room: slot.room.clone(),
                        source: "timetable",
                    },
                ));
            }
        }
        let removed: Vec<Uuid> = existing.iter().map(|row| row.id).collect();
        storage::lessons::remove(&mut transaction, &removed)
            .await
            .map_err(GradebookError::from)?;
        let teachers: Vec<Uuid> = wanted.iter().map(|(_, l)| l.teacher_id).collect();
        let dates: Vec<Date> = wanted.iter().map(|(_, l)| l.date).collect();
        let periods: Vec<i32> = wanted.iter().map(|(_, l)| l.period).collect();
        if let Some((at, other, date, period)) = storage::lessons::first_teacher_clash(
            &mut transaction,
            class_id,
            &teachers,
            &dates,
            &periods,
        )
        .await
        .map_err(GradebookError::from)?
        {
            let index = usize::try_from(at)
                .ok()
                .and_then(|at| wanted.get(at))
                .map_or(0, |(i, _)| *i);
            return Err(GradebookError::invalid(
                format!("slots[{index}].teacher_id"),
                format!("the teacher already teaches {other} on {date}, period {period} (a changed lesson)"),
            )
            .into());
        }
        let new: Vec<NewLesson> = wanted.into_iter().map(|(_, lesson)| lesson).collect();
        storage::lessons::insert_many(&mut transaction, &new)
            .await
            .map_err(GradebookError::from)?;
        for lesson in &new {
            publish(
                &mut transaction,
                &school,
                ("lesson", lesson.id),
                "scheduled",
                &scheduled(lesson),
            )
            .await?;
        }
        for row in &existing {
            publish(
                &mut transaction,
                &school,
                ("lesson", row.id),
                "removed",
                &events::LessonRemoved {
                    lesson_id: row.id.to_string(),
                    class_id: class_id.to_string(),
                    reason: "the timetable changed".to_owned(),
                },
            )
            .await?;
        }
        self.0.commit(transaction).await?;
        tracing::info!(%class_id, scheduled = new.len(), removed = removed.len(), "timetable set");
        Ok(Response::new(pb::SetClassTimetableResponse {
            slots: slots.iter().map(slot).collect(),
            lessons_scheduled: i32::try_from(new.len()).unwrap_or(i32::MAX),
            lessons_removed: i32::try_from(removed.len()).unwrap_or(i32::MAX),
        }))
    }

    async fn get_class_timetable(
        &self,
        request: Request<pb::GetClassTimetableRequest>,
    ) -> Result<Response<pb::GetClassTimetableResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let class_id = uuid_field(&request.get_ref().class_id, "class_id")?;
        let mut connection = self.0.pool.acquire().await.map_err(GradebookError::from)?;
        let (class, school) = access::class(&mut connection, class_id, "class_id").await?;
        access::read_class(&mut connection, &caller, &class, &school).await?;
        let slots = storage::timetable::slots(&mut connection, class_id)
            .await
            .map_err(GradebookError::from)?;
        Ok(Response::new(pb::GetClassTimetableResponse {
            slots: slots.iter().map(slot).collect(),
        }))
    }

    async fn schedule_lesson(
        &self,
        request: Request<pb::ScheduleLessonRequest>,
    ) -> Result<Response<pb::ScheduleLessonResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let class_id = uuid_field(&request.class_id, "class_id")?;
        let subgroup_id = optional_uuid(&request.subgroup_id, "subgroup_id")?;
        let subject_id = uuid_field(&request.subject_id, "subject_id")?;
        let date = date_field(request.date.as_ref(), "date")?;
        let teacher = optional_uuid(&request.teacher_id, "teacher_id")?;
        let mut transaction = self.0.begin().await?;
        let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
        access::authorize(&mut transaction, &caller, access::MANAGE, &school).await?;
        // After any layout of the year in progress (it reads the lessons).

        let (year, _) = year_and_school(&mut transaction, class.school_year_id, "class_id").await?;
        let bells = storage::timetable::bells(&mut transaction, year.year.id)
            .await
            .map_err(GradebookError::from)?;
        check_when(
            &year.calendar(),
            &bells,
            date,
            request.period,
            ("date", "period"),
        )?;
        let load = storage::curriculum::load_of_class(&mut transaction, class_id)
            .await
            .map_err(GradebookError::from)?;
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
        storage::lessons::insert_many(&mut transaction, std::slice::from_ref(&new))
            .await
            .map_err(GradebookError::from)?;
        publish(
            &mut transaction,
            &school,
            ("lesson", new.id),
            "scheduled",
            &scheduled(&new),
        )
        .await?;
        let view = lesson_view(&mut transaction, new.id).await?;
        self.0.commit(transaction).await?;
        Ok(Response::new(pb::ScheduleLessonResponse {
            lesson: Some(lesson(&view)),
        }))
    }

    async fn change_lesson(
        &self,
        request: Request<pb::ChangeLessonRequest>,
    ) -> Result<Response<pb::ChangeLessonResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let id = uuid_field(&request.lesson_id, "lesson_id")?;
        let teacher = match &request.teacher_id {
            Some(teacher) => Some(uuid_field(teacher, "teacher_id")?),
            None => None,
        };
        let move_to = optional_date(request.move_to_date.as_ref(), "move_to_date")?;
        if move_to.is_none() && request.move_to_period != 0 {
            return Err(
                GradebookError::invalid("move_to_date", "is required with move_to_period").into(),
            );
        }
        let mut transaction = self.0.begin().await?;
        // The year first, then the lesson: the order a layout takes them in.
        if let Some(year) = storage::lessons::year_of(&mut transaction, id)
            .await
            .map_err(GradebookError::from)?
        {
            storage::calendar::lock(&mut transaction, year)
                .await
                .map_err(GradebookError::from)?;
        }
        let mut row = storage::lessons::get(&mut transaction, id)
            .await
            .map_err(GradebookError::from)?
            .ok_or_else(|| GradebookError::not_found("lesson_id", format_args!("lesson {id}")))?;
        let (class, school) = access::class(&mut transaction, row.class_id, "lesson_id").await?;
        access::authorize(&mut transaction, &caller, access::MANAGE, &school).await?;
        storage::calendar::lock(&mut transaction, class.school_year_id)
            .await
            .map_err(GradebookError::from)?;
        if row.status == "cancelled" {
            return Err(GradebookError::FailedPrecondition(format!(
                "lesson_id: the lesson was cancelled ({}); schedule a new one instead",
                row.cancel_reason
            ))
            .into());
        }
        if request.cancel {
            if teacher.is_some() || request.room.is_some() || move_to.is_some() {
                return Err(GradebookError::invalid(
                    "cancel",
                    "a cancelled lesson takes no other change",
                )
                .into());
            }
            let reason = request.cancel_reason.trim();
            row.status = "cancelled".to_owned();
            row.cancel_reason = if reason.is_empty() {
                "отменён".to_owned()
            } else {
                reason.chars().take(200).collect()
            };
            storage::lessons::update(&mut transaction, &row)
                .await
                .map_err(GradebookError::from)?;
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
                )
                .into());
            }
            if let Some(teacher) = teacher {
                ensure_teacher_of(&mut transaction, teacher, &school, "teacher_id").await?;
                row.teacher_id = teacher;
            }
            if let Some(room) = &request.room {
                if room.chars().count() > 50 {
                    return Err(GradebookError::invalid("room", "at most 50 characters").into());
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
                let bells = storage::timetable::bells(&mut transaction, year.year.id)
                    .await
                    .map_err(GradebookError::from)?;
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
            storage::lessons::update(&mut transaction, &row)
                .await
                .map_err(GradebookError::from)?;
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
        self.0.commit(transaction).await?;
        tracing::info!(lesson_id = %id, cancelled = request.cancel, "lesson changed");
        Ok(Response::new(pb::ChangeLessonResponse {
            lesson: Some(lesson(&view)),
        }))
    }

    async fn get_timetable(
        &self,
        request: Request<pb::GetTimetableRequest>,
    ) -> Result<Response<pb::GetTimetableResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let from = date_field(request.from_date.as_ref(), "from_date")?;
        let to = date_field(request.to_date.as_ref(), "to_date")?;
        if to < from {
            return Err(GradebookError::invalid("to_date", "is before from_date").into());
        }
        if (to - from).whole_days() >= MAX_TIMETABLE_DAYS {
            return Err(GradebookError::invalid(
                "to_date",
                format!("a timetable covers at most {MAX_TIMETABLE_DAYS} days"),
            )
            .into());
        }
        let mut transaction = self.0.begin().await?;
        let (reader, lessons) = match request.of {
            Some(pb::get_timetable_request::Of::ClassId(class_id)) => {
                let class_id = uuid_field(&class_id, "class_id")?;
                let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
                access::read_class(&mut transaction, &caller, &class, &school).await?;
                (
                    Reader::All,
                    storage::lessons::of_class(&mut transaction, class_id, from, to)
                        .await
                        .map_err(GradebookError::from)?,
                )
            }
            Some(pb::get_timetable_request::Of::TeacherId(teacher_id)) => {
                let teacher_id = uuid_field(&teacher_id, "teacher_id")?;
                let reader = if teacher_id == caller.person_id {
                    Reader::All
                } else {
                    // A school's administration sees its own teachers' lessons there.
                    let school = access::school(&mut transaction, caller.org_unit_id, "teacher_id")
                        .await
                        .map_err(|_| {
                            GradebookError::denied("you may read only your own timetable")
                        })?;
                    access::authorize(&mut transaction, &caller, access::MANAGE, &school).await?;
                    Reader::School(school.id)
                };
                (
                    reader,
                    storage::lessons::of_teacher(&mut transaction, teacher_id, from, to)
                        .await
                        .map_err(GradebookError::from)?,
                )
            }
            Some(pb::get_timetable_request::Of::StudentId(student_id)) => {
                let student = uuid_field(&student_id, "student_id")?;
                let reader = match access::read_student(&mut transaction, &caller, student).await? {
                    StudentReader::Family => Reader::All,
                    StudentReader::Staff(school_id) => {
                        let school =
                            access::school(&mut transaction, school_id, "student_id").await?;
                        report_read(&mut transaction, &caller, &school, student, "timetable")
                            .await?;
                        Reader::School(school_id)
                    }
                };
                (
                    reader,
                    storage::lessons::of_student(&mut transaction, student, from, to)
                        .await
                        .map_err(GradebookError::from)?,
                )
            }
            None => {
                return Err(GradebookError::invalid(
                    "of",
                    "class_id, teacher_id or student_id is required",
                )
                .into());
            }
        };
        self.0.commit(transaction).await?;
        Ok(Response::new(pb::GetTimetableResponse {
            lessons: lessons
                .iter()
                .filter(|view| reader.keep(view))
                .map(lesson)
                .collect(),
        }))
    }
}
