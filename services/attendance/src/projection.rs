//! What attendance knows of the gradebook: school years' terms, classes
//! and their class teachers, subjects, the teaching load, lessons (moved, given to another teacher, cancelled,
//! removed), enrolments with their dates, subgroup members, bell schedules.
//!
//! A durable consumer of the gradebook's stream (`attendance-gradebook`):
//! after attendance was down it catches up from where it stopped, and a new
//! deployment rebuilds these tables from the stream alone. Each event is
//! applied once (the runtime's inbox), in the stream's order; every write
//! is an upsert or sets a value outright, so applying the stream again from
//! the start gives the same tables.

use asurso_proto::events as ev;
use asurso_runtime::{
    convert,
    events::{
        ConsumerSpec, EventHandler, HandleError, ReceivedEvent,
        consumer::{event_uuid, optional_event_uuid},
        streams,
    },
};
use prost::Name;
use sqlx::PgConnection;
use time::{Date, Time};

pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new("attendance-gradebook", streams::GRADEBOOK)
}

pub struct Gradebook;

const EVENTS: &str = ev::LessonScheduled::PACKAGE;

fn date(value: Option<&asurso_proto::common::CivilDate>, field: &str) -> Result<Date, HandleError> {
    value
        .ok_or_else(|| HandleError::Permanent(format!("{field} is missing")))
        .and_then(|value| {
            convert::date(value, field)
                .map_err(|violation| HandleError::Permanent(violation.description))
        })
}

fn time_of_day(
    value: Option<&asurso_proto::common::TimeOfDay>,
    field: &str,
) -> Result<Time, HandleError> {
    value
        .and_then(|value| {
            let hours = u8::try_from(value.hours).ok()?;
            let minutes = u8::try_from(value.minutes).ok()?;
            Time::from_hms(hours, minutes, 0).ok()
        })
        .ok_or_else(|| HandleError::Permanent(format!("{field} is not a time of day")))
}

impl EventHandler for Gradebook {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let name = event.name_in(EVENTS);
        tracing::debug!(subject = %event.subject, event = name.unwrap_or_default(), "gradebook event");
        match name {
            Some(ev::ClassCreated::NAME) => class_created(transaction, event.payload()?).await,
            Some(ev::ClassTeacherSet::NAME) => {
                let set: ev::ClassTeacherSet = event.payload()?;
                sqlx::query("UPDATE classes SET class_teacher_id = $2 WHERE id = $1")
                    .bind(event_uuid(&set.class_id, "class_id")?)
                    .bind(event_uuid(&set.teacher_id, "teacher_id")?)
                    .execute(&mut *transaction)
                    .await?;
                Ok(())
            }
            Some(ev::SubjectCreated::NAME) => {
                let subject: ev::SubjectCreated = event.payload()?;
                sqlx::query(
                    "INSERT INTO subjects (id, school_id, name, short_name) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, short_name = excluded.short_name",
                )
                .bind(event_uuid(&subject.subject_id, "subject_id")?)
                .bind(event_uuid(&subject.school_id, "school_id")?)
                .bind(&subject.name)
                .bind(&subject.short_name)
                .execute(&mut *transaction)
                .await?;
                Ok(())
            }
            Some(ev::LessonScheduled::NAME) => {
                lesson_scheduled(transaction, event, event.payload()?).await
            }
            Some(ev::LessonChanged::NAME) => lesson_changed(transaction, event.payload()?).await,
            Some(ev::LessonCancelled::NAME) => {
                let lesson: ev::LessonCancelled = event.payload()?;
                lesson_status(transaction, &lesson.lesson_id, "cancelled").await
            }
            Some(ev::LessonRemoved::NAME) => {
                let lesson: ev::LessonRemoved = event.payload()?;
                lesson_status(transaction, &lesson.lesson_id, "removed").await
            }
            Some(ev::StudentEnrolled::NAME) => {
                let enrolled: ev::StudentEnrolled = event.payload()?;
                enrol(
                    transaction,
                    &enrolled.enrolment_id,
                    &enrolled.class_id,
                    &enrolled.student_id,
                    date(enrolled.start_date.as_ref(), "start_date")?,
                )
                .await
            }
            Some(ev::StudentWithdrawn::NAME) => {
                let withdrawn: ev::StudentWithdrawn = event.payload()?;
                end_enrolment(
                    transaction,
                    &withdrawn.enrolment_id,
                    date(withdrawn.end_date.as_ref(), "end_date")?,
                )
                .await
            }
            Some(ev::StudentMoved::NAME) => student_moved(transaction, event.payload()?).await,
            Some(ev::SubgroupMembersSet::NAME) => members_set(transaction, event.payload()?).await,
            Some(ev::BellScheduleSet::NAME) => bells_set(transaction, event.payload()?).await,
            Some(ev::SchoolYearCreated::NAME) => year_created(transaction, event.payload()?).await,
            Some(ev::LoadAssigned::NAME) => {
                let load: ev::LoadAssigned = event.payload()?;
                sqlx::query(
                    "INSERT INTO loads (id, class_id, subgroup_id, subject_id, teacher_id) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE \
                     SET teacher_id = excluded.teacher_id",
                )
                .bind(event_uuid(&load.load_id, "load_id")?)
                .bind(event_uuid(&load.class_id, "class_id")?)
                .bind(optional_event_uuid(&load.subgroup_id, "subgroup_id")?)
                .bind(event_uuid(&load.subject_id, "subject_id")?)
                .bind(event_uuid(&load.teacher_id, "teacher_id")?)
                .execute(&mut *transaction)
                .await?;
                Ok(())
            }
            Some(ev::LoadRemoved::NAME) => {
                let load: ev::LoadRemoved = event.payload()?;
                sqlx::query("DELETE FROM loads WHERE id = $1")
                    .bind(event_uuid(&load.load_id, "load_id")?)
                    .execute(&mut *transaction)
                    .await?;
                Ok(())
            }
            // Marks, assignments and the rest are not attendance's business.
            _ => Ok(()),
        }
    }
}

async fn class_created(
    transaction: &mut PgConnection,
    class: ev::ClassCreated,
) -> Result<(), HandleError> {
    sqlx::query(
        "INSERT INTO classes (id, school_id, school_year_id, name) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name",
    )
    .bind(event_uuid(&class.class_id, "class_id")?)
    .bind(event_uuid(&class.school_id, "school_id")?)
    .bind(event_uuid(&class.school_year_id, "school_year_id")?)
    .bind(&class.name)
    .execute(transaction)
    .await?;
    Ok(())
}

/// The school of a lesson is the envelope's scope: the gradebook publishes
/// every lesson event under its school.
async fn lesson_scheduled(
    transaction: &mut PgConnection,
    event: &ReceivedEvent,
    lesson: ev::LessonScheduled,
) -> Result<(), HandleError> {
    let school = event
        .envelope
        .scope
        .as_ref()
        .map(|scope| scope.school_id.as_str())
        .unwrap_or_default();
    sqlx::query(
        "INSERT INTO lessons (id, school_id, class_id, subgroup_id, subject_id, teacher_id, date, period) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET teacher_id = excluded.teacher_id, date = excluded.date, \
             period = excluded.period, status = 'scheduled'",
    )
    .bind(event_uuid(&lesson.lesson_id, "lesson_id")?)
    .bind(event_uuid(school, "scope.school_id")?)
    .bind(event_uuid(&lesson.class_id, "class_id")?)
    .bind(optional_event_uuid(&lesson.subgroup_id, "subgroup_id")?)
    .bind(event_uuid(&lesson.subject_id, "subject_id")?)
    .bind(event_uuid(&lesson.teacher_id, "teacher_id")?)
    .bind(date(lesson.date.as_ref(), "date")?)
    .bind(lesson.period)
    .execute(transaction)
    .await?;
    Ok(())
}

async fn lesson_changed(
    transaction: &mut PgConnection,
    lesson: ev::LessonChanged,
) -> Result<(), HandleError> {
    sqlx::query("UPDATE lessons SET teacher_id = $2, date = $3, period = $4 WHERE id = $1")
        .bind(event_uuid(&lesson.lesson_id, "lesson_id")?)
        .bind(event_uuid(&lesson.teacher_id, "teacher_id")?)
        .bind(date(lesson.date.as_ref(), "date")?)
        .bind(lesson.period)
        .execute(transaction)
        .await?;
    Ok(())
}

async fn lesson_status(
    transaction: &mut PgConnection,
    lesson: &str,
    status: &str,
) -> Result<(), HandleError> {
    sqlx::query("UPDATE lessons SET status = $2 WHERE id = $1")
        .bind(event_uuid(lesson, "lesson_id")?)
        .bind(status)
        .execute(transaction)
        .await?;
    Ok(())
}

async fn enrol(
    transaction: &mut PgConnection,
    enrolment: &str,
    class: &str,
    student: &str,
    start: Date,
) -> Result<(), HandleError> {
    sqlx::query(
        "INSERT INTO enrolments (id, class_id, student_id, start_date) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET start_date = excluded.start_date",
    )
    .bind(event_uuid(enrolment, "enrolment_id")?)
    .bind(event_uuid(class, "class_id")?)
    .bind(event_uuid(student, "student_id")?)
    .bind(start)
    .execute(transaction)
    .await?;
    Ok(())
}

/// `last` is the last day in the class.
async fn end_enrolment(
    transaction: &mut PgConnection,
    enrolment: &str,
    last: Date,
) -> Result<(), HandleError> {
    sqlx::query("UPDATE enrolments SET end_date = $2 WHERE id = $1")
        .bind(event_uuid(enrolment, "enrolment_id")?)
        .bind(last)
        .execute(transaction)
        .await?;
    Ok(())
}

/// A move on `date`: the old enrolment ends the day before, the new one
/// starts that day.
async fn student_moved(
    transaction: &mut PgConnection,
    moved: ev::StudentMoved,
) -> Result<(), HandleError> {
    let day = date(moved.date.as_ref(), "date")?;
    let last = day
        .previous_day()
        .ok_or_else(|| HandleError::Permanent("date has no day before it".to_owned()))?;
    end_enrolment(transaction, &moved.from_enrolment_id, last).await?;
    enrol(
        transaction,
        &moved.to_enrolment_id,
        &moved.to_class_id,
        &moved.student_id,
        day,
    )
    .await
}

async fn members_set(
    transaction: &mut PgConnection,
    set: ev::SubgroupMembersSet,
) -> Result<(), HandleError> {
    let subgroup = event_uuid(&set.subgroup_id, "subgroup_id")?;
    let class = event_uuid(&set.class_id, "class_id")?;
    let students = set
        .student_ids
        .iter()
        .map(|id| event_uuid(id, "student_ids"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query("DELETE FROM subgroup_members WHERE subgroup_id = $1")
        .bind(subgroup)
        .execute(&mut *transaction)
        .await?;
    sqlx::query(
        "INSERT INTO subgroup_members (subgroup_id, class_id, student_id) \
         SELECT $1, $2, unnest($3::uuid[])",
    )
    .bind(subgroup)
    .bind(class)
    .bind(&students)
    .execute(transaction)
    .await?;
    Ok(())
}

async fn bells_set(
    transaction: &mut PgConnection,
    set: ev::BellScheduleSet,
) -> Result<(), HandleError> {
    let year = event_uuid(&set.school_year_id, "school_year_id")?;
    sqlx::query("DELETE FROM bells WHERE school_year_id = $1")
        .bind(year)
        .execute(&mut *transaction)
        .await?;
    for period in &set.periods {
        sqlx::query(
            "INSERT INTO bells (school_year_id, number, starts, ends) VALUES ($1, $2, $3, $4)",
        )
        .bind(year)
        .bind(period.number)
        .bind(time_of_day(period.start.as_ref(), "periods.start")?)
        .bind(time_of_day(period.end.as_ref(), "periods.end")?)
        .execute(&mut *transaction)
        .await?;
    }
    Ok(())
}

async fn year_created(
    transaction: &mut PgConnection,
    year: ev::SchoolYearCreated,
) -> Result<(), HandleError> {
    let id = event_uuid(&year.school_year_id, "school_year_id")?;
    for term in &year.terms {
        sqlx::query(
            "INSERT INTO terms (school_year_id, number, start_date, end_date) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (school_year_id, number) DO UPDATE \
             SET start_date = excluded.start_date, end_date = excluded.end_date",
        )
        .bind(id)
        .bind(term.number)
        .bind(date(term.start_date.as_ref(), "terms.start_date")?)
        .bind(date(term.end_date.as_ref(), "terms.end_date")?)
        .execute(&mut *transaction)
        .await?;
    }
    Ok(())
}
