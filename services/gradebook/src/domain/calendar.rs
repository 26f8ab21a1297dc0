//! The school calendar: a year, its terms, its days off, and which days are
//! school days.

use time::{Date, Duration, Weekday};

use super::error::{FieldViolation, GradebookError};

/// The longest school year accepted (a year and a little).
const MAX_YEAR_DAYS: i64 = 400;

/// How a school divides its year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    Quarters,
    Trimesters,
    Halves,
}

impl TermKind {
    pub fn terms(self) -> usize {
        match self {
            Self::Quarters => 4,
            Self::Trimesters => 3,
            Self::Halves => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quarters => "quarters",
            Self::Trimesters => "trimesters",
            Self::Halves => "halves",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "quarters" => Some(Self::Quarters),
            "trimesters" => Some(Self::Trimesters),
            "halves" => Some(Self::Halves),
            _ => None,
        }
    }

    /// The default name of term `number` (from 1).
    pub fn term_name(self, number: usize) -> String {
        match self {
            Self::Quarters => format!("{number} четверть"),
            Self::Trimesters => format!("{number} триместр"),
            Self::Halves => format!("{number} полугодие"),
        }
    }
}

/// Days from `start` to `end`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub start: Date,
    pub end: Date,
}

impl Days {
    pub fn contains(&self, date: Date) -> bool {
        self.start <= date && date <= self.end
    }

    pub fn overlaps(&self, other: &Days) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    pub fn count(&self) -> i64 {
        (self.end - self.start).whole_days() + 1
    }

    pub fn iter(&self) -> impl Iterator<Item = Date> + use<> {
        let end = self.end;
        std::iter::successors(Some(self.start), |day| day.next_day())
            .take_while(move |day| *day <= end)
    }
}

/// A named stretch of days: a term or a holiday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub days: Days,
}

/// A school year as asked for, checked by [`NewSchoolYear::validate`].
#[derive(Debug, Clone)]
pub struct NewSchoolYear {
    pub name: String,
    pub days: Days,
    pub term_kind: TermKind,
    pub days_per_week: u8,
    pub terms: Vec<Named>,
    pub holidays: Vec<Named>,
}

impl NewSchoolYear {
    /// Every rule a year must keep; all violations at once, each naming its
    /// field.
    pub fn validate(&self) -> Result<(), GradebookError> {
        let mut violations = Vec::new();
        let mut field = |name: String, description: String| {
            violations.push(FieldViolation::new(name, description));
        };
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            field("name".into(), "must be 1 to 50 characters".into());
        }
        if self.days.start >= self.days.end {
            field("end_date".into(), "must be after start_date".into());
        } else if self.days.count() > MAX_YEAR_DAYS {
            field(
                "end_date".into(),
                format!("a school year lasts at most {MAX_YEAR_DAYS} days"),
            );
        }
        if !(5..=6).contains(&self.days_per_week) {
            field(
                "days_per_week".into(),
                "must be 5 (Monday to Friday) or 6 (to Saturday)".into(),
            );
        }
        if self.terms.len() != self.term_kind.terms() {
            field(
                "terms".into(),
                format!(
                    "{} need {} terms, {} given",
                    self.term_kind.as_str(),
                    self.term_kind.terms(),
                    self.terms.len()
                ),
            );
        }
        let mut previous: Option<&Named> = None;
        for (index, term) in self.terms.iter().enumerate() {
            if term.days.start > term.days.end {
                field(
                    format!("terms[{index}].end_date"),
                    "is before its start_date".into(),
                );
                continue;
            }
            if !self.days.contains(term.days.start) {
                field(
                    format!("terms[{index}].start_date"),
                    format!(
                        "{} is outside the school year ({} to {})",
                        term.days.start, self.days.start, self.days.end
                    ),
                );
            }
            if !self.days.contains(term.days.end) {
                field(
                    format!("terms[{index}].end_date"),
                    format!(
                        "{} is outside the school year ({} to {})",
                        term.days.end, self.days.start, self.days.end
                    ),
                );
            }
            if let Some(before) = previous
                && term.days.start <= before.days.end
            {
                field(
                    format!("terms[{index}].start_date"),
                    format!(
                        "overlaps or precedes the term before it ({}, ending {})",
                        before.name, before.days.end
                    ),
                );
            }
            previous = Some(term);
        }
        for (index, holiday) in self.holidays.iter().enumerate() {
            check_holiday(&self.days, index, holiday, &mut field);
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(GradebookError::Invalid(violations))
        }
    }
}

/// Checks a day off against the year it belongs to.
pub fn check_holiday(
    year: &Days,
    index: usize,
    holiday: &Named,
    field: &mut impl FnMut(String, String),
) {
    if holiday.name.trim().is_empty() || holiday.name.chars().count() > 100 {
        field(
            format!("holidays[{index}].name"),
            "must be 1 to 100 characters".into(),
        );
    }
    if holiday.days.start > holiday.days.end {
        field(
            format!("holidays[{index}].end_date"),
            "is before its start_date".into(),
        );
    } else if !year.contains(holiday.days.start) || !year.contains(holiday.days.end) {
        field(
            format!("holidays[{index}].start_date"),
            format!(
                "{} to {} is not inside the school year ({} to {})",
                holiday.days.start, holiday.days.end, year.start, year.end
            ),
        );
    }
}

/// Why a day has no lessons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayOff {
    OutsideTerms,
    Weekend(Weekday),
    Holiday(String),
}

impl std::fmt::Display for DayOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OutsideTerms => write!(f, "it is not in any term of the school year"),
            Self::Weekend(day) => write!(f, "it is a {day}, not a school day here"),
            Self::Holiday(name) => write!(f, "it is a holiday ({name})"),
        }
    }
}

/// A year as recorded: enough to tell school days from days off.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub days: Days,
    pub days_per_week: u8,
    pub terms: Vec<Named>,
    pub holidays: Vec<Named>,
}

impl Calendar {
    pub fn day_off(&self, date: Date) -> Option<DayOff> {
        if !self.terms.iter().any(|term| term.days.contains(date)) {
            return Some(DayOff::OutsideTerms);
        }
        let weekday = weekday_number(date);
        if weekday > self.days_per_week {
            return Some(DayOff::Weekend(date.weekday()));
        }
        self.holidays
            .iter()
            .find(|holiday| holiday.days.contains(date))
            .map(|holiday| DayOff::Holiday(holiday.name.clone()))
    }

    /// The school days from `from` to the end of the year.
    pub fn school_days_from(&self, from: Date) -> impl Iterator<Item = Date> + '_ {
        let start = from.max(self.days.start);
        let days = Days {
            start,
            end: self.days.end,
        };
        days.iter().filter(|day| self.day_off(*day).is_none())
    }
}

/// 1 for Monday to 7 for Sunday.
pub fn weekday_number(date: Date) -> u8 {
    date.weekday().number_from_monday()
}

/// Monday to Saturday of the week `date` falls in: a diary's page. None
/// where the week would run past the ends of the calendar (request dates
/// are bounded long before that; this arithmetic does not rely on it).
pub fn diary_week_of(date: Date) -> Option<Days> {
    let monday = date.checked_sub(Duration::days(i64::from(weekday_number(date)) - 1))?;
    let saturday = monday.checked_add(Duration::days(5))?;
    Some(Days {
        start: monday,
        end: saturday,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn named(name: &str, start: Date, end: Date) -> Named {
        Named {
            name: name.into(),
            days: Days { start, end },
        }
    }

    fn year() -> NewSchoolYear {
        NewSchoolYear {
            name: "2026/2027".into(),
            days: Days {
                start: date!(2026 - 09 - 01),
                end: date!(2027 - 05 - 31),
            },
            term_kind: TermKind::Halves,
            days_per_week: 5,
            terms: vec![
                named("1", date!(2026 - 09 - 01), date!(2026 - 12 - 28)),
                named("2", date!(2027 - 01 - 12), date!(2027 - 05 - 31)),
            ],
            holidays: vec![named(
                "Новый год",
                date!(2026 - 12 - 29),
                date!(2027 - 01 - 11),
            )],
        }
    }

    #[test]
    fn a_well_formed_year_passes() {
        assert!(year().validate().is_ok());
    }

    #[test]
    fn overlapping_and_outside_terms_are_named() {
        let mut bad = year();
        bad.terms[1].days.start = date!(2026 - 12 - 01);
        bad.terms[1].days.end = date!(2027 - 06 - 15);
        let Err(GradebookError::Invalid(violations)) = bad.validate() else {
            panic!("accepted");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["terms[1].end_date", "terms[1].start_date"]);
    }

    #[test]
    fn the_kind_fixes_the_number_of_terms() {
        let mut bad = year();
        bad.term_kind = TermKind::Quarters;
        let Err(GradebookError::Invalid(violations)) = bad.validate() else {
            panic!("accepted");
        };
        assert_eq!(violations[0].field, "terms");
    }

    #[test]
    fn holidays_weekends_and_breaks_are_not_school_days() {
        let y = year();
        let calendar = Calendar {
            days: y.days,
            days_per_week: 5,
            terms: y.terms,
            holidays: y.holidays,
        };
        assert_eq!(calendar.day_off(date!(2026 - 09 - 01)), None);
        assert_eq!(
            calendar.day_off(date!(2026 - 09 - 05)),
            Some(DayOff::Weekend(Weekday::Saturday))
        );
        assert_eq!(
            calendar.day_off(date!(2027 - 01 - 05)),
            Some(DayOff::OutsideTerms)
        );
        let week: Vec<Date> = calendar
            .school_days_from(date!(2026 - 12 - 24))
            .take(4)
            .collect();
        assert_eq!(
            week,
            [
                date!(2026 - 12 - 24),
                date!(2026 - 12 - 25),
                date!(2026 - 12 - 28),
                date!(2027 - 01 - 12)
            ]
        );
    }

    #[test]
    fn a_diary_week_runs_monday_to_saturday_and_stops_at_the_ends_of_the_calendar() {
        let week = diary_week_of(date!(2026 - 09 - 03));
        assert_eq!(
            week.map(|days| (days.start, days.end)),
            Some((date!(2026 - 08 - 31), date!(2026 - 09 - 05)))
        );
        assert_eq!(week.map(|days| days.iter().count()), Some(6));
        // The last week's Saturday would be 10000-01-01, past the last day.
        assert_eq!(diary_week_of(Date::MAX), None);
    }
}
