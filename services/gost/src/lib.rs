//! GOST R 34.10-2012 signatures with 256-bit keys over GOST R 34.11-2012
//! (Streebog-256), as ESIA uses them: to verify the tokens ESIA signs
//! (`GOST3410_2012_256`) against ESIA's certificate, and to hash a
//! certificate for `client_certificate_hash`.
//!
//! Byte layouts are OpenSSL's GOST engine's, which interoperates with the
//! certified tools: a signature is 64 bytes, `s` then `r`, each big-endian;
//! a public key in a certificate is `x` then `y`, each little-endian; the
//! digest is read as a little-endian number. The tests hold a key,
//! certificate and signatures made by `openssl` with the GOST engine.
//!
//! [`PrivateKey`] signs in this process and is not constant-time: it is for
//! the development provider (esia-dev) and tests only. A relying party's
//! key stays in its certified tool (identity's `CommandSigner`).

mod curve;
mod der;

use base64::Engine as _;
use num_bigint::BigUint;
use rand::RngCore as _;
use streebog::{Digest as _, Streebog256};

pub use curve::ParamSet;
use curve::{Curve, Point};

/// GOST R 34.10-2012 with a 256-bit key: 1.2.643.7.1.1.1.1.
const GOST_2012_256: &[u8] = &[0x2A, 0x85, 0x03, 0x07, 0x01, 0x01, 0x01, 0x01];
/// Streebog-256: 1.2.643.7.1.1.2.2.
const STREEBOG_256: &[u8] = &[0x2A, 0x85, 0x03, 0x07, 0x01, 0x01, 0x02, 0x02];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GostError {
    #[error("not PEM: no \"-----BEGIN {0}-----\" block")]
    NotPem(&'static str),
    #[error("the {0} is malformed")]
    Malformed(&'static str),
    #[error("the key is not a GOST R 34.10-2012 256-bit key")]
    NotGost2012_256,
    #[error("the key's parameter set is not one of CryptoPro-A, -B, -C (or their tc26 names)")]
    UnknownParamSet,
    #[error("the public key is not a point of its curve")]
    NotOnCurve,
    #[error("a GOST R 34.10-2012 256-bit signature is 64 bytes, this one is {0}")]
    SignatureLength(usize),
    #[error("the signature does not verify")]
    BadSignature,
}

/// Streebog-256 of `bytes`, as `openssl dgst -md_gost12_256` prints it.
pub fn streebog256(bytes: &[u8]) -> [u8; 32] {
    Streebog256::digest(bytes).into()
}

/// The DER of the first `label` block of a PEM text.
pub fn pem_block(text: &str, label: &'static str) -> Result<Vec<u8>, GostError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(GostError::NotPem(label))? + begin.len();
    let stop = text[start..].find(&end).ok_or(GostError::NotPem(label))? + start;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| GostError::Malformed("PEM block"))
}

/// A certificate's hash for ESIA's `client_certificate_hash`: Streebog-256
/// of the certificate's DER, upper-case hex.
pub fn certificate_hash(certificate_der: &[u8]) -> String {
    streebog256(certificate_der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

/// `e` of the standard: the digest as a little-endian number mod q, never 0.
fn digest_number(curve: &Curve, message: &[u8]) -> BigUint {
    let e = BigUint::from_bytes_le(&streebog256(message)) % &curve.q;
    if e == BigUint::ZERO {
        BigUint::from(1u8)
    } else {
        e
    }
}

/// Reads `AlgorithmIdentifier { gost2012-256, { paramSet, [digest] } }`.
fn read_algorithm(contents: &[u8]) -> Result<ParamSet, GostError> {
    let mut algorithm = der::Reader::new(contents);
    if algorithm.take(der::OID, "key algorithm")? != GOST_2012_256 {
        return Err(GostError::NotGost2012_256);
    }
    let mut parameters = der::Reader::new(algorithm.take(der::SEQUENCE, "key parameters")?);
    let set = ParamSet::from_oid(parameters.take(der::OID, "parameter set")?)
        .ok_or(GostError::UnknownParamSet)?;
    if !parameters.is_empty() && parameters.take(der::OID, "digest")? != STREEBOG_256 {
        return Err(GostError::NotGost2012_256);
    }
    Ok(set)
}

/// A 256-bit GOST R 34.10-2012 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    set: ParamSet,
    x: BigUint,
    y: BigUint,
}

impl PublicKey {
    /// The key of the first certificate in a PEM text.
    pub fn from_certificate_pem(text: &str) -> Result<Self, GostError> {
        Self::from_certificate_der(&pem_block(text, "CERTIFICATE")?)
    }

    /// The subject's key of an X.509 certificate (its signature, validity
    /// and issuer are the settings' business: the certificate is the one
    /// the region was given, not one received).
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, GostError> {
        let mut outer = der::Reader::new(der);
        let mut certificate = der::Reader::new(outer.take(der::SEQUENCE, "certificate")?);
        let mut tbs = der::Reader::new(certificate.take(der::SEQUENCE, "certificate body")?);
        if tbs.peek() == Some(der::CONTEXT_0) {
            tbs.next("certificate version")?;
        }
        tbs.take(der::INTEGER, "certificate serial number")?;
        for what in ["signature algorithm", "issuer", "validity", "subject"] {
            tbs.take(der::SEQUENCE, what)?;
        }
        let mut info = der::Reader::new(tbs.take(der::SEQUENCE, "subject public key info")?);
        let set = read_algorithm(info.take(der::SEQUENCE, "key algorithm")?)?;
        let bits = info.take(der::BIT_STRING, "public key")?;
        let (unused, bits) = bits
            .split_first()
            .ok_or(GostError::Malformed("public key"))?;
        if *unused != 0 {
            return Err(GostError::Malformed("public key"));
        }
        let point = der::Reader::new(bits).take(der::OCTET_STRING, "public key")?;
        Self::from_point_bytes(set, point)
    }

    /// `x` then `y`, each 32 bytes little-endian.
    pub fn from_point_bytes(set: ParamSet, bytes: &[u8]) -> Result<Self, GostError> {
        if bytes.len() != 64 {
            return Err(GostError::Malformed("public key"));
        }
        let (x, y) = bytes.split_at(32);
        let key = Self {
            set,
            x: BigUint::from_bytes_le(x),
            y: BigUint::from_bytes_le(y),
        };
        if !set.curve().contains(&key.x, &key.y) {
            return Err(GostError::NotOnCurve);
        }
        Ok(key)
    }

    pub fn param_set(&self) -> ParamSet {
        self.set
    }

    /// Checks a 64-byte signature (`s` then `r`, big-endian) of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), GostError> {
        if signature.len() != 64 {
            return Err(GostError::SignatureLength(signature.len()));
        }
        let curve = self.set.curve();
        let s = BigUint::from_bytes_be(&signature[..32]);
        let r = BigUint::from_bytes_be(&signature[32..]);
        let in_range = |value: &BigUint| *value > BigUint::ZERO && *value < curve.q;
        if !in_range(&r) || !in_range(&s) {
            return Err(GostError::BadSignature);
        }
        let e = digest_number(curve, message);
        let v = e.modinv(&curve.q).ok_or(GostError::BadSignature)?;
        let z1 = (&s * &v) % &curve.q;
        let z2 = ((&curve.q - &r) * &v) % &curve.q;
        let key = Point::At(self.x.clone(), self.y.clone());
        let c = curve.multiply_sum(&z1, &curve.base(), &z2, &key);
        match c {
            Point::At(x, _) if &x % &curve.q == r => Ok(()),
            _ => Err(GostError::BadSignature),
        }
    }
}

/// A private key held in this process: for the development provider and
/// tests only (see the crate's doc).
pub struct PrivateKey {
    set: ParamSet,
    d: BigUint,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PrivateKey")
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// An unencrypted PKCS#8 key as `openssl genpkey -algorithm
    /// gost2012_256` writes it.
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, GostError> {
        let der = pem_block(text, "PRIVATE KEY")?;
        let mut outer = der::Reader::new(&der);
        let mut info = der::Reader::new(outer.take(der::SEQUENCE, "private key")?);
        info.take(der::INTEGER, "private key version")?;
        let set = read_algorithm(info.take(der::SEQUENCE, "key algorithm")?)?;
        let wrapped = info.take(der::OCTET_STRING, "private key")?;
        // The engine wraps the key's bytes in an inner OCTET STRING (or, in
        // older versions, an INTEGER); bare bytes are taken as they are.
        let mut inner = der::Reader::new(wrapped);
        let d = match inner.next("private key") {
            Ok((der::OCTET_STRING, bytes)) if inner.is_empty() => BigUint::from_bytes_le(bytes),
            Ok((der::INTEGER, bytes)) if inner.is_empty() => BigUint::from_bytes_be(bytes),
            _ if wrapped.len() == 32 => BigUint::from_bytes_le(wrapped),
            _ => return Err(GostError::Malformed("private key")),
        };
        let curve = set.curve();
        if d == BigUint::ZERO || d >= curve.q {
            return Err(GostError::Malformed("private key"));
        }
        Ok(Self { set, d })
    }

    /// A fresh random key on the curve `set`.
    pub fn generate(set: ParamSet) -> Self {
        let q = &set.curve().q;
        loop {
            let mut bytes = [0u8; 40];
            rand::rng().fill_bytes(&mut bytes);
            let d = BigUint::from_bytes_be(&bytes) % q;
            if d != BigUint::ZERO {
                return Self { set, d };
            }
        }
    }

    pub fn public_key(&self) -> PublicKey {
        let curve = self.set.curve();
        match curve.multiply(&self.d, &curve.base()) {
            Point::At(x, y) => PublicKey {
                set: self.set,
                x,
                y,
            },
            // d is in [1, q): d·G is never the point at infinity.
            Point::Infinity => PublicKey {
                set: self.set,
                x: BigUint::ZERO,
                y: BigUint::ZERO,
            },
        }
    }

    /// A 64-byte signature of `message` (`s` then `r`, big-endian).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let curve = self.set.curve();
        let e = digest_number(curve, message);
        loop {
            // 64 random bits beyond q's size make k's bias negligible.
            let mut bytes = [0u8; 40];
            rand::rng().fill_bytes(&mut bytes);
            let k = BigUint::from_bytes_be(&bytes) % &curve.q;
            if k == BigUint::ZERO {
                continue;
            }
            let Point::At(x, _) = curve.multiply(&k, &curve.base()) else {
                continue;
            };
            let r = x % &curve.q;
            let s = (&r * &self.d + &k * &e) % &curve.q;
            if r == BigUint::ZERO || s == BigUint::ZERO {
                continue;
            }
            let mut signature = [0u8; 64];
            let (s_bytes, r_bytes) = (s.to_bytes_be(), r.to_bytes_be());
            signature[32 - s_bytes.len()..32].copy_from_slice(&s_bytes);
            signature[64 - r_bytes.len()..].copy_from_slice(&r_bytes);
            return signature;
        }
    }
}

#[cfg(test)]
mod tests;
