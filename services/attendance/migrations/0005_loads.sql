-- The teaching load, from the gradebook's events: who teaches which
-- subject of a class (or of a group), lessons or not yet.
CREATE TABLE loads (
    id          uuid PRIMARY KEY,
    class_id    uuid NOT NULL,
    subgroup_id uuid,
    subject_id  uuid NOT NULL,
    teacher_id  uuid NOT NULL
);

CREATE INDEX loads_class ON loads (class_id);
CREATE INDEX loads_teacher ON loads (teacher_id);
