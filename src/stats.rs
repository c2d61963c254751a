//! Processing statistics for `/srv/tiscale/v1/stats`: counters kept in memory for the current
//! moment, flushed to ten-second buckets in the store every few seconds, so a restart does not zero
//! the day, and summed over the seed's five windows when read.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::store::{Store, StoreError};

/// Every counter the seed lists, in the order they are reported.
pub const COUNTERS: &[&str] = &[
    "upload_success",
    "upload_failure",
    "files_submitted",
    "bytes_submitted",
    "files_processed",
    "bytes_processed",
    "files_unpacked",
    "bytes_unpacked",
    "file_processing_failure",
    "general_service_failure",
    "general_user_failure",
    "not_available",
    "callback_success",
    "callback_failure",
    "splunk_success",
    "splunk_failure",
    "s3_upload",
    "s3_upload_failure",
    "s3_report_upload",
    "s3_report_upload_failure",
    "s3_unpacked_success",
    "s3_unpacked_failure",
    "sns_success",
    "sns_failure",
];

/// The seed's window names and their lengths in seconds.
pub const WINDOWS: [(&str, i64); 5] = [
    ("1m", 60),
    ("10m", 600),
    ("1h", 3600),
    ("8h", 8 * 3600),
    ("1d", 86_400),
];

/// The one input queue, named as the seed's examples name it so dashboards keep working.
pub const QUEUE_NAME: &str = "tiscale_hagent_input";

const QUEUE_SUM: &str = "queue_size_sum";
const QUEUE_SAMPLES: &str = "queue_size_samples";
const BUCKET_SECS: i64 = 10;

fn bucket_of(now: i64) -> i64 {
    now.div_euclid(BUCKET_SECS)
}

/// Counters not yet flushed, keyed by (bucket, name).
#[derive(Default)]
pub struct Stats {
    pending: Mutex<HashMap<(i64, &'static str), f64>>,
}

impl Stats {
    /// Adds `value` to counter `name` at time `now`.
    pub fn add(&self, name: &'static str, value: f64, now: i64) {
        debug_assert!(COUNTERS.contains(&name) || name == QUEUE_SUM || name == QUEUE_SAMPLES);
        if let Ok(mut p) = self.pending.lock() {
            *p.entry((bucket_of(now), name)).or_insert(0.0) += value;
        }
    }

    /// Records one sample of the input queue's length (taken once a second).
    pub fn sample_queue(&self, len: u64, now: i64) {
        self.add(QUEUE_SUM, len as f64, now);
        self.add(QUEUE_SAMPLES, 1.0, now);
    }

    /// Moves pending counters into the store. On failure they are kept for the next flush.
    pub fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let taken: Vec<((i64, &'static str), f64)> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return Ok(()),
        };
        let rows: Vec<(i64, &str, f64)> = taken.iter().map(|((b, n), v)| (*b, *n, *v)).collect();
        if let Err(e) = store.stats_add(&rows) {
            if let Ok(mut p) = self.pending.lock() {
                for ((b, n), v) in taken {
                    *p.entry((b, n)).or_insert(0.0) += v;
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Drops stored buckets older than the longest window.
    pub fn purge(&self, store: &Store, now: i64) -> Result<usize, StoreError> {
        store.stats_purge(bucket_of(now - WINDOWS[4].1) - 1)
    }

    /// The `/srv/tiscale/v1/stats` document at time `now`.
    pub fn snapshot(&self, store: &Store, now: i64) -> Result<Value, StoreError> {
        let current = bucket_of(now);
        let oldest = bucket_of(now - WINDOWS[4].1) + 1;
        let mut rows = store.stats_since(oldest)?;
        if let Ok(p) = self.pending.lock() {
            rows.extend(p.iter().map(|((b, n), v)| (*b, n.to_string(), *v)));
        }
        // sums[name][w]: window w covers the buckets newer than `current - len/10`.
        let mut sums: HashMap<String, [f64; 5]> = HashMap::new();
        for (bucket, name, value) in rows {
            let slot = sums.entry(name).or_insert([0.0; 5]);
            for (w, (_, len)) in WINDOWS.iter().enumerate() {
                if bucket > current - len / BUCKET_SECS {
                    slot[w] += value;
                }
            }
        }
        let get = |name: &str| sums.get(name).copied().unwrap_or([0.0; 5]);
        let mut doc = Map::new();
        doc.insert(
            "timeframes".into(),
            json!(WINDOWS.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
        );
        for name in COUNTERS {
            let v = get(name);
            doc.insert(
                (*name).into(),
                json!(v.iter().map(|x| x.round() as u64).collect::<Vec<_>>()),
            );
        }
        let (sum, samples) = (get(QUEUE_SUM), get(QUEUE_SAMPLES));
        let means: Vec<f64> = (0..5)
            .map(|w| {
                if samples[w] > 0.0 {
                    sum[w] / samples[w]
                } else {
                    0.0
                }
            })
            .collect();
        doc.insert("mean_queue_size".into(), json!(means));
        doc.insert("max_mean_queue_size".into(), json!(means));
        doc.insert("max_mean_queue_name".into(), json!(vec![QUEUE_NAME; 5]));
        Ok(Value::Object(doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_sum_the_right_buckets_and_survive_a_flush() {
        let dir = std::env::temp_dir().join(format!("assay-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("s.db")).unwrap();
        let now = 1_000_000;
        let stats = Stats::default();
        stats.add("files_submitted", 1.0, now - 5); // all windows
        stats.add("files_submitted", 1.0, now - 300); // 10m and up
        stats.add("files_submitted", 1.0, now - 7200); // 8h and up
        stats.add("files_submitted", 1.0, now - 80_000); // 1d only
        stats.add("files_submitted", 1.0, now - 90_000); // none
        stats.flush(&store).unwrap();
        stats.add("files_submitted", 1.0, now); // pending, not yet flushed
        stats.sample_queue(4, now);
        stats.sample_queue(0, now);
        let doc = stats.snapshot(&store, now).unwrap();
        assert_eq!(doc["files_submitted"], json!([2, 3, 3, 4, 5]));
        assert_eq!(doc["upload_failure"], json!([0, 0, 0, 0, 0]));
        assert_eq!(doc["mean_queue_size"], json!([2.0, 2.0, 2.0, 2.0, 2.0]));
        assert_eq!(doc["timeframes"], json!(["1m", "10m", "1h", "8h", "1d"]));
        for name in COUNTERS {
            assert!(doc.get(*name).is_some(), "{name} missing");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
