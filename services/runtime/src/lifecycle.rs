//! Start and stop: the shutdown signal every part of a service listens to,
//! and the order in which a service stops.
//!
//! On SIGTERM or SIGINT a service stops accepting calls, lets in-flight calls
//! finish (bounded by the grace period), stops its consumers between two
//! events, and lets the relay publish what was committed before it exits.

use std::{future::Future, time::Duration};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A cloneable "stop now" flag.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown that fires on SIGTERM or SIGINT (Ctrl-C).
    pub fn on_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let shutdown = Self::new();
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "shutting down");
            trigger.trigger();
        });
        Ok(shutdown)
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn wait(&self) {
        self.token.cancelled().await;
    }
}

/// Waiting before trying again what failed (connecting, listening,
/// pulling): 100 ms, doubling to 5 s, back to 100 ms once it works.
#[derive(Debug, Clone, Copy)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Self::FIRST)
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MOST: Duration = Duration::from_secs(5);

    /// Waits the current delay, then doubles it; `false` when `shutdown`
    /// came first.
    pub async fn wait(&mut self, shutdown: &Shutdown) -> bool {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Self::MOST);
        tokio::select! {
            () = shutdown.wait() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// It worked: the next failure waits the first delay again.
    pub fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

/// Background work of a service (consumers, the relay) stopped in stages
/// after the gRPC server has drained.
#[derive(Default)]
pub struct Background {
    stages: Vec<(Shutdown, JoinSet<()>)>,
}

impl Background {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a task that stops when its stage is stopped. Stages stop in
    /// the order they were first used: consumers (stage 0) before the relay
    /// (stage 1), so events a consumer wrote are still published.
    pub fn spawn<F, Fut>(&mut self, stage: usize, task: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        while self.stages.len() <= stage {
            self.stages.push((Shutdown::new(), JoinSet::new()));
        }
        let (shutdown, tasks) = &mut self.stages[stage];
        tasks.spawn(task(shutdown.clone()));
    }

    /// Stops every stage in order, giving each up to `grace` to finish.
    pub async fn stop(self, grace: Duration) {
        for (index, (shutdown, mut tasks)) in self.stages.into_iter().enumerate() {
            shutdown.trigger();
            let drained = tokio::time::timeout(grace, async {
                while let Some(joined) = tasks.join_next().await {
                    if let Err(error) = joined {
                        tracing::error!(%error, stage = index, "background task failed");
                    }
                }
            })
            .await;
            if drained.is_err() {
                tracing::warn!(
                    stage = index,
                    "background tasks did not stop in time, aborting"
                );
                tasks.abort_all();
            }
        }
    }
}

/// What a service binary needs to know of its settings to start.
pub trait ServiceSettings: serde::de::DeserializeOwned {
    fn grpc(&self) -> &crate::settings::GrpcSettings;
    fn telemetry(&self) -> &crate::settings::TelemetrySettings;
}

/// The whole `main` of a service: load its settings, start telemetry and the
/// metrics endpoint, then `run` until SIGTERM or Ctrl-C. Any failure is one
/// line on stderr (and in the log) and a failing exit code.
pub async fn service_main<S, F, Fut, E>(
    name: &'static str,
    config: &crate::settings::EmbeddedConfig,
    run: F,
) -> std::process::ExitCode
where
    S: ServiceSettings,
    F: FnOnce(S, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    use std::process::ExitCode;
    crate::allocator::give_back_freed_memory();
    let settings: S = match config.load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{name}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = match crate::telemetry::init(name, settings.telemetry()) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{name}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = async {
        let shutdown = Shutdown::on_signals().map_err(|e| e.to_string())?;
        if let Some(port) = settings.telemetry().metrics_port {
            let metrics =
                crate::metrics::MetricsServer::install((settings.grpc().host, port).into())
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(metrics.serve(shutdown.clone()));
        }
        run(settings, shutdown).await.map_err(|e| e.to_string())
    }
    .await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "{name} stopped");
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// [`service_main`] for a service with a database and events: an operator
/// command in the arguments ([`crate::admin`]) runs instead of serving.
pub async fn storing_service_main<S, F, Fut, E>(
    name: &'static str,
    config: &crate::settings::EmbeddedConfig,
    run: F,
) -> std::process::ExitCode
where
    S: crate::service::StoringServiceSettings,
    F: FnOnce(S, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = crate::admin::main::<S>(name, config, &args, &[]).await {
        return code;
    }
    service_main(name, config, run).await
}
