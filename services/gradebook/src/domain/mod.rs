//! The gradebook's rules, free of gRPC and SQL: the school calendar, the
//! bell schedule and the weekly timetable, marks and averages, attachments,
//! and the service's error.

pub mod attachments;
pub mod calendar;
pub mod error;
pub mod marks;
pub mod timetable;

pub use error::GradebookError;
