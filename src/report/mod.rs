//! The report model: the typed form of one `tc_report` entry as DECISIONS.md gives it. Analysis
//! builds these; the store keeps them as JSON; shaping on read (report_type, view) works on the JSON.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use packed::{Packed, Packer};

pub mod document;
pub mod packed;
pub mod shape;
pub mod types;

/// One entry of `tc_report`: the uploaded file (entry 0) or one extracted file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub info: Info,
    pub classification: Classification,
    pub indicators: Vec<Indicator>,
    pub interesting_strings: Vec<InterestingStrings>,
    pub story: String,
    pub tags: Tags,
    /// Per-format metadata (`application.pe`, `document`, ...); an empty object until formats fill it.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl Entry {
    /// This entry's JSON, as `serde_json::to_vec` writes it, and where in it lie the parts that
    /// finishing a report leaves as they are ([`Report::push_finished`]).
    pub fn to_json(&self) -> serde_json::Result<(Vec<u8>, Spans)> {
        fn part(b: &mut Vec<u8>, v: &impl Serialize) -> serde_json::Result<Range<usize>> {
            let start = b.len();
            serde_json::to_writer(&mut *b, v)?;
            Ok(start..b.len())
        }
        // The fields in their declared order, as serde writes them (a test holds the two equal).
        let mut b = Vec::with_capacity(1024);
        b.extend_from_slice(b"{\"info\":");
        let info = part(&mut b, &self.info)?;
        b.extend_from_slice(b",\"classification\":");
        part(&mut b, &self.classification)?;
        b.extend_from_slice(b",\"indicators\":");
        let indicators = part(&mut b, &self.indicators)?;
        b.extend_from_slice(b",\"interesting_strings\":");
        let strings = part(&mut b, &self.interesting_strings)?;
        b.extend_from_slice(b",\"story\":");
        part(&mut b, &self.story)?;
        b.extend_from_slice(b",\"tags\":");
        part(&mut b, &self.tags)?;
        b.extend_from_slice(b",\"metadata\":");
        let metadata = part(&mut b, &self.metadata)?;
        b.push(b'}');
        let spans = Spans {
            info,
            found: indicators.start - b",\"indicators\":".len()..strings.end,
            metadata,
        };
        Ok((b, spans))
    }
}

/// Where the parts of an entry's JSON ([`Entry::to_json`]) that finishing leaves alone lie:
/// `info`'s value, the indicators and interesting strings (with their keys), `metadata`'s value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans {
    info: Range<usize>,
    found: Range<usize>,
    metadata: Range<usize>,
}

/// A finished report: the `tc_report` list as JSON, written one entry at a time, so that a
/// task holds its report's bytes and never all of its entries as structures (ten times as much
/// for a 10,000-entry report). The server's reports are compressed as they are written
/// ([`Report::packed`]), as the store keeps them.
#[derive(Debug)]
pub struct Report {
    out: Out,
    /// How many entries were written.
    len: usize,
    /// Entry 0's verdict level.
    classification: u8,
    /// What the extracted files (every entry but the first) add up to.
    unpacked_bytes: u64,
}

enum Out {
    /// The list as JSON, always complete, and where each entry's JSON ends in it.
    Plain { json: Vec<u8>, ends: Vec<usize> },
    /// The list compressed as it is written (`[` and the entries; `]` when finished), with the
    /// entry being written.
    Packed { packer: Packer, entry: Vec<u8> },
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Out::Plain { json, .. } => write!(f, "Plain({} bytes)", json.len()),
            Out::Packed { .. } => f.write_str("Packed"),
        }
    }
}

/// What finishing an entry gives it ([`Report::push_finished`]), and its file's size.
pub struct Finished<'a> {
    pub classification: &'a Classification,
    pub story: &'a str,
    pub tags: &'a Tags,
    pub size: u64,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            out: Out::Plain {
                json: b"[]".to_vec(),
                ends: Vec::new(),
            },
            len: 0,
            classification: UNKNOWN,
            unpacked_bytes: 0,
        }
    }
}

impl Report {
    /// An empty report whose JSON is compressed as it is written: its entries cannot be read
    /// back one by one ([`Report::entry_json`]), only as a whole once packed.
    pub fn packed() -> Report {
        let mut packer = Packer::new();
        packer.write(b"[");
        Report {
            out: Out::Packed {
                packer,
                entry: Vec::new(),
            },
            ..Report::default()
        }
    }

    /// The report of these entries.
    pub fn of(entries: &[Entry]) -> Report {
        let mut r = Report::default();
        for e in entries {
            r.push(e);
        }
        r
    }

    /// Adds an entry at the end. An entry that cannot be written (none of ours: JSON writes
    /// every value they hold) is written as its file's identity and the error.
    pub fn push(&mut self, e: &Entry) {
        self.append(|b| {
            let start = b.len();
            if let Err(err) = serde_json::to_writer(&mut *b, e) {
                b.truncate(start);
                let f = &e.info.file;
                let stand_in = serde_json::json!({
                    "info": {"file": {"file_name": f.file_name, "file_path": f.file_path, "size": f.size},
                             "unpacking": {"warnings": [format!("this entry could not be written: {err}")]}},
                });
                // A `Value` of strings and numbers always writes.
                let _ = serde_json::to_writer(&mut *b, &stand_in);
            }
        });
        if self.len == 1 {
            self.classification = e.classification.classification;
        } else {
            self.unpacked_bytes += e.info.file.size;
        }
    }

    /// Adds an entry at the end from its JSON ([`Entry::to_json`]) with its verdict, story and
    /// tags replaced, without reading the rest back. It cannot be the first entry, which
    /// [`Report::push`] adds with the tree's counts.
    pub fn push_finished(&mut self, json: &[u8], spans: &Spans, finished: Finished<'_>) {
        debug_assert!(self.len > 0, "the first entry is pushed whole");
        self.append(|b| {
            b.extend_from_slice(b"{\"info\":");
            b.extend_from_slice(&json[spans.info.clone()]);
            b.extend_from_slice(b",\"classification\":");
            // Strings, numbers and lists of them: JSON writes them all.
            let _ = serde_json::to_writer(&mut *b, finished.classification);
            b.extend_from_slice(&json[spans.found.clone()]);
            b.extend_from_slice(b",\"story\":");
            let _ = serde_json::to_writer(&mut *b, finished.story);
            b.extend_from_slice(b",\"tags\":");
            let _ = serde_json::to_writer(&mut *b, finished.tags);
            b.extend_from_slice(b",\"metadata\":");
            b.extend_from_slice(&json[spans.metadata.clone()]);
            b.push(b'}');
        });
        self.unpacked_bytes += finished.size;
    }

    /// Adds the entry `write` writes at the end of the list.
    fn append(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        match &mut self.out {
            Out::Plain { json, ends } => {
                json.pop();
                if !ends.is_empty() {
                    json.push(b',');
                }
                write(json);
                ends.push(json.len());
                json.push(b']');
            }
            Out::Packed { packer, entry } => {
                entry.clear();
                if self.len > 0 {
                    entry.push(b',');
                }
                write(entry);
                packer.write(entry);
            }
        }
        self.len += 1;
    }

    /// The whole list as JSON, unless it is compressed ([`Report::packed`]).
    pub fn json(&self) -> Option<&[u8]> {
        match &self.out {
            Out::Plain { json, .. } => Some(json),
            Out::Packed { .. } => None,
        }
    }

    /// The report as the store keeps it.
    pub fn into_packed(self) -> Packed {
        match self.out {
            Out::Plain { json, .. } => Packed::of(&json),
            Out::Packed { mut packer, .. } => {
                packer.write(b"]");
                packer.finish()
            }
        }
    }

    /// Entry `i`'s JSON (`None` in a compressed report).
    pub fn entry_json(&self, i: usize) -> Option<&[u8]> {
        let Out::Plain { json, ends } = &self.out else {
            return None;
        };
        let end = *ends.get(i)?;
        // Entry 0 starts after `[`, the others after the comma that follows their predecessor.
        let start = if i == 0 { 1 } else { ends[i - 1] + 1 };
        Some(&json[start..end])
    }

    /// How many entries it has (the uploaded file and every extracted file).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry 0's verdict level (0 unknown to 3 malicious).
    pub fn classification(&self) -> u8 {
        self.classification
    }

    /// The bytes of the extracted files, added up.
    pub fn unpacked_bytes(&self) -> u64 {
        self.unpacked_bytes
    }

    /// The entries as structures (tests, and callers that read a few small reports); a
    /// compressed report is inflated for them.
    pub fn entries(self) -> Vec<Entry> {
        let json = match self.json() {
            Some(json) => json.to_vec(),
            None => self.into_packed().unpack().unwrap_or_default(),
        };
        let list: Vec<&serde_json::value::RawValue> =
            serde_json::from_slice(&json).unwrap_or_default();
        list.iter()
            .filter_map(|e| serde_json::from_str(e.get()).ok())
            .collect()
    }
}

/// `info`: what the file is and how it was taken apart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Info {
    pub file: FileInfo,
    pub identification: Identification,
    /// Only on entry 0: counts over the whole tree.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub statistics: Option<Statistics>,
    pub unpacking: Unpacking,
}

/// `info.file`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileInfo {
    pub file_type: String,
    pub file_subtype: String,
    pub file_name: String,
    pub file_path: String,
    pub size: u64,
    /// Shannon entropy in bits per byte, 0–8.
    pub entropy: f64,
    pub hashes: Vec<Hash>,
    /// Hashes that were not computed, and why (fuzzy hashes above `fuzzy_max_bytes`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub hashes_skipped: Vec<SkippedHash>,
}

impl FileInfo {
    /// The value of hash `name` (`md5`, `sha256`, `ssdeep`, ...), if it was computed.
    pub fn hash(&self, name: &str) -> Option<&str> {
        let h = self.hashes.iter().find(|h| h.name == name);
        h.map(|h| h.value.as_str())
    }
}

/// A hash that was not computed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SkippedHash {
    pub name: String,
    pub reason: String,
}

/// One named digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hash {
    pub name: String,
    pub value: String,
}

/// `info.identification`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identification {
    /// Whether the format was recognised.
    pub success: bool,
    /// The format's name (e.g. `ZIP`, `PE32 executable`); empty when not recognised.
    pub name: String,
}

/// `info.statistics`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Statistics {
    pub file_stats: Vec<FileStat>,
}

/// Count of files of one type/subtype in the tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileStat {
    #[serde(rename = "type")]
    pub file_type: String,
    pub subtype: String,
    pub count: u64,
    pub identifications: Vec<IdentificationCount>,
}

/// Count of one identification within a [`FileStat`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentificationCount {
    pub count: u64,
    pub name: String,
}

/// `info.unpacking`: how extraction went. Every limit or error that stopped work is listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unpacking {
    pub status: UnpackStatus,
    pub warnings: Vec<String>,
    /// Every budget that stopped work on this file (`depth`, `files`, `bytes`, `ratio`, `time`,
    /// `password`), with what it stopped.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub limits: Vec<LimitFinding>,
    /// How many files were extracted from this one (direct children).
    #[serde(default)]
    pub extracted: u64,
}

/// One budget that stopped work.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LimitFinding {
    pub limit: String,
    pub detail: String,
}

/// Outcome of unpacking one file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnpackStatus {
    /// The file is not a container (or no unpacker exists for it yet).
    NotApplicable,
    /// Every child was extracted.
    Complete,
    /// Some children could not be extracted; see the warnings.
    Partial,
    /// Analysis of this file failed; see the warnings.
    Failed,
}

/// Verdict level 0 (the others: 1 goodware, 2 suspicious, 3 malicious) as an integer on the wire.
pub const UNKNOWN: u8 = 0;
/// Verdict level 1: known good.
pub const GOODWARE: u8 = 1;
/// Verdict level 2.
pub const SUSPICIOUS: u8 = 2;
/// Verdict level 3.
pub const MALICIOUS: u8 = 3;

/// `classification`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Classification {
    /// 0 unknown, 1 goodware, 2 suspicious, 3 malicious.
    pub classification: u8,
    /// 0–10.
    pub factor: u8,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<String>,
    pub propagated: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub propagation_source: Option<String>,
    /// One per source that voted; never empty.
    pub scan_results: Vec<ScanResult>,
}

/// One source's vote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanResult {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ScanType,
    pub classification: u8,
    pub factor: u8,
    pub result: String,
}

/// Kind of verdict source (numbered as the seed's v13 enumeration).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScanType {
    Generic,
    Antivirus,
    Sandbox,
    Validator,
    Unpacker,
    Internal,
    Cloud,
    UserOverride,
    Certificate,
    Whitelisting,
    AnalystOverride,
    NextGenAv,
}

/// One indicator: something noteworthy about a file, with why it was raised. The summary form
/// is `{priority, category, description}`; the large form adds `id`, `relevance` and `reasons`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Indicator {
    /// 0 (informational) to 10 (act on it).
    pub priority: u8,
    pub category: String,
    pub description: String,
    /// Stable name of the check that raised it (e.g. `pe-wx-section`), for rules and allow-lists.
    pub id: String,
    /// How it bears on the verdict: [`RELEVANCE_INFO`] or [`RELEVANCE_VOTES`].
    pub relevance: u8,
    /// The evidence: what in the file made the check fire.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// An indicator that describes the file but cannot change its verdict.
pub const RELEVANCE_INFO: u8 = 0;
/// An indicator whose check votes for a verdict (see `classification.scan_results`).
pub const RELEVANCE_VOTES: u8 = 1;

/// Strings of one category.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InterestingStrings {
    pub category: String,
    pub values: Vec<String>,
}

/// `tags`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tags {
    pub ticore: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry with every field filled, optional ones included.
    fn full(name: &str, size: u64) -> Entry {
        serde_json::from_value(serde_json::json!({
            "info": {
                "file": {"file_type": "Binary", "file_subtype": "Archive", "file_name": name,
                         "file_path": format!("top.zip/{name}"), "size": size, "entropy": 7.25,
                         "hashes": [{"name": "sha256", "value": "ab"}],
                         "hashes_skipped": [{"name": "tlsh", "reason": "too large \"here\""}]},
                "identification": {"success": true, "name": "ZIP"},
                "statistics": {"file_stats": [{"type": "Binary", "subtype": "Archive", "count": 1,
                                               "identifications": [{"count": 1, "name": "ZIP"}]}]},
                "unpacking": {"status": "partial", "warnings": ["w\u{7f}"],
                              "limits": [{"limit": "files", "detail": "d"}], "extracted": 2}
            },
            "classification": {"classification": 2, "factor": 5, "result": "Eicar",
                               "propagated": true, "propagation_source": "a/b",
                               "scan_results": [{"name": "assay", "type": "internal",
                                                 "classification": 2, "factor": 5, "result": "r"}]},
            "indicators": [{"priority": 3, "category": "c", "description": "d", "id": "i",
                            "relevance": 1, "reasons": ["x"]}],
            "interesting_strings": [{"category": "http", "values": ["http://a.example/"]}],
            "story": "It is a \"story\".",
            "tags": {"ticore": ["archive", "pe"]},
            "metadata": {"strings": {"total": 2, "listed": [{"offset": 4, "value": "é"}]}}
        }))
        .unwrap()
    }

    #[test]
    fn an_entrys_json_in_parts_is_the_json_serde_writes() {
        let e = full("a.zip", 10);
        let (json, _) = e.to_json().unwrap();
        assert_eq!(json, serde_json::to_vec(&e).unwrap());
        // And without the optional fields.
        let mut bare = e.clone();
        bare.info.statistics = None;
        bare.info.file.hashes_skipped.clear();
        bare.info.unpacking.limits.clear();
        bare.classification.propagation_source = None;
        let (json, _) = bare.to_json().unwrap();
        assert_eq!(json, serde_json::to_vec(&bare).unwrap());
    }

    #[test]
    fn an_entry_finished_on_its_json_is_the_entry_finished_whole() {
        let first = full("top.zip", 100);
        let child = full("b.exe", 7);
        let (json, spans) = child.to_json().unwrap();
        let mut finished = child.clone();
        finished.classification.classification = 3;
        finished.classification.propagated = false;
        finished.story = "Finished.".into();
        finished.tags.ticore.push("zzz".into());

        let mut whole = Report::default();
        whole.push(&first);
        whole.push(&finished);
        let in_parts = |mut r: Report| {
            r.push(&first);
            r.push_finished(
                &json,
                &spans,
                Finished {
                    classification: &finished.classification,
                    story: &finished.story,
                    tags: &finished.tags,
                    size: 7,
                },
            );
            r
        };
        let parts = in_parts(Report::default());
        let expected = serde_json::to_vec(&[&first, &finished]).unwrap();
        assert_eq!(whole.json(), Some(&expected[..]));
        assert_eq!(parts.json(), Some(&expected[..]));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.classification(), 2);
        assert_eq!(parts.unpacked_bytes(), 7);
        assert_eq!(
            parts.entry_json(0).unwrap(),
            serde_json::to_vec(&first).unwrap()
        );
        assert_eq!(parts.entries(), vec![first.clone(), finished.clone()]);

        // Compressed as it is written, the same report, counts and all.
        let packed = in_parts(Report::packed());
        assert!(packed.json().is_none() && packed.entry_json(0).is_none());
        assert_eq!(
            (
                packed.len(),
                packed.classification(),
                packed.unpacked_bytes()
            ),
            (2, 2, 7)
        );
        assert_eq!(packed.into_packed().unpack().unwrap(), expected);
        assert_eq!(in_parts(Report::packed()).entries(), vec![first, finished]);
    }

    #[test]
    fn an_empty_report_is_an_empty_list() {
        let r = Report::default();
        assert_eq!(r.json(), Some(&b"[]"[..]));
        assert!(r.is_empty() && r.entry_json(0).is_none() && r.entries().is_empty());
        assert_eq!(Report::packed().into_packed().unpack().unwrap(), b"[]");
    }
}
