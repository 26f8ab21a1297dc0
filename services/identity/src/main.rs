//! The identity service binary: settings, telemetry, build, serve until
//! SIGTERM or Ctrl-C. `identity rekey` moves every sealed value to a new
//! master key instead, and exits ([`asurso_identity::rekey`]); the operator
//! commands of `asurso_runtime::admin` too.

use std::process::ExitCode;

use asurso_identity::{Application, CONFIG, Settings, rekey};
use asurso_runtime::{admin, lifecycle::service_main, service::StoringServiceSettings};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None => {}
        Some("rekey") if args.len() == 2 => {
            let moved = match CONFIG.load::<Settings>() {
                Ok(settings) => match asurso_runtime::db::connect(settings.database()).await {
                    Ok(pool) => rekey::rekey(
                        &pool,
                        &settings.crypto.master_key,
                        settings.crypto.previous_master_key.as_ref(),
                    )
                    .await
                    .map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                },
                Err(error) => Err(error.to_string()),
            };
            return match moved {
                Ok(done) => {
                    println!(
                        "moved to the new master key: {} people, {} signing keys, {} app passwords, {} logins in progress; {} already under it",
                        done.people,
                        done.signing_keys,
                        done.app_passwords,
                        done.federation_logins,
                        done.unchanged
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("identity: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(_) => {
            let also = [
                "rekey (moves sealed values from crypto.previous_master_key to crypto.master_key)",
            ];
            if let Some(code) = admin::main::<Settings>("identity", &CONFIG, &args, &also).await {
                return code;
            }
        }
    }
    service_main("identity", &CONFIG, |settings: Settings, shutdown| async {
        Application::build(settings)
            .await?
            .run_until_stopped(shutdown)
            .await
    })
    .await
}
