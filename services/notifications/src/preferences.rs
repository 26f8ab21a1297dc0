//! A person's preferences as stored: channels per kind, quiet hours, the
//! digest, the e-mail address with its confirmation code, push
//! subscriptions.

use sqlx::PgConnection;
use time::{OffsetDateTime, Time};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub quiet_enabled: bool,
    pub quiet_start: Time,
    pub quiet_end: Time,
    pub digest_enabled: bool,
    pub digest_at: Time,
    pub email: String,
    pub email_confirmed: bool,
    pub email_disabled_reason: String,
    pub email_code_digest: Option<Vec<u8>>,
    pub email_code_expires_at: Option<OffsetDateTime>,
    pub email_code_attempts: i32,
}

/// The person's row, made with the defaults if they have none yet.
pub async fn of(connection: &mut PgConnection, person: Uuid) -> Result<Row, sqlx::Error> {
    sqlx::query("INSERT INTO preferences (person_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(person)
        .execute(&mut *connection)
        .await?;
    sqlx::query_as(
        "SELECT quiet_enabled, quiet_start, quiet_end, digest_enabled, digest_at, email, \
             email_confirmed, email_disabled_reason, email_code_digest, email_code_expires_at, \
             email_code_attempts \
         FROM preferences WHERE person_id = $1 FOR UPDATE",
    )
    .bind(person)
    .fetch_one(connection)
    .await
}

pub async fn choices(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<Vec<(String, Vec<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT kind, channels FROM channel_choices WHERE person_id = $1")
        .bind(person)
        .fetch_all(connection)
        .await
}

pub async fn choose(
    connection: &mut PgConnection,
    person: Uuid,
    kind: &str,
    channels: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO channel_choices (person_id, kind, channels) VALUES ($1, $2, $3) \
         ON CONFLICT (person_id, kind) DO UPDATE SET channels = excluded.channels",
    )
    .bind(person)
    .bind(kind)
    .bind(channels)
    .execute(connection)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscription {
    pub id: Uuid,
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
    pub created_at: OffsetDateTime,
}

/// The person's live push subscriptions.
pub async fn subscriptions(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<Vec<Subscription>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, endpoint, p256dh, auth, created_at FROM push_subscriptions \
         WHERE person_id = $1 AND gone_at IS NULL ORDER BY created_at",
    )
    .bind(person)
    .fetch_all(connection)
    .await
}

pub async fn subscription(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Subscription>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, endpoint, p256dh, auth, created_at FROM push_subscriptions \
         WHERE id = $1 AND gone_at IS NULL",
    )
    .bind(id)
    .fetch_optional(connection)
    .await
}

/// The zone quiet hours and the digest are read in.
pub async fn zone(connection: &mut PgConnection, person: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT person_zone($1)")
        .bind(person)
        .fetch_one(connection)
        .await
}

/// Pending deliveries of the person held back by quiet hours become due
/// now (the dispatcher holds them again if they still fall in them).
pub async fn release_held(connection: &mut PgConnection, person: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE deliveries SET due_at = now(), held = false \
         WHERE person_id = $1 AND state = 'pending' AND held",
    )
    .bind(person)
    .execute(connection)
    .await?
    .rows_affected())
}
