-- What the first call asked, as a digest of its encoded request: a key sent
-- again with a different request is refused instead of answered with the
-- first call's answer. NULL for answers stored before the digest existed.
ALTER TABLE idempotency ADD COLUMN request_digest bytea;
