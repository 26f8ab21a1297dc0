//! Structured logs, OpenTelemetry spans and W3C trace context.
//!
//! One trace runs from the gateway through every service and over NATS to
//! each consumer: gRPC calls carry `traceparent`/`tracestate` in metadata,
//! events carry them in NATS headers (stored with the outbox row, so the
//! relay publishes the writer's context, not its own).

use opentelemetry::{
    Context, global,
    propagation::{Extractor, Injector},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    runtime,
    trace::{SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::settings::{LogFormat, TelemetrySettings};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry.log_level: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("telemetry.otlp_endpoint: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Flushes and stops span export when dropped: keep it alive in `main`.
#[must_use = "spans are flushed when the guard drops"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("telemetry: flushing spans failed: {error}");
        }
    }
}

/// Installs the global subscriber: logs to stdout (JSON or human), spans to
/// OTLP when an endpoint is set. Call once, inside the Tokio runtime. A
/// second call (several apps in one test process) keeps the first
/// subscriber and only returns a guard.
pub fn init(
    service: &'static str,
    settings: &TelemetrySettings,
) -> Result<TelemetryGuard, TelemetryError> {
    global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives)?,
        _ => EnvFilter::try_new(&settings.log_level)?,
    };
    let logs = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };

    let provider = match &settings.otlp_endpoint {
        Some(endpoint) if !endpoint.is_empty() => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?;
            // The async-runtime processor exports on Tokio: the default one runs
            // on a plain thread where the tonic exporter has no reactor.
            let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio).build();
            Some(
                SdkTracerProvider::builder()
                    .with_span_processor(processor)
                    .with_resource(Resource::builder().with_service_name(service).build())
                    .build(),
            )
        }
        _ => None,
    };
    let spans = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service)));

    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init();
    if installed.is_ok()
        && let Some(provider) = &provider
    {
        global::set_tracer_provider(provider.clone());
    }
    Ok(TelemetryGuard { provider })
}

/// Writes the current span's trace context into a carrier.
pub fn inject_current(carrier: &mut dyn Injector) {
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, carrier));
}

/// Reads a trace context from a carrier.
pub fn extract(carrier: &dyn Extractor) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(carrier))
}

/// Makes `span` a child of the context in `carrier`, when there is one.
pub fn set_parent_from(span: &tracing::Span, carrier: &dyn Extractor) {
    let context = extract(carrier);
    if opentelemetry::trace::TraceContextExt::span(&context)
        .span_context()
        .is_valid()
    {
        // Fails only when no OpenTelemetry layer is installed: nothing to link.
        let _ = span.set_parent(context);
    }
}

/// Read-only HTTP headers as a carrier.
pub struct HeaderReader<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(http::header::HeaderName::as_str)
            .collect()
    }
}

/// NATS message headers as a carrier.
pub struct NatsHeaders<'a>(pub &'a async_nats::HeaderMap);

impl Extractor for NatsHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(async_nats::HeaderValue::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Collects a trace context as plain pairs, e.g. to store beside an outbox row.
#[derive(Debug, Default)]
pub struct Pairs(pub Vec<(String, String)>);

impl Injector for Pairs {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// A tonic interceptor for clients: sends the current trace context along.
pub fn propagate_trace(
    mut request: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    let mut pairs = Pairs::default();
    inject_current(&mut pairs);
    for (key, value) in pairs.0 {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            request.metadata_mut().insert(key, value);
        }
    }
    Ok(request)
}

/// The server span of one gRPC call, child of the caller's trace context.
pub fn grpc_server_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc.request",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        // Filled in once the caller's token is verified.
        enduser.id = tracing::field::Empty,
        enduser.role = tracing::field::Empty,
    );
    set_parent_from(&span, &HeaderReader(request.headers()));
    span
}
