-- Version 4: small samples are kept in the database. An upload of up to 64 KiB is committed with
-- its task row, in the same group commit, instead of being written to a spool file of its own:
-- creating, syncing and deleting a file per upload (a new inode, the file's sync, the spool
-- directory's sync) was most of what accepting one cost. Such a task's spool_file is 'in-store'.

CREATE TABLE samples (
    task_id INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    bytes   BLOB    NOT NULL
) STRICT;

-- A task lets go of its sample by clearing spool_file (analysed, cancelled, given up, delivered
-- to S3); the stored bytes go with it, whichever statement cleared it.
CREATE TRIGGER samples_released AFTER UPDATE OF spool_file ON tasks
WHEN NEW.spool_file IS NULL
BEGIN
    DELETE FROM samples WHERE task_id = NEW.id;
END;
