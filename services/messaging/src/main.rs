//! The messaging binary: settings, telemetry, build, serve until SIGTERM
//! or Ctrl-C; or an operator command (`asurso_runtime::admin`).

use asurso_messaging::{Application, CONFIG, Settings};
use asurso_runtime::lifecycle::storing_service_main;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    storing_service_main("messaging", &CONFIG, |settings: Settings, shutdown| async {
        Application::build(settings)
            .await?
            .run_until_stopped(shutdown)
            .await
    })
    .await
}
