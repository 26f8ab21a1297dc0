//! Reading the personal-data audit log.

use asurso_proto::{common::PageResponse, identity as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::{auth::parse_role, convert};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, page_size, timestamp, uuid_field};
use crate::api::State;
use crate::{
    access,
    domain::{IdentityError, rights::right},
    storage::{
        self,
        audit::{AuditFilter, AuditRow},
    },
};

pub struct AuditApi(pub Shared);

fn record(row: &AuditRow) -> pb::AuditRecord {
    pb::AuditRecord {
        id: row.id.to_string(),
        at: Some(timestamp(row.at)),
        actor_id: row.actor_id.to_string(),
        actor_name: row.actor_name.clone().unwrap_or_default(),
        actor_role: parse_role(&row.actor_role)
            .unwrap_or(pb::Role::Unspecified)
            .into(),
        actor_org_unit_id: row.actor_org_unit_id.to_string(),
        subject_id: row.subject_id.to_string(),
        what: row.what.clone(),
        service: row.service.clone(),
    }
}

fn before(page: Option<&asurso_proto::common::PageRequest>) -> Result<Option<Uuid>, IdentityError> {
    match page.map(|page| page.page_token.as_str()) {
        None | Some("") => Ok(None),
        Some(token) => Uuid::parse_str(token).map(Some).map_err(|_| {
            IdentityError::invalid("page.page_token", "is not a token this service gave out")
        }),
    }
}

/// A bound of the filter, within the years the runtime bounds request
/// instants to (PostgreSQL cannot compare with a year like -9999).
fn time(
    value: Option<&prost_types::Timestamp>,
    field: &str,
) -> Result<Option<time::OffsetDateTime>, IdentityError> {
    value
        .map(|at| {
            convert::instant(at, field).map_err(|violation| IdentityError::Invalid(vec![violation]))
        })
        .transpose()
}

async fn page(
    state: &State,
    filter: &AuditFilter,
    limit: i64,
) -> Result<(Vec<pb::AuditRecord>, PageResponse), IdentityError> {
    let mut connection = state.pool.acquire().await?;
    let rows = storage::audit::list(&mut connection, filter, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<AuditRow> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(50))
        .collect();
    let next_page_token = match (more, rows.last()) {
        (true, Some(last)) => last.id.to_string(),
        _ => String::new(),
    };
    Ok((
        rows.iter().map(record).collect(),
        PageResponse { next_page_token },
    ))
}

async fn list_audit_records(
    state: &State,
    caller: &Caller,
    request: pb::ListAuditRecordsRequest,
) -> Result<pb::ListAuditRecordsResponse, IdentityError> {
    {
        let mut connection = state.pool.acquire().await?;
        let unit = access::unit(&mut connection, caller.org_unit_id, "token").await?;
        if unit.kind != "region" {
            return Err(IdentityError::denied(
                "the audit log is read by region admins",
            ));
        }
        access::authorize(&mut connection, caller, right::AUDIT_READ, &unit).await?;
    }
    let optional = |value: &str, field: &str| -> Result<Option<Uuid>, IdentityError> {
        if value.is_empty() {
            Ok(None)
        } else {
            uuid_field(value, field).map(Some)
        }
    };
    let filter = AuditFilter {
        subject_id: optional(&request.subject_id, "subject_id")?,
        actor_id: optional(&request.actor_id, "actor_id")?,
        from: time(request.from.as_ref(), "from")?,
        to: time(request.to.as_ref(), "to")?,
        before: before(request.page.as_ref())?,
    };
    let (records, page) = page(state, &filter, page_size(request.page.as_ref())).await?;
    Ok(pb::ListAuditRecordsResponse {
        records,
        page: Some(page),
    })
}

async fn list_views_of_student(
    state: &State,
    caller: &Caller,
    request: pb::ListViewsOfStudentRequest,
) -> Result<pb::ListViewsOfStudentResponse, IdentityError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    {
        let mut connection = state.pool.acquire().await?;
        let own = caller.person_id == student
            || storage::people::is_guardian(&mut connection, caller.person_id, student).await?;
        if !own {
            return Err(IdentityError::denied(
                "only the student and their parents see who viewed the student's data",
            ));
        }
    }
    let filter = AuditFilter {
        subject_id: Some(student),
        before: before(request.page.as_ref())?,
        ..AuditFilter::default()
    };
    let (records, page) = page(state, &filter, page_size(request.page.as_ref())).await?;
    Ok(pb::ListViewsOfStudentResponse {
        records,
        page: Some(page),
    })
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditApi {
    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> Result<Response<pb::ListAuditRecordsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_audit_records)
    }

    async fn list_views_of_student(
        &self,
        request: Request<pb::ListViewsOfStudentRequest>,
    ) -> Result<Response<pb::ListViewsOfStudentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_views_of_student)
    }
}
