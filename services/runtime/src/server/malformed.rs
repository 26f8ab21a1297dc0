//! A request the caller got wrong is INVALID_ARGUMENT, not INTERNAL.
//!
//! tonic answers a request it cannot decode with INTERNAL (prost's codec
//! follows the gRPC table, written with responses in mind): invalid UTF-8
//! in a string field, a truncated message, a frame shorter than its length
//! prefix, a malformed gRPC-Web body. None of these is the server's fault,
//! and INTERNAL sends callers and operators looking for a bug. tonic gives
//! no hook into its decoding, so the answer is corrected on the way out:
//! decoding fails before the handler runs, so tonic answers trailers-only
//! (the status in the headers), with one of the messages below. A status a
//! handler returns never carries them: internal causes are answered with a
//! reference only ([`crate::errors::internal`]).
//!
//! The messages belong to tonic, tonic-web and prost; the server tests
//! send each kind of malformed request, so an upgrade that rewords one
//! fails there.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http::{HeaderMap, HeaderValue};
use tonic::{Code, Status, body::Body};

/// How tonic's, tonic-web's and prost's messages for undecodable requests
/// begin. The compressed flag without `grpc-encoding` stays INTERNAL: the
/// gRPC compression spec requires it.
const MALFORMED_REQUEST: &[&str] = &[
    // prost: invalid UTF-8, a truncated or otherwise invalid message.
    "failed to decode Protobuf message",
    // tonic: the body ended inside a frame.
    "Unexpected EOF decoding stream",
    // tonic: a unary call without its message.
    "Missing request message",
    // tonic: a frame whose flag byte is neither 0 nor 1.
    "protocol error: received message with invalid compression flag",
    // tonic-web: a gRPC-Web text body that is not base64.
    "tonic-web: malformed base64",
    "tonic-web: Invalid ",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct MalformedRequestLayer;

impl<S> tower::Layer<S> for MalformedRequestLayer {
    type Service = MalformedRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MalformedRequest { inner }
    }
}

#[derive(Debug, Clone)]
pub struct MalformedRequest<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for MalformedRequest<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = self.inner.call(request);
        Box::pin(async move {
            let mut response = call.await?;
            blame_the_request(response.headers_mut());
            Ok(response)
        })
    }
}

/// Turns a trailers-only INTERNAL about an undecodable request into
/// INVALID_ARGUMENT, keeping its message (it often names the field).
fn blame_the_request(headers: &mut HeaderMap) {
    if headers.get(Status::GRPC_STATUS) != Some(&HeaderValue::from_static("13")) {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    if MALFORMED_REQUEST
        .iter()
        .any(|prefix| status.message().starts_with(prefix))
    {
        headers.insert(
            Status::GRPC_STATUS,
            HeaderValue::from(Code::InvalidArgument as i32),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: Status) -> (Code, String) {
        let mut response: http::Response<()> = status.into_http();
        blame_the_request(response.headers_mut());
        let status = Status::from_header_map(response.headers())
            .unwrap_or_else(|| Status::unknown("no status"));
        (status.code(), status.message().to_owned())
    }

    #[test]
    fn undecodable_requests_are_the_callers_mistake() {
        let message = "failed to decode Protobuf message: HealthCheckRequest.service: \
                       invalid string value: data is not UTF-8 encoded";
        assert_eq!(
            answered(Status::internal(message)),
            (Code::InvalidArgument, message.to_owned())
        );
        assert_eq!(
            answered(Status::internal("Unexpected EOF decoding stream.")).0,
            Code::InvalidArgument
        );
    }

    #[test]
    fn other_statuses_are_untouched() {
        for status in [
            Status::internal("internal error (reference 0f2c)"),
            Status::internal(
                "protocol error: received message with compressed-flag but no grpc-encoding was specified",
            ),
            Status::not_found("failed to decode Protobuf message: not ours to change"),
            Status::ok(""),
        ] {
            let code = status.code();
            assert_eq!(answered(status).0, code);
        }
    }
}
