//! A real SMTP server for tests: Python's aiosmtpd (`smtp/sink.py`, pinned
//! in deploy/local/requirements-test.txt and installed by `make deps`),
//! keeping every message it accepts for the test to read back.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;
use serde::Deserialize;
use tokio::process::{Child, Command};

use crate::servers::{free_port, spawn_watchdog, throwaway_dir, wait_for_port};

/// One message as the server received it, decoded as a mail client would.
#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Whether it came over STARTTLS.
    pub tls: bool,
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub raw: String,
}

/// An SMTP server on a free loopback port. Addresses whose local part
/// starts with `refuse` get 550, with `defer` 451.
pub struct SmtpServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// The PEM certificate of the authority that signed the one it offers
    /// over STARTTLS (what a client trusts), if started with TLS.
    pub certificate: Option<PathBuf>,
}

pub use crate::python;

impl SmtpServer {
    /// A plain SMTP server.
    pub async fn start() -> anyhow::Result<Self> {
        Self::spawn(false).await
    }

    /// A server that requires STARTTLS, with a certificate for 127.0.0.1
    /// signed by a throw-away authority made with `openssl` (the
    /// authority's PEM is [`SmtpServer::certificate`]).
    pub async fn start_tls() -> anyhow::Result<Self> {
        Self::spawn(true).await
    }

    async fn spawn(tls: bool) -> anyhow::Result<Self> {
        let dir = throwaway_dir("smtp")?;
        let port = free_port()?;
        let python = python();
        let mut command = Command::new(&python);
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("smtp/sink.py"))
            .arg(port.to_string())
            .arg(dir.join("mail"));
        let certificate = if tls {
            let (authority, certificate, key) = certificates(&dir).await?;
            command.arg(&certificate).arg(&key);
            Some(authority)
        } else {
            None
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting the test SMTP server with {}: run `make deps` (it installs aiosmtpd)",
                    python.display()
                )
            })?;
        if let Some(pid) = child.id() {
            spawn_watchdog(&format!("kill {pid}"), &dir)?;
        }
        wait_for_port(port, Duration::from_secs(20)).await?;
        Ok(Self {
            port,
            dir,
            child: Some(child),
            certificate,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, in the order received.
    pub fn messages(&self) -> anyhow::Result<Vec<Mail>> {
        let folder = self.dir.join("mail");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&folder) {
            Ok(entries) => entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        files.sort();
        files
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path)?;
                serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
            })
            .collect()
    }

    /// The messages to `address`.
    pub fn messages_to(&self, address: &str) -> anyhow::Result<Vec<Mail>> {
        Ok(self
            .messages()?
            .into_iter()
            .filter(|mail| {
                mail.rcpt_tos
                    .iter()
                    .any(|to| to.eq_ignore_ascii_case(address))
            })
            .collect())
    }
}

async fn openssl(args: &[&str], dir: &Path) -> anyhow::Result<()> {
    let made = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("running openssl to make the test server's certificate")?;
    anyhow::ensure!(made.success(), "openssl {} failed", args.join(" "));
    Ok(())
}

/// An authority and a server certificate for 127.0.0.1 it signed, in
/// `dir`: (authority's PEM, server's PEM, server's key).
async fn certificates(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
    let p256 = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut authority = vec!["req", "-x509", "-days", "1", "-subj", "/CN=ASU RSO test CA"];
    authority.extend(p256);
    authority.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(&authority, dir).await?;
    let mut request = vec!["req", "-subj", "/CN=127.0.0.1"];
    request.extend(p256);
    request.extend(["-keyout", "key.pem", "-out", "server.csr"]);
    openssl(&request, dir).await?;
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "cert.pem",
        ],
        dir,
    )
    .await?;
    Ok((
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    ))
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
