//! The messaging service: the system's own mail between families and
//! school staff, and the announcement board of the region, its
//! municipalities, schools and classes.
//!
//! It knows people, grants, guardian links and the rights matrix from
//! identity's events (the shared directory) and classes, enrolments and
//! the teaching load from the gradebook's (the shared roster), and
//! verifies tokens itself with identity's public keys. Mail is
//! correspondence: it must never let anyone but a letter's sender and its
//! recipients read it — no administrator, no support role, no query by
//! school — and never let anyone send as another.

pub mod access;
pub mod api;
pub mod domain;
#[cfg(feature = "harness")]
pub mod harness;
pub mod storage;

use std::{sync::Arc, time::Duration};

use asurso_directory::WithDirectory;
use asurso_proto::messaging as pb;
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
    env_prefix: "MESSAGING",
};

/// Its own stream; identity's, which the directory reads; the gradebook's,
/// whose classes the roster keeps.
const STREAMS: [StreamDef; 3] = [streams::MESSAGING, streams::IDENTITY, streams::GRADEBOOK];

/// How often deleted mail past its region's retention is emptied.
const PURGE_EVERY: Duration = Duration::from_secs(600);

asurso_runtime::service_settings! {
    pub struct Settings {
        pub identity: IdentitySettings,
    }
}

asurso_runtime::application!("messaging", Settings, MIGRATOR, STREAMS);

/// The service on its foundation: its state, gRPC services and consumers.
async fn assemble(settings: Settings, foundation: Foundation) -> Result<Service, StartError> {
    asurso_directory::migrate(&foundation.pool).await?;
    asurso_directory::roster::migrate(&foundation.pool).await?;
    let state = Arc::new(api::State::new(&foundation, &settings.identity)?);
    let service = foundation
        .add_service(pb::mail_service_server::MailServiceServer::new(
            api::mail::MailApi(Arc::clone(&state)),
        ))
        .add_service(pb::mail_rules_service_server::MailRulesServiceServer::new(
            api::rules::RulesApi(Arc::clone(&state)),
        ))
        .add_service(
            pb::announcement_service_server::AnnouncementServiceServer::new(
                api::announcements::AnnouncementsApi(Arc::clone(&state)),
            ),
        )
        .with_directory("messaging", &state)
        .consume(
            asurso_directory::roster::consumer_spec("messaging"),
            asurso_directory::roster::Roster,
        )
        .every("purge deleted mail", PURGE_EVERY, storage::mail::purge)
        .build();
    Ok(service)
}
