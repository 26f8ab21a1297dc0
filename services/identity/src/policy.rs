//! The regional login policy: from a date a region sets, parents (and, if
//! the region says so, students) log in only through ESIA with a confirmed
//! account. Staff keep their local logins; a person who is both (a teacher
//! and a parent) may use a local password for the staff role only.

use sqlx::PgConnection;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{
    domain::IdentityError,
    storage::{self, grants::GrantRow, policy::PolicyRow},
};

/// Whether a role may act in a session begun with a local password.
pub fn local_password_allowed(policy: &PolicyRow, role: &str, today: Date) -> bool {
    match policy.esia_required_from {
        Some(from) if today >= from => match role {
            "parent" => false,
            "student" => !policy.students_too,
            _ => true,
        },
        _ => true,
    }
}

/// The grants a local password may act in. When it may act in none (or the
/// role asked for is not one of them), the refusal says why and what to do.
pub async fn with_local_password(
    connection: &mut PgConnection,
    grants: Vec<GrantRow>,
    requested: &str,
) -> Result<Vec<GrantRow>, IdentityError> {
    let today = OffsetDateTime::now_utc().date();
    let mut policies: Vec<(Uuid, PolicyRow)> = Vec::new();
    let mut allowed = Vec::with_capacity(grants.len());
    let mut refused: Option<(Date, &'static str)> = None;
    let requested = Uuid::parse_str(requested).ok();
    for grant in grants {
        // A login's grants are nearly always in one region: one read.
        let policy = match policies.iter().find(|(id, _)| *id == grant.region_id) {
            Some((_, policy)) => policy.clone(),
            None => {
                let policy = storage::policy::of_region(connection, grant.region_id).await?;
                policies.push((grant.region_id, policy.clone()));
                policy
            }
        };
        if local_password_allowed(&policy, &grant.role, today) {
            allowed.push(grant);
        } else {
            if requested == Some(grant.id) || refused.is_none() {
                let who = if grant.role == "student" {
                    "students"
                } else {
                    "parents"
                };
                refused = policy.esia_required_from.map(|from| (from, who));
            }
            if requested == Some(grant.id) {
                allowed.clear();
                break;
            }
        }
    }
    match refused {
        Some((from, who)) if allowed.is_empty() => Err(IdentityError::denied(format!(
            "since {:02}.{:02}.{} {who} of this region log in only through Gosuslugi (ESIA) \
                 with a confirmed account: choose \"log in through Gosuslugi\"; an app that cannot \
                 do that takes an app password, which you create after logging in through Gosuslugi",
            from.day(),
            u8::from(from.month()),
            from.year()
        ))),
        _ => Ok(allowed),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn parents_lose_the_local_password_on_the_date_and_staff_keep_it() {
        let policy = PolicyRow {
            esia_required_from: Some(date!(2017 - 05 - 01)),
            students_too: false,
        };
        assert!(local_password_allowed(
            &policy,
            "parent",
            date!(2017 - 04 - 30)
        ));
        assert!(!local_password_allowed(
            &policy,
            "parent",
            date!(2017 - 05 - 01)
        ));
        assert!(local_password_allowed(
            &policy,
            "student",
            date!(2017 - 05 - 01)
        ));
        assert!(local_password_allowed(
            &policy,
            "teacher",
            date!(2030 - 01 - 01)
        ));
        let students = PolicyRow {
            students_too: true,
            ..policy
        };
        assert!(!local_password_allowed(
            &students,
            "student",
            date!(2017 - 05 - 01)
        ));
        assert!(local_password_allowed(
            &PolicyRow::default(),
            "parent",
            date!(2030 - 01 - 01)
        ));
    }
}
