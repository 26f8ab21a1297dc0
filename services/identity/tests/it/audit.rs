//! The personal-data audit: staff reading a student are recorded, the
//! parent sees who looked, the region can query it, nobody can change it.

use asurso_proto::identity as pb;
use tonic::Code;

use crate::support::Service as _;
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

#[tokio::test]
async fn a_read_reported_by_another_service_reaches_the_audit_log() -> anyhow::Result<()> {
    use asurso_proto::{common::OrgScope, events::PersonalDataRead};
    use asurso_runtime::events::{NewEvent, Relay, enqueue, streams, subjects};

    let mut world = World::new().await?;
    let school = world.school_a;
    let (_, teacher) = world
        .user(school, pb::Role::Teacher, "teacher.marks", 1501)
        .await?;
    let (_, parent) = world
        .user(school, pb::Role::Parent, "parent.marks", 1502)
        .await?;
    let student = world
        .student("Соколова", "Ева", 1503)
        .await?
        .person
        .map(|p| p.id)
        .unwrap_or_default();
    world
        .admin_a
        .people
        .link_guardian(pb::LinkGuardianRequest {
            parent_id: parent.to_string(),
            student_id: student.clone(),
        })
        .await?;

    // "Gradebook": its own database and outbox, publishing into its stream.
    let gradebook_db =
        asurso_testkit::TestDatabase::create(&[&asurso_runtime::db::runtime_migrator()]).await?;
    let report = |actor_id: String| PersonalDataRead {
        actor_id,
        actor_role: "teacher".into(),
        actor_org_unit_id: school.to_string(),
        subject_id: student.clone(),
        what: "marks".into(),
    };
    let mut transaction = gradebook_db.pool.begin().await?;
    for payload in [report("not-a-uuid".into()), report(teacher.to_string())] {
        enqueue(
            &mut transaction,
            "gradebook",
            NewEvent {
                subject: subjects::personal_data_read(streams::GRADEBOOK, school),
                aggregate_type: "student",
                aggregate_id: student.clone(),
                scope: OrgScope::default(),
                payload: &payload,
            },
        )
        .await?;
    }
    transaction.commit().await?;
    let relay = Relay::new(
        gradebook_db.pool.clone(),
        world.identity.bus.clone(),
        asurso_runtime::settings::OutboxSettings {
            poll_interval: std::time::Duration::from_millis(20),
            batch_size: 10,
            retention: std::time::Duration::from_secs(3600),
        },
    );
    relay.publish_pending().await?;

    let parent_login = world
        .identity
        .login("parent.marks", &password_of("parent.marks"))
        .await?;
    let mut parent_clients = world
        .identity
        .clients(Some(&crate::support::access_token(&parent_login)))
        .await?;
    let mut views = Vec::new();
    crate::support::eventually(std::time::Duration::from_secs(10), || {
        let request = pb::ListViewsOfStudentRequest {
            student_id: student.clone(),
            page: None,
        };
        let mut audit = parent_clients.audit.clone();
        async move {
            Ok(!audit
                .list_views_of_student(request)
                .await?
                .into_inner()
                .records
                .is_empty())
        }
    })
    .await?;
    views.extend(
        parent_clients
            .audit
            .list_views_of_student(pb::ListViewsOfStudentRequest {
                student_id: student.clone(),
                page: None,
            })
            .await?
            .into_inner()
            .records,
    );
    // The malformed report went to the dead letters; the good one is here once.
    assert_eq!(views.len(), 1, "{views:?}");
    assert_eq!(views[0].service, "gradebook");
    assert_eq!(views[0].what, "marks");
    assert_eq!(views[0].actor_id, teacher.to_string());
    world.identity.stop().await
}
