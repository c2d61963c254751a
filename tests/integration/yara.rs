//! YARA: rules from a directory on every node, verdicts from rule meta, a broken ruleset left out
//! beside working ones, and the ruleset endpoints (id, sync-status, pull/all) with hot reload.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Server, TempDir};
use crate::formats::{scan_config_in, Scan};

/// What the payload says; the rules look for it.
const MARKER: &[u8] = b"assay yara marker: quarterly-report-dropper";

const VERDICT_RULE: &str = r#"
rule Dropper_Marker : dropper test {
    meta:
        author = "assay tests"
        reference = "https://example.org/yara/dropper"
        description = "the test dropper's marker"
        classification = "malicious"
        threat_name = "Win32.Dropper.Marker"
        factor = 7
    strings:
        $marker = "quarterly-report-dropper"
    condition:
        $marker
}
"#;

const PLAIN_RULE: &str = r#"
import "math"
rule Marker_Seen {
    strings:
        $a = "assay yara marker"
    condition:
        $a and math.entropy(0, filesize) > 0
}
"#;

/// A syntax error on line 4.
const BROKEN_RULE: &str =
    "rule Broken {\n    strings:\n        $a = \"x\"\n    condition: $a and and\n}\n";

/// gzip(zip(payload.txt)): the payload two containers deep.
fn nested_payload(dir: &Path) -> PathBuf {
    let mut zipped = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut zipped));
        zip.start_file(
            "payload.txt",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        zip.write_all(b"padding before the marker\n").unwrap();
        zip.write_all(MARKER).unwrap();
        zip.write_all(b"\n").unwrap();
        zip.finish().unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&zipped).unwrap();
    let path = dir.join("bundle.zip.gz");
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    path
}

pub fn rules_dir(dir: &TempDir, files: &[(&str, &str)]) -> PathBuf {
    let rules = dir.path().join("rules");
    for (name, text) in files {
        let path = rules.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    rules
}

pub fn scan_with_rules(dir: &TempDir, rules: &Path, paths: &[PathBuf]) -> Scan {
    let config = format!("[yara]\nrules_dir = {:?}\n", rules.display().to_string());
    scan_config_in(dir.path(), paths, Some(&config))
}

pub fn rule_names(entry: &Value) -> Vec<&str> {
    entry["metadata"]["yara"]["matches"]
        .as_array()
        .map(|m| m.iter().map(|m| m["rule"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn a_rule_matches_a_payload_two_containers_deep_and_its_verdict_propagates() {
    let dir = TempDir::new("yara-nested");
    let rules = rules_dir(
        &dir,
        &[
            ("vendor/dropper.yar", VERDICT_RULE),
            ("plain.yara", PLAIN_RULE),
        ],
    );
    let s = scan_with_rules(&dir, &rules, &[nested_payload(dir.path())]);
    let r = s.report("bundle.zip.gz");
    let paths: Vec<&str> = r
        .iter()
        .map(|e| e["info"]["file"]["file_path"].as_str().unwrap())
        .collect();
    let at = paths
        .iter()
        .position(|p| *p == "bundle.zip.gz/bundle.zip/payload.txt")
        .unwrap_or_else(|| panic!("no payload entry in {paths:?}"));
    let payload = &r[at];
    // In ruleset key order, then rule order.
    assert_eq!(rule_names(payload), ["Marker_Seen", "Dropper_Marker"]);
    // The containers themselves do not hold the marker in the clear.
    assert!(rule_names(&r[0]).is_empty());

    let m = &payload["metadata"]["yara"]["matches"][1];
    assert_eq!(m["ruleset"], "vendor/dropper.yar");
    assert_eq!(m["namespace"], "vendor/dropper.yar");
    assert_eq!(m["tags"], serde_json::json!(["dropper", "test"]));
    assert_eq!(m["meta"]["author"], "assay tests");
    assert_eq!(m["meta"]["reference"], "https://example.org/yara/dropper");
    assert_eq!(m["meta"]["factor"], 7);
    let offset = "padding before the marker\n".len() + "assay yara marker: ".len();
    assert_eq!(
        m["strings"],
        serde_json::json!([{"identifier": "$marker", "offset": offset, "length": 24}])
    );

    // The rule's meta makes it a verdict source; the plain rule is only an indicator.
    let c = &payload["classification"];
    assert_eq!(c["classification"], 3, "{c}");
    assert_eq!(c["factor"], 7);
    assert_eq!(c["result"], "Win32.Dropper.Marker");
    assert_eq!(c["scan_results"][0]["name"], "yara:vendor/dropper.yar");
    assert_eq!(c["scan_results"].as_array().unwrap().len(), 1, "{c}");
    let indicators: Vec<&str> = payload["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["category"] == "yara")
        .map(|i| i["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        indicators,
        [
            "Matches YARA rule Marker_Seen from ruleset plain.yara",
            "Matches YARA rule Dropper_Marker from ruleset vendor/dropper.yar: the test dropper's marker"
        ]
    );
    let root = &r[0]["classification"];
    assert_eq!(root["classification"], 3);
    assert_eq!(root["propagated"], true);
    assert_eq!(
        root["propagation_source"],
        "bundle.zip.gz/bundle.zip/payload.txt"
    );
    // The report says which rules it was scanned with.
    let id = r[0]["metadata"]["yara"]["ruleset_id"].as_str().unwrap();
    assert_eq!(id.len(), 40);
    assert_eq!(s.code, 1);
}

/// Written for LOKI and THOR: tests the variables they define for each file.
const LOKI_RULE: &str = r#"
rule Loki_Fake_Svchost {
    meta:
        description = "svchost.exe outside System32"
    condition:
        filename == "svchost.exe" and extension == ".exe" and filetype == "EXE"
            and not filepath contains "System32" and owner == ""
}
rule Loki_Any_Exe_Under_Temp {
    condition:
        filetype == "EXE" and filepath matches /\/Temp$/ and md5 matches /^[0-9a-f]{32}$/
}
"#;

#[test]
fn rules_written_for_loki_see_each_files_name_path_extension_and_type() {
    let dir = TempDir::new("yara-loki");
    let rules = rules_dir(&dir, &[("loki.yar", LOKI_RULE)]);
    let mut zipped = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut zipped));
        let options = zip::write::SimpleFileOptions::default();
        for (name, data) in [
            ("Windows/System32/svchost.exe", &b"MZ genuine"[..]),
            ("Users/x/AppData/Temp/svchost.exe", b"MZ fake"),
            ("Users/x/AppData/Temp/svchost.txt", b"MZ renamed"),
            ("Users/x/AppData/Temp/notes.exe", b"not an executable"),
        ] {
            zip.start_file(name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
    }
    let path = dir.path().join("collection.zip");
    std::fs::write(&path, zipped).unwrap();
    let s = scan_with_rules(&dir, &rules, &[path]);
    let r = s.report("collection.zip");
    let matched: Vec<(&str, Vec<&str>)> = r
        .iter()
        .map(|e| {
            (
                e["info"]["file"]["file_path"].as_str().unwrap(),
                rule_names(e),
            )
        })
        .collect();
    assert_eq!(
        matched,
        [
            ("collection.zip", vec![]),
            ("collection.zip/Windows/System32/svchost.exe", vec![]),
            (
                "collection.zip/Users/x/AppData/Temp/svchost.exe",
                vec!["Loki_Fake_Svchost", "Loki_Any_Exe_Under_Temp"]
            ),
            (
                "collection.zip/Users/x/AppData/Temp/svchost.txt",
                vec!["Loki_Any_Exe_Under_Temp"]
            ),
            ("collection.zip/Users/x/AppData/Temp/notes.exe", vec![]),
        ]
    );
}

#[test]
fn a_broken_ruleset_is_left_out_and_the_others_still_match() {
    let dir = TempDir::new("yara-broken");
    let rules = rules_dir(
        &dir,
        &[("a-broken.yar", BROKEN_RULE), ("b-good.yar", PLAIN_RULE)],
    );
    let s = scan_with_rules(&dir, &rules, &[nested_payload(dir.path())]);
    let r = s.report("bundle.zip.gz");
    let payload = r
        .iter()
        .find(|e| e["info"]["file"]["file_name"] == "payload.txt")
        .unwrap();
    assert_eq!(rule_names(payload), ["Marker_Seen"]);
    // A match without verdict meta leaves the file unclassified.
    assert_eq!(payload["classification"]["classification"], 0);
}

/// Polls `GET path` until `done` accepts the answer, for up to 20 seconds.
fn poll_until(s: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let v = s.get(path).json();
        if done(&v) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{path} never changed: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_server_reports_rulesets_and_reloads_edits_without_a_restart() {
    let dir = TempDir::new("yara-server");
    let rules = rules_dir(
        &dir,
        &[("broken.yar", BROKEN_RULE), ("good.yar", PLAIN_RULE)],
    );
    let config = format!(
        "[yara]\nrules_dir = {:?}\npoll_secs = 1\n",
        rules.display().to_string()
    );
    let s = Server::start(&dir, &config);

    let status = s.get("/api/tiscale/v2/sync-status").json();
    assert_eq!(status["revision"], 1, "{status}");
    let sets = status["rulesets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0]["key"], "broken.yar");
    assert_eq!(sets[1]["key"], "good.yar");
    assert_eq!(sets[1]["errors"], serde_json::json!([]));
    assert_eq!(sets[1]["hash"].as_str().unwrap().len(), 40);
    let error = sets[0]["errors"][0].as_str().unwrap();
    assert!(error.contains("broken.yar:4:"), "no line number in {error}");
    let only = s.get("/api/tiscale/v2/sync-status?errorOnly=true").json();
    assert_eq!(only["rulesets"].as_array().unwrap().len(), 1);
    assert_eq!(only["rulesets"][0]["key"], "broken.yar");
    assert_eq!(
        s.get("/api/tiscale/v2/sync-status?errorOnly=maybe").status,
        400
    );

    // The good ruleset is active: an upload is scanned with it, and the report names the id.
    let id = s.get("/api/tiscale/v1/yara").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(id, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    let task = s.upload_ok("marker.txt", MARKER);
    let v = s.wait_processed(task, Duration::from_secs(30));
    assert_eq!(rule_names(&v["tc_report"][0]), ["Marker_Seen"]);
    assert_eq!(v["tc_report"][0]["metadata"]["yara"]["ruleset_id"], id);

    // Fixing the broken file is picked up by the watcher: new id, new revision, its rule active.
    std::fs::write(rules.join("broken.yar"), VERDICT_RULE).unwrap();
    let fixed = poll_until(&s, "/api/tiscale/v2/sync-status", |v| v["revision"] == 2);
    assert_eq!(fixed["rulesets"][0]["revision"], 2);
    assert_eq!(fixed["rulesets"][0]["errors"], serde_json::json!([]));
    assert_eq!(
        fixed["rulesets"][1]["revision"], 1,
        "good.yar did not change"
    );
    let new_id = s.get("/api/tiscale/v1/yara").json()["id"].clone();
    assert_ne!(new_id, id.as_str());
    let task = s.upload_ok("marker.txt", MARKER);
    let v = s.wait_processed(task, Duration::from_secs(30));
    assert_eq!(
        v["tc_report"][0]["classification"]["result"],
        "Win32.Dropper.Marker"
    );
    // The analysis thread made a new scanner for the new rules.
    assert_eq!(v["tc_report"][0]["metadata"]["yara"]["ruleset_id"], new_id);

    // Removing every ruleset brings back the empty id.
    std::fs::remove_file(rules.join("broken.yar")).unwrap();
    std::fs::remove_file(rules.join("good.yar")).unwrap();
    let empty = poll_until(&s, "/api/tiscale/v1/yara", |v| {
        v["id"] == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    });
    assert_eq!(empty["id"], "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(s.get("/api/tiscale/v2/sync-status").json()["revision"], 3);
}

#[test]
fn pull_all_recompiles_at_once_and_answers_417_when_sync_is_disabled() {
    let dir = TempDir::new("yara-pull");
    let rules = rules_dir(&dir, &[("good.yar", PLAIN_RULE)]);
    // A poll interval of an hour: only pull/all can pick up the change in time.
    let config = format!(
        "[yara]\nrules_dir = {:?}\npoll_secs = 3600\n",
        rules.display().to_string()
    );
    let s = Server::start(&dir, &config);
    let before = s.get("/api/tiscale/v1/yara").json()["id"].clone();
    std::fs::write(rules.join("more.yar"), VERDICT_RULE).unwrap();
    let r = s.req("POST", "/api/tiscale/v1/pull/all").send();
    assert_eq!(r.status, 200, "{}", r.text());
    let after = s.get("/api/tiscale/v1/yara").json()["id"].clone();
    assert_ne!(before, after);
    assert_eq!(r.json()["id"], after);
    assert_eq!(s.get("/api/tiscale/v2/sync-status").json()["revision"], 2);
    drop(s);

    let dir = TempDir::new("yara-nosync");
    let config = format!(
        "[yara]\nrules_dir = {:?}\nsync = false\n",
        rules.display().to_string()
    );
    let s = Server::start(&dir, &config);
    let r = s.req("POST", "/api/tiscale/v1/pull/all").send();
    assert_eq!(r.status, 417);
    assert!(r.text().contains("disabled"), "{}", r.text());
}
