//! `assay scan PATH...`: the analysis engine offline. Prints one JSON line per file,
//! `{"file": PATH, "tc_report": [...]}` (or `{"file": PATH, "error": ...}`), walks directories
//! (sorted, not following symbolic links), and exits 0 when nothing is suspicious or malicious,
//! 1 when something is, 2 when a file could not be read.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use crate::analysis::{yara, Engine};
use crate::report::{Entry, Report, SUSPICIOUS};
use serde_json::value::RawValue;

/// What a scan found, as an exit code.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub flagged: usize,
    pub errors: usize,
    pub files: usize,
}

impl Outcome {
    pub fn exit_code(&self) -> i32 {
        if self.errors > 0 {
            2
        } else if self.flagged > 0 {
            1
        } else {
            0
        }
    }
}

/// Scans every path (files, and directories recursively) with `jobs` analysis threads, writing
/// one line per file to `out` in the walk's order whatever order the threads finish in.
pub fn run(
    paths: &[PathBuf],
    engine: &Engine,
    jobs: usize,
    pretty: bool,
    out: &mut dyn Write,
) -> io::Result<Outcome> {
    let mut items = Vec::new();
    for path in paths {
        walk(path, &mut items);
    }
    let mut outcome = Outcome::default();
    // One YARA scanner per thread for the whole run: the rules do not change under a scan.
    let rules = engine.yara.current();
    let jobs = jobs.clamp(1, items.len().max(1));
    if jobs == 1 {
        let mut scanner = engine.scanner(&rules);
        for item in &items {
            let done = analyse(item, engine, &mut scanner, pretty);
            emit(done, out, &mut outcome)?;
        }
        return Ok(outcome);
    }
    // Threads take items in order; a finished line waits until every line before it is out. A
    // thread does not start an item more than WINDOW past the next line due, so the lines held
    // stay few however slow one file is.
    let window = 4 * jobs;
    let next = AtomicUsize::new(0);
    let printed = (Mutex::new(0usize), Condvar::new());
    let (send, receive) = mpsc::channel::<(usize, Done)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let send = send.clone();
            let (items, next, printed, rules) = (&items, &next, &printed, &rules);
            scope.spawn(move || {
                let mut scanner = engine.scanner(rules);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    let (lock, ready) = printed;
                    let mut done = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while i >= *done + window {
                        done = ready.wait(done).unwrap_or_else(|e| e.into_inner());
                    }
                    drop(done);
                    if send
                        .send((i, analyse(item, engine, &mut scanner, pretty)))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(send);
        let mut held = BTreeMap::new();
        let mut due = 0;
        for (i, done) in receive {
            held.insert(i, done);
            while let Some(done) = held.remove(&due) {
                emit(done, out, &mut outcome)?;
                due += 1;
                let (lock, ready) = &printed;
                *lock.lock().unwrap_or_else(|e| e.into_inner()) = due;
                ready.notify_all();
            }
        }
        Ok(outcome)
    })
}

/// What the walk found, in order: a file to analyse, or a path it could not read.
enum Item {
    File(PathBuf),
    Unreadable(PathBuf, String),
}

/// A finished line: the JSON to print, and what it counts for.
struct Done {
    line: String,
    flagged: bool,
    error: bool,
}

/// Lists `path` (a file, or a directory walked in sorted order) into `items`.
fn walk(path: &Path, items: &mut Vec<Item>) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return items.push(Item::Unreadable(path.to_path_buf(), e.to_string())),
    };
    if meta.is_dir() {
        let mut children: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return items.push(Item::Unreadable(path.to_path_buf(), e.to_string())),
        };
        children.sort();
        for child in children {
            walk(&child, items);
        }
        return;
    }
    if meta.file_type().is_symlink() {
        // Named on the command line: follow it. Found while walking: skip (it may loop).
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            _ => return,
        }
    } else if !meta.is_file() {
        return; // sockets, fifos, devices
    }
    items.push(Item::File(path.to_path_buf()));
}

/// Analyses one item into its line.
fn analyse(item: &Item, engine: &Engine, scanner: &mut yara::Scanner, pretty: bool) -> Done {
    let (path, result) = match item {
        Item::Unreadable(path, message) => (path, Err(message.clone())),
        Item::File(path) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let result = engine.analyze_file_with(path, &name, scanner);
            (path, result.map_err(|e| e.to_string()))
        }
    };
    let file = path.display().to_string();
    match result {
        Ok(report) => {
            let flagged = report.classification() >= SUSPICIOUS;
            let line = Line {
                file: &file,
                tc_report: Entries {
                    report: &report,
                    pretty,
                },
            };
            Done {
                line: render(&line, pretty),
                flagged,
                error: false,
            }
        }
        Err(message) => {
            eprintln!("assay: {file}: {message}");
            let line = serde_json::json!({ "file": file, "error": message });
            Done {
                line: render(&line, pretty),
                flagged: false,
                error: true,
            }
        }
    }
}

/// Writes one finished line and counts it.
fn emit(done: Done, out: &mut dyn Write, outcome: &mut Outcome) -> io::Result<()> {
    if done.error {
        outcome.errors += 1;
    } else {
        outcome.files += 1;
        outcome.flagged += usize::from(done.flagged);
    }
    out.write_all(done.line.as_bytes())?;
    out.write_all(b"\n")
}

/// One line of output for a file analysed.
#[derive(serde::Serialize)]
struct Line<'a> {
    file: &'a str,
    tc_report: Entries<'a>,
}

/// A report's entries as they go into a line: its JSON as it is, or for `--pretty` re-read one
/// entry at a time (never the whole report as structures: ten times its size in memory).
struct Entries<'a> {
    report: &'a Report,
    pretty: bool,
}

impl serde::Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.report.len()))?;
        for json in (0..self.report.len()).filter_map(|i| self.report.entry_json(i)) {
            if self.pretty {
                let e: Entry = serde_json::from_slice(json).map_err(S::Error::custom)?;
                seq.serialize_element(&e)?;
            } else {
                let raw: &RawValue = serde_json::from_slice(json).map_err(S::Error::custom)?;
                seq.serialize_element(raw)?;
            }
        }
        seq.end()
    }
}

fn render(value: &impl serde::Serialize, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    text.unwrap_or_else(|e| format!("{{\"error\": \"the report could not be written: {e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_directories_and_sets_exit_codes() {
        let dir = std::env::temp_dir().join(format!("assay-scan-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("b.txt"), b"hello").unwrap();
        std::fs::write(dir.join("sub/a.txt"), b"world").unwrap();
        let mut buf = Vec::new();
        let o = run(
            std::slice::from_ref(&dir),
            &Engine::default(),
            1,
            false,
            &mut buf,
        )
        .unwrap();
        assert_eq!((o.files, o.errors, o.exit_code()), (2, 0, 0));
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(lines[0]["file"].as_str().unwrap().ends_with("b.txt"));
        assert_eq!(lines[1]["tc_report"][0]["info"]["file"]["size"], 5);

        let mut buf = Vec::new();
        let o = run(
            &[dir.join("missing")],
            &Engine::default(),
            1,
            false,
            &mut buf,
        )
        .unwrap();
        assert_eq!(o.exit_code(), 2);
        assert!(String::from_utf8(buf).unwrap().contains("\"error\""));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parallel_scans_print_the_walks_order_and_the_same_reports() {
        let dir = std::env::temp_dir().join(format!("assay-scan-j-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Sizes vary so threads finish out of order; one path cannot be read.
        for i in 0..40u32 {
            let body: Vec<u8> = (0..(i % 7) * 20_000).map(|k| (k * i) as u8).collect();
            std::fs::write(dir.join(format!("f{i:02}.bin")), body).unwrap();
        }
        let paths = [dir.clone(), dir.join("missing")];
        let engine = Engine::default();
        let scan = |jobs| {
            let mut buf = Vec::new();
            let o = run(&paths, &engine, jobs, false, &mut buf).unwrap();
            let lines: Vec<(String, String)> = String::from_utf8(buf)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    let sha256 =
                        v["tc_report"][0]["info"]["file"]["hashes"][2]["value"].to_string();
                    (v["file"].as_str().unwrap().to_string(), sha256)
                })
                .collect();
            (o, lines)
        };
        let (one, serial) = scan(1);
        let (four, parallel) = scan(4);
        assert_eq!((one.files, one.errors), (40, 1));
        assert_eq!(one, four);
        assert_eq!(serial, parallel);
        assert!(serial[0].0.ends_with("f00.bin") && serial[40].0.ends_with("missing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
