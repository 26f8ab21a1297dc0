//! Writing events: the caller's own transaction inserts the event into the
//! outbox, so the event exists exactly when the state change committed.

use asurso_proto::{common::OrgScope, events::Envelope};
use prost::Message as _;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::telemetry;

/// A fact about to be recorded.
#[derive(Debug)]
pub struct NewEvent<'a, M> {
    /// The logical subject, `<service>.<aggregate>.<event>[.<school>]`.
    pub subject: String,
    pub aggregate_type: &'a str,
    pub aggregate_id: String,
    pub scope: OrgScope,
    pub payload: &'a M,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox: encoding the payload: {0}")]
    Encode(#[from] prost::EncodeError),
    #[error("outbox: writing the event: {0}")]
    Write(#[from] sqlx::Error),
}

/// Records `event` in the outbox inside the caller's transaction and returns
/// its id. Nothing is published until that transaction commits; if it rolls
/// back, the event never existed.
pub async fn enqueue<M: prost::Name>(
    transaction: &mut PgConnection,
    producer: &str,
    event: NewEvent<'_, M>,
) -> Result<Uuid, OutboxError> {
    let ids = enqueue_many(transaction, producer, std::slice::from_ref(&event)).await?;
    ids.into_iter()
        .next()
        .ok_or(OutboxError::Write(sqlx::Error::RowNotFound))
}

/// Records every event of `events` in the outbox in one statement (a
/// message to a whole school is thousands of events: one round trip, not
/// thousands), inside the caller's transaction; their ids, in order.
pub async fn enqueue_many<M: prost::Name>(
    transaction: &mut PgConnection,
    producer: &str,
    events: &[NewEvent<'_, M>],
) -> Result<Vec<Uuid>, OutboxError> {
    let mut trace = telemetry::Pairs::default();
    telemetry::inject_current(&mut trace);
    let headers: serde_json::Map<String, serde_json::Value> = trace
        .0
        .into_iter()
        .map(|(key, value)| (key, serde_json::Value::String(value)))
        .collect();
    let headers = serde_json::Value::Object(headers);
    let occurred_at = prost_types::Timestamp::from(std::time::SystemTime::now());

    let mut ids = Vec::with_capacity(events.len());
    let mut subjects = Vec::with_capacity(events.len());
    let mut aggregate_types = Vec::with_capacity(events.len());
    let mut aggregate_ids = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    for event in events {
        let event_id = Uuid::now_v7();
        let envelope = Envelope {
            event_id: event_id.to_string(),
            occurred_at: Some(occurred_at),
            producer: producer.to_owned(),
            scope: Some(event.scope.clone()),
            aggregate_type: event.aggregate_type.to_owned(),
            aggregate_id: event.aggregate_id.clone(),
            payload: Some(prost_types::Any::from_msg(event.payload)?),
        };
        ids.push(event_id);
        subjects.push(event.subject.as_str());
        aggregate_types.push(event.aggregate_type);
        aggregate_ids.push(event.aggregate_id.as_str());
        bodies.push(envelope.encode_to_vec());
    }
    // The outbox's sequence follows the rows' order, so one aggregate's
    // events stay in the order given.
    sqlx::query(
        "INSERT INTO outbox (event_id, subject, aggregate_type, aggregate_id, body, headers) \
         SELECT event_id, subject, aggregate_type, aggregate_id, body, $5 \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $6::bytea[]) \
             WITH ORDINALITY AS e (event_id, subject, aggregate_type, aggregate_id, body, n) \
         ORDER BY n",
    )
    .bind(&ids)
    .bind(&subjects)
    .bind(&aggregate_types)
    .bind(&aggregate_ids)
    .bind(&headers)
    .bind(&bodies)
    .execute(&mut *transaction)
    .await?;
    Ok(ids)
}

/// Marks every event published at or after `since` as unpublished, so the
/// relay publishes it again: after a stream lost messages (a restore, a
/// cluster rebuilt), the outbox still holds what it sent for
/// `outbox.retention`. JetStream drops what it still has (same event id,
/// within its window); consumers drop what they applied (their inbox).
/// In transactions of 10,000 rows, up to the moment it started (what the
/// relay publishes meanwhile is not marked again). Returns how many events
/// go out again.
pub async fn republish_since(
    pool: &sqlx::PgPool,
    since: time::OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    const CHUNK: i64 = 10_000;
    let started: time::OffsetDateTime = sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
    let mut marked = 0;
    loop {
        let chunk = sqlx::query(
            "UPDATE outbox SET published_at = NULL, attempts = 0, last_error = NULL \
             WHERE seq IN (SELECT seq FROM outbox \
                           WHERE published_at >= $1 AND published_at < $2 \
                           ORDER BY seq LIMIT $3)",
        )
        .bind(since)
        .bind(started)
        .bind(CHUNK)
        .execute(pool)
        .await?
        .rows_affected();
        if chunk == 0 {
            return Ok(marked);
        }
        marked += chunk;
    }
}
