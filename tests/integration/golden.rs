//! Golden reports: the full `tc_report` of chosen fixtures (metadata, indicators, tags,
//! verdicts, strings, story), compared with `tests/golden/<fixture>.json`. A change in what the
//! engine reports shows up as a diff of those files.
//!
//! Regenerate with `ASSAY_UPDATE_GOLDEN=1 cargo test --test integration golden`, then review the
//! diff before committing it.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::TempDir;
use crate::formats::{repo, scan_config_in};

/// The fixtures with a golden report: every kind of metadata reader and verdict source.
const FIXTURES: &[&str] = &[
    "pe/app32.exe",
    "pe/badhdr.exe",
    "pe/dropper.exe",
    "pe/hello-dotnet.exe",
    "pe/lib64-signed.dll",
    "pe/lib64-tampered.dll",
    "pe/packed.exe",
    "pe/wx.exe",
    "upx/elf64-nrv2b.upx",
    "upx/pe64-nrv2b.upx.dll",
    "formats/eicar.com.gz",
    "formats/zip-aes256.zip",
    "formats/word.docx",
    "formats/excel.xlsx",
    "formats/installer.msi",
    "formats/pdf-embedded.pdf",
    "formats/rtf-equation.rtf",
    "formats/mail-zip-gzip.eml",
];

/// Most listed strings kept per entry in a golden file (the rest only bloats the diff).
const GOLDEN_STRINGS: usize = 10;

/// Trims what would make golden files large without saying more, and sorts object keys: the
/// order of keys in a JSON object carries no meaning (and serde_json keeps insertion order when a
/// dependency turns on its `preserve_order` feature, as yara-x does).
fn normalise(mut report: Value) -> Value {
    for entry in report.as_array_mut().into_iter().flatten() {
        if let Some(listed) = entry
            .pointer_mut("/metadata/strings/listed")
            .and_then(Value::as_array_mut)
        {
            listed.truncate(GOLDEN_STRINGS);
        }
    }
    sorted(report)
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[test]
fn golden_reports() {
    let data = repo().join("tests/data");
    let paths: Vec<PathBuf> = FIXTURES.iter().map(|f| data.join(f)).collect();
    let dir = TempDir::new("golden");
    // Default configuration, and no hash lists: the verdicts come from the engine alone.
    let s = scan_config_in(dir.path(), &paths, Some(""));
    let update = std::env::var_os("ASSAY_UPDATE_GOLDEN").is_some();
    let golden_dir = repo().join("tests/golden");
    let mut changed = Vec::new();
    for fixture in FIXTURES {
        let name = fixture.rsplit('/').next().unwrap();
        let report = normalise(s.files[name]["tc_report"].clone());
        assert!(report.is_array(), "{fixture}: {}", s.files[name]);
        let text = serde_json::to_string_pretty(&report).unwrap() + "\n";
        let golden = golden_dir.join(format!("{}.json", fixture.replace('/', "--")));
        if update {
            std::fs::create_dir_all(&golden_dir).unwrap();
            std::fs::write(&golden, &text).unwrap();
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(text.as_str()) {
            changed.push(golden.display().to_string());
        }
    }
    assert!(
        changed.is_empty(),
        "reports differ from their golden files (regenerate with ASSAY_UPDATE_GOLDEN=1 and review the diff):\n{}",
        changed.join("\n")
    );
}
