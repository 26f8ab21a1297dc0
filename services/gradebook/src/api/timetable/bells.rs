//! A school year's bell schedule: the periods a day has and when each
//! rings.

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::Edge;

use crate::{
    access,
    api::{State, calendar::year_and_school, time_field, time_of_day, uuid_field},
    domain::{
        GradebookError,
        timetable::{BellPeriod, validate_bells},
    },
    events::publish,
    storage,
};

fn period(period: &BellPeriod) -> pb::Period {
    pb::Period {
        number: period.number,
        start_time: Some(time_of_day(period.start)),
        end_time: Some(time_of_day(period.end)),
    }
}

pub(super) async fn set_bell_schedule(
    state: &State,
    caller: &Caller,
    request: pb::SetBellScheduleRequest,
) -> Result<pb::SetBellScheduleResponse, GradebookError> {
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
    let mut transaction = state.begin().await?;
    let (_, school) = year_and_school(&mut transaction, year_id, "school_year_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    storage::calendar::lock(&mut transaction, year_id).await?;
    for used in storage::timetable::periods_in_use(&mut transaction, year_id).await? {
        if !periods.iter().any(|period| period.number == used) {
            return Err(GradebookError::invalid(
                "periods",
                format!(
                    "period {used} is used by the timetable; keep it or change the timetable first"
                ),
            ));
        }
    }
    storage::timetable::replace_bells(&mut transaction, year_id, &periods).await?;
    publish(
        &mut transaction,
        &school,
        ("school_year", year_id),
        "bells_set",
        &events::BellScheduleSet {
            school_year_id: year_id.to_string(),
            periods: periods
                .iter()
                .map(|period| events::BellPeriod {
                    number: period.number,
                    start: Some(time_of_day(period.start)),
                    end: Some(time_of_day(period.end)),
                })
                .collect(),
        },
    )
    .await?;
    state.commit(transaction).await?;
    Ok(pb::SetBellScheduleResponse {
        periods: periods.iter().map(period).collect(),
    })
}

pub(super) async fn get_bell_schedule(
    state: &State,
    caller: &Caller,
    request: pb::GetBellScheduleRequest,
) -> Result<pb::GetBellScheduleResponse, GradebookError> {
    let year_id = uuid_field(&request.school_year_id, "school_year_id")?;
    let mut connection = state.pool.acquire().await?;
    let (_, school) = year_and_school(&mut connection, year_id, "school_year_id").await?;
    access::read_school(caller, &school)?;
    let periods = storage::timetable::bells(&mut connection, year_id).await?;
    Ok(pb::GetBellScheduleResponse {
        periods: periods.iter().map(period).collect(),
    })
}
