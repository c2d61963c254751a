-- assay's one SQLite database. Version 1 (PRAGMA user_version = 1).
-- Times are Unix seconds (UTC). Every write goes through src/store/mod.rs.

-- One row per accepted upload. AUTOINCREMENT so that a task id is never reused after a delete:
-- a client holding an old task_url must get 404, never somebody else's report.
CREATE TABLE tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    state         TEXT    NOT NULL
                  CHECK (state IN ('queued', 'processing', 'done', 'failed', 'cancelled')),
    submitted     INTEGER NOT NULL,
    -- Set when analysis ended (done or failed); what clients poll for.
    processed     INTEGER,
    -- Set when the queue timeout cancelled the task.
    cancelled     INTEGER,
    file_name     TEXT    NOT NULL,
    size          INTEGER NOT NULL CHECK (size >= 0),
    sha1          TEXT    NOT NULL,
    -- File name inside the spool directory, or 'in-store' for a sample kept in the samples table
    -- (version 4); NULL once the sample has been deleted.
    spool_file    TEXT,
    -- X-TiScale-Token without its optional "Token " prefix, for list filtering.
    custom_token  TEXT,
    -- custom_data as received, only when it was valid JSON.
    custom_data   TEXT,
    -- user_data as received (never echoed; read by integrations).
    user_data     TEXT,
    direct_sender TEXT    NOT NULL,
    -- JSON array of the X-Forwarded-For chain.
    forwarded_for TEXT    NOT NULL,
    -- How many times analysis was started; a sample that keeps killing the process stops at a limit.
    attempts      INTEGER NOT NULL DEFAULT 0,
    -- Why the task failed or was cancelled.
    error         TEXT,
    -- The full report once processed: JSON, zlib-compressed (plain JSON, beginning with '[', in
    -- rows written before reports were compressed; both are read).
    report        BLOB
) STRICT;

CREATE INDEX tasks_by_state ON tasks (state, id);
CREATE INDEX tasks_by_submitted ON tasks (submitted);

-- Small persistent settings: machine id, operating mode, applied license.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Statistics counters in ten-second buckets (bucket = Unix seconds / 10), summed over the windows of /srv/tiscale/v1/stats.
CREATE TABLE stats (
    bucket INTEGER NOT NULL,
    name   TEXT    NOT NULL,
    value  REAL    NOT NULL,
    PRIMARY KEY (bucket, name)
) STRICT, WITHOUT ROWID;
