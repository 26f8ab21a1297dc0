//! The gRPC server every service runs: its own services plus
//! `grpc.health.v1` and reflection (v1 and v1alpha, so both new clients and
//! grpcurl 1.8 can list the API), call deadlines, server spans that continue
//! the caller's trace, and a graceful stop. Whatever a handler does, the
//! caller gets a gRPC status: a panic is INTERNAL with a reference, a
//! request tonic cannot decode is INVALID_ARGUMENT, and so is text holding
//! NUL, which no database column takes.

mod deadline;
mod malformed;
mod panic;
mod text;

use std::{convert::Infallible, net::SocketAddr};

pub use deadline::{CallDeadline, DeadlineLayer};
pub use malformed::MalformedRequestLayer;
pub use panic::CatchPanicLayer;
pub use text::NoNulInText;

use tonic::{
    body::Body,
    server::NamedService,
    service::{Routes, RoutesBuilder},
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{Shutdown, settings::GrpcSettings, telemetry};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("grpc: binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("grpc: reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("grpc: serving: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// The request headers a server accepts (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE):
/// a caller sends a token, the trace context and a few more, well under
/// this. It is hyper's default, written down so that an upgrade cannot
/// change it unseen; answers are bounded on their own side
/// ([`crate::errors`]).
pub const MAX_REQUEST_HEADER_BYTES: u32 = 16 * 1024;

/// Wraps the gRPC routes of a public edge (the gateway): gRPC-Web, plain
/// HTTP pages, a fallback for calls served elsewhere.
pub type Edge = Box<dyn FnOnce(axum::Router) -> axum::Router + Send>;

/// A bound, not yet serving, gRPC server.
pub struct GrpcServer {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    settings: GrpcSettings,
    routes: RoutesBuilder,
    health: HealthReporter,
    service_names: Vec<&'static str>,
    descriptor_sets: Vec<&'static [u8]>,
    edge: Option<Edge>,
}

impl GrpcServer {
    /// Binds the listening socket now, so the port is known (and taken)
    /// before anything else starts.
    pub async fn bind(settings: &GrpcSettings) -> Result<Self, ServerError> {
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        Ok(Self {
            listener,
            local_addr,
            settings: settings.clone(),
            routes,
            health,
            service_names: Vec::new(),
            // google.rpc error details too, so clients can decode BadRequest.
            descriptor_sets: vec![
                asurso_proto::FILE_DESCRIPTOR_SET,
                tonic_types::pb::FILE_DESCRIPTOR_SET,
            ],
            edge: None,
        })
    }

    /// The address actually bound (port 0 resolves here).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Lets a service report its own health later (e.g. NOT_SERVING while
    /// its database is unreachable).
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Adds a service; it reports SERVING once the server runs. Its
    /// requests are checked for NUL in text first ([`NoNulInText`]).
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(NoNulInText::new(service));
        self
    }

    /// Serves extra descriptors through reflection (test or private protos).
    pub fn add_descriptor_set(mut self, encoded: &'static [u8]) -> Self {
        self.descriptor_sets.push(encoded);
        self
    }

    /// Makes this server a public edge: HTTP/1.1 is accepted beside HTTP/2
    /// (browsers), and `edge` wraps the router of the services added here
    /// (health, reflection, ...) with whatever the edge serves itself.
    pub fn public_edge(
        mut self,
        edge: impl FnOnce(axum::Router) -> axum::Router + Send + 'static,
    ) -> Self {
        self.edge = Some(Box::new(edge));
        self
    }

    /// Serves until `shutdown` fires, then reports NOT_SERVING, stops
    /// accepting connections and lets in-flight calls finish (at most the
    /// grace period).
    pub async fn serve(self, shutdown: Shutdown) -> Result<(), ServerError> {
        let Self {
            listener,
            local_addr,
            settings,
            mut routes,
            health,
            service_names,
            descriptor_sets,
            edge,
        } = self;

        let mut reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        let mut reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        for set in descriptor_sets {
            reflection_v1 = reflection_v1.register_encoded_file_descriptor_set(set);
            reflection_v1alpha = reflection_v1alpha.register_encoded_file_descriptor_set(set);
        }
        routes.add_service(reflection_v1.build_v1()?);
        routes.add_service(reflection_v1alpha.build_v1alpha()?);

        for name in &service_names {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        health.set_service_status("", ServingStatus::Serving).await;
        tracing::info!(address = %local_addr, services = ?service_names, "grpc server listening");

        let drain = {
            let health = health.clone();
            let shutdown = shutdown.clone();
            async move {
                shutdown.wait().await;
                health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                for name in service_names {
                    health
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
                tracing::info!("grpc server draining in-flight calls");
            }
        };

        let accept_http1 = edge.is_some();
        let routes = match edge {
            Some(edge) => Routes::from(edge(routes.routes().into_axum_router())),
            None => routes.routes(),
        };
        // Outermost first: the deadline's metrics see the status the caller
        // gets, after a panic or a malformed request has become one.
        let serving = Server::builder()
            .accept_http1(accept_http1)
            .http2_max_header_list_size(MAX_REQUEST_HEADER_BYTES)
            .layer(DeadlineLayer::new(settings.max_call_duration))
            .layer(MalformedRequestLayer)
            .layer(CatchPanicLayer)
            .trace_fn(telemetry::grpc_server_span)
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                drain,
            );

        // Graceful shutdown waits for every connection to close; past the
        // grace period the remaining calls are cut off.
        tokio::pin!(serving);
        tokio::select! {
            result = &mut serving => result?,
            () = async {
                shutdown.wait().await;
                tokio::time::sleep(settings.shutdown_grace).await;
            } => {
                tracing::warn!("grpc calls still running after the grace period, stopping anyway");
            }
        }
        tracing::info!("grpc server stopped");
        Ok(())
    }
}
