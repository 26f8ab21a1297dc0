//! Conversions between the contracts' value types and `time`'s, shared by
//! every service.

use asurso_proto::common::CivilDate;
use time::{Date, Month, OffsetDateTime};

pub fn civil_date(date: Date) -> CivilDate {
    CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    }
}

/// The calendar date, or None when the fields name no date.
pub fn date(value: &CivilDate) -> Option<Date> {
    let month = Month::try_from(u8::try_from(value.month).ok()?).ok()?;
    Date::from_calendar_date(value.year, month, u8::try_from(value.day).ok()?).ok()
}

pub fn timestamp(at: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(at.nanosecond()).unwrap_or(0),
    }
}
