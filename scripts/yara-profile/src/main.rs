//! Scans every file under a directory with the rulesets of a rules directory (each file its own
//! namespace, as assay compiles them), one thread, and prints the time per file, the files that
//! took longest and the rules that took the most of it (condition evaluation and pattern
//! matching, YARA-X's own profile).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => files(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: yara-profile RULES_DIR DIR [N]");
        std::process::exit(2);
    }
    let top: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(15);
    let mut rule_files = Vec::new();
    files(Path::new(&args[1]), &mut rule_files);
    rule_files.retain(|p| p.extension().is_some_and(|e| e == "yar" || e == "yara"));
    rule_files.sort();
    let mut compiler = yara_x::Compiler::new();
    for path in &rule_files {
        let key = path
            .strip_prefix(&args[1])
            .unwrap_or(path)
            .display()
            .to_string();
        compiler.new_namespace(&key);
        let Ok(source) = std::fs::read(path) else {
            continue;
        };
        if let Err(e) = compiler.add_source(source.as_slice()) {
            eprintln!("{key}: left out: {e}");
        }
    }
    let rules = compiler.build();
    let mut targets = Vec::new();
    files(Path::new(&args[2]), &mut targets);
    targets.sort();
    let mut scanner = yara_x::Scanner::new(&rules);
    let (mut bytes, mut took) = (0u64, Duration::ZERO);
    let mut slowest: Vec<(Duration, u64, &Path)> = Vec::new();
    for path in &targets {
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        bytes += data.len() as u64;
        let started = Instant::now();
        let _ = scanner.scan(&data);
        let elapsed = started.elapsed();
        took += elapsed;
        slowest.push((elapsed, data.len() as u64, path));
    }
    slowest.sort_by(|a, b| b.0.cmp(&a.0));
    let n = targets.len().max(1) as f64;
    println!(
        "{} rules, {} files, {:.0} MB: {:.2} s scanning, {:.0} µs per file",
        rules.iter().len(),
        targets.len(),
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        took.as_secs_f64() / n * 1e6
    );
    println!("slowest files:");
    for (elapsed, size, path) in slowest.iter().take(top) {
        println!(
            "  {:>8.3} s  {:>10} bytes  {}",
            elapsed.as_secs_f64(),
            size,
            path.display()
        );
    }
    println!("slowest rules (condition + patterns, share of the scanning time):");
    for p in scanner.slowest_rules(top) {
        let total = p.condition_exec_time + p.pattern_matching_time;
        println!(
            "  {:>5.1} %  {:>8.3} s  (condition {:.3} s, patterns {:.3} s)  {}:{}",
            total.as_secs_f64() / took.as_secs_f64() * 100.0,
            total.as_secs_f64(),
            p.condition_exec_time.as_secs_f64(),
            p.pattern_matching_time.as_secs_f64(),
            p.namespace,
            p.rule
        );
    }
}
