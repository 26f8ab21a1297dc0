//! The announcement board: posted once to an audience (the region, a
//! municipality, a school, a class; all or chosen roles), read by everyone
//! their grants and children put in it.

use std::collections::HashMap;

use asurso_proto::{events as ev, identity::Role, messaging as pb};
use asurso_runtime::{
    auth::{Caller, parse_role, role_name},
    convert::{instant, timestamp},
    edge::{Edge, Idempotent, next_page, page_size, uuid_field},
    errors::ServiceError,
    events::{NewEvent, enqueue},
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, State, new_files, person};
use crate::{
    access,
    domain::{self, Cursor, Format, MAX_TITLE},
    storage::{
        self,
        announcements::{self as store, NewAnnouncement, Row},
        attachments as files,
    },
};

pub struct AnnouncementsApi(pub Shared);

fn announcement(row: Row, attachments: Vec<pb::AttachmentInfo>) -> pb::Announcement {
    let (org_unit_id, class_id) = if row.audience_kind == "class" {
        (String::new(), row.audience_id.to_string())
    } else {
        (row.audience_id.to_string(), String::new())
    };
    pb::Announcement {
        id: row.id.to_string(),
        audience: Some(pb::Audience {
            org_unit_id,
            class_id,
            roles: row
                .roles
                .iter()
                .filter_map(|role| parse_role(role))
                .map(i32::from)
                .collect(),
        }),
        audience_name: row.audience_name,
        author: Some(person(row.author_id, row.author_name)),
        title: row.title,
        text: row.body,
        format: Format::parse(&row.format).proto(),
        visible_from: Some(timestamp(row.visible_from)),
        visible_until: row.visible_until.map(timestamp),
        pinned: row.pinned,
        attachments,
        published_at: Some(timestamp(row.published_at)),
    }
}

async fn with_attachments(
    connection: &mut sqlx::PgConnection,
    rows: Vec<Row>,
) -> Result<Vec<pb::Announcement>, ServiceError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut by_owner: HashMap<Uuid, Vec<pb::AttachmentInfo>> = HashMap::new();
    for (owner, file) in files::of_announcements(connection, &ids).await? {
        by_owner.entry(owner).or_default().push(file.proto());
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let attachments = by_owner.remove(&row.id).unwrap_or_default();
            announcement(row, attachments)
        })
        .collect())
}

fn roles(values: &[i32]) -> Result<Vec<String>, ServiceError> {
    let mut names = Vec::new();
    for (index, value) in values.iter().enumerate() {
        match Role::try_from(*value) {
            Ok(Role::Unspecified) | Err(_) => {
                return Err(ServiceError::invalid(
                    format!("audience.roles[{index}]"),
                    "is not a role",
                ));
            }
            Ok(role) => {
                let name = role_name(role).to_owned();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    Ok(names)
}

async fn publish_announcement(
    state: &State,
    caller: &Caller,
    request: pb::PublishAnnouncementRequest,
) -> Result<pb::PublishAnnouncementResponse, ServiceError> {
    let audience = request
        .audience
        .as_ref()
        .ok_or_else(|| ServiceError::invalid("audience", "is required"))?;
    let roles = roles(&audience.roles)?;
    let format = Format::of(request.format)?;
    let title = domain::line(&request.title, "title", MAX_TITLE, true)?;
    let body = domain::text(&request.text, format, "text")?;
    if body.trim().is_empty() {
        return Err(ServiceError::invalid("text", "is required"));
    }
    let visible_from = request
        .visible_from
        .as_ref()
        .map(|at| instant(at, "visible_from"))
        .transpose()
        .map_err(|violation| ServiceError::Invalid(vec![violation]))?;
    let visible_until = request
        .visible_until
        .as_ref()
        .map(|at| instant(at, "visible_until"))
        .transpose()
        .map_err(|violation| ServiceError::Invalid(vec![violation]))?;
    let starts = visible_from.unwrap_or_else(time::OffsetDateTime::now_utc);
    if visible_until.is_some_and(|until| until <= starts) {
        return Err(ServiceError::invalid(
            "visible_until",
            "comes after the announcement starts showing",
        ));
    }
    let new = new_files(&request.attachments)?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;

    let mut transaction = state.begin().await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    let target = access::announce_to(&mut transaction, caller, audience).await?;
    let id = Uuid::now_v7();
    store::insert(
        &mut transaction,
        &NewAnnouncement {
            id,
            audience: &target,
            roles: &roles,
            author: caller.person_id,
            author_role: role_name(caller.role),
            title: &title,
            body: &body,
            format: format.name(),
            visible_from: starts,
            visible_until,
            pinned: request.pinned,
        },
    )
    .await?;
    let stored = files::store(&mut transaction, caller.person_id, &new).await?;
    if !stored.is_empty() {
        files::link_to_announcement(&mut transaction, id, &stored).await?;
    }
    let row = store::get(&mut transaction, id)
        .await?
        .ok_or_else(|| ServiceError::Internal("the announcement just stored is gone".into()))?;
    let scope_unit = target.school.unwrap_or(target.id);
    let scope = storage::scope_of(&mut transaction, scope_unit).await?;
    let (org_unit_id, class_id) = if target.kind == "class" {
        (
            target
                .school
                .map(|school| school.to_string())
                .unwrap_or_default(),
            target.id.to_string(),
        )
    } else {
        (target.id.to_string(), String::new())
    };
    enqueue(
        &mut transaction,
        "messaging",
        NewEvent {
            subject: format!("messaging.announcement.published.{scope_unit}"),
            aggregate_type: "announcement",
            aggregate_id: id.to_string(),
            scope,
            payload: &ev::AnnouncementPublished {
                announcement_id: id.to_string(),
                org_unit_id,
                class_id,
                roles: roles.clone(),
                title: title.clone(),
                author_id: caller.person_id.to_string(),
                visible_from_unix: row.visible_from.unix_timestamp(),
                visible_until_unix: row.visible_until.map_or(0, |at| at.unix_timestamp()),
                pinned: row.pinned,
            },
        },
    )
    .await?;
    let answer = pb::PublishAnnouncementResponse {
        announcement: with_attachments(&mut transaction, vec![row]).await?.pop(),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(announcement_id = %id, audience = %target.id, kind = target.kind, "announcement published");
    Ok(answer)
}

async fn list_announcements(
    state: &State,
    caller: &Caller,
    request: pb::ListAnnouncementsRequest,
) -> Result<pb::ListAnnouncementsResponse, ServiceError> {
    let limit = page_size(request.page.as_ref());
    let after = Cursor::parse(
        request
            .page
            .as_ref()
            .map(|page| page.page_token.as_str())
            .unwrap_or_default(),
    )?;
    let mut connection = state.pool.acquire().await?;
    let (units, roles) = access::memberships(&mut connection, caller.person_id).await?;
    let mut rows = store::board(
        &mut connection,
        (&units, &roles),
        caller.person_id,
        after,
        limit + 1,
    )
    .await?;
    let next_page_token = next_page(&mut rows, limit, |last| {
        Cursor {
            at: last.visible_from,
            id: last.id,
            pinned: last.pinned,
        }
        .token()
    });
    Ok(pb::ListAnnouncementsResponse {
        announcements: with_attachments(&mut connection, rows).await?,
        page: Some(asurso_proto::common::PageResponse { next_page_token }),
    })
}

async fn visible(
    connection: &mut sqlx::PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<Row, ServiceError> {
    let (units, roles) = access::memberships(connection, caller.person_id).await?;
    store::visible(connection, (&units, &roles), caller.person_id, id)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                "announcement_id",
                format_args!("announcement {id} on your board"),
            )
        })
}

async fn get_announcement(
    state: &State,
    caller: &Caller,
    request: pb::GetAnnouncementRequest,
) -> Result<pb::GetAnnouncementResponse, ServiceError> {
    let id = uuid_field(&request.announcement_id, "announcement_id")?;
    let mut connection = state.pool.acquire().await?;
    let row = visible(&mut connection, caller, id).await?;
    Ok(pb::GetAnnouncementResponse {
        announcement: with_attachments(&mut connection, vec![row]).await?.pop(),
    })
}

async fn withdraw_announcement(
    state: &State,
    caller: &Caller,
    request: pb::WithdrawAnnouncementRequest,
) -> Result<pb::WithdrawAnnouncementResponse, ServiceError> {
    let id = uuid_field(&request.announcement_id, "announcement_id")?;
    let mut transaction = state.begin().await?;
    let row = store::get(&mut transaction, id).await?.ok_or_else(|| {
        ServiceError::not_found("announcement_id", format_args!("announcement {id}"))
    })?;
    if row.author_id != caller.person_id {
        let audience = if row.audience_kind == "class" {
            pb::Audience {
                class_id: row.audience_id.to_string(),
                ..Default::default()
            }
        } else {
            pb::Audience {
                org_unit_id: row.audience_id.to_string(),
                ..Default::default()
            }
        };
        access::announce_to(&mut transaction, caller, &audience).await?;
    }
    if store::withdraw(&mut transaction, id).await? {
        let scope_unit = row.school_id.unwrap_or(row.audience_id);
        let scope = storage::scope_of(&mut transaction, scope_unit).await?;
        enqueue(
            &mut transaction,
            "messaging",
            NewEvent {
                subject: format!("messaging.announcement.withdrawn.{scope_unit}"),
                aggregate_type: "announcement",
                aggregate_id: id.to_string(),
                scope,
                payload: &ev::AnnouncementWithdrawn {
                    announcement_id: id.to_string(),
                    withdrawn_by: caller.person_id.to_string(),
                },
            },
        )
        .await?;
    }
    state.commit(transaction).await?;
    Ok(pb::WithdrawAnnouncementResponse {})
}

async fn get_announcement_attachment(
    state: &State,
    caller: &Caller,
    request: pb::GetAnnouncementAttachmentRequest,
) -> Result<pb::GetAnnouncementAttachmentResponse, ServiceError> {
    let id = uuid_field(&request.announcement_id, "announcement_id")?;
    let file = uuid_field(&request.attachment_id, "attachment_id")?;
    let mut connection = state.pool.acquire().await?;
    visible(&mut connection, caller, id).await?;
    let (info, content) = files::content_on_announcement(&mut connection, id, file)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                "attachment_id",
                format_args!("file {file} on the announcement"),
            )
        })?;
    Ok(pb::GetAnnouncementAttachmentResponse {
        attachment: Some(info.proto()),
        content,
    })
}

#[tonic::async_trait]
impl pb::announcement_service_server::AnnouncementService for AnnouncementsApi {
    async fn publish_announcement(
        &self,
        request: Request<pb::PublishAnnouncementRequest>,
    ) -> Result<Response<pb::PublishAnnouncementResponse>, Status> {
        asurso_runtime::handle!(self.0, request, publish_announcement)
    }

    async fn list_announcements(
        &self,
        request: Request<pb::ListAnnouncementsRequest>,
    ) -> Result<Response<pb::ListAnnouncementsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_announcements)
    }

    async fn get_announcement(
        &self,
        request: Request<pb::GetAnnouncementRequest>,
    ) -> Result<Response<pb::GetAnnouncementResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_announcement)
    }

    async fn withdraw_announcement(
        &self,
        request: Request<pb::WithdrawAnnouncementRequest>,
    ) -> Result<Response<pb::WithdrawAnnouncementResponse>, Status> {
        asurso_runtime::handle!(self.0, request, withdraw_announcement)
    }

    async fn get_announcement_attachment(
        &self,
        request: Request<pb::GetAnnouncementAttachmentRequest>,
    ) -> Result<Response<pb::GetAnnouncementAttachmentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_announcement_attachment)
    }
}
