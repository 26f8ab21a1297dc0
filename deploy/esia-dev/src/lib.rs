//! A development ESIA: a stand-in for Gosuslugi's identity provider that
//! speaks the same protocol (../shared/ESIA.md) for local runs and tests,
//! since the real one cannot be reached from a laptop. PLAINLY NOT FOR
//! PRODUCTION: whoever opens its page picks a demo person and is logged in
//! as them, and its keys are development keys.
//!
//! It checks what ESIA checks of a relying party: the registered client and
//! redirect URI, the `timestamp`, the signed `client_secret` and the
//! `client_certificate_hash`, PKCE, and a code used once within its lifetime.
//! It serves discovery and keys like an OpenID Provider, id_tokens with the
//! `urn:esia:sbj` claims (`is_tru` only for confirmed accounts), access
//! tokens with `urn:esia:sbj_id`, and the person records at `/rs/prns/{oid}`.
//!
//! Two modes, per key: **GOST**, as ESIA itself (a client registered by its
//! GOST R 34.10-2012 certificate signs `client_secret` with it, and tokens
//! are signed `GOST3410_2012_256` with the provider's GOST key, whose
//! certificate the relying party is given); and **development**, for laptops
//! without OpenSSL's GOST engine (Ed25519 keys, tokens signed `EdDSA` and
//! published as a JWKS).

#[cfg(feature = "browser")]
pub mod browser;
pub mod gost_keys;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, macros::format_description};
use tokio::net::TcpListener;

/// A person the development provider can log in as.
#[derive(Debug, Clone)]
pub struct DemoPerson {
    pub oid: &'static str,
    pub last_name: &'static str,
    pub first_name: &'static str,
    pub middle_name: &'static str,
    /// DD.MM.YYYY, as ESIA gives it.
    pub birth_date: &'static str,
    pub gender: &'static str,
    pub snils: &'static str,
    /// A confirmed account.
    pub trusted: bool,
    /// Who this is in the demo.
    pub note: &'static str,
}

/// The demo people. A school registers a person with the same SNILS for
/// the first login to find them.
pub const DEMO_PEOPLE: &[DemoPerson] = &[
    DemoPerson {
        oid: "1000000001",
        last_name: "Иванова",
        first_name: "Мария",
        middle_name: "Петровна",
        birth_date: "14.03.1985",
        gender: "F",
        snils: "345-678-912 26",
        trusted: true,
        note: "a parent with a confirmed account, one child",
    },
    DemoPerson {
        oid: "1000000002",
        last_name: "Сидоров",
        first_name: "Алексей",
        middle_name: "Иванович",
        birth_date: "02.11.1980",
        gender: "M",
        snils: "456-789-123 44",
        trusted: false,
        note: "a parent whose account is not confirmed (refused)",
    },
    DemoPerson {
        oid: "1000000003",
        last_name: "Кузнецова",
        first_name: "Елена",
        middle_name: "Викторовна",
        birth_date: "21.07.1983",
        gender: "F",
        snils: "567-891-234 53",
        trusted: true,
        note: "a parent of two children in two schools",
    },
    DemoPerson {
        oid: "1000000004",
        last_name: "Смирнов",
        first_name: "Павел",
        middle_name: "Андреевич",
        birth_date: "09.01.1979",
        gender: "M",
        snils: "678-912-345 53",
        trusted: true,
        note: "a teacher who is also a parent",
    },
    DemoPerson {
        oid: "1000000005",
        last_name: "Орлова",
        first_name: "Анна",
        middle_name: "Сергеевна",
        birth_date: "30.05.1990",
        gender: "F",
        snils: "789-123-456 44",
        trusted: true,
        note: "confirmed, but registered in no school (refused: ask the school)",
    },
];

/// A relying party registered with the provider.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// What the client signs `client_secret` with.
    pub key: ClientKey,
}

/// The key a client is registered with.
#[derive(Debug, Clone)]
pub enum ClientKey {
    /// A development Ed25519 public key; its "certificate hash" is the hex
    /// SHA-256 of the key.
    Development([u8; 32]),
    /// A GOST R 34.10-2012 certificate, as ESIA registers one: its hash is
    /// Streebog-256 of the DER, its key checks the raw signature.
    Gost {
        certificate_hash: String,
        key: asurso_gost::PublicKey,
    },
}

impl ClientKey {
    /// A client registered by its GOST certificate (PEM).
    pub fn gost_certificate(pem: &str) -> Result<Self, asurso_gost::GostError> {
        Ok(Self::Gost {
            certificate_hash: asurso_gost::certificate_hash(&asurso_gost::pem_block(
                pem,
                "CERTIFICATE",
            )?),
            key: asurso_gost::PublicKey::from_certificate_pem(pem)?,
        })
    }

    fn certificate_hash(&self) -> String {
        match self {
            Self::Development(key) => certificate_hash(key),
            Self::Gost {
                certificate_hash, ..
            } => certificate_hash.clone(),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        let refused = || "client_secret: the signature does not verify".to_owned();
        match self {
            Self::Development(key) => {
                let signature = Signature::from_slice(signature)
                    .map_err(|_| "client_secret is not a signature")?;
                VerifyingKey::from_bytes(key)
                    .map_err(|_| "the client's registered key is not a key".to_owned())?
                    .verify(message, &signature)
                    .map_err(|_| refused())
            }
            Self::Gost { key, .. } => key.verify(message, signature).map_err(|_| refused()),
        }
    }
}

/// The key the provider signs its tokens with.
#[derive(Debug, Clone)]
pub enum TokenKey {
    /// Ed25519 from a seed, published as a JWKS under `kid`; `EdDSA`.
    Development { seed: [u8; 32], kid: String },
    /// A GOST R 34.10-2012 key; `GOST3410_2012_256`, as ESIA signs. ESIA
    /// publishes certificates, not a JWKS: the relying party is given
    /// the key's certificate. `kid`, when given, is named in the tokens'
    /// headers (whether ESIA names one is not documented: a relying party
    /// must take both).
    Gost {
        key: Arc<asurso_gost::PrivateKey>,
        kid: Option<String>,
    },
}

/// A token key ready to sign and check.
enum TokenSigner {
    Development {
        key: SigningKey,
        kid: String,
    },
    Gost {
        key: Arc<asurso_gost::PrivateKey>,
        public: asurso_gost::PublicKey,
        kid: Option<String>,
    },
}

impl TokenSigner {
    fn new(key: &TokenKey) -> Self {
        match key {
            TokenKey::Development { seed, kid } => Self::Development {
                key: SigningKey::from_bytes(seed),
                kid: kid.clone(),
            },
            TokenKey::Gost { key, kid } => Self::Gost {
                key: Arc::clone(key),
                public: key.public_key(),
                kid: kid.clone(),
            },
        }
    }

    fn algorithm(&self) -> &'static str {
        match self {
            Self::Development { .. } => "EdDSA",
            Self::Gost { .. } => "GOST3410_2012_256",
        }
    }

    fn header(&self) -> Value {
        match self {
            Self::Development { kid, .. } => {
                json!({ "alg": self.algorithm(), "typ": "JWT", "kid": kid })
            }
            Self::Gost { kid: None, .. } => json!({ "alg": self.algorithm(), "typ": "JWT" }),
            Self::Gost { kid: Some(kid), .. } => {
                json!({ "alg": self.algorithm(), "typ": "JWT", "kid": kid })
            }
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Development { key, .. } => key.sign(input).to_bytes().to_vec(),
            Self::Gost { key, .. } => key.sign(input).to_vec(),
        }
    }

    fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Development { key, .. } => Signature::from_slice(signature)
                .is_ok_and(|signature| key.verifying_key().verify(input, &signature).is_ok()),
            Self::Gost { public, .. } => public.verify(input, signature).is_ok(),
        }
    }

    /// A fresh key of the same kind, which no relying party was given.
    fn another(&self) -> Self {
        match self {
            Self::Development { kid, .. } => {
                let mut seed = [0u8; 32];
                rand::rng().fill_bytes(&mut seed);
                Self::Development {
                    key: SigningKey::from_bytes(&seed),
                    kid: kid.clone(),
                }
            }
            Self::Gost { public, kid, .. } => {
                let key = asurso_gost::PrivateKey::generate(public.param_set());
                Self::Gost {
                    public: key.public_key(),
                    key: Arc::new(key),
                    kid: kid.clone(),
                }
            }
        }
    }

    fn jwks(&self) -> Value {
        match self {
            Self::Development { key, kid } => json!({ "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "use": "sig",
                "alg": "EdDSA",
                "kid": kid,
                "x": b64(key.verifying_key().as_bytes()),
            }]}),
            Self::Gost { .. } => json!({ "keys": [] }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The public base URL, e.g. `http://127.0.0.1:50090/`; it is also the
    /// issuer (ESIA's ends with a slash too).
    pub issuer: String,
    pub clients: Vec<RegisteredClient>,
    pub code_ttl: Duration,
    /// How far a request's `timestamp` may be from the provider's clock.
    pub timestamp_tolerance: Duration,
    /// What the provider signs its tokens with.
    pub token_key: TokenKey,
}

/// The hex SHA-256 of a client's public key: its "certificate hash".
pub fn certificate_hash(public_key: &[u8]) -> String {
    Sha256::digest(public_key)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

/// The Ed25519 public key of a 32-byte seed.
pub fn public_key_of(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Signs like the development signer of a relying party: base64url of the
/// Ed25519 signature of `message`.
pub fn sign(seed: &[u8; 32], message: &[u8]) -> String {
    b64(&SigningKey::from_bytes(seed).sign(message).to_bytes())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct AuthorizationRequest {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    nonce: Option<String>,
    code_challenge: String,
    created: OffsetDateTime,
}

struct IssuedCode {
    client_id: String,
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: String,
    oid: String,
    expires: OffsetDateTime,
    used: bool,
}

/// What the next token answer gets wrong, for a relying party's tests of
/// how it takes a broken provider. Only code holding the
/// [`RunningProvider`] it spawned in its own process can set one
/// ([`RunningProvider::break_next_token_answer`]): no flag, variable or
/// route reaches it, so the `esia-dev` binary never serves one, and each
/// is served once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFault {
    /// The id_token without this claim (`sub`, `aud`, ...), still signed
    /// by the provider's key.
    IdTokenWithout(&'static str),
    /// The id_token with this claim set to this text (of the wrong type
    /// for a claim such as `trusted`), still signed by the provider's key.
    IdTokenClaimText(&'static str, &'static str),
    /// HTTP 503 with an HTML page, as a failing front end answers.
    Unavailable,
    /// The id_token signed as usual but by another key of the same kind
    /// (a fresh GOST key on the same curve, or a fresh Ed25519 key).
    IdTokenSignedByAnotherKey,
    /// The id_token with this claim changed to this text after signing.
    IdTokenChangedAfterSigning(&'static str, &'static str),
    /// The id_token's header naming this algorithm, signature unchanged.
    IdTokenAlgorithm(&'static str),
}

struct Provider {
    settings: ProviderSettings,
    key: TokenSigner,
    requests: Mutex<HashMap<String, AuthorizationRequest>>,
    codes: Mutex<HashMap<String, IssuedCode>>,
    /// Set only through `RunningProvider` (see `TokenFault`).
    fault: Mutex<Option<TokenFault>>,
}

type Shared = Arc<Provider>;

impl Provider {
    fn client(&self, id: Option<&str>) -> Option<&RegisteredClient> {
        let id = id?;
        self.settings
            .clients
            .iter()
            .find(|client| client.client_id == id)
    }
}

/// A provider serving on a socket until dropped or stopped.
pub struct RunningProvider {
    pub address: SocketAddr,
    provider: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningProvider {
    /// The next token request that would get tokens gets `fault` instead
    /// (the code is spent all the same); later ones are answered as usual.
    pub fn break_next_token_answer(&self, fault: TokenFault) {
        *self
            .provider
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fault);
    }

    /// The issuer (and base) URL.
    pub fn issuer(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Stops serving and waits until the socket is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves on `listener` (whose address the settings' issuer names).
pub fn spawn(
    listener: TcpListener,
    settings: ProviderSettings,
) -> std::io::Result<RunningProvider> {
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let provider = provider(settings);
    let app = routes(Arc::clone(&provider));
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the development ESIA stopped");
        }
    });
    Ok(RunningProvider {
        address,
        provider,
        stop: Some(stop),
        task,
    })
}

pub fn router(settings: ProviderSettings) -> Router {
    routes(provider(settings))
}

fn provider(settings: ProviderSettings) -> Shared {
    let key = TokenSigner::new(&settings.token_key);
    Arc::new(Provider {
        settings,
        key,
        requests: Mutex::new(HashMap::new()),
        codes: Mutex::new(HashMap::new()),
        fault: Mutex::new(None),
    })
}

fn routes(provider: Shared) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/aas/oauth2/jwks", get(jwks))
        .route("/aas/oauth2/v2/ac", get(authorize).post(choose_person))
        .route("/aas/oauth2/v3/te", axum::routing::post(token))
        .route("/rs/prns/{oid}", get(person_record))
        .route("/idp/ext/Logout", get(logout))
        .with_state(provider)
}

fn base(provider: &Provider) -> String {
    provider.settings.issuer.trim_end_matches('/').to_owned()
}

async fn discovery(State(provider): State<Shared>) -> Json<Value> {
    let base = base(&provider);
    Json(json!({
        "issuer": provider.settings.issuer,
        "authorization_endpoint": format!("{base}/aas/oauth2/v2/ac"),
        "token_endpoint": format!("{base}/aas/oauth2/v3/te"),
        "jwks_uri": format!("{base}/aas/oauth2/jwks"),
        "end_session_endpoint": format!("{base}/idp/ext/Logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [provider.key.algorithm()],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "fullname", "birthdate", "gender", "snils", "id_doc", "email", "mobile"],
        "claims_supported": ["sub", "urn:esia:sbj", "urn:esia:sid", "urn:esia:amd"],
    }))
}

async fn jwks(State(provider): State<Shared>) -> Json<Value> {
    Json(provider.key.jwks())
}

/// ESIA's `yyyy.MM.dd HH:mm:ss +hhmm`.
fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let (local, offset) = text.rsplit_once(' ')?;
    let local = PrimitiveDateTime::parse(
        local,
        format_description!("[year].[month].[day] [hour]:[minute]:[second]"),
    )
    .ok()?;
    let sign = match offset.get(..1)? {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let hours: i8 = offset.get(1..3)?.parse().ok()?;
    let minutes: i8 = offset.get(3..5)?.parse().ok()?;
    let offset = UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?;
    Some(local.assume_offset(offset))
}

/// The checks both of ESIA's signed requests share. The signed text is
/// `client_id + scope + timestamp + state + redirect_uri`, then the code on
/// the token request (`code` is empty on the authorization request).
fn check_signed(
    provider: &Provider,
    client: &RegisteredClient,
    params: &HashMap<String, String>,
    code: &str,
) -> Result<(), String> {
    let param = |name: &str| params.get(name).map(String::as_str);
    let (timestamp, certificate, secret) = (
        param("timestamp"),
        param("client_certificate_hash"),
        param("client_secret"),
    );
    let message = |timestamp: &str| {
        format!(
            "{}{}{timestamp}{}{}{code}",
            client.client_id,
            param("scope").unwrap_or_default(),
            param("state").unwrap_or_default(),
            param("redirect_uri").unwrap_or_default(),
        )
    };
    let timestamp = timestamp.ok_or("timestamp is missing")?;
    let at = parse_timestamp(timestamp).ok_or("timestamp is not yyyy.MM.dd HH:mm:ss +hhmm")?;
    let skew = (OffsetDateTime::now_utc() - at).abs();
    if skew > provider.settings.timestamp_tolerance {
        return Err(format!(
            "timestamp is {skew} away from the provider's clock"
        ));
    }
    if certificate != Some(client.key.certificate_hash().as_str()) {
        return Err("client_certificate_hash does not match the registered certificate".into());
    }
    let secret = secret.ok_or("client_secret (the request's signature) is missing")?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret)
        .map_err(|_| "client_secret is not base64url")?;
    client.key.verify(message(timestamp).as_bytes(), &signature)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"ru\"><meta charset=\"utf-8\"><title>{title}</title>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">\
             <p style=\"background:#fee;padding:.5em\"><b>Development ESIA — not Gosuslugi, not for production.</b></p>\
             <h1>{title}</h1>{body}</body></html>"
        )),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_redirect(redirect_uri: &str, state: &str, error: &str, description: &str) -> Response {
    let mut url = redirect_uri.to_owned();
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!(
        "error={error}&error_description={}&state={}",
        encode(description),
        encode(state)
    ));
    Redirect::to(&url).into_response()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn authorize(
    State(provider): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).map(String::as_str);
    let Some(client) = provider.client(param("client_id")) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Unknown client",
            "<p>client_id is not registered.</p>",
        );
    };
    let Some(redirect_uri) = param("redirect_uri").filter(|uri| {
        client
            .redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Unknown redirect URI",
            "<p>redirect_uri is not registered for this client.</p>",
        );
    };
    let state = param("state").unwrap_or_default();
    let scope = param("scope").unwrap_or_default();
    let refuse = |description: &str| {
        tracing::info!(description, "an authorization request was refused");
        error_redirect(redirect_uri, state, "invalid_request", description)
    };
    if param("response_type") != Some("code") {
        return refuse("response_type must be code");
    }
    if !scope.split(' ').any(|scope| scope == "openid") {
        return refuse("scope must include openid");
    }
    if uuid::Uuid::parse_str(state).is_err() {
        return refuse("state must be a UUID");
    }
    let (Some(challenge), Some("S256")) = (param("code_challenge"), param("code_challenge_method"))
    else {
        return refuse("PKCE with code_challenge_method S256 is required");
    };
    if let Err(description) = check_signed(&provider, client, &query, "") {
        return refuse(&description);
    }
    let id = random();
    provider
        .requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            id.clone(),
            AuthorizationRequest {
                client_id: client.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                scope: scope.to_owned(),
                state: state.to_owned(),
                nonce: param("nonce").map(str::to_owned),
                code_challenge: challenge.to_owned(),
                created: OffsetDateTime::now_utc(),
            },
        );
    let people: String = DEMO_PEOPLE
        .iter()
        .map(|person| {
            format!(
                "<form method=\"post\" style=\"margin:.5em 0\">\
                 <input type=\"hidden\" name=\"request\" value=\"{id}\">\
                 <input type=\"hidden\" name=\"oid\" value=\"{}\">\
                 <button type=\"submit\">{} {} {}</button> <small>{}; SNILS {}{}</small></form>",
                person.oid,
                escape(person.last_name),
                escape(person.first_name),
                escape(person.middle_name),
                escape(person.note),
                person.snils,
                if person.trusted {
                    ""
                } else {
                    "; not confirmed"
                }
            )
        })
        .collect();
    page(
        StatusCode::OK,
        "Log in as",
        &format!(
            "<p>{} asks for: {}.</p>{people}",
            escape(&client.client_id),
            escape(scope)
        ),
    )
}

#[derive(Deserialize)]
struct Choice {
    request: String,
    oid: String,
}

async fn choose_person(State(provider): State<Shared>, Form(choice): Form<Choice>) -> Response {
    let request = provider
        .requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&choice.request);
    let Some(request) = request.filter(|request| {
        OffsetDateTime::now_utc() - request.created < time::Duration::minutes(30)
    }) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Unknown request",
            "<p>This login is not in progress: start it again from the system.</p>",
        );
    };
    if !DEMO_PEOPLE.iter().any(|person| person.oid == choice.oid) {
        return page(
            StatusCode::BAD_REQUEST,
            "Unknown person",
            "<p>No such demo person.</p>",
        );
    }
    let code = random();
    let ttl =
        time::Duration::try_from(provider.settings.code_ttl).unwrap_or(time::Duration::MINUTE);
    provider
        .codes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            code.clone(),
            IssuedCode {
                client_id: request.client_id,
                redirect_uri: request.redirect_uri.clone(),
                scope: request.scope,
                nonce: request.nonce,
                code_challenge: request.code_challenge,
                oid: choice.oid,
                expires: OffsetDateTime::now_utc() + ttl,
                used: false,
            },
        );
    let mut url = request.redirect_uri;
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!(
        "code={}&state={}",
        encode(&code),
        encode(&request.state)
    ));
    Redirect::to(&url).into_response()
}

fn random() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    b64(&bytes)
}

fn token_error(error: &str, description: &str) -> Response {
    tracing::info!(error, description, "a token request was refused");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn jwt(key: &TokenSigner, claims: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(key.header().to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

async fn token(
    State(provider): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| form.get(name).map(String::as_str);
    if param("grant_type") != Some("authorization_code") {
        return token_error(
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        );
    }
    let Some(client) = provider.client(param("client_id")) else {
        return token_error("invalid_client", "client_id is not registered");
    };
    let code = param("code").unwrap_or_default();
    let state = param("state").unwrap_or_default();
    let redirect_uri = param("redirect_uri").unwrap_or_default();
    if let Err(description) = check_signed(&provider, client, &form, code) {
        return token_error("invalid_client", &description);
    }
    let issued = {
        let mut codes = provider
            .codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(issued) = codes.get_mut(code) else {
            return token_error("invalid_grant", "unknown code");
        };
        if issued.used {
            return token_error("invalid_grant", "the code was already used");
        }
        issued.used = true;
        if issued.expires < OffsetDateTime::now_utc() {
            return token_error("invalid_grant", "the code has expired");
        }
        if issued.client_id != client.client_id || issued.redirect_uri != redirect_uri {
            return token_error(
                "invalid_grant",
                "the code was issued to another client or redirect_uri",
            );
        }
        let verifier = param("code_verifier").unwrap_or_default();
        if b64(&Sha256::digest(verifier.as_bytes())) != issued.code_challenge {
            return token_error(
                "invalid_grant",
                "code_verifier does not match code_challenge",
            );
        }
        (
            issued.oid.clone(),
            issued.nonce.clone(),
            issued.scope.clone(),
        )
    };
    let (oid, nonce, granted_scope) = issued;
    let Some(person) = DEMO_PEOPLE.iter().find(|person| person.oid == oid) else {
        return token_error("invalid_grant", "unknown person");
    };
    let fault = provider
        .fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(fault) = &fault {
        tracing::warn!(?fault, "a broken token answer, as a test asked");
    }
    if fault == Some(TokenFault::Unavailable) {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
            "<p>Try again later.</p>",
        );
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let session = uuid::Uuid::new_v4().to_string();
    let issuer = &provider.settings.issuer;
    let access = jwt(
        &provider.key,
        &json!({
            "iss": issuer,
            "urn:esia:sbj_id": oid.parse::<u64>().map(Value::from).unwrap_or(Value::from(oid.clone())),
            "urn:esia:sid": session,
            "client_id": client.client_id,
            "scope": granted_scope,
            "iat": now,
            "exp": now + 3600,
        }),
    );
    let mut subject = json!({
        "urn:esia:sbj:typ": "P",
        "urn:esia:sbj:oid": oid.parse::<u64>().map(Value::from).unwrap_or(Value::from(oid.clone())),
        "urn:esia:sbj:nam": format!("OID.{oid}"),
    });
    if person.trusted
        && let Some(map) = subject.as_object_mut()
    {
        map.insert("urn:esia:sbj:is_tru".to_owned(), Value::Bool(true));
    }
    let mut id_claims = json!({
        "iss": issuer,
        "aud": client.client_id,
        "sub": oid,
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "amr": ["PWD"],
        "urn:esia:amd": "PWD",
        "urn:esia:sid": session,
        "urn:esia:sbj": subject,
    });
    if let (Some(nonce), Some(map)) = (nonce, id_claims.as_object_mut()) {
        map.insert("nonce".to_owned(), Value::String(nonce));
    }
    if let (Some(TokenFault::IdTokenWithout(claim)), Some(map)) =
        (&fault, id_claims.as_object_mut())
    {
        map.remove(*claim);
    }
    if let (Some(TokenFault::IdTokenClaimText(claim, text)), Some(map)) =
        (&fault, id_claims.as_object_mut())
    {
        map.insert((*claim).to_owned(), Value::String((*text).to_owned()));
    }
    tracing::info!(oid, "tokens issued");
    let id_token = match &fault {
        Some(TokenFault::IdTokenSignedByAnotherKey) => jwt(&provider.key.another(), &id_claims),
        Some(TokenFault::IdTokenChangedAfterSigning(claim, text)) => {
            let signed = jwt(&provider.key, &id_claims);
            if let Some(map) = id_claims.as_object_mut() {
                map.insert((*claim).to_owned(), Value::String((*text).to_owned()));
            }
            let mut parts = signed.split('.');
            let (header, _, signature) = (parts.next(), parts.next(), parts.next());
            format!(
                "{}.{}.{}",
                header.unwrap_or_default(),
                b64(id_claims.to_string().as_bytes()),
                signature.unwrap_or_default()
            )
        }
        Some(TokenFault::IdTokenAlgorithm(algorithm)) => {
            let signed = jwt(&provider.key, &id_claims);
            let mut header = provider.key.header();
            if let Some(map) = header.as_object_mut() {
                map.insert("alg".to_owned(), Value::String((*algorithm).to_owned()));
            }
            let rest = signed
                .split_once('.')
                .map(|(_, rest)| rest)
                .unwrap_or_default();
            format!("{}.{rest}", b64(header.to_string().as_bytes()))
        }
        _ => jwt(&provider.key, &id_claims),
    };
    Json(json!({
        "access_token": access,
        "id_token": id_token,
        "refresh_token": random(),
        "state": state,
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
    .into_response()
}

/// The `urn:esia:sbj_id` of a valid access token of ours.
fn bearer_subject(provider: &Provider, headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let mut parts = token.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .ok()
    };
    let signature = decode(signature)?;
    if !provider
        .key
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
    {
        return None;
    }
    let claims: Value = serde_json::from_slice(&decode(claims)?).ok()?;
    if claims.get("exp")?.as_i64()? < OffsetDateTime::now_utc().unix_timestamp() {
        return None;
    }
    Some(match claims.get("urn:esia:sbj_id")? {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

async fn person_record(
    State(provider): State<Shared>,
    Path(oid): Path<String>,
    headers: HeaderMap,
) -> Response {
    if bearer_subject(&provider, &headers).as_deref() != Some(oid.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "code": "ESIA-005011", "message": "a valid access token of this person is required" })),
        )
            .into_response();
    }
    let Some(person) = DEMO_PEOPLE.iter().find(|person| person.oid == oid) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    Json(json!({
        "stateFacts": ["EntityRoot"],
        "firstName": person.first_name,
        "lastName": person.last_name,
        "middleName": person.middle_name,
        "birthDate": person.birth_date,
        "gender": person.gender,
        "trusted": person.trusted,
        "snils": person.snils,
        "citizenship": "RUS",
        "status": "REGISTERED",
        "verifying": false,
        "updatedOn": 1_700_000_000,
        "eTag": format!("{:X}", Sha256::digest(oid.as_bytes())[0]),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct LogoutQuery {
    client_id: String,
    redirect_url: String,
}

async fn logout(State(provider): State<Shared>, Query(query): Query<LogoutQuery>) -> Response {
    let known = provider.settings.clients.iter().any(|client| {
        client.client_id == query.client_id
            && client
                .redirect_uris
                .iter()
                .any(|uri| same_origin(uri, &query.redirect_url))
    });
    if !known {
        return page(
            StatusCode::BAD_REQUEST,
            "Unknown client",
            "<p>Not a registered client or address.</p>",
        );
    }
    Redirect::to(&query.redirect_url).into_response()
}

fn same_origin(a: &str, b: &str) -> bool {
    let origin = |url: &str| {
        let rest = url
            .split_once("://")
            .map(|(scheme, rest)| (scheme.to_owned(), rest.to_owned()));
        rest.map(|(scheme, rest)| {
            format!("{scheme}://{}", rest.split('/').next().unwrap_or_default())
        })
    };
    origin(a).is_some() && origin(a) == origin(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_esia_writes_them() {
        let at = parse_timestamp("2026.11.22 10:15:30 +0300").expect("parses");
        assert_eq!(at.unix_timestamp(), 1_795_331_730);
        assert!(parse_timestamp("2026-11-22 10:15:30 +0300").is_none());
        assert!(parse_timestamp("2026.11.22 10:15:30").is_none());
    }

    #[test]
    fn demo_snils_are_distinct_and_the_unconfirmed_one_is_unconfirmed() {
        let mut snils: Vec<_> = DEMO_PEOPLE.iter().map(|person| person.snils).collect();
        snils.sort_unstable();
        snils.dedup();
        assert_eq!(snils.len(), DEMO_PEOPLE.len());
        assert_eq!(
            DEMO_PEOPLE.iter().filter(|person| !person.trusted).count(),
            1
        );
    }
}
