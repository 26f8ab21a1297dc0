//! Mail: sending (to people and to groups resolved when sent), drafts,
//! folders, threads, read state, attachments and search. Only a letter's
//! sender and its recipients hold a copy, and only a copy's holder reads it.

use std::collections::HashMap;

use asurso_proto::{events as ev, messaging as pb};
use asurso_runtime::{
    auth::Caller,
    convert::timestamp,
    edge::{Edge, Idempotent, next_page, optional_uuid, page_size, text_of, uuid_field},
    errors::ServiceError,
    events::{NewEvent, enqueue_many},
};
use prost::Message as _;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, State, new_files, person};
use crate::{
    access::{self, Sender, SenderKind},
    domain::{self, Cursor, Format, MAX_ADDRESSES, MAX_ATTACHMENTS, MAX_RECIPIENTS, MAX_SUBJECT},
    storage::{
        self, attachments as files,
        mail::{self as store, Held, NewMessage, Recipient},
    },
};

pub struct MailApi(pub Shared);

/// Ids a call may name at once (marking, deleting, restoring).
const MAX_IDS: usize = 500;

fn kind_name(kind: pb::RecipientKind) -> &'static str {
    match kind {
        pb::RecipientKind::Cc => "cc",
        pb::RecipientKind::Bcc => "bcc",
        _ => "to",
    }
}

fn kind_of(name: &str) -> pb::RecipientKind {
    match name {
        "cc" => pb::RecipientKind::Cc,
        "bcc" => pb::RecipientKind::Bcc,
        _ => pb::RecipientKind::To,
    }
}

fn folder_of(held: &Held) -> pb::Folder {
    if held.deleted {
        return pb::Folder::Deleted;
    }
    match held.folder.as_str() {
        "sent" => pb::Folder::Sent,
        "drafts" => pb::Folder::Drafts,
        _ => pb::Folder::Inbox,
    }
}

fn ids(values: &[String], field: &str) -> Result<Vec<Uuid>, ServiceError> {
    if values.is_empty() || values.len() > MAX_IDS {
        return Err(ServiceError::invalid(
            field,
            format!("names 1 to {MAX_IDS} letters"),
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(index, value)| uuid_field(value, &format!("{field}[{index}]")))
        .collect()
}

/// A letter's to, cc and bcc, each with its field and kind.
type AddressLists<'a> = [(&'static str, &'a [pb::Address], pb::RecipientKind); 3];

/// The address lists of a letter, each with its field and kind.
fn address_lists<'a>(
    to: &'a [pb::Address],
    cc: &'a [pb::Address],
    bcc: &'a [pb::Address],
) -> Result<AddressLists<'a>, ServiceError> {
    if to.len() + cc.len() + bcc.len() > MAX_ADDRESSES {
        return Err(ServiceError::invalid(
            "to",
            format!("to, cc and bcc hold at most {MAX_ADDRESSES} addresses together"),
        ));
    }
    Ok([
        ("to", to, pb::RecipientKind::To),
        ("cc", cc, pb::RecipientKind::Cc),
        ("bcc", bcc, pb::RecipientKind::Bcc),
    ])
}

/// The people a letter goes to, each once (to before cc before bcc, named
/// before reached through a group), every one someone the sender may
/// write to — or, in a reply, someone the original named — and the names
/// of the groups addressed. A refusal names the address.
async fn resolve(
    connection: &mut PgConnection,
    sender: &Sender,
    lists: AddressLists<'_>,
    also_allowed: &[Uuid],
) -> Result<(Vec<Recipient>, Vec<String>), ServiceError> {
    let mut chosen: Vec<(Uuid, pb::RecipientKind, bool)> = Vec::new();
    let mut groups = Vec::new();
    let mut named: Vec<(Uuid, String)> = Vec::new();
    for (field, addresses, kind) in lists {
        for (index, address) in addresses.iter().enumerate() {
            let at = format!("{field}[{index}]");
            match &address.target {
                Some(pb::address::Target::PersonId(id)) => {
                    let id = uuid_field(id, &format!("{at}.person_id"))?;
                    named.push((id, format!("{at}.person_id")));
                    chosen.push((id, kind, false));
                }
                Some(pb::address::Target::Group(group)) => {
                    let (members, name) =
                        access::members(connection, sender, group, &format!("{at}.group")).await?;
                    chosen.extend(members.into_iter().map(|member| (member, kind, true)));
                    if !groups.contains(&name) {
                        groups.push(name);
                    }
                }
                None => {
                    return Err(ServiceError::invalid(at, "names a person or a group"));
                }
            }
        }
    }
    let candidates: Vec<Uuid> = named
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !also_allowed.contains(id))
        .collect();
    if !candidates.is_empty() {
        let reachable = access::reachable(connection, sender, &candidates).await?;
        for (id, field) in &named {
            if also_allowed.contains(id) || reachable.contains(id) {
                continue;
            }
            // The refusal names the address as the sender gave it, never
            // a name (an id is no way to learn who someone is), and says
            // the same of someone unknown.
            return Err(ServiceError::denied(format!(
                "{field}: {id} is not someone you may write to"
            )));
        }
    }
    // Each person once: the strongest kind (to, then cc, then bcc), shown
    // to the other recipients only if the sender named them in to or cc —
    // someone named in bcc who is also in a group stays hidden.
    let mut best: HashMap<Uuid, (pb::RecipientKind, bool)> = HashMap::new();
    let mut order = Vec::new();
    for (id, kind, via_group) in chosen {
        let shown = !via_group && kind != pb::RecipientKind::Bcc;
        match best.get_mut(&id) {
            Some((held, held_shown)) => {
                if (kind as i32) < (*held as i32) {
                    *held = kind;
                }
                *held_shown |= shown;
            }
            None => {
                best.insert(id, (kind, shown));
                order.push(id);
            }
        }
    }
    if order.is_empty() {
        return Err(ServiceError::invalid("to", "name at least one recipient"));
    }
    if order.len() > MAX_RECIPIENTS {
        return Err(ServiceError::invalid(
            "to",
            format!(
                "the addresses come to {} people; a letter reaches at most {MAX_RECIPIENTS}",
                order.len()
            ),
        ));
    }
    let recipients = order
        .into_iter()
        .map(|person| {
            let (kind, shown) = best.get(&person).copied().unwrap_or_default();
            Recipient {
                person,
                kind: kind_name(kind),
                via_group: !shown,
            }
        })
        .collect();
    Ok((recipients, groups))
}

/// Refuses a sender past their hourly letters (a lock per sender makes two
/// sends at once count each other).
async fn within_rate(connection: &mut PgConnection, sender: &Sender) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('mail-rate:' || $1::text, 0))")
        .bind(sender.person)
        .execute(&mut *connection)
        .await?;
    let (limit, who) = match sender.kind {
        SenderKind::Parent => (sender.rules.parent_messages_per_hour, "a parent"),
        SenderKind::Student => (sender.rules.student_messages_per_hour, "a student"),
        SenderKind::Staff | SenderKind::Administration => {
            (sender.rules.staff_messages_per_hour, "staff")
        }
    };
    let sent = store::sent_last_hour(connection, sender.person).await?;
    if sent >= i64::from(limit) {
        return Err(ServiceError::Exhausted(format!(
            "{who} sends at most {limit} letters an hour and you have sent {sent}: try again later"
        )));
    }
    Ok(())
}

/// The letter `owner` holds, or not found naming `field`.
async fn held(
    connection: &mut PgConnection,
    owner: Uuid,
    message: Uuid,
    field: &str,
) -> Result<Held, ServiceError> {
    store::held(connection, owner, message)
        .await?
        .ok_or_else(|| ServiceError::not_found(field, format_args!("letter {message} of yours")))
}

/// A letter as `owner` may see it: bcc and the people reached through a
/// group only to its sender (each recipient sees themself).
async fn view(
    connection: &mut PgConnection,
    owner: Uuid,
    held: Held,
) -> Result<pb::Message, ServiceError> {
    let recipients = store::recipients(connection, held.id)
        .await?
        .into_iter()
        .filter(|(id, _, kind, via_group)| {
            held.sender_id == owner || *id == owner || (kind != "bcc" && !via_group)
        })
        .map(|(id, name, kind, _)| pb::Recipient {
            person: Some(person(id, name)),
            kind: kind_of(&kind).into(),
        })
        .collect();
    let attachments = files::of_messages(connection, &[held.id])
        .await?
        .into_iter()
        .map(|(_, file)| file.proto())
        .collect();
    let addresses = match &held.draft_addresses {
        Some(bytes) if held.draft => {
            pb::SaveDraftRequest::decode(bytes.as_slice()).map_err(ServiceError::internal)?
        }
        _ => pb::SaveDraftRequest::default(),
    };
    let folder = folder_of(&held);
    Ok(pb::Message {
        id: held.id.to_string(),
        thread_id: held.thread_id.to_string(),
        sender: Some(person(held.sender_id, held.sender_name)),
        subject: held.subject,
        text: held.body,
        format: Format::parse(&held.format).proto(),
        sent_at: Some(timestamp(held.sent_at)),
        recipients,
        attachments,
        reply_to_message_id: text_of(held.reply_to),
        forward_of_message_id: text_of(held.forward_of),
        read: held.read,
        folder: folder.into(),
        draft_to: addresses.to,
        draft_cc: addresses.cc,
        draft_bcc: addresses.bcc,
        groups: held.groups,
    })
}

/// "Re: …" or "Fwd: …" of the original's subject, once.
fn answer_subject(prefix: &str, original: &str) -> String {
    let subject = if original.starts_with(prefix) {
        original.to_owned()
    } else {
        format!("{prefix}{original}")
    };
    subject.chars().take(MAX_SUBJECT).collect()
}

async fn send_message(
    state: &State,
    caller: &Caller,
    request: pb::SendMessageRequest,
) -> Result<pb::SendMessageResponse, ServiceError> {
    let format = Format::of(request.format)?;
    let reply_to = optional_uuid(&request.reply_to_message_id, "reply_to_message_id")?;
    let forward_of = optional_uuid(&request.forward_of_message_id, "forward_of_message_id")?;
    if reply_to.is_some() && forward_of.is_some() {
        return Err(ServiceError::invalid(
            "forward_of_message_id",
            "a letter answers or forwards another, not both",
        ));
    }
    let draft = optional_uuid(&request.draft_id, "draft_id")?;
    let subject = domain::line(&request.subject, "subject", MAX_SUBJECT, false)?;
    let body = domain::text(&request.text, format, "text")?;
    let new = new_files(&request.attachments)?;
    let lists = address_lists(&request.to, &request.cc, &request.bcc)?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;

    let mut transaction = state.begin().await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    let sender = access::sender(&mut transaction, caller).await?;
    within_rate(&mut transaction, &sender).await?;

    // A draft being sent: locked (sent once), and what the request leaves
    // empty — addresses, subject, text, what it answers — is the draft's.
    let draft = match draft {
        Some(id) => {
            if !store::lock_draft(&mut transaction, caller.person_id, id).await? {
                return Err(ServiceError::not_found(
                    "draft_id",
                    format_args!("draft {id} of yours"),
                ));
            }
            Some(held(&mut transaction, caller.person_id, id, "draft_id").await?)
        }
        None => None,
    };
    let saved = match draft
        .as_ref()
        .and_then(|draft| draft.draft_addresses.as_deref())
    {
        Some(bytes) => pb::SaveDraftRequest::decode(bytes).map_err(ServiceError::internal)?,
        None => pb::SaveDraftRequest::default(),
    };
    let (reply_to, forward_of) = match &draft {
        Some(draft) if reply_to.is_none() && forward_of.is_none() => {
            (draft.reply_to, draft.forward_of)
        }
        _ => (reply_to, forward_of),
    };
    let (subject, body, format) = match &draft {
        Some(draft) if request.text.is_empty() => (
            if subject.is_empty() {
                draft.subject.clone()
            } else {
                subject
            },
            draft.body.clone(),
            Format::parse(&draft.format),
        ),
        Some(draft) if subject.is_empty() => (draft.subject.clone(), body, format),
        _ => (subject, body, format),
    };
    let lists = if lists.iter().all(|(_, addresses, _)| addresses.is_empty()) && draft.is_some() {
        address_lists(&saved.to, &saved.cc, &saved.bcc)?
    } else {
        lists
    };

    let original = match (reply_to, forward_of) {
        (Some(id), _) => Some(
            held(
                &mut transaction,
                caller.person_id,
                id,
                "reply_to_message_id",
            )
            .await?,
        ),
        (_, Some(id)) => Some(
            held(
                &mut transaction,
                caller.person_id,
                id,
                "forward_of_message_id",
            )
            .await?,
        ),
        _ => None,
    };
    if original.as_ref().is_some_and(|original| original.draft) {
        return Err(ServiceError::invalid(
            if reply_to.is_some() {
                "reply_to_message_id"
            } else {
                "forward_of_message_id"
            },
            "is a draft, not a letter",
        ));
    }
    let subject = match (&original, subject.is_empty()) {
        (Some(original), true) if reply_to.is_some() => answer_subject("Re: ", &original.subject),
        (Some(original), true) => answer_subject("Fwd: ", &original.subject),
        (None, true) => return Err(ServiceError::invalid("subject", "is required")),
        (_, false) => subject,
    };

    // A reply may always go back to the people the original named.
    let mut also_allowed = Vec::new();
    let mut defaults = Vec::new();
    if let (Some(original), true) = (&original, reply_to.is_some()) {
        // The people it named, not those it reached through a group or in
        // bcc: the original's sender did not show them to its recipients.
        let named: Vec<Uuid> = store::recipients(&mut transaction, original.id)
            .await?
            .into_iter()
            .filter(|(_, _, kind, via_group)| kind != "bcc" && !via_group)
            .map(|(id, _, _, _)| id)
            .collect();
        also_allowed.push(original.sender_id);
        also_allowed.extend(named.iter().copied());
        if original.sender_id != caller.person_id {
            defaults.push(original.sender_id);
        }
        if request.reply_all || original.sender_id == caller.person_id {
            defaults.extend(named.iter().copied().filter(|id| *id != caller.person_id));
        }
    }
    let no_addresses = lists.iter().all(|(_, addresses, _)| addresses.is_empty());
    let (recipients, groups) = if no_addresses && !defaults.is_empty() {
        let mut seen = std::collections::HashSet::new();
        let recipients = defaults
            .into_iter()
            .filter(|id| seen.insert(*id))
            .map(|person| Recipient {
                person,
                kind: "to",
                via_group: false,
            })
            .collect();
        (recipients, Vec::new())
    } else {
        resolve(&mut transaction, &sender, lists, &also_allowed).await?
    };

    let id = Uuid::now_v7();
    let count = i32::try_from(recipients.len()).unwrap_or(i32::MAX);
    let at = store::insert(
        &mut transaction,
        &NewMessage {
            id,
            thread: original.as_ref().map_or(id, |original| original.thread_id),
            sender: caller.person_id,
            region: sender.region,
            unit: sender.unit,
            subject: &subject,
            body: &body,
            format: format.name(),
            reply_to,
            forward_of,
            draft_addresses: None,
            recipient_count: count,
            groups: &groups,
        },
    )
    .await?;
    let mut carried: Vec<Uuid> = Vec::new();
    for source in [draft.as_ref().map(|draft| draft.id), forward_of]
        .into_iter()
        .flatten()
    {
        carried.extend(
            files::of_messages(&mut transaction, &[source])
                .await?
                .into_iter()
                .map(|(_, file)| file.id),
        );
    }
    if carried.len() + new.len() > MAX_ATTACHMENTS {
        return Err(ServiceError::invalid(
            "attachments",
            format!(
                "a letter carries at most {MAX_ATTACHMENTS} files; these come to {}",
                carried.len() + new.len()
            ),
        ));
    }
    carried.extend(files::store(&mut transaction, caller.person_id, &new).await?);
    if !carried.is_empty() {
        files::link_to_message(&mut transaction, id, &carried).await?;
    }
    store::deliver(
        &mut transaction,
        id,
        caller.person_id,
        "sent",
        at,
        &recipients,
    )
    .await?;
    if let Some(draft) = &draft {
        store::discard_draft(&mut transaction, draft.id).await?;
    }

    let scope = storage::scope_of(&mut transaction, sender.unit).await?;
    let unit = sender.unit;
    let thread = original.as_ref().map_or(id, |original| original.thread_id);
    let payloads: Vec<ev::MessageDelivered> = recipients
        .iter()
        .map(|recipient| ev::MessageDelivered {
            message_id: id.to_string(),
            thread_id: thread.to_string(),
            recipient_id: recipient.person.to_string(),
            sender_id: caller.person_id.to_string(),
            subject: subject.clone(),
            has_attachments: !carried.is_empty(),
        })
        .collect();
    let events: Vec<NewEvent<'_, ev::MessageDelivered>> = payloads
        .iter()
        .map(|payload| NewEvent {
            subject: format!("messaging.message.delivered.{unit}"),
            aggregate_type: "message",
            aggregate_id: id.to_string(),
            scope: scope.clone(),
            payload,
        })
        .collect();
    enqueue_many(&mut transaction, "messaging", &events).await?;

    let sent = held(&mut transaction, caller.person_id, id, "message_id").await?;
    let answer = pb::SendMessageResponse {
        message: Some(view(&mut transaction, caller.person_id, sent).await?),
        delivered_to: count,
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(message_id = %id, recipients = count, "letter sent");
    Ok(answer)
}

async fn save_draft(
    state: &State,
    caller: &Caller,
    request: pb::SaveDraftRequest,
) -> Result<pb::SaveDraftResponse, ServiceError> {
    let format = Format::of(request.format)?;
    let draft = optional_uuid(&request.draft_id, "draft_id")?;
    let reply_to = optional_uuid(&request.reply_to_message_id, "reply_to_message_id")?;
    let forward_of = optional_uuid(&request.forward_of_message_id, "forward_of_message_id")?;
    let subject = domain::line(&request.subject, "subject", MAX_SUBJECT, false)?;
    let body = domain::text(&request.text, format, "text")?;
    let new = new_files(&request.attachments)?;
    address_lists(&request.to, &request.cc, &request.bcc)?;
    let addresses = pb::SaveDraftRequest {
        to: request.to.clone(),
        cc: request.cc.clone(),
        bcc: request.bcc.clone(),
        ..Default::default()
    }
    .encode_to_vec();

    let mut transaction = state.begin().await?;
    let sender = access::sender(&mut transaction, caller).await?;
    for (source, field) in [
        (reply_to, "reply_to_message_id"),
        (forward_of, "forward_of_message_id"),
    ] {
        if let Some(source) = source {
            held(&mut transaction, caller.person_id, source, field).await?;
        }
    }
    let id = draft.unwrap_or_else(Uuid::now_v7);
    let message = NewMessage {
        id,
        thread: id,
        sender: caller.person_id,
        region: sender.region,
        unit: sender.unit,
        subject: &subject,
        body: &body,
        format: format.name(),
        reply_to,
        forward_of,
        draft_addresses: Some(addresses),
        recipient_count: 0,
        groups: &[],
    };
    match draft {
        Some(id) => {
            let row = held(&mut transaction, caller.person_id, id, "draft_id").await?;
            if !row.draft {
                return Err(ServiceError::invalid(
                    "draft_id",
                    "is a letter sent, not a draft",
                ));
            }
            store::lock_draft(&mut transaction, caller.person_id, id).await?;
            if store::update_draft(&mut transaction, &message)
                .await?
                .is_none()
            {
                return Err(ServiceError::not_found(
                    "draft_id",
                    format_args!("draft {id}"),
                ));
            }
        }
        None => {
            let at = store::insert(&mut transaction, &message).await?;
            store::keep_draft(&mut transaction, id, caller.person_id, at).await?;
        }
    }
    let holds = files::count_on_message(&mut transaction, id).await?;
    if usize::try_from(holds).unwrap_or(usize::MAX) + new.len() > MAX_ATTACHMENTS {
        return Err(ServiceError::invalid(
            "attachments",
            format!("a letter carries at most {MAX_ATTACHMENTS} files; the draft holds {holds}"),
        ));
    }
    let stored = files::store(&mut transaction, caller.person_id, &new).await?;
    if !stored.is_empty() {
        files::link_to_message(&mut transaction, id, &stored).await?;
    }
    let kept = held(&mut transaction, caller.person_id, id, "draft_id").await?;
    let draft = view(&mut transaction, caller.person_id, kept).await?;
    state.commit(transaction).await?;
    Ok(pb::SaveDraftResponse { draft: Some(draft) })
}

async fn list_messages(
    state: &State,
    caller: &Caller,
    request: pb::ListMessagesRequest,
) -> Result<pb::ListMessagesResponse, ServiceError> {
    let folder = match pb::Folder::try_from(request.folder) {
        Ok(pb::Folder::Unspecified | pb::Folder::Inbox) => "inbox",
        Ok(pb::Folder::Sent) => "sent",
        Ok(pb::Folder::Drafts) => "drafts",
        Ok(pb::Folder::Deleted) => "deleted",
        Err(_) => return Err(ServiceError::invalid("folder", "is not a folder")),
    };
    let query = domain::line(&request.query, "query", 200, false)?;
    let query = (!query.is_empty()).then_some(query);
    let limit = page_size(request.page.as_ref());
    let after = Cursor::parse(
        request
            .page
            .as_ref()
            .map(|page| page.page_token.as_str())
            .unwrap_or_default(),
    )?;
    let mut connection = state.pool.acquire().await?;
    let mut rows = store::page(
        &mut connection,
        caller.person_id,
        folder,
        request.unread_only,
        query.as_deref(),
        after,
        limit + 1,
    )
    .await?;
    let next_page_token = next_page(&mut rows, limit, |last| {
        Cursor {
            at: last.sent_at,
            id: last.id,
            pinned: false,
        }
        .token()
    });
    let messages = rows
        .into_iter()
        .map(|row| {
            let folder = folder_of(&row);
            pb::MessageSummary {
                id: row.id.to_string(),
                thread_id: row.thread_id.to_string(),
                preview: domain::preview(&row.body, Format::parse(&row.format)),
                sender: Some(person(row.sender_id, row.sender_name)),
                subject: row.subject,
                sent_at: Some(timestamp(row.sent_at)),
                read: row.read,
                has_attachments: row.has_attachments,
                folder: folder.into(),
                // How many it reached is the sender's to know (bcc, groups).
                recipient_count: if row.sender_id == caller.person_id {
                    row.recipient_count
                } else {
                    0
                },
            }
        })
        .collect();
    Ok(pb::ListMessagesResponse {
        messages,
        page: Some(asurso_proto::common::PageResponse { next_page_token }),
    })
}

async fn get_message(
    state: &State,
    caller: &Caller,
    request: pb::GetMessageRequest,
) -> Result<pb::GetMessageResponse, ServiceError> {
    let id = uuid_field(&request.message_id, "message_id")?;
    let mut transaction = state.begin().await?;
    let mut row = held(&mut transaction, caller.person_id, id, "message_id").await?;
    if row.folder == "inbox" && !row.read {
        store::mark_read(&mut transaction, caller.person_id, &[id], true).await?;
        row.read = true;
    }
    let message = view(&mut transaction, caller.person_id, row).await?;
    transaction.commit().await?;
    Ok(pb::GetMessageResponse {
        message: Some(message),
    })
}

async fn get_thread(
    state: &State,
    caller: &Caller,
    request: pb::GetThreadRequest,
) -> Result<pb::GetThreadResponse, ServiceError> {
    let thread = uuid_field(&request.thread_id, "thread_id")?;
    let mut connection = state.pool.acquire().await?;
    let rows = store::thread(&mut connection, caller.person_id, thread).await?;
    if rows.is_empty() {
        return Err(ServiceError::not_found(
            "thread_id",
            format_args!("thread {thread} of yours"),
        ));
    }
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        messages.push(view(&mut connection, caller.person_id, row).await?);
    }
    Ok(pb::GetThreadResponse { messages })
}

async fn mark_read(
    state: &State,
    caller: &Caller,
    request: pb::MarkReadRequest,
) -> Result<pb::MarkReadResponse, ServiceError> {
    let ids = ids(&request.message_ids, "message_ids")?;
    let mut connection = state.pool.acquire().await?;
    let changed = store::mark_read(&mut connection, caller.person_id, &ids, request.read).await?;
    Ok(pb::MarkReadResponse {
        changed: i32::try_from(changed).unwrap_or(i32::MAX),
    })
}

async fn delete_messages(
    state: &State,
    caller: &Caller,
    request: pb::DeleteMessagesRequest,
) -> Result<pb::DeleteMessagesResponse, ServiceError> {
    let ids = ids(&request.message_ids, "message_ids")?;
    let mut transaction = state.begin().await?;
    let deleted = store::delete(&mut transaction, caller.person_id, &ids).await?;
    transaction.commit().await?;
    Ok(pb::DeleteMessagesResponse {
        deleted: i32::try_from(deleted).unwrap_or(i32::MAX),
    })
}

async fn restore_messages(
    state: &State,
    caller: &Caller,
    request: pb::RestoreMessagesRequest,
) -> Result<pb::RestoreMessagesResponse, ServiceError> {
    let ids = ids(&request.message_ids, "message_ids")?;
    let mut connection = state.pool.acquire().await?;
    let restored = store::restore(&mut connection, caller.person_id, &ids).await?;
    Ok(pb::RestoreMessagesResponse {
        restored: i32::try_from(restored).unwrap_or(i32::MAX),
    })
}

async fn get_message_attachment(
    state: &State,
    caller: &Caller,
    request: pb::GetMessageAttachmentRequest,
) -> Result<pb::GetMessageAttachmentResponse, ServiceError> {
    let message = uuid_field(&request.message_id, "message_id")?;
    let file = uuid_field(&request.attachment_id, "attachment_id")?;
    let mut connection = state.pool.acquire().await?;
    held(&mut connection, caller.person_id, message, "message_id").await?;
    let (info, content) = files::content_on_message(&mut connection, message, file)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found("attachment_id", format_args!("file {file} on the letter"))
        })?;
    Ok(pb::GetMessageAttachmentResponse {
        attachment: Some(info.proto()),
        content,
    })
}

async fn get_unread_count(
    state: &State,
    caller: &Caller,
    _request: pb::GetUnreadCountRequest,
) -> Result<pb::GetUnreadCountResponse, ServiceError> {
    let mut connection = state.pool.acquire().await?;
    let unread = store::unread(&mut connection, caller.person_id).await?;
    Ok(pb::GetUnreadCountResponse {
        unread: i32::try_from(unread).unwrap_or(i32::MAX),
    })
}

/// The groups a person may address, by who they are: a parent's children's
/// class teachers, teachers and schools; a student's own; a school's
/// staff, its administration and each class's families.
async fn candidate_groups(
    connection: &mut PgConnection,
    sender: &Sender,
) -> Result<Vec<pb::Group>, ServiceError> {
    let group = |kind: pb::GroupKind,
                 school: Option<Uuid>,
                 class: Option<Uuid>,
                 student: Option<Uuid>| pb::Group {
        kind: kind.into(),
        school_id: text_of(school),
        class_id: text_of(class),
        student_id: text_of(student),
    };
    let mut groups = Vec::new();
    let students: Vec<Uuid> = match sender.kind {
        SenderKind::Parent => {
            sqlx::query_scalar(
                "SELECT gu.student_id FROM guardians gu \
                 LEFT JOIN known_people p ON p.id = gu.student_id \
                 WHERE gu.parent_id = $1 ORDER BY p.last_name, p.first_name",
            )
            .bind(sender.person)
            .fetch_all(&mut *connection)
            .await?
        }
        SenderKind::Student => vec![sender.person],
        _ => Vec::new(),
    };
    for student in students {
        for kind in [pb::GroupKind::ClassTeacherOf, pb::GroupKind::TeachersOf] {
            groups.push(group(kind, None, None, Some(student)));
        }
    }
    let schools: Vec<Uuid> =
        match sender.kind {
            SenderKind::Staff => vec![sender.unit],
            SenderKind::Parent | SenderKind::Student => sqlx::query_scalar(
                "SELECT u.id FROM known_grants g JOIN known_org_units u ON u.id = g.org_unit_id \
                 WHERE g.role = 'student' AND NOT g.revoked AND (g.person_id = $1 \
                     OR g.person_id IN (SELECT student_id FROM guardians WHERE parent_id = $1)) \
                 GROUP BY u.id, u.name ORDER BY u.name",
            )
            .bind(sender.person)
            .fetch_all(&mut *connection)
            .await?,
            SenderKind::Administration => Vec::new(),
        };
    for school in schools {
        for kind in [
            pb::GroupKind::SchoolAdministration,
            pb::GroupKind::ClassTeachers,
            pb::GroupKind::SchoolStaff,
        ] {
            groups.push(group(kind, Some(school), None, None));
        }
    }
    if sender.kind == SenderKind::Staff {
        let classes: Vec<Uuid> = sqlx::query_scalar(
            "SELECT c.id FROM classes c WHERE c.school_id = $1 AND EXISTS ( \
                 SELECT 1 FROM current_enrolments e WHERE e.class_id = c.id) \
             ORDER BY c.name",
        )
        .bind(sender.unit)
        .fetch_all(&mut *connection)
        .await?;
        for class in classes {
            for kind in [pb::GroupKind::ClassParents, pb::GroupKind::ClassStudents] {
                groups.push(group(kind, None, Some(class), None));
            }
        }
    }
    Ok(groups)
}

async fn list_recipients(
    state: &State,
    caller: &Caller,
    _request: pb::ListRecipientsRequest,
) -> Result<pb::ListRecipientsResponse, ServiceError> {
    let mut connection = state.pool.acquire().await?;
    let sender = access::sender(&mut connection, caller).await?;
    let mut groups = Vec::new();
    for group in candidate_groups(&mut connection, &sender).await? {
        let (members, name) = match access::members(&mut connection, &sender, &group, "group").await
        {
            Ok(found) => found,
            // A group the rules do not open to this sender, or an empty
            // one, is simply not offered.
            Err(ServiceError::PermissionDenied(_) | ServiceError::Invalid(_)) => continue,
            Err(other) => return Err(other),
        };
        let people: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, concat_ws(' ', last_name, first_name, NULLIF(middle_name, '')) \
             FROM known_people WHERE id = ANY($1) ORDER BY last_name, first_name, id",
        )
        .bind(&members)
        .fetch_all(&mut *connection)
        .await?;
        groups.push(pb::RecipientGroup {
            group: Some(group),
            name,
            members: people
                .into_iter()
                .map(|(id, name)| person(id, name))
                .collect(),
        });
    }
    Ok(pb::ListRecipientsResponse { groups })
}

#[tonic::async_trait]
impl pb::mail_service_server::MailService for MailApi {
    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        asurso_runtime::handle!(self.0, request, send_message)
    }

    async fn save_draft(
        &self,
        request: Request<pb::SaveDraftRequest>,
    ) -> Result<Response<pb::SaveDraftResponse>, Status> {
        asurso_runtime::handle!(self.0, request, save_draft)
    }

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_messages)
    }

    async fn get_message(
        &self,
        request: Request<pb::GetMessageRequest>,
    ) -> Result<Response<pb::GetMessageResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_message)
    }

    async fn get_thread(
        &self,
        request: Request<pb::GetThreadRequest>,
    ) -> Result<Response<pb::GetThreadResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_thread)
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        asurso_runtime::handle!(self.0, request, mark_read)
    }

    async fn delete_messages(
        &self,
        request: Request<pb::DeleteMessagesRequest>,
    ) -> Result<Response<pb::DeleteMessagesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, delete_messages)
    }

    async fn restore_messages(
        &self,
        request: Request<pb::RestoreMessagesRequest>,
    ) -> Result<Response<pb::RestoreMessagesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, restore_messages)
    }

    async fn get_message_attachment(
        &self,
        request: Request<pb::GetMessageAttachmentRequest>,
    ) -> Result<Response<pb::GetMessageAttachmentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_message_attachment)
    }

    async fn get_unread_count(
        &self,
        request: Request<pb::GetUnreadCountRequest>,
    ) -> Result<Response<pb::GetUnreadCountResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_unread_count)
    }

    async fn list_recipients(
        &self,
        request: Request<pb::ListRecipientsRequest>,
    ) -> Result<Response<pb::ListRecipientsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_recipients)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_prefixes_the_subject_once() {
        assert_eq!(answer_subject("Re: ", "Собрание"), "Re: Собрание");
        assert_eq!(answer_subject("Re: ", "Re: Собрание"), "Re: Собрание");
        assert_eq!(answer_subject("Fwd: ", "Re: Собрание"), "Fwd: Re: Собрание");
    }

    #[test]
    fn too_many_addresses_are_refused_before_anything_is_read() {
        let many = vec![pb::Address::default(); MAX_ADDRESSES + 1];
        assert!(address_lists(&many, &[], &[]).is_err());
        assert!(address_lists(&many[..10], &many[..10], &[]).is_ok());
    }
}
