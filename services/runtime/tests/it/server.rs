//! The gRPC server: health, reflection, and a graceful stop.

use std::time::{Duration, Instant};

use asurso_runtime::{Shutdown, server::GrpcServer, settings::GrpcSettings};
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
        max_call_duration: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(2),
    }
}

async fn channel(address: &str) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Channel::from_shared(address.to_owned())?
        .connect()
        .await?)
}

async fn started() -> anyhow::Result<(String, Shutdown, tokio::task::JoinHandle<()>)> {
    let server = GrpcServer::bind(&settings()).await?;
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
