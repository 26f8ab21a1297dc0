//! Identity as its own binary, beside the in-process harness every
//! service's tests share (asurso_identity::harness).

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

pub use asurso_identity::harness::*;
use asurso_proto::identity as pb;
use asurso_runtime::settings::NatsSettings;
use asurso_testkit::TestDatabase;
pub use asurso_testkit::eventually;
use tonic::transport::Channel;
use uuid::Uuid;

/// `registrar` registers `person` at `unit` with `role`; their id.
pub async fn register_at(
    registrar: &mut Clients,
    unit: Uuid,
    role: pb::Role,
    person: pb::PersonData,
) -> anyhow::Result<String> {
    let request = pb::RegisterPersonRequest {
        org_unit_id: unit.to_string(),
        person: Some(person),
        role: role.into(),
        idempotency_key: String::new(),
    };
    let registered = registrar.people.register_person(request).await?;
    Ok(registered
        .into_inner()
        .person
        .map(|p| p.id)
        .unwrap_or_default())
}

/// School A's admin registers a pupil there (as `World::student`); their id.
pub async fn pupil(
    world: &mut World,
    last: &str,
    first: &str,
    seed: u32,
) -> anyhow::Result<String> {
    let registered = world.student(last, first, seed).await?;
    Ok(registered.person.map(|p| p.id).unwrap_or_default())
}

/// `admin` gives the person `role` at `unit`; the grant's id.
pub async fn grant_role(
    admin: &mut Clients,
    person_id: &str,
    role: pb::Role,
    unit: Uuid,
) -> anyhow::Result<String> {
    let request = pb::GrantRoleRequest {
        person_id: person_id.to_owned(),
        role: role.into(),
        org_unit_id: unit.to_string(),
    };
    let granted = admin.access.grant_role(request).await?;
    Ok(granted.into_inner().grant.map(|g| g.id).unwrap_or_default())
}

/// At school A, before any login policy: a parent with a local login
/// (`parent_login`) and a teacher with one (`teacher_login`) whom school A's
/// admin also made a parent there.
pub struct ParentsWithPasswords {
    pub parent: Uuid,
    pub teacher: Uuid,
    /// The teacher's parent grant.
    pub teacher_as_parent: String,
}

pub async fn parents_with_passwords(
    world: &mut World,
    parent_login: &str,
    teacher_login: &str,
    seed: u32,
) -> anyhow::Result<ParentsWithPasswords> {
    let school = world.school_a;
    let (_, parent) = identity_login(
        &world.identity,
        &mut world.admin_a,
        school,
        pb::Role::Parent,
        parent_login,
        seed,
    )
    .await?;
    let (_, teacher) = world
        .user(school, pb::Role::Teacher, teacher_login, seed + 1)
        .await?;
    let teacher_as_parent = grant_role(
        &mut world.admin_a,
        &teacher.to_string(),
        pb::Role::Parent,
        school,
    )
    .await?;
    Ok(ParentsWithPasswords {
        parent,
        teacher,
        teacher_as_parent,
    })
}

/// Identity's real binary on a fresh database and NATS namespace.
pub async fn identity_binary(
    extra_env: &[(&str, &str)],
) -> anyhow::Result<(IdentityProcess, TestDatabase)> {
    asurso_testkit::init_tracing();
    let db = identity_database().await?;
    let nats = nats_settings(&asurso_testkit::nats_url().await?);
    let process = IdentityProcess::start(&db, &nats, extra_env).await?;
    Ok((process, db))
}

/// Identity as a separate process (its real binary), with output captured.
pub struct IdentityProcess {
    pub address: String,
    child: tokio::process::Child,
    /// Everything it printed so far, read as it comes so the pipes never fill.
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

fn drain(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 8192];
        while let Ok(read) = pipe.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            if let Ok(mut output) = into.lock() {
                output.extend_from_slice(&buffer[..read]);
            }
        }
    })
}

impl IdentityProcess {
    pub async fn start(
        db: &TestDatabase,
        nats: &NatsSettings,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = asurso_testkit::servers::free_port()?;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_identity"));
        command
            .env("ASURSO_ENVIRONMENT", "local")
            .env("IDENTITY_DATABASE__URL", &db.url)
            .env("IDENTITY_NATS__URL", &nats.url)
            .env("IDENTITY_NATS__NAMESPACE", &nats.namespace)
            .env("IDENTITY_GRPC__PORT", port.to_string())
            .env("IDENTITY_TELEMETRY__LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn()?;
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(drain(stdout, output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(drain(stderr, output.clone()));
        }
        let address = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(channel) = Channel::from_shared(address.clone())?.connect().await {
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                if health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .is_ok()
                {
                    break;
                }
            }
            if Instant::now() > deadline {
                anyhow::bail!("the identity binary did not start");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            address,
            child,
            output,
            readers,
        })
    }

    /// Stops it with SIGTERM and returns everything it printed.
    pub async fn stop(mut self) -> anyhow::Result<String> {
        if let Some(pid) = self.child.id() {
            tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await??;
        for reader in self.readers {
            reader.await?;
        }
        assert!(status.success(), "identity exited with {status}");
        let output = self
            .output
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        Ok(String::from_utf8_lossy(&output).into_owned())
    }
}
