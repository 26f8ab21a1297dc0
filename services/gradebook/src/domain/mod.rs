//! The gradebook's rules, free of gRPC and SQL: the school calendar, the
//! bell schedule and the weekly timetable, and the service's error.

pub mod calendar;
pub mod error;
pub mod timetable;

pub use error::GradebookError;
