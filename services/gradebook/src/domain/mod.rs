//! The gradebook's rules, free of gRPC and SQL: the school calendar, the
//! bell schedule and the weekly timetable, marks and averages, what setting
//! a mark changes, attachments, and the service's error.

/// What may be attached: the runtime's rule, which every service shares.
pub mod attachments {
    pub use asurso_runtime::attachments::*;

    /// Attachments of one assignment.
    pub const MAX_PER_ASSIGNMENT: i64 = 10;
}
pub mod calendar;
pub mod error;
pub mod mark_changes;
pub mod marks;
pub mod timetable;

pub use error::GradebookError;
