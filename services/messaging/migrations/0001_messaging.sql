-- Messaging's own tables. What it knows of identity (people, grants,
-- guardians, rights) and of the gradebook's classes comes from the shared
-- directory and roster tables.

-- A file, stored once however many messages or announcements carry it (a
-- letter to a school, a forward).
CREATE TABLE attachments (
    id           uuid PRIMARY KEY,
    file_name    text        NOT NULL,
    content_type text        NOT NULL,
    size         bigint      NOT NULL,
    sha256       text        NOT NULL,
    content      bytea       NOT NULL,
    uploaded_by  uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- A letter, stored once whatever the number of its recipients.
CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    thread_id       uuid        NOT NULL,
    sender_id       uuid        NOT NULL,
    -- The region whose rules apply (retention), and the org unit its
    -- events are scoped to (the sender's grant).
    region_id       uuid,
    org_unit_id     uuid,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    format          text        NOT NULL CHECK (format IN ('plain', 'html')),
    reply_to        uuid,
    forward_of      uuid,
    draft           boolean     NOT NULL DEFAULT false,
    -- A draft's addresses as saved (encoded to/cc/bcc), resolved on send.
    draft_addresses bytea,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    recipient_count integer     NOT NULL DEFAULT 0,
    -- The groups the letter was addressed to, by name ("Родители 5А"):
    -- what its recipients see instead of one another.
    groups          text[]      NOT NULL DEFAULT '{}',
    search          tsvector GENERATED ALWAYS AS (
        to_tsvector('russian', subject || ' ' || regexp_replace(body, '<[^>]*>', ' ', 'g'))
    ) STORED
);

CREATE INDEX messages_sender_sent ON messages (sender_id, sent_at) WHERE NOT draft;
CREATE INDEX messages_thread ON messages (thread_id, sent_at);
CREATE INDEX messages_search ON messages USING gin (search);

CREATE TABLE message_attachments (
    message_id    uuid    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    attachment_id uuid    NOT NULL REFERENCES attachments (id),
    position      integer NOT NULL,
    PRIMARY KEY (message_id, attachment_id)
);

CREATE INDEX message_attachments_attachment ON message_attachments (attachment_id);

-- The envelope: who a letter went to, and how. Bcc is shown to the
-- sender only; people reached through a group are shown to the sender
-- only (the others see the group's name), so a letter to 5А's parents
-- does not hand every family the others' names.
CREATE TABLE recipients (
    message_id uuid    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    person_id  uuid    NOT NULL,
    kind       text    NOT NULL CHECK (kind IN ('to', 'cc', 'bcc')),
    via_group  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (message_id, person_id)
);

-- Each person's copy of the letter's state: folder, read, deleted. Only a
-- person with a row here ever reads the letter.
CREATE TABLE mailbox (
    owner_id   uuid        NOT NULL,
    message_id uuid        NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    folder     text        NOT NULL CHECK (folder IN ('inbox', 'sent', 'drafts')),
    read       boolean     NOT NULL DEFAULT false,
    sort_at    timestamptz NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (owner_id, message_id, folder)
);

CREATE INDEX mailbox_folder ON mailbox (owner_id, folder, sort_at DESC, message_id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX mailbox_deleted ON mailbox (owner_id, sort_at DESC, message_id DESC)
    WHERE deleted_at IS NOT NULL;
CREATE INDEX mailbox_unread ON mailbox (owner_id)
    WHERE NOT read AND folder = 'inbox' AND deleted_at IS NULL;
CREATE INDEX mailbox_message ON mailbox (message_id);
CREATE INDEX mailbox_purge ON mailbox (deleted_at) WHERE deleted_at IS NOT NULL;

-- What a region decides about mail; a region without a row has the
-- defaults these columns give.
CREATE TABLE mail_rules (
    region_id                   uuid PRIMARY KEY,
    families_write_to_families  boolean NOT NULL DEFAULT false,
    students_write_to_all_staff boolean NOT NULL DEFAULT false,
    deleted_retention_days      integer NOT NULL DEFAULT 30
        CHECK (deleted_retention_days BETWEEN 1 AND 365),
    parent_messages_per_hour    integer NOT NULL DEFAULT 20 CHECK (parent_messages_per_hour >= 1),
    student_messages_per_hour   integer NOT NULL DEFAULT 20 CHECK (student_messages_per_hour >= 1),
    staff_messages_per_hour     integer NOT NULL DEFAULT 300 CHECK (staff_messages_per_hour >= 1)
);

-- An announcement, stored once for its whole audience: an org unit (the
-- region, a municipality, a school) or a class, and roles (none: all).
CREATE TABLE announcements (
    id            uuid PRIMARY KEY,
    audience_id   uuid        NOT NULL,
    audience_kind text        NOT NULL
        CHECK (audience_kind IN ('region', 'municipality', 'school', 'class')),
    audience_name text        NOT NULL,
    region_id     uuid        NOT NULL,
    school_id     uuid,
    roles         text[]      NOT NULL DEFAULT '{}',
    author_id     uuid        NOT NULL,
    author_role   text        NOT NULL,
    title         text        NOT NULL,
    body          text        NOT NULL,
    format        text        NOT NULL CHECK (format IN ('plain', 'html')),
    visible_from  timestamptz NOT NULL,
    visible_until timestamptz,
    pinned        boolean     NOT NULL DEFAULT false,
    published_at  timestamptz NOT NULL DEFAULT now(),
    withdrawn_at  timestamptz,
    CHECK (visible_until IS NULL OR visible_until > visible_from)
);

CREATE INDEX announcements_audience
    ON announcements (audience_id, pinned DESC, visible_from DESC, id DESC)
    WHERE withdrawn_at IS NULL;
CREATE INDEX announcements_author
    ON announcements (author_id, pinned DESC, visible_from DESC, id DESC)
    WHERE withdrawn_at IS NULL;

CREATE TABLE announcement_attachments (
    announcement_id uuid    NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    attachment_id   uuid    NOT NULL REFERENCES attachments (id),
    position        integer NOT NULL,
    PRIMARY KEY (announcement_id, attachment_id)
);

CREATE INDEX announcement_attachments_attachment ON announcement_attachments (attachment_id);
