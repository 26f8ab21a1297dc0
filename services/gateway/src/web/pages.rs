//! The pages people see at the gateway, and their words: the home page, and
//! why a login did not finish with the way to start it again. Whatever came
//! from elsewhere (ESIA's reason, identity's message) is escaped.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tonic::Code;

use super::encoding::escape;
use crate::GatewayError;

/// A page for people: the gateway's few words, escaped.
pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
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

const START_AGAIN: &str = "<p><a href=\"/auth/esia/start\">Войти через Госуслуги ещё раз</a></p>";

pub(super) fn redirect(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to), (header::CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

/// Too many logins from one address: when to try again.
pub(super) fn throttled(error: &GatewayError) -> Response {
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

/// A refusal of identity's, for people.
pub(super) fn refusal(status: &tonic::Status) -> Response {
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

/// ESIA's answer came back without a query the gateway can read.
pub(super) fn unreadable_callback() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Вход не завершён",
        &format!("<p>Ответ Госуслуг не читается.</p>{START_AGAIN}"),
    )
}

/// ESIA ended the login itself (the person declined, say), with its reason.
pub(super) fn declined_at_esia(reason: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Вход через Госуслуги не завершён",
        &format!("<p>Госуслуги ответили: {}</p>{START_AGAIN}", escape(reason)),
    )
}

/// ESIA's answer lacks the code or the state.
pub(super) fn incomplete_callback() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Вход не завершён",
        &format!("<p>В ответе Госуслуг нет кода или state.</p>{START_AGAIN}"),
    )
}

/// The login's binding cookie is missing: another browser, or too late.
pub(super) fn started_elsewhere() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Вход не завершён",
        &format!(
            "<p>Вход начали в другом браузере, или он длился слишком долго. \
             Начните его заново здесь.</p>{START_AGAIN}"
        ),
    )
}

/// The home page of someone logged in, in `role`.
pub(super) fn logged_in(role: &str) -> Response {
    page(
        StatusCode::OK,
        "Вы вошли",
        &format!(
            "<p>Роль: {}.</p><p>Дневник, расписание и отчёты доступны через API \
             этого адреса (gRPC и gRPC-Web), а приложениям «Сетевого Города» — по \
             <a href=\"/apps\">паролю приложения</a>.</p>\
             <form method=\"post\" action=\"/auth/logout\"><button>Выйти</button></form>",
            escape(role)
        ),
    )
}

/// The home page of someone not logged in.
pub(super) fn welcome() -> Response {
    page(
        StatusCode::OK,
        "АСУ РСО",
        "<p>Электронный дневник и журнал.</p>\
         <p><a href=\"/auth/esia/start\">Войти через Госуслуги</a></p>",
    )
}
