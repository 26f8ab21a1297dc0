//! A service assembled: what every service with a database does to start
//! and stop, written once.
//!
//! [`Foundation::connect`] connects to PostgreSQL and migrates the
//! runtime's schema and the service's, connects to NATS and makes sure the
//! streams the service writes and reads exist, and binds the gRPC port. The
//! service then builds its own state on the pool, adds its gRPC services
//! and its event consumers, and [`Foundation::build`] gives a
//! [`Service`]: its address now, and [`Service::run_until_stopped`], which
//! serves, then stops in the one order that loses nothing (calls drained,
//! consumers stopped between two events, the outbox flushed last).

use std::{convert::Infallible, future::Future, net::SocketAddr, pin::Pin, time::Duration};

use sqlx::{PgPool, migrate::Migrator};
use tonic::{body::Body, server::NamedService};

use crate::{
    Shutdown, db,
    events::{
        BusError, ConsumerSpec, EventBus, EventHandler, IdempotentConsumer, Relay, RelayWaker,
        StreamDef,
    },
    lifecycle::{Background, ServiceSettings},
    server::{GrpcServer, ServerError},
    settings::{DatabaseSettings, NatsSettings, OutboxSettings},
};

/// The settings of a service that keeps a database and speaks on the bus,
/// beyond what every binary has ([`ServiceSettings`]). Declared with
/// [`crate::service_settings!`].
pub trait StoringServiceSettings: ServiceSettings {
    fn database(&self) -> &DatabaseSettings;
    fn nats(&self) -> &NatsSettings;
    fn outbox(&self) -> &OutboxSettings;
}

/// Declares a service's settings: the sections every storing service has
/// (`grpc`, `database`, `nats`, `outbox`, `telemetry`) and the service's
/// own, with unknown keys refused (`deny_unknown_fields`), and the traits
/// the runtime reads them through.
///
/// ```ignore
/// asurso_runtime::service_settings! {
///     pub struct Settings {
///         pub identity: IdentitySettings,
///     }
/// }
/// ```
#[macro_export]
macro_rules! service_settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident : $type:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, $crate::serde::Deserialize)]
        // serde wants its path as text, where `$crate` does not expand.
        #[serde(crate = "::asurso_runtime::serde", deny_unknown_fields)]
        pub struct $name {
            pub grpc: $crate::settings::GrpcSettings,
            pub database: $crate::settings::DatabaseSettings,
            pub nats: $crate::settings::NatsSettings,
            pub outbox: $crate::settings::OutboxSettings,
            pub telemetry: $crate::settings::TelemetrySettings,
            $(
                $(#[$field_meta])*
                pub $field: $type,
            )*
        }

        impl $crate::lifecycle::ServiceSettings for $name {
            fn grpc(&self) -> &$crate::settings::GrpcSettings {
                &self.grpc
            }
            fn telemetry(&self) -> &$crate::settings::TelemetrySettings {
                &self.telemetry
            }
        }

        impl $crate::service::StoringServiceSettings for $name {
            fn database(&self) -> &$crate::settings::DatabaseSettings {
                &self.database
            }
            fn nats(&self) -> &$crate::settings::NatsSettings {
                &self.nats
            }
            fn outbox(&self) -> &$crate::settings::OutboxSettings {
                &self.outbox
            }
        }
    };
}

/// Why a service did not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The service's own start-up (its keys, its provider, its settings).
    #[error("{0}")]
    Service(Box<dyn std::error::Error + Send + Sync>),
}

impl StartError {
    pub fn service(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Service(Box::new(error))
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Runner = Box<dyn FnOnce(Shutdown) -> BoxFuture<()> + Send>;
type ConsumerStart =
    Box<dyn FnOnce(PgPool, EventBus) -> BoxFuture<Result<Runner, BusError>> + Send>;

/// A service connected and bound, to which its own parts are added.
pub struct Foundation {
    pub pool: PgPool,
    pub bus: EventBus,
    relay: Relay,
    server: GrpcServer,
    consumers: Vec<ConsumerStart>,
    grace: Duration,
}

impl Foundation {
    /// Connects to the database (migrating it) and the bus, makes sure
    /// `streams` exist (those the service writes, and those it reads, so
    /// either side may start first), and binds the gRPC port.
    pub async fn connect<S: StoringServiceSettings>(
        name: &'static str,
        settings: &S,
        migrator: &'static Migrator,
        streams: &[StreamDef],
    ) -> Result<Self, StartError> {
        let pool = db::connect(settings.database()).await?;
        db::migrate(&pool, migrator).await?;
        let bus = EventBus::connect(settings.nats(), name).await?;
        Self::on(settings, pool, bus, streams).await
    }

    /// The same on a pool (already migrated) and a bus made elsewhere:
    /// tests share one server and give each test its own database and
    /// namespace.
    pub async fn on<S: StoringServiceSettings>(
        settings: &S,
        pool: PgPool,
        bus: EventBus,
        streams: &[StreamDef],
    ) -> Result<Self, StartError> {
        for stream in streams {
            bus.ensure_stream(*stream).await?;
        }
        let relay = Relay::new(pool.clone(), bus.clone(), settings.outbox().clone());
        let server = GrpcServer::bind(settings.grpc()).await?;
        Ok(Self {
            pool,
            bus,
            relay,
            server,
            consumers: Vec::new(),
            grace: settings.grpc().shutdown_grace,
        })
    }

    /// Wakes the relay when a transaction with events commits.
    pub fn relay_waker(&self) -> RelayWaker {
        self.relay.waker()
    }

    /// Adds one of the service's gRPC services.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.server = self.server.add_service(service);
        self
    }

    /// Adds a durable consumer, created when the service starts running
    /// and stopped before the relay.
    pub fn consume<H: EventHandler>(mut self, spec: ConsumerSpec, handler: H) -> Self {
        self.consumers.push(Box::new(move |pool, bus| {
            Box::pin(async move {
                let consumer = IdempotentConsumer::create(pool, bus, spec, handler).await?;
                let run: Runner = Box::new(move |stop| Box::pin(consumer.run(stop)));
                Ok(run)
            })
        }));
        self
    }

    /// Runs `task` on the pool every `period` while the service runs
    /// (housekeeping such as emptying old deleted mail), stopped with the
    /// consumers. A failed run is logged and tried again next period; every
    /// replica may run it, so a task must be safe to run twice at once.
    pub fn every<F, Fut>(mut self, name: &'static str, period: Duration, task: F) -> Self
    where
        F: Fn(PgPool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, sqlx::Error>> + Send + 'static,
    {
        self.consumers.push(Box::new(move |pool, _bus| {
            Box::pin(async move {
                let run: Runner = Box::new(move |stop: Shutdown| {
                    Box::pin(async move {
                        let mut ticks = tokio::time::interval(period);
                        loop {
                            tokio::select! {
                                _ = stop.wait() => break,
                                _ = ticks.tick() => {}
                            }
                            match task(pool.clone()).await {
                                Ok(0) => {}
                                Ok(done) => tracing::info!(task = name, done, "housekeeping"),
                                Err(error) => {
                                    tracing::warn!(task = name, error = %error, "housekeeping failed")
                                }
                            }
                        }
                    })
                });
                Ok(run)
            })
        }));
        self
    }

    /// Runs `task` beside the service (a sender, a listener) until the
    /// service stops; it is stopped with the consumers and should return
    /// soon after its `Shutdown` fires.
    pub fn task<F, Fut>(mut self, task: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.consumers.push(Box::new(move |_pool, _bus| {
            Box::pin(async move {
                let run: Runner = Box::new(move |stop: Shutdown| Box::pin(task(stop)));
                Ok(run)
            })
        }));
        self
    }

    pub fn build(self) -> Service {
        Service {
            pool: self.pool,
            bus: self.bus,
            relay: self.relay,
            server: self.server,
            consumers: self.consumers,
            grace: self.grace,
        }
    }
}

/// Declares a service's `Application`, the same in every service: `build`
/// (connect, migrate, ensure the streams, bind), `build_with` (on a test's
/// pool and bus), `local_addr`, `pool` and `run_until_stopped`. The service
/// writes only `assemble`, which builds its state on the foundation and
/// adds its gRPC services and consumers:
///
/// ```ignore
/// asurso_runtime::application!("attendance", Settings, MIGRATOR, STREAMS);
///
/// async fn assemble(settings: Settings, foundation: Foundation) -> Result<Service, StartError> {
///     let state = Arc::new(api::State::new(&foundation, &settings.identity)?);
///     Ok(foundation.add_service(…).consume(…).build())
/// }
/// ```
#[macro_export]
macro_rules! application {
    ($name:literal, $settings:ty, $migrator:expr, $streams:expr) => {
        /// A built, bound, not yet serving service.
        pub struct Application {
            service: $crate::service::Service,
        }

        impl Application {
            pub async fn build(settings: $settings) -> Result<Self, $crate::service::StartError> {
                let foundation =
                    $crate::service::Foundation::connect($name, &settings, &$migrator, &$streams)
                        .await?;
                Ok(Self {
                    service: assemble(settings, foundation).await?,
                })
            }

            /// Builds on a pool (migrated from a template) and a bus made
            /// elsewhere: tests.
            pub async fn build_with(
                settings: $settings,
                pool: $crate::sqlx::PgPool,
                bus: $crate::events::EventBus,
            ) -> Result<Self, $crate::service::StartError> {
                let foundation =
                    $crate::service::Foundation::on(&settings, pool, bus, &$streams).await?;
                Ok(Self {
                    service: assemble(settings, foundation).await?,
                })
            }

            pub fn local_addr(&self) -> ::std::net::SocketAddr {
                self.service.local_addr()
            }

            pub fn pool(&self) -> &$crate::sqlx::PgPool {
                self.service.pool()
            }

            /// Serves until `shutdown`, then drains calls, stops the
            /// consumers between two events and flushes the outbox.
            pub async fn run_until_stopped(
                self,
                shutdown: $crate::Shutdown,
            ) -> Result<(), $crate::service::StartError> {
                self.service.run_until_stopped(shutdown).await
            }
        }
    };
}

/// A built, bound, not yet serving service.
pub struct Service {
    pool: PgPool,
    bus: EventBus,
    relay: Relay,
    server: GrpcServer,
    consumers: Vec<ConsumerStart>,
    grace: Duration,
}

impl Service {
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until `shutdown`, then drains calls, stops the consumers
    /// between two events and flushes the outbox.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartError> {
        let mut background = Background::new();
        for start in self.consumers {
            let run = start(self.pool.clone(), self.bus.clone()).await?;
            background.spawn(0, run);
        }
        let relay = self.relay;
        background.spawn(1, move |stop| relay.run(stop));
        let served = self.server.serve(shutdown).await;
        background.stop(self.grace).await;
        served?;
        Ok(())
    }
}
