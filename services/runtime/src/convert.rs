//! Conversions between the contracts' value types and `time`'s, shared by
//! every service. A date or an instant from a request is bounded here, once,
//! to the years the domain has any use for, so nothing from outside reaches
//! week arithmetic near the ends of `time`'s range or a PostgreSQL date it
//! cannot hold.

use asurso_proto::common::CivilDate;
use time::{Date, Month, OffsetDateTime};

use crate::errors::FieldViolation;

/// The first year a date from a request may fall in. Nothing a school
/// records (a school year, a lesson, a report, a birth, an audit query)
/// lies before it; the same bound as identity's birth dates.
pub const EARLIEST_YEAR: i32 = 1900;

/// The last year a date from a request may fall in: far past any school
/// year being planned, far enough from `time`'s year 9999 that a week or a
/// term counted on from it cannot overflow.
pub const LATEST_YEAR: i32 = 2200;

/// What is wrong with a year outside [`EARLIEST_YEAR`]..=[`LATEST_YEAR`].
fn out_of_years() -> String {
    format!("must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
}

pub fn civil_date(date: Date) -> CivilDate {
    CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    }
}

/// The calendar date a request's `field` names, within the years the
/// domain accepts; otherwise the violation naming it (`field.year` when
/// only the year is out of bounds).
pub fn date(value: &CivilDate, field: &str) -> Result<Date, FieldViolation> {
    if !(EARLIEST_YEAR..=LATEST_YEAR).contains(&value.year) {
        return Err(FieldViolation::new(format!("{field}.year"), out_of_years()));
    }
    let month = u8::try_from(value.month)
        .ok()
        .and_then(|month| Month::try_from(month).ok());
    let day = u8::try_from(value.day).ok();
    month
        .zip(day)
        .and_then(|(month, day)| Date::from_calendar_date(value.year, month, day).ok())
        .ok_or_else(|| {
            FieldViolation::new(
                field,
                format!(
                    "{}-{:02}-{:02} is not a date",
                    value.year, value.month, value.day
                ),
            )
        })
}

/// The instant a request's `field` names (whole seconds, as before), within
/// the years the domain accepts; otherwise the violation naming it.
pub fn instant(
    value: &prost_types::Timestamp,
    field: &str,
) -> Result<OffsetDateTime, FieldViolation> {
    OffsetDateTime::from_unix_timestamp(value.seconds)
        .ok()
        .filter(|at| (EARLIEST_YEAR..=LATEST_YEAR).contains(&at.year()))
        .ok_or_else(|| FieldViolation::new(field, format!("its year {}", out_of_years())))
}

pub fn timestamp(at: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(at.nanosecond()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    fn civil(year: i32, month: i32, day: i32) -> CivilDate {
        CivilDate { year, month, day }
    }

    #[test]
    fn a_date_inside_the_years_converts_both_ways() {
        for day in [
            date!(1900 - 01 - 01),
            date!(2026 - 09 - 01),
            date!(2200 - 12 - 31),
        ] {
            assert_eq!(date(&civil_date(day), "date"), Ok(day));
        }
    }

    #[test]
    fn a_year_outside_the_bounds_is_refused_naming_the_year() {
        for year in [-9999, 0, 1899, 2201, 9999, i32::MIN, i32::MAX] {
            assert_eq!(
                date(&civil(year, 12, 31), "week.date"),
                Err(FieldViolation::new(
                    "week.date.year",
                    "must be between 1900 and 2200"
                )),
                "year {year}"
            );
        }
    }

    #[test]
    fn a_day_the_calendar_lacks_is_refused_naming_the_field() {
        for (month, day) in [(2, 30), (13, 1), (0, 1), (1, 0), (i32::MAX, i32::MIN)] {
            let refused = date(&civil(2026, month, day), "due_date");
            assert_eq!(
                refused.as_ref().map_err(|v| v.field.as_str()),
                Err("due_date"),
                "{month}-{day}"
            );
        }
        assert_eq!(
            date(&civil(2026, 2, 30), "due_date").map_err(|v| v.description),
            Err("2026-02-30 is not a date".to_owned())
        );
    }

    #[test]
    fn an_instant_outside_the_years_is_refused_naming_the_field() {
        let inside = datetime!(2026-09-01 08:30 UTC);
        assert_eq!(instant(&timestamp(inside), "from"), Ok(inside));
        let year_minus_9999 = datetime!(-9999-01-01 0:00 UTC).unix_timestamp();
        for seconds in [
            year_minus_9999,
            -2_208_988_801,
            7_289_654_400,
            i64::MIN,
            i64::MAX,
        ] {
            let refused = instant(&prost_types::Timestamp { seconds, nanos: 0 }, "from");
            assert_eq!(
                refused.map_err(|v| (v.field, v.description)),
                Err((
                    "from".to_owned(),
                    "its year must be between 1900 and 2200".to_owned()
                )),
                "{seconds}"
            );
        }
    }
}
