//! S3 deliveries against a real S3-compatible server (s3s-fs, started here, with the credentials
//! it checks): samples (multipart when large) and reports land under the decided keys, GET task
//! holds `processed` back until both are there, and a server that is down or refuses the
//! credentials loses nothing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::Value;

use crate::common::*;
use crate::formats::repo;

const WAIT: Duration = Duration::from_secs(120);
const KEY: &str = "assaytestkey";
const SECRET: &str = "assaytestsecret0123456789";

/// An s3s-fs process serving `root` on 127.0.0.1:`port`.
struct S3Server {
    child: Child,
    port: u16,
    root: std::path::PathBuf,
}

fn s3s_fs() -> String {
    std::env::var("ASSAY_S3S_FS").unwrap_or_else(|_| {
        let local = repo().join("target/tools/bin/s3s-fs");
        assert!(
            local.exists(),
            "s3s-fs is not installed: run scripts/test.sh (scripts/s3s-fs.sh installs it)"
        );
        local.display().to_string()
    })
}

impl S3Server {
    fn start(dir: &TempDir, port: Option<u16>) -> S3Server {
        let root = dir.0.join("s3");
        for bucket in ["samples", "reports", "unpacked"] {
            std::fs::create_dir_all(root.join(bucket)).unwrap();
        }
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", KEY, "--secret-key", SECRET])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "s3s-fs did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server { child, port, root }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An object read back through the server (a presigned GET).
    fn get(&self, link: &str) -> Option<Vec<u8>> {
        let (bucket, key) = link.strip_prefix("s3://").unwrap().split_once('/').unwrap();
        let bucket = Bucket::new(
            self.endpoint().parse().unwrap(),
            UrlStyle::Path,
            bucket.to_string(),
            "us-east-1",
        )
        .unwrap();
        let creds = Credentials::new(KEY, SECRET);
        let url = bucket
            .get_object(Some(&creds), key)
            .sign(Duration::from_secs(60));
        let (host, path) = url.as_str()["http://".len()..].split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        let body = raw[split + 4..].to_vec();
        Some(
            if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked")
            {
                dechunk(&body)
            } else {
                body
            },
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// The configuration of a Worker that sends samples and reports to `endpoint`.
fn config(endpoint: &str, secret: &str) -> String {
    format!(
        "[outbox]\nfirst_retry_secs = 1\n\
         [s3]\nendpoint = {endpoint:?}\nregion = \"us-east-1\"\npath_style = true\n\
         access_key_id = {KEY:?}\nsecret_access_key = {secret:?}\nprefix = \"assay/\"\n\
         samples = \"samples\"\nreports = \"reports\"\n"
    )
}

#[test]
fn samples_and_reports_land_in_their_buckets_and_processed_waits_for_them() {
    let dir = TempDir::new("s3");
    let s3 = S3Server::start(&dir, None);
    let s = Server::start(&dir, &config(&s3.endpoint(), SECRET));
    let custom = r#"{"ticket": "INC-7"}"#;
    let r = s.upload("eicar.com", EICAR, &[("custom_data", custom)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    let id = task_id(&r);
    let report_url = answer["report_url"].as_str().unwrap().to_string();
    assert!(
        report_url.starts_with(&format!("s3://reports/assay/reports/{EICAR_SHA1}/{id}-")),
        "{report_url}"
    );
    let v = s.wait_processed(id, WAIT);
    // Processed means both objects are there.
    let link = v["file_link"].as_str().unwrap();
    assert_eq!(link, format!("s3://samples/assay/samples/{EICAR_SHA1}"));
    assert_eq!(s3.get(link).unwrap(), EICAR);
    let report: Value = serde_json::from_slice(&s3.get(&report_url).unwrap()).unwrap();
    assert_eq!(report["tc_report"], v["tc_report"]);
    assert_eq!(report["custom_data"]["ticket"], "INC-7");
    assert_eq!(s.stat("s3_upload"), 1);
    assert_eq!(s.stat("s3_report_upload"), 1);
    // The sample was let go of once it was in its bucket.
    wait_for_no_samples(&s.data_dir);
    // The same sample again: its object is there already, and is not written again.
    let object = s3.root.join(format!("samples/assay/samples/{EICAR_SHA1}"));
    let written = std::fs::metadata(&object).unwrap().modified().unwrap();
    let again = s.upload_ok("eicar-again.com", EICAR);
    let v = s.wait_processed(again, WAIT);
    assert_eq!(v["file_link"].as_str(), Some(link));
    assert_eq!(
        std::fs::metadata(&object).unwrap().modified().unwrap(),
        written
    );

    // A large sample goes up in parts, read from the spool, and comes back whole.
    let big: Vec<u8> = (0..70u32 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let id = s.upload_ok("big.bin", &big);
    let v = s.wait_processed(id, WAIT);
    let back = s3.get(v["file_link"].as_str().unwrap()).unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back == big, "the multipart object differs from the sample");
    assert!(!s3
        .root
        .join("samples/assay/samples")
        .read_dir()
        .unwrap()
        .any(|e| { e.unwrap().file_name().to_string_lossy().contains("upload") }));
}

#[test]
fn a_server_that_is_down_or_refuses_the_credentials_loses_nothing() {
    let dir = TempDir::new("s3down");
    let s3 = S3Server::start(&dir, None);
    let port = s3.port;
    // Wrong credentials: refused, tried again, nothing lost.
    let s = Server::start(&dir, &config(&s3.endpoint(), "not-the-secret"));
    let id = s.upload_ok("f.txt", b"a sample for a server that refuses us");
    s.wait_log(&format!("delivery {id}.s3-sample (attempt 2) failed"));
    let v = s.get(&format!("/api/tiscale/v1/task/{id}")).json();
    assert!(v["processed"].is_null() && v["tc_report"].is_null(), "{v}");
    assert!(v.get("file_link").is_none(), "{v}");
    assert_eq!(
        samples_held(&s.data_dir),
        1,
        "the sample waits for its delivery"
    );
    drop(s);

    // The right credentials, but the server goes down: still nothing lost.
    let endpoint = s3.endpoint();
    drop(s3);
    let s = Server::start(&dir, &config(&endpoint, SECRET));
    let second = s.upload_ok("g.txt", b"a sample while the server is down");
    s.wait_log(&format!("delivery {second}.s3-sample (attempt 1) failed"));
    let s3 = S3Server::start(&dir, Some(port));
    for id in [id, second] {
        let v = s.wait_processed(id, WAIT);
        assert!(s3.get(v["file_link"].as_str().unwrap()).is_some());
    }
    wait_for_no_samples(&s.data_dir);
}

#[test]
fn every_extracted_file_lands_in_the_unpacked_bucket() {
    use std::io::Write;
    let dir = TempDir::new("s3unpacked");
    let s3 = S3Server::start(&dir, None);
    let config = format!(
        "[outbox]\nfirst_retry_secs = 1\n\
         [s3]\nendpoint = {:?}\npath_style = true\naccess_key_id = {KEY:?}\n\
         secret_access_key = {SECRET:?}\nunpacked = \"unpacked\"\n",
        s3.endpoint()
    );
    let s = Server::start(&dir, &config);
    let members: Vec<(&str, Vec<u8>)> = vec![
        ("a.txt", b"the first extracted file".to_vec()),
        ("b.bin", (0..5000u32).map(|i| (i * 7) as u8).collect()),
        ("again/a.txt", b"the first extracted file".to_vec()),
    ];
    let mut zipped = Vec::new();
    {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut zipped));
        for (name, data) in &members {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }
    let id = s.upload_ok("bundle.zip", &zipped);
    let _ = s.wait_processed(id, WAIT);
    wait_until("s3_unpacked_success = 1", || {
        s.stat("s3_unpacked_success") == 1
    });
    for (_, data) in &members {
        let link = format!("s3://unpacked/samples/{}", sha1_hex(data));
        assert_eq!(s3.get(&link).as_deref(), Some(data.as_slice()), "{link}");
    }
    assert!(
        s.data_dir
            .join("unpacked")
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "the copies kept for the bucket are gone once they are in it"
    );
}
