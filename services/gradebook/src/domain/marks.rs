//! Marks and what is computed from them: the scale, weighted averages, the
//! mark an average suggests, and the periods term marks are given for.

use time::Date;

use super::GradebookError;
use crate::domain::calendar::{Days, TermKind};

/// A mark for an assignment, or a term/year/final mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkValue {
    /// 1 to 5.
    Grade(u8),
    Pass,
    Fail,
    /// Work not handed in (assignments only).
    Debt,
    /// Not assessed, "н/а" (term marks only).
    NotAssessed,
    /// Exempt, "осв." (term marks only).
    Exempt,
}

/// Where a mark is given: the scale differs a little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkUse {
    Assignment,
    Period,
}

impl MarkValue {
    /// A mark from its stored or transmitted form (kind, grade), checked
    /// for where it is used; the violation names `field`.
    pub fn parse(
        kind: &str,
        grade: Option<i32>,
        used: MarkUse,
        field: &str,
    ) -> Result<Self, GradebookError> {
        let value = match kind {
            "grade" => {
                let grade = grade.unwrap_or(0);
                match u8::try_from(grade) {
                    Ok(grade @ 1..=5) => Self::Grade(grade),
                    _ => {
                        return Err(GradebookError::invalid(
                            format!("{field}.grade"),
                            format!("{grade} is outside the scale: a mark is 1 to 5"),
                        ));
                    }
                }
            }
            "pass" => Self::Pass,
            "fail" => Self::Fail,
            "debt" => Self::Debt,
            "not_assessed" => Self::NotAssessed,
            "exempt" => Self::Exempt,
            _ => {
                return Err(GradebookError::invalid(
                    format!("{field}.kind"),
                    "is required: a grade, pass, fail or debt",
                ));
            }
        };
        let fits = match used {
            MarkUse::Assignment => !matches!(value, Self::NotAssessed | Self::Exempt),
            MarkUse::Period => value != Self::Debt,
        };
        if !fits {
            return Err(GradebookError::invalid(
                format!("{field}.kind"),
                match used {
                    MarkUse::Assignment => "not assessed and exempt are for term marks only",
                    MarkUse::Period => "a debt is for assignments only",
                },
            ));
        }
        if !matches!(value, Self::Grade(_)) && grade.unwrap_or(0) != 0 {
            return Err(GradebookError::invalid(
                format!("{field}.grade"),
                "is only for a mark of kind grade",
            ));
        }
        Ok(value)
    }

    pub fn kind(self) -> &'static str {
        match self {
            Self::Grade(_) => "grade",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Debt => "debt",
            Self::NotAssessed => "not_assessed",
            Self::Exempt => "exempt",
        }
    }

    pub fn grade(self) -> Option<i32> {
        match self {
            Self::Grade(grade) => Some(i32::from(grade)),
            _ => None,
        }
    }
}

/// The weighted average of (grade, weight) pairs; `None` without grades.
pub fn weighted_average(marks: impl IntoIterator<Item = (i32, i32)>) -> Option<f64> {
    let (sum, weights) = marks
        .into_iter()
        .fold((0i64, 0i64), |(sum, weights), (grade, weight)| {
            (
                sum + i64::from(grade) * i64::from(weight),
                weights + i64::from(weight),
            )
        });
    (weights > 0).then(|| sum as f64 / weights as f64)
}

/// An average as shown: to two decimal places.
pub fn rounded(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The mark an average suggests: rounded, x.5 up (4.5 gives 5).
pub fn suggested_grade(average: f64) -> i32 {
    // Averages are at most 5 and carry float noise: 4.4999999 is 4.5.
    (rounded(average) + 0.5).floor() as i32
}

/// The most terms a school year has: a year of quarters.
pub const MAX_TERMS: i32 = 4;

/// What a term mark is given for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Term(i32),
    HalfYear(i32),
    Year,
    Exam,
    Final,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Term(_) => "term",
            Self::HalfYear(_) => "half_year",
            Self::Year => "year",
            Self::Exam => "exam",
            Self::Final => "final",
        }
    }

    pub fn number(self) -> i32 {
        match self {
            Self::Term(number) | Self::HalfYear(number) => number,
            _ => 0,
        }
    }

    pub fn parse(kind: &str, number: i32) -> Option<Self> {
        match kind {
            "term" => Some(Self::Term(number)),
            "half_year" => Some(Self::HalfYear(number)),
            "year" => Some(Self::Year),
            "exam" => Some(Self::Exam),
            "final" => Some(Self::Final),
            _ => None,
        }
    }

    /// A period as a request names it (`field` is the request's name for
    /// it), its number bounded to what any year has before anything counts
    /// with it: terms 1 to [`MAX_TERMS`], half-years 1 or 2. A year, exam or
    /// final mark has no number; whatever came is ignored, as it always was.
    pub fn requested(kind: &str, number: i32, field: &str) -> Result<Self, GradebookError> {
        let period = Self::parse(kind, number)
            .ok_or_else(|| GradebookError::invalid(format!("{field}.kind"), "is required"))?;
        let description = match period {
            Self::Term(_) if !(1..=MAX_TERMS).contains(&number) => {
                format!("must be 1 to {MAX_TERMS}: no year has more terms")
            }
            Self::HalfYear(_) if !(1..=2).contains(&number) => "a half-year is 1 or 2".to_owned(),
            _ => return Ok(period),
        };
        Err(GradebookError::invalid(
            format!("{field}.number"),
            description,
        ))
    }

    /// The days whose marks the period's average is taken over: a term's
    /// own days, a half-year's two quarters, the whole year for the rest.
    /// `terms` are the year's terms in order.
    pub fn days(
        self,
        year: Days,
        kind: TermKind,
        terms: &[Days],
        field: &str,
    ) -> Result<Days, GradebookError> {
        let term = |number: i32| {
            usize::try_from(number)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|index| terms.get(index))
                .copied()
        };
        match self {
            Self::Term(number) => term(number).ok_or_else(|| {
                GradebookError::invalid(
                    format!("{field}.number"),
                    format!("the year has terms 1 to {}", terms.len()),
                )
            }),
            Self::HalfYear(number) => {
                if kind != TermKind::Quarters {
                    return Err(GradebookError::invalid(
                        format!("{field}.kind"),
                        "half-year marks are given in a year of quarters",
                    ));
                }
                // The quarters of each half named outright: no arithmetic
                // on a number that may have come from anywhere.
                let quarters = match number {
                    1 => Some((1, 2)),
                    2 => Some((3, 4)),
                    _ => None,
                };
                match quarters.map(|(first, second)| (term(first), term(second))) {
                    Some((Some(first), Some(second))) => Ok(Days {
                        start: first.start,
                        end: second.end,
                    }),
                    _ => Err(GradebookError::invalid(
                        format!("{field}.number"),
                        "a half-year is 1 or 2",
                    )),
                }
            }
            Self::Year | Self::Exam | Self::Final => Ok(year),
        }
    }
}

/// The span a report covers, checked: `to` not before `from`, at most a
/// school year and a bit.
pub fn report_span(from: Date, to: Date) -> Result<Days, GradebookError> {
    if to < from {
        return Err(GradebookError::invalid("to_date", "is before from_date"));
    }
    if (to - from).whole_days() > 400 {
        return Err(GradebookError::invalid(
            "to_date",
            "a report covers at most 400 days",
        ));
    }
    Ok(Days {
        start: from,
        end: to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_one_to_five_and_each_kind_has_its_place() {
        assert_eq!(
            MarkValue::parse("grade", Some(5), MarkUse::Assignment, "m").ok(),
            Some(MarkValue::Grade(5))
        );
        for bad in [0, 6, -1] {
            let Err(GradebookError::Invalid(violations)) =
                MarkValue::parse("grade", Some(bad), MarkUse::Assignment, "marks[2].value")
            else {
                panic!("{bad} accepted");
            };
            assert_eq!(violations[0].field, "marks[2].value.grade");
        }
        assert!(MarkValue::parse("debt", None, MarkUse::Assignment, "m").is_ok());
        assert!(MarkValue::parse("debt", None, MarkUse::Period, "m").is_err());
        assert!(MarkValue::parse("exempt", None, MarkUse::Assignment, "m").is_err());
        assert!(MarkValue::parse("pass", Some(4), MarkUse::Assignment, "m").is_err());
        assert!(MarkValue::parse("", None, MarkUse::Assignment, "m").is_err());
    }

    #[test]
    fn weights_count_and_half_rounds_up() {
        // 5 (weight 1), 3 (weight 3): 14 / 4 = 3.5.
        let average = weighted_average([(5, 1), (3, 3)]);
        assert_eq!(average, Some(3.5));
        assert_eq!(suggested_grade(3.5), 4);
        assert_eq!(suggested_grade(3.49), 3);
        assert_eq!(suggested_grade(4.6), 5);
        assert_eq!(weighted_average([]), None);
    }

    #[test]
    fn half_years_join_two_quarters() {
        let day = |m, d| Date::from_calendar_date(2026, m, d).unwrap_or(Date::MIN);
        use time::Month::*;
        let terms = [
            Days {
                start: day(September, 1),
                end: day(October, 24),
            },
            Days {
                start: day(November, 5),
                end: day(December, 27),
            },
            Days {
                start: day(January, 1),
                end: day(March, 20),
            },
            Days {
                start: day(March, 30),
                end: day(May, 26),
            },
        ];
        let year = Days {
            start: day(September, 1),
            end: day(May, 31),
        };
        let half = Period::HalfYear(1)
            .days(year, TermKind::Quarters, &terms, "period")
            .ok();
        assert_eq!(
            half.map(|d| (d.start, d.end)),
            Some((terms[0].start, terms[1].end))
        );
        assert!(
            Period::HalfYear(3)
                .days(year, TermKind::Quarters, &terms, "p")
                .is_err()
        );
        assert!(
            Period::HalfYear(1)
                .days(year, TermKind::Halves, &terms[..2], "p")
                .is_err()
        );
        assert!(
            Period::Term(5)
                .days(year, TermKind::Quarters, &terms, "p")
                .is_err()
        );
    }

    #[test]
    fn a_period_number_no_year_has_is_refused_before_anything_counts_with_it() {
        let fields = |kind: &str, number: i32| match Period::requested(kind, number, "period") {
            Err(GradebookError::Invalid(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            _ => Vec::new(),
        };
        for number in [0, -1, 5, i32::MAX, i32::MIN] {
            assert_eq!(fields("term", number), ["period.number"], "term {number}");
        }
        for number in [0, 3, i32::MAX, i32::MIN] {
            assert_eq!(
                fields("half_year", number),
                ["period.number"],
                "half {number}"
            );
        }
        assert_eq!(fields("", 1), ["period.kind"]);
        assert_eq!(
            Period::requested("term", 4, "p").ok(),
            Some(Period::Term(4))
        );
        assert_eq!(
            Period::requested("half_year", 2, "p").ok(),
            Some(Period::HalfYear(2))
        );
        assert_eq!(
            Period::requested("year", i32::MAX, "p").ok(),
            Some(Period::Year)
        );
        // Half-year days are looked up without arithmetic on the number.
        let quarter = Days {
            start: time::macros::date!(2026 - 09 - 01),
            end: time::macros::date!(2026 - 10 - 24),
        };
        let quarters = [quarter; 4];
        for number in [i32::MAX, i32::MIN] {
            assert!(
                Period::HalfYear(number)
                    .days(quarter, TermKind::Quarters, &quarters, "p")
                    .is_err()
            );
        }
        assert_eq!(
            i32::try_from(TermKind::Quarters.terms()).ok(),
            Some(MAX_TERMS),
            "no kind of year has more terms than quarters"
        );
    }
}
