//! App passwords for client apps that cannot log in through ESIA, and the
//! apps' challenge login: the server sends a one-use salt, the app answers
//! md5hex(salt + md5hex(password)). The scheme is weak by design of those
//! apps, so it is accepted for app passwords only: they are random with
//! ~121 bits of entropy, and the md5 the login needs is kept sealed with a
//! key from settings.

use asurso_proto::identity as pb;
use asurso_runtime::auth::Caller;
use md5::{Digest, Md5};
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, grant, timestamp, uuid_field};
use crate::api::State;
use crate::{
    domain::{IdentityError, error::FieldViolation},
    passwords::{WITHOUT_LOOK_ALIKES, random_text},
    storage::{self, app_passwords::AppPasswordRow, sessions::Method},
};

pub struct AppPasswordApi(pub Shared);

const SECRET: &[u8] = crate::crypto::APP_PASSWORD_SECRET;
const MAX_PER_PERSON: usize = 10;
const CHALLENGE_TTL: time::Duration = time::Duration::minutes(5);
const WRONG: &str = "wrong login or password";

/// The roles an app password acts in: the apps are the family's diary. A
/// staff role never rides on the apps' weak challenge scheme.
pub(super) fn app_role(role: &str) -> bool {
    matches!(role, "parent" | "student")
}

const STAFF_REFUSED: &str = "app passwords are for parents and students: staff log in with their own login or through Gosuslugi";

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn message(row: &AppPasswordRow) -> pb::AppPassword {
    pb::AppPassword {
        id: row.id.to_string(),
        name: row.name.clone(),
        login: row.login.clone(),
        created_at: Some(timestamp(row.created_at)),
        last_used_at: row.last_used_at.map(timestamp),
    }
}

async fn create_app_password(
    state: &State,
    caller: &Caller,
    request: pb::CreateAppPasswordRequest,
) -> Result<pb::CreateAppPasswordResponse, IdentityError> {
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(IdentityError::invalid(
            "name",
            "is required: 1 to 100 characters saying which app it is for",
        ));
    }
    let mut transaction = state.pool.begin().await?;
    let method = storage::sessions::method_of(&mut transaction, caller.session_id).await?;
    if method.as_deref() != Some(Method::FEDERATION) {
        return Err(IdentityError::denied(
            "app passwords are created after logging in through Gosuslugi (ESIA)",
        ));
    }
    let grants = storage::grants::active_of(&mut transaction, caller.person_id).await?;
    if !grants.iter().any(|grant| app_role(&grant.role)) {
        return Err(IdentityError::denied(STAFF_REFUSED));
    }
    // Serialises two creations by one person, so the limit holds.
    sqlx::query("SELECT 1 FROM people WHERE id = $1 FOR UPDATE")
        .bind(caller.person_id)
        .execute(&mut *transaction)
        .await?;
    let standing = storage::app_passwords::of_person(&mut transaction, caller.person_id).await?;
    if standing.len() >= MAX_PER_PERSON {
        return Err(IdentityError::FailedPrecondition(format!(
            "you have {MAX_PER_PERSON} app passwords: revoke one you no longer use first"
        )));
    }
    // 21 characters of 55: ~121 bits; letters and digits only, so what
    // the apps hash (the cp1251 bytes) is the ASCII text itself.
    let password = random_text(WITHOUT_LOOK_ALIKES, 21);
    let row = AppPasswordRow {
        id: Uuid::now_v7(),
        person_id: caller.person_id,
        name,
        login: format!(
            "app-{}",
            random_text(b"abcdefghjkmnpqrstuvwxyz23456789", 10)
        ),
        secret: state
            .secrets
            .seal_login_secret(md5_hex(password.as_bytes()).as_bytes(), SECRET),
        created_at: OffsetDateTime::now_utc(),
        last_used_at: None,
    };
    storage::app_passwords::insert(&mut transaction, &row).await?;
    transaction.commit().await?;
    tracing::info!(person_id = %caller.person_id, app_password = %row.id, "app password created");
    Ok(pb::CreateAppPasswordResponse {
        app_password: Some(message(&row)),
        password,
    })
}

async fn list_app_passwords(
    state: &State,
    caller: &Caller,
    _request: pb::ListAppPasswordsRequest,
) -> Result<pb::ListAppPasswordsResponse, IdentityError> {
    let mut connection = state.pool.acquire().await?;
    let rows = storage::app_passwords::of_person(&mut connection, caller.person_id).await?;
    Ok(pb::ListAppPasswordsResponse {
        app_passwords: rows.iter().map(message).collect(),
    })
}

async fn revoke_app_password(
    state: &State,
    caller: &Caller,
    request: pb::RevokeAppPasswordRequest,
) -> Result<pb::RevokeAppPasswordResponse, IdentityError> {
    let id = uuid_field(&request.id, "id")?;
    let mut transaction = state.pool.begin().await?;
    if !storage::app_passwords::revoke(&mut transaction, id, caller.person_id).await? {
        return Err(IdentityError::NotFound(format!(
            "id: you have no app password {id}"
        )));
    }
    let ended = storage::sessions::revoke_of_app_password(&mut transaction, id).await?;
    transaction.commit().await?;
    tracing::info!(person_id = %caller.person_id, app_password = %id, sessions_ended = ended, "app password revoked");
    Ok(pb::RevokeAppPasswordResponse {})
}

async fn begin_app_password_login(
    state: &State,
    _request: pb::BeginAppPasswordLoginRequest,
) -> Result<pb::BeginAppPasswordLoginResponse, IdentityError> {
    let id = Uuid::new_v4();
    let salt = random_text(b"0123456789", 12);
    let expires_at = OffsetDateTime::now_utc() + CHALLENGE_TTL;
    let mut connection = state.pool.acquire().await?;
    storage::app_passwords::forget_old_challenges(&mut connection).await?;
    storage::app_passwords::add_challenge(&mut connection, id, &salt, expires_at).await?;
    Ok(pb::BeginAppPasswordLoginResponse {
        challenge_id: id.to_string(),
        salt,
        expires_at: Some(timestamp(expires_at)),
    })
}

async fn app_password_login(
    state: &State,
    request: pb::AppPasswordLoginRequest,
) -> Result<pb::AppPasswordLoginResponse, IdentityError> {
    let mut violations = Vec::new();
    let login = request.login.trim().to_lowercase();
    if login.is_empty() || login.len() > 100 {
        violations.push(FieldViolation::new("login", "is required"));
    }
    let response = request.response.trim().to_lowercase();
    if response.len() != 32 || !response.chars().all(|c| c.is_ascii_hexdigit()) {
        violations.push(FieldViolation::new(
            "response",
            "must be md5hex(salt + md5hex(password)): 32 hex digits",
        ));
    }
    let challenge = match uuid_field(&request.challenge_id, "challenge_id") {
        Ok(id) => Some(id),
        Err(IdentityError::Invalid(mut found)) => {
            violations.append(&mut found);
            None
        }
        Err(other) => return Err(other),
    };
    if !violations.is_empty() {
        return Err(IdentityError::Invalid(violations));
    }
    let challenge = challenge.unwrap_or_default();
    let mut transaction = state.pool.begin().await?;
    let Some(salt) = storage::app_passwords::take_challenge(&mut transaction, challenge).await?
    else {
        transaction.commit().await?;
        return Err(IdentityError::Unauthenticated(
            "challenge_id: expired or already used: begin the login again".to_owned(),
        ));
    };
    state.refuse_if_locked(&mut transaction, &login).await?;
    let row = storage::app_passwords::by_login(&mut transaction, &login).await?;
    let expected = match &row {
        Some(row) => {
            let stored = state.secrets.open_login_secret(&row.secret, SECRET)?;
            let mut text = salt.into_bytes();
            text.extend_from_slice(&stored);
            md5_hex(&text)
        }
        None => md5_hex(salt.as_bytes()),
    };
    let Some(row) = row.filter(|_| crate::crypto::same(expected.as_bytes(), response.as_bytes()))
    else {
        state.count_failure(&mut transaction, &login).await?;
        transaction.commit().await?;
        return Err(IdentityError::Unauthenticated(WRONG.to_owned()));
    };
    storage::accounts::clear_failures(&mut transaction, &login).await?;
    storage::app_passwords::used(&mut transaction, row.id).await?;
    let grants: Vec<_> = storage::grants::active_of(&mut transaction, row.person_id)
        .await?
        .into_iter()
        .filter(|grant| app_role(&grant.role))
        .collect();
    if grants.is_empty() {
        transaction.commit().await?;
        return Err(IdentityError::denied(STAFF_REFUSED));
    }
    let (tokens, active) = state
        .open_session(
            &mut transaction,
            row.person_id,
            &grants,
            &request.grant_id,
            Method::AppPassword(row.id),
        )
        .await?;
    transaction.commit().await?;
    Ok(pb::AppPasswordLoginResponse {
        tokens: Some(tokens),
        active_grant: Some(grant(&active)),
        grants: grants.iter().map(grant).collect(),
    })
}

#[tonic::async_trait]
impl pb::app_password_service_server::AppPasswordService for AppPasswordApi {
    async fn create_app_password(
        &self,
        request: Request<pb::CreateAppPasswordRequest>,
    ) -> Result<Response<pb::CreateAppPasswordResponse>, Status> {
        asurso_runtime::handle!(self.0, request, create_app_password)
    }

    async fn list_app_passwords(
        &self,
        request: Request<pb::ListAppPasswordsRequest>,
    ) -> Result<Response<pb::ListAppPasswordsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_app_passwords)
    }

    async fn revoke_app_password(
        &self,
        request: Request<pb::RevokeAppPasswordRequest>,
    ) -> Result<Response<pb::RevokeAppPasswordResponse>, Status> {
        asurso_runtime::handle!(self.0, request, revoke_app_password)
    }

    async fn begin_app_password_login(
        &self,
        request: Request<pb::BeginAppPasswordLoginRequest>,
    ) -> Result<Response<pb::BeginAppPasswordLoginResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, begin_app_password_login)
    }

    async fn app_password_login(
        &self,
        request: Request<pb::AppPasswordLoginRequest>,
    ) -> Result<Response<pb::AppPasswordLoginResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, app_password_login)
    }
}
