//! `devstack`: ASU RSO on one machine, for people and for the test suite.
//!
//! - `devstack run --data DIR`: PostgreSQL and NATS (its own under DIR when
//!   `DATABASE_URL` / `NATS_URL` are not set), every service and the
//!   gateway, the demo region seeded; prints where to connect and the demo
//!   logins; stops everything cleanly on Ctrl-C or SIGTERM.
//! - `devstack test --data DIR -- COMMAND...`: throw-away PostgreSQL and NATS
//!   for one run of COMMAND (unless configured), with `DATABASE_URL` and
//!   `NATS_URL` set for it; exits with COMMAND's status.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use asurso_devstack::{run_stack, run_tests};

const USAGE: &str =
    "usage: devstack run --data DIR | devstack test --data DIR -- COMMAND [ARGS...]";

#[tokio::main]
async fn main() -> ExitCode {
    match run_cli().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("devstack: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_cli() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = args.split_first().context(USAGE)?;
    let (data, rest) = match rest {
        [flag, dir, rest @ ..] if flag == "--data" => (PathBuf::from(dir), rest),
        _ => bail!(USAGE),
    };
    match mode.as_str() {
        "run" if rest.is_empty() => run_stack(&data).await,
        "test" => match rest {
            [separator, command @ ..] if separator == "--" && !command.is_empty() => {
                run_tests(&data, command).await
            }
            _ => bail!(USAGE),
        },
        _ => bail!(USAGE),
    }
}
