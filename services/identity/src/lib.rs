//! The identity service: who is this, and what may they do.
//!
//! It owns the org tree (region -> municipality -> school), people and their
//! SNILS (encrypted), guardian links, role grants and the rights matrix,
//! local logins, logins through ESIA (the federation, linking an ESIA account
//! to the person a school registered) and app passwords, the regional login
//! policy, sessions, the token signing keys, and the personal-data audit log. Other services verify its tokens themselves from its public
//! keys and learn about people and links from its events.
//!
//! It must never store or log a SNILS in plain text, never let a caller act
//! outside the org unit of their grant, and never serve a student's data to
//! staff without an audit record.

pub mod access;
pub mod api;
pub mod audit_events;
pub mod bootstrap;
pub mod crypto;
pub mod domain;
pub mod events;
pub mod federation;
pub mod passwords;
pub mod policy;
pub mod storage;
pub mod tokens;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use asurso_proto::identity as pb;
use asurso_runtime::{
    Shutdown,
    auth::Verifier,
    db,
    events::{EventBus, Relay},
    lifecycle::Background,
    server::GrpcServer,
    settings::{
        DatabaseSettings, EmbeddedConfig, GrpcSettings, NatsSettings, OutboxSettings,
        TelemetrySettings,
    },
};
use secrecy::SecretString;
use serde::Deserialize;
use sqlx::{PgPool, migrate::Migrator};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub const CONFIG: EmbeddedConfig = EmbeddedConfig {
    base: include_str!("../config/base.toml"),
    environments: &[
        ("local", include_str!("../config/local.toml")),
        ("production", include_str!("../config/production.toml")),
    ],
    env_prefix: "IDENTITY",
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub grpc: GrpcSettings,
    pub database: DatabaseSettings,
    pub nats: NatsSettings,
    pub outbox: OutboxSettings,
    pub telemetry: TelemetrySettings,
    pub tokens: TokenSettings,
    pub login: LoginSettings,
    pub crypto: CryptoSettings,
    #[serde(default)]
    pub bootstrap: Option<bootstrap::BootstrapSettings>,
    /// Logging in through ESIA (or another OpenID Provider); off when absent.
    #[serde(default)]
    pub federation: Option<federation::FederationSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub issuer: String,
    #[serde(deserialize_with = "seconds")]
    pub access_ttl: Duration,
    #[serde(deserialize_with = "seconds")]
    pub refresh_ttl: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    /// Failed logins in a row before the account locks.
    pub max_failures: u32,
    #[serde(deserialize_with = "seconds")]
    pub lockout: Duration,
    pub min_password_length: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoSettings {
    /// 32 bytes, base64: every key identity uses is derived from it.
    pub master_key: SecretString,
}

impl asurso_runtime::lifecycle::ServiceSettings for Settings {
    fn grpc(&self) -> &GrpcSettings {
        &self.grpc
    }

    fn telemetry(&self) -> &TelemetrySettings {
        &self.telemetry
    }
}

fn seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let value = f64::deserialize(deserializer)?;
    Duration::try_from_secs_f64(value)
        .map_err(|_| serde::de::Error::custom(format!("{value} is not a duration in seconds")))
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Bus(#[from] asurso_runtime::events::BusError),
    #[error(transparent)]
    Server(#[from] asurso_runtime::server::ServerError),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    #[error(transparent)]
    Federation(#[from] federation::FederationError),
    #[error("identity: {0}")]
    Identity(#[from] domain::IdentityError),
}

/// A built, bound, not yet serving identity service.
pub struct Application {
    server: GrpcServer,
    state: api::Shared,
    relay: Relay,
    bus: EventBus,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let pool = db::connect(&settings.database).await?;
        db::migrate(&pool, &MIGRATOR).await?;
        let bus = EventBus::connect(&settings.nats, "identity").await?;
        bus.ensure_stream(asurso_runtime::events::streams::IDENTITY)
            .await?;
        Self::build_with(settings, pool, bus).await
    }

    /// Builds on a pool and bus made elsewhere (tests).
    pub async fn build_with(
        settings: Settings,
        pool: PgPool,
        bus: EventBus,
    ) -> Result<Self, StartError> {
        let secrets = crypto::Secrets::from_master(&settings.crypto.master_key)?;
        let tokens = Arc::new(tokens::TokenIssuer::new(
            pool.clone(),
            secrets.clone(),
            settings.tokens.issuer.clone(),
            settings.tokens.access_ttl,
        ));
        tokens.ensure_key().await?;
        if let Some(bootstrap) = &settings.bootstrap {
            bootstrap::ensure_region(&pool, bootstrap).await?;
        }
        let relay = Relay::new(pool.clone(), bus.clone(), settings.outbox.clone());
        let verifier = Verifier::new(
            tokens::OwnKeys(Arc::clone(&tokens)),
            settings.tokens.issuer.clone(),
        );
        let federation = match &settings.federation {
            Some(federation) => Some(Arc::new(federation::Federation::new(federation.clone())?)),
            None => None,
        };
        let state = Arc::new(api::State {
            pool,
            secrets,
            tokens,
            verifier,
            settings: settings.clone(),
            relay: relay.waker(),
            federation,
        });
        let server = GrpcServer::bind(&settings.grpc)
            .await?
            .add_service(pb::org_service_server::OrgServiceServer::new(
                api::org::OrgApi(Arc::clone(&state)),
            ))
            .add_service(pb::people_service_server::PeopleServiceServer::new(
                api::people::PeopleApi(Arc::clone(&state)),
            ))
            .add_service(pb::access_service_server::AccessServiceServer::new(
                api::access::AccessApi(Arc::clone(&state)),
            ))
            .add_service(pb::auth_service_server::AuthServiceServer::new(
                api::auth::AuthApi(Arc::clone(&state)),
            ))
            .add_service(pb::audit_service_server::AuditServiceServer::new(
                api::audit::AuditApi(Arc::clone(&state)),
            ))
            .add_service(pb::federation_service_server::FederationServiceServer::new(
                api::federation::FederationApi(Arc::clone(&state)),
            ))
            .add_service(
                pb::app_password_service_server::AppPasswordServiceServer::new(
                    api::app_passwords::AppPasswordApi(Arc::clone(&state)),
                ),
            );
        Ok(Self {
            server,
            state,
            relay,
            bus,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// Serves until `shutdown`, then drains calls and flushes the outbox.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartError> {
        let mut background = Background::new();
        for stream in audit_events::REPORTING_STREAMS {
            let consumer = asurso_runtime::events::IdempotentConsumer::create(
                self.state.pool.clone(),
                self.bus.clone(),
                audit_events::consumer_spec(stream),
                audit_events::AuditRecorder,
            )
            .await?;
            background.spawn(0, move |stop| consumer.run(stop));
        }
        let relay = self.relay;
        background.spawn(1, move |stop| relay.run(stop));
        let grace = self.state.settings.grpc.shutdown_grace;
        let served = self.server.serve(shutdown).await;
        background.stop(grace).await;
        served?;
        Ok(())
    }
}
