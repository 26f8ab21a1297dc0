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

/// Regions' login policies, each read once: a person's grants are nearly
/// always in one region.
#[derive(Default)]
struct Policies(Vec<(Uuid, PolicyRow)>);

impl Policies {
    async fn of(
        &mut self,
        connection: &mut PgConnection,
        region: Uuid,
    ) -> Result<PolicyRow, IdentityError> {
        if let Some((_, policy)) = self.0.iter().find(|(id, _)| *id == region) {
            return Ok(policy.clone());
        }
        let policy = storage::policy::of_region(connection, region).await?;
        self.0.push((region, policy.clone()));
        Ok(policy)
    }
}

/// Who a policy in force keeps to ESIA for a role it refuses.
fn who(role: &str) -> &'static str {
    if role == "student" {
        "students"
    } else {
        "parents"
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
    let mut policies = Policies::default();
    let mut allowed = Vec::with_capacity(grants.len());
    let mut refused: Option<(Date, &'static str)> = None;
    let requested = Uuid::parse_str(requested).ok();
    for grant in grants {
        let policy = policies.of(connection, grant.region_id).await?;
        if local_password_allowed(&policy, &grant.role, today) {
            allowed.push(grant);
        } else {
            if requested == Some(grant.id) || refused.is_none() {
                refused = policy
                    .esia_required_from
                    .map(|from| (from, who(&grant.role)));
            }
            if requested == Some(grant.id) {
                allowed.clear();
                break;
            }
        }
    }
    match refused {
        Some((from, who)) if allowed.is_empty() => Err(IdentityError::denied(format!(
            "since {} {who} of this region log in only through Gosuslugi (ESIA) \
                 with a confirmed account: choose \"log in through Gosuslugi\"; an app that cannot \
                 do that takes an app password, which you create after logging in through Gosuslugi",
            day(from)
        ))),
        _ => Ok(allowed),
    }
}

/// Refuses (FAILED_PRECONDITION, naming `field`) when a local password
/// could act in none of these grants today because their regions keep
/// every one of them to ESIA: a password an admin made for such a person
/// would be a credential for a role the region wants only ESIA to open.
/// A person with no grants, or with one a password may act in (a teacher
/// who is also a parent), passes: the login itself keeps the ESIA-only
/// roles out of a password session.
pub async fn ensure_local_password_useful(
    connection: &mut PgConnection,
    grants: &[GrantRow],
    field: &str,
) -> Result<(), IdentityError> {
    let today = OffsetDateTime::now_utc().date();
    let mut policies = Policies::default();
    let mut refused: Option<(Date, &'static str)> = None;
    for grant in grants {
        let policy = policies.of(connection, grant.region_id).await?;
        if local_password_allowed(&policy, &grant.role, today) {
            return Ok(());
        }
        if refused.is_none() {
            refused = policy
                .esia_required_from
                .map(|from| (from, who(&grant.role)));
        }
    }
    match refused {
        Some((from, who)) => Err(IdentityError::FailedPrecondition(format!(
            "{field}: since {} {who} of this region log in only through Gosuslugi (ESIA), \
             and this person has no other role a local password could act in: they log in \
             through Gosuslugi with a confirmed account, and no local password is made or reset \
             for them",
            day(from)
        ))),
        None => Ok(()),
    }
}

fn day(date: Date) -> String {
    format!(
        "{:02}.{:02}.{}",
        date.day(),
        u8::from(date.month()),
        date.year()
    )
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
