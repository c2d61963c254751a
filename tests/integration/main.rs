//! End-to-end tests: the real `assay` binary on 127.0.0.1:0, driven through HTTP.

mod common;

mod api;
mod lifecycle;
mod service;
mod upload;
