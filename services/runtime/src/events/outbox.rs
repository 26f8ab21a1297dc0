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
    let event_id = Uuid::now_v7();
    let envelope = Envelope {
        event_id: event_id.to_string(),
        occurred_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        producer: producer.to_owned(),
        scope: Some(event.scope),
        aggregate_type: event.aggregate_type.to_owned(),
        aggregate_id: event.aggregate_id.clone(),
        payload: Some(prost_types::Any::from_msg(event.payload)?),
    };

    let mut trace = telemetry::Pairs::default();
    telemetry::inject_current(&mut trace);
    let headers: serde_json::Map<String, serde_json::Value> = trace
        .0
        .into_iter()
        .map(|(key, value)| (key, serde_json::Value::String(value)))
        .collect();

    sqlx::query(
        "INSERT INTO outbox (event_id, subject, aggregate_type, aggregate_id, body, headers) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event_id)
    .bind(&event.subject)
    .bind(event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(envelope.encode_to_vec())
    .bind(serde_json::Value::Object(headers))
    .execute(&mut *transaction)
    .await?;
    Ok(event_id)
}
