//! YARA rules on every node, with YARA-X.
//!
//! Every `.yar`/`.yara` file under the rules directory is a ruleset: its key is its path relative
//! to the directory, and its rules live in a namespace of that name. All rulesets compile into
//! one `yara_x::Rules`, shared read-only by the analysis threads (each thread keeps its own
//! `Scanner` while the rules it was made for are current). A ruleset that does not compile is left out and its errors are reported by
//! `GET /api/tiscale/v2/sync-status`; the others stay active.
//!
//! A watcher thread polls the directory and recompiles when a file changes (or when
//! `POST /api/tiscale/v1/pull/all` asks), then swaps the new generation in: the compile happens
//! off the request and analysis paths, and a task keeps the generation it started with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha1::{Digest, Sha1};

use super::externals::{self, FileVars};
use super::hashes::hex;
use super::verdict::{rank, Vote};
use crate::report::{
    Indicator, ScanType, GOODWARE, MALICIOUS, RELEVANCE_INFO, RELEVANCE_VOTES, SUSPICIOUS,
};

/// `[yara]` in the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Where the rulesets are; `None`: no YARA rules.
    pub rules_dir: Option<PathBuf>,
    /// Whether `POST /api/tiscale/v1/pull/all` may resynchronise (417 when not).
    pub sync: bool,
    /// How often the directory is checked for changes.
    pub poll: Duration,
    /// Longest a scan of one file may take.
    pub scan_timeout: Duration,
    /// Most matched-string offsets listed per rule and file.
    pub max_strings: usize,
    /// Where compiled rules are kept between runs (see [`cache`]); `None`: always compile.
    pub cache_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rules_dir: None,
            sync: true,
            poll: Duration::from_secs(5),
            scan_timeout: Duration::from_secs(10),
            max_strings: 20,
            cache_dir: None,
        }
    }
}

/// Largest ruleset file read; a larger one is reported as an error.
const MAX_RULESET_BYTES: u64 = 64 * 1024 * 1024;
/// Deepest directory nesting walked under the rules directory.
const MAX_DEPTH: usize = 16;
/// Matches counted per pattern and file; YARA-X stops recording after this many.
const MAX_MATCHES_PER_PATTERN: usize = 1000;
/// Matched rules reported per file.
const MAX_RULES_PER_FILE: usize = 100;

/// The sha1 of no bytes: the id of an empty rule set.
pub const EMPTY_ID: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

/// One ruleset file, as `sync-status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ruleset {
    /// The global revision at which this file last changed.
    pub revision: u64,
    /// Path relative to the rules directory, `/`-separated.
    pub key: String,
    /// sha1 of the file's bytes.
    pub hash: String,
    /// Compile errors (the ruleset is left out when there are any).
    pub errors: Vec<String>,
    /// Compile warnings (the ruleset stays active).
    pub warnings: Vec<String>,
}

/// One compiled generation of the rules directory.
pub struct Compiled {
    /// sha1 over the keys and contents of the active rulesets, in key order: changes exactly
    /// when the active rules change.
    pub id: String,
    /// Increases by one whenever a ruleset is added, removed or changed.
    pub revision: u64,
    /// Every ruleset file, active or not, in key order.
    pub rulesets: Vec<Ruleset>,
    /// The active rules; `None` when no ruleset compiled.
    rules: Option<yara_x::Rules>,
    stamp: Stamp,
    /// Whether the rules came from the cache rather than the compiler.
    pub from_cache: bool,
    /// Whether the rules read a file's name or path (LOKI's `filename`, `filepath`,
    /// `extension`): they were compiled with those variables because without them some ruleset
    /// did not compile. When false, the variables are not defined at all, and a file's verdict
    /// depends on its content only.
    pub reads_names: bool,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("id", &self.id)
            .field("revision", &self.revision)
            .field("rulesets", &self.rulesets)
            .finish_non_exhaustive()
    }
}

impl Compiled {
    fn empty() -> Compiled {
        Compiled {
            id: EMPTY_ID.into(),
            revision: 0,
            rulesets: Vec::new(),
            rules: None,
            stamp: Vec::new(),
            from_cache: false,
            reads_names: false,
        }
    }

    /// How many rules are active.
    pub fn rule_count(&self) -> usize {
        self.rules.as_ref().map_or(0, |r| r.iter().len())
    }
}

/// Paths, sizes and modification times of the ruleset files: what the watcher compares.
type Stamp = Vec<(String, u64, Option<SystemTime>)>;

/// The rulesets in force, and the machinery that keeps them current.
#[derive(Debug)]
pub struct Rulesets {
    options: Options,
    current: Mutex<Arc<Compiled>>,
    control: Mutex<Control>,
    wake: Condvar,
}

/// Requests to the watcher and its answers.
#[derive(Debug, Default)]
struct Control {
    /// Forced reloads asked for (pull/all), and how many are done.
    requested: u64,
    done: u64,
    stop: bool,
}

impl Rulesets {
    /// No rules at all.
    pub fn none() -> Rulesets {
        Rulesets::with(Options::default(), Compiled::empty())
    }

    /// Compiles the rulesets of `options.rules_dir` now (creating the directory if needed).
    pub fn load(options: Options) -> Rulesets {
        let compiled = match &options.rules_dir {
            Some(dir) => {
                if let Err(e) = std::fs::create_dir_all(dir) {
                    crate::log!("yara: cannot create {}: {e}", dir.display());
                }
                compile_logged(dir, options.cache_dir.as_deref(), &Compiled::empty())
            }
            None => Compiled::empty(),
        };
        Rulesets::with(options, compiled)
    }

    fn with(options: Options, compiled: Compiled) -> Rulesets {
        Rulesets {
            options,
            current: Mutex::new(Arc::new(compiled)),
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The generation in force. A task takes it once and keeps it to the end.
    pub fn current(&self) -> Arc<Compiled> {
        lock(&self.current).clone()
    }

    /// Whether `compiled` is still the generation in force (a thread keeps its [`Scanner`] until
    /// it is not).
    pub fn is_current(&self, compiled: &Arc<Compiled>) -> bool {
        Arc::ptr_eq(&lock(&self.current), compiled)
    }

    /// Asks the watcher to re-read and recompile every ruleset, and waits up to `wait` for it.
    /// Returns whether the reload finished in time (it goes on regardless).
    pub fn reload_now(&self, wait: Duration) -> bool {
        let mut control = lock(&self.control);
        control.requested += 1;
        let ticket = control.requested;
        self.wake.notify_all();
        let (control, _) = self
            .wake
            .wait_timeout_while(control, wait, |c| c.done < ticket && !c.stop)
            .unwrap_or_else(|p| p.into_inner());
        control.done >= ticket
    }

    /// Checks the directory every `poll` and recompiles what changed, and serves
    /// [`Rulesets::reload_now`], until [`Rulesets::stop`]. Run on a thread of its own.
    pub fn watch(&self) {
        let Some(dir) = self.options.rules_dir.clone() else {
            return;
        };
        let mut control = lock(&self.control);
        loop {
            if control.stop {
                return;
            }
            let forced = control.requested;
            let force = control.done < forced;
            drop(control);
            self.refresh(&dir, force);
            control = lock(&self.control);
            if force {
                control.done = forced;
                self.wake.notify_all();
            }
            if control.stop || control.done < control.requested {
                continue;
            }
            control = self
                .wake
                .wait_timeout(control, self.options.poll)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Ends [`Rulesets::watch`].
    pub fn stop(&self) {
        lock(&self.control).stop = true;
        self.wake.notify_all();
    }

    /// Recompiles when the files changed since the generation in force, or when `force`.
    fn refresh(&self, dir: &Path, force: bool) {
        let previous = self.current();
        if !force && stamp(dir) == previous.stamp {
            return;
        }
        let fresh = compile_logged(dir, self.options.cache_dir.as_deref(), &previous);
        *lock(&self.current) = Arc::new(fresh);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Values are replaced whole, so a panic elsewhere cannot leave one half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The ruleset files under `dir`, as (key, path), in key order.
fn ruleset_files(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<(String, PathBuf)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let key = format!("{prefix}{name}");
            if kind.is_dir() && depth < MAX_DEPTH {
                walk(&entry.path(), &format!("{key}/"), depth + 1, out);
            } else if kind.is_file() {
                let lower = name.to_ascii_lowercase();
                if lower.ends_with(".yar") || lower.ends_with(".yara") {
                    out.push((key, entry.path()));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", 0, &mut out);
    out.sort();
    out
}

fn stamp(dir: &Path) -> Stamp {
    stamp_of(&ruleset_files(dir))
}

fn stamp_of(files: &[(String, PathBuf)]) -> Stamp {
    files
        .iter()
        .map(|(key, path)| {
            let meta = std::fs::metadata(path).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            (key.clone(), size, meta.and_then(|m| m.modified().ok()))
        })
        .collect()
}

/// A digest over `sources` (after whatever `h` has already taken), each key and content
/// length-prefixed so that no two different lists of files feed the same bytes.
fn digest_sources<D: Digest>(mut h: D, sources: &[(String, Vec<u8>)]) -> String {
    for (key, bytes) in sources {
        h.update((key.len() as u64).to_le_bytes());
        h.update(key.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    hex(&h.finalize())
}

fn compile_logged(dir: &Path, cache_dir: Option<&Path>, previous: &Compiled) -> Compiled {
    let started = std::time::Instant::now();
    let compiled = compile(dir, cache_dir, previous);
    let failed = compiled
        .rulesets
        .iter()
        .filter(|r| !r.errors.is_empty())
        .count();
    crate::log!(
        "yara: {} rules from {} rulesets in {} ({} left out with errors), id {}, revision {}, {} in {:.1} s",
        compiled.rule_count(),
        compiled.rulesets.len() - failed,
        dir.display(),
        failed,
        compiled.id,
        compiled.revision,
        if compiled.from_cache {
            "loaded from the cache"
        } else {
            "compiled"
        },
        started.elapsed().as_secs_f64()
    );
    compiled
}

/// Reads and compiles every ruleset of `dir` (or loads what an earlier compile of the same files
/// left in `cache_dir`). Revisions carry on from `previous`.
fn compile(dir: &Path, cache_dir: Option<&Path>, previous: &Compiled) -> Compiled {
    let files = ruleset_files(dir);
    let stamp = stamp_of(&files);
    let mut sources: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rulesets: Vec<Ruleset> = Vec::new();
    for (key, path) in files {
        let read = std::fs::metadata(&path).and_then(|m| {
            if m.len() > MAX_RULESET_BYTES {
                Err(std::io::Error::other(format!(
                    "the file is larger than {MAX_RULESET_BYTES} bytes"
                )))
            } else {
                std::fs::read(&path)
            }
        });
        let (hash, errors) = match &read {
            Ok(bytes) => (hex(&Sha1::digest(bytes)), Vec::new()),
            Err(e) => (String::new(), vec![format!("cannot read the file: {e}")]),
        };
        rulesets.push(Ruleset {
            revision: 0,
            key: key.clone(),
            hash,
            errors,
            warnings: Vec::new(),
        });
        if let Ok(bytes) = read {
            sources.push((key, bytes));
        }
    }

    // Compile everything once, noting each file's errors and warnings; if any file failed,
    // compile again without the failed ones, so that none of their rules stay in.
    let cache = cache_dir.map(|d| cache::Cache::new(d, &sources));
    let cached = cache.as_ref().and_then(cache::Cache::load);
    let from_cache = cached.is_some();
    let (mut rules, report, names) = match cached {
        Some(built) => built,
        None => build(&sources),
    };
    let failed: Vec<&str> = report
        .iter()
        .filter(|(_, errors, _)| !errors.is_empty())
        .map(|(key, _, _)| key.as_str())
        .collect();
    if !failed.is_empty() {
        sources.retain(|(key, _)| !failed.contains(&key.as_str()));
        // A cached entry already holds the rules built without them.
        if !from_cache {
            rules = build_with(&sources, names).0;
        }
    }
    // `assay scan` keeps no cache and exits after its files: it keeps the rules as built, since
    // reading them back would add 0.7 s to each run with signature-base.
    if let (Some(cache), false) = (&cache, from_cache) {
        rules = read_back(rules, cache, &report, names)
            .unwrap_or_else(|| build_with(&sources, names).0);
    }
    // Compiling, and reading rules back (YARA-X compiles their WebAssembly again), free tens of
    // MB the allocator would otherwise keep.
    crate::host::release_freed_memory();
    for (key, errors, warnings) in report {
        if let Some(r) = rulesets.iter_mut().find(|r| r.key == key) {
            r.errors.extend(errors);
            r.warnings = warnings;
        }
    }

    // The id covers what is active: the keys and contents that compiled.
    let id = if sources.is_empty() {
        EMPTY_ID.to_string()
    } else {
        digest_sources(Sha1::new(), &sources)
    };

    // Revisions: the global one moves when any file's content or outcome changed; a file's is
    // the global revision at which it last changed.
    let old: BTreeMap<&str, &Ruleset> = previous
        .rulesets
        .iter()
        .map(|r| (r.key.as_str(), r))
        .collect();
    let changed = rulesets.len() != previous.rulesets.len()
        || rulesets.iter().any(|r| {
            old.get(r.key.as_str())
                .is_none_or(|o| o.hash != r.hash || o.errors != r.errors)
        });
    let revision = if changed {
        previous.revision + 1
    } else {
        previous.revision
    };
    for r in &mut rulesets {
        r.revision = match old.get(r.key.as_str()) {
            Some(o) if o.hash == r.hash => o.revision,
            _ => revision,
        };
    }
    Compiled {
        id,
        revision,
        rulesets,
        rules: (!sources.is_empty()).then_some(rules),
        stamp,
        from_cache,
        reads_names: names,
    }
}

/// The rules `build` made, as their serialised form reads back (stored in `cache` on the way):
/// the rules a restart loads from the cache, for the server, which holds them for days. YARA-X's compiler leaves more in the rules it builds
/// than reading them back keeps: with signature-base an idle server held 104 MiB of anonymous
/// memory after compiling against 42 MiB after loading from its cache: 31 MiB of it freed by
/// the compilation and kept by the allocator (the caller's trim gives it back), 37 MiB more
/// held by the built rules. The built rules are dropped before the others are read: read with
/// them still held, the server kept 57 MiB instead of 35 (the freed memory lay around the rules
/// read, where it cannot be given back). Costs 0.7 s on signature-base's 2.2 s compilation.
/// None if the rules do not serialise or read back (neither should happen).
fn read_back(
    rules: yara_x::Rules,
    cache: &cache::Cache,
    report: &BuildReport,
    names: bool,
) -> Option<yara_x::Rules> {
    let serialised = rules
        .serialize()
        .map_err(|e| crate::log!("yara: cannot serialise the compiled rules: {e}"))
        .ok()?;
    drop(rules);
    cache.store(&serialised, report, names);
    yara_x::Rules::deserialize(&serialised)
        .map_err(|e| crate::log!("yara: cannot read back the compiled rules: {e}"))
        .ok()
}

/// Per file: key, errors, warnings.
type BuildReport = Vec<(String, Vec<String>, Vec<String>)>;

/// Compiles `sources`, each in the namespace named by its key, first without the variables that
/// hold a file's name and path, then, if some ruleset did not compile without them, with them
/// (LOKI's and THOR's rules test them). Says which it kept: the build with fewer failures,
/// preferring the one without names.
fn build(sources: &[(String, Vec<u8>)]) -> (yara_x::Rules, BuildReport, bool) {
    let failed = |r: &BuildReport| r.iter().filter(|(_, e, _)| !e.is_empty()).count();
    let (rules, report) = build_with(sources, false);
    if failed(&report) == 0 {
        return (rules, report, false);
    }
    let (with, with_report) = build_with(sources, true);
    if failed(&with_report) < failed(&report) {
        (with, with_report, true)
    } else {
        (rules, report, false)
    }
}

/// Compiles `sources`, each in the namespace named by its key, with LOKI's variables defined
/// (those of a file's name and path only when `names`).
fn build_with(sources: &[(String, Vec<u8>)], names: bool) -> (yara_x::Rules, BuildReport) {
    let mut compiler = yara_x::Compiler::new();
    // Rulesets come from a directory the operator fills; includes would reach outside it.
    compiler.enable_includes(false);
    // Rules written for LOKI and THOR test the variables those scanners define for each file.
    for name in externals::NAMES
        .into_iter()
        .filter(|n| names || !externals::is_name(n))
    {
        compiler
            .define_global(name, "")
            .expect("the external names are valid identifiers, defined once");
    }
    let mut report = Vec::new();
    for (key, bytes) in sources {
        let (errors_before, warnings_before) = (compiler.errors().len(), compiler.warnings().len());
        compiler.new_namespace(key);
        let source = yara_x::SourceCode::from(bytes.as_slice()).with_origin(key.as_str());
        let outcome = crate::log::guarded(|| compiler.add_source(source).map(|_| ()));
        let mut errors: Vec<String> = compiler.errors()[errors_before..]
            .iter()
            .map(|e| e.to_string())
            .collect();
        match outcome {
            Ok(Err(e)) if errors.is_empty() => errors.push(e.to_string()),
            Err(_) => errors.push("the compiler failed on this file (panic)".into()),
            _ => {}
        }
        let warnings = compiler.warnings()[warnings_before..]
            .iter()
            .map(|w| w.to_string())
            .collect();
        report.push((key.clone(), errors, warnings));
    }
    (compiler.build(), report)
}

/// One rule that matched a file, as `metadata.yara.matches` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMatch {
    pub ruleset: String,
    pub namespace: String,
    pub rule: String,
    pub tags: Vec<String>,
    pub meta: serde_json::Map<String, serde_json::Value>,
    pub strings: Vec<MatchedString>,
    /// More matched strings than `max_strings` were found.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strings_truncated: bool,
}

/// Where a pattern of a rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedString {
    pub identifier: String,
    pub offset: usize,
    pub length: usize,
}

/// What scanning one file found.
#[derive(Debug, Default)]
pub struct Scanned {
    pub matches: Vec<RuleMatch>,
    /// One vote per ruleset whose matched rules carry a verdict in their meta.
    pub votes: Vec<Vote>,
    pub indicators: Vec<Indicator>,
    /// Why the scan stopped early (a timeout), if it did.
    pub error: Option<String>,
}

/// Scans nodes with one generation of rules. An analysis thread keeps one across tasks for as
/// long as its generation is current: making a YARA-X scanner instantiates its WebAssembly store,
/// which costs milliseconds, more than scanning a small file.
pub struct Scanner<'r> {
    compiled: &'r Compiled,
    options: &'r Options,
    scanner: Option<yara_x::Scanner<'r>>,
}

impl<'r> Scanner<'r> {
    pub fn new(compiled: &'r Compiled, options: &'r Options) -> Scanner<'r> {
        Scanner {
            compiled,
            options,
            scanner: None,
        }
    }

    /// The id of the rules this scanner scans with.
    pub fn id(&self) -> &str {
        &self.compiled.id
    }

    /// Whether its rules read a file's name or path ([`Compiled::reads_names`]).
    pub fn reads_names(&self) -> bool {
        self.compiled.reads_names
    }

    /// Drops the YARA-X scanner, so the next scan starts from a new one (after a panic left it
    /// in an unknown state).
    pub fn reset(&mut self) {
        self.scanner = None;
    }

    /// Scans one file, with `vars` as the LOKI/THOR external variables. Nothing when no rules
    /// are active.
    pub fn scan(&mut self, data: &[u8], vars: &FileVars) -> Scanned {
        let Some(rules) = &self.compiled.rules else {
            return Scanned::default();
        };
        let timeout = self.options.scan_timeout;
        let scanner = self.scanner.get_or_insert_with(|| {
            let mut s = yara_x::Scanner::new(rules);
            s.set_timeout(timeout)
                .max_matches_per_pattern(MAX_MATCHES_PER_PATTERN);
            s
        });
        let mut out = Scanned::default();
        let names = self.compiled.reads_names;
        for (name, value) in vars
            .pairs()
            .filter(|(n, _)| names || !externals::is_name(n))
        {
            if let Err(e) = scanner.set_global(name, value) {
                out.error = Some(format!("YARA scan failed: the variable {name}: {e}"));
                return out;
            }
        }
        let results = match scanner.scan(data) {
            Ok(results) => results,
            Err(yara_x::ScanError::Timeout) => {
                out.error = Some(format!(
                    "YARA scan stopped after {} s (scan_timeout); rules may have been missed",
                    timeout.as_secs_f64()
                ));
                return out;
            }
            Err(e) => {
                out.error = Some(format!("YARA scan failed: {e}"));
                return out;
            }
        };
        let mut worst: BTreeMap<String, Vote> = BTreeMap::new();
        for rule in results.matching_rules().take(MAX_RULES_PER_FILE) {
            let m = rule_match(&rule, self.options.max_strings);
            let verdict = verdict_of(&m);
            out.indicators.push(Indicator {
                priority: match verdict.as_ref().map(|v| v.classification) {
                    Some(MALICIOUS) => 8,
                    Some(SUSPICIOUS) => 5,
                    Some(_) => 1,
                    None => 3,
                },
                category: "yara".into(),
                description: describe(&m),
                id: format!("yara:{}:{}", m.ruleset, m.rule),
                relevance: if verdict.is_some() {
                    RELEVANCE_VOTES
                } else {
                    RELEVANCE_INFO
                },
                reasons: m.strings.iter().map(|s| s.identifier.clone()).collect(),
            });
            if let Some(v) = verdict {
                let slot = worst.entry(v.name.clone()).or_insert_with(|| v.clone());
                if (rank(v.classification), v.factor) > (rank(slot.classification), slot.factor) {
                    *slot = v;
                }
            }
            out.matches.push(m);
        }
        out.votes = worst.into_values().collect();
        out
    }
}

fn rule_match(rule: &yara_x::Rule, max_strings: usize) -> RuleMatch {
    let mut strings = Vec::new();
    let mut truncated = false;
    for pattern in rule.patterns() {
        for m in pattern.matches() {
            if strings.len() >= max_strings {
                truncated = true;
                break;
            }
            let range = m.range();
            strings.push(MatchedString {
                identifier: pattern.identifier().to_string(),
                offset: range.start,
                length: range.len(),
            });
        }
    }
    let meta = rule
        .metadata()
        .map(|(name, value)| {
            let value = match value {
                yara_x::MetaValue::Integer(i) => serde_json::Value::from(i),
                yara_x::MetaValue::Float(f) => serde_json::Value::from(f),
                yara_x::MetaValue::Bool(b) => serde_json::Value::from(b),
                yara_x::MetaValue::String(s) => serde_json::Value::from(s),
                yara_x::MetaValue::Bytes(b) => {
                    serde_json::Value::from(String::from_utf8_lossy(b.as_ref()).into_owned())
                }
            };
            (name.to_string(), value)
        })
        .collect();
    RuleMatch {
        ruleset: rule.namespace().to_string(),
        namespace: rule.namespace().to_string(),
        rule: rule.identifier().to_string(),
        tags: rule.tags().map(|t| t.identifier().to_string()).collect(),
        meta,
        strings,
        strings_truncated: truncated,
    }
}

/// The verdict a match's meta carries: `classification` (`malicious`, `suspicious`,
/// `goodware`), `threat_name`, and optionally `factor` (0-10).
fn verdict_of(m: &RuleMatch) -> Option<Vote> {
    let text = |key: &str| m.meta.get(key).and_then(|v| v.as_str());
    let classification = match text("classification")?.trim().to_ascii_lowercase().as_str() {
        "malicious" => MALICIOUS,
        "suspicious" => SUSPICIOUS,
        "goodware" => GOODWARE,
        _ => return None,
    };
    let default_factor = match classification {
        MALICIOUS => 5,
        SUSPICIOUS => 3,
        _ => 1,
    };
    let factor = match m.meta.get("factor") {
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map_or(default_factor, |f| f.clamp(0, 10) as u8),
        None => default_factor,
    };
    let result = text("threat_name")
        .map(str::to_string)
        .unwrap_or_else(|| format!("YARA.Rule.{}", m.rule));
    Some(Vote {
        name: format!("yara:{}", m.ruleset),
        kind: ScanType::Internal,
        classification,
        factor,
        result,
    })
}

fn describe(m: &RuleMatch) -> String {
    let mut text = format!("Matches YARA rule {} from ruleset {}", m.rule, m.ruleset);
    if let Some(d) = m.meta.get("description").and_then(|v| v.as_str()) {
        text.push_str(": ");
        text.push_str(d);
    }
    text
}

/// Compiled rules kept between runs, so that a restart with a large rule set does not compile
/// again (5,000 rules take seconds). An entry is named by a digest of the sources (every
/// ruleset's key and bytes, and this program's version) and holds each ruleset's errors and
/// warnings beside the serialised rules. It is signed with HMAC-SHA256 under a key made for this
/// installation (`<cache_dir>/key`, mode 0600), and an entry that does not verify is ignored:
/// YARA-X warns that deserialising rules someone else wrote is unsafe.
mod cache {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use sha2::{Digest, Sha256};

    use super::BuildReport;

    const KEY_FILE: &str = "key";
    const SUFFIX: &str = ".rules";

    pub(super) struct Cache {
        dir: PathBuf,
        name: String,
    }

    impl Cache {
        pub(super) fn new(dir: &Path, sources: &[(String, Vec<u8>)]) -> Cache {
            let mut h = Sha256::new();
            h.update(env!("CARGO_PKG_VERSION").as_bytes());
            // Rules compiled without the external variables cannot scan with them set; the
            // entry also says whether those of the name were defined.
            for name in crate::analysis::externals::NAMES {
                h.update(name.as_bytes());
            }
            h.update(b"names probed");
            let name = super::digest_sources(h, sources);
            Cache {
                dir: dir.to_path_buf(),
                name,
            }
        }

        fn path(&self) -> PathBuf {
            self.dir.join(format!("{}{SUFFIX}", self.name))
        }

        /// The entry for these sources, if there is one this installation wrote.
        pub(super) fn load(&self) -> Option<(yara_x::Rules, BuildReport, bool)> {
            let key = std::fs::read(self.dir.join(KEY_FILE)).ok()?;
            let data = std::fs::read(self.path()).ok()?;
            // mac (32) | reads names (1) | report length (8) | report (JSON) | rules
            let (mac, rest) = data.split_at_checked(32)?;
            if !verifies(&key, rest, mac) {
                crate::log!(
                    "yara: ignoring {}: its signature does not verify",
                    self.path().display()
                );
                return None;
            }
            let (names, rest) = rest.split_first()?;
            let (len, rest) = rest.split_at_checked(8)?;
            let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
            let (report, rules) = rest.split_at_checked(len)?;
            let report: BuildReport = serde_json::from_slice(report).ok()?;
            let rules = yara_x::Rules::deserialize(rules).ok()?;
            Some((rules, report, *names == 1))
        }

        /// Writes the entry for these sources (`rules` serialised), replacing every other entry.
        pub(super) fn store(&self, rules: &[u8], report: &BuildReport, names: bool) {
            if let Err(e) = self.try_store(rules, report, names) {
                crate::log!(
                    "yara: cannot cache the compiled rules in {}: {e}",
                    self.dir.display()
                );
            }
        }

        fn try_store(
            &self,
            rules: &[u8],
            report: &BuildReport,
            names: bool,
        ) -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let key = key(&self.dir)?;
            let report = serde_json::to_vec(report)?;
            let mut body = Vec::with_capacity(9 + report.len() + rules.len());
            body.push(u8::from(names));
            body.extend((report.len() as u64).to_le_bytes());
            body.extend(&report);
            body.extend(rules);
            let tmp = self.dir.join(format!(".{}.tmp", self.name));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&sign(&key, &body))?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.path())?;
            for entry in std::fs::read_dir(&self.dir)?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(SUFFIX) && entry.path() != self.path() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            Ok(())
        }
    }

    /// This installation's key, made on first use from the system's random source.
    fn key(dir: &Path) -> std::io::Result<Vec<u8>> {
        let path = dir.join(KEY_FILE);
        if let Ok(key) = std::fs::read(&path) {
            if key.len() == 32 {
                return Ok(key);
            }
        }
        let mut key = vec![0u8; 32];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut key)?;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(&key)?;
        f.sync_all()?;
        Ok(key)
    }

    type HmacSha256 = hmac::Hmac<Sha256>;

    fn keyed(key: &[u8]) -> HmacSha256 {
        use hmac::KeyInit;
        HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length")
    }

    /// The HMAC-SHA256 (RFC 2104) of `data` under `key`.
    fn sign(key: &[u8], data: &[u8]) -> Vec<u8> {
        use hmac::Mac;
        let mut mac = keyed(key);
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `mac` is the HMAC-SHA256 of `data` under `key`, compared in constant time.
    fn verifies(key: &[u8], data: &[u8], mac: &[u8]) -> bool {
        use hmac::Mac;
        let mut m = keyed(key);
        m.update(data);
        m.verify_slice(mac).is_ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn hmac_sha256_matches_rfc_4231() {
            // RFC 4231 test case 2.
            let mac = sign(b"Jefe", b"what do ya want for nothing?");
            assert_eq!(
                crate::analysis::hashes::hex(&mac),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            );
            assert!(verifies(b"Jefe", b"what do ya want for nothing?", &mac));
            assert!(!verifies(b"Jefe", b"what do ya want for nothing!", &mac));
            assert!(!verifies(
                b"Jefe",
                b"what do ya want for nothing?",
                &mac[..31]
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rules directory under the system's temporary directory, removed when dropped.
    struct RulesDir(PathBuf);

    impl std::ops::Deref for RulesDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for RulesDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str, files: &[(&str, &str)]) -> RulesDir {
        let d = std::env::temp_dir().join(format!("assay-yara-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for (key, text) in files {
            let path = d.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        RulesDir(d)
    }

    const GOOD: &str = "rule Good { strings: $a = \"needle\" condition: $a }";
    const BROKEN: &str = "rule Broken {\n  condition:\n    nothing_here\n}\n";

    fn scan(compiled: &Compiled, options: &Options, data: &[u8]) -> Scanned {
        Scanner::new(compiled, options).scan(data, &FileVars::new("sample.bin", data, ""))
    }

    #[test]
    fn rulesets_are_the_yar_files_keyed_by_relative_path() {
        let d = dir(
            "keys",
            &[
                ("b.yara", GOOD),
                ("sub/a.YAR", GOOD),
                ("notes.txt", "not rules"),
                (".hidden.yar", GOOD),
            ],
        );
        let keys: Vec<String> = ruleset_files(&d).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b.yara", "sub/a.YAR"]);
    }

    #[test]
    fn a_broken_ruleset_is_left_out_with_its_errors_and_the_rest_compiles() {
        let d = dir("broken", &[("a.yar", BROKEN), ("b.yar", GOOD)]);
        let c = compile(&d, None, &Compiled::empty());
        assert_eq!(c.rule_count(), 1);
        assert_eq!(c.revision, 1);
        let broken = &c.rulesets[0];
        assert_eq!(broken.key, "a.yar");
        assert!(broken.errors[0].contains("a.yar:3:"), "{:?}", broken.errors);
        assert!(c.rulesets[1].errors.is_empty());
        // The id covers the active ruleset only: the same as b.yar alone.
        let alone = dir("broken-alone", &[("b.yar", GOOD)]);
        assert_eq!(c.id, compile(&alone, None, &Compiled::empty()).id);
        let found = scan(&c, &Options::default(), b"a needle in a haystack");
        assert_eq!(found.matches[0].rule, "Good");
        assert_eq!(found.matches[0].ruleset, "b.yar");
    }

    #[test]
    fn includes_are_refused() {
        let d = dir(
            "include",
            &[(
                "a.yar",
                "include \"/etc/passwd\"\nrule A { condition: true }",
            )],
        );
        let c = compile(&d, None, &Compiled::empty());
        assert!(!c.rulesets[0].errors.is_empty());
        assert_eq!(c.rule_count(), 0);
        assert_eq!(c.id, EMPTY_ID);
    }

    #[test]
    fn revisions_move_only_with_changes() {
        let d = dir("revisions", &[("a.yar", GOOD), ("b.yar", GOOD)]);
        let first = compile(&d, None, &Compiled::empty());
        let same = compile(&d, None, &first);
        assert_eq!((same.revision, &same.id), (1, &first.id));
        std::fs::write(
            d.join("b.yar"),
            "rule Other { strings: $a = \"pin\" condition: $a }",
        )
        .unwrap();
        let changed = compile(&d, None, &same);
        assert_eq!(changed.revision, 2);
        assert_ne!(changed.id, first.id);
        assert_eq!(changed.rulesets[0].revision, 1);
        assert_eq!(changed.rulesets[1].revision, 2);
        std::fs::remove_file(d.join("a.yar")).unwrap();
        let removed = compile(&d, None, &changed);
        assert_eq!(removed.revision, 3);
        assert_eq!(removed.rulesets.len(), 1);
    }

    #[test]
    fn meta_makes_a_verdict_and_matched_strings_are_capped() {
        let d = dir(
            "meta",
            &[(
                "v.yar",
                r#"rule V : t1 {
                    meta:
                        classification = "Suspicious"
                        factor = "42"
                        author = "someone"
                    strings: $a = "ab"
                    condition: $a
                }
                rule Plain { strings: $b = "ab" condition: #b > 2 }"#,
            )],
        );
        let c = compile(&d, None, &Compiled::empty());
        let options = Options {
            max_strings: 3,
            ..Options::default()
        };
        let found = scan(&c, &options, &b"ab".repeat(10));
        assert_eq!(found.matches.len(), 2);
        let v = &found.matches[0];
        assert_eq!((v.strings.len(), v.strings_truncated), (3, true));
        assert_eq!(v.strings[1].offset, 2);
        assert_eq!(v.tags, ["t1"]);
        assert_eq!(found.votes.len(), 1);
        let vote = &found.votes[0];
        assert_eq!(vote.classification, SUSPICIOUS);
        assert_eq!(vote.factor, 10, "a factor over 10 is clamped");
        assert_eq!(vote.result, "YARA.Rule.V");
        assert_eq!(vote.name, "yara:v.yar");
        assert_eq!(found.indicators.len(), 2);
        assert_eq!(found.indicators[1].relevance, RELEVANCE_INFO);
    }

    #[test]
    fn the_name_variables_are_defined_only_when_a_ruleset_needs_them() {
        let plain = compile(&dir("plain", &[("a.yar", GOOD)]), None, &Compiled::empty());
        assert!(!plain.reads_names);
        let found = scan(&plain, &Options::default(), b"a needle");
        assert_eq!((found.matches.len(), found.error), (1, None));

        let by_name =
            "rule ByName { condition: filename == \"sample.bin\" and extension == \".bin\" }";
        let d = dir(
            "named",
            &[("a.yar", GOOD), ("n.yar", by_name), ("z.yar", BROKEN)],
        );
        let cache = d.join("cache");
        for from_cache in [false, true] {
            let named = compile(&d, Some(&cache), &Compiled::empty());
            assert_eq!(named.from_cache, from_cache);
            assert!(named.reads_names, "from the cache: {from_cache}");
            let errors: Vec<bool> = named.rulesets.iter().map(|r| r.errors.is_empty()).collect();
            assert_eq!(
                errors,
                [true, true, false],
                "only the broken one is left out"
            );
            let found = scan(&named, &Options::default(), b"a needle");
            let rules: Vec<&str> = found.matches.iter().map(|m| m.rule.as_str()).collect();
            assert_eq!(rules, ["Good", "ByName"]);
        }
    }

    #[test]
    fn compiled_rules_are_cached_and_a_tampered_entry_is_ignored() {
        let d = dir("cache", &[("a.yar", GOOD), ("b.yar", BROKEN)]);
        let cache = d.join("cache");
        let first = compile(&d, Some(&cache), &Compiled::empty());
        assert!(!first.from_cache);
        let again = compile(&d, Some(&cache), &Compiled::empty());
        assert!(again.from_cache);
        assert_eq!(again.id, first.id);
        assert_eq!(
            again.rulesets, first.rulesets,
            "errors come back from the cache too"
        );
        let found = scan(&again, &Options::default(), b"the needle");
        assert_eq!(found.matches[0].rule, "Good");
        // One flipped byte and the entry is not trusted: the rules are compiled again.
        let entry = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".rules"))
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&entry, bytes).unwrap();
        let tampered = compile(&d, Some(&cache), &Compiled::empty());
        assert!(!tampered.from_cache);
        assert_eq!(tampered.id, first.id);
    }

    #[test]
    fn a_scan_past_its_timeout_stops_and_says_so() {
        // A loop of 10^14 steps over a 1 MB file: hours on any machine, against a one-second
        // timeout.
        let d = dir(
            "timeout",
            &[(
                "slow.yar",
                "rule Slow { condition: for any i in (0..filesize * 100000000) : (i == -1) }",
            )],
        );
        let c = compile(&d, None, &Compiled::empty());
        assert!(
            c.rulesets[0].errors.is_empty(),
            "{:?}",
            c.rulesets[0].errors
        );
        let options = Options {
            scan_timeout: Duration::from_secs(1),
            ..Options::default()
        };
        let started = std::time::Instant::now();
        let found = scan(&c, &options, &vec![0u8; 1_000_000]);
        // Stopped near its timeout; the ceiling only leaves room for a loaded machine.
        assert!(started.elapsed() < Duration::from_secs(30));
        let error = found.error.expect("the scan should time out");
        assert!(error.contains("scan_timeout"), "{error}");
        assert!(found.matches.is_empty());
    }

    /// The rules matched by each file, scanned in turn by one scanner (as an analysis thread
    /// does), as `rule` names sorted.
    fn matched_in_turn(compiled: &Compiled, files: &[&[u8]]) -> Vec<Vec<String>> {
        let options = Options::default();
        let mut scanner = Scanner::new(compiled, &options);
        files
            .iter()
            .map(|data| {
                let found = scanner.scan(data, &FileVars::new("sample.bin", data, ""));
                assert!(found.error.is_none(), "{:?}", found.error);
                let mut rules: Vec<String> = found.matches.into_iter().map(|m| m.rule).collect();
                rules.sort();
                rules
            })
            .collect()
    }

    // The vendored yara-x checks a pattern's header constraint once per distinct constraint,
    // skips a rule whose header the data lacks, and keeps the structure built from a module's
    // output while that output stays the same (its patches in vendor/yara-x/README.md). Files
    // scanned one after another by the same scanner must match as each would alone.
    #[test]
    fn header_constraints_hold_for_each_file_scanned_in_turn() {
        // YARA-X gives header constraints to regular expressions and hex strings only. Rules
        // that never match come first and between, so that the constrained patterns lie in
        // different words of the scanner's bitmap of patterns, past the first.
        let filler = |from: usize, to: usize| -> String {
            (from..to)
                .map(|i| format!("rule F{i} {{ strings: $a = /filler-{i}-x+/ condition: $a }}\n"))
                .collect()
        };
        let rules = format!(
            "{}rule Mz {{ strings: $a = /mz-ne+dle/ condition: uint16(0) == 0x5a4d and $a }}\n\
             {}rule Pdf {{ strings: $a = /pdf-ne+dle/ condition: uint32(0) == 0x46445025 and $a }}\n\
             rule Any {{ strings: $a = /any-ne+dle/ condition: $a }}",
            filler(0, 100),
            filler(100, 200),
        );
        // Two more rulesets (each its own namespace): a global rule that needs a header, so every
        // rule beside it does too; a rule that needs one through a private rule.
        let gated = "global rule Gate { condition: uint16(0) == 0x5a4d }\n\
                     rule Gated { strings: $a = /any-ne+dle/ condition: $a }";
        let via = "private rule PdfHead { condition: uint32(0) == 0x46445025 }\n\
                   rule ViaPrivate { condition: PdfHead and filesize > 0 }";
        let d = dir(
            "headers",
            &[("h.yar", rules.as_str()), ("i.yar", gated), ("j.yar", via)],
        );
        let c = compile(&d, None, &Compiled::empty());
        assert_eq!(c.rule_count(), 207, "{:?}", c.rulesets);
        // Each file holds every rule's string. (A rule's conditions check the header again, so
        // a patch that disabled too little would pass here: it would only cost time.)
        let mz: &[u8] = b"MZ mz-needle pdf-needle any-needle";
        let pdf: &[u8] = b"%PDF mz-needle pdf-needle any-needle";
        let plain: &[u8] = b"mz-needle pdf-needle any-needle";
        let found = matched_in_turn(&c, &[mz, pdf, plain, mz, mz, pdf]);
        let expect = |rules: &[&str]| rules.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(
            found,
            [
                expect(&["Any", "Gate", "Gated", "Mz"]),
                expect(&["Any", "Pdf", "ViaPrivate"]),
                expect(&["Any"]),
                expect(&["Any", "Gate", "Gated", "Mz"]),
                expect(&["Any", "Gate", "Gated", "Mz"]),
                expect(&["Any", "Pdf", "ViaPrivate"]),
            ]
        );
    }

    // The vendored yara-x's third patch: a rule that needs a header the data lacks is false
    // without its condition being run (the test above cannot see that: a run condition gives the
    // same result). `console.log` in the condition says whether it ran; it comes first, since
    // `and` stops at the first false operand.
    #[test]
    fn a_rule_whose_header_the_data_lacks_is_not_evaluated() {
        let mut compiler = yara_x::Compiler::new();
        compiler
            .add_source(
                "import \"console\"\n\
                 rule Mz { condition: console.log(\"ran\") and uint16(0) == 0x5a4d }",
            )
            .unwrap();
        let rules = compiler.build();
        let ran = std::cell::Cell::new(0);
        let mut scanner = yara_x::Scanner::new(&rules);
        scanner.console_log(|_| ran.set(ran.get() + 1));
        let mut matched = |data: &[u8]| scanner.scan(data).unwrap().matching_rules().len();
        assert_eq!(matched(b"MZ and more"), 1);
        assert_eq!(ran.get(), 1);
        assert_eq!(matched(b"not a program"), 0);
        assert_eq!(matched(b"M"), 0);
        assert_eq!(
            ran.get(),
            1,
            "the condition ran for data without the header"
        );
        assert_eq!(matched(b"MZ again"), 1);
        assert_eq!(ran.get(), 2);
    }

    // The vendored yara-x evaluates the condition of a rule that needs one of its own patterns
    // to match (`$a`, `any of them`, `#a > 0`, an `or` of such) only when one of them matched
    // (change 5 in vendor/yara-x/README.md).
    #[test]
    fn a_rule_whose_patterns_did_not_match_is_not_evaluated() {
        let mut compiler = yara_x::Compiler::new();
        // Patterns before the rules tested, so that theirs lie past the first bytes of the
        // bitmap of matched patterns.
        let mut source = String::from("import \"console\"\n");
        for i in 0..21 {
            source += &format!("rule Filler{i} {{ strings: $f = \"filler{i}\" condition: $f }}\n");
        }
        source += r#"
            rule Bare { strings: $a = "alpha" condition: console.log("Bare") and $a }
            rule AnyOf { strings: $a = "alpha" $b = "beta" condition: console.log("AnyOf") and any of them }
            rule TwoOf {
                strings: $x1 = "x01" $x2 = "x02" $x3 = "x03" $x4 = "x04" $x5 = "x05" $x6 = "x06"
                         $x7 = "x07" $x8 = "x08" $x9 = "x09" $x10 = "x10" $x11 = "x11" $x12 = "x12"
                condition: console.log("TwoOf") and 2 of ($x*)
            }
            rule Count { strings: $a = "gamma" condition: console.log("Count") and #a > 0 }
            rule CountBack { strings: $a = "gamma" condition: console.log("CountBack") and 1 <= #a }
            rule Either {
                strings: $a = "delta" $b = "epsilon"
                condition: console.log("Either") and ($a or (#b == 2 and filesize > 0))
            }
        "#;
        compiler.add_source(source.as_str()).unwrap();
        let rules = compiler.build();
        let ran = std::cell::RefCell::new(Vec::<String>::new());
        let mut scanner = yara_x::Scanner::new(&rules);
        scanner.console_log(|m| ran.borrow_mut().push(m));
        let mut scan = |data: &[u8]| {
            ran.borrow_mut().clear();
            let mut matched: Vec<String> = scanner
                .scan(data)
                .unwrap()
                .matching_rules()
                .map(|r| r.identifier().to_string())
                .filter(|r| !r.starts_with("Filler"))
                .collect();
            matched.sort();
            let mut evaluated = ran.borrow().clone();
            evaluated.sort();
            (matched, evaluated)
        };

        let (matched, evaluated) = scan(b"none of their patterns, filler3 only");
        assert!(matched.is_empty(), "{matched:?}");
        assert!(
            evaluated.is_empty(),
            "conditions ran without their patterns: {evaluated:?}"
        );

        // Each rule's condition runs once one of its patterns matched, and decides.
        let (matched, evaluated) = scan(b"alpha x12 gamma epsilon");
        assert_eq!(matched, ["AnyOf", "Bare", "Count", "CountBack"]);
        assert_eq!(
            evaluated,
            ["AnyOf", "Bare", "Count", "CountBack", "Either", "TwoOf"]
        );
        let (matched, _) = scan(b"x11 x12 beta epsilon epsilon");
        assert_eq!(matched, ["AnyOf", "Either", "TwoOf"]);
        let (matched, _) = scan(b"x01 x07 x08 delta");
        assert_eq!(matched, ["Either", "TwoOf"]);
    }

    // Rules that can hold without any of their patterns matching keep being evaluated (the
    // vendored yara-x's change 5 must not skip them).
    #[test]
    fn rules_that_hold_without_their_patterns_still_match() {
        let holds = r#"
            rule Not { strings: $a = "alpha" condition: not $a }
            rule CountZero { strings: $a = "alpha" condition: #a == 0 }
            rule CountBelow { strings: $a = "alpha" condition: #a < 1 }
            rule CountAtLeastZero { strings: $a = "alpha" condition: #a >= 0 }
            rule NoneOf { strings: $a = "alpha" $b = "beta" condition: none of them }
            rule ZeroOf { strings: $a = "alpha" $b = "beta" condition: 0 of them }
            rule OrSize { strings: $a = "alpha" condition: $a or filesize > 0 }
            rule ForOf { strings: $a = "alpha" condition: for any of ($a) : (filesize > 0) }
            rule Undefined { strings: $a = "alpha" condition: not defined @a[1] }
            rule Other { condition: true }
            rule ByReference { strings: $a = "alpha" condition: Other or $a }
            "#;
        // In a namespace of its own, a global rule that needs its pattern: the rule beside it
        // matches only when the global one does, as before.
        let global = r#"
            global rule Gate { strings: $g = "gate" condition: $g }
            rule Gated { condition: true }
            "#;
        let d = dir("holds", &[("holds.yar", holds), ("global.yar", global)]);
        let compiled = compile(&d, None, &Compiled::empty());
        assert_eq!(compiled.rule_count(), 13, "{:?}", compiled.rulesets);
        let found = matched_in_turn(
            &compiled,
            &[b"nothing the rules look for", b"the gate is open"],
        );
        assert_eq!(
            found[0],
            [
                "ByReference",
                "CountAtLeastZero",
                "CountBelow",
                "CountZero",
                "ForOf",
                "NoneOf",
                "Not",
                "OrSize",
                "Other",
                "Undefined",
                "ZeroOf"
            ]
        );
        assert_eq!(found[1].len(), 13, "{:?}", found[1]);
    }

    // The vendored yara-x looks each position of the data up in tables of its atoms instead of
    // walking its Aho-Corasick automaton: the scanner must be handed the same atom matches in
    // the same order (which decides how chained patterns are pieced together).
    #[test]
    fn atoms_are_found_as_the_automaton_finds_them() {
        let mut compiler = yara_x::Compiler::new();
        compiler
            .add_source(
                r#"rule Short { strings: $a = "A" $b = "MZ" $c = "abc" $d = { 4D 5A 90 } $e = "QRSA"
                   condition: any of them }
                   rule Long { strings: $a = "abcdefgh" $b = "abcd" wide $c = "needle in" nocase
                   $d = { 00 00 00 00 } $e = "bcd" $f = { 61 62 [2-40] 67 68 69 6A }
                   condition: any of them }
                   rule Again { strings: $a = "abcdefgh" $b = "efgh" condition: all of them }
                   rule Shared { strings: $a = { 61 62 63 64 ?? 31 } $b = { 61 62 63 64 ?? 32 }
                   $c = { 63 00 64 00 ?? 01 } $d = /wxyz[0-9]/ wide $e = /xyz[0-9]/ wide
                   $f = /yz[0-9]/ wide
                   condition: any of them }"#,
            )
            .unwrap();
        let rules = compiler.build();
        let planted: [&[u8]; 10] = [
            b"A",
            b"QRSA",
            b"MZ\x90",
            b"abcdefgh",
            b"a\0b\0c\0d\0",
            b"NeEdLe In",
            b"\0\0\0\0\0",
            b"ab-xyz-ghij",
            b"xbcd",
            // Atoms of 8 and 6 bytes (regular expressions made wide) ending at the same byte.
            b"w\0x\0y\0z\x001\0",
        ];
        let mut data = Vec::new();
        let mut plants = 0;
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..4096 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
            if i % 97 == 0 {
                data.extend_from_slice(planted[(x % 10) as usize]);
                plants += 1;
            }
        }
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), data.clone()];
        for p in planted {
            // Alone (shorter than the four bytes a window holds), at the start, at the end.
            cases.push(p.to_vec());
            cases.push([p, &data[..50]].concat());
            cases.push([&data[..50], p].concat());
        }
        for (i, case) in cases.iter().enumerate() {
            let automaton = rules.atom_matches(case, true);
            assert_eq!(rules.atom_matches(case, false), automaton, "case {i}");
        }
        // Every planted string holds an atom.
        let n = rules.atom_matches(&data, false).len();
        assert!(n > plants, "{n} atom matches for {plants} planted strings");
        assert!(!rules.atom_matches(b"A", false).is_empty());
        assert!(!rules.atom_matches(b"MZ", false).is_empty());
    }

    // The vendored yara-x's atom search passes an atom's match on to be verified only when the
    // bytes of its literal next to the atom agree with the data (change 7 in
    // vendor/yara-x/README.md). A literal must still match wherever it lies (alone, at the start,
    // at the end, inside), and with any of its fixed bytes changed it must not.
    #[test]
    fn literals_match_wherever_they_lie_and_not_with_a_fixed_byte_changed() {
        // (rule, a string it matches, for each byte the bits the pattern fixes there)
        let wide: Vec<u8> = b"wide-string-here".iter().flat_map(|&b| [b, 0]).collect();
        // A jump whose length may vary by more than 200 bytes splits a hex string into a chain
        // of literals.
        let (head, tail) = (b"chain-head:0123", b"chain-tail:4567");
        let chain: Vec<u8> = [&head[..], &[0xEE; 250], tail].concat();
        let chain_fixed: Vec<u8> = [vec![0xFF; 15], vec![0; 250], vec![0xFF; 15]].concat();
        let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
            (
                "Literal",
                b"pre:Needle-in-a-haystack:post".to_vec(),
                vec![0xFF; 29],
            ),
            (
                "Masked",
                vec![
                    0x48, 0x8D, 1, 2, 3, 4, 5, 6, 0x48, 0x8B, 7, 0x48, 0x81, 8, 9, 10, 11, 12, 0x72,
                ],
                vec![
                    255, 255, 0, 0, 0, 0, 0, 0, 255, 255, 0, 255, 255, 0, 0, 0, 0, 0, 255,
                ],
            ),
            (
                "Nibbles",
                vec![0x41, 0x8D, 0x05, 0xFF, 0x11, 0x22, 0x33, 0x44, 0x55],
                vec![0xF0, 0xFF, 0xF0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            ),
            ("Wide", wide.clone(), vec![0xFF; wide.len()]),
            ("Chain", chain, chain_fixed),
        ];
        let mut source = String::new();
        // More atoms than the 64 of Teddy, which yara-x uses instead of the atom search.
        for i in 0..70 {
            source += &format!(
                "rule Filler{i} {{ strings: $f = \"zq{i:03}-filler-qz\" condition: $f }}\n"
            );
        }
        source += r#"
            rule Literal { strings: $a = "pre:Needle-in-a-haystack:post" condition: $a }
            rule Masked { strings: $a = { 48 8D ?? ?? ?? ?? ?? ?? 48 8B ?? 48 81 ?? ?? ?? ?? ?? 72 } condition: $a }
            rule Nibbles { strings: $a = { 4? 8D 0? ?? 11 22 33 44 55 } condition: $a }
            rule Wide { strings: $a = "wide-string-here" wide condition: $a }
            rule Chain {
                strings: $a = { 63 68 61 69 6E 2D 68 65 61 64 3A 30 31 32 33 [10-300]
                                63 68 61 69 6E 2D 74 61 69 6C 3A 34 35 36 37 }
                condition: $a
            }
            rule NoCase { strings: $a = "Case-Insensitive-Text" nocase condition: $a }
        "#;
        let mut compiler = yara_x::Compiler::new();
        compiler.add_source(source.as_str()).unwrap();
        let rules = compiler.build();
        let mut scanner = yara_x::Scanner::new(&rules);
        let mut matched = |data: &[u8]| -> Vec<String> {
            let mut v: Vec<String> = scanner
                .scan(data)
                .unwrap()
                .matching_rules()
                .map(|r| r.identifier().to_string())
                .collect();
            v.sort();
            v
        };
        // 300 bytes no rule matches: the sha1 digests of 0 to 14.
        let background: Vec<u8> = (0u32..15)
            .flat_map(|i| <sha1::Sha1 as sha1::Digest>::digest(i.to_le_bytes()))
            .collect();
        assert!(matched(&background).is_empty());
        let placed = |s: &[u8]| -> Vec<Vec<u8>> {
            vec![
                s.to_vec(),
                [s, &background].concat(),
                [&background, s].concat(),
                [&background[..150], s, &background[150..]].concat(),
                [&background[..3], s, &background[..3]].concat(),
            ]
        };
        for (rule, string, fixed) in &cases {
            assert_eq!(string.len(), fixed.len(), "{rule}");
            for (at, data) in placed(string).iter().enumerate() {
                assert_eq!(matched(data), [*rule], "{rule} placed {at}");
            }
            for i in 0..string.len() {
                // Flip the lowest bit the pattern fixes there, or any bit where it fixes none.
                let flip = if fixed[i] == 0 {
                    0xFF
                } else {
                    fixed[i] & fixed[i].wrapping_neg()
                };
                let mut changed = string.clone();
                changed[i] ^= flip;
                let expected: &[&str] = if fixed[i] == 0 { &[*rule] } else { &[] };
                for (at, data) in placed(&changed).iter().enumerate() {
                    assert_eq!(
                        matched(data),
                        expected,
                        "{rule}, byte {i} changed, placed {at}"
                    );
                }
            }
        }
        // The filler rules' atoms may share their bytes (a group whose hints differ): one of
        // them inside the data matches, whatever the others' hints say.
        for i in [0, 37, 69] {
            let filler = format!("zq{i:03}-filler-qz");
            let data = [&background[..150], filler.as_bytes(), &background[150..]].concat();
            assert_eq!(matched(&data), [format!("Filler{i}")]);
        }
        // Case-insensitive literals are verified as before.
        for s in [&b"Case-Insensitive-Text"[..], b"cASE-iNSENSITIVE-tEXT"] {
            for (at, data) in placed(s).iter().enumerate() {
                assert_eq!(matched(data), ["NoCase"], "placed {at}");
            }
        }
        assert!(matched(&placed(b"Case-Insensitive-Tex!")[3]).is_empty());
    }

    // The same against the automaton with arbitrary atoms (rules give little say over which atoms
    // YARA-X picks): one to ten bytes over alphabets of one to four letters, a quarter of them
    // copies or suffixes of earlier ones, so that many end at the same byte.
    #[test]
    fn arbitrary_atoms_are_found_as_the_automaton_finds_them() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut matches = 0;
        for case in 0..3000 {
            let letters = 1 + next(4) as u8;
            let mut atoms: Vec<Vec<u8>> = Vec::new();
            for _ in 0..1 + next(40) {
                let atom = if !atoms.is_empty() && next(4) == 0 {
                    let earlier = &atoms[next(atoms.len() as u64) as usize];
                    earlier[next(earlier.len() as u64) as usize..].to_vec()
                } else {
                    (0..1 + next(10))
                        .map(|_| b'a' + next(letters as u64) as u8)
                        .collect()
                };
                atoms.push(atom);
            }
            let data: Vec<u8> = (0..next(61))
                .map(|_| b'a' + next(letters as u64) as u8)
                .collect();
            let atoms: Vec<&[u8]> = atoms.iter().map(|a| a.as_slice()).collect();
            let (automaton, searcher) = yara_x::compare_with_automaton(&atoms, &data);
            let Some(searcher) = searcher else {
                // Only when more than 16 atoms longer than eight bytes share their last eight.
                let long = atoms.iter().filter(|a| a.len() > 8).count();
                assert!(long > 16, "case {case}: the searcher declined {atoms:?}");
                continue;
            };
            assert_eq!(
                searcher, automaton,
                "case {case}: atoms {atoms:?}, data {data:?}"
            );
            matches += automaton.len();
        }
        assert!(matches > 10_000, "{matches}");
        // Many atoms of more than eight bytes sharing their last eight are left to the automaton.
        let long: Vec<Vec<u8>> = (0..17u8)
            .map(|i| [&[b'a' + i][..], b"12345678"].concat())
            .collect();
        let long: Vec<&[u8]> = long.iter().map(|a| a.as_slice()).collect();
        assert!(yara_x::compare_with_automaton(&long, b"a12345678")
            .1
            .is_none());
        let (automaton, searcher) = yara_x::compare_with_automaton(&long[..16], b"a12345678");
        assert_eq!(searcher, Some(automaton));
    }

    #[test]
    fn module_fields_follow_each_file_scanned_in_turn() {
        let d = dir(
            "modules",
            &[(
                "pe.yar",
                // `math` has no main function: a module without output, kept as such.
                "import \"pe\"\nimport \"math\"\n\
                 rule NotPe { condition: not pe.is_pe and math.entropy(0, filesize) > 0 }\n\
                 rule I386 { condition: pe.machine == pe.MACHINE_I386 }\n\
                 rule Amd64 { condition: pe.machine == pe.MACHINE_AMD64 }",
            )],
        );
        let c = compile(&d, None, &Compiled::empty());
        assert_eq!(c.rule_count(), 3, "{:?}", c.rulesets[0].errors);
        let data = |name: &str| std::fs::read(format!("tests/data/pe/{name}")).unwrap();
        let (app32, lib64) = (data("app32.exe"), data("lib64.dll"));
        let other: &[u8] = b"not a program";
        let found = matched_in_turn(&c, &[other, &app32, other, other, &lib64, &lib64, &app32]);
        let expect = |rule: &str| vec![rule.to_string()];
        assert_eq!(
            found,
            [
                expect("NotPe"),
                expect("I386"),
                expect("NotPe"),
                expect("NotPe"),
                expect("Amd64"),
                expect("Amd64"),
                expect("I386"),
            ]
        );
    }

    #[test]
    fn no_rules_scan_nothing() {
        let found = scan(&Compiled::empty(), &Options::default(), b"anything");
        assert!(found.matches.is_empty() && found.votes.is_empty() && found.error.is_none());
    }
}
