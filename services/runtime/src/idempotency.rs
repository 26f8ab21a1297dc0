//! Idempotency keys for write calls a client may retry.
//!
//! Inside the call's transaction, [`claim`] either finds the answer of an
//! earlier call with the same key (replay it, change nothing) or claims the
//! key; [`complete`] stores the answer in the same transaction as the
//! effect. A concurrent call with the same key waits on the claim and then
//! replays the committed answer; if the first call rolls back, the second
//! proceeds as new.

use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 200;

pub enum Claim<M> {
    /// First time: do the work, then [`complete`].
    New,
    /// Seen before: return this answer.
    Replay(M),
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("idempotency_key: longer than {MAX_KEY_LEN} characters")]
    KeyTooLong,
    #[error("idempotency: {0}")]
    Database(#[from] sqlx::Error),
    #[error("idempotency: the stored answer cannot be decoded: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Claims `key` for this caller and operation, or returns the stored answer.
/// An empty key means the client asked for no idempotency.
pub async fn claim<M: Message + Default>(
    transaction: &mut PgConnection,
    caller: Uuid,
    operation: &str,
    key: &str,
) -> Result<Claim<M>, IdempotencyError> {
    if key.is_empty() {
        return Ok(Claim::New);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(IdempotencyError::KeyTooLong);
    }
    let claimed = sqlx::query(
        "INSERT INTO idempotency (caller_id, operation, key) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(caller)
    .bind(operation)
    .bind(key)
    .execute(&mut *transaction)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    let stored: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT response FROM idempotency WHERE caller_id = $1 AND operation = $2 AND key = $3",
    )
    .bind(caller)
    .bind(operation)
    .bind(key)
    .fetch_one(&mut *transaction)
    .await?;
    match stored {
        Some(bytes) => Ok(Claim::Replay(M::decode(bytes.as_slice())?)),
        // Only visible if the first call's transaction stored no answer,
        // which `complete` prevents; treat as new rather than fail.
        None => Ok(Claim::New),
    }
}

/// Stores the answer for the claimed key, in the effect's transaction.
pub async fn complete<M: Message>(
    transaction: &mut PgConnection,
    caller: Uuid,
    operation: &str,
    key: &str,
    answer: &M,
) -> Result<(), IdempotencyError> {
    if key.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE idempotency SET response = $4 WHERE caller_id = $1 AND operation = $2 AND key = $3",
    )
    .bind(caller)
    .bind(operation)
    .bind(key)
    .bind(answer.encode_to_vec())
    .execute(&mut *transaction)
    .await?;
    Ok(())
}
