//! The directory's tables: org units, people's names, role grants,
//! guardian links, rights cells. Written only by the [`crate::consumer`];
//! no rules here beyond what the schema enforces.

use sqlx::PgConnection;
use uuid::Uuid;

pub async fn upsert_org_unit(
    connection: &mut PgConnection,
    id: Uuid,
    kind: &str,
    parent_id: Option<Uuid>,
    name: &str,
    time_zone: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO known_org_units (id, kind, parent_id, name, time_zone) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, time_zone = excluded.time_zone",
    )
    .bind(id)
    .bind(kind)
    .bind(parent_id)
    .bind(name)
    .bind(time_zone)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn upsert_person(
    connection: &mut PgConnection,
    id: Uuid,
    last_name: &str,
    first_name: &str,
    middle_name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO known_people (id, last_name, first_name, middle_name) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET last_name = excluded.last_name, \
             first_name = excluded.first_name, middle_name = excluded.middle_name",
    )
    .bind(id)
    .bind(last_name)
    .bind(first_name)
    .bind(middle_name)
    .execute(connection)
    .await
    .map(|_| ())
}

/// Records a grant; a revocation seen first (events may arrive out of
/// order after retries) is kept.
pub async fn record_grant(
    connection: &mut PgConnection,
    id: Uuid,
    person_id: Uuid,
    role: &str,
    org_unit_id: Uuid,
    revoked: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO known_grants (id, person_id, role, org_unit_id, revoked) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET revoked = known_grants.revoked OR excluded.revoked",
    )
    .bind(id)
    .bind(person_id)
    .bind(role)
    .bind(org_unit_id)
    .bind(revoked)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn link_guardian(
    connection: &mut PgConnection,
    parent_id: Uuid,
    student_id: Uuid,
    linked: bool,
) -> Result<(), sqlx::Error> {
    let query = if linked {
        "INSERT INTO guardians (parent_id, student_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM guardians WHERE parent_id = $1 AND student_id = $2"
    };
    sqlx::query(query)
        .bind(parent_id)
        .bind(student_id)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn set_right_cell(
    connection: &mut PgConnection,
    org_unit_id: Uuid,
    role: &str,
    name: &str,
    allowed: bool,
    adjustable: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO right_cells (org_unit_id, role, name, allowed, adjustable) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org_unit_id, role, name) DO UPDATE \
         SET allowed = excluded.allowed, adjustable = excluded.adjustable",
    )
    .bind(org_unit_id)
    .bind(role)
    .bind(name)
    .bind(allowed)
    .bind(adjustable)
    .execute(connection)
    .await
    .map(|_| ())
}

/// A school as the directory knows it, with the units above it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct School {
    pub id: Uuid,
    pub name: String,
    pub time_zone: String,
    pub municipality_id: Option<Uuid>,
    pub region_id: Option<Uuid>,
}

impl School {
    /// Whether a grant at `unit` covers this school.
    pub fn is_within(&self, unit: Uuid) -> bool {
        self.id == unit || self.municipality_id == Some(unit) || self.region_id == Some(unit)
    }
}

pub async fn school(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<School>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.name, s.time_zone, m.id AS municipality_id, r.id AS region_id \
         FROM known_org_units s \
         LEFT JOIN known_org_units m ON m.id = s.parent_id \
         LEFT JOIN known_org_units r ON r.id = m.parent_id \
         WHERE s.id = $1 AND s.kind = 'school'",
    )
    .bind(id)
    .fetch_optional(connection)
    .await
}

/// The rights cells stored for a unit: (role, right, allowed, adjustable).
pub async fn right_cells(
    connection: &mut PgConnection,
    unit: Uuid,
) -> Result<Vec<(String, String, bool, bool)>, sqlx::Error> {
    sqlx::query_as("SELECT role, name, allowed, adjustable FROM right_cells WHERE org_unit_id = $1")
        .bind(unit)
        .fetch_all(connection)
        .await
}

/// Whether identity's events about `person` have reached this service: their
/// record and at least one grant.
pub async fn knows(pool: &sqlx::PgPool, person: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM known_grants WHERE person_id = $1) \
         AND EXISTS (SELECT 1 FROM known_people WHERE id = $1)",
    )
    .bind(person)
    .fetch_one(pool)
    .await
}

/// Whether identity has told us the grant was revoked.
pub async fn grant_revoked(
    connection: &mut PgConnection,
    grant: Uuid,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query_scalar::<_, bool>("SELECT revoked FROM known_grants WHERE id = $1")
            .bind(grant)
            .fetch_optional(connection)
            .await?
            .unwrap_or(false),
    )
}

/// Whether `person` holds one of `roles` at `school`, not revoked.
pub async fn holds_role(
    connection: &mut PgConnection,
    person: Uuid,
    roles: &[&str],
    school: Uuid,
) -> Result<bool, sqlx::Error> {
    let roles: Vec<String> = roles.iter().map(|role| (*role).to_owned()).collect();
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM known_grants \
         WHERE person_id = $1 AND org_unit_id = $3 AND role = ANY($2) AND NOT revoked)",
    )
    .bind(person)
    .bind(&roles)
    .bind(school)
    .fetch_one(connection)
    .await
}

pub async fn is_guardian(
    connection: &mut PgConnection,
    parent: Uuid,
    student: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM guardians WHERE parent_id = $1 AND student_id = $2)",
    )
    .bind(parent)
    .bind(student)
    .fetch_one(connection)
    .await
}

/// "Петров Иван Сергеевич", or an empty string for someone not known yet.
pub async fn full_name(connection: &mut PgConnection, person: Uuid) -> Result<String, sqlx::Error> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT concat_ws(' ', last_name, first_name, NULLIF(middle_name, '')) \
         FROM known_people WHERE id = $1",
    )
    .bind(person)
    .fetch_optional(connection)
    .await?
    .unwrap_or_default())
}

/// An org unit's kind ("region", "municipality", "school") and parent.
pub async fn org_unit(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(String, Option<Uuid>)>, sqlx::Error> {
    sqlx::query_as("SELECT kind, parent_id FROM known_org_units WHERE id = $1")
        .bind(id)
        .fetch_optional(connection)
        .await
}
