//! The dead letters, for an operator: list what a consumer gave up on, and
//! once the cause is fixed, send it back.
//!
//! A replayed letter is published again on its original subject, body and
//! trace headers as they were, under a de-duplication id of its own
//! (`replay:<letter's sequence>`), so replaying the same letter twice within
//! the broker's window publishes it once, and addressed to the consumer
//! that gave up ([`super::REPLAY_FOR_HEADER`]): every other consumer of the
//! subject acknowledges it untouched, even one whose inbox has forgotten the
//! event by now. The consumer that gave up applies it (or gives up again,
//! and a new letter says why). The letter is deleted from the dead-letter
//! stream once the publish is acknowledged.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, message::PublishMessage, stream::Stream};
use futures::StreamExt;
use prost::Message as _;

use asurso_proto::events::{DeadLetter, Envelope};

use super::{EventBus, MSG_ID_HEADER, REPLAY_FOR_HEADER, streams};

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("nats: {0}")]
    Nats(String),
    #[error("dead letter {sequence}: not a DeadLetter ({reason})")]
    Undecodable { sequence: u64, reason: String },
    #[error("no dead letter {sequence} of consumer {consumer}")]
    NotFound { consumer: String, sequence: u64 },
}

fn nats(error: impl std::fmt::Display) -> DeadLetterError {
    DeadLetterError::Nats(error.to_string())
}

/// One dead letter as it sits in the stream.
#[derive(Debug, Clone)]
pub struct Letter {
    /// Its sequence in the dead-letter stream: what `replay` takes.
    pub sequence: u64,
    /// The event's id when its body is an envelope.
    pub event_id: Option<String>,
    pub letter: DeadLetter,
    headers: Option<async_nats::HeaderMap>,
}

fn filter(bus: &EventBus, consumer: Option<&str>) -> String {
    let root = streams::DEAD_LETTERS.subject_root;
    bus.subject(&match consumer {
        Some(consumer) => format!("{root}.{consumer}"),
        None => format!("{root}.>"),
    })
}

async fn stream(bus: &EventBus) -> Result<Stream, DeadLetterError> {
    bus.ensure_stream(streams::DEAD_LETTERS).await.map_err(nats)
}

/// Every dead letter of `consumer` (all consumers when `None`), oldest
/// first.
pub async fn list(bus: &EventBus, consumer: Option<&str>) -> Result<Vec<Letter>, DeadLetterError> {
    read(&stream(bus).await?, bus, consumer).await
}

async fn read(
    stream: &Stream,
    bus: &EventBus,
    consumer: Option<&str>,
) -> Result<Vec<Letter>, DeadLetterError> {
    // An ephemeral reader that acknowledges nothing: listing changes nothing.
    let reader = stream
        .create_consumer(pull::Config {
            filter_subject: filter(bus, consumer),
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    let mut remaining = reader.cached_info().num_pending;
    let mut letters = Vec::new();
    while remaining > 0 {
        let mut batch = reader
            .fetch()
            .max_messages(remaining.min(256) as usize)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .map_err(nats)?;
        let mut got = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(nats)?;
            got += 1;
            let info = message.info().map_err(nats)?;
            let sequence = info.stream_sequence;
            let letter = DeadLetter::decode(message.payload.as_ref()).map_err(|error| {
                DeadLetterError::Undecodable {
                    sequence,
                    reason: error.to_string(),
                }
            })?;
            let event_id = Envelope::decode(letter.body.as_slice())
                .ok()
                .map(|envelope| envelope.event_id);
            letters.push(Letter {
                sequence,
                event_id,
                letter,
                headers: message.headers.clone(),
            });
        }
        if got == 0 {
            break;
        }
        remaining = remaining.saturating_sub(got);
    }
    Ok(letters)
}

/// Sends back the dead letters of `consumer` (only the one at `sequence`
/// when given) and removes each from the dead-letter stream. Returns how
/// many were sent back.
pub async fn replay(
    bus: &EventBus,
    consumer: &str,
    sequence: Option<u64>,
) -> Result<usize, DeadLetterError> {
    let stream = stream(bus).await?;
    let letters: Vec<Letter> = read(&stream, bus, Some(consumer))
        .await?
        .into_iter()
        .filter(|letter| sequence.is_none_or(|wanted| letter.sequence == wanted))
        .collect();
    if let Some(sequence) = sequence
        && letters.is_empty()
    {
        return Err(DeadLetterError::NotFound {
            consumer: consumer.to_owned(),
            sequence,
        });
    }
    for letter in &letters {
        let mut headers = async_nats::HeaderMap::new();
        if let Some(original) = &letter.headers {
            for (name, values) in original.iter() {
                if AsRef::<str>::as_ref(name) != MSG_ID_HEADER {
                    for value in values {
                        headers.append(name.clone(), value.clone());
                    }
                }
            }
        }
        headers.insert(
            MSG_ID_HEADER,
            format!("replay:{}", letter.sequence).as_str(),
        );
        headers.insert(REPLAY_FOR_HEADER, consumer);
        let publish = PublishMessage::build()
            .payload(letter.letter.body.clone().into())
            .headers(headers);
        bus.jetstream()
            .send_publish(letter.letter.subject.clone(), publish)
            .await
            .map_err(nats)?
            .await
            .map_err(nats)?;
        stream.delete_message(letter.sequence).await.map_err(nats)?;
        tracing::info!(
            consumer,
            sequence = letter.sequence,
            subject = %letter.letter.subject,
            event_id = letter.event_id.as_deref().unwrap_or(""),
            "dead letter sent back"
        );
    }
    Ok(letters.len())
}
