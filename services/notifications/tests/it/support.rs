//! Identity, the gradebook and notifications in this process on one NATS
//! namespace, and a school to write in: 5А with its maths teacher and two
//! families (the Ivanovs, the Petrovs), 5Б with a third (the Sidorovs),
//! and, when asked, a real SMTP server for e-mail.

use std::time::Duration;

use asurso_gradebook::harness::{
    Gb, Gradebook, class, enrol, gradebook_database, load, subject, year_around,
};
use asurso_identity::harness::{World, identity_login};
use asurso_notifications::harness::{Clients, Notifications, notifications_database};
use asurso_proto::{common::CivilDate, gradebook as gb, identity as pb, notifications as nf};
use asurso_testkit::SmtpServer;
use time::{OffsetDateTime, Weekday};
use uuid::Uuid;

pub use asurso_testkit::wire::violated_fields;

pub struct Person {
    pub id: Uuid,
    pub token: String,
    pub n: Clients,
}

pub struct Family {
    pub student: Person,
    pub parent: Person,
}

pub struct School {
    pub world: World,
    /// Serving for as long as the school is used.
    #[allow(dead_code)]
    pub gradebook: Gradebook,
    pub notifications: Notifications,
    pub smtp: Option<SmtpServer>,
    pub director: Person,
    pub teacher: Person,
    pub teacher_gb: Gb,
    pub admin_gb: Gb,
    pub class_5a: gb::Class,
    pub maths: gb::Subject,
    pub ivanovs: Family,
    pub petrovs: Family,
    pub sidorovs: Family,
    next_seed: u32,
}

/// The school day before [`school_day`].
pub fn previous_school_day() -> time::Date {
    let day = school_day() - time::Duration::days(1);
    if day.weekday() == Weekday::Sunday {
        day - time::Duration::days(1)
    } else {
        day
    }
}

/// Today, or Saturday when today is a Sunday (the test year has six
/// school days a week).
pub fn school_day() -> time::Date {
    let today = OffsetDateTime::now_utc().date();
    if today.weekday() == Weekday::Sunday {
        today - time::Duration::days(1)
    } else {
        today
    }
}

pub fn civil(date: time::Date) -> CivilDate {
    CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    }
}

impl School {
    pub async fn start(tag: &str, with_smtp: bool) -> anyhow::Result<Self> {
        let smtp = if with_smtp {
            Some(SmtpServer::start().await?)
        } else {
            None
        };
        Self::start_on(tag, smtp).await
    }

    /// The school, mailing through `smtp`.
    pub async fn start_on(tag: &str, smtp: Option<SmtpServer>) -> anyhow::Result<Self> {
        let mut world = World::new().await?;
        let gradebook = Gradebook::start(&world, gradebook_database().await?).await?;
        let notifications =
            Notifications::start(&world, notifications_database().await?, smtp.as_ref()).await?;
        let school = world.school_a;
        let mut seed = 500;
        let mut person = async |world: &mut World, role: pb::Role, login: String| {
            seed += 1;
            register(world, &gradebook, &notifications, role, &login, seed).await
        };
        let director = person(&mut world, pb::Role::SchoolAdmin, format!("{tag}.director")).await?;
        let teacher = person(&mut world, pb::Role::Teacher, format!("{tag}.maths")).await?;
        let mut families = Vec::new();
        for name in ["ivanovs", "petrovs", "sidorovs"] {
            let student =
                person(&mut world, pb::Role::Student, format!("{tag}.{name}.child")).await?;
            let parent =
                person(&mut world, pb::Role::Parent, format!("{tag}.{name}.parent")).await?;
            world
                .admin
                .people
                .link_guardian(pb::LinkGuardianRequest {
                    parent_id: parent.id.to_string(),
                    student_id: student.id.to_string(),
                })
                .await?;
            notifications.knows_guardian(parent.id, student.id).await?;
            families.push(Family { student, parent });
        }
        let mut admin_gb = gradebook.clients(&director.token).await?;
        let teacher_gb = gradebook.clients(&teacher.token).await?;
        let year = year_around(&mut admin_gb, school, OffsetDateTime::now_utc().date()).await?;
        let class_5a = class(&mut admin_gb, &year, "5А", 5).await?;
        let class_5b = class(&mut admin_gb, &year, "5Б", 5).await?;
        let maths = subject(&mut admin_gb, school, "Математика").await?;
        load(&mut admin_gb, &class_5a, &maths, teacher.id).await?;
        load(&mut admin_gb, &class_5b, &maths, teacher.id).await?;
        let sidorovs = families.pop().ok_or_else(|| anyhow::anyhow!("no family"))?;
        let petrovs = families.pop().ok_or_else(|| anyhow::anyhow!("no family"))?;
        let ivanovs = families.pop().ok_or_else(|| anyhow::anyhow!("no family"))?;
        for (family, class) in [
            (&ivanovs, &class_5a),
            (&petrovs, &class_5a),
            (&sidorovs, &class_5b),
        ] {
            enrol(&mut admin_gb, class, family.student.id).await?;
            notifications
                .knows_enrolment(family.student.id, Uuid::parse_str(&class.id)?)
                .await?;
        }
        Ok(Self {
            world,
            gradebook,
            notifications,
            smtp,
            director,
            teacher,
            teacher_gb,
            admin_gb,
            class_5a,
            maths,
            ivanovs,
            petrovs,
            sidorovs,
            next_seed: 600,
        })
    }

    /// A maths lesson of `class` on `date` at `period`.
    pub async fn lesson(
        &mut self,
        class: &gb::Class,
        date: time::Date,
        period: i32,
    ) -> anyhow::Result<gb::Lesson> {
        self.admin_gb
            .timetable
            .schedule_lesson(gb::ScheduleLessonRequest {
                class_id: class.id.clone(),
                subgroup_id: String::new(),
                subject_id: self.maths.id.clone(),
                date: Some(civil(date)),
                period,
                teacher_id: self.teacher.id.to_string(),
                room: "12".into(),
            })
            .await?
            .into_inner()
            .lesson
            .ok_or_else(|| anyhow::anyhow!("no lesson"))
    }

    /// Classwork in `lesson` and marks for it, as the teacher; the
    /// assignment.
    pub async fn marks(
        &mut self,
        lesson: &gb::Lesson,
        marks: &[(Uuid, i32)],
    ) -> anyhow::Result<gb::Assignment> {
        let assignment = self
            .teacher_gb
            .journal
            .create_assignment(gb::CreateAssignmentRequest {
                lesson_id: lesson.id.clone(),
                r#type: "classwork".into(),
                weight: 0,
                due_date: None,
                title: "Дроби".into(),
                text: String::new(),
                idempotency_key: String::new(),
            })
            .await?
            .into_inner()
            .assignment
            .ok_or_else(|| anyhow::anyhow!("no assignment"))?;
        self.set_marks(&assignment, marks).await?;
        Ok(assignment)
    }

    pub async fn set_marks(
        &mut self,
        assignment: &gb::Assignment,
        marks: &[(Uuid, i32)],
    ) -> anyhow::Result<()> {
        self.teacher_gb
            .journal
            .set_marks(gb::SetMarksRequest {
                assignment_id: assignment.id.clone(),
                marks: marks
                    .iter()
                    .map(|(student, grade)| gb::MarkEntry {
                        student_id: student.to_string(),
                        value: Some(gb::MarkValue {
                            kind: gb::MarkKind::Grade.into(),
                            grade: *grade,
                        }),
                        comment: String::new(),
                    })
                    .collect(),
                idempotency_key: String::new(),
            })
            .await?;
        Ok(())
    }

    /// Someone new at `unit`, known to notifications.
    pub async fn newcomer(
        &mut self,
        unit: Uuid,
        role: pb::Role,
        login: &str,
    ) -> anyhow::Result<Person> {
        self.next_seed += 1;
        let (token, id) = identity_login(
            &self.world.identity,
            &mut self.world.admin,
            unit,
            role,
            login,
            self.next_seed,
        )
        .await?;
        self.notifications.knows(id).await?;
        let n = self.notifications.clients(&token).await?;
        Ok(Person { id, token, n })
    }
}

async fn register(
    world: &mut World,
    gradebook: &Gradebook,
    notifications: &Notifications,
    role: pb::Role,
    login: &str,
    seed: u32,
) -> anyhow::Result<Person> {
    let school = world.school_a;
    let (token, id) =
        identity_login(&world.identity, &mut world.admin, school, role, login, seed).await?;
    gradebook.knows(id).await?;
    notifications.knows(id).await?;
    let n = notifications.clients(&token).await?;
    Ok(Person { id, token, n })
}

/// The person's feed, newest first, all of it.
pub async fn feed(person: &mut Person) -> anyhow::Result<Vec<nf::FeedEntry>> {
    Ok(person
        .n
        .feed
        .list_feed(nf::ListFeedRequest {
            page: None,
            unread_only: false,
        })
        .await?
        .into_inner()
        .entries)
}

/// Waits until the person's feed holds at least `count` entries; them.
pub async fn feed_of(person: &mut Person, count: usize) -> anyhow::Result<Vec<nf::FeedEntry>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let entries = feed(person).await?;
        if entries.len() >= count {
            return Ok(entries);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the feed has {} entries, not {count}: {entries:?}",
            entries.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
