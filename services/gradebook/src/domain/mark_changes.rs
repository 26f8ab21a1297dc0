//! What setting a mark comes to. A teacher saves a journal page as a batch
//! of marks, most of them as they already are; only a mark that differs
//! from the one recorded is written (and enters its history), and each such
//! change is told by exactly one event, so that saving a page again tells
//! nobody anything new.

use super::marks::MarkValue;

/// A student's mark for an assignment as recorded, seen in its stored form
/// (the schema keeps it to a kind of the assignment scale with a grade only
/// for a kind "grade").
pub trait RecordedMark {
    /// The stored kind ("grade", "pass", "fail", "debt") and grade.
    fn value(&self) -> (&str, Option<i32>);
    fn comment(&self) -> &str;
}

impl<M: RecordedMark + ?Sized> RecordedMark for &M {
    fn value(&self) -> (&str, Option<i32>) {
        (**self).value()
    }

    fn comment(&self) -> &str {
        (**self).comment()
    }
}

/// What setting one student's mark does, holding the recorded mark `R`
/// where there is one to rewrite or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkChange<R> {
    /// No mark given where none is recorded, or the recorded value and
    /// comment given again: nothing is written or told.
    Unchanged,
    /// A first mark for the student: written, told as `MarkPosted`.
    Posted(MarkValue),
    /// Another value or comment for the recorded mark: written over it
    /// (the mark keeps its id), told as `MarkChanged` with the old value.
    Changed { before: R, after: MarkValue },
    /// The recorded mark taken away (no value given): deleted, told as
    /// `MarkRemoved` with the value it had.
    Removed(R),
}

/// Compares the mark recorded for a student (if any) with the one given (a
/// value, or none to take the mark away, and the comment).
pub fn mark_change<R: RecordedMark>(
    before: Option<R>,
    after: Option<MarkValue>,
    comment: &str,
) -> MarkChange<R> {
    match (before, after) {
        (None, None) => MarkChange::Unchanged,
        (Some(before), None) => MarkChange::Removed(before),
        (None, Some(after)) => MarkChange::Posted(after),
        (Some(before), Some(after)) => {
            // A comment alone changes the mark too: it is what the parent
            // reads beside it.
            if holds(before.value(), after) && before.comment() == comment {
                MarkChange::Unchanged
            } else {
                MarkChange::Changed { before, after }
            }
        }
    }
}

/// Whether setting a term (or year, exam, final) mark changes what is
/// recorded, `before` in its stored form; a term mark has no comment, and
/// each change is told as one `TermMarkSet`.
pub fn term_mark_changes(before: Option<(&str, Option<i32>)>, after: Option<MarkValue>) -> bool {
    match (before, after) {
        (Some(before), Some(after)) => !holds(before, after),
        (None, None) => false,
        _ => true,
    }
}

/// Whether a stored (kind, grade) is this value.
fn holds((kind, grade): (&str, Option<i32>), value: MarkValue) -> bool {
    kind == value.kind() && grade == value.grade()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mark as the journal stores it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Stored {
        kind: &'static str,
        grade: Option<i32>,
        comment: &'static str,
    }

    impl RecordedMark for Stored {
        fn value(&self) -> (&str, Option<i32>) {
            (self.kind, self.grade)
        }

        fn comment(&self) -> &str {
            self.comment
        }
    }

    const FOUR: Stored = Stored {
        kind: "grade",
        grade: Some(4),
        comment: "",
    };

    #[test]
    fn a_first_mark_is_posted() {
        let change = mark_change::<Stored>(None, Some(MarkValue::Grade(5)), "");
        assert_eq!(change, MarkChange::Posted(MarkValue::Grade(5)));
    }

    #[test]
    fn the_same_mark_and_comment_again_is_no_news() {
        let change = mark_change(Some(FOUR), Some(MarkValue::Grade(4)), "");
        assert_eq!(change, MarkChange::Unchanged);
        let debt = Stored {
            kind: "debt",
            grade: None,
            comment: "no homework",
        };
        assert_eq!(
            mark_change(Some(debt), Some(MarkValue::Debt), "no homework"),
            MarkChange::Unchanged
        );
    }

    #[test]
    fn no_mark_where_none_is_recorded_changes_nothing() {
        let change = mark_change::<Stored>(None, None, "");
        assert_eq!(change, MarkChange::Unchanged);
    }

    #[test]
    fn another_grade_or_kind_is_a_change_that_keeps_the_old_value() {
        for after in [MarkValue::Grade(3), MarkValue::Pass, MarkValue::Debt] {
            let change = mark_change(Some(FOUR), Some(after), "");
            assert_eq!(
                change,
                MarkChange::Changed {
                    before: FOUR,
                    after
                },
                "{after:?}"
            );
        }
        // Between kinds without a grade too: a pass turned into a fail.
        let pass = Stored {
            kind: "pass",
            grade: None,
            comment: "",
        };
        assert_eq!(
            mark_change(Some(pass), Some(MarkValue::Fail), ""),
            MarkChange::Changed {
                before: pass,
                after: MarkValue::Fail
            }
        );
    }

    #[test]
    fn a_new_comment_alone_changes_the_mark() {
        let change = mark_change(Some(FOUR), Some(MarkValue::Grade(4)), "well done");
        assert_eq!(
            change,
            MarkChange::Changed {
                before: FOUR,
                after: MarkValue::Grade(4)
            }
        );
    }

    #[test]
    fn no_value_takes_the_recorded_mark_away() {
        let change = mark_change(Some(FOUR), None, "");
        assert_eq!(change, MarkChange::Removed(FOUR));
        // Whatever comment came with it.
        assert_eq!(
            mark_change(Some(FOUR), None, "gone"),
            MarkChange::Removed(FOUR)
        );
    }

    #[test]
    fn a_term_mark_changes_when_its_value_differs_or_comes_or_goes() {
        let five = Some(("grade", Some(5)));
        assert!(!term_mark_changes(five, Some(MarkValue::Grade(5))));
        assert!(!term_mark_changes(None, None));
        assert!(term_mark_changes(five, Some(MarkValue::Grade(4))));
        assert!(term_mark_changes(five, Some(MarkValue::Exempt)));
        assert!(term_mark_changes(None, Some(MarkValue::NotAssessed)));
        assert!(term_mark_changes(five, None));
        assert!(!term_mark_changes(
            Some(("exempt", None)),
            Some(MarkValue::Exempt)
        ));
    }
}
