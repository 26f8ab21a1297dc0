-- The diary's read model: each (student, week) a family reads kept ready
-- as the answer itself (GetDiaryWeekResponse, protobuf), so a read is one
-- lookup by key.
--
-- Every write that can change a student's diary moves the student's epoch
-- (a fresh number) in its own transaction, by the triggers below, whatever
-- code path or statement made it. A kept week is served only while it was
-- computed at the student's current epoch: a write is in the diary the
-- moment it commits, and a week computed from a snapshot that a later
-- write changed is never served (its epoch no longer matches, whichever
-- commits first). A week not kept, or kept at an older epoch, is computed
-- from the source tables and kept again.

CREATE SEQUENCE diary_epoch;

CREATE TABLE diary_epochs (
    student_id uuid PRIMARY KEY,
    epoch bigint NOT NULL
);

CREATE TABLE diary_weeks (
    student_id uuid NOT NULL,
    week_start date NOT NULL,
    epoch bigint NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (student_id, week_start)
);

-- Who teaches a lesson, cancelled ones too: a teacher renamed.
CREATE INDEX lessons_teacher ON lessons (teacher_id);

-- Moves the epoch of these students (in id order, so two writers touching
-- the same students lock them in the same order).
CREATE FUNCTION diary_touch(students uuid[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO diary_epochs (student_id, epoch)
    SELECT student, nextval('diary_epoch')
    FROM (SELECT DISTINCT student FROM unnest(students) student
          WHERE student IS NOT NULL ORDER BY student) touched
    ON CONFLICT (student_id) DO UPDATE SET epoch = excluded.epoch
$$;

-- The students of these classes, whenever enrolled.
CREATE FUNCTION diary_students_of_classes(classes uuid[]) RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(SELECT student_id FROM enrolments WHERE class_id = ANY(classes))
$$;

-- One function per source table; each trigger passes the statement's rows
-- as transition tables (INSERT: new_rows, DELETE: old_rows, UPDATE: both).

CREATE FUNCTION diary_of_students() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- marks, enrolments, subgroup_members: rows of one student each.
    IF TG_OP <> 'DELETE' THEN
        PERFORM diary_touch(ARRAY(SELECT student_id FROM new_rows));
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM diary_touch(ARRAY(SELECT student_id FROM old_rows));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION diary_of_classes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- lessons, assignments: rows of one class each.
    IF TG_OP <> 'DELETE' THEN
        PERFORM diary_touch(diary_students_of_classes(ARRAY(SELECT DISTINCT class_id FROM new_rows)));
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM diary_touch(diary_students_of_classes(ARRAY(SELECT DISTINCT class_id FROM old_rows)));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION diary_of_attachments() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        PERFORM diary_touch(diary_students_of_classes(ARRAY(
            SELECT DISTINCT a.class_id FROM assignments a
            WHERE a.id IN (SELECT assignment_id FROM new_rows))));
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM diary_touch(diary_students_of_classes(ARRAY(
            SELECT DISTINCT a.class_id FROM assignments a
            WHERE a.id IN (SELECT assignment_id FROM old_rows))));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION diary_of_subjects() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A subject renamed: its lessons' classes.
    PERFORM diary_touch(diary_students_of_classes(ARRAY(
        SELECT DISTINCT l.class_id FROM lessons l
        WHERE l.subject_id IN (SELECT id FROM new_rows))));
    RETURN NULL;
END
$$;

CREATE FUNCTION diary_of_bells() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A bell period changed: the classes of its school year.
    IF TG_OP <> 'DELETE' THEN
        PERFORM diary_touch(diary_students_of_classes(ARRAY(
            SELECT c.id FROM classes c
            WHERE c.school_year_id IN (SELECT school_year_id FROM new_rows))));
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM diary_touch(diary_students_of_classes(ARRAY(
            SELECT c.id FROM classes c
            WHERE c.school_year_id IN (SELECT school_year_id FROM old_rows))));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION diary_of_people() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Someone named or renamed: the classes they teach a lesson of.
    PERFORM diary_touch(diary_students_of_classes(ARRAY(
        SELECT DISTINCT l.class_id FROM lessons l
        WHERE l.teacher_id IN (SELECT id FROM new_rows))));
    RETURN NULL;
END
$$;

CREATE FUNCTION diary_of_everyone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Assignment types, rarely changed: every enrolled student.
    PERFORM diary_touch(ARRAY(SELECT DISTINCT student_id FROM enrolments));
    RETURN NULL;
END
$$;

CREATE TRIGGER diary_marks_insert AFTER INSERT ON marks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();
CREATE TRIGGER diary_marks_update AFTER UPDATE ON marks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();
CREATE TRIGGER diary_marks_delete AFTER DELETE ON marks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();

CREATE TRIGGER diary_enrolments_insert AFTER INSERT ON enrolments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();
CREATE TRIGGER diary_enrolments_update AFTER UPDATE ON enrolments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();
CREATE TRIGGER diary_enrolments_delete AFTER DELETE ON enrolments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();

CREATE TRIGGER diary_subgroup_members_insert AFTER INSERT ON subgroup_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();
CREATE TRIGGER diary_subgroup_members_update AFTER UPDATE ON subgroup_members
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();
CREATE TRIGGER diary_subgroup_members_delete AFTER DELETE ON subgroup_members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_students();

CREATE TRIGGER diary_lessons_insert AFTER INSERT ON lessons
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_classes();
CREATE TRIGGER diary_lessons_update AFTER UPDATE ON lessons
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION diary_of_classes();
CREATE TRIGGER diary_lessons_delete AFTER DELETE ON lessons
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_classes();

CREATE TRIGGER diary_assignments_insert AFTER INSERT ON assignments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_classes();
CREATE TRIGGER diary_assignments_update AFTER UPDATE ON assignments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION diary_of_classes();
CREATE TRIGGER diary_assignments_delete AFTER DELETE ON assignments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_classes();

CREATE TRIGGER diary_attachments_insert AFTER INSERT ON attachments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_attachments();
CREATE TRIGGER diary_attachments_update AFTER UPDATE ON attachments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION diary_of_attachments();
-- Attachments are deleted with their assignment, before it (the
-- assignment's own trigger touches the same students).
CREATE TRIGGER diary_attachments_delete AFTER DELETE ON attachments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_attachments();

CREATE TRIGGER diary_subjects_update AFTER UPDATE ON subjects
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_subjects();

CREATE TRIGGER diary_bells_insert AFTER INSERT ON bell_periods
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_bells();
CREATE TRIGGER diary_bells_update AFTER UPDATE ON bell_periods
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION diary_of_bells();
CREATE TRIGGER diary_bells_delete AFTER DELETE ON bell_periods
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_bells();

CREATE TRIGGER diary_people_insert AFTER INSERT ON known_people
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_people();
CREATE TRIGGER diary_people_update AFTER UPDATE ON known_people
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION diary_of_people();

CREATE TRIGGER diary_types_change AFTER INSERT OR UPDATE OR DELETE ON assignment_types
    FOR EACH STATEMENT EXECUTE FUNCTION diary_of_everyone();
