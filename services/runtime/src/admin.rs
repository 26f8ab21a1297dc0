//! Commands for operators that every storing service's binary answers
//! instead of serving, with the settings it serves with (the same
//! environment; in Kubernetes, `kubectl exec` into a pod or a Job from the
//! same image):
//!
//! ```text
//! <service> dead-letters list [CONSUMER]
//! <service> dead-letters replay CONSUMER [SEQUENCE]
//! <service> outbox republish SINCE        # RFC 3339, e.g. 2026-12-07T18:00:00Z
//! ```
//!
//! docs/OPERATIONS.md says when to use each.

use std::process::ExitCode;

use crate::{
    db,
    events::{EventBus, dead_letters, outbox},
    service::StoringServiceSettings,
    settings::EmbeddedConfig,
};

const USAGE: &str = "dead-letters list [CONSUMER] | dead-letters replay CONSUMER [SEQUENCE] | outbox republish SINCE (RFC 3339)";

/// Runs the operator command in `args` (the process's arguments, program
/// name first). `None` when there is none: the binary serves. `also` names
/// the binary's own commands, for the usage line.
pub async fn main<S: StoringServiceSettings>(
    name: &str,
    config: &EmbeddedConfig,
    args: &[String],
    also: &[&str],
) -> Option<ExitCode> {
    let words: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    if words.is_empty() {
        return None;
    }
    let outcome = match config.load::<S>() {
        Ok(settings) => run(name, &settings, &words).await,
        Err(error) => Err(Failure::Failed(error.to_string())),
    };
    Some(match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Misuse(error)) => {
            let mut commands = also.to_vec();
            commands.push(USAGE);
            eprintln!("{name}: {error}; commands: {}", commands.join(" | "));
            ExitCode::from(2)
        }
        Err(Failure::Failed(error)) => {
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    })
}

/// Why a command did not do its work: the command line names no command
/// (exit code 2, with the usage), or the work failed.
enum Failure {
    Misuse(String),
    Failed(String),
}
use Failure::Misuse;

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::Failed(error.to_string())
    }
}

async fn run<S: StoringServiceSettings>(
    name: &str,
    settings: &S,
    words: &[&str],
) -> Result<(), Failure> {
    match words {
        ["dead-letters", "list", rest @ ..] if rest.len() <= 1 => {
            let bus = EventBus::connect(settings.nats(), &format!("{name}-admin")).await?;
            let letters = dead_letters::list(&bus, rest.first().copied()).await?;
            for letter in &letters {
                let failed_at = letter
                    .letter
                    .failed_at
                    .as_ref()
                    .map(|at| at.to_string())
                    .unwrap_or_default();
                println!(
                    "{}\t{}\t{}\t{} deliveries\t{}\t{}\t{}",
                    letter.sequence,
                    letter.letter.consumer,
                    failed_at,
                    letter.letter.deliveries,
                    letter.letter.subject,
                    letter.event_id.as_deref().unwrap_or("-"),
                    letter.letter.reason.replace(['\n', '\t'], " "),
                );
            }
            eprintln!("{} dead letters", letters.len());
            Ok(())
        }
        ["dead-letters", "replay", consumer, rest @ ..] if rest.len() <= 1 => {
            let sequence = match rest.first() {
                Some(text) => Some(
                    text.parse::<u64>()
                        .map_err(|_| Misuse(format!("SEQUENCE must be a number, got {text:?}")))?,
                ),
                None => None,
            };
            let bus = EventBus::connect(settings.nats(), &format!("{name}-admin")).await?;
            let sent = dead_letters::replay(&bus, consumer, sequence).await?;
            println!("sent back {sent} dead letters of {consumer}");
            Ok(())
        }
        ["outbox", "republish", since] => {
            let since =
                time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339)
                    .map_err(|error| Misuse(format!("SINCE must be an RFC 3339 time ({error})")))?;
            let pool = db::connect(settings.database()).await?;
            let marked = outbox::republish_since(&pool, since).await?;
            println!(
                "{marked} events published since {since} go out again (the serving replicas' relay sends them)"
            );
            Ok(())
        }
        _ => Err(Misuse(format!("unknown command {:?}", words.join(" ")))),
    }
}
