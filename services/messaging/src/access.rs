//! Who may write to whom, and who reads what is posted where: mail's
//! delivery rules and the board's audience, on the directory (grants,
//! guardians, the rights matrix) and the roster (classes, enrolments, the
//! teaching load).
//!
//! The defaults, which a region adjusts with its mail rules: a parent
//! writes to the staff of their children's schools; a student to their
//! teachers, their class teacher and their school's administration; staff
//! to anyone of their school and to its students' parents; the
//! administration above schools to staff under it; nobody to another
//! family. Whoever received a letter may answer everyone it named.
//!
//! Who is in a class now is the roster's `current_enrolments` (a day's
//! margin either side, so "today" holds in every time zone).

use asurso_directory::{School, access as directory, storage as known};
use asurso_proto::{identity::Role, messaging as pb};
use asurso_runtime::{
    auth::{Caller, role_name},
    errors::ServiceError,
    rights::right,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::storage::rules::{self, Rules};

/// Who is writing, as their token's grant says.
#[derive(Debug, Clone)]
pub struct Sender {
    pub person: Uuid,
    pub role: Role,
    pub kind: SenderKind,
    /// The grant's org unit: a school for everyone but the administration
    /// above schools.
    pub unit: Uuid,
    pub region: Option<Uuid>,
    pub rules: Rules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderKind {
    /// A school's administration or a teacher, at the grant's school.
    Staff,
    /// A municipal or regional administrator, over the grant's unit.
    Administration,
    Parent,
    Student,
}

impl SenderKind {
    pub fn of(role: Role) -> Self {
        match role {
            Role::RegionAdmin | Role::MunicipalAdmin => Self::Administration,
            Role::Parent => Self::Parent,
            Role::Student => Self::Student,
            _ => Self::Staff,
        }
    }
}

/// The region above an org unit (itself for a region).
pub async fn region_of(
    connection: &mut PgConnection,
    unit: Uuid,
) -> Result<Option<Uuid>, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(r.id, m.id, u.id) FROM known_org_units u \
         LEFT JOIN known_org_units m ON m.id = u.parent_id \
         LEFT JOIN known_org_units r ON r.id = m.parent_id \
         WHERE u.id = $1",
    )
    .bind(unit)
    .fetch_optional(connection)
    .await?)
}

/// The caller as a sender of mail: refused unless the matrix where their
/// grant stands gives their role `messages.send`.
pub async fn sender(
    connection: &mut PgConnection,
    caller: &Caller,
) -> Result<Sender, ServiceError> {
    let kind = SenderKind::of(caller.role);
    let region = region_of(connection, caller.org_unit_id).await?;
    let allowed = match known::school(connection, caller.org_unit_id).await? {
        Some(school) => directory::may(connection, caller, right::MESSAGES_SEND, &school).await?,
        None => match region {
            Some(region) => directory::region_matrix(connection, region)
                .await?
                .allows(caller.role, right::MESSAGES_SEND),
            None => false,
        },
    };
    if !allowed {
        return Err(ServiceError::denied(format!(
            "the {} role may not {} here",
            role_name(caller.role),
            right::MESSAGES_SEND
        )));
    }
    let rules = match region {
        Some(region) => rules::of(connection, region).await?,
        None => Rules::default(),
    };
    Ok(Sender {
        person: caller.person_id,
        role: caller.role,
        kind,
        unit: caller.org_unit_id,
        region,
        rules,
    })
}

/// Staff roles, as grants name them.
const STAFF: [&str; 3] = ["school_admin", "teacher", "class_teacher"];

/// Of `candidates`, those the sender may write to by the rules.
pub async fn reachable(
    connection: &mut PgConnection,
    sender: &Sender,
    candidates: &[Uuid],
) -> Result<Vec<Uuid>, ServiceError> {
    let staff: Vec<String> = STAFF.iter().map(|role| (*role).to_owned()).collect();
    let query = match sender.kind {
        SenderKind::Staff => sqlx::query_scalar(
            "SELECT c FROM unnest($1::uuid[]) AS c WHERE \
             EXISTS (SELECT 1 FROM known_grants g \
                     WHERE g.person_id = c AND g.org_unit_id = $2 AND NOT g.revoked) \
             OR EXISTS (SELECT 1 FROM guardians gu JOIN known_grants g ON g.person_id = gu.student_id \
                        WHERE gu.parent_id = c AND g.org_unit_id = $2 AND g.role = 'student' \
                          AND NOT g.revoked)",
        )
        .bind(candidates)
        .bind(sender.unit),
        SenderKind::Administration => sqlx::query_scalar(
            "SELECT c FROM unnest($1::uuid[]) AS c WHERE EXISTS ( \
                 SELECT 1 FROM known_grants g \
                 JOIN known_org_units u ON u.id = g.org_unit_id \
                 LEFT JOIN known_org_units p ON p.id = u.parent_id \
                 WHERE g.person_id = c AND NOT g.revoked \
                   AND g.role NOT IN ('parent', 'student') \
                   AND (u.id = $2 OR u.parent_id = $2 OR p.parent_id = $2))",
        )
        .bind(candidates)
        .bind(sender.unit),
        SenderKind::Parent => sqlx::query_scalar(
            "WITH child_schools AS ( \
                 SELECT g.org_unit_id FROM guardians gu \
                 JOIN known_grants g ON g.person_id = gu.student_id \
                     AND g.role = 'student' AND NOT g.revoked \
                 WHERE gu.parent_id = $2), \
             child_classes AS ( \
                 SELECT e.class_id FROM guardians gu JOIN current_enrolments e ON e.student_id = gu.student_id \
                 WHERE gu.parent_id = $2) \
             SELECT c FROM unnest($1::uuid[]) AS c WHERE \
             EXISTS (SELECT 1 FROM known_grants g WHERE g.person_id = c AND NOT g.revoked \
                     AND g.role = ANY($3) AND g.org_unit_id IN (SELECT org_unit_id FROM child_schools)) \
             OR ($4 AND c <> $2 AND ( \
                 EXISTS (SELECT 1 FROM current_enrolments e WHERE e.student_id = c \
                         AND e.class_id IN (SELECT class_id FROM child_classes)) \
                 OR EXISTS (SELECT 1 FROM guardians gu JOIN current_enrolments e ON e.student_id = gu.student_id \
                            WHERE gu.parent_id = c AND e.class_id IN (SELECT class_id FROM child_classes))))",
        )
        .bind(candidates)
        .bind(sender.person)
        .bind(&staff)
        .bind(sender.rules.families_write_to_families),
        SenderKind::Student => sqlx::query_scalar(
            "WITH my_classes AS ( \
                 SELECT e.class_id FROM current_enrolments e WHERE e.student_id = $2), \
             my_schools AS ( \
                 SELECT org_unit_id FROM known_grants \
                 WHERE person_id = $2 AND role = 'student' AND NOT revoked), \
             my_staff AS ( \
                 SELECT g.person_id FROM known_grants g WHERE NOT g.revoked AND g.role = ANY($3) \
                   AND g.org_unit_id IN (SELECT org_unit_id FROM my_schools)) \
             SELECT c FROM unnest($1::uuid[]) AS c WHERE \
             (c IN (SELECT person_id FROM my_staff) AND ( \
                 $5 \
                 OR c IN (SELECT class_teacher_id FROM classes WHERE id IN (SELECT class_id FROM my_classes)) \
                 OR c IN (SELECT l.teacher_id FROM loads l WHERE l.class_id IN (SELECT class_id FROM my_classes) \
                          AND (l.subgroup_id IS NULL OR EXISTS ( \
                              SELECT 1 FROM subgroup_members m \
                              WHERE m.subgroup_id = l.subgroup_id AND m.student_id = $2))) \
                 OR EXISTS (SELECT 1 FROM known_grants g WHERE g.person_id = c AND NOT g.revoked \
                            AND g.role = 'school_admin' \
                            AND g.org_unit_id IN (SELECT org_unit_id FROM my_schools)))) \
             OR ($4 AND c <> $2 AND ( \
                 EXISTS (SELECT 1 FROM current_enrolments e WHERE e.student_id = c \
                         AND e.class_id IN (SELECT class_id FROM my_classes)) \
                 OR EXISTS (SELECT 1 FROM guardians gu JOIN current_enrolments e ON e.student_id = gu.student_id \
                            WHERE gu.parent_id = c AND e.class_id IN (SELECT class_id FROM my_classes))))",
        )
        .bind(candidates)
        .bind(sender.person)
        .bind(&staff)
        .bind(sender.rules.families_write_to_families)
        .bind(sender.rules.students_write_to_all_staff),
    };
    Ok(query.fetch_all(connection).await?)
}

/// A group's members now, once the caller may name the group at all, and
/// the group's name as recipients see it ("Родители 5А").
pub async fn members(
    connection: &mut PgConnection,
    sender: &Sender,
    group: &pb::Group,
    field: &str,
) -> Result<(Vec<Uuid>, String), ServiceError> {
    let kind = pb::GroupKind::try_from(group.kind).unwrap_or(pb::GroupKind::Unspecified);
    let id = |value: &str, name: &str| {
        asurso_runtime::edge::uuid_field(value, &format!("{field}.{name}"))
    };
    let staff: Vec<String> = STAFF.iter().map(|role| (*role).to_owned()).collect();
    let unit_name = |unit: Uuid| {
        sqlx::query_scalar::<_, String>("SELECT name FROM known_org_units WHERE id = $1").bind(unit)
    };
    let class_name = |class: Uuid| {
        sqlx::query_scalar::<_, String>("SELECT name FROM classes WHERE id = $1").bind(class)
    };
    let (members, name): (Vec<Uuid>, String) = match kind {
        pb::GroupKind::Unspecified => {
            return Err(ServiceError::invalid(
                format!("{field}.kind"),
                "is not a kind of group",
            ));
        }
        pb::GroupKind::SchoolAdministration | pb::GroupKind::SchoolStaff => {
            let school = id(&group.school_id, "school_id")?;
            let (roles, title): (Vec<String>, &str) = if kind == pb::GroupKind::SchoolAdministration
            {
                (vec!["school_admin".to_owned()], "Администрация")
            } else {
                (staff, "Сотрудники")
            };
            let name = unit_name(school).fetch_optional(&mut *connection).await?;
            let members = sqlx::query_scalar(
                "SELECT DISTINCT person_id FROM known_grants \
                 WHERE org_unit_id = $1 AND role = ANY($2) AND NOT revoked",
            )
            .bind(school)
            .bind(&roles)
            .fetch_all(&mut *connection)
            .await?;
            (members, format!("{title}: {}", name.unwrap_or_default()))
        }
        pb::GroupKind::ClassTeachers => {
            let school = id(&group.school_id, "school_id")?;
            let name = unit_name(school).fetch_optional(&mut *connection).await?;
            let members = sqlx::query_scalar(
                "SELECT DISTINCT c.class_teacher_id FROM classes c \
                 JOIN known_grants g ON g.person_id = c.class_teacher_id \
                     AND g.org_unit_id = c.school_id AND NOT g.revoked AND g.role = ANY($2) \
                 WHERE c.school_id = $1",
            )
            .bind(school)
            .bind(&staff)
            .fetch_all(&mut *connection)
            .await?;
            (
                members,
                format!("Классные руководители: {}", name.unwrap_or_default()),
            )
        }
        pb::GroupKind::ClassTeacherOf | pb::GroupKind::TeachersOf => {
            let student = id(&group.student_id, "student_id")?;
            let own = student == sender.person
                || directory::is_guardian(connection, sender.person, student).await?
                || (matches!(sender.kind, SenderKind::Staff)
                    && !reachable(connection, sender, &[student]).await?.is_empty());
            if !own {
                return Err(ServiceError::denied(format!(
                    "{field}.student_id: not your child, and not a student of yours"
                )));
            }
            let whose = known::full_name(connection, student).await?;
            let title = if kind == pb::GroupKind::ClassTeacherOf {
                "Классный руководитель"
            } else {
                "Учителя"
            };
            // Only those still on the school's staff: a teacher who left
            // does not make the whole group unreachable.
            let sql = if kind == pb::GroupKind::ClassTeacherOf {
                "SELECT DISTINCT c.class_teacher_id FROM current_enrolments e JOIN classes c ON c.id = e.class_id \
                 WHERE e.student_id = $1 AND c.class_teacher_id IS NOT NULL \
                   AND EXISTS (SELECT 1 FROM known_grants g WHERE g.person_id = c.class_teacher_id \
                               AND g.org_unit_id = c.school_id AND g.role = ANY($2) AND NOT g.revoked)"
            } else {
                "SELECT DISTINCT l.teacher_id FROM current_enrolments e JOIN loads l ON l.class_id = e.class_id \
                 JOIN classes c ON c.id = e.class_id \
                 WHERE e.student_id = $1 \
                   AND (l.subgroup_id IS NULL OR EXISTS ( \
                       SELECT 1 FROM subgroup_members m \
                       WHERE m.subgroup_id = l.subgroup_id AND m.student_id = $1)) \
                   AND EXISTS (SELECT 1 FROM known_grants g WHERE g.person_id = l.teacher_id \
                               AND g.org_unit_id = c.school_id AND g.role = ANY($2) AND NOT g.revoked)"
            };
            let members = sqlx::query_scalar(sql)
                .bind(student)
                .bind(&staff)
                .fetch_all(&mut *connection)
                .await?;
            (members, format!("{title}: {whose}"))
        }
        pb::GroupKind::ClassParents | pb::GroupKind::ClassStudents => {
            // A class's families are addressed by its school's staff only,
            // whatever the region lets families do one by one.
            if sender.kind != SenderKind::Staff {
                return Err(ServiceError::denied(format!(
                    "{field}: a class's parents or students are written to by the school's staff"
                )));
            }
            let class = id(&group.class_id, "class_id")?;
            let name = class_name(class).fetch_optional(&mut *connection).await?;
            let title = if kind == pb::GroupKind::ClassStudents {
                "Ученики"
            } else {
                "Родители"
            };
            let sql = if kind == pb::GroupKind::ClassStudents {
                "SELECT DISTINCT e.student_id FROM current_enrolments e WHERE e.class_id = $1"
            } else {
                "SELECT DISTINCT gu.parent_id FROM current_enrolments e \
                 JOIN guardians gu ON gu.student_id = e.student_id WHERE e.class_id = $1"
            };
            let members = sqlx::query_scalar(sql)
                .bind(class)
                .fetch_all(&mut *connection)
                .await?;
            (members, format!("{title} {}", name.unwrap_or_default()))
        }
    };
    if members.is_empty() {
        return Err(ServiceError::invalid(
            format!("{field}.kind"),
            "the group has nobody in it",
        ));
    }
    let reachable = reachable(connection, sender, &members).await?;
    if reachable.len() < members.len() {
        return Err(ServiceError::denied(format!(
            "{field}: this group is not people you may write to"
        )));
    }
    Ok((members, name))
}

/// Where a person stands, for the board: (org unit or class, role) for
/// every standing grant and the units above it, their children's schools,
/// the units above them and classes, their own class, and the classes they
/// teach or lead.
pub async fn memberships(
    connection: &mut PgConnection,
    person: Uuid,
) -> Result<(Vec<Uuid>, Vec<String>), ServiceError> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "WITH grants AS ( \
             SELECT org_unit_id, role FROM known_grants WHERE person_id = $1 AND NOT revoked), \
         child_schools AS ( \
             SELECT g.org_unit_id, 'parent'::text AS role FROM guardians gu \
             JOIN known_grants g ON g.person_id = gu.student_id AND g.role = 'student' AND NOT g.revoked \
             WHERE gu.parent_id = $1), \
         units AS (SELECT * FROM grants UNION SELECT * FROM child_schools), \
         classes_of AS ( \
             SELECT e.class_id, 'student'::text AS role FROM current_enrolments e WHERE e.student_id = $1 \
             UNION SELECT e.class_id, 'parent' FROM guardians gu JOIN current_enrolments e ON e.student_id = gu.student_id \
             WHERE gu.parent_id = $1 \
             UNION SELECT id, 'class_teacher' FROM classes WHERE class_teacher_id = $1 \
             UNION SELECT class_id, 'teacher' FROM loads WHERE teacher_id = $1) \
         SELECT u.org_unit_id, u.role FROM units u \
         UNION SELECT o.parent_id, u.role FROM units u JOIN known_org_units o ON o.id = u.org_unit_id \
             WHERE o.parent_id IS NOT NULL \
         UNION SELECT p.parent_id, u.role FROM units u JOIN known_org_units o ON o.id = u.org_unit_id \
             JOIN known_org_units p ON p.id = o.parent_id WHERE p.parent_id IS NOT NULL \
         UNION SELECT class_id, role FROM classes_of",
    )
    .bind(person)
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().unzip())
}

/// Where an announcement goes, once the caller may post there.
#[derive(Debug, Clone)]
pub struct Audience {
    pub id: Uuid,
    pub kind: &'static str,
    pub name: String,
    pub region: Uuid,
    pub school: Option<Uuid>,
}

/// Refuses unless the caller may post to the audience: their grant covers
/// it, the matrix in force there gives their role
/// `announcements.publish`, and a teacher posts only to a class they teach
/// or lead.
pub async fn announce_to(
    connection: &mut PgConnection,
    caller: &Caller,
    audience: &pb::Audience,
) -> Result<Audience, ServiceError> {
    let class = asurso_runtime::edge::optional_uuid(&audience.class_id, "audience.class_id")?;
    let unit = asurso_runtime::edge::optional_uuid(&audience.org_unit_id, "audience.org_unit_id")?;
    let denied = || {
        ServiceError::denied(format!(
            "the {} role may not post announcements to this audience",
            role_name(caller.role)
        ))
    };
    let (target, school) = match (class, unit) {
        (Some(class), None) => {
            let row: Option<(Uuid, String)> =
                sqlx::query_as("SELECT school_id, name FROM classes WHERE id = $1")
                    .bind(class)
                    .fetch_optional(&mut *connection)
                    .await?;
            let (school_id, name) = row.ok_or_else(|| {
                ServiceError::not_found("audience.class_id", format_args!("class {class}"))
            })?;
            let school = school_of(connection, school_id, "audience.class_id").await?;
            if matches!(caller.role, Role::Teacher | Role::ClassTeacher) {
                let teaches: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM classes WHERE id = $1 AND class_teacher_id = $2) \
                     OR EXISTS (SELECT 1 FROM loads WHERE class_id = $1 AND teacher_id = $2)",
                )
                .bind(class)
                .bind(caller.person_id)
                .fetch_one(&mut *connection)
                .await?;
                if !teaches {
                    return Err(denied());
                }
            }
            let name = format!("{name} ({})", school.name);
            (
                Audience {
                    id: class,
                    kind: "class",
                    name,
                    region: school.region_id.unwrap_or(school.id),
                    school: Some(school.id),
                },
                Some(school),
            )
        }
        (None, Some(unit)) => {
            let (kind, _) = known::org_unit(connection, unit).await?.ok_or_else(|| {
                ServiceError::not_found("audience.org_unit_id", format_args!("org unit {unit}"))
            })?;
            match kind.as_str() {
                "school" => {
                    let school = school_of(connection, unit, "audience.org_unit_id").await?;
                    if matches!(caller.role, Role::Teacher | Role::ClassTeacher) {
                        return Err(denied());
                    }
                    (
                        Audience {
                            id: unit,
                            kind: "school",
                            name: school.name.clone(),
                            region: school.region_id.unwrap_or(school.id),
                            school: Some(school.id),
                        },
                        Some(school),
                    )
                }
                "municipality" | "region" => {
                    let region = region_of(connection, unit).await?.unwrap_or(unit);
                    let name: String =
                        sqlx::query_scalar("SELECT name FROM known_org_units WHERE id = $1")
                            .bind(unit)
                            .fetch_one(&mut *connection)
                            .await?;
                    let covers = caller.org_unit_id == unit || caller.org_unit_id == region;
                    if !covers
                        || !directory::region_matrix(connection, region)
                            .await?
                            .allows(caller.role, right::ANNOUNCEMENTS_PUBLISH)
                    {
                        return Err(denied());
                    }
                    let kind = if kind == "region" {
                        "region"
                    } else {
                        "municipality"
                    };
                    return Ok(Audience {
                        id: unit,
                        kind,
                        name,
                        region,
                        school: None,
                    });
                }
                _ => {
                    return Err(ServiceError::invalid(
                        "audience.org_unit_id",
                        "is not a region, municipality or school",
                    ));
                }
            }
        }
        _ => {
            return Err(ServiceError::invalid(
                "audience",
                "names either an org unit or a class",
            ));
        }
    };
    if let Some(school) = school {
        directory::authorize(connection, caller, right::ANNOUNCEMENTS_PUBLISH, &school).await?;
    }
    Ok(target)
}

async fn school_of(
    connection: &mut PgConnection,
    id: Uuid,
    field: &str,
) -> Result<School, ServiceError> {
    known::school(connection, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(field, format_args!("school {id}")))
}
