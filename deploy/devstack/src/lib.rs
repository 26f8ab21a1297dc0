//! `devstack`: ASU RSO on one machine, for people and for the test suite.
//!
//! The library starts the pieces ([`Infra`], [`start_services`]) and seeds a
//! demo region ([`seed`]); the end-to-end tests use it the same way the
//! binary does.
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
use asurso_testkit::{
    NatsServer, PostgresServer,
    servers::{free_port, remove_server_dir},
};
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

pub mod seed;

/// A service `devstack run` starts.
pub struct ServiceDef {
    /// Binary name, also the database name suffix.
    pub name: &'static str,
    /// Prefix of its settings variables.
    pub env_prefix: &'static str,
    /// Its gRPC port on this machine.
    pub port: u16,
    /// Whether it keeps a database (the gateway's is its `/webapi` ids).
    pub database: bool,
    /// Settings that tie it to the others' ports.
    pub env: Vec<(String, String)>,
}

/// One service of the stack: the row a new service adds to [`SERVICES`].
pub struct ServiceSpec {
    /// Binary name, also the database name suffix.
    pub name: &'static str,
    /// Prefix of its settings variables.
    pub env_prefix: &'static str,
    /// Its gRPC port under `make run` (its `config/local.toml` agrees).
    pub port: u16,
    /// Whether it keeps a database (the gateway's is its `/webapi` ids).
    pub database: bool,
    /// Verifies tokens with identity's keys (`<PREFIX>_IDENTITY__ADDRESS`).
    pub verifies_tokens: bool,
    /// The gateway routes to it (`GATEWAY_UPSTREAMS__<NAME>`; the route
    /// itself is in the gateway's settings).
    pub behind_gateway: bool,
    /// Settings only this service needs, from the layout.
    pub extra: fn(&Layout) -> Vec<(String, String)>,
}

/// Every service, in start order: identity first (the others fetch its
/// token keys), the gateway last (it routes to the others).
pub const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        name: "identity",
        env_prefix: "IDENTITY",
        port: 50051,
        database: true,
        verifies_tokens: false,
        behind_gateway: true,
        extra: |layout| {
            vec![
                (
                    "IDENTITY_FEDERATION__ISSUER_URL".to_owned(),
                    format!("http://{}/", layout.esia_address()),
                ),
                (
                    "IDENTITY_FEDERATION__REDIRECT_URI".to_owned(),
                    layout.callback(),
                ),
            ]
        },
    },
    ServiceSpec {
        name: "gradebook",
        env_prefix: "GRADEBOOK",
        port: 50052,
        database: true,
        verifies_tokens: true,
        behind_gateway: true,
        extra: |_| Vec::new(),
    },
    ServiceSpec {
        name: "attendance",
        env_prefix: "ATTENDANCE",
        port: 50053,
        database: true,
        verifies_tokens: true,
        behind_gateway: true,
        extra: |_| Vec::new(),
    },
    ServiceSpec {
        name: "messaging",
        env_prefix: "MESSAGING",
        port: 50054,
        database: true,
        verifies_tokens: true,
        behind_gateway: true,
        extra: |_| Vec::new(),
    },
    ServiceSpec {
        name: "notifications",
        env_prefix: "NOTIFICATIONS",
        port: 50055,
        database: true,
        verifies_tokens: true,
        behind_gateway: true,
        extra: |layout| {
            vec![(
                "NOTIFICATIONS_DELIVERY__PUBLIC_URL".to_owned(),
                layout.gateway_url(),
            )]
        },
    },
    ServiceSpec {
        name: GATEWAY,
        env_prefix: "GATEWAY",
        port: 8080,
        database: true,
        verifies_tokens: false,
        behind_gateway: false,
        extra: |layout| {
            let mut env: Vec<(String, String)> = SERVICES
                .iter()
                .filter(|service| service.behind_gateway)
                .map(|service| {
                    (
                        format!("GATEWAY_UPSTREAMS__{}", service.env_prefix),
                        layout.url(service.name),
                    )
                })
                .collect();
            env.push(("GATEWAY_WEB__PUBLIC_URL".to_owned(), layout.gateway_url()));
            env
        },
    },
];

const GATEWAY: &str = "gateway";
const IDENTITY: &str = "identity";
/// The development ESIA's port under `make run`.
const ESIA_PORT: u16 = 50090;

/// Where everything listens. The local settings of each service name the
/// ports of [`Layout::local`]; other layouts (tests, several stacks on one
/// machine) pass the differences as settings variables.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The port of each service of [`SERVICES`], by name.
    ports: Vec<(&'static str, u16)>,
    pub esia: u16,
    /// Databases are `<prefix>_identity`, `<prefix>_gradebook`.
    pub database_prefix: String,
    /// Serve Prometheus metrics (each on its gRPC port + 1000).
    pub metrics: bool,
    /// More settings for every service (e.g. `IDENTITY_TOKENS__ACCESS_TTL`).
    pub env: Vec<(String, String)>,
    /// Runs each service inside `<folder>/<name>`, a root filesystem holding
    /// what its container image holds (the binary at `/app/service`), as
    /// the image's user (tests/images.rs).
    pub image_roots: Option<PathBuf>,
}

impl Layout {
    /// `make run`'s ports.
    pub fn local() -> Self {
        Self {
            ports: SERVICES.iter().map(|s| (s.name, s.port)).collect(),
            esia: ESIA_PORT,
            database_prefix: "asurso".to_owned(),
            metrics: true,
            env: Vec::new(),
            image_roots: None,
        }
    }

    /// Free ports for a stack of its own (tests).
    pub fn free(database_prefix: &str) -> anyhow::Result<Self> {
        Ok(Self {
            ports: SERVICES
                .iter()
                .map(|s| Ok((s.name, free_port()?)))
                .collect::<anyhow::Result<_>>()?,
            esia: free_port()?,
            database_prefix: database_prefix.to_owned(),
            metrics: false,
            env: Vec::new(),
            image_roots: None,
        })
    }

    /// The port of the service called `name` (0 for none of [`SERVICES`]).
    pub fn port(&self, name: &str) -> u16 {
        self.ports
            .iter()
            .find(|(service, _)| *service == name)
            .map_or(0, |(_, port)| *port)
    }

    /// `http://127.0.0.1:<port>` of the service called `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.port(name))
    }

    /// The database of `service` in this layout.
    pub fn database(&self, service: &ServiceDef) -> String {
        format!("{}_{}", self.database_prefix, service.name)
    }

    pub fn gateway_url(&self) -> String {
        self.url(GATEWAY)
    }

    pub fn identity_url(&self) -> String {
        self.url(IDENTITY)
    }

    pub fn gradebook_url(&self) -> String {
        self.url("gradebook")
    }

    pub fn esia_address(&self) -> String {
        format!("127.0.0.1:{}", self.esia)
    }

    fn callback(&self) -> String {
        format!("{}/auth/esia/callback", self.gateway_url())
    }

    /// Every service of [`SERVICES`] as this layout runs it.
    pub fn services(&self) -> Vec<ServiceDef> {
        SERVICES
            .iter()
            .map(|spec| {
                let mut env = (spec.extra)(self);
                if spec.verifies_tokens {
                    env.push((
                        format!("{}_IDENTITY__ADDRESS", spec.env_prefix),
                        self.identity_url(),
                    ));
                }
                ServiceDef {
                    name: spec.name,
                    env_prefix: spec.env_prefix,
                    port: self.port(spec.name),
                    database: spec.database,
                    env,
                }
            })
            .collect()
    }
}

pub fn configured(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The servers a run uses: configured ones, or our own.
pub struct Infra {
    pub postgres_url: String,
    pub nats_url: String,
    postgres: Option<PostgresServer>,
    nats: Option<NatsServer>,
}

impl Infra {
    pub async fn start(
        data: &Path,
        durable: bool,
        ports: Option<(u16, u16)>,
    ) -> anyhow::Result<Self> {
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

    /// Servers someone else runs (tests share one pair).
    pub fn configured(postgres_url: String, nats_url: String) -> Self {
        Self {
            postgres_url,
            nats_url,
            postgres: None,
            nats: None,
        }
    }

    /// The URL of `service`'s database in `layout`.
    pub fn database_url(&self, layout: &Layout, service: &ServiceDef) -> String {
        with_database(&self.postgres_url, &layout.database(service))
    }

    /// Drops the databases of `layout`'s services (a test's stack, done).
    pub async fn drop_databases(&self, layout: &Layout) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.postgres_url).await?;
        for service in layout.services().iter().filter(|s| s.database) {
            let database = layout.database(service);
            // Made of our own prefix and a service name, never of input.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
        }
        admin.close().await?;
        Ok(())
    }

    pub async fn stop(mut self) {
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

pub async fn run_tests(data: &Path, command: &[String]) -> anyhow::Result<ExitCode> {
    // Test servers are throw-away: start from nothing every time.
    remove_server_dir(data).with_context(|| format!("clearing {}", data.display()))?;
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
    if let Err(error) = remove_server_dir(data) {
        eprintln!("devstack: removing {}: {error}", data.display());
    }
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
pub struct StopSignal(tokio::sync::watch::Receiver<bool>);

impl StopSignal {
    pub fn listen() -> anyhow::Result<Self> {
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

    pub fn received(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// `devstack run`: everything on `make run`'s ports, the demo region
/// seeded, until Ctrl-C. A service that dies is started again (as
/// Kubernetes would); nothing the seed meets stops the stack.
pub async fn run_stack(data: &Path) -> anyhow::Result<ExitCode> {
    let mut stop = StopSignal::listen()?;
    let layout = Layout::local();
    let infra = Infra::start(data, true, Some((55432, 54222))).await?;
    let children = match start_services(&infra, &layout, &stop).await {
        Ok(children) => children,
        Err(error) => {
            infra.stop().await;
            return Err(error);
        }
    };
    let supervisor = supervise(children);
    let demo = match seed::seed(&layout).await {
        Ok(demo) => Some(demo),
        Err(error) => {
            // People's data stays as they left it, and the system stays up.
            eprintln!(
                "devstack: seeding the demo region did not finish: {error:#}\n\
                 devstack: the stack runs on with the data as it is"
            );
            None
        }
    };

    println!();
    println!("ASU RSO is running.");
    println!(
        "  public address  {} (gRPC, gRPC-Web; the browser login at {}/)",
        layout.gateway_url(),
        layout.gateway_url()
    );
    println!("  PostgreSQL      {}", infra.postgres_url);
    println!("  NATS            {}", infra.nats_url);
    for service in layout.services() {
        println!(
            "  {:<16}grpc://127.0.0.1:{} (SERVING), metrics http://127.0.0.1:{}/metrics",
            service.name,
            service.port,
            service.port + 1000
        );
    }
    println!(
        "  {:<16}http://{}/ (development ESIA, not for production)",
        "esia-dev",
        layout.esia_address()
    );
    println!();
    if let Some(demo) = &demo {
        print!("{}", demo.describe(&layout));
    }
    println!("Press Ctrl-C to stop.");

    stop.wait().await;
    println!("devstack: stopping");
    supervisor.stop().await;
    infra.stop().await;
    println!("devstack: stopped");
    Ok(ExitCode::SUCCESS)
}

/// How each process of a stack is started, the first time and again.
#[derive(Clone)]
struct Launcher {
    bin_dir: PathBuf,
    postgres_url: String,
    nats_url: String,
    layout: Layout,
}

impl Launcher {
    /// The development ESIA: identity's local settings log in through it
    /// (ESIA itself cannot be reached from a laptop).
    fn esia(&self) -> Command {
        let mut command = Command::new(self.bin_dir.join(ESIA_DEV));
        command
            .args(["--listen", &self.layout.esia_address()])
            .args(["--redirect-uri", &self.layout.callback()])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    fn service(&self, service: &ServiceDef) -> Command {
        let prefix = service.env_prefix;
        let mut command = match &self.layout.image_roots {
            Some(roots) => Command::from(confined(&roots.join(service.name), "/app/service")),
            None => Command::new(self.bin_dir.join(service.name)),
        };
        command
            .env("ASURSO_ENVIRONMENT", "local")
            .env(format!("{prefix}_NATS__URL"), &self.nats_url)
            .env(format!("{prefix}_GRPC__PORT"), service.port.to_string())
            .envs(service.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(
                self.layout
                    .env
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if service.database {
            command.env(
                format!("{prefix}_DATABASE__URL"),
                with_database(&self.postgres_url, &self.layout.database(service)),
            );
        }
        if self.layout.metrics {
            command.env(
                format!("{prefix}_TELEMETRY__METRICS_PORT"),
                (service.port + 1000).to_string(),
            );
        }
        command
    }

    /// The command of the process called `name`.
    fn command(&self, name: &str) -> Option<Command> {
        if name == ESIA_DEV {
            return Some(self.esia());
        }
        self.layout
            .services()
            .iter()
            .find(|service| service.name == name)
            .map(|service| self.service(service))
    }
}

const ESIA_DEV: &str = "esia-dev";

/// `program` (a path inside `root`) run with `root` as its root
/// filesystem: as the image's user 65532 when we are root (`chroot
/// --userspec`), else as ourselves mapped to root in a user namespace
/// (`unshare --root`; what the files allow is then ours). Either way the
/// tool `exec`s, so the process is the program itself (signals reach it).
pub fn confined(root: &Path, program: &str) -> std::process::Command {
    let mut command;
    if asurso_testkit::servers::running_as_root() {
        command = std::process::Command::new("chroot");
        command.arg("--userspec=65532:65532").arg(root);
    } else {
        command = std::process::Command::new("unshare");
        command
            .arg("--map-root-user")
            .arg(format!("--root={}", root.display()));
    }
    command.arg(program);
    command
}

/// The processes of a stack, started, in start order.
pub struct Children {
    launcher: Launcher,
    processes: Vec<Supervised>,
}

struct Supervised {
    name: &'static str,
    child: Option<Child>,
    started: Instant,
    /// Restarts since it last ran for [`STEADY`]: the back-off grows with them.
    restarts_in_a_row: u32,
    restart_at: Option<Instant>,
}

/// A process that ran this long before dying starts again at once.
const STEADY: Duration = Duration::from_secs(60);
const FIRST_BACK_OFF: Duration = Duration::from_secs(1);
const MAX_BACK_OFF: Duration = Duration::from_secs(30);

impl Children {
    fn push(&mut self, name: &'static str, child: Child) {
        self.processes.push(Supervised {
            name,
            child: Some(child),
            started: Instant::now(),
            restarts_in_a_row: 0,
            restart_at: None,
        });
    }

    /// Notices processes that exited and starts them again when their
    /// back-off has passed. Called every tick by [`supervise`].
    fn tend(&mut self) {
        let now = Instant::now();
        for process in &mut self.processes {
            if let Some(child) = process.child.as_mut() {
                let Ok(Some(status)) = child.try_wait() else {
                    continue;
                };
                if now.duration_since(process.started) >= STEADY {
                    process.restarts_in_a_row = 0;
                }
                let back_off = FIRST_BACK_OFF
                    .saturating_mul(1 << process.restarts_in_a_row.min(5))
                    .min(MAX_BACK_OFF);
                eprintln!(
                    "devstack: {} exited ({status}); starting it again in {}s",
                    process.name,
                    back_off.as_secs()
                );
                process.child = None;
                process.restart_at = Some(now + back_off);
                process.restarts_in_a_row = process.restarts_in_a_row.saturating_add(1);
            } else if process.restart_at.is_some_and(|at| at <= now) {
                let spawned = self
                    .launcher
                    .command(process.name)
                    .map(|mut command| command.spawn());
                match spawned {
                    Some(Ok(child)) => {
                        eprintln!(
                            "devstack: {} started again (pid {}, restart {} in a row)",
                            process.name,
                            child.id().unwrap_or_default(),
                            process.restarts_in_a_row
                        );
                        process.child = Some(child);
                        process.started = now;
                        process.restart_at = None;
                    }
                    Some(Err(error)) => {
                        eprintln!("devstack: starting {} again: {error}", process.name);
                        process.restart_at = Some(now + MAX_BACK_OFF);
                    }
                    None => process.restart_at = None,
                }
            }
        }
    }

    /// The process id of `name`, while it runs.
    fn pid(&self, name: &str) -> Option<u32> {
        self.processes
            .iter()
            .find(|process| process.name == name)
            .and_then(|process| process.child.as_ref())
            .and_then(Child::id)
    }

    /// SIGTERM to every process (last started first), then wait for each.
    pub async fn stop(&mut self) {
        while let Some(process) = self.processes.pop() {
            let (name, Some(mut child)) = (process.name, process.child) else {
                continue;
            };
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
}

/// Keeps a stack's processes running: one that exits is started again
/// after a back-off (1 s, doubling to 30 s while it keeps dying).
pub struct Supervisor {
    requests: tokio::sync::mpsc::Sender<Request>,
    task: tokio::task::JoinHandle<()>,
}

enum Request {
    Pid(&'static str, tokio::sync::oneshot::Sender<Option<u32>>),
    Stop,
}

pub fn supervise(mut children: Children) -> Supervisor {
    let (requests, mut inbox) = tokio::sync::mpsc::channel(8);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tick.tick() => children.tend(),
                request = inbox.recv() => match request {
                    Some(Request::Pid(name, answer)) => {
                        let _ = answer.send(children.pid(name));
                    }
                    Some(Request::Stop) | None => break,
                },
            }
        }
        children.stop().await;
    });
    Supervisor { requests, task }
}

impl Supervisor {
    /// The process id of `name` now (`None` while it is down).
    pub async fn pid(&self, name: &'static str) -> Option<u32> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.requests.send(Request::Pid(name, answer)).await.ok()?;
        answered.await.ok().flatten()
    }

    /// Stops every process and waits until they have stopped.
    pub async fn stop(self) {
        let _ = self.requests.send(Request::Stop).await;
        if let Err(error) = self.task.await {
            eprintln!("devstack: the supervisor failed: {error}");
        }
    }
}

/// Starts the development ESIA and every service as processes of their
/// own (binaries beside this one), each on its database, and waits until
/// each reports SERVING.
pub async fn start_services(
    infra: &Infra,
    layout: &Layout,
    stop: &StopSignal,
) -> anyhow::Result<Children> {
    let launcher = Launcher {
        bin_dir: bin_dir()?,
        postgres_url: infra.postgres_url.clone(),
        nats_url: infra.nats_url.clone(),
        layout: layout.clone(),
    };
    let mut children = Children {
        launcher: launcher.clone(),
        processes: Vec::new(),
    };
    let esia = launcher
        .esia()
        .spawn()
        .context("starting esia-dev (is it built? make build)")?;
    children.push(ESIA_DEV, esia);
    let esia_address = layout.esia_address();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(&esia_address).await.is_err() {
        if tokio::time::Instant::now() > deadline {
            children.stop().await;
            bail!("esia-dev did not start listening on {esia_address}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for service in layout.services() {
        let started = start_service(infra, &launcher, &service, stop).await;
        match started {
            Ok(child) => children.push(service.name, child),
            Err(error) => {
                children.stop().await;
                return Err(error);
            }
        }
    }
    Ok(children)
}

/// Where the binaries are: beside the running one (`target/<profile>`, or
/// its parent when running from `deps/` as a test does).
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .map(Path::to_path_buf)
        .context("locating the service binaries")?;
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

async fn start_service(
    infra: &Infra,
    launcher: &Launcher,
    service: &ServiceDef,
    stop: &StopSignal,
) -> anyhow::Result<Child> {
    if service.database {
        ensure_database(&infra.postgres_url, &launcher.layout.database(service)).await?;
    }
    let mut child = launcher
        .service(service)
        .spawn()
        .with_context(|| format!("starting {} (is it built? make build)", service.name))?;
    if let Err(error) = wait_until_serving(service, &mut child, stop).await {
        let _ = child.kill().await;
        return Err(error);
    }
    Ok(child)
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
