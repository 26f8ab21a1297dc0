//! Text from outside never carries a NUL character.
//!
//! Protobuf strings may hold U+0000, PostgreSQL text may not: a login, a
//! comment or an idempotency key with one reached the database and came
//! back INTERNAL. Every service stores text, so the check stands once, in
//! front of each service's handlers: the request is read against its
//! method's contract and a string field holding NUL is refused with the
//! field's path (`marks[2].comment`), before any handler or query runs.
//! The method is found by the path alone (tonic serves a call whatever its
//! content type says), every message of the body is read (tonic would
//! decode the first and drop the rest, so a unary call carrying more than
//! one is refused), and a message that does not decode goes on to tonic,
//! which refuses it ([`super::MalformedRequestLayer`]).

use std::{
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll},
};

use http_body_util::{BodyExt, Full, Limited};
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};
use tonic::{Status, body::Body, server::NamedService};

use crate::errors::{FieldViolation, invalid_argument};

/// The contracts every service is built from.
static CONTRACTS: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(asurso_proto::FILE_DESCRIPTOR_SET).ok());

/// The largest request a service takes: tonic's own limit on a decoded
/// message, plus its frame header.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024 + 5;

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
        let Some(method) = method_of(&request) else {
            return Box::pin(inner.call(request));
        };
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                    return Ok(Status::resource_exhausted(format!(
                        "request: larger than {} MiB",
                        MAX_REQUEST_BYTES / (1024 * 1024)
                    ))
                    .into_http());
                }
                Err(_) => {
                    return Ok(Status::invalid_argument("request: the body broke off").into_http());
                }
            };
            if let Some(refusal) = refusal(&bytes, &method) {
                return Ok(refusal.into_http());
            }
            let request = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
            inner.call(request).await
        })
    }
}

/// The contracts' method a call's path names.
fn method_of(request: &http::Request<Body>) -> Option<MethodDescriptor> {
    let (service, method) = request.uri().path().strip_prefix('/')?.split_once('/')?;
    CONTRACTS
        .as_ref()?
        .get_service_by_name(service)?
        .methods()
        .find(|candidate| candidate.name() == method)
}

/// Why the request `body` (gRPC frames) is refused before its handler: a
/// second message in a unary call, or a string holding NUL in any message.
/// A frame that is cut short, compressed or does not decode is for tonic
/// to judge.
fn refusal(body: &[u8], method: &MethodDescriptor) -> Option<Status> {
    let input = method.input();
    let mut rest = body;
    let mut messages = 0_usize;
    while let Some((&[flag, a, b, c, d], after_header)) = rest.split_first_chunk::<5>() {
        let length = usize::try_from(u32::from_be_bytes([a, b, c, d])).ok()?;
        let (message, after) = after_header.split_at_checked(length)?;
        messages += 1;
        if messages > 1 && !method.is_client_streaming() {
            return Some(Status::invalid_argument(
                "request: a unary call carries exactly one message",
            ));
        }
        if flag == 0
            && let Ok(decoded) = DynamicMessage::decode(input.clone(), message)
            && let Some(field) = nul_in_message(&decoded, "")
        {
            return Some(invalid_argument(vec![FieldViolation::new(
                field,
                "must not contain a NUL character (U+0000)",
            )]));
        }
        rest = after;
    }
    None
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
    use tonic::Code;

    use super::*;

    fn frame(message: &[u8]) -> Vec<u8> {
        let mut frame = vec![0];
        frame.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
        frame.extend_from_slice(message);
        frame
    }

    fn method(service: &str, name: &str) -> MethodDescriptor {
        let found = CONTRACTS
            .as_ref()
            .and_then(|pool| pool.get_service_by_name(service))
            .and_then(|service| service.methods().find(|m| m.name() == name));
        match found {
            Some(method) => method,
            None => panic!("the contracts have {service}/{name}"),
        }
    }

    fn login() -> MethodDescriptor {
        method("asurso.identity.v1.AuthService", "Login")
    }

    fn login_request(login: &str) -> Vec<u8> {
        asurso_proto::identity::LoginRequest {
            login: login.into(),
            password: "secret".into(),
            grant_id: String::new(),
        }
        .encode_to_vec()
    }

    fn refused_field(refusal: Option<Status>) -> Option<String> {
        let status = refusal?;
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        Some(status.message().split(':').next()?.to_owned())
    }

    #[test]
    fn a_nul_in_a_string_is_named_by_its_field() {
        let refusal = refusal(&frame(&login_request("teacher\0")), &login());
        assert_eq!(refused_field(refusal), Some("login".to_owned()));
    }

    #[test]
    fn a_nul_deep_in_a_list_is_named_with_its_index() {
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
        let refusal = refusal(
            &frame(&request.encode_to_vec()),
            &method("asurso.gradebook.v1.JournalService", "SetMarks"),
        );
        assert_eq!(refused_field(refusal), Some("marks[1].comment".to_owned()));
    }

    #[test]
    fn a_second_message_cannot_smuggle_past_the_check() {
        // tonic decodes the first message of a unary call and drops the
        // rest: a clean first message must not carry a second one in.
        let mut body = frame(&login_request("teacher"));
        body.extend(frame(&login_request("teacher\0")));
        let status = refusal(&body, &login());
        assert_eq!(status.map(|s| s.code()), Some(Code::InvalidArgument));
        let mut body = frame(&login_request("teacher"));
        body.extend(frame(&[]));
        assert!(
            refusal(&body, &login()).is_some(),
            "an empty second frame too"
        );
    }

    #[test]
    fn clean_text_and_undecodable_frames_pass_on() {
        let whole = frame(&login_request("Учитель"));
        assert!(refusal(&whole, &login()).is_none());
        // Truncated, compressed, or not a frame at all: tonic's to refuse.
        assert!(refusal(&whole[..whole.len() - 2], &login()).is_none());
        let mut compressed = frame(&login_request("teacher\0"));
        compressed[0] = 1;
        assert!(refusal(&compressed, &login()).is_none());
        assert!(refusal(&[0, 0], &login()).is_none());
        assert!(refusal(&frame(&[0xff, 0xff]), &login()).is_none());
    }
}
