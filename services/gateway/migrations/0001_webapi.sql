-- The NetSchool-compatible /webapi: apps there know things by integer ids
-- that never change; ours are UUIDs (and type codes). Each thing an app has
-- seen gets the next number here, once, for ever.
CREATE TABLE webapi_ids (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- What it is: person, school, year, assignment, type, attachment, ...
    kind  text NOT NULL,
    -- Our id of it: a UUID, or an assignment type's code.
    key   text NOT NULL,
    -- What it belongs to where our services need that to reach it (an
    -- announcement's or a letter's file: the announcement, the letter).
    owner text,
    UNIQUE (kind, key)
);

-- The apps' sessions. An app holds `at`, a random key only it knows; here
-- is its hash and identity's access token of the session, sealed with a
-- key made from `at` (so this table alone opens nothing). A login that
-- carries the app's stale `at` renews the same key: apps resend their
-- stale request as it was after logging in again.
CREATE TABLE webapi_sessions (
    key_hash     bytea PRIMARY KEY,
    person_id    uuid NOT NULL,
    sealed_token bytea NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webapi_sessions_expiry ON webapi_sessions (expires_at);
