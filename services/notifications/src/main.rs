//! The notifications binary: settings, telemetry, build, serve until
//! SIGTERM or Ctrl-C.

use asurso_notifications::{Application, CONFIG, Settings};
use asurso_runtime::lifecycle::service_main;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_main(
        "notifications",
        &CONFIG,
        |settings: Settings, shutdown| async {
            Application::build(settings)
                .await?
                .run_until_stopped(shutdown)
                .await
        },
    )
    .await
}
