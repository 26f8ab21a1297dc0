//! A school's first day: people from CSV, all or nothing.

use asurso_proto::identity as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{Clients, World, grant_role, pupil, snils};

fn csv(rows: &[String]) -> Vec<u8> {
    let mut text =
        "role,last_name,first_name,middle_name,birth_date,snils,email,phone,child_snils\n"
            .to_owned();
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text.into_bytes()
}

/// `admin` imports the file into `school`.
async fn import(
    admin: &mut Clients,
    school: uuid::Uuid,
    csv: Vec<u8>,
) -> Result<pb::ImportPeopleResponse, tonic::Status> {
    let request = pb::ImportPeopleRequest {
        school_id: school.to_string(),
        csv,
        idempotency_key: String::new(),
    };
    Ok(admin.people.import_people(request).await?.into_inner())
}

async fn people_in(world: &World, school: uuid::Uuid) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM people WHERE org_unit_id = $1")
            .bind(school)
            .fetch_one(&world.identity.db.pool)
            .await?,
    )
}

#[tokio::test]
async fn a_file_with_one_bad_row_imports_nothing_and_names_the_row() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a;
    let before = people_in(&world, school).await?;
    let rows = [
        format!("student,Орлова,Вера,Игоревна,2014-05-01,{},,,", snils(501)),
        format!("student,Орлов,Денис,,01.02.2013,{},,,", snils(502)),
        "student,Белов,Иван,,2013-13-01,112-233-445 96,,,".to_owned(),
        format!(
            "parent,Орлова,Ирина,,1985-03-03,{},irina@example.ru,+7 900 000-00-00,{};{}",
            snils(503),
            snils(501),
            snils(502)
        ),
    ];
    let status = import(&mut world.admin_a, school, csv(&rows))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a bad file was accepted"))?;
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = asurso_testkit::wire::violated_fields(&status);
    // Line 4 of the file (header is line 1): two problems, both named.
    assert_eq!(
        fields,
        ["row 4: birth_date", "row 4: snils"],
        "{}",
        status.message()
    );
    assert_eq!(
        people_in(&world, school).await?,
        before,
        "nothing was imported"
    );

    // Mended, the same file imports everyone and links the parent to both children.
    let mut mended = rows.clone();
    mended[2] = format!("student,Белов,Иван,,2013-12-01,{},,,", snils(504));
    let imported = import(&mut world.admin_a, school, csv(&mended)).await?;
    assert_eq!(imported.people_imported, 4);
    assert_eq!(imported.guardian_links, 2);
    assert_eq!(people_in(&world, school).await?, before + 4);
    world.identity.stop().await
}

#[tokio::test]
async fn an_import_is_refused_outside_ones_school_and_for_malformed_files() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let row = [format!("student,Орлова,Вера,,2014-05-01,{},,,", snils(601))];
    let elsewhere = import(&mut world.admin_a, world.school_b, csv(&row)).await;
    assert_eq!(
        elsewhere.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );

    for (bytes, named) in [
        (b"name,surname\nx,y\n".to_vec(), "role column"),
        (vec![0xff, 0xfe, 0x00], "UTF-8"),
        (csv(&[]), "no rows"),
    ] {
        let status = import(&mut world.admin_a, world.school_a, bytes)
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("accepted a malformed file"))?;
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains(named), "{}", status.message());
    }
    world.identity.stop().await
}

/// The fields a refusal names (google.rpc.BadRequest), with their
/// descriptions.
fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|details| {
            details
                .field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_file_with_control_characters_imports_nothing_and_names_the_row_and_column()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a;
    let before = people_in(&world, school).await?;
    // The file is bytes: nothing on the way in looks inside it. A NUL in a
    // name, one in an e-mail address, and a bell in a parent's list of
    // children.
    let rows = [
        format!("student,Орл\0ова,Вера,,2014-05-01,{},,,", snils(511)),
        format!(
            "parent,Орлова,Ирина,,1985-03-03,{},irina\0@example.ru,,{}",
            snils(512),
            snils(511)
        ),
        format!(
            "parent,Орлов,Павел,,1984-04-04,{},,,{}\u{7}",
            snils(513),
            snils(511)
        ),
    ];
    let status = import(&mut world.admin_a, school, csv(&rows))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a file with NUL was accepted"))?;
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    let found = violations(&status);
    let fields: Vec<&str> = found.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(
        fields,
        ["row 2: last_name", "row 3: email", "row 4: child_snils"],
        "{}",
        status.message()
    );
    assert!(
        found
            .iter()
            .all(|(_, description)| description.contains("control character")),
        "{found:?}"
    );
    assert_eq!(
        people_in(&world, school).await?,
        before,
        "nothing was imported"
    );

    // Mended, the same people import, and the parents are linked.
    let mended = [
        format!("student,Орлова,Вера,,2014-05-01,{},,,", snils(511)),
        format!(
            "parent,Орлова,Ирина,,1985-03-03,{},irina@example.ru,,{}",
            snils(512),
            snils(511)
        ),
        format!(
            "parent,Орлов,Павел,,1984-04-04,{},,,{}",
            snils(513),
            snils(511)
        ),
    ];
    let imported = import(&mut world.admin_a, school, csv(&mended)).await?;
    assert_eq!(imported.people_imported, 3);
    assert_eq!(imported.guardian_links, 2);
    assert_eq!(people_in(&world, school).await?, before + 3);
    world.identity.stop().await
}

#[tokio::test]
async fn an_import_links_no_parent_to_a_pupil_who_also_studies_in_another_school()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a;
    // Eva is registered at school A and studies at school B too; Ilya only
    // at school A.
    let eva = pupil(&mut world, "Орлова", "Ева", 521).await?;
    world.student("Орлов", "Илья", 522).await?;
    let school_b = world.school_b;
    grant_role(&mut world.admin_b, &eva, pb::Role::Student, school_b).await?;
    let before = people_in(&world, school).await?;

    // School A's director would import a parent for Eva, opening school B
    // to whoever logs in as that parent: refused, naming the row, and no
    // one is imported.
    let rows = [format!(
        "parent,Орлова,Ирина,,1985-03-03,{},,,{}",
        snils(523),
        snils(521)
    )];
    let status = import(&mut world.admin_a, school, csv(&rows))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("linked a parent into another school"))?;
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    let found = violations(&status);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "row 2: child_snils");
    assert!(found[0].1.contains("Школа № 2"), "{found:?}");
    assert_eq!(
        people_in(&world, school).await?,
        before,
        "nothing was imported"
    );

    // A parent of a pupil of this school alone is imported and linked.
    let rows = [format!(
        "parent,Орлова,Ирина,,1985-03-03,{},,,{}",
        snils(523),
        snils(522)
    )];
    let imported = import(&mut world.admin_a, school, csv(&rows)).await?;
    assert_eq!(imported.people_imported, 1);
    assert_eq!(imported.guardian_links, 1);
    world.identity.stop().await
}
