//! InstallShield setup executables that carry their files in the overlay (the "MSI-based"
//! setup.exe of InstallShield 12 and later: the `.msi`, its `.ini` files, `ISSetup.dll`): after
//! the signature `InstallShield\0` a 32-byte header (u32 file count, then zeros) and, per file,
//! a 312-byte block (its name in 260 bytes, the compressed size as u64 at 264) followed by its
//! data: every byte's nibbles swapped and XORed with a key made from the file name (each name
//! byte XORed with `ec ca 79 f8` in turn, the key index wrapping at 1024), then zlib. The layout
//! is as ClamAV's `ishield.c` documents it; this is our own implementation.
//!
//! Older setups (InstallShield 5 to 11) list their files in the overlay as four strings each
//! (name, source path, version, decimal size) followed by the stored bytes; each is a member.
//! Among them are usually InstallShield cabinets: `data1.hdr` (magic `ISc(`) describes the files
//! of `data1.cab`, `data2.cab`... (their directory, name, sizes, cabinet and offset); a file
//! stored there is a run of chunks (u16 size, then raw deflate), each inflated on its own. Those
//! files come out too, as `data1.cab/<directory>\<name>`.
//!
//! An InstallShield cabinet uploaded on its own ([`unpack_cabinet`]) gives its files when it
//! carries its header (a single-file cabinet); `data1.hdr` alone, or a `dataN.cab` without its
//! header, gives a warning saying which file the rest is in.
//!
//! Not handled: cabinet files split across cabinets.

use std::borrow::Cow;

use memchr::memmem;

use super::{printable, Members, ReadStop};
use crate::analysis::bytes::le32;
use crate::analysis::warning::Problem;

const SIGNATURE: &[u8] = b"InstallShield\0";
const HEADER: usize = 0x20;
const NAME: usize = 0x104;
const BLOCK: usize = NAME + 52;
const KEY: [u8; 4] = [0xec, 0xca, 0x79, 0xf8];

/// Most files read from one setup.
pub const MAX_FILES: usize = 10_000;

/// The two layouts, and where their file list starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// InstallShield 12 and later: the 32-byte header after `InstallShield\0`.
    Blocks(usize),
    /// InstallShield 5 to 11: name, path, version and size strings from the overlay's start.
    Listed(usize),
}

/// Which layout `data` carries its files in, if any.
/// Both layouts live in a setup's overlay, so only the overlay is searched (all of `data` when
/// it is not a PE file: a carved or raw overlay).
pub fn find(data: &[u8]) -> Option<Layout> {
    let Ok(img) = super::pe::Image::parse(data, &mut Vec::new()) else {
        return blocks(data).map(Layout::Blocks);
    };
    let (overlay, _) = img.overlay()?;
    if let Some(at) = blocks(&data[overlay..]) {
        return Some(Layout::Blocks(overlay + at));
    }
    listed_entry(data, overlay).map(|_| Layout::Listed(overlay))
}

/// One entry of the listed layout at `at`: its name and its data's range.
fn listed_entry(data: &[u8], at: usize) -> Option<(String, std::ops::Range<usize>)> {
    let mut pos = at;
    let mut string = || -> Option<&[u8]> {
        let rest = data.get(pos..)?;
        let len = rest.iter().take(1024).position(|&b| b == 0)?;
        pos += len + 1;
        Some(&rest[..len])
    };
    let (name, _path, version, size) = (string()?, string()?, string()?, string()?);
    let printable = |s: &[u8]| s.iter().all(|&b| b >= 0x20);
    let plausible = !name.is_empty()
        && printable(name)
        && version.iter().all(|&b| b.is_ascii_digit() || b == b'.')
        && !size.is_empty()
        && size.iter().all(u8::is_ascii_digit);
    if !plausible {
        return None;
    }
    let size: usize = std::str::from_utf8(size).ok()?.parse().ok()?;
    let end = pos.checked_add(size)?;
    (end <= data.len()).then(|| {
        (
            name.iter()
                .map(|&c| crate::analysis::text::cp1252(c))
                .collect(),
            pos..end,
        )
    })
}

/// Unpacks the files of the listed layout from `at`, then those of its InstallShield cabinets.
fn unpack_listed<'a>(data: &'a [u8], mut at: usize, out: &mut Members<'a>) {
    let mut header: Option<&'a [u8]> = None;
    let mut cabinets: Vec<(u16, &'a [u8])> = Vec::new();
    for _ in 0..MAX_FILES {
        if out.stopped() {
            return;
        }
        if at >= data.len() {
            break;
        }
        let Some((name, range)) = listed_entry(data, at) else {
            if data[at..].iter().any(|&b| b != 0) {
                out.warn(
                    Problem::Corrupt,
                    format!("the InstallShield file list stops making sense at offset {at}"),
                );
            }
            return;
        };
        at = range.end;
        let bytes = &data[range];
        let lower = name.to_ascii_lowercase();
        if lower == "data1.hdr" {
            header = Some(bytes);
        } else if let Some(n) = lower
            .strip_prefix("data")
            .and_then(|r| r.strip_suffix(".cab"))
            .and_then(|n| n.parse::<u16>().ok())
        {
            cabinets.push((n, bytes));
        }
        if !out.add(name, Cow::Borrowed(bytes)) {
            return;
        }
    }
    if let Some(header) = header {
        cabinet_files(header, &cabinets, true, out);
    }
}

/// An InstallShield cabinet uploaded on its own (magic `ISc(`). Its common header says where
/// the cabinet's header (the directory of its files) is and its size: in this file (`data1.hdr`,
/// or a cabinet that carries its own), or nowhere (size 0: a `dataN.cab` whose header is
/// `data1.hdr`). Its files come
/// out under their directory and name; those whose data is in another file are named in a
/// warning.
pub fn unpack_cabinet<'a>(data: &'a [u8], out: &mut Members<'a>) {
    // The common header: magic, version, volume information, then the header's offset and size
    // (a data cabinet names the offset but gives the size as 0).
    let header_size = le32(data, 12)
        .zip(le32(data, 16))
        .map(|(at, size)| at.min(size));
    if header_size.is_none_or(|n| n == 0) {
        out.warn(
            Problem::Unsupported,
            "an InstallShield data cabinet without its header: the list of its files is in \
             data1.hdr, a file of its own",
        );
        return;
    }
    cabinet_files(data, &[(1, data)], false, out);
}

/// `data1.hdr`'s magic.
const CABINET_MAGIC: u32 = 0x2863_5349;

/// Bytes of one file entry in `data1.hdr`.
const FILE_ENTRY: usize = 87;

/// A file stored in a cabinet (as opposed to shipped beside it).
const FILE_IN_CABINET: u16 = 4;

/// The files `header` (a `data1.hdr`) describes, taken out of `cabinets` (number, bytes). In a
/// setup (`in_setup`) each is named under its cabinet (`data2.cab/bin\\app.exe`); in a cabinet
/// uploaded on its own, under its directory only, and a header with no data stops at the first
/// file with one warning.
fn cabinet_files(header: &[u8], cabinets: &[(u16, &[u8])], in_setup: bool, out: &mut Members<'_>) {
    let u16_at = |at: usize| crate::analysis::bytes::le16(header, at);
    let u32_at = |at: usize| le32(header, at);
    let u64_at = |at: usize| crate::analysis::bytes::le64(header, at);
    let cstr = |at: usize| -> String {
        header
            .get(at..)
            .map(|b| {
                b.iter()
                    .take_while(|&&c| c != 0)
                    .take(1024)
                    .map(|&c| crate::analysis::text::cp1252(c))
                    .collect()
            })
            .unwrap_or_default()
    };
    if u32_at(0) != Some(CABINET_MAGIC) {
        out.warn(
            Problem::Corrupt,
            "data1.hdr is not an InstallShield cabinet header",
        );
        return;
    }
    let objects = u32_at(12).unwrap_or(0) as usize;
    let (Some(dirs), Some(count), Some(dirs_size)) = (
        u32_at(objects + 0x0c),
        u32_at(objects + 0x28),
        u32_at(objects + 0x2c),
    ) else {
        out.warn(Problem::Truncated, "data1.hdr ends inside its object table");
        return;
    };
    let strings = objects + dirs as usize;
    let mut entry = strings + dirs_size as usize;
    for _ in 0..(count as usize).min(MAX_FILES) {
        if out.stopped() {
            return;
        }
        let e = entry;
        entry += FILE_ENTRY;
        let (Some(flags), Some(size), Some(csize), Some(offset)) =
            (u16_at(e), u64_at(e + 2), u64_at(e + 10), u64_at(e + 18))
        else {
            out.warn(Problem::Truncated, "data1.hdr ends inside its file list");
            return;
        };
        let has_duplicate_before = header.get(e + 84).is_some_and(|f| f & 1 != 0);
        if flags != FILE_IN_CABINET || has_duplicate_before || size == 0 {
            continue;
        }
        let name = cstr(strings + u32_at(e + 58).unwrap_or(0) as usize);
        let dir_at = strings + 4 * usize::from(u16_at(e + 62).unwrap_or(0));
        let dir = u32_at(dir_at).map_or(String::new(), |d| cstr(strings + d as usize));
        let cabinet_no = u16_at(e + 85).unwrap_or(0);
        let Some((_, cabinet)) = cabinets.iter().find(|(n, _)| *n == cabinet_no) else {
            if !in_setup {
                out.warn(
                    Problem::Unsupported,
                    format!(
                        "an InstallShield cabinet header without the data of its files: \
                         {} is in data{cabinet_no}.cab, a file of its own",
                        printable(&name)
                    ),
                );
                return;
            }
            out.warn(
                Problem::Unsupported,
                format!(
                    "{}: it is in data{cabinet_no}.cab, which this setup does not carry",
                    printable(&name)
                ),
            );
            continue;
        };
        let path = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}\\{name}")
        };
        let member = if in_setup {
            format!("data{cabinet_no}.cab/{path}")
        } else {
            path
        };
        // Uploaded on its own, the file holds the header too: data that would overlap it (or
        // the 20-byte common header) is not here (`data1.hdr` alone).
        let header_at = u32_at(12).unwrap_or(0) as u64;
        let header_end = header_at + u64::from(u32_at(16).unwrap_or(0));
        let over_header = !in_setup
            && (offset < 0x14 || (offset < header_end && offset.saturating_add(csize) > header_at));
        let Some(stored) = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(csize).ok())
            .and_then(|(o, n)| cabinet.get(o..o.checked_add(n)?))
            .filter(|_| !over_header)
        else {
            if !in_setup {
                out.warn(
                    Problem::Unsupported,
                    "an InstallShield cabinet header (data1.hdr) without its data: the files it \
                     lists are in data1.cab, a file of its own",
                );
                return;
            }
            out.warn(
                Problem::Truncated,
                format!(
                    "{}: its data lies beyond the end of its cabinet",
                    printable(&member)
                ),
            );
            continue;
        };
        if !out.admit(&member, csize, size) {
            continue;
        }
        match inflate_chunks(stored, size) {
            Ok(data) => {
                if !out.add(member, Cow::Owned(data)) {
                    return;
                }
            }
            Err((why, partial)) => {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{}: {why}; kept the {} bytes that decoded",
                        printable(&member),
                        partial.len()
                    ),
                );
                if !partial.is_empty() && !out.add(member, Cow::Owned(partial)) {
                    return;
                }
            }
        }
    }
}

/// A cabinet file's chunks (u16 size, then raw deflate), inflated one by one, at most `size`
/// bytes in all (the size the header declares, already admitted by the budget).
fn inflate_chunks(mut stored: &[u8], size: u64) -> Result<Vec<u8>, (String, Vec<u8>)> {
    use std::io::Read;
    let mut data = Vec::new();
    while !stored.is_empty() && (data.len() as u64) < size {
        let Some(len) = crate::analysis::bytes::le16(stored, 0).map(usize::from) else {
            return Err(("a chunk size is cut off".into(), data));
        };
        let Some(chunk) = stored.get(2..2 + len) else {
            return Err(("a chunk runs past the file's data".into(), data));
        };
        stored = &stored[2 + len..];
        let room = size - data.len() as u64;
        if let Err(e) = flate2::read::DeflateDecoder::new(chunk)
            .take(room)
            .read_to_end(&mut data)
        {
            return Err((format!("a chunk is corrupt ({e})"), data));
        }
    }
    Ok(data)
}

/// Where the MSI-based layout's header starts: after the first `InstallShield\0` followed by
/// a plausible header (a file count, then 24 zero bytes).
fn blocks(data: &[u8]) -> Option<usize> {
    memmem::find_iter(data, SIGNATURE)
        .map(|at| at + SIGNATURE.len())
        .find(|&at| {
            data.get(at..at + HEADER).is_some_and(|h| {
                le32(h, 0).is_some_and(|n| n > 0 && n as usize <= MAX_FILES)
                    && h[8..].iter().all(|&b| b == 0)
            })
        })
}

/// Unpacks the files an InstallShield setup carries.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let header = match find(data) {
        Some(Layout::Blocks(at)) => at,
        Some(Layout::Listed(at)) => return unpack_listed(data, at, out),
        None => {
            out.warn(
                Problem::Unsupported,
                "no InstallShield file list of a layout assay reads",
            );
            return;
        }
    };
    let count = le32(data, header).unwrap_or(0) as usize;
    let mut pos = header + HEADER;
    for _ in 0..count {
        if out.stopped() {
            return;
        }
        let Some(block) = data.get(pos..pos + BLOCK) else {
            out.warn(
                Problem::Truncated,
                format!("the InstallShield file list ends inside a file block at offset {pos}"),
            );
            return;
        };
        let name_len = block[..NAME]
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(NAME - 1);
        let name_bytes = &block[..name_len];
        let name: String = name_bytes
            .iter()
            .map(|&c| crate::analysis::text::cp1252(c))
            .collect();
        let csize = u64::from(le32(block, NAME + 8).unwrap_or(0))
            | u64::from(le32(block, NAME + 12).unwrap_or(0)) << 32;
        pos += BLOCK;
        let Some(stored) = usize::try_from(csize)
            .ok()
            .and_then(|n| data.get(pos..pos.checked_add(n)?))
        else {
            out.warn(
                Problem::Truncated,
                format!(
                    "{}: its {csize} bytes run past the end of the file",
                    printable(&name)
                ),
            );
            return;
        };
        pos += stored.len();
        if name_bytes.is_empty() {
            out.warn(Problem::Corrupt, "an InstallShield file has no name");
            return;
        }
        let key: Vec<u8> = name_bytes
            .iter()
            .enumerate()
            .map(|(i, &c)| c ^ KEY[i & 3])
            .collect();
        let plain: Vec<u8> = stored
            .iter()
            .enumerate()
            .map(|(i, &c)| c.rotate_left(4) ^ key[(i & 0x3ff) % key.len()])
            .collect();
        let mut z = flate2::read::ZlibDecoder::new(&plain[..]);
        match out.read_member(&name, csize, &mut z) {
            Ok(d) => {
                if !out.add(name, Cow::Owned(d)) {
                    return;
                }
            }
            Err(ReadStop::Limit) => {}
            Err(ReadStop::Corrupt(e, partial)) => {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{}: the compressed data is corrupt or truncated ({e}); kept the {} \
                         bytes that decoded",
                        printable(&name),
                        partial.len()
                    ),
                );
                if !partial.is_empty() && !out.add(name, Cow::Owned(partial)) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Budget;
    use super::*;
    use std::io::Write;

    /// A setup carrying `files`, encoded as InstallShield does.
    fn setup(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut v = b"MZ stub ... InstallShield\0\0\0.text decoy ".to_vec();
        v.extend_from_slice(SIGNATURE);
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(files.len() as u32).to_le_bytes());
        v.extend_from_slice(&header);
        for (name, content) in files {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(content).unwrap();
            let packed = z.finish().unwrap();
            let mut block = vec![0u8; BLOCK];
            block[..name.len()].copy_from_slice(name.as_bytes());
            block[NAME + 8..NAME + 16].copy_from_slice(&(packed.len() as u64).to_le_bytes());
            v.extend(block);
            let key: Vec<u8> = name
                .bytes()
                .enumerate()
                .map(|(i, c)| c ^ KEY[i & 3])
                .collect();
            v.extend(
                packed
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| (c ^ key[(i & 0x3ff) % key.len()]).rotate_left(4)),
            );
        }
        v
    }

    #[test]
    fn the_carried_files_come_out_whole_and_named() {
        let big: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
        let data = setup(&[("setup.msi", &big), ("0x0409.ini", b"[Strings]\r\n")]);
        assert!(matches!(find(&data), Some(Layout::Blocks(_))));
        let mut out = Members::new(Budget::unlimited());
        unpack(&data, &mut out);
        let got: Vec<(&str, &[u8])> = crate::analysis::formats::testing::members(&out);
        assert!(
            got == [
                ("setup.msi", &big[..]),
                ("0x0409.ini", &b"[Strings]\r\n"[..])
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        for cut in (0..data.len()).step_by(53) {
            let mut out = Members::new(Budget::unlimited());
            unpack(&data[..cut], &mut out);
        }
    }

    /// A setup in the listed layout carrying `files` and, when `cabinet` is set, a `data1.hdr`
    /// describing one file stored in `data2.cab` in two chunks.
    fn listed_setup(files: &[(&str, &[u8])], cabinet: Option<(&str, &[u8])>) -> Vec<u8> {
        let mut v = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pe/app32.exe"),
        )
        .unwrap();
        let entry = |v: &mut Vec<u8>, name: &str, data: &[u8]| {
            for s in [
                name,
                &format!("Disk1\\{name}"),
                "1.0.0.0",
                &data.len().to_string(),
            ] {
                v.extend_from_slice(s.as_bytes());
                v.push(0);
            }
            v.extend_from_slice(data);
        };
        for (name, data) in files {
            entry(&mut v, name, data);
        }
        if let Some((name, payload)) = cabinet {
            let deflate = |b: &[u8]| {
                let mut z =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                z.write_all(b).unwrap();
                z.finish().unwrap()
            };
            let mut cab = b"ISc(".to_vec();
            let half = payload.len() / 2;
            let offset = cab.len();
            for part in [&payload[..half], &payload[half..]] {
                let c = deflate(part);
                cab.extend_from_slice(&(c.len() as u16).to_le_bytes());
                cab.extend(c);
            }
            let mut hdr = vec![0u8; 0x400];
            hdr[..4].copy_from_slice(&CABINET_MAGIC.to_le_bytes());
            hdr[12..16].copy_from_slice(&0x20u32.to_le_bytes());
            let objects = 0x20;
            hdr[objects + 0x0c..objects + 0x10].copy_from_slice(&0x100u32.to_le_bytes());
            hdr[objects + 0x28..objects + 0x2c].copy_from_slice(&1u32.to_le_bytes());
            hdr[objects + 0x2c..objects + 0x30].copy_from_slice(&4u32.to_le_bytes());
            let strings = objects + 0x100;
            // The directory table, the file entry, then the strings past it.
            hdr[strings..strings + 4].copy_from_slice(&0x180u32.to_le_bytes());
            hdr[strings + 0x180..strings + 0x184].copy_from_slice(b"bin\0");
            hdr[strings + 0x100..strings + 0x100 + name.len()].copy_from_slice(name.as_bytes());
            let e = strings + 4;
            hdr[e..e + 2].copy_from_slice(&FILE_IN_CABINET.to_le_bytes());
            hdr[e + 2..e + 10].copy_from_slice(&(payload.len() as u64).to_le_bytes());
            hdr[e + 10..e + 18].copy_from_slice(&((cab.len() - offset) as u64).to_le_bytes());
            hdr[e + 18..e + 26].copy_from_slice(&(offset as u64).to_le_bytes());
            hdr[e + 58..e + 62].copy_from_slice(&0x100u32.to_le_bytes());
            hdr[e + 85..e + 87].copy_from_slice(&2u16.to_le_bytes());
            entry(&mut v, "data1.hdr", &hdr);
            entry(&mut v, "data2.cab", &cab);
        }
        v
    }

    /// The members of a clamav-testfiles sample, by name.
    fn sample_members(name: &str) -> Vec<(String, Vec<u8>)> {
        let path = format!("/usr/share/clamav-testfiles/{name}");
        let data = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{path}: {e} (install the Debian package clamav-testfiles; .ci/run does)")
        });
        crate::analysis::formats::testing::names_and_data(&crate::analysis::formats::testing::run(
            unpack, &data,
        ))
    }

    #[test]
    fn a_cabinet_uploaded_on_its_own_gives_its_files_when_it_carries_its_header() {
        // clam_IScab_int.exe carries data1.hdr (the header) and data2.cab (clam.exe's data).
        let members = sample_members("clam_IScab_int.exe");
        let get = |n: &str| members.iter().find(|(m, _)| m == n).unwrap().1.clone();
        let (hdr, cab, clam) = (
            get("data1.hdr"),
            get("data2.cab"),
            get("data2.cab/clam.exe"),
        );
        let run = |data: &[u8]| {
            let out = crate::analysis::formats::testing::run(unpack_cabinet, data);
            let warnings: Vec<String> = out.warnings.iter().map(|w| w.text.clone()).collect();
            (
                crate::analysis::formats::testing::names_and_data(&out),
                warnings,
            )
        };
        // Either half alone: nothing, and a warning naming the other file.
        let (got, warnings) = run(&hdr);
        assert!(got.is_empty());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("in data1.cab, a file of its own"),
            "{warnings:?}"
        );
        let (got, warnings) = run(&cab);
        assert!(got.is_empty());
        assert!(warnings[0].contains("in data1.hdr"), "{warnings:?}");
        // A single-file cabinet: the data, then the header's descriptor, which the common header
        // points to.
        let descriptor = le32(&hdr, 12).unwrap() as usize;
        let mut single = cab.clone();
        let at = single.len();
        single.extend_from_slice(&hdr[descriptor..]);
        single[12..16].copy_from_slice(&(at as u32).to_le_bytes());
        single[16..20].copy_from_slice(&hdr[16..20]);
        let dirs_size = le32(&single, at + 0x2c).unwrap() as usize;
        let entries = at + le32(&single, at + 0x0c).unwrap() as usize + dirs_size;
        // The files of data2.cab are now in this first volume; the others (in data1.cab, not
        // carried) are marked as not stored in a cabinet.
        for k in 0..le32(&single, at + 0x28).unwrap() as usize {
            let e = entries + k * FILE_ENTRY;
            if crate::analysis::bytes::le16(&single, e + 85) == Some(2) {
                single[e + 85..e + 87].copy_from_slice(&1u16.to_le_bytes());
            } else {
                single[e..e + 2].fill(0);
            }
        }
        let (got, warnings) = run(&single);
        assert_eq!(got, [("clam.exe".to_string(), clam)], "{warnings:?}");
    }

    #[test]
    fn an_older_setup_gives_its_listed_files_and_its_cabinet_files() {
        let payload: Vec<u8> = (0..3000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
        let data = listed_setup(
            &[("setup.ini", b"[Startup]\r\n"), ("clam.exe", b"MZ payload")],
            Some(("payload.exe", &payload)),
        );
        assert!(matches!(find(&data), Some(Layout::Listed(_))));
        let mut out = Members::new(Budget::unlimited());
        unpack(&data, &mut out);
        let names: Vec<&str> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "setup.ini",
                "clam.exe",
                "data1.hdr",
                "data2.cab",
                "data2.cab/bin\\payload.exe"
            ],
            "{:?}",
            out.warnings
        );
        assert!(out.members[1].data[..] == b"MZ payload"[..]);
        assert!(
            out.members[4].data[..] == payload[..],
            "the cabinet file is whole"
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        // Cut anywhere in the overlay: never a panic.
        let overlay = data.len() - 5000;
        for cut in (overlay..data.len()).step_by(37) {
            let mut out = Members::new(Budget::unlimited());
            unpack(&data[..cut], &mut out);
        }
        // A plain executable is not an InstallShield setup.
        let plain = listed_setup(&[], None);
        assert_eq!(find(&plain), None);
    }
}
