//! Personal-data reads reported by other services, recorded in the audit
//! log. Each producing stream has its own durable consumer; the event id is
//! kept with the record, so a redelivered report is recorded once.

use asurso_proto::events::PersonalDataRead;
use asurso_runtime::{
    auth::parse_role,
    events::{
        ConsumerSpec, EventHandler, HandleError, ReceivedEvent, StreamDef, streams, subjects,
    },
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::storage::audit::{NewAuditRecord, record};

/// The streams whose services serve students' data.
pub const REPORTING_STREAMS: [StreamDef; 3] =
    [streams::GRADEBOOK, streams::ATTENDANCE, streams::MESSAGING];

pub fn consumer_spec(stream: StreamDef) -> ConsumerSpec {
    ConsumerSpec::new(format!("identity-audit-{}", stream.subject_root), stream)
        .subjects([subjects::personal_data_reads(stream)])
}

pub struct AuditRecorder;

impl EventHandler for AuditRecorder {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let read: PersonalDataRead = event.payload()?;
        let uuid = |value: &str, field: &str| {
            Uuid::parse_str(value)
                .map_err(|_| HandleError::Permanent(format!("{field} is not a UUID")))
        };
        let role = parse_role(&read.actor_role)
            .map(asurso_runtime::auth::role_name)
            .ok_or_else(|| HandleError::Permanent(format!("unknown role {:?}", read.actor_role)))?;
        if read.what.is_empty() || read.what.len() > 100 {
            return Err(HandleError::Permanent(
                "what must be 1 to 100 characters".to_owned(),
            ));
        }
        let producer = event.envelope.producer.clone();
        record(
            transaction,
            &NewAuditRecord {
                actor_id: uuid(&read.actor_id, "actor_id")?,
                actor_role: role,
                actor_org_unit_id: uuid(&read.actor_org_unit_id, "actor_org_unit_id")?,
                subject_id: uuid(&read.subject_id, "subject_id")?,
                what: &read.what,
                service: &producer,
                event_id: Some(event.event_id),
            },
        )
        .await?;
        Ok(())
    }
}
