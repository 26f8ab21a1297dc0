//! Idempotency keys for write calls a client may retry, one scheme for
//! every service: a key belongs to its caller and its method (named by the
//! method's request type, one per method in the contracts), and remembers a
//! digest of the request it came with.
//!
//! Inside the call's transaction, [`Idempotent::replay`] either finds the
//! answer of an earlier call with the same key (replay it, change nothing)
//! or claims the key; [`Idempotent::remember`] stores the answer in the same
//! transaction as the effect. A concurrent call with the same key waits on
//! the claim and then replays the committed answer; if the first call rolls
//! back, the second proceeds as new. The same key with a different request
//! is the client's mistake and is refused: answering it with the first
//! call's answer would tell it something was done that was not.
//!
//! Keys are kept under the request type's full name: renaming a request
//! type in the contracts forgets the answers kept for it (for as long as
//! the relay's retention keeps them at all).

use prost::{Message, Name};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{auth::Caller, errors::ServiceError};

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("longer than {MAX_KEY_LEN} characters")]
    KeyTooLong,
    #[error("was used for a different request: use a new key for a new request")]
    Reused,
    #[error("idempotency: {0}")]
    Database(#[from] sqlx::Error),
    #[error("idempotency: the stored answer cannot be decoded: {0}")]
    Decode(#[from] prost::DecodeError),
}

impl From<IdempotencyError> for ServiceError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::KeyTooLong | IdempotencyError::Reused => {
                Self::invalid("idempotency_key", error.to_string())
            }
            other => Self::internal(other),
        }
    }
}

/// A write call's idempotency key, scoped to its caller and method. An
/// empty key means the client asked for no idempotency: every call is new.
#[derive(Debug, Clone)]
pub struct Idempotent {
    caller: Uuid,
    method: String,
    key: String,
    digest: Vec<u8>,
}

impl Idempotent {
    /// The key of `request`, sent by `caller`; the method is the request's
    /// type. Refuses a key too long before anything is read.
    pub fn of<R: Message + Name>(
        caller: &Caller,
        request: &R,
        key: &str,
    ) -> Result<Self, IdempotencyError> {
        if key.len() > MAX_KEY_LEN {
            return Err(IdempotencyError::KeyTooLong);
        }
        let digest = if key.is_empty() {
            Vec::new()
        } else {
            Sha256::digest(request.encode_to_vec()).to_vec()
        };
        Ok(Self {
            caller: caller.person_id,
            method: R::full_name(),
            key: key.to_owned(),
            digest,
        })
    }

    /// The stored answer of an earlier call with this key, if there is
    /// one; otherwise the key is claimed for this call, to be completed by
    /// [`Idempotent::remember`] in the same transaction.
    pub async fn replay<M: Message + Default>(
        &self,
        transaction: &mut PgConnection,
    ) -> Result<Option<M>, IdempotencyError> {
        if self.key.is_empty() {
            return Ok(None);
        }
        let claimed = sqlx::query(
            "INSERT INTO idempotency (caller_id, operation, key, request_digest) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(self.caller)
        .bind(&self.method)
        .bind(&self.key)
        .bind(&self.digest)
        .execute(&mut *transaction)
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(None);
        }
        let (stored, digest): (Option<Vec<u8>>, Option<Vec<u8>>) = sqlx::query_as(
            "SELECT response, request_digest FROM idempotency \
             WHERE caller_id = $1 AND operation = $2 AND key = $3",
        )
        .bind(self.caller)
        .bind(&self.method)
        .bind(&self.key)
        .fetch_one(&mut *transaction)
        .await?;
        if digest.is_some_and(|digest| digest != self.digest) {
            return Err(IdempotencyError::Reused);
        }
        match stored {
            Some(bytes) => Ok(Some(M::decode(bytes.as_slice())?)),
            // Only visible if the first call's transaction stored no
            // answer, which `remember` prevents; treat as new rather than
            // fail.
            None => Ok(None),
        }
    }

    /// Stores the answer for the claimed key, in the effect's transaction.
    pub async fn remember<M: Message>(
        &self,
        transaction: &mut PgConnection,
        answer: &M,
    ) -> Result<(), IdempotencyError> {
        if self.key.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE idempotency SET response = $4 \
             WHERE caller_id = $1 AND operation = $2 AND key = $3",
        )
        .bind(self.caller)
        .bind(&self.method)
        .bind(&self.key)
        .bind(answer.encode_to_vec())
        .execute(&mut *transaction)
        .await?;
        Ok(())
    }
}
