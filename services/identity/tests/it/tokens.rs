//! Tokens: verified elsewhere with only the public keys, rotated without
//! downtime, refresh reuse ending the session, lockout, logout.

use std::time::Duration;

use asurso_proto::identity as pb;
use asurso_runtime::auth::{AuthError, IdentityKeys, Verifier};
use tonic::{Code, transport::Channel};

use crate::support::Service as _;
use crate::support::{
    ADMIN_LOGIN, ADMIN_PASSWORD, Identity, World, access_token, identity_binary, password_of,
};

fn verifier(channel: Channel) -> Verifier<IdentityKeys> {
    Verifier::new(IdentityKeys::new(channel), "asurso-identity")
}

#[tokio::test]
async fn another_process_verifies_tokens_with_only_the_public_keys() -> anyhow::Result<()> {
    // Identity runs as its own binary; this test process only has the keys
    // it fetches over gRPC.
    let (identity, _database) = identity_binary(&[]).await?;
    let mut auth = crate::support::clients(&identity.address, None).await?.auth;
    let login = auth
        .login(pb::LoginRequest {
            login: ADMIN_LOGIN.into(),
            password: ADMIN_PASSWORD.into(),
            grant_id: String::new(),
        })
        .await?
        .into_inner();
    let token = access_token(&login);

    let channel = Channel::from_shared(identity.address.clone())?
        .connect()
        .await?;
    let verifier = verifier(channel);
    let caller = verifier.verify(&token).await?;
    let grant = login.active_grant.unwrap_or_default();
    assert_eq!(caller.person_id.to_string(), grant.person_id);
    assert_eq!(caller.role, pb::Role::RegionAdmin);
    assert_eq!(caller.org_unit_id.to_string(), grant.org_unit_id);

    // A token changed by one character is refused.
    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered)?;
    assert!(verifier.verify(&tampered).await.is_err());
    // So is a token with its signature cut off, or alg "none".
    let unsigned = token
        .rsplit_once('.')
        .map(|(head, _)| format!("{head}."))
        .unwrap_or_default();
    assert!(verifier.verify(&unsigned).await.is_err());
    identity.stop().await?;
    Ok(())
}

#[tokio::test]
async fn tokens_signed_before_a_key_rotation_stay_valid_until_they_expire() -> anyhow::Result<()> {
    let identity =
        Identity::start_with(|settings| settings.tokens.access_ttl = Duration::from_secs(2))
            .await?;
    let channel = Channel::from_shared(identity.address.clone())?
        .connect()
        .await?;
    let verifier = verifier(channel);

    let (mut admin, before) = identity.region_admin().await?;
    let old_token = access_token(&before);
    verifier.verify(&old_token).await?;
    let old_kid = jsonwebtoken::decode_header(&old_token)?
        .kid
        .unwrap_or_default();

    let new_kid = admin
        .auth
        .rotate_signing_key(pb::RotateSigningKeyRequest {})
        .await?
        .into_inner()
        .kid;
    assert_ne!(new_kid, old_kid);
    let after = identity.login(ADMIN_LOGIN, ADMIN_PASSWORD).await?;
    let new_token = access_token(&after);
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)?.kid,
        Some(new_kid.clone())
    );

    // The verifier meets the new key id, fetches the keys again, and accepts
    // both tokens: no downtime for anyone logged in before the rotation.
    verifier.verify(&new_token).await?;
    verifier.verify(&old_token).await?;
    let jwks = identity
        .anonymous()
        .await?
        .auth
        .get_jwks(pb::GetJwksRequest {})
        .await?
        .into_inner();
    let kids: Vec<String> = jwks.keys.iter().map(|key| key.kid.clone()).collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );

    // Once expired (2 s plus the 5 s leeway), the old token is refused.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(verifier.verify(&old_token).await, Err(AuthError::Expired));
    identity.stop().await
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_ends_the_whole_session() -> anyhow::Result<()> {
    let identity = Identity::start().await?;
    let login = identity.login(ADMIN_LOGIN, ADMIN_PASSWORD).await?;
    let first = login.tokens.map(|t| t.refresh_token).unwrap_or_default();
    let mut auth = identity.anonymous().await?.auth;
    let refresh = |token: &str| pb::RefreshRequest {
        refresh_token: token.to_owned(),
        grant_id: String::new(),
    };

    let second = auth
        .refresh(refresh(&first))
        .await?
        .into_inner()
        .tokens
        .map(|t| t.refresh_token)
        .unwrap_or_default();
    assert_ne!(second, first);
    // The first token again: refused, and the family is revoked...
    let reuse = auth
        .refresh(refresh(&first))
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(reuse, Some(Code::Unauthenticated));
    // ...so even the legitimate newer token no longer works.
    let after = auth
        .refresh(refresh(&second))
        .await
        .err()
        .map(|status| status.message().to_owned());
    assert!(
        after.is_some_and(|message| message.contains("session has ended")),
        "the session survived the reuse"
    );
    identity.stop().await
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_account_for_a_while() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a;
    let (mut teacher, _) = world
        .user(school, pb::Role::Teacher, "teacher.lock", 101)
        .await?;
    let short = teacher
        .auth
        .change_password(pb::ChangePasswordRequest {
            current_password: password_of("teacher.lock"),
            new_password: "x".into(),
            login: String::new(),
        })
        .await;
    assert_eq!(
        short.err().map(|s| s.code()),
        Some(Code::InvalidArgument),
        "a one-letter password"
    );

    let mut auth = world.identity.anonymous().await?.auth;
    let attempt = |password: &str| pb::LoginRequest {
        login: "teacher.lock".into(),
        password: password.into(),
        grant_id: String::new(),
    };
    for _ in 0..5 {
        let status = auth.login(attempt("wrong password")).await.err();
        assert_eq!(status.map(|s| s.code()), Some(Code::Unauthenticated));
    }
    // The right password no longer helps until the lockout ends.
    let locked = auth
        .login(attempt(&password_of("teacher.lock")))
        .await
        .err();
    let message = locked.map(|s| s.message().to_owned()).unwrap_or_default();
    assert!(message.contains("locked until"), "{message}");
    // An unknown login gets the same answer as a wrong password.
    let unknown = auth
        .login(pb::LoginRequest {
            login: "nobody".into(),
            password: "whatever1".into(),
            grant_id: String::new(),
        })
        .await
        .err()
        .map(|s| s.message().to_owned());
    assert_eq!(unknown.as_deref(), Some("wrong login or password"));
    // ...and locks the same way, so a lockout does not tell a login exists.
    for _ in 0..5 {
        let _ = auth
            .login(pb::LoginRequest {
                login: "nobody".into(),
                password: "whatever1".into(),
                grant_id: String::new(),
            })
            .await;
    }
    let locked_unknown = auth
        .login(pb::LoginRequest {
            login: "nobody".into(),
            password: "whatever1".into(),
            grant_id: String::new(),
        })
        .await
        .err()
        .map(|s| s.message().to_owned())
        .unwrap_or_default();
    assert!(locked_unknown.contains("locked until"), "{locked_unknown}");
    world.identity.stop().await
}

#[tokio::test]
async fn a_person_with_two_roles_chooses_the_active_one_and_logs_out() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let (school_a, school_b) = (world.school_a, world.school_b);
    let (_, teacher_id) = world
        .user(school_a, pb::Role::Teacher, "teacher.parent", 102)
        .await?;
    // The teacher of school A is also a parent in school B.
    world
        .admin_b
        .access
        .grant_role(pb::GrantRoleRequest {
            person_id: teacher_id.to_string(),
            role: pb::Role::Parent.into(),
            org_unit_id: school_b.to_string(),
        })
        .await?;

    let login = world
        .identity
        .login("teacher.parent", &password_of("teacher.parent"))
        .await?;
    assert_eq!(login.grants.len(), 2);
    let parent_grant = login
        .grants
        .iter()
        .find(|grant| grant.role() == pb::Role::Parent)
        .ok_or_else(|| anyhow::anyhow!("no parent grant: {:?}", login.grants))?;
    let channel = Channel::from_shared(world.identity.address.clone())?
        .connect()
        .await?;
    let verifier = verifier(channel);
    let refresh_token = login
        .tokens
        .as_ref()
        .map(|t| t.refresh_token.clone())
        .unwrap_or_default();
    let mut auth = world.identity.anonymous().await?.auth;
    let switched = auth
        .refresh(pb::RefreshRequest {
            refresh_token,
            grant_id: parent_grant.id.clone(),
        })
        .await?
        .into_inner();
    let as_parent = switched
        .tokens
        .as_ref()
        .map(|t| t.access_token.clone())
        .unwrap_or_default();
    let caller = verifier.verify(&as_parent).await?;
    assert_eq!(caller.role, pb::Role::Parent);
    assert_eq!(caller.org_unit_id, school_b);

    // Another session on another device, then logout everywhere ends both.
    let other = world
        .identity
        .login("teacher.parent", &password_of("teacher.parent"))
        .await?;
    let mut acting = world.identity.clients(Some(&as_parent)).await?;
    let ended = acting
        .auth
        .logout_everywhere(pb::LogoutEverywhereRequest {})
        .await?
        .into_inner()
        .sessions_ended;
    // These two, and the one the set-up opened after changing the password.
    assert_eq!(ended, 3);
    for tokens in [switched.tokens, other.tokens] {
        let refresh_token = tokens.map(|t| t.refresh_token).unwrap_or_default();
        let refused = auth
            .refresh(pb::RefreshRequest {
                refresh_token,
                grant_id: String::new(),
            })
            .await;
        assert_eq!(refused.err().map(|s| s.code()), Some(Code::Unauthenticated));
    }
    world.identity.stop().await
}

#[tokio::test]
async fn an_admin_resets_a_forgotten_password_with_a_new_temporary_one() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let (_, teacher) = world
        .user(world.school_a, pb::Role::Teacher, "teacher.forgot", 1601)
        .await?;
    let session = world
        .identity
        .login("teacher.forgot", &password_of("teacher.forgot"))
        .await?;

    let again = |login: &str| pb::CreateLocalAccountRequest {
        person_id: teacher.to_string(),
        login: login.into(),
    };
    let temporary = world
        .admin_a
        .auth
        .create_local_account(again("teacher.forgot"))
        .await?
        .into_inner()
        .temporary_password;
    // The old password is gone, the temporary one must be changed first,
    // and the sessions opened with the old password are over.
    assert!(
        world
            .identity
            .login("teacher.forgot", &password_of("teacher.forgot"))
            .await
            .is_err()
    );
    let refused = world
        .identity
        .login("teacher.forgot", &temporary)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(refused.is_some_and(|e| e.contains("temporary password")));
    let refresh_token = session.tokens.map(|t| t.refresh_token).unwrap_or_default();
    let mut auth = world.identity.anonymous().await?.auth;
    let old = auth
        .refresh(pb::RefreshRequest {
            refresh_token,
            grant_id: String::new(),
        })
        .await;
    assert_eq!(old.err().map(|s| s.code()), Some(Code::Unauthenticated));

    // Another login name for the same person is refused.
    let other = world
        .admin_a
        .auth
        .create_local_account(again("someone.else"))
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(other, Some(Code::AlreadyExists));
    world.identity.stop().await
}
