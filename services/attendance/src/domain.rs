//! Attendance's rules, on plain values: which absences a lesson may record,
//! and what a new record changes of the old one.

use std::collections::{BTreeMap, BTreeSet};

use asurso_runtime::errors::{FieldViolation, ServiceError};
use uuid::Uuid;

/// A lesson length when the school's bell schedule is not known.
pub const DEFAULT_LESSON_MINUTES: i32 = 45;

/// Days after a lesson its teacher may still correct it, unless the region
/// set its own.
pub const DEFAULT_TEACHER_CORRECTION_DAYS: i32 = 3;

/// A code of the dictionary as the rules need it.
#[derive(Debug, Clone)]
pub struct Code {
    pub code: String,
    /// Missed for a valid reason (УП, Б, ОСВ).
    pub valid_reason: bool,
    pub late: bool,
}

/// A student's state at a taken lesson: absent or late with a code, or
/// present (no entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub code: String,
    pub minutes_late: i32,
}

/// One requested absence, as sent.
pub struct Requested<'a> {
    pub student: &'a str,
    pub code: &'a str,
    pub minutes_late: i32,
}

/// The absences a lesson records, checked against its students that day,
/// the codes in force and the lesson's length; every violation named by
/// its field (`absences[i].code`).
pub fn absences(
    requested: &[Requested<'_>],
    students: &BTreeSet<Uuid>,
    codes: &[Code],
    lesson_minutes: i32,
) -> Result<BTreeMap<Uuid, Mark>, ServiceError> {
    let mut violations = Vec::new();
    let mut marks = BTreeMap::new();
    for (index, absence) in requested.iter().enumerate() {
        let field = |name: &str| format!("absences[{index}].{name}");
        let Ok(student) = Uuid::parse_str(absence.student) else {
            violations.push(FieldViolation::new(field("student_id"), "is not a UUID"));
            continue;
        };
        if !students.contains(&student) {
            violations.push(FieldViolation::new(
                field("student_id"),
                format!("{student} is not in this lesson's class or group on its day"),
            ));
            continue;
        }
        let Some(code) = codes.iter().find(|code| code.code == absence.code.trim()) else {
            violations.push(FieldViolation::new(
                field("code"),
                format!("{:?} is not an absence code here", absence.code),
            ));
            continue;
        };
        if code.late {
            if !(1..=lesson_minutes).contains(&absence.minutes_late) {
                violations.push(FieldViolation::new(
                    field("minutes_late"),
                    format!("must be 1 to {lesson_minutes} (the lesson's length)"),
                ));
                continue;
            }
        } else if absence.minutes_late != 0 {
            violations.push(FieldViolation::new(
                field("minutes_late"),
                format!("only a late code ({}) takes minutes", late_codes(codes)),
            ));
            continue;
        }
        let mark = Mark {
            code: code.code.clone(),
            minutes_late: absence.minutes_late,
        };
        if marks.insert(student, mark).is_some() {
            violations.push(FieldViolation::new(
                field("student_id"),
                format!("{student} is listed twice"),
            ));
        }
    }
    if violations.is_empty() {
        Ok(marks)
    } else {
        Err(ServiceError::Invalid(violations))
    }
}

fn late_codes(codes: &[Code]) -> String {
    codes
        .iter()
        .filter(|code| code.late)
        .map(|code| code.code.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The largest scan of a note: a photographed or scanned page.
pub const MAX_SCAN_BYTES: usize = 3 * 1024 * 1024;

/// The type of a scan by its first bytes: PDF, JPEG or PNG only, whatever
/// a client says it is.
pub fn scan_type(content: &[u8]) -> Option<&'static str> {
    if content.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if content.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if content.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

/// A student whose state changes: before and after (`None`: present).
#[derive(Debug, PartialEq, Eq)]
pub struct Change {
    pub student: Uuid,
    pub old: Option<Mark>,
    pub new: Option<Mark>,
}

/// What recording `new` over `old` changes, student by student.
pub fn changes(old: &BTreeMap<Uuid, Mark>, new: &BTreeMap<Uuid, Mark>) -> Vec<Change> {
    let students: BTreeSet<&Uuid> = old.keys().chain(new.keys()).collect();
    students
        .into_iter()
        .filter_map(|student| {
            let before = old.get(student);
            let after = new.get(student);
            (before != after).then(|| Change {
                student: *student,
                old: before.cloned(),
                new: after.cloned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> Vec<Code> {
        ["УП", "Б", "НП", "ОП"]
            .into_iter()
            .map(|code| Code {
                code: code.to_owned(),
                valid_reason: matches!(code, "УП" | "Б"),
                late: code == "ОП",
            })
            .collect()
    }

    fn fields(result: Result<BTreeMap<Uuid, Mark>, ServiceError>) -> Vec<String> {
        match result {
            Err(ServiceError::Invalid(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            other => vec![format!("not refused: {other:?}")],
        }
    }

    #[test]
    fn each_wrong_absence_is_named_and_nothing_is_kept() {
        let ours = Uuid::now_v7();
        let students = BTreeSet::from([ours]);
        let stranger = Uuid::now_v7().to_string();
        let ours_text = ours.to_string();
        let request = [
            Requested {
                student: &stranger,
                code: "НП",
                minutes_late: 0,
            },
            Requested {
                student: &ours_text,
                code: "XX",
                minutes_late: 0,
            },
            Requested {
                student: &ours_text,
                code: "ОП",
                minutes_late: 46,
            },
            Requested {
                student: &ours_text,
                code: "Б",
                minutes_late: 5,
            },
            Requested {
                student: "x",
                code: "Б",
                minutes_late: 0,
            },
        ];
        assert_eq!(
            fields(absences(&request, &students, &codes(), 45)),
            [
                "absences[0].student_id",
                "absences[1].code",
                "absences[2].minutes_late",
                "absences[3].minutes_late",
                "absences[4].student_id",
            ]
        );
        let twice = [
            Requested {
                student: &ours_text,
                code: "Б",
                minutes_late: 0,
            },
            Requested {
                student: &ours_text,
                code: "НП",
                minutes_late: 0,
            },
        ];
        assert_eq!(
            fields(absences(&twice, &students, &codes(), 45)),
            ["absences[1].student_id"]
        );
        let late = [Requested {
            student: &ours_text,
            code: "ОП",
            minutes_late: 45,
        }];
        let marks = absences(&late, &students, &codes(), 45).ok();
        assert_eq!(
            marks.and_then(|marks| marks.get(&ours).cloned()),
            Some(Mark {
                code: "ОП".into(),
                minutes_late: 45
            })
        );
    }

    #[test]
    fn changes_name_each_student_whose_state_moved() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mark = |code: &str| Mark {
            code: code.into(),
            minutes_late: 0,
        };
        let old = BTreeMap::from([(a, mark("НП")), (b, mark("Б"))]);
        let new = BTreeMap::from([(a, mark("УП")), (b, mark("Б")), (c, mark("НП"))]);
        let changed: Vec<(Uuid, Option<String>, Option<String>)> = changes(&old, &new)
            .into_iter()
            .map(|change| {
                (
                    change.student,
                    change.old.map(|m| m.code),
                    change.new.map(|m| m.code),
                )
            })
            .collect();
        let mut expected = vec![
            (a, Some("НП".to_owned()), Some("УП".to_owned())),
            (c, None, Some("НП".to_owned())),
        ];
        expected.sort();
        assert_eq!(changed, expected);
        assert!(changes(&new, &new).is_empty());
        assert_eq!(
            changes(&old, &BTreeMap::new()).len(),
            2,
            "everyone present again"
        );
    }
}
