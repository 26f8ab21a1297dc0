//! The bell schedule and the weekly timetable of a class, checked on their
//! own; clashes with other classes are checked against what is recorded.

use time::Time;
use uuid::Uuid;

use super::error::{FieldViolation, GradebookError};

/// The most lessons a day may have.
pub const MAX_PERIODS: i32 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BellPeriod {
    pub number: i32,
    pub start: Time,
    pub end: Time,
}

/// Periods must be numbered once each, last a while, and follow each other
/// without overlapping.
pub fn validate_bells(periods: &[BellPeriod]) -> Result<(), GradebookError> {
    let mut violations = Vec::new();
    if periods.is_empty() {
        violations.push(FieldViolation::new(
            "periods",
            "at least one period is needed",
        ));
    }
    let mut previous: Option<&BellPeriod> = None;
    for (index, period) in periods.iter().enumerate() {
        if !(0..=MAX_PERIODS).contains(&period.number) {
            violations.push(FieldViolation::new(
                format!("periods[{index}].number"),
                format!("must be 0 to {MAX_PERIODS}"),
            ));
        }
        if period.start >= period.end {
            violations.push(FieldViolation::new(
                format!("periods[{index}].end_time"),
                "must be after its start_time",
            ));
        }
        if let Some(before) = previous {
            if period.number <= before.number {
                violations.push(FieldViolation::new(
                    format!("periods[{index}].number"),
                    format!("must follow period {}", before.number),
                ));
            }
            if period.start < before.end {
                violations.push(FieldViolation::new(
                    format!("periods[{index}].start_time"),
                    format!(
                        "starts before period {} ends ({})",
                        before.number,
                        hhmm(before.end)
                    ),
                ));
            }
        }
        previous = Some(period);
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(GradebookError::Invalid(violations))
    }
}

pub fn hhmm(time: Time) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// One lesson of a class's week, resolved: the teacher is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub weekday: u8,
    pub period: i32,
    pub subject_id: Uuid,
    pub subgroup_id: Option<Uuid>,
    pub teacher_id: Uuid,
    pub room: String,
}

/// Whether two lessons of one class at the same time clash: they do unless
/// both are for different subgroups (the groups of a split subject).
pub fn groups_clash(a: Option<Uuid>, b: Option<Uuid>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Checks a week on its own: days the school works, periods that ring, and
/// no class, subgroup or teacher in two lessons at once.
pub fn validate_week(
    slots: &[Slot],
    days_per_week: u8,
    periods: &[BellPeriod],
) -> Result<(), GradebookError> {
    let mut violations = Vec::new();
    for (index, slot) in slots.iter().enumerate() {
        if !(1..=days_per_week).contains(&slot.weekday) {
            violations.push(FieldViolation::new(
                format!("slots[{index}].weekday"),
                format!("must be 1 (Monday) to {days_per_week}: the school works {days_per_week} days a week"),
            ));
        }
        if !periods.iter().any(|period| period.number == slot.period) {
            violations.push(FieldViolation::new(
                format!("slots[{index}].period"),
                format!(
                    "period {} is not in the bell schedule ({})",
                    slot.period,
                    periods
                        .iter()
                        .map(|period| period.number.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if slot.room.chars().count() > 50 {
            violations.push(FieldViolation::new(
                format!("slots[{index}].room"),
                "at most 50 characters",
            ));
        }
        for (earlier_index, earlier) in slots[..index].iter().enumerate() {
            if earlier.weekday != slot.weekday || earlier.period != slot.period {
                continue;
            }
            if groups_clash(earlier.subgroup_id, slot.subgroup_id) {
                violations.push(FieldViolation::new(
                    format!("slots[{index}].period"),
                    format!("the class already has slots[{earlier_index}] then"),
                ));
            } else if earlier.teacher_id == slot.teacher_id {
                violations.push(FieldViolation::new(
                    format!("slots[{index}].teacher_id"),
                    format!("the teacher already teaches slots[{earlier_index}] then"),
                ));
            }
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(GradebookError::Invalid(violations))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::time;

    use super::*;

    fn bells() -> Vec<BellPeriod> {
        vec![
            BellPeriod {
                number: 1,
                start: time!(08:30),
                end: time!(09:15),
            },
            BellPeriod {
                number: 2,
                start: time!(09:25),
                end: time!(10:10),
            },
        ]
    }

    #[test]
    fn overlapping_periods_are_named() {
        let mut periods = bells();
        periods[1].start = time!(09:00);
        let Err(GradebookError::Invalid(violations)) = validate_bells(&periods) else {
            panic!("accepted");
        };
        assert_eq!(violations[0].field, "periods[1].start_time");
    }

    #[test]
    fn subgroups_share_a_period_but_a_teacher_does_not() {
        let english = Uuid::now_v7();
        let (group_1, group_2) = (Uuid::now_v7(), Uuid::now_v7());
        let teacher = Uuid::now_v7();
        let slot = |subgroup, teacher| Slot {
            weekday: 1,
            period: 1,
            subject_id: english,
            subgroup_id: Some(subgroup),
            teacher_id: teacher,
            room: String::new(),
        };
        let split = [slot(group_1, teacher), slot(group_2, Uuid::now_v7())];
        assert!(validate_week(&split, 5, &bells()).is_ok());
        let one_teacher = [slot(group_1, teacher), slot(group_2, teacher)];
        let Err(GradebookError::Invalid(violations)) = validate_week(&one_teacher, 5, &bells())
        else {
            panic!("accepted");
        };
        assert_eq!(violations[0].field, "slots[1].teacher_id");
    }

    #[test]
    fn a_slot_outside_the_bell_schedule_or_the_week_is_named() {
        let slot = Slot {
            weekday: 6,
            period: 7,
            subject_id: Uuid::now_v7(),
            subgroup_id: None,
            teacher_id: Uuid::now_v7(),
            room: String::new(),
        };
        let Err(GradebookError::Invalid(violations)) = validate_week(&[slot], 5, &bells()) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["slots[0].weekday", "slots[0].period"]);
    }
}
