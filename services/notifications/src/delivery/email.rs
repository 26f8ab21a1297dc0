//! E-mail over SMTP: plain text, the notification's id as the Message-ID
//! (a receiver drops a repeated delivery), STARTTLS or TLS as the region's
//! relay asks.

use std::{path::PathBuf, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
};
use serde::Deserialize;
use uuid::Uuid;

use super::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain SMTP: a relay on the same host or a test server only.
    None,
    /// Plain, then STARTTLS, required.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// E-mail settings. Without a host, e-mail is off.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailSettings {
    #[serde(default)]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub security: Security,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: Option<secrecy::SecretString>,
    /// `АСУ РСО <noreply@region.example>`.
    pub from: String,
    /// The domain after the `@` of every Message-ID.
    pub message_id_domain: String,
    /// A PEM file of the CA that signed the relay's certificate, when it is
    /// not a public one.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_port() -> u16 {
    25
}

fn default_timeout() -> u64 {
    15
}

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("email.from is not a mailbox: {0}")]
    From(String),
    #[error("email: {0}")]
    Transport(String),
    #[error("email.ca_file: {0}")]
    Ca(String),
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl Mailer {
    /// The mailer, or `None` when no relay is configured.
    pub fn from_settings(settings: &EmailSettings) -> Result<Option<Self>, EmailError> {
        use secrecy::ExposeSecret;
        if settings.host.trim().is_empty() {
            return Ok(None);
        }
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|error: lettre::address::AddressError| EmailError::From(error.to_string()))?;
        let host = settings.host.trim();
        let tls = || -> Result<TlsParameters, EmailError> {
            let mut builder = TlsParameters::builder(host.to_owned());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|error| EmailError::Ca(error.to_string()))?;
                let certificate = Certificate::from_pem(&pem)
                    .map_err(|error| EmailError::Ca(error.to_string()))?;
                builder = builder.add_root_certificate(certificate);
            }
            builder
                .build_rustls()
                .map_err(|error| EmailError::Transport(error.to_string()))
        };
        let security = match settings.security {
            Security::None => Tls::None,
            Security::Starttls => Tls::Required(tls()?),
            Security::Tls => Tls::Wrapper(tls()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.port)
            .tls(security)
            .timeout(Some(Duration::from_secs(settings.timeout_seconds)));
        if !settings.username.is_empty() {
            let password = settings
                .password
                .as_ref()
                .map(|password| password.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(settings.username.clone(), password));
        }
        Ok(Some(Self {
            transport: builder.build(),
            from,
            domain: settings.message_id_domain.clone(),
        }))
    }

    /// Sends one letter. A refusal of the address itself (550, 551 or
    /// 553 with an enhanced status 5.1.x: no such mailbox, no such
    /// domain) means the address is gone; another permanent answer (a
    /// policy or spam refusal, our own sender refused) refuses this letter
    /// only; anything else is worth another try.
    pub async fn send(&self, id: Uuid, to: &str, subject: &str, body: String) -> Outcome {
        let to: Mailbox = match to.parse() {
            Ok(to) => to,
            Err(_) => return Outcome::Gone(format!("{to} is not an e-mail address")),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{id}@{}>", self.domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(body);
        let message = match message {
            Ok(message) => message,
            Err(error) => return Outcome::Refused(format!("cannot write the letter: {error}")),
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Sent,
            Err(error) if error.is_permanent() => {
                let code = error
                    .status()
                    .map(|code| code.to_string())
                    .unwrap_or_default();
                if matches!(code.as_str(), "550" | "551" | "553") {
                    Outcome::Gone(format!("the mail server refused the address: {error}"))
                } else {
                    Outcome::Refused(format!("the mail server refused the letter: {error}"))
                }
            }
            Err(error) => Outcome::Transient(format!("mail server: {error}")),
        }
    }
}
