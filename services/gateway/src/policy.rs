//! Who may call what at all: one table, by method and role.
//!
//! The table is coarse on purpose. It says which kinds of role a method is
//! for (a parent never keeps the journal, nobody but a region admin rotates
//! keys) and which methods are the way in (logins, stricter limits). The
//! rights matrix a region adjusts, and the scope of each grant (this school,
//! this child), are checked by the owning service on every call; nothing
//! here widens them. A method missing from the table is refused, and a test
//! holds the table to the contracts: every method of the public API has
//! exactly one row, and every row names a method or service that exists.

use std::collections::HashMap;

use asurso_proto::identity::Role;

/// How a method may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A way in: no token, limited per client address, strictly.
    Login,
    /// No token needed (refreshing one, fetching the public keys).
    Public,
    /// With a token whose role is one of these.
    Roles(&'static [Role]),
}

/// One row: a method (`pkg.Service/Method`) or a whole service
/// (`pkg.Service/*`), its access and whether it carries files.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub pattern: &'static str,
    pub access: Access,
    /// Takes the larger upload limit (attachments).
    pub upload: bool,
}

const fn rule(pattern: &'static str, access: Access) -> Rule {
    Rule {
        pattern,
        access,
        upload: false,
    }
}

const fn upload(pattern: &'static str, access: Access) -> Rule {
    Rule {
        pattern,
        access,
        upload: true,
    }
}

use Role::{ClassTeacher, MunicipalAdmin, Parent, RegionAdmin, SchoolAdmin, Student, Teacher};

const ANYONE: Access = Access::Roles(&[
    RegionAdmin,
    MunicipalAdmin,
    SchoolAdmin,
    Teacher,
    ClassTeacher,
    Student,
    Parent,
]);
/// Staff of any level: they read journals and reports within their scope.
const STAFF: Access = Access::Roles(&[
    RegionAdmin,
    MunicipalAdmin,
    SchoolAdmin,
    Teacher,
    ClassTeacher,
]);
/// Those who keep a school's journal (the matrix says who exactly).
const SCHOOL_STAFF: Access = Access::Roles(&[SchoolAdmin, Teacher, ClassTeacher]);
/// Those who run the org tree, people and rights.
const ADMINS: Access = Access::Roles(&[RegionAdmin, MunicipalAdmin, SchoolAdmin]);
const REGION: Access = Access::Roles(&[RegionAdmin]);
const ABOVE_SCHOOLS: Access = Access::Roles(&[RegionAdmin, MunicipalAdmin]);
/// App passwords are for the families' apps only.
const FAMILY: Access = Access::Roles(&[Student, Parent]);

/// The table. Exact rows win over service rows.
pub const RULES: &[Rule] = &[
    // identity: the ways in.
    rule("asurso.identity.v1.AuthService/Login", Access::Login),
    // A temporary password is replaced before the first login.
    rule(
        "asurso.identity.v1.AuthService/ChangePassword",
        Access::Login,
    ),
    rule(
        "asurso.identity.v1.FederationService/StartLogin",
        Access::Login,
    ),
    rule(
        "asurso.identity.v1.FederationService/CompleteLogin",
        Access::Login,
    ),
    rule(
        "asurso.identity.v1.AppPasswordService/BeginAppPasswordLogin",
        Access::Login,
    ),
    rule(
        "asurso.identity.v1.AppPasswordService/AppPasswordLogin",
        Access::Login,
    ),
    rule("asurso.identity.v1.AuthService/Refresh", Access::Public),
    rule("asurso.identity.v1.AuthService/GetJwks", Access::Public),
    // identity: sessions, people, org tree, rights.
    rule("asurso.identity.v1.AuthService/Logout", ANYONE),
    rule("asurso.identity.v1.AuthService/LogoutEverywhere", ANYONE),
    rule("asurso.identity.v1.AuthService/CheckSession", ANYONE),
    rule("asurso.identity.v1.AuthService/CreateLocalAccount", ADMINS),
    rule("asurso.identity.v1.AuthService/RotateSigningKey", REGION),
    rule("asurso.identity.v1.OrgService/CreateMunicipality", REGION),
    rule("asurso.identity.v1.OrgService/CreateSchool", ABOVE_SCHOOLS),
    rule("asurso.identity.v1.OrgService/GetOrgUnit", ANYONE),
    rule("asurso.identity.v1.OrgService/ListOrgUnits", ANYONE),
    // What a school publishes about itself: read before logging in.
    rule(
        "asurso.identity.v1.OrgService/SearchSchools",
        Access::Public,
    ),
    rule(
        "asurso.identity.v1.OrgService/GetSchoolCard",
        Access::Public,
    ),
    rule("asurso.identity.v1.OrgService/SetSchoolCard", ADMINS),
    rule("asurso.identity.v1.PeopleService/*", ADMINS),
    rule("asurso.identity.v1.PeopleService/GetPerson", ANYONE),
    rule("asurso.identity.v1.PeopleService/ListChildren", ANYONE),
    rule("asurso.identity.v1.AccessService/*", ADMINS),
    rule("asurso.identity.v1.AccessService/ListGrants", ANYONE),
    rule("asurso.identity.v1.AccessService/GetRightsMatrix", STAFF),
    rule("asurso.identity.v1.AuditService/ListAuditRecords", ADMINS),
    rule("asurso.identity.v1.AuditService/ListViewsOfStudent", ANYONE),
    rule("asurso.identity.v1.FederationService/UnlinkAccount", ANYONE),
    rule("asurso.identity.v1.FederationService/GetLink", ANYONE),
    rule(
        "asurso.identity.v1.FederationService/GetLoginPolicy",
        ANYONE,
    ),
    rule(
        "asurso.identity.v1.FederationService/SetLoginPolicy",
        REGION,
    ),
    rule(
        "asurso.identity.v1.AppPasswordService/CreateAppPassword",
        FAMILY,
    ),
    rule(
        "asurso.identity.v1.AppPasswordService/ListAppPasswords",
        FAMILY,
    ),
    rule(
        "asurso.identity.v1.AppPasswordService/RevokeAppPassword",
        FAMILY,
    ),
    // gradebook: what a school sets up.
    rule("asurso.gradebook.v1.CalendarService/*", ADMINS),
    rule("asurso.gradebook.v1.CalendarService/GetSchoolYear", ANYONE),
    rule(
        "asurso.gradebook.v1.CalendarService/ListSchoolYears",
        ANYONE,
    ),
    rule("asurso.gradebook.v1.ClassService/*", ADMINS),
    rule("asurso.gradebook.v1.ClassService/ListClasses", STAFF),
    rule("asurso.gradebook.v1.ClassService/ListEnrolments", STAFF),
    rule("asurso.gradebook.v1.CurriculumService/*", ADMINS),
    rule("asurso.gradebook.v1.CurriculumService/ListSubjects", ANYONE),
    rule("asurso.gradebook.v1.CurriculumService/ListLoad", STAFF),
    rule("asurso.gradebook.v1.TimetableService/*", ADMINS),
    rule(
        "asurso.gradebook.v1.TimetableService/ChangeLesson",
        SCHOOL_STAFF,
    ),
    rule(
        "asurso.gradebook.v1.TimetableService/GetBellSchedule",
        ANYONE,
    ),
    rule(
        "asurso.gradebook.v1.TimetableService/GetClassTimetable",
        ANYONE,
    ),
    rule("asurso.gradebook.v1.TimetableService/GetTimetable", ANYONE),
    // gradebook: the journal teachers keep.
    rule("asurso.gradebook.v1.JournalService/*", SCHOOL_STAFF),
    upload(
        "asurso.gradebook.v1.JournalService/AddAttachment",
        SCHOOL_STAFF,
    ),
    rule(
        "asurso.gradebook.v1.JournalService/ListAssignmentTypes",
        ANYONE,
    ),
    rule("asurso.gradebook.v1.JournalService/ListAssignments", ANYONE),
    rule("asurso.gradebook.v1.JournalService/GetAttachment", ANYONE),
    rule("asurso.gradebook.v1.JournalService/GetMarkHistory", ANYONE),
    rule("asurso.gradebook.v1.JournalService/GetTermMarkSheet", STAFF),
    // gradebook: what families read (and staff who work with the student).
    rule("asurso.gradebook.v1.DiaryService/*", ANYONE),
    rule("asurso.gradebook.v1.ReportService/*", STAFF),
    rule("asurso.gradebook.v1.ReportService/GetStudentReport", ANYONE),
    rule(
        "asurso.gradebook.v1.ReportService/GetAggregateSummary",
        ABOVE_SCHOOLS,
    ),
    // attendance: the dictionary of absence codes names no one; lessons
    // are kept by the school's staff; a student's attendance is read by
    // the family and the staff who work with them.
    rule("asurso.attendance.v1.AbsenceCodeService/*", REGION),
    rule(
        "asurso.attendance.v1.AbsenceCodeService/ListAbsenceCodes",
        ANYONE,
    ),
    rule(
        "asurso.attendance.v1.AbsenceCodeService/GetAttendanceRules",
        ANYONE,
    ),
    rule("asurso.attendance.v1.AttendanceService/*", SCHOOL_STAFF),
    rule(
        "asurso.attendance.v1.AttendanceService/GetStudentAttendance",
        ANYONE,
    ),
    rule(
        "asurso.attendance.v1.AttendanceService/GetAttendanceSummary",
        STAFF,
    ),
    // attendance: a guardian's note (with its scan) and its decision.
    rule("asurso.attendance.v1.AbsenceNoteService/*", ANYONE),
    upload("asurso.attendance.v1.AbsenceNoteService/SubmitNote", FAMILY),
    rule(
        "asurso.attendance.v1.AbsenceNoteService/DecideNote",
        SCHOOL_STAFF,
    ),
    // messaging: mail is everyone's (the region's rules say who writes to
    // whom); letters and announcements carry files.
    rule("asurso.messaging.v1.MailService/*", ANYONE),
    upload("asurso.messaging.v1.MailService/SendMessage", ANYONE),
    upload("asurso.messaging.v1.MailService/SaveDraft", ANYONE),
    rule("asurso.messaging.v1.MailRulesService/GetMailRules", ANYONE),
    rule("asurso.messaging.v1.MailRulesService/SetMailRules", REGION),
    rule("asurso.messaging.v1.AnnouncementService/*", ANYONE),
    upload(
        "asurso.messaging.v1.AnnouncementService/PublishAnnouncement",
        STAFF,
    ),
    rule(
        "asurso.messaging.v1.AnnouncementService/WithdrawAnnouncement",
        STAFF,
    ),
    // notifications: each person's own feed and preferences; failed
    // deliveries and what mail may say, for the region's operators.
    rule("asurso.notifications.v1.FeedService/*", ANYONE),
    rule("asurso.notifications.v1.PreferencesService/*", ANYONE),
    rule("asurso.notifications.v1.DeliveryAdminService/*", REGION),
];

/// The table, indexed.
#[derive(Debug)]
pub struct Policy {
    exact: HashMap<&'static str, Rule>,
    services: HashMap<&'static str, Rule>,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

impl Policy {
    pub fn new() -> Self {
        let mut exact = HashMap::new();
        let mut services = HashMap::new();
        for rule in RULES {
            match rule.pattern.strip_suffix("/*") {
                Some(service) => services.insert(service, *rule),
                None => exact.insert(rule.pattern, *rule),
            };
        }
        Self { exact, services }
    }

    /// The row for `service/method`; none means the call is refused.
    pub fn rule(&self, service: &str, method: &str) -> Option<Rule> {
        self.exact
            .get(format!("{service}/{method}").as_str())
            .or_else(|| self.services.get(service))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::routing::public_services;

    #[test]
    fn every_public_method_has_a_row_and_every_row_a_method() {
        let policy = Policy::new();
        let mut methods = HashSet::new();
        let mut services = HashSet::new();
        for method in public_services().values().flatten() {
            let (service, name) = method.split_once('/').unwrap_or_default();
            assert!(
                policy.rule(service, name).is_some(),
                "{method} has no row in the access table: decide who may call it"
            );
            methods.insert(method.as_str());
            services.insert(service);
        }
        let mut seen = HashSet::new();
        for rule in RULES {
            assert!(
                seen.insert(rule.pattern),
                "{} is listed twice",
                rule.pattern
            );
            let known = match rule.pattern.strip_suffix("/*") {
                Some(service) => services.contains(service),
                None => methods.contains(rule.pattern),
            };
            assert!(known, "{} names no method of the public API", rule.pattern);
        }
    }

    #[test]
    fn exact_rows_win_over_service_rows() {
        let policy = Policy::new();
        let diary = policy.rule("asurso.gradebook.v1.JournalService", "SetMarks");
        assert_eq!(diary.map(|r| r.access), Some(SCHOOL_STAFF));
        let types = policy.rule("asurso.gradebook.v1.JournalService", "ListAssignmentTypes");
        assert_eq!(types.map(|r| r.access), Some(ANYONE));
        assert!(
            policy
                .rule("asurso.gradebook.v1.JournalService", "AddAttachment")
                .is_some_and(|r| r.upload)
        );
        assert!(
            policy
                .rule("asurso.gradebook.v1.NoSuchService", "Anything")
                .is_none()
        );
    }

    #[test]
    fn only_the_ways_in_go_without_a_token() {
        let open: Vec<&str> = RULES
            .iter()
            .filter(|rule| !matches!(rule.access, Access::Roles(_)))
            .map(|rule| rule.pattern)
            .collect();
        for pattern in &open {
            assert!(
                pattern.starts_with("asurso.identity.v1."),
                "{pattern} goes without a token"
            );
        }
        assert_eq!(open.len(), 10, "{open:?}");
    }
}
