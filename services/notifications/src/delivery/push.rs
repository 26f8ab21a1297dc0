//! Web push: the payload encrypted for the subscription (RFC 8291 with the
//! `aes128gcm` content coding of RFC 8188) and the request signed with the
//! server's VAPID key (RFC 8292), posted to the push service that the
//! browser named.

use std::time::Duration;

use aes_gcm::{Aes128Gcm, KeyInit, aead::Aead};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use p256::{
    PublicKey, SecretKey,
    ecdsa::{Signature, SigningKey, signature::Signer},
    elliptic_curve::sec1::ToEncodedPoint,
};
use serde::Deserialize;
use sha2::Sha256;

use super::Outcome;

/// Web push settings. Without a key, push is off.
#[derive(Debug, Clone, Deserialize)]
pub struct PushSettings {
    /// The VAPID private key: a P-256 scalar, 32 bytes of base64url.
    #[serde(default)]
    pub vapid_private_key: Option<secrecy::SecretString>,
    /// Who runs this server, for the push services: `mailto:` or `https:`.
    pub subject: String,
    /// The push services' hosts subscriptions may point at (browsers'
    /// own, and their subdomains); a subscription elsewhere is refused.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Lets `http://127.0.0.1:…` endpoints in: tests and `make run` only.
    #[serde(default)]
    pub allow_loopback: bool,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// How long a push service keeps a message for an offline device.
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u64,
}

fn default_timeout() -> u64 {
    10
}

fn default_ttl() -> u64 {
    86_400
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("push.vapid_private_key is not a P-256 private key in base64url")]
    Key,
    #[error("push.subject must start with mailto: or https:")]
    Subject,
    #[error("cannot make the push client: {0}")]
    Client(String),
}

/// Record size of the single record a push message is (RFC 8291 §4).
const RECORD_SIZE: u32 = 4096;
/// What is left of a record for the payload: the tag and the delimiter.
pub const MAX_PAYLOAD: usize = 3993;

/// Encrypts `plaintext` for a subscription's keys (`p256dh`, `auth`) with
/// the sender's ephemeral key and salt given: one `aes128gcm` record.
pub fn encrypt_with(
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
    as_secret: &SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, String> {
    if plaintext.len() > MAX_PAYLOAD {
        return Err(format!("a push payload is at most {MAX_PAYLOAD} bytes"));
    }
    let ua = PublicKey::from_sec1_bytes(ua_public).map_err(|_| "p256dh is not a P-256 key")?;
    let as_public = as_secret.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua.as_affine());

    // IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0 || ua || as).
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public.as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth_secret), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| "key derivation failed")?;

    let content = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    content
        .expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| "key derivation failed")?;
    content
        .expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| "key derivation failed")?;

    // The last (and only) record ends with the delimiter 2.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| "bad content key")?;
    let sealed = cipher
        .encrypt(&nonce.into(), record.as_slice())
        .map_err(|_| "encryption failed")?;

    let key_id = as_public.as_bytes();
    let mut body = Vec::with_capacity(16 + 4 + 1 + key_id.len() + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(u8::try_from(key_id.len()).map_err(|_| "key id too long")?);
    body.extend_from_slice(key_id);
    body.extend_from_slice(&sealed);
    Ok(body)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes);
    bytes
}

fn random_secret() -> SecretKey {
    loop {
        if let Ok(key) = SecretKey::from_slice(&random_bytes::<32>()) {
            return key;
        }
    }
}

/// Encrypts with a fresh ephemeral key and salt, as every message must be.
pub fn encrypt(plaintext: &[u8], ua_public: &[u8], auth_secret: &[u8]) -> Result<Vec<u8>, String> {
    encrypt_with(
        plaintext,
        ua_public,
        auth_secret,
        &random_secret(),
        &random_bytes::<16>(),
    )
}

/// Sends pushes as this server.
pub struct Pusher {
    key: SigningKey,
    public: String,
    subject: String,
    allowed_hosts: Vec<String>,
    allow_loopback: bool,
    ttl: u64,
    http: reqwest::Client,
}

impl Pusher {
    /// The sender, or `None` when no key is configured.
    pub fn from_settings(settings: &PushSettings) -> Result<Option<Self>, PushError> {
        use secrecy::ExposeSecret;
        let Some(key) = &settings.vapid_private_key else {
            return Ok(None);
        };
        let key = key.expose_secret().trim();
        if key.is_empty() {
            return Ok(None);
        }
        let scalar = URL_SAFE_NO_PAD
            .decode(key.trim_end_matches('='))
            .map_err(|_| PushError::Key)?;
        let secret = SecretKey::from_slice(&scalar).map_err(|_| PushError::Key)?;
        if !(settings.subject.starts_with("mailto:") || settings.subject.starts_with("https:")) {
            return Err(PushError::Subject);
        }
        let public = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_seconds))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| PushError::Client(error.to_string()))?;
        Ok(Some(Self {
            key: SigningKey::from(secret),
            public,
            subject: settings.subject.clone(),
            allowed_hosts: settings
                .allowed_hosts
                .iter()
                .map(|host| host.to_ascii_lowercase())
                .collect(),
            allow_loopback: settings.allow_loopback,
            ttl: settings.ttl_seconds,
            http,
        }))
    }

    /// The uncompressed public key, base64url: the browser's
    /// `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// An endpoint this server will post to: https on a push service's
    /// host (never an address inside the ministry's network), or the
    /// loopback where allowed.
    pub fn check_endpoint(&self, endpoint: &str) -> Result<String, String> {
        if endpoint.len() > 2048 {
            return Err("is longer than 2048 characters".to_owned());
        }
        let url = reqwest::Url::parse(endpoint).map_err(|_| "is not a URL".to_owned())?;
        let host = url
            .host_str()
            .ok_or_else(|| "has no host".to_owned())?
            .to_ascii_lowercase();
        let loopback = matches!(host.as_str(), "127.0.0.1" | "[::1]" | "localhost");
        if loopback {
            if self.allow_loopback && matches!(url.scheme(), "http" | "https") {
                return Ok(url.to_string());
            }
            return Err("may not point at this server's own machine".to_owned());
        }
        if url.scheme() != "https" {
            return Err("must be an https URL".to_owned());
        }
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            return Err("must name a push service's host, not an address".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("may not carry credentials".to_owned());
        }
        let allowed = self
            .allowed_hosts
            .iter()
            .any(|allowed| host == *allowed || host.ends_with(&format!(".{allowed}")));
        if !allowed {
            return Err(format!("{host} is not a push service this region allows"));
        }
        Ok(url.to_string())
    }

    /// `vapid t=<JWT>, k=<public key>` for the endpoint's origin.
    pub fn authorization(&self, endpoint: &str) -> Result<String, String> {
        let url = reqwest::Url::parse(endpoint).map_err(|_| "the endpoint is not a URL")?;
        let audience = url.origin().ascii_serialization();
        let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 12 * 3600;
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({"aud": audience, "exp": expires, "sub": self.subject});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(input.as_bytes());
        Ok(format!(
            "vapid t={input}.{}, k={}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            self.public
        ))
    }

    /// Posts one message. `topic` lets the push service replace an
    /// undelivered copy of the same notification.
    pub async fn send(
        &self,
        endpoint: &str,
        p256dh: &[u8],
        auth: &[u8],
        topic: &str,
        payload: &[u8],
    ) -> Outcome {
        let body = match encrypt(payload, p256dh, auth) {
            Ok(body) => body,
            Err(why) => return Outcome::Refused(why),
        };
        let authorization = match self.authorization(endpoint) {
            Ok(value) => value,
            Err(why) => return Outcome::Refused(why),
        };
        let sent = self
            .http
            .post(endpoint)
            .header("TTL", self.ttl.to_string())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Urgency", "normal")
            .header("Topic", topic)
            .header("Authorization", authorization)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Outcome::Transient(format!("push service: {error}")),
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => Outcome::Sent,
            404 | 410 => Outcome::Gone(format!("push service answered {status}")),
            400 | 413 => Outcome::Refused(format!("push service answered {status}")),
            _ => Outcome::Transient(format!("push service answered {status}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap_or_default()
    }

    /// RFC 8291, Appendix A: the keys and salt of the example give its
    /// message byte for byte.
    #[test]
    fn the_rfc_example_encrypts_to_the_rfc_message() {
        let as_secret =
            SecretKey::from_slice(&bytes("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
                .expect("the example's key");
        let salt: [u8; 16] = bytes("DGv6ra1nlYgDCS1FRnbzlw")
            .try_into()
            .expect("16 bytes");
        let body = encrypt_with(
            b"When I grow up, I want to be a watermelon",
            &bytes("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
            &bytes("BTBZMqHH6r4Tts7J_aSIgg"),
            &as_secret,
            &salt,
        )
        .expect("encrypted");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    fn test_pusher(allowed: &[&str], loopback: bool) -> Pusher {
        let settings = PushSettings {
            vapid_private_key: Some(URL_SAFE_NO_PAD.encode(random_secret().to_bytes()).into()),
            subject: "mailto:support@asurso.example".to_owned(),
            allowed_hosts: allowed.iter().map(|host| (*host).to_owned()).collect(),
            allow_loopback: loopback,
            timeout_seconds: 5,
            ttl_seconds: 60,
        };
        Pusher::from_settings(&settings)
            .expect("settings")
            .expect("a key")
    }

    #[test]
    fn endpoints_inside_the_network_are_refused() {
        let pusher = test_pusher(&["push.services.mozilla.com", "fcm.googleapis.com"], false);
        assert!(
            pusher
                .check_endpoint("https://fcm.googleapis.com/fcm/send/abc")
                .is_ok()
        );
        assert!(
            pusher
                .check_endpoint("https://updates.push.services.mozilla.com/wpush/v2/x")
                .is_ok()
        );
        for bad in [
            "http://fcm.googleapis.com/fcm/send/abc",
            "https://10.0.0.5/push",
            "https://[fd00::1]/push",
            "http://127.0.0.1:8080/push",
            "https://evil.example/push",
            "https://user:pw@fcm.googleapis.com/x",
            "not a url",
        ] {
            assert!(pusher.check_endpoint(bad).is_err(), "{bad} was taken");
        }
        let testing = test_pusher(&[], true);
        assert!(testing.check_endpoint("http://127.0.0.1:9/push").is_ok());
        assert!(
            testing.check_endpoint("https://gradebook/push").is_err(),
            "no list allows no host but the loopback"
        );
    }

    #[test]
    fn the_vapid_token_verifies_with_the_public_key() {
        let pusher = test_pusher(&[], true);
        let header = pusher
            .authorization("http://127.0.0.1:9/push/abc")
            .expect("signed");
        let rest = header.strip_prefix("vapid t=").expect("scheme");
        let (token, key) = rest.split_once(", k=").expect("key");
        assert_eq!(key, pusher.public_key());
        let point = bytes(key);
        let decoding = jsonwebtoken::DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..65]),
        )
        .expect("key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["http://127.0.0.1:9"]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
            .expect("a valid ES256 token");
        assert_eq!(claims.claims["sub"], "mailto:support@asurso.example");
    }
}
