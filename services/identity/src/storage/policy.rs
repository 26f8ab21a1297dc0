//! A region's login policy.

use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct PolicyRow {
    pub esia_required_from: Option<Date>,
    pub students_too: bool,
}

/// The region's policy; none set means local logins for everyone.
pub async fn of_region(
    connection: &mut PgConnection,
    region: Uuid,
) -> Result<PolicyRow, sqlx::Error> {
    let row: Option<PolicyRow> = sqlx::query_as(
        "SELECT esia_required_from, students_too FROM login_policies WHERE region_id = $1",
    )
    .bind(region)
    .fetch_optional(connection)
    .await?;
    Ok(row.unwrap_or_default())
}

pub async fn set(
    connection: &mut PgConnection,
    region: Uuid,
    policy: &PolicyRow,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_policies (region_id, esia_required_from, students_too, updated_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (region_id) DO UPDATE SET \
         esia_required_from = EXCLUDED.esia_required_from, students_too = EXCLUDED.students_too, \
         updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(region)
    .bind(policy.esia_required_from)
    .bind(policy.students_too)
    .bind(by)
    .execute(connection)
    .await
    .map(|_| ())
}
