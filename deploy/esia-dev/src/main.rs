//! `esia-dev`: the development ESIA (not for production).
//!
//! `esia-dev [--listen 127.0.0.1:50090] [--issuer URL] [--client-id ASURSO]
//! [--client-seed BASE64 | --client-key BASE64 | --client-certificate PEM]
//! [--token-key PEM] [--redirect-uri URI]... [--code-ttl SECONDS]` serves
//! it; `esia-dev sign --seed BASE64` signs stdin like a relying party's
//! signing tool (for the external-signer path).
//!
//! GOST mode, as ESIA: `--client-certificate` registers the client by its
//! GOST R 34.10-2012 certificate, `--token-key` signs tokens with a GOST key
//! (an unencrypted PKCS#8 file as `openssl genpkey -algorithm gost2012_256`
//! writes it), whose certificate the relying party is given.

use std::{io::Read, process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use std::sync::Arc;

use asurso_esia_dev::{ClientKey, DEMO_PEOPLE, ProviderSettings, RegisteredClient, TokenKey};
use base64::Engine as _;

/// The development client key identity's local settings sign with.
const DEV_CLIENT_SEED: &str = "ZGV2LWVzaWEtY2xpZW50LWtleS1ub3Qtc2VjcmV0ISE=";
/// The provider's own token key in development.
const DEV_PROVIDER_SEED: [u8; 32] = *b"dev-esia-provider-key-not-secret";

fn seed(text: &str, what: &str) -> anyhow::Result<[u8; 32]> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .with_context(|| format!("{what}: must be 32 bytes of standard base64"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("esia-dev: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut args = args.into_iter();
    let mut listen = "127.0.0.1:50090".to_owned();
    let mut issuer = None;
    let mut client_id = "ASURSO".to_owned();
    let mut client_key = None;
    let mut client_certificate = None;
    let mut token_key = None;
    let mut client_seed = DEV_CLIENT_SEED.to_owned();
    let mut redirect_uris = Vec::new();
    let mut code_ttl = 60;
    let mut signing = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "sign" => signing = Some(String::new()),
            "--seed" => signing = Some(value()?),
            "--listen" => listen = value()?,
            "--issuer" => issuer = Some(value()?),
            "--client-id" => client_id = value()?,
            "--client-key" => client_key = Some(value()?),
            "--client-seed" => client_seed = value()?,
            "--client-certificate" => client_certificate = Some(value()?),
            "--token-key" => token_key = Some(value()?),
            "--redirect-uri" => redirect_uris.push(value()?),
            "--code-ttl" => code_ttl = value()?.parse().context("--code-ttl: seconds")?,
            "-h" | "--help" => {
                println!(
                    "usage: esia-dev [--listen ADDR] [--issuer URL] [--client-id ID] [--client-seed B64 | --client-key B64 | --client-certificate PEM-FILE] [--token-key PEM-FILE] [--redirect-uri URI]... [--code-ttl S]\n       esia-dev sign --seed B64 < message"
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if let Some(seed_text) = signing {
        let seed = seed(&seed_text, "--seed")?;
        let mut message = Vec::new();
        std::io::stdin().read_to_end(&mut message)?;
        // Standard base64 with padding, as signing tools print it.
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(asurso_esia_dev::sign(&seed, &message))
            .context("signature")?;
        println!(
            "{}",
            base64::engine::general_purpose::STANDARD.encode(signature)
        );
        return Ok(());
    }
    let read = |path: &str, what: &str| {
        std::fs::read_to_string(path).with_context(|| format!("{what}: reading {path}"))
    };
    let key = match (client_certificate, client_key) {
        (Some(path), _) => ClientKey::gost_certificate(&read(&path, "--client-certificate")?)
            .with_context(|| format!("--client-certificate {path}"))?,
        (None, Some(key)) => ClientKey::Development(seed(&key, "--client-key")?),
        (None, None) => ClientKey::Development(asurso_esia_dev::public_key_of(&seed(
            &client_seed,
            "--client-seed",
        )?)),
    };
    let token_key = match token_key {
        Some(path) => TokenKey::Gost {
            key: Arc::new(
                asurso_gost::PrivateKey::from_pkcs8_pem(&read(&path, "--token-key")?)
                    .with_context(|| format!("--token-key {path}"))?,
            ),
            kid: None,
        },
        None => TokenKey::Development {
            seed: DEV_PROVIDER_SEED,
            kid: "esia-dev-1".to_owned(),
        },
    };
    if redirect_uris.is_empty() {
        redirect_uris.push("http://127.0.0.1:8080/auth/esia/callback".to_owned());
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    let issuer = issuer.unwrap_or_else(|| format!("http://{address}/"));
    let settings = ProviderSettings {
        issuer: issuer.clone(),
        clients: vec![RegisteredClient {
            client_id: client_id.clone(),
            redirect_uris: redirect_uris.clone(),
            key,
        }],
        code_ttl: Duration::from_secs(code_ttl),
        timestamp_tolerance: Duration::from_secs(300),
        token_key,
    };
    let running = asurso_esia_dev::spawn(listener, settings)?;
    println!("development ESIA (NOT for production) at {issuer}");
    println!(
        "  client {client_id}, redirect URIs: {}",
        redirect_uris.join(", ")
    );
    for person in DEMO_PEOPLE {
        println!(
            "  {} {} {} (SNILS {}): {}",
            person.last_name, person.first_name, person.middle_name, person.snils, person.note
        );
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    running.stop().await;
    Ok(())
}
