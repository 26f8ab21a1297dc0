//! The gradebook binary: settings, telemetry, build, serve until SIGTERM or
//! Ctrl-C. `asurso-gradebook rebuild-diary` rebuilds the diary's read model
//! instead, and exits; the operator commands of `asurso_runtime::admin` too.

use std::process::ExitCode;

use asurso_gradebook::{Application, CONFIG, Settings, rebuild_diary};
use asurso_runtime::{admin, lifecycle::service_main};

#[tokio::main]
async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("rebuild-diary") => {
            // Beside a serving gradebook: no metrics port, no telemetry.
            let rebuilt = match CONFIG.load::<Settings>() {
                Ok(settings) => rebuild_diary(&settings).await.map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            return match rebuilt {
                Ok(weeks) => {
                    println!("kept {weeks} diary weeks");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("gradebook: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(_) => {
            let args: Vec<String> = std::env::args().collect();
            let also = ["rebuild-diary (rebuilds the diary's read model)"];
            if let Some(code) = admin::main::<Settings>("gradebook", &CONFIG, &args, &also).await {
                return code;
            }
        }
    }
    service_main("gradebook", &CONFIG, |settings: Settings, shutdown| async {
        Application::build(settings)
            .await?
            .run_until_stopped(shutdown)
            .await
    })
    .await
}
