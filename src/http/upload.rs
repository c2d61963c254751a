//! `POST /api/tiscale/v1/upload`: reads the multipart body while hashing it (a sample of up to
//! [`STORED_SAMPLE_MAX`] bytes into memory, to be committed with its task; a larger one into a
//! spool file), records the task (committed before answering) and queues it.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use sha1::{Digest, Sha1};
use tiny_http::Request;

use super::multipart::{self, MultipartError, PartHeaders, PartSink};
use super::query::strip_token_prefix;
use super::{header_value, multipart_boundary, service, ApiError, App, Body, HandlerResult, Reply};
use crate::analysis::hashes::hex;
use crate::hub::{self, ForwardError, Hub};
use crate::store::{NewTask, Sample, STORED_SAMPLE_MAX};
use crate::time::now;

/// Form fields other than the file are small JSON documents; more than this is refused.
pub const MAX_FIELD_BYTES: usize = 1024 * 1024;
/// Room for multipart framing and form fields on top of the file when checking Content-Length.
const FORM_OVERHEAD: u64 = 4 * MAX_FIELD_BYTES as u64;
/// Seconds a client is asked to wait when the queue is full.
const RETRY_AFTER_SECS: u32 = 5;

/// Handles an upload and counts it as a success or failure.
pub fn upload(app: &App, req: &mut Request) -> HandlerResult {
    let result = accept(app, req);
    // (A Hub passes a Worker's refusal on as its answer: that is a failure too.)
    let name = if result.as_ref().is_ok_and(|r| r.status < 300) {
        "upload_success"
    } else {
        "upload_failure"
    };
    app.stats.add(name, 1.0, now());
    result
}

fn accept(app: &App, req: &mut Request) -> HandlerResult {
    if app.paused.load(Ordering::SeqCst) {
        return Err(ApiError::new(503, "paused"));
    }
    if app.config.enforce_license {
        let info = crate::license::info(&app.store, now())?;
        if info.status != crate::license::Status::Valid {
            return Err(ApiError::new(
                503,
                format!(
                    "no valid license (status {}): uploads are refused",
                    serde_json::to_string(&info.status)
                        .unwrap_or_default()
                        .trim_matches('"')
                ),
            ));
        }
    }
    if let Some(why) = service::unhealthy(app) {
        return Err(service::not_healthy(app, Some(&why)));
    }
    if let Some(hub) = &app.hub {
        if !hub.any_available() {
            return Err(no_worker());
        }
        let received = receive(app, req, Role::Hub)?;
        return forward(app, hub, received, req);
    }
    // Room in the queue is held before the body is read, so a full queue costs no spooling.
    let room = app.queue.reserve().map_err(|_| queue_full())?;
    let received = receive(app, req, Role::Worker)?;
    let Received {
        mut spooled,
        custom_data,
        user_data,
        custom_token,
        forwarded_for,
    } = received;
    let base = base_url(app, req);
    let direct_sender = req
        .remote_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    // A callback override that cannot be honoured is refused now, not found out later.
    if let (Some(callback), Some(u)) = (&app.config.callback, user_data.as_deref()) {
        let u: Value = serde_json::from_str(u).unwrap_or_default();
        crate::integrations::check_override(callback, &app.report_types.current(), &u)
            .map_err(ApiError::bad_request)?;
    }

    let t = now();
    let sha1 = spooled.sha1().map_err(|e| spool_error(&e))?;
    let size = spooled.size;
    let sample = match spooled.memory.take() {
        Some(bytes) => Sample::Stored(bytes),
        None => Sample::Spool(spooled.spool_name.clone()),
    };
    let task = NewTask {
        submitted: t,
        file_name: spooled.file_name.clone(),
        size,
        sha1,
        sample,
        custom_token,
        custom_data,
        user_data,
        direct_sender,
        forwarded_for,
        deliveries: crate::integrations::at_upload(&app.config),
    };
    let sha1 = task.sha1.clone();
    let id = app.store.insert_task(task).map_err(|e| {
        if e.is_disk_full() {
            crate::log!("upload: cannot record the task: {e}");
            disk_full()
        } else {
            e.into()
        }
    })?;
    // From here the upload is accepted: the sample belongs to the task row.
    let path = spooled.keep();
    if room.push(id).is_err() {
        // Start-up recovery took the room while we were reading the body: take the task back
        // (a sample kept in the database goes with the row).
        app.store.delete_task(id)?;
        if !path.as_os_str().is_empty() {
            crate::queue::remove_sample(&path);
        }
        return Err(queue_full());
    }
    app.stats.add("files_submitted", 1.0, t);
    app.stats.add("bytes_submitted", size as f64, t);
    let mut answer = serde_json::json!({
        "task_url": format!("{base}/api/tiscale/v1/task/{id}")
    });
    if let Some(url) = app
        .config
        .s3
        .as_ref()
        .and_then(|s3| crate::integrations::report_link(s3, &sha1, id, t))
    {
        answer["report_url"] = url.into();
    }
    Ok(Reply::json(&answer))
}

/// An upload read whole: the sample (in memory or in the spool), the form fields, and who sent it.
struct Received {
    spooled: Spooled,
    custom_data: Option<String>,
    user_data: Option<String>,
    /// `X-TiScale-Token` without its `Token ` prefix.
    custom_token: Option<String>,
    /// The `X-Forwarded-For` chain as received.
    forwarded_for: Vec<String>,
}

/// Who receives an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Keeps it: synced to disk before the answer (a small one in the database, with its task),
    /// hashed as it is written.
    Worker,
    /// Passes it on: the Worker makes it durable, and hashes it; the Hub's copy (in memory up to
    /// [`HUB_MEMORY_BYTES`]) lives until the Worker has answered.
    Hub,
}

/// Reads the multipart body (the sample into memory or the spool) and checks what can be checked before the upload is
/// taken: size, the file part, `custom_data`'s integrity hash.
fn receive(app: &App, req: &mut Request, role: Role) -> Result<Received, ApiError> {
    let boundary = multipart_boundary(req)?;
    let max = app.config.http.max_upload_bytes;
    if req
        .body_length()
        .is_some_and(|n| n as u64 > max.saturating_add(FORM_OVERHEAD))
    {
        return Err(too_large(max));
    }
    let custom_token = header_value(req, "X-TiScale-Token")
        .map(strip_token_prefix)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let forwarded_for: Vec<String> = header_value(req, "X-Forwarded-For")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();

    let spool_dir = app.config.spool_dir();
    let expected = req.body_length().unwrap_or(0);
    let mut sink = UploadSink::new(&spool_dir, max, role, expected);
    let body = super::Pulsing {
        inner: req.as_reader(),
        pulse: &app.pulse,
    };
    if let Err(e) = multipart::parse(body, &boundary, &mut sink) {
        return Err(match e {
            MultipartError::Rejected(msg) if sink.too_large => ApiError::new(413, msg),
            MultipartError::Io(ref io) if sink.spool_failed => spool_error(io),
            MultipartError::Io(ref io)
                if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                ApiError::new(
                    408,
                    format!(
                        "the upload stalled: nothing arrived for {} s",
                        app.config.http.read_timeout.as_secs()
                    ),
                )
            }
            other => ApiError::bad_request(format!("malformed upload: {other}")),
        });
    }
    let Some(file) = sink.file.take() else {
        return Err(ApiError::bad_request(
            "missing file part: send the sample as the multipart field 'file'",
        ));
    };
    let mut spooled = file
        .finish(role == Role::Worker)
        .map_err(|e| spool_error(&e))?;

    let custom_data = sink
        .field("custom_data")
        .filter(|v| serde_json::from_str::<Value>(v).is_ok());
    if let Some(expected) = custom_data
        .as_deref()
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .and_then(|v| {
            v.get("integrity_check_hash")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    {
        let actual = spooled.sha1().map_err(|e| spool_error(&e))?;
        if !expected.trim().eq_ignore_ascii_case(&actual) {
            return Err(ApiError::bad_request(format!(
                "ERROR: Upload: failed to accept upload integrity check failed, calculated hash {actual} differs from the one passed in custom data {expected}."
            )));
        }
    }
    let user_data = sink
        .field("user_data")
        .filter(|v| serde_json::from_str::<Value>(v).is_ok());
    Ok(Received {
        spooled,
        custom_data,
        user_data,
        custom_token,
        forwarded_for,
    })
}

/// Hub mode: passes the upload on to a Worker and its answer back unchanged. The spool file
/// goes when this returns.
fn forward(app: &App, hub: &Hub, received: Received, req: &Request) -> HandlerResult {
    let mut chain = received.forwarded_for;
    if let Some(peer) = req.remote_addr() {
        chain.push(peer.ip().to_string());
    }
    let chain = chain.join(", ");
    let fields: Vec<(&str, &str)> = [
        ("custom_data", received.custom_data.as_deref()),
        ("user_data", received.user_data.as_deref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?)))
    .collect();
    let upload = hub::Upload {
        body: match &received.spooled.memory {
            Some(data) => hub::Body::Memory(data),
            None => hub::Body::File(received.spooled.path()),
        },
        size: received.spooled.size,
        file_name: &received.spooled.file_name,
        fields: &fields,
        custom_token: received.custom_token.as_deref(),
        forwarded_for: &chain,
    };
    match hub.forward(&upload) {
        Ok(answer) => {
            let t = now();
            if (200..300).contains(&answer.status) {
                app.stats.add("files_submitted", 1.0, t);
                app.stats
                    .add("bytes_submitted", received.spooled.size as f64, t);
            }
            Ok(Reply {
                status: answer.status,
                body: Body::Bytes(answer.body),
                content_type: Some("application/json"),
            })
        }
        Err(ForwardError::NoWorker) => Err(no_worker()),
        Err(ForwardError::Spool(e)) => Err(spool_error(&e)),
    }
}

/// A Hub's answer when no Worker takes the upload.
fn no_worker() -> ApiError {
    ApiError::new(503, "no worker available")
        .with_header("Retry-After", RETRY_AFTER_SECS.to_string())
}

/// The answer when the sample cannot be written: 503 with `Retry-After` when the disk is full
/// (space comes back as tasks finish), 500 for anything else.
fn spool_error(e: &std::io::Error) -> ApiError {
    crate::log!("upload: cannot write to the spool: {e}");
    if e.kind() == ErrorKind::StorageFull {
        disk_full()
    } else {
        ApiError::new(500, "cannot store the upload, see the server log")
    }
}

/// The answer when the disk is full (the spool's or the database's): space comes back as tasks
/// finish.
fn disk_full() -> ApiError {
    ApiError::new(
        503,
        "the disk is full: the upload was not stored, retry later",
    )
    .with_header("Retry-After", RETRY_AFTER_SECS.to_string())
}

fn queue_full() -> ApiError {
    ApiError::new(503, "the analysis queue is full, retry later")
        .with_header("Retry-After", RETRY_AFTER_SECS.to_string())
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        413,
        format!("the file is larger than the maximum upload size of {max} bytes"),
    )
}

/// `scheme://host[:port]` for task URLs: the configured public URL; else the scheme the server
/// speaks and the request's `Host`, both replaced by `X-Forwarded-Proto` / `X-Forwarded-Host`
/// when the peer is one of `trusted_proxies` (the first value of each: the proxy nearest the
/// client). From anyone else those headers are ignored.
pub fn base_url(app: &App, req: &Request) -> String {
    if let Some(url) = &app.config.public_url {
        return url.clone();
    }
    let plausible = |h: &&str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
    };
    let first = |name| header_value(req, name).and_then(|v| v.split(',').next().map(str::trim));
    let mut scheme = app.config.scheme();
    let mut host = header_value(req, "Host").map(str::trim);
    let trusted = req.remote_addr().is_some_and(|peer| {
        let ip = peer.ip();
        app.config.trusted_proxies.iter().any(|r| r.contains(ip))
    });
    if trusted {
        match first("X-Forwarded-Proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => scheme = "https",
            Some(p) if p.eq_ignore_ascii_case("http") => scheme = "http",
            _ => {}
        }
        if let Some(h) = first("X-Forwarded-Host").filter(plausible) {
            host = Some(h);
        }
    }
    match host.filter(plausible) {
        Some(h) => format!("{scheme}://{h}"),
        None => format!("{scheme}://{}", app.config.listen),
    }
}

/// Removes a spool file on drop unless it was kept: an upload that fails half-way leaves nothing.
struct PathGuard(Option<PathBuf>);

impl PathGuard {
    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for PathGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Most bytes of an upload a Hub holds in memory; a larger one goes to its spool. Eight HTTP
/// threads hold 32 MiB at most; creating, writing, reading back and deleting a file for every
/// small upload cost a Hub more than forwarding it.
const HUB_MEMORY_BYTES: usize = 4 * 1024 * 1024;

impl Role {
    /// Most bytes of an upload held in memory: a Worker commits up to [`STORED_SAMPLE_MAX`] bytes
    /// into the database with the task; a Hub forwards up to [`HUB_MEMORY_BYTES`] from memory.
    fn memory_bytes(self) -> usize {
        match self {
            Role::Worker => STORED_SAMPLE_MAX,
            Role::Hub => HUB_MEMORY_BYTES,
        }
    }
}

/// A sample being written to the spool, or held in memory while it is small.
struct SpoolFile {
    dir: PathBuf,
    guard: PathGuard,
    spool_name: String,
    file_name: String,
    /// The open spool file; `None` while the sample is in `memory`.
    writer: Option<BufWriter<File>>,
    memory: Option<Vec<u8>>,
    /// Most bytes `memory` holds before the sample goes to a spool file.
    memory_max: usize,
    /// The SHA-1 as the file is written; `None` on a Hub (see [`Spooled::sha1`]).
    sha1: Option<Sha1>,
    size: u64,
}

/// A completely received sample: in memory when small, else in a spool file (synced to disk on
/// a Worker).
struct Spooled {
    guard: PathGuard,
    spool_name: String,
    file_name: String,
    sha1: Option<String>,
    size: u64,
    /// A small upload, never written to a file (a Worker's goes into the database).
    memory: Option<Vec<u8>>,
}

impl Spooled {
    /// The file's SHA-1 (hex). A Hub has it computed only when it is asked for: an integrity
    /// check in `custom_data`. Hashing every upload took a third of a Hub's CPU.
    fn sha1(&mut self) -> std::io::Result<String> {
        if let Some(digest) = &self.sha1 {
            return Ok(digest.clone());
        }
        let mut hasher = Sha1::new();
        match &self.memory {
            Some(data) => hasher.update(data),
            None => {
                let mut file = File::open(self.path())?;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    match std::io::Read::read(&mut file, &mut buf)? {
                        0 => break,
                        n => hasher.update(&buf[..n]),
                    }
                }
            }
        }
        let digest = hex(&hasher.finalize());
        self.sha1 = Some(digest.clone());
        Ok(digest)
    }

    fn path(&self) -> &Path {
        self.guard.0.as_deref().unwrap_or(Path::new(""))
    }

    /// Hands the file over to the task: it is no longer removed on drop. Empty when the sample
    /// was never written to a file.
    fn keep(self) -> PathBuf {
        self.guard.keep()
    }
}

static SPOOL_COUNTER: AtomicU64 = AtomicU64::new(0);

impl SpoolFile {
    /// A sample in memory until it outgrows [`Role::memory_bytes`], then in a new spool file.
    /// `expected`: about how large the sample is (the request's length), to hold it in one
    /// allocation.
    fn create(dir: &Path, file_name: String, role: Role, expected: usize) -> SpoolFile {
        let memory_max = role.memory_bytes();
        SpoolFile {
            dir: dir.to_owned(),
            guard: PathGuard(None),
            spool_name: String::new(),
            file_name,
            writer: None,
            memory: Some(Vec::with_capacity(expected.min(memory_max))),
            memory_max,
            sha1: (role == Role::Worker).then(Sha1::new),
            size: 0,
        }
    }

    fn open(&mut self) -> std::io::Result<()> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = SPOOL_COUNTER.fetch_add(1, Ordering::Relaxed);
        // The name is ours; nothing the client sent reaches the file system.
        self.spool_name = format!("{nanos:x}-{n:x}.sample");
        let path = self.dir.join(&self.spool_name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        self.guard = PathGuard(Some(path));
        self.writer = Some(BufWriter::with_capacity(256 * 1024, file));
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        if let Some(h) = self.sha1.as_mut() {
            h.update(chunk);
        }
        if let Some(memory) = &mut self.memory {
            if memory.len() + chunk.len() <= self.memory_max {
                memory.extend_from_slice(chunk);
                return Ok(());
            }
            let held = self.memory.take().unwrap_or_default();
            self.open()?;
            self.write_file(&held)?;
        }
        self.write_file(chunk)
    }

    fn write_file(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.writer {
            Some(w) => w.write_all(bytes),
            None => Err(std::io::Error::other("the spool file is not open")),
        }
    }

    /// Flushes the file and, when `durable`, syncs it and its directory entry so that an
    /// accepted upload survives a power cut as well as a crash.
    fn finish(self, durable: bool) -> std::io::Result<Spooled> {
        let SpoolFile {
            guard,
            spool_name,
            file_name,
            writer,
            memory,
            sha1,
            size,
            ..
        } = self;
        if let Some(writer) = writer {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            if durable {
                file.sync_data()?;
                if let Some(dir) = guard.0.as_deref().and_then(Path::parent) {
                    File::open(dir)?.sync_all()?;
                }
            }
        }
        Ok(Spooled {
            guard,
            spool_name,
            file_name,
            sha1: sha1.map(|h| hex(&h.finalize())),
            size,
            memory,
        })
    }
}

enum Current {
    None,
    File,
    Field(String, Vec<u8>),
}

/// Receives the multipart parts: the `file` part into memory while small, then into the spool;
/// small fields into memory.
struct UploadSink<'a> {
    spool_dir: &'a Path,
    max_bytes: u64,
    role: Role,
    /// The request body's length, when it was given.
    expected: usize,
    current: Current,
    file: Option<SpoolFile>,
    fields: Vec<(String, Vec<u8>)>,
    /// Set when a limit was exceeded (answered 413).
    too_large: bool,
    /// Set when writing the spool failed (answered 500).
    spool_failed: bool,
}

impl<'a> UploadSink<'a> {
    fn new(spool_dir: &'a Path, max_bytes: u64, role: Role, expected: usize) -> Self {
        UploadSink {
            spool_dir,
            max_bytes,
            role,
            expected,
            current: Current::None,
            file: None,
            fields: Vec::new(),
            too_large: false,
            spool_failed: false,
        }
    }

    /// A form field's value as text, if it was sent.
    fn field(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// The file's name as a label: the last path component the client sent, or empty.
fn label(filename: Option<&str>) -> String {
    let name = filename.unwrap_or("");
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .filter(|c| !c.is_control())
        .take(1024)
        .collect()
}

impl PartSink for UploadSink<'_> {
    fn begin(&mut self, h: &PartHeaders) -> Result<(), MultipartError> {
        let is_file = h.name == "file" || (h.name.is_empty() && h.filename.is_some());
        if is_file && self.file.is_some() {
            return Err(MultipartError::Rejected(
                "more than one file part: send one sample per upload".into(),
            ));
        }
        self.current = if is_file {
            let name = label(h.filename.as_deref());
            self.file = Some(SpoolFile::create(
                self.spool_dir,
                name,
                self.role,
                self.expected,
            ));
            Current::File
        } else if matches!(h.name.as_str(), "custom_data" | "user_data")
            && !self.fields.iter().any(|(n, _)| *n == h.name)
        {
            Current::Field(h.name.clone(), Vec::new())
        } else {
            // Unknown fields are read past and ignored.
            Current::None
        };
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> Result<(), MultipartError> {
        match &mut self.current {
            Current::None => Ok(()),
            Current::File => {
                let Some(f) = self.file.as_mut() else {
                    return Ok(());
                };
                f.size += chunk.len() as u64;
                if f.size > self.max_bytes {
                    self.too_large = true;
                    return Err(MultipartError::Rejected(format!(
                        "the file is larger than the maximum upload size of {} bytes",
                        self.max_bytes
                    )));
                }
                f.write(chunk).map_err(|e| {
                    self.spool_failed = true;
                    MultipartError::Io(e)
                })
            }
            Current::Field(name, buf) => {
                if buf.len() + chunk.len() > MAX_FIELD_BYTES {
                    self.too_large = true;
                    return Err(MultipartError::Rejected(format!(
                        "the form field {name} is larger than {MAX_FIELD_BYTES} bytes"
                    )));
                }
                buf.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    fn end(&mut self) -> Result<(), MultipartError> {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::Field(name, value) => self.fields.push((name, value)),
            Current::File | Current::None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_carry_directories_or_controls() {
        assert_eq!(label(Some("../../etc/passwd")), "passwd");
        assert_eq!(label(Some("C:\\Users\\x\\evil.exe")), "evil.exe");
        assert_eq!(label(Some("a\u{0}b\nc")), "abc");
        assert_eq!(label(None), "");
    }
}
