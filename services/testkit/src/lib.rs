//! Real PostgreSQL and NATS JetStream for tests and local runs, never mocks.
//!
//! - [`servers`] starts throw-away `postgres` and `nats-server` processes on
//!   free loopback ports (as the `postgres` user when running as root, since
//!   PostgreSQL refuses root).
//! - [`TestDatabase`] gives each test its own database, cloned from a
//!   template migrated once per set of migrations, so tests run in parallel.
//! - [`namespace`] gives each test its own stream and subject prefix on a
//!   shared NATS server.
//!
//! - [`otlp::Collector`] receives spans over OTLP/gRPC, as a collector
//!   does, for tests that follow one trace across processes.
//! - [`spawn`] runs any service's application in the test's process until
//!   the test stops it. Each service offers its own harness on top (identity's
//!   is `asurso_identity::harness`, feature `harness`): the kit depends on no
//!   service.
//!
//! `DATABASE_URL` and `NATS_URL` name servers to use; when unset, the first
//! test of a process starts its own and a watchdog removes them when the
//! process ends. `make test` starts one pair for the whole run.

pub mod database;
pub mod load;
pub mod otlp;
pub mod servers;
pub mod smtp;
pub mod spawned;
pub mod wire;

pub use database::TestDatabase;
pub use servers::{NatsServer, PostgresServer};
pub use smtp::SmtpServer;
pub use spawned::{Spawned, spawn};

use tokio::sync::OnceCell;

/// The admin URL of the PostgreSQL server tests use.
pub async fn postgres_url() -> anyhow::Result<String> {
    static SHARED: OnceCell<String> = OnceCell::const_new();
    SHARED
        .get_or_try_init(|| async {
            if let Ok(url) = std::env::var("DATABASE_URL")
                && !url.is_empty()
            {
                return Ok(url);
            }
            let server = PostgresServer::start_throwaway().await?;
            let url = server.url("postgres");
            // Lives as long as the process; the watchdog cleans up after it.
            std::mem::forget(server);
            Ok(url)
        })
        .await
        .cloned()
}

/// The URL of the NATS server tests use.
pub async fn nats_url() -> anyhow::Result<String> {
    static SHARED: OnceCell<String> = OnceCell::const_new();
    SHARED
        .get_or_try_init(|| async {
            if let Ok(url) = std::env::var("NATS_URL")
                && !url.is_empty()
            {
                return Ok(url);
            }
            let server = NatsServer::start_throwaway().await?;
            let url = server.url();
            std::mem::forget(server);
            Ok(url)
        })
        .await
        .cloned()
}

/// A fresh stream and subject prefix: tests sharing a NATS server never see
/// each other's events.
pub fn namespace() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Log output for tests (`RUST_LOG` picks the level), installed once.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Polls `check` until it holds, failing after `within`.
pub async fn eventually<F, Fut>(within: std::time::Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if check().await? {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("condition not reached within {within:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Valid SNILS numbers for tests: nine digits from `seed`, then the check number.
pub fn snils(seed: u32) -> String {
    let digits: Vec<u32> = format!("{:09}", 2_000_000 + seed)
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let sum: u32 = digits.iter().zip((1..=9).rev()).map(|(d, w)| d * w).sum();
    let check = match sum % 101 {
        100 => 0,
        rest => rest,
    };
    let d: String = digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect();
    format!("{}-{}-{} {:02}", &d[0..3], &d[3..6], &d[6..9], check)
}

/// The Python that has the tests' programs (`deploy/local/
/// requirements-test.txt`): `ASURSO_PYTHON` (the Makefile sets it), else
/// the checkout's `.run/venv`.
pub fn python() -> std::path::PathBuf {
    std::env::var_os("ASURSO_PYTHON")
        .map(std::path::PathBuf::from)
        .filter(|path| path.exists())
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.run/venv/bin/python")
        })
}
