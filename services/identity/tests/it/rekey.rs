//! Rotating the master key (`identity rekey`): every sealed value moves to
//! the new key in one go, identity restarted on the new key reads SNILS,
//! finds people by it, signs tokens and opens app passwords; a second run
//! changes nothing; a run whose keys open nothing stops and changes
//! nothing.

use asurso_identity::{
    crypto::{self, Secrets},
    harness::{Service, World, access_token, identity_user, password_of, snils},
    rekey::{self, RekeyError},
};
use asurso_proto::identity as pb;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

fn random_key() -> SecretString {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into()
}

/// Whether every sealed value in the database opens with `key`.
async fn all_sealed_under(pool: &sqlx::PgPool, key: &SecretString) -> anyhow::Result<bool> {
    let secrets = Secrets::from_master(key)?;
    let people: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT snils_cipher FROM people WHERE snils_cipher IS NOT NULL")
            .fetch_all(pool)
            .await?;
    let keys: Vec<Vec<u8>> = sqlx::query_scalar("SELECT private_cipher FROM signing_keys")
        .fetch_all(pool)
        .await?;
    let apps: Vec<Vec<u8>> = sqlx::query_scalar("SELECT secret FROM app_passwords")
        .fetch_all(pool)
        .await?;
    anyhow::ensure!(!people.is_empty() && !keys.is_empty() && !apps.is_empty());
    Ok(people.iter().all(|c| secrets.decrypt_snils(c).is_ok())
        && keys.iter().all(|c| secrets.decrypt_signing_key(c).is_ok())
        && apps.iter().all(|c| {
            secrets
                .open_login_secret(c, crypto::APP_PASSWORD_SECRET)
                .is_ok()
        }))
}

#[tokio::test]
async fn a_new_master_key_takes_over_every_sealed_value() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let student = world
        .student("Зайцева", "Ольга", 4242)
        .await?
        .person
        .ok_or_else(|| anyhow::anyhow!("no person"))?;
    let (_, teacher) = identity_user(
        &world.identity,
        &mut world.admin,
        world.school_a,
        pb::Role::Teacher,
        "rekey.teacher",
        4243,
    )
    .await?;
    // The key the world's identity runs with (the local settings').
    let old = asurso_identity::harness::settings(&world.identity.db.url, &world.identity.nats)?
        .crypto
        .master_key;
    // An app password as identity keeps it (making one takes an ESIA
    // login): its md5 sealed with the master key.
    sqlx::query("INSERT INTO app_passwords (id, person_id, name, login, secret) VALUES ($1, $2, $3, $4, $5)")
        .bind(uuid::Uuid::now_v7())
        .bind(teacher)
        .bind("Дневник на телефоне")
        .bind("app-rekey-teacher")
        .bind(Secrets::from_master(&old)?.seal_login_secret(b"0123456789abcdef0123456789abcdef", crypto::APP_PASSWORD_SECRET))
        .execute(&world.identity.db.pool)
        .await?;
    let new = random_key();
    let pool = world.identity.db.pool.clone();
    assert!(all_sealed_under(&pool, &old).await?);

    // Keys that open nothing here: refused, by row, and nothing moved.
    let stranger = random_key();
    let refused = rekey::rekey(&pool, &new, Some(&stranger)).await;
    assert!(
        matches!(refused, Err(RekeyError::Unreadable { .. })),
        "{refused:?}"
    );
    assert!(all_sealed_under(&pool, &old).await?);
    assert!(matches!(
        rekey::rekey(&pool, &new, None).await,
        Err(RekeyError::NoPreviousKey)
    ));

    let moved = rekey::rekey(&pool, &new, Some(&old)).await?;
    assert!(moved.people >= 3, "{moved:?}"); // the student, the teacher, the school admins
    assert!(moved.signing_keys >= 1, "{moved:?}");
    assert_eq!(moved.app_passwords, 1, "{moved:?}");
    assert!(all_sealed_under(&pool, &new).await?);
    assert!(!all_sealed_under(&pool, &old).await?);
    // Again: everything is under the new key already.
    let again = rekey::rekey(&pool, &new, Some(&old)).await?;
    assert_eq!(
        (again.people, again.signing_keys, again.app_passwords),
        (0, 0, 0),
        "{again:?}"
    );
    assert_eq!(
        again.unchanged,
        moved.people + moved.signing_keys + moved.app_passwords
    );

    // Identity on the new key: logins sign tokens, SNILS reads back, and a
    // person is found by SNILS (the lookup hash moved with it).
    let new_for_settings = new.expose_secret().to_owned();
    world.identity = world
        .identity
        .restart_with(move |settings| settings.crypto.master_key = new_for_settings.into())
        .await?;
    // The school's admin, who sees SNILS in full, logs in anew: the
    // signing key moved too.
    let login = world
        .identity
        .login("admin0", &password_of("admin0"))
        .await?;
    let mut admin = world.identity.clients(Some(&access_token(&login))).await?;
    let shown = admin
        .people
        .get_person(pb::GetPersonRequest {
            person_id: student.id.clone(),
        })
        .await?
        .into_inner()
        .person
        .ok_or_else(|| anyhow::anyhow!("no person"))?;
    assert_eq!(shown.snils, student.snils);
    assert!(!shown.snils.is_empty());
    let twin = admin
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: world.school_a.to_string(),
            person: Some(asurso_identity::harness::person(
                "Зайцева",
                "Ольга",
                &snils(4242),
                (2014, 3, 3),
            )),
            role: pb::Role::Student.into(),
            idempotency_key: String::new(),
        })
        .await;
    assert_eq!(
        twin.map(|_| ()).map_err(|status| status.code()),
        Err(tonic::Code::AlreadyExists),
        "the same SNILS is still found"
    );
    world.identity.stop().await
}
