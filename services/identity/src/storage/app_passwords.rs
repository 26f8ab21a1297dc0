//! App passwords and the one-use salts of their login.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppPasswordRow {
    pub id: Uuid,
    pub person_id: Uuid,
    pub name: String,
    pub login: String,
    pub secret: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

const COLUMNS: &str = "id, person_id, name, login, secret, created_at, last_used_at";

pub async fn insert(
    connection: &mut PgConnection,
    row: &AppPasswordRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app_passwords (id, person_id, name, login, secret) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(row.id)
    .bind(row.person_id)
    .bind(&row.name)
    .bind(&row.login)
    .bind(&row.secret)
    .execute(connection)
    .await
    .map(|_| ())
}

/// The person's standing app passwords, newest first; the person is locked
/// so that two creations count each other.
pub async fn of_person(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<Vec<AppPasswordRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM app_passwords WHERE person_id = $1 AND revoked_at IS NULL \
         ORDER BY created_at DESC"
    )))
    .bind(person)
    .fetch_all(connection)
    .await
}

/// A standing app password by its login.
pub async fn by_login(
    connection: &mut PgConnection,
    login: &str,
) -> Result<Option<AppPasswordRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM app_passwords WHERE login = $1 AND revoked_at IS NULL"
    )))
    .bind(login)
    .fetch_optional(connection)
    .await
}

pub async fn used(connection: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app_passwords SET last_used_at = now() WHERE id = $1")
        .bind(id)
        .execute(connection)
        .await
        .map(|_| ())
}

/// Revokes the person's own app password; false when there is none.
pub async fn revoke(
    connection: &mut PgConnection,
    id: Uuid,
    person: Uuid,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE app_passwords SET revoked_at = now() \
         WHERE id = $1 AND person_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(person)
    .execute(connection)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Revokes every app password of the person.
pub async fn revoke_all(connection: &mut PgConnection, person: Uuid) -> Result<u64, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE app_passwords SET revoked_at = now() WHERE person_id = $1 AND revoked_at IS NULL",
    )
    .bind(person)
    .execute(connection)
    .await?;
    Ok(updated.rows_affected())
}

pub async fn add_challenge(
    connection: &mut PgConnection,
    id: Uuid,
    salt: &str,
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO app_password_challenges (id, salt, expires_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(salt)
        .bind(expires_at)
        .execute(connection)
        .await
        .map(|_| ())
}

/// The salt of an unused, unexpired challenge, used up by this call.
pub async fn take_challenge(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE app_password_challenges SET consumed_at = now() \
         WHERE id = $1 AND consumed_at IS NULL AND expires_at > now() RETURNING salt",
    )
    .bind(id)
    .fetch_optional(connection)
    .await
}

/// Forgets challenges that expired an hour ago.
pub async fn forget_old_challenges(connection: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query(
        "DELETE FROM app_password_challenges WHERE expires_at < now() - interval '1 hour'",
    )
    .execute(connection)
    .await?;
    Ok(deleted.rows_affected())
}
