//! A class's weekly timetable: its slots, each resolved to the teacher of
//! the subject's load (or one named), checked against the bell schedule
//! and against what the other classes have; setting it lays the week out
//! over the school days (`layout`).

use asurso_proto::gradebook as pb;
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::Edge;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{layout::lay_out, lessons::resolve_subject};
use crate::{
    access,
    api::{
        State, calendar::year_and_school, classes::ensure_teacher_of, optional_date, optional_uuid,
        text_of, uuid_field,
    },
    domain::{
        GradebookError,
        timetable::{Slot, validate_week},
    },
    storage::{self, classes::ClassRow, curriculum::LoadRow, directory::School},
};

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

pub(super) async fn set_class_timetable(
    state: &State,
    caller: &Caller,
    request: pb::SetClassTimetableRequest,
) -> Result<pb::SetClassTimetableResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let apply_from = optional_date(request.apply_from.as_ref(), "apply_from")?;
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    // One layout of a year at a time: clashes between classes are
    // checked against what the others have committed.
    storage::calendar::lock(&mut transaction, class.school_year_id).await?;
    let (year, _) = year_and_school(&mut transaction, class.school_year_id, "class_id").await?;
    let apply_from = apply_from.unwrap_or(year.year.start_date);
    if apply_from < year.year.start_date || apply_from > year.year.end_date {
        return Err(GradebookError::invalid(
            "apply_from",
            format!("{apply_from} is outside the school year {}", year.year.name),
        ));
    }
    let bells = storage::timetable::bells(&mut transaction, year.year.id).await?;
    if bells.is_empty() {
        return Err(GradebookError::FailedPrecondition(format!(
            "class_id: the school year {} has no bell schedule yet; set it first",
            year.year.name
        )));
    }
    let load = storage::curriculum::load_of_class(&mut transaction, class_id).await?;
    let slots = resolve_slots(&mut transaction, &request.slots, &class, &school, &load).await?;
    let days_per_week = u8::try_from(year.year.days_per_week).unwrap_or(5);
    validate_week(&slots, days_per_week, &bells)?;
    check_clashes(&mut transaction, class_id, &slots).await?;
    storage::timetable::replace_slots(&mut transaction, class_id, &slots).await?;
    let laid = lay_out(
        &mut transaction,
        &school,
        class_id,
        &slots,
        &year.calendar(),
        apply_from,
    )
    .await?;
    state.commit(transaction).await?;
    tracing::info!(%class_id, scheduled = laid.scheduled, removed = laid.removed, "timetable set");
    Ok(pb::SetClassTimetableResponse {
        slots: slots.iter().map(slot).collect(),
        lessons_scheduled: i32::try_from(laid.scheduled).unwrap_or(i32::MAX),
        lessons_removed: i32::try_from(laid.removed).unwrap_or(i32::MAX),
    })
}

/// The slots as sent, each with its teacher: the one of the class's load
/// for the subject (and group), or another teacher of the school named.
async fn resolve_slots(
    connection: &mut PgConnection,
    inputs: &[pb::Slot],
    class: &ClassRow,
    school: &School,
    load: &[LoadRow],
) -> Result<Vec<Slot>, GradebookError> {
    let mut slots = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let subject_id = uuid_field(&input.subject_id, &format!("slots[{index}].subject_id"))?;
        let subgroup_id =
            optional_uuid(&input.subgroup_id, &format!("slots[{index}].subgroup_id"))?;
        let by_load = resolve_subject(
            load,
            class,
            subject_id,
            subgroup_id,
            &format!("slots[{index}].subject_id"),
        )?;
        let teacher_id =
            match optional_uuid(&input.teacher_id, &format!("slots[{index}].teacher_id"))? {
                Some(teacher) if teacher != by_load => {
                    ensure_teacher_of(
                        connection,
                        teacher,
                        school,
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
    Ok(slots)
}

/// No slot's teacher teaches, nor its room holds, another class's lesson
/// at the same weekday and period.
async fn check_clashes(
    connection: &mut PgConnection,
    class_id: Uuid,
    slots: &[Slot],
) -> Result<(), GradebookError> {
    for (index, wanted) in slots.iter().enumerate() {
        if let Some(other) =
            storage::timetable::clash_elsewhere(connection, class_id, wanted, false).await?
        {
            return Err(GradebookError::invalid(
                format!("slots[{index}].teacher_id"),
                format!(
                    "the teacher already teaches {other} on weekday {}, period {}",
                    wanted.weekday, wanted.period
                ),
            ));
        }
        if !wanted.room.is_empty()
            && let Some(other) =
                storage::timetable::clash_elsewhere(connection, class_id, wanted, true).await?
        {
            return Err(GradebookError::invalid(
                format!("slots[{index}].room"),
                format!(
                    "room {} is taken by {other} on weekday {}, period {}",
                    wanted.room, wanted.weekday, wanted.period
                ),
            ));
        }
    }
    Ok(())
}

pub(super) async fn get_class_timetable(
    state: &State,
    caller: &Caller,
    request: pb::GetClassTimetableRequest,
) -> Result<pb::GetClassTimetableResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let mut connection = state.pool.acquire().await?;
    let (class, school) = access::class(&mut connection, class_id, "class_id").await?;
    access::read_class(&mut connection, caller, &class, &school).await?;
    let slots = storage::timetable::slots(&mut connection, class_id).await?;
    Ok(pb::GetClassTimetableResponse {
        slots: slots.iter().map(slot).collect(),
    })
}
