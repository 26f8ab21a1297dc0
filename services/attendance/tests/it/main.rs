//! Attendance against real PostgreSQL and NATS, with identity in the same
//! process for tokens and the directory.

mod codes;
