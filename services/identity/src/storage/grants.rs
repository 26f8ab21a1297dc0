use sqlx::PgConnection;
use uuid::Uuid;

/// An active or revoked grant, with its unit's kind and name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub id: Uuid,
    pub person_id: Uuid,
    pub role: String,
    pub org_unit_id: Uuid,
    pub org_unit_kind: String,
    pub org_unit_name: String,
    /// The region the grant's unit is in (the first of its path).
    pub region_id: Uuid,
    pub revoked: bool,
}

const SELECT: &str = "SELECT g.id, g.person_id, g.role, g.org_unit_id, u.kind AS org_unit_kind, \
                      u.name AS org_unit_name, u.path[1] AS region_id, \
                      g.revoked_at IS NOT NULL AS revoked \
                      FROM grants g JOIN org_units u ON u.id = g.org_unit_id";

/// Grants the role; returns the new grant's id, or the existing active one's.
pub async fn grant(
    connection: &mut PgConnection,
    person: Uuid,
    role: &str,
    org_unit: Uuid,
    granted_by: Option<Uuid>,
) -> Result<(Uuid, bool), sqlx::Error> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO grants (id, person_id, role, org_unit_id, granted_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (person_id, role, org_unit_id) WHERE revoked_at IS NULL DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(person)
    .bind(role)
    .bind(org_unit)
    .bind(granted_by)
    .fetch_optional(&mut *connection)
    .await?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    let existing: Uuid = sqlx::query_scalar(
        "SELECT id FROM grants WHERE person_id = $1 AND role = $2 AND org_unit_id = $3 AND revoked_at IS NULL",
    )
    .bind(person)
    .bind(role)
    .bind(org_unit)
    .fetch_one(connection)
    .await?;
    Ok((existing, false))
}

pub async fn get(connection: &mut PgConnection, id: Uuid) -> Result<Option<GrantRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE g.id = $1")))
        .bind(id)
        .fetch_optional(connection)
        .await
}

pub async fn active_of(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<Vec<GrantRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE g.person_id = $1 AND g.revoked_at IS NULL ORDER BY g.granted_at, g.id"
    )))
    .bind(person)
    .fetch_all(connection)
    .await
}

/// Revokes an active grant; false when it was not active.
pub async fn revoke(connection: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let updated =
        sqlx::query("UPDATE grants SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .execute(connection)
            .await?;
    Ok(updated.rows_affected() == 1)
}

/// Whether the person holds the role anywhere.
pub async fn has_role(
    connection: &mut PgConnection,
    person: Uuid,
    role: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM grants WHERE person_id = $1 AND role = $2 AND revoked_at IS NULL)",
    )
    .bind(person)
    .bind(role)
    .fetch_one(connection)
    .await
}

/// Every org unit the person's access reaches: their own unit, the units of
/// their standing grants, and, for each child they are a guardian of, the
/// child's unit and every unit where the child holds a standing student
/// grant (a guardian reads the child's diary and marks there).
pub async fn units_reached(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT org_unit_id FROM people WHERE id = $1 \
         UNION SELECT org_unit_id FROM grants WHERE person_id = $1 AND revoked_at IS NULL \
         UNION SELECT child.org_unit_id FROM guardians g \
               JOIN people child ON child.id = g.student_id WHERE g.parent_id = $1 \
         UNION SELECT s.org_unit_id FROM guardians g \
               JOIN grants s ON s.person_id = g.student_id \
               WHERE g.parent_id = $1 AND s.role = 'student' AND s.revoked_at IS NULL \
         ORDER BY 1",
    )
    .bind(person)
    .fetch_all(connection)
    .await
}

/// Every org unit a guardian of the student reaches through them, as
/// `units_reached` counts a child: the student's own unit and every unit
/// where they hold a standing student grant.
pub async fn units_of_student(
    connection: &mut PgConnection,
    student: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT org_unit_id FROM people WHERE id = $1 \
         UNION SELECT org_unit_id FROM grants \
               WHERE person_id = $1 AND role = 'student' AND revoked_at IS NULL \
         ORDER BY 1",
    )
    .bind(student)
    .fetch_all(connection)
    .await
}
