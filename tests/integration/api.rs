//! The usage API besides upload: tasks, auth, routing, YARA and quota endpoints, request logs.

use std::time::Duration;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn tokens_are_checked_per_group_and_never_logged() {
    let dir = TempDir::new("auth");
    let s = Server::start(&dir, &tokens_config(""));
    for (path, token) in [
        ("/api/tiscale/v1/task", TOKEN),
        ("/srv/tiscale/v1/mode", SERVICE_TOKEN),
        ("/api/license/v1/status/", LICENSE_TOKEN),
    ] {
        let r = s.req("GET", path).no_auth().send();
        assert_eq!(r.status, 401, "{path}");
        assert!(!r.message().is_empty());
        let r = s
            .req("GET", path)
            .header("Authorization", "Token wrongtoken")
            .send();
        assert_eq!(r.status, 403, "{path}");
        // Another group's valid token is wrong here.
        let other = if token == TOKEN { SERVICE_TOKEN } else { TOKEN };
        let r = s
            .req("GET", path)
            .header("Authorization", &format!("Token {other}"))
            .send();
        assert_eq!(r.status, 403, "{path}");
        let r = s
            .req("GET", path)
            .header("Authorization", &format!("Token {token}"))
            .send();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let log = s.log();
    for t in [TOKEN, SERVICE_TOKEN, LICENSE_TOKEN] {
        assert!(!log.contains(t), "a token reached the log");
    }
    // One line per request: id, method, path, status, milliseconds.
    assert!(
        log.lines().any(|l| l.contains("req=")
            && l.contains("GET /srv/tiscale/v1/mode 403 ")
            && l.ends_with("ms")),
        "{log}"
    );
}

#[test]
fn groups_without_a_token_ignore_the_header() {
    let dir = TempDir::new("noauth");
    let s = Server::start(&dir, "");
    let r = s
        .req("GET", "/api/tiscale/v1/task")
        .header("Authorization", "Token whatever")
        .send();
    assert_eq!(r.status, 200);
    let r = s.req("GET", "/srv/tiscale/v1/mode").no_auth().send();
    assert_eq!(r.status, 200);
}

#[test]
fn unknown_paths_404_and_wrong_methods_405() {
    let dir = TempDir::new("routes");
    let s = Server::start(&dir, "");
    let r = s.get("/api/tiscale/v1/nothing");
    assert_eq!(r.status, 404);
    assert!(r.message().contains("no such endpoint"));
    for (method, path, allow) in [
        ("GET", "/api/tiscale/v1/upload", "POST"),
        ("POST", "/api/tiscale/v1/task/1", "GET, DELETE, HEAD"),
        ("DELETE", "/srv/tiscale/v1/mode", "GET, PUT, HEAD"),
        ("POST", "/srv/tiscale/v1/stats", "GET, HEAD"),
        ("GET", "/api/license/v1/upload", "PUT"),
    ] {
        let r = s.req(method, path).send();
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.header("Allow"), Some(allow), "{method} {path}");
        assert!(r.message().contains("not allowed"));
    }
    assert_eq!(s.get("/api/tiscale/v1/task/999").status, 404);
    assert_eq!(s.get("/api/tiscale/v1/task/abc").status, 404);
    assert_eq!(
        s.req("DELETE", "/api/tiscale/v1/task/999").send().status,
        404
    );
}

#[test]
fn list_filters_by_age_and_token_and_deletes_work() {
    let dir = TempDir::new("list");
    let s = Server::start(&dir, "");
    let up = |token: Option<&str>| {
        let mut req = s.req("POST", "/api/tiscale/v1/upload");
        if let Some(t) = token {
            req = req.header("X-TiScale-Token", t);
        }
        let r = req.multipart(&[Part::file("file", "f", b"data")]).send();
        assert_eq!(r.status, 200);
        task_id(&r)
    };
    let a = up(Some("Token custom"));
    let b = up(Some("custom"));
    let c = up(Some("other"));
    let d = up(None);
    let ids = |path: &str| -> Vec<i64> {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task_id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids("/api/tiscale/v1/task"), vec![a, b, c, d]);
    assert_eq!(ids("/api/tiscale/v1/task?token=custom"), vec![a, b]);
    assert_eq!(ids("/api/tiscale/v1/task?token=Token+custom"), vec![a, b]);
    assert_eq!(ids("/api/tiscale/v1/task?token=Token%20other"), vec![c]);
    assert_eq!(ids("/api/tiscale/v1/task?age=3600"), Vec::<i64>::new());
    assert_eq!(
        ids("/api/tiscale/v1/task?age=0&full=false"),
        vec![a, b, c, d]
    );
    // Items carry the list fields and never the report.
    let _ = s.wait_processed(a, WAIT);
    let item = s.get("/api/tiscale/v1/task?token=custom").json()[0].clone();
    for key in [
        "task_id",
        "submitted",
        "processed",
        "worker_ip",
        "worker_address",
        "worker_hostname",
    ] {
        assert!(item.get(key).is_some(), "{key} missing in {item}");
    }
    assert!(item.get("tc_report").is_none());
    assert_eq!(s.get("/api/tiscale/v1/task?age=soon").status, 400);

    let r = s.req("DELETE", &format!("/api/tiscale/v1/task/{a}")).send();
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(s.get(&format!("/api/tiscale/v1/task/{a}")).status, 404);
    assert_eq!(ids("/api/tiscale/v1/task"), vec![b, c, d]);

    let r = s.req("DELETE", "/api/tiscale/v1/task").send();
    assert_eq!(r.status, 400);
    assert!(r.message().contains("age"));
    assert_eq!(
        s.req("DELETE", "/api/tiscale/v1/task?age=500")
            .send()
            .status,
        200
    );
    assert_eq!(ids("/api/tiscale/v1/task"), vec![b, c, d]);
    assert_eq!(
        s.req("DELETE", "/api/tiscale/v1/task?age=0").send().status,
        200
    );
    assert_eq!(ids("/api/tiscale/v1/task"), Vec::<i64>::new());
    // Ids are never reused.
    assert!(up(None) > d);
}

#[test]
fn report_parameters_are_accepted_and_unknown_ones_ignored() {
    let dir = TempDir::new("params");
    let s = Server::start(&dir, "");
    let id = s.upload_ok("f", b"abc");
    let _ = s.wait_processed(id, WAIT);
    for q in [
        "full=true",
        "full=0&v13=1",
        "report_type=large&view=flat",
        "view=extended",
        "include_fields=%5B%22classification%22%5D&exclude_fields=%5B%5D",
        "unknown=1",
    ] {
        let r = s.get(&format!("/api/tiscale/v1/task/{id}?{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        assert!(r.json()["tc_report"].is_array());
    }
    // The 400s for malformed ones are in shaping.rs.
}

#[test]
fn yara_and_quota_endpoints() {
    let dir = TempDir::new("yara");
    let s = Server::start(&dir, "");
    let id = s.get("/api/tiscale/v1/yara").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 40);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let st = s.get("/api/tiscale/v2/sync-status?errorOnly=true").json();
    assert!(st["revision"].is_i64());
    assert!(st["rulesets"].is_array());
    // Synchronisation is on by default, from <data_dir>/yara (empty here).
    let r = s.req("POST", "/api/tiscale/v1/pull/all").send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], id.as_str());
    for path in ["/api/tiscale/v1/quota", "/api/tiscale/v1/quota/company"] {
        let r = s.get(path);
        assert_eq!(r.status, 503);
        assert_eq!(r.message(), "TiCloud is not configured.");
    }
}
