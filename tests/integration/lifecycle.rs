//! The task lifecycle across crashes, restarts, timeouts and retention; shutdown; start-up errors.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::common::*;

fn states(data_dir: &std::path::Path) -> Vec<(i64, String)> {
    let db = rusqlite::Connection::open(data_dir.join("assay.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT id, state FROM tasks ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn kill_9_with_tasks_queued_and_processing_loses_nothing() {
    let dir = TempDir::new("crash");
    let config = "[analysis]\nthreads = 1\n";
    let s = Server::start(&dir, config);
    let files: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            let mut f = vec![(i % 251) as u8; 1024 * 1024];
            f[..4].copy_from_slice(&i.to_le_bytes());
            f
        })
        .collect();
    let ids: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(50)
            .map(|chunk| {
                scope.spawn(|| {
                    chunk
                        .iter()
                        .map(|f| s.upload_ok("f", f))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), 200);
    s.kill9();

    let before = states(&dir.0.join("data"));
    assert_eq!(before.len(), 200, "every answered upload was committed");
    let unfinished = before
        .iter()
        .filter(|(_, st)| st == "queued" || st == "processing")
        .count();
    assert!(
        unfinished > 0,
        "the crash should hit unfinished work: {before:?}"
    );

    let s = Server::start(&dir, config);
    // Pending tasks answer 200 with nulls, never 404.
    let mut saw_pending = false;
    for (id, data) in ids.iter().zip(&files).rev() {
        let r = s.get(&format!("/api/tiscale/v1/task/{id}"));
        assert_eq!(r.status, 200);
        let v = r.json();
        if v["processed"].is_null() {
            saw_pending = true;
            assert!(v["tc_report"].is_null(), "{v}");
        }
        let v = s.wait_processed(*id, Duration::from_secs(120));
        assert_eq!(
            hash_of(&v["tc_report"][0], "sha1"),
            sha1_hex(data),
            "task {id}"
        );
    }
    assert!(
        saw_pending,
        "some task should still have been pending after the restart"
    );
    assert!(states(&s.data_dir).iter().all(|(_, st)| st == "done"));
    assert!(spool_files(&s.data_dir).is_empty());
}

#[test]
fn tasks_queued_past_the_timeout_are_cancelled_and_their_files_deleted() {
    let dir = TempDir::new("timeout");
    let config = "[analysis]\nthreads = 1\nqueue_timeout_secs = 2\n";
    let s = Server::start(&dir, config);
    let ids: Vec<i64> = (0..40u8)
        .map(|i| s.upload_ok("f", &vec![i; 4 * 1024 * 1024]))
        .collect();
    s.kill9();
    let queued: Vec<i64> = states(&dir.0.join("data"))
        .into_iter()
        .filter(|(_, st)| st == "queued" || st == "processing")
        .map(|(id, _)| id)
        .collect();
    assert!(!queued.is_empty());
    std::thread::sleep(Duration::from_secs(3));
    let s = Server::start(&dir, config);
    let cancelled: Vec<i64> = states(&s.data_dir)
        .into_iter()
        .filter(|(_, st)| st == "cancelled")
        .map(|(id, _)| id)
        .collect();
    assert!(
        !cancelled.is_empty(),
        "queued tasks older than the timeout are cancelled"
    );
    for id in &cancelled {
        let v = s.get(&format!("/api/tiscale/v1/task/{id}")).json();
        assert!(v["processed"].is_null() && v["tc_report"].is_null(), "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("queue timeout"),
            "{v}"
        );
    }
    // The record stays listed; the file is gone.
    let listed = s.get("/api/tiscale/v1/task").json();
    assert_eq!(listed.as_array().unwrap().len(), ids.len());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        spool_files(&s.data_dir).is_empty(),
        "{:?}",
        spool_files(&s.data_dir)
    );
}

#[test]
fn finished_results_are_purged_after_the_retention_time() {
    let dir = TempDir::new("retention");
    let s = Server::start(&dir, "[retention]\nresults_secs = 1\n");
    let id = s.upload_ok("f", b"short-lived");
    let _ = s.wait_processed(id, Duration::from_secs(30));
    let started = Instant::now();
    while s.get(&format!("/api/tiscale/v1/task/{id}")).status == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "task {id} was never purged"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(s.get(&format!("/api/tiscale/v1/task/{id}")).status, 404);
}

#[test]
fn sigterm_exits_0_quickly_and_readiness_is_notified() {
    let dir = TempDir::new("term");
    let sock_path = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let s = Server::start_with_env(&dir, "", &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    // Work in flight at SIGTERM is either finished or back in the queue.
    let id = s.upload_ok("f", &vec![3u8; 8 * 1024 * 1024]);
    let data_dir = s.data_dir.clone();
    let (status, took) = s.term(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10));
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    let st = states(&data_dir);
    assert!(
        st.iter()
            .any(|(i, s)| *i == id && (s == "done" || s == "queued")),
        "{st:?}"
    );
    let s = Server::start(&dir, "");
    let _ = s.wait_processed(id, Duration::from_secs(30));
}

#[test]
fn the_queue_full_answer_asks_to_retry() {
    let dir = TempDir::new("full");
    let s = Server::start(&dir, "[analysis]\nthreads = 1\nqueue_capacity = 1\n");
    // One large file keeps the only analysis thread busy while the channel fills.
    let big = s.upload_ok("big", &vec![9u8; 96 * 1024 * 1024]);
    let mut refused = None;
    for i in 0..20u8 {
        let r = s.upload("small", &[i], &[]);
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 200);
    }
    let r = refused.expect("a full queue refuses uploads");
    assert!(r.message().contains("queue is full"), "{}", r.message());
    assert_eq!(r.header("Retry-After"), Some("5"));
    let _ = s.wait_processed(big, Duration::from_secs(120));
}

#[test]
fn bad_configuration_stops_start_up_with_a_clear_message() {
    let dir = TempDir::new("badconf");
    for (conf, word) in [
        ("lisen = \"127.0.0.1:1\"\n", "lisen"),
        ("[tokens]\nusage = \"short\"\n", "tokens.usage"),
        ("[analysis]\nthreads = 0\n", "analysis.threads"),
    ] {
        let path = dir.0.join("bad.toml");
        std::fs::write(&path, conf).unwrap();
        let out = std::process::Command::new(bin())
            .args(["serve", "--config"])
            .arg(&path)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.0.join("data"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{conf}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(word), "{conf}: {err}");
    }
    let out = std::process::Command::new(bin())
        .arg("bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}
