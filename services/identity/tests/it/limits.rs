//! Dates from outside are bounded where requests are converted: a year
//! PostgreSQL cannot hold (or no school has a use for) is refused naming
//! the field, never answered INTERNAL.

use asurso_proto::{common::CivilDate, identity as pb};
use time::macros::datetime;
use tonic::Code;

use crate::support::World;

fn at(moment: time::OffsetDateTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: moment.unix_timestamp(),
        nanos: 0,
    })
}

/// The fields a refusal names (google.rpc.BadRequest).
fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_audit_query_from_year_minus_9999_is_refused_naming_the_bound() -> anyhow::Result<()> {
    let mut world = World::new().await?;

    let refused = world
        .admin
        .audit
        .list_audit_records(pb::ListAuditRecordsRequest {
            from: at(datetime!(-9999-01-01 0:00 UTC)),
            to: at(datetime!(2026-09-01 0:00 UTC)),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an audit query from year -9999 was answered"))?;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(violated_fields(&refused), ["from"]);

    let refused = world
        .admin
        .audit
        .list_audit_records(pb::ListAuditRecordsRequest {
            to: Some(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an audit query to the end of time was answered"))?;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(violated_fields(&refused), ["to"]);

    // A real window still reads the log.
    world
        .admin
        .audit
        .list_audit_records(pb::ListAuditRecordsRequest {
            from: at(datetime!(2000-01-01 0:00 UTC)),
            to: at(datetime!(2200-12-31 23:59 UTC)),
            ..Default::default()
        })
        .await?;
    world.identity.stop().await
}

#[tokio::test]
async fn a_login_policy_from_year_minus_9999_is_refused_naming_the_year() -> anyhow::Result<()> {
    let mut world = World::new().await?;
    let policy = |year: i32| pb::SetLoginPolicyRequest {
        policy: Some(pb::LoginPolicy {
            region_id: world.region.to_string(),
            esia_required_from: Some(CivilDate {
                year,
                month: 9,
                day: 1,
            }),
            students_too: false,
        }),
    };

    let refused = world
        .admin
        .federation
        .set_login_policy(policy(-9999))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a policy from year -9999 was set"))?;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(
        violated_fields(&refused),
        ["policy.esia_required_from.year"]
    );

    world
        .admin
        .federation
        .set_login_policy(policy(2030))
        .await?;
    let kept = world
        .admin
        .federation
        .get_login_policy(pb::GetLoginPolicyRequest {
            region_id: world.region.to_string(),
        })
        .await?
        .into_inner()
        .policy
        .and_then(|policy| policy.esia_required_from);
    assert_eq!(kept.map(|date| date.year), Some(2030));
    world.identity.stop().await
}
