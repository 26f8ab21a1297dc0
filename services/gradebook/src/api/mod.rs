//! The gRPC edge: proto <-> domain conversions, the caller from the token,
//! and the one place where a [`GradebookError`] becomes a gRPC status.

/// Runs a handler with the verified caller (`$api.$method(&caller, message)`
/// returning a domain result); its error becomes the gRPC status here.
macro_rules! handle {
    ($api:expr, $request:expr, $method:ident) => {{
        let caller = $api.0.caller(&$request).await?;
        $api.$method(&caller, $request.into_inner())
            .await
            .map(tonic::Response::new)
            .map_err(tonic::Status::from)
    }};
}

pub mod calendar;
pub mod classes;
pub mod curriculum;
pub mod diary;
pub mod journal;
pub mod reports;
pub mod timetable;

pub use asurso_runtime::convert::{civil_date, timestamp};
use std::sync::Arc;

use asurso_proto::common::{CivilDate, TimeOfDay};
use asurso_runtime::{
    auth::{Caller, IdentityKeys, Verifier},
    events::relay::RelayWaker,
    idempotency::{self, Claim},
};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use time::{Date, Time};
use tonic::Status;
use uuid::Uuid;

use crate::domain::GradebookError;

/// What every handler shares.
pub struct State {
    pub pool: PgPool,
    pub verifier: Verifier<IdentityKeys>,
    pub relay: RelayWaker,
}

pub type Shared = Arc<State>;

impl State {
    /// The verified caller of a request, whose grant identity has not
    /// revoked (as far as the gradebook has heard).
    pub async fn caller<T>(&self, request: &tonic::Request<T>) -> Result<Caller, Status> {
        asurso_directory::access::caller(&self.verifier, &self.pool, request).await
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, GradebookError> {
        Ok(self.pool.begin().await?)
    }

    /// Commits and lets the relay publish what the transaction recorded.
    pub async fn commit(
        &self,
        transaction: Transaction<'static, Postgres>,
    ) -> Result<(), GradebookError> {
        transaction.commit().await?;
        self.relay.wake();
        Ok(())
    }
}

/// The stored answer of an earlier call with this idempotency key, if any;
/// otherwise the key is claimed for this call (see
/// [`asurso_runtime::idempotency`]).
pub async fn replay<M: prost::Message + Default>(
    transaction: &mut PgConnection,
    caller: &Caller,
    operation: &str,
    key: &str,
) -> Result<Option<M>, GradebookError> {
    Ok(
        match idempotency::claim(transaction, caller.person_id, operation, key).await? {
            Claim::Replay(answer) => Some(answer),
            Claim::New => None,
        },
    )
}

/// Stores a call's answer under its idempotency key, in its transaction.
pub async fn remember<M: prost::Message>(
    transaction: &mut PgConnection,
    caller: &Caller,
    operation: &str,
    key: &str,
    answer: &M,
) -> Result<(), GradebookError> {
    idempotency::complete(transaction, caller.person_id, operation, key, answer).await?;
    Ok(())
}

/// Parses a UUID field or names it.
pub fn uuid_field(value: &str, field: &str) -> Result<Uuid, GradebookError> {
    if value.is_empty() {
        return Err(GradebookError::invalid(field, "is required"));
    }
    Uuid::parse_str(value).map_err(|_| GradebookError::invalid(field, "is not a UUID"))
}

/// An optional UUID field: empty means none.
pub fn optional_uuid(value: &str, field: &str) -> Result<Option<Uuid>, GradebookError> {
    if value.is_empty() {
        Ok(None)
    } else {
        uuid_field(value, field).map(Some)
    }
}

/// A date field that must be given.
pub fn date_field(value: Option<&CivilDate>, field: &str) -> Result<Date, GradebookError> {
    optional_date(value, field)?.ok_or_else(|| GradebookError::invalid(field, "is required"))
}

/// A date field that may be left out (absent or all zero); one given must
/// fall in the years the runtime bounds request dates to.
pub fn optional_date(
    value: Option<&CivilDate>,
    field: &str,
) -> Result<Option<Date>, GradebookError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.year == 0 && value.month == 0 && value.day == 0 {
        return Ok(None);
    }
    asurso_runtime::convert::date(value, field)
        .map(Some)
        .map_err(|violation| GradebookError::Invalid(vec![violation]))
}

pub fn time_field(value: Option<&TimeOfDay>, field: &str) -> Result<Time, GradebookError> {
    let value = value.ok_or_else(|| GradebookError::invalid(field, "is required"))?;
    u8::try_from(value.hours)
        .ok()
        .zip(u8::try_from(value.minutes).ok())
        .and_then(|(hours, minutes)| Time::from_hms(hours, minutes, 0).ok())
        .ok_or_else(|| {
            GradebookError::invalid(
                field,
                format!("{}:{:02} is not a time of day", value.hours, value.minutes),
            )
        })
}

pub fn time_of_day(time: Time) -> TimeOfDay {
    TimeOfDay {
        hours: i32::from(time.hour()),
        minutes: i32::from(time.minute()),
    }
}

/// Trimmed text of 1 to `max` characters, or a violation naming the field.
pub fn text_field(value: &str, field: &str, max: usize) -> Result<String, GradebookError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(GradebookError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

pub fn text_of(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// Trimmed text of at most `max` characters, possibly empty.
pub fn optional_text(value: &str, field: &str, max: usize) -> Result<String, GradebookError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(GradebookError::invalid(
            field,
            format!("is at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}
