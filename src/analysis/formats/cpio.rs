//! cpio archives in all four on-disk variants: old binary (either byte order), odc/portable
//! ASCII (`070707`), newc (`070701`) and crc (`070702`). Follows the layouts in the GNU cpio
//! manual ("Options" / archive formats) and libarchive's `cpio(5)` manual page.
//!
//! Only regular files are members. Directories, symlinks, devices and FIFOs carry no file content
//! worth analysing and are skipped. A hard-link group is yielded once, with its data: newc/crc
//! store the data only with the last link (the others have size 0), while odc/binary repeat it
//! with every link.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::Members;
use crate::analysis::warning::Problem;

/// Size of an old binary header.
const BINARY_HEADER: usize = 26;
/// Size of an odc header.
const ODC_HEADER: usize = 76;
/// Size of a newc/crc header.
const NEWC_HEADER: usize = 110;
/// Name of the end-of-archive marker entry.
const TRAILER: &[u8] = b"TRAILER!!!";
/// File type bits of `mode`.
const S_IFMT: u64 = 0o170000;
/// File type of a regular file.
const S_IFREG: u64 = 0o100000;
/// Most hard-link groups waiting for their data-carrying link. Each costs a name; a hostile
/// archive of empty links could otherwise grow the table with every 110 bytes of input.
const MAX_PENDING_LINKS: usize = 100_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    BinaryLe,
    BinaryBe,
    Odc,
    Newc,
    Crc,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::BinaryLe | Variant::BinaryBe => "binary",
            Variant::Odc => "odc",
            Variant::Newc => "newc",
            Variant::Crc => "crc",
        }
    }

    /// Alignment of header+name and of data.
    fn align(self) -> usize {
        match self {
            Variant::BinaryLe | Variant::BinaryBe => 2,
            Variant::Odc => 1,
            Variant::Newc | Variant::Crc => 4,
        }
    }
}

fn detect_at(data: &[u8], pos: usize) -> Option<Variant> {
    let head = data.get(pos..)?;
    if head.starts_with(b"070701") {
        Some(Variant::Newc)
    } else if head.starts_with(b"070702") {
        Some(Variant::Crc)
    } else if head.starts_with(b"070707") {
        Some(Variant::Odc)
    } else if head.starts_with(&[0xC7, 0x71]) {
        // 0o070707 == 0x71C7 stored little-endian.
        Some(Variant::BinaryLe)
    } else if head.starts_with(&[0x71, 0xC7]) {
        Some(Variant::BinaryBe)
    } else {
        None
    }
}

/// Which cpio variant `data` starts with: "binary", "odc", "newc" or "crc".
pub fn variant(data: &[u8]) -> Option<&'static str> {
    let v = detect_at(data, 0)?;
    // The binary magic is only two bytes: also require room for a header so that random data
    // starting with C7 71 is less likely to be taken for cpio.
    let min = match v {
        Variant::BinaryLe | Variant::BinaryBe => BINARY_HEADER,
        Variant::Odc => ODC_HEADER,
        Variant::Newc | Variant::Crc => NEWC_HEADER,
    };
    (data.len() >= min).then(|| v.label())
}

/// One parsed header.
struct Header {
    dev: u64,
    ino: u64,
    mode: u64,
    nlink: u64,
    namesize: u64,
    filesize: u64,
    check: u64,
    len: usize,
}

fn parse_num(field: &[u8], radix: u32) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    u64::from_str_radix(text, radix).ok()
}

fn parse_header(data: &[u8], pos: usize, v: Variant) -> Option<Header> {
    match v {
        Variant::BinaryLe | Variant::BinaryBe => {
            let h = data.get(pos..pos.checked_add(BINARY_HEADER)?)?;
            let w = |i: usize| -> u64 {
                let b = [h[i * 2], h[i * 2 + 1]];
                u64::from(if v == Variant::BinaryLe {
                    u16::from_le_bytes(b)
                } else {
                    u16::from_be_bytes(b)
                })
            };
            // 32-bit values are two 16-bit words, most significant word first, each in the
            // archive's byte order.
            Some(Header {
                dev: w(1),
                ino: w(2),
                mode: w(3),
                nlink: w(6),
                namesize: w(10),
                filesize: (w(11) << 16) | w(12),
                check: 0,
                len: BINARY_HEADER,
            })
        }
        Variant::Odc => {
            let h = data.get(pos..pos.checked_add(ODC_HEADER)?)?;
            let f = |a: usize, b: usize| parse_num(&h[a..b], 8);
            Some(Header {
                dev: f(6, 12)?,
                ino: f(12, 18)?,
                mode: f(18, 24)?,
                nlink: f(36, 42)?,
                namesize: f(59, 65)?,
                filesize: f(65, 76)?,
                check: 0,
                len: ODC_HEADER,
            })
        }
        Variant::Newc | Variant::Crc => {
            let h = data.get(pos..pos.checked_add(NEWC_HEADER)?)?;
            let f = |i: usize| parse_num(&h[6 + i * 8..14 + i * 8], 16);
            Some(Header {
                // devmajor/devminor together identify the device of a hard-link group.
                dev: (f(7)? << 32) | f(8)?,
                ino: f(0)?,
                mode: f(1)?,
                nlink: f(4)?,
                filesize: f(6)?,
                namesize: f(11)?,
                check: f(12)?,
                len: NEWC_HEADER,
            })
        }
    }
}

fn align_up(n: usize, align: usize) -> Option<usize> {
    let rem = n % align;
    if rem == 0 {
        Some(n)
    } else {
        n.checked_add(align - rem)
    }
}

/// Walks the archive and yields its regular files.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let mut pos = 0usize;
    let mut index = 0usize;
    // Hard-link groups already yielded, by (dev, ino).
    let mut linked: HashSet<(u64, u64)> = HashSet::new();
    // Hard-link groups seen only as empty links so far, with their first name, in archive order
    // (for the final empty-file fallback).
    let mut pending: HashMap<(u64, u64), String> = HashMap::new();
    let mut pending_order: Vec<(u64, u64)> = Vec::new();
    let mut saw_trailer = false;

    while pos < data.len() {
        if out.stopped() {
            return;
        }
        index += 1;
        let Some(v) = detect_at(data, pos) else {
            if index == 1 {
                out.warn(
                    Problem::Corrupt,
                    "not a cpio archive: no known header magic at the start",
                );
            } else {
                out.warn(
                    Problem::Corrupt,
                    format!("entry {index} at offset {pos} has no cpio header magic; stopping"),
                );
            }
            break;
        };
        let Some(h) = parse_header(data, pos, v) else {
            out.warn(
                Problem::Truncated,
                format!(
                    "entry {index} at offset {pos}: {} header is truncated or has invalid numbers",
                    v.label()
                ),
            );
            break;
        };
        let name_start = pos + h.len;
        let name_end = usize::try_from(h.namesize)
            .ok()
            .and_then(|n| name_start.checked_add(n));
        let Some(name_end) = name_end.filter(|&e| e <= data.len()) else {
            out.warn(
                Problem::Truncated,
                format!(
                    "entry {index} is truncated: its name needs {} bytes, {} remain",
                    h.namesize,
                    data.len().saturating_sub(name_start)
                ),
            );
            break;
        };
        let raw_name = &data[name_start..name_end];
        // namesize counts the terminating NUL; stop at the first NUL in any case.
        let raw_name = raw_name
            .iter()
            .position(|&b| b == 0)
            .map_or(raw_name, |n| &raw_name[..n]);
        if raw_name == TRAILER {
            saw_trailer = true;
            break;
        }
        let name = String::from_utf8_lossy(raw_name).into_owned();
        let align = v.align();
        let Some(data_start) = align_up(name_end, align) else {
            break;
        };
        let size = usize::try_from(h.filesize).unwrap_or(usize::MAX);
        let available = data.len().saturating_sub(data_start);
        let truncated = size > available;
        let data_end = data_start.saturating_add(size.min(available));
        let body = data.get(data_start..data_end).unwrap_or(&[]);

        if v == Variant::Crc && !truncated {
            let sum = body
                .iter()
                .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b)));
            if u64::from(sum) != h.check {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{}: crc checksum mismatch (header {:#x}, data {:#x})",
                        super::printable(&name),
                        h.check,
                        sum
                    ),
                );
            }
        }

        if h.mode & S_IFMT == S_IFREG {
            let key = (h.dev, h.ino);
            let is_link = h.nlink > 1;
            if is_link && linked.contains(&key) {
                // Another link of a group already yielded (odc/binary repeat the data).
            } else if is_link && h.filesize == 0 {
                // newc/crc: the data comes with a later link of the group.
                if !pending.contains_key(&key) {
                    if pending.len() >= MAX_PENDING_LINKS {
                        out.warn(
                            Problem::Capped,
                            format!(
                                "more than {MAX_PENDING_LINKS} hard-link groups without data; \
                             ignoring the rest"
                            ),
                        );
                    } else {
                        pending.insert(key, name);
                        pending_order.push(key);
                    }
                }
            } else {
                if is_link {
                    pending.remove(&key);
                    linked.insert(key);
                }
                if truncated {
                    out.warn(
                        Problem::Truncated,
                        format!(
                            "entry {index} ({}) is truncated: header says {} bytes, {} remain",
                            super::printable(&name),
                            h.filesize,
                            available
                        ),
                    );
                }
                let declared = body.len() as u64;
                if out.admit(&name, declared, declared) && !out.add(name, Cow::Borrowed(body)) {
                    return;
                }
            }
        }
        if truncated {
            break;
        }
        match align_up(data_end, align) {
            Some(next) => pos = next,
            None => break,
        }
    }

    // Links whose group never carried data are empty files.
    for key in pending_order {
        if out.stopped() {
            return;
        }
        if let Some(name) = pending.remove(&key) {
            if !out.add(name, Cow::Borrowed(&[][..])) {
                return;
            }
        }
    }
    if !saw_trailer && pos >= data.len() && !data.is_empty() {
        out.warn(
            Problem::Truncated,
            "archive ends without the TRAILER!!! entry",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{self, names_and_data};
    use super::super::{Budget, Limit};
    use super::*;

    fn pad(buf: &mut Vec<u8>, align: usize) {
        while !buf.len().is_multiple_of(align) {
            buf.push(0);
        }
    }

    fn newc_entry(
        buf: &mut Vec<u8>,
        magic: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        name: &str,
        body: &[u8],
    ) {
        let check: u32 = if magic == "070702" {
            body.iter().map(|&b| u32::from(b)).sum()
        } else {
            0
        };
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            body.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            check,
        ];
        buf.extend_from_slice(magic.as_bytes());
        for f in fields {
            buf.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        pad(buf, 4);
        buf.extend_from_slice(body);
        pad(buf, 4);
    }

    fn odc_entry(buf: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, name: &str, body: &[u8]) {
        buf.extend_from_slice(b"070707");
        buf.extend_from_slice(format!("{:06o}", 0).as_bytes()); // dev
        buf.extend_from_slice(format!("{ino:06o}").as_bytes());
        buf.extend_from_slice(format!("{mode:06o}").as_bytes());
        buf.extend_from_slice(b"000000000000"); // uid, gid
        buf.extend_from_slice(format!("{nlink:06o}").as_bytes());
        buf.extend_from_slice(b"000000"); // rdev
        buf.extend_from_slice(b"00000000000"); // mtime
        buf.extend_from_slice(format!("{:06o}", name.len() + 1).as_bytes());
        buf.extend_from_slice(format!("{:011o}", body.len()).as_bytes());
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        buf.extend_from_slice(body);
    }

    fn binary_entry(buf: &mut Vec<u8>, le: bool, ino: u16, mode: u16, name: &str, body: &[u8]) {
        let size = body.len() as u32;
        let words = [
            0o070707u16,
            0,
            ino,
            mode,
            0,
            0,
            1,
            0,
            0,
            0,
            name.len() as u16 + 1,
            (size >> 16) as u16,
            size as u16,
        ];
        for w in words {
            buf.extend_from_slice(&if le { w.to_le_bytes() } else { w.to_be_bytes() });
        }
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        pad(buf, 2);
        buf.extend_from_slice(body);
        pad(buf, 2);
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    fn newc_sample(magic: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        newc_entry(&mut buf, magic, 1, 0o040755, 2, "dir", b"");
        newc_entry(&mut buf, magic, 2, 0o100644, 1, "dir/a.txt", b"hello");
        newc_entry(&mut buf, magic, 3, 0o120777, 1, "dir/link", b"a.txt");
        newc_entry(&mut buf, magic, 4, 0o100755, 1, "b.bin", b"\x00\x01\x02");
        newc_entry(&mut buf, magic, 0, 0, 1, "TRAILER!!!", b"");
        buf
    }

    #[test]
    fn newc_yields_regular_files_only() {
        let data = newc_sample("070701");
        assert_eq!(variant(&data), Some("newc"));
        let out = run(&data);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("dir/a.txt".to_string(), b"hello".to_vec()),
                ("b.bin".to_string(), b"\x00\x01\x02".to_vec()),
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn crc_checks_the_checksum() {
        let mut data = newc_sample("070702");
        assert_eq!(variant(&data), Some("crc"));
        let out = run(&data);
        assert_eq!(out.members.len(), 2);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        // Corrupt one byte of "hello".
        let at = data.windows(5).position(|w| w == b"hello").unwrap();
        data[at] = b'j';
        let out = run(&data);
        assert_eq!(out.members[0].data.as_ref(), b"jello");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("checksum mismatch")));
    }

    #[test]
    fn newc_hard_links_are_yielded_once_with_data() {
        let mut buf = Vec::new();
        newc_entry(&mut buf, "070701", 7, 0o100644, 3, "one", b"");
        newc_entry(&mut buf, "070701", 7, 0o100644, 3, "two", b"");
        newc_entry(&mut buf, "070701", 7, 0o100644, 3, "three", b"shared");
        newc_entry(&mut buf, "070701", 8, 0o100644, 2, "empty1", b"");
        newc_entry(&mut buf, "070701", 8, 0o100644, 2, "empty2", b"");
        newc_entry(&mut buf, "070701", 0, 0, 1, "TRAILER!!!", b"");
        let out = run(&buf);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("three".to_string(), b"shared".to_vec()),
                ("empty1".to_string(), Vec::new()),
            ]
        );
    }

    #[test]
    fn odc_archive_and_repeated_links() {
        let mut buf = Vec::new();
        odc_entry(&mut buf, 1, 0o100644, 1, "x/first", b"abc");
        odc_entry(&mut buf, 2, 0o100644, 2, "l1", b"linked");
        odc_entry(&mut buf, 2, 0o100644, 2, "l2", b"linked");
        odc_entry(&mut buf, 3, 0o040755, 1, "x", b"");
        odc_entry(&mut buf, 0, 0, 1, "TRAILER!!!", b"");
        assert_eq!(variant(&buf), Some("odc"));
        let out = run(&buf);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("x/first".to_string(), b"abc".to_vec()),
                ("l1".to_string(), b"linked".to_vec()),
            ]
        );
    }

    #[test]
    fn binary_both_byte_orders() {
        for le in [true, false] {
            let mut buf = Vec::new();
            binary_entry(&mut buf, le, 1, 0o100644, "odd", b"12345");
            binary_entry(&mut buf, le, 2, 0o100644, "even.txt", b"ab");
            binary_entry(&mut buf, le, 0, 0, "TRAILER!!!", b"");
            assert_eq!(variant(&buf), Some("binary"));
            let out = run(&buf);
            assert_eq!(
                names_and_data(&out),
                vec![
                    ("odd".to_string(), b"12345".to_vec()),
                    ("even.txt".to_string(), b"ab".to_vec()),
                ]
            );
            assert!(out.warnings.is_empty());
        }
    }

    #[test]
    fn large_binary_size_uses_both_words() {
        let body = vec![7u8; 70_000];
        let mut buf = Vec::new();
        binary_entry(&mut buf, true, 1, 0o100644, "big", &body);
        binary_entry(&mut buf, true, 0, 0, "TRAILER!!!", b"");
        let out = run(&buf);
        assert_eq!(out.members[0].data.len(), 70_000);
    }

    #[test]
    fn truncated_member_yields_what_is_there() {
        let mut buf = Vec::new();
        newc_entry(&mut buf, "070701", 1, 0o100644, 1, "a", b"0123456789");
        buf.truncate(buf.len() - 6);
        let out = run(&buf);
        assert_eq!(out.members[0].data.as_ref(), b"012345");
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));
    }

    #[test]
    fn oversized_name_and_bad_headers_warn() {
        let mut buf = Vec::new();
        newc_entry(&mut buf, "070701", 1, 0o100644, 1, "a", b"x");
        // Oversized namesize field in the second header.
        let mut second = Vec::new();
        newc_entry(&mut second, "070701", 2, 0o100644, 1, "b", b"y");
        second[94..102].copy_from_slice(b"FFFFFFFF");
        buf.extend_from_slice(&second);
        let out = run(&buf);
        assert_eq!(out.members.len(), 1);
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));

        // Non-hex digits in a header.
        let mut bad = newc_sample("070701");
        bad[10] = b'Z';
        let out = run(&bad);
        assert!(out.members.is_empty());
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("invalid numbers")));

        // Garbage after a good entry.
        let mut junk = Vec::new();
        newc_entry(&mut junk, "070701", 1, 0o100644, 1, "a", b"x");
        junk.extend_from_slice(b"garbage garbage");
        let out = run(&junk);
        assert_eq!(out.members.len(), 1);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("no cpio header magic")));
    }

    #[test]
    fn huge_declared_size_is_bounded_by_input() {
        let mut buf = Vec::new();
        newc_entry(&mut buf, "070701", 1, 0o100644, 1, "a", b"abc");
        buf[54..62].copy_from_slice(b"FFFFFFFF");
        let out = run(&buf);
        assert_eq!(out.members.len(), 1);
        assert!(out.members[0].data.len() <= buf.len());
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));
    }

    #[test]
    fn empty_and_garbage_input() {
        let out = run(b"");
        assert!(out.members.is_empty());
        assert!(out.warnings.is_empty());
        assert_eq!(variant(b""), None);
        let out = run(b"hello world");
        assert!(out.members.is_empty());
        assert_eq!(out.warnings.len(), 1);
        // A bare binary magic is not enough for identification.
        assert_eq!(variant(&[0xC7, 0x71, 0]), None);
        // Every prefix of a valid archive is handled without panicking.
        let data = newc_sample("070701");
        for n in 0..data.len() {
            run(&data[..n]);
        }
    }

    #[test]
    fn member_over_budget_is_skipped_with_a_limit() {
        let mut buf = Vec::new();
        newc_entry(&mut buf, "070701", 1, 0o100644, 1, "small", b"abc");
        newc_entry(&mut buf, "070701", 2, 0o100644, 1, "big", &[1u8; 100]);
        newc_entry(&mut buf, "070701", 0, 0, 1, "TRAILER!!!", b"");
        let mut out = Members::new(Budget {
            max_output: 50,
            ..Budget::unlimited()
        });
        unpack(&buf, &mut out);
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.members[0].name, "small");
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    #[test]
    fn genuine_cpio_tool_output_if_present() {
        let Ok(status) = std::process::Command::new("cpio").arg("--version").output() else {
            return;
        };
        if !status.status.success() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("cpio-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f.txt"), b"genuine").unwrap();
        for (format, label) in [
            ("newc", "newc"),
            ("crc", "crc"),
            ("odc", "odc"),
            ("bin", "binary"),
        ] {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "cd {} && echo sub/f.txt | cpio -o -H {format}",
                    dir.display()
                ))
                .output()
                .unwrap();
            let out = run(&output.stdout);
            assert_eq!(variant(&output.stdout), Some(label));
            assert_eq!(out.members.len(), 1, "{format}");
            assert_eq!(out.members[0].name, "sub/f.txt");
            assert_eq!(out.members[0].data.as_ref(), b"genuine");
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
