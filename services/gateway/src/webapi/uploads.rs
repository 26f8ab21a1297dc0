//! Files for letters: an app uploads each (`POST attachments`, multipart,
//! field `file`), gets a GUID, and names the GUIDs in the letter it sends
//! (`fileAttachmentGuids`). They wait in `webapi_uploads` for their
//! uploader only, at most an hour, and go when the letter is sent.

use std::sync::Arc;

use asurso_proto::messaging as msg;
use axum::extract::{FromRequest, Multipart, Request, State};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Answer, WebApi, WebApiError, json_with_token};

/// One letter carries at most this much (the messaging service's request
/// limit, with room for the letter itself).
pub const MAX_LETTER_FILES_BYTES: usize = 4 * 1024 * 1024 - 64 * 1024;
/// Files one letter may name.
const MAX_FILES: usize = 10;

pub async fn upload(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|error| WebApiError::BadRequest(format!("file: {error}")))?;
    let mut file = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|error| WebApiError::BadRequest(format!("file: {error}")))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field
            .file_name()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or("file")
            .to_owned();
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let content = field
            .bytes()
            .await
            .map_err(|error| WebApiError::BadRequest(format!("file: не прочитан ({error})")))?;
        file = Some((name, content_type, content));
        break;
    }
    let (name, content_type, content) =
        file.ok_or_else(|| WebApiError::BadRequest("file: в запросе нет файла".to_owned()))?;
    if content.is_empty() {
        return Err(WebApiError::BadRequest("file: пустой файл".to_owned()));
    }
    if content.len() > MAX_LETTER_FILES_BYTES {
        return Err(WebApiError::BadRequest(format!(
            "file: больше {} КиБ",
            MAX_LETTER_FILES_BYTES / 1024
        )));
    }
    let id = Uuid::new_v4();
    sqlx::query("DELETE FROM webapi_uploads WHERE created_at < now() - interval '1 hour'")
        .execute(api.ids.pool())
        .await?;
    sqlx::query(
        "INSERT INTO webapi_uploads (id, person_id, file_name, content_type, content) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(session.caller.person_id)
    .bind(&name)
    .bind(&content_type)
    .bind(content.as_ref())
    .execute(api.ids.pool())
    .await?;
    Ok(json_with_token(&session, &id.to_string()))
}

/// The files a letter names by GUID: the caller's own uploads, within an
/// hour, at most [`MAX_FILES`] and [`MAX_LETTER_FILES_BYTES`] in all.
pub async fn take(
    pool: &PgPool,
    person: Uuid,
    guids: &[Value],
) -> Result<(Vec<Uuid>, Vec<msg::NewAttachment>), WebApiError> {
    if guids.len() > MAX_FILES {
        return Err(WebApiError::BadRequest(format!(
            "fileAttachmentGuids: не больше {MAX_FILES} файлов"
        )));
    }
    let mut ids = Vec::new();
    for (index, guid) in guids.iter().enumerate() {
        let id = guid
            .as_str()
            .and_then(|text| Uuid::parse_str(text.trim()).ok())
            .ok_or_else(|| {
                WebApiError::BadRequest(format!(
                    "fileAttachmentGuids[{index}]: {guid} — не GUID загруженного файла"
                ))
            })?;
        ids.push(id);
    }
    if ids.is_empty() {
        return Ok((ids, Vec::new()));
    }
    let rows: Vec<(Uuid, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, file_name, content_type, content FROM webapi_uploads \
         WHERE id = ANY($1) AND person_id = $2 AND created_at >= now() - interval '1 hour'",
    )
    .bind(&ids)
    .bind(person)
    .fetch_all(pool)
    .await?;
    let mut files = Vec::new();
    let mut total = 0;
    for (index, id) in ids.iter().enumerate() {
        let (_, name, content_type, content) = rows
            .iter()
            .find(|row| row.0 == *id)
            .ok_or_else(|| {
                WebApiError::BadRequest(format!(
                    "fileAttachmentGuids[{index}]: файл {id} не загружен или устарел: загрузите снова"
                ))
            })?;
        total += content.len();
        files.push(msg::NewAttachment {
            file_name: name.clone(),
            content_type: content_type.clone(),
            content: content.clone(),
        });
    }
    if total > MAX_LETTER_FILES_BYTES {
        return Err(WebApiError::BadRequest(format!(
            "fileAttachmentGuids: файлы письма больше {} КиБ вместе",
            MAX_LETTER_FILES_BYTES / 1024
        )));
    }
    Ok((ids, files))
}

/// Forgets uploads a sent letter carried.
pub async fn used(pool: &PgPool, ids: &[Uuid]) -> Result<(), WebApiError> {
    if !ids.is_empty() {
        sqlx::query("DELETE FROM webapi_uploads WHERE id = ANY($1)")
            .bind(ids)
            .execute(pool)
            .await?;
    }
    Ok(())
}
