//! Identity, the gradebook and messaging in this process on one NATS
//! namespace, and a region to write in: in Тольятти, school A with its
//! director, 5А (class teacher, a maths teacher, two students with their
//! parents) and 5Б (a teacher, a student and parent); school B with a
//! family; in a second municipality, school C with a family; a municipal
//! administrator of Тольятти.

use asurso_gradebook::harness::{
    Gb, Gradebook, class, enrol, gradebook_database, load, subject, year_around,
};
use asurso_identity::harness::{World, identity_login};
use asurso_messaging::harness::{Clients, Messaging, messaging_database};
use asurso_proto::{gradebook as gb, identity as pb, messaging as msg};
use time::OffsetDateTime;
use uuid::Uuid;

pub use asurso_testkit::wire::violated_fields;

pub struct Person {
    pub id: Uuid,
    pub msg: Clients,
}

pub struct Stack {
    pub world: World,
    pub gradebook: Gradebook,
    pub messaging: Messaging,
    next_seed: u32,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Self> {
        let world = World::new().await?;
        let gradebook = Gradebook::start(&world, gradebook_database().await?).await?;
        let messaging = Messaging::start(&world, messaging_database().await?).await?;
        Ok(Self {
            world,
            gradebook,
            messaging,
            next_seed: 700,
        })
    }

    /// Someone at `unit` with `role`, registered by the region's admin,
    /// logged in, known to messaging; and their gradebook clients.
    pub async fn person_at(
        &mut self,
        unit: Uuid,
        role: pb::Role,
        login: &str,
    ) -> anyhow::Result<(Person, Gb)> {
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
        self.gradebook.knows(id).await?;
        self.messaging.knows(id).await?;
        let gb = self.gradebook.clients(&token).await?;
        Ok((
            Person {
                id,
                msg: self.messaging.clients(&token).await?,
            },
            gb,
        ))
    }

    pub async fn person(
        &mut self,
        unit: Uuid,
        role: pb::Role,
        login: &str,
    ) -> anyhow::Result<Person> {
        Ok(self.person_at(unit, role, login).await?.0)
    }

    pub async fn link(&mut self, parent: Uuid, child: Uuid) -> anyhow::Result<()> {
        self.world
            .admin
            .people
            .link_guardian(pb::LinkGuardianRequest {
                parent_id: parent.to_string(),
                student_id: child.to_string(),
            })
            .await?;
        Ok(())
    }
}

/// A family: the student, enrolled in `class`, and their parent.
pub struct Family {
    pub student: Person,
    pub parent: Person,
}

pub struct Region {
    pub stack: Stack,
    pub director: Person,
    pub director_b: Person,
    pub municipal: Person,
    pub region_admin: Person,
    pub class_teacher: Person,
    pub maths: Person,
    pub teacher_5b: Person,
    pub class_5a: gb::Class,
    /// Two families in 5А, one in 5Б (all school A).
    pub ivanovs: Family,
    pub smirnovs: Family,
    pub kuznetsovs: Family,
    /// A family of school B (the same municipality) and of school C (another).
    pub family_b: Family,
    pub family_c: Family,
    pub municipality_c: Uuid,
}

impl Region {
    pub async fn new(tag: &str) -> anyhow::Result<Self> {
        let mut stack = Stack::start().await?;
        let school_a = stack.world.school_a;
        let school_b = stack.world.school_b;
        let region = stack.world.region;
        let municipality_c = stack
            .world
            .admin
            .org
            .create_municipality(pb::CreateMunicipalityRequest {
                region_id: region.to_string(),
                name: "Сызрань".into(),
                idempotency_key: String::new(),
            })
            .await?
            .into_inner()
            .municipality
            .map(|unit| unit.id)
            .unwrap_or_default();
        let school_c = stack
            .world
            .admin
            .org
            .create_school(pb::CreateSchoolRequest {
                municipality_id: municipality_c.clone(),
                name: "Школа № 3".into(),
                time_zone: "Europe/Samara".into(),
                idempotency_key: String::new(),
            })
            .await?
            .into_inner()
            .school
            .map(|unit| unit.id)
            .unwrap_or_default();
        let school_c = Uuid::parse_str(&school_c)?;
        let municipality_c = Uuid::parse_str(&municipality_c)?;

        let (director, mut admin_a) = stack
            .person_at(school_a, pb::Role::SchoolAdmin, &format!("{tag}.director"))
            .await?;
        let (director_b, mut admin_b) = stack
            .person_at(
                school_b,
                pb::Role::SchoolAdmin,
                &format!("{tag}.director.b"),
            )
            .await?;
        let (_, mut admin_c) = stack
            .person_at(
                school_c,
                pb::Role::SchoolAdmin,
                &format!("{tag}.director.c"),
            )
            .await?;
        let municipal = stack
            .person(
                stack.world.municipality,
                pb::Role::MunicipalAdmin,
                &format!("{tag}.municipal"),
            )
            .await?;
        let region_admin = stack
            .person(region, pb::Role::RegionAdmin, &format!("{tag}.region"))
            .await?;
        let class_teacher = stack
            .person(school_a, pb::Role::ClassTeacher, &format!("{tag}.head"))
            .await?;
        let maths = stack
            .person(school_a, pb::Role::Teacher, &format!("{tag}.maths"))
            .await?;
        let teacher_5b = stack
            .person(school_a, pb::Role::Teacher, &format!("{tag}.teacher5b"))
            .await?;

        let today = OffsetDateTime::now_utc().date();
        let year = year_around(&mut admin_a, school_a, today).await?;
        let class_5a = class(&mut admin_a, &year, "5А", 5).await?;
        let class_5b = class(&mut admin_a, &year, "5Б", 5).await?;
        let algebra = subject(&mut admin_a, school_a, "Математика").await?;
        load(&mut admin_a, &class_5a, &algebra, maths.id).await?;
        load(&mut admin_a, &class_5b, &algebra, teacher_5b.id).await?;
        admin_a
            .classes
            .set_class_teacher(gb::SetClassTeacherRequest {
                class_id: class_5a.id.clone(),
                teacher_id: class_teacher.id.to_string(),
            })
            .await?;

        let mut families = Vec::new();
        for (n, (school, class)) in [
            (school_a, Some(&class_5a)),
            (school_a, Some(&class_5a)),
            (school_a, Some(&class_5b)),
        ]
        .into_iter()
        .enumerate()
        {
            let family = family(&mut stack, school, &format!("{tag}.family{n}")).await?;
            if let Some(class) = class {
                enrol(&mut admin_a, class, family.student.id).await?;
                stack
                    .messaging
                    .knows_enrolment(family.student.id, Uuid::parse_str(&class.id)?)
                    .await?;
            }
            families.push(family);
        }
        let family_b = family(&mut stack, school_b, &format!("{tag}.familyb")).await?;
        let year_b = year_around(&mut admin_b, school_b, today).await?;
        let class_b = class(&mut admin_b, &year_b, "6А", 6).await?;
        enrol(&mut admin_b, &class_b, family_b.student.id).await?;
        let family_c = family(&mut stack, school_c, &format!("{tag}.familyc")).await?;
        let year_c = year_around(&mut admin_c, school_c, today).await?;
        let class_c = class(&mut admin_c, &year_c, "7В", 7).await?;
        enrol(&mut admin_c, &class_c, family_c.student.id).await?;
        stack
            .messaging
            .knows_class(Uuid::parse_str(&class_5a.id)?, Some(class_teacher.id))
            .await?;
        stack
            .messaging
            .knows_enrolment(family_c.student.id, Uuid::parse_str(&class_c.id)?)
            .await?;
        stack
            .messaging
            .knows_enrolment(family_b.student.id, Uuid::parse_str(&class_b.id)?)
            .await?;
        let kuznetsovs = families.pop().ok_or_else(|| anyhow::anyhow!("no family"))?;
        let smirnovs = families.pop().ok_or_else(|| anyhow::anyhow!("no family"))?;
        let ivanovs = families.pop().ok_or_else(|| anyhow::anyhow!("no family"))?;
        Ok(Self {
            stack,
            director,
            director_b,
            municipal,
            region_admin,
            class_teacher,
            maths,
            teacher_5b,
            class_5a,
            ivanovs,
            smirnovs,
            kuznetsovs,
            family_b,
            family_c,
            municipality_c,
        })
    }

    pub fn school_a(&self) -> Uuid {
        self.stack.world.school_a
    }

    /// Sets the region's mail rules as its administrator.
    pub async fn rules(&mut self, adjust: impl FnOnce(&mut msg::MailRules)) -> anyhow::Result<()> {
        let region = self.stack.world.region.to_string();
        let mut rules = self
            .region_admin
            .msg
            .rules
            .get_mail_rules(msg::GetMailRulesRequest { region_id: region })
            .await?
            .into_inner()
            .rules
            .unwrap_or_default();
        adjust(&mut rules);
        self.region_admin
            .msg
            .rules
            .set_mail_rules(msg::SetMailRulesRequest { rules: Some(rules) })
            .await?;
        Ok(())
    }
}

/// A student of `school` and their parent, linked.
async fn family(stack: &mut Stack, school: Uuid, tag: &str) -> anyhow::Result<Family> {
    let student = stack
        .person(school, pb::Role::Student, &format!("{tag}.child"))
        .await?;
    let parent = stack
        .person(school, pb::Role::Parent, &format!("{tag}.parent"))
        .await?;
    stack.link(parent.id, student.id).await?;
    let pool = stack.messaging.db.pool.clone();
    let (parent_id, student_id) = (parent.id, student.id);
    asurso_testkit::eventually(std::time::Duration::from_secs(15), || {
        let pool = pool.clone();
        async move {
            Ok(sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM guardians WHERE parent_id = $1 AND student_id = $2)",
            )
            .bind(parent_id)
            .bind(student_id)
            .fetch_one(&pool)
            .await?)
        }
    })
    .await?;
    Ok(Family { student, parent })
}

pub fn to_person(id: Uuid) -> msg::Address {
    msg::Address {
        target: Some(msg::address::Target::PersonId(id.to_string())),
    }
}

pub fn to_group(
    kind: msg::GroupKind,
    school: Option<Uuid>,
    class: Option<&str>,
    student: Option<Uuid>,
) -> msg::Address {
    msg::Address {
        target: Some(msg::address::Target::Group(msg::Group {
            kind: kind.into(),
            school_id: school.map(|id| id.to_string()).unwrap_or_default(),
            class_id: class.unwrap_or_default().to_owned(),
            student_id: student.map(|id| id.to_string()).unwrap_or_default(),
        })),
    }
}

/// A plain letter to `to`.
pub fn letter(to: Vec<msg::Address>, subject: &str, text: &str) -> msg::SendMessageRequest {
    msg::SendMessageRequest {
        to,
        subject: subject.into(),
        text: text.into(),
        ..Default::default()
    }
}

/// The ids of a folder's first page.
pub async fn folder(
    person: &mut Person,
    folder: msg::Folder,
) -> anyhow::Result<Vec<msg::MessageSummary>> {
    Ok(person
        .msg
        .mail
        .list_messages(msg::ListMessagesRequest {
            folder: folder.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .messages)
}
