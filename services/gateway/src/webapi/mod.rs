//! The NetSchool-compatible `/webapi`: the JSON surface of «Сетевой Город.
//! Образование» that parents' apps, bots and scripts speak, served on the
//! gateway's public address so they work against ASU RSO unchanged.
//!
//! Nothing here keeps data of the services: each request becomes calls of
//! our services with the caller's own token (their rules decide what the
//! caller sees), and the answers are turned into the JSON the apps read.
//! What is this layer's own is the integer ids the apps know things by
//! ([`ids`], its own database) and the apps' login: the salted-md5 scheme,
//! answered by identity's app passwords only, so a region's ESIA-only
//! policy holds; and the apps' sessions ([`sessions`]: header `at` or
//! cookie `NSSESSIONID`, behind which stands identity's access token, also
//! checked with identity to still stand, since a logout or a revoked app
//! password must end it before the token runs out).
//!
//! - [`login`]: `logindata`, `auth/getdata`, `login`, `auth/logout`;
//! - [`diary`]: the student context, the diary, overdue work, assignments
//!   and their files, the bell schedule;
//! - [`board`]: schools and their cards, announcements;
//! - [`mail`]: the mailbox, with files uploaded first ([`uploads`]).

mod board;
mod diary;
mod format;
pub mod ids;
mod login;
mod mail;
mod sessions;
mod uploads;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use asurso_proto::{gradebook as gb, identity as pb, messaging as msg};
use asurso_runtime::{auth::Caller, telemetry::propagate_trace};
use axum::{
    Json, Router,
    extract::Request,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tonic::{Code, service::interceptor::InterceptedService, transport::Channel};

use crate::{
    GatewayError, client,
    limits::Bucket,
    proxy::Gateway,
    routing::IDENTITY_PACKAGE,
    web::{Traced, cookie, with_cookies},
};

pub use ids::Ids;
use sessions::Sessions;

/// The session cookie NetSchool's server sets; apps send it back.
const SESSION_COOKIE: &str = "NSSESSIONID";
/// How long a session is believed to stand after identity last said so.
const LIVENESS: Duration = Duration::from_secs(10);
/// Sessions remembered as standing; past this the memory starts again.
const LIVENESS_LIMIT: usize = 100_000;
/// What the apps wait for a request; our calls take no longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A refusal in the apps' terms: a status and a message in Russian.
#[derive(Debug, thiserror::Error)]
pub enum WebApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A refused login: the apps sort the message by its words.
    #[error("{0}")]
    Login(String),
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after: Duration,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<sqlx::Error> for WebApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(%error, "webapi: its database is out of reach");
                Self::Unavailable("Сервис временно недоступен, повторите чуть позже".to_owned())
            }
            other => Self::Internal(format!("the webapi database: {other}")),
        }
    }
}

impl From<GatewayError> for WebApiError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::Throttled { retry_after, .. } => Self::Throttled {
                message: format!(
                    "Слишком много запросов: повторите через {} с",
                    retry_after.as_secs().max(1)
                ),
                retry_after,
            },
            GatewayError::Auth(_) => Self::Unauthorized(SESSION_OVER.to_owned()),
            other => Self::Internal(other.to_string()),
        }
    }
}

const SESSION_OVER: &str = "Сессия завершена или не найдена: войдите снова";

impl From<tonic::Status> for WebApiError {
    fn from(status: tonic::Status) -> Self {
        let said = status.message();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                Self::BadRequest(format!("Неверный запрос: {said}"))
            }
            Code::Unauthenticated => Self::Unauthorized(SESSION_OVER.to_owned()),
            Code::PermissionDenied => Self::Forbidden(format!("Нет доступа: {said}")),
            Code::NotFound => Self::NotFound(format!("Не найдено: {said}")),
            Code::ResourceExhausted => Self::Throttled {
                message: format!("Слишком много запросов: {said}"),
                retry_after: Duration::from_secs(60),
            },
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                Self::Unavailable("Сервис временно недоступен, повторите чуть позже".to_owned())
            }
            _ => Self::Internal(format!("{:?}: {said}", status.code())),
        }
    }
}

#[derive(serde::Serialize)]
struct Refusal<'a> {
    message: &'a str,
}

impl IntoResponse for WebApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Login(_) => StatusCode::CONFLICT,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "webapi request failed");
                "Внутренняя ошибка сервера"
            }
            Self::Unavailable(message) => {
                tracing::warn!(%message, "webapi: a service is unavailable");
                message.as_str()
            }
            other => match other {
                Self::BadRequest(message)
                | Self::Unauthorized(message)
                | Self::Forbidden(message)
                | Self::NotFound(message)
                | Self::Login(message)
                | Self::Throttled { message, .. } => message.as_str(),
                Self::Unavailable(_) | Self::Internal(_) => "",
            },
        };
        let mut response = (status, Json(Refusal { message })).into_response();
        if let Self::Throttled { retry_after, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub type Answer = Result<Response, WebApiError>;

/// The `/webapi` layer's state, beside the gateway's.
pub struct WebApi {
    gateway: Arc<Gateway>,
    ids: Ids,
    sessions: Sessions,
    /// Session id → when identity last said it stands.
    standing: Mutex<HashMap<uuid::Uuid, Instant>>,
    /// The schools' list (every login looks its school up in it).
    schools: board::SchoolList,
}

/// The routes under `/webapi`, on their own database (migrated).
pub fn router(gateway: Arc<Gateway>, pool: sqlx::PgPool) -> Router {
    let state = Arc::new(WebApi {
        gateway,
        ids: Ids::new(pool.clone()),
        sessions: Sessions::new(pool),
        standing: Mutex::new(HashMap::new()),
        schools: board::SchoolList::default(),
    });
    Router::new()
        .route("/logindata", get(login::login_data))
        .route("/auth/getdata", post(login::get_data))
        .route("/login", post(login::login))
        .route("/auth/logout", post(login::logout))
        .route("/schools/search", get(board::search))
        .route("/schools/{id}/card", get(board::card))
        .route("/announcements", get(board::announcements))
        .route("/student/diary/init", get(diary::init))
        .route("/years/current", get(diary::current_year))
        .route("/years", get(diary::years))
        .route("/context", get(diary::context))
        .route("/grade/assignment/types", get(diary::types))
        .route("/student/diary", get(diary::diary))
        .route("/student/diary/pastMandatory", get(diary::past_mandatory))
        .route("/student/diary/assigns/{id}", get(diary::assignment))
        .route("/student/diary/get-attachments", post(diary::attachments))
        .route("/attachments/{id}", get(diary::download))
        .route("/schedule/times", get(diary::bell_times))
        .route("/mail/registry", post(mail::registry))
        .route("/mail/messages/unread", get(mail::unread))
        .route("/mail/messages/{id}/read", get(mail::read))
        .route("/mail/recipients", get(mail::recipients))
        .route("/mail/messages", post(mail::send))
        .route(
            "/attachments",
            post(uploads::upload).layer(axum::extract::DefaultBodyLimit::max(
                uploads::MAX_LETTER_FILES_BYTES + 64 * 1024,
            )),
        )
        .fallback(unknown)
        .method_not_allowed_fallback(unknown)
        .with_state(state)
}

async fn unknown(request: Request) -> WebApiError {
    WebApiError::NotFound(format!(
        "{} {}: такого метода нет",
        request.method(),
        request.uri().path()
    ))
}

/// A logged-in app: who, its `at`, the token it acts with, from where.
pub struct Session {
    pub caller: Caller,
    pub at: String,
    pub token: String,
    pub address: IpAddr,
}

impl WebApi {
    fn channel(&self, package: &str) -> Result<Channel, WebApiError> {
        self.gateway
            .upstreams
            .of(package)
            .map(|upstream| upstream.channel.clone())
            .ok_or_else(|| WebApiError::Internal(format!("routes: no upstream serves {package}")))
    }

    fn traced(&self, package: &str) -> Result<Traced, WebApiError> {
        Ok(InterceptedService::new(
            self.channel(package)?,
            propagate_trace as fn(_) -> _,
        ))
    }

    fn identity(&self) -> Result<Traced, WebApiError> {
        self.traced(IDENTITY_PACKAGE)
    }

    fn gradebook(&self) -> Result<Traced, WebApiError> {
        self.traced("asurso.gradebook.v1")
    }

    fn messaging(&self) -> Result<Traced, WebApiError> {
        self.traced("asurso.messaging.v1")
    }

    pub fn auth(&self) -> Result<pb::auth_service_client::AuthServiceClient<Traced>, WebApiError> {
        Ok(pb::auth_service_client::AuthServiceClient::new(
            self.identity()?,
        ))
    }

    pub fn app_passwords(
        &self,
    ) -> Result<pb::app_password_service_client::AppPasswordServiceClient<Traced>, WebApiError>
    {
        Ok(pb::app_password_service_client::AppPasswordServiceClient::new(self.identity()?))
    }

    pub fn org(&self) -> Result<pb::org_service_client::OrgServiceClient<Traced>, WebApiError> {
        Ok(pb::org_service_client::OrgServiceClient::new(
            self.identity()?,
        ))
    }

    pub fn people(
        &self,
    ) -> Result<pb::people_service_client::PeopleServiceClient<Traced>, WebApiError> {
        Ok(pb::people_service_client::PeopleServiceClient::new(
            self.identity()?,
        ))
    }

    pub fn diary(
        &self,
    ) -> Result<gb::diary_service_client::DiaryServiceClient<Traced>, WebApiError> {
        Ok(gb::diary_service_client::DiaryServiceClient::new(
            self.gradebook()?,
        ))
    }

    pub fn journal(
        &self,
    ) -> Result<gb::journal_service_client::JournalServiceClient<Traced>, WebApiError> {
        Ok(gb::journal_service_client::JournalServiceClient::new(
            self.gradebook()?,
        ))
    }

    pub fn calendar(
        &self,
    ) -> Result<gb::calendar_service_client::CalendarServiceClient<Traced>, WebApiError> {
        Ok(gb::calendar_service_client::CalendarServiceClient::new(
            self.gradebook()?,
        ))
    }

    pub fn timetable(
        &self,
    ) -> Result<gb::timetable_service_client::TimetableServiceClient<Traced>, WebApiError> {
        Ok(gb::timetable_service_client::TimetableServiceClient::new(
            self.gradebook()?,
        ))
    }

    pub fn mail(&self) -> Result<msg::mail_service_client::MailServiceClient<Traced>, WebApiError> {
        Ok(msg::mail_service_client::MailServiceClient::new(
            self.messaging()?,
        ))
    }

    pub fn board(
        &self,
    ) -> Result<msg::announcement_service_client::AnnouncementServiceClient<Traced>, WebApiError>
    {
        Ok(msg::announcement_service_client::AnnouncementServiceClient::new(self.messaging()?))
    }

    /// The client's address (a trusted balancer's `X-Forwarded-For`).
    pub fn address(&self, request: &Request) -> IpAddr {
        client::address(request, &self.gateway.trusted)
    }

    /// Spends one of the address's login attempts.
    pub fn login_attempt(&self, address: IpAddr) -> Result<(), WebApiError> {
        Ok(self.gateway.limits.check(Bucket::Login(address))?)
    }

    /// Spends one of the address's calls without a session.
    pub fn anonymous_call(&self, address: IpAddr) -> Result<(), WebApiError> {
        Ok(self.gateway.limits.check(Bucket::Anonymous(address))?)
    }

    /// The app's session: its token verified, its rate, and identity's word
    /// (at most [`LIVENESS`] old) that it still stands.
    pub fn session(
        &self,
        request: &Request,
    ) -> impl Future<Output = Result<Session, WebApiError>> + Send + '_ {
        // Read before the first await: a request's body is not `Sync`.
        let address = self.address(request);
        let headers = request.headers();
        let at = session_key(headers);
        // A session carried by the cookie alone acts only from this site
        // (or from no site: apps send no Origin) when it changes anything.
        let cross_site = header_key(headers).is_none()
            && !request.method().is_safe()
            && self.gateway.web.same_origin(headers).is_err();
        async move {
            if cross_site {
                return Err(WebApiError::Forbidden(
                    "Запрос с другого сайта с cookie сессии отклонён".to_owned(),
                ));
            }
            self.open_session(address, at).await
        }
    }

    async fn open_session(
        &self,
        address: IpAddr,
        at: Option<String>,
    ) -> Result<Session, WebApiError> {
        let held = match at {
            Some(at) => self.sessions.find(&at).await?.map(|held| (at, held)),
            None => None,
        };
        let Some((at, held)) = held else {
            // Unknown keys cost the address: guessing is slow.
            self.anonymous_call(address)?;
            return Err(WebApiError::Unauthorized(SESSION_OVER.to_owned()));
        };
        if held.expires <= time::OffsetDateTime::now_utc() {
            self.sessions.forget_held(&at);
            return Err(WebApiError::Unauthorized(SESSION_OVER.to_owned()));
        }
        let token = held.token;
        let caller = match self.gateway.verifier.verify(&token).await {
            Ok(caller) if caller.person_id == held.person => caller,
            Ok(_) => return Err(WebApiError::Unauthorized(SESSION_OVER.to_owned())),
            Err(error) => {
                self.sessions.forget_held(&at);
                // Refused tokens cost the address: guessing is slow.
                self.anonymous_call(address)?;
                tracing::debug!(%error, "webapi session refused");
                return Err(WebApiError::Unauthorized(SESSION_OVER.to_owned()));
            }
        };
        self.gateway
            .limits
            .check(Bucket::Session(caller.session_id))?;
        let span = tracing::Span::current();
        span.record("enduser.id", tracing::field::display(caller.person_id));
        let session = Session {
            caller,
            at,
            token,
            address,
        };
        self.ensure_standing(&session).await?;
        Ok(session)
    }

    async fn ensure_standing(&self, session: &Session) -> Result<(), WebApiError> {
        let id = session.caller.session_id;
        let fresh = self
            .standing
            .lock()
            .ok()
            .and_then(|standing| standing.get(&id).copied())
            .is_some_and(|checked| checked.elapsed() < LIVENESS);
        if fresh {
            return Ok(());
        }
        match self
            .auth()?
            .check_session(session.call(pb::CheckSessionRequest {}))
            .await
        {
            Ok(_) => {
                if let Ok(mut standing) = self.standing.lock() {
                    if standing.len() >= LIVENESS_LIMIT {
                        standing.retain(|_, checked| checked.elapsed() < LIVENESS);
                        if standing.len() >= LIVENESS_LIMIT {
                            standing.clear();
                        }
                    }
                    standing.insert(id, Instant::now());
                }
                Ok(())
            }
            Err(status) if status.code() == Code::Unauthenticated => {
                // Ended at identity (a logout, a revoked app password): the
                // key is gone for good, never renewed by a later login.
                self.forget(id);
                self.sessions.end(&session.at).await?;
                Err(WebApiError::Unauthorized(SESSION_OVER.to_owned()))
            }
            Err(status) => Err(status.into()),
        }
    }

    fn forget(&self, session: uuid::Uuid) {
        if let Ok(mut standing) = self.standing.lock() {
            standing.remove(&session);
        }
    }
}

impl Session {
    /// A call of our services as this session's caller.
    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        client::with_bearer(anonymous_call(message, self.address), &self.token)
    }
}

/// Walks a paged list from its first page until `limit` items or its last
/// page: `page(request)` is one call, answering the items and the page
/// that follows. At most `limit` items.
pub async fn all_pages<T, F, Fut>(limit: usize, mut page: F) -> Result<Vec<T>, WebApiError>
where
    F: FnMut(asurso_proto::common::PageRequest) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<asurso_proto::common::PageResponse>), WebApiError>>,
{
    let mut found = Vec::new();
    let mut token = String::new();
    // A page of nothing that names a next one must not go round for ever.
    for _ in 0..limit.div_ceil(500).max(1) + 1 {
        let (items, next) = page(asurso_proto::common::PageRequest {
            page_size: 500,
            page_token: token.clone(),
        })
        .await?;
        let empty = items.is_empty();
        found.extend(items);
        let next = next.map(|next| next.next_page_token).unwrap_or_default();
        if next.is_empty() || next == token || empty || found.len() >= limit {
            break;
        }
        token = next;
    }
    found.truncate(limit);
    Ok(found)
}

/// A file as the apps list it.
pub fn file_json(number: i64, name: &str) -> serde_json::Value {
    serde_json::json!({
        "id": number,
        "name": name,
        "originalFileName": name,
        "description": null,
    })
}

/// The key of a file reached through what carries it (an announcement's,
/// a letter's): a forward shares its original's files.
pub fn owned_key(owner: &str, file: &str) -> String {
    format!("{owner}/{file}")
}

/// A call of our services without a caller (a login, the schools' list).
pub fn anonymous_call<T>(message: T, address: IpAddr) -> tonic::Request<T> {
    let mut request = client::on_behalf_of(message, address);
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// The app's session key: the `at` header, else the session cookie.
fn session_key(headers: &HeaderMap) -> Option<String> {
    header_key(headers).or_else(|| cookie(headers, SESSION_COOKIE))
}

fn header_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("at")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

/// JSON with the session's key in the `at` header, as NetSchool answers.
pub fn json_with_token<T: serde::Serialize>(session: &Session, body: &T) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&session.at) {
        response.headers_mut().insert("at", value);
    }
    response
}

/// Sets (or with an empty value clears) the session cookie.
fn with_session_cookie(
    gateway: &Gateway,
    response: Response,
    value: &str,
    max_age: i64,
) -> Response {
    with_cookies(
        response,
        &[gateway
            .web
            .cookie(SESSION_COOKIE, value, "/webapi", "Strict", max_age)],
    )
}
