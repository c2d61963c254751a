#![no_main]
//! Fuzzes the PE metadata reader (see `assay::analysis::inspect::fuzz_one`).

use assay::analysis::inspect::fuzz_one;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_one("PE", data));
