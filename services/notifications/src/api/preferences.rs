//! The caller's own preferences. Nobody sets another person's.

use std::collections::HashSet;

use asurso_proto::notifications as pb;
use asurso_runtime::{
    auth::Caller,
    convert::timestamp,
    edge::{Edge, time_field, time_of_day, uuid_field},
    errors::{FieldViolation, ServiceError},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, State};
use crate::{
    domain::{Channel, Draft, Kind, channels_among},
    feed,
    preferences::{self, Row},
};

pub struct PreferencesApi(pub Shared);

/// How long a confirmation code stands, how many guesses it allows, and
/// how many codes a person may ask for in an hour (each is an e-mail to
/// an address that may not be theirs).
const CODE_LIFETIME: Duration = Duration::minutes(30);
const CODE_GUESSES: i32 = 5;
const CODES_PER_HOUR: i64 = 5;
const MAX_SUBSCRIPTIONS: i64 = 10;

async fn preferences_of(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<pb::Preferences, ServiceError> {
    let row = preferences::of(connection, person).await?;
    let chosen = preferences::choices(connection, person).await?;
    let kinds = Kind::ALL
        .into_iter()
        .map(|kind| pb::KindChannels {
            kind: kind.to_proto() as i32,
            channels: channels_among(kind, &chosen)
                .into_iter()
                .map(|channel| channel.to_proto() as i32)
                .collect(),
        })
        .collect();
    let subscriptions = preferences::subscriptions(connection, person).await?;
    Ok(pb::Preferences {
        kinds,
        quiet_hours: Some(pb::QuietHours {
            enabled: row.quiet_enabled,
            start: Some(time_of_day(row.quiet_start)),
            end: Some(time_of_day(row.quiet_end)),
        }),
        digest: Some(pb::Digest {
            enabled: row.digest_enabled,
            at: Some(time_of_day(row.digest_at)),
        }),
        email: row.email.clone(),
        email_confirmed: row.email_confirmed,
        email_disabled_reason: row.email_disabled_reason.clone(),
        push_subscriptions: subscriptions
            .into_iter()
            .map(|subscription| pb::PushSubscription {
                id: subscription.id.to_string(),
                endpoint: subscription.endpoint,
                created_at: Some(timestamp(subscription.created_at)),
            })
            .collect(),
        time_zone: preferences::zone(connection, person).await?,
    })
}

async fn get_preferences(
    state: &State,
    caller: &Caller,
    _request: pb::GetPreferencesRequest,
) -> Result<pb::Preferences, ServiceError> {
    let mut transaction = state.begin().await?;
    let answer = preferences_of(&mut transaction, caller.person_id).await?;
    transaction.commit().await?;
    Ok(answer)
}

async fn set_channels(
    state: &State,
    caller: &Caller,
    request: pb::SetChannelsRequest,
) -> Result<pb::Preferences, ServiceError> {
    if request.kinds.is_empty() {
        return Err(ServiceError::invalid("kinds", "name at least one kind"));
    }
    let mut violations = Vec::new();
    let mut seen = HashSet::new();
    let mut chosen = Vec::new();
    for (index, given) in request.kinds.iter().enumerate() {
        let field = format!("kinds[{index}]");
        let Some(kind) = pb::Kind::try_from(given.kind)
            .ok()
            .and_then(Kind::from_proto)
        else {
            violations.push(FieldViolation::new(
                format!("{field}.kind"),
                "is not a kind of notification",
            ));
            continue;
        };
        if !seen.insert(kind) {
            violations.push(FieldViolation::new(
                format!("{field}.kind"),
                "is named twice",
            ));
        }
        let mut channels = Vec::new();
        for (position, channel) in given.channels.iter().enumerate() {
            match pb::Channel::try_from(*channel)
                .ok()
                .and_then(Channel::from_proto)
            {
                Some(channel) if !channels.contains(&channel) => channels.push(channel),
                Some(_) => violations.push(FieldViolation::new(
                    format!("{field}.channels[{position}]"),
                    "is named twice",
                )),
                None => violations.push(FieldViolation::new(
                    format!("{field}.channels[{position}]"),
                    "is not a channel",
                )),
            }
        }
        if kind == Kind::System && !channels.contains(&Channel::Feed) {
            violations.push(FieldViolation::new(
                format!("{field}.channels"),
                "notices about the notifications themselves always go to the feed",
            ));
        }
        chosen.push((kind, channels));
    }
    if !violations.is_empty() {
        return Err(ServiceError::Invalid(violations));
    }
    let mut transaction = state.begin().await?;
    for (kind, channels) in &chosen {
        let names: Vec<String> = channels
            .iter()
            .map(|channel| channel.name().to_owned())
            .collect();
        preferences::choose(&mut transaction, caller.person_id, kind.name(), &names).await?;
    }
    let answer = preferences_of(&mut transaction, caller.person_id).await?;
    transaction.commit().await?;
    Ok(answer)
}

async fn set_quiet_hours(
    state: &State,
    caller: &Caller,
    request: pb::SetQuietHoursRequest,
) -> Result<pb::Preferences, ServiceError> {
    let quiet = request
        .quiet_hours
        .ok_or_else(|| ServiceError::invalid("quiet_hours", "is required"))?;
    let start = time_field(quiet.start.as_ref(), "quiet_hours.start");
    let end = time_field(quiet.end.as_ref(), "quiet_hours.end");
    let (start, end) = match (start, end) {
        (Ok(start), Ok(end)) => (start, end),
        (start, end) => {
            let mut violations = Vec::new();
            for result in [start, end] {
                if let Err(ServiceError::Invalid(found)) = result {
                    violations.extend(found);
                }
            }
            return Err(ServiceError::Invalid(violations));
        }
    };
    if quiet.enabled && start == end {
        return Err(ServiceError::invalid(
            "quiet_hours.end",
            "must differ from the start",
        ));
    }
    let mut transaction = state.begin().await?;
    preferences::of(&mut transaction, caller.person_id).await?;
    sqlx::query(
        "UPDATE preferences SET quiet_enabled = $2, quiet_start = $3, quiet_end = $4 WHERE person_id = $1",
    )
    .bind(caller.person_id)
    .bind(quiet.enabled)
    .bind(start)
    .bind(end)
    .execute(&mut *transaction)
    .await?;
    // What was held is looked at again under the new hours.
    let released = preferences::release_held(&mut transaction, caller.person_id).await?;
    feed::wake(&mut transaction, &[], released > 0).await?;
    let answer = preferences_of(&mut transaction, caller.person_id).await?;
    transaction.commit().await?;
    Ok(answer)
}

async fn set_digest(
    state: &State,
    caller: &Caller,
    request: pb::SetDigestRequest,
) -> Result<pb::Preferences, ServiceError> {
    let digest = request
        .digest
        .ok_or_else(|| ServiceError::invalid("digest", "is required"))?;
    let at = time_field(digest.at.as_ref(), "digest.at")?;
    let mut transaction = state.begin().await?;
    preferences::of(&mut transaction, caller.person_id).await?;
    // A digest starts with what comes from now on, not the whole feed.
    sqlx::query(
        "UPDATE preferences SET digest_enabled = $2, digest_at = $3, \
             digest_after_cursor = CASE WHEN digest_enabled THEN digest_after_cursor \
                 ELSE COALESCE((SELECT last_cursor FROM feed_heads WHERE person_id = $1), 0) END \
         WHERE person_id = $1",
    )
    .bind(caller.person_id)
    .bind(digest.enabled)
    .bind(at)
    .execute(&mut *transaction)
    .await?;
    let answer = preferences_of(&mut transaction, caller.person_id).await?;
    transaction.commit().await?;
    Ok(answer)
}

/// An address a mail server will take: RFC 5321's shape, at most 254
/// characters, a domain with a dot.
pub fn email_address(value: &str) -> Result<String, ServiceError> {
    let value = value.trim();
    let refuse = |why: &str| Err(ServiceError::invalid("email", why.to_owned()));
    if value.chars().count() > 254 {
        return refuse("is longer than 254 characters");
    }
    let Ok(address) = value.parse::<lettre::Address>() else {
        return refuse("is not an e-mail address");
    };
    if !address.domain().contains('.') || address.domain().starts_with('[') {
        return refuse("needs a domain name such as example.ru");
    }
    Ok(format!(
        "{}@{}",
        address.user(),
        address.domain().to_ascii_lowercase()
    ))
}

fn code_digest(person: Uuid, code: &str) -> Vec<u8> {
    let mut digest = Sha256::new();
    digest.update(person.as_bytes());
    digest.update(code.as_bytes());
    digest.finalize().to_vec()
}

async fn set_email(
    state: &State,
    caller: &Caller,
    request: pb::SetEmailRequest,
) -> Result<pb::SetEmailResponse, ServiceError> {
    let person = caller.person_id;
    if request.email.trim().is_empty() {
        let mut transaction = state.begin().await?;
        preferences::of(&mut transaction, person).await?;
        sqlx::query(
            "UPDATE preferences SET email = '', email_confirmed = false, email_code_digest = NULL, \
                 email_code_expires_at = NULL, email_disabled_reason = '' WHERE person_id = $1",
        )
        .bind(person)
        .execute(&mut *transaction)
        .await?;
        drop_email_deliveries(&mut transaction, person).await?;
        let answer = preferences_of(&mut transaction, person).await?;
        transaction.commit().await?;
        return Ok(pb::SetEmailResponse {
            preferences: Some(answer),
            code_expires_at: None,
        });
    }
    let address = email_address(&request.email)?;
    if !state.email_on {
        return Err(ServiceError::FailedPrecondition(
            "e-mail is not set up in this region: notifications reach the feed and the phone"
                .to_owned(),
        ));
    }
    let mut transaction = state.begin().await?;
    let row: Row = preferences::of(&mut transaction, person).await?;
    if row.email == address && row.email_confirmed && row.email_disabled_reason.is_empty() {
        let answer = preferences_of(&mut transaction, person).await?;
        transaction.commit().await?;
        return Ok(pb::SetEmailResponse {
            preferences: Some(answer),
            code_expires_at: None,
        });
    }
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM email_codes_sent WHERE person_id = $1 AND sent_at > now() - interval '1 hour'",
    )
    .bind(person)
    .fetch_one(&mut *transaction)
    .await?;
    if sent >= CODES_PER_HOUR {
        return Err(ServiceError::Exhausted(format!(
            "at most {CODES_PER_HOUR} confirmation codes an hour: try again later"
        )));
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let expires = OffsetDateTime::now_utc() + CODE_LIFETIME;
    sqlx::query(
        "UPDATE preferences SET email = $2, email_confirmed = false, email_disabled_reason = '', \
             email_code_digest = $3, email_code_expires_at = $4, email_code_attempts = 0 \
         WHERE person_id = $1",
    )
    .bind(person)
    .bind(&address)
    .bind(code_digest(person, &code))
    .bind(expires)
    .execute(&mut *transaction)
    .await?;
    sqlx::query("INSERT INTO email_codes_sent (person_id) VALUES ($1)")
        .bind(person)
        .execute(&mut *transaction)
        .await?;
    drop_email_deliveries(&mut transaction, person).await?;
    // The code travels as a notification of its own, outside the feed,
    // to this address only.
    let body = format!(
        "Код подтверждения адреса: {code}\n\nВведите его в настройках уведомлений АСУ РСО в течение 30 минут. \
         Если вы не указывали этот адрес, просто удалите письмо."
    );
    let notice = Draft {
        kind: Kind::System,
        title: "Подтверждение адреса".to_owned(),
        body: body.clone(),
        plain_title: "Подтверждение адреса".to_owned(),
        plain_body: body,
        link: "/settings/notifications".to_owned(),
        student: None,
        school: None,
    };
    let id = feed::outside_only(&mut transaction, person, &notice).await?;
    sqlx::query(
        "INSERT INTO deliveries (notification_id, channel, target, confirmation, person_id) \
         VALUES ($1, 'email', $2, true, $3)",
    )
    .bind(id)
    .bind(&address)
    .bind(person)
    .execute(&mut *transaction)
    .await?;
    feed::wake(&mut transaction, &[], true).await?;
    let answer = preferences_of(&mut transaction, person).await?;
    transaction.commit().await?;
    tracing::info!(person_id = %person, "confirmation code sent");
    Ok(pb::SetEmailResponse {
        preferences: Some(answer),
        code_expires_at: Some(timestamp(expires)),
    })
}

/// Mail not yet sent to the person's previous address goes nowhere.
async fn drop_email_deliveries(
    transaction: &mut PgConnection,
    person: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET state = 'dropped', last_error = 'the address was changed' \
         WHERE person_id = $1 AND channel = 'email' AND state = 'pending'",
    )
    .bind(person)
    .execute(transaction)
    .await?;
    Ok(())
}

async fn confirm_email(
    state: &State,
    caller: &Caller,
    request: pb::ConfirmEmailRequest,
) -> Result<pb::Preferences, ServiceError> {
    let code = request.code.trim();
    if code.len() != 6 || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ServiceError::invalid("code", "is six digits"));
    }
    let person = caller.person_id;
    let mut transaction = state.begin().await?;
    let row = preferences::of(&mut transaction, person).await?;
    let (Some(digest), Some(expires)) = (&row.email_code_digest, row.email_code_expires_at) else {
        return Err(ServiceError::FailedPrecondition(
            "no code is waiting: set the address first".to_owned(),
        ));
    };
    if expires < OffsetDateTime::now_utc() || row.email_code_attempts >= CODE_GUESSES {
        return Err(ServiceError::FailedPrecondition(
            "the code has expired: set the address again for a new one".to_owned(),
        ));
    }
    if *digest != code_digest(person, code) {
        sqlx::query(
            "UPDATE preferences SET email_code_attempts = email_code_attempts + 1 WHERE person_id = $1",
        )
        .bind(person)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        return Err(ServiceError::invalid(
            "code",
            "does not match the code sent",
        ));
    }
    sqlx::query(
        "UPDATE preferences SET email_confirmed = true, email_code_digest = NULL, \
             email_code_expires_at = NULL, email_code_attempts = 0 WHERE person_id = $1",
    )
    .bind(person)
    .execute(&mut *transaction)
    .await?;
    // The code has served: it stays in no table.
    sqlx::query(
        "UPDATE notifications n SET body = '', outside_body = '' FROM deliveries d \
         WHERE d.notification_id = n.id AND d.person_id = $1 AND d.confirmation",
    )
    .bind(person)
    .execute(&mut *transaction)
    .await?;
    let answer = preferences_of(&mut transaction, person).await?;
    transaction.commit().await?;
    tracing::info!(person_id = %person, "e-mail address confirmed");
    Ok(answer)
}

async fn get_push_key(
    state: &State,
    _caller: &Caller,
    _request: pb::GetPushKeyRequest,
) -> Result<pb::GetPushKeyResponse, ServiceError> {
    let pusher = state.pusher.as_ref().ok_or_else(push_off)?;
    Ok(pb::GetPushKeyResponse {
        application_server_key: pusher.public_key().to_owned(),
    })
}

fn push_off() -> ServiceError {
    ServiceError::FailedPrecondition("web push is not set up in this region".to_owned())
}

fn key_bytes(value: &str, field: &str, length: usize) -> Result<Vec<u8>, FieldViolation> {
    URL_SAFE_NO_PAD
        .decode(value.trim().trim_end_matches('='))
        .ok()
        .filter(|bytes| bytes.len() == length)
        .ok_or_else(|| FieldViolation::new(field, format!("is not {length} bytes of base64url")))
}

async fn add_push_subscription(
    state: &State,
    caller: &Caller,
    request: pb::AddPushSubscriptionRequest,
) -> Result<pb::Preferences, ServiceError> {
    let pusher = state.pusher.as_ref().ok_or_else(push_off)?;
    let mut violations = Vec::new();
    let endpoint = pusher
        .check_endpoint(request.endpoint.trim())
        .map_err(|why| violations.push(FieldViolation::new("endpoint", why)))
        .ok();
    let p256dh = key_bytes(&request.p256dh, "p256dh", 65)
        .and_then(|bytes| {
            p256::PublicKey::from_sec1_bytes(&bytes)
                .map(|_| bytes)
                .map_err(|_| FieldViolation::new("p256dh", "is not a P-256 public key"))
        })
        .map_err(|violation| violations.push(violation))
        .ok();
    let auth = key_bytes(&request.auth, "auth", 16)
        .map_err(|violation| violations.push(violation))
        .ok();
    let (Some(endpoint), Some(p256dh), Some(auth)) = (endpoint, p256dh, auth) else {
        return Err(ServiceError::Invalid(violations));
    };
    let mut transaction = state.begin().await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM push_subscriptions WHERE person_id = $1 AND gone_at IS NULL AND endpoint <> $2",
    )
    .bind(caller.person_id)
    .bind(&endpoint)
    .fetch_one(&mut *transaction)
    .await?;
    if live >= MAX_SUBSCRIPTIONS {
        return Err(ServiceError::FailedPrecondition(format!(
            "at most {MAX_SUBSCRIPTIONS} devices: remove one first"
        )));
    }
    sqlx::query(
        "INSERT INTO push_subscriptions (id, person_id, endpoint, p256dh, auth) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (person_id, endpoint) DO UPDATE \
         SET p256dh = excluded.p256dh, auth = excluded.auth, gone_at = NULL",
    )
    .bind(Uuid::now_v7())
    .bind(caller.person_id)
    .bind(&endpoint)
    .bind(&p256dh)
    .bind(&auth)
    .execute(&mut *transaction)
    .await?;
    let answer = preferences_of(&mut transaction, caller.person_id).await?;
    transaction.commit().await?;
    Ok(answer)
}

async fn remove_push_subscription(
    state: &State,
    caller: &Caller,
    request: pb::RemovePushSubscriptionRequest,
) -> Result<pb::Preferences, ServiceError> {
    let id = uuid_field(&request.id, "id")?;
    let mut transaction = state.begin().await?;
    let removed = sqlx::query("DELETE FROM push_subscriptions WHERE id = $1 AND person_id = $2")
        .bind(id)
        .bind(caller.person_id)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(ServiceError::not_found(
            "id",
            format_args!("subscription {id}"),
        ));
    }
    sqlx::query(
        "UPDATE deliveries SET state = 'dropped', last_error = 'the device was removed' \
         WHERE channel = 'push' AND target = $1 AND state = 'pending'",
    )
    .bind(id.to_string())
    .execute(&mut *transaction)
    .await?;
    let answer = preferences_of(&mut transaction, caller.person_id).await?;
    transaction.commit().await?;
    Ok(answer)
}

#[tonic::async_trait]
impl pb::preferences_service_server::PreferencesService for PreferencesApi {
    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        asurso_runtime::handle!(self.0, request, get_preferences)
    }

    async fn set_channels(
        &self,
        request: Request<pb::SetChannelsRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        asurso_runtime::handle!(self.0, request, set_channels)
    }

    async fn set_quiet_hours(
        &self,
        request: Request<pb::SetQuietHoursRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        asurso_runtime::handle!(self.0, request, set_quiet_hours)
    }

    async fn set_digest(
        &self,
        request: Request<pb::SetDigestRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        asurso_runtime::handle!(self.0, request, set_digest)
    }

    async fn set_email(
        &self,
        request: Request<pb::SetEmailRequest>,
    ) -> Result<Response<pb::SetEmailResponse>, Status> {
        asurso_runtime::handle!(self.0, request, set_email)
    }

    async fn confirm_email(
        &self,
        request: Request<pb::ConfirmEmailRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        asurso_runtime::handle!(self.0, request, confirm_email)
    }

    async fn get_push_key(
        &self,
        request: Request<pb::GetPushKeyRequest>,
    ) -> Result<Response<pb::GetPushKeyResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_push_key)
    }

    async fn add_push_subscription(
        &self,
        request: Request<pb::AddPushSubscriptionRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        asurso_runtime::handle!(self.0, request, add_push_subscription)
    }

    async fn remove_push_subscription(
        &self,
        request: Request<pb::RemovePushSubscriptionRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        asurso_runtime::handle!(self.0, request, remove_push_subscription)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_their_domain_lowered() {
        assert_eq!(
            email_address(" Parent.Ivanova@Mail.RU ").ok(),
            Some("Parent.Ivanova@mail.ru".to_owned())
        );
        for bad in [
            "",
            "parent",
            "parent@",
            "@mail.ru",
            "parent@localhost",
            "a b@mail.ru",
        ] {
            assert!(email_address(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn a_code_digest_belongs_to_its_person() {
        let one = Uuid::now_v7();
        let other = Uuid::now_v7();
        assert_eq!(code_digest(one, "123456"), code_digest(one, "123456"));
        assert_ne!(code_digest(one, "123456"), code_digest(other, "123456"));
        assert_ne!(code_digest(one, "123456"), code_digest(one, "123457"));
    }
}
