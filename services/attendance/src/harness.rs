//! Attendance in this process, on a database of its own and identity's
//! NATS namespace and keys, with clients that act as one caller (feature
//! `harness`; never part of the service's build).

use std::time::Duration;

pub use asurso_identity::harness::{Authed, Bearer, World};
use asurso_proto::attendance as pb;
use asurso_runtime::{db, events::EventBus};
use asurso_testkit::{Spawned, TestDatabase};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

use crate::{Application, CONFIG, MIGRATOR, Settings};

/// Attendance's clients, acting as one caller.
#[derive(Clone)]
pub struct Clients {
    pub codes: pb::absence_code_service_client::AbsenceCodeServiceClient<Authed>,
    pub attendance: pb::attendance_service_client::AttendanceServiceClient<Authed>,
    pub notes: pb::absence_note_service_client::AbsenceNoteServiceClient<Authed>,
}

impl Clients {
    /// Clients of attendance at `address`, carrying `token`.
    pub async fn connect(address: &str, token: &str) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(address.to_owned())?.connect().await?;
        let authed = InterceptedService::new(channel, Bearer::new(token)?);
        Ok(Self {
            codes: pb::absence_code_service_client::AbsenceCodeServiceClient::new(authed.clone()),
            attendance: pb::attendance_service_client::AttendanceServiceClient::new(authed.clone()),
            notes: pb::absence_note_service_client::AbsenceNoteServiceClient::new(authed),
        })
    }
}

/// A database with the runtime's and attendance's tables.
pub async fn attendance_database() -> anyhow::Result<TestDatabase> {
    TestDatabase::create(&[&db::runtime_migrator(), &MIGRATOR]).await
}

/// Attendance in this process.
pub struct Attendance {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub db: TestDatabase,
    serving: Spawned,
}

impl Attendance {
    /// Starts on `db` (kept across restarts), joined to identity's NATS
    /// namespace and keys.
    pub async fn start(world: &World, db: TestDatabase) -> anyhow::Result<Self> {
        let identity = &world.identity;
        let mut settings: Settings = CONFIG.load()?;
        settings.database.url = db.url.clone().into();
        settings.nats = identity.nats.clone();
        settings.grpc.port = 0;
        settings.outbox.poll_interval = Duration::from_millis(20);
        settings.identity.address = identity.address.clone();
        let bus = EventBus::connect(&settings.nats, "attendance-tests").await?;
        let app = Application::build_with(settings, db.pool.clone(), bus).await?;
        let address = format!("http://{}", app.local_addr());
        let serving =
            asurso_testkit::spawn("attendance", |shutdown| app.run_until_stopped(shutdown));
        Ok(Self {
            address,
            db,
            serving,
        })
    }

    /// Stops serving and consuming; returns the database to start again on.
    pub async fn stop(self) -> anyhow::Result<TestDatabase> {
        self.serving.stop().await?;
        Ok(self.db)
    }

    pub async fn clients(&self, token: &str) -> anyhow::Result<Clients> {
        Clients::connect(&self.address, token).await
    }

    /// Waits until the gradebook's lesson has reached attendance.
    pub async fn knows_lesson(&self, lesson: uuid::Uuid) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        asurso_testkit::eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move {
                Ok(sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM lessons l JOIN classes c ON c.id = l.class_id \
                     WHERE l.id = $1)",
                )
                .bind(lesson)
                .fetch_one(&pool)
                .await?)
            }
        })
        .await
    }

    /// Waits until identity's events about `person` reached attendance.
    pub async fn knows(&self, person: uuid::Uuid) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        asurso_testkit::eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move { Ok(asurso_directory::storage::knows(&pool, person).await?) }
        })
        .await
    }
}
