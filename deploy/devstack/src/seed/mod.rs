//! The demo region `make run` starts with: one municipality, two schools,
//! their directors and teachers, two classes each with students, parents
//! who log in through the development ESIA (one child; two children in two
//! schools; a teacher who is also a parent; an unconfirmed account), a
//! school year with its timetable, three weeks of homework and marks
//! around today, and mail and announcements at every level.
//!
//! Everything goes through the services' APIs, as the region's operators
//! would (the seed is an operator's tool inside the cluster, so it talks to
//! the services, not through the public gateway). Seeding again changes
//! nothing: creations carry idempotency keys, settings are set to the same
//! values, and what has no key is looked up first.
//!
//! This module is the entry and what it hands back; `clients` is how the
//! seed calls the services, and the school, its families and its journal are
//! seeded each in their own module.

mod clients;
mod families;
mod journal;
mod messaging;
mod school;

use anyhow::{Context, anyhow};
use asurso_proto::identity as pb;
use time::OffsetDateTime;

pub use self::{
    clients::Bearer,
    journal::{journal_weeks, school_year_of},
};
use self::{
    clients::Channels, families::seed_families, journal::seed_journal, messaging::seed_messaging,
    school::seed_school,
};
use crate::Layout;

/// The password of every seeded local login.
pub const DEMO_PASSWORD: &str = "demo-password-1";
/// The region admin identity creates at its first start (local settings).
pub const REGION_ADMIN: (&str, &str) = ("region.admin", "region-admin-password");

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

impl Demo {
    /// The demo family of an ESIA id.
    pub fn family(&self, oid: &str) -> anyhow::Result<&Family> {
        self.families
            .iter()
            .find(|family| family.oid == oid)
            .ok_or_else(|| anyhow::anyhow!("no demo family {oid}"))
    }

    /// The school and class a student is in.
    pub fn class_of(&self, student: &str) -> anyhow::Result<(&School, &Class)> {
        self.schools
            .iter()
            .find_map(|school| {
                school
                    .classes
                    .iter()
                    .find(|class| class.students.iter().any(|(id, _)| id == student))
                    .map(|class| (school, class))
            })
            .ok_or_else(|| anyhow::anyhow!("{student} is in no demo class"))
    }
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
        text.push_str(&format!(
            "  NetSchool apps: logged in as a parent, make an app password at {}/apps; the app's server is {}\n",
            layout.gateway_url(),
            layout.gateway_url()
        ));
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

/// Seeds the demo region through the services of `layout`.
pub async fn seed(layout: &Layout) -> anyhow::Result<Demo> {
    let channels = Channels::connect(layout).await?;
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
    seed_messaging(&channels, &municipality_id, &region_id, &schools)
        .await
        .context("the demo's mail and announcements")?;
    Ok(Demo {
        region_id,
        municipality_id,
        schools,
        families,
        conflicts,
    })
}
