//! Text from outside never carries a NUL character.
//!
//! Protobuf strings may hold U+0000, PostgreSQL text may not: a login, a
//! comment or an idempotency key with one reached the database and came
//! back INTERNAL. Every service stores text, so the check stands once, in
//! front of each service's handlers: the request is read against its
//! method's contract and a string field holding NUL is refused with the
//! field's path (`marks[2].comment`), before any handler or query runs.
//! A request that does not decode goes on to tonic, which refuses it
//! ([`super::MalformedRequestLayer`]).

use std::{
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll},
};

use http_body_util::{BodyExt, Full, Limited};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};
use tonic::{body::Body, server::NamedService};

use crate::errors::{FieldViolation, invalid_argument};

/// The contracts every service is built from.
static CONTRACTS: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(asurso_proto::FILE_DESCRIPTOR_SET).ok());

/// The largest request read for the check: tonic's own limit on a decoded
/// message, plus its frame header. A larger one goes on unread, and tonic
/// refuses it.
const MAX_CHECKED_BYTES: usize = 4 * 1024 * 1024 + 5;

/// Wraps one service's handlers.
#[derive(Debug, Clone)]
pub struct NoNulInText<S> {
    inner: S,
}

impl<S> NoNulInText<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for NoNulInText<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for NoNulInText<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The service polled ready is the one that takes the call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(input) = input_of(&request) else {
            return Box::pin(inner.call(request));
        };
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, MAX_CHECKED_BYTES).collect().await {
                Ok(collected) => collected.to_bytes(),
                // Too large, or the body broke off: tonic answers either
                // from what is left.
                Err(_) => {
                    return inner
                        .call(http::Request::from_parts(parts, Body::empty()))
                        .await;
                }
            };
            if let Some(violation) = nul_in_frame(&bytes, &input) {
                return Ok(invalid_argument(vec![violation]).into_http());
            }
            let request = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
            inner.call(request).await
        })
    }
}

/// The input message of a gRPC call to one of the contracts' methods.
fn input_of(request: &http::Request<Body>) -> Option<MessageDescriptor> {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value == "application/grpc" || value.starts_with("application/grpc+proto")
        });
    if !grpc {
        return None;
    }
    let (service, method) = request.uri().path().strip_prefix('/')?.split_once('/')?;
    let pool = CONTRACTS.as_ref()?;
    let method = pool
        .get_service_by_name(service)?
        .methods()
        .find(|candidate| candidate.name() == method)?;
    Some(method.input())
}

/// The first string field holding NUL in the unary request `frame`: one
/// uncompressed gRPC message. Anything else is for tonic to judge.
fn nul_in_frame(frame: &[u8], input: &MessageDescriptor) -> Option<FieldViolation> {
    let (&[flag, a, b, c, d], message) = frame.split_first_chunk::<5>()?;
    let length = usize::try_from(u32::from_be_bytes([a, b, c, d])).ok()?;
    if flag != 0 || message.len() != length {
        return None;
    }
    let decoded = DynamicMessage::decode(input.clone(), message).ok()?;
    nul_in_message(&decoded, "")
        .map(|field| FieldViolation::new(field, "must not contain a NUL character (U+0000)"))
}

fn nul_in_message(message: &DynamicMessage, prefix: &str) -> Option<String> {
    message.fields().find_map(|(field, value)| {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        nul_in_value(value, &path)
    })
}

fn nul_in_value(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(path.to_owned()),
        Value::Message(message) => nul_in_message(message, path),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_in_value(item, &format!("{path}[{index}]"))),
        Value::Map(entries) => entries.iter().find_map(|(key, item)| {
            let key_text = match key {
                prost_reflect::MapKey::String(text) if text.contains('\0') => {
                    return Some(format!("{path} (a key)"));
                }
                prost_reflect::MapKey::String(text) => text.clone(),
                other => format!("{other:?}"),
            };
            nul_in_value(item, &format!("{path}[{key_text}]"))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn frame(message: &[u8]) -> Vec<u8> {
        let mut frame = vec![0];
        frame.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
        frame.extend_from_slice(message);
        frame
    }

    fn login_request() -> Option<MessageDescriptor> {
        CONTRACTS
            .as_ref()?
            .get_message_by_name("asurso.identity.v1.LoginRequest")
    }

    #[test]
    fn a_nul_in_a_string_is_named_by_its_field() {
        let Some(input) = login_request() else {
            panic!("the contracts have LoginRequest");
        };
        let request = asurso_proto::identity::LoginRequest {
            login: "teacher\0".into(),
            password: "secret".into(),
            grant_id: String::new(),
        };
        let violation = nul_in_frame(&frame(&request.encode_to_vec()), &input);
        assert_eq!(violation.map(|v| v.field), Some("login".to_owned()));
    }

    #[test]
    fn a_nul_deep_in_a_list_is_named_with_its_index() {
        let Some(input) = CONTRACTS
            .as_ref()
            .and_then(|pool| pool.get_message_by_name("asurso.gradebook.v1.SetMarksRequest"))
        else {
            panic!("the contracts have SetMarksRequest");
        };
        let entry = |comment: &str| asurso_proto::gradebook::MarkEntry {
            student_id: "s".into(),
            value: None,
            comment: comment.into(),
        };
        let request = asurso_proto::gradebook::SetMarksRequest {
            assignment_id: "a".into(),
            marks: vec![entry("хорошо"), entry("bad\0comment")],
            idempotency_key: String::new(),
        };
        let violation = nul_in_frame(&frame(&request.encode_to_vec()), &input);
        assert_eq!(
            violation.map(|v| v.field),
            Some("marks[1].comment".to_owned())
        );
    }

    #[test]
    fn clean_text_and_undecodable_frames_pass_on() {
        let Some(input) = login_request() else {
            panic!("the contracts have LoginRequest");
        };
        let request = asurso_proto::identity::LoginRequest {
            login: "Учитель".into(),
            password: "pass word".into(),
            grant_id: String::new(),
        };
        assert!(nul_in_frame(&frame(&request.encode_to_vec()), &input).is_none());
        // Truncated, compressed, or not a frame at all: tonic's to refuse.
        let whole = frame(&request.encode_to_vec());
        assert!(nul_in_frame(&whole[..whole.len() - 2], &input).is_none());
        let mut compressed = whole.clone();
        compressed[0] = 1;
        assert!(nul_in_frame(&compressed, &input).is_none());
        assert!(nul_in_frame(&[0, 0], &input).is_none());
    }
}
