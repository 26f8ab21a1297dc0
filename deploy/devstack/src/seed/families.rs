//! The families of the demo: the development ESIA's demo people registered
//! as parents (one of them a teacher already) and linked to their children
//! by the children's schools.

use anyhow::{Context, anyhow};
use asurso_esia_dev::DEMO_PEOPLE;
use asurso_proto::identity as pb;

use super::{
    DEMO_PASSWORD, Family, School,
    clients::{Channels, birth, exists_is_fine, person_data, register},
};

/// The development ESIA's demo people as parents.
pub(super) async fn seed_families(
    channels: &Channels,
    schools: &[School],
) -> anyhow::Result<Vec<Family>> {
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
