#![no_main]
//! Fuzzes the upx container handler (see `assay::analysis::formats::fuzz_one`).

use assay::analysis::formats::{fuzz_one, Container};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_one(Container::Upx, data));
