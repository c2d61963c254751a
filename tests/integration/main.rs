//! End-to-end tests: the real `assay` binary on 127.0.0.1:0, driven through HTTP, and `assay scan`
//! over the format fixtures and hostile archives.

mod common;

mod api;
mod deliveries;
mod edge;
mod formats;
mod golden;
mod hub;
mod lifecycle;
mod s3;
mod service;
mod shaping;
mod tls;
mod upload;
mod verdicts;
mod wrapped;
mod yara;
