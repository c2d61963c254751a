//! The harness: starts the real `assay` binary on 127.0.0.1:0 with a temporary data directory, and
//! a small HTTP/1.1 client that can send any bytes (multipart bodies, chunked uploads, odd headers).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "usagetoken0123456789abcdefghijklmnopqrstu";
pub const SERVICE_TOKEN: &str = "servicetoken0123456789abcdefghijklmnopqr";
pub const LICENSE_TOKEN: &str = "licensetoken0123456789abcdefghijklmnopqr";
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const EICAR_SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("assay-it-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
    log: Arc<Mutex<String>>,
    /// Set for a server started with [`Server::start_tls`]: requests go over HTTPS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// A private CA made for one test, and a certificate for 127.0.0.1 and localhost signed by it.
pub struct TestCa {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// A client trusting only this CA.
    pub client: Arc<rustls::ClientConfig>,
    /// A server answering with the certificate (for test receivers).
    pub server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        // ring, as the product uses (rustls deprecates it for lacking post-quantum key
        // exchange, which a loopback test does not need).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], der.into())
            .unwrap();
        TestCa {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            client: Arc::new(client),
            server: Arc::new(server),
        }
    }

    /// Writes the CA, certificate and key into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let paths = (
            dir.join("ca.pem"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        );
        std::fs::write(&paths.0, &self.ca_pem).unwrap();
        std::fs::write(&paths.1, &self.cert_pem).unwrap();
        std::fs::write(&paths.2, &self.key_pem).unwrap();
        paths
    }
}

/// A stream a request goes over: plain TCP or TLS.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn connect(
    port: u16,
    tls: &Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Box<dyn Stream> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    match tls {
        None => Box::new(s),
        Some(config) => {
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
            Box::new(rustls::StreamOwned::new(conn, s))
        }
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_assay")
}

impl Server {
    /// Starts a server whose config is `config` (TOML, without data_dir/listen) in `dir`.
    pub fn start(dir: &TempDir, config: &str) -> Server {
        Server::start_with_env(dir, config, &[])
    }

    pub fn start_with_env(dir: &TempDir, config: &str, env: &[(&str, &str)]) -> Server {
        Server::launch(dir, config, env, &[])
    }

    /// Starts a server with no config and these extra `serve` arguments.
    pub fn start_args(dir: &TempDir, args: &[&str]) -> Server {
        Server::launch(dir, "", &[], args)
    }

    /// Starts a server answering HTTPS with `ca`'s certificate (files written into `dir`).
    pub fn start_tls(dir: &TempDir, config: &str, ca: &TestCa) -> Server {
        Server::start_tls_with_env(dir, config, ca, &[])
    }

    pub fn start_tls_with_env(
        dir: &TempDir,
        config: &str,
        ca: &TestCa,
        env: &[(&str, &str)],
    ) -> Server {
        let (_, cert, key) = ca.write(&dir.0);
        let config = format!(
            "{config}\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        );
        let mut s = Server::launch(dir, &config, env, &[]);
        wait_until("listening on https://", || {
            s.log().contains("listening on https://")
        });
        s.tls = Some(ca.client.clone());
        s
    }

    fn launch(dir: &TempDir, config: &str, env: &[(&str, &str)], args: &[&str]) -> Server {
        let data_dir = dir.0.join("data");
        let config_path = dir.0.join("assay.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--config"])
            .arg(&config_path)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start assay");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(i) = line.find("://").filter(|_| line.contains("listening on ")) {
                        let addr = &line[i + "://".len()..];
                        let port = addr
                            .rsplit(':')
                            .next()
                            .unwrap()
                            .trim()
                            .parse::<u16>()
                            .unwrap();
                        let _ = tx.send(port);
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; log:\n{}", log.lock().unwrap());
            }
        };
        Server {
            child,
            port,
            data_dir,
            log,
            tls: None,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// kill -9.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait at most `limit` for the exit.
    pub fn term(mut self, limit: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        unsafe_kill(self.child.id(), 15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!("server did not exit within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn req(&self, method: &str, path: &str) -> Req<'_> {
        Req {
            port: self.port,
            tls: self.tls.clone(),
            method: method.to_string(),
            path: path.to_string(),
            headers: vec![("Authorization".into(), format!("Token {TOKEN}"))],
            body: Vec::new(),
            chunked: false,
            _s: std::marker::PhantomData,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path).send()
    }

    /// Uploads `data` as the `file` part with optional extra fields; returns the response.
    pub fn upload(&self, name: &str, data: &[u8], fields: &[(&str, &str)]) -> Resp {
        let mut parts = vec![Part::file("file", name, data)];
        parts.extend(fields.iter().map(|(k, v)| Part::field(k, v)));
        self.req("POST", "/api/tiscale/v1/upload")
            .multipart(&parts)
            .send()
    }

    /// Uploads and returns the task id from task_url.
    pub fn upload_ok(&self, name: &str, data: &[u8]) -> i64 {
        let r = self.upload(name, data, &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        task_id(&r)
    }

    /// Polls a task until processed, returning its JSON with the large (full) report.
    pub fn wait_processed(&self, id: i64, limit: Duration) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let r = self.get(&format!("/api/tiscale/v1/task/{id}?report_type=large"));
            assert_eq!(r.status, 200, "{}", r.text());
            let v = r.json();
            if !v["processed"].is_null() {
                return v;
            }
            assert!(
                started.elapsed() < limit,
                "task {id} not processed in {limit:?}: {v}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unsafe_kill(pid: u32, sig: i32) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

pub fn task_id(r: &Resp) -> i64 {
    let url = r.json()["task_url"].as_str().unwrap().to_string();
    url.rsplit('/').next().unwrap().parse().unwrap()
}

/// One multipart part.
pub struct Part {
    pub headers: String,
    pub data: Vec<u8>,
}

impl Part {
    pub fn file(name: &str, filename: &str, data: &[u8]) -> Part {
        Part {
            headers: format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n"
            ),
            data: data.to_vec(),
        }
    }

    pub fn field(name: &str, value: &str) -> Part {
        Part {
            headers: format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
            data: value.as_bytes().to_vec(),
        }
    }
}

pub const BOUNDARY: &str = "----assayTestBoundary7MA4YWxkTrZu0gW";

pub fn multipart_body(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n{}\r\n", p.headers).as_bytes());
        body.extend_from_slice(&p.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A request being built.
pub struct Req<'a> {
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
    _s: std::marker::PhantomData<&'a ()>,
}

impl Req<'_> {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn no_auth(mut self) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("Authorization"));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    pub fn multipart(self, parts: &[Part]) -> Self {
        let body = multipart_body(parts);
        self.header(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(&body)
    }

    /// Sends the body with Transfer-Encoding: chunked (no Content-Length up front).
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    pub fn send(self) -> Resp {
        let body = std::mem::take(&mut self.body.clone());
        self.send_streaming(&mut &body[..])
    }

    /// Sends a body read from `src` (for uploads too large to hold).
    pub fn send_streaming(self, src: &mut dyn Read) -> Resp {
        let mut s = connect(self.port, &self.tls, Duration::from_secs(120));
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.method, self.path, self.port
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let mut buf = vec![0u8; 1 << 20];
        if self.chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            s.write_all(head.as_bytes()).unwrap();
            loop {
                let n = src.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                if s.write_all(format!("{n:x}\r\n").as_bytes()).is_err()
                    || s.write_all(&buf[..n]).is_err()
                    || s.write_all(b"\r\n").is_err()
                {
                    break; // the server answered early and closed
                }
            }
            let _ = s.write_all(b"0\r\n\r\n");
        } else {
            // The length of a streamed body must be known: read it all when it is a slice.
            let mut body = Vec::new();
            src.read_to_end(&mut body).unwrap();
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            s.write_all(head.as_bytes()).unwrap();
            let _ = s.write_all(&body);
        }
        read_response(&mut s)
    }

    /// Sends a body of `len` bytes produced by `fill`, with Content-Length, without holding it.
    pub fn send_generated(self, len: u64, prefix: &[u8], suffix: &[u8], byte: u8) -> Resp {
        let mut s = connect(self.port, &self.tls, Duration::from_secs(300));
        let total = prefix.len() as u64 + len + suffix.len() as u64;
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {total}\r\n",
            self.method, self.path, self.port
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // A server that answers before the body is all in (413) may close the connection:
        // writing stops there, and the answer is read as a client like curl reads it.
        let sent = (|| {
            s.write_all(prefix)?;
            let chunk = vec![byte; 1 << 20];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                s.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            s.write_all(suffix)
        })();
        if let Err(e) = sent {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "{e}"
            );
        }
        read_response(&mut s)
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `message` of an error body.
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn read_response(s: &mut dyn Stream) -> Resp {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("Transfer-Encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// sha1 of bytes, via the sha1 crate the server uses too.
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    let d = sha1::Sha1::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of a named hash in a report entry.
pub fn hash_of(entry: &serde_json::Value, name: &str) -> String {
    entry["info"]["file"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .map(|h| h["value"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Files in the spool directory.
pub fn spool_files(data_dir: &Path) -> Vec<String> {
    std::fs::read_dir(data_dir.join("spool"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `done` until it holds, failing the test with `what` after 60 s: for what a server does
/// in the background, at its own pace.
pub fn wait_until(what: &str, done: impl FnMut() -> bool) {
    wait_until_else(WAIT_LIMIT, || what.to_string(), done);
}

/// How long [`wait_until`] waits.
const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// Polls `done` for up to `limit`, with the failure's message made only when it fails (a log
/// read then).
pub fn wait_until_else(limit: Duration, what: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "never: {}", what());
        std::thread::sleep(Duration::from_millis(25));
    }
}

impl Server {
    /// A statistics counter over the last minute.
    pub fn stat(&self, name: &str) -> u64 {
        self.get("/srv/tiscale/v1/stats").json()[name][0]
            .as_u64()
            .unwrap()
    }

    /// Waits until the log holds `text`.
    pub fn wait_log(&self, text: &str) {
        wait_until_else(
            WAIT_LIMIT,
            || format!("{text:?} in the log:\n{}", self.log()),
            || self.log().contains(text),
        );
    }

    /// How many tasks the list endpoint shows.
    pub fn task_count(&self) -> usize {
        self.get("/api/tiscale/v1/task")
            .json()
            .as_array()
            .unwrap()
            .len()
    }
}

/// Samples kept in the database (uploads of up to 64 KiB are, instead of a spool file).
pub fn stored_samples(data_dir: &Path) -> usize {
    let db = rusqlite::Connection::open(data_dir.join("assay.db")).unwrap();
    db.query_row("SELECT count(*) FROM samples", [], |r| r.get::<_, i64>(0))
        .unwrap() as usize
}

/// Samples the server still holds: spool files and samples kept in the database.
pub fn samples_held(data_dir: &Path) -> usize {
    spool_files(data_dir).len() + stored_samples(data_dir)
}

/// Waits (30 s at most) until the server holds no sample. A spool file is deleted just after its
/// task is marked done, so a client that sees the task done may still find the file for a moment.
pub fn wait_for_no_samples(data_dir: &Path) {
    wait_until_else(
        Duration::from_secs(30),
        || {
            format!(
                "no sample held: {:?} in the spool, {} in the database",
                spool_files(data_dir),
                stored_samples(data_dir)
            )
        },
        || samples_held(data_dir) == 0,
    );
}

/// The content of a file whose analysis cannot end before the YARA scan times out, when the
/// server runs with [`gate_config`]. Uploaded first to a server with one analysis thread, it
/// holds that thread for as long as the test chose, so every task after it stays queued (or a
/// task is in flight) whatever the speed of the machine.
pub const GATE: &[u8] = b"GATE: holds an analysis thread until its YARA scan times out\n";

/// A loop of 10^14 steps over a [`GATE`] file, and nothing at all for any other file.
const GATE_RULE: &str = "rule Gate {
    condition:
        uint32be(0) == 0x47415445 and
        for any i in (0..filesize * 1000000000000) : (i == -1)
}
";

/// The `[yara]` section of a server whose analysis of [`GATE`] lasts `hold_secs` (its YARA scan
/// timeout), with the rule in `dir`.
pub fn gate_config(dir: &TempDir, hold_secs: u32) -> String {
    let rules = dir.0.join("gate-rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("gate.yar"), GATE_RULE).unwrap();
    format!(
        "[yara]\nrules_dir = {:?}\nscan_timeout_secs = {hold_secs}\n",
        rules.display().to_string()
    )
}

/// Config with all three tokens.
pub fn tokens_config(extra: &str) -> String {
    format!(
        "[tokens]\nusage = \"{TOKEN}\"\nservice = \"{SERVICE_TOKEN}\"\nlicense = \"{LICENSE_TOKEN}\"\n{extra}"
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` for today plus `days`, by date(1) so the test does not repeat the
/// server's own date code.
pub fn utc_days_from_now(days: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("{days} days"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Peak resident memory of a process, from the kernel.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}
