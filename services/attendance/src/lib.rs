//! The attendance service: who was at each lesson, with the reason of each
//! absence, for the teacher who takes the lesson, the class teacher who
//! chases absences, the family, and the departments that report them.
//!
//! It knows people, grants, guardian links and the rights matrix from
//! identity's events (the shared directory) and verifies tokens itself with
//! identity's public keys. It must never let a caller see a student who is
//! not theirs.

pub mod access;
pub mod api;
pub mod domain;
#[cfg(feature = "harness")]
pub mod harness;
pub mod projection;
pub mod storage;

use std::sync::Arc;

use asurso_directory::WithDirectory;
use asurso_proto::attendance as pb;
use asurso_runtime::{
    auth::IdentitySettings,
    events::{StreamDef, streams},
    service::{Foundation, Service},
    settings::EmbeddedConfig,
};
use sqlx::migrate::Migrator;

pub use asurso_runtime::service::StartError;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub const CONFIG: EmbeddedConfig = EmbeddedConfig {
    base: include_str!("../config/base.toml"),
    environments: &[
        ("local", include_str!("../config/local.toml")),
        ("production", include_str!("../config/production.toml")),
    ],
    env_prefix: "ATTENDANCE",
};

/// Its own stream; identity's, which the directory reads; the gradebook's,
/// whose lessons, classes and enrolments it projects (creating them here,
/// with the definitions their owners use, lets either service start first).
const STREAMS: [StreamDef; 3] = [streams::ATTENDANCE, streams::IDENTITY, streams::GRADEBOOK];

asurso_runtime::service_settings! {
    pub struct Settings {
        pub identity: IdentitySettings,
    }
}

asurso_runtime::application!("attendance", Settings, MIGRATOR, STREAMS);

/// The service on its foundation: its state, gRPC services and consumers.
async fn assemble(settings: Settings, foundation: Foundation) -> Result<Service, StartError> {
    asurso_directory::migrate(&foundation.pool).await?;
    asurso_directory::roster::migrate(&foundation.pool).await?;
    let state = Arc::new(api::State::new(&foundation, &settings.identity)?);
    let service = foundation
        .add_service(
            pb::absence_code_service_server::AbsenceCodeServiceServer::new(api::codes::CodesApi(
                Arc::clone(&state),
            )),
        )
        .add_service(pb::attendance_service_server::AttendanceServiceServer::new(
            api::lessons::LessonsApi(Arc::clone(&state)),
        ))
        .add_service(
            pb::absence_note_service_server::AbsenceNoteServiceServer::new(api::notes::NotesApi(
                Arc::clone(&state),
            )),
        )
        .with_directory("attendance", &state)
        .consume(projection::consumer_spec(), projection::Gradebook)
        .build();
    Ok(service)
}
