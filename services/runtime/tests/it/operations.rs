//! The operator's commands on the event plumbing (`asurso_runtime::admin`):
//! a dead letter sent back after its cause is fixed is applied once and
//! leaves the dead letters; the outbox re-publishes what a stream may have
//! lost, and what the stream still has is not stored twice.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use asurso_runtime::{
    Shutdown,
    events::{
        ConsumerSpec, EventHandler, HandleError, IdempotentConsumer, ReceivedEvent,
        dead_letters::{self, DeadLetterError},
        outbox,
    },
};
use sqlx::PgConnection;

use crate::support::{Counted, Recorder, STREAM, World, eventually};

fn spec(name: &str) -> ConsumerSpec {
    ConsumerSpec::new(name, STREAM).subjects([format!("{}.>", STREAM.subject_root)])
}

/// Refuses the aggregate "poison" until the fix is deployed.
struct Mendable {
    fixed: Arc<AtomicBool>,
}

impl EventHandler for Mendable {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let counted: Counted = event.payload()?;
        if counted.aggregate == "poison" && !self.fixed.load(Ordering::SeqCst) {
            return Err(HandleError::Permanent(
                "poison cannot be handled yet".to_owned(),
            ));
        }
        Recorder.handle(tx, event).await
    }
}

/// Another consumer of the same subjects: it must not apply anything twice
/// when a letter is sent back.
struct Bystander {
    calls: Arc<AtomicUsize>,
}

impl EventHandler for Bystander {
    async fn handle(
        &self,
        _tx: &mut PgConnection,
        _event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_dead_letter_sent_back_after_the_fix_is_applied_once() -> anyhow::Result<()> {
    let world = World::new().await?;
    let fixed = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let shutdown = Shutdown::new();
    let mut mendable = spec("mendable");
    mendable.retry_delay = Duration::from_millis(20);
    let consumer = IdempotentConsumer::create(
        world.db.pool.clone(),
        world.bus.clone(),
        mendable,
        Mendable {
            fixed: fixed.clone(),
        },
    )
    .await?;
    tokio::spawn(consumer.run(shutdown.clone()));
    let bystander = IdempotentConsumer::create(
        world.db.pool.clone(),
        world.bus.clone(),
        spec("bystander"),
        Bystander {
            calls: calls.clone(),
        },
    )
    .await?;
    tokio::spawn(bystander.run(shutdown.clone()));

    let poison = world.write("poison", 1).await?;
    let fine = world.write("fine", 1).await?;
    world.relay().publish_pending().await?;
    eventually(Duration::from_secs(10), || async {
        Ok(dead_letters::list(&world.bus, Some("mendable"))
            .await?
            .len()
            == 1
            && calls.load(Ordering::SeqCst) == 2)
    })
    .await?;
    // Listing twice shows the same letter: listing takes nothing away.
    let letters = dead_letters::list(&world.bus, Some("mendable")).await?;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].event_id.as_deref(),
        Some(poison.to_string().as_str())
    );
    assert!(letters[0].letter.reason.contains("not be handled yet"));
    assert!(
        dead_letters::list(&world.bus, Some("bystander"))
            .await?
            .is_empty()
    );
    assert_eq!(
        world
            .effects()
            .await?
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        vec![fine]
    );

    // A sequence that is not a letter of this consumer: refused, nothing sent.
    let wrong =
        dead_letters::replay(&world.bus, "mendable", Some(letters[0].sequence + 1000)).await;
    assert!(
        matches!(wrong, Err(DeadLetterError::NotFound { .. })),
        "{wrong:?}"
    );

    // Sent back too early (the fix is not deployed): it fails again and a
    // new letter says so; the old one is gone.
    assert_eq!(dead_letters::replay(&world.bus, "mendable", None).await?, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let again = loop {
        let now = dead_letters::list(&world.bus, Some("mendable")).await?;
        if now.len() == 1 && now[0].sequence != letters[0].sequence {
            break now;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no new letter after a failing replay: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(again[0].event_id, letters[0].event_id);

    // The fix is deployed; the operator sends the letter back.
    fixed.store(true, Ordering::SeqCst);
    let sent = dead_letters::replay(&world.bus, "mendable", Some(again[0].sequence)).await?;
    assert_eq!(sent, 1);
    eventually(Duration::from_secs(10), || async {
        Ok(world.effects().await?.len() == 2)
    })
    .await?;
    assert!(
        dead_letters::list(&world.bus, Some("mendable"))
            .await?
            .is_empty()
    );
    // The bystander got both replays and, as they were not for it, left
    // them untouched: its handler ran for the two events only. Wait until
    // it has settled them (nothing pending, nothing unacknowledged).
    let stream = world.bus.ensure_stream(STREAM).await?;
    eventually(Duration::from_secs(10), || async {
        let mut reader = stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>("bystander")
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let info = reader.info().await?;
        Ok(info.num_pending == 0
            && info.num_ack_pending == 0
            && info.delivered.stream_sequence >= 4)
    })
    .await?;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the bystander applied nothing twice"
    );
    let mut effects: Vec<_> = world.effects().await?.into_iter().map(|e| e.0).collect();
    effects.sort();
    let mut expected = vec![poison, fine];
    expected.sort();
    assert_eq!(effects, expected, "each applied once");
    shutdown.trigger();
    Ok(())
}

#[tokio::test]
async fn the_outbox_republishes_what_it_sent_and_the_stream_keeps_one_copy() -> anyhow::Result<()> {
    let world = World::new().await?;
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    for n in 1..=3 {
        world.write("counter", n).await?;
    }
    world.relay().publish_pending().await?;
    assert_eq!(world.unpublished().await?, 0);
    assert_eq!(world.stream_messages().await?, 3);

    let marked = outbox::republish_since(&world.db.pool, before).await?;
    assert_eq!(marked, 3);
    assert_eq!(world.unpublished().await?, 3);
    let pass = world.relay().publish_pending().await?;
    assert_eq!(world.unpublished().await?, 0, "{pass:?}");
    // Within the broker's window the copies are recognised by event id.
    assert_eq!(world.stream_messages().await?, 3);
    // Nothing published after a later time: nothing marked.
    let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(60);
    assert_eq!(outbox::republish_since(&world.db.pool, later).await?, 0);
    Ok(())
}
