//! The apps' login, as they do it: `logindata` (the login page's settings
//! and a cookie), `auth/getdata` (a one-use salt), `login` with
//! `pw2 = md5hex(salt + md5hex(password))`, `auth/logout`. Identity checks
//! the answer against an app password, the only kind of password it keeps
//! an md5 of; so a parent or student makes one while logged in through
//! ESIA and types it into the app. A refused login answers 409 with the
//! message the apps show (they sort it by its words: «парол», «логин»,
//! «заблокирован»).

use std::sync::Arc;

use asurso_proto::identity as pb;
use axum::{
    Json,
    body::to_bytes,
    extract::{Request, State},
    response::IntoResponse,
};
use serde::Serialize;
use serde_json::json;
use tonic::Code;

use super::{
    Answer, Session, WebApi, WebApiError, anonymous_call, format, ids::Kind, with_session_cookie,
};

const WRONG: &str = "Неверный логин или пароль";
const STALE: &str = "Ключ входа устарел или уже использован: начните вход заново";
const LOCKED: &str =
    "Учётная запись временно заблокирована после неудачных попыток входа: повторите позже";
const NOT_FAMILY: &str = "Нет доступа: приложения открывают дневник только родителям и учащимся";
/// The largest login form we read.
const MAX_FORM: usize = 8 * 1024;

/// The login page's settings, and the cookie the apps then carry.
pub async fn login_data(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    api.anonymous_call(api.address(&request))?;
    let body = json!({
        "schoolLogin": true,
        "esiaLogin": false,
        "esiaMainAuth": false,
        "esiaButton": false,
        "signatureLogin": false,
        "windowsAuth": false,
        "enableSms": false,
        "esaLogin": false,
        "version": "5.43.0",
        "productName": "АСУ РСО",
        "appPasswords": true,
    });
    // A visitor's cookie, unless the app already has one (its session).
    if super::session_key(request.headers()).is_some() {
        return Ok(Json(body).into_response());
    }
    let visitor = uuid::Uuid::new_v4().simple().to_string();
    Ok(with_session_cookie(
        &api.gateway,
        Json(body).into_response(),
        &visitor,
        3600,
    ))
}

#[derive(Serialize)]
struct LoginMeta {
    lt: String,
    ver: String,
    salt: String,
}

/// A one-use salt for the next login.
pub async fn get_data(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let address = api.address(&request);
    login_attempt(&api, address)?;
    let challenge = api
        .app_passwords()?
        .begin_app_password_login(anonymous_call(pb::BeginAppPasswordLoginRequest {}, address))
        .await?
        .into_inner();
    Ok(Json(LoginMeta {
        lt: challenge.challenge_id,
        ver: "1".to_owned(),
        salt: challenge.salt,
    })
    .into_response())
}

/// The login form's fields that matter.
struct LoginForm {
    login: String,
    challenge: String,
    response: String,
    school: Option<i64>,
}

fn login_form(body: &[u8]) -> Result<LoginForm, WebApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| WebApiError::BadRequest("форма входа: не UTF-8".to_owned()))?;
    let fields: std::collections::HashMap<String, String> =
        format::form_urlencoded(text).into_iter().collect();
    let required = |name: &str| {
        fields
            .get(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                WebApiError::BadRequest(format!("{name}: обязательное поле формы входа"))
            })
    };
    if let Some(kind) = fields.get("loginType")
        && kind.trim() != "1"
    {
        return Err(WebApiError::Login(format!(
            "{WRONG}: этот способ входа (loginType {kind}) не поддерживается, войдите паролем приложения"
        )));
    }
    let school = match fields.get("scid").map(|scid| scid.trim()) {
        None | Some("") => None,
        Some(scid) => Some(super::ids::parse_number(Some(scid), "scid")?),
    };
    Ok(LoginForm {
        login: required("un")?,
        challenge: required("lt")?,
        response: required("pw2")?,
        school,
    })
}

/// The refusal an app shows for identity's answer.
fn refused(status: tonic::Status) -> WebApiError {
    let said = status.message();
    match status.code() {
        Code::Unauthenticated if said.contains("challenge") => WebApiError::Login(STALE.to_owned()),
        Code::Unauthenticated if said.contains("locked") => WebApiError::Login(LOCKED.to_owned()),
        Code::Unauthenticated => WebApiError::Login(WRONG.to_owned()),
        Code::InvalidArgument if said.contains("challenge_id") => {
            WebApiError::Login(STALE.to_owned())
        }
        Code::InvalidArgument => WebApiError::Login(WRONG.to_owned()),
        Code::PermissionDenied => WebApiError::Login(NOT_FAMILY.to_owned()),
        _ => status.into(),
    }
}

fn seconds_left(at: Option<&prost_types::Timestamp>) -> i64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    at.map_or(0, |at| (at.seconds - now).max(0))
}

/// Whether the client is `netschoolapi` (PyPI), which reads a refused
/// login's words only from a 200 answer without a token: its response hook
/// raises on a 409 before the body is read, so the message would be lost.
/// NetSchool servers of its time answered so; everyone else gets the 409.
fn reads_refusals_from_200(request: &Request) -> bool {
    request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .is_some_and(|agent| agent.starts_with("NetSchoolAPI/"))
}

pub async fn login(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let legacy = reads_refusals_from_200(&request);
    match log_in(&api, request).await {
        Err(WebApiError::Login(message)) if legacy => {
            Ok(Json(json!({ "message": message, "errorMessage": message })).into_response())
        }
        other => other,
    }
}

/// Spends one of the address's login attempts; too many is a refused login
/// the apps show (their words for it: «слишком много»).
fn login_attempt(api: &WebApi, address: std::net::IpAddr) -> Result<(), WebApiError> {
    api.login_attempt(address).map_err(|error| match error {
        WebApiError::Throttled { retry_after, .. } => WebApiError::Login(format!(
            "Слишком много попыток входа с этого адреса: повторите через {} с",
            retry_after.as_secs().max(1)
        )),
        other => other,
    })
}

async fn log_in(api: &WebApi, request: Request) -> Answer {
    let address = api.address(&request);
    // An app logging in again carries its stale key: renewed below.
    let stale = super::session_key(request.headers());
    login_attempt(api, address)?;
    let body = to_bytes(request.into_body(), MAX_FORM)
        .await
        .map_err(|_| WebApiError::BadRequest("форма входа больше 8 КиБ".to_owned()))?;
    let form = login_form(&body)?;
    let school = match form.school {
        Some(number) => Some(
            match api.ids.resolve(number, &[Kind::School], "scid").await {
                Ok(entry) => entry.key,
                Err(WebApiError::NotFound(_)) => {
                    return Err(WebApiError::Login(format!(
                        "{WRONG}: школа {number} не найдена"
                    )));
                }
                Err(other) => return Err(other),
            },
        ),
        None => None,
    };
    let answer = api
        .app_passwords()?
        .app_password_login(anonymous_call(
            pb::AppPasswordLoginRequest {
                login: form.login,
                challenge_id: form.challenge,
                response: form.response,
                grant_id: String::new(),
            },
            address,
        ))
        .await
        .map_err(refused)?
        .into_inner();
    let mut tokens = answer
        .tokens
        .ok_or_else(|| WebApiError::Internal("identity answered a login without tokens".into()))?;
    let mut active = answer.active_grant.unwrap_or_default();
    // The app names the school it logs in to: act in the role there.
    if let Some(school) = school
        && active.org_unit_id != school
        && let Some(there) = answer
            .grants
            .iter()
            .find(|grant| grant.org_unit_id == school)
    {
        let renewed = api
            .auth()?
            .refresh(anonymous_call(
                pb::RefreshRequest {
                    refresh_token: tokens.refresh_token.clone(),
                    grant_id: there.id.clone(),
                },
                address,
            ))
            .await
            .map_err(refused)?
            .into_inner();
        if let Some(renewed) = renewed.tokens {
            tokens = renewed;
            active = there.clone();
        }
    }
    let caller = api
        .gateway
        .verifier
        .verify(&tokens.access_token)
        .await
        .map_err(|error| WebApiError::Internal(format!("identity's own token: {error}")))?;
    let expires = tokens
        .access_expires_at
        .as_ref()
        .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at.seconds).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    let at = api
        .sessions
        .open(
            stale.as_deref(),
            caller.person_id,
            &tokens.access_token,
            expires,
        )
        .await?;
    let session = Session {
        caller,
        at: at.clone(),
        token: tokens.access_token.clone(),
        address,
    };
    let person_id = session.caller.person_id.to_string();
    let user = api.ids.number(Kind::Person, &person_id).await?;
    let name = api
        .people()?
        .get_person(session.call(pb::GetPersonRequest {
            person_id: person_id.clone(),
        }))
        .await
        .ok()
        .and_then(|answer| answer.into_inner().person)
        .map(|person| super::diary::full_name(&person))
        .unwrap_or_default();
    let organization = api.ids.number(Kind::School, &active.org_unit_id).await?;
    let time_out = seconds_left(tokens.access_expires_at.as_ref());
    let body = json!({
        "at": at,
        "code": null,
        "timeOut": time_out * 1000,
        "accessToken": at,
        "refreshToken": "",
        "tokenType": "Bearer",
        "entryPoint": "/angular/school/studentdiary/",
        "requestData": {},
        "errorMessage": null,
        "accountInfo": {
            "activeToken": null,
            "secureActiveToken": null,
            "currentOrganization": { "id": organization, "name": active.org_unit_name },
            "user": { "id": user, "name": name },
            "userRoles": [],
            "organizations": [{ "id": organization, "name": active.org_unit_name }],
            "loginTime": format::moment(Some(&prost_types::Timestamp {
                seconds: time::OffsetDateTime::now_utc().unix_timestamp(),
                nanos: 0,
            })),
            "active": true,
            "canLogin": true,
            "storeTokens": true,
        },
    });
    tracing::info!(person_id = %person_id, "webapi login");
    Ok(with_session_cookie(
        &api.gateway,
        Json(body).into_response(),
        &at,
        time_out,
    ))
}

/// Ends the session at identity; 401 when there is none (the apps accept
/// both).
pub async fn logout(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    api.auth()?
        .logout(session.call(pb::LogoutRequest {}))
        .await?;
    api.forget(session.caller.session_id);
    api.sessions.end(&session.at).await?;
    Ok(with_session_cookie(
        &api.gateway,
        Json(json!({})).into_response(),
        "",
        0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_what_is_missing_or_wrong() {
        let form = login_form(b"loginType=1&scid=7&un=ivanova&pw=ab&pw2=00ff&lt=x&ver=1");
        assert!(matches!(
            form,
            Ok(LoginForm { ref login, school: Some(7), .. }) if login == "ivanova"
        ));
        for (body, field) in [
            (&b"loginType=1&pw2=00&lt=x"[..], "un"),
            (b"un=a&lt=x", "pw2"),
            (b"un=a&pw2=00", "lt"),
            (b"un=a&pw2=00&lt=x&scid=seven", "scid"),
        ] {
            match login_form(body) {
                Err(WebApiError::BadRequest(message)) => {
                    assert!(message.starts_with(field), "{message}")
                }
                other => panic!("{field}: {:?}", other.err()),
            }
        }
        assert!(matches!(
            login_form(b"loginType=2&un=a&pw2=00&lt=x"),
            Err(WebApiError::Login(message)) if message.contains("парол")
        ));
    }

    #[test]
    fn refusals_say_what_the_apps_sort_by() {
        let wrong = refused(tonic::Status::unauthenticated("wrong login or password"));
        assert!(
            matches!(wrong, WebApiError::Login(ref m) if m.contains("парол") && m.contains("логин"))
        );
        let locked = refused(tonic::Status::unauthenticated(
            "too many failed attempts: this login is locked until 10:00 UTC",
        ));
        assert!(matches!(locked, WebApiError::Login(ref m) if m.contains("заблокирован")));
        let stale = refused(tonic::Status::unauthenticated(
            "challenge_id: expired or already used: begin the login again",
        ));
        assert!(matches!(stale, WebApiError::Login(ref m) if m.contains("устарел")));
        assert!(matches!(
            refused(tonic::Status::unavailable("down")),
            WebApiError::Unavailable(_)
        ));
    }
}
