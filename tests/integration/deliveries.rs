//! Deliveries through the outbox: the callback and Splunk HEC, against receivers on loopback
//! started by the tests, and what a dead receiver, a rejected token or kill -9 do to them.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(60);

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }
}

/// An HTTP receiver on 127.0.0.1 that records every request and answers as `answer` says.
struct Receiver {
    port: u16,
    got: Arc<(Mutex<Vec<Got>>, Condvar)>,
    server: Arc<tiny_http::Server>,
}

impl Receiver {
    fn start(answer: impl Fn(&Got, usize) -> (u16, String) + Send + Sync + 'static) -> Receiver {
        Receiver::start_on(0, answer)
    }

    fn start_on(
        port: u16,
        answer: impl Fn(&Got, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> Receiver {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let got: Arc<(Mutex<Vec<Got>>, Condvar)> = Arc::default();
        let answer = Arc::new(answer);
        for _ in 0..4 {
            let (server, got, answer) = (server.clone(), got.clone(), answer.clone());
            std::thread::spawn(move || {
                while let Ok(mut rq) = server.recv() {
                    let mut body = Vec::new();
                    let _ = rq.as_reader().read_to_end(&mut body);
                    let g = Got {
                        method: rq.method().to_string(),
                        path: rq.url().to_string(),
                        headers: rq
                            .headers()
                            .iter()
                            .map(|h| {
                                (
                                    h.field.as_str().as_str().to_ascii_lowercase(),
                                    h.value.to_string(),
                                )
                            })
                            .collect(),
                        body,
                    };
                    let n = {
                        let mut all = got.0.lock().unwrap();
                        all.push(g.clone());
                        all.len()
                    };
                    let (status, text) = answer(&g, n);
                    let _ =
                        rq.respond(tiny_http::Response::from_string(text).with_status_code(status));
                    got.1.notify_all();
                }
            });
        }
        Receiver { port, got, server }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Got> {
        self.got.0.lock().unwrap().clone()
    }

    /// Waits (60 s at most) until `done` holds for the requests so far.
    fn wait_for(&self, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let started = Instant::now();
        let mut all = self.got.0.lock().unwrap();
        while !done(&all) {
            assert!(
                started.elapsed() < WAIT,
                "{what}: {} requests so far",
                all.len()
            );
            all = self
                .got
                .1
                .wait_timeout(all, Duration::from_millis(200))
                .unwrap()
                .0;
        }
        all.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn ok(_: &Got, _: usize) -> (u16, String) {
    (200, r#"{"text":"Success","code":0}"#.into())
}

/// The task document `GET task` answers with these parameters.
fn document(s: &Server, id: i64, query: &str) -> Value {
    s.get(&format!("/api/tiscale/v1/task/{id}?{query}")).json()
}

#[test]
fn the_callback_posts_what_get_task_answers_and_uploads_may_redirect_it() {
    let default = Receiver::start(ok);
    let own = Receiver::start(ok);
    let dir = TempDir::new("callback");
    let s = Server::start(
        &dir,
        &format!(
            "[callback]\nurl = {:?}\nreport_type = \"small\"\nallowed_hosts = [\"127.0.0.1\"]\n",
            default.url("/hook")
        ),
    );
    let custom = r#"{"case": 42}"#;
    let id = s.upload_ok("eicar.com", EICAR);
    let _ = s.wait_processed(id, WAIT);
    let got = default.wait_for("the callback", |g| !g.is_empty());
    assert_eq!(got.len(), 1);
    let g = &got[0];
    assert_eq!((g.method.as_str(), g.path.as_str()), ("POST", "/hook"));
    assert_eq!(g.header("Content-Type"), "application/json");
    assert_eq!(g.header("X-Assay-Delivery"), format!("{id}.callback"));
    assert_eq!(g.json(), document(&s, id, "report_type=small"));

    // Per upload: another URL (without a scheme: http), report type and view.
    let user_data = format!(
        r#"{{"callback": {{"url": "127.0.0.1:{}/mine", "report_type": "large", "view": "flat"}}}}"#,
        own.port
    );
    let r = s.upload(
        "second.txt",
        b"a second file",
        &[("user_data", &user_data), ("custom_data", custom)],
    );
    let second = task_id(&r);
    let got = own.wait_for("the task's own callback", |g| !g.is_empty());
    assert_eq!(got[0].path, "/mine");
    let body = got[0].json();
    assert_eq!(body, document(&s, second, "report_type=large&view=flat"));
    assert_eq!(body["custom_data"]["case"], 42);
    assert!(
        body["tc_report"][0].get("info.file.file_name").is_some(),
        "flat"
    );
    assert_eq!(
        default.requests().len(),
        1,
        "the default receiver got only its own"
    );

    // A bad override is refused before anything is queued.
    for (user_data, said) in [
        (
            r#"{"callback": {"url": "https://evil.example/x"}}"#,
            "allowed_hosts",
        ),
        (r#"{"callback": {"report_type": "nope"}}"#, "nope"),
    ] {
        let r = s.upload("third.txt", b"refused", &[("user_data", user_data)]);
        assert_eq!(r.status, 400, "{user_data}");
        assert!(r.message().contains(said), "{}", r.message());
    }
    assert_eq!(s.task_count(), 2);
    assert_eq!(s.stat("callback_success"), 2);
}

#[test]
fn a_failing_receiver_is_tried_again_until_it_takes_the_delivery() {
    // 503 twice, then 200.
    let receiver = Receiver::start(|_, n| {
        if n <= 2 {
            (503, "busy".into())
        } else {
            (200, "".into())
        }
    });
    let dir = TempDir::new("retry");
    let s = Server::start(
        &dir,
        &format!(
            "[outbox]\nfirst_retry_secs = 1\n[callback]\nurl = {:?}\n",
            receiver.url("/hook")
        ),
    );
    let id = s.upload_ok("f.txt", b"retried");
    let got = receiver.wait_for("three attempts", |g| g.len() >= 3);
    assert!(got
        .iter()
        .all(|g| g.header("X-Assay-Delivery") == format!("{id}.callback")));
    wait_until("callback_success = 1", || s.stat("callback_success") == 1);
    assert!(
        s.log()
            .contains(&format!("delivery {id}.callback (attempt 1) failed")),
        "{}",
        s.log()
    );
    assert!(s.log().contains("HTTP 503"), "{}", s.log());
    assert_eq!(s.stat("callback_failure"), 0);
}

#[test]
fn splunk_gets_events_batched_with_the_token_and_the_network() {
    // The receiver holds its first answer until the test lets it go: the only delivery thread
    // waits on it, so the next five events wait in the outbox meanwhile and go out together.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let held = gate.clone();
    let hec = Receiver::start(move |_, n| {
        let mut open = held.0.lock().unwrap();
        while n == 1 && !*open {
            open = held.1.wait(open).unwrap();
        }
        (200, r#"{"text":"Success","code":0}"#.into())
    });
    let dir = TempDir::new("splunk");
    let s = Server::start(
        &dir,
        &format!(
            "[outbox]\nthreads = 1\n\
             [splunk]\nurl = {:?}\ntoken = \"hec-token-1\"\nindex = \"malware\"\n",
            hec.url("")
        ),
    );
    let network = r#"{"network": {"src_ip": "10.1.2.3", "proto": "smtp"}}"#;
    let upload = |i: usize| {
        let r = s.upload(
            &format!("f{i}"),
            format!("file {i}").as_bytes(),
            &[("user_data", network)],
        );
        task_id(&r)
    };
    let first = upload(0);
    hec.wait_for("the first event", |g| !g.is_empty());
    let ids: Vec<i64> = (1..=5).map(upload).collect();
    for id in &ids {
        let _ = s.wait_processed(*id, WAIT);
    }
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let got = hec.wait_for("the next events", |g| g.len() >= 2);
    assert_eq!(got[0].json()["event"]["task_id"], first);
    let g = &got[1];
    assert_eq!(g.path, "/services/collector/event");
    assert_eq!(g.header("Authorization"), "Splunk hec-token-1");
    let events: Vec<Value> = serde_json::Deserializer::from_slice(&g.body)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(events.len(), 5, "the 5 waiting events went in one request");
    for (e, id) in events.iter().zip(&ids) {
        assert_eq!(e["source"], "assay");
        assert_eq!(e["sourcetype"], "assay:report");
        assert_eq!(e["index"], "malware");
        assert_eq!(e["event"]["task_id"], *id);
        assert_eq!(e["event"]["network"]["src_ip"], "10.1.2.3");
        let doc = document(&s, *id, "report_type=medium");
        assert_eq!(e["event"]["tc_report"], doc["tc_report"]);
        assert_eq!(e["time"], doc["processed"]);
    }
    let ids_header: BTreeSet<&str> = g.header("X-Assay-Delivery").split(',').collect();
    assert_eq!(ids_header.len(), 5);
    wait_until("splunk_success = 6", || s.stat("splunk_success") == 6);
}

#[test]
fn a_rejected_token_is_given_up_logged_and_counted_at_once() {
    let hec = Receiver::start(|_, _| (403, r#"{"text":"Invalid token","code":4}"#.into()));
    let dir = TempDir::new("badtoken");
    let s = Server::start(
        &dir,
        &format!(
            "[outbox]\nfirst_retry_secs = 1\n[splunk]\nurl = {:?}\ntoken = \"wrong\"\n",
            hec.url("")
        ),
    );
    let id = s.upload_ok("f.txt", b"never indexed");
    wait_until("splunk_failure = 1", || s.stat("splunk_failure") == 1);
    assert!(s.log().contains(&format!(
        "delivery {id}.splunk given up: the token was refused"
    )));
    assert!(!s.log().contains("wrong"), "the token is never logged");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hec.requests().len(), 1, "not tried again");
    let outbox = &s.get("/srv/tiscale/v1/sysinfo").json()["outbox"];
    assert_eq!(outbox["pending"], 0);
}

#[test]
fn a_dead_receiver_holds_nothing_up_and_kill_9_loses_no_delivery() {
    // A port with nothing listening: every delivery fails until the receiver comes up.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = TempDir::new("deadreceiver");
    let config = format!(
        "[outbox]\nfirst_retry_secs = 1\nmax_pending = 100\n\
         [callback]\nurl = \"http://127.0.0.1:{port}/hook\"\n"
    );
    let s = Server::start(&dir, &config);
    let before = vm_hwm_kib(s.pid());
    let ids: Vec<i64> = (0..200u32)
        .map(|i| s.upload_ok("f", format!("pending delivery {i}").as_bytes()))
        .collect();
    // Analysis goes on: every task is processed while its delivery waits.
    for id in &ids {
        let _ = s.wait_processed(*id, WAIT);
    }
    let outbox = s.get("/srv/tiscale/v1/sysinfo").json()["outbox"].clone();
    assert_eq!(outbox["pending"], 200, "{outbox}");
    assert_eq!(outbox["alarm"], true, "{outbox}");
    s.wait_log("WARNING: 200 deliveries are pending");
    assert!(vm_hwm_kib(s.pid()) - before < 64 * 1024);
    s.kill9();

    // The receiver comes up, the server restarts: every delivery arrives.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let receiver = Receiver::start_on(port, move |_, _| {
        counted.fetch_add(1, Ordering::SeqCst);
        (200, String::new())
    });
    let s = Server::start(&dir, &config);
    let want: BTreeSet<String> = ids.iter().map(|id| format!("{id}.callback")).collect();
    let got = receiver.wait_for("200 deliveries", |g| {
        let seen: BTreeSet<&str> = g.iter().map(|g| g.header("X-Assay-Delivery")).collect();
        seen.len() >= want.len()
    });
    let seen: BTreeSet<String> = got
        .iter()
        .map(|g| g.header("X-Assay-Delivery").to_string())
        .collect();
    assert_eq!(seen, want);
    wait_until("an empty outbox", || {
        s.get("/srv/tiscale/v1/sysinfo").json()["outbox"]["pending"] == 0
    });
}

/// An HTTPS receiver: the path of every request whose TLS handshake and head came through.
fn tls_receiver(config: Arc<rustls::ServerConfig>) -> (u16, Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let paths: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = paths.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
            let mut line = String::new();
            if tls.read_line(&mut line).is_err() || line.is_empty() {
                continue; // the client refused our certificate
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            let mut length = 0;
            loop {
                let mut h = String::new();
                if tls.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = std::io::Read::read_exact(&mut tls, &mut body);
            seen.lock().unwrap().push(path);
            let _ = tls
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, paths)
}

#[test]
fn the_callback_goes_over_https_and_checks_the_certificate() {
    let ca = TestCa::new();
    let (ca_pem, tls) = (ca.ca_pem.clone(), ca.server.clone());
    let (port, paths) = tls_receiver(tls);
    let dir = TempDir::new("https");
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    // Trusting the private CA: delivered.
    let s = Server::start(
        &dir,
        &format!(
            "[callback]\nurl = \"https://127.0.0.1:{port}/secure\"\nca_file = {:?}\n",
            ca_file.display().to_string()
        ),
    );
    s.upload_ok("f.txt", b"over TLS");
    wait_until_else(
        WAIT,
        || format!("a request over TLS; log:\n{}", s.log()),
        || !paths.lock().unwrap().is_empty(),
    );
    assert_eq!(paths.lock().unwrap()[0], "/secure");
    wait_until("callback_success = 1", || s.stat("callback_success") == 1);
    drop(s);

    // Trusting only the public roots, the same receiver is refused: nothing sent, tried again.
    let other = TempDir::new("https-public");
    let s = Server::start(
        &other,
        &format!("[outbox]\nfirst_retry_secs = 1\n[callback]\nurl = \"https://127.0.0.1:{port}/secure\"\n"),
    );
    let second = s.upload_ok("g.txt", b"not over an unchecked TLS");
    s.wait_log(&format!("delivery {second}.callback (attempt 1) failed"));
    assert!(
        s.log().to_lowercase().contains("certificate"),
        "{}",
        s.log()
    );
    assert_eq!(
        paths.lock().unwrap().len(),
        1,
        "no request went to an unchecked server"
    );
}
