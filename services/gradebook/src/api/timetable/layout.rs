//! Laying a class's weekly timetable out over the school days from a date:
//! lessons that already match a slot stay, those that no longer do are
//! removed, the missing ones are added. A lesson changed by hand (or given
//! assignments, or moved) is never touched and holds its place.

use std::collections::HashSet;

use asurso_proto::events;
use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

use super::lessons::scheduled;
use crate::{
    domain::{
        GradebookError,
        calendar::{Calendar, weekday_number},
        timetable::{Slot, groups_clash},
    },
    events::publish,
    storage::{
        self,
        directory::School,
        lessons::{LessonRow, NewLesson},
    },
};

/// How many lessons a layout added and removed.
pub(super) struct Laid {
    pub scheduled: usize,
    pub removed: usize,
}

/// Lays `slots` out over the school days of `calendar` from `apply_from`,
/// writing and telling each lesson added or removed.
pub(super) async fn lay_out(
    connection: &mut PgConnection,
    school: &School,
    class_id: Uuid,
    slots: &[Slot],
    calendar: &Calendar,
    apply_from: Date,
) -> Result<Laid, GradebookError> {
    let kept: HashSet<(Option<Uuid>, Date, i32)> =
        storage::lessons::kept_positions(connection, class_id, apply_from)
            .await?
            .into_iter()
            .collect();
    let existing = storage::lessons::laid_out(connection, class_id, apply_from).await?;
    let (wanted, stale) = plan(
        slots,
        calendar.school_days_from(apply_from),
        &kept,
        existing,
        school.id,
        class_id,
    );
    let removed: Vec<Uuid> = stale.iter().map(|row| row.id).collect();
    storage::lessons::remove(connection, &removed).await?;
    let teachers: Vec<Uuid> = wanted.iter().map(|(_, l)| l.teacher_id).collect();
    let dates: Vec<Date> = wanted.iter().map(|(_, l)| l.date).collect();
    let periods: Vec<i32> = wanted.iter().map(|(_, l)| l.period).collect();
    if let Some((at, other, date, period)) =
        storage::lessons::first_teacher_clash(connection, class_id, &teachers, &dates, &periods)
            .await?
    {
        let index = usize::try_from(at)
            .ok()
            .and_then(|at| wanted.get(at))
            .map_or(0, |(i, _)| *i);
        return Err(GradebookError::invalid(
            format!("slots[{index}].teacher_id"),
            format!(
                "the teacher already teaches {other} on {date}, period {period} (a changed lesson)"
            ),
        ));
    }
    let new: Vec<NewLesson> = wanted.into_iter().map(|(_, lesson)| lesson).collect();
    storage::lessons::insert_many(connection, &new).await?;
    for lesson in &new {
        publish(
            connection,
            school,
            ("lesson", lesson.id),
            "scheduled",
            &scheduled(lesson),
        )
        .await?;
    }
    for row in &stale {
        publish(
            connection,
            school,
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
    Ok(Laid {
        scheduled: new.len(),
        removed: removed.len(),
    })
}

/// The lessons `slots` call for on `days` that are not there yet (each
/// with the index of its slot), and those laid out before that no slot
/// calls for any more (out of `existing`); `kept` are the positions held
/// by lessons a layout does not touch.
fn plan(
    slots: &[Slot],
    days: impl Iterator<Item = Date>,
    kept: &HashSet<(Option<Uuid>, Date, i32)>,
    mut existing: Vec<LessonRow>,
    school_id: Uuid,
    class_id: Uuid,
) -> (Vec<(usize, NewLesson)>, Vec<LessonRow>) {
    let mut wanted = Vec::new();
    for date in days {
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
                    school_id,
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
    (wanted, existing)
}
