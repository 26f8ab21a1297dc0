//! The rights matrix as data: a school narrows or widens only what the
//! region lets it.

use asurso_proto::identity as pb;
use tonic::Code;

use crate::support::World;

fn setting(role: pb::Role, right: &str, allowed: bool, adjustable: bool) -> pb::RightSetting {
    pb::RightSetting {
        role: role.into(),
        right: right.into(),
        allowed,
        adjustable,
    }
}

#[tokio::test]
async fn a_school_narrows_an_adjustable_right_and_cannot_widen_a_fixed_one() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a;
    let (mut teacher, _) = world
        .user(school, pb::Role::Teacher, "teacher.rights", 1001)
        .await?;
    let student = world
        .student("Лебедев", "Артём", 1002)
        .await?
        .person
        .unwrap_or_default();
    let read = pb::GetPersonRequest {
        person_id: student.id.clone(),
    };
    teacher.people.get_person(read.clone()).await?;

    // The school narrows people.read for teachers (adjustable by default).
    world
        .admin_a
        .access
        .set_right(pb::SetRightRequest {
            org_unit_id: school.to_string(),
            setting: Some(setting(pb::Role::Teacher, "people.read", false, true)),
        })
        .await?;
    let refused = teacher
        .people
        .get_person(read.clone())
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::PermissionDenied));

    // It cannot give teachers roles.grant: the region fixed that one.
    let widen = world
        .admin_a
        .access
        .set_right(pb::SetRightRequest {
            org_unit_id: school.to_string(),
            setting: Some(setting(pb::Role::Teacher, "roles.grant", true, true)),
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(widen, Some(Code::PermissionDenied));

    // The region locks people.read on for teachers everywhere: the school's
    // narrowing no longer applies, and schools may not change it again.
    world
        .admin
        .access
        .set_right(pb::SetRightRequest {
            org_unit_id: world.region.to_string(),
            setting: Some(setting(pb::Role::Teacher, "people.read", true, false)),
        })
        .await?;
    teacher.people.get_person(read).await?;
    let matrix = world
        .admin_a
        .access
        .get_rights_matrix(pb::GetRightsMatrixRequest {
            org_unit_id: school.to_string(),
        })
        .await?
        .into_inner()
        .rights;
    let cell = matrix
        .iter()
        .find(|cell| cell.role() == pb::Role::Teacher && cell.right == "people.read")
        .cloned()
        .unwrap_or_default();
    assert!(cell.allowed && !cell.adjustable, "{cell:?}");

    // Unknown rights and a teacher changing rights are refused.
    let unknown = world
        .admin_a
        .access
        .set_right(pb::SetRightRequest {
            org_unit_id: school.to_string(),
            setting: Some(setting(pb::Role::Teacher, "launch.rockets", true, true)),
        })
        .await
        .err()
        .map(|s| (s.code(), s.message().contains("setting.right")));
    assert_eq!(unknown, Some((Code::InvalidArgument, true)));
    let by_teacher = teacher
        .access
        .set_right(pb::SetRightRequest {
            org_unit_id: school.to_string(),
            setting: Some(setting(pb::Role::Teacher, "messages.send", true, true)),
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(by_teacher, Some(Code::PermissionDenied));
    world.identity.stop().await
}
