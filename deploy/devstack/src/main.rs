//! `devstack`: ASU RSO on one machine, for people and for the test suite.
//!
//! - `devstack run --data DIR`: PostgreSQL and NATS (its own under DIR when
//!   `DATABASE_URL` / `NATS_URL` are not set), a database per service, every
//!   service built so far; waits until each answers its health check with
//!   SERVING, prints where to connect, and stops everything cleanly on
//!   Ctrl-C or SIGTERM.
//! - `devstack test --data DIR -- COMMAND...`: throw-away PostgreSQL and NATS
//!   for one run of COMMAND (unless configured), with `DATABASE_URL` and
//!   `NATS_URL` set for it; exits with COMMAND's status.
//!
//! For development only: it trusts the local machine and keeps no secrets.

use std::{
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use asurso_testkit::{NatsServer, PostgresServer, servers::free_port};
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// A service `devstack run` starts.
struct ServiceDef {
    /// Binary name, also the database name suffix.
    name: &'static str,
    /// Prefix of its settings variables.
    env_prefix: &'static str,
    /// Its gRPC port on this machine.
    port: u16,
}

/// Every service that exists so far, in start order.
/// The gradebook finds identity's token keys at 127.0.0.1:50051 (its local
/// settings), so identity comes first.
const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        name: "identity",
        env_prefix: "IDENTITY",
        port: 50051,
    },
    ServiceDef {
        name: "gradebook",
        env_prefix: "GRADEBOOK",
        port: 50052,
    },
];

/// Where `devstack run` serves the development ESIA (identity's local
/// settings name it).
const ESIA_DEV_ADDRESS: &str = "127.0.0.1:50090";

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

fn configured(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The servers a run uses: configured ones, or our own.
struct Infra {
    postgres_url: String,
    nats_url: String,
    postgres: Option<PostgresServer>,
    nats: Option<NatsServer>,
}

impl Infra {
    async fn start(data: &Path, durable: bool, ports: Option<(u16, u16)>) -> anyhow::Result<Self> {
        let (postgres, postgres_url) = match configured("DATABASE_URL") {
            Some(url) => (None, url),
            None => {
                let port = match ports {
                    Some((port, _)) => port,
                    None => free_port()?,
                };
                let server = PostgresServer::start(&data.join("postgres"), port, durable)
                    .await
                    .context("starting PostgreSQL")?;
                let url = server.url("postgres");
                (Some(server), url)
            }
        };
        let (nats, nats_url) = match configured("NATS_URL") {
            Some(url) => (None, url),
            None => {
                let port = match ports {
                    Some((_, port)) => port,
                    None => free_port()?,
                };
                let server = NatsServer::start(&data.join("nats"), port)
                    .await
                    .context("starting nats-server")?;
                let url = server.url();
                (Some(server), url)
            }
        };
        Ok(Self {
            postgres_url,
            nats_url,
            postgres,
            nats,
        })
    }

    async fn stop(mut self) {
        if let Some(nats) = self.nats.as_mut()
            && let Err(error) = nats.stop().await
        {
            eprintln!("devstack: stopping nats-server: {error:#}");
        }
        if let Some(postgres) = &self.postgres
            && let Err(error) = postgres.stop().await
        {
            eprintln!("devstack: stopping PostgreSQL: {error:#}");
        }
    }
}

async fn run_tests(data: &Path, command: &[String]) -> anyhow::Result<ExitCode> {
    // Test servers are throw-away: start from nothing every time.
    if data.exists() {
        std::fs::remove_dir_all(data).with_context(|| format!("clearing {}", data.display()))?;
    }
    let infra = Infra::start(data, false, None).await?;
    eprintln!(
        "devstack: PostgreSQL at {}, NATS at {}",
        infra.postgres_url, infra.nats_url
    );
    let status = Command::new(&command[0])
        .args(&command[1..])
        .env("DATABASE_URL", &infra.postgres_url)
        .env("NATS_URL", &infra.nats_url)
        .status()
        .await
        .with_context(|| format!("running {}", command[0]));
    infra.stop().await;
    let _ = std::fs::remove_dir_all(data);
    let status = status?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Ctrl-C or SIGTERM, heard from the very start, so an interrupted start-up
/// still stops what it started.
#[derive(Clone)]
struct StopSignal(tokio::sync::watch::Receiver<bool>);

impl StopSignal {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let (sender, receiver) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            let _ = sender.send(true);
        });
        Ok(Self(receiver))
    }

    fn received(&self) -> bool {
        *self.0.borrow()
    }

    async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

async fn run_stack(data: &Path) -> anyhow::Result<ExitCode> {
    let mut stop = StopSignal::listen()?;
    let infra = Infra::start(data, true, Some((55432, 54222))).await?;
    let outcome = start_services(&infra, &stop).await;
    let mut children = match outcome {
        Ok(children) => children,
        Err(error) => {
            infra.stop().await;
            return Err(error);
        }
    };

    println!();
    println!("ASU RSO is running.");
    println!("  PostgreSQL  {}", infra.postgres_url);
    println!("  NATS        {}", infra.nats_url);
    if SERVICES.is_empty() {
        println!("  (no services are built yet)");
    }
    for service in SERVICES {
        println!(
            "  {:<12}grpc://127.0.0.1:{} (SERVING), metrics http://127.0.0.1:{}/metrics",
            service.name,
            service.port,
            metrics_port(service)
        );
    }
    println!(
        "  {:<12}http://{ESIA_DEV_ADDRESS}/ (development ESIA, not for production; demo people on its login page)",
        "esia-dev"
    );
    println!("  log in through it: bash deploy/local/esia-login.sh (see README)");
    println!("Press Ctrl-C to stop.");

    wait_for_stop(&mut children, &mut stop).await;
    println!("devstack: stopping");
    stop_children(&mut children).await;
    infra.stop().await;
    println!("devstack: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn start_services(
    infra: &Infra,
    stop: &StopSignal,
) -> anyhow::Result<Vec<(&'static str, Child)>> {
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .context("locating the service binaries")?;
    let mut children = Vec::new();
    // The development ESIA first: identity's local settings log in through
    // it (ESIA itself cannot be reached from a laptop).
    let esia = Command::new(bin_dir.join("esia-dev"))
        .args(["--listen", ESIA_DEV_ADDRESS])
        .stdin(Stdio::null())
        .spawn()
        .context("starting esia-dev (is it built? make build)")?;
    children.push(("esia-dev", esia));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(ESIA_DEV_ADDRESS)
        .await
        .is_err()
    {
        if tokio::time::Instant::now() > deadline {
            stop_children(&mut children).await;
            bail!("esia-dev did not start listening on {ESIA_DEV_ADDRESS}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for service in SERVICES {
        let database = format!("asurso_{}", service.name);
        ensure_database(&infra.postgres_url, &database).await?;
        let database_url = with_database(&infra.postgres_url, &database);
        let prefix = service.env_prefix;
        let child = Command::new(bin_dir.join(service.name))
            .env("ASURSO_ENVIRONMENT", "local")
            .env(format!("{prefix}_DATABASE__URL"), database_url)
            .env(format!("{prefix}_NATS__URL"), &infra.nats_url)
            .env(format!("{prefix}_GRPC__PORT"), service.port.to_string())
            .env(
                format!("{prefix}_TELEMETRY__METRICS_PORT"),
                metrics_port(service).to_string(),
            )
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} (is it built? make build)", service.name));
        match child {
            Ok(child) => children.push((service.name, child)),
            Err(error) => {
                stop_children(&mut children).await;
                return Err(error);
            }
        }
        let started = match children.last_mut() {
            Some((_, child)) => wait_until_serving(service, child, stop).await,
            None => Ok(()),
        };
        if let Err(error) = started {
            stop_children(&mut children).await;
            return Err(error);
        }
    }
    Ok(children)
}

/// Each service's Prometheus endpoint: its gRPC port + 1000.
fn metrics_port(service: &ServiceDef) -> u16 {
    service.port + 1000
}

async fn ensure_database(admin_url: &str, database: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("connecting to PostgreSQL")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // The name comes from the constant table above, never from input.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{database}\""
        )))
        .execute(&mut admin)
        .await?;
    }
    admin.close().await?;
    Ok(())
}

fn with_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{database}"),
        None => format!("{url}/{database}"),
    }
}

async fn wait_until_serving(
    service: &ServiceDef,
    child: &mut Child,
    stop: &StopSignal,
) -> anyhow::Result<()> {
    let address = format!("http://127.0.0.1:{}", service.port);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if stop.received() {
            bail!("interrupted while starting {}", service.name);
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "{} exited during start-up ({status}); its log is above",
                service.name
            );
        }
        if let Ok(endpoint) = tonic::transport::Endpoint::from_shared(address.clone())
            && let Ok(channel) = endpoint.connect().await
        {
            let answer = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            if let Ok(answer) = answer
                && answer.get_ref().status() == ServingStatus::Serving
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not report SERVING at {address} within a minute",
                service.name
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for Ctrl-C or SIGTERM, or for a service to exit on its own.
async fn wait_for_stop(children: &mut [(&'static str, Child)], stop: &mut StopSignal) {
    let any_exit = async {
        if children.is_empty() {
            std::future::pending::<()>().await;
        }
        loop {
            for (name, child) in children.iter_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    eprintln!("devstack: {name} exited ({status})");
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        () = stop.wait() => {}
        () = any_exit => {}
    }
}

/// SIGTERM to every service (last started first), then wait for each.
async fn stop_children(children: &mut Vec<(&'static str, Child)>) {
    while let Some((name, mut child)) = children.pop() {
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_secs(20), child.wait()).await {
            Ok(Ok(status)) => println!("devstack: {name} stopped ({status})"),
            _ => {
                eprintln!("devstack: {name} did not stop in time, killing it");
                let _ = child.kill().await;
            }
        }
    }
}
