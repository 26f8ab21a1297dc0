//! Typed settings: the runtime's defaults and a service's base TOML, both
//! compiled into the binary, an overlay for the
//! environment (`ASURSO_ENVIRONMENT`, `local` by default), an optional file
//! named by `ASURSO_CONFIG_FILE`, then environment variables
//! `<PREFIX>_<SECTION>__<KEY>` (e.g. `IDENTITY_DATABASE__URL`).
//!
//! Configuration is never looked up through the current directory: what a
//! binary needs is compiled in or named explicitly. A missing or wrong value
//! stops start-up with one line naming the key; secret values never appear in
//! that line or anywhere in the logs.

use std::{net::IpAddr, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, de::DeserializeOwned};

/// The configuration a service ships inside its binary.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedConfig {
    /// The base settings every environment starts from.
    pub base: &'static str,
    /// Overlays by environment name (`local`, `production`, ...).
    pub environments: &'static [(&'static str, &'static str)],
    /// The prefix of this service's environment variables, e.g. `IDENTITY`.
    pub env_prefix: &'static str,
}

/// Defaults of the runtime's own sections, merged before a service's base.
pub const RUNTIME_DEFAULTS: &str = include_str!("../config/defaults.toml");

/// Names the environment overlay to apply.
pub const ENVIRONMENT_VAR: &str = "ASURSO_ENVIRONMENT";
/// Names an extra TOML file merged over the embedded settings.
pub const CONFIG_FILE_VAR: &str = "ASURSO_CONFIG_FILE";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("settings: {ENVIRONMENT_VAR}={0:?} is not a known environment (known: {1})")]
    UnknownEnvironment(String, String),
    #[error("settings: {key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl EmbeddedConfig {
    /// Loads `T` from the embedded files, the environment overlay, the
    /// optional config file and the process environment.
    pub fn load<T: DeserializeOwned>(&self) -> Result<T, SettingsError> {
        let environment = std::env::var(ENVIRONMENT_VAR).unwrap_or_else(|_| "local".to_owned());
        let overlay = self
            .environments
            .iter()
            .find(|(name, _)| *name == environment)
            .map(|(_, text)| *text)
            .ok_or_else(|| {
                let known: Vec<&str> = self.environments.iter().map(|(name, _)| *name).collect();
                SettingsError::UnknownEnvironment(environment.clone(), known.join(", "))
            })?;

        let mut figment = Figment::new()
            .merge(Toml::string(RUNTIME_DEFAULTS))
            .merge(Toml::string(self.base))
            .merge(Toml::string(overlay));
        if let Ok(path) = std::env::var(CONFIG_FILE_VAR) {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(
            Env::prefixed(&self.env_var_prefix())
                .filter(|key| !is_service_link(key.as_str()))
                .split("__"),
        );
        figment.extract().map_err(|error| describe(&error))
    }

    /// The prefix of this service's variables, with the separator: `IDENTITY_`.
    pub fn env_var_prefix(&self) -> String {
        format!("{}_", self.env_prefix)
    }
}

/// Whether a variable (its name after the service's prefix) is one of the
/// links Kubernetes gives a pod for each Service of its namespace
/// (`IDENTITY_SERVICE_HOST`, `IDENTITY_PORT_50051_TCP_ADDR`,
/// `IDENTITY_DB_RW_SERVICE_PORT`): never a setting (settings are
/// `<SECTION>__<KEY>`), and refusing it would stop the service. A misspelt
/// setting is still refused.
fn is_service_link(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    !key.contains("__")
        && (key.contains("SERVICE_HOST")
            || key.contains("SERVICE_PORT")
            || key == "PORT"
            || key.ends_with("_PORT")
            || key.starts_with("PORT_")
            || key.contains("_PORT_"))
}

/// One line that names the key; values of secret-looking keys are withheld.
fn describe(error: &figment::Error) -> SettingsError {
    let key = if error.path.is_empty() {
        "(root)".to_owned()
    } else {
        error.path.join(".")
    };
    let reason = match &error.kind {
        figment::error::Kind::MissingField(field) => {
            let key = if error.path.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
            return SettingsError::Invalid {
                key,
                reason: "missing".to_owned(),
            };
        }
        figment::error::Kind::InvalidType(_, expected) if is_secret_key(&key) => {
            format!("invalid type: expected {expected} (value withheld)")
        }
        figment::error::Kind::InvalidValue(_, expected) if is_secret_key(&key) => {
            format!("invalid value: expected {expected} (value withheld)")
        }
        figment::error::Kind::Message(_) if is_secret_key(&key) => {
            "invalid (value withheld)".to_owned()
        }
        kind => kind.to_string(),
    };
    SettingsError::Invalid { key, reason }
}

fn is_secret_key(key: &str) -> bool {
    ["url", "password", "secret", "key", "token"]
        .iter()
        .any(|word| key.to_ascii_lowercase().contains(word))
}

/// Where the gRPC server listens and how long a call may take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    pub host: IpAddr,
    /// 0 picks a free port (tests); the server reports the one it got.
    pub port: u16,
    /// The longest a call may run; a client's shorter deadline wins.
    #[serde(with = "humantime_secs")]
    pub max_call_duration: Duration,
    /// How long in-flight calls may take to finish after SIGTERM.
    #[serde(with = "humantime_secs")]
    pub shutdown_grace: Duration,
}

/// The service's own PostgreSQL database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`: a secret, since it may
    /// carry the password.
    pub url: SecretString,
    pub max_connections: u32,
    #[serde(with = "humantime_secs")]
    pub acquire_timeout: Duration,
}

/// The NATS JetStream server and this deployment's namespace on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSettings {
    pub url: String,
    /// Prefixes every stream and subject; empty in production, unique per
    /// test so tests share one server without seeing each other.
    #[serde(default)]
    pub namespace: String,
    /// Stream replicas: 1 on a laptop, 3 in production.
    pub replicas: usize,
    /// JetStream's de-duplication window; at least the relay's longest retry.
    #[serde(with = "humantime_secs")]
    pub duplicate_window: Duration,
}

/// How the outbox relay runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// How often the relay looks for unsent events when nobody woke it.
    #[serde(with = "humantime_secs")]
    pub poll_interval: Duration,
    /// Events claimed in one transaction.
    pub batch_size: u32,
    /// Sent events are kept this long so a reconciliation can re-publish
    /// what a stream lost.
    #[serde(with = "humantime_secs")]
    pub retention: Duration,
}

/// Logs and traces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// An `EnvFilter` directive, e.g. `info,sqlx=warn`; `RUST_LOG` wins.
    pub log_level: String,
    pub log_format: LogFormat,
    /// `http://collector:4317`: spans go there over OTLP/gRPC when set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// Where Prometheus scrapes `/metrics` (same host as gRPC); off when unset.
    #[serde(default)]
    pub metrics_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Durations in settings are written as seconds (fractions allowed):
/// `poll_interval = 0.2`.
mod humantime_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds)
            .map_err(|_| D::Error::custom(format!("{seconds} is not a duration in seconds")))
    }
}

#[cfg(test)]
// figment's Jail closures return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        grpc: GrpcSettings,
        database: DatabaseSettings,
    }

    const BASE: &str = r#"
        [grpc]
        host = "127.0.0.1"
        port = 50051
        max_call_duration = 30
        shutdown_grace = 10.5
        [database]
        url = "postgres://app:hunter2@localhost/app"
        max_connections = 10
        acquire_timeout = 5
    "#;

    const CONFIG: EmbeddedConfig = EmbeddedConfig {
        base: BASE,
        environments: &[("local", ""), ("production", "[grpc]\nhost = \"0.0.0.0\"")],
        env_prefix: "SAMPLE",
    };

    /// Loads inside a Jail (its variables set) and expects an error.
    fn load_error() -> String {
        match CONFIG.load::<Sample>() {
            Ok(sample) => panic!("expected an error, loaded {sample:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn overlay_and_variables_override_the_base() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ASURSO_ENVIRONMENT", "production");
            jail.set_env("SAMPLE_GRPC__PORT", "6000");
            let sample: Sample = CONFIG.load().map_err(|e| e.to_string())?;
            assert_eq!(sample.grpc.host.to_string(), "0.0.0.0");
            assert_eq!(sample.grpc.port, 6000);
            assert_eq!(sample.grpc.shutdown_grace, Duration::from_millis(10_500));
            Ok(())
        });
    }

    #[test]
    fn a_wrong_value_names_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAMPLE_GRPC__PORT", "seventy");
            let message = load_error();
            assert!(message.starts_with("settings: grpc.port: "), "{message}");
            assert!(!message.contains('\n'), "one line: {message}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_value_names_its_key() {
        figment::Jail::expect_with(|_| {
            let error = EmbeddedConfig {
                base: "[grpc]\nhost = \"::1\"\n[database]\nurl = \"postgres://localhost/app\"",
                ..CONFIG
            }
            .load::<Sample>()
            .map_err(|e| e.to_string());
            let message = error.err().unwrap_or_default();
            assert!(!message.is_empty(), "expected an error");
            assert!(message.contains("grpc.port: missing"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn secret_values_stay_out_of_errors_and_debug_output() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAMPLE_DATABASE__URL", "[1, 2]");
            let message = load_error();
            assert!(message.contains("database.url"), "{message}");
            assert!(message.contains("withheld"), "{message}");
            Ok(())
        });
        figment::Jail::expect_with(|_| {
            let sample: Sample = CONFIG.load().map_err(|e| e.to_string())?;
            let printed = format!("{sample:?}");
            assert!(!printed.contains("hunter2"), "{printed}");
            Ok(())
        });
    }

    #[test]
    fn kubernetes_service_links_are_not_settings_but_typos_are_refused() {
        /// As services declare theirs: every section the runtime's
        /// defaults hold, unknown ones refused.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            grpc: GrpcSettings,
            database: DatabaseSettings,
            nats: NatsSettings,
            outbox: OutboxSettings,
            telemetry: TelemetrySettings,
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAMPLE_SERVICE_HOST", "10.0.0.1");
            jail.set_env("SAMPLE_SERVICE_PORT_GRPC", "50051");
            jail.set_env("SAMPLE_PORT", "tcp://10.0.0.1:50051");
            jail.set_env("SAMPLE_PORT_50051_TCP_ADDR", "10.0.0.1");
            jail.set_env("SAMPLE_DB_RW_SERVICE_HOST", "10.0.0.2");
            jail.set_env("SAMPLE_GRPC__PORT", "7001");
            let settings = CONFIG.load::<Strict>().map_err(|e| e.to_string())?;
            assert_eq!(settings.grpc.port, 7001);
            jail.set_env("SAMPLE_GRPC_PORTS", "7002");
            let refused = CONFIG
                .load::<Strict>()
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert!(
                refused.as_ref().is_err_and(|e| e.contains("grpc_ports")),
                "a typo names itself: {refused:?}"
            );
            Ok(())
        });
    }

    #[test]
    fn an_unknown_environment_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ASURSO_ENVIRONMENT", "staging");
            let message = load_error();
            assert!(message.contains("\"staging\""), "{message}");
            assert!(message.contains("local, production"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn a_config_file_is_merged_over_the_embedded_settings() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("site.toml", "[database]\nmax_connections = 3")?;
            let path = jail.directory().join("site.toml");
            jail.set_env("ASURSO_CONFIG_FILE", path.display());
            let sample: Sample = CONFIG.load().map_err(|e| e.to_string())?;
            assert_eq!(sample.database.max_connections, 3);
            Ok(())
        });
    }
}
