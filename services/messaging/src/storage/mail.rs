//! Letters, their envelopes and each person's mailbox.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::Cursor;

/// A letter about to be stored.
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub thread: Uuid,
    pub sender: Uuid,
    pub region: Option<Uuid>,
    pub unit: Uuid,
    pub subject: &'a str,
    pub body: &'a str,
    pub format: &'a str,
    pub reply_to: Option<Uuid>,
    pub forward_of: Option<Uuid>,
    /// A draft's encoded addresses; `None` for a letter sent.
    pub draft_addresses: Option<Vec<u8>>,
    pub recipient_count: i32,
    /// The groups it was addressed to, by name.
    pub groups: &'a [String],
}

pub async fn insert(
    connection: &mut PgConnection,
    message: &NewMessage<'_>,
) -> Result<OffsetDateTime, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO messages (id, thread_id, sender_id, region_id, org_unit_id, subject, body, format, \
             reply_to, forward_of, draft, draft_addresses, recipient_count, groups) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING sent_at",
    )
    .bind(message.id)
    .bind(message.thread)
    .bind(message.sender)
    .bind(message.region)
    .bind(message.unit)
    .bind(message.subject)
    .bind(message.body)
    .bind(message.format)
    .bind(message.reply_to)
    .bind(message.forward_of)
    .bind(message.draft_addresses.is_some())
    .bind(message.draft_addresses.as_deref())
    .bind(message.recipient_count)
    .bind(message.groups)
    .fetch_one(connection)
    .await
}

/// A draft's new content; `None` when it is no longer a draft (sent or
/// discarded meanwhile).
pub async fn update_draft(
    connection: &mut PgConnection,
    message: &NewMessage<'_>,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    let at: Option<OffsetDateTime> = sqlx::query_scalar(
        "UPDATE messages SET subject = $2, body = $3, format = $4, reply_to = $5, forward_of = $6, \
             draft_addresses = $7, sent_at = now() WHERE id = $1 AND draft RETURNING sent_at",
    )
    .bind(message.id)
    .bind(message.subject)
    .bind(message.body)
    .bind(message.format)
    .bind(message.reply_to)
    .bind(message.forward_of)
    .bind(message.draft_addresses.as_deref())
    .fetch_optional(&mut *connection)
    .await?;
    let Some(at) = at else {
        return Ok(None);
    };
    sqlx::query("UPDATE mailbox SET sort_at = $2 WHERE message_id = $1")
        .bind(message.id)
        .bind(at)
        .execute(connection)
        .await?;
    Ok(Some(at))
}

/// Locks a draft of `owner`'s until the transaction ends, so it is sent
/// (or changed) once; whether it is still a draft.
pub async fn lock_draft(
    connection: &mut PgConnection,
    owner: Uuid,
    draft: Uuid,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar::<_, i32>(
        "SELECT 1 FROM messages WHERE id = $1 AND sender_id = $2 AND draft FOR UPDATE",
    )
    .bind(draft)
    .bind(owner)
    .fetch_optional(connection)
    .await?
    .is_some())
}

/// One person a letter goes to: who, how (`to`, `cc`, `bcc`), and whether
/// through a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    pub person: Uuid,
    pub kind: &'static str,
    pub via_group: bool,
}

/// The envelope and every recipient's inbox copy, and the sender's copy in
/// `sender_folder`: two statements whatever the number of recipients.
pub async fn deliver(
    connection: &mut PgConnection,
    message: Uuid,
    sender: Uuid,
    sender_folder: &str,
    at: OffsetDateTime,
    recipients: &[Recipient],
) -> Result<(), sqlx::Error> {
    let people: Vec<Uuid> = recipients.iter().map(|r| r.person).collect();
    let kinds: Vec<&str> = recipients.iter().map(|r| r.kind).collect();
    let via_group: Vec<bool> = recipients.iter().map(|r| r.via_group).collect();
    sqlx::query(
        "INSERT INTO recipients (message_id, person_id, kind, via_group) \
         SELECT $1, person, kind, via_group \
         FROM unnest($2::uuid[], $3::text[], $4::boolean[]) AS r (person, kind, via_group)",
    )
    .bind(message)
    .bind(&people)
    .bind(&kinds)
    .bind(&via_group)
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO mailbox (owner_id, message_id, folder, read, sort_at) \
         SELECT $2, $1, $3, true, $4 \
         UNION ALL SELECT person, $1, 'inbox', false, $4 FROM unnest($5::uuid[]) AS person",
    )
    .bind(message)
    .bind(sender)
    .bind(sender_folder)
    .bind(at)
    .bind(&people)
    .execute(connection)
    .await?;
    Ok(())
}

/// The sender's copy of a draft.
pub async fn keep_draft(
    connection: &mut PgConnection,
    message: Uuid,
    sender: Uuid,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mailbox (owner_id, message_id, folder, read, sort_at) VALUES ($1, $2, 'drafts', true, $3)",
    )
    .bind(sender)
    .bind(message)
    .bind(at)
    .execute(connection)
    .await
    .map(|_| ())
}

/// Letters the sender sent in the last hour.
pub async fn sent_last_hour(
    connection: &mut PgConnection,
    sender: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE sender_id = $1 AND NOT draft \
         AND sent_at > now() - interval '1 hour'",
    )
    .bind(sender)
    .fetch_one(connection)
    .await
}

/// A letter as one of its people holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Held {
    pub id: Uuid,
    pub thread_id: Uuid,
    pub sender_id: Uuid,
    pub sender_name: String,
    pub subject: String,
    pub body: String,
    pub format: String,
    pub sent_at: OffsetDateTime,
    pub reply_to: Option<Uuid>,
    pub forward_of: Option<Uuid>,
    pub draft: bool,
    pub draft_addresses: Option<Vec<u8>>,
    pub recipient_count: i32,
    pub groups: Vec<String>,
    pub folder: String,
    pub read: bool,
    pub deleted: bool,
    pub has_attachments: bool,
}

/// A query of held letters: the columns of [`Held`], then `$rest`.
macro_rules! held {
    ($rest:literal) => {
        concat!("SELECT m.id, m.thread_id, m.sender_id, \
        coalesce(concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')), '') AS sender_name, \
        m.subject, m.body, m.format, m.sent_at, m.reply_to, m.forward_of, m.draft, m.draft_addresses, \
        m.recipient_count, m.groups, b.folder, b.read, b.deleted_at IS NOT NULL AS deleted, \
        EXISTS (SELECT 1 FROM message_attachments a WHERE a.message_id = m.id) AS has_attachments \
    FROM mailbox b JOIN messages m ON m.id = b.message_id \
    LEFT JOIN known_people p ON p.id = m.sender_id ", $rest)
    };
}

/// The letter, if `owner` holds it (their inbox copy before their sent
/// one, for a letter to oneself).
pub async fn held(
    connection: &mut PgConnection,
    owner: Uuid,
    message: Uuid,
) -> Result<Option<Held>, sqlx::Error> {
    sqlx::query_as(held!(
        "WHERE b.owner_id = $1 AND b.message_id = $2 \
         ORDER BY b.folder = 'inbox' DESC LIMIT 1"
    ))
    .bind(owner)
    .bind(message)
    .fetch_optional(connection)
    .await
}

/// The letters of a thread `owner` holds, oldest first.
pub async fn thread(
    connection: &mut PgConnection,
    owner: Uuid,
    thread: Uuid,
) -> Result<Vec<Held>, sqlx::Error> {
    sqlx::query_as(held!(
        "WHERE b.owner_id = $1 AND m.thread_id = $2 AND NOT m.draft \
         ORDER BY m.sent_at, m.id, b.folder = 'inbox' DESC"
    ))
    .bind(owner)
    .bind(thread)
    .fetch_all(connection)
    .await
    .map(|mut held: Vec<Held>| {
        // A letter to oneself is held twice (sent and inbox, inbox first).
        held.dedup_by_key(|letter| letter.id);
        held
    })
}

/// One page of a folder (`deleted` for the deleted folder), newest first.
pub async fn page(
    connection: &mut PgConnection,
    owner: Uuid,
    folder: &str,
    unread_only: bool,
    query: Option<&str>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Held>, sqlx::Error> {
    let statement = if folder == "deleted" {
        sqlx::query_as(held!(
            "WHERE b.owner_id = $1 AND b.deleted_at IS NOT NULL AND $2 = 'deleted' \
               AND (NOT $3 OR NOT b.read) \
               AND ($4::text IS NULL OR m.search @@ websearch_to_tsquery('russian', $4)) \
               AND ($5::timestamptz IS NULL OR (b.sort_at, b.message_id) < ($5, $6)) \
             ORDER BY b.sort_at DESC, b.message_id DESC LIMIT $7"
        ))
    } else {
        sqlx::query_as(held!(
            "WHERE b.owner_id = $1 AND b.folder = $2 AND b.deleted_at IS NULL \
               AND (NOT $3 OR NOT b.read) \
               AND ($4::text IS NULL OR m.search @@ websearch_to_tsquery('russian', $4)) \
               AND ($5::timestamptz IS NULL OR (b.sort_at, b.message_id) < ($5, $6)) \
             ORDER BY b.sort_at DESC, b.message_id DESC LIMIT $7"
        ))
    };
    statement
        .bind(owner)
        .bind(folder)
        .bind(unread_only)
        .bind(query)
        .bind(after.map(|cursor| cursor.at))
        .bind(after.map(|cursor| cursor.id))
        .bind(limit)
        .fetch_all(connection)
        .await
}

/// Who a letter went to, with names: (person, name, kind, through a group).
pub async fn recipients(
    connection: &mut PgConnection,
    message: Uuid,
) -> Result<Vec<(Uuid, String, String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.person_id, \
             coalesce(concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')), ''), r.kind, \
             r.via_group \
         FROM recipients r LEFT JOIN known_people p ON p.id = r.person_id \
         WHERE r.message_id = $1 ORDER BY r.kind, p.last_name, p.first_name, r.person_id",
    )
    .bind(message)
    .fetch_all(connection)
    .await
}

/// Marks `owner`'s inbox copies read or unread; how many changed.
pub async fn mark_read(
    connection: &mut PgConnection,
    owner: Uuid,
    messages: &[Uuid],
    read: bool,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE mailbox SET read = $3 WHERE owner_id = $1 AND message_id = ANY($2) \
         AND folder = 'inbox' AND read <> $3",
    )
    .bind(owner)
    .bind(messages)
    .bind(read)
    .execute(connection)
    .await?
    .rows_affected())
}

/// Moves `owner`'s copies to the deleted folder; their drafts are
/// discarded at once. How many letters.
pub async fn delete(
    connection: &mut PgConnection,
    owner: Uuid,
    messages: &[Uuid],
) -> Result<u64, sqlx::Error> {
    let drafts =
        sqlx::query("DELETE FROM messages m WHERE m.id = ANY($2) AND m.draft AND m.sender_id = $1")
            .bind(owner)
            .bind(messages)
            .execute(&mut *connection)
            .await?
            .rows_affected();
    let moved = sqlx::query(
        "UPDATE mailbox SET deleted_at = now() WHERE owner_id = $1 AND message_id = ANY($2) \
         AND deleted_at IS NULL",
    )
    .bind(owner)
    .bind(messages)
    .execute(connection)
    .await?
    .rows_affected();
    Ok(drafts + moved)
}

pub async fn restore(
    connection: &mut PgConnection,
    owner: Uuid,
    messages: &[Uuid],
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE mailbox SET deleted_at = NULL WHERE owner_id = $1 AND message_id = ANY($2) \
         AND deleted_at IS NOT NULL",
    )
    .bind(owner)
    .bind(messages)
    .execute(connection)
    .await?
    .rows_affected())
}

/// Discards a draft once it was sent.
pub async fn discard_draft(connection: &mut PgConnection, draft: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM messages WHERE id = $1 AND draft")
        .bind(draft)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn unread(connection: &mut PgConnection, owner: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM mailbox WHERE owner_id = $1 AND NOT read AND folder = 'inbox' \
         AND deleted_at IS NULL",
    )
    .bind(owner)
    .fetch_one(connection)
    .await
}

/// Empties deleted mail kept longer than its region's rules say; a letter
/// nobody holds any more goes, and so do files no letter or announcement
/// carries. How many copies were emptied.
pub async fn purge(pool: PgPool) -> Result<u64, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let emptied: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM mailbox b USING messages m \
         LEFT JOIN mail_rules r ON r.region_id = m.region_id \
         WHERE b.message_id = m.id AND b.deleted_at IS NOT NULL \
           AND b.deleted_at < now() - make_interval(days => coalesce(r.deleted_retention_days, 30)) \
         RETURNING b.message_id",
    )
    .fetch_all(&mut *transaction)
    .await?;
    if !emptied.is_empty() {
        sqlx::query(
            "DELETE FROM messages m WHERE m.id = ANY($1) \
             AND NOT EXISTS (SELECT 1 FROM mailbox b WHERE b.message_id = m.id)",
        )
        .bind(&emptied)
        .execute(&mut *transaction)
        .await?;
    }
    // Files nothing carries any more (letters emptied, drafts discarded or
    // sent): a day's grace for a draft being written.
    sqlx::query(
        "DELETE FROM attachments a WHERE a.created_at < now() - interval '1 day' \
         AND NOT EXISTS (SELECT 1 FROM message_attachments l WHERE l.attachment_id = a.id) \
         AND NOT EXISTS (SELECT 1 FROM announcement_attachments l WHERE l.attachment_id = a.id)",
    )
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(u64::try_from(emptied.len()).unwrap_or(u64::MAX))
}
