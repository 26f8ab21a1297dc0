//! What the gateway lets through and what it refuses.

use asurso_identity::harness::{Bearer, identity_login, password_of};
use asurso_proto::{gradebook as gb, identity as pb};
use tonic::{
    Code, codegen::http::uri::PathAndQuery, service::interceptor::InterceptedService,
    transport::Endpoint,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

use crate::support::{Stack, assert_refused};

async fn login(stack: &Stack, login: &str) -> anyhow::Result<String> {
    let mut auth = pb::auth_service_client::AuthServiceClient::new(stack.channel().await?);
    let answer = auth
        .login(pb::LoginRequest {
            login: login.into(),
            password: password_of(login),
            grant_id: String::new(),
        })
        .await?
        .into_inner();
    Ok(answer.tokens.map(|t| t.access_token).unwrap_or_default())
}

fn week(student: &str) -> gb::GetDiaryWeekRequest {
    gb::GetDiaryWeekRequest {
        student_id: student.to_owned(),
        date: None,
    }
}

#[tokio::test]
async fn calls_need_a_token_except_the_ways_in() -> anyhow::Result<()> {
    let stack = Stack::start(|_| {}).await?;
    let mut diary =
        gb::diary_service_client::DiaryServiceClient::new(stack.with_token(None).await?);
    assert_refused(
        diary
            .get_diary_week(week(&uuid::Uuid::new_v4().to_string()))
            .await,
        Code::Unauthenticated,
        "no access token",
    );

    // The school admin logs in through the gateway, then reaches both
    // services with the token it gave.
    let token = login(&stack, "admin0").await?;
    let client = stack.with_token(Some(&token)).await?;
    let units = pb::org_service_client::OrgServiceClient::new(client.clone())
        .list_org_units(pb::ListOrgUnitsRequest {
            parent_id: stack.world.municipality.to_string(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(
        units
            .units
            .iter()
            .any(|unit| unit.id == stack.world.school_a.to_string()),
        "identity answered through the gateway: {units:?}"
    );
    let years = gb::calendar_service_client::CalendarServiceClient::new(client)
        .list_school_years(gb::ListSchoolYearsRequest {
            school_id: stack.world.school_a.to_string(),
        })
        .await;
    // The gradebook answered (it may not know the school yet, but the call
    // was its to answer, not the gateway's).
    if let Err(status) = &years {
        assert_ne!(status.code(), Code::Unauthenticated, "{status:?}");
        assert_ne!(status.code(), Code::PermissionDenied, "{status:?}");
        assert_ne!(status.code(), Code::Unimplemented, "{status:?}");
    }
    stack.stop().await
}

#[tokio::test]
async fn a_role_calls_only_what_its_row_of_the_table_allows() -> anyhow::Result<()> {
    let mut stack = Stack::start(|_| {}).await?;
    let world = &mut stack.world;
    let (token, _) = identity_login(
        &world.identity,
        &mut world.admin_a,
        world.school_a,
        pb::Role::Parent,
        "parent.table",
        71,
    )
    .await?;
    let mut journal = gb::journal_service_client::JournalServiceClient::new(
        stack.with_token(Some(&token)).await?,
    );
    assert_refused(
        journal.set_marks(gb::SetMarksRequest::default()).await,
        Code::PermissionDenied,
        "the parent role may not call asurso.gradebook.v1.JournalService/SetMarks",
    );
    // A row for everyone: the parent's own grants.
    let grants =
        pb::access_service_client::AccessServiceClient::new(stack.with_token(Some(&token)).await?)
            .list_grants(pb::ListGrantsRequest::default())
            .await?
            .into_inner();
    assert!(!grants.grants.is_empty());
    stack.stop().await
}

#[tokio::test]
async fn tampered_tokens_and_unknown_methods_are_refused() -> anyhow::Result<()> {
    let stack = Stack::start(|_| {}).await?;
    let token = login(&stack, "admin0").await?;
    // Another signature on the same claims.
    let (signed, signature) = token.rsplit_once('.').unwrap_or_default();
    let forged = format!("{signed}.{}", signature.chars().rev().collect::<String>());
    let mut org =
        pb::org_service_client::OrgServiceClient::new(stack.with_token(Some(&forged)).await?);
    let refused = org.list_org_units(pb::ListOrgUnitsRequest::default()).await;
    assert_eq!(
        refused.err().map(|status| status.code()),
        Some(Code::Unauthenticated)
    );

    // A path no contract has is not forwarded, whatever package it names.
    let mut grpc = tonic::client::Grpc::new(stack.with_token(Some(&token)).await?);
    for path in [
        "/asurso.gradebook.v1.DiaryService/DropEverything",
        "/asurso.events.v1.Anything/Publish",
        "/not-a-method",
    ] {
        grpc.ready().await?;
        let answer = grpc
            .unary(
                tonic::Request::new(()),
                PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::<(), ()>::default(),
            )
            .await;
        assert_eq!(
            answer.err().map(|status| status.code()),
            Some(Code::Unimplemented),
            "{path}"
        );
    }
    stack.stop().await
}

#[tokio::test]
async fn oversized_requests_and_login_floods_stop_at_the_gateway() -> anyhow::Result<()> {
    let stack = Stack::start(|settings| {
        settings.limits.max_request_bytes = 1024;
        settings.limits.login_burst = 3;
        settings.limits.login_per_minute = 2;
    })
    .await?;
    let mut auth = pb::auth_service_client::AuthServiceClient::new(stack.channel().await?);
    assert_refused(
        auth.login(pb::LoginRequest {
            login: "admin0".into(),
            password: "x".repeat(4000),
            grant_id: String::new(),
        })
        .await,
        Code::ResourceExhausted,
        "larger than 1024 bytes",
    );
    // The oversized attempt counted: two more wrong passwords reach identity,
    // then the address is told to wait.
    for _ in 0..2 {
        assert_refused(
            auth.login(pb::LoginRequest {
                login: "nobody".into(),
                password: "wrong-password".into(),
                grant_id: String::new(),
            })
            .await,
            Code::Unauthenticated,
            "",
        );
    }
    let throttled = auth
        .login(pb::LoginRequest {
            login: "admin0".into(),
            password: password_of("admin0"),
            grant_id: String::new(),
        })
        .await;
    match throttled {
        Err(status) => {
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            assert!(status.message().contains("too many login attempts"));
            let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
            assert!(retry.is_some_and(|d| d.as_secs() >= 1), "{retry:?}");
        }
        Ok(_) => panic!("the fourth login in a burst of three went through"),
    }
    stack.stop().await
}

#[tokio::test]
async fn health_and_reflection_describe_the_public_api() -> anyhow::Result<()> {
    let stack = Stack::start(|_| {}).await?;
    let mut health = HealthClient::new(stack.channel().await?);
    let overall = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(overall.status(), ServingStatus::Serving);
    // Each public service's health is its upstream's.
    asurso_testkit::eventually(std::time::Duration::from_secs(15), || {
        let mut health = health.clone();
        async move {
            let diary = health
                .check(HealthCheckRequest {
                    service: "asurso.gradebook.v1.DiaryService".into(),
                })
                .await;
            Ok(diary.is_ok_and(|answer| answer.get_ref().status() == ServingStatus::Serving))
        }
    })
    .await?;

    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(stack.channel().await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let names = match answers.message().await?.and_then(|a| a.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => list
            .service
            .into_iter()
            .map(|service| service.name)
            .collect::<Vec<_>>(),
        other => panic!("not a service list: {other:?}"),
    };
    for expected in [
        "asurso.gradebook.v1.DiaryService",
        "asurso.identity.v1.FederationService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|name| name == expected), "{names:?}");
    }
    stack.stop().await
}

/// A gRPC-Web frame of a message.
fn grpc_web_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// The grpc-status of a gRPC-Web answer: in the headers (an error without
/// a message) or in the trailer frame.
async fn grpc_web_status(response: reqwest::Response) -> anyhow::Result<(String, Vec<u8>)> {
    if let Some(status) = response.headers().get("grpc-status") {
        return Ok((status.to_str()?.to_owned(), Vec::new()));
    }
    let body = response.bytes().await?.to_vec();
    let text = String::from_utf8_lossy(&body).into_owned();
    let status = text
        .split("grpc-status:")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .unwrap_or("(none)")
        .trim()
        .to_owned();
    Ok((status, body))
}

#[tokio::test]
async fn browsers_call_over_grpc_web_but_not_from_another_site() -> anyhow::Result<()> {
    let stack = Stack::start(|_| {}).await?;
    let http = reqwest::Client::new();
    let jwks = http
        .post(format!(
            "{}/asurso.identity.v1.AuthService/GetJwks",
            stack.gateway
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(grpc_web_frame(&[]))
        .send()
        .await?;
    assert_eq!(jwks.status(), reqwest::StatusCode::OK);
    let (status, body) = grpc_web_status(jwks).await?;
    assert_eq!(status, "0");
    assert!(
        String::from_utf8_lossy(&body).contains("Ed25519"),
        "the keys came back over HTTP/1.1"
    );

    // The session cookie from another site's page is refused.
    let token = login(&stack, "admin0").await?;
    let units = prost::Message::encode_to_vec(&pb::ListOrgUnitsRequest {
        parent_id: stack.world.municipality.to_string(),
        ..Default::default()
    });
    let from_elsewhere = http
        .post(format!(
            "{}/asurso.identity.v1.OrgService/ListOrgUnits",
            stack.gateway
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("origin", "https://evil.example")
        .header("cookie", format!("asurso_access={token}"))
        .body(grpc_web_frame(&units))
        .send()
        .await?;
    assert_eq!(grpc_web_status(from_elsewhere).await?.0, "7");
    // The same cookie from the gateway's own pages works.
    let from_here = http
        .post(format!(
            "{}/asurso.identity.v1.OrgService/ListOrgUnits",
            stack.gateway
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("origin", &stack.gateway)
        .header("cookie", format!("asurso_access={token}"))
        .body(grpc_web_frame(&units))
        .send()
        .await?;
    assert_eq!(grpc_web_status(from_here).await?.0, "0");
    stack.stop().await
}

#[tokio::test]
async fn a_refusal_naming_hundreds_of_rows_reaches_a_client_with_an_8_kib_header_limit()
-> anyhow::Result<()> {
    let stack = Stack::start(|_| {}).await?;
    let token = login(&stack, "admin0").await?;
    // grpc-java's and grpc-core's limit: a status in a larger header block
    // never reaches such a client, which reports UNAVAILABLE instead.
    let channel = Endpoint::from_shared(stack.gateway.clone())?
        .http2_max_header_list_size(8 * 1024)
        .connect()
        .await?;
    let bearer = Bearer::new(&token)?;
    let mut people = pb::people_service_client::PeopleServiceClient::new(InterceptedService::new(
        channel, bearer,
    ));

    // A school's file of 300 rows, each with its role and birth date wrong:
    // identity reports the first 200 problems and how many it left out.
    let mut csv =
        "role,last_name,first_name,middle_name,birth_date,snils,email,phone,child_snils\n"
            .to_owned();
    for _ in 0..300 {
        csv.push_str("pupil,Орлов,Иван,,2013-13-01,,,,\n");
    }
    let status = people
        .import_people(pb::ImportPeopleRequest {
            school_id: stack.world.school_a.to_string(),
            csv: csv.into_bytes(),
            idempotency_key: String::new(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a file of bad rows was imported"))?;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // The first problems are named, the rest counted.
    let message = status.message();
    assert!(
        message.starts_with(
            "row 2: role: must be student, parent, teacher or school_admin; row 2: birth_date: "
        ),
        "{message}"
    );
    let more: usize = message
        .rsplit_once("… and ")
        .and_then(|(_, rest)| rest.strip_suffix(" more"))
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    assert!(more >= 150, "{message}");
    let fields: Vec<String> = status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert!((1..=20).contains(&fields.len()), "{fields:?}");
    assert_eq!(fields.first().map(String::as_str), Some("row 2: role"));
    stack.stop().await
}

#[tokio::test]
async fn malformed_grpc_web_requests_are_invalid_argument() -> anyhow::Result<()> {
    let stack = Stack::start(|_| {}).await?;
    let http = reqwest::Client::new();
    let call = |path: &str, content_type: &'static str, body: Vec<u8>| {
        http.post(format!("{}/{path}", stack.gateway))
            .header("content-type", content_type)
            .header("x-grpc-web", "1")
            .body(body)
            .send()
    };
    let binary = "application/grpc-web+proto";
    let text = "application/grpc-web-text";

    // A frame that says 10 bytes follow, and ends after 3: refused at the
    // gateway.
    let truncated = call(
        "asurso.identity.v1.AuthService/GetJwks",
        binary,
        vec![0, 0, 0, 0, 10, 1, 2, 3],
    )
    .await?;
    let (status, body) = grpc_web_status(truncated).await?;
    assert_eq!(status, "3", "{}", String::from_utf8_lossy(&body));

    // A whole frame whose message identity cannot decode: the login (a
    // string) is not UTF-8.
    let not_utf8 = call(
        "asurso.identity.v1.AuthService/Login",
        binary,
        grpc_web_frame(&[0x0a, 0x02, 0xff, 0xfe]),
    )
    .await?;
    let (status, body) = grpc_web_status(not_utf8).await?;
    assert_eq!(status, "3", "{}", String::from_utf8_lossy(&body));

    // A text body that is not base64, to a service and to the gateway's own
    // health.
    for path in [
        "asurso.identity.v1.AuthService/GetJwks",
        "grpc.health.v1.Health/Check",
    ] {
        let not_base64 = call(path, text, b"!!!!not-base64!!".to_vec()).await?;
        let (status, body) = grpc_web_status(not_base64).await?;
        assert_eq!(status, "3", "{path}: {}", String::from_utf8_lossy(&body));
    }

    // A truncated message to the gateway's own health service.
    let truncated_message = call(
        "grpc.health.v1.Health/Check",
        binary,
        grpc_web_frame(&[0x0a, 0x05, b'a']),
    )
    .await?;
    let (status, body) = grpc_web_status(truncated_message).await?;
    assert_eq!(status, "3", "{}", String::from_utf8_lossy(&body));

    // Well formed, the same call is answered.
    let jwks = call(
        "asurso.identity.v1.AuthService/GetJwks",
        binary,
        grpc_web_frame(&[]),
    )
    .await?;
    assert_eq!(grpc_web_status(jwks).await?.0, "0");
    stack.stop().await
}
