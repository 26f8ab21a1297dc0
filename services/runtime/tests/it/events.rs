//! The outbox, the relay and the idempotent consumer, proved against real
//! servers: nothing committed is lost, nothing rolled back is published,
//! nothing is applied twice.

use std::{
    collections::{HashMap, HashSet},
    sync::atomic::Ordering,
    time::Duration,
};

use asurso_proto::events::DeadLetter;
use asurso_runtime::{
    Shutdown,
    events::{
        ConsumerSpec, Disposition, EventHandler, HandleError, IdempotentConsumer, ReceivedEvent,
        consumer::settle, enqueue,
    },
};
use asurso_testkit::NatsServer;
use futures::StreamExt;
use prost::Message as _;
use rand::Rng;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::support::{Counted, Recorder, STREAM, World, count, event, eventually};

const AGGREGATES: u32 = 20;
const EVENTS_PER_AGGREGATE: u32 = 50;
const TOTAL: usize = (AGGREGATES * EVENTS_PER_AGGREGATE) as usize;

fn spec(name: &str) -> ConsumerSpec {
    ConsumerSpec::new(name, STREAM).subjects([format!("{}.>", STREAM.subject_root)])
}

async fn start_consumer(
    world: &World,
    spec: ConsumerSpec,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let consumer =
        IdempotentConsumer::create(world.db.pool.clone(), world.bus.clone(), spec, Recorder)
            .await?;
    tokio::spawn(consumer.run(shutdown.clone()));
    Ok(())
}

/// Every aggregate's events were applied once each, in the order written.
fn assert_once_each_in_order(effects: &[(Uuid, String, i32)], written: usize) {
    let distinct: HashSet<Uuid> = effects.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(
        distinct.len(),
        written,
        "lost events: {}",
        written.saturating_sub(distinct.len())
    );
    assert_eq!(effects.len(), written, "events applied more than once");
    let mut seen: HashMap<&str, i32> = HashMap::new();
    for (_, aggregate, n) in effects {
        let last = seen.entry(aggregate).or_insert(0);
        assert_eq!(
            *n,
            *last + 1,
            "aggregate {aggregate}: event {n} applied after event {last}"
        );
        *last = *n;
    }
}

/// Writes AGGREGATES x EVENTS_PER_AGGREGATE events, aggregates concurrently,
/// each aggregate's events one committed transaction after another.
async fn write_all(world: &World) -> anyhow::Result<()> {
    let mut writers = tokio::task::JoinSet::new();
    for a in 0..AGGREGATES {
        let pool = world.db.pool.clone();
        writers.spawn(async move {
            let aggregate = format!("counter-{a}");
            for n in 1..=EVENTS_PER_AGGREGATE {
                let mut transaction = pool.begin().await?;
                let payload = Counted {
                    aggregate: aggregate.clone(),
                    n,
                };
                enqueue(
                    &mut transaction,
                    "runtime-tests",
                    event(&aggregate, &payload),
                )
                .await?;
                transaction.commit().await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(written) = writers.join_next().await {
        written??;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_survive_a_relay_that_keeps_crashing() -> anyhow::Result<()> {
    let world = World::new().await?;
    let shutdown = Shutdown::new();
    start_consumer(&world, spec("crashing-relay"), &shutdown).await?;

    let writing = write_all(&world);
    let chaos = async {
        // Start the relay, kill it at a random moment (mid-batch, after the
        // PubAck but before the commit, while idle), start it again.
        let mut restarts = 0;
        loop {
            let relay = world.relay().run(Shutdown::new());
            let handle = tokio::spawn(relay);
            let lifetime = rand::rng().random_range(2..40);
            tokio::time::sleep(Duration::from_millis(lifetime)).await;
            handle.abort();
            let _ = handle.await;
            restarts += 1;
            if restarts >= 30 && world.unpublished().await? == 0 {
                return anyhow::Ok(restarts);
            }
            if restarts > 2_000 {
                anyhow::bail!("the relay never caught up");
            }
        }
    };
    let (written, restarts) = tokio::join!(writing, chaos);
    written?;
    let restarts = restarts?;
    // A last relay finishes whatever the last crash left.
    let relay = tokio::spawn(world.relay().run(shutdown.clone()));

    eventually(Duration::from_secs(60), || async {
        Ok(world.effect_count().await? >= TOTAL as i64)
    })
    .await?;
    // Let any stray redelivery arrive before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_once_each_in_order(&world.effects().await?, TOTAL);
    assert_eq!(world.unpublished().await?, 0);
    assert_eq!(
        world.stream_messages().await?,
        TOTAL as u64,
        "the broker kept a duplicate"
    );
    assert!(restarts >= 30, "the relay was restarted {restarts} times");
    shutdown.trigger();
    relay.await?;
    Ok(())
}

#[tokio::test]
async fn an_event_whose_transaction_rolls_back_is_never_published() -> anyhow::Result<()> {
    let world = World::new().await?;

    let mut rolled_back = world.db.pool.begin().await?;
    let payload = Counted {
        aggregate: "a".to_owned(),
        n: 1,
    };
    let ghost = enqueue(&mut rolled_back, "runtime-tests", event("a", &payload)).await?;
    rolled_back.rollback().await?;
    let real = world.write("a", 1).await?;

    let relay = world.relay();
    while relay.publish_pending().await?.claimed > 0 {}

    let shutdown = Shutdown::new();
    start_consumer(&world, spec("rollback"), &shutdown).await?;
    eventually(Duration::from_secs(10), || async {
        Ok(world.effect_count().await? >= 1)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let effects = world.effects().await?;
    assert_eq!(
        effects.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(),
        vec![real]
    );
    assert!(!effects.iter().any(|(id, _, _)| *id == ghost));
    assert_eq!(world.stream_messages().await?, 1);
    assert_eq!(relay.stats().published.load(Ordering::Relaxed), 1);
    shutdown.trigger();
    Ok(())
}

#[tokio::test]
async fn a_transaction_that_commits_late_with_a_lower_sequence_is_still_published()
-> anyhow::Result<()> {
    let world = World::new().await?;

    // The slow writer takes the lower outbox sequence number, then waits.
    let mut slow = world.db.pool.begin().await?;
    let payload = Counted {
        aggregate: "slow".to_owned(),
        n: 1,
    };
    let late = enqueue(&mut slow, "runtime-tests", event("slow", &payload)).await?;
    // A quick writer commits a higher number, and the relay publishes it.
    let early = world.write("quick", 1).await?;
    let relay = world.relay();
    assert_eq!(relay.publish_pending().await?.published, 1);
    // Now the slow one commits: a relay that resumed "after the last seq
    // seen" would skip it for ever.
    slow.commit().await?;
    assert_eq!(relay.publish_pending().await?.published, 1);

    let shutdown = Shutdown::new();
    start_consumer(&world, spec("late-commit"), &shutdown).await?;
    eventually(Duration::from_secs(10), || async {
        Ok(world.effect_count().await? >= 2)
    })
    .await?;
    let ids: HashSet<Uuid> = world
        .effects()
        .await?
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(ids, HashSet::from([early, late]));
    shutdown.trigger();
    Ok(())
}

#[tokio::test]
async fn a_consumer_that_dies_before_acking_does_not_apply_the_event_twice() -> anyhow::Result<()> {
    let world = World::new().await?;
    let id = world.write("a", 1).await?;
    world.relay().publish_pending().await?;

    let mut spec = spec("dies-before-ack");
    spec.ack_wait = Duration::from_secs(1);
    let consumer = IdempotentConsumer::create(
        world.db.pool.clone(),
        world.bus.clone(),
        spec.clone(),
        Recorder,
    )
    .await?;
    let first = next_message(&consumer).await?;
    // The effect commits...
    assert_eq!(consumer.apply(&first).await, Disposition::Ack);
    assert_eq!(world.effect_count().await?, 1);
    // ...and the process dies before the ack: drop everything, start over.
    drop(first);
    drop(consumer);

    let restarted =
        IdempotentConsumer::create(world.db.pool.clone(), world.bus.clone(), spec, Recorder)
            .await?;
    let again = next_message(&restarted).await?;
    let info = again.info().map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(
        info.delivered, 2,
        "the server redelivered the unacked event"
    );
    assert_eq!(restarted.apply(&again).await, Disposition::Ack);
    settle(&again, Disposition::Ack).await;

    let effects = world.effects().await?;
    assert_eq!(effects.len(), 1, "applied twice: {effects:?}");
    assert_eq!(effects[0].0, id);
    Ok(())
}

async fn next_message<H: EventHandler>(
    consumer: &IdempotentConsumer<H>,
) -> anyhow::Result<async_nats::jetstream::Message> {
    let mut batch = consumer
        .jetstream_consumer()
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(5))
        .messages()
        .await?;
    match batch.next().await {
        Some(message) => message.map_err(|e| anyhow::anyhow!("{e}")),
        None => anyhow::bail!("no message delivered"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_restart_in_the_middle_of_publishing_loses_nothing() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("asurso-nats-restart-{}", Uuid::new_v4().simple()));
    let mut nats = NatsServer::start(&dir, asurso_testkit::servers::free_port()?).await?;
    let world = World::on_nats(&nats.url()).await?;

    let shutdown = Shutdown::new();
    let relay = world.relay();
    let stats = relay.stats();
    let relaying = tokio::spawn(relay.run(shutdown.clone()));
    let writing = write_all(&world);
    let restarting = async {
        eventually(Duration::from_secs(30), || async {
            Ok(stats.published.load(Ordering::Relaxed) >= 200)
        })
        .await?;
        let published_before = stats.published.load(Ordering::Relaxed);
        nats.restart().await?;
        anyhow::Ok(published_before)
    };
    let (written, published_before) = tokio::join!(writing, restarting);
    written?;
    let published_before = published_before?;
    assert!(
        published_before < TOTAL as u64,
        "the restart came after publishing finished"
    );
    // The stream and everything it acknowledged survive the restart; the
    // relay reconnects and publishes the rest.
    eventually(Duration::from_secs(60), || async {
        Ok(world.unpublished().await? == 0)
    })
    .await?;

    start_consumer(&world, spec("nats-restart"), &shutdown).await?;
    eventually(Duration::from_secs(60), || async {
        Ok(world.effect_count().await? >= TOTAL as i64)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_once_each_in_order(&world.effects().await?, TOTAL);
    shutdown.trigger();
    relaying.await?;
    nats.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_at_once_publish_each_event_once() -> anyhow::Result<()> {
    let world = World::new().await?;
    let shutdown = Shutdown::new();
    let (one, two) = (world.relay(), world.relay());
    let (stats_one, stats_two) = (one.stats(), two.stats());
    let relays = [
        tokio::spawn(one.run(shutdown.clone())),
        tokio::spawn(two.run(shutdown.clone())),
    ];
    write_all(&world).await?;
    eventually(Duration::from_secs(60), || async {
        Ok(world.unpublished().await? == 0)
    })
    .await?;
    shutdown.trigger();
    for relay in relays {
        relay.await?;
    }

    let published =
        stats_one.published.load(Ordering::Relaxed) + stats_two.published.load(Ordering::Relaxed);
    let duplicates =
        stats_one.duplicates.load(Ordering::Relaxed) + stats_two.duplicates.load(Ordering::Relaxed);
    assert_eq!(published, TOTAL as u64);
    assert_eq!(duplicates, 0, "an event was sent by both relays");
    assert_eq!(world.stream_messages().await?, TOTAL as u64);
    Ok(())
}

/// Fails on the aggregate named "poison", permanently or for a while.
struct Picky {
    transient: bool,
}

impl EventHandler for Picky {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let counted: Counted = event.payload()?;
        if counted.aggregate == "poison" {
            return Err(if self.transient {
                HandleError::Transient("the database is having a bad day".into())
            } else {
                HandleError::Permanent("poison cannot be handled".to_owned())
            });
        }
        Recorder.handle(tx, event).await
    }
}

async fn dead_letters(world: &World, durable: &str) -> anyhow::Result<Vec<DeadLetter>> {
    Ok(
        asurso_runtime::events::dead_letters::list(&world.bus, Some(durable))
            .await?
            .into_iter()
            .map(|letter| letter.letter)
            .collect(),
    )
}

#[tokio::test]
async fn a_poison_event_goes_to_the_dead_letters_and_the_rest_flow_on() -> anyhow::Result<()> {
    for transient in [false, true] {
        let world = World::new().await?;
        let durable = if transient { "flaky" } else { "picky" };
        let mut spec = spec(durable);
        spec.max_deliver = 3;
        spec.retry_delay = Duration::from_millis(20);
        let consumer = IdempotentConsumer::create(
            world.db.pool.clone(),
            world.bus.clone(),
            spec,
            Picky { transient },
        )
        .await?;
        let shutdown = Shutdown::new();
        tokio::spawn(consumer.run(shutdown.clone()));

        world.write("poison", 1).await?;
        let fine = world.write("fine", 1).await?;
        world.relay().publish_pending().await?;

        eventually(Duration::from_secs(10), || async {
            Ok(world.effect_count().await? >= 1)
        })
        .await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let letters = loop {
            let letters = dead_letters(&world, durable).await?;
            if !letters.is_empty() || std::time::Instant::now() > deadline {
                break letters;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            world
                .effects()
                .await?
                .iter()
                .map(|e| e.0)
                .collect::<Vec<_>>(),
            vec![fine]
        );
        assert_eq!(letters.len(), 1);
        let letter = &letters[0];
        assert_eq!(letter.consumer, durable);
        assert_eq!(letter.deliveries, if transient { 3 } else { 1 });
        assert!(
            letter
                .reason
                .contains(if transient { "bad day" } else { "poison" }),
            "{}",
            letter.reason
        );
        // Nothing of the poison event was recorded as handled.
        assert_eq!(
            count(&world.db.pool, "SELECT count(*) FROM inbox").await?,
            1
        );
        shutdown.trigger();
    }
    Ok(())
}

#[tokio::test]
async fn events_carry_the_writers_trace_context() -> anyhow::Result<()> {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    let world = World::new().await?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let span = tracing::info_span!("teacher posts a mark");
    let trace_id = span.context().span().span_context().trace_id();
    {
        let _entered = span.enter();
        world.write("a", 1).await?;
    }
    world.relay().publish_pending().await?;

    let stream = world.bus.ensure_stream(STREAM).await?;
    let message = stream.get_raw_message(1).await?;
    let traceparent = message
        .headers
        .get("traceparent")
        .map(|value| value.as_str().to_owned())
        .unwrap_or_default();
    assert!(
        traceparent.contains(&trace_id.to_string()),
        "traceparent {traceparent:?} is not in trace {trace_id}"
    );
    let msg_id = message
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.as_str().to_owned());
    let envelope = asurso_proto::events::Envelope::decode(message.payload)?;
    assert_eq!(msg_id, Some(envelope.event_id));
    Ok(())
}

#[tokio::test]
async fn a_consumer_of_one_subject_sees_nothing_else_of_its_stream() -> anyhow::Result<()> {
    let world = World::new().await?;
    // One event on another subject of the same stream, then one of ours.
    let mut transaction = world.db.pool.begin().await?;
    let other = Counted {
        aggregate: "elsewhere".to_owned(),
        n: 1,
    };
    let mut elsewhere = event("elsewhere", &other);
    elsewhere.subject = format!("{}.other.happened", STREAM.subject_root);
    enqueue(&mut transaction, "runtime-tests", elsewhere).await?;
    transaction.commit().await?;
    let ours = world.write("a", 1).await?;
    world.relay().publish_pending().await?;

    // (NATS before 2.10 ignores a list of filters; one filter must still
    // hold there.)
    let spec = ConsumerSpec::new("one-subject", STREAM)
        .subjects([format!("{}.counter.>", STREAM.subject_root)]);
    let consumer =
        IdempotentConsumer::create(world.db.pool.clone(), world.bus.clone(), spec, Recorder)
            .await?;
    let first = next_message(&consumer).await?;
    assert!(
        first.subject.ends_with(".counter.counted"),
        "delivered {}",
        first.subject
    );
    assert_eq!(consumer.apply(&first).await, Disposition::Ack);
    settle(&first, Disposition::Ack).await;
    assert!(
        next_message(&consumer).await.is_err(),
        "an event of another subject was delivered"
    );
    let effects = world.effects().await?;
    assert_eq!(effects.len(), 1);
    assert_eq!(effects[0].0, ours);
    Ok(())
}

#[tokio::test]
async fn a_batch_applies_waiting_events_once_each_and_a_poison_one_alone() -> anyhow::Result<()> {
    let world = World::new().await?;
    write_all(&world).await?;
    world.write("poison", 1).await?;
    for a in 0..3 {
        world.write(&format!("late-{a}"), 1).await?;
    }
    // Everything is on the stream before the consumer starts, so batches
    // fill up.
    let relay = world.relay();
    while relay.publish_pending().await?.published > 0 {}
    let mut spec = spec("batched").batch(64);
    spec.retry_delay = Duration::from_millis(20);
    let consumer = IdempotentConsumer::create(
        world.db.pool.clone(),
        world.bus.clone(),
        spec,
        Picky { transient: false },
    )
    .await?;
    let shutdown = Shutdown::new();
    tokio::spawn(consumer.run(shutdown.clone()));
    let written = TOTAL + 3;
    eventually(Duration::from_secs(30), || async {
        Ok(world.effect_count().await? >= written as i64)
    })
    .await?;
    let effects = world.effects().await?;
    assert_once_each_in_order(&effects, written);
    assert!(
        effects
            .iter()
            .all(|(_, aggregate, _)| aggregate != "poison")
    );
    let letters = dead_letters(&world, "batched").await?;
    assert_eq!(letters.len(), 1, "the poison event alone is given up");
    assert!(
        letters[0].reason.contains("poison"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        count(&world.db.pool, "SELECT count(*) FROM inbox").await?,
        written as i64,
        "the poison event is recorded as handled nowhere"
    );
    shutdown.trigger();
    Ok(())
}
