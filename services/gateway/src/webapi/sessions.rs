//! The apps' sessions. An app holds `at`: 32 random bytes (hex) only it
//! knows. Behind it stands identity's access token of the session, kept in
//! `webapi_sessions` under the hash of `at` and sealed with a key made from
//! `at`, so the table alone opens nothing. The session lasts as long as that
//! token; then the app logs in again and gets a new `at`. Apps carry their
//! stale `at` into that login and resend their refused request with it
//! afterwards, so a login of the same person lets the stale key act with
//! the new token for [`GRACE`], once.

use std::{collections::HashMap, sync::Mutex};

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::WebApiError;

const NONCE_LEN: usize = 12;
const PURPOSE: &[u8] = b"asurso webapi session token v1";
/// Sessions held in memory (each replica its own); past this it starts
/// again empty and reads the table.
const CACHE_LIMIT: usize = 100_000;
/// A stale `at` may be renewed by a login this long after it ran out.
const RENEWABLE_DAYS: i64 = 30;
/// How long a stale `at` renewed by a login still acts.
const GRACE: time::Duration = time::Duration::seconds(60);

/// What an `at` stands for.
#[derive(Debug, Clone)]
pub struct Held {
    pub person: Uuid,
    pub token: String,
    pub expires: OffsetDateTime,
}

pub struct Sessions {
    pool: PgPool,
    held: Mutex<HashMap<[u8; 32], Held>>,
}

/// The key an `at` is stored under; none for what no app was ever given.
fn key_of(at: &str) -> Option<[u8; 32]> {
    if at.len() != 64 || !at.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(b"asurso webapi session key v1:");
    hasher.update(at.as_bytes());
    Some(hasher.finalize().into())
}

fn cipher_of(at: &str) -> Aes256Gcm {
    let mut hasher = Sha256::new();
    hasher.update(b"asurso webapi session seal v1:");
    hasher.update(at.as_bytes());
    let key: [u8; 32] = hasher.finalize().into();
    Aes256Gcm::new(&key.into())
}

fn seal(at: &str, token: &str) -> Result<Vec<u8>, WebApiError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher_of(at)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: token.as_bytes(),
                aad: PURPOSE,
            },
        )
        .map_err(|_| WebApiError::Internal("sealing a session token failed".to_owned()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open(at: &str, sealed: &[u8]) -> Option<String> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let plain = cipher_of(at)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: PURPOSE,
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

fn new_at() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Sessions {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn remember(&self, key: [u8; 32], held: Held) {
        if let Ok(mut map) = self.held.lock() {
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert(key, held);
        }
    }

    /// What `at` stands for; none when no app was given it. A run-out token
    /// in memory is read again (another replica may have renewed it).
    pub async fn find(&self, at: &str) -> Result<Option<Held>, WebApiError> {
        let Some(key) = key_of(at) else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc();
        let cached = self.held.lock().ok().and_then(|map| map.get(&key).cloned());
        if let Some(held) = cached.filter(|held| held.expires > now) {
            return Ok(Some(held));
        }
        let row: Option<(Uuid, Vec<u8>, OffsetDateTime)> = sqlx::query_as(
            "SELECT person_id, sealed_token, expires_at FROM webapi_sessions WHERE key_hash = $1",
        )
        .bind(key.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        let Some((person, sealed, expires)) = row else {
            return Ok(None);
        };
        let Some(token) = open(at, &sealed) else {
            return Ok(None);
        };
        let held = Held {
            person,
            token,
            expires,
        };
        self.remember(key, held.clone());
        Ok(Some(held))
    }

    /// Keeps a new login's token under a new `at`, which it answers. The
    /// app's stale `at`, when it names a session of the same person not
    /// renewed before, acts with the new token for [`GRACE`].
    pub async fn open(
        &self,
        stale: Option<&str>,
        person: Uuid,
        token: &str,
        expires: OffsetDateTime,
    ) -> Result<String, WebApiError> {
        sqlx::query(
            "DELETE FROM webapi_sessions WHERE expires_at < now() - make_interval(days => $1)",
        )
        .bind(i32::try_from(RENEWABLE_DAYS).unwrap_or(30))
        .execute(&self.pool)
        .await?;
        if let Some(stale) = stale
            && let Some(key) = key_of(stale)
        {
            let until = expires.min(OffsetDateTime::now_utc() + GRACE);
            let renewed = sqlx::query(
                "UPDATE webapi_sessions SET sealed_token = $2, expires_at = $3, renewed_at = now() \
                 WHERE key_hash = $1 AND person_id = $4 AND renewed_at IS NULL",
            )
            .bind(key.as_slice())
            .bind(seal(stale, token)?)
            .bind(until)
            .bind(person)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if renewed == 1 {
                self.remember(
                    key,
                    Held {
                        person,
                        token: token.to_owned(),
                        expires: until,
                    },
                );
            }
        }
        let at = new_at();
        let key = key_of(&at)
            .ok_or_else(|| WebApiError::Internal("a new session key is malformed".to_owned()))?;
        sqlx::query(
            "INSERT INTO webapi_sessions (key_hash, person_id, sealed_token, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(key.as_slice())
        .bind(person)
        .bind(seal(&at, token)?)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        self.remember(
            key,
            Held {
                person,
                token: token.to_owned(),
                expires,
            },
        );
        Ok(at)
    }

    /// Drops what this replica holds of `at`: the table is read again.
    pub fn forget_held(&self, at: &str) {
        if let (Some(key), Ok(mut map)) = (key_of(at), self.held.lock()) {
            map.remove(&key);
        }
    }

    /// Forgets `at` (a logout).
    pub async fn end(&self, at: &str) -> Result<(), WebApiError> {
        let Some(key) = key_of(at) else {
            return Ok(());
        };
        if let Ok(mut map) = self.held.lock() {
            map.remove(&key);
        }
        sqlx::query("DELETE FROM webapi_sessions WHERE key_hash = $1")
            .bind(key.as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_with_its_own_at() {
        let at = new_at();
        let other = new_at();
        assert_eq!(at.len(), 64);
        assert_ne!(at, other);
        let sealed = seal(&at, "token").unwrap_or_default();
        assert_eq!(open(&at, &sealed).as_deref(), Some("token"));
        assert_eq!(open(&other, &sealed), None);
        assert_eq!(open(&at, &sealed[..5]), None);
    }

    #[test]
    fn only_what_looks_like_an_at_has_a_key() {
        assert!(key_of(&new_at()).is_some());
        for bad in ["", "abc", &"z".repeat(64), &"a".repeat(65)] {
            assert!(key_of(bad).is_none(), "{bad}");
        }
        assert_ne!(key_of(&"a".repeat(64)), key_of(&"b".repeat(64)));
    }
}
