//! Identity, the gradebook and attendance in this process on one NATS
//! namespace, and a class to take lessons in: its admin, two teachers, a
//! class teacher, three students, two parents; a school year around today
//! (so the tests hold whatever day they run on), lessons a few days ago,
//! two weeks ago and in a few days.

use asurso_attendance::harness::{Attendance, Clients, attendance_database};
use asurso_gradebook::harness::{
    Gb, Gradebook, class, enrol, gradebook_database, load, subject, year_around,
};
use asurso_identity::harness::{World, identity_login};
use asurso_proto::{common::CivilDate, gradebook as gb, identity as pb};
use asurso_runtime::convert::civil_date;
use time::{Date, Duration, OffsetDateTime, Weekday};
use uuid::Uuid;

pub use asurso_testkit::wire::violated_fields;

pub struct Person {
    pub id: Uuid,
    pub token: String,
    pub gb: Gb,
    pub at: Clients,
}

pub struct Stack {
    pub world: World,
    pub gradebook: Gradebook,
    pub attendance: Attendance,
    next_seed: u32,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Self> {
        let world = World::new().await?;
        let gradebook = Gradebook::start(&world, gradebook_database().await?).await?;
        let attendance = Attendance::start(&world, attendance_database().await?).await?;
        Ok(Self {
            world,
            gradebook,
            attendance,
            next_seed: 500,
        })
    }

    /// Someone at school A with `role`, logged in, known to both services.
    pub async fn person(&mut self, role: pb::Role, login: &str) -> anyhow::Result<Person> {
        self.next_seed += 1;
        let (token, id) = identity_login(
            &self.world.identity,
            &mut self.world.admin,
            self.world.school_a,
            role,
            login,
            self.next_seed,
        )
        .await?;
        self.gradebook.knows(id).await?;
        self.attendance.knows(id).await?;
        Ok(Person {
            id,
            gb: self.gradebook.clients(&token).await?,
            at: self.attendance.clients(&token).await?,
            token,
        })
    }

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

    pub async fn stop(self) -> anyhow::Result<()> {
        self.attendance.stop().await?;
        self.gradebook.stop().await?;
        self.world.identity.stop().await
    }
}

/// A school day (Monday to Saturday) on or before `day`.
pub fn school_day_before(mut day: Date) -> Date {
    while day.weekday() == Weekday::Sunday {
        day -= Duration::days(1);
    }
    day
}

/// A school day on or after `day`.
pub fn school_day_after(mut day: Date) -> Date {
    while day.weekday() == Weekday::Sunday {
        day += Duration::days(1);
    }
    day
}

pub fn civil(date: Date) -> Option<CivilDate> {
    Some(civil_date(date))
}

/// The class the tests take lessons in.
pub struct Class5 {
    pub stack: Stack,
    pub admin: Person,
    pub teacher: Person,
    pub other_teacher: Person,
    pub class_teacher: Person,
    pub students: Vec<Uuid>,
    pub parent: Person,
    pub other_parent: Person,
    pub class: gb::Class,
    pub maths: gb::Subject,
    /// A lesson two days ago (or the school day before), two weeks ago,
    /// three days ahead, and a month ago (in the closed first half).
    pub recent: gb::Lesson,
    pub old: gb::Lesson,
    pub ahead: gb::Lesson,
    pub ancient: gb::Lesson,
}

impl Class5 {
    pub async fn new(tag: &str) -> anyhow::Result<Self> {
        let mut stack = Stack::start().await?;
        let mut admin = stack
            .person(pb::Role::SchoolAdmin, &format!("{tag}.admin"))
            .await?;
        let teacher = stack
            .person(pb::Role::Teacher, &format!("{tag}.teacher"))
            .await?;
        let other_teacher = stack
            .person(pb::Role::Teacher, &format!("{tag}.other"))
            .await?;
        let class_teacher = stack
            .person(pb::Role::ClassTeacher, &format!("{tag}.head"))
            .await?;
        let mut students = Vec::new();
        for n in 0..3 {
            students.push(
                stack
                    .person(pb::Role::Student, &format!("{tag}.student{n}"))
                    .await?
                    .id,
            );
        }
        let parent = stack
            .person(pb::Role::Parent, &format!("{tag}.parent"))
            .await?;
        let other_parent = stack
            .person(pb::Role::Parent, &format!("{tag}.otherparent"))
            .await?;
        stack.link(parent.id, students[0]).await?;

        let school = stack.world.school_a;
        let today = OffsetDateTime::now_utc().date();
        let year = year_around(&mut admin.gb, school, today).await?;
        let class = class(&mut admin.gb, &year, "5А", 5).await?;
        let maths = subject(&mut admin.gb, school, "Математика").await?;
        load(&mut admin.gb, &class, &maths, teacher.id).await?;
        admin
            .gb
            .classes
            .set_class_teacher(gb::SetClassTeacherRequest {
                class_id: class.id.clone(),
                teacher_id: class_teacher.id.to_string(),
            })
            .await?;
        for student in &students {
            enrol(&mut admin.gb, &class, *student).await?;
        }
        let recent = school_day_before(today - Duration::days(2));
        let old = school_day_before(today - Duration::days(14));
        let ahead = school_day_after(today + Duration::days(3));
        let ancient = school_day_before(today - Duration::days(30));
        let mut lessons = Vec::new();
        for date in [recent, old, ahead, ancient] {
            let lesson = admin
                .gb
                .timetable
                .schedule_lesson(gb::ScheduleLessonRequest {
                    class_id: class.id.clone(),
                    subgroup_id: String::new(),
                    subject_id: maths.id.clone(),
                    date: civil(date),
                    period: 2,
                    teacher_id: teacher.id.to_string(),
                    room: String::new(),
                })
                .await?
                .into_inner()
                .lesson
                .ok_or_else(|| anyhow::anyhow!("no lesson"))?;
            stack
                .attendance
                .knows_lesson(Uuid::parse_str(&lesson.id)?)
                .await?;
            lessons.push(lesson);
        }
        let [recent, old, ahead, ancient]: [gb::Lesson; 4] = lessons
            .try_into()
            .map_err(|_| anyhow::anyhow!("four lessons"))?;
        Ok(Self {
            stack,
            admin,
            teacher,
            other_teacher,
            class_teacher,
            students,
            parent,
            other_parent,
            class,
            maths,
            recent,
            old,
            ahead,
            ancient,
        })
    }
}
