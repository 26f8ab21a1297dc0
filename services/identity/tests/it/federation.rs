//! Logging in through ESIA (the development provider on a real socket): the
//! first login links by SNILS, later ones go by the ESIA account; every
//! refusal says what to do and links nothing.

use std::time::Duration;

use asurso_esia_dev::TokenFault;
use asurso_identity::federation::signer::SignerSettings;
use asurso_proto::identity as pb;
use tonic::Code;

use crate::{
    esia_support::*,
    events::{count, published},
    support::{Service, World, clients, eventually, identity_binary},
};

pub async fn linked(world: &mut World, person: &str) -> anyhow::Result<bool> {
    Ok(world
        .admin_a
        .federation
        .get_link(pb::GetLinkRequest {
            person_id: person.to_owned(),
        })
        .await?
        .into_inner()
        .linked)
}

#[tokio::test]
async fn a_parent_logs_in_through_esia_linked_by_snils_first_then_by_the_esia_account()
-> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(60)).await?;
    let mut world = esia_world(&provider).await?;
    let parent = register(&mut world, "Иванова", CONFIRMED_PARENT.1, pb::Role::Parent).await?;
    let child = world.student("Иванов", "Миша", 11).await?;
    let child = child.person.map(|person| person.id).unwrap_or_default();
    world
        .admin_a
        .people
        .link_guardian(pb::LinkGuardianRequest {
            parent_id: parent.clone(),
            student_id: child.clone(),
        })
        .await?;
    let mut anonymous = world.identity.clients(None).await?;

    // The authorization request carries ESIA's extras and PKCE.
    let started = start(&mut anonymous).await?;
    let url = url::Url::parse(&started.authorization_url)?;
    assert!(url.path().ends_with("/aas/oauth2/v2/ac"), "{url}");
    let params: std::collections::HashMap<String, String> =
        url.query_pairs().into_owned().collect();
    for name in [
        "timestamp",
        "client_secret",
        "client_certificate_hash",
        "code_challenge",
        "nonce",
        "access_type",
    ] {
        assert!(params.contains_key(name), "{name} missing from {url}");
    }
    assert_eq!(params.get("state"), Some(&started.state));
    assert_eq!(
        params.get("scope").map(String::as_str),
        Some("openid fullname snils")
    );
    assert_eq!(
        params.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );

    // First login: linked to the person the school registered, by SNILS.
    let back = pick_person(&started.authorization_url, CONFIRMED_PARENT.0).await?;
    assert_eq!(back.get("state"), Some(&started.state));
    let first = complete(&mut anonymous, &started.browser_binding, &back).await?;
    assert!(first.linked_now);
    let grant = first.active_grant.clone().unwrap_or_default();
    assert_eq!(grant.person_id, parent);
    assert_eq!(grant.role, i32::from(pb::Role::Parent));
    let mut family = world.identity.clients(Some(&token_of(&first))).await?;
    let children = family
        .people
        .list_children(pb::ListChildrenRequest {
            parent_id: parent.clone(),
        })
        .await?
        .into_inner()
        .children;
    assert_eq!(
        children.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![child.clone()]
    );
    let link = family
        .federation
        .get_link(pb::GetLinkRequest::default())
        .await?
        .into_inner();
    assert!(link.linked);
    assert_eq!(link.provider, "esia");

    // The same callback again is a replay: refused, whatever became of the
    // first.
    let replay = complete(&mut anonymous, &started.browser_binding, &back)
        .await
        .err();
    assert_eq!(
        replay.as_ref().map(tonic::Status::code),
        Some(Code::Unauthenticated)
    );
    assert!(replay.is_some_and(|s| s.message().contains("already completed")));
    // The spent code under a new login's state: the provider refuses it.
    let another = start(&mut anonymous).await?;
    let mut stolen = back.clone();
    stolen.insert("state".to_owned(), another.state.clone());
    assert_refused(
        complete(&mut anonymous, &another.browser_binding, &stolen).await,
        Code::Unauthenticated,
        "the code was already used",
    );
    // A state this service never started.
    let mut forged = back.clone();
    forged.insert("state".to_owned(), uuid::Uuid::new_v4().to_string());
    assert_refused(
        complete(&mut anonymous, &started.browser_binding, &forged).await,
        Code::Unauthenticated,
        "state mismatch",
    );
    // The code carried to another browser (a stolen callback, or a victim
    // made to finish an attacker's login) does not log anyone in.
    let started = start(&mut anonymous).await?;
    let back = pick_person(&started.authorization_url, CONFIRMED_PARENT.0).await?;
    assert_refused(
        complete(&mut anonymous, "another-browser", &back).await,
        Code::Unauthenticated,
        "another browser",
    );
    // A tampered request (someone swapped the nonce): the id_token's nonce
    // is not the login's, and the login is refused.
    let started = start(&mut anonymous).await?;
    let tampered = with_param(&started.authorization_url, "nonce", "attacker-nonce")?;
    let back = pick_person(&tampered, CONFIRMED_PARENT.0).await?;
    let refused = complete(&mut anonymous, &started.browser_binding, &back)
        .await
        .err();
    assert_eq!(
        refused.as_ref().map(tonic::Status::code),
        Some(Code::Unauthenticated)
    );
    assert!(
        refused.is_some_and(|s| s.message().to_lowercase().contains("nonce")),
        "a wrong nonce"
    );

    // Later logins go by the ESIA account, not the SNILS: the school
    // corrects the SNILS and the parent still gets in as themselves.
    world
        .admin_a
        .people
        .update_person(pb::UpdatePersonRequest {
            person_id: parent.clone(),
            person: Some(crate::support::person(
                "Иванова",
                "Тест",
                &crate::support::snils(77),
                (1984, 4, 4),
            )),
        })
        .await?;
    let second = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    assert!(!second.linked_now);
    assert_eq!(
        second.active_grant.map(|g| g.person_id).unwrap_or_default(),
        parent
    );

    // The admin ends the link: the parent's sessions end with it.
    let refresh = second
        .tokens
        .map(|tokens| tokens.refresh_token)
        .unwrap_or_default();
    world
        .admin_a
        .federation
        .unlink_account(pb::UnlinkAccountRequest {
            person_id: parent.clone(),
        })
        .await?;
    assert!(!linked(&mut world, &parent).await?);
    let ended = refresh_refused(&mut anonymous, refresh).await;
    assert_eq!(ended, Some(Code::Unauthenticated));
    // A teacher of another school cannot unlink anyone here.
    let unlinked_again = world
        .admin_b
        .federation
        .unlink_account(pb::UnlinkAccountRequest {
            person_id: parent.clone(),
        })
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(unlinked_again, Some(Code::PermissionDenied));

    // Both facts are published, once each.
    eventually(Duration::from_secs(10), || async {
        let seen = published(&world).await?;
        Ok(count(&seen, "AccountLinked") == 1 && count(&seen, "AccountUnlinked") == 1)
    })
    .await?;
    let seen = published(&world).await?;
    assert_eq!(
        count(&seen, "AccountLinked"),
        1,
        "linked once, by the first login"
    );
    provider.stop().await;
    Ok(())
}

#[tokio::test]
async fn refusals_say_what_to_do_and_nothing_is_half_linked() -> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(2)).await?;
    let mut world = esia_world(&provider).await?;
    let unconfirmed = register(&mut world, "Сидоров", UNCONFIRMED.1, pb::Role::Parent).await?;
    let parent = register(&mut world, "Иванова", CONFIRMED_PARENT.1, pb::Role::Parent).await?;
    let mut anonymous = world.identity.clients(None).await?;

    // An unconfirmed account: how to confirm it.
    let refused = esia_login(&mut anonymous, UNCONFIRMED.0).await.err();
    assert_eq!(
        refused.as_ref().map(tonic::Status::code),
        Some(Code::FailedPrecondition)
    );
    assert!(refused.is_some_and(
        |s| s.message().contains("not confirmed") && s.message().contains("service centre")
    ));
    assert!(!linked(&mut world, &unconfirmed).await?);

    // Nobody registered with this SNILS: ask the school.
    assert_refused(
        esia_login(&mut anonymous, NOT_REGISTERED.0).await,
        Code::NotFound,
        "ask the school",
    );

    // The provider checks the development signature: a tampered
    // client_secret or a stale timestamp is sent back with an error.
    let started = start(&mut anonymous).await?;
    let forged = with_param(&started.authorization_url, "client_secret", "AAAA")?;
    let back = pick_person(&forged, CONFIRMED_PARENT.0).await?;
    assert_eq!(
        back.get("error").map(String::as_str),
        Some("invalid_request")
    );
    assert!(
        back.get("error_description")
            .is_some_and(|d| d.contains("client_secret"))
    );
    let stale = with_param(
        &started.authorization_url,
        "timestamp",
        "2017.05.01 10:00:00 +0300",
    )?;
    let back = pick_person(&stale, CONFIRMED_PARENT.0).await?;
    assert!(
        back.get("error_description")
            .is_some_and(|d| d.contains("timestamp"))
    );
    // The login these started cannot be completed without a code.
    let refused = complete(&mut anonymous, &started.browser_binding, &back)
        .await
        .err();
    assert_eq!(refused.map(|s| s.code()), Some(Code::InvalidArgument));

    // An expired code (codes live 2 s here).
    let started = start(&mut anonymous).await?;
    let back = pick_person(&started.authorization_url, CONFIRMED_PARENT.0).await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_refused(
        complete(&mut anonymous, &started.browser_binding, &back).await,
        Code::Unauthenticated,
        "the code has expired",
    );
    assert!(!linked(&mut world, &parent).await?);

    // The provider goes down between the person's choice and the callback:
    // try again later, and nothing is linked.
    let started = start(&mut anonymous).await?;
    let back = pick_person(&started.authorization_url, CONFIRMED_PARENT.0).await?;
    provider.stop().await;
    assert_refused(
        complete(&mut anonymous, &started.browser_binding, &back).await,
        Code::Unavailable,
        "try again later",
    );
    assert!(!linked(&mut world, &parent).await?);
    // And a login cannot even start while it is down (discovery is read
    // again after the cache, which a fresh identity does not have).
    let down = World::new_with(|settings| {
        settings.federation = Some(esia_settings("http://127.0.0.1:9/", development_signer()));
    })
    .await?;
    assert_refused(
        down.identity
            .clients(None)
            .await?
            .federation
            .start_login(pb::StartLoginRequest::default())
            .await,
        Code::Unavailable,
        "try again later",
    );
    Ok(())
}

#[tokio::test]
async fn a_callback_seen_by_someone_else_does_not_void_the_rightful_login() -> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(60)).await?;
    let mut world = esia_world(&provider).await?;
    let parent = register(&mut world, "Иванова", CONFIRMED_PARENT.1, pb::Role::Parent).await?;
    let mut anonymous = world.identity.clients(None).await?;
    let started = start(&mut anonymous).await?;
    let back = pick_person(&started.authorization_url, CONFIRMED_PARENT.0).await?;

    // Someone who saw the callback URL (a log, a shared screen, a proxy)
    // presents it from their own browser: refused, twice over.
    for _ in 0..2 {
        assert_refused(
            complete(&mut anonymous, "someone-elses-browser", &back).await,
            Code::Unauthenticated,
            "another browser",
        );
    }
    assert!(!linked(&mut world, &parent).await?);

    // The person's own browser still completes the login it started.
    let login = complete(&mut anonymous, &started.browser_binding, &back).await?;
    assert!(login.linked_now);
    assert_eq!(
        login.active_grant.map(|g| g.person_id).unwrap_or_default(),
        parent
    );
    // Afterwards the other browser learns nothing more than before (not
    // that the login is now completed); the rightful one is told it is.
    assert_refused(
        complete(&mut anonymous, "someone-elses-browser", &back).await,
        Code::Unauthenticated,
        "another browser",
    );
    assert_refused(
        complete(&mut anonymous, &started.browser_binding, &back).await,
        Code::Unauthenticated,
        "already completed",
    );
    Ok(())
}

#[tokio::test]
async fn a_malformed_provider_answer_is_refused_and_only_a_failing_provider_is_unavailable()
-> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(60)).await?;
    let mut world = esia_world(&provider).await?;
    let parent = register(&mut world, "Иванова", CONFIRMED_PARENT.1, pb::Role::Parent).await?;
    let mut anonymous = world.identity.clients(None).await?;

    // An id_token without `sub` does not even parse: the provider answered,
    // the answer cannot be accepted, and waiting would not change it.
    provider.break_next_token_answer(TokenFault::IdTokenWithout("sub"));
    assert_refused(
        esia_login(&mut anonymous, CONFIRMED_PARENT.0).await,
        Code::Unauthenticated,
        "could not be verified: start the login again",
    );
    assert!(!linked(&mut world, &parent).await?);

    // Without `aud` it parses, and is not meant for us.
    provider.break_next_token_answer(TokenFault::IdTokenWithout("aud"));
    assert_refused(
        esia_login(&mut anonymous, CONFIRMED_PARENT.0).await,
        Code::Unauthenticated,
        "log in again",
    );
    assert!(!linked(&mut world, &parent).await?);

    // A provider failing on its side (a 503 page, not JSON) is a reason to
    // come back later, not a verdict on the login.
    provider.break_next_token_answer(TokenFault::Unavailable);
    assert_refused(
        esia_login(&mut anonymous, CONFIRMED_PARENT.0).await,
        Code::Unavailable,
        "try again later",
    );
    assert!(!linked(&mut world, &parent).await?);

    // Once the provider answers properly, the same person logs in.
    let login = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    assert!(login.linked_now);
    assert!(linked(&mut world, &parent).await?);
    Ok(())
}

#[tokio::test]
async fn a_token_answer_that_does_not_parse_is_logged_without_the_values_it_holds()
-> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(60)).await?;
    // The real binary, its log read as an operator would read it.
    let (issuer, seed) = (provider.issuer(), client_seed_base64());
    let (process, _database) = identity_binary(&[
        ("IDENTITY_FEDERATION__ISSUER_URL", &issuer),
        ("IDENTITY_FEDERATION__CLIENT_ID", CLIENT_ID),
        ("IDENTITY_FEDERATION__REDIRECT_URI", REDIRECT_URI),
        ("IDENTITY_FEDERATION__SIGNER__SEED", &seed),
    ])
    .await?;
    let mut anonymous = clients(&process.address, None).await?;

    // The id_token carries, where a yes or no belongs, text the parser
    // would quote back: a piece of a token, as far as the log could tell.
    const FRAGMENT: &str = "eyJwaWVjZSI6Im9mLWEtdG9rZW4ifQ";
    provider.break_next_token_answer(TokenFault::IdTokenClaimText("trusted", FRAGMENT));
    assert_refused(
        esia_login(&mut anonymous, CONFIRMED_PARENT.0).await,
        Code::Unauthenticated,
        "could not be verified: start the login again",
    );
    // A proper answer gets past the token exchange (no one is registered
    // with that SNILS here, so it stops there).
    assert_refused(
        esia_login(&mut anonymous, CONFIRMED_PARENT.0).await,
        Code::NotFound,
        "",
    );

    let log = process.stop().await?;
    assert!(
        log.contains("the token response could not be read")
            && log.contains("a value of the wrong type"),
        "the log says which answer, and what kind of mistake: {log}"
    );
    assert!(
        !log.contains(FRAGMENT),
        "a value from the answer reached the log: {log}"
    );
    provider.stop().await;
    Ok(())
}

/// Production signs through an external tool; here the development ESIA's
/// own `sign` command plays the certified crypto tool.
#[tokio::test]
async fn an_external_signing_tool_signs_the_requests() -> anyhow::Result<()> {
    let tool = std::env::current_exe()?
        .parent()
        .and_then(std::path::Path::parent)
        .map(|dir| dir.join("esia-dev"))
        .ok_or_else(|| anyhow::anyhow!("no target directory"))?;
    anyhow::ensure!(
        tool.exists(),
        "{} is missing: build the binaries first (make build)",
        tool.display()
    );
    let provider = dev_esia(Duration::from_secs(60)).await?;
    let signer = SignerSettings::Command {
        program: tool.display().to_string(),
        args: vec!["sign".to_owned(), "--seed".to_owned(), client_seed_base64()],
        certificate_hash: asurso_esia_dev::certificate_hash(&asurso_esia_dev::public_key_of(
            &CLIENT_SEED,
        )),
        timeout_seconds: 10,
    };
    let federation = esia_settings(&provider.issuer(), signer);
    let mut world = World::new_with(move |settings| settings.federation = Some(federation)).await?;
    let teacher = register(
        &mut world,
        "Смирнов",
        TEACHER_AND_PARENT.1,
        pb::Role::Teacher,
    )
    .await?;
    let mut anonymous = world.identity.clients(None).await?;
    let login = esia_login(&mut anonymous, TEACHER_AND_PARENT.0).await?;
    assert!(login.linked_now);
    assert_eq!(
        login.active_grant.map(|g| g.person_id).unwrap_or_default(),
        teacher
    );
    Ok(())
}
