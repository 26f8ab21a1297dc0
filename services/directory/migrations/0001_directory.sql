-- The directory: what a service knows of identity (org units, people's
-- names, role grants, guardian links, rights cells), kept from identity's
-- events and never read from identity on a request.
--
-- IF NOT EXISTS: the gradebook created these same tables in its own first
-- migration before they moved here, and its databases keep them.

CREATE TABLE IF NOT EXISTS known_org_units (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('region', 'municipality', 'school')),
    parent_id uuid,
    name text NOT NULL,
    time_zone text NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS known_people (
    id uuid PRIMARY KEY,
    last_name text NOT NULL,
    first_name text NOT NULL,
    middle_name text NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS known_grants (
    id uuid PRIMARY KEY,
    person_id uuid NOT NULL,
    role text NOT NULL,
    org_unit_id uuid NOT NULL,
    revoked boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS known_grants_person ON known_grants (person_id, org_unit_id);

CREATE TABLE IF NOT EXISTS guardians (
    parent_id uuid NOT NULL,
    student_id uuid NOT NULL,
    PRIMARY KEY (parent_id, student_id)
);

CREATE TABLE IF NOT EXISTS right_cells (
    org_unit_id uuid NOT NULL,
    role text NOT NULL,
    name text NOT NULL,
    allowed boolean NOT NULL,
    adjustable boolean NOT NULL,
    PRIMARY KEY (org_unit_id, role, name)
);
