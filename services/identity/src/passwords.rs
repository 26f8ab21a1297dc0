//! Password hashing with argon2id, on the blocking pool (it is meant to be
//! slow), and a dummy verification for unknown logins so that timing does
//! not tell which logins exist. Each hash takes ~19 MiB for its moment, so
//! at most one per core runs at once: a burst of logins waits its turn
//! instead of taking the process's memory (the blocking pool would run
//! hundreds side by side).

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use rand::Rng;

use crate::domain::IdentityError;

/// Hashes running at once: one per core.
fn hashers() -> &'static tokio::sync::Semaphore {
    static HASHERS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    HASHERS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        tokio::sync::Semaphore::new(cores)
    })
}

#[cfg(test)]
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
#[cfg(test)]
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A turn at hashing: one hasher of [`hashers`], held until dropped. Take
/// it before the database connection a hash is done under, so that logins
/// waiting for a hasher hold no connection: a burst of them would
/// otherwise empty the pool and time out everything else identity does.
pub struct Turn(#[allow(dead_code)] tokio::sync::SemaphorePermit<'static>);

/// Waits for a free hasher.
pub async fn turn() -> Result<Turn, IdentityError> {
    hashers()
        .acquire()
        .await
        .map(Turn)
        .map_err(|error| IdentityError::Internal(Box::new(error)))
}

impl Turn {
    /// argon2id of `password`, with a fresh salt, in PHC form.
    pub async fn hash(&self, password: String) -> Result<String, IdentityError> {
        on_blocking_pool(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|error| IdentityError::Internal(error.to_string().into()))
        })
        .await
    }

    /// Whether `password` matches `stored`; with no stored hash, spends
    /// the same time and says no.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, IdentityError> {
        on_blocking_pool(move || {
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
    }
}

/// Runs `work` (a hash, under a [`Turn`]) on the blocking pool.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IdentityError> + Send + 'static,
) -> Result<T, IdentityError> {
    tokio::task::spawn_blocking(move || {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering;
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        let done = work();
        #[cfg(test)]
        RUNNING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        done
    })
    .await
    .map_err(|error| IdentityError::Internal(Box::new(error)))?
}

/// [`Turn::hash`] in a turn of its own.
pub async fn hash(password: String) -> Result<String, IdentityError> {
    turn().await?.hash(password).await
}

/// [`Turn::verify`] in a turn of its own.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, IdentityError> {
    turn().await?.verify(password, stored).await
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_logins_hashes_one_per_core_and_answers_each() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let stored = hash("correct horse".to_owned()).await.ok();
        let burst: Vec<_> = (0..4 * cores + 4)
            .map(|n| {
                let stored = stored.clone();
                tokio::spawn(async move {
                    let guess = if n % 2 == 0 { "correct horse" } else { "wrong" };
                    verify(guess.to_owned(), stored).await.ok() == Some(n % 2 == 0)
                })
            })
            .collect();
        for login in burst {
            assert_eq!(
                login.await.ok(),
                Some(true),
                "every login is answered rightly"
            );
        }
        let peak = PEAK.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&peak),
            "{peak} hashes ran at once on {cores} cores"
        );
    }
}
