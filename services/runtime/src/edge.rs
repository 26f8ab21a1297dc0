//! The gRPC edge every service's handlers share, so a method reads the same
//! in every service:
//!
//! ```ignore
//! async fn set_marks(&self, request: Request<pb::SetMarksRequest>)
//!     -> Result<Response<pb::SetMarksResponse>, Status> {
//!     asurso_runtime::handle!(self.0, request, marks::set_marks)
//! }
//!
//! pub async fn set_marks(state: &State, caller: &Caller, request: pb::SetMarksRequest)
//!     -> Result<pb::SetMarksResponse, ServiceError> {
//!     let assignment_id = uuid_field(&request.assignment_id, "assignment_id")?;
//!     let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
//!     let mut transaction = state.begin().await?;
//!     if let Some(answer) = idempotent.replay(&mut transaction).await? { return Ok(answer); }
//!     // ... the domain's rules, storage, the event in the outbox ...
//!     idempotent.remember(&mut transaction, &answer).await?;
//!     state.commit(transaction).await?;
//!     Ok(answer)
//! }
//! ```
//!
//! The trait method only authenticates and hands the message on ([`handle!`]);
//! the handler parses fields with the parsers here (each violation names its
//! field), works in one transaction, and returns a [`ServiceError`] that
//! becomes the gRPC status in one place.

use std::future::Future;

use asurso_proto::common::{CivilDate, PageRequest, TimeOfDay};
use sqlx::{PgPool, Postgres, Transaction};
use time::{Date, Time};
use tonic::Status;
use uuid::Uuid;

use crate::{auth::Caller, errors::ServiceError, events::relay::RelayWaker};

pub use crate::idempotency::Idempotent;

/// What a service's handler state offers every handler: its database, the
/// relay to wake once a transaction with events commits, and the verified
/// caller of a request.
pub trait Edge: Send + Sync {
    fn pool(&self) -> &PgPool;

    fn relay(&self) -> &RelayWaker;

    /// The verified caller of a request (the service decides what else it
    /// checks, such as a revoked grant).
    fn caller<T: Send + Sync>(
        &self,
        request: &tonic::Request<T>,
    ) -> impl Future<Output = Result<Caller, Status>> + Send;

    fn begin(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Postgres>, ServiceError>> + Send {
        async { Ok(self.pool().begin().await?) }
    }

    /// Commits, then lets the relay publish at once what the transaction
    /// put in the outbox (it would find it on its next poll anyway).
    fn commit(
        &self,
        transaction: Transaction<'static, Postgres>,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send {
        async move {
            transaction.commit().await?;
            self.relay().wake();
            Ok(())
        }
    }
}

/// The one shape of a gRPC method: authenticate the caller, hand the
/// message to `handler(state, &caller, message)`, and turn its
/// [`ServiceError`] into the status. `anonymous` skips the caller for the
/// few calls made before there is one (logging in).
#[macro_export]
macro_rules! handle {
    (anonymous $state:expr, $request:expr, $handler:path) => {{
        $handler(&$state, $request.into_inner())
            .await
            .map(::tonic::Response::new)
            .map_err(::tonic::Status::from)
    }};
    ($state:expr, $request:expr, $handler:path) => {{
        use $crate::edge::Edge as _;
        let request = $request;
        let caller = $state.caller(&request).await?;
        $handler(&$state, &caller, request.into_inner())
            .await
            .map(::tonic::Response::new)
            .map_err(::tonic::Status::from)
    }};
}

/// A UUID field that must be given.
pub fn uuid_field(value: &str, field: &str) -> Result<Uuid, ServiceError> {
    if value.is_empty() {
        return Err(ServiceError::invalid(field, "is required"));
    }
    Uuid::parse_str(value).map_err(|_| ServiceError::invalid(field, "is not a UUID"))
}

/// An optional UUID field: empty means none.
pub fn optional_uuid(value: &str, field: &str) -> Result<Option<Uuid>, ServiceError> {
    if value.is_empty() {
        Ok(None)
    } else {
        uuid_field(value, field).map(Some)
    }
}

/// An id as the contracts carry it: empty for none.
pub fn text_of(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// A date field that must be given.
pub fn date_field(value: Option<&CivilDate>, field: &str) -> Result<Date, ServiceError> {
    optional_date(value, field)?.ok_or_else(|| ServiceError::invalid(field, "is required"))
}

/// A date field that may be left out (absent or all zero); one given must
/// fall in the years [`crate::convert`] bounds request dates to.
pub fn optional_date(value: Option<&CivilDate>, field: &str) -> Result<Option<Date>, ServiceError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.year == 0 && value.month == 0 && value.day == 0 {
        return Ok(None);
    }
    crate::convert::date(value, field)
        .map(Some)
        .map_err(|violation| ServiceError::Invalid(vec![violation]))
}

/// A time of day that must be given, to the minute.
pub fn time_field(value: Option<&TimeOfDay>, field: &str) -> Result<Time, ServiceError> {
    let value = value.ok_or_else(|| ServiceError::invalid(field, "is required"))?;
    u8::try_from(value.hours)
        .ok()
        .zip(u8::try_from(value.minutes).ok())
        .and_then(|(hours, minutes)| Time::from_hms(hours, minutes, 0).ok())
        .ok_or_else(|| {
            ServiceError::invalid(
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
pub fn text_field(value: &str, field: &str, max: usize) -> Result<String, ServiceError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Trimmed text of at most `max` characters, possibly empty.
pub fn optional_text(value: &str, field: &str, max: usize) -> Result<String, ServiceError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("is at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Rows per page: [`DEFAULT_PAGE`] when not asked, at most [`MAX_PAGE`].
pub fn page_size(page: Option<&PageRequest>) -> i64 {
    match page.map(|page| page.page_size) {
        None | Some(0) => DEFAULT_PAGE,
        Some(size) => i64::from(size).min(MAX_PAGE),
    }
}

/// Cuts rows read with one more than `limit` (to learn whether a page
/// follows) back to `limit`, and gives the next page's token: `token` of
/// the last row kept, empty when nothing follows.
pub fn next_page<T>(rows: &mut Vec<T>, limit: i64, token: impl FnOnce(&T) -> String) -> String {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return String::new();
    }
    rows.truncate(limit);
    rows.last().map(token).unwrap_or_default()
}

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 500;

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields a refusal names, or what came instead.
    fn field_of<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> String {
        match result {
            Err(ServiceError::Invalid(violations)) => violations
                .into_iter()
                .map(|violation| violation.field)
                .collect::<Vec<_>>()
                .join(","),
            other => format!("not refused as invalid: {other:?}"),
        }
    }

    #[test]
    fn each_parser_names_its_field() {
        assert_eq!(field_of(uuid_field("", "class_id")), "class_id");
        assert_eq!(field_of(uuid_field("x", "class_id")), "class_id");
        assert_eq!(optional_uuid("", "teacher_id").ok(), Some(None));
        let nonsense = CivilDate {
            year: 2026,
            month: 2,
            day: 30,
        };
        assert_eq!(field_of(date_field(Some(&nonsense), "due")), "due");
        assert_eq!(field_of(date_field(None, "due")), "due");
        let zero = CivilDate {
            year: 0,
            month: 0,
            day: 0,
        };
        assert_eq!(optional_date(Some(&zero), "due").ok(), Some(None));
        let late = TimeOfDay {
            hours: 24,
            minutes: 0,
        };
        assert_eq!(field_of(time_field(Some(&late), "starts")), "starts");
        assert_eq!(field_of(text_field("  ", "name", 10)), "name");
        assert_eq!(text_field(" 5А ", "name", 10).ok().as_deref(), Some("5А"));
        assert_eq!(field_of(optional_text("слишком", "note", 3)), "note");
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page_size(None), DEFAULT_PAGE);
        assert_eq!(
            page_size(Some(&PageRequest {
                page_size: 0,
                ..Default::default()
            })),
            DEFAULT_PAGE
        );
        assert_eq!(
            page_size(Some(&PageRequest {
                page_size: 10,
                ..Default::default()
            })),
            10
        );
        assert_eq!(
            page_size(Some(&PageRequest {
                page_size: 100_000,
                ..Default::default()
            })),
            MAX_PAGE
        );
    }
}
