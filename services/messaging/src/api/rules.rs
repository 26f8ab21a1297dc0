//! The region's mail rules.

use asurso_directory::access as directory;
use asurso_proto::messaging as pb;
use asurso_runtime::{
    auth::Caller,
    edge::{Edge, uuid_field},
    errors::ServiceError,
    rights::right,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, State};
use crate::storage::rules::{self, Rules};

pub struct RulesApi(pub Shared);

fn proto(region: Uuid, rules: &Rules) -> pb::MailRules {
    pb::MailRules {
        region_id: region.to_string(),
        families_write_to_families: rules.families_write_to_families,
        students_write_to_all_staff: rules.students_write_to_all_staff,
        deleted_retention_days: rules.deleted_retention_days,
        parent_messages_per_hour: rules.parent_messages_per_hour,
        student_messages_per_hour: rules.student_messages_per_hour,
        staff_messages_per_hour: rules.staff_messages_per_hour,
    }
}

/// Anyone signed in reads the rules they write under.
async fn get_mail_rules(
    state: &State,
    _caller: &Caller,
    request: pb::GetMailRulesRequest,
) -> Result<pb::GetMailRulesResponse, ServiceError> {
    let region = uuid_field(&request.region_id, "region_id")?;
    let mut connection = state.pool.acquire().await?;
    let rules = rules::of(&mut connection, region).await?;
    Ok(pb::GetMailRulesResponse {
        rules: Some(proto(region, &rules)),
    })
}

async fn set_mail_rules(
    state: &State,
    caller: &Caller,
    request: pb::SetMailRulesRequest,
) -> Result<pb::SetMailRulesResponse, ServiceError> {
    let given = request
        .rules
        .ok_or_else(|| ServiceError::invalid("rules", "is required"))?;
    let region = uuid_field(&given.region_id, "rules.region_id")?;
    let mut violations = Vec::new();
    if !(1..=365).contains(&given.deleted_retention_days) {
        violations.push(asurso_runtime::errors::FieldViolation::new(
            "rules.deleted_retention_days",
            "must be 1 to 365",
        ));
    }
    for (field, value) in [
        (
            "rules.parent_messages_per_hour",
            given.parent_messages_per_hour,
        ),
        (
            "rules.student_messages_per_hour",
            given.student_messages_per_hour,
        ),
        (
            "rules.staff_messages_per_hour",
            given.staff_messages_per_hour,
        ),
    ] {
        if !(1..=10_000).contains(&value) {
            violations.push(asurso_runtime::errors::FieldViolation::new(
                field,
                "must be 1 to 10000",
            ));
        }
    }
    if !violations.is_empty() {
        return Err(ServiceError::Invalid(violations));
    }
    let rules = Rules {
        families_write_to_families: given.families_write_to_families,
        students_write_to_all_staff: given.students_write_to_all_staff,
        deleted_retention_days: given.deleted_retention_days,
        parent_messages_per_hour: given.parent_messages_per_hour,
        student_messages_per_hour: given.student_messages_per_hour,
        staff_messages_per_hour: given.staff_messages_per_hour,
    };
    let mut transaction = state.begin().await?;
    let (kind, _) = asurso_directory::storage::org_unit(&mut transaction, region)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found("rules.region_id", format_args!("region {region}"))
        })?;
    if kind != "region" {
        return Err(ServiceError::invalid("rules.region_id", "is not a region"));
    }
    if caller.org_unit_id != region
        || !directory::region_matrix(&mut transaction, region)
            .await?
            .allows(caller.role, right::MESSAGES_RULES)
    {
        return Err(ServiceError::denied(
            "a region's mail rules are set by its administration",
        ));
    }
    rules::set(&mut transaction, region, &rules).await?;
    state.commit(transaction).await?;
    tracing::info!(region_id = %region, ?rules, "mail rules set");
    Ok(pb::SetMailRulesResponse {
        rules: Some(proto(region, &rules)),
    })
}

#[tonic::async_trait]
impl pb::mail_rules_service_server::MailRulesService for RulesApi {
    async fn get_mail_rules(
        &self,
        request: Request<pb::GetMailRulesRequest>,
    ) -> Result<Response<pb::GetMailRulesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_mail_rules)
    }

    async fn set_mail_rules(
        &self,
        request: Request<pb::SetMailRulesRequest>,
    ) -> Result<Response<pb::SetMailRulesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, set_mail_rules)
    }
}
