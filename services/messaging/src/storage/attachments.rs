//! Files on letters and announcements: each stored once, linked to every
//! letter that carries it.

use asurso_proto::messaging as pb;
use sqlx::PgConnection;
use uuid::Uuid;

/// A checked file about to be stored.
pub struct NewFile {
    pub file_name: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

impl FileRow {
    pub fn proto(&self) -> pb::AttachmentInfo {
        pb::AttachmentInfo {
            id: self.id.to_string(),
            file_name: self.file_name.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
        }
    }
}

/// Stores the files; their ids in order.
pub async fn store(
    connection: &mut PgConnection,
    uploader: Uuid,
    files: &[NewFile],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut ids = Vec::with_capacity(files.len());
    for file in files {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO attachments (id, file_name, content_type, size, sha256, content, uploaded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&file.file_name)
        .bind(&file.content_type)
        .bind(i64::try_from(file.content.len()).unwrap_or(i64::MAX))
        .bind(asurso_runtime::attachments::sha256_hex(&file.content))
        .bind(&file.content)
        .bind(uploader)
        .execute(&mut *connection)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Files a letter (or draft) holds.
pub async fn count_on_message(
    connection: &mut PgConnection,
    message: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM message_attachments WHERE message_id = $1")
        .bind(message)
        .fetch_one(connection)
        .await
}

/// Links files to a letter after those it holds.
pub async fn link_to_message(
    connection: &mut PgConnection,
    message: Uuid,
    files: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO message_attachments (message_id, attachment_id, position) \
         SELECT $1, f.id, f.n + coalesce((SELECT max(position) FROM message_attachments \
                                          WHERE message_id = $1), 0) \
         FROM unnest($2::uuid[]) WITH ORDINALITY AS f (id, n) ON CONFLICT DO NOTHING",
    )
    .bind(message)
    .bind(files)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn link_to_announcement(
    connection: &mut PgConnection,
    announcement: Uuid,
    files: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO announcement_attachments (announcement_id, attachment_id, position) \
         SELECT $1, f.id, f.n FROM unnest($2::uuid[]) WITH ORDINALITY AS f (id, n)",
    )
    .bind(announcement)
    .bind(files)
    .execute(connection)
    .await
    .map(|_| ())
}

/// The files of each letter, in order.
pub async fn of_messages(
    connection: &mut PgConnection,
    messages: &[Uuid],
) -> Result<Vec<(Uuid, FileRow)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, String, String, i64, String)> = sqlx::query_as(
        "SELECT l.message_id, a.id, a.file_name, a.content_type, a.size, a.sha256 \
         FROM message_attachments l JOIN attachments a ON a.id = l.attachment_id \
         WHERE l.message_id = ANY($1) ORDER BY l.message_id, l.position",
    )
    .bind(messages)
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(file_of).collect())
}

pub async fn of_announcements(
    connection: &mut PgConnection,
    announcements: &[Uuid],
) -> Result<Vec<(Uuid, FileRow)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, String, String, i64, String)> = sqlx::query_as(
        "SELECT l.announcement_id, a.id, a.file_name, a.content_type, a.size, a.sha256 \
         FROM announcement_attachments l JOIN attachments a ON a.id = l.attachment_id \
         WHERE l.announcement_id = ANY($1) ORDER BY l.announcement_id, l.position",
    )
    .bind(announcements)
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(file_of).collect())
}

fn file_of(
    (owner, id, file_name, content_type, size, sha256): (Uuid, Uuid, String, String, i64, String),
) -> (Uuid, FileRow) {
    (
        owner,
        FileRow {
            id,
            file_name,
            content_type,
            size,
            sha256,
        },
    )
}

/// A file's content, if it is on `message`.
pub async fn content_on_message(
    connection: &mut PgConnection,
    message: Uuid,
    file: Uuid,
) -> Result<Option<(FileRow, Vec<u8>)>, sqlx::Error> {
    content(
        connection,
        "SELECT a.id, a.file_name, a.content_type, a.size, a.sha256, a.content \
         FROM message_attachments l JOIN attachments a ON a.id = l.attachment_id \
         WHERE l.message_id = $1 AND a.id = $2",
        message,
        file,
    )
    .await
}

pub async fn content_on_announcement(
    connection: &mut PgConnection,
    announcement: Uuid,
    file: Uuid,
) -> Result<Option<(FileRow, Vec<u8>)>, sqlx::Error> {
    content(
        connection,
        "SELECT a.id, a.file_name, a.content_type, a.size, a.sha256, a.content \
         FROM announcement_attachments l JOIN attachments a ON a.id = l.attachment_id \
         WHERE l.announcement_id = $1 AND a.id = $2",
        announcement,
        file,
    )
    .await
}

async fn content(
    connection: &mut PgConnection,
    sql: &'static str,
    owner: Uuid,
    file: Uuid,
) -> Result<Option<(FileRow, Vec<u8>)>, sqlx::Error> {
    let row: Option<(Uuid, String, String, i64, String, Vec<u8>)> = sqlx::query_as(sql)
        .bind(owner)
        .bind(file)
        .fetch_optional(connection)
        .await?;
    Ok(
        row.map(|(id, file_name, content_type, size, sha256, content)| {
            (
                FileRow {
                    id,
                    file_name,
                    content_type,
                    size,
                    sha256,
                },
                content,
            )
        }),
    )
}
