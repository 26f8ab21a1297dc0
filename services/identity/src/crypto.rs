//! Keys derived from the one master key in settings, and what they protect:
//! SNILS (encrypted, and a keyed hash to find a person by it) and the private
//! halves of the token signing keys. A stolen database alone reveals neither.

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::domain::snils::Snils;

const NONCE_LEN: usize = 12;

/// What a sealed login secret is for (its associated data): an app
/// password's md5, a federation login's PKCE verifier.
pub const APP_PASSWORD_SECRET: &[u8] = b"app-password-md5";
pub const PKCE_VERIFIER: &[u8] = b"pkce-verifier";

/// The kinds of sealed value identity stores, for [`Secrets::reseal`].
#[derive(Debug, Clone, Copy)]
pub enum Sealed {
    Snils,
    SigningKey,
    /// A login secret with its purpose.
    LoginSecret(&'static [u8]),
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("crypto.master_key: must be 32 bytes in standard base64")]
    MasterKey,
    #[error("stored ciphertext cannot be decrypted with this master key")]
    Decrypt,
}

/// The keys identity works with, derived once at start.
#[derive(Clone)]
pub struct Secrets {
    snils_cipher: Aes256Gcm,
    snils_hash_key: [u8; 32],
    signing_key_cipher: Aes256Gcm,
    login_secret_cipher: Aes256Gcm,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    pub fn from_master(master: &SecretString) -> Result<Self, CryptoError> {
        let master = base64::engine::general_purpose::STANDARD
            .decode(master.expose_secret().trim())
            .map_err(|_| CryptoError::MasterKey)?;
        if master.len() != 32 {
            return Err(CryptoError::MasterKey);
        }
        let derive = |label: &str| -> [u8; 32] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&master)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(label.as_bytes());
            mac.finalize().into_bytes().into()
        };
        Ok(Self {
            snils_cipher: Aes256Gcm::new(&derive("asurso identity snils encryption v1").into()),
            snils_hash_key: derive("asurso identity snils lookup v1"),
            signing_key_cipher: Aes256Gcm::new(&derive("asurso identity signing keys v1").into()),
            login_secret_cipher: Aes256Gcm::new(&derive("asurso identity login secrets v1").into()),
        })
    }

    pub fn encrypt_snils(&self, snils: &Snils) -> Vec<u8> {
        seal(&self.snils_cipher, snils.expose().as_bytes(), b"snils")
    }

    pub fn decrypt_snils(&self, sealed: &[u8]) -> Result<Snils, CryptoError> {
        let plain = open(&self.snils_cipher, sealed, b"snils")?;
        let text = String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)?;
        Snils::parse(&text).map_err(|_| CryptoError::Decrypt)
    }

    /// The same SNILS always gives the same hash; without the master key the
    /// hash cannot be computed, so it cannot be brute-forced from a dump.
    pub fn snils_hash(&self, snils: &Snils) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.snils_hash_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(snils.expose().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub fn encrypt_signing_key(&self, seed: &[u8]) -> Vec<u8> {
        seal(&self.signing_key_cipher, seed, b"signing-key")
    }

    pub fn decrypt_signing_key(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open(&self.signing_key_cipher, sealed, b"signing-key")
    }
}

impl Secrets {
    fn cipher_of(&self, kind: Sealed) -> (&Aes256Gcm, &'static [u8]) {
        match kind {
            Sealed::Snils => (&self.snils_cipher, b"snils"),
            Sealed::SigningKey => (&self.signing_key_cipher, b"signing-key"),
            Sealed::LoginSecret(purpose) => (&self.login_secret_cipher, purpose),
        }
    }

    /// Moves a value sealed under `previous` to these keys: `None` when it
    /// is sealed under these already (a second run changes nothing),
    /// `Decrypt` when neither key opens it.
    pub fn reseal(
        &self,
        previous: &Secrets,
        kind: Sealed,
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, CryptoError> {
        let (cipher, purpose) = self.cipher_of(kind);
        if open(cipher, sealed, purpose).is_ok() {
            return Ok(None);
        }
        let (old, _) = previous.cipher_of(kind);
        let plain = open(old, sealed, purpose)?;
        Ok(Some(seal(cipher, &plain, purpose)))
    }

    /// Seals what a login keeps between calls (a PKCE verifier, an app
    /// password's md5): `purpose` binds the ciphertext to its use.
    pub fn seal_login_secret(&self, plain: &[u8], purpose: &[u8]) -> Vec<u8> {
        seal(&self.login_secret_cipher, plain, purpose)
    }

    pub fn open_login_secret(&self, sealed: &[u8], purpose: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open(&self.login_secret_cipher, sealed, purpose)
    }
}

fn seal(cipher: &Aes256Gcm, plain: &[u8], purpose: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: purpose,
            },
        )
        .unwrap_or_else(|_| unreachable!("AES-GCM encryption of a short message cannot fail"));
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

fn open(cipher: &Aes256Gcm, sealed: &[u8], purpose: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: purpose,
            },
        )
        .map_err(|_| CryptoError::Decrypt)
}

/// SHA-256, for refresh tokens: they are random and long, so a plain hash
/// is enough to make a stolen table useless.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    Sha256::digest(bytes).to_vec()
}

/// Equal, without telling through timing how much of it matched.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random token of 32 bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        let master =
            SecretString::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
        Secrets::from_master(&master).expect("valid master key")
    }

    #[test]
    fn snils_round_trips_and_hashes_stably() {
        let secrets = secrets();
        let snils = Snils::parse("112-233-445 95").expect("valid");
        let sealed = secrets.encrypt_snils(&snils);
        assert!(!String::from_utf8_lossy(&sealed).contains("112"));
        assert_eq!(secrets.decrypt_snils(&sealed).expect("opens"), snils);
        assert_ne!(
            secrets.encrypt_snils(&snils),
            sealed,
            "a fresh nonce every time"
        );
        assert_eq!(secrets.snils_hash(&snils), secrets.snils_hash(&snils));
    }

    #[test]
    fn another_master_key_opens_nothing() {
        let snils = Snils::parse("112-233-445 95").expect("valid");
        let sealed = secrets().encrypt_snils(&snils);
        let other = SecretString::from(base64::engine::general_purpose::STANDARD.encode([8u8; 32]));
        let other = Secrets::from_master(&other).expect("valid");
        assert!(other.decrypt_snils(&sealed).is_err());
        assert_ne!(other.snils_hash(&snils), secrets().snils_hash(&snils));
    }

    #[test]
    fn a_short_or_malformed_master_key_is_refused() {
        for bad in ["", "not base64!", "c2hvcnQ="] {
            assert!(
                Secrets::from_master(&SecretString::from(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
