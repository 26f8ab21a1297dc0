//! The bell schedule and the weekly timetable.

use sqlx::PgConnection;
use time::Time;
use uuid::Uuid;

use crate::domain::timetable::{BellPeriod, Slot};

pub async fn bells(
    connection: &mut PgConnection,
    year: Uuid,
) -> Result<Vec<BellPeriod>, sqlx::Error> {
    let rows: Vec<(i32, Time, Time)> = sqlx::query_as(
        "SELECT number, start_time, end_time FROM bell_periods WHERE school_year_id = $1 ORDER BY number",
    )
    .bind(year)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(number, start, end)| BellPeriod { number, start, end })
        .collect())
}

pub async fn replace_bells(
    connection: &mut PgConnection,
    year: Uuid,
    periods: &[BellPeriod],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM bell_periods WHERE school_year_id = $1")
        .bind(year)
        .execute(&mut *connection)
        .await?;
    for period in periods {
        sqlx::query(
            "INSERT INTO bell_periods (school_year_id, number, start_time, end_time) VALUES ($1, $2, $3, $4)",
        )
        .bind(year)
        .bind(period.number)
        .bind(period.start)
        .bind(period.end)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

/// Periods of the year that slots or lessons still use.
pub async fn periods_in_use(
    connection: &mut PgConnection,
    year: Uuid,
) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.period FROM timetable_slots s JOIN classes c ON c.id = s.class_id \
         WHERE c.school_year_id = $1 \
         UNION SELECT l.period FROM lessons l JOIN classes c ON c.id = l.class_id \
         WHERE c.school_year_id = $1 AND l.status = 'scheduled' ORDER BY 1",
    )
    .bind(year)
    .fetch_all(connection)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct SlotRow {
    weekday: i32,
    period: i32,
    subject_id: Uuid,
    subgroup_id: Option<Uuid>,
    teacher_id: Uuid,
    room: String,
}

pub async fn slots(connection: &mut PgConnection, class: Uuid) -> Result<Vec<Slot>, sqlx::Error> {
    let rows: Vec<SlotRow> = sqlx::query_as(
        "SELECT weekday, period, subject_id, subgroup_id, teacher_id, room FROM timetable_slots \
         WHERE class_id = $1 ORDER BY weekday, period, subgroup_id NULLS FIRST",
    )
    .bind(class)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Slot {
            weekday: u8::try_from(row.weekday).unwrap_or(0),
            period: row.period,
            subject_id: row.subject_id,
            subgroup_id: row.subgroup_id,
            teacher_id: row.teacher_id,
            room: row.room,
        })
        .collect())
}

pub async fn replace_slots(
    connection: &mut PgConnection,
    class: Uuid,
    slots: &[Slot],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM timetable_slots WHERE class_id = $1")
        .bind(class)
        .execute(&mut *connection)
        .await?;
    for slot in slots {
        sqlx::query(
            "INSERT INTO timetable_slots (id, class_id, weekday, period, subject_id, subgroup_id, teacher_id, room) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::now_v7())
        .bind(class)
        .bind(i32::from(slot.weekday))
        .bind(slot.period)
        .bind(slot.subject_id)
        .bind(slot.subgroup_id)
        .bind(slot.teacher_id)
        .bind(&slot.room)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

/// Another class's slot that has this teacher (or this room) at the same
/// time, in a school year overlapping this one: "6Б".
pub async fn clash_elsewhere(
    connection: &mut PgConnection,
    class: Uuid,
    slot: &Slot,
    by_room: bool,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT other.name FROM timetable_slots s \
         JOIN classes other ON other.id = s.class_id \
         JOIN school_years oy ON oy.id = other.school_year_id \
         JOIN classes mine ON mine.id = $1 \
         JOIN school_years my ON my.id = mine.school_year_id \
         WHERE s.class_id <> $1 AND s.weekday = $2 AND s.period = $3 \
           AND oy.start_date <= my.end_date AND my.start_date <= oy.end_date \
           AND CASE WHEN $6 THEN s.room = $5 AND other.school_id = mine.school_id ELSE s.teacher_id = $4 END \
         LIMIT 1",
    )
    .bind(class)
    .bind(i32::from(slot.weekday))
    .bind(slot.period)
    .bind(slot.teacher_id)
    .bind(&slot.room)
    .bind(by_room)
    .fetch_optional(connection)
    .await
}
