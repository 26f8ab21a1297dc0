//! Logins in progress at an identity provider, and the accounts linked.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// A login started here and not yet completed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: Vec<u8>,
    pub binding_hash: Vec<u8>,
    pub grant_id: Option<Uuid>,
    pub expires_at: OffsetDateTime,
}

pub async fn start(connection: &mut PgConnection, login: &PendingLogin) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO federation_logins (state, nonce, pkce_verifier, binding_hash, grant_id, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&login.state)
    .bind(&login.nonce)
    .bind(&login.pkce_verifier)
    .bind(&login.binding_hash)
    .bind(login.grant_id)
    .bind(login.expires_at)
    .execute(connection)
    .await
    .map(|_| ())
}

/// What became of a state and browser binding presented at the callback.
#[derive(Debug)]
pub enum Consumed {
    /// Ours, unused, presented by the browser that started it; now used.
    Fresh(PendingLogin),
    /// Ours, presented by the browser that started it, but already used once.
    Used,
    /// Ours, but presented with another browser's binding: nothing was
    /// spent, and nothing more is told (used or not, expired or not).
    OtherBrowser,
    /// Not a state this service started (or long forgotten).
    Unknown,
}

/// Marks the login used, once, and only for the browser that started it:
/// the binding is checked in the same statement that spends the state, so
/// whoever merely saw the callback URL cannot void the rightful login, and
/// a second callback from the rightful browser finds it used, whatever
/// happened to the first. `binding_hash` is the SHA-256 of the presented
/// binding; comparing hashes in SQL tells through timing nothing about the
/// binding itself.
pub async fn consume(
    connection: &mut PgConnection,
    state: &str,
    binding_hash: &[u8],
) -> Result<Consumed, sqlx::Error> {
    let fresh: Option<PendingLogin> = sqlx::query_as(
        "UPDATE federation_logins SET consumed_at = now() \
         WHERE state = $1 AND binding_hash = $2 AND consumed_at IS NULL \
         RETURNING state, nonce, pkce_verifier, binding_hash, grant_id, expires_at",
    )
    .bind(state)
    .bind(binding_hash)
    .fetch_optional(&mut *connection)
    .await?;
    if let Some(login) = fresh {
        return Ok(Consumed::Fresh(login));
    }
    let same_browser: Option<bool> =
        sqlx::query_scalar("SELECT binding_hash = $2 FROM federation_logins WHERE state = $1")
            .bind(state)
            .bind(binding_hash)
            .fetch_optional(connection)
            .await?;
    Ok(match same_browser {
        Some(true) => Consumed::Used,
        Some(false) => Consumed::OtherBrowser,
        None => Consumed::Unknown,
    })
}

/// Forgets logins that ended long ago (kept a day so a replay is told apart
/// from a stranger's state).
pub async fn forget_old(connection: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let deleted =
        sqlx::query("DELETE FROM federation_logins WHERE expires_at < now() - interval '1 day'")
            .execute(connection)
            .await?;
    Ok(deleted.rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Link {
    pub id: Uuid,
    pub provider: String,
    pub person_id: Uuid,
    pub linked_at: OffsetDateTime,
    pub last_login_at: OffsetDateTime,
}

const LINK: &str =
    "SELECT id, provider, person_id, linked_at, last_login_at FROM federated_accounts";

/// The person an account at the provider is linked to, locked.
pub async fn by_subject_for_update(
    connection: &mut PgConnection,
    provider: &str,
    subject: &str,
) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{LINK} WHERE provider = $1 AND subject = $2 AND unlinked_at IS NULL FOR UPDATE"
    )))
    .bind(provider)
    .bind(subject)
    .fetch_optional(connection)
    .await
}

/// The person's standing link at any provider.
pub async fn of_person(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{LINK} WHERE person_id = $1 AND unlinked_at IS NULL ORDER BY linked_at DESC LIMIT 1"
    )))
    .bind(person)
    .fetch_optional(connection)
    .await
}

pub async fn link(
    connection: &mut PgConnection,
    provider: &str,
    subject: &str,
    person: Uuid,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO federated_accounts (id, provider, subject, person_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(provider)
    .bind(subject)
    .bind(person)
    .execute(connection)
    .await?;
    Ok(id)
}

pub async fn touch(connection: &mut PgConnection, link: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE federated_accounts SET last_login_at = now() WHERE id = $1")
        .bind(link)
        .execute(connection)
        .await
        .map(|_| ())
}

/// Ends the person's standing links; returns the providers they were at.
pub async fn unlink(
    connection: &mut PgConnection,
    person: Uuid,
    by: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE federated_accounts SET unlinked_at = now(), unlinked_by = $2 \
         WHERE person_id = $1 AND unlinked_at IS NULL RETURNING provider",
    )
    .bind(person)
    .bind(by)
    .fetch_all(connection)
    .await
}
