//! Identity's rules, free of gRPC and SQL: validated values, the rights
//! matrix, and the service's error.

pub mod error;
pub mod person;
pub mod rights;
pub mod snils;

pub use error::IdentityError;
