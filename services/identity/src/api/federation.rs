//! Logging in through ESIA: start, complete (linking the account to the
//! person a school registered), unlink; the regional login policy.

use asurso_proto::{events, identity as pb};
use asurso_runtime::convert;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use super::{Shared, grant, timestamp, uuid_field};
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

const VERIFIER: &[u8] = b"pkce-verifier";

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

impl FederationApi {
    fn federation(&self) -> Result<&Federation, IdentityError> {
        self.0.federation.as_deref().ok_or_else(|| {
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
        &self,
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

#[tonic::async_trait]
impl pb::federation_service_server::FederationService for FederationApi {
    async fn start_login(
        &self,
        request: Request<pb::StartLoginRequest>,
    ) -> Result<Response<pb::StartLoginResponse>, Status> {
        let request = request.into_inner();
        let grant_id = if request.grant_id.is_empty() {
            None
        } else {
            Some(uuid_field(&request.grant_id, "grant_id")?)
        };
        let federation = self.federation()?;
        let started = federation.start().await.map_err(IdentityError::from)?;
        let expires_at = OffsetDateTime::now_utc() + federation.login_ttl();
        let binding = crate::crypto::random_token();
        let mut connection = self.0.pool.acquire().await.map_err(IdentityError::from)?;
        storage::federation::forget_old(&mut connection)
            .await
            .map_err(IdentityError::from)?;
        storage::federation::start(
            &mut connection,
            &PendingLogin {
                state: started.state.clone(),
                nonce: started.nonce,
                pkce_verifier: self
                    .0
                    .secrets
                    .seal_login_secret(started.pkce_verifier.as_bytes(), VERIFIER),
                binding_hash: crate::crypto::sha256(binding.as_bytes()),
                grant_id,
                expires_at,
            },
        )
        .await
        .map_err(IdentityError::from)?;
        Ok(Response::new(pb::StartLoginResponse {
            authorization_url: started.authorization_url,
            state: started.state,
            expires_at: Some(timestamp(expires_at)),
            browser_binding: binding,
        }))
    }

    async fn complete_login(
        &self,
        request: Request<pb::CompleteLoginRequest>,
    ) -> Result<Response<pb::CompleteLoginResponse>, Status> {
        let request = request.into_inner();
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
            return Err(IdentityError::Invalid(violations).into());
        }
        let federation = self.federation()?;
        // The state is used up before the provider is asked anything, and
        // only by the browser that started the login: a second callback with
        // it is refused whatever became of the first, and a callback from
        // another browser spends nothing, so the rightful one can still
        // finish.
        let presented = crate::crypto::sha256(request.browser_binding.as_bytes());
        let mut connection = self.0.pool.acquire().await.map_err(IdentityError::from)?;
        let pending = match storage::federation::consume(
            &mut connection,
            &request.state,
            &presented,
        )
        .await
        .map_err(IdentityError::from)?
        {
            Consumed::Fresh(pending) => pending,
            Consumed::Used => {
                return Err(IdentityError::Unauthenticated(
                    "state: this login was already completed (a code is used once): start the login again"
                        .to_owned(),
                )
                .into());
            }
            Consumed::OtherBrowser => {
                tracing::warn!(
                    "a login callback came back to another browser than the one that started it"
                );
                return Err(IdentityError::Unauthenticated(
                    "browser_binding: this login was started in another browser: start the login again here"
                        .to_owned(),
                )
                .into());
            }
            Consumed::Unknown => {
                tracing::warn!("a login callback with a state this service did not start");
                return Err(IdentityError::Unauthenticated(
                    "state: does not match a login started here (state mismatch): start the login again"
                        .to_owned(),
                )
                .into());
            }
        };
        drop(connection);
        if pending.expires_at <= OffsetDateTime::now_utc() {
            return Err(IdentityError::Unauthenticated(
                "the login took too long and has expired: start the login again".to_owned(),
            )
            .into());
        }
        let verifier = self
            .0
            .secrets
            .open_login_secret(&pending.pkce_verifier, VERIFIER)
            .map_err(IdentityError::from)?;
        let verifier = String::from_utf8(verifier)
            .map_err(|error| IdentityError::Internal(Box::new(error)))?;
        let person = federation
            .complete(&pending.state, &pending.nonce, &verifier, &request.code)
            .await
            .map_err(IdentityError::from)?;
        if !person.trusted {
            tracing::info!("an unconfirmed ESIA account was refused");
            return Err(IdentityError::FailedPrecondition(CONFIRM_ACCOUNT.to_owned()).into());
        }
        let provider = federation.provider();
        let mut transaction = self.0.pool.begin().await.map_err(IdentityError::from)?;
        let link =
            storage::federation::by_subject_for_update(&mut transaction, provider, &person.subject)
                .await
                .map_err(IdentityError::from)?;
        let (person_id, linked_now) = match link {
            Some(link) => {
                storage::federation::touch(&mut transaction, link.id)
                    .await
                    .map_err(IdentityError::from)?;
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
                    &self.0.secrets.snils_hash(&snils),
                )
                .await
                .map_err(IdentityError::from)?
                .ok_or_else(no_person)?;
                let taken = || {
                    IdentityError::FailedPrecondition(
                        "the person with this SNILS is already linked to another Gosuslugi account: \
                         ask the school to check the SNILS"
                            .to_owned(),
                    )
                };
                if storage::federation::of_person(&mut transaction, registered.id)
                    .await
                    .map_err(IdentityError::from)?
                    .is_some()
                {
                    return Err(taken().into());
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
                    }
                    .into());
                }
                let unit =
                    access::unit(&mut transaction, registered.org_unit_id, "person_id").await?;
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
        let grants = storage::grants::active_of(&mut transaction, person_id)
            .await
            .map_err(IdentityError::from)?;
        let requested = pending
            .grant_id
            .map(|id| id.to_string())
            .unwrap_or_default();
        let (tokens, active) = self
            .0
            .open_session(
                &mut transaction,
                person_id,
                &grants,
                &requested,
                Method::Federation,
            )
            .await?;
        transaction.commit().await.map_err(IdentityError::from)?;
        if linked_now {
            self.0.relay.wake();
        }
        Ok(Response::new(pb::CompleteLoginResponse {
            tokens: Some(tokens),
            active_grant: Some(grant(&active)),
            grants: grants.iter().map(grant).collect(),
            linked_now,
        }))
    }

    async fn unlink_account(
        &self,
        request: Request<pb::UnlinkAccountRequest>,
    ) -> Result<Response<pb::UnlinkAccountResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        if request.person_id.is_empty() {
            return Err(IdentityError::invalid("person_id", "is required").into());
        }
        let mut transaction = self.0.pool.begin().await.map_err(IdentityError::from)?;
        let person = self
            .person_in_reach(
                &mut transaction,
                &caller,
                &request.person_id,
                Authority::EverywhereReached,
            )
            .await?;
        let providers = storage::federation::unlink(&mut transaction, person, caller.person_id)
            .await
            .map_err(IdentityError::from)?;
        if providers.is_empty() {
            return Err(IdentityError::NotFound(
                "person_id: no Gosuslugi account is linked to this person".to_owned(),
            )
            .into());
        }
        // What the link opened ends with it; a local login's sessions stay.
        storage::sessions::revoke_federated(&mut transaction, person, "account unlinked")
            .await
            .map_err(IdentityError::from)?;
        storage::app_passwords::revoke_all(&mut transaction, person)
            .await
            .map_err(IdentityError::from)?;
        let row = storage::people::get(&mut transaction, person)
            .await
            .map_err(IdentityError::from)?
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
        transaction.commit().await.map_err(IdentityError::from)?;
        self.0.relay.wake();
        tracing::info!(person_id = %person, by = %caller.person_id, "account unlinked");
        Ok(Response::new(pb::UnlinkAccountResponse {}))
    }

    async fn get_link(
        &self,
        request: Request<pb::GetLinkRequest>,
    ) -> Result<Response<pb::GetLinkResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let mut connection = self.0.pool.acquire().await.map_err(IdentityError::from)?;
        let person = self
            .person_in_reach(
                &mut connection,
                &caller,
                &request.person_id,
                Authority::OwnUnit,
            )
            .await?;
        let link = storage::federation::of_person(&mut connection, person)
            .await
            .map_err(IdentityError::from)?;
        Ok(Response::new(match link {
            Some(link) => pb::GetLinkResponse {
                linked: true,
                provider: link.provider,
                linked_at: Some(timestamp(link.linked_at)),
                last_login_at: Some(timestamp(link.last_login_at)),
            },
            None => pb::GetLinkResponse::default(),
        }))
    }

    async fn get_login_policy(
        &self,
        request: Request<pb::GetLoginPolicyRequest>,
    ) -> Result<Response<pb::GetLoginPolicyResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let request = request.into_inner();
        let mut connection = self.0.pool.acquire().await.map_err(IdentityError::from)?;
        let own = access::unit(&mut connection, caller.org_unit_id, "token").await?;
        let region = if request.region_id.is_empty() {
            own.region_id()
        } else {
            uuid_field(&request.region_id, "region_id")?
        };
        if region != own.region_id() {
            return Err(IdentityError::denied("region_id: not your region").into());
        }
        let row = storage::policy::of_region(&mut connection, region)
            .await
            .map_err(IdentityError::from)?;
        Ok(Response::new(pb::GetLoginPolicyResponse {
            policy: Some(policy_message(region, &row)),
        }))
    }

    async fn set_login_policy(
        &self,
        request: Request<pb::SetLoginPolicyRequest>,
    ) -> Result<Response<pb::SetLoginPolicyResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        let policy = request
            .into_inner()
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
        let mut transaction = self.0.pool.begin().await.map_err(IdentityError::from)?;
        let unit = access::unit(&mut transaction, region, "policy.region_id").await?;
        if unit.kind != "region" {
            return Err(IdentityError::invalid("policy.region_id", "is not a region").into());
        }
        access::authorize(&mut transaction, &caller, right::LOGIN_POLICY_MANAGE, &unit).await?;
        let row = PolicyRow {
            esia_required_from: from,
            students_too: policy.students_too,
        };
        storage::policy::set(&mut transaction, region, &row, caller.person_id)
            .await
            .map_err(IdentityError::from)?;
        transaction.commit().await.map_err(IdentityError::from)?;
        tracing::info!(%region, ?from, students_too = row.students_too, by = %caller.person_id, "login policy set");
        Ok(Response::new(pb::SetLoginPolicyResponse {
            policy: Some(policy_message(region, &row)),
        }))
    }
}
