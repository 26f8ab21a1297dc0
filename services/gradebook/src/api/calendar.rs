//! School years, terms and days off.

use asurso_proto::{events, gradebook as pb};
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, civil_date, date_field, optional_date, remember, replay, uuid_field};
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

#[tonic::async_trait]
impl pb::calendar_service_server::CalendarService for CalendarApi {
    async fn create_school_year(
        &self,
        request: Request<pb::CreateSchoolYearRequest>,
    ) -> Result<Response<pb::CreateSchoolYearResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
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
        let mut transaction = self.0.begin().await?;
        let school = access::school(&mut transaction, school_id, "school_id").await?;
        access::authorize(&mut transaction, &caller, access::MANAGE, &school).await?;
        let operation = format!("CreateSchoolYear/{school_id}");
        if let Some(answer) = replay(
            &mut transaction,
            &caller,
            &operation,
            &request.idempotency_key,
        )
        .await?
        {
            return Ok(Response::new(answer));
        }
        if let Some(other) = storage::calendar::overlapping(&mut transaction, school_id, new.days)
            .await
            .map_err(GradebookError::from)?
        {
            return Err(GradebookError::invalid(
                "start_date",
                format!("the school year overlaps {other}"),
            )
            .into());
        }
        let id = match storage::calendar::insert(&mut transaction, school_id, &new).await {
            Ok(id) => id,
            Err(error) if storage::violates(&error, "school_years_school_id_name_key") => {
                return Err(GradebookError::AlreadyExists(format!(
                    "name: {} already has a school year {}",
                    school.name,
                    new.name.trim()
                ))
                .into());
            }
            Err(error) => return Err(GradebookError::from(error).into()),
        };
        let (year, _) = year_and_school(&mut transaction, id, "school_year_id").await?;
        let answer = pb::CreateSchoolYearResponse {
            school_year: Some(school_year(&year)),
        };
        remember(
            &mut transaction,
            &caller,
            &operation,
            &request.idempotency_key,
            &answer,
        )
        .await?;
        self.0.commit(transaction).await?;
        tracing::info!(school_year_id = %id, "school year created");
        Ok(Response::new(answer))
    }

    async fn get_school_year(
        &self,
        request: Request<pb::GetSchoolYearRequest>,
    ) -> Result<Response<pb::GetSchoolYearResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let id = uuid_field(&request.get_ref().school_year_id, "school_year_id")?;
        let mut connection = self.0.pool.acquire().await.map_err(GradebookError::from)?;
        let (year, school) = year_and_school(&mut connection, id, "school_year_id").await?;
        access::read_school(&caller, &school)?;
        Ok(Response::new(pb::GetSchoolYearResponse {
            school_year: Some(school_year(&year)),
        }))
    }

    async fn list_school_years(
        &self,
        request: Request<pb::ListSchoolYearsRequest>,
    ) -> Result<Response<pb::ListSchoolYearsResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let school_id = uuid_field(&request.get_ref().school_id, "school_id")?;
        let mut connection = self.0.pool.acquire().await.map_err(GradebookError::from)?;
        let school = access::school(&mut connection, school_id, "school_id").await?;
        access::read_school(&caller, &school)?;
        let mut years = Vec::new();
        for id in storage::calendar::ids_of_school(&mut connection, school_id)
            .await
            .map_err(GradebookError::from)?
        {
            if let Some(year) = storage::calendar::get(&mut connection, id)
                .await
                .map_err(GradebookError::from)?
            {
                years.push(school_year(&year));
            }
        }
        Ok(Response::new(pb::ListSchoolYearsResponse {
            school_years: years,
        }))
    }

    async fn add_holidays(
        &self,
        request: Request<pb::AddHolidaysRequest>,
    ) -> Result<Response<pb::AddHolidaysResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let id = uuid_field(&request.school_year_id, "school_year_id")?;
        let new = holidays(&request.holidays)?;
        if new.is_empty() {
            return Err(GradebookError::invalid("holidays", "at least one is needed").into());
        }
        let mut transaction = self.0.begin().await?;
        let (year, school) = year_and_school(&mut transaction, id, "school_year_id").await?;
        access::authorize(&mut transaction, &caller, access::MANAGE, &school).await?;
        storage::calendar::lock(&mut transaction, id)
            .await
            .map_err(GradebookError::from)?;
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
            return Err(GradebookError::Invalid(violations).into());
        }
        storage::calendar::add_holidays(&mut transaction, id, &new)
            .await
            .map_err(GradebookError::from)?;
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
            .await
            .map_err(GradebookError::from)?
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
        self.0.commit(transaction).await?;
        tracing::info!(school_year_id = %id, cancelled, "holidays added");
        Ok(Response::new(pb::AddHolidaysResponse {
            school_year: Some(school_year(&year)),
            lessons_cancelled: cancelled,
        }))
    }
}
