use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub person_id: Uuid,
    pub login: String,
    pub password_hash: String,
    pub password_change_required: bool,
    pub failed_attempts: i32,
    pub locked_until: Option<OffsetDateTime>,
}

const COLUMNS: &str =
    "person_id, login, password_hash, password_change_required, failed_attempts, locked_until";

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

pub async fn record_failure(
    connection: &mut PgConnection,
    person: Uuid,
    failed_attempts: i32,
    locked_until: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET failed_attempts = $2, locked_until = $3 WHERE person_id = $1")
        .bind(person)
        .bind(failed_attempts)
        .bind(locked_until)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn record_success(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET failed_attempts = 0, locked_until = NULL WHERE person_id = $1")
        .bind(person)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn set_password(
    connection: &mut PgConnection,
    person: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts SET password_hash = $2, password_change_required = false, \
         password_changed_at = now(), failed_attempts = 0, locked_until = NULL WHERE person_id = $1",
    )
    .bind(person)
    .bind(password_hash)
    .execute(connection)
    .await
    .map(|_| ())
}
