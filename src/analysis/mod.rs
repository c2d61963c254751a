//! File analysis: takes a file and returns its report entries. Knows nothing about HTTP, queues or
//! storage; the queue calls [`analyze_file`] and stores what it returns.
//!
//! Today's pipeline is one pass: identify by magic bytes, hash (md5, sha1, sha256, sha512) and
//! measure entropy while reading. The analysis engine, YARA and verdict issues plug in here.

pub mod hashes;
pub mod identify;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::report::{
    Classification, Entry, FileInfo, FileStat, Identification, IdentificationCount, Info,
    ScanResult, ScanType, Statistics, Tags, UnpackStatus, Unpacking, UNKNOWN,
};

/// Name of the scan result every report carries for the built-in engine.
pub const ENGINE_NAME: &str = "assay";

const READ_CHUNK: usize = 1024 * 1024;

/// Reads a file once, feeding every byte to the digests and keeping the first `head_limit` bytes.
fn read_through(path: &Path, head_limit: usize) -> io::Result<(hashes::Digests, Vec<u8>)> {
    let mut file = File::open(path)?;
    let mut digests = hashes::Digests::default();
    let mut head = Vec::with_capacity(head_limit);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok((digests, head)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        let take = head_limit.saturating_sub(head.len()).min(n);
        head.extend_from_slice(&chunk[..take]);
        digests.update(chunk);
    }
}

/// Analyses the file at `path`, called `file_name` by its submitter (a hint only: the content decides).
pub fn analyze_file(path: &Path, file_name: &str) -> io::Result<Vec<Entry>> {
    let (digests, head) = read_through(path, identify::HEAD_BYTES)?;
    let kind = identify::identify(&head);
    Ok(vec![entry(file_name, kind, digests.finish(), Vec::new())])
}

/// The report of a file whose analysis failed: whatever could be hashed, and why it failed.
/// Hashing is plain safe code over bytes, so it is still tried when a format handler was at fault.
pub fn failure_report(path: &Path, file_name: &str, reason: &str) -> Vec<Entry> {
    let mut warnings = vec![format!("analysis failed: {reason}")];
    let digests = match read_through(path, 0) {
        Ok((digests, _)) => digests,
        Err(e) => {
            warnings.push(format!("the sample could not be read for hashing: {e}"));
            hashes::Digests::default()
        }
    };
    let kind = identify::FileKind {
        file_type: "Unknown",
        file_subtype: "None",
        name: None,
    };
    let mut e = entry(file_name, kind, digests.finish(), warnings);
    e.info.unpacking.status = UnpackStatus::Failed;
    e.story = format!(
        "Analysis of {} failed: {reason}. The file is not classified; only its hashes are reported.",
        display_name(file_name)
    );
    vec![e]
}

fn display_name(file_name: &str) -> &str {
    if file_name.is_empty() {
        "the file"
    } else {
        file_name
    }
}

fn entry(
    file_name: &str,
    kind: identify::FileKind,
    digests: hashes::Summary,
    warnings: Vec<String>,
) -> Entry {
    let ident_name = kind.name.unwrap_or("").to_string();
    let what = match kind.name {
        Some(name) => format!("identified as {name}"),
        None => "not of a format assay recognises".to_string(),
    };
    let story = format!(
        "{} is {} bytes long and was {what}. No detection source flagged it, so it is not classified.",
        display_name(file_name),
        digests.size
    );
    Entry {
        info: Info {
            file: FileInfo {
                file_type: kind.file_type.to_string(),
                file_subtype: kind.file_subtype.to_string(),
                file_name: file_name.to_string(),
                file_path: file_name.to_string(),
                size: digests.size,
                entropy: digests.entropy,
                hashes: digests.hash_list(),
            },
            identification: Identification {
                success: kind.name.is_some(),
                name: ident_name.clone(),
            },
            statistics: Some(Statistics {
                file_stats: vec![FileStat {
                    file_type: kind.file_type.to_string(),
                    subtype: kind.file_subtype.to_string(),
                    count: 1,
                    identifications: vec![IdentificationCount {
                        count: 1,
                        name: ident_name,
                    }],
                }],
            }),
            unpacking: Unpacking {
                status: UnpackStatus::NotApplicable,
                warnings,
            },
        },
        classification: Classification {
            classification: UNKNOWN,
            factor: 0,
            result: None,
            propagated: false,
            propagation_source: None,
            scan_results: vec![ScanResult {
                name: ENGINE_NAME.to_string(),
                kind: ScanType::Internal,
                classification: UNKNOWN,
                factor: 0,
                result: String::new(),
            }],
        },
        indicators: Vec::new(),
        interesting_strings: Vec::new(),
        story,
        tags: Tags::default(),
        metadata: serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, data: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("assay-an-{}-{name}", std::process::id()));
        std::fs::write(&p, data).unwrap();
        p
    }

    #[test]
    fn report_has_the_decided_shape() {
        let p = temp_file("gz", b"\x1f\x8b\x08\x00\x00\x00");
        let r = analyze_file(&p, "x.gz").unwrap();
        std::fs::remove_file(&p).unwrap();
        assert_eq!(r.len(), 1);
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
        assert_eq!(names, ["md5", "sha1", "sha256", "sha512"]);
        assert_eq!(v["classification"]["classification"], 0);
        assert_eq!(v["classification"]["scan_results"][0]["type"], "internal");
        assert_eq!(v["info"]["statistics"]["file_stats"][0]["count"], 1);
        assert!(v["story"].as_str().unwrap().contains("GZIP"));
    }

    #[test]
    fn hashes_cover_files_larger_than_one_read() {
        let data: Vec<u8> = (0..(3 * READ_CHUNK + 17))
            .map(|i| (i % 253) as u8)
            .collect();
        let p = temp_file("big", &data);
        let r = analyze_file(&p, "big").unwrap();
        std::fs::remove_file(&p).unwrap();
        let mut d = hashes::Digests::default();
        d.update(&data);
        let expect = d.finish();
        assert_eq!(r[0].info.file.size, data.len() as u64);
        assert_eq!(r[0].info.file.hashes[2].value, expect.sha256);
    }

    #[test]
    fn failure_report_still_hashes_and_says_why() {
        let p = temp_file("bad", b"abc");
        let r = failure_report(&p, "bad.bin", "handler panicked");
        std::fs::remove_file(&p).unwrap();
        assert_eq!(
            r[0].info.file.hashes[1].value,
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(r[0].info.unpacking.status, UnpackStatus::Failed);
        assert!(r[0].info.unpacking.warnings[0].contains("handler panicked"));
        assert!(!r[0].classification.scan_results.is_empty());
    }
}
