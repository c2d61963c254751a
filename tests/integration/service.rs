//! The service API (sysinfo, mode, available, stats) and the license API.

use std::time::Duration;

use crate::common::*;

#[test]
fn sysinfo_reports_real_values() {
    let dir = TempDir::new("sysinfo");
    let s = Server::start(&dir, "");
    let v = s.get("/srv/tiscale/v1/sysinfo").json();
    assert_eq!(v["load_average"].as_array().unwrap().len(), 3);
    assert!(v["load_average"][0].as_f64().unwrap() >= 0.0);
    assert_eq!(v["queue_size"], 0);
    assert_eq!(v["max_queue_size"], 0);
    assert!(v["max_queue_name"].is_string());
    assert_eq!(v["hagent_running"], true);
    for key in ["scratch_space", "root_space"] {
        let used = v[key].as_f64().unwrap();
        assert!(used > 0.0 && used <= 100.0, "{key} = {used}");
    }
}

fn put_mode(s: &Server, content_type: Option<&str>, body: &[u8]) -> Resp {
    let mut req = s.req("PUT", "/srv/tiscale/v1/mode");
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    req.body(body).send()
}

#[test]
fn pause_refuses_uploads_and_survives_a_restart() {
    let dir = TempDir::new("mode");
    let s = Server::start(&dir, "");
    assert_eq!(
        s.get("/srv/tiscale/v1/mode").json(),
        serde_json::json!({"paused": false})
    );
    assert_eq!(s.get("/srv/tiscale/v1/available").status, 200);

    let r = s
        .req("PUT", "/srv/tiscale/v1/mode")
        .body(b"{\"paused\": true}")
        .send();
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "Invalid POST data: expected JSON object");
    let r = put_mode(&s, Some("application/json"), b"[true]");
    assert_eq!(r.status, 400);

    let r = put_mode(&s, Some("application/json"), b"{\"paused\": true}");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(s.get("/srv/tiscale/v1/mode").json()["paused"], true);
    // Health checkers compare /available's body as text (DECISIONS item 3).
    let r = s.get("/srv/tiscale/v1/available");
    assert_eq!((r.status, r.text().as_str()), (503, "paused"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let r = s.upload("f", b"x", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.message(), "paused");

    let (status, _) = s.term(Duration::from_secs(10));
    assert!(status.success());
    let s = Server::start(&dir, "");
    assert_eq!(
        s.get("/srv/tiscale/v1/mode").json()["paused"],
        true,
        "mode is persisted"
    );
    let r = put_mode(
        &s,
        Some("application/json; charset=utf-8"),
        b"{\"paused\": false}",
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/srv/tiscale/v1/available").status, 200);
    assert_eq!(s.upload("f", b"x", &[]).status, 200);
}

#[test]
fn a_full_disk_makes_the_worker_not_healthy() {
    let dir = TempDir::new("health");
    // Any real file system is more than 0.001 % used.
    let s = Server::start(&dir, "[health]\nmax_disk_used_percent = 0.001\n");
    let r = s.get("/srv/tiscale/v1/available");
    assert_eq!((r.status, r.text().as_str()), (503, "not healthy"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Retry-After"), Some("30"));
    // The upload's answer, the log and sysinfo say why.
    let r = s.upload("f", b"x", &[]);
    assert_eq!(r.status, 503);
    assert!(
        r.message()
            .starts_with("not healthy: the data directory's file system is")
            && r.message().contains("health.max_disk_used_percent (0.001)"),
        "{}",
        r.message()
    );
    assert_eq!(r.header("Retry-After"), Some("30"));
    assert_eq!(
        s.log().matches("not healthy: the data directory").count(),
        1,
        "{}",
        s.log()
    );
    let info = s.get("/srv/tiscale/v1/sysinfo").json();
    assert_eq!(info["healthy"], false);
    assert!(
        info["health_problem"].as_str().unwrap().contains("% used"),
        "{info}"
    );
    std::thread::sleep(Duration::from_secs(6)); // one statistics flush
    let stats = s.get("/srv/tiscale/v1/stats").json();
    assert_eq!(stats["not_available"][0], 2);
    assert_eq!(stats["upload_failure"][0], 1);
}

#[test]
fn stats_count_every_window_and_survive_a_restart() {
    let dir = TempDir::new("stats");
    let s = Server::start(&dir, "");
    for i in 0..3 {
        let id = s.upload_ok("f", &vec![i as u8; 1000]);
        let _ = s.wait_processed(id, Duration::from_secs(30));
    }
    assert_eq!(s.get("/api/tiscale/v1/task/77").status, 404);
    let v = s.get("/srv/tiscale/v1/stats").json();
    assert_eq!(
        v["timeframes"],
        serde_json::json!(["1m", "10m", "1h", "8h", "1d"])
    );
    assert_eq!(v["files_submitted"], serde_json::json!([3, 3, 3, 3, 3]));
    assert_eq!(v["bytes_submitted"][4], 3000);
    assert_eq!(v["files_processed"][0], 3);
    assert_eq!(v["bytes_processed"][0], 3000);
    assert_eq!(v["upload_success"][0], 3);
    assert_eq!(v["general_user_failure"][0], 1);
    for key in [
        "upload_failure",
        "files_unpacked",
        "bytes_unpacked",
        "general_service_failure",
        "callback_success",
        "callback_failure",
        "splunk_success",
        "splunk_failure",
        "s3_upload",
        "s3_upload_failure",
        "s3_report_upload",
        "s3_report_upload_failure",
        "s3_unpacked_success",
        "s3_unpacked_failure",
        "sns_success",
        "sns_failure",
        "not_available",
        "file_processing_failure",
        "mean_queue_size",
        "max_mean_queue_size",
        "max_mean_queue_name",
    ] {
        assert_eq!(v[key].as_array().map(Vec::len), Some(5), "{key}");
    }
    let (status, _) = s.term(Duration::from_secs(10));
    assert!(status.success());
    let s = Server::start(&dir, "");
    let v = s.get("/srv/tiscale/v1/stats").json();
    assert_eq!(
        v["files_submitted"][4], 3,
        "the day's counters survive a restart: {v}"
    );
}

fn license_doc(kind: &str, machine: &str, created: &str, expiry: &str) -> String {
    serde_json::json!({
        "product": "tiscale-worker",
        "machineId": machine,
        "version": 1,
        "serialNumber": "SN-0001",
        "licenseType": kind,
        "company": "ACME",
        "creationDate": created,
        "expiryDate": expiry,
    })
    .to_string()
}

#[test]
fn license_lifecycle() {
    let dir = TempDir::new("license");
    let s = Server::start(&dir, "");
    let info = s.get("/api/license/v1/").json();
    assert_eq!(info["product"], "tiscale-worker");
    assert_eq!(info["status"], "NO_LICENSE");
    let machine = info["machineId"].as_str().unwrap().to_string();
    assert!(machine.len() >= 16);
    assert_eq!(
        s.get("/api/license/v1/status/").json(),
        serde_json::json!({"status": "NO_LICENSE"})
    );

    let put = |doc: &str| {
        s.req("PUT", "/api/license/v1/upload")
            .multipart(&[Part::file("file", "license.json", doc.as_bytes())])
            .send()
    };
    let good = license_doc(
        "REGULAR",
        &machine,
        "2026-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let r = put(&good);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.message(), "License is applied");
    let r = put(&good);
    assert_eq!(r.status, 200);
    assert_eq!(r.message(), "License is already applied");
    let info = s.get("/api/license/v1/").json();
    assert_eq!(info["status"], "VALID");
    assert_eq!(info["licenseType"], "REGULAR");
    assert_eq!(info["company"], "ACME");
    assert_eq!(info["expiryDate"], "2099-01-01T00:00:00Z");

    for (doc, word) in [
        (
            license_doc(
                "WILDCARD",
                "",
                "2026-01-01T00:00:00Z",
                "2026-03-01T00:00:00Z",
            ),
            "45 days",
        ),
        (
            license_doc(
                "REGULAR",
                "SOMEONEELSE",
                "2026-01-01T00:00:00Z",
                "2099-01-01T00:00:00Z",
            ),
            "another machine",
        ),
        (
            license_doc(
                "REGULAR",
                &machine,
                "2020-01-01T00:00:00Z",
                "2021-01-01T00:00:00Z",
            ),
            "expired",
        ),
        ("not json".to_string(), "not a valid license"),
    ] {
        let r = put(&doc);
        assert_eq!(r.status, 400, "{doc}");
        assert!(r.message().contains(word), "{doc}: {}", r.message());
    }
    let r = s
        .req("PUT", "/api/license/v1/upload")
        .multipart(&[Part::field("x", "y")])
        .send();
    assert_eq!(r.status, 400);

    // The machine id persists across restarts until regenerated; a REGULAR license then no
    // longer matches.
    let (status, _) = s.term(Duration::from_secs(10));
    assert!(status.success());
    let s = Server::start(&dir, "");
    assert_eq!(s.get("/api/license/v1/").json()["machineId"], machine);
    let r = s.req("POST", "/api/license/v1/machine-id/generate").send();
    assert_eq!(r.status, 200);
    let new_id = r.json()["machineId"].as_str().unwrap().to_string();
    assert_ne!(new_id, machine);
    assert_eq!(s.get("/api/license/v1/").json()["machineId"], new_id);
    assert_eq!(s.get("/api/license/v1/status").json()["status"], "INVALID");
    // Licensing does not block analysis unless configured to.
    assert_eq!(s.upload("f", b"x", &[]).status, 200);
}

#[test]
fn an_enforced_license_blocks_uploads_until_applied() {
    let dir = TempDir::new("enforce");
    let s = Server::start(&dir, "[license]\nenforce = true\n");
    let r = s.upload("f", b"x", &[]);
    assert_eq!(r.status, 503);
    assert!(r.message().contains("NO_LICENSE"), "{}", r.message());
    let machine = s.get("/api/license/v1/").json()["machineId"]
        .as_str()
        .unwrap()
        .to_string();
    // A 30-day trial license around today.
    let doc = license_doc(
        "WILDCARD",
        &machine,
        &utc_days_from_now(-1),
        &utc_days_from_now(29),
    );
    let r = s
        .req("PUT", "/api/license/v1/upload")
        .multipart(&[Part::file("file", "l", doc.as_bytes())])
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.upload("f", b"x", &[]).status, 200);
}
