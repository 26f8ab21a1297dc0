//! The apps' formats: dates exactly `YYYY-MM-DDT00:00:00`, datetimes ISO
//! 8601 without a zone, lesson times `HH:MM`; and the parameters they send.

use std::collections::HashMap;

use asurso_proto::common::{CivilDate, TimeOfDay};
use axum::extract::Request;
use time::{Date, Month, OffsetDateTime, UtcOffset};

use super::WebApiError;

/// `2026-12-07T00:00:00`: netschoolapi parses dates with exactly this.
pub fn date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}T00:00:00",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

pub fn civil(date: Date) -> CivilDate {
    CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    }
}

pub fn from_civil(civil: Option<&CivilDate>) -> Option<Date> {
    let civil = civil?;
    let month = Month::try_from(u8::try_from(civil.month).ok()?).ok()?;
    Date::from_calendar_date(civil.year, month, u8::try_from(civil.day).ok()?).ok()
}

/// A civil date as the apps read it; an unset one (never expected) as the
/// epoch rather than `null`, which they cannot parse.
pub fn civil_text(civil: Option<&CivilDate>) -> String {
    date(from_civil(civil).unwrap_or(time::macros::date!(1970 - 01 - 01)))
}

/// `08:30`.
pub fn time_of_day(time: Option<&TimeOfDay>) -> String {
    time.map_or_else(
        || "00:00".to_owned(),
        |time| format!("{:02}:{:02}", time.hours, time.minutes),
    )
}

/// A bell's time as the apps read the bell schedule: a datetime on a
/// fixed day (`1900-01-01T08:30:00`), which they parse with
/// `datetime.fromisoformat`.
pub fn bell_time(time: Option<&TimeOfDay>) -> String {
    format!("1900-01-01T{}:00", time_of_day(time))
}

/// Moscow time: how a region's apps show the moments of letters and
/// announcements when no zone is known (ISO 8601 without a zone).
const DISPLAY_OFFSET_HOURS: i8 = 3;

pub fn moment(at: Option<&prost_types::Timestamp>) -> String {
    let at = at
        .and_then(|at| OffsetDateTime::from_unix_timestamp(at.seconds).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let offset = UtcOffset::from_hms(DISPLAY_OFFSET_HOURS, 0, 0).unwrap_or(UtcOffset::UTC);
    let at = at.to_offset(offset);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Today in the region (Moscow time: close enough to pick a week or a
/// school year).
pub fn today() -> Date {
    let offset = UtcOffset::from_hms(DISPLAY_OFFSET_HOURS, 0, 0).unwrap_or(UtcOffset::UTC);
    OffsetDateTime::now_utc().to_offset(offset).date()
}

/// A date parameter: `2026-12-07`, or with `T00:00:00` as the apps also
/// send it.
pub fn parse_date(text: Option<&str>, field: &str) -> Result<Date, WebApiError> {
    let text = text
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| WebApiError::BadRequest(format!("{field}: обязательный параметр")))?;
    let day = text.split_once('T').map_or(text, |(day, _)| day);
    let wrong = || {
        WebApiError::BadRequest(format!(
            "{field}: {text:?} — не дата (ожидается ГГГГ-ММ-ДД)"
        ))
    };
    let mut parts = day.splitn(3, '-');
    let (Some(year), Some(month), Some(day)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(wrong());
    };
    let year: i32 = year.parse().map_err(|_| wrong())?;
    let month: u8 = month.parse().map_err(|_| wrong())?;
    let day: u8 = day.parse().map_err(|_| wrong())?;
    let month = Month::try_from(month).map_err(|_| wrong())?;
    if !(1900..=2200).contains(&year) {
        return Err(wrong());
    }
    Date::from_calendar_date(year, month, day).map_err(|_| wrong())
}

/// The query's parameters; none when it cannot be read (each handler then
/// names what it misses).
pub fn query(request: &Request) -> HashMap<String, String> {
    axum::extract::Query::try_from_uri(request.uri())
        .map(|axum::extract::Query(query)| query)
        .unwrap_or_default()
}

/// `a=1&b=%D0%B0` → pairs, `+` as a space.
pub fn form_urlencoded(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    crate::web::encoding::percent_decode(&text.replace('+', " "))
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn dates_are_exactly_what_the_apps_parse() {
        assert_eq!(super::date(date!(2026 - 12 - 07)), "2026-12-07T00:00:00");
        assert_eq!(time_of_day(None), "00:00");
        assert_eq!(
            bell_time(Some(&TimeOfDay {
                hours: 13,
                minutes: 40
            })),
            "1900-01-01T13:40:00"
        );
        assert_eq!(
            time_of_day(Some(&TimeOfDay {
                hours: 8,
                minutes: 5
            })),
            "08:05"
        );
    }

    #[test]
    fn date_parameters_take_both_forms_and_name_a_bad_one() {
        for text in ["2026-12-07", "2026-12-07T00:00:00"] {
            assert_eq!(
                parse_date(Some(text), "weekStart").ok(),
                Some(date!(2026 - 12 - 07))
            );
        }
        for bad in [
            "",
            "07.12.2026",
            "2026-13-01",
            "2026-02-30",
            "x-y-z",
            "99999-01-01",
        ] {
            match parse_date(Some(bad), "weekStart") {
                Err(WebApiError::BadRequest(message)) => {
                    assert!(message.starts_with("weekStart:"), "{message}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn queries_decode_percent_and_plus() {
        let pairs = form_urlencoded("name=%D0%A8%D0%BA%D0%BE%D0%BB%D0%B0+1&x=%zz&y");
        assert_eq!(pairs[0], ("name".to_owned(), "Школа 1".to_owned()));
        assert_eq!(pairs[1], ("x".to_owned(), "%zz".to_owned()));
        assert_eq!(pairs[2], ("y".to_owned(), String::new()));
    }
}
