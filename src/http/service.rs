//! The service API: sysinfo, operating mode, availability, statistics.

use std::sync::atomic::Ordering;

use tiny_http::Request;

use super::{header_value, ApiError, App, HandlerResult, Reply};
use crate::host;
use crate::stats::QUEUE_NAME;
use crate::time::now;

/// Seconds a client is asked to wait before trying a Worker that is not healthy again.
const UNHEALTHY_RETRY_AFTER_SECS: u32 = 30;

/// Why the Worker is not healthy, or `None` while the data directory's file system is below the
/// configured threshold. A change either way is logged once.
pub fn unhealthy(app: &App) -> Option<String> {
    let limit = app.config.max_disk_used_percent;
    let why = match host::disk_used_percent(&app.config.data_dir) {
        Ok(used) if used <= limit => None,
        Ok(used) => Some(format!(
            "the data directory's file system is {used:.1} % used, above \
             health.max_disk_used_percent ({limit})"
        )),
        Err(e) => Some(format!("the data directory's disk use cannot be read: {e}")),
    };
    if app.healthy.swap(why.is_none(), Ordering::SeqCst) != why.is_none() {
        match &why {
            Some(why) => crate::log!("not healthy: {why}; uploads are refused"),
            None => crate::log!("healthy again: uploads are accepted"),
        }
    }
    why
}

/// The 503 a Worker that is not healthy answers to an upload: the seed's `not healthy`, then why.
/// `/available` answers the bare `not healthy`, which health checkers compare as it is; the why
/// is in its log line and in sysinfo.
pub fn not_healthy(app: &App, why: Option<&str>) -> ApiError {
    app.stats.add("not_available", 1.0, now());
    let message = match why {
        Some(why) => format!("not healthy: {why}"),
        None => "not healthy".to_string(),
    };
    ApiError::new(503, message).with_header("Retry-After", UNHEALTHY_RETRY_AFTER_SECS.to_string())
}

/// `GET /srv/tiscale/v1/sysinfo`
pub fn sysinfo(app: &App) -> HandlerResult {
    if let Some(hub) = &app.hub {
        let why = unhealthy(app);
        let available = hub.any_available();
        return Ok(Reply::json(&serde_json::json!({
            "hub": true,
            "healthy": why.is_none() && available,
            "health_problem": why.or((!available).then(|| "no Worker is available".to_string())),
            "load_average": host::load_average(),
            "queue_size": 0,
            "workers": hub.workers_json(),
            "scratch_space": host::disk_used_percent(&app.config.data_dir).unwrap_or(100.0),
            "root_space": host::disk_used_percent(std::path::Path::new("/")).unwrap_or(100.0),
        })));
    }
    let queued = app.store.count_queued()?;
    let why = unhealthy(app);
    Ok(Reply::json(&serde_json::json!({
        "healthy": why.is_none(),
        "health_problem": why,
        "load_average": host::load_average(),
        "queue_size": queued,
        "max_queue_name": QUEUE_NAME,
        "max_queue_size": queued,
        "hagent_running": true,
        "outbox": crate::integrations::backlog_json(&app.store, app.config.outbox.max_pending),
        "analysis_cache": app.analysis_cache.as_ref().map(|c| {
            let n = c.counters();
            let looked = n.hits + n.misses;
            serde_json::json!({
                "hits": n.hits,
                "misses": n.misses,
                "hit_rate": if looked == 0 { 0.0 } else { n.hits as f64 / looked as f64 },
                "entries": n.entries,
                "bytes": n.bytes,
                "evictions": n.evictions,
                "max_entries": c.bounds().max_entries,
                "max_bytes": c.bounds().max_bytes,
            })
        }),
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

/// `GET /srv/tiscale/v1/available`: 200, or 503 with the plain-text body `paused` or
/// `not healthy`.
pub fn available(app: &App) -> HandlerResult {
    if app.paused.load(Ordering::SeqCst) {
        return Err(ApiError::new(503, "paused").as_plain_text());
    }
    // A Hub is available while any of its Workers is.
    let no_worker = app.hub.as_ref().is_some_and(|hub| !hub.any_available());
    if unhealthy(app).is_some() || no_worker {
        return Err(not_healthy(app, None).as_plain_text());
    }
    Ok(Reply::empty())
}

/// `GET /srv/tiscale/v1/stats`
pub fn stats(app: &App) -> HandlerResult {
    let mut stats = app.stats.snapshot(&app.store, now())?;
    if let Some(hub) = &app.hub {
        stats["workers"] = hub.workers_json();
    }
    Ok(Reply::json(&stats))
}
