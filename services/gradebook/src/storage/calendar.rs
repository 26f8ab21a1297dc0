//! School years, their terms and days off.

use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

use crate::domain::calendar::{Calendar, Days, Named, NewSchoolYear, TermKind};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SchoolYearRow {
    pub id: Uuid,
    pub school_id: Uuid,
    pub name: String,
    pub start_date: Date,
    pub end_date: Date,
    pub term_kind: String,
    pub days_per_week: i32,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TermRow {
    pub id: Uuid,
    pub number: i32,
    pub name: String,
    pub start_date: Date,
    pub end_date: Date,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HolidayRow {
    pub id: Uuid,
    pub name: String,
    pub start_date: Date,
    pub end_date: Date,
}

/// A year with its terms and days off.
#[derive(Debug, Clone)]
pub struct SchoolYear {
    pub year: SchoolYearRow,
    pub terms: Vec<TermRow>,
    pub holidays: Vec<HolidayRow>,
}

impl SchoolYear {
    pub fn calendar(&self) -> Calendar {
        let named = |name: &str, start, end| Named {
            name: name.to_owned(),
            days: Days { start, end },
        };
        Calendar {
            days: Days {
                start: self.year.start_date,
                end: self.year.end_date,
            },
            days_per_week: u8::try_from(self.year.days_per_week).unwrap_or(5),
            terms: self
                .terms
                .iter()
                .map(|term| named(&term.name, term.start_date, term.end_date))
                .collect(),
            holidays: self
                .holidays
                .iter()
                .map(|holiday| named(&holiday.name, holiday.start_date, holiday.end_date))
                .collect(),
        }
    }
}

pub async fn insert(
    connection: &mut PgConnection,
    school_id: Uuid,
    new: &NewSchoolYear,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO school_years (id, school_id, name, start_date, end_date, term_kind, days_per_week) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(school_id)
    .bind(new.name.trim())
    .bind(new.days.start)
    .bind(new.days.end)
    .bind(new.term_kind.as_str())
    .bind(i32::from(new.days_per_week))
    .execute(&mut *connection)
    .await?;
    for (index, term) in new.terms.iter().enumerate() {
        let name = if term.name.trim().is_empty() {
            new.term_kind.term_name(index + 1)
        } else {
            term.name.trim().to_owned()
        };
        sqlx::query(
            "INSERT INTO terms (id, school_year_id, number, name, start_date, end_date) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(i32::try_from(index + 1).unwrap_or(i32::MAX))
        .bind(name)
        .bind(term.days.start)
        .bind(term.days.end)
        .execute(&mut *connection)
        .await?;
    }
    add_holidays(connection, id, &new.holidays).await?;
    Ok(id)
}

pub async fn add_holidays(
    connection: &mut PgConnection,
    year: Uuid,
    holidays: &[Named],
) -> Result<(), sqlx::Error> {
    for holiday in holidays {
        sqlx::query(
            "INSERT INTO holidays (id, school_year_id, name, start_date, end_date) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(year)
        .bind(holiday.name.trim())
        .bind(holiday.days.start)
        .bind(holiday.days.end)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

pub async fn get(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<SchoolYear>, sqlx::Error> {
    let Some(year) = sqlx::query_as::<_, SchoolYearRow>(
        "SELECT id, school_id, name, start_date, end_date, term_kind, days_per_week \
         FROM school_years WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *connection)
    .await?
    else {
        return Ok(None);
    };
    let terms = sqlx::query_as(
        "SELECT id, number, name, start_date, end_date FROM terms \
         WHERE school_year_id = $1 ORDER BY number",
    )
    .bind(id)
    .fetch_all(&mut *connection)
    .await?;
    let holidays = sqlx::query_as(
        "SELECT id, name, start_date, end_date FROM holidays \
         WHERE school_year_id = $1 ORDER BY start_date, name",
    )
    .bind(id)
    .fetch_all(&mut *connection)
    .await?;
    Ok(Some(SchoolYear {
        year,
        terms,
        holidays,
    }))
}

/// Locks a year's row so calendar changes and lesson layouts of one year
/// happen one after another.
pub async fn lock(connection: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM school_years WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn ids_of_school(
    connection: &mut PgConnection,
    school: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM school_years WHERE school_id = $1 ORDER BY start_date")
        .bind(school)
        .fetch_all(connection)
        .await
}

/// Years of the school whose dates overlap `days`, other than `except`.
pub async fn overlapping(
    connection: &mut PgConnection,
    school: Uuid,
    days: Days,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT name FROM school_years \
         WHERE school_id = $1 AND start_date <= $3 AND $2 <= end_date LIMIT 1",
    )
    .bind(school)
    .bind(days.start)
    .bind(days.end)
    .fetch_optional(connection)
    .await
}

pub fn term_kind(row: &SchoolYearRow) -> TermKind {
    TermKind::parse(&row.term_kind).unwrap_or(TermKind::Quarters)
}
