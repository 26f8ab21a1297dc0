-- Guardians' notes for days their child missed, with an optional scan.
CREATE TABLE notes (
    id               uuid PRIMARY KEY,
    student_id       uuid        NOT NULL,
    school_id        uuid        NOT NULL,
    submitted_by     uuid        NOT NULL,
    from_date        date        NOT NULL,
    to_date          date        NOT NULL CHECK (to_date >= from_date),
    code             text        NOT NULL,
    text             text        NOT NULL,
    scan             bytea,
    scan_type        text        NOT NULL DEFAULT '',
    -- submitted, accepted or declined
    status           text        NOT NULL DEFAULT 'submitted',
    submitted_at     timestamptz NOT NULL DEFAULT now(),
    decided_by       uuid,
    decided_at       timestamptz,
    decision_comment text        NOT NULL DEFAULT '',
    absences_changed integer     NOT NULL DEFAULT 0
);

CREATE INDEX notes_student ON notes (student_id, submitted_at DESC);
