//! Identity (logging in through the development ESIA), the gradebook and
//! the gateway in this process, each on its own socket; clients that go
//! through the gateway only.

use std::time::Duration;

use asurso_esia_dev::{
    ClientKey, ProviderSettings, RegisteredClient, RunningProvider, TokenKey, gost_keys::GostPair,
};
use asurso_gateway::{Application, CONFIG, Settings};
use asurso_gradebook::harness::{Gradebook, gradebook_database};
use asurso_identity::{
    federation::{Endpoints, FederationSettings, signer::SignerSettings},
    harness::{Bearer, World},
};
use asurso_runtime::Shutdown;
use asurso_testkit::servers::free_port;
use base64::Engine as _;
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub const CLIENT_ID: &str = "ASURSO-GATEWAY-TEST";
const CLIENT_SEED: [u8; 32] = *b"gateway-test-esia-client-key-01!";
/// The development ESIA's confirmed demo parent.
pub const CONFIRMED_PARENT: (&str, &str) = ("1000000001", "345-678-912 26");

/// How the ESIA the stack logs in through signs.
pub enum Esia {
    /// Development keys (Ed25519), as `make run` on a laptop.
    Development,
    /// GOST, as the production ESIA: keys made by OpenSSL's GOST engine in
    /// this folder, identity signing through OpenSSL, the endpoints named
    /// in its settings (no discovery) and ESIA's certificate trusted.
    Gost(std::path::PathBuf),
}

pub struct Stack {
    pub world: World,
    pub esia: RunningProvider,
    /// `http://127.0.0.1:PORT`: the gateway, for gRPC and for browsers.
    pub gateway: String,
    shutdown: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    gradebook: Gradebook,
}

impl Stack {
    /// Everything, with the gateway's limits adjusted first.
    pub async fn start(adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<Self> {
        Self::start_with(Esia::Development, adjust).await
    }

    /// Everything, logging in through ESIA signing as `esia` says.
    pub async fn start_with(
        esia: Esia,
        adjust: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        // The gateway's port is chosen first: identity's ESIA settings name
        // its callback.
        let port = free_port()?;
        let gateway = format!("http://127.0.0.1:{port}");
        let callback = format!("{gateway}/auth/esia/callback");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://{}/", listener.local_addr()?);
        // The development keys, or GOST pairs with the settings a region
        // gives for the production ESIA (named endpoints, its certificate).
        let (client_key, token_key, signer, endpoints, token_certificate_file) = match &esia {
            Esia::Development => (
                ClientKey::Development(asurso_esia_dev::public_key_of(&CLIENT_SEED)),
                TokenKey::Development {
                    seed: *b"gateway-test-esia-provider-key-1",
                    kid: "gateway-test".to_owned(),
                },
                SignerSettings::Development {
                    seed: base64::engine::general_purpose::STANDARD
                        .encode(CLIENT_SEED)
                        .into(),
                },
                None,
                None,
            ),
            Esia::Gost(dir) => {
                let (client, provider) =
                    (GostPair::new(dir, "client")?, GostPair::new(dir, "esia")?);
                (
                    client.client_key()?,
                    // Tokens name no key id here; identity's GOST tests name one.
                    provider.token_key(None)?,
                    SignerSettings::openssl(&client.key_file, &client.certificate_file),
                    Some(Endpoints::esia_at(&issuer)),
                    Some(provider.certificate_file.display().to_string()),
                )
            }
        };
        let esia = asurso_esia_dev::spawn(
            listener,
            ProviderSettings {
                issuer: issuer.clone(),
                clients: vec![RegisteredClient {
                    client_id: CLIENT_ID.to_owned(),
                    redirect_uris: vec![callback.clone()],
                    key: client_key,
                }],
                code_ttl: Duration::from_secs(60),
                timestamp_tolerance: Duration::from_secs(300),
                token_key,
            },
        )?;
        let federation = FederationSettings {
            provider: "esia".to_owned(),
            issuer_url: issuer.clone(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: None,
            redirect_uri: callback,
            scopes: vec!["fullname".to_owned(), "snils".to_owned()],
            esia: true,
            endpoints,
            token_certificate_file,
            // The region ends the ESIA session too when a parent logs out.
            logout_url: Some(format!("{issuer}idp/ext/Logout")),
            post_logout_redirect_url: Some(format!("{gateway}/")),
            person_data_url: None,
            signer: Some(signer),
            login_ttl_seconds: 600,
            http_timeout_seconds: 5,
            metadata_ttl_seconds: 3600,
        };
        let world = World::new_with(move |settings| settings.federation = Some(federation)).await?;
        let shutdown = Shutdown::new();
        let mut tasks = Vec::new();

        let gradebook = Gradebook::start(&world, gradebook_database().await?).await?;
        let gradebook_address = gradebook.address.clone();

        let mut settings: Settings = CONFIG.load()?;
        settings.grpc.port = port;
        settings.web.public_url = gateway.clone();
        settings
            .upstreams
            .insert("identity".into(), world.identity.address.clone());
        settings
            .upstreams
            .insert("gradebook".into(), gradebook_address);
        adjust(&mut settings);
        let app = Application::build(settings).await?;
        tasks.push(tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                if let Err(error) = app.run_until_stopped(shutdown).await {
                    panic!("gateway failed: {error}");
                }
            }
        }));
        Ok(Self {
            world,
            esia,
            gateway,
            shutdown,
            tasks,
            gradebook,
        })
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.gateway.clone())?
            .connect()
            .await?)
    }

    /// A client of the gateway carrying `token` (or none).
    pub async fn with_token(
        &self,
        token: Option<&str>,
    ) -> anyhow::Result<InterceptedService<Channel, Bearer>> {
        let bearer = Bearer::optional(token)?;
        Ok(InterceptedService::new(self.channel().await?, bearer))
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        for task in self.tasks {
            task.await?;
        }
        self.gradebook.stop().await?;
        self.world.identity.stop().await?;
        Ok(())
    }
}

/// Asserts a call was refused with `code`, and that its message says `text`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    outcome: Result<T, tonic::Status>,
    code: tonic::Code,
    text: &str,
) {
    match outcome {
        Ok(answer) => panic!("expected {code:?} saying {text:?}, got {answer:?}"),
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

/// A browser that does not follow redirects and keeps cookies.
pub fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(10))
        .build()?)
}
