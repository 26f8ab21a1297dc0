//! The roster: what a service knows of the gradebook's classes — classes
//! and their class teachers, enrolments with their first and last days,
//! the teaching load, subgroup members — kept in the service's own
//! database from the gradebook's events. Attendance builds its lessons on
//! it; messaging resolves "my child's class teacher" and "5А's parents"
//! with it.
//!
//! Every write is an upsert or sets a value outright, so applying the
//! stream again from its start gives the same tables. It must never hold a
//! service's rule: who may see or write to whom stays in the service.

use asurso_proto::events as ev;
use asurso_runtime::{
    db::DbError,
    events::{
        ConsumerSpec, EventHandler, HandleError, ReceivedEvent,
        consumer::{event_date, event_uuid, optional_event_uuid},
        streams,
    },
};
use prost::Name;
use sqlx::{PgConnection, PgPool, migrate::Migrator};
use time::Date;

/// The roster's tables, with their own bookkeeping table.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./roster-migrations");
    migrator.dangerous_set_table_name("_asurso_roster_migrations");
    migrator
}

/// Creates the roster's tables where they do not exist yet.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    migrator().run(pool).await?;
    Ok(())
}

/// The durable consumer of the gradebook's stream for `service` when the
/// roster is all it keeps of it (`messaging-roster`).
pub fn consumer_spec(service: &str) -> ConsumerSpec {
    ConsumerSpec::new(format!("{service}-roster"), streams::GRADEBOOK)
}

/// The roster alone, as an event handler.
pub struct Roster;

impl EventHandler for Roster {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        apply(transaction, event).await.map(|_| ())
    }
}

const EVENTS: &str = ev::ClassCreated::PACKAGE;

/// Applies a gradebook event if it is the roster's; whether it was. A
/// service that keeps more of the gradebook hands its other events on.
pub async fn apply(
    transaction: &mut PgConnection,
    event: &ReceivedEvent,
) -> Result<bool, HandleError> {
    match event.name_in(EVENTS) {
        Some(ev::ClassCreated::NAME) => {
            let class: ev::ClassCreated = event.payload()?;
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
        }
        Some(ev::ClassTeacherSet::NAME) => {
            let set: ev::ClassTeacherSet = event.payload()?;
            sqlx::query("UPDATE classes SET class_teacher_id = $2 WHERE id = $1")
                .bind(event_uuid(&set.class_id, "class_id")?)
                .bind(event_uuid(&set.teacher_id, "teacher_id")?)
                .execute(transaction)
                .await?;
        }
        Some(ev::StudentEnrolled::NAME) => {
            let enrolled: ev::StudentEnrolled = event.payload()?;
            enrol(
                transaction,
                [
                    &enrolled.enrolment_id,
                    &enrolled.class_id,
                    &enrolled.student_id,
                ],
                event_date(enrolled.start_date.as_ref(), "start_date")?,
            )
            .await?;
        }
        Some(ev::StudentWithdrawn::NAME) => {
            let withdrawn: ev::StudentWithdrawn = event.payload()?;
            end_enrolment(
                transaction,
                &withdrawn.enrolment_id,
                event_date(withdrawn.end_date.as_ref(), "end_date")?,
            )
            .await?;
        }
        Some(ev::StudentMoved::NAME) => student_moved(transaction, event.payload()?).await?,
        Some(ev::SubgroupMembersSet::NAME) => members_set(transaction, event.payload()?).await?,
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
            .execute(transaction)
            .await?;
        }
        Some(ev::LoadRemoved::NAME) => {
            let load: ev::LoadRemoved = event.payload()?;
            sqlx::query("DELETE FROM loads WHERE id = $1")
                .bind(event_uuid(&load.load_id, "load_id")?)
                .execute(transaction)
                .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// An enrolment (its id, class and student) from its first day.
async fn enrol(
    transaction: &mut PgConnection,
    [enrolment, class, student]: [&str; 3],
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
    let day = event_date(moved.date.as_ref(), "date")?;
    let last = day
        .previous_day()
        .ok_or_else(|| HandleError::Permanent("date has no day before it".to_owned()))?;
    end_enrolment(transaction, &moved.from_enrolment_id, last).await?;
    enrol(
        transaction,
        [
            &moved.to_enrolment_id,
            &moved.to_class_id,
            &moved.student_id,
        ],
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
