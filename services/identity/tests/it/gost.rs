//! ESIA in GOST, both ways, as the production ESIA: identity signs its
//! requests through OpenSSL with the GOST engine (the key stays in the
//! tool), the development ESIA in GOST mode checks those signatures with
//! the client's registered certificate, and signs its tokens
//! `GOST3410_2012_256`, which identity checks against ESIA's certificate.
//! Identity is set up as a region would for the production ESIA: the
//! endpoints named in settings, no discovery, no JWKS.

use std::collections::HashMap;

use asurso_esia_dev::TokenFault;
use asurso_identity::federation::signer::{self, SignError};
use asurso_proto::identity as pb;
use base64::Engine as _;
use tonic::Code;

use asurso_identity::harness::Clients;

use crate::{
    esia_support::{
        CONFIRMED_PARENT, GostEsia, GostPair, NOT_REGISTERED, assert_refused, complete, esia_login,
        openssl_signer, pick_person, register, scratch_dir, start, with_param,
    },
    federation::linked,
    support::{Service, World},
};

/// ESIA in GOST, identity set up for it, and the confirmed demo parent
/// registered at school A as `last`: the world, her id, an anonymous client.
async fn gost_world(what: &str, last: &str) -> anyhow::Result<(GostEsia, World, String, Clients)> {
    let esia = GostEsia::start(&scratch_dir(what)?).await?;
    let settings = esia.settings();
    let mut world = World::new_with(move |config| config.federation = Some(settings)).await?;
    let parent = register(&mut world, last, CONFIRMED_PARENT.1, pb::Role::Parent).await?;
    let anonymous = world.identity.clients(None).await?;
    Ok((esia, world, parent, anonymous))
}

#[tokio::test]
async fn a_parent_logs_in_through_esia_in_gost_both_ways() -> anyhow::Result<()> {
    let (esia, mut world, parent, mut anonymous) = gost_world("gost-login", "Иванова").await?;

    // The authorization request carries a GOST signature over ESIA's text,
    // by the client's key, and the hash of the client's certificate.
    let started = start(&mut anonymous).await?;
    let url = url::Url::parse(&started.authorization_url)?;
    assert!(url.path().ends_with("/aas/oauth2/v2/ac"), "{url}");
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let certificate = asurso_gost::pem_block(&esia.client.certificate_pem()?, "CERTIFICATE")?;
    assert_eq!(
        param("client_certificate_hash"),
        asurso_gost::certificate_hash(&certificate)
    );
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(param("client_secret"))?;
    let signed = format!(
        "{}{}{}{}{}",
        param("client_id"),
        param("scope"),
        param("timestamp"),
        param("state"),
        param("redirect_uri")
    );
    let client_key = asurso_gost::PublicKey::from_certificate_der(&certificate)?;
    assert_eq!(client_key.verify(signed.as_bytes(), &signature), Ok(()));

    // ESIA checks it: a request changed after signing is refused there.
    let tampered = with_param(
        &started.authorization_url,
        "scope",
        "openid fullname snils kid_fullname",
    )?;
    let back = pick_person(&tampered, CONFIRMED_PARENT.0).await;
    let refused = back.map(|query| query.get("error_description").cloned());
    assert!(
        matches!(&refused, Ok(Some(text)) if text.contains("does not verify")),
        "{refused:?}"
    );

    // The whole login: the token request signed again (with the code), the
    // GOST-signed id_token checked against ESIA's certificate.
    let back = pick_person(&started.authorization_url, CONFIRMED_PARENT.0).await?;
    let login = complete(&mut anonymous, &started.browser_binding, &back).await?;
    assert!(login.linked_now);
    assert!(linked(&mut world, &parent).await?);
    assert!(
        login
            .tokens
            .is_some_and(|tokens| !tokens.access_token.is_empty())
    );

    // Known by the ESIA account from now on; someone unknown still is not.
    let again = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    assert!(!again.linked_now);
    assert_refused(
        esia_login(&mut anonymous, NOT_REGISTERED.0).await,
        Code::NotFound,
        "",
    );
    Ok(())
}

#[tokio::test]
async fn esia_tokens_signed_by_another_key_changed_or_of_another_algorithm_are_refused()
-> anyhow::Result<()> {
    let (esia, mut world, parent, mut anonymous) = gost_world("gost-refusals", "Петрова").await?;

    let faults = [
        TokenFault::IdTokenSignedByAnotherKey,
        // Someone else's object id, the signature left as it was.
        TokenFault::IdTokenChangedAfterSigning("sub", "1000000004"),
        // A claim no other check looks at: only the signature catches it.
        TokenFault::IdTokenChangedAfterSigning("urn:esia:amd", "DS"),
        // The same signature under another algorithm's name: none of them
        // is ESIA's, and no key but the certificate's is trusted.
        TokenFault::IdTokenAlgorithm("EdDSA"),
        TokenFault::IdTokenAlgorithm("ES256"),
        TokenFault::IdTokenAlgorithm("HS256"),
        TokenFault::IdTokenAlgorithm("RS256"),
        TokenFault::IdTokenAlgorithm("none"),
    ];
    for fault in faults {
        esia.provider.break_next_token_answer(fault.clone());
        let outcome = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await;
        match outcome {
            Ok(_) => panic!("{fault:?}: the login succeeded"),
            Err(status) => {
                assert_eq!(
                    status.code(),
                    Code::Unauthenticated,
                    "{fault:?}: {status:?}"
                );
                assert!(
                    status.message().contains("log in again"),
                    "{fault:?}: {status:?}"
                );
            }
        }
        assert!(!linked(&mut world, &parent).await?, "{fault:?}");
    }

    // The provider's own token, untouched, still logs the parent in.
    let login = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    assert!(login.linked_now);
    Ok(())
}

#[tokio::test]
async fn the_signing_tool_fails_closed_and_names_what_is_wrong() -> anyhow::Result<()> {
    let dir = scratch_dir("gost-signer")?;
    let ours = GostPair::new(&dir, "ours")?;
    let other = GostPair::new(&dir, "other")?;

    // The tool's key is not the certificate's: caught before ESIA sees it.
    let mismatched = signer::SignerSettings::openssl(&ours.key_file, &other.certificate_file);
    let outcome = signer::from_settings(&mismatched)?.sign(b"ASURSO").await;
    assert!(
        matches!(&outcome, Err(SignError::Mismatch { reason, .. }) if reason.contains("does not verify")),
        "{outcome:?}"
    );

    // A key the tool cannot read: the tool's own words, and no signature.
    let missing = signer::SignerSettings::openssl(&dir.join("absent.key"), &ours.certificate_file);
    let outcome = signer::from_settings(&missing)?.sign(b"ASURSO").await;
    assert!(
        matches!(outcome, Err(SignError::Failed { .. })),
        "{outcome:?}"
    );

    // A certificate that is not a GOST one is refused at start.
    std::fs::write(dir.join("not.crt"), "not a certificate")?;
    let refused = signer::from_settings(&signer::SignerSettings::openssl(
        &ours.key_file,
        &dir.join("not.crt"),
    ));
    assert!(
        matches!(&refused, Err(SignError::Certificate { reason, .. }) if reason.contains("BEGIN CERTIFICATE")),
        "{:?}",
        refused.err()
    );

    // The right pair signs, and the signature verifies with the certificate.
    let good = signer::from_settings(&openssl_signer(&ours))?;
    let signature = good.sign(b"ASURSO").await?;
    let key = asurso_gost::PublicKey::from_certificate_pem(&ours.certificate_pem()?)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature)?;
    assert_eq!(key.verify(b"ASURSO", &raw), Ok(()));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn logging_out_of_a_session_from_esia_ends_the_esia_session_too() -> anyhow::Result<()> {
    let (_esia, mut world, _, mut anonymous) = gost_world("gost-logout", "Сидорова").await?;
    let login = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    let token = login
        .tokens
        .map(|tokens| tokens.access_token)
        .unwrap_or_default();

    let mut session = world.identity.clients(Some(&token)).await?;
    let answer = session
        .auth
        .logout(pb::LogoutRequest {})
        .await?
        .into_inner();
    let url = url::Url::parse(&answer.provider_logout_url)?;
    assert_eq!(url.path(), "/idp/ext/Logout");
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("client_id").map(String::as_str),
        Some(crate::esia_support::CLIENT_ID)
    );
    assert_eq!(
        query.get("redirect_url").map(String::as_str),
        Some("http://127.0.0.1:9/")
    );
    // ESIA takes it and sends the browser back to the region's page.
    let response = crate::esia_support::browser()?.get(url).send().await?;
    assert_eq!(
        response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok()),
        Some("http://127.0.0.1:9/")
    );

    // A password session ends at home only.
    let answer = world
        .admin_a
        .auth
        .logout(pb::LogoutRequest {})
        .await?
        .into_inner();
    assert_eq!(answer.provider_logout_url, "");
    Ok(())
}

/// The settings `config/production.toml` gives for the production ESIA, as
/// the environment would set them, on the real binary in its production
/// environment: each is read as documented, and a login gets through
/// ESIA's GOST exchange with them.
#[tokio::test]
async fn the_documented_production_settings_log_in_through_esia_in_gost() -> anyhow::Result<()> {
    let esia = GostEsia::start(&scratch_dir("gost-production")?).await?;
    let issuer = esia.provider.issuer();
    let asurso_identity::federation::Endpoints {
        authorization,
        token,
    } = asurso_identity::federation::Endpoints::esia_at(&issuer);
    let (person_data, logout) = (
        format!("{issuer}rs/prns"),
        format!("{issuer}idp/ext/Logout"),
    );
    let (certificate, key, client_certificate) = (
        esia.esia.certificate_file.display().to_string(),
        esia.client.key_file.display().to_string(),
        esia.client.certificate_file.display().to_string(),
    );
    let federation = [
        ("IDENTITY_FEDERATION__PROVIDER", "esia"),
        ("IDENTITY_FEDERATION__ESIA", "true"),
        ("IDENTITY_FEDERATION__ISSUER_URL", issuer.as_str()),
        (
            "IDENTITY_FEDERATION__ENDPOINTS__AUTHORIZATION",
            authorization.as_str(),
        ),
        ("IDENTITY_FEDERATION__ENDPOINTS__TOKEN", token.as_str()),
        ("IDENTITY_FEDERATION__PERSON_DATA_URL", person_data.as_str()),
        (
            "IDENTITY_FEDERATION__TOKEN_CERTIFICATE_FILE",
            certificate.as_str(),
        ),
        ("IDENTITY_FEDERATION__LOGOUT_URL", logout.as_str()),
        (
            "IDENTITY_FEDERATION__POST_LOGOUT_REDIRECT_URL",
            "http://127.0.0.1:9/",
        ),
        (
            "IDENTITY_FEDERATION__CLIENT_ID",
            crate::esia_support::CLIENT_ID,
        ),
        (
            "IDENTITY_FEDERATION__REDIRECT_URI",
            crate::esia_support::REDIRECT_URI,
        ),
        ("IDENTITY_FEDERATION__SCOPES", "[fullname,snils]"),
        ("IDENTITY_FEDERATION__LOGIN_TTL_SECONDS", "600"),
        ("IDENTITY_FEDERATION__HTTP_TIMEOUT_SECONDS", "10"),
        ("IDENTITY_FEDERATION__METADATA_TTL_SECONDS", "3600"),
        ("IDENTITY_FEDERATION__SIGNER__KIND", "openssl"),
        ("IDENTITY_FEDERATION__SIGNER__KEY_FILE", key.as_str()),
        (
            "IDENTITY_FEDERATION__SIGNER__CERTIFICATE_FILE",
            client_certificate.as_str(),
        ),
    ];
    let documented = include_str!("../../config/production.toml");
    for (name, _) in &federation {
        assert!(
            documented.contains(&format!("{name}=")),
            "{name} is not in production.toml"
        );
    }
    let mut env = vec![
        ("ASURSO_ENVIRONMENT", "production"),
        (
            "IDENTITY_CRYPTO__MASTER_KEY",
            "dGVzdC1tYXN0ZXIta2V5LW5vdC1hLXNlY3JldC0wMDE=",
        ),
        // One NATS server and parallel tests here, not a cluster.
        ("IDENTITY_NATS__REPLICAS", "1"),
        ("IDENTITY_TELEMETRY__METRICS_PORT", "0"),
    ];
    env.extend(federation);
    let (process, _database) = crate::support::identity_binary(&env).await?;
    let mut anonymous = crate::support::clients(&process.address, None).await?;

    let started = start(&mut anonymous).await?;
    assert!(
        started.authorization_url.starts_with(&authorization),
        "{}",
        started.authorization_url
    );
    let back = pick_person(&started.authorization_url, CONFIRMED_PARENT.0).await?;
    // ESIA took the signed requests and identity the GOST tokens and the
    // person record: what stops it is that no school registered her here.
    assert_refused(
        complete(&mut anonymous, &started.browser_binding, &back).await,
        Code::NotFound,
        "",
    );
    let log = process.stop().await?;
    assert!(!log.contains("ERROR"), "{log}");
    Ok(())
}
