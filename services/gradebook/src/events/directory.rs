//! The gradebook's projection of identity: the shared directory's consumer
//! (see [`asurso_directory::consumer`]) under the gradebook's durable name.

pub use asurso_directory::consumer::Directory;
use asurso_runtime::events::ConsumerSpec;

pub fn consumer_spec() -> ConsumerSpec {
    asurso_directory::consumer_spec("gradebook")
}
