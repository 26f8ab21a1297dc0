//! The `/metrics` endpoint counts calls, published events and the backlog.
//! Its own test binary: the metrics recorder is process-wide.

use std::time::Duration;

use asurso_proto::common::OrgScope;
use asurso_runtime::{
    Shutdown, db,
    events::{EventBus, NewEvent, Relay, enqueue, streams},
    metrics::MetricsServer,
    server::GrpcServer,
    settings::{GrpcSettings, NatsSettings, OutboxSettings},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn scrape(addr: std::net::SocketAddr) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_published_events_and_the_backlog() -> anyhow::Result<()> {
    asurso_testkit::init_tracing();
    let metrics = MetricsServer::install(([127, 0, 0, 1], 0).into()).await?;
    let metrics_addr = metrics
        .local_addr()
        .ok_or_else(|| anyhow::anyhow!("no address"))?;
    let shutdown = Shutdown::new();
    tokio::spawn(metrics.serve(shutdown.clone()));

    // One gRPC call.
    let server = GrpcServer::bind(&GrpcSettings {
        host: [127, 0, 0, 1].into(),
        port: 0,
        max_call_duration: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(1),
    })
    .await?;
    let address = format!("http://{}", server.local_addr());
    tokio::spawn(server.serve(shutdown.clone()));
    let channel = tonic::transport::Channel::from_shared(address)?
        .connect()
        .await?;
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?;

    // Two events written, one published.
    let database = asurso_testkit::TestDatabase::create(&[&db::runtime_migrator()]).await?;
    let nats = NatsSettings {
        url: asurso_testkit::nats_url().await?,
        namespace: asurso_testkit::namespace(),
        replicas: 1,
        duplicate_window: Duration::from_secs(60),
    };
    let bus = EventBus::connect(&nats, "metrics-test").await?;
    bus.ensure_stream(streams::GRADEBOOK).await?;
    let mut transaction = database.pool.begin().await?;
    for _ in 0..2 {
        enqueue(
            &mut transaction,
            "metrics-test",
            NewEvent {
                subject: "gradebook.test.happened".to_owned(),
                aggregate_type: "test",
                aggregate_id: "one".to_owned(),
                scope: OrgScope::default(),
                payload: &OrgScope::default(),
            },
        )
        .await?;
    }
    transaction.commit().await?;
    let settings = OutboxSettings {
        poll_interval: Duration::from_millis(20),
        batch_size: 1,
        retention: Duration::from_secs(3600),
    };
    let relay = Relay::new(database.pool.clone(), bus, settings);
    relay.publish_pending().await?;
    relay.sample_backlog().await?;

    let page = scrape(metrics_addr).await?;
    assert!(
        page.contains(
            r#"grpc_server_handled_total{method="/grpc.health.v1.Health/Check",code="0"} 1"#
        ),
        "{page}"
    );
    assert!(
        page.contains("grpc_server_handling_seconds_bucket"),
        "{page}"
    );
    assert!(page.contains("outbox_published_total 1"), "{page}");
    assert!(page.contains("outbox_unpublished 1"), "{page}");
    assert!(page.contains("outbox_oldest_unpublished_seconds"), "{page}");
    shutdown.trigger();
    Ok(())
}
