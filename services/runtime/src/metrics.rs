//! Prometheus metrics for operators: calls and their latency by method and
//! code, handlers that panicked, the outbox's backlog and age, events handled by each consumer and
//! how far each lags. Served as text on `/metrics` when
//! `telemetry.metrics_port` is set; without it every recording is a no-op.

use std::{net::SocketAddr, time::Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::Shutdown;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("telemetry.metrics_port: {0}")]
    Install(#[from] metrics_exporter_prometheus::BuildError),
    #[error("telemetry.metrics_port: binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Latency buckets in seconds, from a fast diary read to a slow report.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A bound `/metrics` endpoint, not yet serving.
pub struct MetricsServer {
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
}

impl MetricsServer {
    /// Installs the process-wide recorder and binds the endpoint.
    pub async fn install(addr: SocketAddr) -> Result<Self, MetricsError> {
        let handle = PrometheusBuilder::new()
            .set_buckets(BUCKETS)?
            .install_recorder()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })?;
        Ok(Self { listener, handle })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `/metrics` until `shutdown`.
    pub async fn serve(self, shutdown: Shutdown) {
        let handle = self.handle;
        let upkeep = handle.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                async move { handle.render() }
            }),
        );
        let upkeeping = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                while !shutdown.is_triggered() {
                    upkeep.run_upkeep();
                    tokio::select! {
                        () = shutdown.wait() => {}
                        () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    }
                }
            }
        });
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "metrics endpoint stopped");
        }
        upkeeping.abort();
    }
}

/// Records one finished gRPC call. Calls of methods that do not exist
/// (UNIMPLEMENTED) share one label: a client inventing paths must not
/// invent metric series.
pub fn record_call(method: &str, code: &str, started: Instant) {
    let method = if code == "12" { "unknown" } else { method };
    metrics::counter!("grpc_server_handled_total", "method" => method.to_owned(), "code" => code.to_owned())
        .increment(1);
    metrics::histogram!("grpc_server_handling_seconds", "method" => method.to_owned())
        .record(started.elapsed().as_secs_f64());
}

/// Records a handler's panic (answered INTERNAL): a bug to alert on, each
/// one logged with the reference the caller was given.
pub fn record_panic(method: &str) {
    metrics::counter!("grpc_server_panics_total", "method" => method.to_owned()).increment(1);
}

/// Records what a piece of in-memory state holds now (`what`: the
/// directory, say): its entries and the bytes they take, so an operator
/// can read off what a region's size costs each replica.
pub fn record_state(what: &'static str, entries: usize, bytes: usize) {
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!("asurso_state_entries", "state" => what).set(entries as f64);
        metrics::gauge!("asurso_state_bytes", "state" => what).set(bytes as f64);
    }
}
