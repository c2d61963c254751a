//! ISO 9660 CD/DVD images: volume descriptors, the directory tree and its files, with Joliet
//! (Unicode) and Rock Ridge (POSIX) names. Follows ECMA-119 (4th edition, 2019) for the volume
//! and directory structures, the Joliet specification (Microsoft, 1995) for the supplementary
//! descriptor, and IEEE P1281 (SUSP) / P1282 (Rock Ridge) for `NM` alternate names.
//!
//! Files are yielded as borrowed slices of the image named by their full path inside it
//! (`DIR/SUB/FILE.EXE`). Name preference: Rock Ridge (long, case-preserving POSIX names) when the
//! primary tree carries it, else the Joliet tree when present, else the primary tree's 8.3 names
//! with the `;1` version suffix removed. The El Torito boot image and UDF structures of hybrid
//! images are not read.

use std::borrow::Cow;
use std::collections::HashSet;

use super::Members;
use crate::analysis::warning::Problem;

/// Logical sector size of CD-ROM media: descriptors and directory records are laid out in it.
const SECTOR: usize = 2048;
/// Sector of the first volume descriptor (the first 16 are the system area).
const FIRST_DESCRIPTOR: usize = 16;
/// Most volume descriptors read before giving up on finding the terminator.
const MAX_DESCRIPTORS: usize = 64;
/// Deepest directory nesting followed (ECMA-119 allows 8; Rock Ridge and Joliet images go
/// deeper, hostile ones loop).
const MAX_DIR_DEPTH: usize = 64;
/// Most directory records read in one image: bounds work on images whose directories point at
/// huge extents of repeated records.
const MAX_ENTRIES: usize = 500_000;
/// Most extents one multi-extent file may have.
const MAX_FILE_EXTENTS: usize = 1024;
/// Size of the fixed part of a directory record.
const RECORD_FIXED: usize = 33;
/// Directory flag bit.
const FLAG_DIRECTORY: u8 = 0x02;
/// "Not the final extent of this file" flag bit.
const FLAG_MULTI_EXTENT: u8 = 0x80;
/// Joliet escape sequences (UCS-2 levels 1, 2 and 3).
const JOLIET_ESCAPES: [&[u8]; 3] = [b"%/@", b"%/C", b"%/E"];

/// True when `data` has the ISO 9660 standard identifier `CD001` in its first volume descriptor
/// (offset 0x8001).
pub fn detect(data: &[u8]) -> bool {
    data.get(0x8001..0x8006) == Some(b"CD001".as_slice())
}

/// One directory tree to walk.
#[derive(Clone, Copy)]
struct Tree {
    root_extent: u32,
    root_size: u32,
    block: usize,
    joliet: bool,
}

/// A parsed directory record.
struct Record<'a> {
    extent: u32,
    size: u32,
    flags: u8,
    interleaved: bool,
    ident: &'a [u8],
    system_use: &'a [u8],
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn parse_record(rec: &[u8]) -> Option<Record<'_>> {
    let name_len = usize::from(*rec.get(32)?);
    let name_end = RECORD_FIXED + name_len;
    let ident = rec.get(RECORD_FIXED..name_end)?;
    // A padding byte follows an even-length identifier so the system use area starts even.
    let su_start = name_end + usize::from(name_len.is_multiple_of(2));
    Some(Record {
        extent: le32(rec, 2),
        size: le32(rec, 10),
        flags: rec[25],
        interleaved: rec[26] != 0 || rec[27] != 0,
        ident,
        system_use: rec.get(su_start..).unwrap_or(&[]),
    })
}

/// The SUSP entries of a system use area, as (signature, entry) pairs.
fn susp_entries(area: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let head = area.get(pos..pos + 4)?;
        let len = usize::from(head[2]);
        if len < 4 || &head[..2] == b"ST" {
            return None;
        }
        let entry = area.get(pos..pos + len)?;
        pos += len;
        Some((&entry[..2], entry))
    })
}

/// The Rock Ridge name of a record, when its system use area has `NM` entries.
fn rock_ridge_name(area: &[u8], skip: usize) -> Option<Vec<u8>> {
    let area = area.get(skip..)?;
    let mut name = Vec::new();
    let mut found = false;
    for (sig, entry) in susp_entries(area) {
        if sig == b"NM" && entry.len() >= 5 {
            // Flags: CURRENT (2) and PARENT (4) name "." and "..", which we never yield.
            if entry[4] & 0x06 != 0 {
                return None;
            }
            name.extend_from_slice(&entry[5..]);
            found = true;
        }
    }
    (found && !name.is_empty()).then_some(name)
}

/// Decodes a directory identifier into a display name.
fn decode_name(rec: &Record<'_>, tree: &Tree, rock_ridge: Option<usize>) -> String {
    if let Some(skip) = rock_ridge {
        if let Some(name) = rock_ridge_name(rec.system_use, skip) {
            return String::from_utf8_lossy(&name).into_owned();
        }
    }
    let mut name = if tree.joliet {
        crate::analysis::text::utf16be(rec.ident)
    } else {
        String::from_utf8_lossy(rec.ident).into_owned()
    };
    // Strip the ";<version>" suffix of file identifiers.
    if let Some(semi) = name.rfind(';') {
        if name[semi + 1..].chars().all(|c| c.is_ascii_digit()) {
            name.truncate(semi);
            // "README.;1" is "README" with an empty extension.
            if name.ends_with('.') && name.len() > 1 {
                name.pop();
            }
        }
    }
    name
}

/// The Rock Ridge bytes-to-skip value when the root's "." record starts with a SUSP `SP` entry.
fn detect_rock_ridge(data: &[u8], tree: &Tree) -> Option<usize> {
    let start = (tree.root_extent as usize).checked_mul(tree.block)?;
    let len = usize::from(*data.get(start)?);
    let rec = data.get(start..start.checked_add(len)?)?;
    let dot = parse_record(rec)?;
    let sp = dot.system_use;
    if sp.len() >= 7 && &sp[..2] == b"SP" && sp[4] == 0xBE && sp[5] == 0xEF {
        Some(usize::from(sp[6]))
    } else {
        None
    }
}

fn read_descriptors(data: &[u8], out: &mut Members<'_>) -> Option<Tree> {
    let mut primary: Option<Tree> = None;
    let mut joliet: Option<Tree> = None;
    // Set once the descriptor walk ended for any reason other than the cap.
    let mut terminated = false;
    for i in 0..MAX_DESCRIPTORS {
        let off = (FIRST_DESCRIPTOR + i) * SECTOR;
        let Some(desc) = data.get(off..off + SECTOR) else {
            out.warn(
                Problem::Truncated,
                format!(
                    "volume descriptor {} is cut off by the end of the image",
                    i + 1
                ),
            );
            terminated = true;
            break;
        };
        if &desc[1..6] != b"CD001" {
            if i == 0 {
                out.warn(
                    Problem::Corrupt,
                    "not an iso 9660 image: no CD001 volume descriptor at sector 16",
                );
            } else {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "volume descriptor {} has no CD001 identifier; the set has no terminator",
                        i + 1
                    ),
                );
            }
            terminated = true;
            break;
        }
        match desc[0] {
            255 => {
                terminated = true;
                break;
            }
            1 | 2 => {
                let is_joliet = desc[0] == 2
                    && JOLIET_ESCAPES
                        .iter()
                        .any(|e| desc[88..120].windows(3).any(|w| w == *e));
                if desc[0] == 2 && !is_joliet {
                    // Another kind of supplementary volume: ignore.
                    continue;
                }
                let block = usize::from(u16::from_le_bytes([desc[128], desc[129]]));
                let block = if block.is_power_of_two() && (512..=SECTOR).contains(&block) {
                    block
                } else {
                    out.warn(Problem::Corrupt, format!(
                        "volume descriptor {} has an invalid logical block size {block}; assuming {SECTOR}",
                        i + 1
                    ));
                    SECTOR
                };
                let root = &desc[156..190];
                let tree = Tree {
                    root_extent: le32(root, 2),
                    root_size: le32(root, 10),
                    block,
                    joliet: is_joliet,
                };
                if is_joliet {
                    joliet.get_or_insert(tree);
                } else {
                    primary.get_or_insert(tree);
                }
            }
            _ => {}
        }
    }
    if !terminated && data.len() >= (FIRST_DESCRIPTOR + MAX_DESCRIPTORS) * SECTOR {
        out.warn(
            Problem::Capped,
            format!(
                "no volume descriptor set terminator in the first {MAX_DESCRIPTORS} descriptors"
            ),
        );
    }
    // A Joliet tree whose root is not in the image is useless; the primary one may still work.
    let joliet = joliet.filter(|j| {
        (j.root_extent as usize)
            .checked_mul(j.block)
            .is_some_and(|start| start < data.len())
            || primary.is_none()
    });
    let rock_ridge = primary.and_then(|p| detect_rock_ridge(data, &p));
    match (primary, joliet) {
        (Some(p), _) if rock_ridge.is_some() => Some(p),
        (_, Some(j)) => Some(j),
        (Some(p), None) => Some(p),
        (None, None) => {
            if detect(data) {
                out.warn(
                    Problem::Corrupt,
                    "no primary or joliet volume descriptor found",
                );
            }
            None
        }
    }
}

/// A file whose extents are being collected (more than one for multi-extent files).
struct Pending {
    name: String,
    extents: Vec<(u32, u32)>,
}

fn emit_file<'a>(data: &'a [u8], block: usize, file: Pending, out: &mut Members<'a>) -> bool {
    let mut ranges = Vec::with_capacity(file.extents.len());
    for &(extent, size) in &file.extents {
        let start = (extent as usize).checked_mul(block);
        let end = start.and_then(|s| s.checked_add(size as usize));
        match (start, end) {
            (Some(s), Some(e)) if e <= data.len() => ranges.push(s..e),
            _ => {
                out.warn(
                    Problem::Truncated,
                    format!(
                    "{}: its data (block {extent}, {size} bytes) lies beyond the end of the image",
                    super::printable(&file.name)
                ),
                );
                return true;
            }
        }
    }
    let total: u64 = ranges.iter().map(|r| r.len() as u64).sum();
    if !out.admit(&file.name, total, total) {
        return !out.stopped();
    }
    let contiguous = ranges.windows(2).all(|w| w[0].end == w[1].start);
    let content: Cow<'a, [u8]> = match (ranges.first(), ranges.last()) {
        (Some(first), Some(last)) if contiguous => Cow::Borrowed(&data[first.start..last.end]),
        (None, _) | (_, None) => Cow::Borrowed(&[]),
        _ => {
            let mut joined = Vec::with_capacity(total as usize);
            for r in ranges {
                joined.extend_from_slice(&data[r]);
            }
            Cow::Owned(joined)
        }
    };
    out.add(file.name, content)
}

/// Walks the image's directory tree and yields every file.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    if data.is_empty() {
        return;
    }
    let Some(tree) = read_descriptors(data, out) else {
        return;
    };
    let rock_ridge = if tree.joliet {
        None
    } else {
        detect_rock_ridge(data, &tree)
    };

    // (extent, size, path prefix, depth)
    let mut stack: Vec<(u32, u32, String, usize)> =
        vec![(tree.root_extent, tree.root_size, String::new(), 0)];
    let mut visited: HashSet<u32> = HashSet::new();
    let mut entries = 0usize;

    while let Some((extent, size, prefix, depth)) = stack.pop() {
        if out.stopped() {
            return;
        }
        if !visited.insert(extent) {
            out.warn(Problem::Corrupt, format!(
                "directory {} points back to an already visited directory (block {extent}); skipped",
                super::printable(&prefix)
            ));
            continue;
        }
        let dir_name = if prefix.is_empty() { "/" } else { &prefix };
        let Some(start) = (extent as usize).checked_mul(tree.block) else {
            continue;
        };
        let end = start.saturating_add(size as usize);
        if start >= data.len() {
            out.warn(
                Problem::Truncated,
                format!(
                    "directory {} lies beyond the end of the image",
                    super::printable(dir_name)
                ),
            );
            continue;
        }
        if end > data.len() {
            out.warn(
                Problem::Truncated,
                format!(
                    "directory {} is truncated: {} of its {size} bytes are in the image",
                    super::printable(dir_name),
                    data.len() - start
                ),
            );
        }
        let dir = &data[start..end.min(data.len())];
        let mut subdirs = Vec::new();
        let mut pending: Option<Pending> = None;
        let mut pos = 0usize;
        while pos < dir.len() {
            if out.stopped() {
                return;
            }
            let len = usize::from(dir[pos]);
            if len == 0 {
                // Records never cross a sector boundary: the rest of this sector is padding.
                pos = (pos / SECTOR + 1) * SECTOR;
                continue;
            }
            entries += 1;
            if entries > MAX_ENTRIES {
                out.warn(
                    Problem::Capped,
                    format!(
                    "more than {MAX_ENTRIES} directory records; the rest of the image is not read"
                ),
                );
                return;
            }
            let Some(rec) = dir.get(pos..pos + len).and_then(parse_record) else {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "directory {} has a corrupt record at offset {pos}",
                        super::printable(dir_name)
                    ),
                );
                break;
            };
            pos += len;
            if rec.ident == [0] || rec.ident == [1] {
                continue; // "." and ".."
            }
            let name = decode_name(&rec, &tree, rock_ridge);
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };

            // A multi-extent chain continues only with records of the same name.
            if let Some(p) = pending.take() {
                if p.name == path && rec.flags & FLAG_DIRECTORY == 0 {
                    let mut p = p;
                    if p.extents.len() >= MAX_FILE_EXTENTS {
                        out.warn(
                            Problem::Capped,
                            format!(
                                "{} has more than {MAX_FILE_EXTENTS} extents; skipped",
                                super::printable(&p.name)
                            ),
                        );
                        continue;
                    }
                    p.extents.push((rec.extent, rec.size));
                    if rec.flags & FLAG_MULTI_EXTENT != 0 {
                        pending = Some(p);
                    } else if !emit_file(data, tree.block, p, out) {
                        return;
                    }
                    continue;
                }
                out.warn(
                    Problem::Truncated,
                    format!(
                        "multi-extent file {} has no final extent; yielding the extents found",
                        super::printable(&p.name)
                    ),
                );
                if !emit_file(data, tree.block, p, out) {
                    return;
                }
            }

            if rec.flags & FLAG_DIRECTORY != 0 {
                if depth + 1 > MAX_DIR_DEPTH {
                    out.warn(
                        Problem::Capped,
                        format!(
                            "directory {} is nested deeper than {MAX_DIR_DEPTH} levels; skipped",
                            super::printable(&path)
                        ),
                    );
                } else {
                    subdirs.push((rec.extent, rec.size, path, depth + 1));
                }
                continue;
            }
            if rec.interleaved {
                out.warn(
                    Problem::Unsupported,
                    format!(
                        "{} is recorded in interleaved mode, which is not supported; skipped",
                        super::printable(&path)
                    ),
                );
                continue;
            }
            let file = Pending {
                name: path,
                extents: vec![(rec.extent, rec.size)],
            };
            if rec.flags & FLAG_MULTI_EXTENT != 0 {
                pending = Some(file);
            } else if !emit_file(data, tree.block, file, out) {
                return;
            }
        }
        if let Some(p) = pending {
            out.warn(
                Problem::Truncated,
                format!(
                    "multi-extent file {} has no final extent; yielding the extents found",
                    super::printable(&p.name)
                ),
            );
            if !emit_file(data, tree.block, p, out) {
                return;
            }
        }
        // Reversed so that the stack visits subdirectories in directory order.
        stack.extend(subdirs.into_iter().rev());
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{self, names_and_data};
    use super::super::{Budget, Limit};
    use super::*;

    fn record(extent: u32, size: u32, flags: u8, ident: &[u8], su: &[u8]) -> Vec<u8> {
        let mut r = vec![0u8; RECORD_FIXED];
        r[2..6].copy_from_slice(&extent.to_le_bytes());
        r[6..10].copy_from_slice(&extent.to_be_bytes());
        r[10..14].copy_from_slice(&size.to_le_bytes());
        r[14..18].copy_from_slice(&size.to_be_bytes());
        r[25] = flags;
        r[28] = 1; // volume sequence number, both-endian
        r[31] = 1;
        r[32] = ident.len() as u8;
        r.extend_from_slice(ident);
        if ident.len().is_multiple_of(2) {
            r.push(0);
        }
        r.extend_from_slice(su);
        r[0] = r.len() as u8;
        r
    }

    fn ucs2(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
    }

    struct Image(Vec<u8>);

    impl Image {
        fn new(sectors: usize) -> Image {
            Image(vec![0u8; sectors * SECTOR])
        }

        fn put(&mut self, sector: usize, bytes: &[u8]) {
            let at = sector * SECTOR;
            self.0[at..at + bytes.len()].copy_from_slice(bytes);
        }

        fn descriptor(&mut self, sector: usize, kind: u8, root: u32, root_size: u32, joliet: bool) {
            let mut d = vec![0u8; SECTOR];
            d[0] = kind;
            d[1..6].copy_from_slice(b"CD001");
            d[6] = 1;
            if joliet {
                d[88..91].copy_from_slice(b"%/E");
            }
            // Both-endian fields: volume space size, set size, sequence number, block size.
            let sectors = (self.0.len() / SECTOR) as u32;
            d[80..84].copy_from_slice(&sectors.to_le_bytes());
            d[84..88].copy_from_slice(&sectors.to_be_bytes());
            d[120..124].copy_from_slice(&[1, 0, 0, 1]);
            d[124..128].copy_from_slice(&[1, 0, 0, 1]);
            d[128..130].copy_from_slice(&2048u16.to_le_bytes());
            d[130..132].copy_from_slice(&2048u16.to_be_bytes());
            let r = record(root, root_size, FLAG_DIRECTORY, &[0], &[]);
            d[156..156 + r.len()].copy_from_slice(&r);
            self.put(sector, &d);
        }

        fn terminator(&mut self, sector: usize) {
            self.put(sector, b"\xFFCD001\x01");
        }

        fn dir(&mut self, sector: usize, own: u32, parent: u32, records: &[Vec<u8>]) {
            let mut d = record(own, SECTOR as u32, FLAG_DIRECTORY, &[0], &[]);
            d.extend(record(parent, SECTOR as u32, FLAG_DIRECTORY, &[1], &[]));
            for r in records {
                d.extend_from_slice(r);
            }
            self.put(sector, &d);
        }
    }

    /// Primary tree: README.;1, SUB/INNER.EXE;1. Joliet tree (optional): "Read Me.txt",
    /// "Sub Dir/inner.exe".
    fn sample(joliet: bool) -> Vec<u8> {
        let mut img = Image::new(32);
        img.descriptor(16, 1, 20, 2048, false);
        if joliet {
            img.descriptor(17, 2, 22, 2048, true);
            img.terminator(18);
        } else {
            img.terminator(17);
        }
        img.dir(
            20,
            20,
            20,
            &[
                record(30, 5, 0, b"README.;1", &[]),
                record(21, 2048, FLAG_DIRECTORY, b"SUB", &[]),
            ],
        );
        img.dir(21, 21, 20, &[record(31, 3, 0, b"INNER.EXE;1", &[])]);
        if joliet {
            img.dir(
                22,
                22,
                22,
                &[
                    record(30, 5, 0, &ucs2("Read Me.txt;1"), &[]),
                    record(23, 2048, FLAG_DIRECTORY, &ucs2("Sub Dir"), &[]),
                ],
            );
            img.dir(23, 23, 22, &[record(31, 3, 0, &ucs2("inner.exe;1"), &[])]);
        }
        img.put(30, b"hello");
        img.put(31, b"MZ!");
        img.0
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    #[test]
    fn primary_tree_with_paths() {
        let data = sample(false);
        assert!(detect(&data));
        let out = run(&data);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("README".to_string(), b"hello".to_vec()),
                ("SUB/INNER.EXE".to_string(), b"MZ!".to_vec()),
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert!(matches!(
            out.members[0].data,
            crate::analysis::formats::Data::Borrowed(_)
        ));
    }

    #[test]
    fn joliet_names_are_preferred() {
        let data = sample(true);
        let out = run(&data);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("Read Me.txt".to_string(), b"hello".to_vec()),
                ("Sub Dir/inner.exe".to_string(), b"MZ!".to_vec()),
            ]
        );
    }

    #[test]
    fn rock_ridge_names_win() {
        let mut img = Image::new(32);
        img.descriptor(16, 1, 20, 2048, false);
        img.descriptor(17, 2, 22, 2048, true);
        img.terminator(18);
        let sp = [b'S', b'P', 7, 1, 0xBE, 0xEF, 0];
        let mut dot = record(20, 2048, FLAG_DIRECTORY, &[0], &sp);
        dot.extend(record(20, 2048, FLAG_DIRECTORY, &[1], &[]));
        let mut nm = vec![b'N', b'M', 0, 1, 0];
        nm.extend_from_slice(b"long-name.");
        nm[2] = nm.len() as u8;
        let mut nm2 = vec![b'N', b'M', 0, 1, 0];
        nm2.extend_from_slice(b"tar.gz");
        nm2[2] = nm2.len() as u8;
        nm.extend_from_slice(&nm2);
        dot.extend(record(30, 5, 0, b"LONG_NAM.GZ;1", &nm));
        img.put(20, &dot);
        img.dir(22, 22, 22, &[record(30, 5, 0, &ucs2("joliet.gz;1"), &[])]);
        img.put(30, b"hello");
        let out = run(&img.0);
        assert_eq!(
            names_and_data(&out),
            vec![("long-name.tar.gz".to_string(), b"hello".to_vec())]
        );
    }

    #[test]
    fn multi_extent_files_are_joined() {
        let mut img = Image::new(40);
        img.descriptor(16, 1, 20, 2048, false);
        img.terminator(17);
        img.dir(
            20,
            20,
            20,
            &[
                // Contiguous: borrowed.
                record(30, 2048, FLAG_MULTI_EXTENT, b"A.BIN;1", &[]),
                record(31, 4, 0, b"A.BIN;1", &[]),
                // Scattered: owned concatenation.
                record(33, 2048, FLAG_MULTI_EXTENT, b"B.BIN;1", &[]),
                record(35, 2, 0, b"B.BIN;1", &[]),
            ],
        );
        img.put(30, &[b'a'; 2048]);
        img.put(31, b"tail");
        img.put(33, &[b'b'; 2048]);
        img.put(35, b"zz");
        let out = run(&img.0);
        assert_eq!(out.members.len(), 2);
        let mut a = vec![b'a'; 2048];
        a.extend_from_slice(b"tail");
        assert_eq!(out.members[0].name, "A.BIN");
        assert_eq!(out.members[0].data.as_ref(), a.as_slice());
        assert!(matches!(
            out.members[0].data,
            crate::analysis::formats::Data::Borrowed(_)
        ));
        let mut b = vec![b'b'; 2048];
        b.extend_from_slice(b"zz");
        assert_eq!(out.members[1].data.as_ref(), b.as_slice());
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn broken_multi_extent_chain_warns() {
        let mut img = Image::new(34);
        img.descriptor(16, 1, 20, 2048, false);
        img.terminator(17);
        img.dir(
            20,
            20,
            20,
            &[
                record(30, 2048, FLAG_MULTI_EXTENT, b"A.BIN;1", &[]),
                record(32, 1, 0, b"OTHER;1", &[]),
            ],
        );
        img.put(32, b"o");
        let out = run(&img.0);
        assert_eq!(out.members.len(), 2);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("no final extent")));
    }

    #[test]
    fn directory_cycles_are_cut() {
        let mut img = Image::new(32);
        img.descriptor(16, 1, 20, 2048, false);
        img.terminator(17);
        img.dir(
            20,
            20,
            20,
            &[
                record(21, 2048, FLAG_DIRECTORY, b"A", &[]),
                record(30, 1, 0, b"F;1", &[]),
            ],
        );
        // A/LOOP points back at the root.
        img.dir(
            21,
            21,
            20,
            &[record(20, 2048, FLAG_DIRECTORY, b"LOOP", &[])],
        );
        img.put(30, b"f");
        let out = run(&img.0);
        assert_eq!(names_and_data(&out), vec![("F".to_string(), b"f".to_vec())]);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("already visited")));
    }

    #[test]
    fn deep_nesting_is_capped() {
        let depth = MAX_DIR_DEPTH + 5;
        let mut img = Image::new(20 + depth + 2);
        img.descriptor(16, 1, 20, 2048, false);
        img.terminator(17);
        for i in 0..depth {
            let own = (20 + i) as u32;
            img.dir(
                20 + i,
                own,
                own,
                &[record(own + 1, 2048, FLAG_DIRECTORY, b"D", &[])],
            );
        }
        let out = run(&img.0);
        assert!(out.members.is_empty());
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("nested deeper")));
    }

    #[test]
    fn truncated_image_yields_files_inside_it() {
        let mut data = sample(false);
        data.truncate(31 * SECTOR + 1); // INNER.EXE (3 bytes at sector 31) is cut.
        let out = run(&data);
        assert_eq!(
            names_and_data(&out),
            vec![("README".to_string(), b"hello".to_vec())]
        );
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("beyond the end")));

        // Cut inside the directory area.
        let mut data = sample(false);
        data.truncate(20 * SECTOR + 100);
        let out = run(&data);
        assert!(out.members.is_empty());
        assert!(!out.warnings.is_empty());

        // Every prefix is handled without panicking.
        let data = sample(true);
        for n in (0..data.len()).step_by(509) {
            run(&data[..n]);
        }
    }

    #[test]
    fn corrupt_records_and_sizes() {
        let mut img = Image::new(32);
        img.descriptor(16, 1, 20, 2048, false);
        img.terminator(17);
        let mut bad = record(30, 0xFFFF_FFFF, 0, b"HUGE;1", &[]);
        bad.extend(record(0xFFFF_FFFF, 4, 0, b"FAR;1", &[]));
        let mut broken = record(31, 1, 0, b"CUT;1", &[]);
        broken[32] = 200; // identifier longer than the record
        bad.extend(broken);
        img.dir(20, 20, 20, &[bad]);
        // Root directory claims a huge size.
        let out = run(&img.0);
        assert!(out.members.is_empty());
        assert!(out.warnings.iter().any(|w| w.text.contains("HUGE")));
        assert!(out.warnings.iter().any(|w| w.text.contains("FAR")));
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("corrupt record")));
    }

    #[test]
    fn empty_and_foreign_input() {
        assert!(!detect(b""));
        let out = run(b"");
        assert!(out.members.is_empty() && out.warnings.is_empty());
        let out = run(&[0u8; 40000]);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("not an iso 9660"));
    }

    #[test]
    fn member_over_budget_is_skipped_with_a_limit() {
        let mut out = Members::new(Budget {
            max_output: 4,
            ..Budget::unlimited()
        });
        let data = sample(false);
        unpack(&data, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }
}
