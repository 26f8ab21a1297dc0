//! The dictionary of absence codes.

use asurso_proto::attendance as pb;
use asurso_runtime::{
    auth::Caller,
    edge::{optional_uuid, text_of},
    errors::ServiceError,
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

#[tonic::async_trait]
impl pb::absence_code_service_server::AbsenceCodeService for CodesApi {
    async fn list_absence_codes(
        &self,
        request: Request<pb::ListAbsenceCodesRequest>,
    ) -> Result<Response<pb::ListAbsenceCodesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_absence_codes)
    }
}
