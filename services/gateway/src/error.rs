//! What the gateway refuses, and the gRPC status each refusal becomes.

use std::time::Duration;

use asurso_runtime::auth::AuthError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Server(#[from] asurso_runtime::server::ServerError),
    #[error("{0} is not a gRPC method path (/package.Service/Method)")]
    NotAMethod(String),
    #[error("unknown method {0}")]
    UnknownMethod(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("the {role} role may not call {method}")]
    RoleRefused { role: &'static str, method: String },
    #[error("a cross-site request with the session cookie is refused (origin {0})")]
    CrossSite(String),
    #[error("{what}: try again in {} s", retry_after.as_secs().max(1))]
    Throttled {
        what: &'static str,
        retry_after: Duration,
    },
    #[error("the request is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body could not be read: {0}")]
    Body(String),
    #[error("the request is not a sequence of gRPC messages: {0}")]
    MalformedFrame(&'static str),
    #[error("the {upstream} service is unavailable, try again shortly")]
    Upstream { upstream: String, cause: String },
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Self {
        let message = error.to_string();
        match error {
            GatewayError::Settings(_) | GatewayError::Server(_) => Status::internal(message),
            GatewayError::NotAMethod(_) | GatewayError::UnknownMethod(_) => {
                Status::unimplemented(message)
            }
            GatewayError::Auth(auth) => auth.into(),
            GatewayError::RoleRefused { .. } | GatewayError::CrossSite(_) => {
                Status::permission_denied(message)
            }
            GatewayError::Throttled { retry_after, .. } => Status::with_error_details(
                Code::ResourceExhausted,
                message,
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            GatewayError::TooLarge { .. } => Status::resource_exhausted(message),
            GatewayError::Body(_) | GatewayError::MalformedFrame(_) => {
                Status::invalid_argument(message)
            }
            GatewayError::Upstream {
                ref upstream,
                ref cause,
            } => {
                tracing::warn!(%upstream, %cause, "upstream unavailable");
                Status::unavailable(message)
            }
        }
    }
}
