//! Giving a notification to its recipients, in the transaction of the event
//! that caused it: one feed entry per person (at the next cursor of their
//! feed), and the e-mails and pushes their preferences ask for. The commit
//! wakes every replica's subscribers and senders (PostgreSQL NOTIFY is
//! delivered on commit and never otherwise).

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Channel, Draft, channels_of};

/// NOTIFY channels: a person's feed grew (payload: their id); deliveries
/// are due.
pub const FEED_CHANNEL: &str = "asurso_feed";
pub const DELIVERY_CHANNEL: &str = "asurso_deliveries";

/// What one notification became.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Given {
    pub entries: u64,
    pub deliveries: u64,
}

/// Gives `draft` to `recipients` (each once, whatever the list repeats).
/// `event_id` makes it once per event: a second call for the same event
/// and person adds nothing. Three statements whatever the number of
/// people (two when nobody takes e-mail or push for this kind).
pub async fn give(
    transaction: &mut PgConnection,
    event_id: Uuid,
    recipients: &[Uuid],
    draft: &Draft,
) -> Result<Given, sqlx::Error> {
    let mut people = recipients.to_vec();
    people.sort_unstable();
    people.dedup();
    if people.is_empty() {
        return Ok(Given::default());
    }

    // Each person's channels for this kind, and whether the region lets
    // e-mails and pushes carry details.
    let choices: Vec<(Uuid, Option<Vec<String>>, bool)> = sqlx::query_as(
        "WITH RECURSIVE up AS ( \
             SELECT id, parent_id, kind FROM known_org_units WHERE id = $3 \
             UNION ALL \
             SELECT u.id, u.parent_id, u.kind FROM known_org_units u JOIN up ON u.id = up.parent_id), \
         details AS ( \
             SELECT coalesce(bool_or(r.details_outside), false) AS allowed \
             FROM up JOIN region_policies r ON r.region_id = up.id WHERE up.kind = 'region') \
         SELECT p.id, c.channels, (SELECT allowed FROM details) \
         FROM unnest($1::uuid[]) AS p(id) \
         LEFT JOIN channel_choices c ON c.person_id = p.id AND c.kind = $2 ORDER BY p.id",
    )
    .bind(&people)
    .bind(draft.kind.name())
    .bind(draft.school)
    .fetch_all(&mut *transaction)
    .await?;
    let region_allows = choices.first().is_some_and(|(_, _, allowed)| *allowed);
    let (outside_title, outside_body) = draft.outside(region_allows);
    let mut in_feed = Vec::with_capacity(people.len());
    let mut by_email = Vec::new();
    let mut by_push = Vec::new();
    for (person, chosen, _) in &choices {
        let channels = channels_of(draft.kind, chosen.as_deref());
        in_feed.push(channels.contains(&Channel::Feed));
        if channels.contains(&Channel::Email) {
            by_email.push(*person);
        }
        if channels.contains(&Channel::Push) {
            by_push.push(*person);
        }
    }
    let people: Vec<Uuid> = choices.iter().map(|(person, ..)| *person).collect();
    let ids: Vec<Uuid> = people.iter().map(|_| Uuid::now_v7()).collect();

    // One statement: the next cursor of each feed (taken in id order, so
    // two single notifications to overlapping people never wait on each
    // other in a circle; two batches of several may, and PostgreSQL then
    // fails one, which its consumer applies again event by event), the
    // entries, and the wake-ups their commit sends.
    let given: Vec<(Uuid, bool, i64)> = sqlx::query_as(
        "WITH heads AS ( \
             INSERT INTO feed_heads AS h (person_id, last_cursor) \
             SELECT id, 1 FROM unnest($1::uuid[]) AS p(id) ORDER BY id \
             ON CONFLICT (person_id) DO UPDATE SET last_cursor = h.last_cursor + 1 \
             RETURNING person_id, last_cursor), \
         given AS ( \
             INSERT INTO notifications (id, person_id, cursor, event_id, kind, title, body, \
                 outside_title, outside_body, link, student_id, school_id, in_feed) \
             SELECT n.id, n.person_id, heads.last_cursor, $4, $5, $6, $7, $8, $9, $10, $11, $12, n.in_feed \
             FROM unnest($1::uuid[], $2::uuid[], $3::boolean[]) AS n(person_id, id, in_feed) \
             JOIN heads ON heads.person_id = n.person_id \
             ON CONFLICT (event_id, person_id) DO NOTHING \
             RETURNING person_id, in_feed), \
         woke AS (SELECT pg_notify($13, person_id::text) FROM given WHERE in_feed) \
         SELECT person_id, in_feed, (SELECT count(*) FROM woke) FROM given",
    )
    .bind(&people)
    .bind(&ids)
    .bind(&in_feed)
    .bind(event_id)
    .bind(draft.kind.name())
    .bind(&draft.title)
    .bind(&draft.body)
    .bind(outside_title)
    .bind(outside_body)
    .bind(&draft.link)
    .bind(draft.student)
    .bind(draft.school)
    .bind(FEED_CHANNEL)
    .fetch_all(&mut *transaction)
    .await?;
    // Entries that already were (a repeat of the event for someone) stay
    // as they were; deliveries below are made once each whatever repeats.
    let result_entries = given.iter().filter(|(_, feed, _)| *feed).count() as u64;
    let mut result = Given {
        entries: result_entries,
        deliveries: 0,
    };
    if given.is_empty() || (by_email.is_empty() && by_push.is_empty()) {
        return Ok(result);
    }

    // E-mail to confirmed addresses not switched off, unless the person
    // takes a daily digest instead; push to every live subscription; and
    // the senders woken on commit.
    let (made, _woken): (i64, i64) = sqlx::query_as(
        "WITH made AS ( \
             INSERT INTO deliveries (notification_id, channel, target, person_id) \
             SELECT n.id, 'email', p.email, p.person_id \
             FROM notifications n JOIN preferences p ON p.person_id = n.person_id \
             WHERE n.event_id = $1 AND n.person_id = ANY($2) \
               AND p.email <> '' AND p.email_confirmed AND p.email_disabled_reason = '' \
               AND NOT p.digest_enabled \
             UNION ALL \
             SELECT n.id, 'push', s.id::text, s.person_id \
             FROM notifications n JOIN push_subscriptions s ON s.person_id = n.person_id \
             WHERE n.event_id = $1 AND n.person_id = ANY($3) AND s.gone_at IS NULL \
             ON CONFLICT DO NOTHING \
             RETURNING 1), \
         woke AS (SELECT pg_notify($4, '') FROM (SELECT 1 FROM made LIMIT 1) AS first_made) \
         SELECT (SELECT count(*) FROM made), (SELECT count(*) FROM woke)",
    )
    .bind(event_id)
    .bind(&by_email)
    .bind(&by_push)
    .bind(DELIVERY_CHANNEL)
    .fetch_one(&mut *transaction)
    .await?;
    result.deliveries = made.unsigned_abs();
    Ok(result)
}

/// Wakes the subscribers of `people` and, if asked, the senders, when the
/// transaction commits.
pub async fn wake(
    transaction: &mut PgConnection,
    people: &[String],
    deliveries: bool,
) -> Result<(), sqlx::Error> {
    if !people.is_empty() {
        sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(FEED_CHANNEL)
            .bind(people)
            .execute(&mut *transaction)
            .await?;
    }
    if deliveries {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(DELIVERY_CHANNEL)
            .execute(&mut *transaction)
            .await?;
    }
    Ok(())
}

/// One entry of a person's feed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub id: Uuid,
    pub cursor: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub student_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}

const ENTRY_COLUMNS: &str = "id, cursor, kind, title, body, link, student_id, created_at, read_at";

/// Entries after `cursor`, oldest first, at most `limit`.
pub async fn after(
    connection: &mut PgConnection,
    person: Uuid,
    cursor: i64,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM notifications \
         WHERE person_id = $1 AND in_feed AND cursor > $2 ORDER BY cursor LIMIT $3"
    )))
    .bind(person)
    .bind(cursor)
    .bind(limit)
    .fetch_all(connection)
    .await
}

/// A page of the feed, newest first, before `before` (a cursor) if given.
pub async fn page(
    connection: &mut PgConnection,
    person: Uuid,
    before: Option<i64>,
    unread_only: bool,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM notifications \
         WHERE person_id = $1 AND in_feed AND ($2::bigint IS NULL OR cursor < $2) \
           AND (NOT $3 OR read_at IS NULL) \
         ORDER BY cursor DESC LIMIT $4"
    )))
    .bind(person)
    .bind(before)
    .bind(unread_only)
    .bind(limit)
    .fetch_all(connection)
    .await
}

pub async fn unread(connection: &mut PgConnection, person: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE person_id = $1 AND in_feed AND read_at IS NULL",
    )
    .bind(person)
    .fetch_one(connection)
    .await
}

/// The feed's latest cursor (0 when empty).
pub async fn head(connection: &mut PgConnection, person: Uuid) -> Result<i64, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT last_cursor FROM feed_heads WHERE person_id = $1")
            .bind(person)
            .fetch_optional(connection)
            .await?
            .unwrap_or(0),
    )
}

/// Marks the person's own entries read (others' ids match nothing).
pub async fn mark_read(
    connection: &mut PgConnection,
    person: Uuid,
    ids: Option<&[Uuid]>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE notifications SET read_at = now() \
         WHERE person_id = $1 AND in_feed AND read_at IS NULL AND ($2::uuid[] IS NULL OR id = ANY($2))",
    )
    .bind(person)
    .bind(ids)
    .execute(connection)
    .await?
    .rows_affected())
}

/// A notification that never shows in the feed (a confirmation code, a
/// digest): its id, for the delivery that carries it.
pub async fn outside_only(
    transaction: &mut PgConnection,
    person: Uuid,
    draft: &Draft,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    let cursor: i64 = sqlx::query_scalar(
        "INSERT INTO feed_heads AS h (person_id, last_cursor) VALUES ($1, 1) \
         ON CONFLICT (person_id) DO UPDATE SET last_cursor = h.last_cursor + 1 RETURNING last_cursor",
    )
    .bind(person)
    .fetch_one(&mut *transaction)
    .await?;
    sqlx::query(
        "INSERT INTO notifications (id, person_id, cursor, event_id, kind, title, body, \
             outside_title, outside_body, link, school_id, in_feed) \
         VALUES ($1, $2, $3, $1, $4, $5, $6, $7, $8, $9, $10, false)",
    )
    .bind(id)
    .bind(person)
    .bind(cursor)
    .bind(draft.kind.name())
    .bind(&draft.title)
    .bind(&draft.body)
    .bind(&draft.plain_title)
    .bind(&draft.plain_body)
    .bind(&draft.link)
    .bind(draft.school)
    .execute(&mut *transaction)
    .await?;
    Ok(id)
}
