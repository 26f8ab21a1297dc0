//! The mailbox as the apps read and write it: folders page by page, unread
//! letters, one letter (opened: read), who may be written to, a new letter
//! or draft. The messaging service's rules decide everything; this only
//! translates.

use std::sync::Arc;

use asurso_proto::messaging as msg;
use axum::{
    body::to_bytes,
    extract::{Path, Request, State},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Answer, Session, WebApi, WebApiError, all_pages, file_json, format, ids::Kind, json_with_token,
    owned_key,
};

/// Letters read at most to answer one folder request.
const MAX_LETTERS: usize = 2000;
const MAX_BODY: usize = 256 * 1024;

fn folder_of(name: &str) -> Option<msg::Folder> {
    match name.to_ascii_lowercase().as_str() {
        "inbox" => Some(msg::Folder::Inbox),
        "sent" => Some(msg::Folder::Sent),
        "draft" | "drafts" => Some(msg::Folder::Drafts),
        "deleted" => Some(msg::Folder::Deleted),
        _ => None,
    }
}

fn folder_name(folder: i32) -> &'static str {
    match msg::Folder::try_from(folder).unwrap_or(msg::Folder::Unspecified) {
        msg::Folder::Sent => "Sent",
        msg::Folder::Drafts => "Draft",
        msg::Folder::Deleted => "Deleted",
        _ => "Inbox",
    }
}

async fn read_body<T: for<'de> Deserialize<'de>>(
    request: Request,
    what: &str,
) -> Result<T, WebApiError> {
    let body = to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| WebApiError::BadRequest("тело запроса больше 256 КиБ".to_owned()))?;
    serde_json::from_slice(&body)
        .map_err(|error| WebApiError::BadRequest(format!("{what}: {error}")))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Registry {
    #[serde(default)]
    filter_context: Option<FilterContext>,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    page_size: Option<i64>,
    /// A text, or `{"fieldId": …, "text": …}` as some apps send it.
    #[serde(default)]
    search: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FilterContext {
    #[serde(default)]
    selected_data: Vec<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    filter_id: String,
    filter_value: Value,
}

/// Letters of a folder, as many as [`MAX_LETTERS`].
async fn letters(
    api: &WebApi,
    session: &Session,
    folder: msg::Folder,
    unread_only: bool,
    search: &str,
) -> Result<Vec<msg::MessageSummary>, WebApiError> {
    all_pages(MAX_LETTERS, |page| {
        let call = session.call(msg::ListMessagesRequest {
            folder: folder.into(),
            unread_only,
            query: search.to_owned(),
            page: Some(page),
        });
        async move {
            let answer = api.mail()?.list_messages(call).await?.into_inner();
            Ok((answer.messages, answer.page))
        }
    })
    .await
}

async fn letter_numbers(
    api: &WebApi,
    letters: &[msg::MessageSummary],
) -> Result<std::collections::HashMap<String, i64>, WebApiError> {
    api.ids
        .numbers(
            Kind::Letter,
            &letters.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        )
        .await
}

pub async fn registry(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let asked: Registry = read_body(request, "filterContext").await?;
    let folder = match asked
        .filter_context
        .unwrap_or_default()
        .selected_data
        .iter()
        .find(|filter| filter.filter_id == "MailBox")
        .map(|filter| match &filter.filter_value {
            Value::String(name) => name.clone(),
            other => other.to_string(),
        }) {
        None => msg::Folder::Inbox,
        Some(name) => folder_of(&name).ok_or_else(|| {
            WebApiError::BadRequest(format!(
                "filterValue: {name:?} — нет такой папки (Inbox, Sent, Draft, Deleted)"
            ))
        })?,
    };
    let page = asked.page.unwrap_or(1);
    let size = asked.page_size.unwrap_or(20);
    if page < 1 || !(1..=500).contains(&size) {
        return Err(WebApiError::BadRequest(
            "page, pageSize: страница с 1, размер от 1 до 500".to_owned(),
        ));
    }
    let search = match asked.search {
        Some(Value::String(text)) => text,
        Some(Value::Object(fields)) => fields
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    let all = letters(&api, &session, folder, false, search.trim()).await?;
    let start = (page - 1)
        .checked_mul(size)
        .and_then(|start| usize::try_from(start).ok())
        .ok_or_else(|| WebApiError::BadRequest(format!("page: {page} — слишком далеко")))?;
    let shown: Vec<msg::MessageSummary> = all
        .iter()
        .skip(start)
        .take(usize::try_from(size).unwrap_or(20))
        .cloned()
        .collect();
    let numbers = letter_numbers(&api, &shown).await?;
    let rows: Vec<Value> = shown
        .iter()
        .map(|letter| {
            json!({
                "id": numbers.get(&letter.id).copied().unwrap_or_default(),
                "subject": letter.subject,
                "author": letter.sender.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
                "sent": format::moment(letter.sent_at.as_ref()),
                "toNames": "",
                "read": letter.read,
                "hasAttachments": letter.has_attachments,
            })
        })
        .collect();
    Ok(json_with_token(
        &session,
        &json!({ "rows": rows, "page": page, "totalItems": all.len() }),
    ))
}

pub async fn unread(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let unread = letters(&api, &session, msg::Folder::Inbox, true, "").await?;
    let numbers = letter_numbers(&api, &unread).await?;
    let listed: Vec<i64> = unread
        .iter()
        .filter_map(|letter| numbers.get(&letter.id).copied())
        .collect();
    Ok(json_with_token(&session, &listed))
}

pub async fn read(
    State(api): State<Arc<WebApi>>,
    Path(id): Path<String>,
    request: Request,
) -> Answer {
    let session = api.session(&request).await?;
    let letter = api
        .ids
        .resolve_text(Some(&id), &[Kind::Letter], "id")
        .await?;
    let number = super::ids::parse_number(Some(&id), "id")?;
    let message = api
        .mail()?
        .get_message(session.call(msg::GetMessageRequest {
            message_id: letter.key.clone(),
        }))
        .await?
        .into_inner()
        .message
        .ok_or_else(|| WebApiError::NotFound(format!("id: письмо {number} не найдено")))?;
    if !message.read {
        api.mail()?
            .mark_read(session.call(msg::MarkReadRequest {
                message_ids: vec![letter.key.clone()],
                read: true,
            }))
            .await?;
    }
    let sender = message.sender.clone().unwrap_or_default();
    let sender_number = api.ids.number(Kind::Person, &sender.id).await?;
    let file_keys: Vec<String> = message
        .attachments
        .iter()
        .map(|file| owned_key(&message.id, &file.id))
        .collect();
    let files = api
        .ids
        .numbers(
            Kind::LetterFile,
            &file_keys.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await?;
    let names = |kind: msg::RecipientKind| {
        message
            .recipients
            .iter()
            .filter(|r| r.kind == kind as i32)
            .filter_map(|r| r.person.as_ref().map(|p| p.name.clone()))
            .chain(if kind == msg::RecipientKind::To {
                message.groups.clone()
            } else {
                Vec::new()
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    Ok(json_with_token(
        &session,
        &json!({
            "id": number,
            "subject": message.subject,
            "text": message.text,
            "sent": format::moment(message.sent_at.as_ref()),
            "author": { "id": sender_number, "name": sender.name },
            "toNames": names(msg::RecipientKind::To),
            "copyNames": names(msg::RecipientKind::Cc),
            "read": true,
            "mailBox": folder_name(message.folder),
            "noReply": false,
            "canReplyAll": true,
            "canForward": true,
            "canEdit": message.folder == msg::Folder::Drafts as i32,
            "fileAttachments": message.attachments.iter().map(|file| {
                let key = owned_key(&message.id, &file.id);
                file_json(files.get(&key).copied().unwrap_or_default(), &file.file_name)
            }).collect::<Vec<_>>(),
        }),
    ))
}

/// The apps' recipient groups: 1 administration, 2 head teachers, 3 class
/// teachers, 4 teachers, 7 classmates' parents.
fn group_matches(group: i64, kind: msg::GroupKind) -> bool {
    use msg::GroupKind as G;
    match group {
        1 | 2 => kind == G::SchoolAdministration,
        3 => matches!(kind, G::ClassTeacherOf | G::ClassTeachers),
        4 => matches!(kind, G::TeachersOf | G::SchoolStaff),
        7 => kind == G::ClassParents,
        _ => false,
    }
}

pub async fn recipients(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let query = format::query(&request);
    let group = match query.get("group").map(|g| g.trim()) {
        None | Some("") => None,
        Some(group) => Some(super::ids::parse_number(Some(group), "group")?),
    };
    let groups = api
        .mail()?
        .list_recipients(session.call(msg::ListRecipientsRequest {}))
        .await?
        .into_inner()
        .groups;
    let chosen: Vec<&msg::RecipientGroup> = groups
        .iter()
        .filter(|g| {
            let kind = g
                .group
                .as_ref()
                .and_then(|g| msg::GroupKind::try_from(g.kind).ok())
                .unwrap_or(msg::GroupKind::Unspecified);
            group.is_none_or(|group| group_matches(group, kind))
        })
        .collect();
    let people: Vec<&str> = chosen
        .iter()
        .flat_map(|g| g.members.iter().map(|p| p.id.as_str()))
        .collect();
    let numbers = api.ids.numbers(Kind::Person, &people).await?;
    let mut seen = std::collections::HashSet::new();
    let listed: Vec<Value> = chosen
        .iter()
        .flat_map(|g| g.members.iter().map(move |p| (g, p)))
        .filter(|(_, person)| seen.insert(person.id.clone()))
        .map(|(g, person)| {
            json!({
                "id": numbers.get(&person.id).copied().unwrap_or_default().to_string(),
                "name": person.name,
                "organizationName": g.name,
            })
        })
        .collect();
    Ok(json_with_token(&session, &listed))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewLetter {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    to: Vec<Value>,
    #[serde(default)]
    cc: Vec<Value>,
    #[serde(default)]
    bcc: Vec<Value>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    file_attachment_guids: Vec<Value>,
}

/// The most people one letter from an app names (to, cc and bcc each).
const MAX_ADDRESSES: usize = 100;

/// The people a list of the apps' ids names: numbers or their strings.
async fn addresses(
    api: &WebApi,
    given: &[Value],
    field: &str,
) -> Result<Vec<msg::Address>, WebApiError> {
    if given.len() > MAX_ADDRESSES {
        return Err(WebApiError::BadRequest(format!(
            "{field}: не больше {MAX_ADDRESSES} адресатов"
        )));
    }
    let mut found = Vec::new();
    for (index, value) in given.iter().enumerate() {
        let field = format!("{field}[{index}]");
        let number = match value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| WebApiError::BadRequest(format!("{field}: {value} — не номер адресата")))?;
        let person = match api.ids.resolve(number, &[Kind::Person], &field).await {
            Ok(person) => person,
            Err(WebApiError::NotFound(_)) => {
                return Err(WebApiError::BadRequest(format!(
                    "{field}: адресат {number} не найден"
                )));
            }
            Err(other) => return Err(other),
        };
        found.push(msg::Address {
            target: Some(msg::address::Target::PersonId(person.key)),
        });
    }
    Ok(found)
}

pub async fn send(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let letter: NewLetter = read_body(request, "письмо").await?;
    let (uploads, attachments) = super::uploads::take(
        api.ids.pool(),
        session.caller.person_id,
        &letter.file_attachment_guids,
    )
    .await?;
    let to = addresses(&api, &letter.to, "to").await?;
    let cc = addresses(&api, &letter.cc, "cc").await?;
    let bcc = addresses(&api, &letter.bcc, "bcc").await?;
    let message = if letter.draft {
        api.mail()?
            .save_draft(session.call(msg::SaveDraftRequest {
                to,
                cc,
                bcc,
                subject: letter.subject,
                text: letter.text,
                format: msg::TextFormat::Plain.into(),
                attachments,
                ..Default::default()
            }))
            .await?
            .into_inner()
            .draft
    } else {
        api.mail()?
            .send_message(session.call(msg::SendMessageRequest {
                to,
                cc,
                bcc,
                subject: letter.subject,
                text: letter.text,
                format: msg::TextFormat::Plain.into(),
                attachments,
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            }))
            .await?
            .into_inner()
            .message
    };
    super::uploads::used(api.ids.pool(), &uploads).await?;
    let id = message.map(|m| m.id).unwrap_or_default();
    let number = api.ids.number(Kind::Letter, &id).await?;
    Ok(json_with_token(&session, &json!({ "messageId": number })))
}
