//! tar archives (POSIX.1-1988 ustar, GNU and pax extensions, pre-POSIX v7): 512-byte headers,
//! members as borrowed slices of the archive. Long names come from GNU `L` records and pax `path`
//! records; base-256 sizes are read. Parsed here rather than through a crate because a truncated
//! tar must still yield the members before the cut.

use std::borrow::Cow;

use super::{printable, Members};
use crate::analysis::warning::Problem;

const BLOCK: usize = 512;
/// Longest GNU long name or pax header read.
const MAX_META_BYTES: usize = 1024 * 1024;

/// A numeric header field: octal text, or GNU base-256 when the high bit is set.
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = (field[0] & 0x7f) as u64;
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ' || b == 0)
        .take_while(|&b| (b'0'..=b'7').contains(&b))
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = memchr::memchr(0, field).unwrap_or(field.len());
    &field[..end]
}

fn checksum_ok(h: &[u8]) -> bool {
    let Some(stored) = number(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u64
            }
        })
        .sum();
    sum == stored
}

/// The `path` value of pax extended header records (`LEN path=VALUE\n`).
fn pax_path(records: &[u8]) -> Option<String> {
    let mut rest = records;
    while !rest.is_empty() {
        let space = memchr::memchr(b' ', rest)?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        let record = rest.get(space + 1..len)?;
        if let Some(v) = record.strip_prefix(b"path=") {
            return Some(String::from_utf8_lossy(v.strip_suffix(b"\n").unwrap_or(v)).into_owned());
        }
        rest = rest.get(len..)?;
    }
    None
}

pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let mut pos = 0;
    let mut long_name: Option<String> = None;
    while pos + BLOCK <= data.len() {
        if out.stopped() {
            return;
        }
        let h = &data[pos..pos + BLOCK];
        if h.iter().all(|&b| b == 0) {
            return; // end-of-archive marker
        }
        if !checksum_ok(h) {
            out.warn(
                Problem::Corrupt,
                format!("the header at byte {pos} has a bad checksum; reading stopped there"),
            );
            return;
        }
        let Some(size) = number(&h[124..136]) else {
            out.warn(
                Problem::Corrupt,
                format!("the header at byte {pos} has an unreadable size"),
            );
            return;
        };
        let start = pos + BLOCK;
        let padded = size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64);
        let next = (start as u64).saturating_add(padded);
        let available = &data[start..data.len().min(start.saturating_add(size as usize))];
        let kind = h[156];
        match kind {
            b'L' | b'x' => {
                let meta = &available[..available.len().min(MAX_META_BYTES)];
                long_name = if kind == b'L' {
                    Some(String::from_utf8_lossy(cstr(meta)).into_owned())
                } else {
                    pax_path(meta).or(long_name)
                };
            }
            b'0' | 0 | b'7' => {
                let name = long_name.take().unwrap_or_else(|| {
                    let base = cstr(&h[0..100]);
                    let prefix = if &h[257..262] == b"ustar" {
                        cstr(&h[345..500])
                    } else {
                        b""
                    };
                    if prefix.is_empty() {
                        String::from_utf8_lossy(base).into_owned()
                    } else {
                        format!(
                            "{}/{}",
                            String::from_utf8_lossy(prefix),
                            String::from_utf8_lossy(base)
                        )
                    }
                });
                if (available.len() as u64) < size {
                    out.warn(
                        Problem::Truncated,
                        format!(
                            "{} is truncated: the header says {size} bytes, {} remain",
                            printable(&name),
                            available.len()
                        ),
                    );
                }
                if !out.add(name, Cow::Borrowed(available)) {
                    return;
                }
            }
            // Directories, links, devices, GNU volume labels and pax globals carry no file.
            _ => long_name = None,
        }
        if next > data.len() as u64 {
            return;
        }
        pos = next as usize;
    }
    if pos < data.len() {
        out.warn(
            Problem::Truncated,
            format!("the archive ends inside a header at byte {pos}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Budget, Limit};
    use super::*;

    pub(crate) fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = ::tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = ::tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn run(data: &[u8], caps: Budget) -> Members<'_> {
        let mut out = Members::new(caps);
        unpack(data, &mut out);
        out
    }

    #[test]
    fn members_with_long_names() {
        let long = format!("{}/file.bin", "d".repeat(150));
        let t = tar(&[("a/one.txt", b"one"), (&long, &[9u8; 700])]);
        let out = run(&t, Budget::unlimited());
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a/one.txt", long.as_str()]);
        assert_eq!(&*out.members[1].data, &[9u8; 700][..]);
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn truncated_tar_keeps_what_is_there() {
        let t = tar(&[("one", &[1u8; 600]), ("two", &[2u8; 3000])]);
        let out = run(&t[..2048], Budget::unlimited());
        assert_eq!(out.members[0].name, "one");
        assert_eq!(out.members[0].data.len(), 600);
        assert_eq!(out.members[1].data.len(), 2048 - 1536 - 512);
        assert!(out.warnings[0].text.contains("truncated"));
    }

    #[test]
    fn a_bad_checksum_stops_with_a_warning() {
        let mut t = tar(&[("one", b"x")]);
        t[0] ^= 1;
        let out = run(&t, Budget::unlimited());
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("checksum"));
    }

    #[test]
    fn base256_sizes_and_budget() {
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(b"0000644 \0"), Some(0o644));
        let t = tar(&[("big", &[0u8; 4096]), ("small", b"x")]);
        let out = run(
            &t,
            Budget {
                max_output: 1000,
                ..Budget::unlimited()
            },
        );
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }
}
