//! Identity and the gradebook in this process, on databases of their own and
//! one NATS namespace, and a school to test in: its admin, teachers,
//! students and parents, each with a token, as the gradebook knows them.

use std::time::Duration;

use asurso_gradebook::{Application, CONFIG, MIGRATOR, Settings};
pub use asurso_identity::harness::{Bearer, World, identity_login};
use asurso_proto::{common::CivilDate, gradebook as gb, identity as pb};
use asurso_runtime::{
    db,
    events::{EventBus, streams},
};
pub use asurso_testkit::{TestDatabase, eventually};
use async_nats::jetstream::consumer::pull;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

pub type Authed = InterceptedService<Channel, Bearer>;

/// The gradebook's clients, acting as one caller.
#[derive(Clone)]
pub struct Gb {
    pub calendar: gb::calendar_service_client::CalendarServiceClient<Authed>,
    pub classes: gb::class_service_client::ClassServiceClient<Authed>,
    pub curriculum: gb::curriculum_service_client::CurriculumServiceClient<Authed>,
    pub timetable: gb::timetable_service_client::TimetableServiceClient<Authed>,
    pub journal: gb::journal_service_client::JournalServiceClient<Authed>,
    pub diary: gb::diary_service_client::DiaryServiceClient<Authed>,
    pub reports: gb::report_service_client::ReportServiceClient<Authed>,
}

/// The gradebook in this process.
pub struct Gradebook {
    pub address: String,
    pub db: TestDatabase,
    serving: asurso_testkit::Spawned,
}

impl Gradebook {
    /// Starts on `db` (kept across restarts), joined to identity's NATS
    /// namespace and keys.
    pub async fn start(world: &World, db: TestDatabase) -> anyhow::Result<Self> {
        let identity = &world.identity;
        let mut settings: Settings = CONFIG.load()?;
        settings.database.url = db.url.clone().into();
        settings.nats = identity.nats.clone();
        settings.grpc.port = 0;
        settings.outbox.poll_interval = Duration::from_millis(20);
        settings.identity.address = identity.address.clone();
        let bus = EventBus::connect(&settings.nats, "gradebook-tests").await?;
        let app = Application::build_with(settings, db.pool.clone(), bus).await?;
        let address = format!("http://{}", app.local_addr());
        let serving =
            asurso_testkit::spawn("gradebook", |shutdown| app.run_until_stopped(shutdown));
        Ok(Self {
            address,
            db,
            serving,
        })
    }

    /// Stops serving and consuming; returns the database to start again on.
    pub async fn stop(self) -> anyhow::Result<TestDatabase> {
        self.serving.stop().await?;
        Ok(self.db)
    }

    pub async fn clients(&self, token: &str) -> anyhow::Result<Gb> {
        let channel = Channel::from_shared(self.address.clone())?
            .connect()
            .await?;
        let bearer = Bearer::new(token)?;
        Ok(Gb {
            calendar: gb::calendar_service_client::CalendarServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            classes: gb::class_service_client::ClassServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            curriculum: gb::curriculum_service_client::CurriculumServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            timetable: gb::timetable_service_client::TimetableServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            journal: gb::journal_service_client::JournalServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            diary: gb::diary_service_client::DiaryServiceClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            ),
            reports: gb::report_service_client::ReportServiceClient::with_interceptor(
                channel, bearer,
            ),
        })
    }

    /// Waits until identity's events about `person` reached the gradebook.
    pub async fn knows(&self, person: Uuid) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move {
                let known: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM known_grants WHERE person_id = $1) \
                     AND EXISTS (SELECT 1 FROM known_people WHERE id = $1)",
                )
                .bind(person)
                .fetch_one(&pool)
                .await?;
                Ok(known)
            }
        })
        .await
    }
}

pub async fn gradebook_database() -> anyhow::Result<TestDatabase> {
    TestDatabase::create(&[&db::runtime_migrator(), &MIGRATOR]).await
}

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

pub fn day(year: i32, month: i32, day: i32) -> Option<CivilDate> {
    Some(CivilDate { year, month, day })
}

pub fn at(hours: i32, minutes: i32) -> Option<asurso_proto::common::TimeOfDay> {
    Some(asurso_proto::common::TimeOfDay { hours, minutes })
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
    let periods = (0..6)
        .map(|n| gb::Period {
            number: n + 1,
            start_time: at(8 + n, 30),
            end_time: at(9 + n, 15),
        })
        .collect();
    admin
        .timetable
        .set_bell_schedule(gb::SetBellScheduleRequest {
            school_year_id: year.id.clone(),
            periods,
        })
        .await?;
    Ok(year)
}

pub async fn class(
    admin: &mut Gb,
    year: &gb::SchoolYear,
    name: &str,
    grade: i32,
) -> anyhow::Result<gb::Class> {
    admin
        .classes
        .create_class(gb::CreateClassRequest {
            school_year_id: year.id.clone(),
            name: name.into(),
            grade,
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .class
        .ok_or_else(|| anyhow::anyhow!("no class"))
}

pub async fn subject(admin: &mut Gb, school: Uuid, name: &str) -> anyhow::Result<gb::Subject> {
    admin
        .curriculum
        .create_subject(gb::CreateSubjectRequest {
            school_id: school.to_string(),
            name: name.into(),
            short_name: String::new(),
        })
        .await?
        .into_inner()
        .subject
        .ok_or_else(|| anyhow::anyhow!("no subject"))
}

pub async fn load(
    admin: &mut Gb,
    class: &gb::Class,
    subject: &gb::Subject,
    teacher: Uuid,
) -> anyhow::Result<()> {
    admin
        .curriculum
        .assign_load(gb::AssignLoadRequest {
            class_id: class.id.clone(),
            subgroup_id: String::new(),
            subject_id: subject.id.clone(),
            teacher_id: teacher.to_string(),
            hours_per_week: 2,
        })
        .await?;
    Ok(())
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

pub async fn enrol(admin: &mut Gb, class: &gb::Class, student: Uuid) -> anyhow::Result<()> {
    admin
        .classes
        .enrol_student(gb::EnrolStudentRequest {
            class_id: class.id.clone(),
            student_id: student.to_string(),
            start_date: None,
            idempotency_key: String::new(),
        })
        .await?;
    Ok(())
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
