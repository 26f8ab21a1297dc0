//! The service's PostgreSQL pool and its migrations.
//!
//! The runtime's own tables (outbox, inbox) are migrated from this crate with
//! their own bookkeeping table, so each service's `migrations/` holds only
//! its own schema and the two never collide on a version number.

use secrecy::ExposeSecret;
use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::settings::DatabaseSettings;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database.url: {0}")]
    Url(#[source] sqlx::Error),
    #[error("connecting to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The runtime's own tables: the outbox and the consumers' record of
/// handled events.
pub fn runtime_migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name("_asurso_runtime_migrations");
    migrator
}

/// Connects a pool; fails fast when the server cannot be reached.
///
/// A connection is not pinged before each use (a round trip on every
/// request): one the server has closed fails its statement, which the
/// caller sees as unavailable and retries, and the pool drops it.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = settings.url.expose_secret().parse().map_err(DbError::Url)?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

/// Applies the runtime's migrations, then the service's own.
pub async fn migrate(pool: &PgPool, service: &Migrator) -> Result<(), DbError> {
    runtime_migrator().run(pool).await?;
    service.run(pool).await?;
    Ok(())
}
