//! Nobody acts outside the org unit of their grant.

use asurso_proto::identity as pb;
use tonic::Code;

use crate::support::{World, person, snils};

#[tokio::test]
async fn a_school_admin_cannot_register_or_grant_in_another_school() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school_b = world.school_b;

    let registered_elsewhere = world
        .admin_a
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: school_b.to_string(),
            person: Some(person("Сидоров", "Олег", &snils(201), (2013, 9, 1))),
            role: pb::Role::Student.into(),
            idempotency_key: String::new(),
        })
        .await;
    assert_eq!(
        registered_elsewhere.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );

    // A teacher of school B exists; admin A may not give them a role in B...
    let (_, teacher_b) = world
        .user(school_b, pb::Role::Teacher, "teacher.b", 202)
        .await?;
    let grant = |unit: uuid::Uuid| pb::GrantRoleRequest {
        person_id: teacher_b.to_string(),
        role: pb::Role::ClassTeacher.into(),
        org_unit_id: unit.to_string(),
    };
    let granted_elsewhere = world.admin_a.access.grant_role(grant(school_b)).await;
    assert_eq!(
        granted_elsewhere.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    // ...nor make anyone a region admin from a school.
    let escalate = world
        .admin_a
        .access
        .grant_role(pb::GrantRoleRequest {
            person_id: teacher_b.to_string(),
            role: pb::Role::RegionAdmin.into(),
            org_unit_id: world.region.to_string(),
        })
        .await;
    assert_eq!(
        escalate.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    // Admin B may, in B.
    world.admin_b.access.grant_role(grant(school_b)).await?;

    // Nothing was written by the refused calls: school B has only the
    // teacher (and its admin) registered.
    let people_in_b: i64 = sqlx::query_scalar("SELECT count(*) FROM people WHERE org_unit_id = $1")
        .bind(school_b)
        .fetch_one(&world.identity.db.pool)
        .await?;
    assert_eq!(people_in_b, 2);
    world.identity.stop().await
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a.to_string();
    let register = |data: pb::PersonData, role: pb::Role, unit: &str| pb::RegisterPersonRequest {
        org_unit_id: unit.to_owned(),
        person: Some(data),
        role: role.into(),
        idempotency_key: String::new(),
    };
    let cases = [
        (
            register(
                person("Иванов", "Иван", "112-233-445 96", (2012, 1, 1)),
                pb::Role::Student,
                &school,
            ),
            Code::InvalidArgument,
            "person.snils",
        ),
        (
            register(
                person("", "Иван", "", (2012, 1, 1)),
                pb::Role::Student,
                &school,
            ),
            Code::InvalidArgument,
            "person.last_name",
        ),
        (
            register(
                person(&"Я".repeat(101), "Иван", "", (2012, 1, 1)),
                pb::Role::Student,
                &school,
            ),
            Code::InvalidArgument,
            "person.last_name",
        ),
        (
            register(
                person("Иванов", "Иван", "", (2012, 2, 30)),
                pb::Role::Student,
                &school,
            ),
            Code::InvalidArgument,
            "person.birth_date",
        ),
        (
            register(
                person("Иванов", "Иван", "", (2012, 1, 1)),
                pb::Role::Unspecified,
                &school,
            ),
            Code::InvalidArgument,
            "role",
        ),
        (
            register(
                person("Иванов", "Иван", "", (2012, 1, 1)),
                pb::Role::RegionAdmin,
                &school,
            ),
            Code::InvalidArgument,
            "role",
        ),
        (
            register(
                person("Иванов", "Иван", "", (2012, 1, 1)),
                pb::Role::Student,
                "not-a-uuid",
            ),
            Code::InvalidArgument,
            "org_unit_id",
        ),
        (
            register(
                person("Иванов", "Иван", "", (2012, 1, 1)),
                pb::Role::Student,
                &uuid::Uuid::now_v7().to_string(),
            ),
            Code::NotFound,
            "org_unit_id",
        ),
    ];
    for (request, code, field) in cases {
        let status = world.admin_a.people.register_person(request).await.err();
        let (got, message) = status
            .map(|s| (s.code(), s.message().to_owned()))
            .unwrap_or((Code::Ok, String::new()));
        assert_eq!(got, code, "{field}: {message}");
        assert!(message.contains(field), "{message:?} does not name {field}");
    }

    // A duplicate SNILS is ALREADY_EXISTS, and the first person stays alone.
    let first = register(
        person("Кузнецов", "Пётр", &snils(301), (2012, 1, 1)),
        pb::Role::Student,
        &school,
    );
    world.admin_a.people.register_person(first).await?;
    let again = register(
        person("Кузнецова", "Анна", &snils(301), (2011, 1, 1)),
        pb::Role::Student,
        &school,
    );
    let duplicate = world
        .admin_a
        .people
        .register_person(again)
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(duplicate, Some(Code::AlreadyExists));

    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM people WHERE org_unit_id = $1")
        .bind(world.school_a)
        .fetch_one(&world.identity.db.pool)
        .await?;
    assert_eq!(people, 2, "the admin and the one valid student");
    world.identity.stop().await
}

#[tokio::test]
async fn a_retried_registration_with_the_same_key_applies_once() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let request = pb::RegisterPersonRequest {
        org_unit_id: world.school_a.to_string(),
        person: Some(person("Смирнова", "Ольга", &snils(401), (2012, 4, 2))),
        role: pb::Role::Student.into(),
        idempotency_key: "import-2026-09-01-row-7".into(),
    };
    let first = world
        .admin_a
        .people
        .register_person(request.clone())
        .await?
        .into_inner();
    let second = world
        .admin_a
        .people
        .register_person(request)
        .await?
        .into_inner();
    assert_eq!(first, second);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM people WHERE last_name = 'Смирнова'")
        .fetch_one(&world.identity.db.pool)
        .await?;
    assert_eq!(count, 1);
    world.identity.stop().await
}
