//! File analysis: takes a file and returns its report. Knows nothing about HTTP, queues or
//! storage; the queue and `assay scan` call [`Engine::analyze_file`].
//!
//! This file holds the [`Engine`] (budgets, string options, verdict sources) and the module list.
//! The walk over one upload is [`walk`]; what each format is and who reads it, [`identify`] and
//! [`registry`]; the parsers, [`formats`] (unpacking) and [`inspect`] (describing).

pub(crate) mod bytes;
pub mod cache;
pub mod externals;
pub mod formats;
pub mod hashes;
pub mod hashlist;
pub mod identify;
pub mod inspect;
pub(crate) mod mapped;
mod ordinals;
mod policy;
pub mod registry;
pub mod ssdeep;
mod story;
pub(crate) mod text;
pub mod verdict;
mod walk;
pub mod warning;
pub mod yara;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use formats::Deadline;
use hashes::Digests;
use identify::FileKind;
use inspect::strings;
pub use walk::{Cache as AnalysisCache, Limits};

use crate::report::{Entry, FileStat, Report, Statistics, UnpackStatus};

/// Everything an analysis needs besides the file: budgets, string options and verdict sources.
/// Shared by the analysis threads (`Arc<Engine>`); what reloads (hash lists) swaps inside.
#[derive(Debug)]
pub struct Engine {
    pub limits: Limits,
    pub strings: strings::Options,
    lists: crate::watched::Watched<hashlist::Lists>,
    /// The YARA rulesets; the server's watcher thread keeps them current.
    pub yara: Arc<yara::Rulesets>,
    /// Where each extracted file is kept, named by its sha1, for a delivery to read (S3's
    /// unpacked bucket); `None`: extracted files live in memory only.
    pub children_dir: Option<PathBuf>,
    /// What was found under files seen before, by content ([`cache`]).
    pub cache: Arc<walk::Cache>,
    /// Where a decoded stream larger than [`formats::SPILL_AT`], or a zip member larger than
    /// [`formats::HELD_SPILL_AT`], is written (unlinked at once) and mapped instead of held in
    /// memory; `None`: every stream stays in memory.
    pub spill_dir: Option<PathBuf>,
    /// Reports are compressed as they are written, as the store keeps them (the server's);
    /// otherwise their entries stay readable one by one (`assay scan` writes them out).
    pub pack_reports: bool,
    /// A walk holds its entries' JSON compressed past this many bytes of it: the server's
    /// [`walk::PACK_ENTRIES_PAST`]; by default never (`assay scan`, where the CPU it costs
    /// matters more than the memory of one task per thread).
    pub pack_entries_past: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(Limits::default(), strings::Options::default(), None)
    }
}

impl Engine {
    /// An engine with these budgets and string options, and the hash lists of `hash_lists`
    /// (a directory with `known-bad/` and `known-good/`), if any.
    pub fn new(limits: Limits, strings: strings::Options, hash_lists: Option<PathBuf>) -> Engine {
        Engine {
            limits,
            strings,
            lists: hashlist::watch(hash_lists),
            yara: Arc::new(yara::Rulesets::none()),
            children_dir: None,
            cache: Arc::new(walk::Cache::new(cache::Bounds::default())),
            spill_dir: None,
            pack_reports: false,
            pack_entries_past: usize::MAX,
        }
    }

    /// This engine with an analysis cache of these bounds.
    pub fn with_cache(mut self, bounds: cache::Bounds) -> Engine {
        self.cache = Arc::new(walk::Cache::new(bounds));
        self
    }

    /// This engine, keeping every extracted file in `dir` (named by its sha1).
    pub fn keeping_children(mut self, dir: PathBuf) -> Engine {
        self.children_dir = Some(dir);
        self
    }

    /// This engine, spilling large decoded streams to temporary files in `dir`.
    pub fn spilling_to(mut self, dir: PathBuf) -> Engine {
        self.spill_dir = Some(dir);
        self
    }

    /// This engine, compressing reports as they are written ([`Report::packed`]) and a large
    /// task's entries as they wait for it ([`walk::PACK_ENTRIES_PAST`]): the server's.
    pub fn packing_reports(mut self) -> Engine {
        self.pack_reports = true;
        self.pack_entries_past = walk::PACK_ENTRIES_PAST;
        self
    }

    /// This engine with these YARA rulesets.
    pub fn with_yara(mut self, yara: Arc<yara::Rulesets>) -> Engine {
        self.yara = yara;
        self
    }

    /// Default options with these budgets.
    pub fn with_limits(limits: Limits) -> Engine {
        Engine::new(limits, strings::Options::default(), None)
    }

    /// Analyses the file at `path`, called `file_name` by its submitter (a hint only: the
    /// content decides). The file is memory-mapped, so a large upload costs page cache, not heap.
    pub fn analyze_file(&self, path: &Path, file_name: &str) -> io::Result<Report> {
        let rules = self.yara.current();
        self.analyze_file_with(path, file_name, &mut self.scanner(&rules))
    }

    /// [`Engine::analyze_file`] with a YARA scanner the caller keeps across files (see
    /// [`yara::Scanner`]). The task is scanned with the scanner's rules, even if a reload has
    /// brought others meanwhile: callers check [`yara::Rulesets::is_current`] between tasks.
    pub fn analyze_file_with(
        &self,
        path: &Path,
        file_name: &str,
        scanner: &mut yara::Scanner,
    ) -> io::Result<Report> {
        let map = mapped::Mapped::open(path)?;
        let deadline = Deadline::after(self.limits.max_time);
        Ok(self.analyze(map.bytes(), file_name, Some(&map), scanner, deadline))
    }

    /// [`Engine::analyze_file_with`] for a sample held in memory (a small upload, kept in the
    /// database with its task).
    pub fn analyze_held_with(
        &self,
        data: &[u8],
        file_name: &str,
        scanner: &mut yara::Scanner,
    ) -> Report {
        let deadline = Deadline::after(self.limits.max_time);
        self.analyze(data, file_name, None, scanner, deadline)
    }

    /// Analyses bytes already in memory (tests and the fuzz targets), into entries.
    pub fn analyze_bytes(&self, data: &[u8], file_name: &str) -> Vec<Entry> {
        self.analyze_bytes_until(data, file_name, Deadline::after(self.limits.max_time))
    }

    /// [`Engine::analyze_bytes`] under `deadline` instead of the configured time budget.
    fn analyze_bytes_until(&self, data: &[u8], file_name: &str, deadline: Deadline) -> Vec<Entry> {
        let rules = self.yara.current();
        self.analyze(data, file_name, None, &mut self.scanner(&rules), deadline)
            .entries()
    }

    /// A YARA scanner for `rules` (a generation taken from `self.yara`) with this engine's options.
    pub fn scanner<'r>(&'r self, rules: &'r yara::Compiled) -> yara::Scanner<'r> {
        yara::Scanner::new(rules, self.yara.options())
    }

    fn analyze(
        &self,
        data: &[u8],
        file_name: &str,
        map: Option<&mapped::Mapped>,
        scanner: &mut yara::Scanner,
        deadline: Deadline,
    ) -> Report {
        let sources = walk::Sources {
            limits: &self.limits,
            strings: &self.strings,
            lists: self.lists.current(),
            children_dir: self.children_dir.as_deref(),
            cache: &self.cache,
            spill_dir: self.spill_dir.as_deref(),
            pack_entries_past: self.pack_entries_past,
        };
        let mut walk = walk::Walk::new(sources, scanner, deadline);
        let at = walk::Place {
            name: file_name.to_string(),
            path: file_name.to_string(),
            depth: 0,
            parent: None,
        };
        walk.node(data, at, map);
        walk.finish(if self.pack_reports {
            Report::packed()
        } else {
            Report::default()
        })
    }
}

/// The report of a file whose analysis failed: whatever could be hashed (`data`: the sample's
/// bytes, or why they could not be read), and why it failed. Hashing is plain safe code over
/// bytes, so it is still tried when a format handler was at fault.
pub fn failure_report(data: io::Result<&[u8]>, file_name: &str, reason: &str) -> Report {
    let mut warnings = vec![format!("analysis failed: {reason}")];
    let digests = match data {
        Ok(bytes) => Digests::of(bytes, false),
        Err(e) => {
            warnings.push(format!("the sample could not be read for hashing: {e}"));
            Digests::of(b"", false)
        }
    };
    let kind = FileKind::unidentified();
    let mut e = walk::entry(file_name, file_name, &kind, &digests);
    e.info.unpacking.warnings = warnings;
    e.info.unpacking.status = UnpackStatus::Failed;
    e.info.statistics = Some(Statistics {
        file_stats: vec![FileStat {
            file_type: kind.file_type().into(),
            subtype: kind.file_subtype().into(),
            count: 1,
            identifications: Vec::new(),
        }],
    });
    e.story = format!(
        "Analysis of {} failed: {reason}. The file is not classified; only its hashes are reported.",
        story::display_name(file_name)
    );
    Report::of(&[e])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{LimitFinding, SUSPICIOUS, UNKNOWN};
    use std::time::Duration;

    fn analyze(data: &[u8], name: &str) -> Vec<Entry> {
        Engine::default().analyze_bytes(data, name)
    }

    fn analyze_bytes(data: &[u8], name: &str, limits: &Limits) -> Vec<Entry> {
        Engine::with_limits(limits.clone()).analyze_bytes(data, name)
    }

    #[test]
    fn strings_are_listed_for_binaries_and_sorted_for_everything() {
        let mut bin = vec![0u8, 1, 2, 0xff];
        bin.extend(b"GET http://c2.example.net/beacon HTTP/1.1");
        bin.extend([0u8, 0xfe, 3]);
        let r = analyze(&bin, "blob.bin");
        let listed = &r[0].metadata["strings"]["listed"];
        assert_eq!(listed[0]["offset"], 4);
        assert_eq!(listed[0]["encoding"], "ascii");
        assert_eq!(r[0].interesting_strings[0].category, "http");
        assert_eq!(
            r[0].interesting_strings[0].values,
            ["http://c2.example.net/beacon"]
        );
        // A text file's strings are its lines: sorted, not listed again.
        let r = analyze(b"see https://docs.example.org/x for details\n", "notes.txt");
        assert!(r[0].metadata.get("strings").is_none());
        assert_eq!(r[0].interesting_strings[0].category, "https");
    }

    #[test]
    fn an_office_document_is_described_and_unpacked_over_one_parse_or_only_described() {
        let doc = formats::ole2::tests::compound(&[
            ("WordDocument", b"word body"),
            ("ObjectPool/payload", b"embedded payload"),
        ]);
        let r = analyze(&doc, "letter.doc");
        assert_eq!(r[0].info.file.file_subtype, "Word");
        assert_eq!(r[0].metadata["document"]["format"], "OLE2");
        let children: Vec<&str> = r[1..]
            .iter()
            .map(|e| e.info.file.file_name.as_str())
            .collect();
        assert_eq!(children, ["ObjectPool/payload", "WordDocument"]);
        assert_eq!(r[0].info.unpacking.status, UnpackStatus::Complete);
        // Past max_depth it is still described, and the limit is said.
        let flat = Limits {
            max_depth: 0,
            ..Limits::default()
        };
        let r = analyze_bytes(&doc, "letter.doc", &flat);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].metadata["document"]["format"], "OLE2");
        assert_eq!(r[0].info.unpacking.limits[0].limit, "depth");
    }

    #[test]
    fn report_has_the_decided_shape() {
        let r = analyze(b"\x1f\x8b\x08\x00\x00\x00", "x.gz");
        let v = serde_json::to_value(&r[0]).unwrap();
        assert_eq!(v["info"]["file"]["file_type"], "Binary");
        assert_eq!(v["info"]["file"]["file_subtype"], "Archive");
        assert_eq!(v["info"]["identification"]["name"], "GZIP");
        assert_eq!(v["info"]["file"]["size"], 6);
        let names: Vec<_> = v["info"]["file"]["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["md5", "sha1", "sha256", "sha512", "ssdeep"]);
        assert_eq!(v["classification"]["classification"], 0);
        assert_eq!(v["classification"]["scan_results"][0]["type"], "internal");
        assert_eq!(v["info"]["statistics"]["file_stats"][0]["count"], 1);
        assert!(v["story"].as_str().unwrap().contains("GZIP"));
        // A truncated gzip: a warning, not a failure.
        assert_eq!(v["info"]["unpacking"]["status"], "failed");
        assert!(!v["info"]["unpacking"]["warnings"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    fn gzip(name: &str, payload: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut w = flate2::GzBuilder::new()
            .filename(name)
            .write(Vec::new(), flate2::Compression::default());
        w.write_all(payload).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn children_carry_name_and_lineage() {
        let inner = gzip("payload.txt", b"hello there, this is the payload");
        let outer = gzip("inner.gz", &inner);
        let r = analyze(&outer, "outer.gz");
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].info.file.file_name, "inner.gz");
        assert_eq!(r[2].info.file.file_path, "outer.gz/inner.gz/payload.txt");
        assert_eq!(r[0].info.unpacking.status, UnpackStatus::Complete);
        assert_eq!(r[0].info.unpacking.extracted, 1);
        let stats = &r[0].info.statistics.as_ref().unwrap().file_stats;
        assert_eq!(stats.iter().map(|s| s.count).sum::<u64>(), 3);
    }

    #[test]
    fn depth_limit_is_a_finding_and_can_alert() {
        let mut data = b"deep payload".to_vec();
        for i in 0..5 {
            data = gzip(&format!("level{i}.gz"), &data);
        }
        let limits = Limits {
            max_depth: 2,
            alert_exceeds_max: true,
            ..Limits::default()
        };
        let r = analyze_bytes(&data, "top.gz", &limits);
        assert_eq!(r.len(), 3);
        let stopped = &r[2];
        assert_eq!(stopped.info.unpacking.limits[0].limit, "depth");
        assert!(stopped.indicators[0].description.contains("depth"));
        assert_eq!(stopped.classification.classification, SUSPICIOUS);
        // The verdict reaches the top with its source.
        assert_eq!(r[0].classification.classification, SUSPICIOUS);
        assert!(r[0].classification.propagated);
        assert_eq!(
            r[0].classification.propagation_source.as_deref(),
            Some(stopped.info.file.file_path.as_str())
        );
        // Without the switch it is a finding, not a verdict.
        let r = analyze_bytes(
            &data,
            "top.gz",
            &Limits {
                max_depth: 2,
                ..Limits::default()
            },
        );
        assert_eq!(r[2].info.unpacking.limits[0].limit, "depth");
        assert_eq!(r[0].classification.classification, UNKNOWN);
    }

    #[test]
    fn duplicates_are_analysed_once() {
        let inner = gzip("x", b"same bytes");
        let mut b = ::tar::Builder::new(Vec::new());
        for name in ["one.gz", "two.gz"] {
            let mut h = ::tar::Header::new_gnu();
            h.set_size(inner.len() as u64);
            h.set_cksum();
            b.append_data(&mut h, name, &inner[..]).unwrap();
        }
        let r = analyze(&b.into_inner().unwrap(), "t.tar");
        // t.tar, one.gz, its payload, two.gz (reported, not unpacked again).
        assert_eq!(r.len(), 4);
        assert_eq!(r[3].info.file.file_path, "t.tar/two.gz");
        assert!(r[3].info.unpacking.warnings[0].contains("t.tar/one.gz"));
        assert_eq!(r[3].info.unpacking.extracted, 0);
    }

    #[test]
    fn a_large_stream_spilled_to_disk_is_reported_as_one_held_in_memory() {
        // A tar larger than the spill threshold, inside gzip: members of various sizes, EICAR
        // among them, and a copy.
        let mut b = ::tar::Builder::new(Vec::new());
        // Noise, so that it does not compress past the ratio limit.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let big: Vec<u8> = (0..formats::SPILL_AT + 4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let files: [(&str, &[u8]); 4] = [
            ("big.bin", &big),
            ("eicar.com", crate::analysis::verdict::EICAR),
            ("notes.txt", b"plain words\n"),
            ("again.bin", &big),
        ];
        for (name, data) in files {
            let mut h = ::tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        }
        let data = gzip("t.tar", &b.into_inner().unwrap());
        let dir = std::env::temp_dir().join(format!("assay-spill-walk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spilled = Engine::default().spilling_to(dir.clone());
        let r = spilled.analyze_bytes(&data, "t.tar.gz");
        assert_eq!(r, Engine::default().analyze_bytes(&data, "t.tar.gz"));
        assert_eq!(r.len(), 6);
        assert_eq!(r[0].classification.classification, crate::report::MALICIOUS);
        assert!(
            r[1].info.file.size as usize > 2 * formats::SPILL_AT,
            "the tar was spilled"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing left behind"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_time_budget_is_a_finding() {
        let data = gzip("inner.txt", b"payload");
        let limits = Limits {
            max_time: Duration::ZERO,
            ..Limits::default()
        };
        let r = analyze_bytes(&data, "t.gz", &limits);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].info.unpacking.limits[0].limit, "time");
        assert!(r[0].indicators[0].description.contains("time"));
    }

    /// A zip archive of these members, deflated.
    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// zip(a.txt, inner.zip(b.txt, c.txt), d.txt, e.txt): 7 entries, a container in a container.
    fn nested_zip() -> Vec<u8> {
        let inner = zip_of(&[("b.txt", b"second member"), ("c.txt", b"third member")]);
        zip_of(&[
            ("a.txt", b"first member"),
            ("inner.zip", &inner),
            ("d.txt", b"fourth member"),
            ("e.txt", b"fifth member"),
        ])
    }

    /// The number in `detail` right after `before`.
    fn number_after(detail: &str, before: &str) -> Option<u64> {
        let rest = &detail[detail.find(before)? + before.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }

    #[test]
    fn the_time_budget_stops_the_walk_wherever_it_runs_out_and_says_what_was_left() {
        use std::collections::HashSet;
        use std::sync::atomic::Ordering;
        let data = nested_zip();
        // Without the cache: every walk below looks at the clock where the first one did.
        let engine = uncached(Limits::default());
        let paths = |r: &[Entry]| -> Vec<String> {
            r.iter().map(|e| e.info.file.file_path.clone()).collect()
        };
        // A walk the budget never stops, counting the places where it looks at the clock.
        let (never, looks) = Deadline::at_look(usize::MAX);
        let full = engine.analyze_bytes_until(&data, "t.zip", never);
        let looks = looks.load(Ordering::SeqCst);
        assert_eq!(full.len(), 7);
        assert!(full.iter().all(|e| e.info.unpacking.limits.is_empty()));
        // The budget runs out at each of those places in turn.
        let mut seen = HashSet::new();
        for at in 1..=looks {
            let r = engine.analyze_bytes_until(&data, "t.zip", Deadline::at_look(at).0);
            let findings: Vec<(&Entry, &LimitFinding)> = r
                .iter()
                .flat_map(|e| e.info.unpacking.limits.iter().map(move |l| (e, l)))
                .collect();
            assert_eq!(findings.len(), 1, "look {at}: one finding per task");
            let (e, finding) = findings[0];
            let detail = &finding.detail;
            assert_eq!(finding.limit, "time", "look {at}: {detail}");
            assert!(e
                .indicators
                .iter()
                .any(|i| i.description.contains("(time)")));
            // The walk stops there: what it reports is what a full walk reports up to that point.
            assert!(r.len() < full.len(), "look {at} stopped nothing");
            assert_eq!(paths(&r), paths(&full)[..r.len()], "look {at}");
            // What the finding says was left matches what the report holds.
            let path = &e.info.file.file_path;
            let children = r
                .iter()
                .filter(|c| {
                    c.info
                        .file
                        .file_path
                        .strip_prefix(path.as_str())
                        .and_then(|rest| rest.strip_prefix('/'))
                        .is_some_and(|name| !name.contains('/'))
                })
                .count() as u64;
            let extracted = e.info.unpacking.extracted;
            let form = if detail.contains("before this file was unpacked") {
                assert_eq!((extracted, children), (0, 0), "look {at}: {detail}");
                "before unpacking"
            } else if let Some(members) = number_after(detail, "while unpacking, after ") {
                assert_eq!((extracted, children), (members, 0), "look {at}: {detail}");
                "while unpacking"
            } else if let Some(left) = number_after(detail, "ran out: ") {
                let of = number_after(detail, &format!("{left} of ")).unwrap();
                assert_eq!(of, extracted, "look {at}: {detail}");
                assert_eq!(children, extracted - left, "look {at}: {detail}");
                "between members"
            } else {
                panic!("look {at}: {detail}");
            };
            seen.insert((form, path.clone()));
        }
        for form in ["before unpacking", "while unpacking", "between members"] {
            for path in ["t.zip", "t.zip/inner.zip"] {
                assert!(
                    seen.contains(&(form, path.to_string())),
                    "never stopped {form} of {path}: {seen:?}"
                );
            }
        }
    }

    /// An engine with these budgets and no analysis cache: every walk analyses every node.
    fn uncached(limits: Limits) -> Engine {
        Engine::with_limits(limits).with_cache(cache::Bounds {
            max_entries: 0,
            ..cache::Bounds::default()
        })
    }

    /// The test files of every kind: formats, installers, packers, and files the engines
    /// disagree on.
    fn sample_files() -> Vec<PathBuf> {
        let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut files: Vec<PathBuf> = ["formats", "nsis", "msi", "pe", "upx", "disagree"]
            .iter()
            .flat_map(|d| std::fs::read_dir(data_dir.join(d)).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn entries_held_compressed_give_the_same_reports_fresh_and_from_the_cache() {
        // Every entry held compressed (the first too: it is written last), against none.
        let packing = Engine {
            pack_entries_past: 0,
            ..Engine::default()
        };
        let plain = Engine {
            pack_entries_past: usize::MAX,
            ..uncached(Limits::default())
        };
        let cached_plain = Engine {
            pack_entries_past: usize::MAX,
            ..Engine::default()
        };
        let mut entries = 0;
        for path in sample_files() {
            let data = std::fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_str().unwrap();
            let expected = plain.analyze_bytes(&data, name);
            entries += expected.len();
            cached_plain.analyze_bytes(&data, name);
            assert_eq!(packing.analyze_bytes(&data, name), expected, "{name}");
            let hits = packing.cache.counters().hits;
            assert_eq!(packing.analyze_bytes(&data, name), expected, "{name} again");
            assert!(packing.cache.counters().hits > hits || expected.len() == 1);
        }
        assert!(entries > 400, "{entries}");
        // The same trees take a fraction of the room in the cache.
        let (packed, plain) = (packing.cache.counters(), cached_plain.cache.counters());
        assert_eq!(packed.entries, plain.entries);
        assert!(packed.bytes * 2 < plain.bytes, "{packed:?} {plain:?}");
    }

    #[test]
    fn a_file_seen_before_is_reported_as_a_fresh_walk_reports_it_under_its_new_name() {
        let files = sample_files();
        let engine = Engine::default();
        for path in &files {
            let name = path.file_name().unwrap().to_str().unwrap();
            engine.analyze_bytes(&std::fs::read(path).unwrap(), name);
        }
        let before = engine.cache.counters();
        let mut whole = 0;
        for path in &files {
            let data = std::fs::read(path).unwrap();
            let name = format!("renamed-{}", path.file_name().unwrap().to_str().unwrap());
            let hits = engine.cache.counters().hits;
            let cached = engine.analyze_bytes(&data, &name);
            let fresh = uncached(Limits::default()).analyze_bytes(&data, &name);
            assert_eq!(cached, fresh, "{name}");
            // The upload itself came from the cache: one look-up, one hit.
            whole += usize::from(engine.cache.counters().hits == hits + 1 && cached.len() > 1);
        }
        let after = engine.cache.counters();
        assert!(after.hits > before.hits);
        // Most containers come whole from the cache (not those a limit stopped, or whose members
        // are named after them: compressed files).
        let containers = files
            .iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_str().unwrap();
                uncached(Limits::default())
                    .analyze_bytes(&std::fs::read(p).unwrap(), name)
                    .len()
                    > 1
            })
            .count();
        assert!(whole * 4 >= containers * 3, "{whole} of {containers}");
    }

    #[test]
    fn a_container_seen_before_is_not_unpacked_again_inside_another_upload() {
        let engine = Engine::default();
        let inner = nested_zip();
        assert_eq!(engine.analyze_bytes(&inner, "first.zip").len(), 7);
        let before = engine.cache.counters();
        let outer = gzip("copy.zip", &inner);
        let r = engine.analyze_bytes(&outer, "outer.gz");
        let after = engine.cache.counters();
        // outer.gz missed; copy.zip hit, and nothing under it was looked up.
        assert_eq!(
            (after.hits - before.hits, after.misses - before.misses),
            (1, 1)
        );
        assert_eq!(
            r,
            uncached(Limits::default()).analyze_bytes(&outer, "outer.gz")
        );
        assert_eq!(r.len(), 8);
        assert_eq!(r[3].info.file.file_path, "outer.gz/copy.zip/inner.zip");
    }

    #[test]
    fn a_cached_tree_larger_than_the_budget_left_is_walked_again_and_limits_are_never_cached() {
        let limits = Limits {
            max_files: 8,
            ..Limits::default()
        };
        let engine = Engine::with_limits(limits.clone());
        let inner = nested_zip();
        // Six files under it: it fits alone, and is cached.
        engine.analyze_bytes(&inner, "inner.zip");
        // Behind three other files, it no longer fits: walking it again records the limit.
        let outer = nested_zip_around(&inner);
        let r = engine.analyze_bytes(&outer, "outer.zip");
        assert_eq!(
            r,
            uncached(limits.clone()).analyze_bytes(&outer, "outer.zip")
        );
        assert!(r.iter().any(|e| !e.info.unpacking.limits.is_empty()));
        // What the limit stopped was not cached: the same upload again gives the same report,
        // its members the limit did not touch (x, y, z; a, d, e of nested.zip) from the cache,
        // outer.zip, nested.zip and inner.zip walked again.
        let before = engine.cache.counters();
        assert_eq!(engine.analyze_bytes(&outer, "outer.zip"), r);
        let after = engine.cache.counters();
        let looked = (after.hits - before.hits, after.misses - before.misses);
        assert_eq!(looked, (6, 3));
    }

    #[test]
    fn files_kept_for_a_delivery_are_there_when_their_tree_comes_from_the_cache() {
        let dir = std::env::temp_dir().join(format!("assay-cache-kept-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kept = || -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let engine = Engine::default().keeping_children(dir.clone());
        let data = nested_zip();
        engine.analyze_bytes(&data, "a.zip");
        let all = kept();
        assert_eq!(all.len(), 6, "every extracted file: {all:?}");
        // The delivery took them away: a later copy walks again what is no longer kept.
        for name in &all {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        engine.analyze_bytes(&data, "b.zip");
        assert_eq!(kept(), all);
        // With them there, the whole tree comes from the cache.
        let hits = engine.cache.counters().hits;
        let r = engine.analyze_bytes(&data, "c.zip");
        assert_eq!(engine.cache.counters().hits, hits + 1);
        assert_eq!(r.len(), 7);
        assert_eq!(kept(), all);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// zip(x.txt, y.txt, z.txt, nested.zip = `inner`).
    fn nested_zip_around(inner: &[u8]) -> Vec<u8> {
        zip_of(&[
            ("x.txt", b"one"),
            ("y.txt", b"two"),
            ("z.txt", b"three"),
            ("nested.zip", inner),
        ])
    }

    #[test]
    fn a_cached_tree_holding_a_file_this_upload_already_walked_is_walked_again() {
        let engine = Engine::default();
        let inner = zip_of(&[("copy.txt", b"the same bytes"), ("own.txt", b"its own")]);
        engine.analyze_bytes(&inner, "inner.zip");
        // copy.txt comes first in the upload: in inner.zip it is a copy, as a fresh walk says.
        let outer = zip_of(&[("copy.txt", b"the same bytes"), ("inner.zip", &inner)]);
        let r = engine.analyze_bytes(&outer, "outer.zip");
        assert_eq!(
            r,
            uncached(Limits::default()).analyze_bytes(&outer, "outer.zip")
        );
        let copy = r
            .iter()
            .find(|e| e.info.file.file_path == "outer.zip/inner.zip/copy.txt")
            .unwrap();
        assert!(copy.info.unpacking.warnings[0].contains("identical to outer.zip/copy.txt"));
    }

    #[test]
    fn other_rules_or_hash_lists_do_not_use_what_the_cache_holds() {
        let dir = std::env::temp_dir().join(format!("assay-cache-epoch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(
            dir.join("rules/a.yar"),
            "rule Second { strings: $a = \"second member\" condition: $a }",
        )
        .unwrap();
        let rules = Arc::new(yara::Rulesets::load(yara::Options {
            rules_dir: Some(dir.join("rules")),
            ..yara::Options::default()
        }));
        let plain = Engine::default();
        let data = nested_zip();
        let without = plain.analyze_bytes(&data, "t.zip");
        // Under other hash lists (new ones), nothing of it is used.
        let mut listed = Engine::new(
            Limits::default(),
            strings::Options::default(),
            Some(dir.clone()),
        );
        listed.cache = plain.cache.clone();
        let hits = plain.cache.counters().hits;
        listed.analyze_bytes(&data, "t.zip");
        assert_eq!(plain.cache.counters().hits, hits);
        // Nor under other rules, the hash lists the same: the engine's own cache (filled again
        // by its first walk, which the other lists' walk emptied) serves it until its rules change.
        let mut ruled = plain;
        ruled.analyze_bytes(&data, "t.zip");
        let hits = ruled.cache.counters().hits;
        ruled.analyze_bytes(&data, "t.zip");
        assert_eq!(
            ruled.cache.counters().hits,
            hits + 1,
            "the same rules: from the cache"
        );
        let hits = hits + 1;
        ruled.yara = rules;
        let with = ruled.analyze_bytes(&data, "t.zip");
        assert_eq!(ruled.cache.counters().hits, hits);
        assert!(with
            .iter()
            .any(|e| e.metadata.contains_key("yara")
                && e.info.file.file_path == "t.zip/inner.zip/b.txt"));
        assert_ne!(with, without);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failure_report_still_hashes_and_says_why() {
        let r = failure_report(Ok(b"abc"), "bad.bin", "handler panicked").entries();
        assert_eq!(
            r[0].info.file.hashes[1].value,
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(r[0].info.unpacking.status, UnpackStatus::Failed);
        assert!(r[0].info.unpacking.warnings[0].contains("handler panicked"));
        assert!(!r[0].classification.scan_results.is_empty());
    }

    #[test]
    fn large_files_skip_fuzzy_hashes_and_say_so() {
        let limits = Limits {
            fuzzy_max_bytes: 10,
            ..Limits::default()
        };
        let r = analyze_bytes(b"more than ten bytes here", "t.txt", &limits);
        assert_eq!(r[0].info.file.hashes.len(), 4);
        assert_eq!(r[0].info.file.hashes_skipped[0].name, "ssdeep");
    }
}
