//! The walk of one upload, depth first. Every node (the file, then each extracted child) is
//! hashed, identified, described and, when it is a container, unpacked by its parser from
//! [`registry`] under the task's budgets ([`Limits`]): depth, files, unpacked bytes, per-member
//! ratio, wall time. A parser runs behind [`crate::log::guarded`], so a panic becomes a warning
//! on that node and the walk goes on. Children byte-identical to a node already analysed are
//! reported but not unpacked again. A node's entry is written as JSON once its subtree is done,
//! so a task holds its entries' JSON, not their structures (compressed past the first
//! [`PACK_ENTRIES_PAST`] bytes of it). [`Walk::finish`] adds up the votes,
//! propagates verdicts up the tree, tags containers and writes the stories ([`story`]) into the
//! report, an entry at a time on that JSON.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::externals::FileVars;
use super::formats::{self, Budget, Deadline, Limit, Members};
use super::hashes::{self, Digests, FuzzyState};
use super::identify::{self, FileKind, Format};
use super::inspect::{self, strings, Inspection};
use super::story::{story, About};
use super::verdict::{self, Vote, ENGINE_NAME, HEURISTICS_NAME, LIMIT_THREAT};
use super::{cache, hashlist, mapped, registry, warning, yara};
use crate::report::packed::Held;
use crate::report::{
    Classification, Entry, FileInfo, FileStat, Finished, Hash, Identification, IdentificationCount,
    Indicator, Info, LimitFinding, Report, ScanType, SkippedHash, Spans, Statistics, Tags,
    UnpackStatus, Unpacking, RELEVANCE_INFO, RELEVANCE_VOTES, SUSPICIOUS,
};

/// Budgets of one analysis task; `[unpacking]` in the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Deepest nesting unpacked (the uploaded file is depth 0).
    pub max_depth: usize,
    /// Most files extracted from one upload, at all depths.
    pub max_files: usize,
    /// Most bytes extracted from one upload, at all depths.
    pub max_total_bytes: u64,
    /// Most bytes one member may expand to per packed byte (beyond 1 MiB).
    pub max_ratio: u64,
    /// Wall time for unpacking one upload; hashing the upload itself is not cut short.
    pub max_time: Duration,
    /// Passwords tried on encrypted members, in order.
    pub passwords: Vec<String>,
    /// When true, a limit that stopped work makes the file suspicious (ClamAV's AlertExceedsMax).
    pub alert_exceeds_max: bool,
    /// Files larger than this get no ssdeep/TLSH (the report says so).
    pub fuzzy_max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // A user's 50-level nested archive is walked in full.
            max_depth: 64,
            max_files: 10_000,
            max_total_bytes: 1024 * 1024 * 1024,
            // Deflate tops out near 1032:1; real files rarely pass 100:1. The ratio cap also
            // bounds the memory a lying bomb takes before it is stopped (100 x its packed size).
            max_ratio: 100,
            max_time: Duration::from_secs(60),
            passwords: ["infected", "malware", "virus", "password", "1234"]
                .map(String::from)
                .to_vec(),
            alert_exceeds_max: false,
            fuzzy_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What a walk reads besides the file: the engine's budgets and options, and the hash lists as
/// they were when the task started.
pub(super) struct Sources<'l> {
    pub limits: &'l Limits,
    pub strings: &'l strings::Options,
    pub lists: Arc<hashlist::Lists>,
    /// Where each extracted file is kept (named by its sha1), if anywhere.
    pub children_dir: Option<&'l Path>,
    /// What earlier walks found, by content.
    pub cache: &'l Cache,
    /// Where a large decoded stream is spilled to disk, if anywhere.
    pub spill_dir: Option<&'l Path>,
    /// Entries' JSON past this many bytes is held compressed ([`PACK_ENTRIES_PAST`]).
    pub pack_entries_past: usize,
}

/// How many bytes of its entries' JSON a walk holds as it is; it compresses the JSON of the
/// entries written after those until its report is written. A small upload's few entries cost
/// no compression; the 10,000 of a large one (37 MB of JSON for the winapi crate) are held in
/// about a fifth of that.
pub const PACK_ENTRIES_PAST: usize = 1024 * 1024;

/// The analysis cache as the walk uses it: subtrees under the rules and hash lists they were
/// found with.
pub type Cache = cache::Cache<Subtree, Epoch>;

/// What the cache keeps of a node: its entry and those of everything unpacked from it, each
/// with the walk's notes, as they were when the node's walk ended (before [`Walk::finish`], which
/// works them out again for the upload they are put into). Entries are kept as JSON (plain or
/// compressed, [`Held`]): as structures they take about seven times the memory, and the cache's
/// bound is in bytes.
#[derive(Debug)]
pub struct Subtree {
    /// In walk order, the node first, each with its entry's JSON; `parent` and `duplicate_of`
    /// are indices into this list, `depth` is relative to the node, paths start with the node's
    /// path at the time.
    nodes: Vec<Node>,
    /// What was unpacked under the node, in files and bytes (charged to the task's budget).
    files: usize,
    bytes: u64,
    /// The deepest node below it, relative to it.
    depth: usize,
}

/// What a cached subtree depends on besides the file: the rules it was scanned with and the
/// hash lists it was looked up in (by identity: a reload makes new lists).
#[derive(Debug, Clone)]
pub struct Epoch {
    rules: String,
    lists: std::sync::Weak<hashlist::Lists>,
}

impl PartialEq for Epoch {
    fn eq(&self, other: &Self) -> bool {
        self.rules == other.rules && self.lists.ptr_eq(&other.lists)
    }
}

pub(super) struct Walk<'l, 'r> {
    limits: &'l Limits,
    strings: &'l strings::Options,
    children_dir: Option<&'l Path>,
    /// Where a large decoded stream is spilled to disk ([`Members::spill_to`]).
    spill: Option<Arc<Path>>,
    /// The hash lists as they were when the task started.
    lists: Arc<hashlist::Lists>,
    cache: &'l Cache,
    /// What this walk's results depend on besides the files (its rules and hash lists).
    epoch: Epoch,
    deadline: Deadline,
    files: usize,
    bytes: u64,
    /// sha256 -> entry index of the first node with that content.
    seen: HashMap<String, usize>,
    entries: Vec<Slot>,
    /// What the walk keeps about each entry until [`Walk::finish`], same indices.
    nodes: Vec<Node>,
    /// Bytes of entries' JSON written so far (before compression).
    written: usize,
    /// Past how many of those the JSON of the entries written next is held compressed.
    pack_past: usize,
    time_reported: bool,
    yara: &'l mut yara::Scanner<'r>,
}

/// An entry of the walk: whole while its node's subtree is walked, then written as JSON (into
/// its node, where the analysis cache shares it) with only what the walk still reads of it kept
/// beside. Entries as structures take several times their JSON (the winapi crate's 10,000:
/// 336 MiB at the scan's peak, 145 MiB as JSON).
enum Slot {
    Live(Box<Entry>),
    Written(Box<Written>),
}

/// What the walk still reads of an entry written as JSON: for copies, the cache's checks and
/// [`Walk::finish`] (the counts, the story, the tags), and where the JSON's parts lie.
struct Written {
    file: FileInfo,
    identification: Identification,
    unpacking: Unpacking,
    tags: Tags,
    spans: Spans,
}

/// Where a node is in the upload: its name, path, depth and parent's entry index.
pub(super) struct Place {
    pub name: String,
    pub path: String,
    pub depth: usize,
    pub parent: Option<usize>,
}

/// The walk's notes on one entry.
#[derive(Debug, Default, Clone)]
struct Node {
    parent: Option<usize>,
    depth: usize,
    /// Named after its container's name (a compressed file's member without a name of its
    /// own): the analysis cache does not keep such a node's ancestors, whose names may differ.
    named_from_parent: bool,
    /// Its entry as JSON (plain or compressed) once its subtree's walk has ended, as it was
    /// then (before [`Walk::finish`]); shared with the analysis cache.
    json: Option<Held>,
    /// Something of its result came of this task's circumstances rather than of its content
    /// (a YARA scan cut short, a reader slowed down past its own deadline, a file that could
    /// not be kept): the analysis cache does not keep a tree that holds it.
    volatile: bool,
    /// What it was identified as (`None` before identification).
    format: Option<Format>,
    /// Every source's vote on this file itself (its children's come in `finish`).
    votes: Vec<Vote>,
    /// Sentences for the story, from the metadata readers.
    facts: Vec<String>,
    /// The entry this one is byte-identical to, which was analysed in its place.
    duplicate_of: Option<usize>,
}

impl<'l, 'r> Walk<'l, 'r> {
    /// A walk over one upload with `engine`'s budgets and verdict sources.
    pub(super) fn new(
        sources: Sources<'l>,
        yara: &'l mut yara::Scanner<'r>,
        deadline: Deadline,
    ) -> Self {
        let epoch = Epoch {
            rules: yara.id().to_string(),
            lists: Arc::downgrade(&sources.lists),
        };
        Walk {
            yara,
            epoch,
            limits: sources.limits,
            spill: sources.spill_dir.map(Arc::from),
            strings: sources.strings,
            children_dir: sources.children_dir,
            lists: sources.lists,
            cache: sources.cache,
            deadline,
            files: 0,
            bytes: 0,
            seen: HashMap::new(),
            entries: Vec::new(),
            nodes: Vec::new(),
            written: 0,
            pack_past: sources.pack_entries_past,
            time_reported: false,
        }
    }
}

impl Walk<'_, '_> {
    /// Whether a container at `depth` is unpacked now (the checks that record a limit when it
    /// is not come after its description).
    fn may_unpack(&self, depth: usize) -> bool {
        depth < self.limits.max_depth && !self.deadline.passed()
    }

    /// What is left of the task's budget for the next container.
    fn budget(&self) -> Budget {
        Budget {
            max_output: self.limits.max_total_bytes.saturating_sub(self.bytes),
            max_members: self.limits.max_files.saturating_sub(self.files),
            max_ratio: self.limits.max_ratio,
            deadline: self.deadline.clone(),
            passwords: self.limits.passwords.clone(),
        }
    }

    /// Analyses one node and, depth first, its children. Returns its entry index. `map` is the
    /// mapping `data` lies in, if any (the upload's, or a spilled stream's): the pages a pass
    /// over a large node has read are released behind it, and a child's once it is walked.
    pub(super) fn node(&mut self, data: &[u8], at: Place, map: Option<&mapped::Mapped>) -> usize {
        let depth = at.depth;
        let fuzzy = data.len() as u64 <= self.limits.fuzzy_max_bytes;
        let release = releasing(map, data);
        let mut digests = match release {
            Some(map) => hash_releasing(data, map),
            None => Digests::of(data, false),
        };
        let duplicate_of = self.seen.get(&digests.sha256).copied();
        let key = match duplicate_of {
            None => self.cache_key(&digests.sha256, &at.name, &at.path),
            Some(_) => None,
        };
        if let Some((tree, decoded)) = key.as_deref().and_then(|k| self.cached(k, depth)) {
            let index = self.splice(&tree, decoded, data, &at);
            self.write_from(index);
            return index;
        }
        if let Some(first) = duplicate_of {
            // The fuzzy hashes are the costly part: copy them from the first copy.
            let first = self.file(first);
            let copy = |name: &str| first.hash(name).map(str::to_string);
            digests.ssdeep = copy("ssdeep");
            digests.tlsh = copy("tlsh");
            digests.fuzzy = if fuzzy {
                FuzzyState::Computed
            } else {
                FuzzyState::SkippedSize
            };
        } else if fuzzy {
            releasing_while(release, data, || digests.add_fuzzy(data));
        }
        let index = self.walk_new(data, at, digests, duplicate_of, map);
        self.write_from(index);
        if let Some(key) = key {
            self.offer(index, key);
        }
        index
    }

    /// [`Walk::node`] for a node the cache did not have: identifies, describes and scans it and,
    /// depth first, unpacks and walks its children.
    fn walk_new(
        &mut self,
        data: &[u8],
        at: Place,
        digests: hashes::FileHashes,
        duplicate_of: Option<usize>,
        map: Option<&mapped::Mapped>,
    ) -> usize {
        let Place {
            name,
            path,
            depth,
            parent,
        } = at;
        let release = releasing(map, data);
        let kind = releasing_while(release, data, || identify::identify(data, &name));
        let mut e = entry(&name, &path, &kind, &digests);
        let mut volatile = false;
        if let (true, None) = (depth > 0, duplicate_of) {
            if let Some(warning) = self.keep_child(&digests.sha1, data) {
                e.info.unpacking.warnings.push(warning);
                volatile = true;
            }
        }
        if digests.fuzzy == FuzzyState::SkippedSize {
            for h in ["ssdeep", "tlsh"] {
                e.info.file.hashes_skipped.push(SkippedHash {
                    name: h.into(),
                    reason: format!(
                        "the file is larger than fuzzy_max_bytes ({} bytes)",
                        self.limits.fuzzy_max_bytes
                    ),
                });
            }
        }
        let mut node = Node {
            parent,
            depth,
            volatile,
            format: Some(kind.format),
            duplicate_of,
            ..Node::default()
        };
        let parser = registry::parser(kind.format);
        // What a shared parse unpacked while describing: members, outcome, when it started.
        let mut unpacked = None;
        if let Some(first) = duplicate_of {
            // The hash that describing the first copy added (the PE imphash).
            let theirs = self.file(first);
            let imphash = theirs.hashes.iter().filter(|h| h.name == "imphash");
            e.info.file.hashes.extend(imphash.cloned());
            e.info
                .unpacking
                .warnings
                .push(identical_to(&theirs.file_path));
            node.votes = self.nodes[first].votes.clone();
        } else {
            node.votes.extend(verdict::signatures(data));
            node.votes.extend(
                self.lists
                    .votes(&[&digests.md5, &digests.sha1, &digests.sha256]),
            );
            // A format that shares its parse is described and unpacked at once, when it is to be
            // unpacked at all. After a panic in either half, each runs again on its own, behind
            // its own guard, so that the other's result is not lost with it.
            let both = parser
                .and_then(|p| p.both)
                .filter(|_| self.may_unpack(depth));
            let mut shared = None;
            if let Some(both) = both {
                let mut out = Members::new(self.budget()).spill_to(self.spill.clone());
                let started = Instant::now();
                let mut found = Inspection::default();
                let run = || crate::log::guarded(|| both(data, &kind, &mut found, &mut out));
                if releasing_while(release, data, run).is_ok() {
                    let took = ("unpacking and describing", started.elapsed());
                    unpacked = Some((out, Ok(()), took));
                    shared = Some(found);
                }
            }
            let found = match (shared, parser.and_then(|p| Some((p.name, p.describe?)))) {
                (Some(found), _) => found,
                (None, Some((name, describe))) => {
                    let started = Instant::now();
                    let found = releasing_while(release, data, || {
                        inspect::describe(data, &kind, name, describe)
                    });
                    // A reader with a deadline of its own (PDF object streams) may have been cut
                    // short by this machine's load.
                    node.volatile |= started.elapsed() > SLOW;
                    found
                }
                (None, None) => Inspection::default(),
            };
            self.record_and_scan(data, &kind, found, release, &mut e, &mut node);
        }
        let index = self.entries.len();
        self.entries.push(Slot::Live(Box::new(e)));
        self.nodes.push(node);
        if duplicate_of.is_some() {
            return index;
        }
        self.seen.insert(digests.sha256.clone(), index);
        let (mut out, outcome, (what, took)) = match unpacked {
            // Unpacked while it was described (a shared parse).
            Some(done) => done,
            None => {
                let Some(unpack) = parser.and_then(|p| p.unpack) else {
                    return index;
                };
                if depth >= self.limits.max_depth {
                    self.record_limit(
                        index,
                        Limit::Depth,
                        format!(
                            "nesting deeper than max_depth ({}): this file was not unpacked",
                            self.limits.max_depth
                        ),
                    );
                    return index;
                }
                if self.deadline.passed() {
                    self.record_limit(
                        index,
                        Limit::Time,
                        format!(
                            "the task's time budget ({} s) ran out before this file was unpacked",
                            self.limits.max_time.as_secs_f64()
                        ),
                    );
                    return index;
                }
                let mut out = Members::new(self.budget()).spill_to(self.spill.clone());
                let started = Instant::now();
                let run = || crate::log::guarded(|| unpack(data, &mut out));
                let outcome = releasing_while(release, data, run);
                (out, outcome, ("unpacking", started.elapsed()))
            }
        };
        let format = kind.name.unwrap_or("container");
        {
            let e = self.live(index);
            if let Err(why) = &outcome {
                e.info.unpacking.warnings.push(format!(
                    "the {format} unpacker failed ({why}); files found before that are kept"
                ));
            }
            e.info
                .unpacking
                .warnings
                .extend(warning::texts(std::mem::take(&mut out.warnings)));
            e.info.unpacking.extracted = out.members.len() as u64;
        }
        for hit in std::mem::take(&mut out.limits) {
            self.record_limit(index, hit.limit, hit.detail);
        }
        let members = std::mem::take(&mut out.members);
        let listing = archive_listing(&kind, &mut out, &members);
        drop(out);
        if let Some(listing) = listing {
            self.live(index).metadata.insert("archive".into(), listing);
        }
        self.files += members.len();
        self.bytes += members.iter().map(|m| m.data.len() as u64).sum::<u64>();
        {
            let e = self.live(index);
            let troubled = outcome.is_err()
                || !e.info.unpacking.warnings.is_empty()
                || !e.info.unpacking.limits.is_empty();
            e.info.unpacking.status = match (members.is_empty(), troubled) {
                (_, false) => UnpackStatus::Complete,
                (false, true) => UnpackStatus::Partial,
                (true, true) => UnpackStatus::Failed,
            };
            if took > SLOW {
                e.info
                    .unpacking
                    .warnings
                    .push(format!("{what} took {:.1} s", took.as_secs_f64()));
                self.nodes[index].volatile = true;
            }
        }
        let parent_name = name;
        let count = members.len();
        for (i, member) in members.into_iter().enumerate() {
            if self.deadline.passed() {
                let detail = format!(
                    "the task's time budget ({} s) ran out: {} of {count} extracted files were not analysed",
                    self.limits.max_time.as_secs_f64(),
                    count - i
                );
                self.record_limit(index, Limit::Time, detail);
                break;
            }
            let (child_name, problems) = child_name(&member.name, &parent_name, i + 1);
            for problem in problems {
                self.live(index).indicators.push(Indicator {
                    priority: 4,
                    category: "unpacking".into(),
                    description: format!(
                        "A member name {problem}: {} (it is only a label here; nothing is written to disk)",
                        formats::printable(&member.name)
                    ),
                    id: "unpacking-hostile-name".into(),
                    relevance: RELEVANCE_INFO,
                    reasons: vec![format!("member {}: {problem}", i + 1)],
                });
            }
            let child_path = format!("{path}/{child_name}");
            let at = Place {
                name: child_name,
                path: child_path,
                depth: depth + 1,
                parent: Some(index),
            };
            // A spilled member lies in its own mapping, a slice of a mapped container in its.
            let within = member
                .data
                .mapped()
                .or(map.filter(|m| m.contains(&member.data)));
            let child = self.node(&member.data, at, within);
            self.nodes[child].named_from_parent = member.name.is_empty();
            if let Some(map) = within {
                map.release_within(&member.data, member.data.len());
            }
        }
        index
    }

    /// The analysis cache's key for a node with this content, name and path; `None` when the
    /// cache is off. Identification reads the name's extension (for text formats), so the key
    /// holds it; rules that read the file's name or path (LOKI's externals) make the whole
    /// path part of it.
    fn cache_key(&self, sha256: &str, name: &str, path: &str) -> Option<String> {
        if !self.cache.enabled() {
            return None;
        }
        Some(if self.yara.reads_names() {
            format!("{sha256} {path}")
        } else {
            format!("{sha256} .{}", identify::extension(name))
        })
    }

    /// The cached subtree under `key` and its entries, if there is one that a fresh walk of the
    /// node would give: it fits what is left of the task's budgets at `depth`, none of its
    /// files is a copy of one this upload has already walked (a fresh walk would report those
    /// as copies), and, when extracted files are kept for a delivery, all of them still are.
    fn cached(&self, key: &str, depth: usize) -> Option<(Arc<Subtree>, Vec<Entry>)> {
        self.cache.get_with(key, &self.epoch, |tree| {
            let fits = depth + tree.depth < self.limits.max_depth
                && self.files + tree.files <= self.limits.max_files
                && self.bytes + tree.bytes <= self.limits.max_total_bytes;
            if !fits {
                return None;
            }
            let decoded: Vec<Entry> = tree
                .nodes
                .iter()
                .map(|n| {
                    let json = n.json.as_ref()?.json().ok()?;
                    serde_json::from_slice(&json).ok()
                })
                .collect::<Option<_>>()?;
            // Copies in the tree point into it; the files of their first copies are what count.
            let firsts = || {
                let files = decoded.iter().zip(&tree.nodes);
                files
                    .filter(|(_, n)| n.duplicate_of.is_none())
                    .map(|(e, _)| &e.info.file)
            };
            let walked = firsts().any(|f| self.seen.contains_key(f.hash("sha256").unwrap_or("")));
            let gone = self.children_dir.is_some_and(|dir| {
                firsts()
                    .skip(1)
                    .any(|f| !dir.join(f.hash("sha1").unwrap_or("")).exists())
            });
            (!walked && !gone).then(|| (tree.clone(), decoded))
        })
    }

    /// Puts a cached subtree, its entries `decoded`, in the walk for the node at `at`: the
    /// entries renamed under its path, the notes re-indexed. Returns the node's entry index.
    fn splice(&mut self, tree: &Subtree, decoded: Vec<Entry>, data: &[u8], at: &Place) -> usize {
        let (name, path, depth, parent) = (&at.name, &at.path, at.depth, at.parent);
        let base = self.entries.len();
        let old_paths: Vec<String> = decoded
            .iter()
            .map(|e| e.info.file.file_path.clone())
            .collect();
        for (i, (mut e, node)) in decoded.into_iter().zip(&tree.nodes).enumerate() {
            let mut n = node.clone();
            n.json = None;
            if i == 0 {
                e.info.file.file_name = name.clone();
                e.info.file.file_path = path.clone();
                n.parent = parent;
            } else {
                let below = old_paths[i].strip_prefix(old_paths[0].as_str());
                e.info.file.file_path = format!("{path}{}", below.unwrap_or_default());
                n.parent = node.parent.map(|p| p + base);
            }
            n.depth = depth + node.depth;
            match node.duplicate_of {
                Some(first) => {
                    let old = identical_to(&old_paths[first]);
                    let new = identical_to(&self.file(base + first).file_path);
                    for w in &mut e.info.unpacking.warnings {
                        if *w == old {
                            w.clone_from(&new);
                        }
                    }
                    n.duplicate_of = Some(base + first);
                }
                None => {
                    if let Some(sha256) = e.info.file.hash("sha256") {
                        self.seen.insert(sha256.to_string(), base + i);
                    }
                }
            }
            self.entries.push(Slot::Live(Box::new(e)));
            self.nodes.push(n);
        }
        self.files += tree.files;
        self.bytes += tree.bytes;
        if depth > 0 {
            let sha1 = self.file(base).hash("sha1").unwrap_or_default();
            if let Some(warning) = self.keep_child(sha1, data) {
                self.live(base).info.unpacking.warnings.push(warning);
                self.nodes[base].volatile = true;
            }
        }
        base
    }

    /// Offers node `index`, whose walk just ended, and everything under it to the cache, unless
    /// its result depended on this task: a limit stopped work somewhere in it, the time budget
    /// ran out, a file in it was named after its container or could not be kept for its
    /// delivery, or a copy in it points to a node outside it.
    fn offer(&mut self, index: usize, key: String) {
        if self.deadline.passed() {
            return;
        }
        let max = self.cache.bounds().max_value_bytes();
        let (mut plain, mut bytes) = (0, 0);
        for i in index..self.entries.len() {
            let n = &self.nodes[i];
            if self.limits_hit(i) > 0
                || n.volatile
                || (i > index && n.named_from_parent)
                || n.duplicate_of.is_some_and(|first| first < index)
            {
                return;
            }
            let Some(json) = &n.json else {
                return;
            };
            // The notes beside the JSON (votes, facts, indices) and the slot, roughly. One tree
            // may take `max` as plain JSON (a hit makes structures of all its entries at once);
            // the cache holds what it is held in.
            plain += json.len() as u64 + NODE_COST;
            bytes += json.size() as u64 + NODE_COST;
            if plain > max {
                return;
            }
        }
        let base_depth = self.nodes[index].depth;
        let nodes: Vec<Node> = (index..self.entries.len())
            .map(|i| {
                let mut n = self.nodes[i].clone();
                n.parent = if i == index {
                    None
                } else {
                    n.parent.map(|p| p - index)
                };
                n.duplicate_of = n.duplicate_of.map(|d| d - index);
                n.depth -= base_depth;
                n
            })
            .collect();
        let unpacked = index + 1..self.entries.len();
        let tree = Subtree {
            files: unpacked.len(),
            bytes: unpacked.map(|i| self.file(i).size).sum(),
            depth: nodes.iter().map(|n| n.depth).max().unwrap_or(0),
            nodes,
        };
        let bytes = bytes + 2 * key.len() as u64;
        self.cache
            .insert(key, Arc::new(tree), bytes, self.epoch.clone());
    }

    /// Keeps an extracted file for its delivery when extracted files are kept; the warning when
    /// that failed.
    fn keep_child(&self, sha1: &str, data: &[u8]) -> Option<String> {
        let dir = self.children_dir?;
        let err = keep_child(dir, sha1, data).err()?;
        Some(format!(
            "this extracted file could not be kept for its delivery: {err}"
        ))
    }

    /// Records a limit that stopped work on node `index`: in `info.unpacking`, as an indicator,
    /// and (with `alert_exceeds_max`) as a suspicious verdict.
    /// The time limit is recorded once per task, on the node where it struck first.
    fn record_limit(&mut self, index: usize, limit: Limit, detail: String) {
        if limit == Limit::Time {
            if self.time_reported {
                return;
            }
            self.time_reported = true;
        }
        let alert = self.limits.alert_exceeds_max;
        let e = self.live(index);
        e.info.unpacking.limits.push(LimitFinding {
            limit: limit.name().into(),
            detail: detail.clone(),
        });
        if matches!(e.info.unpacking.status, UnpackStatus::NotApplicable) {
            e.info.unpacking.status = UnpackStatus::Partial;
        }
        let what = if limit == Limit::Password {
            "An encrypted member could not be opened"
        } else {
            "Unpacking stopped at a limit"
        };
        e.indicators.push(Indicator {
            priority: if alert { 6 } else { 3 },
            category: "unpacking".into(),
            description: format!("{what} ({}): {detail}", limit.name()),
            id: format!("unpacking-limit-{}", limit.name()),
            relevance: if alert {
                RELEVANCE_VOTES
            } else {
                RELEVANCE_INFO
            },
            reasons: vec![detail],
        });
        let votes = &mut self.nodes[index].votes;
        let name = format!("{ENGINE_NAME}-limits");
        if alert && !votes.iter().any(|v| v.name == name) {
            votes.push(Vote {
                name,
                kind: ScanType::Unpacker,
                classification: SUSPICIOUS,
                factor: 5,
                result: LIMIT_THREAT.into(),
            });
        }
    }

    /// Everything but unpacking, on a node seen for the first time: signatures, hash lists,
    /// metadata and heuristics, YARA, strings. `release` is the mapping the node lies in when
    /// its pages should be released as these passes read them (a large node).
    fn record_and_scan(
        &mut self,
        data: &[u8],
        kind: &FileKind,
        found: Inspection,
        release: Option<&mapped::Mapped>,
        e: &mut Entry,
        node: &mut Node,
    ) {
        let mut worst: Option<&inspect::HeuristicVerdict> = None;
        for f in &found.findings {
            let h = f.heuristic;
            if let Some(v) = &h.verdict {
                if worst.is_none_or(|w| (v.classification, v.factor) > (w.classification, w.factor))
                {
                    worst = Some(v);
                }
            }
            e.indicators.push(Indicator {
                priority: h.priority,
                category: h.category.into(),
                description: h.description.into(),
                id: h.id.into(),
                relevance: if h.verdict.is_some() {
                    RELEVANCE_VOTES
                } else {
                    RELEVANCE_INFO
                },
                reasons: f.reasons.clone(),
            });
        }
        if let Some(w) = worst {
            node.votes.push(Vote {
                name: HEURISTICS_NAME.into(),
                kind: ScanType::Internal,
                classification: w.classification,
                factor: w.factor,
                result: w.threat.into(),
            });
        }
        e.tags.ticore.extend(found.tags);
        e.info
            .file
            .hashes
            .extend(found.hashes.into_iter().map(|(name, value)| Hash {
                name: name.into(),
                value,
            }));
        e.metadata = found.metadata;
        if !found.warnings.is_empty() {
            e.metadata
                .insert("warnings".into(), warning::texts(found.warnings).into());
        }
        node.facts = found.facts;
        let md5 = e.info.file.hash("md5").unwrap_or_default();
        let vars = FileVars::new(&e.info.file.file_path, data, md5);
        let yara = &mut *self.yara;
        let scan = || crate::log::guarded(|| yara.scan(data, &vars));
        // YARA reads the whole file in one call: a large mapped file has its pages released
        // beside it, as the passes above release them behind them.
        let scanned = releasing_while(release, data, scan).unwrap_or_else(|panic| {
            self.yara.reset();
            yara::Scanned {
                error: Some(format!("YARA scan failed: {panic}")),
                ..yara::Scanned::default()
            }
        });
        // A scan cut short (timeout) or failed says nothing lasting about the file.
        node.volatile |= scanned.error.is_some();
        node.votes.extend(scanned.votes);
        e.indicators.extend(scanned.indicators);
        if !scanned.matches.is_empty() || scanned.error.is_some() {
            let mut found = serde_json::Map::new();
            found.insert("matches".into(), serde_json::json!(scanned.matches));
            if let Some(error) = scanned.error {
                e.info.unpacking.warnings.push(error.clone());
                found.insert("error".into(), error.into());
            }
            e.metadata.insert("yara".into(), found.into());
        }
        // A text file's strings are its lines: listing them would copy the file into the report.
        let text = kind.format.is_text();
        let opts = strings::Options {
            max_listed: if text { 0 } else { self.strings.max_listed },
            ..self.strings.clone()
        };
        // A large node's pages are released as the scan passes them, as hashing does.
        let s = strings::scan_releasing(data, &opts, |done| {
            if let Some(map) = release {
                map.release_within(data, done);
            }
        });
        e.interesting_strings = s.interesting;
        if !text {
            let listed: Vec<serde_json::Value> = s
                .listed
                .into_iter()
                .map(|f| {
                    serde_json::json!({
                        "offset": f.offset,
                        "encoding": f.encoding.name(),
                        "value": f.value,
                    })
                })
                .collect();
            // (Not `json!`: it would serialise the listed strings' values again, a deep copy
            // that was a twentieth of a small file's analysis.)
            let mut strings = serde_json::Map::new();
            strings.insert("total".into(), s.total.into());
            strings.insert("listed".into(), serde_json::Value::Array(listed));
            e.metadata.insert("strings".into(), strings.into());
        }
    }

    /// Adds up each file's votes, propagates verdicts up the tree, tags containers by what they
    /// hold, counts file types for entry 0, and writes the stories: the report, written one
    /// entry at a time into `report` (empty; plain or compressed as it is written).
    pub(super) fn finish(mut self, mut report: Report) -> Report {
        let count = self.entries.len();
        let mut verdicts: Vec<Classification> = self
            .nodes
            .iter()
            .map(|node| verdict::classify(node.votes.clone()))
            .collect();
        // Children come after their parents, so one backwards pass sees every subtree.
        for i in (1..count).rev() {
            self.raise_parent(&mut verdicts, i);
        }
        // A copy that was not unpacked again holds what its first copy holds.
        for i in 0..count {
            let Some(first) = self.nodes[i].duplicate_of else {
                continue;
            };
            let theirs = verdicts[first].clone();
            if theirs.classification >= SUSPICIOUS
                && theirs.classification > verdicts[i].classification
            {
                let source = self.file(first).file_path.clone();
                adopt(&mut verdicts[i], &theirs, source);
                let mut at = i;
                while self.nodes[at].parent.is_some() && self.raise_parent(&mut verdicts, at) {
                    at = self.nodes[at].parent.unwrap_or(0);
                }
            }
        }
        let mut contained: Vec<Vec<&'static str>> = vec![Vec::new(); count];
        for i in 1..count {
            let Some(tag) = self.nodes[i].format.and_then(Format::contained_tag) else {
                continue;
            };
            let mut at = self.nodes[i].parent;
            while let Some(p) = at {
                contained[p].push(tag);
                at = self.nodes[p].parent;
            }
        }
        let mut stats: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
        for i in 0..count {
            let f = self.file(i);
            let counts = stats
                .entry((f.file_type.clone(), f.file_subtype.clone()))
                .or_default();
            *counts
                .entry(self.identification(i).to_string())
                .or_default() += 1;
        }
        let limits_hit: usize = (0..count).map(|i| self.limits_hit(i)).sum();
        let mut stats = Some(Statistics {
            file_stats: stats
                .into_iter()
                .map(|((file_type, subtype), ids)| FileStat {
                    file_type,
                    subtype,
                    count: ids.values().sum(),
                    identifications: ids
                        .into_iter()
                        .map(|(name, count)| IdentificationCount { count, name })
                        .collect(),
                })
                .collect(),
        });
        let entries = std::mem::take(&mut self.entries);
        let nodes = std::mem::take(&mut self.nodes);
        let each = entries.into_iter().zip(nodes).zip(verdicts).zip(contained);
        for (i, (((slot, node), verdict), contained)) in each.enumerate() {
            let mut e = match slot {
                // (A live entry's JSON, the first's, is not read: it may be compressed.)
                Slot::Live(e) => *e,
                Slot::Written(mut w) => match node.json.as_ref().map(Held::json) {
                    // The entries below the first are finished on their JSON, without reading
                    // it.
                    Some(Ok(json)) if i > 0 => {
                        add_tags(&mut w.tags, contained);
                        let about = About {
                            file: &w.file,
                            identification: &w.identification,
                            unpacking: &w.unpacking,
                            classification: &verdict,
                        };
                        let finished = Finished {
                            story: &story(about, &node.facts, None),
                            classification: &verdict,
                            tags: &w.tags,
                            size: w.file.size,
                        };
                        report.push_finished(&json, &w.spans, finished);
                        continue;
                    }
                    json => read_back(json, *w),
                },
            };
            e.classification = verdict;
            add_tags(&mut e.tags, contained);
            let tree = (i == 0).then_some((count, limits_hit));
            if i == 0 {
                // The report says which rules it was scanned with.
                let yara = e
                    .metadata
                    .entry("yara".to_string())
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(yara) = yara.as_object_mut() {
                    yara.insert("ruleset_id".into(), self.yara.id().into());
                }
                e.info.statistics = stats.take();
            }
            e.story = story(About::of(&e), &node.facts, tree);
            report.push(&e);
        }
        report
    }
}

impl Walk<'_, '_> {
    /// Gives entry `child`'s parent the child's verdict when it is suspicious or malicious and
    /// worse than the parent's. Returns whether the parent changed.
    fn raise_parent(&self, verdicts: &mut [Classification], child: usize) -> bool {
        let Some(p) = self.nodes[child].parent else {
            return false;
        };
        let theirs = verdicts[child].clone();
        if theirs.classification < SUSPICIOUS || theirs.classification <= verdicts[p].classification
        {
            return false;
        }
        let source = theirs
            .propagation_source
            .clone()
            .unwrap_or_else(|| self.file(child).file_path.clone());
        adopt(&mut verdicts[p], &theirs, source);
        true
    }

    /// Entry `i`, whose node's walk has not ended.
    fn live(&mut self, i: usize) -> &mut Entry {
        match &mut self.entries[i] {
            Slot::Live(e) => e,
            Slot::Written(_) => panic!("entry {i} was written before its walk ended"),
        }
    }

    /// `info.file` of entry `i`.
    fn file(&self, i: usize) -> &FileInfo {
        match &self.entries[i] {
            Slot::Live(e) => &e.info.file,
            Slot::Written(w) => &w.file,
        }
    }

    /// `info.identification.name` of entry `i`.
    fn identification(&self, i: usize) -> &str {
        match &self.entries[i] {
            Slot::Live(e) => &e.info.identification.name,
            Slot::Written(w) => &w.identification.name,
        }
    }

    /// How many limits stopped work on entry `i`.
    fn limits_hit(&self, i: usize) -> usize {
        match &self.entries[i] {
            Slot::Live(e) => e.info.unpacking.limits.len(),
            Slot::Written(w) => w.unpacking.limits.len(),
        }
    }

    /// Writes the entries from `index` on, whose walk has ended, as JSON. One that cannot be
    /// written stays whole, as the first entry does (its JSON beside it).
    fn write_from(&mut self, index: usize) {
        for i in index..self.entries.len() {
            let Slot::Live(e) = &self.entries[i] else {
                continue;
            };
            let Ok((json, spans)) = e.to_json() else {
                continue;
            };
            let packed = self.written >= self.pack_past;
            self.written += json.len();
            self.nodes[i].json = Some(if packed {
                Held::packed(&json)
            } else {
                Held::plain(json)
            });
            if i == 0 {
                // The first entry stays whole beside its JSON (which the cache may share):
                // `finish` changes more of it than the others', and reading it back from its
                // JSON was a tenth of a small file's analysis.
                continue;
            }
            let written = Written {
                file: e.info.file.clone(),
                identification: e.info.identification.clone(),
                unpacking: e.info.unpacking.clone(),
                tags: e.tags.clone(),
                spans,
            };
            self.entries[i] = Slot::Written(Box::new(written));
        }
    }
}

/// An entry from the JSON it was written as (or why that JSON cannot be had). Our own JSON reads
/// back; should it not, the entry says so under its file's identity rather than vanish from the
/// report.
fn read_back(json: Option<Result<Cow<'_, [u8]>, String>>, w: Written) -> Entry {
    let json = json.unwrap_or_else(|| Err("it was not kept".to_string()));
    let read = json.and_then(|json| serde_json::from_slice(&json).map_err(|e| e.to_string()));
    read.unwrap_or_else(|err| {
        let mut e = entry_of(w.file, w.identification);
        e.info.unpacking = w.unpacking;
        e.tags = w.tags;
        let warning = format!("this entry's analysis could not be read back: {err}");
        e.info.unpacking.warnings.push(warning);
        e
    })
}

/// Adds the tags of what a container holds to its own, sorted and each once.
fn add_tags(tags: &mut Tags, contained: Vec<&str>) {
    tags.ticore.extend(contained.into_iter().map(String::from));
    tags.ticore.sort();
    tags.ticore.dedup();
}

/// Takes over a verdict found in `source`, keeping our own scan results (they say what voted on
/// this file itself).
fn adopt(ours: &mut Classification, theirs: &Classification, source: String) {
    ours.classification = theirs.classification;
    ours.factor = theirs.factor;
    ours.result = theirs.result.clone();
    ours.propagated = true;
    ours.propagation_source = Some(source);
}

/// `metadata.archive` of a container: its directory as the parser read it (names, sizes,
/// methods, encryption, including entries that were not extracted), or for archives without
/// one, the names and sizes of what was extracted.
fn archive_listing(
    kind: &FileKind,
    out: &mut Members<'_>,
    members: &[formats::Member<'_>],
) -> Option<serde_json::Value> {
    let (entries, count) = if !out.entries.is_empty() {
        (std::mem::take(&mut out.entries), out.entry_count)
    } else if kind.format.is_archive() && !members.is_empty() {
        let listed = members
            .iter()
            .take(formats::MAX_LISTED_ENTRIES)
            .map(|m| formats::EntryInfo {
                name: m.name.clone(),
                size: m.data.len() as u64,
                packed_size: None,
                method: None,
                encrypted: false,
            })
            .collect();
        (listed, members.len() as u64)
    } else {
        return None;
    };
    Some(serde_json::json!({ "count": count, "entries": entries }))
}

/// What the analysis cache counts for a node besides its entry's JSON.
const NODE_COST: u64 = 256;

/// Longer than this for one file's unpacking or description is said in its warnings, and keeps
/// the analysis cache from keeping its tree (its readers' own deadlines may have cut it short).
const SLOW: Duration = Duration::from_secs(5);

/// The warning on a copy that was not analysed again.
fn identical_to(first_path: &str) -> String {
    format!("identical to {first_path} (same sha256), which was analysed; not unpacked again")
}

/// Hashes a node lying in `map` in chunks, releasing each chunk's pages once hashed.
fn hash_releasing(data: &[u8], map: &mapped::Mapped) -> hashes::FileHashes {
    const CHUNK: usize = 8 * 1024 * 1024;
    let mut d = Digests::new();
    let mut done = 0;
    for chunk in data.chunks(CHUNK) {
        d.update(chunk);
        done += chunk.len();
        map.release_within(data, done);
    }
    d.finish()
}

/// Runs `work`, which reads `data` in one pass we cannot pause; when `data` lies in `map`, a
/// helper thread meanwhile releases its pages every [`RELEASE_EVERY`]: the pass holds what it
/// read since the last release (a few MB) instead of the whole file. A released page that is
/// read again comes back from the page cache.
fn releasing_while<T>(map: Option<&mapped::Mapped>, data: &[u8], work: impl FnOnce() -> T) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Stops the helper when dropped, so that a panic in `work` does not leave the scope
    /// waiting for it forever.
    struct Stop<'a>(&'a AtomicBool, std::thread::Thread);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
            self.1.unpark();
        }
    }
    let Some(map) = map else {
        return work();
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let releaser = std::thread::Builder::new().spawn_scoped(s, || {
            while !done.load(Ordering::Acquire) {
                std::thread::park_timeout(RELEASE_EVERY);
                map.release_within(data, data.len());
            }
        });
        // Without a thread to spare, the pass runs as it would on a file in memory.
        let _stop = releaser.map(|r| Stop(&done, r.thread().clone()));
        work()
    })
}

/// The mapping whose pages each pass over `data` releases behind or beside it: `map` (a spooled
/// upload, a spilled stream, or a slice of either) when `data` is at least [`RELEASE_FROM`]
/// bytes.
fn releasing<'m>(map: Option<&'m mapped::Mapped>, data: &[u8]) -> Option<&'m mapped::Mapped> {
    map.filter(|_| data.len() >= RELEASE_FROM)
}

/// From this size a node lying in a mapping has its pages released during each pass: the size
/// from which decoded streams are spilled, so that a spilled node is never held whole in the
/// resident set (a node of up to `fuzzy_max_bytes` was, 64 MiB by default per thread).
const RELEASE_FROM: usize = formats::SPILL_AT;

/// How often [`releasing_while`] releases pages. The fast passes (describing an executable,
/// its sections' entropy) read a GB a second: at every 50 ms, a 69 MB library was nearly
/// all resident between two releases (the server's peak with one such package, 195 against
/// 158 MiB). A release over pages that are not resident costs a walk of the page tables.
const RELEASE_EVERY: Duration = Duration::from_millis(5);

/// Writes an extracted file to `dir/<sha1>` unless it is there already (written aside and
/// renamed, so a reader never sees half of it).
fn keep_child(dir: &Path, sha1: &str, data: &[u8]) -> io::Result<()> {
    let path = dir.join(sha1);
    if path.exists() {
        return Ok(());
    }
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{sha1}.{n}.tmp"));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, &path)
}

/// The name a child is reported under, and what is hostile about the container's name for it.
/// Names are labels only (children live in memory), so they are kept as given, with control
/// characters escaped; an empty name becomes the parent's name without its compression suffix
/// (`a.txt.gz` -> `a.txt`) or the member's index.
fn child_name(raw: &str, parent: &str, index: usize) -> (String, Vec<&'static str>) {
    let mut problems = Vec::new();
    if raw.chars().any(|c| c == '\0') {
        problems.push("contains a NUL byte");
    } else if raw.chars().any(char::is_control) {
        problems.push("contains control characters");
    }
    if raw.starts_with('/') || raw.starts_with('\\') {
        problems.push("is an absolute path");
    }
    let b = raw.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        problems.push("starts with a drive letter");
    }
    if raw.split(['/', '\\']).any(|part| part == "..") {
        problems.push("climbs out of the archive with ../");
    }
    if raw.is_empty() {
        let lower = parent.to_ascii_lowercase();
        for (suffix, replacement) in [
            (".tgz", ".tar"),
            (".tbz2", ".tar"),
            (".txz", ".tar"),
            (".gz", ""),
            (".bz2", ""),
            (".xz", ""),
            (".lzma", ""),
            (".zst", ""),
            (".z", ""),
        ] {
            if lower.ends_with(suffix) && parent.len() > suffix.len() {
                let stem = &parent[..parent.len() - suffix.len()];
                return (format!("{stem}{replacement}"), problems);
            }
        }
        return (index.to_string(), problems);
    }
    let shown = if problems.is_empty() {
        raw.to_string()
    } else {
        formats::printable(raw)
    };
    (shown, problems)
}

/// A fresh entry for a node: its name, path, identification and hashes.
pub(super) fn entry(
    file_name: &str,
    file_path: &str,
    kind: &FileKind,
    digests: &hashes::FileHashes,
) -> Entry {
    let file = FileInfo {
        file_type: kind.file_type().to_string(),
        file_subtype: kind.file_subtype().to_string(),
        file_name: file_name.to_string(),
        file_path: file_path.to_string(),
        size: digests.size,
        entropy: digests.entropy,
        hashes: digests.hash_list(),
        hashes_skipped: Vec::new(),
    };
    let identification = Identification {
        success: kind.name.is_some(),
        name: kind.display_name().unwrap_or_default(),
    };
    entry_of(file, identification)
}

/// An entry of this file and identification, with nothing found yet.
fn entry_of(file: FileInfo, identification: Identification) -> Entry {
    Entry {
        info: Info {
            file,
            identification,
            statistics: None,
            unpacking: Unpacking {
                status: UnpackStatus::NotApplicable,
                warnings: Vec::new(),
                limits: Vec::new(),
                extracted: 0,
            },
        },
        classification: verdict::classify(Vec::new()),
        indicators: Vec::new(),
        interesting_strings: Vec::new(),
        story: String::new(),
        tags: Tags::default(),
        metadata: serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_over_a_mapped_file_reads_the_same_bytes_while_its_pages_are_released() {
        let bytes: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let path = std::env::temp_dir().join(format!("assay-release-{}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let map = mapped::Mapped::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let data = &map.bytes()[4096..];
        let sum = |d: &[u8]| d.iter().map(|&b| u64::from(b)).sum::<u64>();
        let expected = sum(&bytes[4096..]);
        // Passes long enough for the helper to release the pages under them several times.
        let started = Instant::now();
        let sums = releasing_while(Some(&map), data, || {
            let mut sums = Vec::new();
            while started.elapsed() < (RELEASE_EVERY * 4).max(Duration::from_millis(200)) {
                sums.push(sum(data));
            }
            sums
        });
        assert!(!sums.is_empty() && sums.iter().all(|&s| s == expected));
        assert_eq!(releasing_while(None, data, || sum(data)), expected);
    }

    #[test]
    fn hostile_names_are_findings_and_never_paths() {
        for (raw, problem) in [
            ("../../etc/passwd", "climbs out"),
            ("/etc/shadow", "absolute path"),
            ("C:\\Windows\\evil.exe", "drive letter"),
            ("a\0b.exe", "NUL"),
        ] {
            let (shown, problems) = child_name(raw, "p.zip", 1);
            assert!(
                problems.iter().any(|p| p.contains(problem)),
                "{raw}: {problems:?}"
            );
            assert!(!shown.contains('\0'));
        }
        assert_eq!(child_name("", "a.txt.gz", 1).0, "a.txt");
        assert_eq!(child_name("", "a.tgz", 1).0, "a.tar");
        assert_eq!(child_name("", "blob", 3).0, "3");
    }
}
