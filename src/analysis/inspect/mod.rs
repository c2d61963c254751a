//! What a file says about itself beyond its type: per-format metadata (`metadata.*`), the
//! heuristics that fired on it, `tags.ticore`, facts for its story, and its strings.
//!
//! Each format's inspector is a pure function over the bytes, registered in [`INSPECTORS`].
//! Every heuristic an inspector can raise is declared once in [`HEURISTICS`] with its id,
//! priority, description and (for the few that vote) the verdict it votes for, so a verdict can
//! always be explained and a test can prove each one fires.

pub mod authenticode;
pub mod dotnet;
pub mod elf;
pub mod email;
pub mod macho;
pub mod ole;
pub mod ooxml;
pub mod pdf;
pub mod pe;
pub mod rtf;
pub mod strings;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::identify::FileKind;
use crate::report::SUSPICIOUS;

/// A check with a stable id. Most only describe (an indicator); those with a `verdict` also vote.
#[derive(Debug, PartialEq, Eq)]
pub struct Heuristic {
    /// Stable name, e.g. `pe-wx-section`.
    pub id: &'static str,
    /// 0 (informational) to 10.
    pub priority: u8,
    /// Indicator category, e.g. `anomaly`, `evasion`, `execution`, `network`.
    pub category: &'static str,
    /// What it means, for a person.
    pub description: &'static str,
    /// The verdict it votes for when it fires, if any.
    pub verdict: Option<HeuristicVerdict>,
}

/// The vote of a heuristic: classification, factor and threat name (`Platform.Type.Family`).
#[derive(Debug, PartialEq, Eq)]
pub struct HeuristicVerdict {
    pub classification: u8,
    pub factor: u8,
    pub threat: &'static str,
}

/// A heuristic that fired, with the evidence.
#[derive(Debug)]
pub struct Finding {
    pub heuristic: &'static Heuristic,
    pub reasons: Vec<String>,
}

/// What the inspectors found in one file.
/// The document properties OLE2 summary information, OOXML `docProps` and ODF `meta.xml` have
/// in common; each format's `metadata.document` flattens them beside its own fields.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct Properties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_printed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub characters: Option<i64>,
}

impl Properties {
    /// " by AUTHOR, created DATE" for a story sentence, as far as they are known.
    pub(crate) fn byline(&self) -> String {
        let mut s = String::new();
        if let Some(author) = &self.author {
            s.push_str(&format!(" by {author}"));
        }
        if let Some(created) = &self.created {
            s.push_str(&format!(
                ", created {}",
                created.get(..10).unwrap_or(created)
            ));
        }
        s
    }
}

#[derive(Debug, Default)]
pub struct Inspection {
    /// Merged into the entry's `metadata` (e.g. `{"application": {"elf": {...}}}`).
    pub metadata: Map<String, Value>,
    pub findings: Vec<Finding>,
    pub tags: BTreeSet<String>,
    /// Plain sentences for the story, most important first.
    pub facts: Vec<String>,
    /// Problems reading the format's metadata (truncated tables and such).
    pub warnings: Vec<String>,
}

impl Inspection {
    /// Records that `heuristic` fired, with what made it fire.
    pub fn fire(&mut self, heuristic: &'static Heuristic, reasons: Vec<String>) {
        // Every heuristic is declared in HEURISTICS; the readers' tests fire each one.
        debug_assert!(
            HEURISTICS.iter().any(|h| h.id == heuristic.id),
            "heuristic {} is missing from HEURISTICS",
            heuristic.id
        );
        self.findings.push(Finding { heuristic, reasons });
    }

    pub fn tag(&mut self, tag: impl Into<String>) {
        self.tags.insert(tag.into());
    }

    /// Sets `metadata.<path>` (e.g. `["application", "elf"]`) to `value`.
    pub fn set_metadata(&mut self, path: &[&str], value: Value) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut map = &mut self.metadata;
        for key in parents {
            let slot = map
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            map = slot.as_object_mut().expect("made an object just above");
        }
        map.insert(last.to_string(), value);
    }
}

/// Reads one format's metadata and raises its heuristics.
pub type Inspector = fn(&[u8], &FileKind, &mut Inspection);

/// One registered inspector.
pub struct Registered {
    /// Format name, for warnings.
    pub name: &'static str,
    /// Whether it reads files of this kind.
    pub takes: fn(&FileKind) -> bool,
    pub inspector: Inspector,
}

/// Every format inspector, in one list.
pub const INSPECTORS: &[Registered] = &[
    Registered {
        name: "ELF",
        takes: elf::takes,
        inspector: elf::inspect,
    },
    Registered {
        name: "Mach-O",
        takes: macho::takes,
        inspector: macho::inspect,
    },
    Registered {
        name: "PE",
        takes: pe::takes,
        inspector: pe::inspect,
    },
    Registered {
        name: "OLE2 document",
        takes: ole::takes,
        inspector: ole::inspect,
    },
    Registered {
        name: "Office Open XML",
        takes: ooxml::takes,
        inspector: ooxml::inspect,
    },
    Registered {
        name: "PDF",
        takes: pdf::takes,
        inspector: pdf::inspect,
    },
    Registered {
        name: "RTF",
        takes: rtf::takes,
        inspector: rtf::inspect,
    },
    Registered {
        name: "email",
        takes: email::takes,
        inspector: email::inspect,
    },
];

/// Every heuristic, in one list.
pub const HEURISTICS: &[&Heuristic] = &[
    elf::RWX_SEGMENT,
    elf::NO_SECTIONS,
    elf::EXECUTABLE_STACK,
    macho::NO_SIGNATURE,
    macho::WX_SEGMENT,
    pe::ENTRY_OUTSIDE_SECTIONS,
    pe::WX_SECTION,
    pe::ZERO_TIMESTAMP,
    pe::CHECKSUM_MISMATCH,
    pe::FEW_IMPORTS_HIGH_ENTROPY,
    pe::PACKER_SECTION,
    pe::PE_IN_RESOURCE,
    pe::PE_IN_OVERLAY,
    pe::DIGEST_MISMATCH,
    pe::SELF_SIGNED,
    pe::TLS_CALLBACKS,
    pe::RUNTIME_IMPORTS_ONLY,
    pe::NO_IMPORTS,
    pe::PROCESS_INJECTION,
    pe::INJECTOR_WITH_PAYLOAD,
    pe::TRUNCATED,
    ole::MACROS,
    ole::AUTO_EXEC,
    ole::SUSPICIOUS_KEYWORDS,
    ole::AUTO_EXEC_LAUNCHER,
    ole::ENCRYPTED,
    ooxml::MACROS,
    ooxml::REMOTE_TEMPLATE,
    ooxml::DDE,
    ooxml::DDE_COMMAND,
    pdf::JAVASCRIPT,
    pdf::AUTO_JAVASCRIPT,
    pdf::OBFUSCATED_AUTO_JAVASCRIPT,
    pdf::LAUNCH,
    pdf::OBFUSCATED_NAMES,
    pdf::EMBEDDED_FILE,
    pdf::ENCRYPTED,
    rtf::OBJECT,
    rtf::EQUATION_EDITOR,
    rtf::PACKAGE,
    rtf::PACKAGED_EXECUTABLE,
    email::EXECUTABLE_ATTACHMENT,
    email::DOUBLE_EXTENSION,
    email::RETURN_PATH_MISMATCH,
];

/// The vote of a heuristic that only suspects; the built-in threat names are `Platform.Type.Family`.
pub const fn suspicious(factor: u8, threat: &'static str) -> Option<HeuristicVerdict> {
    Some(HeuristicVerdict {
        classification: SUSPICIOUS,
        factor,
        threat,
    })
}

/// Runs every inspector that takes `kind` over `data`. A panicking inspector becomes a warning.
pub fn inspect(data: &[u8], kind: &FileKind) -> Inspection {
    let mut found = Inspection::default();
    for r in INSPECTORS {
        if !(r.takes)(kind) {
            continue;
        }
        let name = r.name;
        let mut one = Inspection::default();
        match super::guarded(|| (r.inspector)(data, kind, &mut one)) {
            Ok(()) => merge(&mut found, one),
            Err(why) => found
                .warnings
                .push(format!("the {name} metadata reader failed ({why})")),
        }
    }
    found
}

/// Runs the metadata reader registered as `name` over arbitrary bytes, outside the guard that
/// keeps a reader's panic from ending an analysis, so that a fuzzer sees it: the body of the
/// `inspect_*` targets under `fuzz/`. The reader runs whatever identification makes of the bytes
/// (a reader must take any input without panicking, not only its own format's).
pub fn fuzz_one(name: &str, data: &[u8]) {
    let r = INSPECTORS
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no metadata reader is registered as {name:?}"));
    let kind = super::identify::identify(data, "fuzz");
    let mut found = Inspection::default();
    (r.inspector)(data, &kind, &mut found);
}

fn merge(into: &mut Inspection, from: Inspection) {
    merge_maps(&mut into.metadata, from.metadata);
    into.findings.extend(from.findings);
    into.tags.extend(from.tags);
    into.facts.extend(from.facts);
    into.warnings.extend(from.warnings);
}

/// Merges `from` into `into`, object by object (two inspectors may both fill `application`).
fn merge_maps(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(a)), Value::Object(b)) => merge_maps(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Helpers shared by the readers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Inspection, Inspector};
    use crate::analysis::identify::{identify, FileKind};

    /// Identifies `data` (named `x`), checks the reader takes it, and runs the reader.
    pub fn run(takes: fn(&FileKind) -> bool, inspector: Inspector, data: &[u8]) -> Inspection {
        let kind = identify(data, "x");
        assert!(takes(&kind), "{kind:?}");
        let mut found = Inspection::default();
        inspector(data, &kind, &mut found);
        found
    }

    /// Runs the reader on `data` whatever it is identified as (for damaged inputs).
    pub fn run_unchecked(inspector: Inspector, data: &[u8]) -> Inspection {
        let mut found = Inspection::default();
        inspector(data, &identify(data, "x"), &mut found);
        found
    }

    /// The ids of the heuristics that fired, in order.
    pub fn fired(found: &Inspection) -> Vec<&'static str> {
        found.findings.iter().map(|f| f.heuristic.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reader_takes_truncated_and_foreign_input_without_panicking() {
        // Each disagreement fixture, cut at many lengths, through every reader (the fuzz targets'
        // body, outside the guard): a panic fails the test.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/disagree");
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), vec![0xff; 64], b"MZ".to_vec()];
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e != "md") {
                let data = std::fs::read(path).unwrap();
                inputs.extend((0..data.len()).step_by(7).map(|n| data[..n].to_vec()));
                inputs.push(data);
            }
        }
        assert!(inputs.len() > 100, "the fixtures are there");
        for r in INSPECTORS {
            for data in &inputs {
                fuzz_one(r.name, data);
            }
        }
    }

    #[test]
    fn heuristic_ids_are_unique_and_named_plainly() {
        let mut seen = BTreeSet::new();
        for h in HEURISTICS {
            assert!(seen.insert(h.id), "duplicate heuristic id {}", h.id);
            assert!(
                h.id.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
                "{}",
                h.id
            );
            assert!(h.priority <= 10);
            assert!(!h.description.is_empty());
        }
    }

    #[test]
    fn metadata_paths_nest() {
        let mut i = Inspection::default();
        i.set_metadata(&["application", "elf"], Value::from(1));
        i.set_metadata(&["application", "macho"], Value::from(2));
        assert_eq!(
            Value::Object(i.metadata),
            serde_json::json!({"application": {"elf": 1, "macho": 2}})
        );
    }
}
