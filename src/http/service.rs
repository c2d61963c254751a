//! The service API: sysinfo, operating mode, availability, statistics.

use std::sync::atomic::Ordering;

use tiny_http::Request;

use super::{header_value, ApiError, App, HandlerResult, Reply};
use crate::host;
use crate::stats::QUEUE_NAME;
use crate::time::now;

/// True while the data directory's file system is below the configured threshold.
pub fn healthy(app: &App) -> bool {
    match host::disk_used_percent(&app.config.data_dir) {
        Ok(used) => used <= app.config.max_disk_used_percent,
        Err(e) => {
            crate::log!("cannot read disk usage of the data directory: {e}");
            false
        }
    }
}

/// `GET /srv/tiscale/v1/sysinfo`
pub fn sysinfo(app: &App) -> HandlerResult {
    let queued = app.store.count_queued()?;
    Ok(Reply::json(&serde_json::json!({
        "load_average": host::load_average(),
        "queue_size": queued,
        "max_queue_name": QUEUE_NAME,
        "max_queue_size": queued,
        "hagent_running": true,
        "scratch_space": host::disk_used_percent(&app.config.data_dir).unwrap_or(100.0),
        "root_space": host::disk_used_percent(std::path::Path::new("/")).unwrap_or(100.0),
    })))
}

/// `GET /srv/tiscale/v1/mode`
pub fn get_mode(app: &App) -> HandlerResult {
    Ok(Reply::json(
        &serde_json::json!({ "paused": app.paused.load(Ordering::SeqCst) }),
    ))
}

const INVALID_MODE_BODY: &str = "Invalid POST data: expected JSON object";
const MAX_MODE_BODY: u64 = 64 * 1024;

/// `PUT /srv/tiscale/v1/mode` with `{"paused": bool}`.
pub fn put_mode(app: &App, req: &mut Request) -> HandlerResult {
    let is_json = header_value(req, "Content-Type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(ApiError::bad_request(INVALID_MODE_BODY));
    }
    let mut body = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(req.as_reader(), MAX_MODE_BODY + 1),
        &mut body,
    )
    .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad_request(INVALID_MODE_BODY))?;
    let obj = value
        .as_object()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| ApiError::bad_request(INVALID_MODE_BODY))?;
    if let Some(p) = obj.get("paused") {
        let paused = p
            .as_bool()
            .ok_or_else(|| ApiError::bad_request("paused must be true or false"))?;
        app.set_paused(paused)?;
        crate::log!("operating mode: paused = {paused}");
    }
    Ok(Reply::empty())
}

/// `GET /srv/tiscale/v1/available`: 200, or 503 `paused` / `not healthy`.
pub fn available(app: &App) -> HandlerResult {
    if app.paused.load(Ordering::SeqCst) {
        return Err(ApiError::new(503, "paused"));
    }
    if !healthy(app) {
        app.stats.add("not_available", 1.0, now());
        return Err(ApiError::new(503, "not healthy"));
    }
    Ok(Reply::empty())
}

/// `GET /srv/tiscale/v1/stats`
pub fn stats(app: &App) -> HandlerResult {
    Ok(Reply::json(&app.stats.snapshot(&app.store, now())?))
}
