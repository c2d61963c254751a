//! `assay scan PATH...`: the analysis engine offline. Prints one JSON line per file,
//! `{"file": PATH, "tc_report": [...]}` (or `{"file": PATH, "error": ...}`), walks directories
//! (sorted, not following symbolic links), and exits 0 when nothing is suspicious or malicious,
//! 1 when something is, 2 when a file could not be read.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::analysis::{yara, Engine};
use crate::report::SUSPICIOUS;

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

/// Scans every path (files, and directories recursively), writing one line per file to `out`.
pub fn run(
    paths: &[PathBuf],
    engine: &Engine,
    pretty: bool,
    out: &mut dyn Write,
) -> io::Result<Outcome> {
    let mut outcome = Outcome::default();
    // One YARA scanner for the whole run: the rules do not change under a scan.
    let rules = engine.yara.current();
    let mut scanner = engine.scanner(&rules);
    for path in paths {
        walk(path, engine, &mut scanner, pretty, out, &mut outcome)?;
    }
    Ok(outcome)
}

fn walk(
    path: &Path,
    engine: &Engine,
    scanner: &mut yara::Scanner,
    pretty: bool,
    out: &mut dyn Write,
    outcome: &mut Outcome,
) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return error(path, &e.to_string(), pretty, out, outcome),
    };
    if meta.is_dir() {
        let mut children: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return error(path, &e.to_string(), pretty, out, outcome),
        };
        children.sort();
        for child in children {
            walk(&child, engine, scanner, pretty, out, outcome)?;
        }
        return Ok(());
    }
    if meta.file_type().is_symlink() {
        // Named on the command line: follow it. Found while walking: skip (it may loop).
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            _ => return Ok(()),
        }
    } else if !meta.is_file() {
        return Ok(()); // sockets, fifos, devices
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match engine.analyze_file_with(path, &name, scanner) {
        Ok(entries) => {
            outcome.files += 1;
            if entries
                .first()
                .is_some_and(|e| e.classification.classification >= SUSPICIOUS)
            {
                outcome.flagged += 1;
            }
            let line =
                serde_json::json!({ "file": path.display().to_string(), "tc_report": entries });
            print(&line, pretty, out)
        }
        Err(e) => error(path, &e.to_string(), pretty, out, outcome),
    }
}

fn error(
    path: &Path,
    message: &str,
    pretty: bool,
    out: &mut dyn Write,
    outcome: &mut Outcome,
) -> io::Result<()> {
    outcome.errors += 1;
    eprintln!("assay: {}: {message}", path.display());
    print(
        &serde_json::json!({ "file": path.display().to_string(), "error": message }),
        pretty,
        out,
    )
}

fn print(value: &serde_json::Value, pretty: bool, out: &mut dyn Write) -> io::Result<()> {
    if pretty {
        serde_json::to_writer_pretty(&mut *out, value)?;
    } else {
        serde_json::to_writer(&mut *out, value)?;
    }
    out.write_all(b"\n")
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
        let o = run(&[dir.join("missing")], &Engine::default(), false, &mut buf).unwrap();
        assert_eq!(o.exit_code(), 2);
        assert!(String::from_utf8(buf).unwrap().contains("\"error\""));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
