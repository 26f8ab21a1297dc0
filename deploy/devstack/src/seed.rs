//! The demo region `make run` starts with: one municipality, two schools,
//! their directors and teachers, two classes each with students, parents
//! who log in through the development ESIA (one child; two children in two
//! schools; a teacher who is also a parent; an unconfirmed account), a
//! school year with its timetable, and three weeks of homework and marks
//! around today.
//!
//! Everything goes through the services' APIs, as the region's operators
//! would (the seed is an operator's tool inside the cluster, so it talks to
//! the services, not through the public gateway). Seeding again changes
//! nothing: creations carry idempotency keys, settings are set to the same
//! values, and what has no key is looked up first.

use std::{future::Future, time::Duration};

use anyhow::{Context, anyhow};
use asurso_esia_dev::DEMO_PEOPLE;
use asurso_proto::{
    common::{CivilDate, TimeOfDay},
    gradebook as gb, identity as pb,
};
use asurso_testkit::snils;
use time::{Date, Month, OffsetDateTime, Weekday};
use tonic::{
    Code, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

use crate::Layout;

/// The password of every seeded local login.
pub const DEMO_PASSWORD: &str = "demo-password-1";
/// The region admin identity creates at its first start (local settings).
pub const REGION_ADMIN: (&str, &str) = ("region.admin", "region-admin-password");

/// Three subjects, each taught by one teacher of each school.
const SUBJECTS: [&str; 3] = ["Математика", "Русский язык", "Английский язык"];
const CLASSES: [(&str, i32); 2] = [("5А", 5), ("7Б", 7)];
const STUDENTS: [(&str, &str); 16] = [
    ("Иванов", "Артём"),
    ("Петрова", "Софья"),
    ("Соколов", "Максим"),
    ("Морозова", "Анна"),
    ("Кузнецов", "Иван"),
    ("Волкова", "Мария"),
    ("Лебедев", "Дмитрий"),
    ("Козлова", "Алиса"),
    ("Новиков", "Михаил"),
    ("Кузнецова", "Полина"),
    ("Смирнова", "Ева"),
    ("Попов", "Лев"),
    ("Васильева", "Виктория"),
    ("Фёдоров", "Марк"),
    ("Сидорова", "Дарья"),
    ("Михайлов", "Егор"),
];

/// What was seeded: for the printout and for the end-to-end tests.
#[derive(Debug, Clone)]
pub struct Demo {
    pub region_id: String,
    pub municipality_id: String,
    pub schools: Vec<School>,
    pub families: Vec<Family>,
    /// What the seed found changed by people since an earlier seeding and
    /// left as it was (a lesson someone gave to a subgroup, say).
    pub conflicts: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct School {
    pub id: String,
    pub name: String,
    pub director: String,
    pub teachers: Vec<Teacher>,
    pub classes: Vec<Class>,
}

#[derive(Debug, Clone)]
pub struct Teacher {
    pub login: String,
    pub person_id: String,
    pub subject: &'static str,
}

#[derive(Debug, Clone)]
pub struct Class {
    pub id: String,
    pub name: &'static str,
    /// (person id, "Фамилия Имя")
    pub students: Vec<(String, String)>,
}

/// A demo person of the development ESIA and the children a school linked.
#[derive(Debug, Clone)]
pub struct Family {
    pub oid: &'static str,
    pub name: String,
    pub person_id: String,
    pub children: Vec<String>,
    pub note: &'static str,
}

impl Demo {
    /// The logins, for people.
    pub fn describe(&self, layout: &Layout) -> String {
        let mut text = String::from("Demo region (seeded; seeding again changes nothing):\n");
        text.push_str(&format!(
            "  region admin    {} / {}\n",
            REGION_ADMIN.0, REGION_ADMIN.1
        ));
        for school in &self.schools {
            let teachers: Vec<String> = school
                .teachers
                .iter()
                .map(|t| format!("{} ({})", t.login, t.subject))
                .collect();
            text.push_str(&format!(
                "  {:<16}director {}, teachers {}; classes {}\n",
                school.name,
                school.director,
                teachers.join(", "),
                school
                    .classes
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        text.push_str(&format!(
            "  every local login above has the password {DEMO_PASSWORD}; so has student1 (a student of 5А, Школа № 1)\n"
        ));
        text.push_str(&format!(
            "  parents log in through ESIA: open {}/ , \"Войти через Госуслуги\", pick a person:\n",
            layout.gateway_url()
        ));
        for family in &self.families {
            text.push_str(&format!(
                "    {} {:<22} {} ({} in the region)\n",
                family.oid,
                family.name,
                family.note,
                match family.children.len() {
                    1 => "one child".to_owned(),
                    n => format!("{n} children"),
                }
            ));
        }
        if !self.conflicts.is_empty() {
            text.push_str(&format!(
                "  left as people changed it since the last seeding ({}):\n",
                self.conflicts.len()
            ));
            for conflict in self.conflicts.iter().take(10) {
                text.push_str(&format!("    {conflict}\n"));
            }
            if self.conflicts.len() > 10 {
                text.push_str(&format!("    … and {} more\n", self.conflicts.len() - 10));
            }
        }
        text
    }
}

/// Adds `authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    pub fn new(token: &str) -> anyhow::Result<Self> {
        Ok(Self(format!("Bearer {token}").parse()?))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

/// One person's clients of both services.
#[derive(Clone)]
struct Actor {
    org: pb::org_service_client::OrgServiceClient<Authed>,
    people: pb::people_service_client::PeopleServiceClient<Authed>,
    access: pb::access_service_client::AccessServiceClient<Authed>,
    auth: pb::auth_service_client::AuthServiceClient<Authed>,
    calendar: gb::calendar_service_client::CalendarServiceClient<Authed>,
    classes: gb::class_service_client::ClassServiceClient<Authed>,
    curriculum: gb::curriculum_service_client::CurriculumServiceClient<Authed>,
    timetable: gb::timetable_service_client::TimetableServiceClient<Authed>,
    journal: gb::journal_service_client::JournalServiceClient<Authed>,
}

struct Channels {
    identity: Channel,
    gradebook: Channel,
}

impl Channels {
    fn actor(&self, token: &str) -> anyhow::Result<Actor> {
        let bearer = Bearer::new(token)?;
        let id = |channel: &Channel| InterceptedService::new(channel.clone(), bearer.clone());
        Ok(Actor {
            org: pb::org_service_client::OrgServiceClient::new(id(&self.identity)),
            people: pb::people_service_client::PeopleServiceClient::new(id(&self.identity)),
            access: pb::access_service_client::AccessServiceClient::new(id(&self.identity)),
            auth: pb::auth_service_client::AuthServiceClient::new(id(&self.identity)),
            calendar: gb::calendar_service_client::CalendarServiceClient::new(id(&self.gradebook)),
            classes: gb::class_service_client::ClassServiceClient::new(id(&self.gradebook)),
            curriculum: gb::curriculum_service_client::CurriculumServiceClient::new(id(
                &self.gradebook
            )),
            timetable: gb::timetable_service_client::TimetableServiceClient::new(id(
                &self.gradebook
            )),
            journal: gb::journal_service_client::JournalServiceClient::new(id(&self.gradebook)),
        })
    }

    /// Logs in with a password; the access token.
    async fn login(&self, login: &str, password: &str) -> Result<String, Status> {
        let answer = pb::auth_service_client::AuthServiceClient::new(self.identity.clone())
            .login(pb::LoginRequest {
                login: login.to_owned(),
                password: password.to_owned(),
                grant_id: String::new(),
            })
            .await?
            .into_inner();
        answer
            .tokens
            .map(|tokens| tokens.access_token)
            .ok_or_else(|| Status::internal("no tokens"))
    }

    /// The person's local login with the demo password, made (or its
    /// password reset) by `admin` when it does not work yet; logged in.
    async fn ensure_login(
        &self,
        admin: &mut Actor,
        person_id: &str,
        login: &str,
    ) -> anyhow::Result<Actor> {
        if let Ok(token) = self.login(login, DEMO_PASSWORD).await {
            return self.actor(&token);
        }
        let temporary = admin
            .auth
            .create_local_account(pb::CreateLocalAccountRequest {
                person_id: person_id.to_owned(),
                login: login.to_owned(),
            })
            .await
            .with_context(|| format!("a login for {login}"))?
            .into_inner()
            .temporary_password;
        pb::auth_service_client::AuthServiceClient::new(self.identity.clone())
            .change_password(pb::ChangePasswordRequest {
                current_password: temporary,
                new_password: DEMO_PASSWORD.to_owned(),
                login: login.to_owned(),
            })
            .await
            .with_context(|| format!("the password of {login}"))?;
        let token = self.login(login, DEMO_PASSWORD).await?;
        self.actor(&token)
    }
}

/// Calls until the gradebook has caught up with identity's events (a new
/// school, person or grant reaches it a moment after identity answered).
/// `also` names more codes that mean "not known yet" for this call.
async fn patiently<T, F, Fut>(what: &str, also: &[Code], mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match call().await {
            Ok(answer) => return Ok(answer),
            Err(status)
                if (matches!(
                    status.code(),
                    Code::FailedPrecondition
                        | Code::NotFound
                        | Code::PermissionDenied
                        | Code::Unavailable
                ) || also.contains(&status.code()))
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => return Err(anyhow!("{what}: {status}")),
        }
    }
}

/// Why a seeding write did not happen.
enum Conflict {
    /// The service refused it for what the data now is: people changed it
    /// since the last seeding, and it stays as they left it.
    Refused(Status),
    /// Anything else (the service down, a bug): seeding stops.
    Failed(Status),
}

fn refusal_is_conflict<T>(outcome: Result<T, Status>) -> Result<T, Conflict> {
    outcome.map_err(|status| match status.code() {
        // Not PERMISSION_DENIED: the demo's teachers may always write in
        // their lessons, and a refusal there is a defect to see.
        Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists | Code::NotFound => {
            Conflict::Refused(status)
        }
        _ => Conflict::Failed(status),
    })
}

/// Accepts "already there" as done.
fn exists_is_fine<T>(outcome: Result<T, Status>) -> Result<(), Status> {
    match outcome {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::AlreadyExists => Ok(()),
        Err(status) => Err(status),
    }
}

fn civil(date: Date) -> Option<CivilDate> {
    Some(CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    })
}

fn date(year: i32, month: u8, day: u8) -> anyhow::Result<Date> {
    Ok(Date::from_calendar_date(
        year,
        Month::try_from(month)?,
        day,
    )?)
}

fn birth(ddmmyyyy: &str) -> Option<CivilDate> {
    let mut parts = ddmmyyyy.split('.').map(|part| part.parse::<i32>().ok());
    let (day, month, year) = (parts.next()??, parts.next()??, parts.next()??);
    Some(CivilDate { year, month, day })
}

fn person_data(
    last: &str,
    first: &str,
    middle: &str,
    snils: &str,
    birth_date: Option<CivilDate>,
) -> pb::PersonData {
    pb::PersonData {
        last_name: last.to_owned(),
        first_name: first.to_owned(),
        middle_name: middle.to_owned(),
        birth_date,
        snils: snils.to_owned(),
        contacts: None,
    }
}

async fn register(
    registrar: &mut Actor,
    unit: &str,
    role: pb::Role,
    person: pb::PersonData,
    key: &str,
) -> anyhow::Result<String> {
    let answer = registrar
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: unit.to_owned(),
            person: Some(person),
            role: role.into(),
            idempotency_key: key.to_owned(),
        })
        .await
        .with_context(|| format!("registering {key}"))?
        .into_inner();
    answer
        .person
        .map(|person| person.id)
        .ok_or_else(|| anyhow!("{key}: no person in the answer"))
}

/// Seeds the demo region through the services of `layout`.
pub async fn seed(layout: &Layout) -> anyhow::Result<Demo> {
    let channels = Channels {
        identity: Channel::from_shared(layout.identity_url())?
            .connect()
            .await?,
        gradebook: Channel::from_shared(layout.gradebook_url())?
            .connect()
            .await?,
    };
    let admin_token = channels
        .login(REGION_ADMIN.0, REGION_ADMIN.1)
        .await
        .context("the region admin's login")?;
    let mut region_admin = channels.actor(&admin_token)?;
    let region_id = region_admin
        .access
        .list_grants(pb::ListGrantsRequest::default())
        .await?
        .into_inner()
        .grants
        .into_iter()
        .find(|grant| grant.role() == pb::Role::RegionAdmin)
        .map(|grant| grant.org_unit_id)
        .ok_or_else(|| anyhow!("the region admin has no region"))?;
    let municipality_id = region_admin
        .org
        .create_municipality(pb::CreateMunicipalityRequest {
            region_id: region_id.clone(),
            name: "г. о. Самара".to_owned(),
            idempotency_key: "demo-municipality".to_owned(),
        })
        .await?
        .into_inner()
        .municipality
        .map(|unit| unit.id)
        .ok_or_else(|| anyhow!("no municipality in the answer"))?;

    let today = OffsetDateTime::now_utc().date();
    let first_year = school_year_of(today);
    let mut schools = Vec::new();
    let mut people_seed = 0_u32;
    for (number, name) in [(1_u32, "Школа № 1"), (2, "Лицей № 2")] {
        let school = seed_school(
            &channels,
            &mut region_admin,
            &municipality_id,
            number,
            name,
            first_year,
            &mut people_seed,
        )
        .await
        .with_context(|| format!("seeding {name}"))?;
        schools.push(school);
    }
    let families = seed_families(&channels, &schools).await?;
    let mut conflicts = Vec::new();
    for school in &schools {
        seed_journal(&channels, school, first_year, today, &mut conflicts)
            .await
            .with_context(|| format!("homework and marks of {}", school.name))?;
    }
    Ok(Demo {
        region_id,
        municipality_id,
        schools,
        families,
        conflicts,
    })
}

#[allow(clippy::too_many_arguments)]
async fn seed_school(
    channels: &Channels,
    region_admin: &mut Actor,
    municipality_id: &str,
    number: u32,
    name: &str,
    first_year: i32,
    people_seed: &mut u32,
) -> anyhow::Result<School> {
    let school_id = region_admin
        .org
        .create_school(pb::CreateSchoolRequest {
            municipality_id: municipality_id.to_owned(),
            name: name.to_owned(),
            time_zone: "Europe/Samara".to_owned(),
            idempotency_key: format!("demo-school-{number}"),
        })
        .await?
        .into_inner()
        .school
        .map(|unit| unit.id)
        .ok_or_else(|| anyhow!("no school in the answer"))?;
    let mut next_snils = || {
        *people_seed += 1;
        snils(700_000 + number * 1000 + *people_seed)
    };
    let director_login = format!("director{number}");
    let director_id = register(
        region_admin,
        &school_id,
        pb::Role::SchoolAdmin,
        person_data(
            "Директорова",
            "Ольга",
            "Ивановна",
            &next_snils(),
            birth("12.02.1975"),
        ),
        &format!("demo-{director_login}"),
    )
    .await?;
    let mut director = channels
        .ensure_login(region_admin, &director_id, &director_login)
        .await?;

    let mut teachers = Vec::new();
    for (index, subject) in SUBJECTS.iter().enumerate() {
        // School 2's English teacher is the development ESIA's teacher who
        // is also a parent (he logs in through ESIA too).
        let smirnov = DEMO_PEOPLE.iter().find(|p| p.oid == "1000000004");
        let (data, login) = match smirnov {
            Some(p) if number == 2 && index == 2 => (
                person_data(
                    p.last_name,
                    p.first_name,
                    p.middle_name,
                    p.snils,
                    birth(p.birth_date),
                ),
                "smirnov".to_owned(),
            ),
            _ => (
                person_data(
                    ["Учителева", "Преподавателев", "Наставникова"][index],
                    ["Мария", "Сергей", "Елена"][index],
                    "",
                    &next_snils(),
                    birth("01.09.1982"),
                ),
                format!("teacher{number}{}", index + 1),
            ),
        };
        let person_id = register(
            &mut director,
            &school_id,
            pb::Role::Teacher,
            data,
            &format!("demo-{login}"),
        )
        .await?;
        channels
            .ensure_login(&mut director, &person_id, &login)
            .await?;
        teachers.push(Teacher {
            login,
            person_id,
            subject,
        });
    }

    // The gradebook learns of the school and its people from identity's
    // events: the first call waits for them.
    let start = date(first_year, 9, 1)?;
    let term = |from: (i32, u8, u8), to: (i32, u8, u8)| -> anyhow::Result<gb::TermInput> {
        Ok(gb::TermInput {
            name: String::new(),
            start_date: civil(date(from.0, from.1, from.2)?),
            end_date: civil(date(to.0, to.1, to.2)?),
        })
    };
    let (y, z) = (first_year, first_year + 1);
    let year_request = gb::CreateSchoolYearRequest {
        school_id: school_id.clone(),
        name: format!("{y}/{z}"),
        start_date: civil(start),
        end_date: civil(date(z, 5, 31)?),
        term_kind: gb::TermKind::Quarters.into(),
        days_per_week: 5,
        terms: vec![
            term((y, 9, 1), (y, 10, 24))?,
            term((y, 11, 3), (y, 12, 28))?,
            term((z, 1, 12), (z, 3, 20))?,
            term((z, 3, 30), (z, 5, 29))?,
        ],
        holidays: Vec::new(),
        idempotency_key: "demo-year".to_owned(),
    };
    let year = patiently("the school year", &[], || {
        let mut director = director.clone();
        let request = year_request.clone();
        async move { director.calendar.create_school_year(request).await }
    })
    .await?
    .into_inner()
    .school_year
    .ok_or_else(|| anyhow!("no school year in the answer"))?;
    director
        .timetable
        .set_bell_schedule(gb::SetBellScheduleRequest {
            school_year_id: year.id.clone(),
            periods: (0..6)
                .map(|n| gb::Period {
                    number: n + 1,
                    start_time: Some(TimeOfDay {
                        hours: 8 + n,
                        minutes: 30,
                    }),
                    end_time: Some(TimeOfDay {
                        hours: 9 + n,
                        minutes: 15,
                    }),
                })
                .collect(),
        })
        .await?;
    let known: Vec<gb::Subject> = director
        .curriculum
        .list_subjects(gb::ListSubjectsRequest {
            school_id: school_id.clone(),
        })
        .await?
        .into_inner()
        .subjects;
    let mut subjects = Vec::new();
    for name in SUBJECTS {
        let subject = match known.iter().find(|s| s.name == name) {
            Some(subject) => subject.clone(),
            None => director
                .curriculum
                .create_subject(gb::CreateSubjectRequest {
                    school_id: school_id.clone(),
                    name: name.to_owned(),
                    short_name: String::new(),
                })
                .await?
                .into_inner()
                .subject
                .ok_or_else(|| anyhow!("no subject in the answer"))?,
        };
        subjects.push(subject);
    }

    let mut classes = Vec::new();
    for (class_index, (class_name, grade)) in CLASSES.iter().enumerate() {
        let class = director
            .classes
            .create_class(gb::CreateClassRequest {
                school_year_id: year.id.clone(),
                name: (*class_name).to_owned(),
                grade: *grade,
                idempotency_key: format!("demo-class-{class_name}"),
            })
            .await?
            .into_inner()
            .class
            .ok_or_else(|| anyhow!("no class in the answer"))?;
        let load = director
            .curriculum
            .list_load(gb::ListLoadRequest {
                of: Some(gb::list_load_request::Of::ClassId(class.id.clone())),
                school_year_id: String::new(),
            })
            .await?
            .into_inner()
            .load;
        for (subject, teacher) in subjects.iter().zip(&teachers) {
            if load.iter().any(|l| l.subject_id == subject.id) {
                continue;
            }
            let request = gb::AssignLoadRequest {
                class_id: class.id.clone(),
                subgroup_id: String::new(),
                subject_id: subject.id.clone(),
                teacher_id: teacher.person_id.clone(),
                hours_per_week: 6,
            };
            patiently("the teaching load", &[Code::InvalidArgument], || {
                let mut director = director.clone();
                let request = request.clone();
                async move { director.curriculum.assign_load(request).await }
            })
            .await?;
        }
        let class_teacher = &teachers[class_index % teachers.len()];
        director
            .classes
            .set_class_teacher(gb::SetClassTeacherRequest {
                class_id: class.id.clone(),
                teacher_id: class_teacher.person_id.clone(),
            })
            .await?;

        let mut students = Vec::new();
        for seat in 0..4 {
            let (last, first) = STUDENTS[(number as usize - 1) * 8 + class_index * 4 + seat];
            let key = format!("demo-student-{class_name}-{seat}");
            let student_id = register(
                &mut director,
                &school_id,
                pb::Role::Student,
                person_data(last, first, "", &next_snils(), birth("01.09.2014")),
                &key,
            )
            .await?;
            let enrol = gb::EnrolStudentRequest {
                class_id: class.id.clone(),
                student_id: student_id.clone(),
                start_date: None,
                idempotency_key: key.clone(),
            };
            // A student the gradebook has not heard of yet is "not a student of
            // the school" for a moment.
            patiently("an enrolment", &[Code::InvalidArgument], || {
                let mut director = director.clone();
                let request = enrol.clone();
                async move { director.classes.enrol_student(request).await }
            })
            .await?;
            if number == 1 && class_index == 0 && seat == 0 {
                channels
                    .ensure_login(&mut director, &student_id, "student1")
                    .await?;
            }
            students.push((student_id, format!("{last} {first}")));
        }

        let timetable = director
            .timetable
            .get_class_timetable(gb::GetClassTimetableRequest {
                class_id: class.id.clone(),
            })
            .await?
            .into_inner()
            .slots;
        if timetable.is_empty() {
            // Four lessons a day, the subjects in turn; class 2 starts the
            // day with another subject so teachers are in one place at a time.
            let slots = (1..=5)
                .flat_map(|weekday| (1..=4).map(move |period| (weekday, period)))
                .map(|(weekday, period)| {
                    let subject = &subjects[(weekday + period + class_index as i32) as usize % 3];
                    gb::Slot {
                        weekday,
                        period,
                        subject_id: subject.id.clone(),
                        subgroup_id: String::new(),
                        teacher_id: String::new(),
                        // Each class in its own room.
                        room: format!("{}", 21 + class_index),
                    }
                })
                .collect();
            director
                .timetable
                .set_class_timetable(gb::SetClassTimetableRequest {
                    class_id: class.id.clone(),
                    slots,
                    apply_from: None,
                })
                .await
                .with_context(|| format!("the timetable of {class_name}"))?;
        }
        classes.push(Class {
            id: class.id,
            name: class_name,
            students,
        });
    }
    Ok(School {
        id: school_id,
        name: name.to_owned(),
        director: director_login,
        teachers,
        classes,
    })
}

/// The development ESIA's demo people as parents.
async fn seed_families(channels: &Channels, schools: &[School]) -> anyhow::Result<Vec<Family>> {
    let child = |school: usize, class: usize, seat: usize| -> anyhow::Result<(usize, String)> {
        let id = schools
            .get(school)
            .and_then(|s| s.classes.get(class))
            .and_then(|c| c.students.get(seat))
            .map(|(id, _)| id.clone())
            .ok_or_else(|| anyhow!("no demo student {school}/{class}/{seat}"))?;
        Ok((school, id))
    };
    // (oid, the school that registers them, their children)
    let plan = [
        ("1000000001", 0, vec![child(0, 0, 0)?]),
        ("1000000002", 1, vec![child(1, 0, 1)?]),
        ("1000000003", 0, vec![child(0, 1, 0)?, child(1, 0, 0)?]),
        ("1000000004", 1, vec![child(1, 1, 2)?]),
    ];
    let mut directors = Vec::new();
    for school in schools {
        let token = channels.login(&school.director, DEMO_PASSWORD).await?;
        directors.push(channels.actor(&token)?);
    }
    let mut families = Vec::new();
    for (oid, home, children) in plan {
        let person = DEMO_PEOPLE
            .iter()
            .find(|p| p.oid == oid)
            .ok_or_else(|| anyhow!("esia-dev has no demo person {oid}"))?;
        let director = directors
            .get_mut(home)
            .ok_or_else(|| anyhow!("no director {home}"))?;
        let school_id = &schools[home].id;
        let person_id = if oid == "1000000004" {
            // Registered as a teacher already: the parent role is added.
            let teacher = schools[home]
                .teachers
                .iter()
                .find(|t| t.login == "smirnov")
                .ok_or_else(|| anyhow!("the teacher who is a parent was not seeded"))?;
            exists_is_fine(
                director
                    .access
                    .grant_role(pb::GrantRoleRequest {
                        person_id: teacher.person_id.clone(),
                        role: pb::Role::Parent.into(),
                        org_unit_id: school_id.clone(),
                    })
                    .await,
            )?;
            teacher.person_id.clone()
        } else {
            register(
                director,
                school_id,
                pb::Role::Parent,
                person_data(
                    person.last_name,
                    person.first_name,
                    person.middle_name,
                    person.snils,
                    birth(person.birth_date),
                ),
                &format!("demo-parent-{oid}"),
            )
            .await?
        };
        for (school, student_id) in &children {
            // The child's school links its student to the parent.
            let director = directors
                .get_mut(*school)
                .ok_or_else(|| anyhow!("no director {school}"))?;
            director
                .people
                .link_guardian(pb::LinkGuardianRequest {
                    parent_id: person_id.clone(),
                    student_id: student_id.clone(),
                })
                .await
                .with_context(|| format!("linking {oid}'s child"))?;
        }
        families.push(Family {
            oid,
            name: format!("{} {}", person.last_name, person.first_name),
            person_id,
            children: children.into_iter().map(|(_, id)| id).collect(),
            note: person.note,
        });
    }
    Ok(families)
}

/// Homework on every lesson of the three weeks around today (or around the
/// nearest school day of the year), marks on those already taught. Only
/// the whole-class lessons the demo timetable lays out: a lesson people
/// gave to a subgroup is theirs. Where a service refuses what the seed
/// would write (people changed the lesson since), the refusal goes into
/// `conflicts` and the lesson is left as it is.
async fn seed_journal(
    channels: &Channels,
    school: &School,
    first_year: i32,
    today: Date,
    conflicts: &mut Vec<String>,
) -> anyhow::Result<()> {
    let (from, to) = journal_weeks(today)?;
    // Logged in again here rather than kept from their seeding: access
    // tokens may live only seconds (the end-to-end tests make them short).
    let mut teachers = Vec::new();
    for teacher in &school.teachers {
        let token = channels.login(&teacher.login, DEMO_PASSWORD).await?;
        teachers.push((teacher.person_id.clone(), channels.actor(&token)?));
    }
    for class in &school.classes {
        let request = gb::GetTimetableRequest {
            of: Some(gb::get_timetable_request::Of::ClassId(class.id.clone())),
            from_date: civil(from),
            to_date: civil(to),
        };
        let Some((_, reader)) = teachers.first_mut() else {
            break;
        };
        let lessons = reader
            .timetable
            .get_timetable(request)
            .await?
            .into_inner()
            .lessons;
        for (index, lesson) in lessons.iter().enumerate() {
            let Some((_, teacher)) = teachers.iter_mut().find(|(id, _)| *id == lesson.teacher_id)
            else {
                continue;
            };
            let Some(day) = lesson.date.as_ref() else {
                continue;
            };
            if !lesson.subgroup_id.is_empty() {
                continue;
            }
            let lesson_date = date(day.year, u8::try_from(day.month)?, u8::try_from(day.day)?)?;
            let due = next_school_day(lesson_date);
            let describe = |status: Status| {
                format!(
                    "{} {} {}, period {}: {}",
                    class.name,
                    lesson.subject_name,
                    lesson_date,
                    lesson.period,
                    status.message()
                )
            };
            let created = teacher
                .journal
                .create_assignment(gb::CreateAssignmentRequest {
                    lesson_id: lesson.id.clone(),
                    r#type: "homework".to_owned(),
                    weight: 0,
                    due_date: civil(due.min(date(first_year + 1, 5, 31)?)),
                    title: format!("{}: упражнения", lesson.subject_name),
                    text: format!(
                        "§ {}, упражнения {}–{}",
                        3 + index % 20,
                        index % 9 + 1,
                        index % 9 + 4
                    ),
                    idempotency_key: format!("demo-homework-{}", lesson.id),
                })
                .await;
            let assignment = match refusal_is_conflict(created) {
                Ok(answer) => answer
                    .into_inner()
                    .assignment
                    .ok_or_else(|| anyhow!("no assignment in the answer"))?,
                Err(Conflict::Refused(status)) => {
                    conflicts.push(describe(status));
                    continue;
                }
                Err(Conflict::Failed(status)) => {
                    return Err(anyhow!("homework for the lesson {}: {status}", lesson.id));
                }
            };
            if lesson_date > today {
                continue;
            }
            // Two students answer at each lesson, in turn.
            let marks = (0..2)
                .filter_map(|k| class.students.get((index + k) % class.students.len()))
                .enumerate()
                .map(|(k, (student_id, _))| gb::MarkEntry {
                    student_id: student_id.clone(),
                    value: Some(gb::MarkValue {
                        kind: gb::MarkKind::Grade.into(),
                        grade: 3 + i32::try_from((index * 7 + k * 3) % 3).unwrap_or(0),
                    }),
                    comment: String::new(),
                })
                .collect();
            let posted = teacher
                .journal
                .set_marks(gb::SetMarksRequest {
                    assignment_id: assignment.id,
                    marks,
                    idempotency_key: format!("demo-marks-{}", lesson.id),
                })
                .await;
            match refusal_is_conflict(posted) {
                Ok(_) => {}
                Err(Conflict::Refused(status)) => conflicts.push(describe(status)),
                Err(Conflict::Failed(status)) => {
                    return Err(anyhow!("marks for the lesson {}: {status}", lesson.id));
                }
            }
        }
    }
    Ok(())
}

/// The school year the demo runs: the one under way, or from July the
/// coming one. Its first calendar year.
pub fn school_year_of(today: Date) -> i32 {
    if u8::from(today.month()) >= 7 {
        today.year()
    } else {
        today.year() - 1
    }
}

/// The three school weeks the seed fills with homework and marks: this
/// week and the two before, or the nearest ones inside the school year.
pub fn journal_weeks(today: Date) -> anyhow::Result<(Date, Date)> {
    let first_year = school_year_of(today);
    let (opens, closes) = (date(first_year, 9, 15)?, date(first_year + 1, 5, 22)?);
    let anchor = today.clamp(opens, closes);
    let monday =
        anchor - time::Duration::days(i64::from(anchor.weekday().number_days_from_monday()));
    Ok((
        monday - time::Duration::weeks(2),
        monday + time::Duration::days(4),
    ))
}

fn next_school_day(day: Date) -> Date {
    let next = day + time::Duration::days(1);
    match next.weekday() {
        Weekday::Saturday => next + time::Duration::days(2),
        Weekday::Sunday => next + time::Duration::days(1),
        _ => next,
    }
}
