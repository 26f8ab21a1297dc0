-- The NetSchool-compatible /webapi: apps there know things by integer ids
-- that never change; ours are UUIDs (and type codes). Each thing an app has
-- seen gets the next number here, once, for ever.
CREATE TABLE webapi_ids (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- What it is: person, school, year, assignment, type, attachment, ...
    kind  text NOT NULL,
    -- Our id of it: a UUID, an assignment type's code, or for a file of an
    -- announcement or a letter `owner/file` (the services reach it so).
    key   text NOT NULL,
    UNIQUE (kind, key)
);

-- The apps' sessions. An app holds `at`, a random key only it knows; here
-- is its hash and identity's access token of the session, sealed with a
-- key made from `at` (so this table alone opens nothing). A login gets a
-- new key; one that carries the app's stale key (of the same person, not
-- renewed before) also lets that key act for a minute with the new token:
-- apps resend their refused request as it was after logging in again.
CREATE TABLE webapi_sessions (
    key_hash     bytea PRIMARY KEY,
    person_id    uuid NOT NULL,
    sealed_token bytea NOT NULL,
    expires_at   timestamptz NOT NULL,
    renewed_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webapi_sessions_expiry ON webapi_sessions (expires_at);

-- Files an app uploaded for a letter it is about to send (`POST
-- attachments` answers the GUID the letter then names). Only their
-- uploader may use them; used ones and those older than an hour go.
CREATE TABLE webapi_uploads (
    id           uuid PRIMARY KEY,
    person_id    uuid NOT NULL,
    file_name    text NOT NULL,
    content_type text NOT NULL,
    content      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webapi_uploads_age ON webapi_uploads (created_at);
