//! Ways to reach beyond one's own school that are closed.

use asurso_proto::identity as pb;
use tonic::Code;

use crate::support::Service as _;
use crate::support::{World, password_of, person, snils};

#[tokio::test]
async fn an_import_cannot_make_anyone_the_guardian_of_another_schools_student() -> anyhow::Result<()>
{
    let mut world = World::new().await?;
    world
        .admin_b
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: world.school_b.to_string(),
            person: Some(person("Чужой", "Ребёнок", &snils(1101), (2014, 1, 1))),
            role: pb::Role::Student.into(),
            idempotency_key: String::new(),
        })
        .await?;
    let csv = format!(
        "role,last_name,first_name,birth_date,snils,child_snils\nparent,Захватов,Пётр,1980-01-01,{},{}\n",
        snils(1102),
        snils(1101)
    );
    let status = world
        .admin_a
        .people
        .import_people(pb::ImportPeopleRequest {
            school_id: world.school_a.to_string(),
            csv: csv.into_bytes(),
            idempotency_key: String::new(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("linked a parent to another school's student"))?;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("row 2: child_snils"),
        "{}",
        status.message()
    );
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM guardians")
        .fetch_one(&world.identity.db.pool)
        .await?;
    assert_eq!(links, 0);
    world.identity.stop().await
}

#[tokio::test]
async fn staff_see_only_the_children_of_their_own_school() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let (school_a, school_b) = (world.school_a, world.school_b);
    let (mut teacher, _) = world
        .user(school_a, pb::Role::Teacher, "teacher.children", 1201)
        .await?;
    let (_, parent) = world
        .user(school_a, pb::Role::Parent, "parent.two.schools", 1202)
        .await?;
    let here = world
        .student("Близкий", "Лев", 1203)
        .await?
        .person
        .map(|p| p.id)
        .unwrap_or_default();
    let there = world
        .admin_b
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: school_b.to_string(),
            person: Some(person("Дальний", "Марк", &snils(1204), (2013, 1, 1))),
            role: pb::Role::Student.into(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .person
        .map(|p| p.id)
        .unwrap_or_default();
    // The parent's home is school A; a parent grant in B lets B link them.
    world
        .admin_b
        .access
        .grant_role(pb::GrantRoleRequest {
            person_id: parent.to_string(),
            role: pb::Role::Parent.into(),
            org_unit_id: school_b.to_string(),
        })
        .await?;
    for (admin, student) in [(&mut world.admin_a, &here), (&mut world.admin_b, &there)] {
        admin
            .people
            .link_guardian(pb::LinkGuardianRequest {
                parent_id: parent.to_string(),
                student_id: student.clone(),
            })
            .await?;
    }
    let seen: Vec<String> = teacher
        .people
        .list_children(pb::ListChildrenRequest {
            parent_id: parent.to_string(),
        })
        .await?
        .into_inner()
        .children
        .into_iter()
        .map(|child| child.id)
        .collect();
    assert_eq!(seen, vec![here]);
    world.identity.stop().await
}

#[tokio::test]
async fn a_school_admin_cannot_hand_out_a_login_to_a_higher_office() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    // Someone registered in school A who also holds a municipal admin grant.
    let person_id = world
        .student("Двойной", "Роль", 1301)
        .await?
        .person
        .map(|p| p.id)
        .unwrap_or_default();
    world
        .admin
        .access
        .grant_role(pb::GrantRoleRequest {
            person_id: person_id.clone(),
            role: pb::Role::MunicipalAdmin.into(),
            org_unit_id: world.municipality.to_string(),
        })
        .await?;
    let refused = world
        .admin_a
        .auth
        .create_local_account(pb::CreateLocalAccountRequest {
            person_id,
            login: "takeover".into(),
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::PermissionDenied));

    // Nor switch off the region's admins' rights in its school.
    let overreach = world
        .admin_a
        .access
        .set_right(pb::SetRightRequest {
            org_unit_id: world.school_a.to_string(),
            setting: Some(pb::RightSetting {
                role: pb::Role::RegionAdmin.into(),
                right: "people.read".into(),
                allowed: false,
                adjustable: true,
            }),
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(overreach, Some(Code::PermissionDenied));
    world.identity.stop().await
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let (mut teacher, _) = world
        .user(world.school_a, pb::Role::Teacher, "teacher.pw", 1401)
        .await?;
    let elsewhere = world
        .identity
        .login("teacher.pw", &password_of("teacher.pw"))
        .await?;
    teacher
        .auth
        .change_password(pb::ChangePasswordRequest {
            current_password: password_of("teacher.pw"),
            new_password: "a brand new passphrase".into(),
            login: String::new(),
        })
        .await?;
    let refresh_token = elsewhere
        .tokens
        .map(|t| t.refresh_token)
        .unwrap_or_default();
    let mut auth = world.identity.anonymous().await?.auth;
    let refused = auth
        .refresh(pb::RefreshRequest {
            refresh_token,
            grant_id: String::new(),
        })
        .await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::Unauthenticated));
    world
        .identity
        .login("teacher.pw", "a brand new passphrase")
        .await?;
    world.identity.stop().await
}
