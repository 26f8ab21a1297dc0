//! The gRPC edge: proto <-> domain conversions, the caller from the token,
//! and the one place where an [`IdentityError`] becomes a gRPC status.

pub mod access;
pub mod app_passwords;
pub mod audit;
pub mod auth;
pub mod federation;
pub mod org;
pub mod people;

pub use asurso_runtime::{
    convert::{civil_date, timestamp},
    edge::{Edge, Idempotent, page_size, uuid_field},
};
use std::sync::Arc;

use asurso_proto::identity as pb;
use asurso_runtime::{
    auth::{Caller, Verifier, parse_role},
    events::relay::RelayWaker,
};
use sqlx::PgPool;
use tonic::Status;

use crate::{
    Settings,
    crypto::Secrets,
    domain::IdentityError,
    storage::{grants::GrantRow, org::OrgUnitRow},
    tokens::{OwnKeys, TokenIssuer},
};

/// What every handler shares.
pub struct State {
    pub pool: PgPool,
    pub secrets: Secrets,
    pub tokens: Arc<TokenIssuer>,
    pub verifier: Verifier<OwnKeys>,
    pub settings: Settings,
    pub relay: RelayWaker,
    /// Logging in through ESIA, when configured.
    pub federation: Option<Arc<crate::federation::Federation>>,
}

pub type Shared = Arc<State>;

impl Edge for State {
    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn relay(&self) -> &RelayWaker {
        &self.relay
    }

    /// The verified caller of a request.
    async fn caller<T: Send + Sync>(&self, request: &tonic::Request<T>) -> Result<Caller, Status> {
        Ok(self.verifier.authenticate(request).await?)
    }
}

pub fn kind_of(kind: &str) -> pb::OrgUnitKind {
    match kind {
        "region" => pb::OrgUnitKind::Region,
        "municipality" => pb::OrgUnitKind::Municipality,
        "school" => pb::OrgUnitKind::School,
        _ => pb::OrgUnitKind::Unspecified,
    }
}

pub fn org_unit(unit: &OrgUnitRow) -> pb::OrgUnit {
    pb::OrgUnit {
        id: unit.id.to_string(),
        kind: kind_of(&unit.kind).into(),
        parent_id: unit.parent_id.map(|id| id.to_string()).unwrap_or_default(),
        name: unit.name.clone(),
        time_zone: unit.time_zone.clone(),
    }
}

pub fn grant(grant: &GrantRow) -> pb::Grant {
    pb::Grant {
        id: grant.id.to_string(),
        person_id: grant.person_id.to_string(),
        role: parse_role(&grant.role)
            .unwrap_or(pb::Role::Unspecified)
            .into(),
        org_unit_id: grant.org_unit_id.to_string(),
        org_unit_kind: kind_of(&grant.org_unit_kind).into(),
        org_unit_name: grant.org_unit_name.clone(),
    }
}

/// A role from a request field.
pub fn role_field(value: i32, field: &str) -> Result<pb::Role, IdentityError> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Unspecified) | Err(_) => Err(IdentityError::invalid(field, "is not a role")),
        Ok(role) => Ok(role),
    }
}
