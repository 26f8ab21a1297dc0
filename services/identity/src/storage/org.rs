use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgUnitRow {
    pub id: Uuid,
    pub kind: String,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub time_zone: String,
    /// Ancestors, then the unit itself: region first.
    pub path: Vec<Uuid>,
}

impl OrgUnitRow {
    pub fn region_id(&self) -> Uuid {
        self.path.first().copied().unwrap_or(self.id)
    }

    pub fn is_within(&self, ancestor: Uuid) -> bool {
        self.path.contains(&ancestor)
    }
}

const COLUMNS: &str = "id, kind, parent_id, name, time_zone, path";

pub async fn get(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<OrgUnitRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM org_units WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(connection)
    .await
}

pub async fn insert(connection: &mut PgConnection, unit: &OrgUnitRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO org_units (id, kind, parent_id, name, time_zone, path) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(unit.id)
    .bind(&unit.kind)
    .bind(unit.parent_id)
    .bind(&unit.name)
    .bind(&unit.time_zone)
    .bind(&unit.path)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn find_region_by_name(
    connection: &mut PgConnection,
    name: &str,
) -> Result<Option<OrgUnitRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM org_units WHERE kind = 'region' AND lower(name) = lower($1)"
    )))
    .bind(name)
    .fetch_optional(connection)
    .await
}

/// Children of `parent` in name order, after the unit `after` (paging).
pub async fn children(
    connection: &mut PgConnection,
    parent: Uuid,
    after: Option<(String, Uuid)>,
    limit: i64,
) -> Result<Vec<OrgUnitRow>, sqlx::Error> {
    let (after_name, after_id) = after.unwrap_or_default();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM org_units WHERE parent_id = $1 AND (name, id) > ($2, $3) \
         ORDER BY name, id LIMIT $4"
    )))
    .bind(parent)
    .bind(after_name)
    .bind(after_id)
    .bind(limit)
    .fetch_all(connection)
    .await
}
