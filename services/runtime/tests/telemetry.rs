//! Spans reach an OTLP collector, and one trace crosses a gRPC call: the
//! server's span is the child of the client's. Its own test binary, since it
//! installs the process-wide subscriber.

use std::time::Duration;

use asurso_runtime::{
    Shutdown,
    server::GrpcServer,
    settings::{GrpcSettings, LogFormat, TelemetrySettings},
    telemetry,
};
use asurso_testkit::otlp::Collector;
use tracing::Instrument;

fn grpc_settings() -> GrpcSettings {
    GrpcSettings {
        host: [127, 0, 0, 1].into(),
        port: 0,
        max_call_duration: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_and_one_trace_crosses_a_grpc_call() -> anyhow::Result<()> {
    let collector = Collector::start().await?;

    let guard = telemetry::init(
        "gradebook",
        &TelemetrySettings {
            log_level: "info".to_owned(),
            log_format: LogFormat::Json,
            otlp_endpoint: Some(collector.endpoint()),
            metrics_port: None,
        },
    )?;

    // A service (any gRPC server of ours) and a client calling it.
    let service = GrpcServer::bind(&grpc_settings()).await?;
    let address = format!("http://{}", service.local_addr());
    let stop_service = Shutdown::new();
    let serving = tokio::spawn(service.serve(stop_service.clone()));
    let channel = tonic::transport::Channel::from_shared(address)?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::with_interceptor(
        channel,
        telemetry::propagate_trace,
    );
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .instrument(tracing::info_span!("parent opens the diary"))
        .await?;

    stop_service.trigger();
    serving.await??;
    drop(guard); // flushes
    let spans = collector.spans()?;
    collector.stop().await?;
    let client = spans
        .iter()
        .find(|span| span.name == "parent opens the diary")
        .ok_or_else(|| anyhow::anyhow!("the client span was not exported: {spans:?}"))?;
    let server = spans
        .iter()
        .find(|span| span.name == "/grpc.health.v1.Health/Check")
        .ok_or_else(|| anyhow::anyhow!("the server span was not exported: {spans:?}"))?;
    assert_eq!(client.service, "gradebook");
    assert_eq!(
        server.trace_id, client.trace_id,
        "one trace across the call"
    );
    assert_eq!(
        server.parent_span_id, client.span_id,
        "the server span is the client's child"
    );
    Ok(())
}
