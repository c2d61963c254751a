//! Periodic work off the request and analysis paths: sampling the queue length, flushing
//! statistics, cancelling tasks queued past the timeout, purging expired records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::log;
use crate::queue::{remove_sample, WorkerContext};
use crate::time::now;

/// Runs until `stop` is set, then flushes statistics one last time.
pub fn run(ctx: Arc<WorkerContext>, config: Config, stop: Arc<AtomicBool>) {
    let mut tick: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_secs(1));
        tick += 1;
        let t = now();
        match ctx.store.count_queued() {
            Ok(n) => ctx.stats.sample_queue(n, t),
            Err(e) => log!("housekeeper: cannot count the queue: {e}"),
        }
        if tick.is_multiple_of(5) {
            maintain(&ctx, &config, t);
        }
    }
    if let Err(e) = ctx.stats.flush(&ctx.store) {
        log!("housekeeper: final statistics flush failed: {e}");
    }
}

/// One round of maintenance at time `t`. Also run once at start-up, before recovery dispatches.
pub fn maintain(ctx: &WorkerContext, config: &Config, t: i64) {
    if let Err(e) = ctx.stats.flush(&ctx.store) {
        log!("housekeeper: statistics flush failed: {e}");
    }
    if let Some(timeout) = config.analysis.queue_timeout {
        let reason = format!(
            "cancelled: not processed within the queue timeout of {} s",
            timeout.as_secs()
        );
        match ctx
            .store
            .cancel_queued_before(t - timeout.as_secs() as i64, &reason, t)
        {
            Ok((n, files)) => {
                if n > 0 {
                    log!("cancelled {n} task(s) queued past the timeout");
                }
                for f in files {
                    remove_sample(&ctx.spool_dir.join(f));
                }
            }
            Err(e) => log!("housekeeper: queue timeout check failed: {e}"),
        }
    }
    let results = config.retention.results.as_secs() as i64;
    let cancelled = config.retention.cancelled.as_secs() as i64;
    match ctx.store.purge(t - results, t - cancelled) {
        Ok(0) => {}
        Ok(n) => log!("purged {n} expired task record(s)"),
        Err(e) => log!("housekeeper: purge failed: {e}"),
    }
    if let Err(e) = ctx.stats.purge(&ctx.store, t) {
        log!("housekeeper: statistics purge failed: {e}");
    }
}
