//! The SQLite store: tasks, persistent settings and statistics. Every SQL statement of the project
//! lives in this module; the schema is `schema.sql`, migrated by `PRAGMA user_version`.
//!
//! Connections come from a small pool so that HTTP and analysis threads never share one; writes use
//! `BEGIN IMMEDIATE` so that concurrent writers wait (the frequent ones on the store's write lock,
//! [`Store::writer`]; the rest in a short-step busy handler) instead of failing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::types::ToSql;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior, MAIN_DB};

use crate::report::packed::Packed;

mod outbox;
pub use outbox::{Backlog, Delivery, Record, Target, TargetsOf};

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer assay.
    #[error("database schema version {found} is newer than this program's ({supported})")]
    TooNew { found: i64, supported: i64 },
    /// A stored report could not be decompressed.
    #[error("task {id}: the stored report is damaged: {reason}")]
    Damaged { id: i64, reason: String },
    /// The database is missing or empty in a data directory that was used before.
    #[error("{0}")]
    Forgotten(String),
    /// A group commit failed (or panicked) as a whole; the uploads it held were not recorded.
    /// `disk_full`: SQLite found no room (which an upload is told to retry later).
    #[error("the commit of this upload failed: {why}")]
    CommitFailed { why: String, disk_full: bool },
    /// The file that records the task ids handed out could not be read or written.
    #[error("{path}: {source}")]
    IdFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StoreError {
    /// The database could not grow: the disk (or the database's page limit) is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::DiskFull
            }
            StoreError::CommitFailed { disk_full, .. } => *disk_full,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

const SCHEMA_VERSION: i64 = 4;
const SCHEMA: &str = include_str!("schema.sql");
/// Version 2: the outbox.
const OUTBOX: &str = include_str!("outbox.sql");
/// Version 3: leases in memory.
const OUTBOX_V3: &str = include_str!("outbox_v3.sql");
/// Version 4: small samples in the database.
const SAMPLES_V4: &str = include_str!("samples_v4.sql");
const POOL_MAX_IDLE: usize = 32;

/// The lifecycle states of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Queued,
    Processing,
    Done,
    Failed,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Processing => "processing",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> TaskState {
        match s {
            "queued" => TaskState::Queued,
            "processing" => TaskState::Processing,
            "done" => TaskState::Done,
            "failed" => TaskState::Failed,
            // The CHECK constraint leaves only this one.
            _ => TaskState::Cancelled,
        }
    }
}

/// Most bytes of a sample kept in the database, committed with its task, instead of in a spool
/// file of its own (see `samples_v4.sql`).
pub const STORED_SAMPLE_MAX: usize = 64 * 1024;

/// The `spool_file` of a task whose sample is in the `samples` table. No spool file is named so:
/// their names are made by the upload (`{nanos}-{n}.sample`).
const IN_STORE: &str = "in-store";

/// An accepted upload's bytes, as its task holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    /// A file in the spool directory, by name.
    Spool(String),
    /// The bytes, kept in the database with the task (at most [`STORED_SAMPLE_MAX`]).
    Stored(Vec<u8>),
}

impl Sample {
    /// The spool file, when the sample is one: what is deleted once the task lets go of it.
    pub fn spool_file(&self) -> Option<&str> {
        match self {
            Sample::Spool(name) => Some(name),
            Sample::Stored(_) => None,
        }
    }

    /// What the task's `spool_file` column holds for this sample.
    fn column(&self) -> &str {
        self.spool_file().unwrap_or(IN_STORE)
    }
}

/// The spool file a `spool_file` column names: none for a sample kept in the database.
fn spool_name(column: Option<String>) -> Option<String> {
    column.filter(|c| c != IN_STORE)
}

/// What an accepted upload records.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub submitted: i64,
    pub file_name: String,
    pub size: u64,
    pub sha1: String,
    pub sample: Sample,
    pub custom_token: Option<String>,
    pub custom_data: Option<String>,
    pub user_data: Option<String>,
    pub direct_sender: String,
    pub forwarded_for: Vec<String>,
    /// Deliveries written with the task (the sample's, to S3).
    pub deliveries: Vec<Target>,
}

/// What [`Store::finish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The task was no longer processing (deleted, or returned to the queue): nothing stored.
    Stale,
    /// The report is stored. `keep_sample`: a delivery still needs the sample, which then goes
    /// when that delivery is over ([`Store::record_deliveries`]).
    Stored { keep_sample: bool },
}

/// How a task's processing ended, for [`Store::finish`].
pub struct Ending<'a> {
    /// `Done`, or `Failed` (still with a report that says what went wrong).
    pub state: TaskState,
    pub report: &'a Packed,
    pub error: Option<&'a str>,
    /// When (Unix seconds).
    pub at: i64,
    /// The deliveries the task gets, from its `user_data`.
    pub deliver: &'a TargetsOf,
}

/// A task as read back.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub state: TaskState,
    pub submitted: i64,
    /// When analysis ended, or when the task was cancelled: it will not change again.
    pub processed: Option<i64>,
    pub sha1: String,
    pub custom_data: Option<String>,
    /// As received; read by the deliveries (callback overrides, Splunk's `network`).
    pub user_data: Option<String>,
    pub direct_sender: String,
    pub forwarded_for: Vec<String>,
    pub error: Option<String>,
    /// The report's JSON ([`Store::get_task`]; `None` from [`Store::get_task_packed`], which
    /// gives it beside the task as stored).
    pub report: Option<Vec<u8>>,
}

/// One row of the task list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSummary {
    pub id: i64,
    pub submitted: i64,
    pub processed: Option<i64>,
}

/// A task taken by an analysis thread.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub sample: Sample,
    pub file_name: String,
    pub size: u64,
}

/// What start-up recovery found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Every queued task, oldest first, to be dispatched again.
    pub queued: Vec<i64>,
    /// Tasks that were processing when the process died and went back to the queue.
    pub requeued: usize,
    /// Tasks given up on because analysis was interrupted too often: (id, sample, file name).
    /// Their spool files are to be deleted once a report has been made of what is left (the
    /// store has let go of the samples by then).
    pub given_up: Vec<(i64, Option<Sample>, String)>,
}

/// The database, shared by every thread.
pub struct Store {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Where the task ids handed out are recorded outside the database (server only).
    ids: Option<IdFile>,
    /// Accepted uploads waiting for the next group commit ([`Store::insert_task`]).
    group: Mutex<Group>,
    /// Signalled when a group commit ends.
    committed: Condvar,
    /// The connection of the frequent writes, and their turns ([`Store::writer`]).
    writing: Writing,
    /// Reports stored, for the checkpoints [`Store::finish`] runs.
    finished: AtomicU64,
}

/// Uploads waiting to be committed together. Whoever finds no commit running commits every
/// upload waiting at that moment in one transaction and one sync to disk, then hands each its
/// outcome; the others wait. Concurrent uploads so share a sync instead of queueing for one each,
/// and a lone upload is committed at once, as before.
#[derive(Default)]
struct Group {
    /// Ticket, task: in arrival order.
    waiting: Vec<(u64, NewTask)>,
    /// A commit is running.
    committing: bool,
    next_ticket: u64,
    /// Outcomes not yet taken by their uploads.
    done: HashMap<u64, Result<i64>>,
    /// The most uploads one commit took (for the tests).
    #[cfg(test)]
    largest: usize,
}

/// Task ids are reserved in the id file in blocks of this many, so it is written once per
/// block of uploads, not once per upload.
const ID_BLOCK: i64 = 1000;

/// A file outside the database that holds a number no task id handed out has passed, so that
/// ids are not reused even when the database is lost: an old task URL must never show another
/// client's report.
struct IdFile {
    path: PathBuf,
    /// Every id up to this one is covered by the file.
    reserved: Mutex<i64>,
}

impl IdFile {
    fn read(path: &Path) -> Result<Option<i64>> {
        match std::fs::read_to_string(path) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| StoreError::IdFile {
                    path: path.to_owned(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("not a task id: {:?}", text.trim()),
                    ),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::IdFile {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes `n` and syncs it (written aside and renamed, so a crash leaves the old or the new).
    fn write(path: &Path, n: i64) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{n}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Records that `id` was handed out, reserving the next block when it is past the file.
    fn cover(&self, id: i64) -> std::io::Result<()> {
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if id > *reserved {
            let next = id + ID_BLOCK;
            Self::write(&self.path, next)?;
            *reserved = next;
        }
        Ok(())
    }
}

/// A connection: one of the pool, returned to it on drop; or, taken by [`Store::writer`], the
/// store's writer connection, given back to the next writer on drop.
pub struct Conn<'a> {
    store: &'a Store,
    conn: Option<Connection>,
    writer: bool,
    /// Its settings may differ from those every connection is opened with: closed on drop
    /// rather than used again.
    altered: bool,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A connection still in a transaction (its rollback failed) would refuse every write
        // after: the next writer opens a new one.
        let reusable = !self.altered && conn.is_autocommit();
        if self.writer {
            self.store.writing.give_back(reusable.then_some(conn));
        } else if reusable {
            if let Ok(mut idle) = self.store.idle.lock() {
                if idle.len() < POOL_MAX_IDLE {
                    idle.push(conn);
                }
            }
        }
    }
}

/// The writer connection and the turns to take it ([`Store::writer`]).
#[derive(Default)]
struct Writing {
    turns: Mutex<Turns>,
    free: Condvar,
}

#[derive(Default)]
struct Turns {
    /// The connection while nobody holds it; `None` before the first write opens it.
    idle: Option<Connection>,
    taken: bool,
    /// The last turn taken was an upload's.
    upload_turn: bool,
    /// Upload commits waiting for the connection: they go before the other writes.
    uploads_waiting: usize,
    /// Other writes waiting.
    others_waiting: usize,
}

impl Turns {
    /// The next turn is the other writes': an upload's was the last, and they wait.
    fn others_owed(&self) -> bool {
        self.upload_turn && self.others_waiting > 0
    }
}

impl Writing {
    fn turns(&self) -> MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the connection and takes it; `None` when it is still to be opened. An upload's
    /// commit goes before the other writes waiting, but not twice in a row while they wait.
    fn take(&self, upload: bool) -> Option<Connection> {
        let mut t = self.turns();
        match upload {
            true => t.uploads_waiting += 1,
            false => t.others_waiting += 1,
        }
        while t.taken
            || match upload {
                true => t.others_owed(),
                false => t.uploads_waiting > 0 && !t.others_owed(),
            }
        {
            t = self.free.wait(t).unwrap_or_else(|p| p.into_inner());
        }
        match upload {
            true => t.uploads_waiting -= 1,
            false => t.others_waiting -= 1,
        }
        t.taken = true;
        t.upload_turn = upload;
        t.idle.take()
    }

    /// Ends a turn, with the connection (`None`: it could not be opened, or is not to be used
    /// again).
    fn give_back(&self, conn: Option<Connection>) {
        let mut t = self.turns();
        t.idle = conn.or(t.idle.take());
        t.taken = false;
        drop(t);
        self.free.notify_all();
    }
}

/// Pages the WAL holds before SQLite checkpoints it after a commit (see `open_connection`).
const WAL_PAGES: i64 = 10_000;
/// Reports stored between two checkpoints run by an analysis thread (about 5,000 pages of small
/// tasks).
const CHECKPOINT_EVERY: u64 = 500;

/// How long a writer waits for the database at most.
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// Whether `e` is SQLite refusing a row (a constraint), rather than the database failing.
fn broke_a_constraint(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// The busy handler's sleep before try `tries + 1`, and how long the tries before it waited: 50 µs
/// steps for the first 2 ms, then 1 ms steps.
fn busy_step(tries: u32) -> (Duration, Duration) {
    const SHORT: u32 = 40;
    let short = Duration::from_micros(50);
    if tries < SHORT {
        (short, short * tries)
    } else {
        let long = Duration::from_millis(1);
        (long, short * SHORT + long * (tries - SHORT))
    }
}

/// Statements kept prepared per connection: more than the store has.
const STATEMENT_CACHE: usize = 128;

/// A stored report from this size is written into its row through SQLite's blob I/O (the row
/// made with a blob of zeros, then the bytes written over it) instead of bound whole: SQLite
/// copies a bound blob twice (binding it, then making the row), 15 MB at once beside the 7 MB
/// report of a 10,000-entry task.
const REPORT_PIECES_FROM: usize = 1024 * 1024;

/// The bytes of each write of [`write_report_pieces`].
const REPORT_PIECE: usize = 1024 * 1024;

/// A report as the value bound for its column: the bytes, or zeros to write them over
/// ([`write_report_pieces`]).
struct ReportValue<'r>(&'r Packed);

impl ToSql for ReportValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput;
        let bytes = self.0.as_bytes();
        Ok(if in_pieces(self.0) {
            ToSqlOutput::ZeroBlob(bytes.len() as u64)
        } else {
            ToSqlOutput::from(bytes)
        })
    }
}

/// Whether `report` is written into its row in pieces ([`REPORT_PIECES_FROM`]).
fn in_pieces(report: &Packed) -> bool {
    report.len() >= REPORT_PIECES_FROM
}

/// Writes task `id`'s report over the zeros [`ReportValue`] bound for a large one, in the
/// transaction that bound them (a failed write rolls the zeros back with it).
fn write_report_pieces(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    report: &Packed,
) -> rusqlite::Result<()> {
    if !in_pieces(report) {
        return Ok(());
    }
    let bytes = report.as_bytes();
    let mut blob = tx.blob_open(MAIN_DB, c"tasks", c"report", id, false)?;
    bytes
        .chunks(REPORT_PIECE)
        .enumerate()
        .try_for_each(|(i, piece)| blob.write_at(piece, i * REPORT_PIECE))
}

fn open_connection(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    // Writers wait for one another in short steps: SQLite's own busy_timeout handler sleeps up
    // to 100 ms between tries, which under steady contention (uploads, analysis and deliveries
    // all writing) became most of the time a write took; a millisecond at a time still made a
    // write wait three times as long as the one before it took (scripts/bench.py --accept-only).
    conn.busy_handler(Some(|tries: i32| {
        let (step, waited) = busy_step(tries.max(0) as u32);
        if waited >= BUSY_WAIT {
            return false;
        }
        std::thread::sleep(step);
        true
    }))?;
    // WAL lets readers run beside the writer. synchronous=NORMAL: a commit survives a process
    // crash; the one commit that must also survive a power cut (an accepted upload) raises it to
    // FULL for itself, see insert_task. FULL everywhere halved the upload rate (scripts/bench.sh).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // The WAL is copied back into the database (and the database synced) by the analysis
    // threads every CHECKPOINT_EVERY reports, outside the store's write lock (see
    // Store::finish); SQLite's own checkpoint after a commit is left as a backstop, at this many
    // pages instead of 1,000. At 1,000 (a small task writes about ten pages: its upload, claim
    // and report) checkpoints came some twenty times a second under a stream of small uploads
    // and took a seventh of the server's CPU, most of it the sync; pages written again between
    // two checkpoints (the tasks table's last leaf, its indexes) are now copied once. The WAL
    // file grows to some tens of MB.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every statement on a hot path is prepared once per connection (prepare_cached); with
    // rusqlite's default of 16 they pushed one another out and were parsed again each time.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // One plan per statement, whatever values are bound to it. Without this, the bundled
    // SQLite (built with STAT4) compiles a statement again whenever a new value is bound to a
    // parameter its plan looked at: a `LIMIT ?`, a range such as the due-deliveries query's
    // `next_at <= ?`, a column of a partial index. The delivery threads spent 7 % of their time
    // so. Our statements have one good plan each; the bound values never change it.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn = open_connection(path)?;
        migrate(&mut conn)?;
        Ok(Store {
            path: path.to_owned(),
            idle: Mutex::new(vec![conn]),
            ids: None,
            group: Mutex::default(),
            committed: Condvar::new(),
            writing: Writing::default(),
            finished: AtomicU64::new(0),
        })
    }

    /// The server's store: the database at `path`, with the task ids handed out also recorded
    /// in `id_file`. A missing or empty database is refused when the data directory was used
    /// before (the id file exists, or one of `traces` holds files) unless `new_store` is set;
    /// either way ids continue after the last one handed out.
    pub fn open_kept(
        path: &Path,
        id_file: &Path,
        traces: &[PathBuf],
        new_store: bool,
    ) -> Result<Store> {
        let floor = IdFile::read(id_file)?;
        let size = std::fs::metadata(path).map(|m| m.len()).ok();
        if size.unwrap_or(0) == 0 && !new_store {
            let mut seen: Vec<String> = traces
                .iter()
                .filter(|t| std::fs::read_dir(t).is_ok_and(|mut d| d.next().is_some()))
                .map(|t| t.display().to_string())
                .collect();
            if let Some(n) = floor {
                seen.insert(0, format!("{} (task ids up to {n})", id_file.display()));
            }
            if !seen.is_empty() {
                let state = if size.is_none() {
                    "missing"
                } else {
                    "empty (0 bytes)"
                };
                return Err(StoreError::Forgotten(format!(
                    "the database {} is {state}, but this data directory was used before: {}. \
                     If the disk filled up or the file was lost, restore it from a backup (and \
                     check free space). To start with an empty store on purpose, start once \
                     with --new-store: task ids then continue after the last one handed out.",
                    path.display(),
                    seen.join(", ")
                )));
            }
        }
        let mut store = Store::open(path)?;
        let floor = floor.unwrap_or(0);
        // The file is written a block ahead, so a database in use is at most a block behind it.
        // One further behind was restored from an older backup; a new one knows nothing: both
        // go on after the file's mark.
        let behind = |seq: i64| size.unwrap_or(0) == 0 || seq < floor - ID_BLOCK;
        let last = store.raise_task_ids(floor, behind)?;
        let mut reserved = floor;
        if reserved <= last {
            reserved = last + ID_BLOCK;
            IdFile::write(id_file, reserved).map_err(|source| StoreError::IdFile {
                path: id_file.to_owned(),
                source,
            })?;
        }
        store.ids = Some(IdFile {
            path: id_file.to_owned(),
            reserved: Mutex::new(reserved),
        });
        Ok(store)
    }

    /// Makes the next task id larger than `floor` when `behind` says so of the last id handed
    /// out; returns the last id handed out from now on.
    fn raise_task_ids(&self, floor: i64, behind: impl Fn(i64) -> bool) -> Result<i64> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq: i64 = tx
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'tasks'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if seq >= floor || !behind(seq) {
            return Ok(seq);
        }
        let updated = tx.execute(
            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'tasks'",
            params![floor],
        )?;
        if updated == 0 {
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('tasks', ?1)",
                params![floor],
            )?;
        }
        tx.commit()?;
        Ok(floor)
    }

    /// Takes a connection from the pool, opening one if none is idle.
    pub fn conn(&self) -> Result<Conn<'_>> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path)?,
        };
        Ok(Conn {
            store: self,
            conn: Some(conn),
            writer: false,
            altered: false,
        })
    }

    /// The connection of the frequent write transactions (an upload's commit, a task's claim
    /// and its report), taken in turns: the threads of the process queue for the database in
    /// the store and are woken as soon as the writer before them is done. Left to SQLite, they
    /// polled for its lock in the busy handler's sleeps, which under a stream of small uploads
    /// took a twentieth of the server's CPU and made each commit wait for the next poll. (Other
    /// writes still meet these on SQLite's lock.)
    ///
    /// An upload's commit (`upload`) goes before the claims and reports waiting: its clients
    /// wait for it, nobody waits for a report to be stored. Under a plain mutex, which an
    /// analysis thread could take again ahead of a commit already waiting, a group commit of 8
    /// connections' uploads of 4 KiB waited 0.4 ms on average for the analysis threads' writes,
    /// as long as it then took itself. A claim or report waiting gets the turn after each upload
    /// commit, so that a stream of uploads cannot hold off analysis.
    ///
    /// One connection for all of them rather than any of the pool: a connection that finds the
    /// database changed by another when it begins a transaction drops every page it had cached.
    fn writer(&self, upload: bool) -> Result<Conn<'_>> {
        let conn = match self.writing.take(upload) {
            Some(conn) => conn,
            None => open_connection(&self.path).inspect_err(|_| self.writing.give_back(None))?,
        };
        Ok(Conn {
            store: self,
            conn: Some(conn),
            writer: true,
            altered: false,
        })
    }

    /// Records an accepted upload as queued and returns its task id. Committed, and synced to
    /// disk, when this returns: together with the uploads that arrived while the previous commit
    /// ran ([`Group`]).
    pub fn insert_task(&self, t: NewTask) -> Result<i64> {
        let mut g = self.group();
        let ticket = g.next_ticket;
        g.next_ticket += 1;
        g.waiting.push((ticket, t));
        loop {
            if let Some(outcome) = g.done.remove(&ticket) {
                return outcome;
            }
            if !g.committing {
                g.committing = true;
                let batch = std::mem::take(&mut g.waiting);
                #[cfg(test)]
                {
                    g.largest = g.largest.max(batch.len());
                }
                drop(g);
                // Whatever happens in the commit, the next upload may commit after it.
                let outcomes = crate::log::guarded(|| self.commit_group(&batch));
                g = self.group();
                g.committing = false;
                match outcomes {
                    Ok(outcomes) => g.done.extend(outcomes),
                    Err(panic) => {
                        for (ticket, _) in &batch {
                            let why = StoreError::CommitFailed {
                                why: panic.0.clone(),
                                disk_full: false,
                            };
                            g.done.insert(*ticket, Err(why));
                        }
                    }
                }
                self.committed.notify_all();
                continue;
            }
            g = self.committed.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn group(&self) -> MutexGuard<'_, Group> {
        self.group.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits `batch` in one transaction synced to disk. When a task of it broke a constraint,
    /// each task is committed alone, so that one task's failure is not every task's; any other
    /// failure (the database busy, the disk full or failing) is every task's, and is not tried
    /// again task by task, which would keep the uploads behind waiting that much longer.
    /// Returns each ticket's task id or error.
    fn commit_group(&self, batch: &[(u64, NewTask)]) -> Vec<(u64, Result<i64>)> {
        let outcomes = match self.commit_synced(batch) {
            Ok(ids) => batch
                .iter()
                .map(|(t, _)| *t)
                .zip(ids.into_iter().map(Ok))
                .collect(),
            Err(e) if batch.len() == 1 => vec![(batch[0].0, Err(e))],
            Err(e) if !broke_a_constraint(&e) => {
                crate::log!("the commit of {} uploads failed: {e}", batch.len());
                let (why, disk_full) = (e.to_string(), e.is_disk_full());
                batch
                    .iter()
                    .map(|(t, _)| {
                        let why = why.clone();
                        (*t, Err(StoreError::CommitFailed { why, disk_full }))
                    })
                    .collect()
            }
            Err(_) => batch
                .iter()
                .map(|one| {
                    let id = self.commit_synced(std::slice::from_ref(one));
                    (one.0, id.map(|ids| ids[0]))
                })
                .collect(),
        };
        let last = outcomes.iter().filter_map(|(_, r)| r.as_ref().ok()).max();
        if let (Some(ids), Some(&last)) = (&self.ids, last) {
            // The tasks are committed; a failure here only delays the record to the next upload.
            if let Err(e) = ids.cover(last) {
                crate::log!(
                    "cannot record task id {last} in {}: {e}",
                    ids.path.display()
                );
            }
        }
        outcomes
    }

    /// Inserts `batch` in one transaction with `synchronous = FULL`, so that the commit survives
    /// a power cut as well as a crash. Returns the task ids, in order.
    fn commit_synced(&self, batch: &[(u64, NewTask)]) -> Result<Vec<i64>> {
        let mut c = self.writer(true)?;
        // Until it is NORMAL again, the writer is not to be used by the next (after a panic).
        c.altered = true;
        c.prepare_cached("PRAGMA synchronous = FULL")?.execute([])?;
        let ids = Self::insert_tasks_in(&mut c, batch.iter().map(|(_, t)| t));
        match c
            .prepare_cached("PRAGMA synchronous = NORMAL")
            .and_then(|mut s| s.execute([]))
        {
            Ok(_) => c.altered = false,
            Err(e) => crate::log!("store: cannot set the writer back to synchronous = NORMAL: {e}"),
        }
        ids
    }

    fn insert_tasks_in<'t>(
        c: &mut Connection,
        tasks: impl Iterator<Item = &'t NewTask>,
    ) -> Result<Vec<i64>> {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ids = Vec::new();
        for t in tasks {
            let forwarded = serde_json::to_string(&t.forwarded_for).unwrap_or_else(|_| "[]".into());
            tx.prepare_cached(
                "INSERT INTO tasks (state, submitted, file_name, size, sha1, spool_file, custom_token,
                                    custom_data, user_data, direct_sender, forwarded_for)
                 VALUES ('queued', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                t.submitted,
                t.file_name,
                t.size as i64,
                t.sha1,
                t.sample.column(),
                t.custom_token,
                t.custom_data,
                t.user_data,
                t.direct_sender,
                forwarded
            ])?;
            let id = tx.last_insert_rowid();
            if let Sample::Stored(bytes) = &t.sample {
                tx.prepare_cached("INSERT INTO samples (task_id, bytes) VALUES (?1, ?2)")?
                    .execute(params![id, bytes])?;
            }
            outbox::add(&tx, id, &t.deliveries, t.submitted)?;
            ids.push(id);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Moves a queued task to processing. `None` when it is no longer queued (deleted, cancelled).
    pub fn claim(&self, id: i64) -> Result<Option<Claimed>> {
        let mut c = self.writer(false)?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let claimed = Self::claim_in(&tx, id)?;
        tx.commit()?;
        Ok(claimed)
    }

    /// [`Store::claim_in`] inside a savepoint of `tx`: what it wrote is undone if it fails, and
    /// the rest of `tx` stands.
    fn claim_apart(tx: &mut rusqlite::Transaction<'_>, id: i64) -> Result<Option<Claimed>> {
        let sp = tx.savepoint()?;
        let claimed = Self::claim_in(&sp, id)?;
        sp.commit()?;
        Ok(claimed)
    }

    fn claim_in(tx: &Connection, id: i64) -> Result<Option<Claimed>> {
        // Read, then updated, rather than `UPDATE ... RETURNING`: SQLite keeps the rows a
        // RETURNING gives in a temporary table of their own, made and dropped for every
        // statement (a tenth of a small task's analysis thread, `perf`).
        let claimed = tx
            .prepare_cached(
                "SELECT spool_file, file_name, size FROM tasks
                 WHERE id = ?1 AND state = 'queued' AND spool_file IS NOT NULL",
            )?
            .query_row(params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })
            .optional()?;
        let Some((column, file_name, size)) = claimed else {
            return Ok(None);
        };
        tx.prepare_cached(
            "UPDATE tasks SET state = 'processing', attempts = attempts + 1 WHERE id = ?1",
        )?
        .execute(params![id])?;
        let Some(sample) = Self::sample_in(tx, id, Some(column))? else {
            // Stored bytes are written and let go of with the row, so only a damaged database
            // gets here: the task fails rather than waiting for bytes that will not come.
            tx.prepare_cached(
                "UPDATE tasks SET state = 'failed', processed = ?2, spool_file = NULL,
                                  error = 'the sample is missing from the database'
                 WHERE id = ?1",
            )?
            .execute(params![id, crate::time::now()])?;
            crate::log!("task {id} failed: the sample is missing from the database");
            return Ok(None);
        };
        Ok(Some(Claimed {
            id,
            sample,
            file_name,
            size,
        }))
    }

    /// The sample a task's `spool_file` column stands for; `None` if it is gone.
    fn sample_in(c: &Connection, id: i64, column: Option<String>) -> Result<Option<Sample>> {
        Ok(match column {
            None => None,
            Some(name) if name != IN_STORE => Some(Sample::Spool(name)),
            Some(_) => c
                .prepare_cached("SELECT bytes FROM samples WHERE task_id = ?1")?
                .query_row(params![id], |r| r.get(0))
                .optional()?
                .map(Sample::Stored),
        })
    }

    /// The sample a task still holds (queued, processing, or kept for its delivery to S3).
    pub fn sample(&self, id: i64) -> Result<Option<Sample>> {
        let c = self.conn()?;
        let column: Option<String> = c
            .prepare_cached("SELECT spool_file FROM tasks WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?
            .flatten();
        Self::sample_in(&c, id, column)
    }

    /// Ends processing with a report (`done`) or an error (`failed`, still with a report that says
    /// what went wrong), and stores, in the same transaction, the deliveries `end.deliver`
    /// chooses for it (from the task's `user_data`). The task lets go of its sample unless a
    /// delivery still reads it (`keep_sample`). `Stale` when the task was no longer processing.
    ///
    /// With `next`, the same transaction also claims that task ([`Store::claim`]): an analysis
    /// thread with another task waiting writes the pages the two share (the tasks table's last
    /// leaf, the state index, the sample's) and commits once instead of twice. The claim's own
    /// outcome is the second value: a claim that fails (a damaged database) leaves that task
    /// queued and does not undo the report.
    pub fn finish(
        &self,
        id: i64,
        end: &Ending<'_>,
        next: Option<i64>,
    ) -> Result<(Finished, Result<Option<Claimed>>)> {
        debug_assert!(matches!(end.state, TaskState::Done | TaskState::Failed));
        let mut c = self.writer(false)?;
        let mut tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let keep_sample = outbox::needs_sample(&tx, id)?;
        let n = tx
            .prepare_cached(
                "UPDATE tasks SET state = ?2, processed = ?3, report = ?4, error = ?5,
                                  spool_file = CASE WHEN ?6 THEN spool_file END
                 WHERE id = ?1 AND state = 'processing'",
            )?
            .execute(params![
                id,
                end.state.as_str(),
                end.at,
                ReportValue(end.report),
                end.error,
                keep_sample
            ])?;
        let finished = if n == 0 {
            Finished::Stale
        } else {
            write_report_pieces(&tx, id, end.report)?;
            let user_data: Option<String> = tx
                .prepare_cached("SELECT user_data FROM tasks WHERE id = ?1")?
                .query_row(params![id], |r| r.get(0))?;
            outbox::add(&tx, id, &(end.deliver)(user_data.as_deref()), end.at)?;
            Finished::Stored { keep_sample }
        };
        let claimed = match next {
            Some(next) => Self::claim_apart(&mut tx, next),
            None => Ok(None),
        };
        tx.commit()?;
        drop(c);
        if n > 0
            && self.finished.fetch_add(1, Ordering::Relaxed) % CHECKPOINT_EVERY
                == CHECKPOINT_EVERY - 1
        {
            self.checkpoint();
        }
        Ok((finished, claimed))
    }

    /// Copies the WAL back into the database, without the store's write lock: a checkpoint run
    /// by SQLite after a commit would run under it, and every upload, claim and report would
    /// wait for it. PASSIVE: writers go on appending to the WAL meanwhile. The report is
    /// stored whatever happens here.
    fn checkpoint(&self) {
        let done = self
            .conn()
            .and_then(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")?));
        if let Err(e) = done {
            crate::log!("store: WAL checkpoint failed: {e}");
        }
    }

    /// Returns a task that was being processed to the queue (clean shutdown); the attempt does not count.
    /// `false` when it was not processing.
    pub fn release(&self, id: i64) -> Result<bool> {
        let c = self.conn()?;
        let n = c
            .prepare_cached(
                "UPDATE tasks SET state = 'queued', attempts = max(attempts - 1, 0)
                 WHERE id = ?1 AND state = 'processing'",
            )?
            .execute(params![id])?;
        Ok(n > 0)
    }

    /// Start-up: tasks left processing by a crash go back to the queue, except those whose analysis
    /// has already been started `max_attempts` times (a sample that kills the process each time),
    /// which fail with a report. Returns every queued id, oldest first.
    pub fn recover(&self, max_attempts: u32, now: i64) -> Result<Recovery> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut rec = Recovery::default();
        {
            let mut stmt = tx.prepare(
                "SELECT id, spool_file, file_name FROM tasks
                 WHERE state = 'processing' AND attempts >= ?1",
            )?;
            let rows = stmt.query_map(params![max_attempts], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            for row in rows {
                let (id, column, file_name) = row?;
                let sample = Self::sample_in(&tx, id, column)?;
                rec.given_up.push((id, sample, file_name));
            }
        }
        tx.execute(
            "UPDATE tasks SET state = 'failed', processed = ?2, spool_file = NULL,
                    error = 'analysis was interrupted ' || attempts || ' times; giving up on this file'
             WHERE state = 'processing' AND attempts >= ?1",
            params![max_attempts, now],
        )?;
        rec.requeued = tx.execute(
            "UPDATE tasks SET state = 'queued' WHERE state = 'processing'",
            [],
        )?;
        {
            let mut stmt = tx.prepare("SELECT id FROM tasks WHERE state = 'queued' ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            for row in rows {
                rec.queued.push(row?);
            }
        }
        tx.commit()?;
        Ok(rec)
    }

    /// Stores the report of a task that was given up on during recovery.
    pub fn set_report(&self, id: i64, report: &Packed) -> Result<()> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE tasks SET report = ?2 WHERE id = ?1",
            params![id, ReportValue(report)],
        )?;
        if n > 0 {
            write_report_pieces(&tx, id, report)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// One task, or `None` if there is no such task.
    pub fn get_task(&self, id: i64) -> Result<Option<Task>> {
        let Some((mut task, packed)) = self.get_task_packed(id)? else {
            return Ok(None);
        };
        if let Some(packed) = packed {
            task.report = Some(
                packed
                    .unpack()
                    .map_err(|reason| StoreError::Damaged { id, reason })?,
            );
        }
        Ok(Some(task))
    }

    /// One task with its report as stored (compressed), which is not in the [`Task`]: what
    /// `GET task` reads, sending a large report as it is inflated.
    pub fn get_task_packed(&self, id: i64) -> Result<Option<(Task, Option<Packed>)>> {
        let c = self.conn()?;
        let task = c
            .prepare_cached(
                "SELECT id, state, submitted, coalesce(processed, cancelled), custom_data,
                        direct_sender, forwarded_for, error, report, sha1, user_data
                 FROM tasks WHERE id = ?1",
            )?
            .query_row(params![id], |r| {
                let forwarded: String = r.get(6)?;
                Ok(Task {
                    id: r.get(0)?,
                    state: TaskState::parse(&r.get::<_, String>(1)?),
                    submitted: r.get(2)?,
                    processed: r.get(3)?,
                    custom_data: r.get(4)?,
                    direct_sender: r.get(5)?,
                    forwarded_for: serde_json::from_str(&forwarded).unwrap_or_default(),
                    error: r.get(7)?,
                    report: r.get(8)?,
                    sha1: r.get(9)?,
                    user_data: r.get(10)?,
                })
            })
            .optional()?;
        Ok(task.map(|mut task| {
            let packed = task.report.take().map(Packed::from_stored);
            (task, packed)
        }))
    }

    /// Tasks submitted at or before `submitted_before` (all when `None`), with the given custom
    /// token (already stripped of its `Token ` prefix) if any, oldest first. Cancelled tasks are
    /// left out: the list holds the tasks whose report is or will be there to read.
    pub fn list_tasks(
        &self,
        submitted_before: Option<i64>,
        token: Option<&str>,
    ) -> Result<Vec<TaskSummary>> {
        let c = self.conn()?;
        let mut stmt = c.prepare_cached(
            "SELECT id, submitted, processed FROM tasks
             WHERE (?1 IS NULL OR submitted <= ?1) AND (?2 IS NULL OR custom_token = ?2)
               AND state <> 'cancelled'
             ORDER BY id",
        )?;
        let rows = stmt.query_map(params![submitted_before, token], |r| {
            Ok(TaskSummary {
                id: r.get(0)?,
                submitted: r.get(1)?,
                processed: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Deletes one task (a sample kept in the database goes with it). `None` if it did not
    /// exist, else its spool file if it still had one.
    pub fn delete_task(&self, id: i64) -> Result<Option<Option<String>>> {
        let c = self.conn()?;
        let spool = c
            .query_row(
                "DELETE FROM tasks WHERE id = ?1 RETURNING spool_file",
                params![id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?;
        Ok(spool.map(spool_name))
    }

    /// Deletes every task submitted at or before `submitted_before`; returns their spool files.
    pub fn delete_submitted_before(&self, submitted_before: i64) -> Result<Vec<String>> {
        let c = self.conn()?;
        let mut stmt = c.prepare("DELETE FROM tasks WHERE submitted <= ?1 RETURNING spool_file")?;
        let rows = stmt.query_map(params![submitted_before], |r| r.get::<_, Option<String>>(0))?;
        let mut files = Vec::new();
        for f in rows {
            files.extend(spool_name(f?));
        }
        Ok(files)
    }

    /// Cancels tasks still queued that were submitted before `submitted_before`; returns how many,
    /// and their spool files, which the caller deletes (samples kept in the database go with the
    /// cancel). The records stay until the cancelled retention ends.
    pub fn cancel_queued_before(
        &self,
        submitted_before: i64,
        reason: &str,
        now: i64,
    ) -> Result<(usize, Vec<String>)> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut files = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT spool_file FROM tasks
                 WHERE state = 'queued' AND submitted < ?1 AND spool_file IS NOT NULL",
            )?;
            for f in stmt.query_map(params![submitted_before], |r| r.get(0))? {
                files.extend(spool_name(f?));
            }
        }
        let n = tx.execute(
            "UPDATE tasks SET state = 'cancelled', cancelled = ?2, error = ?3, spool_file = NULL
             WHERE state = 'queued' AND submitted < ?1",
            params![submitted_before, now, reason],
        )?;
        tx.commit()?;
        Ok((n, files))
    }

    /// Purges finished tasks processed before `processed_before` and cancelled tasks cancelled before
    /// `cancelled_before`. Returns how many records went.
    /// Deletes expired records; a task whose deliveries are still pending is kept for them.
    pub fn purge(&self, processed_before: i64, cancelled_before: i64) -> Result<usize> {
        let c = self.conn()?;
        let n = c.execute(
            "DELETE FROM tasks
             WHERE ((state IN ('done', 'failed') AND processed < ?1)
                    OR (state = 'cancelled' AND cancelled < ?2))
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.task_id = tasks.id AND d.state = 'pending')",
            params![processed_before, cancelled_before],
        )?;
        Ok(n)
    }

    /// Spool files that a task still needs (queued, processing, or kept for a delivery).
    pub fn live_spool_files(&self) -> Result<HashSet<String>> {
        let c = self.conn()?;
        let mut stmt = c.prepare("SELECT spool_file FROM tasks WHERE spool_file IS NOT NULL")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        let mut live = HashSet::new();
        for f in rows {
            live.extend(spool_name(f?));
        }
        Ok(live)
    }

    /// Number of tasks waiting in the queue.
    pub fn count_queued(&self) -> Result<u64> {
        let c = self.conn()?;
        let n: i64 = c
            .prepare_cached("SELECT count(*) FROM tasks WHERE state = 'queued'")?
            .query_row([], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// A persistent setting.
    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        let c = self.conn()?;
        Ok(
            c.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?,
        )
    }

    /// Sets a persistent setting.
    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        let c = self.conn()?;
        c.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Sets a setting only if it is absent, and returns the value in force either way.
    pub fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, value],
        )?;
        let v: String =
            tx.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })?;
        tx.commit()?;
        Ok(v)
    }

    /// Adds counter deltas to their buckets: (bucket, name, delta).
    pub fn stats_add(&self, deltas: &[(i64, &str, f64)]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO stats (bucket, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (bucket, name) DO UPDATE SET value = value + excluded.value",
            )?;
            for (bucket, name, value) in deltas {
                stmt.execute(params![bucket, name, value])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every bucket from `from_bucket` on: (bucket, name, value).
    pub fn stats_since(&self, from_bucket: i64) -> Result<Vec<(i64, String, f64)>> {
        let c = self.conn()?;
        let mut stmt =
            c.prepare_cached("SELECT bucket, name, value FROM stats WHERE bucket >= ?1")?;
        let rows = stmt.query_map(params![from_bucket], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Drops buckets before `before_bucket`.
    pub fn stats_purge(&self, before_bucket: i64) -> Result<usize> {
        let c = self.conn()?;
        Ok(c.execute(
            "DELETE FROM stats WHERE bucket < ?1",
            params![before_bucket],
        )?)
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (to, sql) in [(1, SCHEMA), (2, OUTBOX), (3, OUTBOX_V3), (4, SAMPLES_V4)] {
        if version < to {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// Stores `report` for processing task `id` as done at `at`, claiming no other task.
    fn finish_done(s: &Store, id: i64, report: &Packed, at: i64, deliver: &TargetsOf) -> Finished {
        let end = Ending {
            state: TaskState::Done,
            report,
            error: None,
            at,
            deliver,
        };
        s.finish(id, &end, None).unwrap().0
    }

    fn temp_store() -> (Store, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "assay-store-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        (Store::open(&dir.join("t.db")).unwrap(), dir)
    }

    fn new_task(submitted: i64, spool: &str, token: Option<&str>) -> NewTask {
        NewTask {
            submitted,
            file_name: "f.bin".into(),
            size: 3,
            sha1: "x".into(),
            sample: Sample::Spool(spool.into()),
            custom_token: token.map(str::to_string),
            custom_data: None,
            user_data: None,
            direct_sender: "127.0.0.1".into(),
            forwarded_for: vec!["10.0.0.1".into()],
            deliveries: Vec::new(),
        }
    }

    #[test]
    fn ids_are_not_reused_after_delete() {
        let (s, dir) = temp_store();
        let a = s.insert_task(new_task(100, "a", None)).unwrap();
        assert_eq!(s.delete_task(a).unwrap(), Some(Some("a".into())));
        let b = s.insert_task(new_task(100, "b", None)).unwrap();
        assert!(b > a);
        assert_eq!(s.delete_task(a).unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_uploads_are_committed_together_each_with_its_own_task() {
        let (s, dir) = temp_store();
        let ids: Vec<Vec<i64>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|n| {
                    let s = &s;
                    scope.spawn(move || {
                        (0..50)
                            .map(|i| {
                                let spool = format!("{n}-{i}");
                                let id = s.insert_task(new_task(100, &spool, None)).unwrap();
                                // Committed when insert_task returns: another connection sees it.
                                assert_eq!(s.sample(id).unwrap(), Some(Sample::Spool(spool)));
                                id
                            })
                            .collect()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut all: Vec<i64> = ids.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 400, "every upload has a task of its own");
        for mine in &ids {
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "in each client's order"
            );
        }
        assert_eq!(s.count_queued().unwrap(), 400);
        let g = s.group();
        assert!(g.waiting.is_empty() && g.done.is_empty() && !g.committing);
        assert!(g.largest > 1, "some uploads shared a commit");
        drop(g);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_upload_its_commit_refuses_does_not_sink_the_others_of_its_group() {
        let (s, dir) = temp_store();
        let mut bad = new_task(100, "bad", None);
        // Negative once stored as a signed integer: the table's CHECK refuses the row.
        bad.size = u64::MAX;
        let batch = [
            (1, new_task(100, "a", None)),
            (2, bad),
            (3, new_task(100, "c", None)),
        ];
        let outcomes = s.commit_group(&batch);
        let ok: Vec<(u64, bool)> = outcomes.iter().map(|(t, r)| (*t, r.is_ok())).collect();
        assert_eq!(ok, [(1, true), (2, false), (3, true)]);
        assert_eq!(s.count_queued().unwrap(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn task_ids_go_on_across_restarts_a_lost_database_and_an_old_backup() {
        let (s, dir) = temp_store();
        drop(s);
        let (db, ids, spool) = (
            dir.join("k.db"),
            dir.join("last-task-id"),
            dir.join("spool"),
        );
        let open = |new_store| Store::open_kept(&db, &ids, std::slice::from_ref(&spool), new_store);
        let insert = |s: &Store| s.insert_task(new_task(100, "a", None)).unwrap();
        // A restart does not skip ids.
        let s = open(false).unwrap();
        assert_eq!((insert(&s), insert(&s)), (1, 2));
        drop(s);
        let s = open(false).unwrap();
        assert_eq!(insert(&s), 3);
        // Id 1,001 passed the first block: the file moved a block past it, once.
        let last = (0..ID_BLOCK).map(|_| insert(&s)).last().unwrap();
        assert_eq!(last, 1003);
        assert_eq!(IdFile::read(&ids).unwrap(), Some(1001 + ID_BLOCK));
        drop(s);
        // A lost database is refused, then on purpose started again after the mark.
        std::fs::remove_file(&db).unwrap();
        let _ = std::fs::remove_file(dir.join("k.db-wal"));
        let err = open(false).err().unwrap().to_string();
        assert!(
            err.contains("missing") && err.contains("last-task-id"),
            "{err}"
        );
        let s = open(true).unwrap();
        let after = insert(&s);
        assert!(after > last, "{after} after {last}");
        drop(s);
        // A database older than the file by more than a block (a restored backup) goes on
        // after the file's mark too.
        std::fs::write(&ids, format!("{}\n", after + 5 * ID_BLOCK)).unwrap();
        let s = open(false).unwrap();
        assert!(insert(&s) > after + 5 * ID_BLOCK);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn deliveries_are_written_with_the_report_taken_once_retried_and_keep_their_task() {
        let (s, dir) = temp_store();
        let id = s.insert_task(new_task(100, "a", None)).unwrap();
        s.claim(id).unwrap().unwrap();
        let both = |_: Option<&str>| vec![Target::Callback, Target::Splunk];
        assert_ne!(
            finish_done(&s, id, &Packed::of(b"[]"), 200, &both),
            Finished::Stale
        );
        assert_eq!(s.backlog().unwrap().pending, 2);
        let due = |target, at, held: &dyn Fn(i64) -> bool| {
            s.due_deliveries(target, at, 10, held).unwrap()
        };
        let none = |_| false;
        let taken = due(Target::Callback, 200, &none);
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].attempts, taken[0].created), (1, 200));
        // What a delivery thread holds is left to it.
        assert!(due(Target::Callback, 300, &|t| t == id).is_empty());
        // A failure makes it due later, counted as an attempt.
        let retry = Record::Retry {
            at: 400,
            error: "HTTP 503".into(),
        };
        s.record_deliveries(&[(&taken[0], retry)]).unwrap();
        assert!(due(Target::Callback, 399, &none).is_empty());
        let again = due(Target::Callback, 400, &none);
        assert_eq!(again[0].attempts, 2);
        assert_eq!(s.backlog().unwrap().retrying, 1);
        // A restart makes every pending delivery due at once.
        let retry = Record::Retry {
            at: 5000,
            error: "HTTP 503".into(),
        };
        s.record_deliveries(&[(&again[0], retry)]).unwrap();
        assert!(due(Target::Callback, 450, &none).is_empty());
        assert_eq!(s.restart_deliveries(450).unwrap(), 2, "both pending");
        let again = due(Target::Callback, 450, &none);
        assert_eq!(again[0].attempts, 3);
        // Pending deliveries keep the task past its retention.
        assert_eq!(
            s.purge(10_000, 10_000).unwrap(),
            0,
            "kept for its deliveries"
        );
        let splunk = due(Target::Splunk, 500, &none);
        let gave_up = Record::GaveUp {
            at: 600,
            error: "bad token".into(),
        };
        s.record_deliveries(&[
            (&again[0], Record::Delivered { at: 500 }),
            (&splunk[0], gave_up),
        ])
        .unwrap();
        let states = s.deliveries_of(id).unwrap();
        assert_eq!(
            states,
            vec![
                (Target::Callback, "done".to_string()),
                (Target::Splunk, "failed".to_string())
            ]
        );
        assert_eq!(s.backlog().unwrap(), Backlog::default());
        assert_eq!(s.purge(10_000, 10_000).unwrap(), 1);
        assert!(
            s.deliveries_of(id).unwrap().is_empty(),
            "removed with their task"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn statements_are_planned_once_whatever_values_are_bound() {
        let (s, dir) = temp_store();
        let id = s.insert_task(new_task(100, "a", None)).unwrap();
        s.claim(id).unwrap().unwrap();
        let both = |_: Option<&str>| vec![Target::Callback, Target::Splunk];
        finish_done(&s, id, &Packed::of(b"[]"), 200, &both);
        // The delivery threads ask again and again, each time with a new `now`.
        for at in [100, 200, 300, 400] {
            for target in [Target::Callback, Target::Splunk] {
                s.due_deliveries(target, at, 10, |_| false).unwrap();
            }
        }
        let c = s.conn().unwrap();
        let due = c.prepare_cached(outbox::DUE).unwrap();
        assert_eq!(due.get_status(StatementStatus::RePrepare), 0);
        // Not only that query: a plan that looks at a bound LIMIT is kept too.
        let mut limited = c
            .prepare("SELECT id FROM tasks WHERE state = ?1 LIMIT ?2")
            .unwrap();
        for n in 1..5 {
            limited
                .query_map(params!["done", n], |_| Ok(()))
                .unwrap()
                .count();
        }
        assert_eq!(limited.get_status(StatementStatus::RePrepare), 0);
        drop((due, limited));
        drop(c);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_sample_a_delivery_reads_stays_until_that_delivery_is_over() {
        let (s, dir) = temp_store();
        let task = NewTask {
            deliveries: vec![Target::S3Sample],
            ..new_task(100, "kept", None)
        };
        let id = s.insert_task(task).unwrap();
        assert_eq!(s.backlog().unwrap().pending, 1, "written with the task");
        s.claim(id).unwrap().unwrap();
        let none = |_: Option<&str>| Vec::new();
        assert_eq!(
            finish_done(&s, id, &Packed::of(b"[]"), 200, &none),
            Finished::Stored { keep_sample: true }
        );
        let spool = |id| s.sample(id).unwrap();
        assert_eq!(spool(id), Some(Sample::Spool("kept".into())));
        // A failed attempt keeps it; the delivery made lets it go, once.
        let due = |at| {
            s.due_deliveries(Target::S3Sample, at, 1, |_| false)
                .unwrap()
        };
        let d = due(200);
        let retry = Record::Retry {
            at: 250,
            error: "down".into(),
        };
        assert!(s.record_deliveries(&[(&d[0], retry)]).unwrap().is_empty());
        assert_eq!(spool(id), Some(Sample::Spool("kept".into())));
        let d = due(250);
        let released = s
            .record_deliveries(&[(&d[0], Record::Delivered { at: 300 })])
            .unwrap();
        assert_eq!(released, ["kept"]);
        assert_eq!(spool(id), None);
        // Delivered before analysis ended: the analysis still needs it, then deletes it.
        let id = s
            .insert_task(NewTask {
                deliveries: vec![Target::S3Sample],
                ..new_task(100, "b", None)
            })
            .unwrap();
        let d = due(200);
        let released = s
            .record_deliveries(&[(&d[0], Record::Delivered { at: 300 })])
            .unwrap();
        assert!(released.is_empty(), "queued: analysis still needs it");
        s.claim(id).unwrap().unwrap();
        assert_eq!(
            finish_done(&s, id, &Packed::of(b"[]"), 400, &none),
            Finished::Stored { keep_sample: false }
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A stored task: its sample in the database.
    fn stored(submitted: i64, bytes: &[u8]) -> NewTask {
        NewTask {
            sample: Sample::Stored(bytes.to_vec()),
            ..new_task(submitted, "unused", None)
        }
    }

    fn stored_samples(s: &Store) -> i64 {
        s.conn()
            .unwrap()
            .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_stored_sample_is_read_by_its_analysis_and_goes_with_every_way_a_task_lets_go() {
        let (s, dir) = temp_store();
        let none = |_: Option<&str>| Vec::new();
        // Analysed: claimed with its bytes, gone once the report is stored.
        let a = s.insert_task(stored(100, b"small sample")).unwrap();
        assert_eq!(
            s.sample(a).unwrap(),
            Some(Sample::Stored(b"small sample".to_vec()))
        );
        assert!(s.live_spool_files().unwrap().is_empty(), "no file to keep");
        let c = s.claim(a).unwrap().unwrap();
        assert_eq!(c.sample, Sample::Stored(b"small sample".to_vec()));
        finish_done(&s, a, &Packed::of(b"[]"), 110, &none);
        assert_eq!(s.sample(a).unwrap(), None);
        assert_eq!(stored_samples(&s), 0);
        // Kept for its delivery to S3, then let go of without a file to delete.
        let b = s
            .insert_task(NewTask {
                deliveries: vec![Target::S3Sample],
                ..stored(100, b"b")
            })
            .unwrap();
        s.claim(b).unwrap().unwrap();
        let kept = finish_done(&s, b, &Packed::of(b"[]"), 110, &none);
        assert_eq!(kept, Finished::Stored { keep_sample: true });
        assert_eq!(s.sample(b).unwrap(), Some(Sample::Stored(b"b".to_vec())));
        let d = s
            .due_deliveries(Target::S3Sample, 200, 1, |_| false)
            .unwrap();
        let released = s
            .record_deliveries(&[(&d[0], Record::Delivered { at: 300 })])
            .unwrap();
        assert!(released.is_empty(), "nothing in the spool");
        assert_eq!((s.sample(b).unwrap(), stored_samples(&s)), (None, 0));
        // Deleted one by one or by age, and cancelled: no file names, and no bytes left.
        let one = s.insert_task(stored(100, b"1")).unwrap();
        let old = s.insert_task(stored(50, b"2")).unwrap();
        let late = s.insert_task(stored(60, b"3")).unwrap();
        assert_eq!(stored_samples(&s), 3);
        assert_eq!(s.delete_task(one).unwrap(), Some(None));
        assert!(s.delete_submitted_before(55).unwrap().is_empty());
        assert_eq!(s.get_task(old).unwrap().map(|t| t.id), None);
        assert_eq!(s.cancel_queued_before(70, "late", 80).unwrap(), (1, vec![]));
        assert_eq!(
            s.get_task(late).unwrap().unwrap().state,
            TaskState::Cancelled
        );
        assert_eq!(stored_samples(&s), 0);
        // Given up on at start-up: the report is made from the bytes the recovery hands over.
        let d = s.insert_task(stored(100, b"crashes")).unwrap();
        s.claim(d).unwrap().unwrap();
        let rec = s.recover(1, 200).unwrap();
        let bytes = Sample::Stored(b"crashes".to_vec());
        assert_eq!(rec.given_up, vec![(d, Some(bytes), "f.bin".to_string())]);
        assert_eq!(stored_samples(&s), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_full_database_says_so_alone_and_in_a_group() {
        let (s, dir) = temp_store();
        // Uploads are committed on the writer connection.
        s.writer(true)
            .unwrap()
            .execute_batch("PRAGMA max_page_count = 64")
            .unwrap();
        let big = vec![7u8; STORED_SAMPLE_MAX];
        let full = (0..8)
            .map(|_| s.insert_task(stored(100, &big)))
            .find_map(Result::err)
            .expect("64 pages hold fewer than eight samples of 64 KiB");
        assert!(full.is_disk_full(), "{full}");
        // Uploads at once, committed alone or in groups (whose failure is every upload's): each
        // is told the disk is full.
        std::thread::scope(|scope| {
            let uploads: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| s.insert_task(stored(100, &big))))
                .collect();
            for u in uploads {
                let e = u.join().unwrap().unwrap_err();
                assert!(e.is_disk_full(), "{e}");
            }
        });
        assert!(!StoreError::Forgotten(String::new()).is_disk_full());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_database_of_version_3_keeps_its_tasks_and_takes_stored_samples() {
        let (s, dir) = temp_store();
        let old = s.insert_task(new_task(100, "old.sample", None)).unwrap();
        let c = s.conn().unwrap();
        c.execute_batch(
            "DROP TRIGGER samples_released; DROP TABLE samples; PRAGMA user_version = 3;",
        )
        .unwrap();
        drop(c);
        drop(s);
        let s = Store::open(&dir.join("t.db")).unwrap();
        assert_eq!(
            s.sample(old).unwrap(),
            Some(Sample::Spool("old.sample".into()))
        );
        let new = s.insert_task(stored(100, b"new")).unwrap();
        assert_eq!(
            s.claim(new).unwrap().unwrap().sample,
            Sample::Stored(b"new".to_vec())
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn lifecycle_queued_processing_done() {
        let (s, dir) = temp_store();
        let id = s.insert_task(new_task(100, "a", None)).unwrap();
        let c = s.claim(id).unwrap().unwrap();
        assert_eq!(c.sample, Sample::Spool("a".into()));
        assert!(s.claim(id).unwrap().is_none(), "a task is claimed once");
        assert_ne!(
            finish_done(&s, id, &Packed::of(b"[]"), 105, &|_| Vec::new()),
            Finished::Stale
        );
        let t = s.get_task(id).unwrap().unwrap();
        assert_eq!(t.state, TaskState::Done);
        assert_eq!(t.processed, Some(105));
        assert_eq!(t.report.as_deref(), Some(&b"[]"[..]));
        assert_eq!(t.forwarded_for, vec!["10.0.0.1".to_string()]);
        assert!(s.live_spool_files().unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn upload_commits_take_the_writer_before_other_writes_but_not_twice_in_a_row() {
        let w = Writing::default();
        let order = Mutex::new(Vec::new());
        let waiting = |n| loop {
            let t = w.turns();
            if t.uploads_waiting + t.others_waiting >= n {
                break;
            }
            drop(t);
            std::thread::yield_now();
        };
        assert!(w.take(false).is_none(), "nothing opened yet");
        std::thread::scope(|scope| {
            let mut writers = Vec::new();
            // Two reports come first, then two uploads, while the writer is taken.
            for (n, (who, upload)) in [
                ("report", false),
                ("report", false),
                ("upload", true),
                ("upload", true),
            ]
            .into_iter()
            .enumerate()
            {
                let (w, order) = (&w, &order);
                writers.push(scope.spawn(move || {
                    w.take(upload);
                    order.lock().unwrap().push(who);
                    w.give_back(None);
                }));
                waiting(n + 1);
            }
            w.give_back(None);
            for writer in writers {
                writer.join().unwrap();
            }
        });
        let order = order.into_inner().unwrap();
        assert_eq!(order, ["upload", "report", "upload", "report"]);
        let t = w.turns();
        assert_eq!(
            (t.taken, t.uploads_waiting, t.others_waiting),
            (false, 0, 0)
        );
        assert!(!t.others_owed());
    }

    #[test]
    fn a_report_stored_with_the_next_task_claimed_is_one_commit_of_both() {
        let (s, dir) = temp_store();
        let [a, b, c, d] = [1, 2, 3, 4].map(|n| {
            s.insert_task(stored(100 + n, format!("sample {n}").as_bytes()))
                .unwrap()
        });
        s.claim(a).unwrap().unwrap();
        let end = |report| Ending {
            state: TaskState::Done,
            report,
            error: None,
            at: 110,
            deliver: &|_| Vec::new(),
        };
        let report = Packed::of(b"[]");
        let (finished, next) = s.finish(a, &end(&report), Some(b)).unwrap();
        assert_eq!(finished, Finished::Stored { keep_sample: false });
        let next = next.unwrap().expect("b was queued");
        assert_eq!(
            (next.id, next.sample),
            (b, Sample::Stored(b"sample 2".to_vec()))
        );
        let state = |id| s.get_task(id).unwrap().unwrap().state;
        assert_eq!(
            (state(a), state(b)),
            (TaskState::Done, TaskState::Processing)
        );
        // Claimed once: as by Store::claim, the attempt counts (a crash now is b's).
        assert!(s.claim(b).unwrap().is_none());
        assert_eq!(s.recover(1, 120).unwrap().given_up.len(), 1);
        // A task no longer queued is not claimed; a stale report still lets the next be claimed.
        s.claim(c).unwrap().unwrap();
        s.delete_task(c).unwrap();
        let finish_c = |next| {
            let (finished, next) = s.finish(c, &end(&report), Some(next)).unwrap();
            (finished, next.unwrap().map(|n: Claimed| n.id))
        };
        assert_eq!(finish_c(a), (Finished::Stale, None));
        assert_eq!(finish_c(d), (Finished::Stale, Some(d)));
        assert_eq!(state(d), TaskState::Processing);
        // A claim that fails leaves its task queued and the report stored.
        let e = s.insert_task(stored(105, b"e")).unwrap();
        s.conn()
            .unwrap()
            .execute_batch(&format!(
                "CREATE TRIGGER broken BEFORE UPDATE OF state ON tasks
                 WHEN NEW.id = {e} AND NEW.state = 'processing'
                 BEGIN SELECT RAISE(ABORT, 'a damaged page'); END;"
            ))
            .unwrap();
        let (finished, next) = s.finish(d, &end(&report), Some(e)).unwrap();
        assert_eq!(finished, Finished::Stored { keep_sample: false });
        assert!(next.unwrap_err().to_string().contains("a damaged page"));
        assert_eq!((state(d), state(e)), (TaskState::Done, TaskState::Queued));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn recovery_requeues_processing_and_gives_up_after_max_attempts() {
        let (s, dir) = temp_store();
        let a = s.insert_task(new_task(100, "a", None)).unwrap();
        let b = s.insert_task(new_task(101, "b", None)).unwrap();
        let c = s.insert_task(new_task(102, "c", None)).unwrap();
        // b "crashes" three times.
        for _ in 0..3 {
            s.claim(b).unwrap().unwrap();
            s.recover(99, 200).unwrap();
        }
        // The process dies again while a and b are being analysed.
        s.claim(a).unwrap().unwrap();
        s.claim(b).unwrap().unwrap();
        let rec = s.recover(4, 200).unwrap();
        assert_eq!(rec.queued, vec![a, c]);
        assert_eq!(rec.requeued, 1);
        assert_eq!(
            rec.given_up,
            vec![(b, Some(Sample::Spool("b".into())), "f.bin".to_string())]
        );
        let tb = s.get_task(b).unwrap().unwrap();
        assert_eq!(tb.state, TaskState::Failed);
        assert!(tb.error.unwrap().contains("interrupted 4 times"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reports_are_stored_compressed_and_read_back_whole() {
        let (s, dir) = temp_store();
        let report =
            serde_json::to_vec(&vec![serde_json::json!({"story": "x".repeat(100)}); 500]).unwrap();
        let id = s.insert_task(new_task(100, "a", None)).unwrap();
        s.claim(id).unwrap().unwrap();
        assert_ne!(
            finish_done(&s, id, &Packed::of(&report), 105, &|_| Vec::new()),
            Finished::Stale
        );
        assert_eq!(s.get_task(id).unwrap().unwrap().report.unwrap(), report);
        let stored_len = |id: i64| -> i64 {
            s.conn()
                .unwrap()
                .query_row(
                    "SELECT length(report) FROM tasks WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert!(
            stored_len(id) * 10 < report.len() as i64,
            "{}",
            stored_len(id)
        );

        // A row written before compression (plain JSON) reads as it is; a damaged one is an error.
        let set_raw = |blob: &[u8]| {
            s.conn()
                .unwrap()
                .execute(
                    "UPDATE tasks SET report = ?2 WHERE id = ?1",
                    params![id, blob],
                )
                .unwrap();
        };
        set_raw(b"[{\"story\": \"old\"}]");
        assert_eq!(
            s.get_task(id).unwrap().unwrap().report.unwrap(),
            b"[{\"story\": \"old\"}]"
        );
        set_raw(&Packed::of(&report).as_bytes()[..40]);
        let err = s.get_task(id).unwrap_err().to_string();
        assert!(err.contains("stored report is damaged"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_large_report_is_written_into_its_row_in_pieces_and_reads_back_whole() {
        let (s, dir) = temp_store();
        // Hex of a generator's numbers: about half of it survives compression, so the stored
        // report spans several pieces and ends within one.
        let mut x = 1u64;
        let mut report = |n: usize| {
            let values: Vec<String> = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    format!("{x:016x}")
                })
                .collect();
            serde_json::to_vec(&values).unwrap()
        };
        let (first, second) = (report(400_000), report(300_001));
        let id = s.insert_task(new_task(100, "a", None)).unwrap();
        s.claim(id).unwrap().unwrap();
        let packed = Packed::of(&first);
        assert!(
            packed.len() > REPORT_PIECES_FROM.max(2 * REPORT_PIECE),
            "{}",
            packed.len()
        );
        // Bound as zeros, to be written over.
        assert!(matches!(
            ReportValue(&packed).to_sql().unwrap(),
            rusqlite::types::ToSqlOutput::ZeroBlob(_)
        ));
        finish_done(&s, id, &packed, 105, &|_| Vec::new());
        assert_eq!(s.get_task(id).unwrap().unwrap().report.unwrap(), first);
        s.set_report(id, &Packed::of(&second)).unwrap();
        assert_eq!(s.get_task(id).unwrap().unwrap().report.unwrap(), second);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn release_does_not_count_an_attempt() {
        let (s, dir) = temp_store();
        let a = s.insert_task(new_task(100, "a", None)).unwrap();
        for _ in 0..5 {
            s.claim(a).unwrap().unwrap();
            assert!(s.release(a).unwrap());
        }
        assert!(!s.release(a).unwrap(), "queued: nothing to return");
        s.claim(a).unwrap().unwrap();
        let rec = s.recover(2, 200).unwrap();
        assert_eq!(rec.queued, vec![a]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn queue_timeout_cancels_only_old_queued_tasks_and_keeps_the_record() {
        let (s, dir) = temp_store();
        let old = s.insert_task(new_task(100, "old", None)).unwrap();
        let busy = s.insert_task(new_task(100, "busy", None)).unwrap();
        let fresh = s.insert_task(new_task(500, "fresh", None)).unwrap();
        s.claim(busy).unwrap().unwrap();
        let (n, files) = s.cancel_queued_before(400, "timed out", 600).unwrap();
        assert_eq!((n, files), (1, vec!["old".to_string()]));
        let t = s.get_task(old).unwrap().unwrap();
        assert_eq!(t.state, TaskState::Cancelled);
        assert_eq!(t.error.as_deref(), Some("timed out"));
        assert_eq!(s.get_task(fresh).unwrap().unwrap().state, TaskState::Queued);
        assert!(
            s.claim(old).unwrap().is_none(),
            "a cancelled task is never analysed"
        );
        // Cancelled records go after their own retention, finished ones after theirs.
        assert_ne!(
            finish_done(&s, busy, &Packed::of(b"[]"), 650, &|_| Vec::new()),
            Finished::Stale
        );
        assert_eq!(s.purge(600, 600).unwrap(), 0);
        assert_eq!(s.purge(600, 601).unwrap(), 1);
        assert!(s.get_task(old).unwrap().is_none());
        assert_eq!(s.purge(651, 601).unwrap(), 1);
        assert!(s.get_task(busy).unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn list_filters_by_age_and_token() {
        let (s, dir) = temp_store();
        let a = s.insert_task(new_task(100, "a", Some("custom"))).unwrap();
        let b = s.insert_task(new_task(200, "b", None)).unwrap();
        let ids = |v: Vec<TaskSummary>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(s.list_tasks(None, None).unwrap()), vec![a, b]);
        assert_eq!(ids(s.list_tasks(Some(150), None).unwrap()), vec![a]);
        assert_eq!(ids(s.list_tasks(None, Some("custom")).unwrap()), vec![a]);
        assert_eq!(
            ids(s.list_tasks(None, Some("other")).unwrap()),
            Vec::<i64>::new()
        );
        assert_eq!(
            s.delete_submitted_before(150).unwrap(),
            vec!["a".to_string()]
        );
        assert_eq!(ids(s.list_tasks(None, None).unwrap()), vec![b]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn stats_accumulate_per_bucket() {
        let (s, dir) = temp_store();
        s.stats_add(&[(10, "files_submitted", 1.0), (10, "files_submitted", 2.0)])
            .unwrap();
        s.stats_add(&[(11, "files_submitted", 4.0)]).unwrap();
        let mut rows = s.stats_since(10).unwrap();
        rows.sort_by_key(|r| r.0);
        assert_eq!(rows[0], (10, "files_submitted".into(), 3.0));
        assert_eq!(rows[1], (11, "files_submitted".into(), 4.0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn meta_get_or_insert_keeps_the_first_value() {
        let (s, dir) = temp_store();
        assert_eq!(s.meta_get_or_insert("k", "one").unwrap(), "one");
        assert_eq!(s.meta_get_or_insert("k", "two").unwrap(), "one");
        s.meta_set("k", "three").unwrap();
        assert_eq!(s.meta_get("k").unwrap().as_deref(), Some("three"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
