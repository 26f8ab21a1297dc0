use asurso_attendance::harness::{Attendance, World, attendance_database};
use asurso_identity::harness::identity_login;
use asurso_proto::{attendance as pb, identity::Role};
use tonic::Code;

#[tokio::test]
async fn a_teacher_reads_the_codes_every_school_uses_and_a_stranger_reads_nothing()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    let attendance = Attendance::start(&world, attendance_database().await?).await?;
    let (token, _) = identity_login(
        &world.identity,
        &mut world.admin_a,
        world.school_a,
        Role::Teacher,
        "codes.teacher",
        401,
    )
    .await?;
    let mut teacher = attendance.clients(&token).await?;
    let codes = teacher
        .codes
        .list_absence_codes(pb::ListAbsenceCodesRequest {
            region_id: world.region.to_string(),
        })
        .await?
        .into_inner()
        .codes;
    let listed: Vec<(&str, bool, bool)> = codes
        .iter()
        .map(|code| (code.code.as_str(), code.valid_reason, code.late))
        .collect();
    assert_eq!(
        listed,
        [
            ("УП", true, false),
            ("Б", true, false),
            ("НП", false, false),
            ("ОП", false, true),
            ("ОСВ", true, false),
            ("ОТ", false, false),
        ]
    );

    let mut stranger = attendance.clients("not-a-token").await?;
    let refused = stranger
        .codes
        .list_absence_codes(pb::ListAbsenceCodesRequest::default())
        .await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::Unauthenticated));
    let refused = teacher
        .codes
        .list_absence_codes(pb::ListAbsenceCodesRequest {
            region_id: "not-a-uuid".into(),
        })
        .await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::InvalidArgument));

    attendance.stop().await?;
    world.identity.stop().await
}

#[tokio::test]
async fn a_region_adds_its_own_code_and_shortens_the_teachers_days() -> anyhow::Result<()> {
    let mut c = crate::support::Class5::new("rules").await?;
    let region = c.stack.world.region.to_string();
    let (_, login) = c.stack.world.identity.region_admin().await?;
    let mut admin = c
        .stack
        .attendance
        .clients(&asurso_identity::harness::access_token(&login))
        .await?;
    let quarantine = pb::AddAbsenceCodeRequest {
        region_id: region.clone(),
        code: "КАР".into(),
        name: "карантин".into(),
        valid_reason: true,
        late: false,
    };
    let refused = c.admin.at.codes.add_absence_code(quarantine.clone()).await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    admin.codes.add_absence_code(quarantine.clone()).await?;
    let again = admin.codes.add_absence_code(quarantine).await;
    assert_eq!(again.err().map(|s| s.code()), Some(Code::AlreadyExists));
    let everyones = admin
        .codes
        .add_absence_code(pb::AddAbsenceCodeRequest {
            region_id: region.clone(),
            code: "Б".into(),
            name: "болезнь".into(),
            valid_reason: true,
            late: false,
        })
        .await;
    assert_eq!(everyones.err().map(|s| s.code()), Some(Code::AlreadyExists));
    let codes = c
        .teacher
        .at
        .codes
        .list_absence_codes(pb::ListAbsenceCodesRequest {
            region_id: region.clone(),
        })
        .await?
        .into_inner()
        .codes;
    assert_eq!(
        codes
            .last()
            .map(|code| (code.code.as_str(), code.region_id.as_str())),
        Some(("КАР", region.as_str()))
    );

    // The region's own code is taken like any other.
    let take = |code: &str| pb::TakeLessonRequest {
        lesson_id: c.recent.id.clone(),
        absences: vec![pb::Absence {
            student_id: c.students[0].to_string(),
            code: code.into(),
            minutes_late: 0,
        }],
        reason: String::new(),
        idempotency_key: String::new(),
    };
    c.teacher.at.attendance.take_lesson(take("КАР")).await?;

    // With no days for teachers, the teacher no longer corrects it.
    let rules = |days: i32| pb::SetAttendanceRulesRequest {
        rules: Some(pb::AttendanceRules {
            region_id: region.clone(),
            teacher_correction_days: days,
        }),
    };
    let refused = admin.codes.set_attendance_rules(rules(61)).await.err();
    assert_eq!(
        refused.as_ref().map(crate::support::violated_fields),
        Some(vec!["rules.teacher_correction_days".to_owned()])
    );
    admin.codes.set_attendance_rules(rules(0)).await?;
    let read = c
        .teacher
        .at
        .codes
        .get_attendance_rules(pb::GetAttendanceRulesRequest {
            region_id: region.clone(),
        })
        .await?
        .into_inner()
        .rules
        .map(|rules| rules.teacher_correction_days);
    assert_eq!(read, Some(0));
    let refused = c.teacher.at.attendance.take_lesson(take("НП")).await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    c.stack.stop().await
}
