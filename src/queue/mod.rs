//! The task queue: a bounded crossbeam channel of task ids feeding a fixed pool of named analysis
//! threads, and the housekeeper that enforces the queue timeout and retention.
//!
//! The database is the truth; the channel only carries ids of tasks already committed as queued.
//! A thread claims a task in the store before analysing it, so a task that was deleted or cancelled
//! while its id waited in the channel is skipped.

pub mod housekeeper;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::analysis;
use crate::analysis::mapped::Mapped;
use crate::log;
use crate::stats::Stats;
use crate::store::{Claimed, Ending, Finished, Sample, Store, TaskState};
use crate::time::now;

/// How many times analysis of one task may be started (and die with the process) before the task
/// fails instead of being retried forever.
pub const MAX_ATTEMPTS: u32 = 3;

const POLL: Duration = Duration::from_millis(200);

/// The sending side, shared by the HTTP threads.
#[derive(Clone)]
pub struct Queue {
    tx: Sender<i64>,
    capacity: usize,
    /// Room promised to uploads still being received ([`Queue::reserve`]).
    reserved: Arc<AtomicUsize>,
}

/// Room in the queue for one task, held while its upload is received, so that an upload is
/// refused before its body is read and stored rather than after.
pub struct Reservation<'q> {
    queue: &'q Queue,
}

impl Reservation<'_> {
    /// Enqueues the task the room was held for. Fails only when start-up recovery took the
    /// room meanwhile.
    pub fn push(self, id: i64) -> Result<(), QueueFull> {
        self.queue.try_push(id)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.queue.reserved.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The channel is full: the client should retry later.
#[derive(Debug)]
pub struct QueueFull;

impl Queue {
    /// A queue holding at most `capacity` waiting task ids, and its receiving side for the pool.
    pub fn new(capacity: usize) -> (Queue, Receiver<i64>) {
        let (tx, rx) = bounded(capacity);
        let reserved = Arc::new(AtomicUsize::new(0));
        (
            Queue {
                tx,
                capacity,
                reserved,
            },
            rx,
        )
    }

    /// Holds room for one more task, or says the queue is full: the tasks waiting and the room
    /// held for uploads in progress never pass the capacity.
    pub fn reserve(&self) -> Result<Reservation<'_>, QueueFull> {
        let held = self.reserved.fetch_add(1, Ordering::SeqCst);
        let reservation = Reservation { queue: self };
        if held + self.tx.len() >= self.capacity {
            return Err(QueueFull); // dropping the reservation gives the room back
        }
        Ok(reservation)
    }

    /// Enqueues without waiting.
    pub fn try_push(&self, id: i64) -> Result<(), QueueFull> {
        match self.tx.try_send(id) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(QueueFull),
        }
    }

    /// Enqueues, waiting for room until `stop` is set. Used by start-up recovery only.
    pub fn push_wait(&self, id: i64, stop: &AtomicBool) -> bool {
        let mut id = id;
        loop {
            match self.tx.send_timeout(id, POLL) {
                Ok(()) => return true,
                Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                    if stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    id = back;
                }
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }
}

/// What the analysis threads share.
pub struct WorkerContext {
    pub store: Arc<Store>,
    pub stats: Arc<Stats>,
    pub spool_dir: PathBuf,
    pub engine: crate::analysis::Engine,
    /// The deliveries a finished task gets, from its `user_data` (written with its report).
    pub deliveries: Box<crate::store::TargetsOf>,
}

/// The running pool.
pub struct Pool {
    handles: Vec<JoinHandle<()>>,
    /// Two per thread: the task it is analysing and the one it claims with that task's report
    /// (0: none), so that shutdown can return them to the queue.
    in_flight: Arc<Vec<AtomicI64>>,
    stop: Arc<AtomicBool>,
}

/// Starts `threads` analysis threads named `analysis-N`.
pub fn start_pool(
    ctx: Arc<WorkerContext>,
    rx: Receiver<i64>,
    queue: Queue,
    threads: usize,
) -> Pool {
    let in_flight: Arc<Vec<AtomicI64>> =
        Arc::new((0..2 * threads).map(|_| AtomicI64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let handles = (0..threads)
        .map(|n| {
            let (ctx, rx, queue) = (ctx.clone(), rx.clone(), queue.clone());
            let (in_flight, stop) = (in_flight.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("analysis-{n}"))
                .spawn(move || {
                    let slots = &in_flight[2 * n..2 * n + 2];
                    worker_loop(&ctx, &rx, &queue, slots, &stop)
                })
                .expect("spawn analysis thread")
        })
        .collect();
    Pool {
        handles,
        in_flight,
        stop,
    }
}

impl Pool {
    /// Stops taking tasks, waits up to `grace` for running analyses, then returns any task still
    /// being analysed to the queue so that the next start analyses it again.
    pub fn shutdown(self, store: &Store, grace: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for slot in self.in_flight.iter() {
            let id = slot.swap(0, Ordering::SeqCst);
            if id != 0 {
                match store.release(id) {
                    Ok(true) => log!("task {id} returned to the queue at shutdown"),
                    Ok(false) => {}
                    Err(e) => log!("task {id} could not be returned to the queue: {e}"),
                }
            }
        }
        for h in self.handles {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

/// The task a thread takes next: an id from the channel, or a task already claimed in the
/// transaction that stored the thread's last report.
enum Next {
    Id(i64),
    Claimed(Claimed),
}

fn worker_loop(
    ctx: &WorkerContext,
    rx: &Receiver<i64>,
    queue: &Queue,
    slots: &[AtomicI64],
    stop: &AtomicBool,
) {
    // The thread keeps one YARA scanner while its rules are current, and makes a new one for the
    // first task after a reload; a task keeps the rules it started with.
    let mut next = None;
    while !stop.load(Ordering::SeqCst) {
        let rules = ctx.engine.yara.current();
        let mut scanner = ctx.engine.scanner(&rules);
        while !stop.load(Ordering::SeqCst) {
            let task = match next.take() {
                Some(task) => task,
                None => match rx.recv_timeout(POLL) {
                    Ok(id) => Next::Id(id),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
            };
            if !ctx.engine.yara.is_current(&rules) {
                next = Some(task);
                break;
            }
            let claimed = match task {
                Next::Claimed(claimed) => claimed,
                Next::Id(id) => match ctx.store.claim(id) {
                    Ok(Some(claimed)) => claimed,
                    Ok(None) => continue, // deleted or cancelled while waiting
                    Err(e) => {
                        // The task is still queued in the store; try again shortly rather than
                        // leaving it stranded until the next restart.
                        log!("task {id}: store error, will retry: {e}");
                        std::thread::sleep(Duration::from_secs(1));
                        next = Some(Next::Id(id));
                        continue;
                    }
                },
            };
            slots[0].store(claimed.id, Ordering::SeqCst);
            next = process(ctx, claimed, rx, stop, &slots[1], &mut scanner);
            slots[0].store(0, Ordering::SeqCst);
        }
    }
    // A task taken from the channel but not started goes back to the queue (it is still
    // queued in the store, so a restart would find it too); one already claimed stays in the
    // thread's slot, which shutdown returns to the queue.
    if let Some(Next::Id(id)) = next {
        let _ = queue.try_push(id);
    }
}

/// Analyses one claimed task end to end and stores its report, claiming in the same
/// transaction the next task waiting in `rx`, if any (unless stopping); returns what the thread
/// takes next. Analysis failures become a report. A report that cannot be stored leaves its task
/// processing, for start-up recovery to take up again.
fn process(
    ctx: &WorkerContext,
    claimed: Claimed,
    rx: &Receiver<i64>,
    stop: &AtomicBool,
    next_slot: &AtomicI64,
    scanner: &mut crate::analysis::yara::Scanner,
) -> Option<Next> {
    let id = claimed.id;
    let started = Instant::now();
    let name = &claimed.file_name;
    let outcome = log::guarded(|| match &claimed.sample {
        Sample::Spool(file) => {
            let path = ctx.spool_dir.join(file);
            ctx.engine.analyze_file_with(&path, name, scanner)
        }
        Sample::Stored(bytes) => Ok(ctx.engine.analyze_held_with(bytes, name, scanner)),
    });
    let (state, report, error) = match outcome {
        Ok(Ok(report)) => (TaskState::Done, report, None),
        Ok(Err(e)) => failed(ctx, &claimed, format!("cannot read the sample: {e}")),
        Err(panic) => failed(ctx, &claimed, format!("analysis panicked: {}", panic.0)),
    };
    let large = report.len() >= LARGE_REPORT_ENTRIES || claimed.size >= LARGE_SAMPLE_BYTES;
    let t = now();
    // Counted before the result becomes visible, so a client that sees the task done also sees
    // it in the statistics.
    if state == TaskState::Done {
        ctx.stats.add("files_processed", 1.0, t);
        ctx.stats.add("bytes_processed", claimed.size as f64, t);
        let unpacked = report.len().saturating_sub(1);
        ctx.stats.add("files_unpacked", unpacked as f64, t);
        ctx.stats
            .add("bytes_unpacked", report.unpacked_bytes() as f64, t);
    } else {
        ctx.stats.add("file_processing_failure", 1.0, t);
    }
    let report = report.into_packed();
    let end = Ending {
        state,
        report: &report,
        error: error.as_deref(),
        at: t,
        deliver: &*ctx.deliveries,
    };
    let waiting = match stop.load(Ordering::SeqCst) {
        true => None,
        false => rx.try_recv().ok(),
    };
    // Shutdown returns it to the queue if the thread stops before analysing it.
    next_slot.store(waiting.unwrap_or(0), Ordering::SeqCst);
    let next = match ctx.store.finish(id, &end, waiting) {
        // Only the thread that finished the task deletes its sample: a task returned to the
        // queue at shutdown keeps it, a deleted task's sample was removed by the delete, and a
        // sample that a delivery still reads goes when that delivery is done.
        Ok((finished, claim)) => {
            if let Finished::Stored { keep_sample } = finished {
                if let (false, Some(file)) = (keep_sample, claimed.sample.spool_file()) {
                    remove_sample(&ctx.spool_dir.join(file));
                }
                log!(
                    "task {id} {} in {} ms ({} bytes)",
                    state.as_str(),
                    started.elapsed().as_millis(),
                    claimed.size
                );
            }
            match claim {
                Ok(next) => next.map(Next::Claimed),
                Err(e) => {
                    log!("task {id}: the next task could not be claimed with its report: {e}");
                    waiting.map(Next::Id)
                }
            }
        }
        Err(e) => {
            log!(
                "task {id}: its report could not be stored, the task stays processing until \
                 start-up recovery takes it up again: {e}"
            );
            std::thread::sleep(Duration::from_secs(1));
            waiting.map(Next::Id)
        }
    };
    if large {
        drop(report);
        crate::host::release_freed_memory();
    }
    next
}

/// Reports with at least this many entries, and samples of at least this many bytes, are
/// followed by [`crate::host::release_freed_memory`] (a trim costs milliseconds on a large heap,
/// so not after every small file).
const LARGE_REPORT_ENTRIES: usize = 1000;
const LARGE_SAMPLE_BYTES: u64 = 64 * 1024 * 1024;

fn failed(
    ctx: &WorkerContext,
    claimed: &Claimed,
    reason: String,
) -> (TaskState, crate::report::Report, Option<String>) {
    let file_name = &claimed.file_name;
    log!("analysis of {file_name:?} failed: {reason}");
    let report = with_sample(&ctx.spool_dir, &claimed.sample, |data| {
        analysis::failure_report(data, file_name, &reason)
    });
    (TaskState::Failed, report, Some(reason))
}

/// Calls `f` with a sample's bytes (a spool file, mapped; or the bytes kept in the database),
/// or with why they could not be read.
pub fn with_sample<T>(
    spool_dir: &Path,
    sample: &Sample,
    f: impl FnOnce(std::io::Result<&[u8]>) -> T,
) -> T {
    match sample {
        Sample::Spool(file) => match Mapped::open(&spool_dir.join(file)) {
            Ok(map) => f(Ok(map.bytes())),
            Err(e) => f(Err(e)),
        },
        Sample::Stored(bytes) => f(Ok(bytes)),
    }
}

/// Deletes a sample from the spool; a sample already gone is fine.
pub fn remove_sample(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            log!("cannot delete sample {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_held_for_uploads_in_progress_and_given_back() {
        let (q, rx) = Queue::new(2);
        let a = q.reserve().unwrap();
        let b = q.reserve().unwrap();
        assert!(q.reserve().is_err(), "two held: full");
        drop(b);
        let c = q
            .reserve()
            .expect("a dropped reservation gives its room back");
        a.push(1).unwrap();
        // One task waiting and one room held: still full, until the pool takes the task.
        assert!(q.reserve().is_err());
        assert_eq!(rx.recv().unwrap(), 1);
        assert!(q.reserve().is_ok());
        c.push(2).unwrap();
        assert_eq!(rx.recv().unwrap(), 2);
    }
}
