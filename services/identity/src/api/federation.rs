//! Logging in through ESIA: start, complete (linking the account to the
//! person a school registered), unlink; the regional login policy.

use asurso_proto::{events, identity as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::convert;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use super::{Shared, grant, timestamp, uuid_field};
use crate::api::State;
use crate::{
    access,
    domain::{IdentityError, rights::right, snils::Snils},
    federation::{Federation, FederationError},
    storage::{
        self,
        federation::{Consumed, PendingLogin},
        policy::PolicyRow,
        sessions::Method,
    },
};

pub struct FederationApi(pub Shared);

const VERIFIER: &[u8] = crate::crypto::PKCE_VERIFIER;

/// How to confirm a Gosuslugi account: said to everyone refused for it.
pub const CONFIRM_ACCOUNT: &str = "your Gosuslugi (ESIA) account is not confirmed: confirm it \
    in person at a service centre (MFC) or a Russian Post office, or online through your bank, \
    then log in again";

impl From<FederationError> for IdentityError {
    fn from(error: FederationError) -> Self {
        match error {
            FederationError::Unavailable(message) => Self::Unavailable(message),
            FederationError::CodeRefused(message) | FederationError::Rejected(message) => {
                Self::Unauthenticated(message)
            }
            other @ (FederationError::Settings(_) | FederationError::Signer(_)) => {
                Self::Internal(Box::new(other))
            }
        }
    }
}

fn federation(state: &State) -> Result<&Federation, IdentityError> {
    state.federation.as_deref().ok_or_else(|| {
        IdentityError::FailedPrecondition(
            "logging in through Gosuslugi (ESIA) is not configured here".to_owned(),
        )
    })
}

/// The person's standing link, for the person or an admin of theirs:
/// one who manages accounts at the person's own unit, or, with
/// `Authority::EverywhereReached`, at every unit the person's access
/// reaches.
async fn person_in_reach(
    connection: &mut sqlx::PgConnection,
    caller: &asurso_runtime::auth::Caller,
    person_id: &str,
    authority: Authority,
) -> Result<uuid::Uuid, IdentityError> {
    if person_id.is_empty() {
        return Ok(caller.person_id);
    }
    let person = uuid_field(person_id, "person_id")?;
    if person != caller.person_id {
        let row = storage::people::get(connection, person)
            .await?
            .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {person}")))?;
        match authority {
            Authority::OwnUnit => {
                let unit = access::unit(connection, row.org_unit_id, "person_id").await?;
                access::authorize(connection, caller, right::ACCOUNTS_MANAGE, &unit).await?;
            }
            Authority::EverywhereReached => {
                access::authorize_over_person(
                    connection,
                    caller,
                    right::ACCOUNTS_MANAGE,
                    &row,
                    "person_id",
                )
                .await?;
            }
        }
    }
    Ok(person)
}

/// Where an admin must manage accounts to act on someone else's link.
#[derive(Debug, Clone, Copy)]
enum Authority {
    /// At the person's own unit: enough to read the link.
    OwnUnit,
    /// At every unit the person's access reaches: needed to end the link.
    /// Unlinking ends the person's Gosuslugi sessions and opens the next
    /// ESIA login to whoever bears their SNILS, so authority over one
    /// school must not reach a parent whose child is in another.
    EverywhereReached,
}

fn policy_message(region: uuid::Uuid, row: &PolicyRow) -> pb::LoginPolicy {
    pb::LoginPolicy {
        region_id: region.to_string(),
        esia_required_from: row.esia_required_from.map(convert::civil_date),
        students_too: row.students_too,
    }
}

async fn start_login(
    state: &State,
    request: pb::StartLoginRequest,
) -> Result<pb::StartLoginResponse, IdentityError> {
    let grant_id = if request.grant_id.is_empty() {
        None
    } else {
        Some(uuid_field(&request.grant_id, "grant_id")?)
    };
    let federation = federation(state)?;
    let started = federation.start().await?;
    let expires_at = OffsetDateTime::now_utc() + federation.login_ttl();
    let binding = crate::crypto::random_token();
    let mut connection = state.pool.acquire().await?;
    storage::federation::forget_old(&mut connection).await?;
    storage::federation::start(
        &mut connection,
        &PendingLogin {
            state: started.state.clone(),
            nonce: started.nonce,
            pkce_verifier: state
                .secrets
                .seal_login_secret(started.pkce_verifier.as_bytes(), VERIFIER),
            binding_hash: crate::crypto::sha256(binding.as_bytes()),
            grant_id,
            expires_at,
        },
    )
    .await?;
    Ok(pb::StartLoginResponse {
        authorization_url: started.authorization_url,
        state: started.state,
        expires_at: Some(timestamp(expires_at)),
        browser_binding: binding,
    })
}

async fn complete_login(
    state: &State,
    request: pb::CompleteLoginRequest,
) -> Result<pb::CompleteLoginResponse, IdentityError> {
    let mut violations = Vec::new();
    if request.state.is_empty() || request.state.len() > 100 {
        violations.push(crate::domain::error::FieldViolation::new(
            "state",
            "is required (as received at the redirect URI)",
        ));
    }
    if request.browser_binding.is_empty() || request.browser_binding.len() > 100 {
        violations.push(crate::domain::error::FieldViolation::new(
            "browser_binding",
            "is required (as StartLogin gave it to this browser)",
        ));
    }
    if request.code.is_empty() || request.code.len() > 4096 {
        violations.push(crate::domain::error::FieldViolation::new(
            "code",
            "is required (as received at the redirect URI)",
        ));
    }
    if !violations.is_empty() {
        return Err(IdentityError::Invalid(violations));
    }
    let federation = federation(state)?;
    // The state is used up before the provider is asked anything, and
    // only by the browser that started the login: a second callback with
    // it is refused whatever became of the first, and a callback from
    // another browser spends nothing, so the rightful one can still
    // finish.
    let presented = crate::crypto::sha256(request.browser_binding.as_bytes());
    let mut connection = state.pool.acquire().await?;
    let pending = match storage::federation::consume(&mut connection, &request.state, &presented)
        .await?
    {
        Consumed::Fresh(pending) => pending,
        Consumed::Used => {
            return Err(IdentityError::Unauthenticated(
                "state: this login was already completed (a code is used once): start the login again"
                    .to_owned(),
            )
            );
        }
        Consumed::OtherBrowser => {
            tracing::warn!(
                "a login callback came back to another browser than the one that started it"
            );
            return Err(IdentityError::Unauthenticated(
                "browser_binding: this login was started in another browser: start the login again here"
                    .to_owned(),
            )
            );
        }
        Consumed::Unknown => {
            tracing::warn!("a login callback with a state this service did not start");
            return Err(IdentityError::Unauthenticated(
                "state: does not match a login started here (state mismatch): start the login again"
                    .to_owned(),
            )
            );
        }
    };
    drop(connection);
    if pending.expires_at <= OffsetDateTime::now_utc() {
        return Err(IdentityError::Unauthenticated(
            "the login took too long and has expired: start the login again".to_owned(),
        ));
    }
    let verifier = state
        .secrets
        .open_login_secret(&pending.pkce_verifier, VERIFIER)?;
    let verifier =
        String::from_utf8(verifier).map_err(|error| IdentityError::Internal(Box::new(error)))?;
    let person = federation
        .complete(&pending.state, &pending.nonce, &verifier, &request.code)
        .await?;
    if !person.trusted {
        tracing::info!("an unconfirmed ESIA account was refused");
        return Err(IdentityError::FailedPrecondition(
            CONFIRM_ACCOUNT.to_owned(),
        ));
    }
    let provider = federation.provider();
    let mut transaction = state.pool.begin().await?;
    let link =
        storage::federation::by_subject_for_update(&mut transaction, provider, &person.subject)
            .await?;
    let (person_id, linked_now) = match link {
        Some(link) => {
            storage::federation::touch(&mut transaction, link.id).await?;
            (link.person_id, false)
        }
        None => {
            let no_person = || {
                IdentityError::NotFound(
                    "no one is registered in a school with the SNILS of this Gosuslugi account: \
                     ask the school to register you with your SNILS, then log in again"
                        .to_owned(),
                )
            };
            let snils = person
                .snils
                .as_deref()
                .and_then(|snils| Snils::parse(snils).ok())
                .ok_or_else(no_person)?;
            let registered = storage::people::find_by_snils_hash(
                &mut transaction,
                &state.secrets.snils_hash(&snils),
            )
            .await?
            .ok_or_else(no_person)?;
            let taken = || {
                IdentityError::FailedPrecondition(
                    "the person with this SNILS is already linked to another Gosuslugi account: \
                     ask the school to check the SNILS"
                        .to_owned(),
                )
            };
            if storage::federation::of_person(&mut transaction, registered.id)
                .await?
                .is_some()
            {
                return Err(taken());
            }
            if let Err(error) = storage::federation::link(
                &mut transaction,
                provider,
                &person.subject,
                registered.id,
            )
            .await
            {
                return Err(if storage::is_unique_violation(&error) {
                    taken()
                } else {
                    error.into()
                });
            }
            let unit = access::unit(&mut transaction, registered.org_unit_id, "person_id").await?;
            crate::events::publish(
                &mut transaction,
                &unit,
                ("account", registered.id.to_string()),
                "linked",
                &events::AccountLinked {
                    person_id: registered.id.to_string(),
                    provider: provider.to_owned(),
                },
            )
            .await?;
            tracing::info!(person_id = %registered.id, provider, "account linked");
            (registered.id, true)
        }
    };
    let grants = storage::grants::active_of(&mut transaction, person_id).await?;
    let requested = pending
        .grant_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let (tokens, active) = state
        .open_session(
            &mut transaction,
            person_id,
            &grants,
            &requested,
            Method::Federation,
        )
        .await?;
    transaction.commit().await?;
    if linked_now {
        state.relay.wake();
    }
    Ok(pb::CompleteLoginResponse {
        tokens: Some(tokens),
        active_grant: Some(grant(&active)),
        grants: grants.iter().map(grant).collect(),
        linked_now,
    })
}

async fn unlink_account(
    state: &State,
    caller: &Caller,
    request: pb::UnlinkAccountRequest,
) -> Result<pb::UnlinkAccountResponse, IdentityError> {
    if request.person_id.is_empty() {
        return Err(IdentityError::invalid("person_id", "is required"));
    }
    let mut transaction = state.pool.begin().await?;
    let person = person_in_reach(
        &mut transaction,
        caller,
        &request.person_id,
        Authority::EverywhereReached,
    )
    .await?;
    let providers = storage::federation::unlink(&mut transaction, person, caller.person_id).await?;
    if providers.is_empty() {
        return Err(IdentityError::NotFound(
            "person_id: no Gosuslugi account is linked to this person".to_owned(),
        ));
    }
    // What the link opened ends with it; a local login's sessions stay.
    storage::sessions::revoke_federated(&mut transaction, person, "account unlinked").await?;
    storage::app_passwords::revoke_all(&mut transaction, person).await?;
    let row = storage::people::get(&mut transaction, person)
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("person_id: no person {person}")))?;
    let unit = access::unit(&mut transaction, row.org_unit_id, "person_id").await?;
    let by = if person == caller.person_id {
        "person"
    } else {
        "admin"
    };
    for provider in providers {
        crate::events::publish(
            &mut transaction,
            &unit,
            ("account", person.to_string()),
            "unlinked",
            &events::AccountUnlinked {
                person_id: person.to_string(),
                provider,
                by: by.to_owned(),
            },
        )
        .await?;
    }
    transaction.commit().await?;
    state.relay.wake();
    tracing::info!(person_id = %person, by = %caller.person_id, "account unlinked");
    Ok(pb::UnlinkAccountResponse {})
}

async fn get_link(
    state: &State,
    caller: &Caller,
    request: pb::GetLinkRequest,
) -> Result<pb::GetLinkResponse, IdentityError> {
    let mut connection = state.pool.acquire().await?;
    let person = person_in_reach(
        &mut connection,
        caller,
        &request.person_id,
        Authority::OwnUnit,
    )
    .await?;
    let link = storage::federation::of_person(&mut connection, person).await?;
    Ok(match link {
        Some(link) => pb::GetLinkResponse {
            linked: true,
            provider: link.provider,
            linked_at: Some(timestamp(link.linked_at)),
            last_login_at: Some(timestamp(link.last_login_at)),
        },
        None => pb::GetLinkResponse::default(),
    })
}

async fn get_login_policy(
    state: &State,
    caller: &Caller,
    request: pb::GetLoginPolicyRequest,
) -> Result<pb::GetLoginPolicyResponse, IdentityError> {
    let mut connection = state.pool.acquire().await?;
    let own = access::unit(&mut connection, caller.org_unit_id, "token").await?;
    let region = if request.region_id.is_empty() {
        own.region_id()
    } else {
        uuid_field(&request.region_id, "region_id")?
    };
    if region != own.region_id() {
        return Err(IdentityError::denied("region_id: not your region"));
    }
    let row = storage::policy::of_region(&mut connection, region).await?;
    Ok(pb::GetLoginPolicyResponse {
        policy: Some(policy_message(region, &row)),
    })
}

async fn set_login_policy(
    state: &State,
    caller: &Caller,
    request: pb::SetLoginPolicyRequest,
) -> Result<pb::SetLoginPolicyResponse, IdentityError> {
    let policy = request
        .policy
        .ok_or_else(|| IdentityError::invalid("policy", "is required"))?;
    let region = uuid_field(&policy.region_id, "policy.region_id")?;
    let from = match policy.esia_required_from {
        None => None,
        Some(date) => Some(
            convert::date(&date, "policy.esia_required_from")
                .map_err(|violation| IdentityError::Invalid(vec![violation]))?,
        ),
    };
    let mut transaction = state.pool.begin().await?;
    let unit = access::unit(&mut transaction, region, "policy.region_id").await?;
    if unit.kind != "region" {
        return Err(IdentityError::invalid(
            "policy.region_id",
            "is not a region",
        ));
    }
    access::authorize(&mut transaction, caller, right::LOGIN_POLICY_MANAGE, &unit).await?;
    let row = PolicyRow {
        esia_required_from: from,
        students_too: policy.students_too,
    };
    storage::policy::set(&mut transaction, region, &row, caller.person_id).await?;
    transaction.commit().await?;
    tracing::info!(%region, ?from, students_too = row.students_too, by = %caller.person_id, "login policy set");
    Ok(pb::SetLoginPolicyResponse {
        policy: Some(policy_message(region, &row)),
    })
}

#[tonic::async_trait]
impl pb::federation_service_server::FederationService for FederationApi {
    async fn start_login(
        &self,
        request: Request<pb::StartLoginRequest>,
    ) -> Result<Response<pb::StartLoginResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, start_login)
    }

    async fn complete_login(
        &self,
        request: Request<pb::CompleteLoginRequest>,
    ) -> Result<Response<pb::CompleteLoginResponse>, Status> {
        asurso_runtime::handle!(anonymous self.0, request, complete_login)
    }

    async fn unlink_account(
        &self,
        request: Request<pb::UnlinkAccountRequest>,
    ) -> Result<Response<pb::UnlinkAccountResponse>, Status> {
        asurso_runtime::handle!(self.0, request, unlink_account)
    }

    async fn get_link(
        &self,
        request: Request<pb::GetLinkRequest>,
    ) -> Result<Response<pb::GetLinkResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_link)
    }

    async fn get_login_policy(
        &self,
        request: Request<pb::GetLoginPolicyRequest>,
    ) -> Result<Response<pb::GetLoginPolicyResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_login_policy)
    }

    async fn set_login_policy(
        &self,
        request: Request<pb::SetLoginPolicyRequest>,
    ) -> Result<Response<pb::SetLoginPolicyResponse>, Status> {
        asurso_runtime::handle!(self.0, request, set_login_policy)
    }
}
