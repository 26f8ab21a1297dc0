//! The gradebook binary: settings, telemetry, build, serve until SIGTERM or
//! Ctrl-C. `asurso-gradebook rebuild-diary` rebuilds the diary's read model
//! instead, and exits.

use std::process::ExitCode;

use asurso_gradebook::{Application, CONFIG, Settings, rebuild_diary};
use asurso_runtime::lifecycle::service_main;

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
        Some(other) => {
            eprintln!(
                "gradebook: unknown command {other:?} (none serves; rebuild-diary rebuilds the diary's read model)"
            );
            return ExitCode::from(2);
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
