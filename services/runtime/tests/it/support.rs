//! The world the runtime tests run in: a database of their own, a NATS
//! namespace of their own, a test event and a consumer that records it.

use std::time::Duration;

use asurso_proto::common::OrgScope;
use asurso_runtime::{
    db,
    events::{
        EventBus, EventHandler, HandleError, NewEvent, ReceivedEvent, Relay, StreamDef, enqueue,
        streams,
    },
    settings::{NatsSettings, OutboxSettings},
};
use asurso_testkit::TestDatabase;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The stream the tests publish to (any producer's stream would do).
pub const STREAM: StreamDef = streams::GRADEBOOK;

/// A test event: the n-th fact about one aggregate.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counted {
    #[prost(string, tag = "1")]
    pub aggregate: String,
    #[prost(uint32, tag = "2")]
    pub n: u32,
}

impl prost::Name for Counted {
    const NAME: &'static str = "Counted";
    const PACKAGE: &'static str = "asurso.test.v1";
}

pub struct World {
    pub db: TestDatabase,
    pub bus: EventBus,
}

impl World {
    pub async fn new() -> anyhow::Result<Self> {
        let url = asurso_testkit::nats_url().await?;
        Self::on_nats(&url).await
    }

    /// A world on a particular NATS server (fault tests run their own).
    pub async fn on_nats(url: &str) -> anyhow::Result<Self> {
        asurso_testkit::init_tracing();
        let db = TestDatabase::create(&[&db::runtime_migrator()]).await?;
        sqlx::query(
            "CREATE TABLE effects (
                applied   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                event_id  uuid NOT NULL,
                aggregate text NOT NULL,
                n         integer NOT NULL)",
        )
        .execute(&db.pool)
        .await?;
        let settings = nats_settings(url);
        let bus = EventBus::connect(&settings, "runtime-tests").await?;
        bus.ensure_stream(STREAM).await?;
        Ok(Self { db, bus })
    }

    pub fn relay(&self) -> Relay {
        Relay::new(self.db.pool.clone(), self.bus.clone(), outbox_settings())
    }

    /// Writes one event in its own committed transaction.
    pub async fn write(&self, aggregate: &str, n: u32) -> anyhow::Result<Uuid> {
        let mut transaction = self.db.pool.begin().await?;
        let id = enqueue(
            &mut transaction,
            "runtime-tests",
            event(
                aggregate,
                &Counted {
                    aggregate: aggregate.to_owned(),
                    n,
                },
            ),
        )
        .await?;
        transaction.commit().await?;
        Ok(id)
    }

    pub async fn unpublished(&self) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&self.db.pool)
                .await?,
        )
    }

    /// How many messages the test stream holds.
    pub async fn stream_messages(&self) -> anyhow::Result<u64> {
        let mut stream = self.bus.ensure_stream(STREAM).await?;
        Ok(stream.info().await?.state.messages)
    }

    pub async fn effects(&self) -> anyhow::Result<Vec<(Uuid, String, i32)>> {
        Ok(
            sqlx::query_as("SELECT event_id, aggregate, n FROM effects ORDER BY applied")
                .fetch_all(&self.db.pool)
                .await?,
        )
    }

    pub async fn effect_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM effects")
            .fetch_one(&self.db.pool)
            .await?)
    }
}

pub fn event<'a>(aggregate: &str, payload: &'a Counted) -> NewEvent<'a, Counted> {
    NewEvent {
        subject: format!("{}.counter.counted", STREAM.subject_root),
        aggregate_type: "counter",
        aggregate_id: aggregate.to_owned(),
        scope: OrgScope::default(),
        payload,
    }
}

pub fn nats_settings(url: &str) -> NatsSettings {
    NatsSettings {
        url: url.to_owned(),
        namespace: asurso_testkit::namespace(),
        replicas: 1,
        duplicate_window: Duration::from_secs(120),
    }
}

pub fn outbox_settings() -> OutboxSettings {
    OutboxSettings {
        poll_interval: Duration::from_millis(20),
        batch_size: 100,
        retention: Duration::from_secs(7 * 24 * 3600),
    }
}

/// Records each event it handles in `effects`, in the handler's transaction.
pub struct Recorder;

impl EventHandler for Recorder {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let counted: Counted = event.payload()?;
        sqlx::query("INSERT INTO effects (event_id, aggregate, n) VALUES ($1, $2, $3)")
            .bind(event.event_id)
            .bind(&counted.aggregate)
            .bind(i32::try_from(counted.n).map_err(|e| HandleError::Permanent(e.to_string()))?)
            .execute(transaction)
            .await?;
        Ok(())
    }
}

pub use asurso_testkit::eventually;

pub async fn count(pool: &PgPool, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}
