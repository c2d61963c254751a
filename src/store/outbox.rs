//! The outbox: deliveries of tasks to the integrations (callback, Splunk, S3). A delivery is
//! written with what it delivers, read by a delivery thread when due (which holds it in memory
//! meanwhile), and then done, due again later, or given up. Every statement about deliveries
//! lives here.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::{Result, Store};

/// Where a delivery goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The callback URL.
    Callback,
    /// Splunk's HTTP Event Collector.
    Splunk,
    /// The S3 samples bucket.
    S3Sample,
    /// The S3 reports bucket.
    S3Report,
    /// The S3 bucket of unpacked files.
    S3Unpacked,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Callback,
        Target::Splunk,
        Target::S3Sample,
        Target::S3Report,
        Target::S3Unpacked,
    ];

    /// The name stored, logged and sent in `X-Assay-Delivery` (`<task_id>.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Callback => "callback",
            Target::Splunk => "splunk",
            Target::S3Sample => "s3-sample",
            Target::S3Report => "s3-report",
            Target::S3Unpacked => "s3-unpacked",
        }
    }
}

/// Chooses a finished task's deliveries from its `user_data`.
pub type TargetsOf = dyn Fn(Option<&str>) -> Vec<Target> + Send + Sync;

/// A delivery taken by a delivery thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub task_id: i64,
    pub target: Target,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// When it was written.
    pub created: i64,
}

impl Delivery {
    /// The stable id a receiver can drop repeats by.
    pub fn id(&self) -> String {
        format!("{}.{}", self.task_id, self.target.as_str())
    }
}

/// What became of a delivery, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// It arrived at `at`.
    Delivered { at: i64 },
    /// The attempt failed; due again at `at`.
    Retry { at: i64, error: String },
    /// Given up at `at` (too old, or refused for good).
    GaveUp { at: i64, error: String },
}

/// What waits in the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Backlog {
    /// Deliveries not yet made.
    pub pending: u64,
    /// Of those, the ones that failed at least once.
    pub retrying: u64,
    /// When the oldest pending one was written.
    pub oldest: Option<i64>,
}

/// Writes a pending delivery to each target, due now (a delivery already there stays as it is).
pub(super) fn add(tx: &Transaction, task_id: i64, targets: &[Target], now: i64) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO deliveries (task_id, target, state, created, next_at)
         VALUES (?1, ?2, 'pending', ?3, ?3)",
    )?;
    for t in targets {
        stmt.execute(params![task_id, t.as_str(), now])?;
    }
    Ok(())
}

/// True while a delivery that reads the task's sample is pending.
pub(super) fn needs_sample(tx: &Transaction, task_id: i64) -> Result<bool> {
    let n: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM deliveries
             WHERE task_id = ?1 AND target = 's3-sample' AND state = 'pending'",
        )?
        .query_row(params![task_id], |r| r.get(0))?;
    Ok(n > 0)
}

/// A finished task lets go of its sample once no delivery needs it: the spool file to delete, if
/// the sample is one.
fn release_sample(tx: &Transaction, task_id: i64) -> Result<Option<String>> {
    let file: Option<String> = tx
        .prepare_cached(
            "SELECT spool_file FROM tasks
             WHERE id = ?1 AND state NOT IN ('queued', 'processing')",
        )?
        .query_row(params![task_id], |r| r.get(0))
        .optional()?
        .flatten();
    if file.is_none() || needs_sample(tx, task_id)? {
        return Ok(None);
    }
    // (A sample kept in the database goes with this update: see samples_v4.sql.)
    tx.prepare_cached("UPDATE tasks SET spool_file = NULL WHERE id = ?1")?
        .execute(params![task_id])?;
    Ok(super::spool_name(file))
}

/// The due deliveries of one target, in the order the index holds them.
pub(super) const DUE: &str = "SELECT task_id, attempts, created FROM deliveries
     WHERE target = ?1 AND state = 'pending' AND next_at <= ?2
     ORDER BY next_at, task_id";

impl Store {
    /// Up to `limit` deliveries to `target` due at `now`, oldest due first, leaving out those
    /// `held` says a delivery thread is sending. Nothing is written: the delivery threads hold
    /// what they take in memory (a lease never outlived the process), and a crash leaves every
    /// delivery it was sending pending, due again at once after the restart.
    pub fn due_deliveries(
        &self,
        target: Target,
        now: i64,
        limit: usize,
        held: impl Fn(i64) -> bool,
    ) -> Result<Vec<Delivery>> {
        let c = self.conn()?;
        // The index gives the rows in order, so stepping stops once `limit` are found.
        let mut stmt = c.prepare_cached(DUE)?;
        let rows = stmt.query_map(params![target.as_str(), now], |r| {
            Ok(Delivery {
                task_id: r.get(0)?,
                target,
                attempts: r.get::<_, u32>(1)? + 1,
                created: r.get(2)?,
            })
        })?;
        let mut due = Vec::new();
        for row in rows {
            let d = row?;
            if !held(d.task_id) {
                due.push(d);
                if due.len() == limit {
                    break;
                }
            }
        }
        Ok(due)
    }

    /// Records what became of deliveries (each an attempt more), all in one transaction. A
    /// finished task whose sample's delivery is over lets go of its sample: the spool files to
    /// delete are returned.
    pub fn record_deliveries(&self, records: &[(&Delivery, Record)]) -> Result<Vec<String>> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut released = Vec::new();
        {
            let mut done = tx.prepare_cached(
                "UPDATE deliveries SET state = ?3, attempts = attempts + 1, finished = ?4,
                                       last_error = ?5
                 WHERE task_id = ?1 AND target = ?2",
            )?;
            let mut again = tx.prepare_cached(
                "UPDATE deliveries SET attempts = attempts + 1, next_at = ?3, last_error = ?4
                 WHERE task_id = ?1 AND target = ?2",
            )?;
            for (d, record) in records {
                let (task, target) = (d.task_id, d.target.as_str());
                match record {
                    Record::Delivered { at } => {
                        done.execute(params![task, target, "done", at, None::<&str>])?
                    }
                    Record::GaveUp { at, error } => {
                        done.execute(params![task, target, "failed", at, error])?
                    }
                    Record::Retry { at, error } => {
                        again.execute(params![task, target, at, error])?
                    }
                };
                let over = !matches!(record, Record::Retry { .. });
                if over && d.target == Target::S3Sample {
                    released.extend(release_sample(&tx, task)?);
                }
            }
        }
        tx.commit()?;
        Ok(released)
    }

    /// Start-up: every pending delivery is due now (a restart is often what fixed a
    /// receiver). Returns how many are pending.
    pub fn restart_deliveries(&self, now: i64) -> Result<usize> {
        let n = self.conn()?.execute(
            "UPDATE deliveries SET next_at = min(next_at, ?1) WHERE state = 'pending'",
            params![now],
        )?;
        Ok(n)
    }

    /// What waits in the outbox. (Every target named: the due-deliveries index then finds
    /// the pending ones without reading the deliveries made.)
    pub fn backlog(&self) -> Result<Backlog> {
        let targets = Target::ALL.map(|t| format!("'{}'", t.as_str())).join(", ");
        let (pending, retrying, oldest): (i64, i64, Option<i64>) = self.conn()?.query_row(
            &format!(
                "SELECT count(*), coalesce(sum(attempts > 0), 0), min(created) FROM deliveries
                 WHERE target IN ({targets}) AND state = 'pending'"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(Backlog {
            pending: pending as u64,
            retrying: retrying as u64,
            oldest,
        })
    }

    /// A task's deliveries and their states (`pending`, `done`, `failed`).
    pub fn deliveries_of(&self, task_id: i64) -> Result<Vec<(Target, String)>> {
        let c = self.conn()?;
        let mut stmt = c.prepare_cached(
            "SELECT target, state FROM deliveries WHERE task_id = ?1 ORDER BY target",
        )?;
        let rows = stmt.query_map(params![task_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (target, state) = row?;
            if let Some(t) = Target::ALL.into_iter().find(|t| t.as_str() == target) {
                out.push((t, state));
            }
        }
        Ok(out)
    }
}
