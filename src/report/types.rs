//! Custom report types: JSON files in `reports.types_dir`, loaded at start and again whenever
//! the directory changes (checked at most once a second, when a report is read).
//!
//! A file `soar.json`:
//!
//! ```json
//! {"name": "soar", "include": ["info.file", "classification.classification"], "exclude": []}
//! ```
//!
//! `name` defaults to the file's stem; `include` and `exclude` are dotted paths into the full
//! report, at least one of them given. A file that cannot be used is left out and named, with
//! the reason, in the log and in the 400 for an unknown report type.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::shape::{Catalog, CustomType, Paths, BUILT_IN};
use crate::log;
use crate::watched::Watched;

/// How often the directory is looked at, at most.
const RECHECK: Duration = Duration::from_secs(1);

/// Largest report type file read.
const MAX_FILE: u64 = 1 << 20;

/// The custom report types of one directory, kept current.
pub type ReportTypes = Watched<Catalog>;

/// The report types of `dir` (which need not exist yet), re-read when its files change.
pub fn watch(dir: PathBuf) -> ReportTypes {
    Watched::new(Some(dir), RECHECK, type_files, read_logged)
}

/// The `.json` files of `dir` (hidden ones skipped), sorted.
fn type_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name.ends_with(".json")
        })
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeFile {
    name: Option<String>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
}

fn read_logged(dir: &Path) -> Catalog {
    let catalog = read(dir);
    log!(
        "report types in {}: {} loaded, {} left out",
        dir.display(),
        catalog.types.len(),
        catalog.errors.len()
    );
    catalog
}

fn read(dir: &Path) -> Catalog {
    let mut catalog = Catalog::default();
    let mut from: BTreeMap<String, String> = BTreeMap::new();
    for path in type_files(dir) {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let loaded = match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_FILE => Err(format!("larger than {MAX_FILE} bytes")),
            _ => std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| parse(&bytes, &file)),
        };
        let loaded = loaded.and_then(|t| match from.get(&t.name) {
            Some(other) => Err(format!("the name {:?} is already used by {other}", t.name)),
            None => Ok(t),
        });
        match loaded {
            Ok(t) => {
                from.insert(t.name.clone(), file);
                catalog.types.insert(t.name.clone(), Arc::new(t));
            }
            Err(e) => {
                log!("report type {}: left out: {e}", path.display());
                catalog.errors.push(format!("{file}: {e}"));
            }
        }
    }
    catalog
}

/// One report type file; `file` is its name, whose stem is the default type name.
pub fn parse(bytes: &[u8], file: &str) -> Result<CustomType, String> {
    let t: TypeFile = serde_json::from_slice(bytes).map_err(|e| format!("not valid: {e}"))?;
    let name = t
        .name
        .unwrap_or_else(|| file.strip_suffix(".json").unwrap_or(file).to_string());
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(format!(
            "the name {name:?} must be letters, digits, '_', '.' or '-'"
        ));
    }
    if BUILT_IN.contains(&name.as_str()) {
        return Err(format!("{name:?} is a built-in report type"));
    }
    if t.include.is_none() && t.exclude.is_none() {
        return Err("it has neither \"include\" nor \"exclude\"".into());
    }
    let paths = |list: Option<Vec<String>>, what: &str| {
        list.map(|l| Paths::parse(&l).map_err(|e| format!("{what}: {e}")))
            .transpose()
    };
    Ok(CustomType {
        name,
        include: paths(t.include, "include")?,
        exclude: paths(t.exclude, "exclude")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_and_the_bad_ones_named() {
        let ok = parse(br#"{"include": ["info.file"]}"#, "soar.json").unwrap();
        assert_eq!(ok.name, "soar");
        assert_eq!(ok.include, Some(Paths::parse(&["info.file"]).unwrap()));
        let named = parse(br#"{"name": "siem-1", "exclude": ["metadata"]}"#, "x.json").unwrap();
        assert_eq!(named.name, "siem-1");
        let err = |text: &str| parse(text.as_bytes(), "t.json").unwrap_err();
        assert!(err(r#"{"name": "large", "include": []}"#).contains("built-in"));
        assert!(err(r#"{"name": "a b", "include": []}"#).contains("letters, digits"));
        assert!(err(r#"{"name": "x"}"#).contains("neither"));
        assert!(err(r#"{"include": ["a."]}"#).contains("include: \"a.\" is not a dotted"));
        assert!(err(r#"{"includes": ["a"]}"#).contains("unknown field"));
        assert!(err("[1").starts_with("not valid"));
    }

    #[test]
    fn the_directory_is_reread_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("assay-report-types-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let types = Watched::new(Some(dir.clone()), Duration::ZERO, type_files, read);
        assert!(types.current().types.is_empty());

        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("soar.json"), r#"{"include": ["classification"]}"#).unwrap();
        std::fs::write(
            dir.join("dup.json"),
            r#"{"name": "soar", "include": ["info"]}"#,
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "not a report type").unwrap();
        let c = types.current();
        assert_eq!(c.types.keys().collect::<Vec<_>>(), ["soar"]);
        // Files are read in name order: dup.json came first and holds the name.
        assert_eq!(
            c.types["soar"].include,
            Some(Paths::parse(&["info"]).unwrap())
        );
        assert_eq!(c.errors.len(), 1);
        assert!(
            c.errors[0].starts_with("soar.json: the name \"soar\" is already used by dup.json"),
            "{:?}",
            c.errors
        );

        std::fs::remove_file(dir.join("dup.json")).unwrap();
        let c = types.current();
        assert!(c.errors.is_empty());
        assert_eq!(
            c.types["soar"].include,
            Some(Paths::parse(&["classification"]).unwrap())
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(types.current().types.is_empty());
    }
}
