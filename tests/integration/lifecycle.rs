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
    let holding = |secs| format!("[analysis]\nthreads = 1\n{}", gate_config(&dir, secs));
    let s = Server::start(&dir, &holding(600));
    // The gate goes first and holds the only analysis thread: every task after it waits. Samples
    // of 64 KiB are kept in the database with their task, one byte more goes to a spool file:
    // half of each.
    let mut files = vec![GATE.to_vec()];
    files.extend((1..200u32).map(|i| {
        let mut f = vec![(i % 251) as u8; 64 * 1024 + (i % 2) as usize];
        f[..4].copy_from_slice(&i.to_le_bytes());
        f
    }));
    let gate = s.upload_ok("gate", &files[0]);
    let mut ids: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = files[1..]
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
    ids.insert(0, gate);
    assert_eq!(ids.len(), 200);
    s.kill9();

    let before = states(&dir.0.join("data"));
    assert_eq!(before.len(), 200, "every answered upload was committed");
    let data = dir.0.join("data");
    assert_eq!(
        stored_samples(&data),
        100,
        "the gate and 99 samples of 64 KiB"
    );
    assert_eq!(spool_files(&data).len(), 100);
    assert!(
        before
            .iter()
            .all(|(_, st)| st == "queued" || st == "processing"),
        "the crash hits the gate in flight and the rest queued: {before:?}"
    );

    // After the restart the gate comes back first and holds the thread for 5 s more.
    let s = Server::start(&dir, &holding(5));
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
        "the tasks behind the gate should still have been pending after the restart"
    );
    assert!(states(&s.data_dir).iter().all(|(_, st)| st == "done"));
    wait_for_no_samples(&s.data_dir);
}

#[test]
fn tasks_queued_past_the_timeout_are_cancelled_and_their_files_deleted() {
    let dir = TempDir::new("timeout");
    let config = "[analysis]\nthreads = 1\nqueue_timeout_secs = 2\n";
    let s = Server::start(&dir, &format!("{config}{}", gate_config(&dir, 600)));
    // The gate holds the only analysis thread, so the other 40 are still queued at the crash.
    let gate = s.upload_ok("gate", GATE);
    let ids: Vec<i64> = (0..40u8)
        .map(|i| s.upload_ok("f", &vec![i; 64 * 1024]))
        .collect();
    s.kill9();
    let before = states(&dir.0.join("data"));
    assert!(
        before
            .iter()
            .all(|(id, st)| st == "queued" || (*id == gate && st == "processing")),
        "{before:?}"
    );
    // Down for longer than the queue timeout; back without the gate.
    std::thread::sleep(Duration::from_secs(3));
    let s = Server::start(&dir, config);
    let cancelled: Vec<i64> = states(&s.data_dir)
        .into_iter()
        .filter(|(_, st)| st == "cancelled")
        .map(|(id, _)| id)
        .collect();
    assert!(
        ids.iter().all(|id| cancelled.contains(id)),
        "queued tasks older than the timeout are cancelled at start-up: {cancelled:?}"
    );
    // A poller stops at once: processed is when the task was cancelled, there is no report,
    // and the error says why.
    for id in &cancelled {
        let v = s.get(&format!("/api/tiscale/v1/task/{id}")).json();
        assert!(v["processed"].as_i64().unwrap() > 0, "{v}");
        assert!(v["tc_report"].is_null(), "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("queue timeout"),
            "{v}"
        );
    }
    // The list holds the tasks whose report can be read: not the cancelled ones.
    let listed: Vec<i64> = s
        .get("/api/tiscale/v1/task")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_i64().unwrap())
        .collect();
    assert!(
        listed.iter().all(|id| !cancelled.contains(id)),
        "{listed:?}"
    );
    assert!(listed.len() <= 1, "at most the gate: {listed:?}");
    wait_for_no_samples(&s.data_dir);
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
    let s = Server::start_with_env(
        &dir,
        &gate_config(&dir, 600),
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    // Work in flight at SIGTERM that outlasts the analysis grace (5 s) goes back to the queue.
    let id = s.upload_ok("gate", GATE);
    let data_dir = s.data_dir.clone();
    // Within the unit's TimeoutStopSec (15 s), so systemd never has to kill it.
    let (status, _) = s.term(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    let st = states(&data_dir);
    assert!(st.contains(&(id, "queued".to_string())), "{st:?}");
    // The next start, without the gate, analyses it.
    let s = Server::start(&dir, "");
    let v = s.wait_processed(id, Duration::from_secs(30));
    assert_eq!(hash_of(&v["tc_report"][0], "sha1"), sha1_hex(GATE));
}

#[test]
fn the_queue_full_answer_asks_to_retry() {
    let dir = TempDir::new("full");
    let config = format!(
        "[analysis]\nthreads = 1\nqueue_capacity = 1\n{}",
        gate_config(&dir, 600)
    );
    let s = Server::start(&dir, &config);
    // The gate holds the only analysis thread while the channel (room for one) fills.
    s.upload_ok("gate", GATE);
    let mut accepted = 1;
    let mut refused = None;
    for i in 0..2u8 {
        let r = s.upload("small", &[i], &[]);
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 200);
        accepted += 1;
    }
    let r = refused.expect("a full queue refuses uploads");
    assert!(r.message().contains("queue is full"), "{}", r.message());
    assert_eq!(r.header("Retry-After"), Some("5"));
    let listed = s.get("/api/tiscale/v1/task").json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        accepted,
        "a refused upload is not a task: {listed}"
    );
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
