//! The gradebook against real PostgreSQL and NATS, with identity issuing the
//! tokens and publishing the facts the gradebook keeps.

mod calendar;
mod classes;
mod groups;
mod journal;
mod limits;
mod migrations;
mod projection;
mod read_model;
mod support;
mod timetable;
