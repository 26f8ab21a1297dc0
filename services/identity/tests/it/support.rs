//! Identity as its own binary, beside the in-process harness every
//! service's tests share (asurso_testkit::identity).

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use asurso_runtime::settings::NatsSettings;
use asurso_testkit::TestDatabase;
pub use asurso_testkit::{eventually, identity::*};
use tonic::transport::Channel;

/// Identity's real binary on a fresh database and NATS namespace.
pub async fn identity_binary(
    extra_env: &[(&str, &str)],
) -> anyhow::Result<(IdentityProcess, TestDatabase)> {
    asurso_testkit::init_tracing();
    let db = identity_database().await?;
    let nats = nats_settings(&asurso_testkit::nats_url().await?);
    let process = IdentityProcess::start(&db, &nats, extra_env).await?;
    Ok((process, db))
}

/// Identity as a separate process (its real binary), with output captured.
pub struct IdentityProcess {
    pub address: String,
    child: tokio::process::Child,
    /// Everything it printed so far, read as it comes so the pipes never fill.
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

fn drain(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 8192];
        while let Ok(read) = pipe.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            if let Ok(mut output) = into.lock() {
                output.extend_from_slice(&buffer[..read]);
            }
        }
    })
}

impl IdentityProcess {
    pub async fn start(
        db: &TestDatabase,
        nats: &NatsSettings,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = asurso_testkit::servers::free_port()?;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_identity"));
        command
            .env("ASURSO_ENVIRONMENT", "local")
            .env("IDENTITY_DATABASE__URL", &db.url)
            .env("IDENTITY_NATS__URL", &nats.url)
            .env("IDENTITY_NATS__NAMESPACE", &nats.namespace)
            .env("IDENTITY_GRPC__PORT", port.to_string())
            .env("IDENTITY_TELEMETRY__LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn()?;
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(drain(stdout, output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(drain(stderr, output.clone()));
        }
        let address = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(channel) = Channel::from_shared(address.clone())?.connect().await {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                if health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .is_ok()
                {
                    break;
                }
            }
            if Instant::now() > deadline {
                anyhow::bail!("the identity binary did not start");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            address,
            child,
            output,
            readers,
        })
    }

    /// Stops it with SIGTERM and returns everything it printed.
    pub async fn stop(mut self) -> anyhow::Result<String> {
        if let Some(pid) = self.child.id() {
            tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await??;
        for reader in self.readers {
            reader.await?;
        }
        assert!(status.success(), "identity exited with {status}");
        let output = self
            .output
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        Ok(String::from_utf8_lossy(&output).into_owned())
    }
}
