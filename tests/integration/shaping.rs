//! Report shaping over HTTP: `report_type` (built-in and custom), `full`, `view`,
//! `include_fields`/`exclude_fields` and `v13` on `GET /api/tiscale/v1/task/{id}`, and the 400s.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(30);

/// A format fixture's bytes.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(crate::formats::repo().join("tests/data/formats").join(name)).unwrap()
}

fn report(s: &Server, id: i64, query: &str) -> Value {
    let r = s.get(&format!("/api/tiscale/v1/task/{id}?{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()["tc_report"].clone()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const SUMMARY: [&str; 6] = [
    "info",
    "classification",
    "indicators",
    "interesting_strings",
    "story",
    "tags",
];

#[test]
fn report_types_full_and_views_shape_the_stored_report() {
    let dir = TempDir::new("shaping");
    let s = Server::start(&dir, "");
    // A PDF with EICAR embedded: two entries, an indicator on the PDF, a verdict, metadata.
    let id = s.upload_ok("pdf-embedded.pdf", &fixture("pdf-embedded.pdf"));
    let large = s.wait_processed(id, WAIT)["tc_report"].clone();
    assert_eq!(large.as_array().unwrap().len(), 2);
    assert!(!large[0]["indicators"].as_array().unwrap().is_empty());
    assert!(large[0]["metadata"].is_object());
    assert!(large[0]["info"]["unpacking"].is_object());

    // The default is the summary, and so is full=false.
    let medium = report(&s, id, "");
    for e in medium.as_array().unwrap() {
        assert_eq!(keys(e), SUMMARY, "{e}");
        assert_eq!(keys(&e["info"]), ["file", "identification"]);
        for i in e["indicators"].as_array().unwrap() {
            assert_eq!(keys(i), ["priority", "category", "description"]);
        }
    }
    assert_eq!(medium[1]["classification"]["classification"], 3);
    assert_eq!(report(&s, id, "full=false"), medium);
    assert_eq!(report(&s, id, "report_type=medium"), medium);

    // full=true and report_type=large are the whole stored report.
    assert_eq!(report(&s, id, "full=true"), large);
    assert_eq!(report(&s, id, "full=1&view=extended"), large);

    let small = report(&s, id, "report_type=small");
    assert_eq!(keys(&small[0]), ["info", "classification"]);
    let names: Vec<&str> = small[0]["info"]["file"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["md5", "sha1", "sha256"]);
    // report_type wins over full.
    assert_eq!(report(&s, id, "report_type=small&full=true"), small);

    // A view without full: the summary, then the view.
    let extended = report(&s, id, "view=extended");
    assert_eq!(extended[0]["metadata"], large[0]["metadata"]);
    assert_eq!(extended[0]["indicators"], large[0]["indicators"]);
    assert!(extended[0]["info"].get("unpacking").is_none());
    let flat = report(&s, id, "view=flat");
    let e = flat[1].as_object().unwrap();
    assert_eq!(
        e["info.file.file_name"],
        large[1]["info"]["file"]["file_name"]
    );
    assert_eq!(e["classification.classification"], 3);
    assert!(e["info.file.hashes"].is_array());
    assert!(e.keys().all(|k| !k.starts_with("metadata")), "{e:?}");
    let large_flat = report(&s, id, "report_type=large&view=flat");
    assert!(large_flat[0].get("info.unpacking.status").is_some());

    // Field filters after the report type, through arrays.
    let q = "report_type=large&include_fields=%5B%22info.file.hashes.name%22%2C%22classification.scan_results.type%22%5D";
    let picked = report(&s, id, q);
    assert_eq!(keys(&picked[1]), ["info", "classification"]);
    assert_eq!(
        picked[1]["info"]["file"]["hashes"][0],
        serde_json::json!({"name": "md5"})
    );
    let dropped = report(
        &s,
        id,
        "exclude_fields=%5B%22info%22%2C%22indicators.description%22%5D",
    );
    assert_eq!(keys(&dropped[0])[0], "classification");
    let indicators: Vec<&Value> = dropped
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["indicators"].as_array().unwrap())
        .collect();
    assert!(!indicators.is_empty());
    for i in indicators {
        assert_eq!(keys(i), ["priority", "category"], "{i}");
    }
    // include_fields without a report type picks from the whole report.
    let meta = report(&s, id, "include_fields=%5B%22metadata%22%5D");
    assert_eq!(
        meta[0],
        serde_json::json!({"metadata": large[0]["metadata"]})
    );

    // v13: scan result types as numbers, in the seed's order (1 antivirus, 5 internal, ...).
    let v13 = report(&s, id, "v13=true");
    for (entry, full) in v13
        .as_array()
        .unwrap()
        .iter()
        .zip(large.as_array().unwrap())
    {
        let numbers = &entry["classification"]["scan_results"];
        let names = &full["classification"]["scan_results"];
        assert!(!names.as_array().unwrap().is_empty());
        for (n, name) in numbers
            .as_array()
            .unwrap()
            .iter()
            .zip(names.as_array().unwrap())
        {
            let expected = assay::report::shape::SCAN_TYPES
                .iter()
                .position(|t| *t == name["type"])
                .unwrap();
            assert_eq!(n["type"], expected, "{name}");
        }
    }
}

#[test]
fn malformed_shaping_parameters_are_400_with_the_reason() {
    let dir = TempDir::new("shaping-400");
    let s = Server::start(&dir, "");
    let id = s.upload_ok("f.txt", b"plain text");
    let _ = s.wait_processed(id, WAIT);
    for (q, words) in [
        ("report_type=huge", "small, medium, large"),
        ("view=tree", "flat, extended"),
        ("full=maybe", "full"),
        ("v13=2", "v13"),
        (
            "include_fields=classification",
            "include_fields: must be a JSON array",
        ),
        ("exclude_fields=%5B1%5D", "exclude_fields"),
        ("include_fields=%5B%22a..b%22%5D", "not a dotted field path"),
    ] {
        let r = s.get(&format!("/api/tiscale/v1/task/{id}?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert!(r.message().contains(words), "{q}: {}", r.message());
    }
    // Empty values are absent values.
    let r = s.get(&format!("/api/tiscale/v1/task/{id}?report_type=&view="));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(keys(&r.json()["tc_report"][0]), SUMMARY);
}

#[test]
fn custom_report_types_load_at_start_and_reload_on_change() {
    let dir = TempDir::new("shaping-custom");
    let types = dir.path().join("data/report-types");
    std::fs::create_dir_all(&types).unwrap();
    std::fs::write(
        types.join("soar.json"),
        r#"{"include": ["info.file.hashes", "classification"], "exclude": ["classification.scan_results"]}"#,
    )
    .unwrap();
    std::fs::write(
        types.join("broken.json"),
        r#"{"name": "large", "include": []}"#,
    )
    .unwrap();
    let s = Server::start(&dir, "");
    let id = s.upload_ok("eicar.com.gz", &fixture("eicar.com.gz"));
    let _ = s.wait_processed(id, WAIT);

    let soar = report(&s, id, "report_type=soar");
    assert_eq!(keys(&soar[0]), ["info", "classification"]);
    assert_eq!(keys(&soar[0]["info"]), ["file"]);
    assert_eq!(keys(&soar[0]["info"]["file"]), ["hashes"]);
    assert!(soar[0]["classification"].get("scan_results").is_none());
    assert_eq!(soar[1]["classification"]["classification"], 3);

    // An unknown type names the known ones and the file that was left out.
    let r = s.get(&format!("/api/tiscale/v1/task/{id}?report_type=siem"));
    assert_eq!(r.status, 400);
    let m = r.message();
    assert!(m.contains("small, medium, large, soar"), "{m}");
    assert!(m.contains("broken.json"), "{m}");
    assert!(s.log().contains("broken.json"), "{}", s.log());

    // A new file is picked up without a restart.
    std::fs::write(types.join("siem.json"), r#"{"include": ["story"]}"#).unwrap();
    let started = Instant::now();
    let siem = loop {
        let r = s.get(&format!("/api/tiscale/v1/task/{id}?report_type=siem"));
        if r.status == 200 {
            break r.json()["tc_report"].clone();
        }
        assert!(started.elapsed() < WAIT, "siem never loaded: {}", r.text());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(keys(&siem[0]), ["story"]);
}

/// A zip of `n` small text files, each different.
fn many_files_zip(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut zipped = Vec::new();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut zipped));
    for i in 0..n {
        let options = zip::write::SimpleFileOptions::default();
        z.start_file(format!("dir/file-{i}.txt"), options).unwrap();
        writeln!(z, "line {i} of a generated file, {}", i * 7919 % 104_729).unwrap();
    }
    z.finish().unwrap();
    zipped
}

#[test]
fn a_large_report_is_sent_as_it_is_shaped_and_a_damaged_one_is_cut_short() {
    let dir = TempDir::new("streamed");
    let s = Server::start(&dir, "");
    let id = s.upload_ok("many.zip", &many_files_zip(1500));
    let large = s.wait_processed(id, Duration::from_secs(120));
    let entries = large["tc_report"].as_array().unwrap();
    assert_eq!(entries.len(), 1501);

    // Sent chunked, with no length: the report and its shapes are made as they are sent.
    let chunked = |r: &Resp| {
        r.header("Transfer-Encoding") == Some("chunked") && r.header("Content-Length").is_none()
    };
    let full = s.get(&format!("/api/tiscale/v1/task/{id}?full=true"));
    assert!(chunked(&full), "{:?}", full.headers);
    assert_eq!(full.json(), large);
    let medium = s.get(&format!("/api/tiscale/v1/task/{id}"));
    assert!(chunked(&medium), "{:?}", medium.headers);
    let medium = medium.json();
    assert_eq!(medium["task_id"], id);
    let shaped = medium["tc_report"].as_array().unwrap();
    assert_eq!(shaped.len(), 1501);
    for (e, whole) in shaped.iter().zip(entries) {
        assert_eq!(keys(e), SUMMARY, "{e}");
        assert_eq!(e["info"]["file"], whole["info"]["file"]);
    }
    let flat = report(&s, id, "view=flat&full=true");
    assert_eq!(
        flat[1500]["info.file.file_path"],
        entries[1500]["info"]["file"]["file_path"]
    );

    // A small report still goes whole, with its length.
    let small_id = s.upload_ok("one.txt", b"one small file\n");
    s.wait_processed(small_id, WAIT);
    let small = s.get(&format!("/api/tiscale/v1/task/{small_id}"));
    assert!(small.header("Content-Length").is_some() && !chunked(&small));

    // A stored report damaged halfway: the answer is cut short (no last chunk, the connection
    // closed), never a shorter report that looks whole.
    let db = rusqlite::Connection::open(s.data_dir.join("assay.db")).unwrap();
    let stored: Vec<u8> = db
        .query_row("SELECT report FROM tasks WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    let mut damaged = stored.clone();
    let middle = damaged.len() / 2;
    for b in &mut damaged[middle..middle + 64] {
        *b = !*b;
    }
    db.execute(
        "UPDATE tasks SET report = ?2 WHERE id = ?1",
        rusqlite::params![id, damaged],
    )
    .unwrap();
    let cut = s.get(&format!("/api/tiscale/v1/task/{id}"));
    assert_eq!(cut.status, 200);
    assert!(chunked(&cut));
    assert!(serde_json::from_slice::<Value>(&cut.body).is_err());
    assert!(cut
        .body
        .starts_with(format!("{{\"task_id\":{id},").as_bytes()));
    s.wait_log("cannot send the response");
    s.wait_log(" 200 (cut short) ");
    // Damaged from the start: found before the status is sent.
    let mut damaged = stored;
    for b in &mut damaged[2..66] {
        *b = !*b;
    }
    db.execute(
        "UPDATE tasks SET report = ?2 WHERE id = ?1",
        rusqlite::params![id, damaged],
    )
    .unwrap();
    let refused = s.get(&format!("/api/tiscale/v1/task/{id}"));
    assert_eq!(refused.status, 500, "{}", refused.text());
    assert!(
        refused.message().contains("cannot be read"),
        "{}",
        refused.text()
    );
    // The server goes on answering.
    assert_eq!(
        s.get(&format!("/api/tiscale/v1/task/{small_id}")).status,
        200
    );
}
