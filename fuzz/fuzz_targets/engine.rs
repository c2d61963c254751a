#![no_main]
//! Fuzzes the whole engine: identification picks the handler, then the recursive walk runs
//! under the default budgets.

use assay::analysis::{analyze_bytes, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let entries = analyze_bytes(data, "fuzz", &Limits::default());
    assert!(!entries.is_empty());
    assert!(!entries[0].classification.scan_results.is_empty());
});
