-- The journal: assignments on lessons with attachments, marks with their
-- history, term/year/final marks with theirs.

CREATE TABLE assignment_types (
    code text PRIMARY KEY,
    name text NOT NULL,
    abbreviation text NOT NULL,
    default_weight integer NOT NULL CHECK (default_weight BETWEEN 1 AND 20),
    position integer NOT NULL
);

INSERT INTO assignment_types (code, name, abbreviation, default_weight, position) VALUES
    ('classwork', 'Работа на уроке', 'Р', 1, 1),
    ('oral', 'Ответ на уроке', 'О', 1, 2),
    ('homework', 'Домашнее задание', 'ДЗ', 1, 3),
    ('quiz', 'Самостоятельная работа', 'С', 2, 4),
    ('dictation', 'Диктант', 'Дк', 2, 5),
    ('lab', 'Лабораторная работа', 'Л', 2, 6),
    ('practical', 'Практическая работа', 'Пр', 2, 7),
    ('test', 'Контрольная работа', 'К', 3, 8),
    ('essay', 'Сочинение', 'Соч', 3, 9),
    ('project', 'Проект', 'П', 3, 10);

CREATE TABLE assignments (
    id uuid PRIMARY KEY,
    lesson_id uuid NOT NULL REFERENCES lessons (id),
    -- The lesson's class (a lesson never changes class): the diary finds
    -- what is due in a week by class and due date.
    class_id uuid NOT NULL REFERENCES classes (id),
    type_code text NOT NULL REFERENCES assignment_types (code),
    weight integer NOT NULL CHECK (weight BETWEEN 1 AND 20),
    due_date date NOT NULL,
    title text NOT NULL,
    body text NOT NULL DEFAULT '',
    teacher_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assignments_lesson ON assignments (lesson_id);
CREATE INDEX assignments_due ON assignments (class_id, due_date);

CREATE TABLE attachments (
    id uuid PRIMARY KEY,
    assignment_id uuid NOT NULL REFERENCES assignments (id),
    file_name text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL,
    sha256 text NOT NULL,
    content bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_assignment ON attachments (assignment_id);

-- One mark per assignment and student; its past is in mark_history.
CREATE TABLE marks (
    id uuid PRIMARY KEY,
    assignment_id uuid NOT NULL REFERENCES assignments (id),
    student_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('grade', 'pass', 'fail', 'debt')),
    grade integer CHECK (grade BETWEEN 1 AND 5),
    comment text NOT NULL DEFAULT '',
    teacher_id uuid NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'grade') = (grade IS NOT NULL)),
    UNIQUE (assignment_id, student_id)
);
-- The diary and the reports read a student's marks.
CREATE INDEX marks_student ON marks (student_id, assignment_id);
CREATE INDEX marks_debts ON marks (student_id) WHERE kind = 'debt';

CREATE TABLE mark_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assignment_id uuid NOT NULL,
    student_id uuid NOT NULL,
    old_kind text,
    old_grade integer,
    old_comment text NOT NULL DEFAULT '',
    new_kind text,
    new_grade integer,
    new_comment text NOT NULL DEFAULT '',
    changed_by uuid NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mark_history_mark ON mark_history (assignment_id, student_id, id);

-- Term, half-year, year, exam and final marks of a subject.
CREATE TABLE term_marks (
    id uuid PRIMARY KEY,
    school_year_id uuid NOT NULL REFERENCES school_years (id),
    class_id uuid NOT NULL REFERENCES classes (id),
    subject_id uuid NOT NULL REFERENCES subjects (id),
    student_id uuid NOT NULL,
    period text NOT NULL CHECK (period IN ('term', 'half_year', 'year', 'exam', 'final')),
    number integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('grade', 'pass', 'fail', 'not_assessed', 'exempt')),
    grade integer CHECK (grade BETWEEN 1 AND 5),
    teacher_id uuid NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'grade') = (grade IS NOT NULL)),
    UNIQUE (school_year_id, student_id, subject_id, period, number)
);
CREATE INDEX term_marks_class ON term_marks (class_id, subject_id);

CREATE TABLE term_mark_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    term_mark_id uuid NOT NULL,
    old_kind text,
    old_grade integer,
    new_kind text,
    new_grade integer,
    changed_by uuid NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX term_mark_history_mark ON term_mark_history (term_mark_id, id);

-- The reports find a school's lessons of a period.
CREATE INDEX lessons_school_date ON lessons (school_id, date);
