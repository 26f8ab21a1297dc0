//! The identity service binary: settings, telemetry, build, serve until
//! SIGTERM or Ctrl-C.

use std::process::ExitCode;

use asurso_identity::{Application, CONFIG, Settings};
use asurso_runtime::{Shutdown, metrics::MetricsServer, telemetry};

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
        if let Some(port) = settings.telemetry.metrics_port {
            let metrics = MetricsServer::install((settings.grpc.host, port).into())
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(metrics.serve(shutdown.clone()));
        }
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
