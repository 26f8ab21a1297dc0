//! Messaging in this process, on a database of its own and identity's
//! NATS namespace and keys, with clients that act as one caller (feature
//! `harness`; never part of the service's build).

use std::time::Duration;

pub use asurso_identity::harness::{Authed, Bearer, World};
use asurso_proto::messaging as pb;
use asurso_runtime::{db, events::EventBus};
use asurso_testkit::{Spawned, TestDatabase};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

use crate::{Application, CONFIG, MIGRATOR, Settings};

/// Messaging's clients, acting as one caller.
#[derive(Clone)]
pub struct Clients {
    pub mail: pb::mail_service_client::MailServiceClient<Authed>,
    pub rules: pb::mail_rules_service_client::MailRulesServiceClient<Authed>,
    pub board: pb::announcement_service_client::AnnouncementServiceClient<Authed>,
}

impl Clients {
    /// Clients of messaging at `address`, carrying `token`.
    pub async fn connect(address: &str, token: &str) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(address.to_owned())?.connect().await?;
        let authed = InterceptedService::new(channel, Bearer::new(token)?);
        Ok(Self {
            mail: pb::mail_service_client::MailServiceClient::new(authed.clone())
                .max_decoding_message_size(16 * 1024 * 1024),
            rules: pb::mail_rules_service_client::MailRulesServiceClient::new(authed.clone()),
            board: pb::announcement_service_client::AnnouncementServiceClient::new(authed),
        })
    }
}

/// A database with the runtime's and messaging's tables.
pub async fn messaging_database() -> anyhow::Result<TestDatabase> {
    TestDatabase::create(&[&db::runtime_migrator(), &MIGRATOR]).await
}

/// Messaging in this process.
pub struct Messaging {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub db: TestDatabase,
    serving: Spawned,
}

impl Messaging {
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
        let bus = EventBus::connect(&settings.nats, "messaging-tests").await?;
        let app = Application::build_with(settings, db.pool.clone(), bus).await?;
        let address = format!("http://{}", app.local_addr());
        let serving =
            asurso_testkit::spawn("messaging", |shutdown| app.run_until_stopped(shutdown));
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

    /// Waits until the gradebook's enrolment of `student` in `class` has
    /// reached messaging.
    pub async fn knows_enrolment(
        &self,
        student: uuid::Uuid,
        class: uuid::Uuid,
    ) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        asurso_testkit::eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move {
                Ok(sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM enrolments e JOIN classes c ON c.id = e.class_id \
                     WHERE e.student_id = $1 AND e.class_id = $2)",
                )
                .bind(student)
                .bind(class)
                .fetch_one(&pool)
                .await?)
            }
        })
        .await
    }

    /// Waits until the gradebook's class (and its class teacher, when
    /// given) has reached messaging.
    pub async fn knows_class(
        &self,
        class: uuid::Uuid,
        teacher: Option<uuid::Uuid>,
    ) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        asurso_testkit::eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move {
                Ok(sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM classes WHERE id = $1 \
                     AND ($2::uuid IS NULL OR class_teacher_id = $2))",
                )
                .bind(class)
                .bind(teacher)
                .fetch_one(&pool)
                .await?)
            }
        })
        .await
    }

    /// Waits until identity's events about `person` reached messaging.
    pub async fn knows(&self, person: uuid::Uuid) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        asurso_testkit::eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move { Ok(asurso_directory::storage::knows(&pool, person).await?) }
        })
        .await
    }
}
