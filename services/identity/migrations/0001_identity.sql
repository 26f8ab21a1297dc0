-- The org tree: region -> municipality -> school. `path` lists the unit's
-- ancestors and itself, so "is X inside Y" is one array test.
CREATE TABLE org_units (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('region', 'municipality', 'school')),
    parent_id  uuid REFERENCES org_units (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    time_zone  text NOT NULL DEFAULT 'Europe/Moscow',
    path       uuid[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'region') = (parent_id IS NULL))
);
CREATE INDEX org_units_parent ON org_units (parent_id);
CREATE INDEX org_units_path ON org_units USING gin (path);
CREATE UNIQUE INDEX org_units_name_per_parent ON org_units (coalesce(parent_id, id), lower(name));

-- People. SNILS is personal data: only its ciphertext (AES-256-GCM) and a
-- keyed hash (HMAC-SHA256, for lookups and uniqueness) are stored.
CREATE TABLE people (
    id              uuid PRIMARY KEY,
    org_unit_id     uuid NOT NULL REFERENCES org_units (id),
    last_name       text NOT NULL,
    first_name      text NOT NULL,
    middle_name     text NOT NULL DEFAULT '',
    birth_date      date NOT NULL,
    snils_cipher    bytea,
    snils_hash      bytea UNIQUE,
    email           text NOT NULL DEFAULT '',
    phone           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX people_org_unit ON people (org_unit_id);

CREATE TABLE guardians (
    parent_id  uuid NOT NULL REFERENCES people (id),
    student_id uuid NOT NULL REFERENCES people (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (parent_id, student_id),
    CHECK (parent_id <> student_id)
);
CREATE INDEX guardians_student ON guardians (student_id);

-- Role grants, each scoped to an org unit. Revoked grants are kept.
CREATE TABLE grants (
    id          uuid PRIMARY KEY,
    person_id   uuid NOT NULL REFERENCES people (id),
    role        text NOT NULL,
    org_unit_id uuid NOT NULL REFERENCES org_units (id),
    granted_by  uuid REFERENCES people (id),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX grants_active ON grants (person_id, role, org_unit_id) WHERE revoked_at IS NULL;

-- The rights matrix as data: defaults live in code; a region's settings
-- (allowed, and whether schools may change it) and a school's settings
-- (allowed, only where the region lets it) override them.
CREATE TABLE rights (
    org_unit_id uuid NOT NULL REFERENCES org_units (id),
    role        text NOT NULL,
    name        text NOT NULL,
    allowed     boolean NOT NULL,
    adjustable  boolean NOT NULL DEFAULT false,
    updated_by  uuid REFERENCES people (id),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_unit_id, role, name)
);

-- Local logins (argon2id).
CREATE TABLE accounts (
    person_id                uuid PRIMARY KEY REFERENCES people (id),
    login                    text NOT NULL,
    password_hash            text NOT NULL,
    password_change_required boolean NOT NULL DEFAULT true,
    created_at               timestamptz NOT NULL DEFAULT now(),
    password_changed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_login ON accounts (lower(login));

-- Failed password attempts per login name, whether or not an account has
-- that login: unknown logins lock just like real ones, so neither the
-- answer nor the lockout tells which logins exist.
CREATE TABLE login_throttle (
    login        text PRIMARY KEY,
    failures     integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    person_id      uuid NOT NULL REFERENCES people (id),
    grant_id       uuid NOT NULL REFERENCES grants (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_person ON sessions (person_id) WHERE revoked_at IS NULL;

-- Refresh tokens, stored as SHA-256 of the token. One family per session:
-- presenting a spent token again revokes the session.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id),
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Token signing keys (Ed25519). The private key is encrypted with a key
-- from settings. A retired key is still published until its tokens expire.
CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    private_cipher  bytea NOT NULL,
    public_key      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz
);

-- The personal-data audit: append-only. No role of the service may change or
-- remove a record (the trigger holds even for the table's owner).
CREATE TABLE audit_log (
    id                uuid PRIMARY KEY,
    at                timestamptz NOT NULL DEFAULT now(),
    actor_id          uuid NOT NULL,
    actor_role        text NOT NULL,
    actor_org_unit_id uuid NOT NULL,
    subject_id        uuid NOT NULL,
    what              text NOT NULL,
    service           text NOT NULL,
    event_id          uuid UNIQUE
);
CREATE INDEX audit_log_subject ON audit_log (subject_id, at DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at DESC);
CREATE INDEX audit_log_at ON audit_log (at DESC);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the personal-data audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
