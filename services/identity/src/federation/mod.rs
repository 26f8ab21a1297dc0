//! Logging in through ESIA (or any OpenID Provider) with the `openidconnect`
//! crate: discovery (or endpoints named in settings, for a provider that
//! serves no discovery document), the authorization code flow with PKCE,
//! state and nonce, id_token validation (issuer, audience, expiry,
//! signature, nonce, at_hash), then the person's data. ESIA signs its
//! tokens `GOST3410_2012_256`: with `token_certificate_file` set, the
//! id_token is checked against the key of the certificate ESIA gives the
//! region ([`keys`]), and no other key or algorithm passes. No claim is read
//! from the access token: it is only carried to the person-data endpoint. With `esia = true` ESIA's own rules come on: the
//! signed `client_secret` with `timestamp` and `client_certificate_hash` on
//! both requests, the `urn:esia:sbj` claims, and the person record at
//! `/rs/prns/{oid}`; otherwise the standard userinfo endpoint answers.
//!
//! This module talks to the provider only; what a login means here (linking
//! by SNILS, the regional policy, sessions) is the API's business.

pub mod keys;
pub mod signer;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AsyncHttpClient, AuthType, AuthUrl,
    AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EmptyAdditionalProviderMetadata,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpClientError, HttpRequest,
    HttpResponse, IdTokenFields, IdTokenVerifier, IssuerUrl, JsonWebKeySet, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse, SubjectIdentifier,
    TokenResponse, TokenUrl, UserInfoError,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
        CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
        CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
        CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::{
    OffsetDateTime, UtcOffset, format_description::BorrowedFormatItem, macros::format_description,
};
use tokio::sync::RwLock;

use keys::{ProviderKey, SigningAlgorithm};
use signer::{RequestSigner, SignerSettings};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSettings {
    /// The name links are kept under: "esia".
    pub provider: String,
    /// The `iss` of the provider's tokens (ESIA: `http://esia.gosuslugi.ru/`).
    /// Without `endpoints`, discovery reads
    /// `<issuer_url>/.well-known/openid-configuration`.
    pub issuer_url: String,
    /// The provider's endpoints, named here rather than discovered: ESIA may
    /// serve no discovery document. Needs `token_certificate_file`.
    #[serde(default)]
    pub endpoints: Option<Endpoints>,
    /// The provider's token-signing certificate (PEM), as ESIA publishes it:
    /// tokens are then accepted only signed `GOST3410_2012_256` by its key,
    /// whatever discovery's JWKS says.
    #[serde(default)]
    pub token_certificate_file: Option<String>,
    /// Where the provider ends its own session (ESIA: `/idp/ext/Logout`).
    /// When set, logging out of a session that came through the provider
    /// also sends the browser there, and back to `post_logout_redirect_url`.
    #[serde(default)]
    pub logout_url: Option<String>,
    /// Where the provider sends the browser after its logout (the region's
    /// front page, registered with the provider).
    #[serde(default)]
    pub post_logout_redirect_url: Option<String>,
    pub client_id: String,
    /// A standard provider's client secret; ESIA signs instead.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    pub redirect_uri: String,
    /// Asked for besides `openid` (ESIA: "fullname snils").
    pub scopes: Vec<String>,
    /// ESIA's rules on (see the module's doc); off for a standard provider.
    pub esia: bool,
    /// ESIA's person records; by default `<issuer origin>/rs/prns`.
    #[serde(default)]
    pub person_data_url: Option<String>,
    /// Needed when `esia` is on.
    #[serde(default)]
    pub signer: Option<SignerSettings>,
    /// How long a started login may take.
    pub login_ttl_seconds: u64,
    /// Each call to the provider.
    pub http_timeout_seconds: u64,
    /// How long discovery (and the provider's keys) is trusted before it is
    /// read again; a token signed by a new key reads it at once.
    pub metadata_ttl_seconds: u64,
}

/// A provider's endpoints, named in settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// ESIA: `https://esia.gosuslugi.ru/aas/oauth2/v2/ac`.
    pub authorization: String,
    /// ESIA: `https://esia.gosuslugi.ru/aas/oauth2/v3/te`.
    pub token: String,
}

impl Endpoints {
    /// ESIA's endpoints under `base` (`https://esia.gosuslugi.ru/`, or the
    /// test host, or esia-dev's address): `aas/oauth2/v2/ac` and
    /// `aas/oauth2/v3/te`, as ../shared/ESIA.md gives them.
    pub fn esia_at(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            authorization: format!("{base}/aas/oauth2/v2/ac"),
            token: format!("{base}/aas/oauth2/v3/te"),
        }
    }
}

/// ESIA's claims beside the standard ones, and the two a standard provider
/// is asked to give for the same purpose (`snils`, `trusted`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EsiaClaims {
    #[serde(
        rename = "urn:esia:sbj",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subject: Option<EsiaSubject>,
    #[serde(
        rename = "urn:esia:sid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snils: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
}
impl AdditionalClaims for EsiaClaims {}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EsiaSubject {
    #[serde(rename = "urn:esia:sbj:typ", default)]
    pub kind: Option<String>,
    #[serde(rename = "urn:esia:sbj:oid", default)]
    pub oid: Option<serde_json::Value>,
    #[serde(rename = "urn:esia:sbj:nam", default)]
    pub name: Option<String>,
    /// Present (and true) only when the account is confirmed.
    #[serde(rename = "urn:esia:sbj:is_tru", default)]
    pub is_trusted: Option<bool>,
}

/// ESIA answers the token request with the request's `state` too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateEcho {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}
impl ExtraTokenFields for StateEcho {}

type Fields = IdTokenFields<
    EsiaClaims,
    StateEcho,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    SigningAlgorithm,
>;
/// Discovery's document, with keys that may be GOST ones.
type Metadata = ProviderMetadata<
    EmptyAdditionalProviderMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    openidconnect::core::CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    ProviderKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type IdToken = openidconnect::IdToken<
    EsiaClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    SigningAlgorithm,
>;
type ProviderClient = Client<
    EsiaClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    ProviderKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("federation settings: {0}")]
    Settings(String),
    /// The provider cannot be reached, times out or fails on its side.
    #[error("{0}")]
    Unavailable(String),
    /// The provider refused the code: expired, used, or not ours.
    #[error("{0}")]
    CodeRefused(String),
    /// The provider's answer does not hold up: malformed, a required claim
    /// missing, or a claim that fails verification.
    #[error("{0}")]
    Rejected(String),
    #[error("request signing: {0}")]
    Signer(#[from] signer::SignError),
}

/// A call to the provider that brought no answer to judge.
#[derive(Debug, thiserror::Error)]
enum ProviderCallError {
    /// Not reached, or no answer in time.
    #[error(transparent)]
    Transport(#[from] HttpClientError<reqwest::Error>),
    /// It answered that it cannot answer now (5xx, 408, 429).
    #[error("the provider answered HTTP {0}")]
    NotNow(u16),
}

/// The HTTP client `openidconnect` calls the provider with. An answer
/// saying "not now" is made a failed call here: the crate reads a 5xx page
/// that is not an OAuth error as an answer it could not parse, which would
/// otherwise be taken for a malformed answer and refuse the login for good.
struct ProviderHttp<'a>(&'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for ProviderHttp<'_> {
    type Error = ProviderCallError;
    type Future =
        Pin<Box<dyn Future<Output = Result<HttpResponse, ProviderCallError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.0.call(request).await?;
            let status = response.status();
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                return Err(ProviderCallError::NotNow(status.as_u16()));
            }
            Ok(response)
        })
    }
}

/// What a token request can end in.
type TokenRequestError =
    RequestTokenError<ProviderCallError, StandardErrorResponse<CoreErrorResponseType>>;

/// Said when the provider answered and the answer cannot be accepted:
/// asking again later would get the same answer, a new login may not.
const UNVERIFIABLE: &str =
    "the identity provider's answer could not be verified: start the login again";

/// A login started: where to send the person, and what to keep.
pub struct Started {
    pub authorization_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Who the provider says logged in.
#[derive(Debug, Clone)]
pub struct FederatedPerson {
    /// The federation key: ESIA's object id (`sub`).
    pub subject: String,
    pub snils: Option<String>,
    /// A confirmed account (ESIA: `is_tru` and the record's `trusted`).
    pub trusted: bool,
    pub last_name: String,
    pub first_name: String,
}

/// ESIA's person record (`/rs/prns/{oid}`), the fields used here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EsiaPersonRecord {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    snils: Option<String>,
    #[serde(default)]
    trusted: bool,
}

pub struct Federation {
    settings: FederationSettings,
    http: reqwest::Client,
    signer: Option<Box<dyn RequestSigner>>,
    // Parsed once from the settings.
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    person_data_url: String,
    /// ESIA's token key, from `token_certificate_file`.
    token_key: Option<ProviderKey>,
    /// The provider's document written from `endpoints`, when named there.
    named: Option<Metadata>,
    client: RwLock<Option<(tokio::time::Instant, Arc<ProviderClient>)>>,
}

/// ESIA's `timestamp`: `yyyy.MM.dd HH:mm:ss +hhmm`.
pub fn esia_timestamp(at: OffsetDateTime) -> String {
    const FORMAT: &[BorrowedFormatItem<'_>] = format_description!(
        "[year].[month].[day] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    at.to_offset(UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

impl Federation {
    pub fn new(settings: FederationSettings) -> Result<Self, FederationError> {
        let signer = match (&settings.signer, settings.esia) {
            (Some(signer), true) => Some(signer::from_settings(signer)?),
            (None, true) => {
                return Err(FederationError::Settings(
                    "federation.signer is required when federation.esia is on".to_owned(),
                ));
            }
            (_, false) => None,
        };
        let issuer = IssuerUrl::new(settings.issuer_url.clone()).map_err(|error| {
            FederationError::Settings(format!("federation.issuer_url: {error}"))
        })?;
        let redirect = RedirectUrl::new(settings.redirect_uri.clone()).map_err(|error| {
            FederationError::Settings(format!("federation.redirect_uri: {error}"))
        })?;
        let person_data_url = match &settings.person_data_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{}/rs/prns", issuer.url().origin().ascii_serialization()),
        };
        let token_key = match &settings.token_certificate_file {
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|error| {
                    FederationError::Settings(format!(
                        "federation.token_certificate_file {path}: {error}"
                    ))
                })?;
                let key = asurso_gost::PublicKey::from_certificate_pem(&pem).map_err(|error| {
                    FederationError::Settings(format!(
                        "federation.token_certificate_file {path}: {error}"
                    ))
                })?;
                Some(ProviderKey::Gost { key, kid: None })
            }
            None => None,
        };
        let named = match &settings.endpoints {
            Some(_) if token_key.is_none() => {
                return Err(FederationError::Settings(
                    "federation.endpoints needs federation.token_certificate_file: without discovery there are no published keys"
                        .to_owned(),
                ));
            }
            Some(endpoints) => Some(named_endpoints(&issuer, endpoints)?),
            None => None,
        };
        match (&settings.logout_url, &settings.post_logout_redirect_url) {
            (Some(logout), Some(back)) => {
                for (name, url) in [("logout_url", logout), ("post_logout_redirect_url", back)] {
                    reqwest::Url::parse(url).map_err(|error| {
                        FederationError::Settings(format!("federation.{name}: {error}"))
                    })?;
                }
            }
            (Some(_), None) => {
                return Err(FederationError::Settings(
                    "federation.logout_url needs federation.post_logout_redirect_url (where the provider sends the browser back)"
                        .to_owned(),
                ));
            }
            _ => {}
        }
        let http = reqwest::Client::builder()
            // Following redirects would let the provider point us anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.http_timeout_seconds))
            .build()
            .map_err(|error| FederationError::Settings(format!("http client: {error}")))?;
        Ok(Self {
            settings,
            http,
            signer,
            issuer,
            redirect,
            person_data_url,
            token_key,
            named,
            client: RwLock::new(None),
        })
    }

    pub fn provider(&self) -> &str {
        &self.settings.provider
    }

    pub fn login_ttl(&self) -> Duration {
        Duration::from_secs(self.settings.login_ttl_seconds)
    }

    /// The client from discovery, read again when stale or when `fresh`.
    async fn client(&self, fresh: bool) -> Result<Arc<ProviderClient>, FederationError> {
        let ttl = Duration::from_secs(self.settings.metadata_ttl_seconds);
        if !fresh
            && let Some((read_at, client)) = self.client.read().await.as_ref()
            && read_at.elapsed() < ttl
        {
            return Ok(Arc::clone(client));
        }
        let mut metadata = match &self.named {
            None => Metadata::discover_async(self.issuer.clone(), &self.http)
                .await
                .map_err(|error| {
                    tracing::warn!(error = %error_chain(&error), "identity provider discovery failed");
                    FederationError::Unavailable(
                        "the identity provider is not answering: try again later".to_owned(),
                    )
                })?,
            Some(named) => named.clone(),
        };
        if let Some(key) = &self.token_key {
            // ESIA's certificate is the only key, GOST the only algorithm:
            // whatever a discovery document publishes besides is not trusted.
            metadata = metadata
                .set_jwks(JsonWebKeySet::new(vec![key.clone()]))
                .set_id_token_signing_alg_values_supported(vec![SigningAlgorithm::Gost2012_256]);
        }
        let secret = self
            .settings
            .client_secret
            .as_ref()
            .map(|secret| ClientSecret::new(secret.expose_secret().to_owned()));
        let mut client = ProviderClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            secret,
        )
        .set_redirect_uri(self.redirect.clone());
        if self.settings.esia {
            // ESIA takes client_id and the signed client_secret in the form.
            client = client.set_auth_type(AuthType::RequestBody);
        }
        let client = Arc::new(client);
        *self.client.write().await = Some((tokio::time::Instant::now(), Arc::clone(&client)));
        Ok(client)
    }

    /// Where to send the browser to end its session at the provider, when
    /// the region asked for it.
    pub fn provider_logout_url(&self) -> Option<String> {
        let (logout, back) = (
            self.settings.logout_url.as_ref()?,
            self.settings.post_logout_redirect_url.as_ref()?,
        );
        let mut url = reqwest::Url::parse(logout).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_url", back);
        Some(url.to_string())
    }

    /// The id_token's verifier. With ESIA's certificate it is the only key
    /// trusted, whatever `kid` the token's header names: the key is given
    /// the token's `kid`, since `openidconnect` skips keys of another.
    fn verifier<'a>(
        &'a self,
        client: &'a ProviderClient,
        id_token: &IdToken,
    ) -> IdTokenVerifier<'a, ProviderKey> {
        let Some(ProviderKey::Gost { key, .. }) = &self.token_key else {
            return client.id_token_verifier();
        };
        IdTokenVerifier::new_public_client(
            ClientId::new(self.settings.client_id.clone()),
            self.issuer.clone(),
            JsonWebKeySet::new(vec![ProviderKey::Gost {
                key: key.clone(),
                kid: header_kid(&id_token.to_string()),
            }]),
        )
        .set_allowed_algs([SigningAlgorithm::Gost2012_256])
    }

    fn scope(&self) -> String {
        std::iter::once("openid")
            .chain(self.settings.scopes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn signer(&self) -> Result<&dyn RequestSigner, FederationError> {
        self.signer
            .as_deref()
            .ok_or_else(|| FederationError::Settings("no request signer".to_owned()))
    }

    /// A new login: the URL to send the person to, with a fresh state
    /// (a UUID, as ESIA wants), nonce and PKCE verifier.
    pub async fn start(&self) -> Result<Started, FederationError> {
        let client = self.client(false).await?;
        let state = uuid::Uuid::new_v4().to_string();
        let nonce = Nonce::new_random();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = {
            let state = state.clone();
            let nonce = nonce.clone();
            client.authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || nonce,
            )
        }
        .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if self.settings.esia {
            let timestamp = esia_timestamp(OffsetDateTime::now_utc());
            let signer = self.signer()?;
            let message = format!(
                "{}{}{timestamp}{state}{}",
                self.settings.client_id,
                self.scope(),
                self.settings.redirect_uri
            );
            let secret = signer.sign(message.as_bytes()).await?;
            request = request
                .add_extra_param("timestamp", timestamp)
                .add_extra_param("client_secret", secret)
                .add_extra_param(
                    "client_certificate_hash",
                    signer.certificate_hash().to_owned(),
                )
                .add_extra_param("access_type", "online");
        }
        let (url, _, _) = request.url();
        Ok(Started {
            authorization_url: url.to_string(),
            state,
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Swaps the code for tokens, validates the id_token against the login's
    /// nonce, and reads who logged in.
    pub async fn complete(
        &self,
        state: &str,
        nonce: &str,
        pkce_verifier: &str,
        code: &str,
    ) -> Result<FederatedPerson, FederationError> {
        let client = self.client(false).await?;
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| FederationError::Settings(format!("token endpoint: {error}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        if self.settings.esia {
            let timestamp = esia_timestamp(OffsetDateTime::now_utc());
            let signer = self.signer()?;
            let scope = self.scope();
            let message = format!(
                "{}{scope}{timestamp}{state}{}{code}",
                self.settings.client_id, self.settings.redirect_uri
            );
            let secret = signer.sign(message.as_bytes()).await?;
            request = request
                .add_extra_param("client_secret", secret)
                .add_extra_param(
                    "client_certificate_hash",
                    signer.certificate_hash().to_owned(),
                )
                .add_extra_param("state", state.to_owned())
                .add_extra_param("scope", scope)
                .add_extra_param("timestamp", timestamp)
                .add_extra_param("token_type", "Bearer");
        }
        let call = ProviderHttp(&self.http);
        let tokens = request
            .request_async(&call)
            .await
            .map_err(token_request_failed)?;
        if self.settings.esia {
            let echoed = tokens.extra_fields().extra_fields().state.as_deref();
            if echoed != Some(state) {
                return Err(FederationError::Rejected(
                    "the identity provider answered for another login (state mismatch): log in again"
                        .to_owned(),
                ));
            }
        }
        let id_token = tokens.id_token().ok_or_else(|| {
            FederationError::Rejected("the identity provider sent no id_token".to_owned())
        })?;
        let nonce = Nonce::new(nonce.to_owned());
        let (client, claims) = match id_token.claims(&self.verifier(&client, id_token), &nonce) {
            Ok(claims) => (client.clone(), claims.clone()),
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                // The provider may have rotated its keys: read them again once.
                let fresh = self.client(true).await?;
                let claims = id_token
                    .claims(&self.verifier(&fresh, id_token), &nonce)
                    .map_err(rejected)?
                    .clone();
                (fresh, claims)
            }
            Err(error) => return Err(rejected(error)),
        };
        if let Some(expected) = claims.access_token_hash() {
            let verifier = self.verifier(&client, id_token);
            let algorithm = id_token
                .signing_alg()
                .map_err(|error| FederationError::Rejected(format!("id_token: {error}")))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|error| FederationError::Rejected(format!("id_token: {error}")))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), algorithm, key)
                .map_err(|error| FederationError::Rejected(format!("at_hash: {error}")))?;
            if actual != *expected {
                return Err(FederationError::Rejected(
                    "the id_token does not belong to the access token (at_hash)".to_owned(),
                ));
            }
        }
        let subject = claims.subject().to_string();
        if self.settings.esia {
            let sbj = claims
                .additional_claims()
                .subject
                .clone()
                .unwrap_or_default();
            if let Some(oid) = sbj.oid.as_ref() {
                let oid = match oid {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                if oid != subject {
                    return Err(FederationError::Rejected(
                        "the id_token names two different people (urn:esia:sbj:oid and sub)"
                            .to_owned(),
                    ));
                }
            }
            let record = self.person_record(&subject, tokens.access_token()).await?;
            Ok(FederatedPerson {
                subject,
                snils: record.snils,
                trusted: sbj.is_trusted == Some(true) && record.trusted,
                last_name: record.last_name,
                first_name: record.first_name,
            })
        } else {
            let info: openidconnect::UserInfoClaims<EsiaClaims, CoreGenderClaim> = client
                .user_info(
                    tokens.access_token().clone(),
                    Some(SubjectIdentifier::new(subject.clone())),
                )
                .map_err(|error| FederationError::Settings(format!("userinfo: {error}")))?
                .request_async(&call)
                .await
                .map_err(user_info_failed)?;
            let name = |claim: Option<&openidconnect::LocalizedClaim<_>>| {
                claim
                    .and_then(|claim| claim.get(None))
                    .map(|name: &openidconnect::EndUserGivenName| name.to_string())
                    .unwrap_or_default()
            };
            let extra = info.additional_claims();
            Ok(FederatedPerson {
                subject,
                snils: extra.snils.clone(),
                trusted: extra.trusted == Some(true),
                last_name: info
                    .family_name()
                    .and_then(|claim| claim.get(None))
                    .map(|name| name.to_string())
                    .unwrap_or_default(),
                first_name: name(info.given_name()),
            })
        }
    }

    async fn person_record(
        &self,
        oid: &str,
        token: &AccessToken,
    ) -> Result<EsiaPersonRecord, FederationError> {
        let unavailable = |error: &(dyn std::error::Error + 'static)| {
            // A record that does not parse would be quoted by its parser:
            // the person's names and SNILS stay out of the log.
            let error = json_failure_in(error).unwrap_or_else(|| error_chain(error));
            tracing::warn!(%error, "the person record could not be read");
            FederationError::Unavailable(
                "the identity provider is not answering: try again later".to_owned(),
            )
        };
        let response = self
            .http
            .get(format!("{}/{oid}", self.person_data_url))
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "the person record was refused");
            return Err(FederationError::Unavailable(
                "the identity provider did not give the person's data: try again later".to_owned(),
            ));
        }
        response
            .json::<EsiaPersonRecord>()
            .await
            .map_err(|error| unavailable(&error))
    }
}

/// The provider's document written from settings, for one without
/// discovery. Its keys are the certificate's (set by the caller).
fn named_endpoints(issuer: &IssuerUrl, endpoints: &Endpoints) -> Result<Metadata, FederationError> {
    let url = |what: &str, text: &str| {
        FederationError::Settings(format!("federation.endpoints.{what}: {text}"))
    };
    let authorization = AuthUrl::new(endpoints.authorization.clone())
        .map_err(|error| url("authorization", &error.to_string()))?;
    let token =
        TokenUrl::new(endpoints.token.clone()).map_err(|error| url("token", &error.to_string()))?;
    // Never fetched: the keys come from the certificate. The field is
    // required, so it names the authorization endpoint.
    let no_jwks = openidconnect::JsonWebKeySetUrl::new(endpoints.authorization.clone())
        .map_err(|error| url("authorization", &error.to_string()))?;
    Ok(Metadata::new(
        issuer.clone(),
        authorization,
        no_jwks,
        vec![openidconnect::ResponseTypes::new(vec![
            CoreResponseType::Code,
        ])],
        vec![CoreSubjectIdentifierType::Public],
        vec![SigningAlgorithm::Gost2012_256],
        EmptyAdditionalProviderMetadata {},
    )
    .set_token_endpoint(Some(token)))
}

/// The `kid` of a compact JWS's header, if it names one.
fn header_kid(token: &str) -> Option<openidconnect::JsonWebKeyId> {
    use base64::Engine as _;
    let header = token.split('.').next()?;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    let kid = header.get("kid")?.as_str()?;
    Some(openidconnect::JsonWebKeyId::new(kid.to_owned()))
}

fn not_answering(error: &ProviderCallError, what: &str) -> FederationError {
    tracing::warn!(error = %error_chain(error), "{what} failed");
    FederationError::Unavailable(
        "the identity provider is not answering: try again later".to_owned(),
    )
}

/// The provider answered, and the answer is not one to accept. Its body is
/// not logged: it holds the tokens.
fn unverifiable(reason: &str, what: &str) -> FederationError {
    tracing::warn!(%reason, "{what} could not be read");
    FederationError::Rejected(UNVERIFIABLE.to_owned())
}

/// What may be logged of an answer that does not parse: where in it (the
/// names of the fields down to the value) and what kind of mistake. Never
/// the parser's own words, which quote the value they choked on: a piece of
/// a token, or a claim from inside the id_token.
fn parse_failure(path: &impl std::fmt::Display, error: &serde_json::Error) -> String {
    let path = path.to_string();
    // Field names are the provider's, and a map's keys are data: a path
    // that is not plainly a path of names is not shown either.
    let plain = path.len() <= 120
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-[]?".contains(c));
    let kind = json_failure(error);
    match path.as_str() {
        // The top level, or as deep as flattened fields let the parser tell.
        "." | "?" => format!("does not parse: {kind}"),
        _ if plain => format!("does not parse at {path}: {kind}"),
        _ => format!("does not parse at a field not shown: {kind}"),
    }
}

/// The kind of a JSON parse error, and where in the text: never its message.
fn json_failure(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Eof => "cut short",
        serde_json::error::Category::Data => "a value of the wrong type, or one missing",
        serde_json::error::Category::Io => "unreadable",
    };
    format!("{kind} (line {}, column {})", error.line(), error.column())
}

/// `json_failure` of the first JSON parse error in the chain, if any.
fn json_failure_in(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(json) = error.downcast_ref::<serde_json::Error>() {
            return Some(format!("the answer does not parse: {}", json_failure(json)));
        }
        next = error.source();
    }
    None
}

/// Only a call that brought no answer is worth trying again later. An
/// answer that does not parse (an id_token that is not a JWT or lacks
/// `sub`, `iss`, `exp` or `iat`; a body that is not a token response) is
/// the provider's answer all the same, and it cannot be accepted.
fn token_request_failed(error: TokenRequestError) -> FederationError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            tracing::info!(error = %response, "the identity provider refused the code");
            let reason = response
                .error_description()
                .map(|description| format!("{}: {description}", response.error()))
                .unwrap_or_else(|| response.error().to_string());
            FederationError::CodeRefused(format!(
                "the identity provider refused this login ({}): codes expire quickly and are used once, log in again",
                reason.chars().take(200).collect::<String>()
            ))
        }
        RequestTokenError::Request(error) => not_answering(&error, "the token request"),
        RequestTokenError::Parse(error, _body) => unverifiable(
            &parse_failure(error.path(), error.inner()),
            "the token response",
        ),
        RequestTokenError::Other(reason) => unverifiable(&reason, "the token response"),
    }
}

/// As for the token response.
fn user_info_failed(error: UserInfoError<ProviderCallError>) -> FederationError {
    match error {
        UserInfoError::ClaimsVerification(error) => rejected(error),
        UserInfoError::Request(error) => not_answering(&error, "the userinfo request"),
        UserInfoError::Parse(error) => unverifiable(
            &parse_failure(error.path(), error.inner()),
            "the userinfo response",
        ),
        UserInfoError::Response(status, _body, reason) => {
            unverifiable(&format!("HTTP {status}: {reason}"), "the userinfo response")
        }
        other => unverifiable(&error_chain(&other), "the userinfo response"),
    }
}

fn rejected(error: openidconnect::ClaimsVerificationError) -> FederationError {
    tracing::warn!(%error, "an id_token was rejected");
    FederationError::Rejected(format!(
        "the identity provider's answer does not hold up ({error}): log in again"
    ))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard_settings() -> FederationSettings {
        FederationSettings {
            provider: "esia".to_owned(),
            issuer_url: "http://esia.gosuslugi.ru/".to_owned(),
            endpoints: None,
            token_certificate_file: None,
            logout_url: None,
            post_logout_redirect_url: None,
            client_id: "ASURSO".to_owned(),
            client_secret: None,
            redirect_uri: "https://dnevnik.example/auth/esia/callback".to_owned(),
            scopes: vec!["fullname".to_owned()],
            esia: false,
            person_data_url: None,
            signer: None,
            login_ttl_seconds: 600,
            http_timeout_seconds: 10,
            metadata_ttl_seconds: 3600,
        }
    }

    fn refused(settings: FederationSettings) -> String {
        match Federation::new(settings) {
            Err(FederationError::Settings(message)) => message,
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("settings that cannot work were taken"),
        }
    }

    #[test]
    fn settings_that_cannot_work_are_refused_at_start_by_name() {
        let mut named = standard_settings();
        named.endpoints = Some(Endpoints {
            authorization: "https://esia.gosuslugi.ru/aas/oauth2/v2/ac".to_owned(),
            token: "https://esia.gosuslugi.ru/aas/oauth2/v3/te".to_owned(),
        });
        assert!(refused(named.clone()).contains("federation.token_certificate_file"));

        named.token_certificate_file = Some("/nonexistent/esia.crt".to_owned());
        assert!(refused(named.clone()).contains("/nonexistent/esia.crt"));

        let mut logout = standard_settings();
        logout.logout_url = Some("https://esia.gosuslugi.ru/idp/ext/Logout".to_owned());
        assert!(refused(logout.clone()).contains("federation.post_logout_redirect_url"));
        logout.post_logout_redirect_url = Some("not a url".to_owned());
        assert!(refused(logout.clone()).contains("federation.post_logout_redirect_url"));

        logout.post_logout_redirect_url = Some("https://dnevnik.example/".to_owned());
        let federation = Federation::new(logout).map_err(|error| error.to_string());
        let url = federation.map(|federation| federation.provider_logout_url());
        assert_eq!(
            url,
            Ok(Some(
                "https://esia.gosuslugi.ru/idp/ext/Logout?client_id=ASURSO&redirect_url=https%3A%2F%2Fdnevnik.example%2F"
                    .to_owned()
            ))
        );
    }

    const FRAGMENT: &str = "eyJwaWVjZSI6Im9mLWEtdG9rZW4ifQ";

    /// The parser's own words for a subject whose `is_tru` is text: they
    /// quote the text.
    fn quoting_error() -> serde_json::Error {
        let answer = format!(r#"{{"urn:esia:sbj:is_tru": "{FRAGMENT}"}}"#);
        let error =
            serde_json::from_str::<EsiaSubject>(&answer).expect_err("text is not a boolean");
        assert!(error.to_string().contains(FRAGMENT), "{error}");
        error
    }

    #[test]
    fn a_parse_failure_is_described_by_where_and_what_kind_never_by_its_values() {
        let error = quoting_error();
        assert_eq!(
            parse_failure(&"id_token", &error),
            "does not parse at id_token: a value of the wrong type, or one missing (line 1, column 56)"
        );
        assert!(parse_failure(&".", &error).starts_with("does not parse: a value"));
        // A map's key is data: a path that is not plainly names is not shown.
        let described = parse_failure(&format!("claims.{FRAGMENT} 1"), &error);
        assert!(!described.contains(FRAGMENT), "{described}");
        assert!(described.contains("not shown"), "{described}");
    }

    #[test]
    fn a_json_failure_anywhere_in_a_chain_is_described_without_its_values() {
        /// As reqwest wraps a body that does not decode.
        #[derive(Debug, thiserror::Error)]
        #[error("error decoding response body")]
        struct Decode(#[source] serde_json::Error);

        let described = json_failure_in(&Decode(quoting_error())).unwrap_or_default();
        assert!(described.contains("wrong type"), "{described}");
        assert!(!described.contains(FRAGMENT), "{described}");
        let unrelated = std::io::Error::other("connection reset");
        assert_eq!(json_failure_in(&unrelated), None);
    }
}
