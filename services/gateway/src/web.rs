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
//! - `GET /` is a small page that says the same and offers the login.
//!
//! Cookie-authenticated calls (these and gRPC-Web) are accepted only from
//! the gateway's own origin, so another site cannot act with them.
//! Everything else goes to the gRPC router (gRPC-Web translated first).

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
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tonic::{Code, service::interceptor::InterceptedService, transport::Channel};
use tower::Layer;

use crate::{
    GatewayError, client,
    limits::Bucket,
    proxy::{Gateway, Proxy},
};

/// The access token, for every path of the site.
pub const SESSION_COOKIE: &str = "asurso_access";
/// The refresh token, sent only to `/auth`.
pub const REFRESH_COOKIE: &str = "asurso_refresh";
/// The binding of a login in progress, sent only to `/auth/esia`.
pub const LOGIN_COOKIE: &str = "asurso_login";
/// Where to go after the login.
const RETURN_COOKIE: &str = "asurso_return";

/// Where the gateway is reached and how its cookies are set.
#[derive(Debug, Clone)]
pub struct Site {
    /// `https://dnevnik.example.ru`: what browsers send as `Origin`.
    origin: String,
    secure: bool,
}

impl Site {
    pub fn new(settings: &crate::WebSettings) -> Result<Self, GatewayError> {
        let url = settings.public_url.trim_end_matches('/');
        let invalid = |why: &str| GatewayError::Settings(format!("web.public_url: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("not an http(s) URL"))?;
        if scheme != "http" && scheme != "https" {
            return Err(invalid("not an http(s) URL"));
        }
        if rest.is_empty() || rest.contains('/') {
            return Err(invalid(
                "give the origin only, e.g. https://dnevnik.example.ru",
            ));
        }
        Ok(Self {
            origin: url.to_owned(),
            secure: settings.secure_cookies,
        })
    }

    /// Refuses a browser request another site made.
    pub fn same_origin(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("(unreadable)");
            if origin != self.origin {
                return Err(GatewayError::CrossSite(origin.to_owned()));
            }
        }
        if headers
            .get("sec-fetch-site")
            .is_some_and(|site| site == "cross-site")
        {
            return Err(GatewayError::CrossSite("another site".to_owned()));
        }
        Ok(())
    }

    fn cookie(&self, name: &str, value: &str, path: &str, same_site: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite={same_site}{secure}",
            max_age.max(0)
        )
    }
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The access token of a browser session.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

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
        .with_state(gateway)
        .fallback_service(grpc)
}

fn federation(gateway: &Gateway) -> FederationServiceClient<Traced> {
    FederationServiceClient::with_interceptor(gateway.identity.channel.clone(), propagate_trace)
}

fn auth(gateway: &Gateway) -> AuthServiceClient<Traced> {
    AuthServiceClient::with_interceptor(gateway.identity.channel.clone(), propagate_trace)
}

type Traced = InterceptedService<
    Channel,
    fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>,
>;

/// A page for people: the gateway's few words, escaped.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — АСУ РСО</title></head><body style=\"font-family: sans-serif; \
         max-width: 40em; margin: 2em auto; padding: 0 1em\"><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const START_AGAIN: &str = "<p><a href=\"/auth/esia/start\">Войти через Госуслуги ещё раз</a></p>";

fn throttled(error: &GatewayError) -> Response {
    let retry = match error {
        GatewayError::Throttled { retry_after, .. } => retry_after.as_secs().max(1),
        _ => 60,
    };
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        "Слишком много попыток входа",
        &format!("<p>С этого адреса слишком часто пытаются войти. Повторите через {retry} с.</p>"),
    );
    if let Ok(value) = HeaderValue::from_str(&retry.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn redirect(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to), (header::CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

/// Only a path of this site: never `//elsewhere` or `https://elsewhere`.
fn local_path(path: &str) -> Option<&str> {
    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 500
        && !path.chars().any(|c| c.is_control());
    safe.then_some(path)
}

/// Adds the client's address to a call to identity (its login audit).
fn from_client<T>(message: T, address: std::net::IpAddr) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = address.to_string().parse() {
        request.metadata_mut().insert("x-forwarded-for", value);
    }
    request
}

fn seconds_until(at: Option<&prost_types::Timestamp>) -> i64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    at.map_or(0, |at| at.seconds - now)
}

/// The cookies of an open session.
fn session_cookies(web: &Site, tokens: &pb::Tokens) -> Vec<String> {
    vec![
        web.cookie(
            SESSION_COOKIE,
            &tokens.access_token,
            "/",
            "Lax",
            seconds_until(tokens.access_expires_at.as_ref()),
        ),
        web.cookie(
            REFRESH_COOKIE,
            &tokens.refresh_token,
            "/auth",
            "Strict",
            seconds_until(tokens.refresh_expires_at.as_ref()),
        ),
    ]
}

fn cleared(web: &Site) -> Vec<String> {
    vec![
        web.cookie(SESSION_COOKIE, "", "/", "Lax", 0),
        web.cookie(REFRESH_COOKIE, "", "/auth", "Strict", 0),
    ]
}

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
        .start_login(from_client(pb::StartLoginRequest::default(), address))
        .await;
    match started {
        Ok(answer) => {
            let answer = answer.into_inner();
            let lifetime = seconds_until(answer.expires_at.as_ref());
            let web = &gateway.web;
            with_cookies(
                redirect(&answer.authorization_url),
                &[
                    web.cookie(
                        LOGIN_COOKIE,
                        &answer.browser_binding,
                        "/auth/esia",
                        "Lax",
                        lifetime,
                    ),
                    web.cookie(
                        RETURN_COOKIE,
                        &percent_encode(&return_to),
                        "/auth/esia",
                        "Lax",
                        lifetime,
                    ),
                ],
            )
        }
        Err(status) => refusal(&status),
    }
}

/// A refusal of identity's, for people.
fn refusal(status: &tonic::Status) -> Response {
    let (code, title) = match status.code() {
        Code::FailedPrecondition | Code::NotFound | Code::PermissionDenied => {
            (StatusCode::FORBIDDEN, "Войти не получилось")
        }
        Code::Unauthenticated | Code::InvalidArgument => {
            (StatusCode::BAD_REQUEST, "Вход не завершён")
        }
        Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "Слишком много попыток"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "Вход сейчас недоступен"),
    };
    page(
        code,
        title,
        &format!("<p>{}</p>{START_AGAIN}", escape(status.message())),
    )
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
        return page(
            StatusCode::BAD_REQUEST,
            "Вход не завершён",
            &format!("<p>Ответ Госуслуг не читается.</p>{START_AGAIN}"),
        );
    };
    if let Some(error) = callback.error {
        let reason = callback.error_description.unwrap_or(error);
        return page(
            StatusCode::BAD_REQUEST,
            "Вход через Госуслуги не завершён",
            &format!(
                "<p>Госуслуги ответили: {}</p>{START_AGAIN}",
                escape(&reason)
            ),
        );
    }
    let (Some(code), Some(state)) = (callback.code, callback.state) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Вход не завершён",
            &format!("<p>В ответе Госуслуг нет кода или state.</p>{START_AGAIN}"),
        );
    };
    let headers = request.headers();
    let Some(binding) = cookie(headers, LOGIN_COOKIE) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Вход не завершён",
            &format!(
                "<p>Вход начали в другом браузере, или он длился слишком долго. \
                 Начните его заново здесь.</p>{START_AGAIN}"
            ),
        );
    };
    let return_to = cookie(headers, RETURN_COOKIE)
        .map(|path| percent_decode(&path))
        .filter(|path| local_path(path).is_some())
        .unwrap_or_else(|| "/".to_owned());
    let completed = federation(&gateway)
        .complete_login(from_client(
            pb::CompleteLoginRequest {
                state,
                code,
                browser_binding: binding,
            },
            address,
        ))
        .await;
    let web = &gateway.web;
    let mut login_over = vec![
        web.cookie(LOGIN_COOKIE, "", "/auth/esia", "Lax", 0),
        web.cookie(RETURN_COOKIE, "", "/auth/esia", "Lax", 0),
    ];
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
    let Some(refresh_token) = cookie(request.headers(), REFRESH_COOKIE) else {
        return (StatusCode::UNAUTHORIZED, "no session: log in").into_response();
    };
    let renewed = auth(&gateway)
        .refresh(from_client(
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
        && let Some(refresh_token) = cookie(headers, REFRESH_COOKIE)
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
    if let Some(token) = token {
        let mut call = tonic::Request::new(pb::LogoutRequest {});
        if let Ok(value) = format!("Bearer {token}").parse() {
            call.metadata_mut().insert("authorization", value);
        }
        if let Err(status) = auth(&gateway).logout(call).await {
            tracing::info!(code = ?status.code(), "logout at identity refused; cookies cleared anyway");
        }
    }
    with_cookies(redirect("/"), &cleared(web))
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
        Ok((caller, _)) => page(
            StatusCode::OK,
            "Вы вошли",
            &format!(
                "<p>Роль: {}.</p><p>Дневник, расписание и отчёты доступны через API \
                 этого адреса (gRPC и gRPC-Web).</p>\
                 <form method=\"post\" action=\"/auth/logout\"><button>Выйти</button></form>",
                escape(role_name(caller.role))
            ),
        ),
        Err(_) => page(
            StatusCode::OK,
            "АСУ РСО",
            "<p>Электронный дневник и журнал.</p>\
             <p><a href=\"/auth/esia/start\">Войти через Госуслуги</a></p>",
        ),
    }
}

/// Enough of percent-encoding for a path kept in a cookie.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|b| char::from(*b).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match (bytes[index], hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push(high * 16 + low);
                index += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(url: &str) -> Result<Site, GatewayError> {
        Site::new(&crate::WebSettings {
            public_url: url.to_owned(),
            secure_cookies: true,
        })
    }

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        assert_eq!(local_path("/diary?week=1"), Some("/diary?week=1"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "diary",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        let path = "/дневник?a=1&b=2";
        assert_eq!(percent_decode(&percent_encode(path)), path);
    }

    #[test]
    fn requests_from_another_origin_are_refused() -> Result<(), GatewayError> {
        let web = web("https://dnevnik.example.ru/")?;
        let mut headers = HeaderMap::new();
        assert!(web.same_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://dnevnik.example.ru"),
        );
        assert!(web.same_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(matches!(
            web.same_origin(&headers),
            Err(GatewayError::CrossSite(_))
        ));
        Ok(())
    }

    #[test]
    fn a_public_url_with_a_path_is_refused() {
        let error = web("https://dnevnik.example.ru/app")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("web.public_url"), "{error}");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; asurso_access=tok.en; b="),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("tok.en"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_secure_when_asked() -> Result<(), GatewayError> {
        let cookie = web("https://dnevnik.example.ru")?.cookie("n", "v", "/", "Lax", 60);
        assert_eq!(
            cookie,
            "n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        Ok(())
    }
}
