//! Every public method, through the gateway, as every role, with random
//! and extreme field values: no answer may be INTERNAL, UNKNOWN,
//! UNAVAILABLE or DATA_LOSS, and no process may die. The methods come from
//! the contracts themselves, so a new service is fuzzed by being there.
//!
//! Bounded: `FUZZ_SECONDS` (default 60) of calls; `FUZZ_SEED` repeats a
//! run (the seed is printed).

use std::time::{Duration, Instant};

use asurso_devstack::seed::REGION_ADMIN;
use asurso_e2e::{System, browser_login, login};
use asurso_proto::{FILE_DESCRIPTOR_SET, gradebook as gb};
use bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataValue,
};

/// What no request, however wrong, may be answered with.
const FAILURES: [Code; 4] = [
    Code::Internal,
    Code::Unknown,
    Code::Unavailable,
    Code::DataLoss,
];
const PROCESSES: [&str; 7] = [
    "esia-dev",
    "identity",
    "gradebook",
    "attendance",
    "messaging",
    "notifications",
    "gateway",
];

/// A small, seedable generator: a failure must be repeatable.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values a caller might send: the demo region's real ids (so calls get
/// past "not found" into the rules), and everything else.
struct Vocabulary {
    ids: Vec<String>,
}

impl Vocabulary {
    fn string(&self, random: &mut Random, field: &FieldDescriptor, small: bool) -> String {
        let name = field.name();
        if (name.ends_with("id") || name.ends_with("ids")) && random.chance(70) {
            return random.pick(&self.ids).clone();
        }
        match random.below(12) {
            0 => String::new(),
            1 => uuid::Uuid::new_v4().to_string(),
            2 if !small && random.chance(20) => "x".repeat(random.below(70_000)),
            2 => "x".repeat(random.below(300)),
            3 => "Ё𝔘ñ\u{0}\u{202e}🙂".repeat(1 + random.below(50)),
            4 => "' OR 1=1; DROP TABLE marks; --".into(),
            5 => "../../../etc/passwd".into(),
            6 => "<script>alert(1)</script>".into(),
            7 => "-9999-01-01".into(),
            8 => "99999999999999999999".into(),
            9 => "345-678-912 26".into(),
            10 => " \t\n".into(),
            _ => format!("fuzz-{}", random.next()),
        }
    }

    fn number(random: &mut Random) -> i64 {
        *random.pick(&[
            0,
            1,
            -1,
            2,
            5,
            7,
            12,
            31,
            100,
            2024,
            2026,
            9999,
            -9999,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
            i64::from(u32::MAX),
        ])
    }

    /// A value for `field`; `small` inside lists, so a message stays
    /// within what the gateway lets through.
    fn value(
        &self,
        random: &mut Random,
        field: &FieldDescriptor,
        depth: u32,
        small: bool,
    ) -> Option<Value> {
        Some(match field.kind() {
            Kind::String => Value::String(self.string(random, field, small)),
            Kind::Bytes => {
                let length = if small || !random.chance(10) {
                    random.pick(&[0_usize, 1, 8, 1024])
                } else {
                    &(3 * 1024 * 1024 + 1)
                };
                let mut bytes = vec![0_u8; *length];
                for byte in &mut bytes {
                    *byte = u8::try_from(random.next() & 0xff).unwrap_or(0);
                }
                if random.chance(30) && bytes.len() >= 8 {
                    bytes[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
                } else if random.chance(30) {
                    // Text a service parses out of bytes (a CSV import),
                    // with what no column takes.
                    bytes = "snils;last_name;first_name;email\n345-678-912 26;Ива\0нова;\u{7};a\0@b.ru\n\""
                        .as_bytes()
                        .to_vec();
                    bytes.push(0xff);
                }
                Value::Bytes(bytes.into())
            }
            Kind::Bool => Value::Bool(random.chance(50)),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(Self::number(random) as i32),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(Self::number(random)),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(Self::number(random) as u32),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(Self::number(random) as u64),
            Kind::Float => Value::F32(*random.pick(&[0.0, -1.0, f32::NAN, f32::INFINITY, 1e30])),
            Kind::Double => Value::F64(*random.pick(&[0.0, -1.0, f64::NAN, f64::INFINITY, 1e300])),
            Kind::Enum(enumeration) => {
                let values: Vec<i32> = enumeration.values().map(|v| v.number()).collect();
                Value::EnumNumber(if random.chance(85) {
                    *random.pick(&values)
                } else {
                    *random.pick(&[-1, 99, i32::MAX])
                })
            }
            Kind::Message(message) => {
                if depth > 3 {
                    return None;
                }
                Value::Message(self.message(random, &message, depth + 1, small))
            }
        })
    }

    fn message(
        &self,
        random: &mut Random,
        descriptor: &MessageDescriptor,
        depth: u32,
        small: bool,
    ) -> DynamicMessage {
        let mut message = DynamicMessage::new(descriptor.clone());
        // Each oneof gets at most one of its fields.
        let mut oneofs_set = Vec::new();
        for field in descriptor.fields() {
            if field.is_map() || !random.chance(80) {
                continue;
            }
            if let Some(oneof) = field.containing_oneof() {
                if oneofs_set.contains(&oneof.name().to_owned()) {
                    continue;
                }
                oneofs_set.push(oneof.name().to_owned());
            }
            let value = if field.is_list() {
                let count = if small {
                    random.below(3)
                } else {
                    *random.pick(&[0_usize, 1, 2, 3, 40, 600])
                };
                let items: Vec<Value> = (0..count)
                    .filter_map(|_| self.value(random, &field, depth, true))
                    .collect();
                Value::List(items)
            } else {
                match self.value(random, &field, depth, small) {
                    Some(value) => value,
                    None => continue,
                }
            };
            message.set_field(&field, value);
        }
        message
    }
}

/// Sends and receives message bytes as they are: what the fuzz builds,
/// including bytes no encoder would produce.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// The unary methods of every service in the contracts.
fn public_methods(pool: &DescriptorPool) -> Vec<MethodDescriptor> {
    pool.services()
        .filter(|service| service.package_name().starts_with("asurso."))
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .filter(|method| !method.is_client_streaming() && !method.is_server_streaming())
        .collect()
}

/// Spoils well-formed bytes the way a broken client would.
fn spoil(random: &mut Random, mut bytes: Vec<u8>) -> Vec<u8> {
    match random.below(3) {
        0 => bytes.truncate(random.below(bytes.len())),
        1 => bytes.extend_from_slice(&[0x0a, 0x05, 0xff, 0xfe, 0xc3, 0x28, 0x80]),
        _ => {
            bytes = (0..random.below(64))
                .map(|_| u8::try_from(random.next() & 0xff).unwrap_or(0))
                .collect();
        }
    }
    bytes
}

#[tokio::test]
async fn no_request_through_the_gateway_is_answered_as_a_server_fault() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            u64::from_le_bytes(
                uuid::Uuid::new_v4().as_bytes()[..8]
                    .try_into()
                    .unwrap_or_default(),
            )
        });
    eprintln!("fuzz: FUZZ_SEED={seed} FUZZ_SECONDS={seconds}");
    let mut random = Random(seed);

    // The limits are the gateway's to test elsewhere: here every call
    // should reach the service behind it.
    let system = System::start_with(3600, asurso_e2e::unthrottled()).await?;
    let demo = system.demo.clone();
    let pids_before = {
        let mut pids = Vec::new();
        for process in PROCESSES {
            pids.push(system.pid(process).await);
        }
        pids
    };

    // Every role the demo region has, and nobody.
    let school = &demo.schools[0];
    let mut callers: Vec<(String, Option<String>)> = vec![("anonymous".into(), None)];
    let (token, _) = login(&system, REGION_ADMIN.0)
        .await
        .or_else(|_| anyhow::Ok((String::new(), 0)))?;
    if !token.is_empty() {
        callers.push(("region admin".into(), Some(token)));
    }
    for (role, who) in [
        ("director", school.director.clone()),
        ("teacher", school.teachers[0].login.clone()),
        ("student", "student1".to_owned()),
    ] {
        let (token, _) = login(&system, &who).await?;
        callers.push((role.into(), Some(token)));
    }
    let parent = browser_login(&system, "1000000003").await?;
    callers.push(("parent".into(), Some(parent)));

    // Real ids: the region, its schools, classes, people, lessons.
    let mut ids = vec![demo.region_id.clone(), demo.municipality_id.clone()];
    for school in &demo.schools {
        ids.push(school.id.clone());
        ids.extend(school.teachers.iter().map(|t| t.person_id.clone()));
        for class in &school.classes {
            ids.push(class.id.clone());
            ids.extend(class.students.iter().map(|s| s.0.clone()));
        }
    }
    ids.extend(demo.families.iter().map(|f| f.person_id.clone()));
    let (teacher_token, _) = login(&system, &school.teachers[0].login).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = asurso_devstack::seed::journal_weeks(today)?;
    let civil = |date: time::Date| asurso_proto::common::CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    };
    let lessons = gb::timetable_service_client::TimetableServiceClient::new(
        system.as_caller(&teacher_token).await?,
    )
    .get_timetable(gb::GetTimetableRequest {
        of: Some(gb::get_timetable_request::Of::TeacherId(
            school.teachers[0].person_id.clone(),
        )),
        from_date: Some(civil(from)),
        to_date: Some(civil(to)),
    })
    .await?
    .into_inner()
    .lessons;
    for lesson in lessons.iter().take(20) {
        ids.push(lesson.id.clone());
        ids.push(lesson.subject_id.clone());
    }
    let vocabulary = Vocabulary { ids };

    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET)?;
    let methods = public_methods(&pool);
    anyhow::ensure!(methods.len() > 50, "only {} methods found", methods.len());
    let mut grpc = tonic::client::Grpc::new(system.gateway().await?);

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut calls = 0_u64;
    let mut codes = std::collections::BTreeMap::<String, u64>::new();
    let mut failures = Vec::new();
    'rounds: while Instant::now() < deadline {
        for method in &methods {
            if Instant::now() >= deadline {
                break 'rounds;
            }
            let (role, token) = random.pick(&callers).clone();
            let message = vocabulary.message(&mut random, &method.input(), 0, false);
            let mut bytes = message.encode_to_vec();
            let spoiled = random.chance(10);
            if spoiled {
                bytes = spoil(&mut random, bytes);
            }
            let mut request = tonic::Request::new(bytes);
            request.set_timeout(Duration::from_secs(20));
            if let Some(token) = &token {
                request.metadata_mut().insert(
                    "authorization",
                    MetadataValue::try_from(format!("Bearer {token}"))?,
                );
            }
            let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
            grpc.ready().await?;
            let answer = grpc.unary(request, path.parse()?, RawCodec).await;
            calls += 1;
            let code = answer.as_ref().err().map_or(Code::Ok, Status::code);
            *codes.entry(format!("{code:?}")).or_default() += 1;
            if let Err(status) = answer
                && FAILURES.contains(&status.code())
            {
                let shown = format!("{message:?}");
                failures.push(format!(
                    "{path} as {role}{}: {:?} {:?}\n    request: {}",
                    if spoiled { " (spoiled bytes)" } else { "" },
                    status.code(),
                    status.message(),
                    shown.chars().take(600).collect::<String>()
                ));
            }
        }
    }
    eprintln!(
        "fuzz: {calls} calls over {} methods; answers {codes:?}",
        methods.len()
    );

    for (process, before) in PROCESSES.iter().zip(&pids_before) {
        let now = system.pid(process).await;
        assert_eq!(
            now, *before,
            "{process} died during the fuzz run (seed {seed})"
        );
    }
    system.stop().await?;
    assert!(
        failures.is_empty(),
        "{} answers were server faults (FUZZ_SEED={seed}); the first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}
