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
