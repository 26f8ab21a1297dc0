//! The pieces of an ESIA login under test: the development ESIA on a real
//! socket, identity's federation settings for it (or for another provider),
//! and a headless browser that follows the provider's pages.

use std::{collections::HashMap, time::Duration};

pub use asurso_esia_dev::gost_keys::GostPair;
use asurso_esia_dev::{ClientKey, ProviderSettings, RegisteredClient, RunningProvider, TokenKey};
use asurso_identity::federation::{FederationSettings, signer::SignerSettings};
use asurso_proto::identity as pb;
use base64::Engine as _;

use crate::support::{Clients, World, person};

/// Where the provider sends the browser back; nothing listens there: the
/// browser reads the address and stops, as the gateway's callback would.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/esia/callback";
pub const CLIENT_ID: &str = "ASURSO-TEST";
/// The test client's development signing key (not the one `make run` uses).
pub const CLIENT_SEED: [u8; 32] = *b"test-esia-client-key-0123456789!";

/// The demo people of the development ESIA the tests use.
pub const CONFIRMED_PARENT: (&str, &str) = ("1000000001", "345-678-912 26");
pub const UNCONFIRMED: (&str, &str) = ("1000000002", "456-789-123 44");
pub const TEACHER_AND_PARENT: (&str, &str) = ("1000000004", "678-912-345 53");
pub const NOT_REGISTERED: (&str, &str) = ("1000000005", "789-123-456 44");

pub fn client_seed_base64() -> String {
    base64::engine::general_purpose::STANDARD.encode(CLIENT_SEED)
}

/// The development ESIA on a free port, codes living `code_ttl`.
pub async fn dev_esia(code_ttl: Duration) -> anyhow::Result<RunningProvider> {
    spawn_esia(
        ClientKey::Development(asurso_esia_dev::public_key_of(&CLIENT_SEED)),
        TokenKey::Development {
            seed: *b"test-esia-provider-key-012345678",
            kid: "test-1".to_owned(),
        },
        code_ttl,
    )
    .await
}

/// ESIA on a free port with the test client registered by `client_key`.
async fn spawn_esia(
    client_key: ClientKey,
    token_key: TokenKey,
    code_ttl: Duration,
) -> anyhow::Result<RunningProvider> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}/", listener.local_addr()?);
    Ok(asurso_esia_dev::spawn(
        listener,
        ProviderSettings {
            issuer,
            clients: vec![RegisteredClient {
                client_id: CLIENT_ID.to_owned(),
                redirect_uris: vec![REDIRECT_URI.to_owned()],
                key: client_key,
            }],
            code_ttl,
            timestamp_tolerance: Duration::from_secs(300),
            token_key,
        },
    )?)
}

/// Identity's settings for ESIA at `issuer`, signing with `signer`.
pub fn esia_settings(issuer: &str, signer: SignerSettings) -> FederationSettings {
    FederationSettings {
        provider: "esia".to_owned(),
        issuer_url: issuer.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: None,
        redirect_uri: REDIRECT_URI.to_owned(),
        scopes: vec!["fullname".to_owned(), "snils".to_owned()],
        esia: true,
        endpoints: None,
        token_certificate_file: None,
        logout_url: None,
        post_logout_redirect_url: None,
        person_data_url: None,
        signer: Some(signer),
        login_ttl_seconds: 600,
        http_timeout_seconds: 5,
        metadata_ttl_seconds: 3600,
    }
}

pub fn development_signer() -> SignerSettings {
    SignerSettings::Development {
        seed: client_seed_base64().into(),
    }
}

/// A world whose identity logs in through the development ESIA.
pub async fn esia_world(provider: &RunningProvider) -> anyhow::Result<World> {
    let federation = esia_settings(&provider.issuer(), development_signer());
    World::new_with(move |settings| settings.federation = Some(federation)).await
}

/// School A's admin registers a person with `snils` and `role`; returns the id.
pub async fn register(
    world: &mut World,
    last: &str,
    snils: &str,
    role: pb::Role,
) -> anyhow::Result<String> {
    Ok(world
        .admin_a
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: world.school_a.to_string(),
            person: Some(person(last, "Тест", snils, (1984, 4, 4))),
            role: role.into(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .person
        .map(|person| person.id)
        .unwrap_or_default())
}

/// A browser without redirects followed, keeping cookies.
pub fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// The query of a redirect's Location.
pub fn location_query(
    response: &reqwest::Response,
) -> anyhow::Result<(String, HashMap<String, String>)> {
    let url = asurso_esia_dev::browser::redirect_target(response)?;
    let query = url.query_pairs().into_owned().collect();
    Ok((url.to_string(), query))
}

/// Opens the authorization URL at the development ESIA and picks the demo
/// person `oid`; returns the query it redirects back with (code and state,
/// or error and error_description).
pub async fn pick_person(url: &str, oid: &str) -> anyhow::Result<HashMap<String, String>> {
    let back = asurso_esia_dev::browser::pick_person(&browser()?, &url.parse()?, oid).await?;
    Ok(back.query_pairs().into_owned().collect())
}

/// The same URL with one query parameter replaced (a tampered request).
pub fn with_param(url: &str, name: &str, value: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url)?;
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .map(|(key, old)| {
            let new = if key == name { value.to_owned() } else { old };
            (key, new)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    Ok(parsed.to_string())
}

/// Asserts a call was refused with `code`, and that its message says `text`.
#[track_caller]
pub fn assert_refused<T>(outcome: Result<T, tonic::Status>, code: tonic::Code, text: &str) {
    match outcome {
        Ok(_) => panic!("expected {code:?} saying {text:?}, but the call succeeded"),
        Err(status) => {
            assert_eq!(status.code(), code, "{}", status.message());
            assert!(
                status.message().contains(text),
                "{:?} does not say {text:?}",
                status.message()
            );
        }
    }
}

/// Starts a login at identity.
pub async fn start(anonymous: &mut Clients) -> Result<pb::StartLoginResponse, tonic::Status> {
    Ok(anonymous
        .federation
        .start_login(pb::StartLoginRequest::default())
        .await?
        .into_inner())
}

/// The code a refresh with `token` fails with, if it fails.
pub async fn refresh_refused(anonymous: &mut Clients, token: String) -> Option<tonic::Code> {
    anonymous
        .auth
        .refresh(pb::RefreshRequest {
            refresh_token: token,
            grant_id: String::new(),
        })
        .await
        .err()
        .map(|status| status.code())
}

/// A whole login through the development ESIA as `oid`.
pub async fn esia_login(
    anonymous: &mut Clients,
    oid: &str,
) -> Result<pb::CompleteLoginResponse, tonic::Status> {
    let started = start(anonymous).await?;
    let back = pick_person(&started.authorization_url, oid)
        .await
        .map_err(|error| tonic::Status::internal(format!("browser: {error}")))?;
    complete(anonymous, &started.browser_binding, &back).await
}

/// Completes a login with what came back to the redirect URI and the
/// binding the starting browser kept.
pub async fn complete(
    anonymous: &mut Clients,
    browser_binding: &str,
    back: &HashMap<String, String>,
) -> Result<pb::CompleteLoginResponse, tonic::Status> {
    Ok(anonymous
        .federation
        .complete_login(pb::CompleteLoginRequest {
            state: back.get("state").cloned().unwrap_or_default(),
            code: back.get("code").cloned().unwrap_or_default(),
            browser_binding: browser_binding.to_owned(),
        })
        .await?
        .into_inner())
}

pub fn token_of(login: &pb::CompleteLoginResponse) -> String {
    login
        .tokens
        .as_ref()
        .map(|tokens| tokens.access_token.clone())
        .unwrap_or_default()
}

/// The signer identity uses in production: OpenSSL with `pair`'s key.
pub fn openssl_signer(pair: &GostPair) -> SignerSettings {
    SignerSettings::openssl(&pair.key_file, &pair.certificate_file)
}

/// A folder of its own under the system's temporary one.
pub fn scratch_dir(what: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("asurso-{what}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// ESIA in GOST mode, as the real one: the client registered by its GOST
/// certificate, tokens signed `GOST3410_2012_256` by the provider's key.
pub struct GostEsia {
    pub provider: RunningProvider,
    pub client: GostPair,
    pub esia: GostPair,
    /// Where the pairs are; removed with the provider.
    dir: std::path::PathBuf,
}

impl Drop for GostEsia {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl GostEsia {
    pub async fn start(dir: &std::path::Path) -> anyhow::Result<Self> {
        let client = GostPair::new(dir, "client")?;
        let esia = GostPair::new(dir, "esia")?;
        let provider = spawn_esia(
            client.client_key()?,
            // A key id ESIA's certificate does not carry: still its key.
            esia.token_key(Some("esia-gost-2026"))?,
            Duration::from_secs(60),
        )
        .await?;
        Ok(Self {
            provider,
            client,
            esia,
            dir: dir.to_owned(),
        })
    }

    /// Identity's settings as a region's for the production ESIA: the
    /// endpoints named (no discovery), ESIA's certificate, OpenSSL signing.
    pub fn settings(&self) -> FederationSettings {
        let issuer = self.provider.issuer();
        let mut settings = esia_settings(&issuer, openssl_signer(&self.client));
        settings.endpoints = Some(asurso_identity::federation::Endpoints::esia_at(&issuer));
        settings.token_certificate_file = Some(self.esia.certificate_file.display().to_string());
        settings.logout_url = Some(format!("{issuer}idp/ext/Logout"));
        settings.post_logout_redirect_url = Some("http://127.0.0.1:9/".to_owned());
        settings
    }
}
