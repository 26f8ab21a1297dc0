//! Several replicas starting at once (a rolling update, a scale-out) all
//! migrate the same database: each migration is applied once and every
//! replica starts.

use asurso_testkit::TestDatabase;
use sqlx::postgres::PgPoolOptions;

#[tokio::test]
async fn replicas_migrating_at_once_apply_each_migration_once() -> anyhow::Result<()> {
    let empty = TestDatabase::create(&[]).await?;
    let replicas = 6;
    let mut starting = Vec::new();
    for _ in 0..replicas {
        // A pool each, as each replica has its own sessions.
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&empty.url)
            .await?;
        starting.push(tokio::spawn(async move {
            asurso_runtime::db::migrate(&pool, &asurso_gradebook::MIGRATOR).await
        }));
    }
    for replica in starting {
        replica.await??;
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&empty.pool)
        .await?;
    assert_eq!(applied as usize, asurso_gradebook::MIGRATOR.iter().count());
    let runtime_applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _asurso_runtime_migrations WHERE success")
            .fetch_one(&empty.pool)
            .await?;
    assert_eq!(
        runtime_applied as usize,
        asurso_runtime::db::runtime_migrator().iter().count()
    );
    Ok(())
}
