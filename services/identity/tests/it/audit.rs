//! The personal-data audit: staff reading a student are recorded, the
//! parent sees who looked, the region can query it, nobody can change it.

use asurso_proto::identity as pb;
use tonic::Code;

use crate::support::{World, password_of};

#[tokio::test]
async fn a_teacher_reading_a_student_is_recorded_and_the_parent_sees_it() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a;
    let (mut teacher, teacher_id) = world
        .user(school, pb::Role::Teacher, "teacher.reads", 801)
        .await?;
    let (_, parent_id) = world
        .user(school, pb::Role::Parent, "parent.watches", 802)
        .await?;
    let student = world
        .student("Морозов", "Егор", 803)
        .await?
        .person
        .unwrap_or_default();
    world
        .admin_a
        .people
        .link_guardian(pb::LinkGuardianRequest {
            parent_id: parent_id.to_string(),
            student_id: student.id.clone(),
        })
        .await?;

    // The teacher opens the student's card.
    teacher
        .people
        .get_person(pb::GetPersonRequest {
            person_id: student.id.clone(),
        })
        .await?;

    // The parent reads the child too: that is not recorded.
    let parent_login = world
        .identity
        .login("parent.watches", &password_of("parent.watches"))
        .await?;
    let mut parent = world
        .identity
        .clients(Some(&crate::support::access_token(&parent_login)))
        .await?;
    let children = parent
        .people
        .list_children(pb::ListChildrenRequest {
            parent_id: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(
        children
            .children
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>(),
        vec![student.id.clone()]
    );
    parent
        .people
        .get_person(pb::GetPersonRequest {
            person_id: student.id.clone(),
        })
        .await?;

    let views = parent
        .audit
        .list_views_of_student(pb::ListViewsOfStudentRequest {
            student_id: student.id.clone(),
            page: None,
        })
        .await?
        .into_inner()
        .records;
    assert_eq!(views.len(), 1, "{views:?}");
    assert_eq!(views[0].actor_id, teacher_id.to_string());
    assert_eq!(views[0].actor_role(), pb::Role::Teacher);
    assert_eq!(views[0].actor_name, "Петров Иван");
    assert_eq!(views[0].what, "person");

    // The region admin finds it too; the teacher may not read the log.
    let records = world
        .admin
        .audit
        .list_audit_records(pb::ListAuditRecordsRequest {
            subject_id: student.id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .records;
    assert_eq!(records.len(), 1);
    let refused = teacher
        .audit
        .list_audit_records(pb::ListAuditRecordsRequest::default())
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::PermissionDenied));
    // Another family's parent does not see this child's views.
    let refused = teacher
        .audit
        .list_views_of_student(pb::ListViewsOfStudentRequest {
            student_id: student.id.clone(),
            page: None,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::PermissionDenied));

    // The log is append-only, even for the service's own database role.
    let pool = &world.identity.db.pool;
    assert!(
        sqlx::query("UPDATE audit_log SET what = 'nothing'")
            .execute(pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_log")
            .execute(pool)
            .await
            .is_err()
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(pool)
        .await?;
    assert_eq!(kept, 1);
    world.identity.stop().await
}
