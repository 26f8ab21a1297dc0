//! SNILS never appears in plain text: not in the database, not in the logs,
//! and in answers only for admins of the person's school.

use asurso_proto::identity as pb;

use crate::support::{
    ADMIN_LOGIN, ADMIN_PASSWORD, access_token, clients, identity_binary, identity_user, person,
    snils,
};

#[tokio::test]
async fn snils_is_absent_in_plain_text_from_the_database_and_the_logs() -> anyhow::Result<()> {
    // The real binary, logging everything it can.
    let (process, db) = identity_binary(&[("RUST_LOG", "trace")]).await?;

    let mut anonymous = clients(&process.address, None).await?;
    let login = anonymous
        .auth
        .login(pb::LoginRequest {
            login: ADMIN_LOGIN.into(),
            password: ADMIN_PASSWORD.into(),
            grant_id: String::new(),
        })
        .await?
        .into_inner();
    let region = login
        .active_grant
        .as_ref()
        .map(|g| g.org_unit_id.clone())
        .unwrap_or_default();
    let mut region_admin = clients(&process.address, Some(&access_token(&login))).await?;
    let municipality = region_admin
        .org
        .create_municipality(pb::CreateMunicipalityRequest {
            region_id: region,
            name: "Сызрань".into(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .municipality
        .map(|m| m.id)
        .unwrap_or_default();
    let school = region_admin
        .org
        .create_school(pb::CreateSchoolRequest {
            municipality_id: municipality,
            name: "Лицей № 3".into(),
            time_zone: "Europe/Samara".into(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .school
        .map(|s| uuid::Uuid::parse_str(&s.id))
        .transpose()?
        .unwrap_or_default();

    let identity = crate::support::Remote {
        address: process.address.clone(),
    };
    let (mut school_admin, _) = identity_user(
        &identity,
        &mut region_admin,
        school,
        pb::Role::SchoolAdmin,
        "lyceum.admin",
        701,
    )
    .await?;
    let (mut teacher, _) = identity_user(
        &identity,
        &mut school_admin,
        school,
        pb::Role::Teacher,
        "lyceum.teacher",
        702,
    )
    .await?;

    let secret = snils(777);
    let student = school_admin
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: school.to_string(),
            person: Some(person("Зайцева", "Алиса", &secret, (2015, 6, 12))),
            role: pb::Role::Student.into(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .person
        .unwrap_or_default();
    // The school's admin sees it in full; a teacher sees it masked.
    assert_eq!(student.snils, secret);
    let seen_by_teacher = teacher
        .people
        .get_person(pb::GetPersonRequest {
            person_id: student.id.clone(),
        })
        .await?
        .into_inner()
        .person
        .unwrap_or_default();
    assert_eq!(
        seen_by_teacher.snils,
        format!("***-***-*** {}", &secret[12..])
    );

    let logs = process.stop().await?;
    let digits: String = secret.chars().filter(char::is_ascii_digit).collect();
    let first_nine = &secret[..11];
    assert!(logs.contains("person registered"), "the logs were captured");
    for needle in [secret.as_str(), digits.as_str(), first_nine] {
        assert!(
            !logs.contains(needle),
            "the logs contain the SNILS ({needle})"
        );
    }

    // Every text and byte column of every table, dumped as text.
    let dump = pg_dump(&db.url).await?;
    assert!(dump.contains("Зайцева"), "the dump holds the data");
    for needle in [secret.as_str(), digits.as_str(), first_nine] {
        assert!(
            !dump.contains(needle),
            "the database holds the SNILS in plain text ({needle})"
        );
    }
    Ok(())
}

async fn pg_dump(url: &str) -> anyhow::Result<String> {
    let binary = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/pg_dump"))
        .find(|path| path.exists())
        .unwrap_or_else(|| "pg_dump".into());
    let output = tokio::process::Command::new(binary)
        .args([
            "--data-only",
            "--inserts",
            "--dbname",
            url.split('?').next().unwrap_or(url),
        ])
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
