//! Notifications in this process, on a database of its own and identity's
//! NATS namespace and keys, with clients that act as one caller (feature
//! `harness`; never part of the service's build).

use std::time::Duration;

pub use asurso_identity::harness::{Authed, Bearer, World};
use asurso_proto::notifications as pb;
use asurso_runtime::{db, events::EventBus};
use asurso_testkit::{SmtpServer, Spawned, TestDatabase};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

use crate::{Application, CONFIG, MIGRATOR, Settings, delivery::email::Security};

/// Notifications' clients, acting as one caller.
#[derive(Clone)]
pub struct Clients {
    pub feed: pb::feed_service_client::FeedServiceClient<Authed>,
    pub preferences: pb::preferences_service_client::PreferencesServiceClient<Authed>,
    pub admin: pb::delivery_admin_service_client::DeliveryAdminServiceClient<Authed>,
}

impl Clients {
    pub async fn connect(address: &str, token: &str) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(address.to_owned())?.connect().await?;
        let authed = InterceptedService::new(channel, Bearer::new(token)?);
        Ok(Self {
            feed: pb::feed_service_client::FeedServiceClient::new(authed.clone()),
            preferences: pb::preferences_service_client::PreferencesServiceClient::new(
                authed.clone(),
            ),
            admin: pb::delivery_admin_service_client::DeliveryAdminServiceClient::new(authed),
        })
    }
}

/// A database with the runtime's and notifications' tables.
pub async fn notifications_database() -> anyhow::Result<TestDatabase> {
    TestDatabase::create(&[&db::runtime_migrator(), &MIGRATOR]).await
}

/// Settings for a test: quick retries, e-mail to `smtp` if given (plain,
/// or STARTTLS trusting its certificate), push to the loopback allowed.
pub fn test_settings(
    world: &World,
    db: &TestDatabase,
    smtp: Option<&SmtpServer>,
) -> anyhow::Result<Settings> {
    let identity = &world.identity;
    let mut settings: Settings = CONFIG.load()?;
    settings.database.url = db.url.clone().into();
    settings.nats = identity.nats.clone();
    settings.grpc.port = 0;
    settings.outbox.poll_interval = Duration::from_millis(20);
    settings.identity.address = identity.address.clone();
    settings.delivery.retry_seconds = 1;
    settings.delivery.max_attempts = 3;
    settings.delivery.digest_every = 1;
    settings.push.allow_loopback = true;
    if let Some(smtp) = smtp {
        settings.email.host = "127.0.0.1".to_owned();
        settings.email.port = smtp.port();
        settings.email.timeout_seconds = 5;
        match &smtp.certificate {
            Some(certificate) => {
                settings.email.security = Security::Starttls;
                settings.email.ca_file = Some(certificate.clone());
            }
            None => settings.email.security = Security::None,
        }
    }
    Ok(settings)
}

/// Notifications in this process.
pub struct Notifications {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub db: TestDatabase,
    serving: Spawned,
}

impl Notifications {
    /// Starts on `db` (kept across restarts), joined to identity's NATS
    /// namespace and keys, sending e-mail to `smtp` if given.
    pub async fn start(
        world: &World,
        db: TestDatabase,
        smtp: Option<&SmtpServer>,
    ) -> anyhow::Result<Self> {
        let settings = test_settings(world, &db, smtp)?;
        Self::start_with(settings, db).await
    }

    pub async fn start_with(settings: Settings, db: TestDatabase) -> anyhow::Result<Self> {
        let bus = EventBus::connect(&settings.nats, "notifications-tests").await?;
        let app = Application::build_with(settings, db.pool.clone(), bus).await?;
        let address = format!("http://{}", app.local_addr());
        let serving =
            asurso_testkit::spawn("notifications", |shutdown| app.run_until_stopped(shutdown));
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

    /// Waits until identity's events about `person` reached notifications.
    pub async fn knows(&self, person: uuid::Uuid) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        asurso_testkit::eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move { Ok(asurso_directory::storage::knows(&pool, person).await?) }
        })
        .await
    }

    /// Waits until `parent` is known as `student`'s guardian here.
    pub async fn knows_guardian(
        &self,
        parent: uuid::Uuid,
        student: uuid::Uuid,
    ) -> anyhow::Result<()> {
        self.holds(
            "SELECT EXISTS (SELECT 1 FROM guardians WHERE parent_id = $1 AND student_id = $2)",
            parent,
            student,
        )
        .await
    }

    /// Waits until the gradebook's enrolment of `student` reached here.
    pub async fn knows_enrolment(
        &self,
        student: uuid::Uuid,
        class: uuid::Uuid,
    ) -> anyhow::Result<()> {
        self.holds(
            "SELECT EXISTS (SELECT 1 FROM current_enrolments WHERE student_id = $1 AND class_id = $2)",
            student,
            class,
        )
        .await
    }

    /// Waits until `question` (of two ids) answers true.
    async fn holds(
        &self,
        question: &'static str,
        first: uuid::Uuid,
        second: uuid::Uuid,
    ) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        asurso_testkit::eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move {
                Ok(sqlx::query_scalar::<_, bool>(question)
                    .bind(first)
                    .bind(second)
                    .fetch_one(&pool)
                    .await?)
            }
        })
        .await
    }
}
