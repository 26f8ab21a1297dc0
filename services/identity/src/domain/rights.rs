//! The rights matrix is shared by every service that enforces it; identity
//! stores the cells and publishes their changes.

pub use asurso_runtime::rights::*;
