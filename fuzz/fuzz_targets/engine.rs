#![no_main]
//! Fuzzes the whole engine: identification picks the handler, then the recursive walk runs
//! under the default budgets.

use assay::analysis::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let entries = Engine::default().analyze_bytes(data, "fuzz");
    assert!(!entries.is_empty());
    assert!(!entries[0].classification.scan_results.is_empty());
});
