//! The notifications binary: settings, telemetry, build, serve until
//! SIGTERM or Ctrl-C; or an operator command (`asurso_runtime::admin`).

use asurso_notifications::{Application, CONFIG, Settings};
use asurso_runtime::lifecycle::storing_service_main;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    storing_service_main(
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
