//! Who is calling: access tokens signed by identity, verified by every
//! service itself from identity's public keys (no call to identity on the
//! hot path).
//!
//! A token names the person, the session, and the one role grant the person
//! acts in (role + org unit). Keys are fetched once and again only when a
//! token names a key not seen yet (rotation), at most every few seconds.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

use asurso_proto::identity::{GetJwksRequest, Jwk, Role, auth_service_client::AuthServiceClient};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The audience every access token is issued for.
pub const AUDIENCE: &str = "asurso";
/// How often unknown key ids may trigger a fetch of the keys: tokens with
/// made-up key ids cannot turn into a flood of calls to identity, and a real
/// new key waits at most this long.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_millis(250);
/// Keys are fetched again at least this often, so a retired (perhaps leaked)
/// key stops being accepted soon after identity stops publishing it.
const KEYS_MAX_AGE: Duration = Duration::from_secs(60);
/// No token identity issues lives longer; a longer one is forged.
const MAX_TOKEN_LIFETIME: i64 = 3600;
/// Tokens remembered as verified: a caller's next calls (and the next hop
/// of the same call) cost a lookup instead of a signature check. At most
/// this many, each for at most [`KEYS_MAX_AGE`] and never past its expiry,
/// forgotten whenever the keys change.
const VERIFIED_CAPACITY: usize = 4096;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The person.
    pub sub: String,
    /// The session (logout ends it).
    pub sid: String,
    /// The role grant the person acts in.
    pub gid: String,
    pub role: String,
    /// The org unit the grant is scoped to.
    pub org: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub person_id: Uuid,
    pub session_id: Uuid,
    pub grant_id: Uuid,
    pub role: Role,
    pub org_unit_id: Uuid,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no access token: send \"authorization: Bearer <token>\"")]
    Missing,
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token has expired: refresh it")]
    Expired,
    #[error("the access token is not valid: {0}")]
    Invalid(String),
    #[error("the access token was signed by an unknown key")]
    UnknownKey,
    #[error("cannot fetch the token keys: {0}")]
    Keys(String),
}

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Keys(_) => tonic::Status::unavailable(error.to_string()),
            _ => tonic::Status::unauthenticated(error.to_string()),
        }
    }
}

/// The name of a role in tokens and events: `teacher`, `region_admin`, ...
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Unspecified => "unspecified",
        Role::RegionAdmin => "region_admin",
        Role::MunicipalAdmin => "municipal_admin",
        Role::SchoolAdmin => "school_admin",
        Role::Teacher => "teacher",
        Role::ClassTeacher => "class_teacher",
        Role::Student => "student",
        Role::Parent => "parent",
    }
}

/// The role a name stands for.
pub fn parse_role(name: &str) -> Option<Role> {
    Some(match name {
        "region_admin" => Role::RegionAdmin,
        "municipal_admin" => Role::MunicipalAdmin,
        "school_admin" => Role::SchoolAdmin,
        "teacher" => Role::Teacher,
        "class_teacher" => Role::ClassTeacher,
        "student" => Role::Student,
        "parent" => Role::Parent,
        _ => return None,
    })
}

/// Where verification keys come from.
pub trait KeySource: Send + Sync + 'static {
    fn fetch(&self) -> impl Future<Output = Result<Vec<Jwk>, AuthError>> + Send;
}

/// Identity's public keys, over gRPC.
#[derive(Debug, Clone)]
pub struct IdentityKeys {
    client: AuthServiceClient<tonic::transport::Channel>,
}

impl IdentityKeys {
    pub fn new(channel: tonic::transport::Channel) -> Self {
        Self {
            client: AuthServiceClient::new(channel),
        }
    }
}

impl KeySource for IdentityKeys {
    async fn fetch(&self) -> Result<Vec<Jwk>, AuthError> {
        let mut client = self.client.clone();
        let answer = client
            .get_jwks(GetJwksRequest {})
            .await
            .map_err(|status| AuthError::Keys(status.message().to_owned()))?;
        Ok(answer.into_inner().keys)
    }
}

/// Where a service other than identity finds identity: its gRPC address
/// (for its public token keys) and the issuer its tokens name. Every
/// service that verifies callers has this section as `identity`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    pub address: String,
    pub issuer: String,
}

#[derive(Debug, thiserror::Error)]
#[error("identity.address: {0}")]
struct IdentityAddress(String);

impl IdentitySettings {
    /// The one way a service verifies its callers: identity's keys over a
    /// lazily connected channel, so the service starts (and serves what
    /// needs no token) while identity is still starting.
    pub fn verifier(&self) -> Result<Verifier<IdentityKeys>, crate::service::StartError> {
        let channel = tonic::transport::Endpoint::from_shared(self.address.clone())
            .map_err(|error| {
                crate::service::StartError::service(IdentityAddress(error.to_string()))
            })?
            .connect_lazy();
        Ok(Verifier::new(
            IdentityKeys::new(channel),
            self.issuer.clone(),
        ))
    }
}

/// Verifies access tokens.
pub struct Verifier<S> {
    source: S,
    issuer: String,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    /// Counts completed fetches: requests that queued behind a fetch reuse
    /// its result instead of fetching again.
    fetches: std::sync::atomic::AtomicU64,
    fetching: tokio::sync::Mutex<()>,
    verified: Mutex<HashMap<Box<str>, Verified>>,
}

/// A token verified a moment ago: who it names, until when that holds.
struct Verified {
    caller: Caller,
    until: Instant,
}

impl<S: KeySource> Verifier<S> {
    pub fn new(source: S, issuer: impl Into<String>) -> Self {
        Self {
            source,
            issuer: issuer.into(),
            keys: RwLock::default(),
            last_fetch: Mutex::default(),
            fetches: std::sync::atomic::AtomicU64::new(0),
            fetching: tokio::sync::Mutex::default(),
            verified: Mutex::default(),
        }
    }

    /// Checks the token's signature, issuer, audience and expiry and says
    /// who is calling; a token verified lately is not checked again.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        if let Some(caller) = self.remembered(token) {
            return Ok(caller);
        }
        let (caller, expires) = self.verify_signed(token).await?;
        self.remember(token, &caller, expires);
        Ok(caller)
    }

    fn remembered(&self, token: &str) -> Option<Caller> {
        let verified = self.verified.lock().ok()?;
        verified
            .get(token)
            .filter(|seen| seen.until > Instant::now())
            .map(|seen| seen.caller.clone())
    }

    /// Remembers a verified token until its expiry (unix seconds), at most
    /// [`KEYS_MAX_AGE`].
    fn remember(&self, token: &str, caller: &Caller, expires: i64) {
        let now = Instant::now();
        let left = expires.saturating_sub(time::OffsetDateTime::now_utc().unix_timestamp());
        let Ok(left) = u64::try_from(left) else {
            return;
        };
        let until = now + Duration::from_secs(left).min(KEYS_MAX_AGE);
        let Ok(mut verified) = self.verified.lock() else {
            return;
        };
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, seen| seen.until > now);
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(
            token.into(),
            Verified {
                caller: caller.clone(),
                until,
            },
        );
    }

    /// The full check: the caller and the token's expiry.
    async fn verify_signed(&self, token: &str) -> Result<(Caller, i64), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or(AuthError::Invalid("no key id".to_owned()))?;
        let stale = self
            .last_fetch
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_none_or(|at| at.elapsed() > KEYS_MAX_AGE);
        if stale && let Err(error) = self.refresh_keys().await {
            // Identity unreachable: keep verifying with the keys we have.
            if self.key(&kid).is_none() {
                return Err(error);
            }
            tracing::warn!(%error, "cannot refresh the token keys; using the cached ones");
        }
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.refresh_keys().await?;
                self.key(&kid).ok_or(AuthError::UnknownKey)?
            }
        };

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::InvalidToken
                | jsonwebtoken::errors::ErrorKind::Base64(_)
                | jsonwebtoken::errors::ErrorKind::Json(_)
                | jsonwebtoken::errors::ErrorKind::Utf8(_) => AuthError::Malformed,
                _ => AuthError::Invalid(error.to_string()),
            })?
            .claims;
        if claims.exp - claims.iat > MAX_TOKEN_LIFETIME {
            return Err(AuthError::Invalid(
                "the token claims too long a lifetime".to_owned(),
            ));
        }
        Ok((caller_of(&claims)?, claims.exp))
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    async fn refresh_keys(&self) -> Result<(), AuthError> {
        use std::sync::atomic::Ordering;
        let seen = self.fetches.load(Ordering::Acquire);
        let _one_at_a_time = self.fetching.lock().await;
        if self.fetches.load(Ordering::Acquire) != seen {
            // Someone fetched while we waited: use that.
            return Ok(());
        }
        let since_last = self
            .last_fetch
            .lock()
            .ok()
            .and_then(|last| *last)
            .map(|at| at.elapsed());
        if let Some(since) = since_last
            && since < REFETCH_AT_MOST_EVERY
        {
            tokio::time::sleep(REFETCH_AT_MOST_EVERY - since).await;
        }
        let fetched = self.source.fetch().await;
        if let Ok(mut last) = self.last_fetch.lock() {
            *last = Some(Instant::now());
        }
        let mut keys = HashMap::new();
        for jwk in fetched? {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                continue;
            }
            match DecodingKey::from_ed_components(&jwk.x) {
                Ok(key) => {
                    keys.insert(jwk.kid, key);
                }
                Err(error) => tracing::warn!(kid = %jwk.kid, %error, "ignoring a malformed key"),
            }
        }
        if let Ok(mut current) = self.keys.write() {
            // A key retired or added: what was verified is checked again.
            let same =
                current.len() == keys.len() && keys.keys().all(|kid| current.contains_key(kid));
            if !same && let Ok(mut verified) = self.verified.lock() {
                verified.clear();
            }
            *current = keys;
        }
        self.fetches.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// The caller of a gRPC request, from its bearer token.
    pub async fn authenticate<T>(&self, request: &tonic::Request<T>) -> Result<Caller, AuthError> {
        let token = bearer_token(request.metadata())?;
        self.verify(token).await
    }
}

/// The token in `authorization: Bearer <token>`.
pub fn bearer_token(metadata: &tonic::metadata::MetadataMap) -> Result<&str, AuthError> {
    bearer_in_headers(metadata.as_ref())
}

/// The same, read from plain HTTP headers (the gateway, before any gRPC
/// decoding).
pub fn bearer_in_headers(headers: &http::HeaderMap) -> Result<&str, AuthError> {
    let value = headers.get("authorization").ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(AuthError::Malformed)?;
    Ok(token.trim())
}

fn caller_of(claims: &AccessClaims) -> Result<Caller, AuthError> {
    let uuid = |name: &str, value: &str| {
        Uuid::parse_str(value)
            .map_err(|_| AuthError::Invalid(format!("claim {name} is not a UUID")))
    };
    Ok(Caller {
        person_id: uuid("sub", &claims.sub)?,
        session_id: uuid("sid", &claims.sid)?,
        grant_id: uuid("gid", &claims.gid)?,
        role: parse_role(&claims.role)
            .ok_or_else(|| AuthError::Invalid(format!("unknown role {:?}", claims.role)))?,
        org_unit_id: uuid("org", &claims.org)?,
    })
}

/// The client side: adds `authorization: Bearer <token>` to every call of
/// a client (none for an anonymous one). One interceptor for every tool,
/// test and service that calls another with a person's token.
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    /// Carries `token`; refused when it cannot be a header value.
    pub fn new(token: &str) -> Result<Self, tonic::metadata::errors::InvalidMetadataValue> {
        Ok(Self(Some(format!("Bearer {token}").parse()?)))
    }

    /// Carries `token` when there is one.
    pub fn optional(
        token: Option<&str>,
    ) -> Result<Self, tonic::metadata::errors::InvalidMetadataValue> {
        token.map_or_else(|| Ok(Self::default()), Self::new)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}
