-- What attendance knows of the gradebook, from its events (written only by
-- the gradebook consumer).
CREATE TABLE classes (
    id               uuid PRIMARY KEY,
    school_id        uuid NOT NULL,
    school_year_id   uuid NOT NULL,
    name             text NOT NULL,
    class_teacher_id uuid
);

CREATE TABLE subjects (
    id         uuid PRIMARY KEY,
    school_id  uuid NOT NULL,
    name       text NOT NULL,
    short_name text NOT NULL
);

CREATE TABLE lessons (
    id          uuid PRIMARY KEY,
    school_id   uuid NOT NULL,
    class_id    uuid NOT NULL,
    subgroup_id uuid,
    subject_id  uuid NOT NULL,
    teacher_id  uuid NOT NULL,
    date        date NOT NULL,
    period      integer NOT NULL,
    -- scheduled, cancelled or removed
    status      text NOT NULL DEFAULT 'scheduled'
);

CREATE INDEX lessons_class_date ON lessons (class_id, date);
CREATE INDEX lessons_teacher_date ON lessons (teacher_id, date);

CREATE TABLE enrolments (
    id         uuid PRIMARY KEY,
    class_id   uuid NOT NULL,
    student_id uuid NOT NULL,
    start_date date NOT NULL,
    -- The last day in the class; NULL while enrolled.
    end_date   date
);

CREATE INDEX enrolments_class ON enrolments (class_id);
CREATE INDEX enrolments_student ON enrolments (student_id);

CREATE TABLE subgroup_members (
    subgroup_id uuid NOT NULL,
    class_id    uuid NOT NULL,
    student_id  uuid NOT NULL,
    PRIMARY KEY (subgroup_id, student_id)
);

CREATE TABLE bells (
    school_year_id uuid    NOT NULL,
    number         integer NOT NULL,
    starts         time    NOT NULL,
    ends           time    NOT NULL,
    PRIMARY KEY (school_year_id, number)
);

-- Attendance's own: a taken lesson is one row; only the students not
-- simply present have a row of their own.
CREATE TABLE taken_lessons (
    lesson_id  uuid PRIMARY KEY REFERENCES lessons (id),
    taken_by   uuid        NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now(),
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE absences (
    lesson_id    uuid    NOT NULL REFERENCES taken_lessons (lesson_id),
    student_id   uuid    NOT NULL,
    code         text    NOT NULL,
    minutes_late integer NOT NULL DEFAULT 0,
    PRIMARY KEY (lesson_id, student_id)
);

CREATE INDEX absences_student ON absences (student_id);

-- Every change of a taken lesson, kept for good.
CREATE TABLE attendance_changes (
    id               uuid PRIMARY KEY,
    lesson_id        uuid        NOT NULL REFERENCES taken_lessons (lesson_id),
    student_id       uuid        NOT NULL,
    old_code         text        NOT NULL,
    old_minutes_late integer     NOT NULL,
    new_code         text        NOT NULL,
    new_minutes_late integer     NOT NULL,
    changed_by       uuid        NOT NULL,
    changed_at       timestamptz NOT NULL DEFAULT now(),
    reason           text        NOT NULL
);

CREATE INDEX attendance_changes_lesson ON attendance_changes (lesson_id, changed_at);

-- What a region decides: how many days after a lesson its teacher may
-- still correct it.
CREATE TABLE region_rules (
    region_id               uuid PRIMARY KEY,
    teacher_correction_days integer NOT NULL CHECK (teacher_correction_days BETWEEN 0 AND 60)
);
