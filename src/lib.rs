//! assay: a file analysis server that speaks the Spectra Detect Worker (TitaniumScale) HTTP API.
//! The library holds everything; `main.rs` is the command line (`serve`, `scan`, `digest`). The
//! library form lets the fuzz targets under `fuzz/` reach the format parsers.

pub mod analysis;
pub mod config;
pub mod host;
pub mod http;
pub mod hub;
pub mod integrations;
pub mod license;
pub mod log;
pub mod queue;
pub mod report;
pub mod scan;
pub mod stats;
pub mod store;
pub mod systemd;
pub mod time;
pub mod watched;
