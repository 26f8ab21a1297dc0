//! The dictionary of absence codes.

use asurso_directory::access as directory;
use asurso_proto::attendance as pb;
use asurso_runtime::{
    auth::Caller,
    edge::{Edge, optional_uuid, text_field, text_of, uuid_field},
    errors::ServiceError,
    rights::right,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, State};

pub struct CodesApi(pub Shared);

#[derive(sqlx::FromRow)]
struct CodeRow {
    code: String,
    name: String,
    valid_reason: bool,
    late: bool,
    region_id: Option<Uuid>,
}

/// Anyone signed in may read the dictionary: it names no one.
async fn list_absence_codes(
    state: &State,
    _caller: &Caller,
    request: pb::ListAbsenceCodesRequest,
) -> Result<pb::ListAbsenceCodesResponse, ServiceError> {
    let region = optional_uuid(&request.region_id, "region_id")?;
    let rows: Vec<CodeRow> = sqlx::query_as(
        "SELECT code, name, valid_reason, late, region_id FROM absence_codes \
         WHERE region_id IS NULL OR region_id = $1 \
         ORDER BY region_id NULLS FIRST, position, code",
    )
    .bind(region)
    .fetch_all(&state.pool)
    .await?;
    Ok(pb::ListAbsenceCodesResponse {
        codes: rows
            .into_iter()
            .map(|row| pb::AbsenceCode {
                code: row.code,
                name: row.name,
                valid_reason: row.valid_reason,
                late: row.late,
                region_id: text_of(row.region_id),
            })
            .collect(),
    })
}

/// Refuses unless the caller holds a grant at the region itself and the
/// region's matrix gives their role `attendance.rules`.
async fn manage_region(
    connection: &mut sqlx::PgConnection,
    caller: &Caller,
    region: Uuid,
) -> Result<(), ServiceError> {
    let (kind, _) = asurso_directory::storage::org_unit(connection, region)
        .await?
        .ok_or_else(|| ServiceError::not_found("region_id", format_args!("region {region}")))?;
    if kind != "region" {
        return Err(ServiceError::invalid("region_id", "is not a region"));
    }
    if caller.org_unit_id != region
        || !directory::region_matrix(connection, region)
            .await?
            .allows(caller.role, right::ATTENDANCE_RULES)
    {
        return Err(ServiceError::denied(
            "a region's attendance rules are set by its administration",
        ));
    }
    Ok(())
}

async fn add_absence_code(
    state: &State,
    caller: &Caller,
    request: pb::AddAbsenceCodeRequest,
) -> Result<pb::AddAbsenceCodeResponse, ServiceError> {
    let region = uuid_field(&request.region_id, "region_id")?;
    let code = text_field(&request.code, "code", 5)?;
    let name = text_field(&request.name, "name", 100)?;
    if request.late && request.valid_reason {
        return Err(ServiceError::invalid(
            "late",
            "a late arrival is not a missed lesson: it has no valid reason to give",
        ));
    }
    let mut transaction = state.begin().await?;
    manage_region(&mut transaction, caller, region).await?;
    let inserted = sqlx::query(
        "INSERT INTO absence_codes (code, region_id, name, valid_reason, late, position) \
         SELECT $1, $2, $3, $4, $5, 100 + count(*) FROM absence_codes WHERE region_id = $2 \
         ON CONFLICT DO NOTHING",
    )
    .bind(&code)
    .bind(region)
    .bind(&name)
    .bind(request.valid_reason)
    .bind(request.late)
    .execute(&mut *transaction)
    .await?;
    let every_regions: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM absence_codes WHERE region_id IS NULL AND code = $1)",
    )
    .bind(&code)
    .fetch_one(&mut *transaction)
    .await?;
    if inserted.rows_affected() == 0 || every_regions {
        return Err(ServiceError::AlreadyExists(format!(
            "code: {code} is already a code of the region"
        )));
    }
    state.commit(transaction).await?;
    tracing::info!(region_id = %region, code, "absence code added");
    Ok(pb::AddAbsenceCodeResponse {
        code: Some(pb::AbsenceCode {
            code,
            name,
            valid_reason: request.valid_reason,
            late: request.late,
            region_id: region.to_string(),
        }),
    })
}

async fn rules_of(
    connection: &mut sqlx::PgConnection,
    region: Uuid,
) -> Result<pb::AttendanceRules, ServiceError> {
    Ok(pb::AttendanceRules {
        region_id: region.to_string(),
        teacher_correction_days: crate::storage::teacher_correction_days(connection, Some(region))
            .await?,
    })
}

async fn set_attendance_rules(
    state: &State,
    caller: &Caller,
    request: pb::SetAttendanceRulesRequest,
) -> Result<pb::SetAttendanceRulesResponse, ServiceError> {
    let rules = request
        .rules
        .ok_or_else(|| ServiceError::invalid("rules", "is required"))?;
    let region = uuid_field(&rules.region_id, "rules.region_id")?;
    if !(0..=60).contains(&rules.teacher_correction_days) {
        return Err(ServiceError::invalid(
            "rules.teacher_correction_days",
            "must be 0 to 60",
        ));
    }
    let mut transaction = state.begin().await?;
    manage_region(&mut transaction, caller, region).await?;
    sqlx::query(
        "INSERT INTO region_rules (region_id, teacher_correction_days) VALUES ($1, $2) \
         ON CONFLICT (region_id) DO UPDATE SET teacher_correction_days = excluded.teacher_correction_days",
    )
    .bind(region)
    .bind(rules.teacher_correction_days)
    .execute(&mut *transaction)
    .await?;
    let rules = rules_of(&mut transaction, region).await?;
    state.commit(transaction).await?;
    Ok(pb::SetAttendanceRulesResponse { rules: Some(rules) })
}

/// Anyone signed in within the region reads its rules.
async fn get_attendance_rules(
    state: &State,
    _caller: &Caller,
    request: pb::GetAttendanceRulesRequest,
) -> Result<pb::GetAttendanceRulesResponse, ServiceError> {
    let region = uuid_field(&request.region_id, "region_id")?;
    let mut connection = state.pool.acquire().await?;
    Ok(pb::GetAttendanceRulesResponse {
        rules: Some(rules_of(&mut connection, region).await?),
    })
}

#[tonic::async_trait]
impl pb::absence_code_service_server::AbsenceCodeService for CodesApi {
    async fn list_absence_codes(
        &self,
        request: Request<pb::ListAbsenceCodesRequest>,
    ) -> Result<Response<pb::ListAbsenceCodesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_absence_codes)
    }

    async fn add_absence_code(
        &self,
        request: Request<pb::AddAbsenceCodeRequest>,
    ) -> Result<Response<pb::AddAbsenceCodeResponse>, Status> {
        asurso_runtime::handle!(self.0, request, add_absence_code)
    }

    async fn set_attendance_rules(
        &self,
        request: Request<pb::SetAttendanceRulesRequest>,
    ) -> Result<Response<pb::SetAttendanceRulesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, set_attendance_rules)
    }

    async fn get_attendance_rules(
        &self,
        request: Request<pb::GetAttendanceRulesRequest>,
    ) -> Result<Response<pb::GetAttendanceRulesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_attendance_rules)
    }
}
