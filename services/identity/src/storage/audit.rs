use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub actor_id: Uuid,
    pub actor_name: Option<String>,
    pub actor_role: String,
    pub actor_org_unit_id: Uuid,
    pub subject_id: Uuid,
    pub what: String,
    pub service: String,
}

pub struct NewAuditRecord<'a> {
    pub actor_id: Uuid,
    pub actor_role: &'a str,
    pub actor_org_unit_id: Uuid,
    pub subject_id: Uuid,
    pub what: &'a str,
    pub service: &'a str,
    /// For records from other services' events: applied once.
    pub event_id: Option<Uuid>,
}

pub async fn record(
    connection: &mut PgConnection,
    record: &NewAuditRecord<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor_id, actor_role, actor_org_unit_id, subject_id, what, service, event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(record.actor_id)
    .bind(record.actor_role)
    .bind(record.actor_org_unit_id)
    .bind(record.subject_id)
    .bind(record.what)
    .bind(record.service)
    .bind(record.event_id)
    .execute(connection)
    .await
    .map(|_| ())
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub subject_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    /// Paging: records strictly older than this one (ids are time-ordered).
    pub before: Option<Uuid>,
}

/// Newest first.
pub async fn list(
    connection: &mut PgConnection,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.at, a.actor_id, \
                nullif(concat_ws(' ', p.last_name, p.first_name, nullif(p.middle_name, '')), '') AS actor_name, \
                a.actor_role, a.actor_org_unit_id, a.subject_id, a.what, a.service \
         FROM audit_log a LEFT JOIN people p ON p.id = a.actor_id \
         WHERE ($1::uuid IS NULL OR a.subject_id = $1) \
           AND ($2::uuid IS NULL OR a.actor_id = $2) \
           AND ($3::timestamptz IS NULL OR a.at >= $3) \
           AND ($4::timestamptz IS NULL OR a.at < $4) \
           AND ($5::uuid IS NULL OR a.id < $5) \
         ORDER BY a.id DESC LIMIT $6",
    )
    .bind(filter.subject_id)
    .bind(filter.actor_id)
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.before)
    .bind(limit)
    .fetch_all(connection)
    .await
}
