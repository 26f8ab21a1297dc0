//! Signing ESIA's requests. ESIA wants a detached GOST R 34.10-2012
//! signature made with keys held in certified crypto tools, so production
//! signs outside this process: [`CommandSigner`] hands the message to a
//! signing tool beside the system and reads the signature back; the key
//! never enters this process. `kind = "openssl"` is that tool set up as
//! OpenSSL with the GOST engine (`openssl dgst -md_gost12_256 -sign KEY`),
//! with `client_certificate_hash` computed from the certificate (Streebog-256
//! of its DER) and every signature checked against the certificate before
//! it is sent, so a wrong key, a missing engine or a tool printing garbage
//! fails here, by name, not at ESIA. [`DevelopmentSigner`] signs with an
//! Ed25519 key from settings, which only the development ESIA accepts.

use std::{process::Stdio, time::Duration};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signing key in settings is not 32 bytes of base64")]
    Key,
    #[error("the signing tool could not be run: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the signing tool did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the signing tool failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("the signing tool printed no signature")]
    Empty,
    #[error("the signing certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error(
        "the signing tool's signature does not verify with the certificate {certificate} ({reason}): is it the certificate of the tool's key, and is the GOST engine loaded?"
    )]
    Mismatch { certificate: String, reason: String },
}

/// Signs the text of an ESIA request: the `client_secret` parameter.
#[tonic::async_trait]
pub trait RequestSigner: Send + Sync {
    /// The detached signature of `message`, base64url without padding.
    async fn sign(&self, message: &[u8]) -> Result<String, SignError>;
    /// The `client_certificate_hash` parameter.
    fn certificate_hash(&self) -> &str;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignerSettings {
    /// An Ed25519 key for the development ESIA provider only.
    Development { seed: SecretString },
    /// A signing tool: `program args...` reads the message on stdin and
    /// prints the signature (base64 or base64url) on stdout.
    Command {
        program: String,
        #[serde(default)]
        args: Vec<String>,
        /// As ESIA's registration of the system's certificate gives it.
        certificate_hash: String,
        #[serde(default = "default_timeout")]
        timeout_seconds: u64,
    },
    /// OpenSSL with the GOST engine signing with a GOST R 34.10-2012
    /// 256-bit key: `program [-engine ENGINE] dgst -md_gost12_256 -sign
    /// KEY_FILE`, message on stdin, the raw 64-byte signature on stdout.
    Openssl {
        #[serde(default = "default_openssl")]
        program: String,
        /// The engine to load (`gost`); empty when the tool's own
        /// configuration loads it.
        #[serde(default = "default_engine")]
        engine: String,
        /// Opened by the tool, never by identity: a path, or an engine's key
        /// URI. The tool runs as identity's user, so a file must be readable
        /// by that user; a key in a token or HSM (an engine URI), or a
        /// `command` wrapper running the tool as another user, keeps even a
        /// compromised identity process from reading it.
        key_file: String,
        /// The key's certificate (PEM), as registered with ESIA.
        certificate_file: String,
        /// `client_certificate_hash` as ESIA's registration shows it, if it
        /// ever differs from the one computed here (Streebog-256 of the
        /// certificate's DER, upper-case hex).
        #[serde(default)]
        certificate_hash: Option<String>,
        #[serde(default = "default_timeout")]
        timeout_seconds: u64,
    },
}

impl SignerSettings {
    /// OpenSSL with the GOST engine, the defaults otherwise.
    pub fn openssl(key_file: &std::path::Path, certificate_file: &std::path::Path) -> Self {
        Self::Openssl {
            program: default_openssl(),
            engine: default_engine(),
            key_file: key_file.display().to_string(),
            certificate_file: certificate_file.display().to_string(),
            certificate_hash: None,
            timeout_seconds: default_timeout(),
        }
    }
}

fn default_timeout() -> u64 {
    10
}

fn default_openssl() -> String {
    "openssl".to_owned()
}

fn default_engine() -> String {
    "gost".to_owned()
}

pub fn from_settings(settings: &SignerSettings) -> Result<Box<dyn RequestSigner>, SignError> {
    Ok(match settings {
        SignerSettings::Development { seed } => Box::new(DevelopmentSigner::from_seed(seed)?),
        SignerSettings::Command {
            program,
            args,
            certificate_hash,
            timeout_seconds,
        } => Box::new(CommandSigner {
            program: program.clone(),
            args: args.clone(),
            certificate_hash: certificate_hash.clone(),
            timeout: Duration::from_secs(*timeout_seconds),
            output: Output::Base64,
        }),
        SignerSettings::Openssl {
            program,
            engine,
            key_file,
            certificate_file,
            certificate_hash,
            timeout_seconds,
        } => {
            let unreadable = |reason: String| SignError::Certificate {
                path: certificate_file.clone(),
                reason,
            };
            let pem = std::fs::read_to_string(certificate_file)
                .map_err(|error| unreadable(error.to_string()))?;
            let der = asurso_gost::pem_block(&pem, "CERTIFICATE")
                .map_err(|error| unreadable(error.to_string()))?;
            let key = asurso_gost::PublicKey::from_certificate_der(&der)
                .map_err(|error| unreadable(error.to_string()))?;
            let mut args = vec!["dgst".to_owned()];
            if !engine.is_empty() {
                args.extend(["-engine".to_owned(), engine.clone()]);
            }
            args.extend(["-md_gost12_256", "-sign", key_file.as_str()].map(str::to_owned));
            Box::new(CommandSigner {
                program: program.clone(),
                args,
                certificate_hash: certificate_hash
                    .clone()
                    .unwrap_or_else(|| asurso_gost::certificate_hash(&der)),
                timeout: Duration::from_secs(*timeout_seconds),
                output: Output::Gost {
                    key: Box::new(key),
                    certificate: certificate_file.clone(),
                },
            })
        }
    })
}

pub struct DevelopmentSigner {
    key: SigningKey,
    certificate_hash: String,
}

impl DevelopmentSigner {
    pub fn from_seed(seed: &SecretString) -> Result<Self, SignError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(seed.expose_secret().trim())
            .map_err(|_| SignError::Key)?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| SignError::Key)?;
        let key = SigningKey::from_bytes(&seed);
        let certificate_hash = certificate_hash_of(key.verifying_key().as_bytes());
        Ok(Self {
            key,
            certificate_hash,
        })
    }
}

/// What the development provider registers as a client's certificate hash:
/// hex SHA-256 of the Ed25519 public key, upper case as ESIA's are.
pub fn certificate_hash_of(public_key: &[u8]) -> String {
    Sha256::digest(public_key)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

#[tonic::async_trait]
impl RequestSigner for DevelopmentSigner {
    async fn sign(&self, message: &[u8]) -> Result<String, SignError> {
        let signature = self.key.sign(message);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn certificate_hash(&self) -> &str {
        &self.certificate_hash
    }
}

pub struct CommandSigner {
    program: String,
    args: Vec<String>,
    certificate_hash: String,
    timeout: Duration,
    output: Output,
}

/// What a signing tool prints.
enum Output {
    /// The signature in base64 (or base64url), lines and padding allowed.
    Base64,
    /// A raw 64-byte GOST R 34.10-2012 signature, checked against the key
    /// of the certificate it is sent with.
    Gost {
        key: Box<asurso_gost::PublicKey>,
        certificate: String,
    },
}

#[tonic::async_trait]
impl RequestSigner for CommandSigner {
    async fn sign(&self, message: &[u8]) -> Result<String, SignError> {
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(SignError::Spawn)?;
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                match stdin.write_all(message).await {
                    // A tool that quit without reading (a key it cannot
                    // open) is judged by its exit status and stderr below.
                    Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
                    other => other.map_err(SignError::Spawn)?,
                }
                // Dropping stdin here tells the tool the message is complete.
            }
            // Both pipes are read together, so a chatty tool cannot block.
            child.wait_with_output().await.map_err(SignError::Spawn)
        };
        let output = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| SignError::Timeout(self.timeout))??;
        let (status, stdout, stderr) = (output.status, output.stdout, output.stderr);
        if !status.success() {
            return Err(SignError::Failed {
                status: status.to_string(),
                stderr: String::from_utf8_lossy(&stderr).chars().take(500).collect(),
            });
        }
        if let Output::Gost { key, certificate } = &self.output {
            key.verify(message, &stdout)
                .map_err(|error| SignError::Mismatch {
                    certificate: certificate.clone(),
                    reason: error.to_string(),
                })?;
            return Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(stdout));
        }
        // Tools print standard base64 with line breaks; ESIA wants base64url.
        let signature: String = String::from_utf8_lossy(&stdout)
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                other => other,
            })
            .collect();
        if signature.is_empty() {
            return Err(SignError::Empty);
        }
        Ok(signature)
    }

    fn certificate_hash(&self) -> &str {
        &self.certificate_hash
    }
}
