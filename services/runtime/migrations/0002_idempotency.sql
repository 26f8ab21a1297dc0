-- Answers of write calls by idempotency key, per caller and operation, so a
-- retried call applies once and gets the first answer again.
CREATE TABLE idempotency (
    caller_id  uuid        NOT NULL,
    operation  text        NOT NULL,
    key        text        NOT NULL,
    -- The encoded response; NULL only inside the claiming transaction.
    response   bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller_id, operation, key)
);

CREATE INDEX idempotency_created_at ON idempotency (created_at);
