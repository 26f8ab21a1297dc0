//! Attendance against real PostgreSQL and NATS, with identity (tokens, the
//! directory) and the gradebook (lessons, classes, enrolments) in the same
//! process.

mod codes;
mod lessons;
mod notes;
mod projection;
mod reports;
mod support;
