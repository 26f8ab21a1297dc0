//! A region's mail rules; a region that set none has the defaults.

use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Rules {
    pub families_write_to_families: bool,
    pub students_write_to_all_staff: bool,
    pub deleted_retention_days: i32,
    pub parent_messages_per_hour: i32,
    pub student_messages_per_hour: i32,
    pub staff_messages_per_hour: i32,
}

impl Default for Rules {
    /// Nobody writes to another family; students to their own teachers;
    /// deleted mail kept a month; parents far fewer letters an hour than
    /// staff, who write to whole classes.
    fn default() -> Self {
        Self {
            families_write_to_families: false,
            students_write_to_all_staff: false,
            deleted_retention_days: 30,
            parent_messages_per_hour: 20,
            student_messages_per_hour: 20,
            staff_messages_per_hour: 300,
        }
    }
}

pub async fn of(connection: &mut PgConnection, region: Uuid) -> Result<Rules, sqlx::Error> {
    Ok(sqlx::query_as(
        "SELECT families_write_to_families, students_write_to_all_staff, deleted_retention_days, \
                parent_messages_per_hour, student_messages_per_hour, staff_messages_per_hour \
         FROM mail_rules WHERE region_id = $1",
    )
    .bind(region)
    .fetch_optional(connection)
    .await?
    .unwrap_or_default())
}

pub async fn set(
    connection: &mut PgConnection,
    region: Uuid,
    rules: &Rules,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mail_rules (region_id, families_write_to_families, students_write_to_all_staff, \
             deleted_retention_days, parent_messages_per_hour, student_messages_per_hour, \
             staff_messages_per_hour) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (region_id) DO UPDATE SET \
             families_write_to_families = excluded.families_write_to_families, \
             students_write_to_all_staff = excluded.students_write_to_all_staff, \
             deleted_retention_days = excluded.deleted_retention_days, \
             parent_messages_per_hour = excluded.parent_messages_per_hour, \
             student_messages_per_hour = excluded.student_messages_per_hour, \
             staff_messages_per_hour = excluded.staff_messages_per_hour",
    )
    .bind(region)
    .bind(rules.families_write_to_families)
    .bind(rules.students_write_to_all_staff)
    .bind(rules.deleted_retention_days)
    .bind(rules.parent_messages_per_hour)
    .bind(rules.student_messages_per_hour)
    .bind(rules.staff_messages_per_hour)
    .execute(connection)
    .await
    .map(|_| ())
}
