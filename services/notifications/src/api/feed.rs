//! The caller's feed: pages, read marks, and the live stream.

use std::time::Duration;

use asurso_proto::notifications as pb;
use asurso_runtime::{
    auth::Caller,
    edge::{Edge, next_page, page_size, uuid_field},
    errors::{FieldViolation, ServiceError},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Shared, State};
use crate::{domain::Kind, feed};

pub struct FeedApi(pub Shared);

/// Entries sent per read while a subscriber catches up.
const CATCH_UP: i64 = 200;
/// A subscriber looks again this often even when nothing woke it.
const LOOK_AGAIN: Duration = Duration::from_secs(30);

fn entry(entry: feed::Entry) -> pb::FeedEntry {
    pb::FeedEntry {
        id: entry.id.to_string(),
        cursor: u64::try_from(entry.cursor).unwrap_or(0),
        kind: Kind::parse(&entry.kind).map_or(pb::Kind::Unspecified, Kind::to_proto) as i32,
        title: entry.title,
        body: entry.body,
        link: entry.link,
        student_id: asurso_runtime::edge::text_of(entry.student_id),
        created_at: Some(asurso_runtime::convert::timestamp(entry.created_at)),
        read: entry.read_at.is_some(),
    }
}

async fn list_feed(
    state: &State,
    caller: &Caller,
    request: pb::ListFeedRequest,
) -> Result<pb::ListFeedResponse, ServiceError> {
    let limit = page_size(request.page.as_ref());
    let token = request
        .page
        .as_ref()
        .map_or("", |page| page.page_token.as_str());
    let before = if token.is_empty() {
        None
    } else {
        Some(
            token
                .parse::<i64>()
                .ok()
                .filter(|cursor| *cursor > 0)
                .ok_or_else(|| ServiceError::invalid("page.page_token", "is not a page token"))?,
        )
    };
    let mut connection = state.pool().acquire().await?;
    let mut rows = feed::page(
        &mut connection,
        caller.person_id,
        before,
        request.unread_only,
        limit + 1,
    )
    .await?;
    let next_page_token = next_page(&mut rows, limit, |last| last.cursor.to_string());
    let unread = feed::unread(&mut connection, caller.person_id).await?;
    let head = feed::head(&mut connection, caller.person_id).await?;
    Ok(pb::ListFeedResponse {
        entries: rows.into_iter().map(entry).collect(),
        page: Some(asurso_proto::common::PageResponse { next_page_token }),
        unread_count: u32::try_from(unread).unwrap_or(u32::MAX),
        cursor: u64::try_from(head).unwrap_or(0),
    })
}

async fn mark_read(
    state: &State,
    caller: &Caller,
    request: pb::MarkReadRequest,
) -> Result<pb::MarkReadResponse, ServiceError> {
    if request.all && !request.ids.is_empty() {
        return Err(ServiceError::invalid("ids", "give ids or all, not both"));
    }
    if !request.all && request.ids.is_empty() {
        return Err(ServiceError::invalid("ids", "name the entries, or set all"));
    }
    if request.ids.len() > 1_000 {
        return Err(ServiceError::invalid("ids", "at most 1000 at once"));
    }
    let mut ids = Vec::with_capacity(request.ids.len());
    let mut violations = Vec::new();
    for (index, id) in request.ids.iter().enumerate() {
        match uuid_field(id, &format!("ids[{index}]")) {
            Ok(id) => ids.push(id),
            Err(ServiceError::Invalid(found)) => violations.extend(found),
            Err(other) => return Err(other),
        }
    }
    if !violations.is_empty() {
        return Err(ServiceError::Invalid(violations));
    }
    let mut connection = state.pool().acquire().await?;
    let marked = feed::mark_read(
        &mut connection,
        caller.person_id,
        (!request.all).then_some(ids.as_slice()),
    )
    .await?;
    let unread = feed::unread(&mut connection, caller.person_id).await?;
    Ok(pb::MarkReadResponse {
        marked: u32::try_from(marked).unwrap_or(u32::MAX),
        unread_count: u32::try_from(unread).unwrap_or(u32::MAX),
    })
}

type EntryStream = ReceiverStream<Result<pb::FeedEntry, Status>>;

/// Starts the caller's stream: what is after `after`, then what comes.
async fn subscribe(
    state: &Shared,
    caller: &Caller,
    request: pb::SubscribeRequest,
) -> Result<EntryStream, ServiceError> {
    let person = caller.person_id;
    let mut connection = state.pool().acquire().await?;
    let head = feed::head(&mut connection, person).await?;
    let cursor = match request.after {
        None => head,
        Some(after) => i64::try_from(after)
            .ok()
            .filter(|after| *after <= head)
            .ok_or_else(|| {
                ServiceError::Invalid(vec![FieldViolation::new(
                    "after",
                    format!("is past the feed's last cursor ({head})"),
                )])
            })?,
    };
    drop(connection);
    let (sender, receiver) = mpsc::channel(64);
    let state = std::sync::Arc::clone(state);
    let caller = caller.clone();
    let span = tracing::info_span!("feed.subscribe", person_id = %person, after = cursor);
    tokio::spawn(stream(state, caller, cursor, sender).instrument(span));
    Ok(ReceiverStream::new(receiver))
}

/// Sends entries in cursor order until the client goes, the stream's
/// lifetime ends (the client resumes with a fresh token), or the caller's
/// grant is revoked.
async fn stream(
    state: Shared,
    caller: Caller,
    mut cursor: i64,
    sender: mpsc::Sender<Result<pb::FeedEntry, Status>>,
) {
    let person = caller.person_id;
    let notify = state.hub.watch(person);
    let ends = tokio::time::Instant::now() + state.stream_lifetime;
    loop {
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let entries = async {
            let mut connection = state.pool().acquire().await?;
            asurso_directory::access::ensure_grant_stands(&mut connection, &caller).await?;
            Ok::<_, ServiceError>(feed::after(&mut connection, person, cursor, CATCH_UP).await?)
        }
        .await;
        let entries = match entries {
            Ok(entries) => entries,
            Err(error) => {
                let _ = sender.send(Err(Status::from(error))).await;
                return;
            }
        };
        let full = entries.len() as i64 == CATCH_UP;
        for found in entries {
            cursor = found.cursor;
            if sender.send(Ok(entry(found))).await.is_err() {
                return;
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(LOOK_AGAIN) => {}
            () = sender.closed() => return,
            () = tokio::time::sleep_until(ends) => return,
        }
    }
}

#[tonic::async_trait]
impl pb::feed_service_server::FeedService for FeedApi {
    async fn list_feed(
        &self,
        request: Request<pb::ListFeedRequest>,
    ) -> Result<Response<pb::ListFeedResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_feed)
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        asurso_runtime::handle!(self.0, request, mark_read)
    }

    type SubscribeStream = EntryStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        asurso_runtime::handle!(self.0, request, subscribe)
    }
}
