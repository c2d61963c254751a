//! The analysis engine through `assay scan`: every committed format fixture (tests/data/formats,
//! made by scripts/make-fixtures.sh, listed in its MANIFEST.json) and the hostile archives that
//! scripts/make-bombs.py writes. Each budget and each hostile name is asserted as an explicit
//! finding in the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{bin, TempDir};

const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Scan {
    pub code: i32,
    /// One report (or error) per scanned file, by file name.
    pub files: BTreeMap<String, Value>,
}

impl Scan {
    pub fn report(&self, name: &str) -> &Vec<Value> {
        self.files[name]["tc_report"]
            .as_array()
            .unwrap_or_else(|| panic!("no report for {name}: {}", self.files[name]))
    }
}

/// Runs `assay scan` over `paths` with an optional `[unpacking]` TOML section, from `cwd`.
fn scan_in(cwd: &Path, paths: &[PathBuf], unpacking: Option<&str>) -> Scan {
    let config = unpacking.map(|section| format!("[unpacking]\n{section}\n"));
    scan_config_in(cwd, paths, config.as_deref())
}

/// Runs `assay scan` over `paths` with an optional configuration file's text, from `cwd`.
pub fn scan_config_in(cwd: &Path, paths: &[PathBuf], config: Option<&str>) -> Scan {
    let mut cmd = Command::new(bin());
    cmd.current_dir(cwd).arg("scan");
    if let Some(text) = config {
        let config = cwd.join("scan.toml");
        std::fs::write(&config, text).unwrap();
        cmd.arg("--config").arg(&config);
    }
    let out = cmd.args(paths).output().expect("run assay scan");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let files = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let name = Path::new(v["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, v)
        })
        .collect();
    Scan {
        code: out.status.code().unwrap_or(-1),
        files,
    }
}

fn scan(paths: &[PathBuf], unpacking: Option<&str>) -> Scan {
    let dir = TempDir::new("scan");
    scan_in(dir.path(), paths, unpacking)
}

pub fn sha256(entry: &Value) -> &str {
    entry["info"]["file"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "sha256")
        .unwrap()["value"]
        .as_str()
        .unwrap()
}

fn limits(entry: &Value) -> Vec<String> {
    entry["info"]["unpacking"]["limits"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| l["limit"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn indicators(entry: &Value) -> Vec<String> {
    entry["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["description"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_format_fixture_yields_its_payload_with_its_lineage() {
    let dir = repo().join("tests/data/formats");
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("MANIFEST.json")).unwrap()).unwrap();
    assert!(
        manifest.len() >= 40,
        "the manifest lists {} fixtures",
        manifest.len()
    );
    // Fixtures that need no configuration are scanned in one run; the others one by one.
    let plain: Vec<PathBuf> = manifest
        .iter()
        .filter(|m| m.get("config").is_none())
        .map(|m| dir.join(m["file"].as_str().unwrap()))
        .collect();
    let mut results = scan(&plain, None).files;
    for m in manifest.iter().filter(|m| m.get("config").is_some()) {
        let section: String = m["config"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect();
        let one = scan(&[dir.join(m["file"].as_str().unwrap())], Some(&section));
        results.extend(one.files);
    }
    let mut failures = Vec::new();
    for m in &manifest {
        let file = m["file"].as_str().unwrap();
        let Some(report) = results[file]["tc_report"].as_array() else {
            failures.push(format!("{file}: no report: {}", results[file]));
            continue;
        };
        let ident = report[0]["info"]["identification"]["name"]
            .as_str()
            .unwrap();
        if ident != m["identification"] {
            failures.push(format!(
                "{file}: identified as {ident:?}, expected {}",
                m["identification"]
            ));
        }
        if let Some(expected) = m["payload_path"].as_str() {
            let found: Vec<&str> = report
                .iter()
                .filter(|e| sha256(e) == EICAR_SHA256)
                .map(|e| e["info"]["file"]["file_path"].as_str().unwrap())
                .collect();
            // The payload is the EICAR test file, so the upload is malicious because of it.
            let c = &report[0]["classification"];
            let source = c["propagation_source"].as_str().unwrap_or("");
            if c["classification"] != 3
                || c["result"] != "Text.Test.EICAR"
                || (report.len() > 1 && !found.contains(&source))
            {
                failures.push(format!("{file}: verdict not taken from the payload: {c}"));
            }
            if !found.contains(&expected) {
                failures.push(format!(
                    "{file}: payload expected at {expected:?}, found at {found:?}; warnings: {}",
                    report
                        .iter()
                        .map(|e| e["info"]["unpacking"]["warnings"].to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The hostile archives, generated by scripts/make-bombs.py into cargo's scratch directory for
/// integration tests (under `target/`), once per version of the script, and reused after that.
fn bombs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let script = repo().join("scripts/make-bombs.py");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&script).unwrap().hash(&mut h);
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = tmp.join(format!("bombs-{:016x}", h.finish()));
        if dir.is_dir() {
            return dir;
        }
        // Written aside and renamed, so a concurrent test run never sees a half-written set.
        let partial = tmp.join(format!("bombs-partial-{}", std::process::id()));
        let status = Command::new("python3")
            .arg(&script)
            .arg(&partial)
            .status()
            .expect("python3 runs scripts/make-bombs.py");
        assert!(status.success());
        if std::fs::rename(&partial, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        dir
    })
}

#[test]
fn a_zip_bomb_is_refused_by_its_ratio_before_inflating() {
    let s = scan(
        &[bombs().join("bomb-1g.zip"), bombs().join("bomb-1g.gz")],
        None,
    );
    assert_eq!(s.code, 0);
    for name in ["bomb-1g.zip", "bomb-1g.gz"] {
        let r = s.report(name);
        assert_eq!(r.len(), 1, "{name}: nothing is extracted");
        assert_eq!(limits(&r[0]), ["ratio"], "{name}");
        assert!(indicators(&r[0])[0].contains("ratio"), "{name}");
        assert!(r[0]["story"].as_str().unwrap().contains("limit"));
    }
}

#[test]
fn a_bomb_lying_about_its_size_is_stopped_while_inflating() {
    let s = scan(&[bombs().join("bomb-lying.zip")], None);
    let r = s.report("bomb-lying.zip");
    assert_eq!(r.len(), 1);
    let u = &r[0]["info"]["unpacking"];
    assert_eq!(u["status"], "failed");
    assert!(
        !limits(&r[0]).is_empty() || u["warnings"].to_string().contains("declared"),
        "{u}"
    );
}

#[test]
fn layers_like_42_zip_end_at_the_ratio_and_identical_layers_are_analysed_once() {
    let s = scan(&[bombs().join("layers-42.zip")], None);
    let r = s.report("layers-42.zip");
    assert!(r.len() < 100, "{} entries", r.len());
    let duplicates = r
        .iter()
        .filter(|e| {
            e["info"]["unpacking"]["warnings"]
                .to_string()
                .contains("same sha256")
        })
        .count();
    assert!(duplicates >= 15, "{duplicates} duplicates noted");
    assert!(r.iter().any(|e| limits(e).contains(&"ratio".to_string())));
}

#[test]
fn a_zip_with_100k_entries_stops_at_the_file_budget_and_says_so() {
    let s = scan(&[bombs().join("many-100k.zip")], None);
    let r = s.report("many-100k.zip");
    assert_eq!(r.len(), 10_001, "entry 0 and the default 10,000 files");
    assert_eq!(limits(&r[0]), ["files"]);
    assert!(r[0]["info"]["unpacking"]["limits"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("f10000.txt"));
    let s = scan(&[bombs().join("many-100k.zip")], Some("max_files = 20"));
    assert_eq!(s.report("many-100k.zip").len(), 21);
}

#[test]
fn the_time_budget_stops_the_walk_and_says_how_much_was_left() {
    // A millisecond: hashing the 11 MB zip alone takes longer on any machine, let alone
    // analysing its 100,000 files, so the budget runs out whatever the machine's speed. Where it
    // runs out does depend on the speed; the engine's unit tests stop a walk at every place
    // it looks at the clock and check each message.
    let s = scan(
        &[bombs().join("many-100k.zip")],
        Some("max_files = 200000\nmax_seconds = 0.001"),
    );
    let r = s.report("many-100k.zip");
    assert_eq!(limits(&r[0]), ["time"]);
    assert!(r.len() < 100_001, "{} entries", r.len());
    let detail = r[0]["info"]["unpacking"]["limits"][0]["detail"]
        .as_str()
        .unwrap();
    // Before the zip was read, while it was read, or while its members were analysed.
    assert!(detail.contains("time budget"), "{detail}");
    assert!(indicators(&r[0]).iter().any(|i| i.contains("(time)")));
}

#[test]
fn hostile_member_names_are_findings_and_never_touch_the_disk() {
    let cwd = TempDir::new("hostile");
    let s = scan_in(cwd.path(), &[bombs().join("hostile-names.zip")], None);
    assert_eq!(s.code, 0);
    let r = s.report("hostile-names.zip");
    assert_eq!(r.len(), 5);
    let found = indicators(&r[0]).join("\n");
    for expected in ["climbs out", "absolute path", "drive letter", "NUL byte"] {
        assert!(found.contains(expected), "{expected} missing from {found}");
    }
    let names: Vec<&str> = r[1..]
        .iter()
        .map(|e| e["info"]["file"]["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "../../evil.txt",
            "/etc/evil.txt",
            "C:\\evil.txt",
            "nul\\u{0}byte.txt"
        ]
    );
    // Nothing was written next to the scan or above it.
    let written: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(written.is_empty(), "{written:?}");
    assert!(!cwd.path().parent().unwrap().join("evil.txt").exists());
    assert!(!Path::new("/etc/evil.txt").exists());
}

fn nested_fixture() -> PathBuf {
    repo().join("tests/data/formats/nested-50.zip")
}

#[test]
fn the_depth_budget_stops_nesting_and_can_make_the_file_suspicious() {
    let s = scan(&[nested_fixture()], Some("max_depth = 5"));
    assert_eq!(s.code, 0, "a limit alone is a finding, not a verdict");
    let r = s.report("nested-50.zip");
    assert_eq!(r.len(), 6);
    assert_eq!(limits(&r[5]), ["depth"]);
    assert!(indicators(&r[5])[0].contains("depth"));
    assert_eq!(r[0]["classification"]["classification"], 0);

    let s = scan(
        &[nested_fixture()],
        Some("max_depth = 5\nalert_exceeds_max = true"),
    );
    assert_eq!(s.code, 1, "suspicious: exit code 1");
    let r = s.report("nested-50.zip");
    assert_eq!(r[5]["classification"]["classification"], 2);
    assert_eq!(r[0]["classification"]["classification"], 2);
    assert_eq!(r[0]["classification"]["propagated"], true);
    assert_eq!(
        r[0]["classification"]["propagation_source"],
        r[5]["info"]["file"]["file_path"]
    );
    assert!(r[0]["classification"]["scan_results"][0]["name"].is_string());
}

#[test]
fn the_file_and_byte_budgets_are_findings() {
    let s = scan(&[nested_fixture()], Some("max_files = 3"));
    let r = s.report("nested-50.zip");
    assert_eq!(r.len(), 4);
    assert!(r.iter().any(|e| limits(e) == ["files"]));
    let s = scan(
        &[bombs().join("many-100k.zip")],
        Some("max_total_bytes = 100"),
    );
    let r = s.report("many-100k.zip");
    assert_eq!(limits(&r[0]), ["bytes"]);
    let total: u64 = r[1..]
        .iter()
        .map(|e| e["info"]["file"]["size"].as_u64().unwrap())
        .sum();
    assert!(total <= 100, "{total} bytes unpacked");
}

#[test]
fn an_encrypted_member_without_a_matching_password_is_a_finding() {
    let dir = repo().join("tests/data/formats");
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("MANIFEST.json")).unwrap()).unwrap();
    let encrypted: Vec<PathBuf> = manifest
        .iter()
        .map(|m| m["file"].as_str().unwrap())
        .filter(|f| f.contains("zipcrypto") || f.contains("aes"))
        .map(|f| dir.join(f))
        .collect();
    assert!(encrypted.len() >= 2, "{encrypted:?}");
    let s = scan(&encrypted, Some("passwords = [\"not-it\"]"));
    for (name, v) in &s.files {
        let r = v["tc_report"].as_array().unwrap();
        assert!(
            r.iter()
                .any(|e| limits(e).contains(&"password".to_string())),
            "{name}: {}",
            r[0]["info"]["unpacking"]
        );
        assert!(r.iter().all(|e| sha256(e) != EICAR_SHA256), "{name}");
    }
}

#[test]
fn scan_exit_codes_and_directory_walk() {
    let dir = TempDir::new("walk");
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/a.txt"), b"plain text\n").unwrap();
    std::fs::write(dir.path().join("b.bin"), [0u8, 1, 2, 3]).unwrap();
    let s = scan(&[dir.path().to_path_buf()], None);
    assert_eq!(s.code, 0);
    assert_eq!(s.files.len(), 2);
    let s = scan(&[dir.path().join("missing")], None);
    assert_eq!(s.code, 2);
    assert!(s.files["missing"]["error"].is_string());
}

#[test]
fn an_upload_through_the_server_reports_every_level_with_its_lineage() {
    let dir = TempDir::new("nested-http");
    let s = crate::common::Server::start(&dir, "");
    let fixture = std::fs::read(repo().join("tests/data/formats/nested.tgz")).unwrap();
    let id = s.upload_ok("nested.tgz", &fixture);
    let v = s.wait_processed(id, std::time::Duration::from_secs(30));
    let r = v["tc_report"].as_array().unwrap();
    let paths: Vec<&str> = r
        .iter()
        .map(|e| e["info"]["file"]["file_path"].as_str().unwrap())
        .collect();
    let eicar = r
        .iter()
        .find(|e| sha256(e) == EICAR_SHA256)
        .expect("payload reported");
    let lineage = eicar["info"]["file"]["file_path"].as_str().unwrap();
    assert_eq!(lineage.matches('/').count(), 4, "{paths:?}");
    // Every ancestor in the lineage has its own entry, before the payload (depth first).
    let at = paths.iter().position(|p| *p == lineage).unwrap();
    let mut prefix = String::new();
    for part in lineage.split('/').take(4) {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        let i = paths
            .iter()
            .position(|p| *p == prefix)
            .unwrap_or_else(|| panic!("{prefix} in {paths:?}"));
        assert!(i < at);
    }
    let stats = &r[0]["info"]["statistics"]["file_stats"];
    let counted: u64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, r.len());
}

#[test]
fn truncated_containers_yield_what_could_be_read_with_a_warning() {
    let dir = repo().join("tests/data/formats");
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("MANIFEST.json")).unwrap()).unwrap();
    let work = TempDir::new("truncated");
    let mut paths = Vec::new();
    for m in manifest.iter().filter(|m| m.get("config").is_none()) {
        let file = m["file"].as_str().unwrap();
        let data = std::fs::read(dir.join(file)).unwrap();
        // Cut inside the payload's container data, keeping the format's magic.
        let cut = work.path().join(format!("cut-{file}"));
        std::fs::write(&cut, &data[..data.len() * 2 / 3]).unwrap();
        paths.push(cut);
    }
    let s = scan(&paths, None);
    // 1: some still yield the EICAR payload, which is flagged. Never 2 (an error).
    assert_eq!(s.code, 1, "a truncated file is a finding, not an error");
    assert_eq!(s.files.len(), paths.len());
    let mut silent = Vec::new();
    for (name, v) in &s.files {
        let r = v["tc_report"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {v}"));
        let u = &r[0]["info"]["unpacking"];
        // A container that lost members must say something was wrong somewhere in its tree.
        let said = r.iter().any(|e| {
            let u = &e["info"]["unpacking"];
            !u["warnings"].as_array().unwrap().is_empty() || u.get("limits").is_some()
        });
        if u["status"] != "not_applicable" && !said && r.len() == 1 {
            silent.push(name.clone());
        }
    }
    assert!(
        silent.is_empty(),
        "truncated containers with no members and no warning: {silent:?}"
    );
}

#[test]
fn a_panicking_decoder_becomes_a_warning_and_the_task_completes() {
    let s = scan(
        &[repo().join("tests/data/hostile/lha-delharc-panic.lzh")],
        None,
    );
    assert_eq!(s.code, 0);
    let r = s.report("lha-delharc-panic.lzh");
    assert_eq!(r[0]["info"]["identification"]["name"], "LHA");
    let warnings = r[0]["info"]["unpacking"]["warnings"].to_string();
    assert!(warnings.contains("unpacker failed (panic"), "{warnings}");
    assert!(!r[0]["classification"]["scan_results"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn upx_packed_executables_are_restored() {
    let dir = repo().join("tests/data/upx");
    let expected = std::fs::read_to_string(dir.join("EXPECTED")).unwrap();
    let list: Vec<(String, String)> = expected
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect();
    assert!(list.len() >= 40);
    let paths: Vec<PathBuf> = list.iter().map(|(f, _)| dir.join(f)).collect();
    let s = scan(&paths, None);
    let mut failures = Vec::new();
    for (file, restored) in &list {
        let r = s.report(file);
        let ident = r[0]["info"]["identification"]["name"].as_str().unwrap();
        let child = &r[1]["info"]["file"];
        let ext = file
            .rsplit('.')
            .next()
            .filter(|e| ["exe", "dll"].contains(e));
        let want_path = match ext {
            Some(ext) => format!("{file}/unpacked.{ext}"),
            None => format!("{file}/unpacked"),
        };
        if !ident.ends_with("(UPX)") || child["file_path"] != want_path.as_str() {
            failures.push(format!(
                "{file}: {ident}, first child {}",
                child["file_path"]
            ));
        }
        if sha256(&r[1]) != restored {
            failures.push(format!("{file}: restored file differs from EXPECTED"));
        }
        // The pe* programs carry EICAR as RCDATA 100: found in the restored file's resources.
        if ext.is_some() && file.starts_with("pe") {
            let payload = format!("{want_path}/resources/RCDATA/100/1033");
            let found = r.iter().any(|e| {
                e["info"]["file"]["file_path"] == payload.as_str() && sha256(e) == EICAR_SHA256
            });
            if !found || r[0]["classification"]["propagation_source"] != payload.as_str() {
                failures.push(format!("{file}: no EICAR at {payload}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn archive_directories_are_listed_with_methods_and_encryption() {
    let dir = repo().join("tests/data/formats");
    let s = scan(
        &[
            dir.join("zip-aes256.zip"),
            dir.join("7z-aes.7z"),
            dir.join("tar-pax-path.tar"),
        ],
        None,
    );
    let entries = |name: &str| s.report(name)[0]["metadata"]["archive"]["entries"].clone();
    let zip = entries("zip-aes256.zip");
    assert_eq!(zip[0]["name"], "dir/eicar.com");
    assert_eq!(zip[0]["size"], 68);
    assert_eq!(zip[0]["encrypted"], true);
    assert_eq!(zip[0]["method"], "deflate");
    assert_eq!(entries("7z-aes.7z")[0]["encrypted"], true);
    // tar has no directory of its own: what was extracted is listed.
    let tar = entries("tar-pax-path.tar");
    assert_eq!(tar[0]["size"], 68, "{tar}");
    assert_eq!(
        s.report("tar-pax-path.tar")[0]["metadata"]["archive"]["count"],
        1
    );
}
