-- Who holds a role at a unit (a school's administration, its staff, its
-- students) and a student's guardians: lookups by the other end of the
-- grant and of the link, for every service that asks them.
CREATE INDEX IF NOT EXISTS known_grants_unit_role ON known_grants (org_unit_id, role);
CREATE INDEX IF NOT EXISTS guardians_student ON guardians (student_id);
