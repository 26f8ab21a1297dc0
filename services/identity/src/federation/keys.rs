//! The keys a provider's tokens are checked with, for `openidconnect`: the
//! standard JSON Web Keys a provider publishes (discovery's JWKS), and a
//! GOST R 34.10-2012 key read from the certificate ESIA gives a relying
//! party, for tokens signed `GOST3410_2012_256`. The crate's own checks
//! (issuer, audience, expiry, nonce, allowed algorithms, at_hash) run on
//! both; only the signature's arithmetic is ours (`asurso-gost`).

use openidconnect::{
    JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JwsSigningAlgorithm, SignatureVerificationError,
    core::{CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm},
};
use serde::{Deserialize, Serialize};

/// ESIA's name for GOST R 34.10-2012 over Streebog-256 in a JWT header.
pub const GOST_ALGORITHM: &str = "GOST3410_2012_256";

/// A JWS algorithm: one `openidconnect` knows, or ESIA's GOST.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    Standard(CoreJwsSigningAlgorithm),
    Gost2012_256,
}

impl Serialize for SigningAlgorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Standard(algorithm) => algorithm.serialize(serializer),
            Self::Gost2012_256 => serializer.serialize_str(GOST_ALGORITHM),
        }
    }
}

impl<'de> Deserialize<'de> for SigningAlgorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name == GOST_ALGORITHM {
            return Ok(Self::Gost2012_256);
        }
        serde_json::from_value(serde_json::Value::String(name))
            .map(Self::Standard)
            .map_err(serde::de::Error::custom)
    }
}

impl JwsSigningAlgorithm for SigningAlgorithm {
    type KeyType = CoreJsonWebKeyType;

    fn key_type(&self) -> Option<CoreJsonWebKeyType> {
        match self {
            Self::Standard(algorithm) => algorithm.key_type(),
            // A GOST key is an elliptic-curve key; its own algorithm
            // constraint keeps it from being taken for an ES256 one.
            Self::Gost2012_256 => Some(CoreJsonWebKeyType::EllipticCurve),
        }
    }

    fn uses_shared_secret(&self) -> bool {
        match self {
            Self::Standard(algorithm) => algorithm.uses_shared_secret(),
            Self::Gost2012_256 => false,
        }
    }

    fn rsa_sha_256() -> Self {
        Self::Standard(CoreJwsSigningAlgorithm::rsa_sha_256())
    }
}

/// What algorithm a standard key is limited to, read once from its `alg`.
#[derive(Clone, Debug)]
pub enum Constraint {
    Exactly(SigningAlgorithm),
    Unspecified,
    Unsupported,
}

/// A key a provider's token may be signed with.
#[derive(Clone, Debug)]
pub enum ProviderKey {
    Standard {
        key: CoreJsonWebKey,
        constraint: Constraint,
    },
    /// ESIA's key from its certificate, under the `kid` the token names.
    Gost {
        key: asurso_gost::PublicKey,
        kid: Option<JsonWebKeyId>,
    },
}

static ELLIPTIC_CURVE: CoreJsonWebKeyType = CoreJsonWebKeyType::EllipticCurve;
static SIGNATURE: CoreJsonWebKeyUse = CoreJsonWebKeyUse::Signature;
static GOST: SigningAlgorithm = SigningAlgorithm::Gost2012_256;

impl From<CoreJsonWebKey> for ProviderKey {
    fn from(key: CoreJsonWebKey) -> Self {
        let constraint = match key.signing_alg() {
            JsonWebKeyAlgorithm::Algorithm(algorithm) => {
                Constraint::Exactly(SigningAlgorithm::Standard(algorithm.clone()))
            }
            JsonWebKeyAlgorithm::Unspecified => Constraint::Unspecified,
            JsonWebKeyAlgorithm::Unsupported => Constraint::Unsupported,
        };
        Self::Standard { key, constraint }
    }
}

impl Serialize for ProviderKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Standard { key, .. } => key.serialize(serializer),
            // Never published: ESIA's key comes as a certificate.
            Self::Gost { .. } => {
                serde_json::json!({ "kty": "GOST", "alg": GOST_ALGORITHM }).serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for ProviderKey {
    /// A published key is a standard one: ESIA publishes no GOST JWKs.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CoreJsonWebKey::deserialize(deserializer).map(Self::from)
    }
}

impl JsonWebKey for ProviderKey {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = SigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        match self {
            Self::Standard { key, .. } => key.key_id(),
            Self::Gost { kid, .. } => kid.as_ref(),
        }
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        match self {
            Self::Standard { key, .. } => key.key_type(),
            Self::Gost { .. } => &ELLIPTIC_CURVE,
        }
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        match self {
            Self::Standard { key, .. } => key.key_use(),
            Self::Gost { .. } => Some(&SIGNATURE),
        }
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&SigningAlgorithm> {
        match self {
            Self::Standard { constraint, .. } => match constraint {
                Constraint::Exactly(algorithm) => JsonWebKeyAlgorithm::Algorithm(algorithm),
                Constraint::Unspecified => JsonWebKeyAlgorithm::Unspecified,
                Constraint::Unsupported => JsonWebKeyAlgorithm::Unsupported,
            },
            Self::Gost { .. } => JsonWebKeyAlgorithm::Algorithm(&GOST),
        }
    }

    fn new_symmetric(key: Vec<u8>) -> Self {
        CoreJsonWebKey::new_symmetric(key).into()
    }

    fn verify_signature(
        &self,
        algorithm: &SigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        match (self, algorithm) {
            (Self::Standard { key, .. }, SigningAlgorithm::Standard(algorithm)) => {
                key.verify_signature(algorithm, message, signature)
            }
            (Self::Gost { key, .. }, SigningAlgorithm::Gost2012_256) => key
                .verify(message, signature)
                .map_err(|error| SignatureVerificationError::CryptoError(error.to_string())),
            _ => Err(SignatureVerificationError::InvalidKey(
                "the key is not for this algorithm".to_owned(),
            )),
        }
    }

    fn hash_bytes(&self, bytes: &[u8], algorithm: &SigningAlgorithm) -> Result<Vec<u8>, String> {
        match (self, algorithm) {
            (Self::Standard { key, .. }, SigningAlgorithm::Standard(algorithm)) => {
                key.hash_bytes(bytes, algorithm)
            }
            (Self::Gost { .. }, SigningAlgorithm::Gost2012_256) => {
                Ok(asurso_gost::streebog256(bytes).to_vec())
            }
            _ => Err("the key is not for this algorithm".to_owned()),
        }
    }
}
