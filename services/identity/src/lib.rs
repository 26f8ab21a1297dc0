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
#[cfg(feature = "harness")]
pub mod harness;
pub mod passwords;
pub mod policy;
pub mod rekey;
pub mod storage;
pub mod tokens;

use std::{sync::Arc, time::Duration};

use asurso_proto::identity as pb;
use asurso_runtime::{
    auth::Verifier,
    events::{StreamDef, streams},
    service::{Foundation, Service},
    settings::EmbeddedConfig,
};
use secrecy::SecretString;
use serde::Deserialize;
use sqlx::migrate::Migrator;

pub use asurso_runtime::service::StartError;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub const CONFIG: EmbeddedConfig = EmbeddedConfig {
    base: include_str!("../config/base.toml"),
    environments: &[
        ("local", include_str!("../config/local.toml")),
        ("production", include_str!("../config/production.toml")),
    ],
    env_prefix: "IDENTITY",
};

const STREAMS: [StreamDef; 1] = [streams::IDENTITY];

asurso_runtime::service_settings! {
    pub struct Settings {
        pub tokens: TokenSettings,
        pub login: LoginSettings,
        pub crypto: CryptoSettings,
        #[serde(default)]
        pub bootstrap: Option<bootstrap::BootstrapSettings>,
        /// Logging in through ESIA (or another OpenID Provider); off when absent.
        #[serde(default)]
        pub federation: Option<federation::FederationSettings>,
    }
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
    /// The master key being replaced, read only by `identity rekey`, which
    /// moves every sealed value from it to `master_key`
    /// (docs/OPERATIONS.md, "Rotate the master key").
    #[serde(default)]
    pub previous_master_key: Option<SecretString>,
}

fn seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let value = f64::deserialize(deserializer)?;
    Duration::try_from_secs_f64(value)
        .map_err(|_| serde::de::Error::custom(format!("{value} is not a duration in seconds")))
}

asurso_runtime::application!("identity", Settings, MIGRATOR, STREAMS);

/// The service on its foundation: its state, gRPC services and consumers.
async fn assemble(settings: Settings, foundation: Foundation) -> Result<Service, StartError> {
    let pool = foundation.pool.clone();
    let secrets =
        crypto::Secrets::from_master(&settings.crypto.master_key).map_err(StartError::service)?;
    let tokens = Arc::new(tokens::TokenIssuer::new(
        pool.clone(),
        secrets.clone(),
        settings.tokens.issuer.clone(),
        settings.tokens.access_ttl,
    ));
    tokens.ensure_key().await.map_err(StartError::service)?;
    if let Some(bootstrap) = &settings.bootstrap {
        bootstrap::ensure_region(&pool, bootstrap)
            .await
            .map_err(StartError::service)?;
    }
    let verifier = Verifier::new(
        tokens::OwnKeys(Arc::clone(&tokens)),
        settings.tokens.issuer.clone(),
    );
    let federation = match &settings.federation {
        Some(federation) => Some(Arc::new(
            federation::Federation::new(federation.clone()).map_err(StartError::service)?,
        )),
        None => None,
    };
    let state = Arc::new(api::State {
        pool,
        secrets,
        tokens,
        verifier,
        settings: settings.clone(),
        relay: foundation.relay_waker(),
        federation,
    });
    let mut foundation = foundation
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
    for stream in audit_events::REPORTING_STREAMS {
        foundation = foundation.consume(
            audit_events::consumer_spec(stream),
            audit_events::AuditRecorder,
        );
    }
    Ok(foundation.build())
}
