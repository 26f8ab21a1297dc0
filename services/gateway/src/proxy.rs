//! The forwarding of one call: place it in the tables, check the caller,
//! the rate and the size, then pass it on to its service with the caller's
//! token, the trace context and what is left of the deadline.

use std::{
    convert::Infallible,
    net::IpAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use asurso_runtime::{
    auth::{AuthError, Caller, IdentityKeys, Verifier, bearer_in_headers, role_name},
    server::CallDeadline,
    telemetry,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use http_body_util::{BodyExt, Full, Limited};
use tonic::body::Body;
use tower::ServiceExt;
use tracing::Instrument;

use crate::{
    GatewayError,
    client::{self, TrustedProxies},
    limits::{Bucket, Limits},
    policy::{Access, Policy},
    routing::{MethodPath, Upstream, Upstreams},
    web,
};

/// Everything the gateway knows, shared by every call.
pub struct Gateway {
    pub upstreams: Upstreams,
    /// The upstream that owns identity's package.
    pub identity: Upstream,
    pub verifier: Verifier<IdentityKeys>,
    pub policy: Policy,
    pub limits: Limits,
    pub trusted: TrustedProxies,
    pub max_request_bytes: usize,
    pub max_upload_bytes: usize,
    pub web: web::Site,
}

/// Headers a client may not send on: they describe one hop, or they are
/// ours to set.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "cookie",
    "x-forwarded-for",
    "traceparent",
    "tracestate",
    "grpc-timeout",
];

impl Gateway {
    /// The caller of a request: the bearer token, or in a browser the
    /// session cookie (then only from our own pages).
    pub async fn caller(&self, headers: &HeaderMap) -> Result<(Caller, String), GatewayError> {
        let token = match bearer_in_headers(headers) {
            Ok(token) => token.to_owned(),
            Err(AuthError::Missing) => {
                let token = web::session_token(headers).ok_or(AuthError::Missing)?;
                self.web.same_origin(headers)?;
                token
            }
            Err(error) => return Err(error.into()),
        };
        let caller = self.verifier.verify(&token).await?;
        Ok((caller, token))
    }

    async fn forward(
        self: Arc<Self>,
        request: http::Request<axum::body::Body>,
    ) -> Result<http::Response<Body>, GatewayError> {
        let path = request.uri().path().to_owned();
        let method =
            MethodPath::parse(&path).ok_or_else(|| GatewayError::NotAMethod(path.clone()))?;
        let upstream = self
            .upstreams
            .of(method.package)
            .ok_or_else(|| GatewayError::UnknownMethod(path.clone()))?;
        let rule = self
            .policy
            .rule(method.service, method.method)
            .ok_or_else(|| GatewayError::UnknownMethod(path.clone()))?;
        let address = client::address(&request, &self.trusted);

        let token = match rule.access {
            Access::Login => {
                self.limits.check(Bucket::Login(address))?;
                None
            }
            Access::Public => {
                self.limits.check(Bucket::Anonymous(address))?;
                None
            }
            Access::Roles(roles) => {
                let (caller, token) = match self.caller(request.headers()).await {
                    Ok(found) => found,
                    Err(error) => {
                        // Refused tokens cost the address: guessing is slow.
                        self.limits.check(Bucket::Anonymous(address))?;
                        return Err(error);
                    }
                };
                let span = tracing::Span::current();
                span.record("enduser.id", tracing::field::display(caller.person_id));
                span.record("enduser.role", role_name(caller.role));
                self.limits.check(Bucket::Session(caller.session_id))?;
                if !roles.contains(&caller.role) {
                    return Err(GatewayError::RoleRefused {
                        role: role_name(caller.role),
                        method: format!("{}/{}", method.service, method.method),
                    });
                }
                Some(token)
            }
        };

        let limit = if rule.upload {
            self.max_upload_bytes
        } else {
            self.max_request_bytes
        };
        let (parts, body) = request.into_parts();
        if let Some(length) = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok())
            && length > limit
        {
            return Err(GatewayError::TooLarge { limit });
        }
        // Every call of the API is unary: the whole message is read here,
        // at most `limit` bytes, so a service never sees an oversized or a
        // trickling request.
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    GatewayError::TooLarge { limit }
                } else {
                    GatewayError::Body(error.to_string())
                }
            })?
            .to_bytes();
        check_frames(&body)?;

        let upstream_request = outgoing(parts, body, token.as_deref(), address)?;
        let channel = upstream.channel.clone();
        let unavailable = |cause: String| GatewayError::Upstream {
            upstream: upstream.name.clone(),
            cause,
        };
        let ready = channel
            .ready_oneshot()
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        ready
            .oneshot(upstream_request)
            .await
            .map_err(|error| unavailable(error.to_string()))
    }
}

/// Refuses a body that is not whole gRPC frames (a flag byte, 0 or 1, a
/// length, that many bytes): the caller's mistake, answered here as
/// INVALID_ARGUMENT. A gRPC-Web body arrives here already translated (and
/// a gRPC-Web text body decoded from base64), so both kinds are checked.
/// Whether the messages inside decode is the service's to say.
fn check_frames(mut body: &[u8]) -> Result<(), GatewayError> {
    while !body.is_empty() {
        let Some(([flag, length @ ..], rest)) = body.split_first_chunk::<5>() else {
            return Err(GatewayError::MalformedFrame(
                "the body ends inside a frame's header",
            ));
        };
        if *flag > 1 {
            return Err(GatewayError::MalformedFrame(
                "a frame's flag byte is neither 0 nor 1",
            ));
        }
        let length = usize::try_from(u32::from_be_bytes(*length)).unwrap_or(usize::MAX);
        let Some((_, after)) = rest.split_at_checked(length) else {
            return Err(GatewayError::MalformedFrame(
                "the body ends before the length its frame gives",
            ));
        };
        body = after;
    }
    Ok(())
}

/// The request as the service receives it.
fn outgoing(
    parts: http::request::Parts,
    body: Bytes,
    token: Option<&str>,
    address: IpAddr,
) -> Result<http::Request<Body>, GatewayError> {
    let mut headers = HeaderMap::with_capacity(parts.headers.len() + 4);
    for (name, value) in &parts.headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| GatewayError::Auth(AuthError::Malformed))?;
        headers.insert(header::AUTHORIZATION, value);
    }
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    if let Ok(value) = HeaderValue::from_str(&address.to_string()) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    // What is left of this call's time goes on with it.
    if let Some(deadline) = parts.extensions.get::<CallDeadline>() {
        let millis = deadline.remaining().as_millis().clamp(1, 99_999_999);
        if let Ok(value) = HeaderValue::from_str(&format!("{millis}m")) {
            headers.insert(HeaderName::from_static("grpc-timeout"), value);
        }
    }
    let mut pairs = telemetry::Pairs::default();
    telemetry::inject_current(&mut pairs);
    for (key, value) in pairs.0 {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }

    let mut request = http::Request::new(Body::new(Full::new(body)));
    *request.method_mut() = parts.method;
    *request.uri_mut() = parts.uri;
    *request.version_mut() = http::Version::HTTP_2;
    *request.headers_mut() = headers;
    Ok(request)
}

/// The forwarding as a service: the fallback of the gateway's router.
#[derive(Clone)]
pub struct Proxy(pub Arc<Gateway>);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<axum::body::Body>> for Proxy {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<axum::body::Body>) -> Self::Future {
        let gateway = Arc::clone(&self.0);
        Box::pin(
            async move {
                Ok(match gateway.forward(request).await {
                    Ok(response) => response,
                    Err(error) => {
                        tracing::debug!(%error, "call refused");
                        tonic::Status::from(error).into_http()
                    }
                })
            }
            .in_current_span(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_grpc_frames_are_forwarded() {
        for whole in [
            &[][..],
            &[0, 0, 0, 0, 0],
            &[0, 0, 0, 0, 2, 0x08, 0x01],
            &[1, 0, 0, 0, 1, 0xff, 0, 0, 0, 0, 0],
        ] {
            assert!(check_frames(whole).is_ok(), "{whole:?}");
        }
        for broken in [
            &[0, 0, 0][..],
            &[0, 0, 0, 0, 10, 0x08, 0x01],
            &[7, 0, 0, 0, 0],
            &[0, 0, 0, 0, 0, 0],
            &[0, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(
                matches!(check_frames(broken), Err(GatewayError::MalformedFrame(_))),
                "{broken:?}"
            );
        }
    }
}
