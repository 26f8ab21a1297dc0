//! Starting and stopping real `postgres` and `nats-server` processes.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A free loopback port for a server started later, taken from below the
/// kernel's ephemeral range: a port the kernel hands out for `bind(0)` (as
/// every test server and client does) could be given to another test
/// between this answer and our server's bind.
pub fn free_port() -> anyhow::Result<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = ephemeral_low.saturating_sub(12_000).max(10_000);
    let span = ephemeral_low.saturating_sub(low);
    if span > 100 {
        for _ in 0..200 {
            let random = uuid::Uuid::new_v4();
            let offset = u16::from_le_bytes([random.as_bytes()[0], random.as_bytes()[1]]) % span;
            let port = low + offset;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Refuses to start on a port something already listens on: waiting for
/// "our" server would otherwise find the stranger and call it ready.
fn ensure_port_free(port: u16, what: &str) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        bail!(
            "127.0.0.1:{port} is already in use, so {what} cannot start there \
             (one left from an earlier run? stop it, or point the URL variable at it)"
        );
    }
    Ok(())
}

pub(crate) async fn wait_for_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("nothing listens on 127.0.0.1:{port} after {within:?}")
}

/// Whether this process runs as root (PostgreSQL must then run as `postgres`;
/// a confined service as the image's user).
pub fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Where the PostgreSQL server binaries are: `PG_BIN`, Debian's
/// `/usr/lib/postgresql/<version>/bin` (newest first), or `PATH`.
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    found.context(
        "PostgreSQL server binaries not found: install postgresql (make deps) or set PG_BIN",
    )
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root.
fn pg_command(bin: &Path, tool: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        command
    } else {
        Command::new(bin.join(tool))
    }
}

async fn hand_to_postgres(dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .await
        .context("chown of the PostgreSQL folder")?;
    if !status.success() {
        bail!("cannot hand {} to the postgres user", dir.display());
    }
    Ok(())
}

/// Whether the `postgres` user can reach and write `dir`: a checkout in a
/// private folder (root's home, anything `mktemp -d` made) has a parent
/// that user may not enter, and initdb would stop at "Permission denied".
async fn postgres_can_use(dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-w"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

/// The file in a folder the `postgres` user cannot use that names where
/// its cluster lives instead, so the same folder finds the same data on
/// the next start (and `make clean` finds what to remove).
pub const RELOCATED_TO: &str = "relocated-to";

/// A folder for the cluster of `dir` that the `postgres` user owns: under
/// that user's home (Debian's `/var/lib/postgresql`), or `/var/tmp`. Chosen
/// once and remembered in `dir`.
async fn relocate_for_postgres(dir: &Path) -> anyhow::Result<PathBuf> {
    let note = dir.join(RELOCATED_TO);
    if let Ok(recorded) = std::fs::read_to_string(&note) {
        let recorded = PathBuf::from(recorded.trim());
        if recorded.is_absolute() && postgres_can_use(&recorded).await {
            return Ok(recorded);
        }
    }
    let base = postgres_home()
        .filter(|home| home.is_dir())
        .unwrap_or_else(|| PathBuf::from("/var/tmp"));
    // A new folder of an unguessable name, made here (never one found
    // already there: in /var/tmp anyone could have made it first), closed
    // to everyone but its owner, then given to the postgres user.
    let home = base.join(format!("asurso-{}", uuid::Uuid::new_v4().simple()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&home)
        .with_context(|| format!("creating {}", home.display()))?;
    hand_to_postgres(&home).await?;
    if !postgres_can_use(&home).await {
        bail!(
            "the postgres user can use neither {} nor {}: give it a folder it may enter",
            dir.display(),
            home.display()
        );
    }
    std::fs::write(&note, format!("{}\n", home.display()))
        .with_context(|| format!("writing {}", note.display()))?;
    Ok(home)
}

/// The `postgres` user's home folder, from the password database.
fn postgres_home() -> Option<PathBuf> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres"))
        .and_then(|fields| fields.get(5).map(PathBuf::from))
}

/// A PostgreSQL server owned by this process or by `make`.
#[derive(Debug)]
pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

impl PostgresServer {
    /// Starts (creating on first use) a cluster under `dir` on `port`.
    /// `durable = false` turns fsync off: for tests only.
    pub async fn start(dir: &Path, port: u16, durable: bool) -> anyhow::Result<Self> {
        let bin = postgres_bin_dir()?;
        let as_postgres = running_as_root();
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut dir = dir.canonicalize()?;
        if as_postgres {
            hand_to_postgres(&dir).await?;
            if !postgres_can_use(&dir).await {
                dir = relocate_for_postgres(&dir).await?;
            }
        }
        let data = dir.join("data");
        if !data.join("PG_VERSION").exists() {
            let output = pg_command(&bin, "initdb", as_postgres)
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
                .stdin(Stdio::null())
                .output()
                .await
                .context("running initdb")?;
            if !output.status.success() {
                bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
            }
        }
        // Never start a second server on a folder in use (another run, or
        // one left behind by a run that was killed): say how to stop it.
        let running = pg_command(&bin, "pg_ctl", as_postgres)
            .arg("-D")
            .arg(&data)
            .arg("status")
            .stdin(Stdio::null())
            .output()
            .await
            .is_ok_and(|status| status.status.success());
        if running {
            bail!(
                "a PostgreSQL is already running on {} (another `make run`, or one left behind); \
                 stop it with: {}pg_ctl -D {} stop",
                data.display(),
                if as_postgres {
                    "runuser -u postgres -- "
                } else {
                    ""
                },
                data.display()
            );
        }
        ensure_port_free(port, "PostgreSQL")?;
        // Shared buffers as a service's database has them in production
        // (k8s/base/*/database.yaml): the benches' ten schools then read
        // their read model from them, as a region's server does, not from
        // the OS through a quarter of a gigabyte.
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=400 \
             -c shared_buffers=512MB",
            dir.display()
        );
        if !durable {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let output = pg_command(&bin, "pg_ctl", as_postgres)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-o", &options, "-w", "-t", "30", "start"])
            .stdin(Stdio::null())
            .output()
            .await
            .context("running pg_ctl start")?;
        if !output.status.success() {
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            bail!(
                "PostgreSQL did not start: {}{}",
                String::from_utf8_lossy(&output.stderr),
                log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
            );
        }
        wait_for_port(port, Duration::from_secs(10)).await?;
        Ok(Self {
            dir,
            port,
            bin,
            as_postgres,
        })
    }

    /// A server in a fresh temporary folder on a free port, removed by a
    /// watchdog when this process ends, however it ends.
    pub async fn start_throwaway() -> anyhow::Result<Self> {
        let dir = throwaway_dir("pg")?;
        let server = Self::start(&dir, free_port()?, false).await?;
        let stop = format!(
            "{} -D {} stop -m immediate; rm -rf '{}'",
            server.pg_ctl_invocation(),
            server.dir.join("data").display(),
            dir.display()
        );
        spawn_watchdog(&stop, &server.dir)?;
        Ok(server)
    }

    fn pg_ctl_invocation(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        if self.as_postgres {
            format!("runuser -u postgres -- {}", pg_ctl.display())
        } else {
            pg_ctl.display().to_string()
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server, waiting for a clean shutdown.
    pub async fn stop(&self) -> anyhow::Result<()> {
        let output = pg_command(&self.bin, "pg_ctl", self.as_postgres)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdin(Stdio::null())
            .output()
            .await
            .context("running pg_ctl stop")?;
        if !output.status.success() {
            bail!("pg_ctl stop: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }
}

/// A NATS server with JetStream, storing under its own folder.
#[derive(Debug)]
pub struct NatsServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `nats-server -js` on `port`, storing under `dir`.
    pub async fn start(dir: &Path, port: u16) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut server = Self {
            dir: dir.canonicalize()?,
            port,
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// A server in a fresh temporary folder on a free port, stopped by a
    /// watchdog when this process ends.
    pub async fn start_throwaway() -> anyhow::Result<Self> {
        let dir = throwaway_dir("nats")?;
        let server = Self::start(&dir, free_port()?).await?;
        if let Some(pid) = server.child.as_ref().and_then(Child::id) {
            spawn_watchdog(&format!("kill {pid}"), &server.dir)?;
        }
        Ok(server)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        ensure_port_free(self.port, "nats-server")?;
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned());
        let child = Command::new(&binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.join("jetstream"))
            .arg("-l")
            .arg(self.dir.join("nats.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("starting {binary}: install nats-server (make deps) or set NATS_SERVER")
            })?;
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10)).await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL): what JetStream had written to its
    /// files survives, as after a crash.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing nats-server")?;
        }
        Ok(())
    }

    /// Stops the server cleanly (SIGTERM) and waits for it.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                Command::new("kill").arg(pid.to_string()).status().await?;
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                child.kill().await?;
            }
        }
        Ok(())
    }

    /// Starts the server again on the same port with the same storage.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await?;
        self.spawn().await
    }
}

/// Removes a server folder made by [`PostgresServer::start`] or
/// [`NatsServer::start`], with the cluster it was relocated to, if any.
pub fn remove_server_dir(dir: &Path) -> std::io::Result<()> {
    let relocated = dir.join("postgres").join(RELOCATED_TO);
    for note in [dir.join(RELOCATED_TO), relocated] {
        if let Ok(home) = std::fs::read_to_string(&note) {
            let home = PathBuf::from(home.trim());
            // Only what we made: an absolute folder with a cluster of ours.
            if home.is_absolute() && home.join("data").join("PG_VERSION").exists() {
                std::fs::remove_dir_all(&home)?;
            }
        }
    }
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

pub(crate) fn throwaway_dir(kind: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "asurso-{kind}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A small shell process that waits for this process to end, then runs
/// `stop` and removes `dir`: throw-away servers never outlive their tests.
pub(crate) fn spawn_watchdog(stop: &str, dir: &Path) -> anyhow::Result<()> {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    // In a session of its own: when a test runner kills the test's whole
    // process group (a timeout), the watchdog survives to clean up.
    let mut command = if std::path::Path::new("/usr/bin/setsid").exists() {
        let mut command = std::process::Command::new("/usr/bin/setsid");
        command.arg("sh");
        command
    } else {
        std::process::Command::new("sh")
    };
    command
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the cleanup watchdog")?;
    Ok(())
}
