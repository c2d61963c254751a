//! The HTTP front end: a blocking tiny_http server read by a fixed number of threads, one route
//! table, token checks per endpoint group, `{"message": ...}` errors and one log line per request.
//!
//! Nothing here knows a file format: uploads become a spool file and a task row, and reports are
//! read back from the store.

mod auth;
mod handlers;
mod license;
pub mod multipart;
mod query;
mod router;
mod service;
mod upload;
mod watchdog;

use watchdog::PROBE_HEADER;
pub use watchdog::{serving, Probe, Pulse, Pulsing};

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tiny_http::{Header, Limits, Request, Response, Server};

use crate::analysis::yara::Rulesets;
use crate::config::Config;
use crate::host::WorkerInfo;
use crate::hub::Hub;
use crate::log;
use crate::queue::Queue;
use crate::report::types::ReportTypes;
use crate::stats::Stats;
use crate::store::{Store, StoreError};

/// State shared by every HTTP thread.
pub struct App {
    pub config: Config,
    pub store: Arc<Store>,
    pub stats: Arc<Stats>,
    pub queue: Queue,
    pub worker: WorkerInfo,
    /// The operating mode; persisted in the store, cached here.
    pub paused: AtomicBool,
    /// Whether the last health check passed (a change is logged once).
    pub healthy: AtomicBool,
    /// Signs of life of the HTTP threads, for the watchdog.
    pub pulse: Pulse,
    /// The YARA rulesets (the same the analysis threads use).
    pub yara: Arc<Rulesets>,
    /// Custom report types (`reports.types_dir`).
    pub report_types: ReportTypes,
    /// Hub mode: uploads go to these Workers; the task endpoints answer 404.
    pub hub: Option<Arc<Hub>>,
    /// The analysis threads' cache, for sysinfo's counters.
    pub analysis_cache: Option<Arc<crate::analysis::AnalysisCache>>,
}

const META_PAUSED: &str = "paused";

impl App {
    /// Builds the shared state, reading the persisted operating mode.
    pub fn new(
        config: Config,
        store: Arc<Store>,
        stats: Arc<Stats>,
        queue: Queue,
        worker: WorkerInfo,
        yara: Arc<Rulesets>,
        hub: Option<Arc<Hub>>,
    ) -> Result<App, StoreError> {
        let paused = store.meta_get(META_PAUSED)?.as_deref() == Some("true");
        let report_types = crate::report::types::watch(config.report_types.clone());
        Ok(App {
            report_types,
            config,
            store,
            stats,
            queue,
            worker,
            paused: AtomicBool::new(paused),
            healthy: AtomicBool::new(true),
            pulse: Pulse::default(),
            yara,
            hub,
            analysis_cache: None,
        })
    }

    /// This state, reporting the counters of the analysis threads' cache.
    pub fn with_analysis_cache(mut self, cache: Arc<crate::analysis::AnalysisCache>) -> App {
        self.analysis_cache = Some(cache);
        self
    }

    /// Sets and persists the operating mode.
    pub fn set_paused(&self, paused: bool) -> Result<(), StoreError> {
        self.store
            .meta_set(META_PAUSED, if paused { "true" } else { "false" })?;
        self.paused.store(paused, Ordering::SeqCst);
        Ok(())
    }
}

/// A successful answer.
pub struct Reply {
    pub status: u16,
    pub body: Body,
    pub content_type: Option<&'static str>,
}

/// A streamed body whose reader's panic is a read error: the answer is cut short like any
/// failed body, instead of unwinding through the response writer.
struct Guarded(Box<dyn std::io::Read + Send>);

impl std::io::Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        crate::log::guarded(|| self.0.read(buf))
            .unwrap_or_else(|panic| Err(std::io::Error::other(panic.to_string())))
    }
}

/// What an answer sends.
pub enum Body {
    /// Bytes made whole, sent with their length.
    Bytes(Vec<u8>),
    /// Made while it is sent (chunked): a large report. A read error cuts the answer short
    /// without its last chunk and closes the connection, so that it cannot pass for whole.
    Stream(Box<dyn std::io::Read + Send>),
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(value: &impl serde::Serialize) -> Reply {
        Reply::json_status(200, value)
    }

    /// A JSON body with another status (the license upload's 201).
    pub fn json_status(status: u16, value: &impl serde::Serialize) -> Reply {
        Reply {
            status,
            body: Body::Bytes(serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())),
            content_type: Some("application/json"),
        }
    }

    /// 200 with an empty body.
    pub fn empty() -> Reply {
        Reply {
            status: 200,
            body: Body::Bytes(Vec::new()),
            content_type: None,
        }
    }
}

/// An error answer: status and the client-facing message; details go to the log.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
    /// The body is the message as plain text instead of `{"message": ...}` (DECISIONS item 3:
    /// `/available`, whose body health checkers compare as text).
    pub plain_text: bool,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            headers: Vec::new(),
            plain_text: false,
        }
    }

    /// The same error with the message as a plain-text body.
    pub fn as_plain_text(mut self) -> ApiError {
        self.plain_text = true;
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> ApiError {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        log!("internal error: {e}");
        ApiError::new(500, "internal error, see the server log")
    }
}

pub type HandlerResult = Result<Reply, ApiError>;

/// The running HTTP front end.
pub struct HttpServer {
    server: Arc<Server>,
    threads: Vec<std::thread::JoinHandle<()>>,
    live: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// Most bytes of a request line, and of all header lines together (the patched tiny_http
/// answers 414 and 431 beyond).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header lines of a request (431 beyond).
const MAX_HEADERS: usize = 100;
/// Most bytes of a body no handler read that are read and thrown away to keep the connection
/// open; with more left, the answer closes it.
const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// Binds the listener. Errors name the address.
pub fn bind(config: &Config) -> anyhow::Result<Arc<Server>> {
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    set_nodelay(&listener);
    let limits = Limits {
        head_timeout: Some(config.http.idle_timeout),
        read_timeout: Some(config.http.read_timeout),
        write_timeout: Some(config.http.read_timeout),
        max_connections: config.http.max_connections,
        max_head_bytes: MAX_HEAD_BYTES,
        max_headers: MAX_HEADERS,
        max_drain_bytes: MAX_DRAIN_BYTES,
    };
    let ssl = config.tls.as_ref().map(tls_keys).transpose()?;
    let server = Server::from_listener_with_limits(listener, ssl, limits).map_err(|e| {
        let e = e.to_string();
        match &config.tls {
            Some(tls) => tls_error(tls, &e),
            None => anyhow::anyhow!("cannot listen on {}: {e}", config.listen),
        }
    })?;
    Ok(Arc::new(server))
}

/// The certificate chain and key of `[tls]`, read (an error names the file).
fn tls_keys(tls: &crate::config::TlsConfig) -> anyhow::Result<tiny_http::SslConfig> {
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("{key} {}: {e}", path.display()))
    };
    Ok(tiny_http::SslConfig {
        certificate: read("tls.cert_file", &tls.cert_file)?,
        private_key: read("tls.key_file", &tls.key_file)?,
    })
}

/// What is wrong with `[tls]`, naming the file at fault (tiny_http's message says which).
fn tls_error(tls: &crate::config::TlsConfig, e: &str) -> anyhow::Error {
    let (cert, key) = (tls.cert_file.display(), tls.key_file.display());
    if let Some(why) = e.strip_prefix("certificate and private key: ") {
        anyhow::anyhow!("tls.cert_file {cert} and tls.key_file {key} do not go together: {why}")
    } else if let Some(why) = e.strip_prefix("certificate: ") {
        anyhow::anyhow!("tls.cert_file {cert}: {why}")
    } else if let Some(why) = e.strip_prefix("private key: ") {
        anyhow::anyhow!("tls.key_file {key}: {why}")
    } else {
        anyhow::anyhow!("[tls] ({cert}, {key}): {e}")
    }
}

/// Disables Nagle's algorithm on the listening socket; Linux passes it on to accepted sockets.
/// tiny_http writes a response's head and body separately, and on a keep-alive connection Nagle
/// holds the body back until the client's delayed ACK: 40 ms added to every request after the
/// first (measured with scripts/bench.sh).
fn set_nodelay(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int from a valid pointer for the given length.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log!(
            "cannot set TCP_NODELAY: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Starts `config.http.threads` threads serving `server`.
pub fn start(server: Arc<Server>, app: Arc<App>) -> HttpServer {
    let stop = Arc::new(AtomicBool::new(false));
    let live = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(AtomicU64::new(0));
    let threads = (0..app.config.http.threads)
        .map(|n| {
            let (server, app, stop, live, ids) = (
                server.clone(),
                app.clone(),
                stop.clone(),
                live.clone(),
                ids.clone(),
            );
            live.fetch_add(1, Ordering::SeqCst);
            std::thread::Builder::new()
                .name(format!("http-{n}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv_timeout(Duration::from_millis(200)) {
                            Ok(Some(req)) => {
                                app.pulse.request_started();
                                let id = ids.fetch_add(1, Ordering::Relaxed) + 1;
                                // A panic while answering (the handler's own are answered 500
                                // in `serve`) must not end the thread: the pool keeps its size.
                                // An unanswered request answers 500 as it is dropped.
                                if let Err(why) = crate::log::guarded(|| serve(&app, req, id)) {
                                    log!("req={id}: {why} while answering");
                                }
                                app.pulse.request_ended();
                            }
                            Ok(None) => {}
                            Err(e) => {
                                log!("http: accept failed: {e}");
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                    live.fetch_sub(1, Ordering::SeqCst);
                })
                .expect("spawn http thread")
        })
        .collect();
    HttpServer {
        server,
        threads,
        live,
        stop,
    }
}

impl HttpServer {
    /// Stops accepting requests and waits up to `grace` for requests in progress.
    pub fn shutdown(self, grace: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        let deadline = Instant::now() + grace;
        while self.live.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for t in self.threads {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

fn serve(app: &App, mut req: Request, id: u64) {
    let started = Instant::now();
    let method = req.method().to_string();
    // Log the path only: the query may carry a filter token.
    let path = req.url().split('?').next().unwrap_or("").to_string();
    let outcome = crate::log::guarded(|| router::dispatch(app, &mut req)).unwrap_or_else(|why| {
        log!("req={id} {method} {}: {why}", shown(&path));
        Err(ApiError::new(500, "internal error, see the server log"))
    });
    let t = crate::time::now();
    let probe = header_value(&req, PROBE_HEADER).is_some();
    let (status, response) = match outcome {
        Ok(reply) => {
            let mut r = match reply.body {
                Body::Bytes(bytes) => Response::from_data(bytes)
                    .with_status_code(reply.status)
                    .boxed(),
                Body::Stream(stream) => {
                    let stream: Box<dyn std::io::Read + Send> = Box::new(Guarded(stream));
                    Response::new(reply.status.into(), vec![], stream, None, None)
                }
            };
            if let Some(ct) = reply.content_type {
                r = r.with_header(header("Content-Type", ct));
            }
            (reply.status, r)
        }
        Err(err) => {
            let (body, content_type) = if err.plain_text {
                (err.message.into_bytes(), "text/plain")
            } else {
                let body = serde_json::to_vec(&serde_json::json!({ "message": err.message }));
                (body.unwrap_or_default(), "application/json")
            };
            let mut r = Response::from_data(body)
                .boxed()
                .with_status_code(err.status)
                .with_header(header("Content-Type", content_type));
            for (name, value) in &err.headers {
                r = r.with_header(header(name, value));
            }
            (err.status, r)
        }
    };
    match status {
        _ if probe => {}
        400..=499 => app.stats.add("general_user_failure", 1.0, t),
        500..=599 => app.stats.add("general_service_failure", 1.0, t),
        _ => {}
    }
    // (A client that closed the connection is not an error here.)
    let sent = req.respond(response);
    if let Err(e) = &sent {
        log!(
            "req={id} {method} {}: cannot send the response: {e}",
            shown(&path)
        );
    }
    if probe {
        return;
    }
    let cut = if sent.is_err() {
        // A streamed body that failed (a damaged report) was cut short after its status.
        app.stats.add("general_service_failure", 1.0, t);
        " (cut short)"
    } else {
        ""
    };
    log!(
        "req={id} {method} {} {status}{cut} {}ms",
        shown(&path),
        started.elapsed().as_millis()
    );
}

/// Most characters of a client's path that an answer or a log line repeats.
const SHOWN_PATH_CHARS: usize = 200;

/// `path` as answers and log lines show it: at most [`SHOWN_PATH_CHARS`] characters, with `…`
/// where it was cut.
pub fn shown(path: &str) -> std::borrow::Cow<'_, str> {
    match path.char_indices().nth(SHOWN_PATH_CHARS) {
        None => path.into(),
        Some((end, _)) => format!("{}…", &path[..end]).into(),
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header names are valid")
}

/// The multipart boundary of a request, or 400 when it is not multipart/form-data.
pub fn multipart_boundary(req: &Request) -> Result<String, ApiError> {
    header_value(req, "Content-Type")
        .and_then(multipart::boundary_from_content_type)
        .ok_or_else(|| {
            ApiError::bad_request("the request must be multipart/form-data with a boundary")
        })
}

/// Value of the first header called `name` (case-insensitive).
pub fn header_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}
