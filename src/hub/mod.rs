//! Hub mode: uploads are forwarded to Workers round-robin, nothing is analysed here.
//!
//! The HTTP front end checks and spools an upload as a Worker does, then hands it to
//! [`Hub::forward`], which streams it from the spool file to the next available Worker and
//! gives back that Worker's answer unchanged (its `task_url` points at the Worker, where the
//! report is read). A Worker is available while its `/srv/tiscale/v1/available` answers 200
//! (asked every `hub.poll_secs` by a thread of its own); a connection that fails, or a 503
//! (paused, not healthy, queue full), marks it unavailable at once until its next good poll, and
//! the upload goes to the next Worker. Nothing but the spool file is kept: a forwarded upload is
//! the Worker's.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{HubConfig, HubWorker};
use crate::integrations::client::{self, Limit};
use crate::log;

/// Most bytes of a Worker's answer passed on (an upload's answer is a few hundred).
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// Where a received upload's file is.
pub enum Body<'a> {
    /// In the spool (a large upload).
    File(&'a Path),
    /// In memory (a small one).
    Memory(&'a [u8]),
}

/// An upload to forward, as the HTTP front end received it.
pub struct Upload<'a> {
    pub body: Body<'a>,
    pub size: u64,
    /// The file's name as the client sent it (its last path component).
    pub file_name: &'a str,
    /// Form fields passed on as they came (`custom_data`, `user_data`).
    pub fields: &'a [(&'a str, &'a str)],
    /// `X-TiScale-Token`, without its `Token ` prefix.
    pub custom_token: Option<&'a str>,
    /// The `X-Forwarded-For` chain, the client's address already added.
    pub forwarded_for: &'a str,
}

/// A Worker's answer to a forwarded upload.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// Which Worker answered.
    pub worker: String,
}

/// Why no Worker took an upload.
#[derive(Debug)]
pub enum ForwardError {
    /// Every Worker is unavailable, or failed before answering.
    NoWorker,
    /// The spooled file could not be read again.
    Spool(std::io::Error),
}

/// One Worker and what the Hub knows of it.
struct Worker {
    config: HubWorker,
    up: AtomicBool,
    /// Why it is unavailable (for sysinfo and the log).
    problem: Mutex<Option<String>>,
    forwarded: AtomicU64,
    failed: AtomicU64,
}

impl Worker {
    /// Marks the Worker available or not; a change is logged once.
    fn set(&self, up: bool, problem: Option<String>) {
        // The reason first, so that whoever sees the Worker unavailable also sees why.
        let mut held = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        *held = problem.clone();
        if self.up.swap(up, Ordering::SeqCst) != up {
            match &problem {
                None => log!("hub: Worker {} is available", self.config.url),
                Some(why) => log!("hub: Worker {} is unavailable: {why}", self.config.url),
            }
        }
    }
}

/// The Hub's Workers and the threads asking after them.
pub struct Hub {
    workers: Vec<Worker>,
    /// The Worker the last upload went to; the next goes to the next available one after it.
    cursor: Mutex<usize>,
    /// Forwards: a wait for the next bytes is bounded, a long upload that keeps moving is not.
    forwards: ureq::Agent,
    /// Polls: the whole request is bounded.
    polls: ureq::Agent,
    poll: Duration,
    stop: AtomicBool,
}

impl Hub {
    /// The Hub for `config`; no Worker is asked anything before [`Hub::start_polls`]. Workers
    /// count as available until a poll or a forward says otherwise.
    pub fn new(config: &HubConfig) -> Result<Hub, String> {
        let ca = config.ca_file.as_deref();
        Ok(Hub {
            workers: config
                .workers
                .iter()
                .map(|w| Worker {
                    config: w.clone(),
                    up: AtomicBool::new(true),
                    problem: Mutex::new(None),
                    forwarded: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                })
                .collect(),
            cursor: Mutex::new(config.workers.len() - 1),
            forwards: client::agent(Limit::Idle(config.timeout), ca)?,
            polls: client::agent(Limit::Whole(config.timeout.min(config.poll * 2)), ca)?,
            poll: config.poll,
            stop: AtomicBool::new(false),
        })
    }

    /// Starts one thread per Worker that asks its `/available` every poll interval.
    pub fn start_polls(self: &Arc<Hub>) -> Vec<std::thread::JoinHandle<()>> {
        (0..self.workers.len())
            .filter_map(|i| {
                let hub = self.clone();
                std::thread::Builder::new()
                    .name(format!("hub-poll-{i}"))
                    .spawn(move || {
                        while !hub.stop.load(Ordering::SeqCst) {
                            hub.check(i);
                            let mut slept = Duration::ZERO;
                            while slept < hub.poll && !hub.stop.load(Ordering::SeqCst) {
                                let step = Duration::from_millis(100).min(hub.poll - slept);
                                std::thread::sleep(step);
                                slept += step;
                            }
                        }
                    })
                    .map_err(|e| log!("hub: cannot start the poll thread of Worker {i}: {e}"))
                    .ok()
            })
            .collect()
    }

    /// Ends the poll threads (they notice within 100 ms).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Asks Worker `i` whether it is available.
    fn check(&self, i: usize) {
        let w = &self.workers[i];
        let mut request = self
            .polls
            .get(format!("{}/srv/tiscale/v1/available", w.config.url));
        if let Some(t) = &w.config.service_token {
            request = request.header("Authorization", format!("Token {t}"));
        }
        match request.call() {
            Ok(answer) if answer.status() == 200 => w.set(true, None),
            Ok(mut answer) => {
                let status = answer.status().as_u16();
                let text = answer
                    .body_mut()
                    .with_config()
                    .limit(4096)
                    .read_to_string()
                    .unwrap_or_default();
                w.set(false, Some(format!("HTTP {status}: {}", text.trim())));
            }
            Err(e) => w.set(false, Some(e.to_string())),
        }
    }

    /// Whether any Worker is available.
    pub fn any_available(&self) -> bool {
        self.workers.iter().any(|w| w.up.load(Ordering::SeqCst))
    }

    /// The next available Worker after the last one picked that this upload has not tried.
    fn pick(&self, tried: &[bool]) -> Option<usize> {
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let n = self.workers.len();
        let i = (1..=n)
            .map(|k| (*cursor + k) % n)
            .find(|&i| !tried[i] && self.workers[i].up.load(Ordering::SeqCst))?;
        *cursor = i;
        Some(i)
    }

    /// Forwards an upload to the next available Worker, and to the next after it while one fails
    /// before answering or answers 503 (it did not take the upload).
    pub fn forward(&self, upload: &Upload) -> Result<Answer, ForwardError> {
        let mut tried = vec![false; self.workers.len()];
        while let Some(i) = self.pick(&tried) {
            tried[i] = true;
            let w = &self.workers[i];
            match self.send(w, upload) {
                Ok(answer) if answer.status == 503 => {
                    let text = String::from_utf8_lossy(&answer.body).into_owned();
                    w.failed.fetch_add(1, Ordering::Relaxed);
                    w.set(
                        false,
                        Some(format!("answered an upload 503: {}", text.trim())),
                    );
                }
                Ok(answer) => {
                    w.forwarded.fetch_add(1, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(SendError::Spool(e)) => return Err(ForwardError::Spool(e)),
                Err(SendError::Worker(e)) => {
                    w.failed.fetch_add(1, Ordering::Relaxed);
                    w.set(false, Some(e));
                }
            }
        }
        Err(ForwardError::NoWorker)
    }

    /// One try: the upload as multipart/form-data, streamed from the spool file.
    fn send(&self, w: &Worker, upload: &Upload) -> Result<Answer, SendError> {
        let file: Box<dyn Read> = match upload.body {
            Body::File(path) => Box::new(File::open(path).map_err(SendError::Spool)?),
            Body::Memory(data) => Box::new(data),
        };
        let form = Form::new(upload);
        let mut request = self
            .forwards
            .post(format!("{}/api/tiscale/v1/upload", w.config.url))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={}", form.boundary),
            )
            .header("Content-Length", form.len(upload.size).to_string())
            .header("X-Forwarded-For", upload.forwarded_for);
        if let Some(t) = &w.config.usage_token {
            request = request.header("Authorization", format!("Token {t}"));
        }
        if let Some(t) = upload.custom_token {
            request = request.header("X-TiScale-Token", format!("Token {t}"));
        }
        let mut body = Cursor::new(form.head)
            .chain(file.take(upload.size))
            .chain(Cursor::new(form.tail));
        let mut answer = request
            .send(ureq::SendBody::from_reader(&mut body))
            .map_err(|e| SendError::Worker(e.to_string()))?;
        let status = answer.status().as_u16();
        let body = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| SendError::Worker(format!("reading its answer: {e}")))?;
        Ok(Answer {
            status,
            body,
            worker: w.config.url.clone(),
        })
    }

    /// The Workers as sysinfo and stats show them.
    pub fn workers_json(&self) -> serde_json::Value {
        self.workers
            .iter()
            .map(|w| {
                serde_json::json!({
                    "url": w.config.url,
                    "available": w.up.load(Ordering::SeqCst),
                    "problem": w.problem.lock().ok().and_then(|p| p.clone()),
                    "uploads_forwarded": w.forwarded.load(Ordering::Relaxed),
                    "forward_failures": w.failed.load(Ordering::Relaxed),
                })
            })
            .collect()
    }
}

enum SendError {
    /// The Worker could not be reached, or failed before its answer was read.
    Worker(String),
    Spool(std::io::Error),
}

/// The multipart body around the file: what goes before it and after it.
struct Form {
    boundary: String,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Form {
    fn new(upload: &Upload) -> Form {
        // 128 random bits: no file contains the boundary by chance.
        let boundary = format!(
            "assay-hub-{}",
            crate::analysis::hashes::hex(&crate::host::unique_bytes())
        );
        let mut head = Vec::new();
        for (name, value) in upload.fields {
            head.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                    .as_bytes(),
            );
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{}\"; filename*=UTF-8''{}\r\n\
                 Content-Type: application/octet-stream\r\n\r\n",
                ascii_name(upload.file_name),
                percent_encode(upload.file_name)
            )
            .as_bytes(),
        );
        let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
        Form {
            boundary,
            head,
            tail,
        }
    }

    fn len(&self, file_size: u64) -> u64 {
        self.head.len() as u64 + file_size + self.tail.len() as u64
    }
}

/// The name as a quoted-string safe for any reader: ASCII printable, no quote or backslash
/// (`filename*` carries the exact name).
fn ascii_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect()
}

/// RFC 5987 `attr-char`s as they are, every other byte of the UTF-8 name as `%XX`.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::multipart::{self, MultipartError, PartHeaders, PartSink};

    /// Collects the parts the Worker's parser finds.
    #[derive(Default)]
    struct Parts(Vec<(PartHeaders, Vec<u8>)>);

    impl PartSink for Parts {
        fn begin(&mut self, h: &PartHeaders) -> Result<(), MultipartError> {
            self.0.push((h.clone(), Vec::new()));
            Ok(())
        }
        fn data(&mut self, chunk: &[u8]) -> Result<(), MultipartError> {
            self.0.last_mut().unwrap().1.extend_from_slice(chunk);
            Ok(())
        }
        fn end(&mut self) -> Result<(), MultipartError> {
            Ok(())
        }
    }

    #[test]
    fn the_forwarded_form_reads_back_as_the_upload_with_any_name() {
        let data = b"MZ\r\n--not-the-boundary\r\n\x00\xff".to_vec();
        for name in ["sample.exe", "we\"ird\\na\u{e9}me \u{2603}.bin", ""] {
            let fields = [("custom_data", "{\"a\": 1}"), ("user_data", "{}")];
            let upload = Upload {
                body: Body::Memory(&data),
                size: data.len() as u64,
                file_name: name,
                fields: &fields,
                custom_token: None,
                forwarded_for: "",
            };
            let form = Form::new(&upload);
            let mut body = form.head.clone();
            body.extend_from_slice(&data);
            body.extend_from_slice(&form.tail);
            assert_eq!(body.len() as u64, form.len(data.len() as u64));
            let mut parts = Parts::default();
            multipart::parse(&body[..], &form.boundary, &mut parts).unwrap();
            let got: Vec<(&str, Option<&str>, &[u8])> = parts
                .0
                .iter()
                .map(|(h, v)| (h.name.as_str(), h.filename.as_deref(), v.as_slice()))
                .collect();
            assert_eq!(
                got,
                vec![
                    ("custom_data", None, &b"{\"a\": 1}"[..]),
                    ("user_data", None, &b"{}"[..]),
                    ("file", Some(name), &data[..]),
                ]
            );
        }
    }

    #[test]
    fn round_robin_skips_unavailable_and_tried_workers() {
        let config = HubConfig {
            poll: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            ca_file: None,
            workers: (0..3)
                .map(|i| HubWorker {
                    url: format!("http://127.0.0.1:{}", 1000 + i),
                    usage_token: None,
                    service_token: None,
                })
                .collect(),
        };
        let hub = Hub::new(&config).unwrap();
        let none = [false; 3];
        let picks: Vec<_> = (0..6).map(|_| hub.pick(&none).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        hub.workers[1].set(false, Some("down".into()));
        let picks: Vec<_> = (0..4).map(|_| hub.pick(&none).unwrap()).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        assert_eq!(
            hub.pick(&[true, false, true]),
            None,
            "1 is down, 0 and 2 tried"
        );
        hub.workers[0].set(false, None);
        hub.workers[2].set(false, None);
        assert!(!hub.any_available());
        assert_eq!(hub.pick(&none), None);
    }
}
