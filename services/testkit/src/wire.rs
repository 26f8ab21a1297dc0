//! gRPC as bytes on the wire, for tests that send what no well-behaved
//! client would: a frame cut short, two messages in a unary call, no or an
//! odd content type.

use http_body_util::BodyExt;
use tower::{Service, ServiceExt};

/// One gRPC frame: uncompressed, its length, the message.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(message);
    frame
}

/// Sends `body` (gRPC frames, well formed or not) to `path` on the server
/// at `address` over HTTP/2, with `content_type` (or none), and returns the
/// status it answered with.
pub async fn raw_call(
    address: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<tonic::Status> {
    let mut channel = tonic::transport::Channel::from_shared(address.to_owned())?
        .connect()
        .await?;
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("{address}{path}"))
        .header(http::header::TE, "trailers");
    if let Some(content_type) = content_type {
        request = request.header(http::header::CONTENT_TYPE, content_type);
    }
    let request = request.body(tonic::body::Body::new(http_body_util::Full::new(
        bytes::Bytes::from(body),
    )))?;
    let response = channel.ready().await?.call(request).await?;
    let (parts, body) = response.into_parts();
    // An error before any message comes in the headers (trailers-only).
    if let Some(status) = tonic::Status::from_header_map(&parts.headers) {
        return Ok(status);
    }
    let trailers = body.collect().await?.trailers().cloned();
    trailers
        .as_ref()
        .and_then(tonic::Status::from_header_map)
        .ok_or_else(|| anyhow::anyhow!("no grpc-status in the answer"))
}

/// The fields a refusal names (its google.rpc.BadRequest detail).
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
