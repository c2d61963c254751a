-- Version 2: the outbox. One row per delivery of a task to an integration, written in the same
-- transaction as what it delivers (the report, or the sample at upload), so a crash loses none.

CREATE TABLE deliveries (
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    -- callback, splunk, s3-sample, s3-report, s3-unpacked
    target     TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    created    INTEGER NOT NULL,
    -- When it is next due (pending).
    next_at    INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Set while a delivery thread works on it: it is not due again before this time.
    lease      INTEGER,
    -- Why the last attempt failed.
    last_error TEXT,
    -- When it was delivered or given up.
    finished   INTEGER,
    PRIMARY KEY (task_id, target)
) STRICT;

-- What a delivery thread looks for: the due deliveries of one target, in the order it takes them
-- (so that taking a few never sorts them all).
CREATE INDEX deliveries_due ON deliveries (target, state, next_at, task_id);
