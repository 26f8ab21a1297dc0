//! What attendance knows of the gradebook: the shared roster (classes and
//! their class teachers, enrolments with their dates, the teaching load,
//! subgroup members: `asurso_directory::roster`) and its own: school
//! years' terms, subjects, lessons (moved, given to another teacher,
//! cancelled, removed), bell schedules.
//!
//! A durable consumer of the gradebook's stream (`attendance-gradebook`):
//! after attendance was down it catches up from where it stopped, and a new
//! deployment rebuilds these tables from the stream alone. Each event is
//! applied once (the runtime's inbox), in the stream's order; every write
//! is an upsert or sets a value outright, so applying the stream again from
//! the start gives the same tables.

use asurso_directory::roster;
use asurso_proto::events as ev;
use asurso_runtime::events::{
    ConsumerSpec, EventHandler, HandleError, ReceivedEvent,
    consumer::{event_date, event_uuid, optional_event_uuid},
    streams,
};
use prost::Name;
use sqlx::PgConnection;
use time::Time;

pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new("attendance-gradebook", streams::GRADEBOOK)
}

pub struct Gradebook;

const EVENTS: &str = ev::LessonScheduled::PACKAGE;

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
        if roster::apply(transaction, event).await? {
            return Ok(());
        }
        let name = event.name_in(EVENTS);
        tracing::debug!(subject = %event.subject, event = name.unwrap_or_default(), "gradebook event");
        match name {
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
            Some(ev::BellScheduleSet::NAME) => bells_set(transaction, event.payload()?).await,
            Some(ev::SchoolYearCreated::NAME) => year_created(transaction, event.payload()?).await,
            // Marks, assignments and the rest are not attendance's business.
            _ => Ok(()),
        }
    }
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
    .bind(event_date(lesson.date.as_ref(), "date")?)
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
        .bind(event_date(lesson.date.as_ref(), "date")?)
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
        .bind(event_date(term.start_date.as_ref(), "terms.start_date")?)
        .bind(event_date(term.end_date.as_ref(), "terms.end_date")?)
        .execute(&mut *transaction)
        .await?;
    }
    Ok(())
}
