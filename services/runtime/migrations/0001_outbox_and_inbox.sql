-- The transactional outbox: a service writes its events here in the same
-- transaction as the state change; the relay publishes them to JetStream and
-- marks them published only after the broker acknowledged them.
CREATE TABLE outbox (
    -- Publication order. Never used as a resume position: the relay claims
    -- unpublished rows with FOR UPDATE SKIP LOCKED instead, so a transaction
    -- that commits late with a low number is still published.
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid        NOT NULL UNIQUE,
    -- The logical subject, without the deployment's namespace.
    subject        text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    -- The encoded asurso.events.v1.Envelope.
    body           bytea       NOT NULL,
    -- Trace context of the writing request, published as NATS headers.
    headers        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text
);

CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- What each durable consumer has handled, written in the same transaction as
-- the handler's effect: a redelivered event finds its id here and changes
-- nothing.
CREATE TABLE inbox (
    consumer   text        NOT NULL,
    event_id   uuid        NOT NULL,
    subject    text        NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX inbox_handled_at ON inbox (handled_at);
