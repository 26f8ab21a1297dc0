//! App passwords, for people: a parent or student logged in through ESIA
//! (the session cookie) makes one for an app that cannot do ESIA (the
//! NetSchool apps at `/webapi`), sees it once, and revokes it. Only from
//! this site's own pages: the forms are checked for the origin.

use std::sync::Arc;

use asurso_proto::identity::{self as pb, app_password_service_client::AppPasswordServiceClient};
use asurso_runtime::telemetry::propagate_trace;
use axum::{
    Form,
    extract::{Path, State},
    response::Response,
};
use http::{HeaderMap, StatusCode};

use super::{
    Traced,
    encoding::escape,
    pages::{self, redirect},
};
use crate::proxy::Gateway;

fn client(gateway: &Gateway) -> AppPasswordServiceClient<Traced> {
    AppPasswordServiceClient::with_interceptor(gateway.identity.channel.clone(), propagate_trace)
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    crate::client::with_bearer(tonic::Request::new(message), token)
}

/// The caller's token to read the page with: the session cookie, from
/// wherever the browser came (back from ESIA, a link), since reading
/// changes nothing.
async fn reader(gateway: &Gateway, headers: &HeaderMap) -> Result<String, Response> {
    let login = || redirect("/auth/esia/start?return_to=/apps");
    let token = super::session_token(headers).ok_or_else(login)?;
    gateway.verifier.verify(&token).await.map_err(|_| login())?;
    Ok(token)
}

/// The caller's token for a form that changes something: only from this
/// site's own pages; else the way to log in and come back here.
async fn token(gateway: &Gateway, headers: &HeaderMap) -> Result<String, Response> {
    match gateway.caller(headers).await {
        Ok((_, token)) => Ok(token),
        Err(crate::GatewayError::CrossSite(_)) => Err(pages::page(
            StatusCode::FORBIDDEN,
            "Запрос с другого сайта",
            "<p>Пароли приложений меняют только на страницах этого сайта.</p>",
        )),
        Err(_) => Err(redirect("/auth/esia/start?return_to=/apps")),
    }
}

fn refused(status: &tonic::Status) -> Response {
    let code = match status.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    pages::page(
        code,
        "Не получилось",
        &format!(
            "<p>{}</p><p><a href=\"/apps\">К паролям приложений</a></p>",
            escape(status.message())
        ),
    )
}

fn date(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(|at| time::OffsetDateTime::from_unix_timestamp(at.seconds).ok())
        .map(|at| format!("{:02}.{:02}.{}", at.day(), u8::from(at.month()), at.year()))
        .unwrap_or_else(|| "—".to_owned())
}

/// `GET /apps`: the person's app passwords and the form for a new one.
pub(super) async fn list(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let token = match reader(&gateway, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let listed = client(&gateway)
        .list_app_passwords(with_token(pb::ListAppPasswordsRequest {}, &token))
        .await;
    let apps = match listed {
        Ok(answer) => answer.into_inner().app_passwords,
        Err(status) => return refused(&status),
    };
    let rows: String = apps
        .iter()
        .map(|app| {
            format!(
                "<li><b>{}</b> — логин <code>{}</code>, создан {}, последний вход {} \
                 <form method=\"post\" action=\"/apps/{}/revoke\" style=\"display:inline\">\
                 <button>Отозвать</button></form></li>",
                escape(&app.name),
                escape(&app.login),
                date(app.created_at.as_ref()),
                date(app.last_used_at.as_ref()),
                escape(&app.id),
            )
        })
        .collect();
    let listed = if rows.is_empty() {
        "<p>Паролей приложений пока нет.</p>".to_owned()
    } else {
        format!("<ul>{rows}</ul>")
    };
    pages::page(
        StatusCode::OK,
        "Пароли приложений",
        &format!(
            "<p>Приложения и боты «Сетевого Города», которые не умеют входить через \
             Госуслуги, входят по паролю приложения: у каждого свой, его можно \
             отозвать в любой момент. Приложение видит дневник, задания, объявления \
             и почту — как вы.</p>{listed}\
             <form method=\"post\" action=\"/apps\"><label>Для какого приложения \
             <input name=\"name\" maxlength=\"100\" required \
             placeholder=\"Дневник на телефоне\"></label> \
             <button>Создать пароль</button></form>"
        ),
    )
}

#[derive(serde::Deserialize)]
pub(super) struct NewApp {
    #[serde(default)]
    name: String,
}

/// `POST /apps`: a new app password, shown this once.
pub(super) async fn create(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    Form(form): Form<NewApp>,
) -> Response {
    let token = match token(&gateway, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let made = client(&gateway)
        .create_app_password(with_token(
            pb::CreateAppPasswordRequest { name: form.name },
            &token,
        ))
        .await;
    let made = match made {
        Ok(answer) => answer.into_inner(),
        Err(status) => return refused(&status),
    };
    let login = made.app_password.map(|app| app.login).unwrap_or_default();
    pages::page(
        StatusCode::OK,
        "Пароль приложения создан",
        &format!(
            "<p>Введите в приложении:</p><ul>\
             <li>адрес: <code>{site}</code></li>\
             <li>логин: <code>{login}</code></li>\
             <li>пароль: <code>{password}</code></li>\
             <li>школу: как она называется в списке приложения</li></ul>\
             <p>Пароль показан один раз: сохраните его в приложении сейчас.</p>\
             <p><a href=\"/apps\">К паролям приложений</a></p>",
            site = escape(gateway.web.origin()),
            login = escape(&login),
            password = escape(&made.password),
        ),
    )
}

/// `POST /apps/{id}/revoke`: the app is out, its sessions end.
pub(super) async fn revoke(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = match token(&gateway, &headers).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    match client(&gateway)
        .revoke_app_password(with_token(pb::RevokeAppPasswordRequest { id }, &token))
        .await
    {
        Ok(_) => redirect("/apps"),
        Err(status) => refused(&status),
    }
}
