//! Conversions between the contracts' value types and `time`'s, shared by
//! every service.

use asurso_proto::common::CivilDate;
use time::{Date, OffsetDateTime};

pub fn civil_date(date: Date) -> CivilDate {
    CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    }
}

pub fn timestamp(at: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(at.nanosecond()).unwrap_or(0),
    }
}
