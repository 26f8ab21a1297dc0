use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonRow {
    pub id: Uuid,
    pub org_unit_id: Uuid,
    pub last_name: String,
    pub first_name: String,
    pub middle_name: String,
    pub birth_date: Date,
    pub snils_cipher: Option<Vec<u8>>,
    pub snils_hash: Option<Vec<u8>>,
    pub email: String,
    pub phone: String,
}

impl PersonRow {
    pub fn full_name(&self) -> String {
        [
            self.last_name.as_str(),
            self.first_name.as_str(),
            self.middle_name.as_str(),
        ]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
    }
}

const COLUMNS: &str = "id, org_unit_id, last_name, first_name, middle_name, birth_date, \
                       snils_cipher, snils_hash, email, phone";

pub async fn insert(connection: &mut PgConnection, person: &PersonRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO people (id, org_unit_id, last_name, first_name, middle_name, birth_date, \
         snils_cipher, snils_hash, email, phone) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(person.id)
    .bind(person.org_unit_id)
    .bind(&person.last_name)
    .bind(&person.first_name)
    .bind(&person.middle_name)
    .bind(person.birth_date)
    .bind(&person.snils_cipher)
    .bind(&person.snils_hash)
    .bind(&person.email)
    .bind(&person.phone)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn get(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<PersonRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM people WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(connection)
    .await
}

/// The person, their row locked until the transaction ends: what the
/// person's access reaches and whether they have a local login are then
/// decided one change at a time (a guardian link, a new login), never by
/// two that each saw the other's state as before.
pub async fn get_for_update(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<PersonRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM people WHERE id = $1 FOR NO KEY UPDATE"
    )))
    .bind(id)
    .fetch_optional(connection)
    .await
}

pub async fn find_by_snils_hash(
    connection: &mut PgConnection,
    hash: &[u8],
) -> Result<Option<PersonRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM people WHERE snils_hash = $1"
    )))
    .bind(hash)
    .fetch_optional(connection)
    .await
}

/// Links parent and student; false when they were linked already.
pub async fn link_guardian(
    connection: &mut PgConnection,
    parent: Uuid,
    student: Uuid,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO guardians (parent_id, student_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(parent)
    .bind(student)
    .execute(connection)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn unlink_guardian(
    connection: &mut PgConnection,
    parent: Uuid,
    student: Uuid,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM guardians WHERE parent_id = $1 AND student_id = $2")
        .bind(parent)
        .bind(student)
        .execute(connection)
        .await?;
    Ok(deleted.rows_affected() == 1)
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

pub async fn children(
    connection: &mut PgConnection,
    parent: Uuid,
) -> Result<Vec<PersonRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM people p WHERE id IN (SELECT student_id FROM guardians WHERE parent_id = $1) \
         ORDER BY last_name, first_name, id"
    )))
    .bind(parent)
    .fetch_all(connection)
    .await
}

/// Replaces the person's data (not their unit).
pub async fn update(connection: &mut PgConnection, person: &PersonRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE people SET last_name = $2, first_name = $3, middle_name = $4, birth_date = $5, \
         snils_cipher = $6, snils_hash = $7, email = $8, phone = $9, updated_at = now() WHERE id = $1",
    )
    .bind(person.id)
    .bind(&person.last_name)
    .bind(&person.first_name)
    .bind(&person.middle_name)
    .bind(person.birth_date)
    .bind(&person.snils_cipher)
    .bind(&person.snils_hash)
    .bind(&person.email)
    .bind(&person.phone)
    .execute(connection)
    .await
    .map(|_| ())
}
