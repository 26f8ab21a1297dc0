//! One trace end to end, as an operator's collector receives it: every
//! process exports spans over OTLP/gRPC to a real receiver in this test, a
//! teacher's mark goes in through the gateway with the caller's own trace
//! context, and the gateway's span, the gradebook's, the relay's publish to
//! NATS and the notifications consumer's handling all carry that one trace
//! id, each the child of the one before.

use std::{collections::HashMap, time::Duration};

use asurso_e2e::{System, login, past_lesson};
use asurso_proto::gradebook as gb;
use asurso_testkit::otlp::{Collector, ExportedSpan};

/// The development ESIA's parent of two children in two schools.
const KUZNETSOVA: &str = "1000000003";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The chain of parents from `span` up, as far as the trace holds them.
fn ancestors<'a>(
    span: &'a ExportedSpan,
    by_id: &HashMap<&[u8], &'a ExportedSpan>,
) -> Vec<&'a ExportedSpan> {
    let mut chain = Vec::new();
    let mut at = span;
    while let Some(parent) = by_id.get(at.parent_span_id.as_slice()) {
        chain.push(*parent);
        at = parent;
        if chain.len() > 64 {
            break;
        }
    }
    chain
}

#[tokio::test]
async fn a_mark_is_one_trace_from_the_gateway_over_nats_to_the_consumer() -> anyhow::Result<()> {
    let collector = Collector::start().await?;
    let settings = asurso_devstack::SERVICES
        .iter()
        .map(|service| {
            (
                format!("{}_TELEMETRY__OTLP_ENDPOINT", service.env_prefix),
                collector.endpoint(),
            )
        })
        .collect();
    let system = System::start_with(600, settings).await?;
    let demo = system.demo.clone();
    let child = demo.family(KUZNETSOVA)?.children[0].clone();
    let (school, class) = demo.class_of(&child)?;
    let teacher = &school.teachers[0];
    let (token, _) = login(&system, &teacher.login).await?;
    let lesson = past_lesson(&system, &token, &teacher.person_id, &class.id).await?;
    let mut journal =
        gb::journal_service_client::JournalServiceClient::new(system.as_caller(&token).await?);
    let assignment = journal
        .create_assignment(gb::CreateAssignmentRequest {
            lesson_id: lesson.id.clone(),
            r#type: "classwork".into(),
            title: "Диктант (трассировка)".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .assignment
        .ok_or_else(|| anyhow::anyhow!("no assignment"))?;

    // The caller's own trace context, as a browser's or an app's tracer
    // would send it: the whole flow must continue this trace.
    let trace_id: [u8; 16] = rand_bytes();
    let caller_span: [u8; 8] = rand_bytes();
    let mut request = tonic::Request::new(gb::SetMarksRequest {
        assignment_id: assignment.id.clone(),
        marks: vec![gb::MarkEntry {
            student_id: child.clone(),
            value: Some(gb::MarkValue {
                kind: gb::MarkKind::Grade.into(),
                grade: 5,
            }),
            comment: String::new(),
        }],
        idempotency_key: String::new(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{}-{}-01", hex(&trace_id), hex(&caller_span)).parse()?,
    );
    journal.set_marks(request).await?;

    // Spans leave each process in batches, each process on its own clock:
    // wait until every hop's span has arrived.
    let ours = |spans: Vec<ExportedSpan>| -> Vec<ExportedSpan> {
        spans
            .into_iter()
            .filter(|span| span.trace_id == trace_id)
            .collect()
    };
    let complete = |trace: &[ExportedSpan]| {
        let has = |service: &str, suffix: &str| {
            trace
                .iter()
                .any(|span| span.service.contains(service) && span.name.ends_with(suffix))
        };
        has("gateway", "/SetMarks")
            && has("gradebook", "/SetMarks")
            && has("gradebook", " publish")
            && has("notifications", " process")
    };
    let mut trace = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        trace = ours(collector.spans()?);
        if complete(&trace) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let described: Vec<String> = trace
        .iter()
        .map(|span| {
            format!(
                "{} {:?} {} <- {}",
                span.service,
                span.name,
                hex(&span.span_id),
                hex(&span.parent_span_id)
            )
        })
        .collect();
    let by_id: HashMap<&[u8], &ExportedSpan> = trace
        .iter()
        .map(|span| (span.span_id.as_slice(), span))
        .collect();
    let find = |what: &str, test: &dyn Fn(&ExportedSpan) -> bool| {
        trace
            .iter()
            .find(|span| test(span))
            .ok_or_else(|| anyhow::anyhow!("no {what} in the trace:\n{}", described.join("\n")))
    };

    let gateway = find("gateway span", &|span| {
        span.service.contains("gateway") && span.name.ends_with("/SetMarks")
    })?;
    assert_eq!(
        gateway.parent_span_id,
        caller_span,
        "the gateway continues the caller's context:\n{}",
        described.join("\n")
    );
    let gradebook = find("gradebook server span", &|span| {
        span.service.contains("gradebook") && span.name.ends_with("/SetMarks")
    })?;
    assert!(
        ancestors(gradebook, &by_id)
            .iter()
            .any(|span| span.span_id == gateway.span_id),
        "the gradebook's span descends from the gateway's:\n{}",
        described.join("\n")
    );
    assert_eq!(
        by_id
            .get(gradebook.parent_span_id.as_slice())
            .map(|parent| parent.service.as_str()),
        Some(gateway.service.as_str()),
        "the gradebook's caller is the gateway:\n{}",
        described.join("\n")
    );
    let publish = find("relay publish span", &|span| {
        span.service.contains("gradebook") && span.name.ends_with(" publish")
    })?;
    assert!(
        ancestors(publish, &by_id)
            .iter()
            .any(|span| span.span_id == gradebook.span_id),
        "the relay publishes in the context of the write that stored the event:\n{}",
        described.join("\n")
    );
    let consume = find("notifications consumer span", &|span| {
        span.service.contains("notifications") && span.name.ends_with(" process")
    })?;
    assert_eq!(
        consume.parent_span_id,
        publish.span_id,
        "the consumer handles the event as the publish's child:\n{}",
        described.join("\n")
    );
    assert_eq!(
        publish.name.trim_end_matches(" publish"),
        consume.name.trim_end_matches(" process"),
        "the same subject both sides"
    );

    system.stop().await?;
    collector.stop().await
}

/// Random ids for the caller's context (never all zero, which W3C forbids).
fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    for chunk in bytes.chunks_mut(16) {
        let id = uuid::Uuid::new_v4();
        chunk.copy_from_slice(&id.as_bytes()[..chunk.len()]);
    }
    bytes
}
