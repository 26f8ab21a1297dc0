//! Role grants and the rights matrix.

use asurso_proto::{events, identity as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::auth::{parse_role, role_name};
use tonic::{Request, Response, Status};

use super::{Shared, grant, role_field, uuid_field};
use crate::api::State;
use crate::{
    access,
    domain::{
        IdentityError,
        rights::{self, Right, right},
    },
    events::publish,
    storage,
};

pub struct AccessApi(pub Shared);

async fn grant_role(
    state: &State,
    caller: &Caller,
    request: pb::GrantRoleRequest,
) -> Result<pb::GrantRoleResponse, IdentityError> {
    let person_id = uuid_field(&request.person_id, "person_id")?;
    let role = role_field(request.role, "role")?;
    let unit_id = uuid_field(&request.org_unit_id, "org_unit_id")?;
    let mut transaction = state.pool.begin().await?;
    let unit = access::unit(&mut transaction, unit_id, "org_unit_id").await?;
    if !rights::role_fits_unit(role, &unit.kind) {
        return Err(IdentityError::invalid(
            "role",
            format!("{} cannot be granted on a {}", role_name(role), unit.kind),
        ));
    }
    access::authorize(&mut transaction, caller, right::ROLES_GRANT, &unit).await?;
    if storage::people::get(&mut transaction, person_id)
        .await?
        .is_none()
    {
        return Err(IdentityError::NotFound(format!(
            "person_id: no person {person_id}"
        )));
    }
    let (grant_id, created) = storage::grants::grant(
        &mut transaction,
        person_id,
        role_name(role),
        unit.id,
        Some(caller.person_id),
    )
    .await?;
    if created {
        publish(
            &mut transaction,
            &unit,
            ("person", person_id.to_string()),
            "role_granted",
            &events::RoleGranted {
                grant_id: grant_id.to_string(),
                person_id: person_id.to_string(),
                role: role_name(role).to_owned(),
                org_unit_id: unit.id.to_string(),
            },
        )
        .await?;
    }
    let row = storage::grants::get(&mut transaction, grant_id)
        .await?
        .ok_or_else(|| IdentityError::Internal("a grant vanished".into()))?;
    transaction.commit().await?;
    state.relay.wake();
    Ok(pb::GrantRoleResponse {
        grant: Some(grant(&row)),
    })
}

async fn revoke_role(
    state: &State,
    caller: &Caller,
    request: pb::RevokeRoleRequest,
) -> Result<pb::RevokeRoleResponse, IdentityError> {
    let grant_id = uuid_field(&request.grant_id, "grant_id")?;
    let mut transaction = state.pool.begin().await?;
    let row = storage::grants::get(&mut transaction, grant_id)
        .await?
        .filter(|row| !row.revoked)
        .ok_or_else(|| IdentityError::NotFound(format!("grant_id: no active grant {grant_id}")))?;
    let unit = access::unit(&mut transaction, row.org_unit_id, "grant_id").await?;
    access::authorize(&mut transaction, caller, right::ROLES_GRANT, &unit).await?;
    if storage::grants::revoke(&mut transaction, grant_id).await? {
        publish(
            &mut transaction,
            &unit,
            ("person", row.person_id.to_string()),
            "role_revoked",
            &events::RoleRevoked {
                grant_id: grant_id.to_string(),
                person_id: row.person_id.to_string(),
                role: row.role.clone(),
                org_unit_id: unit.id.to_string(),
            },
        )
        .await?;
    }
    transaction.commit().await?;
    state.relay.wake();
    Ok(pb::RevokeRoleResponse {})
}

async fn list_grants(
    state: &State,
    caller: &Caller,
    request: pb::ListGrantsRequest,
) -> Result<pb::ListGrantsResponse, IdentityError> {
    let person_id = match request.person_id.as_str() {
        "" => caller.person_id,
        id => uuid_field(id, "person_id")?,
    };
    let mut connection = state.pool.acquire().await?;
    if person_id != caller.person_id {
        let person = storage::people::get(&mut connection, person_id)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {person_id}")))?;
        let unit = access::unit(&mut connection, person.org_unit_id, "person_id").await?;
        access::authorize(&mut connection, caller, right::ROLES_GRANT, &unit).await?;
    }
    let grants = storage::grants::active_of(&mut connection, person_id).await?;
    Ok(pb::ListGrantsResponse {
        grants: grants.iter().map(grant).collect(),
    })
}

async fn get_rights_matrix(
    state: &State,
    _caller: &Caller,
    request: pb::GetRightsMatrixRequest,
) -> Result<pb::GetRightsMatrixResponse, IdentityError> {
    let unit_id = uuid_field(&request.org_unit_id, "org_unit_id")?;
    let mut connection = state.pool.acquire().await?;
    let unit = access::unit(&mut connection, unit_id, "org_unit_id").await?;
    let matrix = access::matrix_at(&mut connection, &unit).await?;
    let rights = matrix
        .cells()
        .map(|(role, name, cell)| pb::RightSetting {
            role: role.into(),
            right: name.to_owned(),
            allowed: cell.allowed,
            adjustable: cell.adjustable,
        })
        .collect();
    Ok(pb::GetRightsMatrixResponse { rights })
}

async fn set_right(
    state: &State,
    caller: &Caller,
    request: pb::SetRightRequest,
) -> Result<pb::SetRightResponse, IdentityError> {
    let unit_id = uuid_field(&request.org_unit_id, "org_unit_id")?;
    let setting = request
        .setting
        .ok_or_else(|| IdentityError::invalid("setting", "is required"))?;
    let role = role_field(setting.role, "setting.role")?;
    // The right comes as a name (from a request, into the rights table
    // and the event); it is checked against the matrix's own rights here.
    let Some(requested) = Right::parse(&setting.right) else {
        return Err(IdentityError::invalid(
            "setting.right",
            format!("{:?} is not a right", setting.right),
        ));
    };
    let mut transaction = state.pool.begin().await?;
    let unit = access::unit(&mut transaction, unit_id, "org_unit_id").await?;
    access::authorize(&mut transaction, caller, right::RIGHTS_MANAGE, &unit).await?;
    let cell = match unit.kind.as_str() {
        "region" => rights::Cell {
            allowed: setting.allowed,
            adjustable: setting.adjustable,
        },
        "school" => {
            if !rights::role_fits_unit(role, "school") {
                return Err(IdentityError::denied(format!(
                    "a school sets rights for its own roles, not for {}",
                    role_name(role)
                )));
            }
            let current = access::matrix_at(&mut transaction, &unit).await?;
            let adjustable = current
                .cell(role, requested)
                .is_some_and(|cell| cell.adjustable);
            if !adjustable {
                return Err(IdentityError::denied(format!(
                    "the region does not let schools change {} for {}",
                    setting.right,
                    role_name(role)
                )));
            }
            rights::Cell {
                allowed: setting.allowed,
                adjustable: true,
            }
        }
        _ => {
            return Err(IdentityError::invalid(
                "org_unit_id",
                "rights are set for a region or a school",
            ));
        }
    };
    storage::rights::set(
        &mut transaction,
        unit.id,
        role_name(role),
        requested.name(),
        cell,
        caller.person_id,
    )
    .await?;
    publish(
        &mut transaction,
        &unit,
        ("rights", unit.id.to_string()),
        "right_changed",
        &events::RightChanged {
            org_unit_id: unit.id.to_string(),
            org_unit_kind: unit.kind.clone(),
            role: role_name(role).to_owned(),
            right: setting.right.clone(),
            allowed: cell.allowed,
            adjustable: cell.adjustable,
        },
    )
    .await?;
    transaction.commit().await?;
    state.relay.wake();
    tracing::info!(org_unit_id = %unit.id, role = role_name(role), right = %setting.right, allowed = cell.allowed, "right set");
    Ok(pb::SetRightResponse {
        setting: Some(pb::RightSetting {
            role: parse_role(role_name(role)).unwrap_or(role).into(),
            right: setting.right,
            allowed: cell.allowed,
            adjustable: cell.adjustable,
        }),
    })
}

#[tonic::async_trait]
impl pb::access_service_server::AccessService for AccessApi {
    async fn grant_role(
        &self,
        request: Request<pb::GrantRoleRequest>,
    ) -> Result<Response<pb::GrantRoleResponse>, Status> {
        asurso_runtime::handle!(self.0, request, grant_role)
    }

    async fn revoke_role(
        &self,
        request: Request<pb::RevokeRoleRequest>,
    ) -> Result<Response<pb::RevokeRoleResponse>, Status> {
        asurso_runtime::handle!(self.0, request, revoke_role)
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_grants)
    }

    async fn get_rights_matrix(
        &self,
        request: Request<pb::GetRightsMatrixRequest>,
    ) -> Result<Response<pb::GetRightsMatrixResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_rights_matrix)
    }

    async fn set_right(
        &self,
        request: Request<pb::SetRightRequest>,
    ) -> Result<Response<pb::SetRightResponse>, Status> {
        asurso_runtime::handle!(self.0, request, set_right)
    }
}
