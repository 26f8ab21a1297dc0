//! Every change is published as an event, after its transaction commits.

use std::time::Duration;

use asurso_proto::{events::Envelope, identity as pb};
use asurso_runtime::events::streams;
use futures::StreamExt;
use prost::Message as _;

use crate::support::{World, eventually, person, snils};

/// The type names of every event in the test's IDENTITY stream, in order.
pub async fn published(world: &World) -> anyhow::Result<Vec<(String, String)>> {
    let stream = world.identity.bus.ensure_stream(streams::IDENTITY).await?;
    let reader = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await?;
    let mut batch = reader
        .fetch()
        .max_messages(500)
        .expires(Duration::from_millis(500))
        .messages()
        .await?;
    let mut seen = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
        let envelope = Envelope::decode(message.payload.clone())?;
        let kind = envelope.payload.map(|any| any.type_url).unwrap_or_default();
        seen.push((
            world
                .identity
                .bus
                .logical_subject(message.subject.as_str())
                .to_owned(),
            kind,
        ));
    }
    Ok(seen)
}

pub fn count(seen: &[(String, String)], kind: &str) -> usize {
    seen.iter()
        .filter(|(_, url)| url.ends_with(&format!("asurso.events.v1.{kind}")))
        .count()
}

#[tokio::test]
async fn each_change_is_published() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a;
    let (_, parent) = world
        .user(school, pb::Role::Parent, "parent.events", 901)
        .await?;
    let student = world.student("Волкова", "Дарья", 902).await?;
    let student_id = student.person.map(|p| p.id).unwrap_or_default();
    let renamed = world
        .admin_a
        .people
        .update_person(pb::UpdatePersonRequest {
            person_id: student_id.clone(),
            person: Some(person("Волкова-Смирнова", "Дарья", "", (2015, 2, 2))),
        })
        .await?
        .into_inner()
        .person
        .unwrap_or_default();
    assert_eq!(renamed.last_name, "Волкова-Смирнова");
    assert_eq!(
        renamed.snils,
        snils(902),
        "an empty SNILS keeps the stored one"
    );
    let link = pb::LinkGuardianRequest {
        parent_id: parent.to_string(),
        student_id: student_id.clone(),
    };
    world.admin_a.people.link_guardian(link.clone()).await?;
    world
        .admin_a
        .people
        .unlink_guardian(pb::UnlinkGuardianRequest {
            parent_id: link.parent_id,
            student_id: link.student_id,
        })
        .await?;
    world
        .admin_a
        .access
        .revoke_role(pb::RevokeRoleRequest {
            grant_id: student.grant_id,
        })
        .await?;

    let mut seen = Vec::new();
    eventually(Duration::from_secs(10), || {
        let world = &world;
        async move { Ok(count(&published(world).await?, "RoleRevoked") == 1) }
    })
    .await?;
    seen.extend(published(&world).await?);
    // The bootstrap region, a municipality, two schools.
    assert_eq!(count(&seen, "OrgUnitCreated"), 4, "{seen:?}");
    // The bootstrap region admin, two school admins, the parent, the
    // student.
    assert_eq!(count(&seen, "PersonRegistered"), 5);
    assert_eq!(count(&seen, "RoleGranted"), 5);
    assert_eq!(count(&seen, "PersonChanged"), 1);
    assert_eq!(count(&seen, "GuardianLinked"), 1);
    assert_eq!(count(&seen, "GuardianUnlinked"), 1);
    assert_eq!(count(&seen, "RoleRevoked"), 1);
    let school_subject = format!("identity.guardian.linked.{school}");
    assert!(
        seen.iter().any(|(subject, _)| *subject == school_subject),
        "{seen:?}"
    );
    world.identity.stop().await
}
