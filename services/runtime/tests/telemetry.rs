//! Spans reach an OTLP collector, and one trace crosses a gRPC call: the
//! server's span is the child of the client's. Its own test binary, since it
//! installs the process-wide subscriber.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use asurso_runtime::{
    Shutdown,
    server::GrpcServer,
    settings::{GrpcSettings, LogFormat, TelemetrySettings},
    telemetry,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
};
use tracing::Instrument;

/// One exported span: its service, name, trace id and parent span id.
#[derive(Debug, Clone)]
struct Exported {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

/// A collector that keeps what it is sent.
#[derive(Default, Clone)]
struct Collector(Arc<Mutex<Vec<Exported>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self
            .0
            .lock()
            .map_err(|_| tonic::Status::internal("poisoned"))?;
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
                .map(|value| match value {
                    Value::StringValue(name) => name.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    kept.push(Exported {
                        service: service.clone(),
                        name: span.name,
                        trace_id: span.trace_id,
                        span_id: span.span_id,
                        parent_span_id: span.parent_span_id,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

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
    let collector = Collector::default();
    let collector_server = GrpcServer::bind(&grpc_settings())
        .await?
        .add_service(TraceServiceServer::new(collector.clone()));
    let collector_address = collector_server.local_addr();
    let stop_collector = Shutdown::new();
    let collecting = tokio::spawn(collector_server.serve(stop_collector.clone()));

    let guard = telemetry::init(
        "gradebook",
        &TelemetrySettings {
            log_level: "info".to_owned(),
            log_format: LogFormat::Json,
            otlp_endpoint: Some(format!("http://{collector_address}")),
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
    stop_collector.trigger();
    collecting.await??;

    let spans = collector
        .0
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
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
