//! A database per test, cloned from a template migrated once.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    time::Duration,
};

use anyhow::Context;
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// A database of its own for one test, dropped when the value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub pool: PgPool,
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDatabase {
    /// A fresh database with `migrators` applied (in order), cloned from a
    /// template that the first test to ask for this set of migrations builds.
    pub async fn create(migrators: &[&Migrator]) -> anyhow::Result<Self> {
        let admin_url = crate::postgres_url().await?;
        let template = ensure_template(&admin_url, migrators).await?;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());

        let mut admin = connect(&admin_url).await?;
        let mut attempt = 0;
        loop {
            let created = ddl(
                &mut admin,
                format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
            )
            .await;
            match created {
                Ok(_) => break,
                // Another test is cloning the same template this instant.
                Err(error) if attempt < 50 && error.to_string().contains("being accessed") => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 + attempt * 10)).await;
                }
                Err(error) => return Err(error).context("cloning the template database"),
            }
        }
        admin.close().await?;

        let url = with_database(&admin_url, &name)?;
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect(&url)
            .await
            .with_context(|| format!("connecting to {name}"))?;
        Ok(Self {
            pool,
            name,
            url,
            admin_url,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside async; a short-lived thread with its own runtime
        // removes the database so a long-lived server does not fill up.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                // FORCE ends the pool's connections from the server side: closing
                // the pool here would wait on the test's own runtime.
                if let Ok(mut admin) = connect(&admin_url).await {
                    let _ = ddl(
                        &mut admin,
                        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    )
                    .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Runs a statement built from names this module generated itself.
async fn ddl(connection: &mut PgConnection, statement: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(connection)
        .await
        .map(|_| ())
}

async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let options: PgConnectOptions = url.parse().context("DATABASE_URL")?;
    options
        .log_statements(tracing::log::LevelFilter::Off)
        .connect()
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", redact(url)))
}

fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let options: PgConnectOptions = url.parse().context("DATABASE_URL")?;
    Ok(options.database(database).to_url_lossy().to_string())
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("postgres://…@{host}"),
        None => url.to_owned(),
    }
}

/// The name of a template database with exactly these migrations applied,
/// built under an advisory lock so parallel test processes build it once.
async fn ensure_template(admin_url: &str, migrators: &[&Migrator]) -> anyhow::Result<String> {
    let mut hasher = DefaultHasher::new();
    for migrator in migrators {
        migrator.table_name.hash(&mut hasher);
        for migration in migrator.iter() {
            migration.version.hash(&mut hasher);
            migration.checksum.hash(&mut hasher);
        }
    }
    let key = hasher.finish();
    let template = format!("template_{key:016x}");

    let mut admin = connect(admin_url).await?;
    let lock = i64::from_ne_bytes(key.to_ne_bytes());
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock)
        .execute(&mut admin)
        .await?;
    let built = async {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&template)
                .fetch_one(&mut admin)
                .await?;
        if exists {
            return Ok(());
        }
        // Migrate under a scratch name, then rename: a template that exists
        // is always complete, even if an earlier run died half-way.
        let scratch = format!("{template}_building");
        ddl(
            &mut admin,
            format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"),
        )
        .await?;
        ddl(&mut admin, format!("CREATE DATABASE \"{scratch}\"")).await?;
        {
            let mut connection = connect(&with_database(admin_url, &scratch)?).await?;
            for migrator in migrators {
                migrator
                    .run(&mut connection)
                    .await
                    .context("migrating the template database")?;
            }
            connection.close().await?;
        }
        ddl(
            &mut admin,
            format!("ALTER DATABASE \"{scratch}\" RENAME TO \"{template}\""),
        )
        .await?;
        anyhow::Ok(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock)
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    built?;
    Ok(template)
}
