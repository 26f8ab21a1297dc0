//! Dates from outside are bounded where requests are converted: a year
//! PostgreSQL cannot hold (or no school has a use for) is refused naming
//! the field, never answered INTERNAL.

use asurso_proto::{common::CivilDate, identity as pb};
use asurso_testkit::wire::{frame, raw_call, violated_fields};
use time::macros::datetime;
use tonic::Code;

use crate::support::{World, register_at};

fn at(moment: time::OffsetDateTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: moment.unix_timestamp(),
        nanos: 0,
    })
}

#[tokio::test]
async fn an_audit_query_from_year_minus_9999_is_refused_naming_the_bound() -> anyhow::Result<()> {
    let mut world = World::new().await?;

    let refused = world
        .admin
        .audit
        .list_audit_records(pb::ListAuditRecordsRequest {
            from: at(datetime!(-9999-01-01 0:00 UTC)),
            to: at(datetime!(2026-09-01 0:00 UTC)),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an audit query from year -9999 was answered"))?;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(violated_fields(&refused), ["from"]);

    let refused = world
        .admin
        .audit
        .list_audit_records(pb::ListAuditRecordsRequest {
            to: Some(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an audit query to the end of time was answered"))?;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(violated_fields(&refused), ["to"]);

    // A real window still reads the log.
    world
        .admin
        .audit
        .list_audit_records(pb::ListAuditRecordsRequest {
            from: at(datetime!(2000-01-01 0:00 UTC)),
            to: at(datetime!(2200-12-31 23:59 UTC)),
            ..Default::default()
        })
        .await?;
    world.identity.stop().await
}

#[tokio::test]
async fn a_login_policy_from_year_minus_9999_is_refused_naming_the_year() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let policy = |year: i32| pb::SetLoginPolicyRequest {
        policy: Some(pb::LoginPolicy {
            region_id: world.region.to_string(),
            esia_required_from: Some(CivilDate {
                year,
                month: 9,
                day: 1,
            }),
            students_too: false,
        }),
    };

    let refused = world
        .admin
        .federation
        .set_login_policy(policy(-9999))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a policy from year -9999 was set"))?;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(
        violated_fields(&refused),
        ["policy.esia_required_from.year"]
    );

    world
        .admin
        .federation
        .set_login_policy(policy(2030))
        .await?;
    let kept = world
        .admin
        .federation
        .get_login_policy(pb::GetLoginPolicyRequest {
            region_id: world.region.to_string(),
        })
        .await?
        .into_inner()
        .policy
        .and_then(|policy| policy.esia_required_from);
    assert_eq!(kept.map(|date| date.year), Some(2030));
    world.identity.stop().await
}

/// Sends `body` (gRPC frames) to AuthService/Login as raw HTTP/2, with the
/// content type given (or none), and returns the status answered.
async fn raw_login(
    address: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<tonic::Status> {
    raw_call(
        address,
        "/asurso.identity.v1.AuthService/Login",
        content_type,
        body,
    )
    .await
}

fn login_frame(message: &pb::LoginRequest) -> Vec<u8> {
    use prost::Message;
    frame(&message.encode_to_vec())
}

#[tokio::test]
async fn text_holding_nul_is_refused_naming_the_field_however_the_call_is_shaped()
-> anyhow::Result<()> {
    let world = World::new().await?;
    let address = world.identity.address.clone();
    let login = |login: &str| pb::LoginRequest {
        login: login.into(),
        password: "whatever-password".into(),
        grant_id: String::new(),
    };

    // Through a client: refused before PostgreSQL (which takes no NUL in
    // text and used to answer INTERNAL).
    let refused = world
        .identity
        .anonymous()
        .await?
        .auth
        .login(login("director\0"))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a login holding NUL was accepted"))?;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(violated_fields(&refused), ["login"]);

    // tonic serves a call whatever its content type says, so the check
    // does not go by it either.
    for content_type in [None, Some("application/grpc-x"), Some("Application/grpc")] {
        let status = raw_login(&address, content_type, login_frame(&login("director\0"))).await?;
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{content_type:?}: {status:?}"
        );
    }

    // A clean first message cannot carry a second one past the check
    // (tonic would read the first and drop the rest).
    let mut two = login_frame(&login("nobody"));
    two.extend(login_frame(&login("director\0")));
    let status = raw_login(&address, Some("application/grpc"), two).await?;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // The same call, clean, reaches identity: an unknown login, refused as
    // such.
    let status = raw_login(
        &address,
        Some("application/grpc"),
        login_frame(&login("nobody")),
    )
    .await?;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    Ok(())
}

#[tokio::test]
async fn an_e_mail_address_with_a_control_character_is_refused_naming_the_field()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    let people = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM people")
            .fetch_one(&world.identity.db.pool)
            .await
    };
    let with_email = |email: &str| {
        let mut data = crate::support::person(
            "Иванова",
            "Мария",
            &crate::support::snils(731),
            (2014, 3, 8),
        );
        data.contacts = Some(pb::Contacts {
            email: email.to_owned(),
            phone: String::new(),
        });
        data
    };
    let before = people().await?;

    // NUL never reaches a handler; a bell does, and the e-mail rule itself
    // refuses it (it used to be stored).
    for email in ["a\0@b.c", "a\u{7}@b.c"] {
        let refused = world
            .admin_a
            .people
            .register_person(pb::RegisterPersonRequest {
                org_unit_id: world.school_a.to_string(),
                person: Some(with_email(email)),
                role: pb::Role::Student.into(),
                idempotency_key: String::new(),
            })
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("{email:?} was accepted"))?;
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(violated_fields(&refused), ["person.contacts.email"]);
    }
    assert_eq!(people().await?, before, "no one was registered");

    // With a plain address she is registered; a correction with a control
    // character is refused the same way, and her address stays.
    let registered = register_at(
        &mut world.admin_a,
        world.school_a,
        pb::Role::Student,
        with_email("maria@example.ru"),
    )
    .await?;
    for email in ["a\0@b.c", "a\u{1}@b.c"] {
        let refused = world
            .admin_a
            .people
            .update_person(pb::UpdatePersonRequest {
                person_id: registered.clone(),
                person: Some(with_email(email)),
            })
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("{email:?} was accepted"))?;
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(violated_fields(&refused), ["person.contacts.email"]);
    }
    let stored: String = sqlx::query_scalar("SELECT email FROM people WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&registered)?)
        .fetch_one(&world.identity.db.pool)
        .await?;
    assert_eq!(stored, "maria@example.ru");
    world.identity.stop().await
}
