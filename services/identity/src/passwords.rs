//! Password hashing with argon2id, on the blocking pool (it is meant to be
//! slow), and a dummy verification for unknown logins so that timing does
//! not tell which logins exist.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use rand::Rng;

use crate::domain::IdentityError;

pub async fn hash(password: String) -> Result<String, IdentityError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| IdentityError::Internal(error.to_string().into()))
    })
    .await
    .map_err(|error| IdentityError::Internal(Box::new(error)))?
}

/// Whether `password` matches `stored`; with no stored hash, spends the same
/// time and says no.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, IdentityError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = match stored {
            Some(stored) => stored,
            None => dummy_hash()?.to_owned(),
        };
        let parsed = PasswordHash::new(&stored)
            .map_err(|error| IdentityError::Internal(error.to_string().into()))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known)
    })
    .await
    .map_err(|error| IdentityError::Internal(Box::new(error)))?
}

/// argon2id of a random password nobody knows, made once per process.
fn dummy_hash() -> Result<&'static str, IdentityError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(temporary().as_bytes(), &salt)
        .map_err(|error| IdentityError::Internal(error.to_string().into()))?
        .to_string();
    Ok(DUMMY.get_or_init(|| hash))
}

/// A temporary password an admin hands over: 16 characters from an
/// alphabet without look-alikes (~94 bits).
pub fn temporary() -> String {
    random_text(WITHOUT_LOOK_ALIKES, 16)
}

/// Letters and digits without look-alikes (no 0/O, 1/l/I): 55 of them.
pub const WITHOUT_LOOK_ALIKES: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// `length` random characters from `alphabet`.
pub fn random_text(alphabet: &[u8], length: usize) -> String {
    let mut rng = rand::rng();
    (0..length)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}
