//! Task endpoints (list, get, delete, bulk delete), the YARA ruleset endpoints and the quota
//! endpoints of the usage API.

use std::io::{Cursor, Read};
use std::time::Duration;

use serde::Serialize;

use super::query::{strip_token_prefix, Query};
use super::{ApiError, App, Body, HandlerResult, Reply};
use crate::log;
use crate::report::document::{self, TaskFields, WorkerFields};
use crate::report::shape::{self, Params, Shape};
use crate::store::{Target, TaskState};
use crate::time::now;

#[derive(Serialize)]
struct ListItem<'a> {
    task_id: i64,
    submitted: i64,
    processed: Option<i64>,
    #[serde(flatten)]
    worker: &'a WorkerFields<'a>,
}

/// `age` is "older than N seconds": submitted at or before now - N.
fn cutoff(q: &Query) -> Result<Option<i64>, ApiError> {
    Ok(q.seconds("age")?
        .map(|age| now().saturating_sub(i64::try_from(age).unwrap_or(i64::MAX))))
}

/// `GET /api/tiscale/v1/task?age=&token=`
pub fn list_tasks(app: &App, q: &Query) -> HandlerResult {
    let before = cutoff(q)?;
    let token = q.get("token").map(strip_token_prefix);
    let tasks = app.store.list_tasks(before, token)?;
    let worker = WorkerFields::of(&app.worker);
    let items: Vec<ListItem> = tasks
        .into_iter()
        .map(|t| ListItem {
            task_id: t.id,
            submitted: t.submitted,
            processed: t.processed,
            worker: &worker,
        })
        .collect();
    Ok(Reply::json(&items))
}

/// `DELETE /api/tiscale/v1/task?age=N`
pub fn delete_tasks(app: &App, q: &Query) -> HandlerResult {
    let before = cutoff(q)?.ok_or_else(|| {
        ApiError::bad_request("the age parameter is required (age=0 deletes every task)")
    })?;
    let spool = app.config.spool_dir();
    for f in app.store.delete_submitted_before(before)? {
        crate::queue::remove_sample(&spool.join(f));
    }
    Ok(Reply::empty())
}

fn task_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::not_found(format!("no task {id:?}: task ids are positive integers"))
    })
}

/// The report shape a `GET task` asks for (400 on a malformed or unknown parameter).
fn requested_shape(app: &App, q: &Query) -> Result<Shape, ApiError> {
    let params = Params {
        report_type: q.get("report_type"),
        full: q.bool("full")?,
        view: q.get("view"),
        include_fields: q.get("include_fields"),
        exclude_fields: q.get("exclude_fields"),
        v13: q.bool("v13")?.unwrap_or(false),
    };
    shape::resolve(&params, &app.report_types.current()).map_err(ApiError::bad_request)
}

/// Stored (compressed) reports of at least this many bytes, about 1 MB of JSON and some hundreds
/// of entries, are sent as they are shaped ([`Body::Stream`], chunked); smaller ones are shaped
/// whole and sent with their length. (tiny_http still builds a streamed answer whole for an
/// HTTP/1.0 client, or one that asks for `TE: identity`.)
const STREAM_FROM: usize = 192 * 1024;

/// How much of a streamed report is shaped before the answer is sent.
const FIRST_SHAPED: usize = 64 * 1024;

/// `GET /api/tiscale/v1/task/{id}`: 200 with nulls while pending, never 404 for a live task.
pub fn get_task(app: &App, id: &str, q: &Query) -> HandlerResult {
    let id = task_id(id)?;
    let shape = requested_shape(app, q)?;
    let (task, stored) = app
        .store
        .get_task_packed(id)?
        .ok_or_else(|| ApiError::not_found(format!("no task {id}")))?;
    // A cancelled task is over too: its `processed` (when it was cancelled), no report and the
    // error tell a poller to stop waiting.
    let mut processed = matches!(
        task.state,
        TaskState::Done | TaskState::Failed | TaskState::Cancelled
    );
    // With S3, a task is processed once its report and its sample are there too (the seed).
    let mut file_link = None;
    if let Some(s3) = &app.config.s3 {
        let deliveries = app.store.deliveries_of(id)?;
        let state_of = |t: Target| {
            deliveries
                .iter()
                .find(|(d, _)| *d == t)
                .map(|(_, state)| state.as_str())
        };
        // (A cancelled task has no report to wait for.)
        if task.state != TaskState::Cancelled
            && [Target::S3Sample, Target::S3Report]
                .into_iter()
                .any(|t| state_of(t) == Some("pending"))
        {
            processed = false;
        }
        if state_of(Target::S3Sample) == Some("done") {
            file_link = crate::integrations::sample_link(s3, &task.sha1);
        }
    }
    let fields = TaskFields {
        task_id: task.id,
        submitted: task.submitted,
        processed: if processed { task.processed } else { None },
        direct_sender: &task.direct_sender,
        forwarded_for: &task.forwarded_for,
        custom_data: task.custom_data.as_deref(),
        error: task.error.as_deref(),
        file_link: file_link.as_deref(),
    };
    let damaged = |e: String| {
        log!("task {id}: {e}");
        ApiError::new(500, format!("task {id}: {e}"))
    };
    let body = match stored.filter(|_| processed) {
        // A large report is shaped and sent as it is inflated, never whole in memory.
        Some(stored) if stored.len() >= STREAM_FROM => {
            // Its beginning is shaped before the answer's status goes: a report damaged from
            // the start is a 500, like a small one; later damage cuts the answer short.
            let mut report = shape::reader(stored.into_reader(), shape);
            let mut first = Vec::with_capacity(FIRST_SHAPED);
            (&mut report)
                .take(FIRST_SHAPED as u64)
                .read_to_end(&mut first)
                .map_err(|e| damaged(e.to_string()))?;
            let opening = document::opening(&fields, &app.worker, 0);
            let rest = Cursor::new(first).chain(report).chain(&b"}"[..]);
            Body::Stream(Box::new(Cursor::new(opening).chain(rest)))
        }
        Some(stored) => {
            let json = stored
                .unpack()
                .map_err(|why| damaged(format!("the stored report is damaged: {why}")))?;
            let report = shape::shape(&json, &shape).map_err(damaged)?;
            Body::Bytes(document::document(&fields, &app.worker, Some(&report)))
        }
        None => Body::Bytes(document::document(&fields, &app.worker, None)),
    };
    Ok(Reply {
        status: 200,
        body,
        content_type: Some("application/json"),
    })
}

/// `DELETE /api/tiscale/v1/task/{id}`
pub fn delete_task(app: &App, id: &str) -> HandlerResult {
    let id = task_id(id)?;
    match app.store.delete_task(id)? {
        None => Err(ApiError::not_found(format!("no task {id}"))),
        Some(spool) => {
            if let Some(f) = spool {
                crate::queue::remove_sample(&app.config.spool_dir().join(f));
            }
            Ok(Reply::empty())
        }
    }
}

/// `GET /api/tiscale/v1/yara`: the id of the active rules (sha1 over the active rulesets' keys
/// and contents), which changes exactly when they change.
pub fn yara_id(app: &App) -> HandlerResult {
    Ok(Reply::json(
        &serde_json::json!({ "id": app.yara.current().id }),
    ))
}

/// `GET /api/tiscale/v2/sync-status[?errorOnly=true]`: the global revision and every ruleset
/// (or only those with errors), with its revision, key, hash, errors and warnings.
pub fn sync_status(app: &App, q: &Query) -> HandlerResult {
    let error_only = q.bool("errorOnly")?.unwrap_or(false);
    let current = app.yara.current();
    let rulesets: Vec<_> = current
        .rulesets
        .iter()
        .filter(|r| !error_only || !r.errors.is_empty())
        .collect();
    Ok(Reply::json(&serde_json::json!({
        "revision": current.revision,
        "rulesets": rulesets,
    })))
}

/// Longest `pull/all` waits for the recompile before answering.
const PULL_WAIT: Duration = Duration::from_secs(120);

/// `POST /api/tiscale/v1/pull/all`: re-reads and recompiles every ruleset now (on the watcher
/// thread) and answers when the new rules are in force; 417 when synchronisation is disabled.
pub fn pull_all(app: &App) -> HandlerResult {
    let options = app.yara.options();
    if !options.sync || options.rules_dir.is_none() {
        return Err(ApiError::new(
            417,
            "YARA synchronization is disabled in the configuration ([yara] sync = false)",
        ));
    }
    if !app.yara.reload_now(PULL_WAIT) {
        return Err(ApiError::new(
            417,
            format!(
                "the YARA rules did not finish compiling within {} s; the reload goes on",
                PULL_WAIT.as_secs()
            ),
        ));
    }
    let current = app.yara.current();
    Ok(Reply::json(&serde_json::json!({
        "id": current.id,
        "revision": current.revision,
    })))
}

/// `GET /api/tiscale/v1/quota[/company]`: there is no cloud account.
pub fn quota() -> HandlerResult {
    Err(ApiError::new(503, "TiCloud is not configured."))
}
