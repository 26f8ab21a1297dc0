-- ESIA federation, the regional login policy and app passwords.

-- How a session began: the regional policy and app passwords depend on it.
ALTER TABLE sessions
    ADD COLUMN method text NOT NULL DEFAULT 'password'
        CHECK (method IN ('password', 'federation', 'app_password')),
    ADD COLUMN app_password_id uuid;

-- A person's account at an identity provider. The provider's subject (ESIA's
-- object id) is the federation key; an ended link is kept, and the same
-- account may be linked again later.
CREATE TABLE federated_accounts (
    id            uuid PRIMARY KEY,
    provider      text NOT NULL,
    subject       text NOT NULL,
    person_id     uuid NOT NULL REFERENCES people (id),
    linked_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    unlinked_at   timestamptz,
    unlinked_by   uuid REFERENCES people (id)
);
CREATE UNIQUE INDEX federated_accounts_subject ON federated_accounts (provider, subject)
    WHERE unlinked_at IS NULL;
CREATE UNIQUE INDEX federated_accounts_person ON federated_accounts (provider, person_id)
    WHERE unlinked_at IS NULL;

-- Logins in progress: what the callback must match. Used once; the PKCE
-- verifier is sealed with a key from settings.
CREATE TABLE federation_logins (
    state           text PRIMARY KEY,
    nonce           text NOT NULL,
    pkce_verifier   bytea NOT NULL,
    -- SHA-256 of the secret the starting browser keeps.
    binding_hash    bytea NOT NULL,
    grant_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    consumed_at     timestamptz
);
CREATE INDEX federation_logins_expires ON federation_logins (expires_at);

-- A region's rule for who must log in through ESIA.
CREATE TABLE login_policies (
    region_id          uuid PRIMARY KEY REFERENCES org_units (id),
    esia_required_from date,
    students_too       boolean NOT NULL DEFAULT false,
    updated_by         uuid REFERENCES people (id),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- App passwords. The apps' challenge login needs md5hex(password) on the
-- server; it is kept only sealed with a key from settings, so the database
-- alone allows no login.
CREATE TABLE app_passwords (
    id           uuid PRIMARY KEY,
    person_id    uuid NOT NULL REFERENCES people (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    login        text NOT NULL UNIQUE,
    secret       bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX app_passwords_person ON app_passwords (person_id) WHERE revoked_at IS NULL;

ALTER TABLE sessions
    ADD CONSTRAINT sessions_app_password FOREIGN KEY (app_password_id) REFERENCES app_passwords (id);

-- One-use salts of the app-password login.
CREATE TABLE app_password_challenges (
    id          uuid PRIMARY KEY,
    salt        text NOT NULL,
    expires_at  timestamptz NOT NULL,
    consumed_at timestamptz
);
CREATE INDEX app_password_challenges_expires ON app_password_challenges (expires_at);
