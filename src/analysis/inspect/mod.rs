//! What a file says about itself beyond its type: per-format metadata (`metadata.*`), the
//! heuristics that fired on it, `tags.ticore`, facts for its story, and its strings.
//!
//! Each format's inspector is a pure function over the bytes, registered beside the format's
//! unpacker in `analysis::registry` and run by [`describe`]. Every heuristic an inspector can
//! raise is declared once in [`HEURISTICS`] with its id, priority, description and (for the few
//! that vote) the verdict it votes for, so a verdict can always be explained and a test can prove
//! each one fires.

pub mod authenticode;
pub mod dotnet;
pub mod elf;
pub mod macho;
pub mod mime;
pub mod ole2;
pub mod ooxml;
pub mod pdf;
pub mod pe;
pub mod rtf;
pub mod strings;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::identify::FileKind;
use crate::analysis::warning::{Problem, Warning};
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

/// What an inspector found in one file.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Merged into the entry's `metadata` (e.g. `{"application": {"elf": {...}}}`).
    pub metadata: Map<String, Value>,
    pub findings: Vec<Finding>,
    pub tags: BTreeSet<String>,
    /// Plain sentences for the story, most important first.
    pub facts: Vec<String>,
    /// Problems reading the format's metadata (truncated tables and such).
    pub warnings: Vec<Warning>,
    /// Hashes of the format's structure for `info.file.hashes` (the PE imphash), by name.
    pub hashes: Vec<(&'static str, String)>,
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

    /// Records a problem reading the metadata that did not stop the reader.
    pub fn warn(&mut self, problem: Problem, text: impl Into<String>) {
        self.warnings.push(Warning::new(problem, text));
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
    pe::PACKED_NOT_RESTORED,
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
    ole2::MACROS,
    ole2::AUTO_EXEC,
    ole2::SUSPICIOUS_KEYWORDS,
    ole2::AUTO_EXEC_LAUNCHER,
    ole2::ENCRYPTED,
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
    mime::EXECUTABLE_ATTACHMENT,
    mime::DOUBLE_EXTENSION,
    mime::RETURN_PATH_MISMATCH,
];

/// The vote of a heuristic that only suspects; the built-in threat names are `Platform.Type.Family`.
pub const fn suspicious(factor: u8, threat: &'static str) -> Option<HeuristicVerdict> {
    Some(HeuristicVerdict {
        classification: SUSPICIOUS,
        factor,
        threat,
    })
}

/// Runs `inspector` (the reader registered as `name`) over `data`. A panicking reader becomes a
/// warning; of what it found before the panic only the hashes are kept (each is pushed whole,
/// and the PE imphash must not be lost to a later table), the rest may be half-made.
pub fn describe(data: &[u8], kind: &FileKind, name: &str, inspector: Inspector) -> Inspection {
    let mut found = Inspection::default();
    match crate::log::guarded(|| inspector(data, kind, &mut found)) {
        Ok(()) => found,
        Err(why) => Inspection {
            warnings: vec![Warning::new(
                Problem::Failed,
                format!("the {name} metadata reader failed ({why})"),
            )],
            hashes: found.hashes,
            ..Inspection::default()
        },
    }
}

/// Helpers shared by the readers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Inspection, Inspector};
    use crate::analysis::identify::{identify, Format};

    /// Identifies `data` (named `x`), checks it is identified as the reader's format, and runs
    /// the reader.
    pub fn run(format: fn(Format) -> bool, inspector: Inspector, data: &[u8]) -> Inspection {
        let kind = identify(data, "x");
        assert!(format(kind.format), "{kind:?}");
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

    #[test]
    fn a_panicking_reader_becomes_a_failed_warning_and_keeps_its_hashes() {
        fn reader(_: &[u8], _: &FileKind, found: &mut Inspection) {
            found.hashes.push(("imphash", "abc".into()));
            found.tag("half-made");
            panic!("index out of bounds");
        }
        let kind = crate::analysis::identify::identify(b"MZ", "x.exe");
        let found = describe(b"MZ", &kind, "PE", reader);
        assert_eq!(found.warnings.len(), 1);
        assert_eq!(found.warnings[0].problem, Problem::Failed);
        assert!(found.warnings[0]
            .text
            .starts_with("the PE metadata reader failed"));
        assert_eq!(found.hashes, [("imphash", "abc".to_string())]);
        assert!(
            found.tags.is_empty(),
            "what a failed reader half-made is dropped"
        );
    }
}
