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

/// A school's public card; every text empty where nobody filled it in.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct SchoolCardRow {
    pub school_id: Uuid,
    pub full_name: String,
    pub short_name: String,
    pub about: String,
    pub legal_address: String,
    pub postal_address: String,
    pub email: String,
    pub website: String,
    pub phones: String,
    pub director: String,
    pub deputy_administration: String,
    pub deputy_it: String,
    pub deputy_education: String,
}

macro_rules! card_select {
    () => {
        "SELECT u.id AS school_id, u.name AS full_name, \
         COALESCE(c.short_name, '') AS short_name, COALESCE(c.about, '') AS about, \
         COALESCE(c.legal_address, '') AS legal_address, \
         COALESCE(c.postal_address, '') AS postal_address, COALESCE(c.email, '') AS email, \
         COALESCE(c.website, '') AS website, COALESCE(c.phones, '') AS phones, \
         COALESCE(c.director, '') AS director, \
         COALESCE(c.deputy_administration, '') AS deputy_administration, \
         COALESCE(c.deputy_it, '') AS deputy_it, \
         COALESCE(c.deputy_education, '') AS deputy_education \
         FROM org_units u LEFT JOIN school_cards c ON c.school_id = u.id \
         WHERE u.kind = 'school' "
    };
}

/// The card of a school; none when `school` is no school.
pub async fn card(
    connection: &mut PgConnection,
    school: Uuid,
) -> Result<Option<SchoolCardRow>, sqlx::Error> {
    sqlx::query_as(concat!(card_select!(), "AND u.id = $1"))
        .bind(school)
        .fetch_optional(connection)
        .await
}

/// Schools whose name or short name contains `part` (any case), in name
/// order after `after` (paging).
pub async fn search_schools(
    connection: &mut PgConnection,
    part: &str,
    after: Option<(String, Uuid)>,
    limit: i64,
) -> Result<Vec<SchoolCardRow>, sqlx::Error> {
    let (after_name, after_id) = after.unwrap_or_default();
    sqlx::query_as(concat!(
        card_select!(),
        "AND ($1 = '' OR strpos(lower(u.name), lower($1)) > 0 \
              OR strpos(lower(COALESCE(c.short_name, '')), lower($1)) > 0) \
         AND (u.name, u.id) > ($2, $3) ORDER BY u.name, u.id LIMIT $4"
    ))
    .bind(part)
    .bind(after_name)
    .bind(after_id)
    .bind(limit)
    .fetch_all(connection)
    .await
}

/// Replaces a school's card.
pub async fn set_card(
    connection: &mut PgConnection,
    card: &SchoolCardRow,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO school_cards (school_id, short_name, about, legal_address, postal_address, \
           email, website, phones, director, deputy_administration, deputy_it, deputy_education, \
           updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (school_id) DO UPDATE SET short_name = EXCLUDED.short_name, \
           about = EXCLUDED.about, legal_address = EXCLUDED.legal_address, \
           postal_address = EXCLUDED.postal_address, email = EXCLUDED.email, \
           website = EXCLUDED.website, phones = EXCLUDED.phones, director = EXCLUDED.director, \
           deputy_administration = EXCLUDED.deputy_administration, \
           deputy_it = EXCLUDED.deputy_it, deputy_education = EXCLUDED.deputy_education, \
           updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(card.school_id)
    .bind(&card.short_name)
    .bind(&card.about)
    .bind(&card.legal_address)
    .bind(&card.postal_address)
    .bind(&card.email)
    .bind(&card.website)
    .bind(&card.phones)
    .bind(&card.director)
    .bind(&card.deputy_administration)
    .bind(&card.deputy_it)
    .bind(&card.deputy_education)
    .bind(by)
    .execute(connection)
    .await
    .map(|_| ())
}
