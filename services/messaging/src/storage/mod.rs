//! Messaging's queries, one module per aggregate, each taking a
//! connection or a transaction.

pub mod announcements;
pub mod attachments;
pub mod mail;
pub mod rules;

use asurso_proto::common::OrgScope;
use sqlx::PgConnection;
use uuid::Uuid;

/// The org scope of a unit (a school, a municipality, a region), as events
/// carry it.
pub async fn scope_of(connection: &mut PgConnection, unit: Uuid) -> Result<OrgScope, sqlx::Error> {
    let row: Option<(String, Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "SELECT u.kind, m.id, r.id FROM known_org_units u \
         LEFT JOIN known_org_units m ON m.id = u.parent_id \
         LEFT JOIN known_org_units r ON r.id = m.parent_id WHERE u.id = $1",
    )
    .bind(unit)
    .fetch_optional(connection)
    .await?;
    let text = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    Ok(match row {
        Some((kind, parent, grandparent)) => match kind.as_str() {
            "school" => OrgScope {
                region_id: text(grandparent),
                municipality_id: text(parent),
                school_id: unit.to_string(),
            },
            "municipality" => OrgScope {
                region_id: text(parent),
                municipality_id: unit.to_string(),
                school_id: String::new(),
            },
            _ => OrgScope {
                region_id: unit.to_string(),
                ..OrgScope::default()
            },
        },
        None => OrgScope::default(),
    })
}
