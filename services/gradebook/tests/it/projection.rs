use std::time::Duration;

use asurso_proto::{
    gradebook::{self as gb, get_timetable_request::Of},
    identity as pb,
    identity::Role,
};
use tonic::Code;

use crate::support::*;

/// A school with a class, a timetable and a student in it.
async fn a_class_with(stack: &mut Stack, tag: &str) -> anyhow::Result<(Gb, gb::Class, Person)> {
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, &format!("admin.{tag}"))
        .await?
        .gb;
    let teacher = stack
        .person(school, Role::Teacher, &format!("teacher.{tag}"))
        .await?;
    let student = stack
        .person(school, Role::Student, &format!("student.{tag}"))
        .await?;
    let year = school_year(&mut admin, school).await?;
    let class_3a = class(&mut admin, &year, "3А", 3).await?;
    let reading = subject(&mut admin, school, "Литературное чтение").await?;
    load(&mut admin, &class_3a, &reading, teacher.id).await?;
    admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: class_3a.id.clone(),
            slots: vec![slot(2, 1, &reading)],
            apply_from: None,
        })
        .await?;
    enrol(&mut admin, &class_3a, student.id).await?;
    Ok((admin, class_3a, student))
}

#[tokio::test]
async fn parents_read_their_childrens_timetable_and_nobody_elses() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let (_, class_3a, mut student) = a_class_with(&mut stack, "family").await?;
    let mut parent = stack
        .person(stack.world.school_a, Role::Parent, "parent.family")
        .await?;
    let mut stranger = stack
        .person(stack.world.school_a, Role::Parent, "parent.other")
        .await?;
    let classmate = stack
        .person(stack.world.school_a, Role::Student, "student.other")
        .await?;
    stack.link(parent.id, student.id).await?;

    let of_child = Of::StudentId(student.id.to_string());
    let week = ((2026, 9, 7), (2026, 9, 13));
    eventually(Duration::from_secs(15), || {
        let mut gb = parent.gb.clone();
        let of = of_child.clone();
        async move {
            Ok(timetable_of(&mut gb, of, week.0, week.1)
                .await
                .is_ok_and(|l| l.len() == 1))
        }
    })
    .await?;
    let class_lessons = timetable_of(
        &mut parent.gb,
        Of::ClassId(class_3a.id.clone()),
        week.0,
        week.1,
    )
    .await?;
    assert_eq!(class_lessons.len(), 1, "the parent sees the child's class");
    assert_eq!(
        timetable_of(&mut student.gb, of_child.clone(), week.0, week.1)
            .await?
            .len(),
        1
    );

    let mut classmate = classmate.gb;
    for (who, reader) in [
        ("another parent", &mut stranger.gb),
        ("a classmate", &mut classmate),
    ] {
        let refused = timetable_of(reader, of_child.clone(), week.0, week.1)
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("{who} read the child's timetable"))?;
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}: {refused:?}");
    }
    let refused = timetable_of(
        &mut stranger.gb,
        Of::ClassId(class_3a.id.clone()),
        week.0,
        week.1,
    )
    .await
    .err()
    .ok_or_else(|| anyhow::anyhow!("a stranger read the class timetable"))?;
    assert_eq!(refused.code(), Code::PermissionDenied);
    Ok(())
}

#[tokio::test]
async fn the_guardian_projection_catches_up_after_the_gradebook_was_stopped() -> anyhow::Result<()>
{
    let mut stack = Stack::start().await?;
    let (_, _, student) = a_class_with(&mut stack, "catchup").await?;
    let parent = stack
        .person(stack.world.school_a, Role::Parent, "parent.catchup")
        .await?;

    // The gradebook is down while identity links the parent.
    let Stack {
        mut world,
        gradebook,
        ..
    } = stack;
    let database = gradebook.stop().await?;
    world
        .admin_a
        .people
        .link_guardian(pb::LinkGuardianRequest {
            parent_id: parent.id.to_string(),
            student_id: student.id.to_string(),
        })
        .await?;
    // Up again on the same database: it reads what it missed.
    let gradebook = Gradebook::start(&world, database).await?;
    let mut reader = gradebook.clients(&parent.token).await?;
    let of_child = Of::StudentId(student.id.to_string());
    eventually(Duration::from_secs(15), || {
        let mut reader = reader.clone();
        let of = of_child.clone();
        async move {
            Ok(timetable_of(&mut reader, of, (2026, 9, 7), (2026, 9, 13))
                .await
                .is_ok_and(|lessons| lessons.len() == 1))
        }
    })
    .await?;
    let lessons = timetable_of(&mut reader, of_child, (2026, 9, 7), (2026, 9, 13)).await?;
    assert_eq!(lessons[0].subject_name, "Литературное чтение");
    Ok(())
}

#[tokio::test]
async fn a_revoked_role_and_a_right_the_region_takes_away_stop_working_in_the_gradebook()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.rights")
        .await?;
    let year = school_year(&mut admin.gb, school).await?;

    // The region takes timetable.manage from school admins.
    stack
        .world
        .admin
        .access
        .set_right(pb::SetRightRequest {
            org_unit_id: stack.world.region.to_string(),
            setting: Some(pb::RightSetting {
                role: Role::SchoolAdmin.into(),
                right: "timetable.manage".into(),
                allowed: false,
                adjustable: false,
            }),
        })
        .await?;
    let mut gb = admin.gb.clone();
    let year_id = year.id.clone();
    eventually(Duration::from_secs(15), || {
        let mut gb = gb.clone();
        let year = year_id.clone();
        async move {
            let refused = gb
                .classes
                .create_class(gb::CreateClassRequest {
                    school_year_id: year,
                    name: "9А".into(),
                    grade: 9,
                    idempotency_key: String::new(),
                })
                .await
                .err();
            Ok(refused.is_some_and(|status| status.code() == Code::PermissionDenied))
        }
    })
    .await?;

    // A teacher whose role is revoked is refused even with a live token.
    let teacher = stack
        .person(school, Role::Teacher, "teacher.rights")
        .await?;
    let grants = stack
        .world
        .admin
        .access
        .list_grants(pb::ListGrantsRequest {
            person_id: teacher.id.to_string(),
        })
        .await?
        .into_inner()
        .grants;
    stack
        .world
        .admin
        .access
        .revoke_role(pb::RevokeRoleRequest {
            grant_id: grants[0].id.clone(),
        })
        .await?;
    gb = teacher.gb.clone();
    let teacher_id = teacher.id.to_string();
    eventually(Duration::from_secs(15), || {
        let mut gb = gb.clone();
        let of = Of::TeacherId(teacher_id.clone());
        async move {
            Ok(timetable_of(&mut gb, of, (2026, 9, 7), (2026, 9, 13))
                .await
                .err()
                .is_some_and(|status| status.code() == Code::Unauthenticated))
        }
    })
    .await?;
    Ok(())
}
