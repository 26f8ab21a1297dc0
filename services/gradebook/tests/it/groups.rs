use asurso_proto::{
    gradebook::{self as gb, get_timetable_request::Of},
    identity as pb,
    identity::Role,
};
use tonic::Code;

use crate::support::*;

#[tokio::test]
async fn language_groups_share_a_period_and_each_student_sees_their_own_group() -> anyhow::Result<()>
{
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.groups")
        .await?
        .gb;
    let english_1 = stack
        .person(school, Role::Teacher, "english1.groups")
        .await?;
    let english_2 = stack
        .person(school, Role::Teacher, "english2.groups")
        .await?;
    let mut class_teacher = stack.person(school, Role::Teacher, "class.groups").await?;
    let mut outsider = stack
        .person(school, Role::Teacher, "outsider.groups")
        .await?;
    let mut anna = stack.person(school, Role::Student, "anna.groups").await?;
    let boris = stack.person(school, Role::Student, "boris.groups").await?;
    let year = school_year(&mut admin, school).await?;
    let class_8a = class(&mut admin, &year, "8А", 8).await?;
    let english = subject(&mut admin, school, "Английский язык").await?;
    enrol(&mut admin, &class_8a, anna.id).await?;
    enrol(&mut admin, &class_8a, boris.id).await?;
    let mut groups = Vec::new();
    for (name, teacher, student) in [
        ("1 группа", &english_1, &anna),
        ("2 группа", &english_2, &boris),
    ] {
        let group = admin
            .classes
            .create_subgroup(gb::CreateSubgroupRequest {
                class_id: class_8a.id.clone(),
                name: name.into(),
            })
            .await?
            .into_inner()
            .subgroup
            .ok_or_else(|| anyhow::anyhow!("no group"))?;
        admin
            .classes
            .set_subgroup_members(gb::SetSubgroupMembersRequest {
                subgroup_id: group.id.clone(),
                student_ids: vec![student.id.to_string()],
            })
            .await?;
        admin
            .curriculum
            .assign_load(gb::AssignLoadRequest {
                class_id: class_8a.id.clone(),
                subgroup_id: group.id.clone(),
                subject_id: english.id.clone(),
                teacher_id: teacher.id.to_string(),
                hours_per_week: 3,
            })
            .await?;
        groups.push(group);
    }
    let in_group = |group: &gb::Subgroup| gb::Slot {
        subgroup_id: group.id.clone(),
        ..slot(2, 4, &english)
    };
    admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: class_8a.id.clone(),
            slots: vec![in_group(&groups[0]), in_group(&groups[1])],
            apply_from: None,
        })
        .await?;
    let week = ((2026, 9, 7), (2026, 9, 13));
    let whole = timetable_of(&mut admin, Of::ClassId(class_8a.id.clone()), week.0, week.1).await?;
    assert_eq!(whole.len(), 2, "both groups on Tuesday, period 4");
    let annas = timetable_of(
        &mut anna.gb,
        Of::StudentId(anna.id.to_string()),
        week.0,
        week.1,
    )
    .await?;
    assert_eq!(annas.len(), 1);
    assert_eq!(annas[0].subgroup_name, "1 группа");
    assert_eq!(annas[0].teacher_id, english_1.id.to_string());

    // The class teacher sees the roster; a teacher of other classes does not.
    admin
        .classes
        .set_class_teacher(gb::SetClassTeacherRequest {
            class_id: class_8a.id.clone(),
            teacher_id: class_teacher.id.to_string(),
        })
        .await?;
    let roster = gb::ListEnrolmentsRequest {
        class_id: class_8a.id.clone(),
        on_date: None,
    };
    let seen = class_teacher
        .gb
        .classes
        .list_enrolments(roster.clone())
        .await?
        .into_inner();
    assert_eq!(seen.enrolments.len(), 2);
    let refused = outsider
        .gb
        .classes
        .list_enrolments(roster)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a teacher of other classes read the roster"))?;
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = timetable_of(
        &mut outsider.gb,
        Of::StudentId(anna.id.to_string()),
        week.0,
        week.1,
    )
    .await
    .err()
    .ok_or_else(|| anyhow::anyhow!("a teacher of other classes read a student's timetable"))?;
    assert_eq!(refused.code(), Code::PermissionDenied);
    Ok(())
}

#[tokio::test]
async fn a_student_who_changes_school_keeps_the_first_schools_history() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let (school_a, school_b) = (stack.world.school_a, stack.world.school_b);
    let mut admin_a = stack
        .person(school_a, Role::SchoolAdmin, "admin.a.transfer")
        .await?
        .gb;
    let mut admin_b = stack
        .person(school_b, Role::SchoolAdmin, "admin.b.transfer")
        .await?
        .gb;
    let student = stack
        .person(school_a, Role::Student, "student.transfer")
        .await?;
    let year_a = school_year(&mut admin_a, school_a).await?;
    let year_b = school_year(&mut admin_b, school_b).await?;
    let class_a = class(&mut admin_a, &year_a, "4А", 4).await?;
    let class_b = class(&mut admin_b, &year_b, "4Б", 4).await?;
    enrol(&mut admin_a, &class_a, student.id).await?;

    let transfer = gb::MoveStudentRequest {
        student_id: student.id.to_string(),
        to_class_id: class_b.id.clone(),
        date: day(2027, 1, 11),
        idempotency_key: String::new(),
    };
    // Not yet a student of school B in identity: refused, nothing changes.
    let refused = admin_b
        .classes
        .move_student(transfer.clone())
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("moved into a school they are not a student of"))?;
    assert_eq!(violated_fields(&refused), ["student_id"]);
    let grant = stack
        .world
        .admin
        .access
        .grant_role(pb::GrantRoleRequest {
            person_id: student.id.to_string(),
            role: Role::Student.into(),
            org_unit_id: school_b.to_string(),
        })
        .await?
        .into_inner()
        .grant
        .ok_or_else(|| anyhow::anyhow!("no grant"))?;
    let pool = stack.gradebook.db.pool.clone();
    let grant_id = uuid::Uuid::parse_str(&grant.id)?;
    eventually(std::time::Duration::from_secs(15), || {
        let pool = pool.clone();
        async move {
            Ok(
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM known_grants WHERE id = $1)")
                    .bind(grant_id)
                    .fetch_one(&pool)
                    .await?,
            )
        }
    })
    .await?;
    // School B cannot end school A's enrolment: A withdraws, B enrols.
    let refused = admin_b
        .classes
        .move_student(transfer)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("another school ended school A's enrolment"))?;
    assert_eq!(refused.code(), Code::PermissionDenied);
    admin_a
        .classes
        .withdraw_student(gb::WithdrawStudentRequest {
            class_id: class_a.id.clone(),
            student_id: student.id.to_string(),
            end_date: day(2027, 1, 10),
            reason: "переведён в школу № 2, 4Б".into(),
        })
        .await?;
    admin_b
        .classes
        .enrol_student(gb::EnrolStudentRequest {
            class_id: class_b.id.clone(),
            student_id: student.id.to_string(),
            start_date: day(2027, 1, 11),
            idempotency_key: String::new(),
        })
        .await?;

    // School A keeps the enrolment, ended; school B has the student now.
    let history_a = admin_a
        .classes
        .list_enrolments(gb::ListEnrolmentsRequest {
            class_id: class_a.id.clone(),
            on_date: None,
        })
        .await?
        .into_inner();
    assert_eq!(history_a.enrolments.len(), 1);
    assert!(history_a.enrolments[0].end_reason.contains("4Б"));
    assert_eq!(history_a.enrolments[0].end_date, day(2027, 1, 10));
    let now_b = admin_b
        .classes
        .list_enrolments(gb::ListEnrolmentsRequest {
            class_id: class_b.id.clone(),
            on_date: day(2027, 1, 11),
        })
        .await?
        .into_inner();
    assert_eq!(now_b.enrolments.len(), 1);
    // School B's admin manages only school B.
    let refused = admin_b
        .classes
        .withdraw_student(gb::WithdrawStudentRequest {
            class_id: class_a.id.clone(),
            student_id: student.id.to_string(),
            end_date: day(2026, 12, 1),
            reason: "ошибка".into(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("another school's admin withdrew a student"))?;
    assert_eq!(refused.code(), Code::PermissionDenied);
    Ok(())
}
