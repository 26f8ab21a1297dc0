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
