//! The gradebook's rules, free of gRPC and SQL: the school calendar, the
//! bell schedule and the weekly timetable, marks and averages, what setting
//! a mark changes, attachments, and the service's error.

pub mod attachments;
pub mod calendar;
pub mod error;
pub mod mark_changes;
pub mod marks;
pub mod timetable;

pub use error::GradebookError;
