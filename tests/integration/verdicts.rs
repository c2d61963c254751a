//! Verdicts through `assay scan`: the built-in EICAR signature, local hash lists (known bad and
//! known good), and how a container takes its children's verdict.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::TempDir;
use crate::formats::{repo, scan_config_in, Scan};

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Scans `paths` with hash lists in `dir/lists` holding `bad` and `good` lines.
fn scan_with_lists(dir: &TempDir, paths: &[PathBuf], bad: &str, good: &str) -> Scan {
    let lists = dir.path().join("lists");
    for (sub, text) in [("known-bad", bad), ("known-good", good)] {
        std::fs::create_dir_all(lists.join(sub)).unwrap();
        std::fs::write(lists.join(sub).join("list.txt"), text).unwrap();
    }
    let config = format!(
        "[verdicts]\nhash_lists = {:?}\n",
        lists.display().to_string()
    );
    scan_config_in(dir.path(), paths, Some(&config))
}

fn names(results: &Value) -> Vec<&str> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

#[test]
fn the_eicar_test_file_is_malicious_by_the_built_in_signature() {
    let dir = TempDir::new("eicar");
    let eicar = repo().join("tests/data/formats/eicar.com.gz");
    let plain = dir.path().join("notes.txt");
    std::fs::write(&plain, "nothing to see here\n").unwrap();
    let s = scan_with_lists(&dir, &[eicar, plain], "", "");
    assert_eq!(s.code, 1, "a malicious file makes the exit code 1");
    let r = s.report("eicar.com.gz");
    let child = &r[1]["classification"];
    assert_eq!(child["classification"], 3);
    assert_eq!(child["result"], "Text.Test.EICAR");
    assert_eq!(child["scan_results"][0]["name"], "assay-signatures");
    assert_eq!(child["scan_results"][0]["type"], "antivirus");
    let root = &r[0]["classification"];
    assert_eq!(root["classification"], 3);
    assert_eq!(root["propagated"], true);
    assert_eq!(root["propagation_source"], "eicar.com.gz/eicar.com");
    assert!(r[0]["story"].as_str().unwrap().contains("malicious"));
    // Nothing voted on the plain file: unknown, with the engine's own result.
    let clean = &s.report("notes.txt")[0]["classification"];
    assert_eq!(clean["classification"], 0);
    assert_eq!(names(&clean["scan_results"]), ["assay"]);
}

#[test]
fn a_known_bad_hash_is_malicious_with_the_list_as_its_source() {
    let dir = TempDir::new("bad");
    let sample = dir.path().join("sample.bin");
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&sample, &data).unwrap();
    let bad = format!("# our feed\n{} Win32.Trojan.Listed\n", sha256_hex(&data));
    let s = scan_with_lists(&dir, &[sample], &bad, "");
    assert_eq!(s.code, 1);
    let c = &s.report("sample.bin")[0]["classification"];
    assert_eq!(c["classification"], 3);
    assert_eq!(c["result"], "Win32.Trojan.Listed");
    assert_eq!(names(&c["scan_results"]), ["hash-list:known-bad/list.txt"]);
}

#[test]
fn known_good_silences_a_file_but_never_hides_a_malicious_child() {
    let dir = TempDir::new("good");
    let gz = repo().join("tests/data/formats/eicar.com.gz");
    let other = dir.path().join("tool.bin");
    std::fs::write(&other, b"a build of our own tool").unwrap();
    let good = format!(
        "{} the archive\n{} our tool\n",
        sha256_hex(&std::fs::read(&gz).unwrap()),
        sha256_hex(b"a build of our own tool")
    );
    let s = scan_with_lists(&dir, &[gz, other], "", &good);
    let tool = &s.report("tool.bin")[0]["classification"];
    assert_eq!(tool["classification"], 1);
    assert_eq!(tool["scan_results"][0]["type"], "whitelisting");
    let r = s.report("eicar.com.gz");
    let root = &r[0]["classification"];
    assert_eq!(root["classification"], 3, "{root}");
    assert_eq!(root["propagated"], true);
    // Its own vote is still listed: it is known good, and it holds a known-bad file.
    assert_eq!(
        names(&root["scan_results"]),
        ["hash-list:known-good/list.txt"]
    );
    assert_eq!(s.code, 1);
}

#[test]
fn the_server_reloads_hash_lists_without_a_restart() {
    let dir = TempDir::new("lists-server");
    let s = crate::common::Server::start(&dir, "");
    let data = b"a file that a feed will call bad a moment later".to_vec();
    let id = s.upload_ok("later.bin", &data);
    let v = s.wait_processed(id, std::time::Duration::from_secs(30));
    assert_eq!(v["tc_report"][0]["classification"]["classification"], 0);
    // The default directory: <data_dir>/hash-lists/known-bad/.
    let bad = s.data_dir.join("hash-lists/known-bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("feed.txt"),
        format!("{} Win32.Trojan.Later\n", sha256_hex(&data)),
    )
    .unwrap();
    // The directory is checked for changes every 2 seconds.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let id = s.upload_ok("later.bin", &data);
    let v = s.wait_processed(id, std::time::Duration::from_secs(30));
    let c = &v["tc_report"][0]["classification"];
    assert_eq!(c["classification"], 3, "{c}");
    assert_eq!(c["result"], "Win32.Trojan.Later");
    assert_eq!(c["scan_results"][0]["name"], "hash-list:known-bad/feed.txt");
}
