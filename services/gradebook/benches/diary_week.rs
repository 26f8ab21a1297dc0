//! `make bench`, first half: diary-week reads per second and their latency,
//! through the real gRPC API of a gradebook on real PostgreSQL and NATS,
//! first on one realistically sized school, then on ten times the data,
//! with the diary's query plans. Only the gradebook: what the gateway adds
//! is measured by the gateway's own bench (`through_gateway`) on the same
//! data, seeded and read by the same `asurso_gradebook::bench_support`.
//!
//! Settings (environment): BENCH_SECONDS (per run, default 15),
//! BENCH_CONCURRENCY (callers at once, default 8), BENCH_SCALE (schools in
//! the second run, default 10). PostgreSQL and NATS as the tests find them
//! (DATABASE_URL, NATS_URL, or throw-away servers).

use asurso_gradebook::{
    bench_support::{Bench, Parent, read_diary_weeks, setting},
    storage::{diary, lessons},
};
use sqlx::PgPool;
use uuid::Uuid;

/// The diary's queries as the planner runs them, for one child and week.
async fn explain(pool: &PgPool, student: Uuid) -> anyhow::Result<()> {
    let (from, to) = (
        time::macros::date!(2027 - 02 - 08),
        time::macros::date!(2027 - 02 - 13),
    );
    let mut connection = pool.acquire().await?;
    let of_week: Vec<Uuid> = lessons::of_student(&mut connection, student, from, to)
        .await?
        .iter()
        .map(|lesson| lesson.id)
        .collect();
    for (name, sql) in [
        ("lessons of the week", lessons::OF_STUDENT),
        ("their assignments and marks", diary::OF_LESSONS),
        ("work due in the week", diary::DUE_BETWEEN),
    ] {
        let query = format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}");
        let query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(query)).bind(student);
        let query = if name == "their assignments and marks" {
            query.bind(&of_week)
        } else {
            query.bind(from).bind(to)
        };
        let plan = query.fetch_all(pool).await?;
        println!("    plan: {name}");
        for line in plan {
            println!("      {line}");
        }
    }
    Ok(())
}

/// What the database holds, the direct reads, and the plans.
async fn report(bench: &Bench, label: &str, parent: &Parent) -> anyhow::Result<()> {
    bench.describe(label).await?;
    read_diary_weeks("directly", bench.address(), parent).await?;
    if let Some(student) = parent.children.first().copied() {
        explain(bench.pool(), student).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scale = i32::try_from(setting("BENCH_SCALE", 10))?;
    let mut bench = Bench::start().await?;

    let took = bench.seed(0..1).await?;
    println!("seeded one school in {:.1} s", took.as_secs_f64());
    let parent = bench.parent_of_all(1, 1).await?;
    report(&bench, "one school", &parent).await?;

    let took = bench.seed(1..scale).await?;
    println!(
        "seeded {} more schools in {:.1} s",
        scale - 1,
        took.as_secs_f64()
    );
    // A fresh token (they live minutes) for a parent of children everywhere.
    let parent = bench.parent_of_all(scale, 2).await?;
    report(&bench, &format!("{scale} schools"), &parent).await?;

    bench.stop().await
}
