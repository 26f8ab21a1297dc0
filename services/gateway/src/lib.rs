//! The gateway: the one public entry point of ASU RSO.
//!
//! Every call from outside arrives here, over gRPC (HTTP/2) or gRPC-Web
//! (HTTP/1.1, browsers), and goes on to the service that owns its package
//! by a routing table. On the way it is checked: the access token against
//! identity's public keys (only the login methods go without one), the
//! caller's role against one coarse table of who may call what at all, the
//! client's rate (stricter for logins), the request's size and its deadline.
//! The caller travels on as the same signed token, so each service verifies
//! it again and applies its own fine rules (whose child, which class); the
//! trace context travels on too. Health and reflection of the public API
//! are served here, so `grpcurl` can list and call it. The browser's ESIA
//! login (redirect, callback, session cookies, logout) is served over plain
//! HTTP beside it.
//!
//! It keeps no data of its own and must never let a call through that it
//! could not place in its tables: an unknown method is refused, not
//! forwarded.

pub mod client;
pub mod error;
pub mod limits;
pub mod policy;
pub mod proxy;
pub mod routing;
pub mod web;
pub mod webapi;

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use asurso_runtime::{
    Shutdown,
    auth::{IdentityKeys, Verifier},
    lifecycle::ServiceSettings,
    server::GrpcServer,
    settings::{EmbeddedConfig, GrpcSettings, TelemetrySettings},
};
use serde::Deserialize;

pub use error::GatewayError;

pub const CONFIG: EmbeddedConfig = EmbeddedConfig {
    base: include_str!("../config/base.toml"),
    environments: &[
        ("local", include_str!("../config/local.toml")),
        ("production", include_str!("../config/production.toml")),
    ],
    env_prefix: "GATEWAY",
};

/// The gateway's settings. Sections the runtime defines for services with a
/// database or NATS are ignored: the gateway has neither.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub grpc: GrpcSettings,
    pub telemetry: TelemetrySettings,
    pub tokens: TokenSettings,
    pub routes: Vec<RouteSettings>,
    /// Upstream name → its gRPC address.
    pub upstreams: BTreeMap<String, String>,
    pub limits: LimitSettings,
    pub web: WebSettings,
    /// The NetSchool-compatible `/webapi`'s own database (its integer ids);
    /// without a URL, `/webapi` is off.
    pub database: WebApiDatabase,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebApiDatabase {
    #[serde(default)]
    pub url: Option<secrecy::SecretString>,
    pub max_connections: u32,
    /// Seconds.
    pub acquire_timeout: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub issuer: String,
}

/// One row of the routing table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// A proto package, e.g. `asurso.gradebook.v1`.
    pub package: String,
    /// A key of `upstreams`.
    pub upstream: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub login_per_minute: u32,
    pub login_burst: u32,
    pub anonymous_per_second: u32,
    pub anonymous_burst: u32,
    pub session_per_second: u32,
    pub session_burst: u32,
    pub max_request_bytes: usize,
    pub max_upload_bytes: usize,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub public_url: String,
    pub secure_cookies: bool,
}

impl ServiceSettings for Settings {
    fn grpc(&self) -> &GrpcSettings {
        &self.grpc
    }

    fn telemetry(&self) -> &TelemetrySettings {
        &self.telemetry
    }
}

/// The `/webapi` database: connected and migrated (replicas starting at
/// once take turns: the migrator holds a lock).
async fn webapi_database(
    url: &secrecy::SecretString,
    settings: &WebApiDatabase,
) -> Result<sqlx::PgPool, GatewayError> {
    let pool = asurso_runtime::db::connect(&asurso_runtime::settings::DatabaseSettings {
        url: url.clone(),
        max_connections: settings.max_connections,
        acquire_timeout: Duration::from_secs_f64(settings.acquire_timeout.clamp(0.1, 600.0)),
    })
    .await
    .map_err(|error| GatewayError::Settings(error.to_string()))?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .map_err(|error| GatewayError::Settings(format!("migrating database.url: {error}")))?;
    Ok(pool)
}

/// How often idle rate-limit entries are dropped and upstreams' health read.
const UPKEEP_EVERY: Duration = Duration::from_secs(10);

/// A built, bound, not yet serving gateway.
pub struct Application {
    server: GrpcServer,
    state: Arc<proxy::Gateway>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, GatewayError> {
        let upstreams = routing::Upstreams::new(&settings.routes, &settings.upstreams)?;
        let identity = upstreams
            .of(routing::IDENTITY_PACKAGE)
            .ok_or_else(|| {
                GatewayError::Settings(format!(
                    "routes: no upstream serves {} (token keys and logins come from it)",
                    routing::IDENTITY_PACKAGE
                ))
            })?
            .clone();
        let verifier = Verifier::new(
            IdentityKeys::new(identity.channel.clone()),
            settings.tokens.issuer.clone(),
        );
        let limits = limits::Limits::new(&settings.limits)?;
        let trusted = client::TrustedProxies::parse(&settings.limits.trusted_proxies)?;
        let web = web::Site::new(&settings.web)?;
        let webapi = match &settings.database.url {
            Some(url) => Some(webapi_database(url, &settings.database).await?),
            None => {
                tracing::info!("database.url is not set: the NetSchool-compatible /webapi is off");
                None
            }
        };
        let state = Arc::new(proxy::Gateway {
            upstreams,
            identity,
            verifier,
            policy: policy::Policy::new(),
            limits,
            trusted,
            max_request_bytes: settings.limits.max_request_bytes,
            max_upload_bytes: settings.limits.max_upload_bytes,
            web,
        });
        let server = GrpcServer::bind(&settings.grpc).await?;
        let edge_state = Arc::clone(&state);
        let server = server.public_edge(move |grpc| {
            let site = web::router(Arc::clone(&edge_state), grpc);
            match webapi {
                Some(pool) => site.nest("/webapi", webapi::router(edge_state, pool)),
                None => site,
            }
        });
        Ok(Self { server, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown`, then drains the calls in flight.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), GatewayError> {
        let health = self.server.health();
        let upkeep = tokio::spawn({
            let state = Arc::clone(&self.state);
            let shutdown = shutdown.clone();
            async move {
                while !shutdown.is_triggered() {
                    state.limits.forget_idle();
                    state.upstreams.report_health(&health).await;
                    tokio::select! {
                        () = shutdown.wait() => {}
                        () = tokio::time::sleep(UPKEEP_EVERY) => {}
                    }
                }
            }
        });
        let served = self.server.serve(shutdown).await;
        upkeep.abort();
        served?;
        Ok(())
    }
}
