//! Call deadlines: a call runs for at most the client's `grpc-timeout` and
//! never longer than the server's own limit. When time runs out the handler
//! is dropped (its work stops) and the client gets DEADLINE_EXCEEDED, as the
//! gRPC spec asks (tonic's own timeout answers CANCELLED).

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::time::Instant;

use tonic::{Status, body::Body};

/// When the current call must be answered: handlers pass what is left of it
/// on to the calls they make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallDeadline(pub Instant);

impl CallDeadline {
    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    max: Duration,
}

impl DeadlineLayer {
    pub fn new(max: Duration) -> Self {
        Self { max }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            max: self.max,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    max: Duration,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Deadline<S>
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

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // Taken out so tonic's own timeout (which would answer CANCELLED)
        // stays out of the way; handlers find the deadline as an extension.
        let limit = request
            .headers_mut()
            .remove("grpc-timeout")
            .and_then(|value| value.to_str().ok().and_then(parse_grpc_timeout))
            .map_or(self.max, |asked| asked.min(self.max));
        request
            .extensions_mut()
            .insert(CallDeadline(Instant::now() + limit));
        let method = request.uri().path().to_owned();
        let started = std::time::Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let answer = match tokio::time::timeout(limit, call).await {
                Ok(answer) => answer,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "the call did not finish within its deadline of {limit:?}"
                ))
                .into_http()),
            };
            // Errors of unary calls come in the headers (trailers-only); a
            // success sends its status in the trailers: counted as OK.
            if let Ok(response) = &answer {
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("0");
                crate::metrics::record_call(&method, code, started);
            }
            answer
        })
    }
}

/// `grpc-timeout`: at most 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit_at = value.len().checked_sub(1)?;
    if !value.is_char_boundary(unit_at) {
        return None;
    }
    let (digits, unit) = value.split_at(unit_at);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_by_the_spec() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "123456789S", "12x", "1.5S", "-1S", "1é", "é"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
