use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// How a session began; the regional login policy depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    Federation,
    AppPassword(Uuid),
}

impl Method {
    pub const PASSWORD: &'static str = "password";
    pub const FEDERATION: &'static str = "federation";
    pub const APP_PASSWORD: &'static str = "app_password";

    pub fn name(self) -> &'static str {
        match self {
            Self::Password => Self::PASSWORD,
            Self::Federation => Self::FEDERATION,
            Self::AppPassword(_) => Self::APP_PASSWORD,
        }
    }

    fn app_password(self) -> Option<Uuid> {
        match self {
            Self::AppPassword(id) => Some(id),
            _ => None,
        }
    }
}

pub async fn create(
    connection: &mut PgConnection,
    id: Uuid,
    person: Uuid,
    grant: Uuid,
    method: Method,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, person_id, grant_id, method, app_password_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(person)
    .bind(grant)
    .bind(method.name())
    .bind(method.app_password())
    .execute(connection)
    .await
    .map(|_| ())
}

/// How the session began, while it stands.
pub async fn method_of(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT method FROM sessions WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .fetch_optional(connection)
        .await
}

/// Ends the person's sessions that began through the federation or an app
/// password (what an ESIA link opened).
pub async fn revoke_federated(
    connection: &mut PgConnection,
    person: Uuid,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 \
         WHERE person_id = $1 AND revoked_at IS NULL AND method IN ('federation', 'app_password')",
    )
    .bind(person)
    .bind(reason)
    .execute(connection)
    .await?;
    Ok(updated.rows_affected())
}

/// Ends the sessions an app password opened.
pub async fn revoke_of_app_password(
    connection: &mut PgConnection,
    app_password: Uuid,
) -> Result<u64, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'app password revoked' \
         WHERE app_password_id = $1 AND revoked_at IS NULL",
    )
    .bind(app_password)
    .execute(connection)
    .await?;
    Ok(updated.rows_affected())
}

pub async fn set_grant(
    connection: &mut PgConnection,
    id: Uuid,
    grant: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET grant_id = $2 WHERE id = $1")
        .bind(id)
        .bind(grant)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn add_refresh_token(
    connection: &mut PgConnection,
    session: Uuid,
    token_hash: &[u8],
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(session)
    .bind(expires_at)
    .execute(connection)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub session_id: Uuid,
    pub person_id: Uuid,
    pub grant_id: Uuid,
    pub expires_at: OffsetDateTime,
    pub spent: bool,
    pub session_revoked: bool,
    pub method: String,
}

/// The refresh token's row, locked so two uses of one token serialise.
pub async fn refresh_for_update(
    connection: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<RefreshRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.session_id, s.person_id, s.grant_id, r.expires_at, r.spent_at IS NOT NULL AS spent, \
         s.revoked_at IS NOT NULL AS session_revoked, s.method \
         FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
         WHERE r.token_hash = $1 FOR UPDATE OF r, s",
    )
    .bind(token_hash)
    .fetch_optional(connection)
    .await
}

pub async fn spend(connection: &mut PgConnection, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET spent_at = now() WHERE token_hash = $1")
        .bind(token_hash)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn revoke(
    connection: &mut PgConnection,
    session: Uuid,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(session)
    .bind(reason)
    .execute(connection)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Ends every session of the person, but `keep` when given.
pub async fn revoke_all_except(
    connection: &mut PgConnection,
    person: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3 \
         WHERE person_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(person)
    .bind(keep)
    .bind(reason)
    .execute(connection)
    .await?;
    Ok(updated.rows_affected())
}
