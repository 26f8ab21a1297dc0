//! For the region's operators: deliveries in trouble, and what e-mails
//! and pushes may say. Never a notification's words: an operator needs to
//! know that something failed and why, not what a family was told.

use asurso_directory::access as directory;
use asurso_proto::{identity::Role, notifications as pb};
use asurso_runtime::{
    auth::Caller,
    convert::timestamp,
    edge::{Edge, next_page, page_size},
    errors::ServiceError,
    rights::right,
};
use sqlx::PgConnection;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, State};
use crate::domain::{Channel, Kind};

pub struct AdminApi(pub Shared);

/// The caller's region, if they act for its administration with the right.
async fn region_of(connection: &mut PgConnection, caller: &Caller) -> Result<Uuid, ServiceError> {
    let refused = || ServiceError::denied("notifications are administered by the region");
    if caller.role != Role::RegionAdmin {
        return Err(refused());
    }
    let region = caller.org_unit_id;
    if !directory::region_matrix(connection, region)
        .await?
        .allows(caller.role, right::NOTIFICATIONS_ADMIN)
    {
        return Err(refused());
    }
    Ok(region)
}

#[derive(sqlx::FromRow)]
struct Trouble {
    notification_id: Uuid,
    person_id: Uuid,
    channel: String,
    kind: String,
    state: String,
    attempts: i32,
    last_error: String,
    created_at: OffsetDateTime,
    last_attempt_at: Option<OffsetDateTime>,
}

async fn list_failed_deliveries(
    state: &State,
    caller: &Caller,
    request: pb::ListFailedDeliveriesRequest,
) -> Result<pb::ListFailedDeliveriesResponse, ServiceError> {
    let limit = page_size(request.page.as_ref());
    let token = request
        .page
        .as_ref()
        .map_or("", |page| page.page_token.as_str());
    let before = if token.is_empty() {
        None
    } else {
        Some(
            token
                .parse::<i64>()
                .ok()
                .and_then(|micros| {
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
                })
                .ok_or_else(|| ServiceError::invalid("page.page_token", "is not a page token"))?,
        )
    };
    let mut connection = state.pool().acquire().await?;
    region_of(&mut connection, caller).await?;
    let mut rows: Vec<Trouble> = sqlx::query_as(
        "SELECT d.notification_id, d.person_id, d.channel, n.kind, \
             CASE WHEN d.state = 'pending' THEN 'retrying' ELSE d.state END AS state, \
             d.attempts, d.last_error, d.created_at, d.last_attempt_at \
         FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
         WHERE (d.state IN ('failed', 'refused') OR (d.state = 'pending' AND d.attempts > 0 AND d.last_error <> '')) \
           AND ($1::timestamptz IS NULL OR d.created_at < $1) \
         ORDER BY d.created_at DESC LIMIT $2",
    )
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&mut *connection)
    .await?;
    let next_page_token = next_page(&mut rows, limit, |last| {
        (last.created_at.unix_timestamp_nanos() / 1_000).to_string()
    });
    Ok(pb::ListFailedDeliveriesResponse {
        deliveries: rows
            .into_iter()
            .map(|row| pb::FailedDelivery {
                notification_id: row.notification_id.to_string(),
                person_id: row.person_id.to_string(),
                channel: Channel::parse(&row.channel)
                    .map_or(pb::Channel::Unspecified, Channel::to_proto)
                    as i32,
                kind: Kind::parse(&row.kind).map_or(pb::Kind::Unspecified, Kind::to_proto) as i32,
                state: row.state,
                attempts: row.attempts,
                last_error: row.last_error,
                created_at: Some(timestamp(row.created_at)),
                last_attempt_at: row.last_attempt_at.map(timestamp),
            })
            .collect(),
        page: Some(asurso_proto::common::PageResponse { next_page_token }),
    })
}

async fn get_region_policy(
    state: &State,
    caller: &Caller,
    _request: pb::GetRegionPolicyRequest,
) -> Result<pb::RegionPolicy, ServiceError> {
    let mut connection = state.pool().acquire().await?;
    let region = region_of(&mut connection, caller).await?;
    let details: Option<bool> =
        sqlx::query_scalar("SELECT details_outside FROM region_policies WHERE region_id = $1")
            .bind(region)
            .fetch_optional(&mut *connection)
            .await?;
    Ok(pb::RegionPolicy {
        details_outside: details.unwrap_or(false),
    })
}

async fn set_region_policy(
    state: &State,
    caller: &Caller,
    request: pb::RegionPolicy,
) -> Result<pb::RegionPolicy, ServiceError> {
    let mut transaction = state.begin().await?;
    let region = region_of(&mut transaction, caller).await?;
    sqlx::query(
        "INSERT INTO region_policies (region_id, details_outside) VALUES ($1, $2) \
         ON CONFLICT (region_id) DO UPDATE SET details_outside = excluded.details_outside",
    )
    .bind(region)
    .bind(request.details_outside)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    tracing::info!(region_id = %region, details_outside = request.details_outside, "notification policy set");
    Ok(request)
}

#[tonic::async_trait]
impl pb::delivery_admin_service_server::DeliveryAdminService for AdminApi {
    async fn list_failed_deliveries(
        &self,
        request: Request<pb::ListFailedDeliveriesRequest>,
    ) -> Result<Response<pb::ListFailedDeliveriesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_failed_deliveries)
    }

    async fn get_region_policy(
        &self,
        request: Request<pb::GetRegionPolicyRequest>,
    ) -> Result<Response<pb::RegionPolicy>, Status> {
        asurso_runtime::handle!(self.0, request, get_region_policy)
    }

    async fn set_region_policy(
        &self,
        request: Request<pb::RegionPolicy>,
    ) -> Result<Response<pb::RegionPolicy>, Status> {
        asurso_runtime::handle!(self.0, request, set_region_policy)
    }
}
