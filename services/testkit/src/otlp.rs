//! A real OTLP/gRPC trace receiver: services export to it as to an
//! OpenTelemetry collector, and a test reads back what arrived.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use asurso_runtime::{Shutdown, server::GrpcServer, settings::GrpcSettings};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
};

/// One exported span: the exporting service, its name, ids and parent.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// The resource's `service.name`.
    pub service: String,
    pub name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    /// Empty for a root span.
    pub parent_span_id: Vec<u8>,
}

#[derive(Default, Clone)]
struct Received(Arc<Mutex<Vec<ExportedSpan>>>);

#[tonic::async_trait]
impl TraceService for Received {
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
                    kept.push(ExportedSpan {
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

/// A collector listening on a free loopback port until stopped.
pub struct Collector {
    received: Received,
    address: SocketAddr,
    stop: Shutdown,
    serving: tokio::task::JoinHandle<Result<(), asurso_runtime::server::ServerError>>,
}

impl Collector {
    pub async fn start() -> anyhow::Result<Self> {
        let received = Received::default();
        let server = GrpcServer::bind(&GrpcSettings {
            host: [127, 0, 0, 1].into(),
            port: 0,
            max_call_duration: std::time::Duration::from_secs(10),
            shutdown_grace: std::time::Duration::from_secs(1),
        })
        .await?
        .add_service(TraceServiceServer::new(received.clone()));
        let address = server.local_addr();
        let stop = Shutdown::new();
        let serving = tokio::spawn(server.serve(stop.clone()));
        Ok(Self {
            received,
            address,
            stop,
            serving,
        })
    }

    /// What a service's `telemetry.otlp_endpoint` names.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far.
    pub fn spans(&self) -> anyhow::Result<Vec<ExportedSpan>> {
        Ok(self
            .received
            .0
            .lock()
            .map_err(|_| anyhow::anyhow!("the collector's lock is poisoned"))?
            .clone())
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.trigger();
        self.serving.await??;
        Ok(())
    }
}
