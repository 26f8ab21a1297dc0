//! The identity service binary: settings, telemetry, build, serve until
//! SIGTERM or Ctrl-C.

use std::process::ExitCode;

use asurso_identity::{Application, CONFIG, Settings};
use asurso_runtime::{Shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let settings: Settings = match CONFIG.load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("identity: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = match telemetry::init("identity", &settings.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("identity: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = async {
        let shutdown = Shutdown::on_signals().map_err(|e| e.to_string())?;
        let app = Application::build(settings)
            .await
            .map_err(|e| e.to_string())?;
        app.run_until_stopped(shutdown)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "identity stopped");
            eprintln!("identity: {error}");
            ExitCode::FAILURE
        }
    }
}
