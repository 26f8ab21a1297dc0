//! The gradebook service: the class journal teachers keep and the diary
//! parents and students read.
//!
//! This part holds the school calendar (years, terms, days off), classes
//! with their subgroups and enrolments, subjects and the teaching load, the
//! bell schedule and the weekly timetable, and the lessons laid out from it.
//! It knows people, grants, guardian links and the rights matrix only from
//! identity's events (a local projection), and verifies tokens itself with
//! identity's public keys.
//!
//! It must never let a caller act outside their school or see a student who
//! is not theirs, never record a lesson on a day off or a teacher in two
//! places at once, and never drop the history of a moved student.

pub mod access;
pub mod api;
#[cfg(feature = "bench")]
pub mod bench_support;
pub mod domain;
pub mod events;
#[cfg(feature = "harness")]
pub mod harness;
pub mod storage;

use std::sync::Arc;

use asurso_directory::WithDirectory;
use asurso_proto::gradebook as pb;
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
    env_prefix: "GRADEBOOK",
};

/// Its own stream, and identity's, which the directory reads (creating it
/// here, with the same definition identity uses, lets either service start
/// first).
const STREAMS: [StreamDef; 2] = [streams::GRADEBOOK, streams::IDENTITY];

asurso_runtime::service_settings! {
    pub struct Settings {
        pub identity: IdentitySettings,
    }
}

asurso_runtime::application!("gradebook", Settings, MIGRATOR, STREAMS);

/// The service on its foundation: its state, gRPC services and consumers.
async fn assemble(settings: Settings, foundation: Foundation) -> Result<Service, StartError> {
    // A test's database is cloned from a template of the gradebook's own
    // migrations: the directory's are applied here, in a test as in
    // production.
    asurso_directory::migrate(&foundation.pool).await?;
    let state = Arc::new(api::State::new(&foundation, &settings.identity)?);
    let service = foundation
        .add_service(pb::calendar_service_server::CalendarServiceServer::new(
            api::calendar::CalendarApi(Arc::clone(&state)),
        ))
        .add_service(pb::class_service_server::ClassServiceServer::new(
            api::classes::ClassApi(Arc::clone(&state)),
        ))
        .add_service(pb::curriculum_service_server::CurriculumServiceServer::new(
            api::curriculum::CurriculumApi(Arc::clone(&state)),
        ))
        .add_service(pb::timetable_service_server::TimetableServiceServer::new(
            api::timetable::TimetableApi(Arc::clone(&state)),
        ))
        .add_service(pb::journal_service_server::JournalServiceServer::new(
            api::journal::JournalApi(Arc::clone(&state)),
        ))
        .add_service(pb::diary_service_server::DiaryServiceServer::new(
            api::diary::DiaryApi(Arc::clone(&state)),
        ))
        .add_service(pb::report_service_server::ReportServiceServer::new(
            api::reports::ReportApi(Arc::clone(&state)),
        ))
        .with_directory("gradebook", &state)
        .build();
    Ok(service)
}

/// `asurso-gradebook rebuild-diary`: computes every diary week a family can
/// read from the source tables and keeps it in the read model (after a
/// restore, or to warm a new installation). Safe while the service runs: a
/// week written meanwhile moves its student's epoch and is computed again.
pub async fn rebuild_diary(settings: &Settings) -> Result<usize, StartError> {
    let pool = asurso_runtime::db::connect(&settings.database).await?;
    asurso_runtime::db::migrate(&pool, &MIGRATOR).await?;
    asurso_directory::migrate(&pool).await?;
    api::diary::rebuild_read_model(&pool)
        .await
        .map_err(StartError::service)
}
