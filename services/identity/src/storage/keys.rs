use sqlx::PgConnection;
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub private_cipher: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
}

/// Keys still published: the current one and those retired less than
/// `grace_secs` ago (their tokens may still be alive).
pub async fn published(
    connection: &mut PgConnection,
    grace_secs: f64,
) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kid, private_cipher, public_key, created_at, retired_at FROM signing_keys \
         WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1) \
         ORDER BY created_at DESC",
    )
    .bind(grace_secs)
    .fetch_all(connection)
    .await
}

pub async fn current(connection: &mut PgConnection) -> Result<Option<KeyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kid, private_cipher, public_key, created_at, retired_at FROM signing_keys \
         WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_optional(connection)
    .await
}

/// Adds a key and retires every other, in the caller's transaction.
pub async fn rotate_to(
    connection: &mut PgConnection,
    kid: &str,
    private_cipher: &[u8],
    public_key: &[u8],
) -> Result<(), sqlx::Error> {
    // One rotation at a time across replicas.
    sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *connection)
        .await?;
    sqlx::query("UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL")
        .execute(&mut *connection)
        .await?;
    sqlx::query("INSERT INTO signing_keys (kid, private_cipher, public_key) VALUES ($1, $2, $3)")
        .bind(kid)
        .bind(private_cipher)
        .bind(public_key)
        .execute(connection)
        .await
        .map(|_| ())
}
