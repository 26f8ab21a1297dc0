-- Notifications: each person's feed, what reaches them on which channel,
-- and every e-mail and push still to send or already sent.

-- Subjects' names from the gradebook ("Математика: 5").
CREATE TABLE subjects (
    id   uuid PRIMARY KEY,
    name text NOT NULL
);

-- The last cursor given out in each person's feed. Taking the next one
-- locks the row until the transaction ends, so a person's entries commit
-- in cursor order and a subscriber resuming after cursor N misses none.
CREATE TABLE feed_heads (
    person_id   uuid PRIMARY KEY,
    last_cursor bigint NOT NULL
);

CREATE TABLE notifications (
    id             uuid PRIMARY KEY,
    person_id      uuid NOT NULL,
    cursor         bigint NOT NULL,
    -- The event it came from (nil for the service's own notices).
    event_id       uuid NOT NULL,
    kind           text NOT NULL,
    -- What the feed shows (inside the system, to its own reader).
    title          text NOT NULL,
    body           text NOT NULL,
    -- What an e-mail or a push may say (the region decides how much).
    outside_title  text NOT NULL,
    outside_body   text NOT NULL,
    link           text NOT NULL DEFAULT '',
    student_id     uuid,
    -- Whose time zone quiet hours and the digest are read in.
    school_id      uuid,
    in_feed        boolean NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    read_at        timestamptz,
    UNIQUE (person_id, cursor),
    -- One notification per event and person, whatever redelivers it.
    UNIQUE (event_id, person_id)
);

CREATE INDEX notifications_unread ON notifications (person_id) WHERE in_feed AND read_at IS NULL;

-- The kinds whose channels a person changed from the defaults.
CREATE TABLE channel_choices (
    person_id uuid NOT NULL,
    kind      text NOT NULL,
    channels  text[] NOT NULL,
    PRIMARY KEY (person_id, kind)
);

CREATE TABLE preferences (
    person_id             uuid PRIMARY KEY,
    quiet_enabled         boolean NOT NULL DEFAULT false,
    quiet_start           time NOT NULL DEFAULT '21:00',
    quiet_end             time NOT NULL DEFAULT '07:00',
    digest_enabled        boolean NOT NULL DEFAULT false,
    digest_at             time NOT NULL DEFAULT '19:00',
    -- The last day (in the person's zone) a digest was made for.
    digest_day            date,
    digest_after_cursor   bigint NOT NULL DEFAULT 0,
    email                 text NOT NULL DEFAULT '',
    email_confirmed       boolean NOT NULL DEFAULT false,
    -- SHA-256 of the person's id and the code sent to the address.
    email_code_digest     bytea,
    email_code_expires_at timestamptz,
    email_code_attempts   integer NOT NULL DEFAULT 0,
    -- Why e-mail was switched off (the server refused the address).
    email_disabled_reason text NOT NULL DEFAULT ''
);

-- Codes sent, for the hourly limit on SetEmail.
CREATE TABLE email_codes_sent (
    person_id uuid NOT NULL,
    sent_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX email_codes_sent_person ON email_codes_sent (person_id, sent_at);

CREATE TABLE push_subscriptions (
    id         uuid PRIMARY KEY,
    person_id  uuid NOT NULL,
    endpoint   text NOT NULL,
    p256dh     bytea NOT NULL,
    auth       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set when the push service said the subscription is gone.
    gone_at    timestamptz,
    UNIQUE (person_id, endpoint)
);

-- One e-mail or push of a notification. Sent at least once: claimed with
-- a lease, sent, then marked; a crash in between sends it again with the
-- same notification id, which the receiver drops.
CREATE TABLE deliveries (
    notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('email', 'push')),
    -- The address, or the push subscription's id.
    target          text NOT NULL,
    -- A confirmation code: the one mail an unconfirmed address receives.
    confirmation    boolean NOT NULL DEFAULT false,
    -- Held back by quiet hours (due when they end, or when they change).
    held            boolean NOT NULL DEFAULT false,
    person_id       uuid NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed', 'refused', 'dropped')),
    attempts        integer NOT NULL DEFAULT 0,
    due_at          timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    last_error      text NOT NULL DEFAULT '',
    last_attempt_at timestamptz,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, channel, target)
);

CREATE INDEX deliveries_due ON deliveries (due_at) WHERE state = 'pending';
CREATE INDEX deliveries_trouble ON deliveries (created_at DESC)
    WHERE state IN ('failed', 'refused') OR (state = 'pending' AND attempts > 0);

-- What e-mails and pushes may say in a region.
CREATE TABLE region_policies (
    region_id       uuid PRIMARY KEY,
    details_outside boolean NOT NULL DEFAULT false
);

-- Lessons from the gradebook, kept a few weeks back, to say what was
-- moved from where and to tell a whole subgroup.
CREATE TABLE lessons (
    id          uuid PRIMARY KEY,
    class_id    uuid NOT NULL,
    subgroup_id uuid,
    subject_id  uuid NOT NULL,
    date        date NOT NULL,
    period      integer NOT NULL
);

CREATE INDEX lessons_date ON lessons (date);

-- The IANA zone a person's quiet hours and digest are read in: that of
-- the unit of one of their grants (a parent's is their child's school),
-- else Moscow's. PL/pgSQL: the directory's tables it reads are created
-- after these migrations.
CREATE FUNCTION person_zone(person uuid) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    zone text;
BEGIN
    SELECT u.time_zone INTO zone FROM known_grants g JOIN known_org_units u ON u.id = g.org_unit_id
    WHERE g.person_id = person AND NOT g.revoked AND u.time_zone <> ''
    ORDER BY u.kind = 'school' DESC LIMIT 1;
    RETURN COALESCE(zone, 'Europe/Moscow');
END
$$;

-- How long a person's quiet hours still last now; NULL outside them.
CREATE FUNCTION quiet_left(person uuid) RETURNS interval LANGUAGE plpgsql STABLE AS $$
DECLARE
    p preferences;
    local time;
BEGIN
    SELECT * INTO p FROM preferences WHERE person_id = person;
    IF NOT FOUND OR NOT p.quiet_enabled OR p.quiet_start = p.quiet_end THEN
        RETURN NULL;
    END IF;
    local := (now() AT TIME ZONE person_zone(person))::time;
    IF (p.quiet_start < p.quiet_end AND local >= p.quiet_start AND local < p.quiet_end)
       OR (p.quiet_start > p.quiet_end AND (local >= p.quiet_start OR local < p.quiet_end)) THEN
        IF p.quiet_end > local THEN
            RETURN p.quiet_end - local;
        END IF;
        RETURN p.quiet_end - local + interval '24 hours';
    END IF;
    RETURN NULL;
END
$$;
