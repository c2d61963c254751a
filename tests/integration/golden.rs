//! Golden reports: the full `tc_report` of chosen fixtures (metadata, indicators, tags,
//! verdicts, strings, story), compared with `tests/golden/<fixture>.json`. A change in what the
//! engine reports shows up as a diff of those files.
//!
//! Beside each, `tests/golden/shapes/<fixture>.json` holds that report in every shape a client
//! can ask for (each report type with each view, field filters, v13), keyed by the query string,
//! computed by the same function `GET task` uses.
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
    // Known disagreements between a format's two parsers (tests/data/disagree/README.md): these
    // goldens record what each side makes of them, until one parse per format fixes them.
    "disagree/rtf-objdata-escapes.rtf",
    "disagree/pdf-utf16le-name.pdf",
    "disagree/pe-damaged-imports.exe",
    "disagree/mail-continuation-first.eml",
];

/// Most listed strings kept per entry in a golden file (the rest only bloats the diff).
const GOLDEN_STRINGS: usize = 10;

/// Trims what would make golden files large without saying more, and sorts object keys: the
/// order of keys in a JSON object carries no meaning (and serde_json keeps insertion order when a
/// dependency turns on its `preserve_order` feature, as yara-x does).
fn normalise(mut report: Value) -> Value {
    for entry in report.as_array_mut().into_iter().flatten() {
        // Nested, or flattened by view=flat.
        for pointer in ["/metadata/strings/listed", "/metadata.strings.listed"] {
            if let Some(listed) = entry.pointer_mut(pointer).and_then(Value::as_array_mut) {
                listed.truncate(GOLDEN_STRINGS);
            }
        }
    }
    sorted(report)
}

/// The shapes kept in golden files, as `GET task` query strings. `report_type=large` with no view
/// or with `view=extended` is the full report itself (asserted, not stored again).
const SHAPES: &[&str] = &[
    "report_type=small",
    "report_type=small&view=flat",
    "report_type=small&view=extended",
    "report_type=medium",
    "report_type=medium&view=flat",
    "report_type=medium&view=extended",
    "report_type=large&view=flat",
    "report_type=small&v13=true",
    r#"include_fields=["info.file.hashes.value","classification.scan_results.type","metadata.application.pe.sections.name"]"#,
    r#"report_type=medium&exclude_fields=["interesting_strings","indicators.description","info.file.hashes"]"#,
];

/// `report` in every shape of [`SHAPES`], keyed by query.
fn shapes(report: &Value) -> Value {
    use assay::report::shape::{resolve, shape, Catalog, Params, Shape};
    let stored = serde_json::to_vec(report).unwrap();
    let same = |s: &Shape| serde_json::from_slice::<Value>(&shape(&stored, s).unwrap()).unwrap();
    let catalog = Catalog::default();
    for q in ["report_type=large", "full=true&view=extended"] {
        let p = if q.contains("full") {
            Params {
                full: Some(true),
                view: Some("extended"),
                ..Params::default()
            }
        } else {
            Params {
                report_type: Some("large"),
                ..Params::default()
            }
        };
        assert_eq!(&same(&resolve(&p, &catalog).unwrap()), report, "{q}");
    }
    let mut out = serde_json::Map::new();
    for q in SHAPES {
        let mut p = Params::default();
        for (k, v) in q.split('&').map(|kv| kv.split_once('=').unwrap()) {
            match k {
                "report_type" => p.report_type = Some(v),
                "view" => p.view = Some(v),
                "v13" => p.v13 = v == "true",
                "include_fields" => p.include_fields = Some(v),
                "exclude_fields" => p.exclude_fields = Some(v),
                _ => unreachable!("{k}"),
            }
        }
        let shaped = same(&resolve(&p, &catalog).unwrap());
        out.insert(q.to_string(), normalise(shaped));
    }
    Value::Object(out)
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
        let full = s.files[name]["tc_report"].clone();
        assert!(full.is_array(), "{fixture}: {}", s.files[name]);
        let file = format!("{}.json", fixture.replace('/', "--"));
        for (golden, value) in [
            (golden_dir.join(&file), normalise(full.clone())),
            (golden_dir.join("shapes").join(&file), shapes(&full)),
        ] {
            let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
            if update {
                std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
                std::fs::write(&golden, &text).unwrap();
            } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(text.as_str()) {
                changed.push(golden.display().to_string());
            }
        }
    }
    assert!(
        changed.is_empty(),
        "reports differ from their golden files (regenerate with ASSAY_UPDATE_GOLDEN=1 and review the diff):\n{}",
        changed.join("\n")
    );
}
