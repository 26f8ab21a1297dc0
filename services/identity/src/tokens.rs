//! Signing access tokens (Ed25519 JWTs) and serving their public keys.
//!
//! Rotation without downtime: a new key signs from the moment it is made;
//! the old one stays published until the last token it signed has expired,
//! and verifiers fetch the keys again when they meet an unknown key id.

use std::{sync::RwLock, time::Duration};

use asurso_proto::identity::Jwk;
use asurso_runtime::auth::{AUDIENCE, AccessClaims, AuthError, KeySource};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{crypto::Secrets, domain::IdentityError, storage::keys};

/// PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): a fixed prefix, then
/// the 32 seed bytes.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// What a signed access token says and until when.
#[derive(Debug, Clone)]
pub struct Signed {
    pub token: String,
    pub expires_at: OffsetDateTime,
}

pub struct TokenIssuer {
    pool: PgPool,
    secrets: Secrets,
    issuer: String,
    access_ttl: Duration,
    current: RwLock<Option<(String, EncodingKey)>>,
}

impl TokenIssuer {
    pub fn new(pool: PgPool, secrets: Secrets, issuer: String, access_ttl: Duration) -> Self {
        Self {
            pool,
            secrets,
            issuer,
            access_ttl,
            current: RwLock::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Makes a first key when there is none.
    pub async fn ensure_key(&self) -> Result<(), IdentityError> {
        let mut connection = self.pool.acquire().await?;
        if keys::current(&mut connection).await?.is_none() {
            drop(connection);
            self.rotate().await?;
        }
        Ok(())
    }

    /// Starts signing with a fresh key; returns its id.
    pub async fn rotate(&self) -> Result<String, IdentityError> {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let kid = Uuid::now_v7().simple().to_string();
        let mut transaction = self.pool.begin().await?;
        keys::rotate_to(
            &mut transaction,
            &kid,
            &self.secrets.encrypt_signing_key(&seed),
            &public,
        )
        .await?;
        transaction.commit().await?;
        tracing::info!(%kid, "token signing key rotated");
        Ok(kid)
    }

    /// Signs an access token for the person acting in one grant.
    pub async fn sign(
        &self,
        person: Uuid,
        session: Uuid,
        grant: Uuid,
        role: &str,
        org_unit: Uuid,
    ) -> Result<Signed, IdentityError> {
        let (kid, key) = self.current_key().await?;
        let now = OffsetDateTime::now_utc();
        let expires_at = now + self.access_ttl;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: person.to_string(),
            sid: session.to_string(),
            gid: grant.to_string(),
            role: role.to_owned(),
            org: org_unit.to_string(),
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            jti: Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        let token = jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|error| IdentityError::Internal(Box::new(error)))?;
        Ok(Signed { token, expires_at })
    }

    async fn current_key(&self) -> Result<(String, EncodingKey), IdentityError> {
        let mut connection = self.pool.acquire().await?;
        let row = keys::current(&mut connection).await?.ok_or_else(|| {
            IdentityError::FailedPrecondition("no token signing key yet".to_owned())
        })?;
        if let Ok(cached) = self.current.read()
            && let Some((kid, key)) = cached.as_ref()
            && *kid == row.kid
        {
            return Ok((kid.clone(), key.clone()));
        }
        let seed = self.secrets.decrypt_signing_key(&row.private_cipher)?;
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let key = EncodingKey::from_ed_der(&der);
        if let Ok(mut cached) = self.current.write() {
            *cached = Some((row.kid.clone(), key.clone()));
        }
        Ok((row.kid, key))
    }

    /// The published public keys.
    pub async fn jwks(&self) -> Result<Vec<Jwk>, IdentityError> {
        let mut connection = self.pool.acquire().await?;
        // Retired keys stay published while tokens they signed may live.
        let grace = (self.access_ttl + Duration::from_secs(60)).as_secs_f64();
        Ok(keys::published(&mut connection, grace)
            .await?
            .into_iter()
            .map(|row| Jwk {
                kid: row.kid,
                kty: "OKP".to_owned(),
                crv: "Ed25519".to_owned(),
                x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&row.public_key),
                alg: "EdDSA".to_owned(),
            })
            .collect())
    }
}

/// Identity verifies its own tokens from its own table of keys.
pub struct OwnKeys(pub std::sync::Arc<TokenIssuer>);

impl KeySource for OwnKeys {
    async fn fetch(&self) -> Result<Vec<Jwk>, AuthError> {
        self.0
            .jwks()
            .await
            .map_err(|error| AuthError::Keys(error.to_string()))
    }
}
