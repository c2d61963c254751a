//! The report model: the typed form of one `tc_report` entry as DECISIONS.md gives it. Analysis
//! builds these; the store keeps them as JSON; shaping on read (report_type, view) works on the JSON.

use serde::{Deserialize, Serialize};

pub mod document;
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
