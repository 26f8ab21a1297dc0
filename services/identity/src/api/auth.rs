//! Logins, sessions, token refresh with reuse detection, and the keys.

use asurso_proto::identity as pb;
use asurso_runtime::{auth::Caller, edge::Edge};
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, grant, timestamp, uuid_field};
use crate::api::State;
use crate::{
    access,
    crypto::{random_token, sha256},
    domain::{IdentityError, rights::right},
    passwords,
    storage::{self, grants::GrantRow},
};

pub struct AuthApi(pub Shared);

const WRONG_LOGIN: &str = "wrong login or password";
const MAX_PASSWORD: usize = 200;

impl super::State {
    /// UNAUTHENTICATED while the login name is locked after failed
    /// attempts (known or not: the answer tells nothing about existence).
    pub(super) async fn refuse_if_locked(
        &self,
        transaction: &mut sqlx::PgConnection,
        login: &str,
    ) -> Result<(), IdentityError> {
        match storage::accounts::locked_until(transaction, login).await? {
            Some(until) if until > OffsetDateTime::now_utc() => {
                Err(IdentityError::Unauthenticated(format!(
                    "too many failed attempts: this login is locked until {} UTC",
                    until.time().replace_nanosecond(0).unwrap_or(until.time())
                )))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong password for a login name; locks it after too many.
    pub(super) async fn count_failure(
        &self,
        transaction: &mut sqlx::PgConnection,
        login: &str,
    ) -> Result<(), IdentityError> {
        let settings = &self.settings.login;
        let failures = storage::accounts::count_failure(transaction, login).await?;
        if failures >= i32::try_from(settings.max_failures).unwrap_or(5) {
            tracing::warn!("a login was locked after repeated wrong passwords");
            storage::accounts::lock(
                transaction,
                login,
                OffsetDateTime::now_utc() + settings.lockout,
            )
            .await?;
        }
        Ok(())
    }

    /// Opens a session in the chosen role (`requested`, or the first the
    /// person holds) and issues its tokens.
    pub(super) async fn open_session(
        &self,
        transaction: &mut sqlx::PgConnection,
        person: Uuid,
        grants: &[GrantRow],
        requested: &str,
        method: storage::sessions::Method,
    ) -> Result<(pb::Tokens, GrantRow), IdentityError> {
        let active = choose_grant(grants, requested)?;
        let session = Uuid::now_v7();
        storage::sessions::create(transaction, session, person, active.id, method).await?;
        let tokens = self.tokens(transaction, session, &active).await?;
        tracing::info!(person_id = %person, %session, role = %active.role, method = method.name(), "logged in");
        Ok((tokens, active))
    }

    /// Signs an access token and adds a refresh token to the session.
    async fn tokens(
        &self,
        transaction: &mut sqlx::PgConnection,
        session: Uuid,
        active: &GrantRow,
    ) -> Result<pb::Tokens, IdentityError> {
        let signed = self
            .tokens
            .sign(
                active.person_id,
                session,
                active.id,
                &active.role,
                active.org_unit_id,
            )
            .await?;
        let refresh = random_token();
        let refresh_expires = OffsetDateTime::now_utc() + self.settings.tokens.refresh_ttl;
        storage::sessions::add_refresh_token(
            transaction,
            session,
            &sha256(refresh.as_bytes()),
            refresh_expires,
        )
        .await?;
        Ok(pb::Tokens {
            access_token: signed.token,
            access_expires_at: Some(timestamp(signed.expires_at)),
            refresh_token: refresh,
            refresh_expires_at: Some(timestamp(refresh_expires)),
        })
    }
}

pub(super) fn choose_grant(
    grants: &[GrantRow],
    requested: &str,
) -> Result<GrantRow, IdentityError> {
    if requested.is_empty() {
        return grants.first().cloned().ok_or_else(|| {
            IdentityError::denied("this account has no role in any school: ask your school")
        });
    }
    let id = uuid_field(requested, "grant_id")?;
    grants
        .iter()
        .find(|grant| grant.id == id)
        .cloned()
        .ok_or_else(|| IdentityError::invalid("grant_id", "is not one of your roles"))
}

async fn login(
    state: &State,
    request: pb::LoginRequest,
) -> Result<pb::LoginResponse, IdentityError> {
    if request.login.trim().is_empty() || request.login.len() > 200 {
        return Err(IdentityError::invalid(
            "login",
            "is required (at most 200 characters)",
        ));
    }
    if request.password.is_empty() || request.password.len() > MAX_PASSWORD {
        return Err(IdentityError::invalid(
            "password",
            "is required (at most 200 characters)",
        ));
    }
    // A hasher first, then a connection: waiting logins hold none.
    let turn = passwords::turn().await?;
    let mut transaction = state.pool.begin().await?;
    let account =
        storage::accounts::by_login_for_update(&mut transaction, request.login.trim()).await?;
    let login = request.login.trim();
    state.refuse_if_locked(&mut transaction, login).await?;
    let matches = turn
        .verify(
            request.password.clone(),
            account.as_ref().map(|a| a.password_hash.clone()),
        )
        .await?;
    let Some(account) = account.filter(|_| matches) else {
        state.count_failure(&mut transaction, login).await?;
        transaction.commit().await?;
        return Err(IdentityError::Unauthenticated(WRONG_LOGIN.to_owned()));
    };
    storage::accounts::clear_failures(&mut transaction, login).await?;
    if account.password_change_required {
        transaction.commit().await?;
        return Err(IdentityError::FailedPrecondition(
            "this is a temporary password: set your own with ChangePassword (login, current and new password) first"
                .to_owned(),
        )
        );
    }
    let grants = storage::grants::active_of(&mut transaction, account.person_id).await?;
    let grants =
        crate::policy::with_local_password(&mut transaction, grants, &request.grant_id).await?;
    let (tokens, active) = state
        .open_session(
            &mut transaction,
            account.person_id,
            &grants,
            &request.grant_id,
            storage::sessions::Method::Password,
        )
        .await?;
    transaction.commit().await?;
    Ok(pb::LoginResponse {
        tokens: Some(tokens),
        active_grant: Some(grant(&active)),
        grants: grants.iter().map(grant).collect(),
    })
}

async fn refresh(
    state: &State,
    request: pb::RefreshRequest,
) -> Result<pb::RefreshResponse, IdentityError> {
    if request.refresh_token.is_empty() || request.refresh_token.len() > 200 {
        return Err(IdentityError::invalid("refresh_token", "is required"));
    }
    let hash = sha256(request.refresh_token.as_bytes());
    let mut transaction = state.pool.begin().await?;
    let row = storage::sessions::refresh_for_update(&mut transaction, &hash)
        .await?
        .ok_or_else(|| {
            IdentityError::Unauthenticated("unknown refresh token: log in again".to_owned())
        })?;
    if row.spent {
        // Someone replays a token already swapped: the family is no longer
        // trustworthy, whoever holds the newer one.
        storage::sessions::revoke(&mut transaction, row.session_id, "refresh token reused").await?;
        transaction.commit().await?;
        tracing::warn!(session = %row.session_id, person_id = %row.person_id, "refresh token reused; session revoked");
        return Err(IdentityError::Unauthenticated(
            "this refresh token was already used: the session is ended for safety, log in again"
                .to_owned(),
        ));
    }
    if row.session_revoked {
        return Err(IdentityError::Unauthenticated(
            "the session has ended: log in again".to_owned(),
        ));
    }
    if row.expires_at <= OffsetDateTime::now_utc() {
        return Err(IdentityError::Unauthenticated(
            "the refresh token has expired: log in again".to_owned(),
        ));
    }
    storage::sessions::spend(&mut transaction, &hash).await?;
    let grants = storage::grants::active_of(&mut transaction, row.person_id).await?;
    let active = if request.grant_id.is_empty() {
        grants
            .iter()
            .find(|grant| grant.id == row.grant_id)
            .cloned()
            .ok_or_else(|| {
                IdentityError::Unauthenticated(
                    "the role of this session was revoked: log in again".to_owned(),
                )
            })?
    } else {
        choose_grant(&grants, &request.grant_id)?
    };
    if row.method == storage::sessions::Method::APP_PASSWORD
        && !super::app_passwords::app_role(&active.role)
    {
        return Err(IdentityError::denied(
            "a session opened with an app password acts only as a parent or student",
        ));
    }
    if row.method == storage::sessions::Method::PASSWORD {
        // The policy may have come into force since the login.
        crate::policy::with_local_password(
            &mut transaction,
            vec![active.clone()],
            &active.id.to_string(),
        )
        .await
        .map_err(|error| match error {
            IdentityError::PermissionDenied(reason) => IdentityError::Unauthenticated(reason),
            other => other,
        })?;
    }
    if active.id != row.grant_id {
        storage::sessions::set_grant(&mut transaction, row.session_id, active.id).await?;
    }
    let tokens = state
        .tokens(&mut transaction, row.session_id, &active)
        .await?;
    transaction.commit().await?;
    Ok(pb::RefreshResponse {
        tokens: Some(tokens),
        active_grant: Some(grant(&active)),
    })
}

async fn logout(
    state: &State,
    caller: &Caller,
    _request: pb::LogoutRequest,
) -> Result<pb::LogoutResponse, IdentityError> {
    let mut connection = state.pool.acquire().await?;
    let method = storage::sessions::method_of(&mut connection, caller.session_id).await?;
    storage::sessions::revoke(&mut connection, caller.session_id, "logout").await?;
    // A session that came through the provider may end there too.
    let provider_logout_url = match (method.as_deref(), &state.federation) {
        (Some("federation"), Some(federation)) => federation.provider_logout_url(),
        _ => None,
    };
    Ok(pb::LogoutResponse {
        provider_logout_url: provider_logout_url.unwrap_or_default(),
    })
}

async fn check_session(
    state: &State,
    caller: &Caller,
    _request: pb::CheckSessionRequest,
) -> Result<pb::CheckSessionResponse, IdentityError> {
    let mut connection = state.pool.acquire().await?;
    let method = storage::sessions::method_of(&mut connection, caller.session_id)
        .await?
        .ok_or_else(|| {
            IdentityError::Unauthenticated("the session has ended: log in again".to_owned())
        })?;
    Ok(pb::CheckSessionResponse { method })
}

async fn logout_everywhere(
    state: &State,
    caller: &Caller,
    _request: pb::LogoutEverywhereRequest,
) -> Result<pb::LogoutEverywhereResponse, IdentityError> {
    let mut connection = state.pool.acquire().await?;
    let ended = storage::sessions::revoke_all_except(
        &mut connection,
        caller.person_id,
        None,
        "logout everywhere",
    )
    .await?;
    Ok(pb::LogoutEverywhereResponse {
        sessions_ended: u32::try_from(ended).unwrap_or(u32::MAX),
    })
}

async fn create_local_account(
    state: &State,
    caller: &Caller,
    request: pb::CreateLocalAccountRequest,
) -> Result<pb::CreateLocalAccountResponse, IdentityError> {
    let person_id = uuid_field(&request.person_id, "person_id")?;
    let login = request.login.trim();
    let well_formed = (3..=100).contains(&login.len())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if !well_formed {
        return Err(IdentityError::invalid(
            "login",
            "must be 3 to 100 letters, digits or . _ - @",
        ));
    }
    // A hasher first, then a connection: waiting for one holds none.
    let turn = passwords::turn().await?;
    let mut transaction = state.pool.begin().await?;
    // Locked, as a guardian link locks the parent: a link made meanwhile
    // is either seen by the check below or sees this login.
    let person = storage::people::get_for_update(&mut transaction, person_id)
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {person_id}")))?;
    // A login carries every role of the person and, for a parent, every
    // child's diary: the caller must manage accounts wherever that
    // reaches, or they would hand themselves a key to a higher office or
    // to another school's pupils.
    access::authorize_over_person(
        &mut transaction,
        caller,
        right::ACCOUNTS_MANAGE,
        &person,
        "person_id",
    )
    .await?;
    let grants = storage::grants::active_of(&mut transaction, person_id).await?;
    // Nor may any admin hold a working password for a role the region
    // opens only through ESIA: not made, not reset.
    crate::policy::ensure_local_password_useful(&mut transaction, &grants, "person_id").await?;
    let temporary = passwords::temporary();
    let hash = turn.hash(temporary.clone()).await?;
    let existing = storage::accounts::by_person_for_update(&mut transaction, person_id).await?;
    if let Some(existing) = existing {
        // The same login again: a forgotten password (or a retry whose
        // answer was lost). A new temporary password replaces the old,
        // and every session of the person ends.
        if !existing.login.eq_ignore_ascii_case(login) {
            return Err(IdentityError::AlreadyExists(format!(
                "person_id: the person already logs in as {:?}",
                existing.login
            )));
        }
        storage::accounts::set_password(&mut transaction, person_id, &hash, true).await?;
        storage::sessions::revoke_all_except(
            &mut transaction,
            person_id,
            None,
            "password reset by an admin",
        )
        .await?;
        storage::accounts::clear_failures(&mut transaction, &existing.login).await?;
        transaction.commit().await?;
        tracing::info!(%person_id, by = %caller.person_id, "temporary password issued again");
        return Ok(pb::CreateLocalAccountResponse {
            temporary_password: temporary,
        });
    }
    if let Err(error) =
        storage::accounts::insert(&mut transaction, person_id, login, &hash, true).await
    {
        return Err(if storage::is_unique_violation(&error) {
            IdentityError::AlreadyExists("login: taken by someone else".to_owned())
        } else {
            error.into()
        });
    }
    transaction.commit().await?;
    Ok(pb::CreateLocalAccountResponse {
        temporary_password: temporary,
    })
}

async fn get_jwks(
    state: &State,
    _request: pb::GetJwksRequest,
) -> Result<pb::GetJwksResponse, IdentityError> {
    let keys = state.tokens.jwks().await?;
    Ok(pb::GetJwksResponse {
        keys,
        issuer: state.tokens.issuer().to_owned(),
    })
}

async fn rotate_signing_key(
    state: &State,
    caller: &Caller,
    _request: pb::RotateSigningKeyRequest,
) -> Result<pb::RotateSigningKeyResponse, IdentityError> {
    let mut connection = state.pool.acquire().await?;
    let unit = access::unit(&mut connection, caller.org_unit_id, "token").await?;
    access::authorize(&mut connection, caller, right::KEYS_ROTATE, &unit).await?;
    drop(connection);
    let kid = state.tokens.rotate().await?;
    Ok(pb::RotateSigningKeyResponse { kid })
}

/// Changes a password: signed in (an access token) or, for an account
/// that must change its password before it may sign in, by login.
async fn change_password(
    state: &State,
    caller: Option<&Caller>,
    request: pb::ChangePasswordRequest,
) -> Result<pb::ChangePasswordResponse, IdentityError> {
    let minimum = state.settings.login.min_password_length;
    let length = request.new_password.chars().count();
    if length < minimum || request.new_password.len() > MAX_PASSWORD {
        return Err(IdentityError::invalid(
            "new_password",
            format!("must be {minimum} to {MAX_PASSWORD} characters"),
        ));
    }
    if request.new_password == request.current_password {
        return Err(IdentityError::invalid(
            "new_password",
            "must differ from the current password",
        ));
    }
    let turn = passwords::turn().await?;
    let mut transaction = state.pool.begin().await?;
    let account = match caller {
        Some(caller) => {
            storage::accounts::by_person_for_update(&mut transaction, caller.person_id).await
        }
        None if request.login.trim().is_empty() => {
            return Err(IdentityError::invalid(
                "login",
                "is required without an access token",
            ));
        }
        None => {
            storage::accounts::by_login_for_update(&mut transaction, request.login.trim()).await
        }
    }?;
    let Some(account) = account else {
        // Same answer and cost as a wrong password: logins stay secret.
        turn.verify(request.current_password, None).await?;
        return Err(IdentityError::Unauthenticated(WRONG_LOGIN.to_owned()));
    };
    state
        .refuse_if_locked(&mut transaction, &account.login)
        .await?;
    if !turn
        .verify(
            request.current_password,
            Some(account.password_hash.clone()),
        )
        .await?
    {
        state
            .count_failure(&mut transaction, &account.login)
            .await?;
        transaction.commit().await?;
        return Err(IdentityError::invalid("current_password", "is wrong"));
    }
    let hash = turn.hash(request.new_password).await?;
    storage::accounts::set_password(&mut transaction, account.person_id, &hash, false).await?;
    // Whoever else held a session (a stolen refresh token) is out.
    storage::sessions::revoke_all_except(
        &mut transaction,
        account.person_id,
        caller.map(|caller| caller.session_id),
        "password changed",
    )
    .await?;
    transaction.commit().await?;
    tracing::info!(person_id = %account.person_id, "password changed");
    Ok(pb::ChangePasswordResponse {})
}

#[tonic::async_trait]
impl pb::auth_service_server::AuthService for AuthApi {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, login)
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, refresh)
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        asurso_runtime::handle!(self.0, request, logout)
    }

    async fn check_session(
        &self,
        request: Request<pb::CheckSessionRequest>,
    ) -> Result<Response<pb::CheckSessionResponse>, Status> {
        asurso_runtime::handle!(self.0, request, check_session)
    }

    async fn logout_everywhere(
        &self,
        request: Request<pb::LogoutEverywhereRequest>,
    ) -> Result<Response<pb::LogoutEverywhereResponse>, Status> {
        asurso_runtime::handle!(self.0, request, logout_everywhere)
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        // The one call that may come with a token or without one.
        let caller = match asurso_runtime::auth::bearer_token(request.metadata()) {
            Ok(_) => Some(self.0.caller(&request).await?),
            Err(_) => None,
        };
        change_password(&self.0, caller.as_ref(), request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
    async fn create_local_account(
        &self,
        request: Request<pb::CreateLocalAccountRequest>,
    ) -> Result<Response<pb::CreateLocalAccountResponse>, Status> {
        asurso_runtime::handle!(self.0, request, create_local_account)
    }

    async fn get_jwks(
        &self,
        request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, get_jwks)
    }

    async fn rotate_signing_key(
        &self,
        request: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<Response<pb::RotateSigningKeyResponse>, Status> {
        asurso_runtime::handle!(self.0, request, rotate_signing_key)
    }
}
