//! Against keys, certificates and signatures made by `openssl` with the
//! GOST engine (testdata/: `genpkey -algorithm gost2012_256 -pkeyopt
//! paramset:A|B|C`, `req -x509 -md_gost12_256`, `dgst -md_gost12_256
//! -sign` of `msg`). Test keys, plainly not secrets.

use super::*;

const MESSAGE: &[u8] = include_bytes!("../testdata/msg");

fn vectors() -> [(&'static str, &'static str, &'static [u8], ParamSet); 3] {
    [
        (
            include_str!("../testdata/a.crt"),
            include_str!("../testdata/a.key"),
            include_bytes!("../testdata/a.sig"),
            ParamSet::CryptoProA,
        ),
        (
            include_str!("../testdata/b.crt"),
            include_str!("../testdata/b.key"),
            include_bytes!("../testdata/b.sig"),
            ParamSet::CryptoProB,
        ),
        (
            include_str!("../testdata/c.crt"),
            include_str!("../testdata/c.key"),
            include_bytes!("../testdata/c.sig"),
            ParamSet::CryptoProC,
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn streebog_and_the_certificate_hash_are_what_openssl_prints() {
    assert_eq!(
        hex(&streebog256(MESSAGE)),
        "06ff32d8a1c668de9703bd7f6a85edbb79963fd87da18a8c303d25143ababcc1"
    );
    let der = pem_block(include_str!("../testdata/a.crt"), "CERTIFICATE").expect("PEM");
    assert_eq!(
        certificate_hash(&der),
        "422B940AC65553F3770F5DD8E4B0873C644B7FF810B3FA7C8990349F1EC077D9"
    );
}

#[test]
fn openssls_signatures_verify_with_the_certificates_key_on_every_curve() {
    for (certificate, _, signature, set) in vectors() {
        let key = PublicKey::from_certificate_pem(certificate).expect("a GOST certificate");
        assert_eq!(key.param_set(), set);
        assert_eq!(key.verify(MESSAGE, signature), Ok(()), "{set:?}");
    }
}

#[test]
fn a_changed_message_signature_or_key_does_not_verify() {
    let [(a_certificate, _, a_signature, _), (b_certificate, ..), _] = vectors();
    let key = PublicKey::from_certificate_pem(a_certificate).expect("certificate");
    let mut changed = MESSAGE.to_vec();
    changed[0] ^= 1;
    assert_eq!(
        key.verify(&changed, a_signature),
        Err(GostError::BadSignature)
    );
    for index in [0, 31, 32, 63] {
        let mut signature = a_signature.to_vec();
        signature[index] ^= 0x10;
        assert_eq!(
            key.verify(MESSAGE, &signature),
            Err(GostError::BadSignature),
            "byte {index}"
        );
    }
    // The halves the other way round, as a tool writing r first would.
    let swapped = [&a_signature[32..], &a_signature[..32]].concat();
    assert_eq!(key.verify(MESSAGE, &swapped), Err(GostError::BadSignature));
    assert_eq!(
        key.verify(MESSAGE, &a_signature[..63]),
        Err(GostError::SignatureLength(63))
    );
    assert_eq!(
        key.verify(MESSAGE, &[0u8; 64]),
        Err(GostError::BadSignature)
    );
    let other = PublicKey::from_certificate_pem(b_certificate).expect("certificate");
    assert!(other.verify(MESSAGE, a_signature).is_err());
}

#[test]
fn the_private_key_is_the_certificates_and_its_signatures_verify() {
    for (certificate, key, _, set) in vectors() {
        let private = PrivateKey::from_pkcs8_pem(key).expect("an openssl GOST key");
        let public = PublicKey::from_certificate_pem(certificate).expect("certificate");
        assert_eq!(private.public_key(), public, "{set:?}");
        let signature = private.sign(MESSAGE);
        assert_eq!(public.verify(MESSAGE, &signature), Ok(()), "{set:?}");
        // A fresh k each time: two signatures of one message differ.
        assert_ne!(private.sign(MESSAGE), signature);
    }
}

#[test]
fn what_is_not_a_gost_key_is_refused_by_name() {
    assert_eq!(
        PublicKey::from_certificate_pem("no certificate here"),
        Err(GostError::NotPem("CERTIFICATE"))
    );
    let garbage = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----";
    assert!(matches!(
        PublicKey::from_certificate_pem(garbage),
        Err(GostError::Malformed(_))
    ));
    // An Ed25519 certificate (1.3.101.112), as the development mode's keys.
    let ed25519 = include_str!("../testdata/ed25519.crt");
    assert_eq!(
        PublicKey::from_certificate_pem(ed25519),
        Err(GostError::NotGost2012_256)
    );
    // A point off the curve.
    let mut point = [0u8; 64];
    point[0] = 2;
    assert_eq!(
        PublicKey::from_point_bytes(ParamSet::CryptoProA, &point),
        Err(GostError::NotOnCurve)
    );
}

#[test]
fn openssl_verifies_the_signatures_made_here() {
    // The other way round: what esia-dev signs, OpenSSL's GOST engine (as a
    // relying party's tool would) accepts. `make deps` installs the engine.
    let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let dir = std::env::temp_dir().join(format!("asurso-gost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    for (name, (_, key, _, _)) in ["a", "b", "c"].into_iter().zip(vectors()) {
        let private = PrivateKey::from_pkcs8_pem(key).expect("key");
        let signature = dir.join(format!("{name}.sig"));
        std::fs::write(&signature, private.sign(MESSAGE)).expect("written");
        let verified = std::process::Command::new("openssl")
            .args(["dgst", "-engine", "gost", "-md_gost12_256", "-prverify"])
            .arg(testdata.join(format!("{name}.key")))
            .arg("-signature")
            .arg(&signature)
            .arg(testdata.join("msg"))
            .output()
            .expect("openssl runs");
        assert!(
            verified.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&verified.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).expect("removed");
}

#[test]
fn a_signature_with_r_or_s_out_of_range_is_refused_though_its_arithmetic_holds() {
    // s + q (or r + q) gives the same arithmetic mod q: only the range
    // check refuses such a second form of a valid signature.
    let mut checked = 0;
    for (certificate, _, signature, set) in vectors() {
        let key = PublicKey::from_certificate_pem(certificate).expect("certificate");
        let q = &set.curve().q;
        for half in [0..32, 32..64] {
            let value = BigUint::from_bytes_be(&signature[half.clone()]) + q;
            let bytes = value.to_bytes_be();
            if bytes.len() > 32 {
                continue;
            }
            let mut forged = signature.to_vec();
            forged[half.clone()].fill(0);
            forged[half.end - bytes.len()..half.end].copy_from_slice(&bytes);
            assert_eq!(
                key.verify(MESSAGE, &forged),
                Err(GostError::BadSignature),
                "{set:?}"
            );
            checked += 1;
        }
        // q itself, for either half.
        let q_bytes = q.to_bytes_be();
        let mut at_q = signature.to_vec();
        at_q[32 - q_bytes.len()..32].copy_from_slice(&q_bytes);
        assert_eq!(key.verify(MESSAGE, &at_q), Err(GostError::BadSignature));
    }
    assert!(checked > 0, "no s + q or r + q fitted in 32 bytes");
}
