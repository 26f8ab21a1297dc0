//! The gRPC server: health, reflection, deadlines and a graceful stop; a
//! panicking handler and a malformed request still get a gRPC status.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use asurso_runtime::{Shutdown, server::GrpcServer, settings::GrpcSettings};
use asurso_testkit::wire::{frame, raw_call};
use futures::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

fn settings() -> GrpcSettings {
    GrpcSettings {
        host: [127, 0, 0, 1].into(),
        port: 0,
        max_call_duration: Duration::from_secs(2),
        shutdown_grace: Duration::from_secs(2),
    }
}

/// A test service with one unary method that sleeps as long as asked.
#[derive(Clone)]
struct Sleeper;

impl tonic::server::NamedService for Sleeper {
    const NAME: &'static str = "asurso.test.v1.Sleeper";
}

impl tower::Service<http::Request<tonic::body::Body>> for Sleeper {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let sleep = tower::service_fn(
            |request: tonic::Request<prost_types::Duration>| async move {
                let asked = request.into_inner();
                let asked = Duration::new(
                    u64::try_from(asked.seconds).unwrap_or(0),
                    u32::try_from(asked.nanos).unwrap_or(0),
                );
                tokio::time::sleep(asked).await;
                Ok::<_, tonic::Status>(tonic::Response::new(()))
            },
        );
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                (),
                prost_types::Duration,
            >::default());
            Ok(grpc.unary(sleep, request).await)
        })
    }
}

/// A test service whose one method has a bug: it panics on a negative
/// duration, and answers any other.
#[derive(Clone)]
struct Fragile;

impl tonic::server::NamedService for Fragile {
    const NAME: &'static str = "asurso.test.v1.Fragile";
}

impl tower::Service<http::Request<tonic::body::Body>> for Fragile {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let handle = tower::service_fn(
            |request: tonic::Request<prost_types::Duration>| async move {
                if request.get_ref().seconds < 0 {
                    panic!("a negative duration reached the handler");
                }
                Ok::<_, tonic::Status>(tonic::Response::new(()))
            },
        );
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                (),
                prost_types::Duration,
            >::default());
            Ok(grpc.unary(handle, request).await)
        })
    }
}

/// Calls Fragile.Call with `seconds` on `channel`.
async fn fragile_call(
    channel: tonic::transport::Channel,
    seconds: i64,
) -> anyhow::Result<Result<(), tonic::Status>> {
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await?;
    let answer = client
        .unary(
            tonic::Request::new(prost_types::Duration { seconds, nanos: 0 }),
            http::uri::PathAndQuery::from_static("/asurso.test.v1.Fragile/Call"),
            tonic_prost::ProstCodec::<prost_types::Duration, ()>::default(),
        )
        .await;
    Ok(answer.map(|_| ()))
}

/// Calls Sleeper.Sleep for `asked`, with an optional client deadline.
async fn sleep_call(
    address: &str,
    asked: Duration,
    deadline: Option<Duration>,
) -> anyhow::Result<Result<(), tonic::Status>> {
    let mut client = tonic::client::Grpc::new(channel(address).await?);
    client.ready().await?;
    let mut request = tonic::Request::new(prost_types::Duration {
        seconds: i64::try_from(asked.as_secs())?,
        nanos: i32::try_from(asked.subsec_nanos())?,
    });
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    let answer = client
        .unary(
            request,
            http::uri::PathAndQuery::from_static("/asurso.test.v1.Sleeper/Sleep"),
            tonic_prost::ProstCodec::<prost_types::Duration, ()>::default(),
        )
        .await;
    Ok(answer.map(|_| ()))
}

/// The content type of a gRPC call.
const GRPC: Option<&str> = Some("application/grpc");

async fn channel(address: &str) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Channel::from_shared(address.to_owned())?
        .connect()
        .await?)
}

async fn started() -> anyhow::Result<(String, Shutdown, tokio::task::JoinHandle<()>)> {
    let server = GrpcServer::bind(&settings())
        .await?
        .add_service(Sleeper)
        .add_service(Fragile);
    let address = format!("http://{}", server.local_addr());
    let shutdown = Shutdown::new();
    let serving = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if let Err(error) = server.serve(shutdown).await {
                panic!("server failed: {error}");
            }
        }
    });
    Ok((address, shutdown, serving))
}

#[tokio::test]
async fn health_answers_serving_then_not_serving_on_shutdown() -> anyhow::Result<()> {
    let (address, shutdown, serving) = started().await?;
    let mut health = HealthClient::new(channel(&address).await?);
    let answer = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    assert_eq!(answer.get_ref().status(), ServingStatus::Serving);

    // A watcher sees the server go NOT_SERVING the moment shutdown starts.
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    let first = watch.next().await.transpose()?.map(|r| r.status());
    assert_eq!(first, Some(ServingStatus::Serving));
    let stopping = Instant::now();
    shutdown.trigger();
    let next = watch.next().await.transpose()?.map(|r| r.status());
    assert_eq!(next, Some(ServingStatus::NotServing));

    // The open watch stream cannot hold the server past its grace period.
    drop(watch);
    serving.await?;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "took {:?}",
        stopping.elapsed()
    );
    assert!(
        channel(&address).await.is_err(),
        "still accepting connections"
    );
    Ok(())
}

#[tokio::test]
async fn reflection_lists_the_services() -> anyhow::Result<()> {
    let (address, shutdown, serving) = started().await?;
    let mut reflection = ServerReflectionClient::new(channel(&address).await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = answers
        .next()
        .await
        .transpose()?
        .and_then(|answer| answer.message_response)
    else {
        anyhow::bail!("no list of services");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.reflection.v1.ServerReflection".to_owned()),
        "{names:?}"
    );
    shutdown.trigger();
    serving.await?;
    Ok(())
}

#[tokio::test]
async fn a_call_past_its_deadline_is_cut_off_with_deadline_exceeded() -> anyhow::Result<()> {
    let (address, shutdown, serving) = started().await?;

    // The client asks for 200 ms. A tonic client also gives up by itself
    // (CANCELLED); either way the call ends at its deadline.
    let started_at = Instant::now();
    let asked = Some(Duration::from_millis(200));
    let answer = sleep_call(&address, Duration::from_secs(10), asked).await?;
    let status = answer.err().map(|status| status.code());
    assert!(
        matches!(
            status,
            Some(tonic::Code::DeadlineExceeded | tonic::Code::Cancelled)
        ),
        "{status:?}"
    );
    assert!(
        started_at.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started_at.elapsed()
    );

    // Without a client deadline the server's own limit (2 s here) cuts the
    // call off, and says so with DEADLINE_EXCEEDED.
    let started_at = Instant::now();
    let answer = sleep_call(&address, Duration::from_secs(10), None).await?;
    assert_eq!(
        answer.err().map(|status| status.code()),
        Some(tonic::Code::DeadlineExceeded)
    );
    let took = started_at.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "took {took:?}"
    );

    // A call within its deadline is untouched.
    sleep_call(
        &address,
        Duration::from_millis(10),
        Some(Duration::from_secs(1)),
    )
    .await??;
    shutdown.trigger();
    serving.await?;
    Ok(())
}

#[tokio::test]
async fn shutdown_lets_in_flight_calls_finish_and_refuses_new_ones() -> anyhow::Result<()> {
    let (address, shutdown, serving) = started().await?;
    let in_flight = tokio::spawn({
        let address = address.clone();
        async move { sleep_call(&address, Duration::from_millis(700), None).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        channel(&address).await.is_err(),
        "a new connection was accepted while stopping"
    );
    in_flight.await???;
    serving.await?;
    Ok(())
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_with_a_reference_and_is_counted() -> anyhow::Result<()>
{
    // Metrics go to a recorder of this test's own (the test runs on one
    // thread, the server's tasks with it).
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let (address, shutdown, serving) = started().await?;
    let channel = channel(&address).await?;

    let panicked = fragile_call(channel.clone(), -1).await?;
    let status = panicked
        .err()
        .ok_or_else(|| anyhow::anyhow!("the bug answered OK"))?;
    assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
    let reference = status
        .message()
        .strip_prefix("internal error (reference ")
        .and_then(|rest| rest.strip_suffix(')'))
        .map(uuid::Uuid::parse_str);
    assert!(
        matches!(reference, Some(Ok(_))),
        "no reference in {:?}",
        status.message()
    );
    assert!(
        !status.message().contains("negative duration"),
        "the panic's words reached the caller: {:?}",
        status.message()
    );

    // The same connection serves the next call.
    fragile_call(channel.clone(), 1).await??;

    let page = metrics.render();
    assert!(
        page.contains(r#"grpc_server_panics_total{method="/asurso.test.v1.Fragile/Call"} 1"#),
        "{page}"
    );
    assert!(
        page.contains(
            r#"grpc_server_handled_total{method="/asurso.test.v1.Fragile/Call",code="13"} 1"#
        ),
        "{page}"
    );
    assert!(
        page.contains(
            r#"grpc_server_handled_total{method="/asurso.test.v1.Fragile/Call",code="0"} 1"#
        ),
        "{page}"
    );
    shutdown.trigger();
    serving.await?;
    Ok(())
}

#[tokio::test]
async fn a_request_that_cannot_be_decoded_is_invalid_argument() -> anyhow::Result<()> {
    let (address, shutdown, serving) = started().await?;
    let check = "/grpc.health.v1.Health/Check";
    // HealthCheckRequest.service (field 1, a string) holding bytes that
    // are not UTF-8.
    let not_utf8 = raw_call(&address, check, GRPC, frame(&[0x0a, 0x02, 0xff, 0xfe])).await?;
    assert_eq!(
        not_utf8.code(),
        tonic::Code::InvalidArgument,
        "{not_utf8:?}"
    );
    assert!(not_utf8.message().contains("UTF-8"), "{not_utf8:?}");

    // The string says it has 5 bytes; the message ends after one.
    let truncated_message = raw_call(&address, check, GRPC, frame(&[0x0a, 0x05, b'a'])).await?;
    assert_eq!(
        truncated_message.code(),
        tonic::Code::InvalidArgument,
        "{truncated_message:?}"
    );

    // The frame says 10 bytes follow; the body ends after 3.
    let truncated_frame = raw_call(
        &address,
        check,
        GRPC,
        vec![0, 0, 0, 0, 10, 0x0a, 0x01, b'a'],
    )
    .await?;
    assert_eq!(
        truncated_frame.code(),
        tonic::Code::InvalidArgument,
        "{truncated_frame:?}"
    );

    // A flag byte that is neither "plain" nor "compressed".
    let mut bad_flag = frame(&[]);
    bad_flag[0] = 7;
    let bad_flag = raw_call(&address, check, GRPC, bad_flag).await?;
    assert_eq!(
        bad_flag.code(),
        tonic::Code::InvalidArgument,
        "{bad_flag:?}"
    );

    // A well-formed request to the same method is answered as before.
    let well_formed = raw_call(&address, check, GRPC, frame(&[])).await?;
    assert_eq!(well_formed.code(), tonic::Code::Ok, "{well_formed:?}");
    shutdown.trigger();
    serving.await?;
    Ok(())
}
