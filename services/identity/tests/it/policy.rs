//! The regional policy (from a date parents log in only through ESIA; staff
//! keep their local logins) and app passwords for the apps that cannot.

use std::time::Duration;

use asurso_proto::{common::CivilDate, identity as pb};
use md5::{Digest, Md5};
use tonic::Code;

use crate::{
    esia_support::*,
    support::{Service, parents_with_passwords, password_of},
};

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What a NetSchool client app sends: md5hex(salt + md5hex(password)).
async fn app_login(
    anonymous: &mut crate::support::Clients,
    login: &str,
    password: &str,
) -> Result<pb::AppPasswordLoginResponse, tonic::Status> {
    let challenge = anonymous
        .app_passwords
        .begin_app_password_login(pb::BeginAppPasswordLoginRequest {})
        .await?
        .into_inner();
    Ok(anonymous
        .app_passwords
        .app_password_login(pb::AppPasswordLoginRequest {
            login: login.to_owned(),
            challenge_id: challenge.challenge_id,
            response: md5_hex(&format!("{}{}", challenge.salt, md5_hex(password))),
            grant_id: String::new(),
        })
        .await?
        .into_inner())
}

#[tokio::test]
async fn after_the_date_parents_need_esia_staff_keep_passwords_and_apps_use_app_passwords()
-> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(60)).await?;
    let mut world = esia_world(&provider).await?;
    // A parent who had a local login before the policy, and a teacher who
    // is also a parent.
    let before_policy =
        parents_with_passwords(&mut world, "parent.local", "teacher.parent", 501).await?;
    let (parent, parent_grant) = (before_policy.parent, before_policy.teacher_as_parent);
    let before = world
        .identity
        .login("parent.local", &password_of("parent.local"))
        .await?;
    let refresh = before
        .tokens
        .map(|tokens| tokens.refresh_token)
        .unwrap_or_default();

    // Only the region sets the policy.
    let policy = pb::LoginPolicy {
        region_id: world.region.to_string(),
        esia_required_from: Some(CivilDate {
            year: 2017,
            month: 5,
            day: 1,
        }),
        students_too: false,
    };
    let refused = world
        .admin_a
        .federation
        .set_login_policy(pb::SetLoginPolicyRequest {
            policy: Some(policy.clone()),
        })
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(refused, Some(Code::PermissionDenied));
    let bad = world
        .admin
        .federation
        .set_login_policy(pb::SetLoginPolicyRequest {
            policy: Some(pb::LoginPolicy {
                esia_required_from: Some(CivilDate {
                    year: 2017,
                    month: 2,
                    day: 30,
                }),
                ..policy.clone()
            }),
        })
        .await
        .err();
    assert_eq!(
        bad.as_ref().map(tonic::Status::code),
        Some(Code::InvalidArgument)
    );
    assert!(bad.is_some_and(|s| s.message().contains("policy.esia_required_from")));
    world
        .admin
        .federation
        .set_login_policy(pb::SetLoginPolicyRequest {
            policy: Some(policy.clone()),
        })
        .await?;
    let read = world
        .admin_a
        .federation
        .get_login_policy(pb::GetLoginPolicyRequest::default())
        .await?
        .into_inner()
        .policy
        .unwrap_or_default();
    assert_eq!(read.esia_required_from, policy.esia_required_from);

    // The parent's password no longer logs in, and says what to do; the
    // session it opened before cannot be refreshed either.
    let refused = world
        .identity
        .login("parent.local", &password_of("parent.local"))
        .await
        .err()
        .map(|error| error.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("only through Gosuslugi") && e.contains("app password")),
        "{refused:?}"
    );
    let mut anonymous = world.identity.clients(None).await?;
    let stale = refresh_refused(&mut anonymous, refresh).await;
    assert_eq!(stale, Some(Code::Unauthenticated));
    // Staff keep their local login; a teacher who is also a parent may act
    // only as the teacher with it.
    let teacher_login = world
        .identity
        .login("teacher.parent", &password_of("teacher.parent"))
        .await?;
    assert_eq!(
        teacher_login
            .grants
            .iter()
            .map(|g| g.role)
            .collect::<Vec<_>>(),
        vec![i32::from(pb::Role::Teacher)]
    );
    let as_parent = anonymous
        .auth
        .login(pb::LoginRequest {
            login: "teacher.parent".to_owned(),
            password: password_of("teacher.parent"),
            grant_id: parent_grant.clone(),
        })
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(as_parent, Some(Code::PermissionDenied));
    // A password session cannot make app passwords.
    let mut teacher_clients = world
        .identity
        .clients(Some(&crate::support::access_token(&teacher_login)))
        .await?;
    let refused = teacher_clients
        .app_passwords
        .create_app_password(pb::CreateAppPasswordRequest {
            name: "Дневник".to_owned(),
        })
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(refused, Some(Code::PermissionDenied));

    // Through ESIA the parent gets in, and makes an app password for the
    // phone app.
    world
        .admin_a
        .people
        .update_person(pb::UpdatePersonRequest {
            person_id: parent.to_string(),
            person: Some(crate::support::person(
                "Иванова",
                "Тест",
                CONFIRMED_PARENT.1,
                (1984, 4, 4),
            )),
        })
        .await?;
    let esia = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    assert_eq!(
        esia.active_grant
            .clone()
            .map(|g| g.person_id)
            .unwrap_or_default(),
        parent.to_string()
    );
    let mut family = world.identity.clients(Some(&token_of(&esia))).await?;
    let bad_name = family
        .app_passwords
        .create_app_password(pb::CreateAppPasswordRequest {
            name: "  ".to_owned(),
        })
        .await
        .err();
    assert!(
        bad_name.is_some_and(|s| s.code() == Code::InvalidArgument && s.message().contains("name"))
    );
    let created = family
        .app_passwords
        .create_app_password(pb::CreateAppPasswordRequest {
            name: "Дневник на телефоне".to_owned(),
        })
        .await?
        .into_inner();
    let app = created.app_password.clone().unwrap_or_default();
    assert!(created.password.len() >= 20, "high entropy");
    let listed = family
        .app_passwords
        .list_app_passwords(pb::ListAppPasswordsRequest {})
        .await?
        .into_inner()
        .app_passwords;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].login, app.login);
    // Neither the password nor the md5 the login needs is in the database.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret FROM app_passwords WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&app.id)?)
        .fetch_one(&world.identity.db.pool)
        .await?;
    let stored = String::from_utf8_lossy(&stored);
    assert!(!stored.contains(&created.password) && !stored.contains(&md5_hex(&created.password)));

    // The app logs in with it, under the ESIA-only rule.
    let app_session = app_login(&mut anonymous, &app.login, &created.password).await?;
    assert_eq!(
        app_session
            .active_grant
            .map(|g| g.person_id)
            .unwrap_or_default(),
        parent.to_string()
    );
    let app_tokens = app_session.tokens.unwrap_or_default();
    let app_refresh = app_tokens.refresh_token.clone();
    // A client that keeps sessions of its own (the apps' /webapi) asks
    // whether this one stands.
    let mut as_app =
        crate::support::clients(&world.identity.address, Some(&app_tokens.access_token)).await?;
    let standing = as_app
        .auth
        .check_session(pb::CheckSessionRequest {})
        .await?
        .into_inner();
    assert_eq!(standing.method, "app_password");
    let wrong = app_login(&mut anonymous, &app.login, "not-the-password")
        .await
        .err();
    assert_eq!(wrong.map(|s| s.code()), Some(Code::Unauthenticated));
    // A challenge is used once.
    let challenge = anonymous
        .app_passwords
        .begin_app_password_login(pb::BeginAppPasswordLoginRequest {})
        .await?
        .into_inner();
    let answer = pb::AppPasswordLoginRequest {
        login: app.login.clone(),
        challenge_id: challenge.challenge_id.clone(),
        response: md5_hex(&format!("{}{}", challenge.salt, md5_hex(&created.password))),
        grant_id: String::new(),
    };
    anonymous
        .app_passwords
        .app_password_login(answer.clone())
        .await?;
    let replayed = anonymous
        .app_passwords
        .app_password_login(answer)
        .await
        .err();
    assert!(
        replayed.is_some_and(
            |s| s.code() == Code::Unauthenticated && s.message().contains("challenge_id")
        )
    );

    // Revoked: the app is out, and its session ends.
    family
        .app_passwords
        .revoke_app_password(pb::RevokeAppPasswordRequest { id: app.id.clone() })
        .await?;
    let revoked = app_login(&mut anonymous, &app.login, &created.password)
        .await
        .err();
    assert_eq!(revoked.map(|s| s.code()), Some(Code::Unauthenticated));
    let ended = refresh_refused(&mut anonymous, app_refresh).await;
    assert_eq!(ended, Some(Code::Unauthenticated));
    // Its access token still verifies until it runs out, but the session
    // is over.
    let over = as_app
        .auth
        .check_session(pb::CheckSessionRequest {})
        .await
        .err();
    assert_eq!(over.map(|s| s.code()), Some(Code::Unauthenticated));
    assert!(
        family
            .app_passwords
            .list_app_passwords(pb::ListAppPasswordsRequest {})
            .await?
            .into_inner()
            .app_passwords
            .is_empty()
    );
    Ok(())
}
