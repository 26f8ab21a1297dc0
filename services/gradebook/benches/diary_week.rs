//! `make bench`, first half: what computing a diary week costs, where the
//! read model does not have it yet. On one realistically sized school, then
//! on ten times the data, through the real gRPC API of a gradebook on real
//! PostgreSQL and NATS: every evening week of every child read once (each
//! computed from the source tables and kept), then the computation's query
//! plans, and a family's marks report over four weeks read by 8 callers;
//! at one school, the whole read model rebuilt. Reads of kept weeks,
//! against the bare database and through the gateway, are the gateway's
//! bench (`through_gateway`), on the same data seeded by the same
//! `asurso_gradebook::bench_support`.
//!
//! Settings (environment): BENCH_SCALE (schools in the second run, default
//! 10), BENCH_WEEKS (weeks read, default 4). PostgreSQL and NATS as the
//! tests find them (DATABASE_URL, NATS_URL, or throw-away servers).

use asurso_gradebook::{
    api::diary::rebuild_read_model,
    bench_support::{Bench, Callers, FamilyRead, Parent, read_as_family, setting, warm},
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

/// What the database holds, the weeks computed, and the plans.
async fn report(bench: &Bench, label: &str, parent: &Parent) -> anyhow::Result<()> {
    bench.describe(label).await?;
    let (weeks, took) = warm(bench.address(), parent).await?;
    println!(
        "  {weeks} diary weeks computed and kept by 8 callers in {:.1} s: {:.0} weeks/s",
        took.as_secs_f64(),
        weeks as f64 / took.as_secs_f64()
    );
    bench.settle().await?;
    if let Some(student) = parent.children.first().copied() {
        explain(bench.pool(), student).await?;
    }
    read_as_family(
        FamilyRead::MarksReport,
        "directly",
        bench.address(),
        parent,
        Callers::Closed(8),
    )
    .await?;
    Ok(())
}

/// `asurso-gradebook rebuild-diary` on the data as it is: every week of
/// every enrolment computed again and kept.
async fn rebuild(bench: &Bench) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let weeks = rebuild_read_model(bench.pool()).await?;
    let took = started.elapsed().as_secs_f64();
    println!(
        "  the read model rebuilt (rebuild-diary): {weeks} weeks in {took:.1} s, {:.0} weeks/s",
        weeks as f64 / took
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scale = i32::try_from(setting("BENCH_SCALE", 10))?;
    let mut bench = Bench::start().await?;

    let parent = bench.first_school().await?;
    report(&bench, "one school", &parent).await?;
    rebuild(&bench).await?;

    let parent = bench.grow_to(scale).await?;
    report(&bench, &format!("{scale} schools"), &parent).await?;

    bench.stop().await
}
