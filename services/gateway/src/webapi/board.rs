//! What a school shows everyone: the list of schools (the apps find the
//! school to log in to in it), a school's card, and the announcements the
//! caller's audience sees.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use asurso_proto::{identity as pb, messaging as msg};
use axum::{
    Json,
    extract::{Path, Request, State},
    response::IntoResponse,
};
use serde_json::{Value, json};

use super::{
    Answer, WebApi, WebApiError, all_pages, anonymous_call, file_json, format, ids::Kind,
    json_with_token, owned_key,
};

/// How long the list of schools is reused before it is read again.
const LIST_FRESH: Duration = Duration::from_secs(60);
/// The most schools listed (a region has a few thousand).
const MAX_SCHOOLS: usize = 10_000;
/// Announcements read at most in one request.
const MAX_ANNOUNCEMENTS: usize = 500;

/// The whole list of schools, read at most once a minute: every app's
/// login asks for it.
#[derive(Default)]
pub struct SchoolList(Mutex<Option<(Instant, Arc<Vec<Value>>)>>);

async fn read_schools(api: &WebApi, address: std::net::IpAddr) -> Result<Vec<Value>, WebApiError> {
    let schools = all_pages(MAX_SCHOOLS, |page| {
        let call = anonymous_call(
            pb::SearchSchoolsRequest {
                name_contains: String::new(),
                page: Some(page),
            },
            address,
        );
        async move {
            let answer = api.org()?.search_schools(call).await?.into_inner();
            Ok((answer.schools, answer.page))
        }
    })
    .await?;
    let numbers = api
        .ids
        .numbers(
            Kind::School,
            &schools.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        )
        .await?;
    Ok(schools
        .iter()
        .map(|school| {
            json!({
                "id": numbers.get(&school.id).copied().unwrap_or_default(),
                "name": school.name,
                "shortName": school.short_name,
                "addressString": school.address,
            })
        })
        .collect())
}

/// `schools/search[?name=]`: no login needed (the apps ask before it, and
/// send a stale `at` after a session ended: ignored here).
pub async fn search(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let address = api.address(&request);
    api.anonymous_call(address)?;
    let query = format::query(&request);
    let part = query.get("name").map(|name| name.trim()).unwrap_or("");
    if part.chars().count() > 300 {
        return Err(WebApiError::BadRequest(
            "name: не длиннее 300 символов".to_owned(),
        ));
    }
    let cached = api.schools.0.lock().ok().and_then(|list| {
        list.as_ref()
            .filter(|(read, _)| read.elapsed() < LIST_FRESH)
            .map(|(_, schools)| Arc::clone(schools))
    });
    let schools = match cached {
        Some(schools) => schools,
        None => {
            let schools = Arc::new(read_schools(&api, address).await?);
            if let Ok(mut list) = api.schools.0.lock() {
                *list = Some((Instant::now(), Arc::clone(&schools)));
            }
            schools
        }
    };
    if part.is_empty() {
        return Ok(Json(schools.as_slice()).into_response());
    }
    // A part of the name: the list in memory filtered, as identity would.
    let part = part.to_lowercase();
    let has = |school: &Value, field: &str| {
        school[field]
            .as_str()
            .is_some_and(|text| text.to_lowercase().contains(&part))
    };
    let found: Vec<&Value> = schools
        .iter()
        .filter(|school| has(school, "name") || has(school, "shortName"))
        .collect();
    Ok(Json(found).into_response())
}

/// `schools/{id}/card`: what the school publishes, every value a string.
pub async fn card(
    State(api): State<Arc<WebApi>>,
    Path(id): Path<String>,
    request: Request,
) -> Answer {
    let address = api.address(&request);
    api.anonymous_call(address)?;
    let school = api
        .ids
        .resolve_text(Some(&id), &[Kind::School], "id")
        .await?;
    let card = api
        .org()?
        .get_school_card(anonymous_call(
            pb::GetSchoolCardRequest {
                school_id: school.key,
            },
            address,
        ))
        .await?
        .into_inner()
        .card
        .unwrap_or_default();
    Ok(Json(json!({
        "commonInfo": {
            "fullSchoolName": card.full_name,
            "schoolName": if card.short_name.is_empty() { &card.full_name } else { &card.short_name },
            "about": card.about,
        },
        "contactInfo": {
            "juridicalAddress": card.legal_address,
            "postAddress": card.postal_address,
            "email": card.email,
            "web": card.website,
            "phones": card.phones,
        },
        "managementInfo": {
            "director": card.director,
            "principalAHC": card.deputy_administration,
            "principalIT": card.deputy_it,
            "principalUVR": card.deputy_education,
        },
    }))
    .into_response())
}

/// `announcements?take=N` (-1: all): what the caller's audience sees,
/// newest first.
pub async fn announcements(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let query = format::query(&request);
    let take = match query.get("take").map(|take| take.trim()) {
        None | Some("") | Some("-1") => MAX_ANNOUNCEMENTS,
        Some(take) => take
            .parse::<usize>()
            .ok()
            .filter(|take| *take > 0)
            .map(|take| take.min(MAX_ANNOUNCEMENTS))
            .ok_or_else(|| {
                WebApiError::BadRequest(format!("take: {take:?} — не число (или -1 для всех)"))
            })?,
    };
    let api: &WebApi = &api;
    let found: Vec<msg::Announcement> = all_pages(take, |page| {
        let call = session.call(msg::ListAnnouncementsRequest { page: Some(page) });
        async move {
            let answer = api.board()?.list_announcements(call).await?.into_inner();
            Ok((answer.announcements, answer.page))
        }
    })
    .await?;
    let numbers = api
        .ids
        .numbers(
            Kind::Announcement,
            &found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        )
        .await?;
    let authors = api
        .ids
        .numbers(
            Kind::Person,
            &found
                .iter()
                .filter_map(|a| a.author.as_ref().map(|p| p.id.as_str()))
                .collect::<Vec<_>>(),
        )
        .await?;
    let file_keys: Vec<String> = found
        .iter()
        .flat_map(|a| {
            a.attachments
                .iter()
                .map(move |file| owned_key(&a.id, &file.id))
        })
        .collect();
    let files = api
        .ids
        .numbers(
            Kind::AnnouncementFile,
            &file_keys.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await?;
    let listed: Vec<Value> = found
        .iter()
        .map(|announcement| {
            let author = announcement.author.clone().unwrap_or_default();
            json!({
                "id": numbers.get(&announcement.id).copied().unwrap_or_default(),
                "name": announcement.title,
                "description": announcement.text,
                "postDate": format::moment(
                    announcement.visible_from.as_ref().or(announcement.published_at.as_ref())
                ),
                "deleteDate": null,
                "author": {
                    "id": authors.get(&author.id).copied().unwrap_or_default(),
                    "fio": author.name,
                    "nickName": author.name,
                },
                "em": null,
                "recipientInfo": null,
                "attachments": announcement.attachments.iter().map(|file| {
                    let key = owned_key(&announcement.id, &file.id);
                    file_json(files.get(&key).copied().unwrap_or_default(), &file.file_name)
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json_with_token(&session, &listed))
}
