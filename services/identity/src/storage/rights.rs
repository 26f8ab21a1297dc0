use asurso_proto::identity::Role;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::rights::{self, Cell};

/// The cells stored for one unit.
pub async fn cells(
    connection: &mut PgConnection,
    unit: Uuid,
) -> Result<Vec<(Role, String, Cell)>, sqlx::Error> {
    let rows: Vec<(String, String, bool, bool)> =
        sqlx::query_as("SELECT role, name, allowed, adjustable FROM rights WHERE org_unit_id = $1")
            .bind(unit)
            .fetch_all(connection)
            .await?;
    Ok(rights::cells_from_rows(rows))
}

pub async fn set(
    connection: &mut PgConnection,
    unit: Uuid,
    role: &str,
    name: &str,
    cell: Cell,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rights (org_unit_id, role, name, allowed, adjustable, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (org_unit_id, role, name) DO UPDATE \
         SET allowed = excluded.allowed, adjustable = excluded.adjustable, \
             updated_by = excluded.updated_by, updated_at = now()",
    )
    .bind(unit)
    .bind(role)
    .bind(name)
    .bind(cell.allowed)
    .bind(cell.adjustable)
    .bind(by)
    .execute(connection)
    .await
    .map(|_| ())
}
