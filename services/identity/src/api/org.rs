//! The org tree: region -> municipality -> school.

use asurso_proto::{common::PageResponse, events, identity as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::{Edge, Idempotent, next_page};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, org_unit, page_size, uuid_field};
use crate::api::State;
use crate::{
    access,
    domain::{IdentityError, error::FieldViolation, person, rights::right},
    events::publish,
    storage::{
        self,
        org::{OrgUnitRow, SchoolCardRow},
    },
};

pub struct OrgApi(pub Shared);

const MAX_NAME: usize = 300;

fn unit_name(name: &str, field: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(IdentityError::invalid(field, "is required"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(IdentityError::invalid(
            field,
            "is longer than 300 characters",
        ));
    }
    Ok(name.to_owned())
}

/// The IANA time zones of Russia: a school's calendar is in one of them.
const RUSSIAN_TIME_ZONES: [&str; 27] = [
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Europe/Simferopol",
    "Europe/Kirov",
    "Europe/Volgograd",
    "Europe/Astrakhan",
    "Europe/Saratov",
    "Europe/Ulyanovsk",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Novosibirsk",
    "Asia/Barnaul",
    "Asia/Tomsk",
    "Asia/Novokuznetsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Chita",
    "Asia/Yakutsk",
    "Asia/Khandyga",
    "Asia/Vladivostok",
    "Asia/Ust-Nera",
    "Asia/Magadan",
    "Asia/Sakhalin",
    "Asia/Srednekolymsk",
    "Asia/Kamchatka",
    "Asia/Anadyr",
];

/// The given zone, or the parent's when none is given.
fn time_zone(zone: &str, parent: &OrgUnitRow) -> Result<String, IdentityError> {
    let zone = zone.trim();
    if zone.is_empty() {
        return Ok(parent.time_zone.clone());
    }
    RUSSIAN_TIME_ZONES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(zone))
        .map(|known| (*known).to_owned())
        .ok_or_else(|| {
            IdentityError::invalid(
                "time_zone",
                "is not a time zone of Russia (IANA name, e.g. Europe/Samara)",
            )
        })
}

/// Creates a unit under `parent` after the caller's checks; one
/// transaction with its event and idempotency record.
async fn create_child(
    state: &State,
    idempotent: &Idempotent,
    parent: &OrgUnitRow,
    kind: &str,
    name: String,
    zone: String,
) -> Result<OrgUnitRow, IdentityError> {
    let mut transaction = state.begin().await?;
    if let Some(answer) = idempotent.replay::<pb::OrgUnit>(&mut transaction).await? {
        let id = uuid_field(&answer.id, "id")?;
        return access::unit(&mut transaction, id, "id").await;
    }
    let id = Uuid::now_v7();
    let mut path = parent.path.clone();
    path.push(id);
    let unit = OrgUnitRow {
        id,
        kind: kind.to_owned(),
        parent_id: Some(parent.id),
        name,
        time_zone: zone,
        path,
    };
    if let Err(error) = storage::org::insert(&mut transaction, &unit).await {
        return Err(if storage::is_unique_violation(&error) {
            IdentityError::AlreadyExists(format!(
                "name: {} already has a unit named {:?}",
                parent.name, unit.name
            ))
        } else {
            error.into()
        });
    }
    publish(
        &mut transaction,
        &unit,
        ("org_unit", unit.id.to_string()),
        "created",
        &events::OrgUnitCreated {
            org_unit_id: unit.id.to_string(),
            kind: unit.kind.clone(),
            parent_id: parent.id.to_string(),
            name: unit.name.clone(),
            time_zone: unit.time_zone.clone(),
        },
    )
    .await?;
    idempotent
        .remember(&mut transaction, &org_unit(&unit))
        .await?;
    state.commit(transaction).await?;
    tracing::info!(org_unit_id = %unit.id, kind, parent_id = %parent.id, "org unit created");
    Ok(unit)
}

async fn create_municipality(
    state: &State,
    caller: &Caller,
    request: pb::CreateMunicipalityRequest,
) -> Result<pb::CreateMunicipalityResponse, IdentityError> {
    let region_id = uuid_field(&request.region_id, "region_id")?;
    let name = unit_name(&request.name, "name")?;
    let mut connection = state.pool.acquire().await?;
    let region = access::unit(&mut connection, region_id, "region_id").await?;
    if region.kind != "region" {
        return Err(IdentityError::invalid("region_id", "is not a region"));
    }
    access::authorize(
        &mut connection,
        caller,
        right::ORG_CREATE_MUNICIPALITY,
        &region,
    )
    .await?;
    drop(connection);
    let unit = create_child(
        state,
        &Idempotent::of(caller, &request, &request.idempotency_key)?,
        &region,
        "municipality",
        name,
        region.time_zone.clone(),
    )
    .await?;
    Ok(pb::CreateMunicipalityResponse {
        municipality: Some(org_unit(&unit)),
    })
}

async fn create_school(
    state: &State,
    caller: &Caller,
    request: pb::CreateSchoolRequest,
) -> Result<pb::CreateSchoolResponse, IdentityError> {
    let municipality_id = uuid_field(&request.municipality_id, "municipality_id")?;
    let name = unit_name(&request.name, "name")?;
    let mut connection = state.pool.acquire().await?;
    let municipality = access::unit(&mut connection, municipality_id, "municipality_id").await?;
    if municipality.kind != "municipality" {
        return Err(IdentityError::invalid(
            "municipality_id",
            "is not a municipality",
        ));
    }
    let zone = time_zone(&request.time_zone, &municipality)?;
    access::authorize(
        &mut connection,
        caller,
        right::ORG_CREATE_SCHOOL,
        &municipality,
    )
    .await?;
    drop(connection);
    let unit = create_child(
        state,
        &Idempotent::of(caller, &request, &request.idempotency_key)?,
        &municipality,
        "school",
        name,
        zone,
    )
    .await?;
    Ok(pb::CreateSchoolResponse {
        school: Some(org_unit(&unit)),
    })
}

async fn get_org_unit(
    state: &State,
    _caller: &Caller,
    request: pb::GetOrgUnitRequest,
) -> Result<pb::GetOrgUnitResponse, IdentityError> {
    let id = uuid_field(&request.id, "id")?;
    let mut connection = state.pool.acquire().await?;
    let unit = access::unit(&mut connection, id, "id").await?;
    Ok(pb::GetOrgUnitResponse {
        unit: Some(org_unit(&unit)),
    })
}

async fn list_org_units(
    state: &State,
    _caller: &Caller,
    request: pb::ListOrgUnitsRequest,
) -> Result<pb::ListOrgUnitsResponse, IdentityError> {
    let parent = uuid_field(&request.parent_id, "parent_id")?;
    let limit = page_size(request.page.as_ref());
    let after = match request.page.as_ref().map(|page| page.page_token.as_str()) {
        None | Some("") => None,
        Some(token) => Some(decode_token(token)?),
    };
    let mut connection = state.pool.acquire().await?;
    access::unit(&mut connection, parent, "parent_id").await?;
    let units = storage::org::children(&mut connection, parent, after, limit + 1).await?;
    let more = units.len() as i64 > limit;
    let units: Vec<OrgUnitRow> = units
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(50))
        .collect();
    let next_page_token = match (more, units.last()) {
        (true, Some(last)) => format!("{}|{}", last.id, last.name),
        _ => String::new(),
    };
    Ok(pb::ListOrgUnitsResponse {
        units: units.iter().map(org_unit).collect(),
        page: Some(PageResponse { next_page_token }),
    })
}

fn school_card(row: &SchoolCardRow) -> pb::SchoolCard {
    pb::SchoolCard {
        school_id: row.school_id.to_string(),
        full_name: row.full_name.clone(),
        short_name: row.short_name.clone(),
        about: row.about.clone(),
        legal_address: row.legal_address.clone(),
        postal_address: row.postal_address.clone(),
        email: row.email.clone(),
        website: row.website.clone(),
        phones: row.phones.clone(),
        director: row.director.clone(),
        deputy_administration: row.deputy_administration.clone(),
        deputy_it: row.deputy_it.clone(),
        deputy_education: row.deputy_education.clone(),
    }
}

/// A text of the card: trimmed, at most `max` characters.
fn card_text(value: &str, field: &str, max: usize, violations: &mut Vec<FieldViolation>) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        violations.push(FieldViolation::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if person::holds_control(&value.replace('\n', "")) {
        violations.push(FieldViolation::new(field, "holds control characters"));
    }
    value.to_owned()
}

async fn search_schools(
    state: &State,
    request: pb::SearchSchoolsRequest,
) -> Result<pb::SearchSchoolsResponse, IdentityError> {
    let part = request.name_contains.trim();
    if part.chars().count() > MAX_NAME {
        return Err(IdentityError::invalid(
            "name_contains",
            "is longer than 300 characters",
        ));
    }
    let limit = page_size(request.page.as_ref());
    let after = match request.page.as_ref().map(|page| page.page_token.as_str()) {
        None | Some("") => None,
        Some(token) => Some(decode_token(token)?),
    };
    let mut connection = state.pool.acquire().await?;
    let mut schools = storage::org::search_schools(&mut connection, part, after, limit + 1).await?;
    let next_page_token = next_page(&mut schools, limit, |last| {
        format!("{}|{}", last.school_id, last.full_name)
    });
    Ok(pb::SearchSchoolsResponse {
        schools: schools
            .iter()
            .map(|row| pb::SchoolListing {
                id: row.school_id.to_string(),
                name: row.full_name.clone(),
                short_name: if row.short_name.is_empty() {
                    row.full_name.clone()
                } else {
                    row.short_name.clone()
                },
                address: if row.legal_address.is_empty() {
                    row.postal_address.clone()
                } else {
                    row.legal_address.clone()
                },
            })
            .collect(),
        page: Some(PageResponse { next_page_token }),
    })
}

async fn get_school_card(
    state: &State,
    request: pb::GetSchoolCardRequest,
) -> Result<pb::GetSchoolCardResponse, IdentityError> {
    let school = uuid_field(&request.school_id, "school_id")?;
    let mut connection = state.pool.acquire().await?;
    let card = storage::org::card(&mut connection, school)
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("school_id: no school {school}")))?;
    Ok(pb::GetSchoolCardResponse {
        card: Some(school_card(&card)),
    })
}

async fn set_school_card(
    state: &State,
    caller: &Caller,
    request: pb::SetSchoolCardRequest,
) -> Result<pb::SetSchoolCardResponse, IdentityError> {
    let given = request.card.unwrap_or_default();
    let school = uuid_field(&given.school_id, "card.school_id")?;
    let mut violations = Vec::new();
    let mut text = |value: &str, field: &str, max: usize| {
        card_text(value, &format!("card.{field}"), max, &mut violations)
    };
    let mut card = SchoolCardRow {
        school_id: school,
        full_name: String::new(),
        short_name: text(&given.short_name, "short_name", 100),
        about: text(&given.about, "about", 4000),
        legal_address: text(&given.legal_address, "legal_address", 500),
        postal_address: text(&given.postal_address, "postal_address", 500),
        email: text(&given.email, "email", 254),
        website: text(&given.website, "website", 500),
        phones: text(&given.phones, "phones", 200),
        director: text(&given.director, "director", MAX_NAME),
        deputy_administration: text(
            &given.deputy_administration,
            "deputy_administration",
            MAX_NAME,
        ),
        deputy_it: text(&given.deputy_it, "deputy_it", MAX_NAME),
        deputy_education: text(&given.deputy_education, "deputy_education", MAX_NAME),
    };
    if !card.email.is_empty() && !person::looks_like_email(&card.email) {
        violations.push(FieldViolation::new(
            "card.email",
            "is not an e-mail address",
        ));
    }
    let web = &card.website;
    if !(web.is_empty() || web.starts_with("https://") || web.starts_with("http://")) {
        violations.push(FieldViolation::new(
            "card.website",
            "must start with https:// (or http://)",
        ));
    }
    if !violations.is_empty() {
        return Err(IdentityError::Invalid(violations));
    }
    let mut transaction = state.begin().await?;
    let unit = access::unit(&mut transaction, school, "card.school_id").await?;
    if unit.kind != "school" {
        return Err(IdentityError::invalid("card.school_id", "is not a school"));
    }
    access::authorize(&mut transaction, caller, right::ORG_EDIT_SCHOOL_CARD, &unit).await?;
    storage::org::set_card(&mut transaction, &card, caller.person_id).await?;
    state.commit(transaction).await?;
    card.full_name = unit.name;
    tracing::info!(school_id = %school, "school card changed");
    Ok(pb::SetSchoolCardResponse {
        card: Some(school_card(&card)),
    })
}

#[tonic::async_trait]
impl pb::org_service_server::OrgService for OrgApi {
    async fn create_municipality(
        &self,
        request: Request<pb::CreateMunicipalityRequest>,
    ) -> Result<Response<pb::CreateMunicipalityResponse>, Status> {
        asurso_runtime::handle!(self.0, request, create_municipality)
    }

    async fn create_school(
        &self,
        request: Request<pb::CreateSchoolRequest>,
    ) -> Result<Response<pb::CreateSchoolResponse>, Status> {
        asurso_runtime::handle!(self.0, request, create_school)
    }

    async fn get_org_unit(
        &self,
        request: Request<pb::GetOrgUnitRequest>,
    ) -> Result<Response<pb::GetOrgUnitResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_org_unit)
    }

    async fn list_org_units(
        &self,
        request: Request<pb::ListOrgUnitsRequest>,
    ) -> Result<Response<pb::ListOrgUnitsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_org_units)
    }

    async fn search_schools(
        &self,
        request: Request<pb::SearchSchoolsRequest>,
    ) -> Result<Response<pb::SearchSchoolsResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, search_schools)
    }

    async fn get_school_card(
        &self,
        request: Request<pb::GetSchoolCardRequest>,
    ) -> Result<Response<pb::GetSchoolCardResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, get_school_card)
    }

    async fn set_school_card(
        &self,
        request: Request<pb::SetSchoolCardRequest>,
    ) -> Result<Response<pb::SetSchoolCardResponse>, Status> {
        asurso_runtime::handle!(self.0, request, set_school_card)
    }
}

fn decode_token(token: &str) -> Result<(String, Uuid), IdentityError> {
    let invalid =
        || IdentityError::invalid("page.page_token", "is not a token this service gave out");
    let (id, name) = token.split_once('|').ok_or_else(invalid)?;
    Ok((name.to_owned(), Uuid::parse_str(id).map_err(|_| invalid())?))
}
