//! The gradebook in this process, on a database of its own and identity's
//! NATS namespace and keys, with clients that act as one caller: what the
//! gradebook's tests, the gateway's tests and every bench that needs a
//! gradebook share (feature `harness`; never part of the service's build).

use std::time::Duration;

pub use asurso_identity::harness::{Authed, Bearer, World};
use asurso_proto::{
    common::{CivilDate, TimeOfDay},
    gradebook as gb,
};
use asurso_runtime::{convert::civil_date, db, events::EventBus};
use asurso_testkit::{Spawned, TestDatabase, eventually};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

use crate::{Application, CONFIG, MIGRATOR, Settings};

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

impl Gb {
    /// Clients of the gradebook at `address`, carrying `token`.
    pub async fn connect(address: &str, token: &str) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(address.to_owned())?.connect().await?;
        let bearer = Bearer::new(token)?;
        let authed = || InterceptedService::new(channel.clone(), bearer.clone());
        Ok(Self {
            calendar: gb::calendar_service_client::CalendarServiceClient::new(authed()),
            classes: gb::class_service_client::ClassServiceClient::new(authed()),
            curriculum: gb::curriculum_service_client::CurriculumServiceClient::new(authed()),
            timetable: gb::timetable_service_client::TimetableServiceClient::new(authed()),
            journal: gb::journal_service_client::JournalServiceClient::new(authed()),
            diary: gb::diary_service_client::DiaryServiceClient::new(authed()),
            reports: gb::report_service_client::ReportServiceClient::new(authed()),
        })
    }
}

/// A database with the runtime's and the gradebook's tables.
pub async fn gradebook_database() -> anyhow::Result<TestDatabase> {
    TestDatabase::create(&[&db::runtime_migrator(), &MIGRATOR]).await
}

/// The gradebook in this process.
pub struct Gradebook {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub db: TestDatabase,
    serving: Spawned,
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
        Gb::connect(&self.address, token).await
    }

    /// Waits until identity's events about `person` reached the gradebook.
    pub async fn knows(&self, person: Uuid) -> anyhow::Result<()> {
        let pool = self.db.pool.clone();
        eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move { Ok(asurso_directory::storage::knows(&pool, person).await?) }
        })
        .await
    }
}

// A school's set-up, as its admin does it through the gradebook's API:
// what the gradebook's tests and other services' tests build on.

pub fn day(year: i32, month: i32, day: i32) -> Option<CivilDate> {
    Some(CivilDate { year, month, day })
}

pub fn at(hours: i32, minutes: i32) -> Option<TimeOfDay> {
    Some(TimeOfDay { hours, minutes })
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

/// A school year of two halves from four months before `today` to four
/// months after (the first closed twenty days ago), six school days a week, 45-minute lessons.
pub async fn year_around(
    admin: &mut Gb,
    school: Uuid,
    today: time::Date,
) -> anyhow::Result<gb::SchoolYear> {
    let start = today - time::Duration::days(120);
    let end = today + time::Duration::days(120);
    let year = admin
        .calendar
        .create_school_year(gb::CreateSchoolYearRequest {
            school_id: school.to_string(),
            name: format!("{}/{}", start.year(), end.year()),
            start_date: Some(civil_date(start)),
            end_date: Some(civil_date(end)),
            term_kind: gb::TermKind::Halves.into(),
            days_per_week: 6,
            terms: vec![
                gb::TermInput {
                    name: String::new(),
                    start_date: Some(civil_date(start)),
                    end_date: Some(civil_date(today - time::Duration::days(20))),
                },
                gb::TermInput {
                    name: String::new(),
                    start_date: Some(civil_date(today - time::Duration::days(19))),
                    end_date: Some(civil_date(end)),
                },
            ],
            holidays: Vec::new(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .school_year
        .ok_or_else(|| anyhow::anyhow!("no year"))?;
    six_periods(admin, &year).await?;
    Ok(year)
}

/// Six 45-minute periods a day from 8:30, an hour apart.
pub async fn six_periods(admin: &mut Gb, year: &gb::SchoolYear) -> anyhow::Result<()> {
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
    Ok(())
}
