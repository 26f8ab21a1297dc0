//! The rights matrix: which role may do what, kept as data.
//!
//! One matrix describes the whole system. Identity stores the cells and
//! publishes each change (`RightChanged`); every other service keeps the
//! cells as a projection and evaluates them here, so a region's decision
//! reaches every service without a call on the hot path.
//!
//! The defaults below are the starting point of every region. A region admin
//! may change any cell for the region and say whether schools may change it
//! (`adjustable`); a school admin may change adjustable cells for the school.
//! Scope is a separate check: a right is exercised only inside the org unit
//! of the grant that carries it.

use std::collections::BTreeMap;

use asurso_proto::identity::Role;

/// A right of the matrix, by its name in cells, events and tokens
/// (`journal.write`). Only the constants of [`right`] exist: a service
/// names a right it checks by one of them, never by a string of its own,
/// so a misspelt right fails to compile instead of being refused forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Right(&'static str);

impl Right {
    pub const fn name(self) -> &'static str {
        self.0
    }

    /// The right of this name, if the matrix has one.
    pub fn parse(name: &str) -> Option<Self> {
        DEFAULTS
            .iter()
            .map(|default| default.right)
            .find(|right| right.0 == name)
    }
}

impl AsRef<str> for Right {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl std::fmt::Display for Right {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.0)
    }
}

/// Every right there is; [`DEFAULTS`] gives each its default cells.
pub mod right {
    use super::Right;

    pub const ORG_CREATE_MUNICIPALITY: Right = Right("org.create_municipality");
    pub const ORG_CREATE_SCHOOL: Right = Right("org.create_school");
    pub const ORG_EDIT_SCHOOL_CARD: Right = Right("org.edit_school_card");
    pub const PEOPLE_REGISTER: Right = Right("people.register");
    pub const PEOPLE_IMPORT: Right = Right("people.import");
    pub const PEOPLE_READ: Right = Right("people.read");
    pub const GUARDIANS_MANAGE: Right = Right("guardians.manage");
    pub const ROLES_GRANT: Right = Right("roles.grant");
    pub const ACCOUNTS_MANAGE: Right = Right("accounts.manage");
    pub const RIGHTS_MANAGE: Right = Right("rights.manage");
    pub const AUDIT_READ: Right = Right("audit.read");
    pub const KEYS_ROTATE: Right = Right("keys.rotate");
    pub const LOGIN_POLICY_MANAGE: Right = Right("login_policy.manage");
    pub const JOURNAL_WRITE: Right = Right("journal.write");
    pub const JOURNAL_READ_CLASS: Right = Right("journal.read_class");
    pub const DIARY_READ: Right = Right("diary.read");
    pub const TIMETABLE_MANAGE: Right = Right("timetable.manage");
    pub const REPORTS_SCHOOL: Right = Right("reports.school");
    pub const REPORTS_AGGREGATE: Right = Right("reports.aggregate");
    pub const ATTENDANCE_TAKE: Right = Right("attendance.take");
    pub const ATTENDANCE_CORRECT: Right = Right("attendance.correct");
    pub const ATTENDANCE_READ_CLASS: Right = Right("attendance.read_class");
    pub const ATTENDANCE_RULES: Right = Right("attendance.rules");
    pub const MESSAGES_SEND: Right = Right("messages.send");
    pub const ANNOUNCEMENTS_PUBLISH: Right = Right("announcements.publish");
    pub const MESSAGES_RULES: Right = Right("messages.rules");
    pub const NOTIFICATIONS_ADMIN: Right = Right("notifications.admin");
}

/// Every right, with the roles that have it by default and whether schools
/// may change it by default.
pub const DEFAULTS: &[RightDefault] = &[
    RightDefault::new(right::ORG_CREATE_MUNICIPALITY, &[Role::RegionAdmin], false),
    RightDefault::new(
        right::ORG_CREATE_SCHOOL,
        &[Role::RegionAdmin, Role::MunicipalAdmin],
        false,
    ),
    // What a school publishes about itself (address, contacts, director).
    RightDefault::new(
        right::ORG_EDIT_SCHOOL_CARD,
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(
        right::PEOPLE_REGISTER,
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(right::PEOPLE_IMPORT, &[Role::SchoolAdmin], false),
    RightDefault::new(
        right::PEOPLE_READ,
        &[
            Role::RegionAdmin,
            Role::MunicipalAdmin,
            Role::SchoolAdmin,
            Role::Teacher,
            Role::ClassTeacher,
        ],
        true,
    ),
    // Municipal and regional admins too: a child who studies in two schools
    // has guardians only someone over both may link (identity asks for the
    // right wherever the child's access reaches).
    RightDefault::new(
        right::GUARDIANS_MANAGE,
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(
        right::ROLES_GRANT,
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(
        right::ACCOUNTS_MANAGE,
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(
        right::RIGHTS_MANAGE,
        &[Role::RegionAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(right::AUDIT_READ, &[Role::RegionAdmin], false),
    RightDefault::new(right::KEYS_ROTATE, &[Role::RegionAdmin], false),
    RightDefault::new(right::LOGIN_POLICY_MANAGE, &[Role::RegionAdmin], false),
    // Read by the other services through the gateway's table and their own
    // checks; kept here so one matrix describes the whole system.
    RightDefault::new(
        right::JOURNAL_WRITE,
        &[Role::Teacher, Role::ClassTeacher],
        false,
    ),
    RightDefault::new(
        right::JOURNAL_READ_CLASS,
        &[Role::ClassTeacher, Role::SchoolAdmin],
        true,
    ),
    RightDefault::new(right::DIARY_READ, &[Role::Student, Role::Parent], false),
    RightDefault::new(right::TIMETABLE_MANAGE, &[Role::SchoolAdmin], false),
    RightDefault::new(
        right::REPORTS_SCHOOL,
        &[Role::SchoolAdmin, Role::ClassTeacher],
        true,
    ),
    RightDefault::new(
        right::REPORTS_AGGREGATE,
        &[Role::RegionAdmin, Role::MunicipalAdmin],
        false,
    ),
    // The teacher of a lesson takes it (and corrects it for the days the
    // region allows); the class teacher and the administration correct it
    // later, with a reason.
    RightDefault::new(
        right::ATTENDANCE_TAKE,
        &[Role::Teacher, Role::ClassTeacher],
        false,
    ),
    RightDefault::new(
        right::ATTENDANCE_CORRECT,
        &[Role::ClassTeacher, Role::SchoolAdmin],
        true,
    ),
    // A region's own absence codes and correction days.
    RightDefault::new(right::ATTENDANCE_RULES, &[Role::RegionAdmin], false),
    // A class's month sheet: its teachers (of the classes they teach),
    // its class teacher, the administration.
    RightDefault::new(
        right::ATTENDANCE_READ_CLASS,
        &[Role::Teacher, Role::ClassTeacher, Role::SchoolAdmin],
        true,
    ),
    RightDefault::new(
        right::MESSAGES_SEND,
        &[
            Role::SchoolAdmin,
            Role::Teacher,
            Role::ClassTeacher,
            Role::Student,
            Role::Parent,
        ],
        true,
    ),
    RightDefault::new(
        right::ANNOUNCEMENTS_PUBLISH,
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        true,
    ),
    // Who may write to whom, how long deleted mail is kept, senders'
    // hourly limits: the region's administration.
    RightDefault::new(right::MESSAGES_RULES, &[Role::RegionAdmin], false),
    // Failed deliveries and what e-mails and pushes may say: the region's
    // administration.
    RightDefault::new(right::NOTIFICATIONS_ADMIN, &[Role::RegionAdmin], false),
];

/// Every role, in matrix order.
pub const ROLES: [Role; 7] = [
    Role::RegionAdmin,
    Role::MunicipalAdmin,
    Role::SchoolAdmin,
    Role::Teacher,
    Role::ClassTeacher,
    Role::Student,
    Role::Parent,
];

#[derive(Debug, Clone, Copy)]
pub struct RightDefault {
    pub right: Right,
    pub roles: &'static [Role],
    pub adjustable: bool,
}

impl RightDefault {
    const fn new(right: Right, roles: &'static [Role], adjustable: bool) -> Self {
        Self {
            right,
            roles,
            adjustable,
        }
    }
}

/// Whether people hold `role` at a unit of `kind` ("school",
/// "municipality", "region"): the roles a unit registers and grants.
pub fn role_fits_unit(role: Role, kind: &str) -> bool {
    matches!(
        (kind, role),
        (
            "school",
            Role::Student | Role::Parent | Role::Teacher | Role::ClassTeacher | Role::SchoolAdmin
        ) | ("municipality", Role::MunicipalAdmin)
            | ("region", Role::RegionAdmin)
    )
}

/// One cell as stored for an org unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub allowed: bool,
    pub adjustable: bool,
}

/// Cells as stored (role name, right, allowed, adjustable); rows naming a
/// role that does not exist are skipped.
pub fn cells_from_rows(rows: Vec<(String, String, bool, bool)>) -> Vec<(Role, String, Cell)> {
    rows.into_iter()
        .filter_map(|(role, name, allowed, adjustable)| {
            Some((
                crate::auth::parse_role(&role)?,
                name,
                Cell {
                    allowed,
                    adjustable,
                },
            ))
        })
        .collect()
}

/// The effective matrix at a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix(BTreeMap<(Role, &'static str), Cell>);

impl Matrix {
    /// Defaults, then the region's cells, then the school's adjustable ones.
    pub fn effective(region: &[(Role, String, Cell)], school: &[(Role, String, Cell)]) -> Self {
        let mut cells = BTreeMap::new();
        for default in DEFAULTS {
            for role in ROLES {
                cells.insert(
                    (role, default.right.name()),
                    Cell {
                        allowed: default.roles.contains(&role),
                        adjustable: default.adjustable,
                    },
                );
            }
        }
        for (role, name, cell) in region {
            if let Some(known) = Right::parse(name) {
                cells.insert((*role, known.name()), *cell);
            }
        }
        // A school changes cells of its own roles only, never the rights of
        // the region's or municipality's admins.
        for (role, name, cell) in school
            .iter()
            .filter(|(role, _, _)| role_fits_unit(*role, "school"))
        {
            if let Some(known) = Right::parse(name)
                && let Some(current) = cells.get_mut(&(*role, known.name()))
                && current.adjustable
            {
                current.allowed = cell.allowed;
            }
        }
        Self(cells)
    }

    /// Whether the matrix gives `role` the right: a [`Right`] in services'
    /// checks, a name where it comes as data (a request to change a cell).
    pub fn allows(&self, role: Role, right: impl AsRef<str>) -> bool {
        self.cell(role, right).is_some_and(|cell| cell.allowed)
    }

    pub fn cell(&self, role: Role, right: impl AsRef<str>) -> Option<Cell> {
        // A lookup, not a scan: every access check of every call asks.
        self.0.get(&(role, right.as_ref())).copied()
    }

    pub fn cells(&self) -> impl Iterator<Item = (Role, &'static str, Cell)> + '_ {
        self.0
            .iter()
            .map(|((role, name), cell)| (*role, *name, *cell))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_each_role_its_everyday_rights() {
        let matrix = Matrix::effective(&[], &[]);
        assert!(matrix.allows(Role::SchoolAdmin, "people.register"));
        assert!(matrix.allows(Role::Teacher, "journal.write"));
        assert!(matrix.allows(Role::Parent, "diary.read"));
        assert!(!matrix.allows(Role::Parent, "people.register"));
        assert!(!matrix.allows(Role::Teacher, "audit.read"));
        assert!(!matrix.allows(Role::Teacher, "no.such.right"));
    }

    #[test]
    fn a_school_changes_only_what_the_region_lets_it() {
        let off = Cell {
            allowed: false,
            adjustable: false,
        };
        let on = Cell {
            allowed: true,
            adjustable: false,
        };
        // people.read is adjustable by default: a school may narrow it.
        let narrowed = Matrix::effective(&[], &[(Role::Teacher, "people.read".into(), off)]);
        assert!(!narrowed.allows(Role::Teacher, "people.read"));
        // roles.grant is not: a school cannot widen it.
        let widened = Matrix::effective(&[], &[(Role::Teacher, "roles.grant".into(), on)]);
        assert!(!widened.allows(Role::Teacher, "roles.grant"));
        // Nor may it switch off a right of the region's admins.
        let overreach = Matrix::effective(&[], &[(Role::RegionAdmin, "people.read".into(), off)]);
        assert!(overreach.allows(Role::RegionAdmin, "people.read"));
        // A region can lock people.read on, and then schools cannot narrow it.
        let locked = Matrix::effective(
            &[(
                Role::Teacher,
                "people.read".into(),
                Cell {
                    allowed: true,
                    adjustable: false,
                },
            )],
            &[(Role::Teacher, "people.read".into(), off)],
        );
        assert!(locked.allows(Role::Teacher, "people.read"));
    }

    #[test]
    fn each_right_has_one_default_and_is_found_by_its_name() {
        for (index, default) in DEFAULTS.iter().enumerate() {
            let name = default.right.name();
            assert_eq!(Right::parse(name), Some(default.right), "{name}");
            assert!(
                DEFAULTS[..index]
                    .iter()
                    .all(|earlier| earlier.right != default.right),
                "{name} has two defaults"
            );
        }
        assert_eq!(Right::parse("no.such.right"), None);
        let matrix = Matrix::effective(&[], &[]);
        assert!(matrix.allows(Role::Teacher, right::JOURNAL_WRITE));
        assert!(!matrix.allows(Role::Parent, right::JOURNAL_WRITE));
    }
}
