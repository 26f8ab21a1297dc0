-- The gradebook's own schema. Identity's facts it needs (schools, people,
-- grants, guardian links, rights cells) are kept as projections of
-- identity's events: never read from identity on a request.

-- Projections of identity --------------------------------------------------

CREATE TABLE known_org_units (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('region', 'municipality', 'school')),
    parent_id uuid,
    name text NOT NULL,
    time_zone text NOT NULL DEFAULT ''
);

CREATE TABLE known_people (
    id uuid PRIMARY KEY,
    last_name text NOT NULL,
    first_name text NOT NULL,
    middle_name text NOT NULL DEFAULT ''
);

CREATE TABLE known_grants (
    id uuid PRIMARY KEY,
    person_id uuid NOT NULL,
    role text NOT NULL,
    org_unit_id uuid NOT NULL,
    revoked boolean NOT NULL DEFAULT false
);
CREATE INDEX known_grants_person ON known_grants (person_id, org_unit_id);

CREATE TABLE guardians (
    parent_id uuid NOT NULL,
    student_id uuid NOT NULL,
    PRIMARY KEY (parent_id, student_id)
);

CREATE TABLE right_cells (
    org_unit_id uuid NOT NULL,
    role text NOT NULL,
    name text NOT NULL,
    allowed boolean NOT NULL,
    adjustable boolean NOT NULL,
    PRIMARY KEY (org_unit_id, role, name)
);

-- The calendar ----------------------------------------------------------------

CREATE TABLE school_years (
    id uuid PRIMARY KEY,
    school_id uuid NOT NULL,
    name text NOT NULL,
    start_date date NOT NULL,
    end_date date NOT NULL,
    term_kind text NOT NULL CHECK (term_kind IN ('quarters', 'trimesters', 'halves')),
    days_per_week integer NOT NULL CHECK (days_per_week IN (5, 6)),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (start_date < end_date),
    UNIQUE (school_id, name)
);

CREATE TABLE terms (
    id uuid PRIMARY KEY,
    school_year_id uuid NOT NULL REFERENCES school_years (id),
    number integer NOT NULL,
    name text NOT NULL,
    start_date date NOT NULL,
    end_date date NOT NULL,
    CHECK (start_date <= end_date),
    UNIQUE (school_year_id, number)
);

CREATE TABLE holidays (
    id uuid PRIMARY KEY,
    school_year_id uuid NOT NULL REFERENCES school_years (id),
    name text NOT NULL,
    start_date date NOT NULL,
    end_date date NOT NULL,
    CHECK (start_date <= end_date)
);
CREATE INDEX holidays_year ON holidays (school_year_id, start_date);

-- Classes and enrolments -----------------------------------------------------

CREATE TABLE classes (
    id uuid PRIMARY KEY,
    school_id uuid NOT NULL,
    school_year_id uuid NOT NULL REFERENCES school_years (id),
    name text NOT NULL,
    grade integer NOT NULL CHECK (grade BETWEEN 1 AND 11),
    class_teacher_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (school_year_id, name)
);
CREATE INDEX classes_teacher ON classes (class_teacher_id);

CREATE TABLE subgroups (
    id uuid PRIMARY KEY,
    class_id uuid NOT NULL REFERENCES classes (id),
    name text NOT NULL,
    UNIQUE (class_id, name)
);

CREATE TABLE subgroup_members (
    subgroup_id uuid NOT NULL REFERENCES subgroups (id),
    student_id uuid NOT NULL,
    PRIMARY KEY (subgroup_id, student_id)
);
CREATE INDEX subgroup_members_student ON subgroup_members (student_id);

-- A student is in at most one class on any day (checked under a lock per
-- student); an ended enrolment stays, with everything recorded under it.
CREATE TABLE enrolments (
    id uuid PRIMARY KEY,
    class_id uuid NOT NULL REFERENCES classes (id),
    student_id uuid NOT NULL,
    start_date date NOT NULL,
    end_date date,
    end_reason text NOT NULL DEFAULT '',
    CHECK (end_date IS NULL OR start_date <= end_date)
);
CREATE INDEX enrolments_student ON enrolments (student_id, start_date);
CREATE INDEX enrolments_class ON enrolments (class_id, start_date);

-- Subjects and the teaching load ----------------------------------------------

CREATE TABLE subjects (
    id uuid PRIMARY KEY,
    school_id uuid NOT NULL,
    name text NOT NULL,
    short_name text NOT NULL
);
CREATE UNIQUE INDEX subjects_name ON subjects (school_id, lower(name));

CREATE TABLE teaching_load (
    id uuid PRIMARY KEY,
    class_id uuid NOT NULL REFERENCES classes (id),
    subgroup_id uuid REFERENCES subgroups (id),
    subject_id uuid NOT NULL REFERENCES subjects (id),
    teacher_id uuid NOT NULL,
    hours_per_week integer NOT NULL CHECK (hours_per_week BETWEEN 0 AND 40),
    UNIQUE NULLS NOT DISTINCT (class_id, subgroup_id, subject_id)
);
CREATE INDEX teaching_load_teacher ON teaching_load (teacher_id);

-- The bell schedule, the weekly timetable and the lessons ----------------------

CREATE TABLE bell_periods (
    school_year_id uuid NOT NULL REFERENCES school_years (id),
    number integer NOT NULL CHECK (number BETWEEN 0 AND 12),
    start_time time NOT NULL,
    end_time time NOT NULL,
    CHECK (start_time < end_time),
    PRIMARY KEY (school_year_id, number)
);

CREATE TABLE timetable_slots (
    id uuid PRIMARY KEY,
    class_id uuid NOT NULL REFERENCES classes (id),
    weekday integer NOT NULL CHECK (weekday BETWEEN 1 AND 6),
    period integer NOT NULL,
    subject_id uuid NOT NULL REFERENCES subjects (id),
    subgroup_id uuid REFERENCES subgroups (id),
    teacher_id uuid NOT NULL,
    room text NOT NULL DEFAULT ''
);
CREATE INDEX timetable_slots_class ON timetable_slots (class_id);
CREATE INDEX timetable_slots_teacher ON timetable_slots (teacher_id, weekday, period);

CREATE TABLE lessons (
    id uuid PRIMARY KEY,
    school_id uuid NOT NULL,
    class_id uuid NOT NULL REFERENCES classes (id),
    subgroup_id uuid REFERENCES subgroups (id),
    subject_id uuid NOT NULL REFERENCES subjects (id),
    date date NOT NULL,
    period integer NOT NULL,
    -- Who teaches it; planned_teacher_id is the timetable's teacher.
    teacher_id uuid NOT NULL,
    planned_teacher_id uuid NOT NULL,
    room text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
    cancel_reason text NOT NULL DEFAULT '',
    -- 'timetable' lessons are laid out again when the timetable changes,
    -- unless changed one by one (changed = true); 'manual' ones never are.
    source text NOT NULL CHECK (source IN ('timetable', 'manual')),
    changed boolean NOT NULL DEFAULT false,
    moved_from_date date,
    moved_from_period integer,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lessons_class ON lessons (class_id, date, period);
-- A teacher is in one place at a time; so is a class (or a subgroup).
CREATE UNIQUE INDEX lessons_teacher_busy ON lessons (teacher_id, date, period)
    WHERE status = 'scheduled';
CREATE UNIQUE INDEX lessons_group_busy ON lessons (class_id, subgroup_id, date, period)
    NULLS NOT DISTINCT WHERE status = 'scheduled';
