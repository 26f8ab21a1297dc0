//! Any service in the test's process: its application's `run_until_stopped`
//! on a task of its own, with a [`Shutdown`] the test triggers to stop it.

use std::fmt::Display;

use asurso_runtime::Shutdown;
use tokio::task::JoinHandle;

/// A service serving on a task of this process until [`Spawned::stop`].
pub struct Spawned {
    shutdown: Shutdown,
    serving: JoinHandle<()>,
}

/// Runs what `run` returns (an application's `run_until_stopped` given the
/// shutdown) on a task. A service that fails while serving panics that task
/// with `name` and the error, so the test's `stop` reports it.
pub fn spawn<Run, E>(name: &str, run: impl FnOnce(Shutdown) -> Run) -> Spawned
where
    Run: Future<Output = Result<(), E>> + Send + 'static,
    E: Display,
{
    let shutdown = Shutdown::new();
    let running = run(shutdown.clone());
    let name = name.to_owned();
    let serving = tokio::spawn(async move {
        if let Err(error) = running.await {
            panic!("{name} failed: {error}");
        }
    });
    Spawned { shutdown, serving }
}

impl Spawned {
    /// Triggers the shutdown and waits until the service has stopped.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.serving.await?;
        Ok(())
    }
}
