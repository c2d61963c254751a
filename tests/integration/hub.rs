//! Hub mode: one Hub and three Workers, all real `assay serve` processes on loopback.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;

/// A Worker with the usage and service tokens the Hub is configured with.
const WORKER: &str = "[tokens]\nusage = \"usagetoken0123456789abcdefghijklmnopqrstu\"\n\
                      service = \"servicetoken0123456789abcdefghijklmnopqr\"\n";

/// A Hub in front of `workers`, trusting the private CA at `ca_file` for the HTTPS ones.
fn hub_config(workers: &[&Server], poll_secs: u64, ca_file: Option<&std::path::Path>) -> String {
    let mut config = format!(
        "[tokens]\nusage = \"{TOKEN}\"\nservice = \"{SERVICE_TOKEN}\"\n\
         [hub]\npoll_secs = {poll_secs}\ntimeout_secs = 5\n"
    );
    if let Some(ca) = ca_file {
        config.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
    }
    for w in workers {
        config.push_str(&format!(
            "[[hub.workers]]\nurl = \"{}\"\nusage_token = \"{TOKEN}\"\n\
             service_token = \"{SERVICE_TOKEN}\"\n",
            origin(w)
        ));
    }
    config
}

/// `scheme://127.0.0.1:port` of a test server.
fn origin(w: &Server) -> String {
    let scheme = if w.tls.is_some() { "https" } else { "http" };
    format!("{scheme}://127.0.0.1:{}", w.port)
}

/// The port a task URL points at, and its task id.
fn port_and_id(r: &Resp) -> (u16, i64) {
    assert_eq!(r.status, 200, "{}", r.text());
    let url = r.json()["task_url"].as_str().unwrap().to_string();
    let rest = url.split_once("://127.0.0.1:").expect(&url).1;
    let (port, path) = rest.split_once('/').unwrap();
    let id = path.rsplit('/').next().unwrap().parse().unwrap();
    (port.parse().unwrap(), id)
}

fn sample(i: usize) -> Vec<u8> {
    format!("hub sample {i}\n").repeat(20).into_bytes()
}

#[test]
fn a_hub_spreads_uploads_round_robin_and_each_worker_answers_for_its_tasks() {
    // Worker 0 answers HTTPS with a certificate from a private CA the Hub is given.
    let ca = TestCa::new();
    let dirs: Vec<TempDir> = (0..3).map(|i| TempDir::new(&format!("hub-w{i}"))).collect();
    let workers: Vec<Server> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| match i {
            0 => Server::start_tls(d, WORKER, &ca),
            _ => Server::start(d, WORKER),
        })
        .collect();
    let hub_dir = TempDir::new("hub");
    let (ca_file, _, _) = ca.write(&hub_dir.0);
    let hub = Server::start(
        &hub_dir,
        &hub_config(&workers.iter().collect::<Vec<_>>(), 5, Some(&ca_file)),
    );

    let mut placed: HashMap<u16, Vec<(i64, usize)>> = HashMap::new();
    for i in 0..300 {
        let r = hub
            .req("POST", "/api/tiscale/v1/upload")
            .header("X-Forwarded-For", "203.0.113.9")
            .multipart(&[
                Part::file("file", &format!("s{i}.bin"), &sample(i)),
                Part::field("custom_data", &format!("{{\"n\": {i}}}")),
            ])
            .send();
        let (port, id) = port_and_id(&r);
        placed.entry(port).or_default().push((id, i));
    }
    // 100 each: the Worker's own answer, task_url on the Worker.
    for w in &workers {
        let n = placed.get(&w.port).map_or(0, Vec::len);
        assert!((99..=101).contains(&n), "{n} on :{}: {placed:?}", w.port);
    }
    assert_eq!(placed.len(), 3);
    // Each report is read from its Worker and is the report of the file sent there, with the
    // fields passed on and the client, then the Hub, in the chain of senders.
    for w in &workers {
        for &(id, i) in &placed[&w.port] {
            let v = w.wait_processed(id, Duration::from_secs(60));
            let hashes = v["tc_report"][0]["info"]["file"]["hashes"]
                .as_array()
                .unwrap();
            assert!(
                hashes
                    .contains(&serde_json::json!({"name": "sha1", "value": sha1_hex(&sample(i))})),
                "{v}"
            );
            assert_eq!(
                v["tc_report"][0]["info"]["file"]["file_name"],
                format!("s{i}.bin")
            );
            assert_eq!(v["custom_data"], serde_json::json!({"n": i}));
            assert_eq!(
                v["forwarded_for"],
                serde_json::json!(["203.0.113.9", "127.0.0.1"])
            );
        }
    }
    // The Hub keeps no tasks and says where reports are.
    let r = hub.get("/api/tiscale/v1/task/1");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.message(),
        "analysis reports cannot be obtained from a Hub; use the task_url returned by the upload"
    );
    assert_eq!(hub.get("/api/tiscale/v1/task").status, 404);
    // Its service API describes the Hub: every Worker polled with its service token, and what
    // each was given.
    let service = |path: &str| {
        hub.req("GET", path)
            .header("Authorization", &format!("Token {SERVICE_TOKEN}"))
            .send()
    };
    assert_eq!(service("/srv/tiscale/v1/available").status, 200);
    let info = service("/srv/tiscale/v1/sysinfo").json();
    assert_eq!(info["hub"], true);
    let stats = service("/srv/tiscale/v1/stats").json();
    for (w, (listed, stat)) in workers.iter().zip(
        info["workers"]
            .as_array()
            .unwrap()
            .iter()
            .zip(stats["workers"].as_array().unwrap()),
    ) {
        assert_eq!(listed["url"], origin(w));
        assert_eq!(listed["available"], true, "{info}");
        assert_eq!(stat["uploads_forwarded"], placed[&w.port].len(), "{stats}");
    }
    assert_eq!(stats["upload_success"][0], 300, "{stats}");

    // custom_data's integrity check is made at the Hub: a mismatch reaches no Worker.
    let data = sample(1);
    let with_hash = |hash: &str| {
        hub.upload(
            "checked",
            &data,
            &[(
                "custom_data",
                &format!("{{\"integrity_check_hash\": \"{hash}\"}}"),
            )],
        )
    };
    let r = with_hash(&"0".repeat(40));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.message().contains("integrity check failed"),
        "{}",
        r.text()
    );
    let forwarded: u64 = service("/srv/tiscale/v1/stats").json()["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["uploads_forwarded"].as_u64().unwrap())
        .sum();
    assert_eq!(forwarded, 300);
    assert_eq!(with_hash(&sha1_hex(&data)).status, 200);

    // An upload too large to hold in memory goes through the Hub's spool, which it leaves empty.
    let big: Vec<u8> = (0..5 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let r = hub.upload("big.bin", &big, &[]);
    let (port, id) = port_and_id(&r);
    let w = workers.iter().find(|w| w.port == port).unwrap();
    let v = w.wait_processed(id, Duration::from_secs(60));
    let hashes = v["tc_report"][0]["info"]["file"]["hashes"]
        .as_array()
        .unwrap();
    assert!(
        hashes.contains(&serde_json::json!({"name": "sha1", "value": sha1_hex(&big)})),
        "{v}"
    );
    wait_for_no_samples(&hub.data_dir);
}

#[test]
fn a_paused_worker_gets_nothing_and_a_killed_one_loses_nothing() {
    let dirs: Vec<TempDir> = (0..3)
        .map(|i| TempDir::new(&format!("hubk-w{i}")))
        .collect();
    let mut workers: Vec<Option<Server>> = dirs
        .iter()
        .map(|d| Some(Server::start(d, WORKER)))
        .collect();
    let ports: Vec<u16> = workers.iter().map(|w| w.as_ref().unwrap().port).collect();
    let hub_dir = TempDir::new("hubk");
    let hub = Arc::new(Server::start(
        &hub_dir,
        &hub_config(
            &workers
                .iter()
                .map(|w| w.as_ref().unwrap())
                .collect::<Vec<_>>(),
            1,
            None,
        ),
    ));
    let upload = |hub: &Server, i: usize| {
        let r = hub.upload(&format!("k{i}"), &sample(1000 + i), &[]);
        port_and_id(&r)
    };
    for i in 0..30 {
        upload(&hub, i);
    }
    // Worker 1 paused: not one upload fails, and none goes to it from then on.
    let paused = workers[1].as_ref().unwrap();
    let r = paused
        .req("PUT", "/srv/tiscale/v1/mode")
        .header(
            "Authorization",
            "Token servicetoken0123456789abcdefghijklmnopqr",
        )
        .header("Content-Type", "application/json")
        .body(b"{\"paused\": true}")
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    for i in 30..60 {
        let (port, _) = upload(&hub, i);
        assert_ne!(port, ports[1], "upload {i} went to the paused Worker");
    }

    // Worker 2 killed while uploads go on: every upload is answered 200 by a Worker.
    let done = Arc::new(AtomicUsize::new(0));
    let uploader = {
        let (hub, done) = (hub.clone(), done.clone());
        std::thread::spawn(move || {
            (60..150)
                .map(|i| {
                    let placed = upload(&hub, i);
                    done.fetch_add(1, Ordering::SeqCst);
                    placed
                })
                .collect::<Vec<_>>()
        })
    };
    wait_until("30 uploads during the run", || {
        done.load(Ordering::SeqCst) >= 30
    });
    workers[2].take().unwrap().kill9();
    let placed = uploader.join().unwrap();
    assert_eq!(placed.len(), 90);
    assert!(placed.iter().all(|(port, _)| *port != ports[1]));

    // Restarted, the killed Worker finishes every task it had accepted.
    let restarted = Server::start(&dirs[2], WORKER);
    let accepted = restarted.get("/api/tiscale/v1/task").json();
    let accepted = accepted.as_array().unwrap();
    assert!(
        !accepted.is_empty(),
        "worker 2 had taken uploads before it was killed"
    );
    for t in accepted {
        restarted.wait_processed(t["task_id"].as_i64().unwrap(), Duration::from_secs(60));
    }
}

#[test]
fn with_no_worker_available_a_hub_refuses_uploads_and_says_so() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = TempDir::new("hub-none");
    let hub = Server::start(
        &dir,
        &format!("[hub]\npoll_secs = 1\n[[hub.workers]]\nurl = \"http://127.0.0.1:{port}\"\n"),
    );
    let r = hub.upload("f", b"x", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.message(), "no worker available");
    let r = hub.get("/srv/tiscale/v1/available");
    assert_eq!((r.status, r.text().as_str()), (503, "not healthy"));
    let info = hub.get("/srv/tiscale/v1/sysinfo").json();
    assert_eq!(info["workers"][0]["available"], false, "{info}");
    assert!(info["workers"][0]["problem"].as_str().is_some(), "{info}");
    // The log reaches the test through a pipe: wait for the line rather than race it.
    hub.wait_log("is unavailable");
}
