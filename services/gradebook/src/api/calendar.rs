//! School years, terms and days off.

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::auth::Caller;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Edge, Idempotent, Shared, civil_date, date_field, optional_date, uuid_field};
use crate::api::State;
use crate::{
    access,
    domain::{
        GradebookError,
        calendar::{Days, Named, NewSchoolYear, TermKind, check_holiday},
    },
    events::publish,
    storage::{self, calendar::SchoolYear, directory::School},
};

pub struct CalendarApi(pub Shared);

fn term_kind(value: i32) -> Result<TermKind, GradebookError> {
    match pb::TermKind::try_from(value) {
        Ok(pb::TermKind::Quarters) => Ok(TermKind::Quarters),
        Ok(pb::TermKind::Trimesters) => Ok(TermKind::Trimesters),
        Ok(pb::TermKind::Halves) => Ok(TermKind::Halves),
        _ => Err(GradebookError::invalid(
            "term_kind",
            "must be quarters, trimesters or halves",
        )),
    }
}

fn holidays(inputs: &[pb::HolidayInput]) -> Result<Vec<Named>, GradebookError> {
    inputs
        .iter()
        .enumerate()
        .map(|(index, holiday)| {
            let start = date_field(
                holiday.start_date.as_ref(),
                &format!("holidays[{index}].start_date"),
            )?;
            let end = optional_date(
                holiday.end_date.as_ref(),
                &format!("holidays[{index}].end_date"),
            )?
            .unwrap_or(start);
            Ok(Named {
                name: holiday.name.trim().to_owned(),
                days: Days { start, end },
            })
        })
        .collect()
}

pub fn school_year(year: &SchoolYear) -> pb::SchoolYear {
    let kind = match storage::calendar::term_kind(&year.year) {
        TermKind::Quarters => pb::TermKind::Quarters,
        TermKind::Trimesters => pb::TermKind::Trimesters,
        TermKind::Halves => pb::TermKind::Halves,
    };
    pb::SchoolYear {
        id: year.year.id.to_string(),
        school_id: year.year.school_id.to_string(),
        name: year.year.name.clone(),
        start_date: Some(civil_date(year.year.start_date)),
        end_date: Some(civil_date(year.year.end_date)),
        term_kind: kind.into(),
        days_per_week: year.year.days_per_week,
        terms: year
            .terms
            .iter()
            .map(|term| pb::Term {
                id: term.id.to_string(),
                number: term.number,
                name: term.name.clone(),
                start_date: Some(civil_date(term.start_date)),
                end_date: Some(civil_date(term.end_date)),
            })
            .collect(),
        holidays: year
            .holidays
            .iter()
            .map(|holiday| pb::Holiday {
                id: holiday.id.to_string(),
                name: holiday.name.clone(),
                start_date: Some(civil_date(holiday.start_date)),
                end_date: Some(civil_date(holiday.end_date)),
            })
            .collect(),
    }
}

/// The year with its school, or NOT_FOUND naming the field.
pub async fn year_and_school(
    connection: &mut PgConnection,
    id: Uuid,
    field: &str,
) -> Result<(SchoolYear, School), GradebookError> {
    let year = storage::calendar::get(connection, id)
        .await?
        .ok_or_else(|| GradebookError::not_found(field, format_args!("school year {id}")))?;
    let school = access::school(connection, year.year.school_id, field).await?;
    Ok((year, school))
}

async fn create_school_year(
    state: &State,
    caller: &Caller,
    request: pb::CreateSchoolYearRequest,
) -> Result<pb::CreateSchoolYearResponse, GradebookError> {
    let school_id = uuid_field(&request.school_id, "school_id")?;
    let new = NewSchoolYear {
        name: request.name.clone(),
        days: Days {
            start: date_field(request.start_date.as_ref(), "start_date")?,
            end: date_field(request.end_date.as_ref(), "end_date")?,
        },
        term_kind: term_kind(request.term_kind)?,
        days_per_week: u8::try_from(request.days_per_week).unwrap_or(0),
        terms: request
            .terms
            .iter()
            .enumerate()
            .map(|(index, term)| {
                Ok(Named {
                    name: term.name.clone(),
                    days: Days {
                        start: date_field(
                            term.start_date.as_ref(),
                            &format!("terms[{index}].start_date"),
                        )?,
                        end: date_field(
                            term.end_date.as_ref(),
                            &format!("terms[{index}].end_date"),
                        )?,
                    },
                })
            })
            .collect::<Result<_, GradebookError>>()?,
        holidays: holidays(&request.holidays)?,
    };
    new.validate()?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    let school = access::school(&mut transaction, school_id, "school_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    if let Some(other) =
        storage::calendar::overlapping(&mut transaction, school_id, new.days).await?
    {
        return Err(GradebookError::invalid(
            "start_date",
            format!("the school year overlaps {other}"),
        ));
    }
    let id = match storage::calendar::insert(&mut transaction, school_id, &new).await {
        Ok(id) => id,
        Err(error) if storage::violates(&error, "school_years_school_id_name_key") => {
            return Err(GradebookError::AlreadyExists(format!(
                "name: {} already has a school year {}",
                school.name,
                new.name.trim()
            )));
        }
        Err(error) => return Err(GradebookError::from(error)),
    };
    let (year, _) = year_and_school(&mut transaction, id, "school_year_id").await?;
    publish(
        &mut transaction,
        &school,
        ("school_year", id),
        "created",
        &events::SchoolYearCreated {
            school_year_id: id.to_string(),
            school_id: school_id.to_string(),
            name: year.year.name.clone(),
            start_date: Some(civil_date(year.year.start_date)),
            end_date: Some(civil_date(year.year.end_date)),
            terms: year
                .terms
                .iter()
                .map(|term| events::TermFact {
                    number: term.number,
                    start_date: Some(civil_date(term.start_date)),
                    end_date: Some(civil_date(term.end_date)),
                })
                .collect(),
        },
    )
    .await?;
    let answer = pb::CreateSchoolYearResponse {
        school_year: Some(school_year(&year)),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(school_year_id = %id, "school year created");
    Ok(answer)
}

async fn get_school_year(
    state: &State,
    caller: &Caller,
    request: pb::GetSchoolYearRequest,
) -> Result<pb::GetSchoolYearResponse, GradebookError> {
    let id = uuid_field(&request.school_year_id, "school_year_id")?;
    let mut connection = state.pool.acquire().await?;
    let (year, school) = year_and_school(&mut connection, id, "school_year_id").await?;
    access::read_school(caller, &school)?;
    Ok(pb::GetSchoolYearResponse {
        school_year: Some(school_year(&year)),
    })
}

async fn list_school_years(
    state: &State,
    caller: &Caller,
    request: pb::ListSchoolYearsRequest,
) -> Result<pb::ListSchoolYearsResponse, GradebookError> {
    let school_id = uuid_field(&request.school_id, "school_id")?;
    let mut connection = state.pool.acquire().await?;
    let school = access::school(&mut connection, school_id, "school_id").await?;
    access::read_school(caller, &school)?;
    let mut years = Vec::new();
    for id in storage::calendar::ids_of_school(&mut connection, school_id).await? {
        if let Some(year) = storage::calendar::get(&mut connection, id).await? {
            years.push(school_year(&year));
        }
    }
    Ok(pb::ListSchoolYearsResponse {
        school_years: years,
    })
}

async fn add_holidays(
    state: &State,
    caller: &Caller,
    request: pb::AddHolidaysRequest,
) -> Result<pb::AddHolidaysResponse, GradebookError> {
    let id = uuid_field(&request.school_year_id, "school_year_id")?;
    let new = holidays(&request.holidays)?;
    if new.is_empty() {
        return Err(GradebookError::invalid(
            "holidays",
            "at least one is needed",
        ));
    }
    let mut transaction = state.begin().await?;
    let (year, school) = year_and_school(&mut transaction, id, "school_year_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    storage::calendar::lock(&mut transaction, id).await?;
    let days = Days {
        start: year.year.start_date,
        end: year.year.end_date,
    };
    let mut violations = Vec::new();
    for (index, holiday) in new.iter().enumerate() {
        check_holiday(&days, index, holiday, &mut |field, description| {
            violations.push(asurso_runtime::errors::FieldViolation::new(
                field,
                description,
            ));
        });
    }
    if !violations.is_empty() {
        return Err(GradebookError::Invalid(violations));
    }
    storage::calendar::add_holidays(&mut transaction, id, &new).await?;
    let mut cancelled = 0;
    for holiday in &new {
        let reason = format!("выходной: {}", holiday.name);
        for (lesson, class) in storage::lessons::cancel_between(
            &mut transaction,
            id,
            holiday.days.start,
            holiday.days.end,
            &reason,
        )
        .await?
        {
            publish(
                &mut transaction,
                &school,
                ("lesson", lesson),
                "cancelled",
                &events::LessonCancelled {
                    lesson_id: lesson.to_string(),
                    class_id: class.to_string(),
                    reason: reason.clone(),
                },
            )
            .await?;
            cancelled += 1;
        }
    }
    let (year, _) = year_and_school(&mut transaction, id, "school_year_id").await?;
    state.commit(transaction).await?;
    tracing::info!(school_year_id = %id, cancelled, "holidays added");
    Ok(pb::AddHolidaysResponse {
        school_year: Some(school_year(&year)),
        lessons_cancelled: cancelled,
    })
}

#[tonic::async_trait]
impl pb::calendar_service_server::CalendarService for CalendarApi {
    async fn create_school_year(
        &self,
        request: Request<pb::CreateSchoolYearRequest>,
    ) -> Result<Response<pb::CreateSchoolYearResponse>, Status> {
        asurso_runtime::handle!(self.0, request, create_school_year)
    }

    async fn get_school_year(
        &self,
        request: Request<pb::GetSchoolYearRequest>,
    ) -> Result<Response<pb::GetSchoolYearResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_school_year)
    }

    async fn list_school_years(
        &self,
        request: Request<pb::ListSchoolYearsRequest>,
    ) -> Result<Response<pb::ListSchoolYearsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_school_years)
    }

    async fn add_holidays(
        &self,
        request: Request<pb::AddHolidaysRequest>,
    ) -> Result<Response<pb::AddHolidaysResponse>, Status> {
        asurso_runtime::handle!(self.0, request, add_holidays)
    }
}
