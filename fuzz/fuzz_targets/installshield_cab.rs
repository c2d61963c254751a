#![no_main]
//! Fuzzes the installshield_cab parser both ways, unpacking and describing (see
//! `assay::analysis::registry::fuzz_one`).

use assay::analysis::registry::fuzz_one;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_one("installshield_cab", data));
