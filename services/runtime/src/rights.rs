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

/// Every right, with the roles that have it by default and whether schools
/// may change it by default.
pub const DEFAULTS: &[RightDefault] = &[
    RightDefault::new("org.create_municipality", &[Role::RegionAdmin], false),
    RightDefault::new(
        "org.create_school",
        &[Role::RegionAdmin, Role::MunicipalAdmin],
        false,
    ),
    RightDefault::new(
        "people.register",
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new("people.import", &[Role::SchoolAdmin], false),
    RightDefault::new(
        "people.read",
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
        "guardians.manage",
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(
        "roles.grant",
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(
        "accounts.manage",
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new(
        "rights.manage",
        &[Role::RegionAdmin, Role::SchoolAdmin],
        false,
    ),
    RightDefault::new("audit.read", &[Role::RegionAdmin], false),
    RightDefault::new("keys.rotate", &[Role::RegionAdmin], false),
    RightDefault::new("login_policy.manage", &[Role::RegionAdmin], false),
    // Read by the other services through the gateway's table and their own
    // checks; kept here so one matrix describes the whole system.
    RightDefault::new("journal.write", &[Role::Teacher, Role::ClassTeacher], false),
    RightDefault::new(
        "journal.read_class",
        &[Role::ClassTeacher, Role::SchoolAdmin],
        true,
    ),
    RightDefault::new("diary.read", &[Role::Student, Role::Parent], false),
    RightDefault::new("timetable.manage", &[Role::SchoolAdmin], false),
    RightDefault::new(
        "reports.school",
        &[Role::SchoolAdmin, Role::ClassTeacher],
        true,
    ),
    RightDefault::new(
        "reports.aggregate",
        &[Role::RegionAdmin, Role::MunicipalAdmin],
        false,
    ),
    RightDefault::new(
        "messages.send",
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
        "announcements.publish",
        &[Role::RegionAdmin, Role::MunicipalAdmin, Role::SchoolAdmin],
        true,
    ),
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
    pub name: &'static str,
    pub roles: &'static [Role],
    pub adjustable: bool,
}

impl RightDefault {
    const fn new(name: &'static str, roles: &'static [Role], adjustable: bool) -> Self {
        Self {
            name,
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

pub fn is_known(right: &str) -> bool {
    DEFAULTS.iter().any(|default| default.name == right)
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
                    (role, default.name),
                    Cell {
                        allowed: default.roles.contains(&role),
                        adjustable: default.adjustable,
                    },
                );
            }
        }
        for (role, name, cell) in region {
            if let Some(known) = DEFAULTS.iter().find(|default| default.name == name) {
                cells.insert((*role, known.name), *cell);
            }
        }
        // A school changes cells of its own roles only, never the rights of
        // the region's or municipality's admins.
        for (role, name, cell) in school
            .iter()
            .filter(|(role, _, _)| role_fits_unit(*role, "school"))
        {
            if let Some(known) = DEFAULTS.iter().find(|default| default.name == name)
                && let Some(current) = cells.get_mut(&(*role, known.name))
                && current.adjustable
            {
                current.allowed = cell.allowed;
            }
        }
        Self(cells)
    }

    pub fn allows(&self, role: Role, right: &str) -> bool {
        self.0
            .iter()
            .any(|((cell_role, name), cell)| *cell_role == role && *name == right && cell.allowed)
    }

    pub fn cell(&self, role: Role, right: &str) -> Option<Cell> {
        self.0
            .iter()
            .find(|((cell_role, name), _)| *cell_role == role && *name == right)
            .map(|(_, cell)| *cell)
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
}
