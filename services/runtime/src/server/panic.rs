//! A handler that panics answers INTERNAL with a reference, like any other
//! internal failure, instead of tearing the HTTP/2 stream down (which the
//! caller sees as UNAVAILABLE and may retry against the same bug). The
//! panic is logged under that reference and counted in
//! `grpc_server_panics_total`, for an operator to alert on.

use std::{
    any::Any,
    panic::AssertUnwindSafe,
    pin::Pin,
    task::{Context, Poll},
};

use futures::FutureExt;
use tonic::body::Body;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl<S> tower::Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for CatchPanic<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        // The service may panic in `call` itself, before it returns a future.
        let call = match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(call) => call,
            Err(panic) => {
                let answer = answer_panic(&method, panic.as_ref());
                return Box::pin(std::future::ready(Ok(answer)));
            }
        };
        // A future that panicked is dropped, never polled again; nothing it
        // shared is used afterwards, so unwind safety is not at stake.
        Box::pin(async move {
            match AssertUnwindSafe(call).catch_unwind().await {
                Ok(answer) => answer,
                Err(panic) => Ok(answer_panic(&method, panic.as_ref())),
            }
        })
    }
}

fn answer_panic(method: &str, panic: &(dyn Any + Send)) -> http::Response<Body> {
    let reference = Uuid::new_v4();
    let cause = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)");
    tracing::error!(%reference, method, panic = cause, "handler panicked");
    crate::metrics::record_panic(method);
    crate::errors::opaque_internal(reference).into_http()
}
