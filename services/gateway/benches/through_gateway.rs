//! `make bench`, second half: what the gateway costs. The gradebook's
//! bench school (seeded by `asurso_gradebook::bench_support`, the same data
//! the gradebook's own bench reads) is read directly, then the same way
//! through a gateway in this process in front of the same gradebook and
//! identity, and the gateway's throughput is printed as a ratio of the
//! direct one.
//!
//! Settings (environment): BENCH_SECONDS (per run, default 15),
//! BENCH_CONCURRENCY (callers at once, default 8). PostgreSQL and NATS as
//! the tests find them (DATABASE_URL, NATS_URL, or throw-away servers).

use asurso_gateway::{Application, CONFIG, Settings};
use asurso_gradebook::bench_support::{Bench, read_diary_weeks};
use asurso_identity::harness::World;
use asurso_testkit::Spawned;

/// The gateway in this process in front of `gradebook` and identity; its
/// address.
async fn start_gateway(world: &World, gradebook: &str) -> anyhow::Result<(String, Spawned)> {
    let mut settings: Settings = CONFIG.load()?;
    settings.grpc.port = 0;
    settings
        .upstreams
        .insert("identity".into(), world.identity.address.clone());
    settings
        .upstreams
        .insert("gradebook".into(), gradebook.to_owned());
    // One parent reading as fast as the machine allows: not a client to
    // throttle here.
    settings.limits.session_per_second = 1_000_000;
    settings.limits.session_burst = 1_000_000;
    let gateway = Application::build(settings).await?;
    let address = format!("http://{}", gateway.local_addr());
    let serving = asurso_testkit::spawn("gateway", |shutdown| gateway.run_until_stopped(shutdown));
    Ok((address, serving))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut bench = Bench::start().await?;
    let took = bench.seed(0..1).await?;
    println!("seeded one school in {:.1} s", took.as_secs_f64());
    let parent = bench.parent_of_all(1, 1).await?;
    bench.describe("one school").await?;
    let (gateway, gateway_serving) = start_gateway(&bench.world, bench.address()).await?;

    let direct = read_diary_weeks("directly", bench.address(), &parent).await?;
    let through = read_diary_weeks("through the gateway", &gateway, &parent).await?;
    println!(
        "  the gateway: {:.2}x the direct throughput, p50 +{:.2} ms",
        through.per_second / direct.per_second,
        through.p50_ms - direct.p50_ms
    );

    gateway_serving.stop().await?;
    bench.stop().await
}
