//! Checking an import before anything is written: each row against the
//! rules, the file against itself, and both against the database.

use std::collections::HashMap;

use asurso_proto::identity as pb;
use asurso_runtime::auth::Caller;
use sqlx::PgConnection;
use uuid::Uuid;

use super::rows::{COLUMNS, CsvRow, parse_birth_date};
use crate::{
    access,
    api::{State, people::today},
    domain::{
        IdentityError,
        error::FieldViolation,
        person::{CONTROL_CHARACTER, NewPerson, PersonInput, holds_control},
        rights::right,
        snils::Snils,
    },
    storage,
};

/// At most this many row problems are reported at once.
const MAX_REPORTED: usize = 200;

pub(super) struct PlannedPerson {
    pub(super) person: NewPerson,
    pub(super) role: pb::Role,
}

pub(super) enum ChildRef {
    InFile(Vec<u8>),
    Existing(Uuid),
}

pub(super) struct Plan {
    pub(super) people: Vec<PlannedPerson>,
    /// (parent's SNILS hash, child)
    pub(super) links: Vec<(Vec<u8>, ChildRef)>,
}

/// A school other than the importing one where the student also studies
/// and the caller does not manage guardians, if there is one: a link made
/// by the import opens it to the parent as LinkGuardian's would, and so
/// takes what LinkGuardian takes there.
async fn school_out_of_reach(
    transaction: &mut PgConnection,
    caller: &Caller,
    student: Uuid,
    school: Uuid,
) -> Result<Option<String>, IdentityError> {
    for unit_id in storage::grants::units_of_student(transaction, student).await? {
        if unit_id == school {
            continue;
        }
        let unit = access::unit(transaction, unit_id, "csv").await?;
        match access::authorize(transaction, caller, right::GUARDIANS_MANAGE, &unit).await {
            Ok(()) => {}
            Err(IdentityError::PermissionDenied(_)) => return Ok(Some(unit.name)),
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}

/// Checks every row against the rules, the file and the database; any
/// problem anywhere means nothing is written.
pub(super) async fn plan_import(
    state: &State,
    transaction: &mut PgConnection,
    caller: &Caller,
    school: Uuid,
    rows: &[CsvRow],
) -> Result<Plan, IdentityError> {
    let mut problems: Vec<FieldViolation> = Vec::new();
    let mut people = Vec::new();
    let mut students_in_file: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut pending_links: Vec<(usize, Vec<u8>, Vec<Snils>)> = Vec::new();

    for row in rows {
        let prefix = format!("row {}: ", row.line);
        let field = |name: &str| row.fields.get(name).map(String::as_str).unwrap_or("");
        // The file is bytes, not checked on the way in as request strings
        // are: each column is named here, and the row is not read further.
        let unprintable: Vec<&str> = COLUMNS
            .into_iter()
            .filter(|column| holds_control(field(column)))
            .collect();
        if !unprintable.is_empty() {
            problems.extend(
                unprintable.into_iter().map(|column| {
                    FieldViolation::new(format!("{prefix}{column}"), CONTROL_CHARACTER)
                }),
            );
            continue;
        }
        let role = match field("role").to_ascii_lowercase().as_str() {
            "student" => Some(pb::Role::Student),
            "parent" => Some(pb::Role::Parent),
            "teacher" => Some(pb::Role::Teacher),
            "school_admin" => Some(pb::Role::SchoolAdmin),
            _ => {
                problems.push(FieldViolation::new(
                    format!("{prefix}role"),
                    "must be student, parent, teacher or school_admin",
                ));
                None
            }
        };
        let birth = field("birth_date");
        let birth_date = parse_birth_date(birth);
        let input = PersonInput {
            last_name: field("last_name"),
            first_name: field("first_name"),
            middle_name: field("middle_name"),
            birth_date,
            snils: field("snils"),
            email: field("email"),
            phone: field("phone"),
        };
        let parsed = NewPerson::parse(&input, &prefix, today());
        if birth_date.is_none() && !birth.is_empty() {
            problems.push(FieldViolation::new(
                format!("{prefix}birth_date"),
                "must be YYYY-MM-DD or DD.MM.YYYY",
            ));
        }
        let person = match parsed {
            Ok(person) => Some(person),
            Err(found) => {
                problems.extend(found.into_iter().filter(|p| {
                    !(birth_date.is_none() && !birth.is_empty() && p.field.ends_with("birth_date"))
                }));
                None
            }
        };
        let Some(person) = person else { continue };
        let Some(role) = role else { continue };

        if let Some(snils) = &person.snils {
            let hash = state.secrets.snils_hash(snils);
            if let Some(first) = seen.insert(hash.clone(), row.line) {
                problems.push(FieldViolation::new(
                    format!("{prefix}snils"),
                    format!("is the same as in row {first}"),
                ));
                continue;
            }
            if storage::people::find_by_snils_hash(transaction, &hash)
                .await?
                .is_some()
            {
                problems.push(FieldViolation::new(
                    format!("{prefix}snils"),
                    "belongs to a person already registered",
                ));
                continue;
            }
            if role == pb::Role::Student {
                students_in_file.insert(hash.clone(), row.line);
            }
        } else if role == pb::Role::Parent && !field("child_snils").is_empty() {
            problems.push(FieldViolation::new(
                format!("{prefix}snils"),
                "is required for a parent with children listed",
            ));
            continue;
        }

        let children_text = field("child_snils");
        if !children_text.is_empty() {
            if role != pb::Role::Parent {
                problems.push(FieldViolation::new(
                    format!("{prefix}child_snils"),
                    "is only for parents",
                ));
            } else {
                let mut children = Vec::new();
                for text in children_text
                    .split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                {
                    match Snils::parse(text) {
                        Ok(snils) => children.push(snils),
                        Err(error) => problems.push(FieldViolation::new(
                            format!("{prefix}child_snils"),
                            error.to_string(),
                        )),
                    }
                }
                if let Some(snils) = &person.snils {
                    pending_links.push((row.line, state.secrets.snils_hash(snils), children));
                }
            }
        }
        people.push(PlannedPerson { person, role });
    }

    let mut links = Vec::new();
    for (line, parent_hash, children) in pending_links {
        for snils in children {
            let hash = state.secrets.snils_hash(&snils);
            if students_in_file.contains_key(&hash) {
                links.push((parent_hash.clone(), ChildRef::InFile(hash)));
                continue;
            }
            // Only this school's own students: an import never reaches into
            // another school's people.
            match storage::people::find_by_snils_hash(transaction, &hash).await? {
                Some(existing)
                    if existing.org_unit_id == school
                        && storage::grants::has_role(transaction, existing.id, "student")
                            .await? =>
                {
                    match school_out_of_reach(transaction, caller, existing.id, school).await? {
                        None => {
                            links.push((parent_hash.clone(), ChildRef::Existing(existing.id)));
                        }
                        Some(elsewhere) => problems.push(FieldViolation::new(
                            format!("row {line}: child_snils"),
                            format!(
                                "{} also studies at {elsewhere}, where you do not manage \
                                 guardians: an admin over both schools links them",
                                snils.masked()
                            ),
                        )),
                    }
                }
                _ => problems.push(FieldViolation::new(
                    format!("row {line}: child_snils"),
                    format!(
                        "{} is not a student of this school, in this file or registered before",
                        snils.masked()
                    ),
                )),
            }
        }
    }

    if problems.is_empty() {
        Ok(Plan { people, links })
    } else {
        problems.sort_by_key(|problem| {
            problem
                .field
                .strip_prefix("row ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
        });
        let total = problems.len();
        problems.truncate(MAX_REPORTED);
        if total > MAX_REPORTED {
            problems.push(FieldViolation::new(
                "csv",
                format!("{} more problems not listed", total - MAX_REPORTED),
            ));
        }
        Err(IdentityError::Invalid(problems))
    }
}
