use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub person_id: Uuid,
    pub login: String,
    pub password_hash: String,
    pub password_change_required: bool,
}

const COLUMNS: &str = "person_id, login, password_hash, password_change_required";

/// The account for a login, locked for this transaction (failed attempts
/// are counted without races).
pub async fn by_login_for_update(
    connection: &mut PgConnection,
    login: &str,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accounts WHERE lower(login) = lower($1) FOR UPDATE"
    )))
    .bind(login)
    .fetch_optional(connection)
    .await
}

pub async fn by_person_for_update(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accounts WHERE person_id = $1 FOR UPDATE"
    )))
    .bind(person)
    .fetch_optional(connection)
    .await
}

/// Whether the person has a local login (a password), whatever its state.
pub async fn exists(connection: &mut PgConnection, person: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE person_id = $1)")
        .bind(person)
        .fetch_one(connection)
        .await
}

pub async fn insert(
    connection: &mut PgConnection,
    person: Uuid,
    login: &str,
    password_hash: &str,
    change_required: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO accounts (person_id, login, password_hash, password_change_required) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(person)
    .bind(login)
    .bind(password_hash)
    .bind(change_required)
    .execute(connection)
    .await
    .map(|_| ())
}

/// Until when a login name is locked, if it is.
pub async fn locked_until(
    connection: &mut PgConnection,
    login: &str,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    let until: Option<Option<OffsetDateTime>> =
        sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE login = lower($1)")
            .bind(login)
            .fetch_optional(connection)
            .await?;
    Ok(until.flatten())
}

/// Counts one more failure for a login name; returns the count so far.
pub async fn count_failure(connection: &mut PgConnection, login: &str) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO login_throttle (login, failures) VALUES (lower($1), 1) \
         ON CONFLICT (login) DO UPDATE SET failures = login_throttle.failures + 1, updated_at = now() \
         RETURNING failures",
    )
    .bind(login)
    .fetch_one(connection)
    .await
}

/// Locks a login name until `until` and starts counting afresh.
pub async fn lock(
    connection: &mut PgConnection,
    login: &str,
    until: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE login_throttle SET failures = 0, locked_until = $2, updated_at = now() WHERE login = lower($1)")
        .bind(login)
        .bind(until)
        .execute(connection)
        .await
        .map(|_| ())
}

/// Forgets past failures after a right password.
pub async fn clear_failures(connection: &mut PgConnection, login: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE login = lower($1)")
        .bind(login)
        .execute(connection)
        .await
        .map(|_| ())
}

/// Replaces the password; `temporary` (an admin's) must be changed before
/// any login.
pub async fn set_password(
    connection: &mut PgConnection,
    person: Uuid,
    password_hash: &str,
    temporary: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts SET password_hash = $2, password_change_required = $3, \
         password_changed_at = now() WHERE person_id = $1",
    )
    .bind(person)
    .bind(password_hash)
    .bind(temporary)
    .execute(connection)
    .await
    .map(|_| ())
}
