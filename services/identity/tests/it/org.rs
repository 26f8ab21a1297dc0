//! The org tree: schools live in Russian time zones, inheriting their
//! municipality's when none is given.

use asurso_proto::identity as pb;
use tonic::Code;

use crate::support::World;

#[tokio::test]
async fn a_school_gets_a_real_time_zone_or_its_municipalitys() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = |name: &str, zone: &str| pb::CreateSchoolRequest {
        municipality_id: world.municipality.to_string(),
        name: name.into(),
        time_zone: zone.into(),
        idempotency_key: String::new(),
    };
    let mars = world
        .admin
        .org
        .create_school(school("Школа на Марсе", "Mars/Olympus"))
        .await;
    let status = mars
        .err()
        .ok_or_else(|| anyhow::anyhow!("a Martian time zone was accepted"))?;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("time_zone:"),
        "{}",
        status.message()
    );

    let inherited = world
        .admin
        .org
        .create_school(school("Школа № 5", ""))
        .await?
        .into_inner();
    assert_eq!(
        inherited.school.map(|s| s.time_zone),
        Some("Europe/Samara".to_owned())
    );
    let given = world
        .admin
        .org
        .create_school(school("Школа № 6", "asia/yekaterinburg"))
        .await?
        .into_inner();
    assert_eq!(
        given.school.map(|s| s.time_zone),
        Some("Asia/Yekaterinburg".to_owned())
    );
    world.identity.stop().await
}

/// What a school publishes: its administration keeps the card, anyone
/// reads it and finds the school by its short name without logging in;
/// a teacher or another school's admin may not change it.
#[tokio::test]
async fn a_schools_card_is_kept_by_its_admins_and_read_by_anyone() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let card = |school: uuid::Uuid| pb::SchoolCard {
        school_id: school.to_string(),
        short_name: "Гимназия на Садовой".into(),
        legal_address: "445000, Тольятти, ул. Садовая, 1".into(),
        email: "gymnasium@example.ru".into(),
        website: "https://gymnasium.example.ru".into(),
        phones: "+7 8482 00-00-00".into(),
        director: "Петрова Анна Сергеевна".into(),
        ..Default::default()
    };
    let set = world
        .admin_a
        .org
        .set_school_card(pb::SetSchoolCardRequest {
            card: Some(card(world.school_a)),
        })
        .await?
        .into_inner()
        .card
        .unwrap_or_default();
    assert_eq!(
        set.full_name, "Школа № 1",
        "the unit's name, not the request's"
    );

    // Anyone: found by a part of the short name, in any case.
    let mut anonymous = world.identity.anonymous().await?;
    let found = anonymous
        .org
        .search_schools(pb::SearchSchoolsRequest {
            name_contains: "САДОВ".into(),
            page: None,
        })
        .await?
        .into_inner()
        .schools;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, world.school_a.to_string());
    assert_eq!(found[0].short_name, "Гимназия на Садовой");
    assert_eq!(found[0].address, "445000, Тольятти, ул. Садовая, 1");
    // Every school, those without a card under their name; a page at a time.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = anonymous
            .org
            .search_schools(pb::SearchSchoolsRequest {
                name_contains: String::new(),
                page: Some(asurso_proto::common::PageRequest {
                    page_size: 1,
                    page_token: token.clone(),
                }),
            })
            .await?
            .into_inner();
        names.extend(page.schools.into_iter().map(|s| s.short_name));
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(names, ["Гимназия на Садовой", "Школа № 2"]);
    let read = anonymous
        .org
        .get_school_card(pb::GetSchoolCardRequest {
            school_id: world.school_a.to_string(),
        })
        .await?
        .into_inner()
        .card
        .unwrap_or_default();
    assert_eq!(read.director, "Петрова Анна Сергеевна");
    assert_eq!(read.email, "gymnasium@example.ru");
    let not_school = anonymous
        .org
        .get_school_card(pb::GetSchoolCardRequest {
            school_id: world.municipality.to_string(),
        })
        .await;
    assert_eq!(not_school.err().map(|s| s.code()), Some(Code::NotFound));

    // Not another school's admin, not a teacher; bad fields named.
    let other = world
        .admin_b
        .org
        .set_school_card(pb::SetSchoolCardRequest {
            card: Some(card(world.school_a)),
        })
        .await;
    assert_eq!(other.err().map(|s| s.code()), Some(Code::PermissionDenied));
    let (mut teacher, _) = world
        .user(world.school_a, pb::Role::Teacher, "card-teacher", 9100)
        .await?;
    let by_teacher = teacher
        .org
        .set_school_card(pb::SetSchoolCardRequest {
            card: Some(card(world.school_a)),
        })
        .await;
    assert_eq!(
        by_teacher.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    let bad = world
        .admin_a
        .org
        .set_school_card(pb::SetSchoolCardRequest {
            card: Some(pb::SchoolCard {
                email: "not an address".into(),
                website: "ftp://x".into(),
                ..card(world.school_a)
            }),
        })
        .await;
    let status = bad
        .err()
        .ok_or_else(|| anyhow::anyhow!("a bad card was accepted"))?;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("card.email"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("card.website"),
        "{}",
        status.message()
    );
    let kept = anonymous
        .org
        .get_school_card(pb::GetSchoolCardRequest {
            school_id: world.school_a.to_string(),
        })
        .await?
        .into_inner()
        .card
        .unwrap_or_default();
    assert_eq!(
        kept.email, "gymnasium@example.ru",
        "a refused card wrote nothing"
    );
    world.identity.stop().await
}
