//! GOST R 34.10-2012 keys and certificates made by OpenSSL with its GOST
//! engine, as a region's certified tool and ESIA hold theirs: for tests and
//! local runs of the GOST mode (`make deps` installs the engine).

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};

use crate::{ClientKey, TokenKey};

/// A key file and its self-signed certificate (PEM), side by side.
#[derive(Debug, Clone)]
pub struct GostPair {
    pub key_file: PathBuf,
    pub certificate_file: PathBuf,
}

impl GostPair {
    /// Makes `<name>.key` and `<name>.crt` in `dir` (CryptoPro-A curve).
    pub fn new(dir: &Path, name: &str) -> anyhow::Result<Self> {
        let key_file = dir.join(format!("{name}.key"));
        let certificate_file = dir.join(format!("{name}.crt"));
        let key = key_file.display().to_string();
        let certificate = certificate_file.display().to_string();
        openssl(&[
            "genpkey",
            "-engine",
            "gost",
            "-algorithm",
            "gost2012_256",
            "-pkeyopt",
            "paramset:A",
            "-out",
            &key,
        ])?;
        openssl(&[
            "req",
            "-x509",
            "-engine",
            "gost",
            "-key",
            &key,
            "-md_gost12_256",
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "30",
            "-out",
            &certificate,
        ])?;
        Ok(Self {
            key_file,
            certificate_file,
        })
    }

    pub fn certificate_pem(&self) -> anyhow::Result<String> {
        std::fs::read_to_string(&self.certificate_file)
            .with_context(|| format!("reading {}", self.certificate_file.display()))
    }

    /// A client registered by this pair's certificate.
    pub fn client_key(&self) -> anyhow::Result<ClientKey> {
        Ok(ClientKey::gost_certificate(&self.certificate_pem()?)?)
    }

    /// The provider signing its tokens with this pair's key, naming `kid`
    /// in their headers if given.
    pub fn token_key(&self, kid: Option<&str>) -> anyhow::Result<TokenKey> {
        let pem = std::fs::read_to_string(&self.key_file)
            .with_context(|| format!("reading {}", self.key_file.display()))?;
        Ok(TokenKey::Gost {
            key: std::sync::Arc::new(asurso_gost::PrivateKey::from_pkcs8_pem(&pem)?),
            kid: kid.map(str::to_owned),
        })
    }
}

fn openssl(args: &[&str]) -> anyhow::Result<()> {
    let output = std::process::Command::new("openssl")
        .args(args)
        .output()
        .context("running openssl (make deps installs it with the GOST engine)")?;
    ensure!(
        output.status.success(),
        "openssl {} failed (is the GOST engine installed? make deps): {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
