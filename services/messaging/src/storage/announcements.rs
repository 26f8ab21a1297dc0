//! The board: announcements stored once, read through each person's
//! memberships (never copied per reader).

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{access::Audience, domain::Cursor};

pub struct NewAnnouncement<'a> {
    pub id: Uuid,
    pub audience: &'a Audience,
    pub roles: &'a [String],
    pub author: Uuid,
    pub author_role: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub format: &'a str,
    pub visible_from: OffsetDateTime,
    pub visible_until: Option<OffsetDateTime>,
    pub pinned: bool,
}

pub async fn insert(
    connection: &mut PgConnection,
    new: &NewAnnouncement<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO announcements (id, audience_id, audience_kind, audience_name, region_id, school_id, \
             roles, author_id, author_role, title, body, format, visible_from, visible_until, pinned) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(new.id)
    .bind(new.audience.id)
    .bind(new.audience.kind)
    .bind(&new.audience.name)
    .bind(new.audience.region)
    .bind(new.audience.school)
    .bind(new.roles)
    .bind(new.author)
    .bind(new.author_role)
    .bind(new.title)
    .bind(new.body)
    .bind(new.format)
    .bind(new.visible_from)
    .bind(new.visible_until)
    .bind(new.pinned)
    .execute(connection)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: Uuid,
    pub audience_id: Uuid,
    pub audience_kind: String,
    pub audience_name: String,
    pub region_id: Uuid,
    pub school_id: Option<Uuid>,
    pub roles: Vec<String>,
    pub author_id: Uuid,
    pub author_name: String,
    pub title: String,
    pub body: String,
    pub format: String,
    pub visible_from: OffsetDateTime,
    pub visible_until: Option<OffsetDateTime>,
    pub pinned: bool,
    pub published_at: OffsetDateTime,
}

/// A query of announcements: the columns of [`Row`], then `$rest`.
macro_rules! row {
    ($rest:literal) => {
        concat!("SELECT a.id, a.audience_id, a.audience_kind, a.audience_name, a.region_id, a.school_id, \
        a.roles, a.author_id, \
        coalesce(concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')), '') AS author_name, \
        a.title, a.body, a.format, a.visible_from, a.visible_until, a.pinned, a.published_at \
    FROM announcements a LEFT JOIN known_people p ON p.id = a.author_id ", $rest)
    };
}

// A reader is in an announcement's audience when one of their
// memberships (`$1[i]` in role `$2[i]`) is its unit or class, in one of its
// roles (or it has none).

/// One page of the board of `reader` with these memberships: in its
/// window, not withdrawn, pinned first, then newest first, and what the
/// reader posted themself among it. Each membership's first page comes
/// from the audience index in order (and the reader's own from the author
/// index); the pages are merged, so the cost is memberships × page, never
/// the board.
pub async fn board(
    connection: &mut PgConnection,
    (units, roles): (&[Uuid], &[String]),
    reader: Uuid,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(
        "WITH candidates AS ( \
             SELECT x.id, x.pinned, x.visible_from \
             FROM unnest($1::uuid[], $2::text[]) AS m (unit, role) \
             CROSS JOIN LATERAL ( \
                 SELECT a.id, a.pinned, a.visible_from FROM announcements a \
                 WHERE a.audience_id = m.unit AND a.withdrawn_at IS NULL \
                   AND (cardinality(a.roles) = 0 OR m.role = ANY(a.roles)) \
                   AND a.visible_from <= now() \
                   AND (a.visible_until IS NULL OR a.visible_until > now()) \
                   AND ($3::timestamptz IS NULL OR (a.pinned, a.visible_from, a.id) < ($5, $3, $4)) \
                 ORDER BY a.pinned DESC, a.visible_from DESC, a.id DESC LIMIT $6) x \
             UNION \
             (SELECT a.id, a.pinned, a.visible_from FROM announcements a \
              WHERE a.author_id = $7 AND a.withdrawn_at IS NULL \
                AND a.visible_from <= now() \
                AND (a.visible_until IS NULL OR a.visible_until > now()) \
                AND ($3::timestamptz IS NULL OR (a.pinned, a.visible_from, a.id) < ($5, $3, $4)) \
              ORDER BY a.pinned DESC, a.visible_from DESC, a.id DESC LIMIT $6)), \
         page AS ( \
             SELECT id FROM candidates \
             ORDER BY pinned DESC, visible_from DESC, id DESC LIMIT $6) \
         SELECT a.id, a.audience_id, a.audience_kind, a.audience_name, a.region_id, a.school_id, \
             a.roles, a.author_id, \
             coalesce(concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')), '') AS author_name, \
             a.title, a.body, a.format, a.visible_from, a.visible_until, a.pinned, a.published_at \
         FROM page JOIN announcements a ON a.id = page.id \
         LEFT JOIN known_people p ON p.id = a.author_id \
         ORDER BY a.pinned DESC, a.visible_from DESC, a.id DESC",
    )
    .bind(units)
    .bind(roles)
    .bind(after.map(|cursor| cursor.at))
    .bind(after.map(|cursor| cursor.id))
    .bind(after.is_some_and(|cursor| cursor.pinned))
    .bind(limit)
    .bind(reader)
    .fetch_all(connection)
    .await
}

/// The announcement if the reader may see it: in their audience and in
/// its window, or their own.
pub async fn visible(
    connection: &mut PgConnection,
    (units, roles): (&[Uuid], &[String]),
    reader: Uuid,
    id: Uuid,
) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(row!(
        "WHERE a.id = $3 AND a.withdrawn_at IS NULL AND (a.author_id = $4 OR ( \
           EXISTS (SELECT 1 FROM unnest($1::uuid[], $2::text[]) AS m (unit, role) \
               WHERE m.unit = a.audience_id AND (cardinality(a.roles) = 0 OR m.role = ANY(a.roles))) \
           AND a.visible_from <= now() AND (a.visible_until IS NULL OR a.visible_until > now())))"
    ))
    .bind(units)
    .bind(roles)
    .bind(id)
    .bind(reader)
    .fetch_optional(connection)
    .await
}

pub async fn get(connection: &mut PgConnection, id: Uuid) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(row!("WHERE a.id = $1 AND a.withdrawn_at IS NULL"))
        .bind(id)
        .fetch_optional(connection)
        .await
}

pub async fn withdraw(connection: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE announcements SET withdrawn_at = now() WHERE id = $1 AND withdrawn_at IS NULL",
    )
    .bind(id)
    .execute(connection)
    .await?
    .rows_affected()
        == 1)
}
