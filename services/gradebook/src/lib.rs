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
pub mod domain;
pub mod events;
pub mod storage;

use std::{net::SocketAddr, sync::Arc};

use asurso_proto::gradebook as pb;
use asurso_runtime::{
    Shutdown,
    auth::{IdentityKeys, Verifier},
    db,
    events::{EventBus, IdempotentConsumer, Relay, streams},
    lifecycle::{Background, ServiceSettings},
    server::GrpcServer,
    settings::{
        DatabaseSettings, EmbeddedConfig, GrpcSettings, NatsSettings, OutboxSettings,
        TelemetrySettings,
    },
};
use serde::Deserialize;
use sqlx::{PgPool, migrate::Migrator};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub const CONFIG: EmbeddedConfig = EmbeddedConfig {
    base: include_str!("../config/base.toml"),
    environments: &[
        ("local", include_str!("../config/local.toml")),
        ("production", include_str!("../config/production.toml")),
    ],
    env_prefix: "GRADEBOOK",
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub grpc: GrpcSettings,
    pub database: DatabaseSettings,
    pub nats: NatsSettings,
    pub outbox: OutboxSettings,
    pub telemetry: TelemetrySettings,
    pub identity: IdentitySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    /// Identity's gRPC address, for its public token keys.
    pub address: String,
    /// The issuer its tokens name.
    pub issuer: String,
}

impl ServiceSettings for Settings {
    fn grpc(&self) -> &GrpcSettings {
        &self.grpc
    }

    fn telemetry(&self) -> &TelemetrySettings {
        &self.telemetry
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Bus(#[from] asurso_runtime::events::BusError),
    #[error(transparent)]
    Server(#[from] asurso_runtime::server::ServerError),
    #[error("identity.address: {0}")]
    IdentityAddress(String),
}

/// A built, bound, not yet serving gradebook.
pub struct Application {
    server: GrpcServer,
    state: api::Shared,
    relay: Relay,
    bus: EventBus,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool, &MIGRATOR).await?;
        let bus = EventBus::connect(&settings.nats, "gradebook").await?;
        Self::build_with(settings, pool, bus).await
    }

    /// Builds on a pool and bus made elsewhere (tests).
    pub async fn build_with(
        settings: Settings,
        pool: PgPool,
        bus: EventBus,
    ) -> Result<Self, StartError> {
        bus.ensure_stream(streams::GRADEBOOK).await?;
        // The directory reads identity's stream; creating it here (the same
        // definition identity uses) lets either service start first.
        bus.ensure_stream(streams::IDENTITY).await?;
        // Connected lazily: the gradebook starts (and serves what needs no
        // token) while identity is still starting.
        let channel = tonic::transport::Endpoint::from_shared(settings.identity.address.clone())
            .map_err(|error| StartError::IdentityAddress(error.to_string()))?
            .connect_lazy();
        let verifier = Verifier::new(IdentityKeys::new(channel), settings.identity.issuer.clone());
        let relay = Relay::new(pool.clone(), bus.clone(), settings.outbox.clone());
        let state = Arc::new(api::State {
            pool,
            verifier,
            relay: relay.waker(),
        });
        let server = GrpcServer::bind(&settings.grpc)
            .await?
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
            ));
        Ok(Self {
            server,
            state,
            relay,
            bus,
            settings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// Serves until `shutdown`, then drains calls, stops the directory
    /// consumer and flushes the outbox.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartError> {
        let mut background = Background::new();
        let directory = IdempotentConsumer::create(
            self.state.pool.clone(),
            self.bus.clone(),
            events::directory::consumer_spec(),
            events::directory::Directory,
        )
        .await?;
        background.spawn(0, move |stop| directory.run(stop));
        let relay = self.relay;
        background.spawn(1, move |stop| relay.run(stop));
        let grace = self.settings.grpc.shutdown_grace;
        let served = self.server.serve(shutdown).await;
        background.stop(grace).await;
        served?;
        Ok(())
    }
}
