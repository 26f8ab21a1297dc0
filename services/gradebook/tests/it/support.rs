//! Identity and the gradebook in this process, on databases of their own and
//! one NATS namespace, and a school to test in: its admin, teachers,
//! students and parents, each with a token, as the gradebook knows them.

pub use asurso_gradebook::harness::{
    Gb, Gradebook, at, class, day, enrol, gradebook_database, load, six_periods, subject,
};
pub use asurso_identity::harness::{World, identity_login};
use asurso_proto::{gradebook as gb, identity as pb};
use asurso_runtime::events::{EventBus, streams};
pub use asurso_testkit::eventually;
use async_nats::jetstream::consumer::pull;
use uuid::Uuid;

/// A person with a token, as the gradebook sees them.
pub struct Person {
    pub id: Uuid,
    pub token: String,
    pub gb: Gb,
}

/// A region with two schools (identity's test world) and the gradebook.
pub struct Stack {
    pub world: World,
    pub gradebook: Gradebook,
    next_seed: u32,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Self> {
        let world = World::new().await?;
        let gradebook = Gradebook::start(&world, gradebook_database().await?).await?;
        Ok(Self {
            world,
            gradebook,
            next_seed: 100,
        })
    }

    /// Registers someone at `school` with `role` (by the region admin), logs
    /// them in and waits until the gradebook knows them.
    pub async fn person(
        &mut self,
        school: Uuid,
        role: pb::Role,
        login: &str,
    ) -> anyhow::Result<Person> {
        self.next_seed += 1;
        let (token, id) = identity_login(
            &self.world.identity,
            &mut self.world.admin,
            school,
            role,
            login,
            self.next_seed,
        )
        .await?;
        self.gradebook.knows(id).await?;
        let gb = self.gradebook.clients(&token).await?;
        Ok(Person { id, token, gb })
    }

    /// Links a parent to a child in identity (by school A's admin).
    pub async fn link(&mut self, parent: Uuid, child: Uuid) -> anyhow::Result<()> {
        self.world
            .admin_a
            .people
            .link_guardian(pb::LinkGuardianRequest {
                parent_id: parent.to_string(),
                student_id: child.to_string(),
            })
            .await?;
        Ok(())
    }
}

pub use asurso_testkit::wire::violated_fields;

/// The 2026/2027 year in quarters, five days a week, with the autumn
/// holidays and 4 November off, and six periods a day.
pub async fn school_year(admin: &mut Gb, school: Uuid) -> anyhow::Result<gb::SchoolYear> {
    let term = |start: (i32, i32, i32), end: (i32, i32, i32)| gb::TermInput {
        name: String::new(),
        start_date: day(start.0, start.1, start.2),
        end_date: day(end.0, end.1, end.2),
    };
    let year = admin
        .calendar
        .create_school_year(gb::CreateSchoolYearRequest {
            school_id: school.to_string(),
            name: "2026/2027".into(),
            start_date: day(2026, 9, 1),
            end_date: day(2027, 5, 31),
            term_kind: gb::TermKind::Quarters.into(),
            days_per_week: 5,
            terms: vec![
                term((2026, 9, 1), (2026, 10, 23)),
                term((2026, 11, 2), (2026, 12, 29)),
                term((2027, 1, 11), (2027, 3, 19)),
                term((2027, 3, 29), (2027, 5, 31)),
            ],
            holidays: vec![gb::HolidayInput {
                name: "День народного единства".into(),
                start_date: day(2026, 11, 4),
                end_date: None,
            }],
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .school_year
        .ok_or_else(|| anyhow::anyhow!("no year"))?;
    six_periods(admin, &year).await?;
    Ok(year)
}

pub fn slot(weekday: i32, period: i32, subject: &gb::Subject) -> gb::Slot {
    gb::Slot {
        weekday,
        period,
        subject_id: subject.id.clone(),
        subgroup_id: String::new(),
        teacher_id: String::new(),
        room: String::new(),
    }
}

pub async fn timetable_of(
    reader: &mut Gb,
    of: gb::get_timetable_request::Of,
    from: (i32, i32, i32),
    to: (i32, i32, i32),
) -> Result<Vec<gb::Lesson>, tonic::Status> {
    Ok(reader
        .timetable
        .get_timetable(gb::GetTimetableRequest {
            of: Some(of),
            from_date: day(from.0, from.1, from.2),
            to_date: day(to.0, to.1, to.2),
        })
        .await?
        .into_inner()
        .lessons)
}

/// How many events of `event` ("lesson.changed") the school's gradebook
/// published to JetStream so far.
pub async fn published(stack: &Stack, event: &str, school: uuid::Uuid) -> anyhow::Result<u64> {
    let bus = EventBus::connect(&stack.world.identity.nats, "probe").await?;
    let stream = bus
        .jetstream()
        .get_stream(bus.stream_name(streams::GRADEBOOK))
        .await?;
    let mut consumer = stream
        .create_consumer(pull::Config {
            filter_subject: bus.subject(&format!("gradebook.{event}.{school}")),
            ..Default::default()
        })
        .await?;
    Ok(consumer.info().await?.num_pending)
}
