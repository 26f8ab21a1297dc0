//! The browser's side of the gateway, over plain HTTP beside gRPC:
//!
//! - `GET /auth/esia/start` asks identity to start an ESIA login, keeps the
//!   login's browser binding in an HttpOnly cookie and sends the browser to
//!   ESIA;
//! - `GET /auth/esia/callback` finishes it with the code, the state and that
//!   cookie, and opens the session: the access token in an HttpOnly cookie
//!   for the whole site, the refresh token in one only `/auth` sees;
//! - `POST /auth/refresh` renews the pair, `POST /auth/logout` ends the
//!   session at identity and clears the cookies, `GET /auth/session` says
//!   who is logged in;
//! - `GET /` is a small page that says the same and offers the login;
//! - `/apps`: a parent's or student's app passwords for the NetSchool apps
//!   (`/webapi`): made, shown once, revoked.
//!
//! Cookie-authenticated calls (these and gRPC-Web) are accepted only from
//! the gateway's own origin, so another site cannot act with them.
//! Everything else goes to the gRPC router (gRPC-Web translated first).
//!
//! This module routes and orchestrates; the cookies, the pages and the
//! encoding of what crosses into them live in its submodules.

mod apps;
mod cookies;
pub(crate) mod encoding;
mod pages;

use std::{collections::HashMap, sync::Arc};

use asurso_proto::identity::{
    self as pb, auth_service_client::AuthServiceClient,
    federation_service_client::FederationServiceClient,
};
use asurso_runtime::{auth::role_name, telemetry::propagate_trace};
use axum::{
    Json, Router,
    extract::{Query, Request, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::{HeaderMap, StatusCode};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use tower::Layer;

pub(crate) use self::cookies::with_cookies;
pub use self::cookies::{
    LOGIN_COOKIE, REFRESH_COOKIE, SESSION_COOKIE, Site, cookie, session_token,
};
use self::{
    cookies::{
        cleared, login_binding, login_cookies, login_ended, refresh_token, return_path,
        session_cookies,
    },
    encoding::local_path,
    pages::{redirect, refusal, throttled},
};
use crate::{
    client,
    limits::Bucket,
    proxy::{Gateway, Proxy},
};

/// The gateway's whole router: these pages, then gRPC and gRPC-Web.
pub fn router(gateway: Arc<Gateway>, grpc: Router) -> Router {
    let grpc = grpc.fallback_service(Proxy(Arc::clone(&gateway)));
    let grpc = tonic_web::GrpcWebLayer::new().layer(grpc);
    Router::new()
        .route("/", get(home))
        .route("/auth/esia/start", get(start))
        .route("/auth/esia/callback", get(callback))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/session", get(session))
        .route("/apps", get(apps::list).post(apps::create))
        .route("/apps/{id}/revoke", post(apps::revoke))
        .with_state(gateway)
        .fallback_service(grpc)
}

fn federation(gateway: &Gateway) -> FederationServiceClient<Traced> {
    FederationServiceClient::with_interceptor(gateway.identity.channel.clone(), propagate_trace)
}

fn auth(gateway: &Gateway) -> AuthServiceClient<Traced> {
    AuthServiceClient::with_interceptor(gateway.identity.channel.clone(), propagate_trace)
}

pub(crate) type Traced = InterceptedService<
    Channel,
    fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>,
>;

async fn start(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let address = client::address(&request, &gateway.trusted);
    if let Err(error) = gateway.limits.check(Bucket::Login(address)) {
        return throttled(&error);
    }
    let query: HashMap<String, String> = Query::try_from_uri(request.uri())
        .map(|Query(query)| query)
        .unwrap_or_default();
    let return_to = query
        .get("return_to")
        .and_then(|path| local_path(path))
        .unwrap_or("/")
        .to_owned();
    let started = federation(&gateway)
        .start_login(client::on_behalf_of(
            pb::StartLoginRequest::default(),
            address,
        ))
        .await;
    match started {
        Ok(answer) => {
            let answer = answer.into_inner();
            with_cookies(
                redirect(&answer.authorization_url),
                &login_cookies(
                    &gateway.web,
                    &answer.browser_binding,
                    &return_to,
                    answer.expires_at.as_ref(),
                ),
            )
        }
        Err(status) => refusal(&status),
    }
}

#[derive(Debug, serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let address = client::address(&request, &gateway.trusted);
    if let Err(error) = gateway.limits.check(Bucket::Login(address)) {
        return throttled(&error);
    }
    let Ok(Query(callback)) = Query::<Callback>::try_from_uri(request.uri()) else {
        return pages::unreadable_callback();
    };
    if let Some(error) = callback.error {
        let reason = callback.error_description.unwrap_or(error);
        return pages::declined_at_esia(&reason);
    }
    let (Some(code), Some(state)) = (callback.code, callback.state) else {
        return pages::incomplete_callback();
    };
    let headers = request.headers();
    let Some(binding) = login_binding(headers) else {
        return pages::started_elsewhere();
    };
    let return_to = return_path(headers);
    let completed = federation(&gateway)
        .complete_login(client::on_behalf_of(
            pb::CompleteLoginRequest {
                state,
                code,
                browser_binding: binding,
            },
            address,
        ))
        .await;
    let web = &gateway.web;
    let mut login_over = login_ended(web);
    match completed {
        Ok(answer) => {
            let answer = answer.into_inner();
            let Some(tokens) = answer.tokens.as_ref() else {
                return with_cookies(refusal(&tonic::Status::internal("no tokens")), &login_over);
            };
            login_over.extend(session_cookies(web, tokens));
            with_cookies(redirect(&return_to), &login_over)
        }
        Err(status) => with_cookies(refusal(&status), &login_over),
    }
}

async fn refresh(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let web = &gateway.web;
    let address = client::address(&request, &gateway.trusted);
    if let Err(error) = web.same_origin(request.headers()) {
        return (StatusCode::FORBIDDEN, error.to_string()).into_response();
    }
    if let Err(error) = gateway.limits.check(Bucket::Anonymous(address)) {
        return (StatusCode::TOO_MANY_REQUESTS, error.to_string()).into_response();
    }
    let Some(refresh_token) = refresh_token(request.headers()) else {
        return (StatusCode::UNAUTHORIZED, "no session: log in").into_response();
    };
    let renewed = auth(&gateway)
        .refresh(client::on_behalf_of(
            pb::RefreshRequest {
                refresh_token,
                grant_id: String::new(),
            },
            address,
        ))
        .await;
    match renewed.map(|answer| answer.into_inner().tokens) {
        Ok(Some(tokens)) => with_cookies(
            StatusCode::NO_CONTENT.into_response(),
            &session_cookies(web, &tokens),
        ),
        Ok(None) | Err(_) => with_cookies(
            (
                StatusCode::UNAUTHORIZED,
                "the session has ended: log in again",
            )
                .into_response(),
            &cleared(web),
        ),
    }
}

async fn logout(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let web = &gateway.web;
    if let Err(error) = web.same_origin(request.headers()) {
        return (StatusCode::FORBIDDEN, error.to_string()).into_response();
    }
    let headers = request.headers();
    let mut token = session_token(headers);
    // An access token that has run out still ends its session: renew it
    // once, then log out with the new one.
    if gateway
        .verifier
        .verify(token.as_deref().unwrap_or(""))
        .await
        .is_err()
        && let Some(refresh_token) = refresh_token(headers)
    {
        token = auth(&gateway)
            .refresh(pb::RefreshRequest {
                refresh_token,
                grant_id: String::new(),
            })
            .await
            .ok()
            .and_then(|answer| answer.into_inner().tokens)
            .map(|tokens| tokens.access_token);
    }
    let mut next = "/".to_owned();
    if let Some(token) = token {
        let call = client::with_bearer(tonic::Request::new(pb::LogoutRequest {}), &token);
        match auth(&gateway).logout(call).await {
            // The provider's session ends too (ESIA's logout), when the
            // region asked for it; the provider sends the browser back.
            Ok(answer) if !answer.get_ref().provider_logout_url.is_empty() => {
                next = answer.into_inner().provider_logout_url;
            }
            Ok(_) => {}
            Err(status) => {
                tracing::info!(code = ?status.code(), "logout at identity refused; cookies cleared anyway");
            }
        }
    }
    with_cookies(redirect(&next), &cleared(web))
}

#[derive(Debug, serde::Serialize)]
struct SessionView {
    person_id: String,
    session_id: String,
    role: &'static str,
    org_unit_id: String,
}

async fn session(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    match gateway.caller(&headers).await {
        Ok((caller, _)) => Json(SessionView {
            person_id: caller.person_id.to_string(),
            session_id: caller.session_id.to_string(),
            role: role_name(caller.role),
            org_unit_id: caller.org_unit_id.to_string(),
        })
        .into_response(),
        Err(error) => (StatusCode::UNAUTHORIZED, error.to_string()).into_response(),
    }
}

async fn home(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    match gateway.caller(&headers).await {
        Ok((caller, _)) => pages::logged_in(role_name(caller.role)),
        Err(_) => pages::welcome(),
    }
}
