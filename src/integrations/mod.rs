//! Deliveries to the outside: the callback and Splunk's HTTP Event Collector, fed from the outbox
//! in the store by a small fixed pool of delivery threads.
//!
//! A delivery is written in the same transaction as the report it delivers
//! ([`crate::store::Store::finish`], with the targets [`Targets`] chooses), so a crash loses none.
//! A delivery thread takes a few due deliveries of each target in turn (held in memory, so no
//! other thread takes them), hands them to that target's [`Sink`], and records every outcome of
//! the round in one transaction: delivered, due again after an exponential backoff with jitter,
//! or given up once older than `outbox.max_age_secs` (or refused for good). Nothing here is on
//! the path of an upload or an analysis.

mod callback;
pub(crate) mod client;
mod recent;
pub mod resolve;
mod s3;
mod splunk;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{CallbackConfig, Config, OutboxConfig, S3Config};
use crate::host::WorkerInfo;
use crate::log;
use crate::report::shape::{self, Params, Shape};
use crate::report::types::ReportTypes;
use crate::stats::Stats;
use crate::store::{Backlog, Delivery, Record, Store, Target};
use crate::time::now;

pub use callback::check_override;

/// How long an idle delivery thread waits before looking for due deliveries again.
const IDLE: Duration = Duration::from_millis(200);
/// Retries wait at most this long (`outbox.first_retry_secs`, doubling each time, up to this).
const MAX_BACKOFF_SECS: f64 = 3600.0;
/// How often the backlog is checked against `outbox.max_pending`.
const BACKLOG_CHECK: Duration = Duration::from_secs(10);
/// How often extracted files kept for S3 and left behind (their delivery given up, their task
/// deleted) are looked for.
const SWEEP: Duration = Duration::from_secs(600);

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed this time (a transport error, a receiver's 5xx): try again later.
    Retry(String),
    /// Refused for good (a rejected token, an unknown index): do not try again.
    GiveUp(String),
}

/// One integration.
trait Sink: Send + Sync {
    fn target(&self) -> Target;
    /// Most deliveries taken at once: sent in one request (Splunk's events), or one by one.
    fn batch(&self) -> usize {
        8
    }
    /// The statistics counters of a delivery made and of one given up.
    fn counters(&self) -> (&'static str, &'static str);
    /// Sends `deliveries`; one outcome each, in the same order.
    fn send(&self, ctx: &Context, deliveries: &[Delivery]) -> Vec<Outcome>;
}

/// The outcomes of sending `deliveries` one by one with `attempt`, which returns early (as
/// `Err`) with the outcome of a step that failed.
fn each(
    deliveries: &[Delivery],
    attempt: impl Fn(&Delivery) -> Result<Outcome, Outcome>,
) -> Vec<Outcome> {
    deliveries
        .iter()
        .map(|d| match attempt(d) {
            Ok(o) | Err(o) => o,
        })
        .collect()
}

/// What the delivery threads share.
pub struct Context {
    pub store: Arc<Store>,
    pub stats: Arc<Stats>,
    pub worker: WorkerInfo,
    report_types: ReportTypes,
    outbox: OutboxConfig,
    sinks: Vec<Box<dyn Sink>>,
    /// Where extracted files wait for S3's unpacked bucket.
    unpacked_dir: Option<std::path::PathBuf>,
    /// Where samples wait; one whose delivery to S3 is over is deleted there.
    spool_dir: std::path::PathBuf,
    /// Tasks and documents read lately, for the next target of the same task.
    recent: recent::Recent,
    /// The deliveries the delivery threads are sending.
    held: Mutex<HashSet<(i64, Target)>>,
}

impl Context {
    /// The delivery threads' context for `config`, or `None` when no integration is configured.
    /// Errors name what is wrong (a CA file without certificates, an unknown report type).
    pub fn new(
        config: &Config,
        store: Arc<Store>,
        stats: Arc<Stats>,
        worker: WorkerInfo,
    ) -> Result<Option<Context>, String> {
        let report_types = crate::report::types::watch(config.report_types.clone());
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(c) = &config.callback {
            shape_of(&report_types, &c.report_type, c.view.as_deref())
                .map_err(|e| format!("callback.report_type / callback.view: {e}"))?;
            sinks.push(Box::new(callback::Callback::new(c)?));
        }
        if let Some(s) = &config.splunk {
            shape_of(&report_types, &s.report_type, s.view.as_deref())
                .map_err(|e| format!("splunk.report_type / splunk.view: {e}"))?;
            sinks.push(Box::new(splunk::Splunk::new(s)?));
        }
        if let Some(c) = &config.s3 {
            let client = Arc::new(s3::Client::new(
                c,
                config.spool_dir(),
                config.unpacked_dir(),
            )?);
            if c.samples.is_some() {
                sinks.push(Box::new(s3::Samples(client.clone())));
            }
            if c.reports.is_some() {
                sinks.push(Box::new(s3::Reports(client.clone())));
            }
            if c.unpacked.is_some() {
                sinks.push(Box::new(s3::Unpacked(client)));
            }
        }
        if sinks.is_empty() {
            return Ok(None);
        }
        Ok(Some(Context {
            store,
            stats,
            worker,
            report_types,
            outbox: config.outbox.clone(),
            sinks,
            unpacked_dir: config.unpacked_dir(),
            spool_dir: config.spool_dir(),
            recent: recent::Recent::default(),
            held: Mutex::default(),
        }))
    }

    /// The shape a report type and view name, as `GET task` would resolve them.
    fn shape(&self, report_type: &str, view: Option<&str>) -> Result<Shape, String> {
        shape_of(&self.report_types, report_type, view)
    }

    /// Takes up to a batch of the deliveries due to `sink`, which no other thread takes until
    /// [`Context::record`] lets go of them.
    fn take(&self, sink: &dyn Sink) -> crate::store::Result<Vec<Delivery>> {
        let target = sink.target();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let due = self
            .store
            .due_deliveries(target, now(), sink.batch(), |id| {
                held.contains(&(id, target))
            })?;
        held.extend(due.iter().map(|d| (d.task_id, target)));
        Ok(due)
    }

    /// Records the outcomes of a round of deliveries (one transaction), counts and logs them,
    /// deletes the samples no delivery needs any more, and lets go of the deliveries. False
    /// when the store could not record them: they are due again as they were.
    fn record(&self, round: &[(&dyn Sink, Delivery, Outcome)]) -> bool {
        let t = now();
        let max_age = self.outbox.max_age.as_secs() as i64;
        let records: Vec<(&Delivery, Record)> = round
            .iter()
            .map(|(_, d, outcome)| {
                let id = d.id();
                let record = match outcome {
                    Outcome::Delivered => Record::Delivered { at: t },
                    Outcome::Retry(why) if t - d.created < max_age => {
                        let wait = backoff(d, t, self.outbox.first_retry.as_secs_f64());
                        log!(
                            "delivery {id} (attempt {}) failed, next try in {wait} s: {why}",
                            d.attempts
                        );
                        Record::Retry {
                            at: t + wait,
                            error: why.clone(),
                        }
                    }
                    Outcome::Retry(why) => {
                        log!(
                            "delivery {id} given up after {} attempts over outbox.max_age_secs: {why}",
                            d.attempts
                        );
                        Record::GaveUp {
                            at: t,
                            error: why.clone(),
                        }
                    }
                    Outcome::GiveUp(why) => {
                        log!("delivery {id} given up: {why}");
                        Record::GaveUp {
                            at: t,
                            error: why.clone(),
                        }
                    }
                };
                (d, record)
            })
            .collect();
        let recorded = match self.store.record_deliveries(&records) {
            Ok(released) => {
                for file in released {
                    crate::queue::remove_sample(&self.spool_dir.join(file));
                }
                true
            }
            Err(e) => {
                log!(
                    "outbox: cannot record what became of {} deliveries: {e}",
                    records.len()
                );
                false
            }
        };
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for (_, d, _) in round {
            held.remove(&(d.task_id, d.target));
        }
        drop(held);
        if recorded {
            for ((sink, _, _), (_, record)) in round.iter().zip(&records) {
                let (made, given_up) = sink.counters();
                match record {
                    Record::Delivered { .. } => self.stats.add(made, 1.0, t),
                    Record::GaveUp { .. } => self.stats.add(given_up, 1.0, t),
                    Record::Retry { .. } => {}
                }
            }
        }
        recorded
    }
}

fn shape_of(types: &ReportTypes, report_type: &str, view: Option<&str>) -> Result<Shape, String> {
    let params = Params {
        report_type: Some(report_type),
        full: None,
        view,
        include_fields: None,
        exclude_fields: None,
        v13: false,
    };
    shape::resolve(&params, &types.current())
}

/// Seconds until the next attempt: about `first` after the first failure, doubling up to an
/// hour, each spread by ±50 % so that deliveries failing together do not come back together.
fn backoff(d: &Delivery, now: i64, first: f64) -> i64 {
    let base =
        (first * 2f64.powi(d.attempts.saturating_sub(1).min(20) as i32)).min(MAX_BACKOFF_SECS);
    // A spread from the delivery, its attempt and the clock: no random source needed.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(d.task_id, d.attempts, now, std::process::id()), &mut h);
    let spread = 0.5 + (std::hash::Hasher::finish(&h) % 1000) as f64 / 1000.0;
    (base * spread).round().max(1.0) as i64
}

/// The deliveries written with a task at upload: its sample's, when samples go to S3.
pub fn at_upload(config: &Config) -> Vec<Target> {
    match &config.s3 {
        Some(s3) if s3.samples.is_some() => vec![Target::S3Sample],
        _ => Vec::new(),
    }
}

/// The link of a task's report in S3 (known at upload), when reports go to S3.
pub fn report_link(s3: &S3Config, sha1: &str, task_id: i64, submitted: i64) -> Option<String> {
    let bucket = s3.reports.as_deref()?;
    Some(s3::link(
        bucket,
        &s3::report_key(&s3.prefix, sha1, task_id, submitted),
    ))
}

/// The link of a sample in S3, when samples go to S3.
pub fn sample_link(s3: &S3Config, sha1: &str) -> Option<String> {
    let bucket = s3.samples.as_deref()?;
    Some(s3::link(bucket, &s3::sample_key(&s3.prefix, sha1)))
}

/// Which deliveries a finished task gets, from the configuration and its `user_data`.
#[derive(Clone)]
pub struct Targets {
    callback: Option<CallbackConfig>,
    splunk: bool,
    s3_reports: bool,
    s3_unpacked: bool,
}

impl Targets {
    pub fn new(config: &Config) -> Targets {
        Targets {
            callback: config.callback.clone(),
            splunk: config.splunk.is_some(),
            s3_reports: config.s3.as_ref().is_some_and(|s| s.reports.is_some()),
            s3_unpacked: config.s3.as_ref().is_some_and(|s| s.unpacked.is_some()),
        }
    }

    /// The targets of a task with this `user_data`.
    pub fn of(&self, user_data: Option<&str>) -> Vec<Target> {
        let mut targets = Vec::new();
        if let Some(c) = &self.callback {
            if callback::url_for(c, user_data).is_some() {
                targets.push(Target::Callback);
            }
        }
        if self.splunk {
            targets.push(Target::Splunk);
        }
        if self.s3_reports {
            targets.push(Target::S3Report);
        }
        if self.s3_unpacked {
            targets.push(Target::S3Unpacked);
        }
        targets
    }
}

/// The running delivery threads.
pub struct Deliveries {
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

/// Starts `outbox.threads` delivery threads named `delivery-N`. Every pending delivery is due at
/// once.
pub fn start(ctx: Context) -> Deliveries {
    match ctx.store.restart_deliveries(now()) {
        Ok(0) => {}
        Ok(n) => log!("outbox: {n} pending delivery(ies), due now"),
        Err(e) => log!("outbox: cannot read the pending deliveries: {e}"),
    }
    let ctx = Arc::new(ctx);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..ctx.outbox.threads)
        .map(|n| {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("delivery-{n}"))
                .spawn(move || run(&ctx, &stop, n == 0))
                .expect("spawn delivery thread")
        })
        .collect();
    Deliveries { threads, stop }
}

impl Deliveries {
    /// Stops taking deliveries and waits up to `grace` for those being sent; what is left stays
    /// pending and is sent after the next start.
    pub fn shutdown(self, grace: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.threads.iter().any(|t| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for t in self.threads {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

fn run(ctx: &Context, stop: &AtomicBool, watches_backlog: bool) {
    let mut alarm = BacklogAlarm::default();
    let mut checked = Instant::now() - BACKLOG_CHECK;
    let mut swept = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if watches_backlog && checked.elapsed() >= BACKLOG_CHECK {
            checked = Instant::now();
            match ctx.store.backlog() {
                Ok(b) => alarm.check(&b, ctx.outbox.max_pending, now()),
                Err(e) => log!("outbox: cannot read the backlog: {e}"),
            }
        }
        if let (true, Some(dir)) = (
            watches_backlog && swept.elapsed() >= SWEEP,
            &ctx.unpacked_dir,
        ) {
            swept = Instant::now();
            sweep(dir, ctx.outbox.max_age + SWEEP);
        }
        // One round: a batch of each target's due deliveries, sent, then recorded together.
        let mut round: Vec<(&dyn Sink, Delivery, Outcome)> = Vec::new();
        for sink in &ctx.sinks {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let deliveries = match ctx.take(sink.as_ref()) {
                Ok(d) => d,
                Err(e) => {
                    log!("outbox: cannot take deliveries: {e}");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            if deliveries.is_empty() {
                continue;
            }
            let mut outcomes = crate::log::guarded(|| sink.send(ctx, &deliveries))
                .unwrap_or_else(|why| vec![Outcome::Retry(why.to_string()); deliveries.len()]);
            // One outcome each, whatever the sink returned: none is left held.
            outcomes.resize(deliveries.len(), Outcome::Retry("no outcome".into()));
            round.extend(
                deliveries
                    .into_iter()
                    .zip(outcomes)
                    .map(|(d, o)| (sink.as_ref(), d, o)),
            );
        }
        if round.is_empty() {
            std::thread::sleep(IDLE);
        } else if !ctx.record(&round) {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Removes the files in `dir` older than `age`: kept for a delivery that will not come for
/// them any more.
fn sweep(dir: &std::path::Path, age: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age));
        if old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        log!("outbox: removed {removed} extracted file(s) whose delivery will not come");
    }
}

/// Says once in the log when the backlog passes `outbox.max_pending`, and once when it is back
/// under it.
#[derive(Default)]
struct BacklogAlarm {
    raised: bool,
}

impl BacklogAlarm {
    fn check(&mut self, b: &Backlog, max: u64, now: i64) {
        if b.pending > max && !self.raised {
            self.raised = true;
            let age = b.oldest.map_or(0, |o| now - o);
            log!(
                "WARNING: {} deliveries are pending (outbox.max_pending = {max}), the oldest for \
                 {age} s, {} of them failing: is a receiver down? Their tasks' records and \
                 reports are kept until they are delivered or given up",
                b.pending,
                b.retrying
            );
        } else if b.pending <= max && self.raised {
            self.raised = false;
            log!(
                "outbox: the backlog is back to {} pending deliveries",
                b.pending
            );
        }
    }
}

/// The outbox as sysinfo shows it.
pub fn backlog_json(store: &Store, max_pending: u64) -> serde_json::Value {
    match store.backlog() {
        Ok(b) => serde_json::json!({
            "pending": b.pending,
            "retrying": b.retrying,
            "oldest_age_secs": b.oldest.map(|o| now() - o),
            "max_pending": max_pending,
            "alarm": b.pending > max_pending,
        }),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

impl Context {
    /// The task a delivery is of; the outcome instead when there is nothing to deliver (the
    /// task was deleted) or nothing to read now.
    fn task(&self, d: &Delivery) -> Result<Arc<crate::store::Task>, Outcome> {
        self.recent
            .task(d.task_id, || match self.store.get_task(d.task_id) {
                Ok(Some(t)) => Ok(t),
                Ok(None) => Err(Outcome::GiveUp("the task was deleted".into())),
                Err(e) => Err(Outcome::Retry(format!("cannot read the task: {e}"))),
            })
    }

    /// A task's document shaped by `report_type` and `view` (given up if that cannot be).
    fn document(
        &self,
        task: &crate::store::Task,
        report_type: &str,
        view: Option<&str>,
    ) -> Result<Arc<[u8]>, Outcome> {
        self.recent.document(task, report_type, view, || {
            let shape = self
                .shape(report_type, view)
                .map_err(|e| Outcome::GiveUp(format!("report shape: {e}")))?;
            task_document(self, task, &shape)
                .map_err(|e| Outcome::GiveUp(format!("the stored report cannot be shaped: {e}")))
        })
    }
}

/// The document of a finished task, shaped as `shape`.
fn task_document(
    ctx: &Context,
    task: &crate::store::Task,
    shape: &Shape,
) -> Result<Vec<u8>, String> {
    let report = match &task.report {
        Some(r) => Some(shape::shape(r, shape)?),
        None => None,
    };
    let fields = crate::report::document::TaskFields {
        task_id: task.id,
        submitted: task.submitted,
        processed: task.processed,
        direct_sender: &task.direct_sender,
        forwarded_for: &task.forwarded_for,
        custom_data: task.custom_data.as_deref(),
        error: task.error.as_deref(),
        file_link: None,
    };
    Ok(crate::report::document::document(
        &fields,
        &ctx.worker,
        report.as_deref(),
    ))
}

/// The `user_data` of a task as JSON (what the client sent, checked at upload).
fn user_data(task: &crate::store::Task) -> Option<serde_json::Value> {
    task.user_data
        .as_deref()
        .and_then(|u| serde_json::from_str(u).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour_with_a_spread() {
        let d = |attempts| Delivery {
            task_id: 1,
            target: Target::Callback,
            attempts,
            created: 0,
        };
        let first = backoff(&d(1), 100, 5.0);
        assert!((2..=8).contains(&first), "{first}");
        let fourth = backoff(&d(4), 100, 5.0);
        assert!((20..=60).contains(&fourth), "{fourth}");
        assert!(backoff(&d(40), 100, 5.0) <= 5400);
        // Deliveries failing at the same moment come back at different times.
        let spread: std::collections::HashSet<i64> = (1..50)
            .map(|task_id| backoff(&Delivery { task_id, ..d(6) }, 100, 5.0))
            .collect();
        assert!(spread.len() > 10, "{spread:?}");
    }
}
