//! The notifications service: each person hears about what concerns them
//! (a child's mark or absence, homework, a change to a lesson, a letter, an
//! announcement) in their in-app feed, live over `Subscribe`, and by e-mail
//! and web push as they chose, with quiet hours and a daily digest.
//!
//! It knows people, grants and guardian links from identity's events (the
//! shared directory) and classes and enrolments from the gradebook's (the
//! shared roster), and turns the gradebook's, attendance's and messaging's
//! events into notifications ([`events`]). A notification reaches exactly
//! the people the event concerns and never shows another family's child;
//! an e-mail or push says only what happened unless the region allows more.

pub mod api;
pub mod delivery;
pub mod domain;
pub mod events;
pub mod feed;
#[cfg(feature = "harness")]
pub mod harness;
pub mod hub;
pub mod preferences;

use std::{sync::Arc, time::Duration};

use asurso_directory::WithDirectory;
use asurso_proto::notifications as pb;
use asurso_runtime::{
    auth::IdentitySettings,
    events::{StreamDef, streams},
    service::{Foundation, Service},
    settings::EmbeddedConfig,
};
use serde::Deserialize;
use sqlx::migrate::Migrator;

use delivery::{DeliverySettings, Dispatcher, email::EmailSettings, push::PushSettings};

pub use asurso_runtime::service::StartError;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub const CONFIG: asurso_runtime::settings::EmbeddedConfig = EmbeddedConfig {
    base: include_str!("../config/base.toml"),
    environments: &[
        ("local", include_str!("../config/local.toml")),
        ("production", include_str!("../config/production.toml")),
    ],
    env_prefix: "NOTIFICATIONS",
};

/// Its own stream; identity's, which the directory reads; the streams
/// whose events it turns into notifications.
const STREAMS: [StreamDef; 5] = [
    streams::NOTIFICATIONS,
    streams::IDENTITY,
    streams::GRADEBOOK,
    streams::ATTENDANCE,
    streams::MESSAGING,
];

/// How often old lessons are forgotten.
const FORGET_LESSONS_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Deserialize)]
pub struct FeedSettings {
    /// Seconds one `Subscribe` stream lives; the client resumes it from
    /// its last cursor with a fresh token.
    pub stream_lifetime: u64,
}

asurso_runtime::service_settings! {
    pub struct Settings {
        pub identity: IdentitySettings,
        pub feed: FeedSettings,
        pub delivery: DeliverySettings,
        pub email: EmailSettings,
        pub push: PushSettings,
    }
}

asurso_runtime::application!("notifications", Settings, MIGRATOR, STREAMS);

/// Lessons more than two weeks past are never news again.
async fn forget_lessons(pool: sqlx::PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM lessons WHERE date < current_date - 14")
            .execute(&pool)
            .await?
            .rows_affected(),
    )
}

/// The service on its foundation: its state, gRPC services, consumers,
/// the listener that wakes subscribers and the senders.
async fn assemble(settings: Settings, foundation: Foundation) -> Result<Service, StartError> {
    asurso_directory::migrate(&foundation.pool).await?;
    asurso_directory::roster::migrate(&foundation.pool).await?;
    let mailer =
        delivery::email::Mailer::from_settings(&settings.email).map_err(StartError::service)?;
    let pusher = delivery::push::Pusher::from_settings(&settings.push)
        .map_err(StartError::service)?
        .map(Arc::new);
    let hub = Arc::new(hub::Hub::default());
    let state = Arc::new(api::State {
        edge: asurso_directory::EdgeState::new(&foundation, &settings.identity)?,
        hub: Arc::clone(&hub),
        stream_lifetime: Duration::from_secs(settings.feed.stream_lifetime.max(1)),
        email_on: mailer.is_some(),
        pusher: pusher.clone(),
    });
    let dispatcher = Arc::new(Dispatcher {
        pool: foundation.pool.clone(),
        hub: Arc::clone(&hub),
        mailer,
        pusher,
        settings: settings.delivery.clone(),
    });
    let listening = foundation.pool.clone();
    let digest_every = Duration::from_secs(settings.delivery.digest_every.max(1));
    let service = foundation
        .add_service(pb::feed_service_server::FeedServiceServer::new(
            api::feed::FeedApi(Arc::clone(&state)),
        ))
        .add_service(
            pb::preferences_service_server::PreferencesServiceServer::new(
                api::preferences::PreferencesApi(Arc::clone(&state)),
            ),
        )
        .add_service(
            pb::delivery_admin_service_server::DeliveryAdminServiceServer::new(
                api::admin::AdminApi(Arc::clone(&state)),
            ),
        )
        .with_directory("notifications", &state.edge)
        .consume(events::gradebook_spec(), events::Gradebook)
        .consume(events::attendance_spec(), events::Attendance)
        .consume(events::messaging_spec(), events::Messaging)
        .task(move |stop| hub.listen(listening, stop))
        .task(move |stop| dispatcher.run(stop))
        .every("daily digests", digest_every, delivery::digest::run)
        .every("forget past lessons", FORGET_LESSONS_EVERY, forget_lessons)
        .build();
    Ok(service)
}
