#![no_main]
//! Fuzzes the packed_pe parser both ways, unpacking and describing (see
//! `assay::analysis::registry::fuzz_one`).

use assay::analysis::registry::fuzz_one;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_one("packed_pe", data));
