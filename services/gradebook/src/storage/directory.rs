//! What the gradebook knows of identity: the directory's tables, kept in
//! the shared directory crate (see [`asurso_directory::storage`]).

pub use asurso_directory::storage::*;
