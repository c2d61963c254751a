//! The HTTP edge against hostile clients: `scripts/attack.py` replays every attack on the real
//! binary; afterwards the Worker answers at once and its memory has barely grown.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::formats::repo;

#[test]
fn no_hostile_client_stops_the_worker() {
    let dir = TempDir::new("attack");
    let s = Server::start(&dir, &tokens_config(""));
    let before = vm_hwm_kib(s.pid());
    let out = std::process::Command::new("python3")
        .arg(repo().join("scripts/attack.py"))
        .arg(format!("127.0.0.1:{}", s.port))
        .args(["--service-token", SERVICE_TOKEN])
        .output()
        .expect("python3 runs scripts/attack.py");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(printed.contains("# 0 failed"), "{printed}");

    let started = Instant::now();
    let r = s
        .req("GET", "/srv/tiscale/v1/available")
        .header("Authorization", &format!("Token {SERVICE_TOKEN}"))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(1));
    let grown_mib = (vm_hwm_kib(s.pid()) - before) / 1024;
    assert!(grown_mib < 64, "peak memory grew by {grown_mib} MiB");
    // No thread panicked, and the HTTP pool has all its threads (http.threads, default 8).
    assert!(!s.log().contains("panicked"), "{}", s.log());
    assert_eq!(threads_named(s.pid(), "http-"), 8);
    let id = s.upload_ok("after.txt", b"uploaded after the attack");
    let _ = s.wait_processed(id, Duration::from_secs(30));
}

/// How many threads of process `pid` have a name starting with `prefix`.
fn threads_named(pid: u32, prefix: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .count()
}

#[test]
fn head_works_wherever_get_does_and_errors_echo_little_of_the_path() {
    let dir = TempDir::new("head");
    let s = Server::start(&dir, "");
    let r = s.req("HEAD", "/srv/tiscale/v1/available").send();
    assert_eq!(r.status, 200);
    let id = s.upload_ok("f", b"head");
    let r = s.req("HEAD", &format!("/api/tiscale/v1/task/{id}")).send();
    assert_eq!(r.status, 200);
    assert!(r.text().is_empty(), "{}", r.text());
    // HEAD is never DELETE's sibling, and a method an endpoint does not take is 405.
    assert_eq!(s.get(&format!("/api/tiscale/v1/task/{id}")).status, 200);
    let r = s.req("HEAD", "/api/tiscale/v1/upload").send();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    assert_eq!(
        s.req("PATCH", "/srv/tiscale/v1/available")
            .send()
            .header("Allow"),
        Some("GET, HEAD")
    );

    let long = format!("/{}", "x".repeat(50_000));
    let r = s.get(&long);
    assert_eq!(r.status, 404);
    let m = r.message();
    assert!(m.chars().count() < 250, "{} characters", m.chars().count());
    assert!(m.ends_with('…'), "{m}");
}

#[test]
fn a_second_file_part_is_refused() {
    let dir = TempDir::new("twofiles");
    let s = Server::start(&dir, "");
    let r = s
        .req("POST", "/api/tiscale/v1/upload")
        .multipart(&[
            Part::file("file", "a", b"first"),
            Part::file("file", "b", b"second"),
        ])
        .send();
    assert_eq!(r.status, 400);
    assert!(
        r.message().contains("more than one file part"),
        "{}",
        r.message()
    );
    assert!(s
        .get("/api/tiscale/v1/task")
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    wait_for_no_samples(&s.data_dir);
}

#[test]
fn a_used_data_directory_with_a_lost_database_does_not_start_and_ids_are_never_reused() {
    let dir = TempDir::new("forgotten");
    let s = Server::start(&dir, "");
    let first = s.upload_ok("f", b"before the database was lost");
    let _ = s.wait_processed(first, Duration::from_secs(30));
    let data = s.data_dir.clone();
    let (status, _) = s.term(Duration::from_secs(15));
    assert!(status.success());

    // A full disk or an operator's mistake leaves a 0-byte database behind.
    for f in ["assay.db", "assay.db-wal", "assay.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    std::fs::write(data.join("assay.db"), b"").unwrap();
    let out = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for said in [
        "empty (0 bytes)",
        "last-task-id",
        "restore it from a backup",
        "--new-store",
    ] {
        assert!(err.contains(said), "{said}: {err}");
    }

    // Started over on purpose, ids go on after the last one handed out.
    let s = Server::start_args(&dir, &["--new-store"]);
    let next = s.upload_ok("f", b"after");
    assert!(next > first, "{next} after {first}");
    assert_eq!(s.get(&format!("/api/tiscale/v1/task/{first}")).status, 404);
}

#[test]
fn one_token_set_warns_about_the_groups_left_open() {
    let dir = TempDir::new("tokenwarn");
    let s = Server::start(&dir, &format!("[tokens]\nusage = \"{TOKEN}\"\n"));
    let log = s.log();
    assert!(log.contains("WARNING: tokens.service is not set"), "{log}");
    assert!(log.contains("WARNING: tokens.license is not set"), "{log}");
}

#[test]
fn the_systemd_watchdog_hears_from_a_serving_worker() {
    let dir = TempDir::new("watchdog");
    let sock_path = dir.0.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let s = Server::start_with_env(
        &dir,
        "",
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1500000"),
        ],
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 64];
    while seen.iter().filter(|m: &&String| *m == "WATCHDOG=1").count() < 2 {
        let n = sock.recv(&mut buf).expect("a notification within 30 s");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(seen[0], "READY=1", "{seen:?}");
    // The probe is not logged as a request.
    assert!(
        !s.log().contains("HEAD /srv/tiscale/v1/available"),
        "{}",
        s.log()
    );
}

#[test]
fn an_upload_that_stalls_is_408_and_frees_its_thread() {
    use std::io::{Read, Write};
    let dir = TempDir::new("stall");
    let s = Server::start(&dir, "[http]\nthreads = 1\nread_timeout_secs = 1\n");
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /api/tiscale/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n--{BOUNDARY}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nsome bytes, then nothing"
    );
    c.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("the upload stalled"), "{answer}");
    // The only HTTP thread serves again, and the stalled upload left nothing behind.
    let id = s.upload_ok("f", b"next");
    let _ = s.wait_processed(id, Duration::from_secs(30));
    assert_eq!(s.task_count(), 1);
    wait_for_no_samples(&s.data_dir);
}
