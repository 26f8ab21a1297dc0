-- The roster: what a service knows of the gradebook's classes (classes and
-- their class teachers, enrolments with their days, the teaching load,
-- subgroup members), kept from the gradebook's events.
--
-- IF NOT EXISTS with attendance's definitions: attendance created these
-- tables in its own migrations before they moved here, and its databases
-- keep them.

CREATE TABLE IF NOT EXISTS classes (
    id               uuid PRIMARY KEY,
    school_id        uuid NOT NULL,
    school_year_id   uuid NOT NULL,
    name             text NOT NULL,
    class_teacher_id uuid
);

CREATE INDEX IF NOT EXISTS roster_classes_school ON classes (school_id);
CREATE INDEX IF NOT EXISTS roster_classes_teacher ON classes (class_teacher_id);

CREATE TABLE IF NOT EXISTS enrolments (
    id         uuid PRIMARY KEY,
    class_id   uuid NOT NULL,
    student_id uuid NOT NULL,
    start_date date NOT NULL,
    -- The last day in the class; NULL while enrolled.
    end_date   date
);

CREATE INDEX IF NOT EXISTS enrolments_class ON enrolments (class_id);
CREATE INDEX IF NOT EXISTS enrolments_student ON enrolments (student_id);

-- Enrolments in force today, from the day before the first day to the day
-- after the last, so "today" holds in every time zone of a country (a
-- student moving classes is in both for that day). One definition for
-- every query that asks who is in a class now.
CREATE OR REPLACE VIEW current_enrolments AS
SELECT * FROM enrolments
WHERE start_date <= current_date + 1 AND (end_date IS NULL OR end_date >= current_date - 1);

CREATE TABLE IF NOT EXISTS subgroup_members (
    subgroup_id uuid NOT NULL,
    class_id    uuid NOT NULL,
    student_id  uuid NOT NULL,
    PRIMARY KEY (subgroup_id, student_id)
);

CREATE TABLE IF NOT EXISTS loads (
    id          uuid PRIMARY KEY,
    class_id    uuid NOT NULL,
    subgroup_id uuid,
    subject_id  uuid NOT NULL,
    teacher_id  uuid NOT NULL
);

CREATE INDEX IF NOT EXISTS loads_class ON loads (class_id);
CREATE INDEX IF NOT EXISTS loads_teacher ON loads (teacher_id);
