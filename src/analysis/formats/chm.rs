//! Microsoft Compiled HTML Help (`.chm`, ITSF): the directory and the files it lists, from the
//! uncompressed section 0 and the LZX-compressed section 1 ("MSCompressed"). Follows Pabs' and
//! Matthew Russotto's "Microsoft's HTML Help (.chm) format" notes and libmspack's `chmd.c`
//! (Stuart Caie) for the header, directory, ControlData and ResetTable layouts; LZX itself is
//! decoded by the `lzxd` crate ([MS-PATCH] LZX DELTA, which is a superset of LZX).
//!
//! Members are the user files: names starting with `/` other than the `/#` and `/$` internal
//! streams and directory entries (ending in `/`), named by their path as the directory gives it
//! (`/html/page.htm`). PMGI index chunks are not needed: every entry is in a PMGL chunk.
//!
//! Section 1 is decoded frame by frame (32 KiB of output each) using the reset table to find
//! where each frame's compressed data starts: only the frames that hold admitted members (plus
//! the frames from the preceding reset point, which prime the LZX window) are decoded.

use std::borrow::Cow;

use lzxd::{Lzxd, WindowSize};

use crate::analysis::bytes::{le16, le32};

use super::{Limit, Members, RATIO_ALLOWANCE};
use crate::analysis::warning::Problem;

/// ITSF signature at offset 0.
const MAGIC: &[u8] = b"ITSF";
/// Size of the ITSP directory header; the directory chunks follow it.
const ITSP_HEADER: usize = 0x54;
/// Size of a PMGL chunk header; entries follow it.
const PMGL_HEADER: usize = 0x14;
/// Largest directory chunk accepted (real files use 4096; libmspack refuses more than 8192).
const MAX_CHUNK_SIZE: usize = 64 * 1024;
/// Most directory chunks read.
const MAX_CHUNKS: usize = 100_000;
/// Most directory entries read.
const MAX_ENTRIES: usize = 1_000_000;
/// Bytes of LZX output per frame; the reset table has one entry per frame.
const FRAME: usize = 32 * 1024;
/// Largest reset table read (libmspack's limit): 1 MB is 131,072 frames, 4 GiB of output.
const MAX_RESET_TABLE: usize = 1_000_000;

const CONTENT: &str = "::DataSpace/Storage/MSCompressed/Content";
const CONTROL: &str = "::DataSpace/Storage/MSCompressed/ControlData";
const RESET_TABLE: &str = "::DataSpace/Storage/MSCompressed/Transform/\
    {7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable";

/// True when `data` starts with the `ITSF` signature.
pub fn detect(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

fn le64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        d.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Reads a CHM ENCINT (7 bits per byte, most significant first, high bit = more follows).
fn encint(d: &[u8], pos: &mut usize, end: usize) -> Option<u64> {
    let mut v: u64 = 0;
    loop {
        if *pos >= end {
            return None;
        }
        let b = *d.get(*pos)?;
        *pos += 1;
        if v > (u64::MAX >> 7) {
            return None;
        }
        v = (v << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
}

/// One directory entry.
struct Entry {
    name: String,
    section: u64,
    offset: u64,
    length: u64,
}

impl Entry {
    fn is_user_file(&self) -> bool {
        self.name.len() >= 2
            && self.name.starts_with('/')
            && !self.name.starts_with("/#")
            && !self.name.starts_with("/$")
            && !self.name.ends_with('/')
    }
}

/// The parsed headers and directory.
struct Chm {
    entries: Vec<Entry>,
    content0: usize,
}

fn read_directory(data: &[u8], out: &mut Members<'_>) -> Option<Chm> {
    let version = le32(data, 4)?;
    let header_len = le32(data, 8)? as usize;
    let dir_off = usize::try_from(le64(data, 0x48)?).ok()?;
    let Some(itsp) = data.get(dir_off..dir_off.checked_add(ITSP_HEADER)?) else {
        out.warn(
            Problem::Truncated,
            format!("the directory header (offset {dir_off}) is outside the file"),
        );
        return None;
    };
    if &itsp[..4] != b"ITSP" {
        out.warn(
            Problem::Corrupt,
            "the directory header lacks its ITSP signature",
        );
        return None;
    }
    let chunk_size = le32(itsp, 0x10)? as usize;
    let first_pmgl = le32(itsp, 0x20)? as usize;
    let last_pmgl = le32(itsp, 0x24)? as usize;
    let num_chunks = le32(itsp, 0x2C)? as usize;
    if !(PMGL_HEADER + 2..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        out.warn(
            Problem::Corrupt,
            format!("directory chunk size {chunk_size} is not plausible"),
        );
        return None;
    }
    let chunks_start = dir_off + ITSP_HEADER;
    // Version 3 headers give the content offset; older ones put content after the directory.
    let content0 = if version >= 3 && header_len >= 0x60 {
        usize::try_from(le64(data, 0x58)?).unwrap_or(usize::MAX)
    } else {
        chunk_size
            .checked_mul(num_chunks)
            .and_then(|n| n.checked_add(chunks_start))
            .unwrap_or(usize::MAX)
    };

    let mut entries = Vec::new();
    let last = last_pmgl
        .min(num_chunks.saturating_sub(1))
        .min(first_pmgl.saturating_add(MAX_CHUNKS - 1));
    if last_pmgl >= num_chunks || first_pmgl > last_pmgl {
        out.warn(
            Problem::Corrupt,
            format!(
            "directory chunk range {first_pmgl}..={last_pmgl} does not fit the {num_chunks} chunks"
        ),
        );
    }
    for index in first_pmgl..=last {
        if out.stopped() {
            return None;
        }
        let chunk = index
            .checked_mul(chunk_size)
            .and_then(|n| n.checked_add(chunks_start))
            .and_then(|start| data.get(start..start.checked_add(chunk_size)?));
        let Some(chunk) = chunk else {
            out.warn(
                Problem::Truncated,
                format!("directory chunk {index} is cut off by the end of the file"),
            );
            break;
        };
        if &chunk[..4] != b"PMGL" {
            continue; // PMGI index chunks repeat names found in the PMGL chunks.
        }
        let free = le32(chunk, 4).unwrap_or(0) as usize;
        let end = if (2..=chunk_size - PMGL_HEADER).contains(&free) {
            chunk_size - free
        } else {
            chunk_size - 2
        };
        let count = le16(chunk, chunk_size - 2).unwrap_or(0);
        let mut pos = PMGL_HEADER;
        for _ in 0..count {
            if entries.len() >= MAX_ENTRIES {
                out.warn(
                    Problem::Capped,
                    format!("more than {MAX_ENTRIES} directory entries; the rest is ignored"),
                );
                return Some(Chm { entries, content0 });
            }
            let parsed = (|| {
                let name_len = usize::try_from(encint(chunk, &mut pos, end)?).ok()?;
                let name_end = pos.checked_add(name_len).filter(|&e| e <= end)?;
                let name = String::from_utf8_lossy(&chunk[pos..name_end]).into_owned();
                pos = name_end;
                let section = encint(chunk, &mut pos, end)?;
                let offset = encint(chunk, &mut pos, end)?;
                let length = encint(chunk, &mut pos, end)?;
                Some(Entry {
                    name,
                    section,
                    offset,
                    length,
                })
            })();
            match parsed {
                Some(e) => entries.push(e),
                None => {
                    out.warn(
                        Problem::Corrupt,
                        format!("directory chunk {index} has a corrupt entry"),
                    );
                    break;
                }
            }
        }
    }
    Some(Chm { entries, content0 })
}

/// The bytes of a section 0 file, possibly cut short by the end of the file (with a flag).
fn section0<'a>(data: &'a [u8], chm: &Chm, e: &Entry) -> Option<(&'a [u8], bool)> {
    let start = usize::try_from(e.offset)
        .ok()
        .and_then(|o| o.checked_add(chm.content0))?;
    if start > data.len() {
        return None;
    }
    let want = usize::try_from(e.length).unwrap_or(usize::MAX);
    let avail = data.len() - start;
    Some((&data[start..start + want.min(avail)], want > avail))
}

fn find<'c>(chm: &'c Chm, name: &str) -> Option<&'c Entry> {
    chm.entries.iter().find(|e| e.name == name)
}

/// What section 1 needs from the system files.
struct Lzx<'a> {
    content: &'a [u8],
    window: WindowSize,
    reset_frames: usize,
    /// Compressed offset of each frame, relative to `content`.
    frames: Vec<u64>,
    /// Uncompressed length of the section.
    length: u64,
}

fn read_lzx_setup<'a>(data: &'a [u8], chm: &Chm, out: &mut Members<'_>) -> Option<Lzx<'a>> {
    let sys = |name: &str, out: &mut Members<'_>| -> Option<&'a [u8]> {
        let Some(e) = find(chm, name) else {
            out.warn(
                Problem::Truncated,
                format!("section 1 cannot be decoded: {name} is missing"),
            );
            return None;
        };
        if e.section != 0 {
            out.warn(
                Problem::Corrupt,
                format!("section 1 cannot be decoded: {name} is not in section 0"),
            );
            return None;
        }
        match section0(data, chm, e) {
            Some((bytes, false)) => Some(bytes),
            Some((bytes, true)) if name == CONTENT => {
                out.warn(
                    Problem::Truncated,
                    "the compressed section is cut off by the end of the file",
                );
                Some(bytes)
            }
            _ => {
                out.warn(
                    Problem::Truncated,
                    format!("section 1 cannot be decoded: {name} lies outside the file"),
                );
                None
            }
        }
    };
    let content = sys(CONTENT, out)?;
    let control = sys(CONTROL, out)?;
    if control.len() < 0x1C || &control[4..8] != b"LZXC" {
        out.warn(
            Problem::Corrupt,
            "section 1 cannot be decoded: ControlData is not LZXC",
        );
        return None;
    }
    let (mut reset, mut window) = (le32(control, 0x0C)? as usize, le32(control, 0x10)? as usize);
    match le32(control, 8)? {
        1 => {}
        // Version 2 counts in frames.
        2 => {
            reset = reset.saturating_mul(FRAME);
            window = window.saturating_mul(FRAME);
        }
        v => {
            out.warn(
                Problem::Corrupt,
                format!("section 1 cannot be decoded: ControlData version {v}"),
            );
            return None;
        }
    }
    let window = match window {
        0x8000 => WindowSize::KB32,
        0x1_0000 => WindowSize::KB64,
        0x2_0000 => WindowSize::KB128,
        0x4_0000 => WindowSize::KB256,
        0x8_0000 => WindowSize::KB512,
        0x10_0000 => WindowSize::MB1,
        0x20_0000 => WindowSize::MB2,
        w => {
            out.warn(
                Problem::Corrupt,
                format!("section 1 cannot be decoded: lzx window size {w}"),
            );
            return None;
        }
    };
    if reset == 0 || !reset.is_multiple_of(FRAME) {
        out.warn(
            Problem::Corrupt,
            format!("section 1 cannot be decoded: lzx reset interval {reset}"),
        );
        return None;
    }
    let table = sys(RESET_TABLE, out)?;
    if table.len() < 0x28 || table.len() > MAX_RESET_TABLE {
        out.warn(
            Problem::Corrupt,
            format!(
                "section 1 cannot be decoded: reset table of {} bytes",
                table.len()
            ),
        );
        return None;
    }
    let count = le32(table, 4)? as usize;
    let entry_size = le32(table, 8)? as usize;
    let table_off = le32(table, 0x0C)? as usize;
    let length = le64(table, 0x10)?;
    let frame_len = le64(table, 0x20)?;
    if frame_len != FRAME as u64 || !(entry_size == 4 || entry_size == 8) {
        out.warn(
            Problem::Corrupt,
            "section 1 cannot be decoded: the reset table's frame length or entry size is wrong",
        );
        return None;
    }
    let mut frames = Vec::new();
    for i in 0..count {
        let at = table_off.saturating_add(i * entry_size);
        let v = if entry_size == 8 {
            le64(table, at)
        } else {
            le32(table, at).map(u64::from)
        };
        match v {
            Some(v) => frames.push(v),
            None => {
                out.warn(
                    Problem::Corrupt,
                    format!("the reset table lists {count} frames but holds only {i}"),
                );
                break;
            }
        }
    }
    Some(Lzx {
        content,
        window,
        reset_frames: reset / FRAME,
        frames,
        length,
    })
}

/// A section 1 member being assembled.
struct Active {
    name: String,
    offset: u64,
    length: u64,
    data: Vec<u8>,
}

/// Decodes the section 1 files in `files` (sorted by offset).
fn unpack_section1(data: &[u8], chm: &Chm, mut files: Vec<&Entry>, out: &mut Members<'_>) {
    let Some(lzx) = read_lzx_setup(data, chm, out) else {
        return;
    };
    files.retain(|e| {
        let fits = e
            .offset
            .checked_add(e.length)
            .is_some_and(|end| end <= lzx.length);
        if !fits {
            out.warn(
                Problem::Truncated,
                format!(
                    "{}: its range lies beyond the compressed section's {} bytes",
                    super::printable(&e.name),
                    lzx.length
                ),
            );
        }
        fits
    });
    files.sort_by_key(|e| e.offset);
    let content_len = lzx.content.len() as u64;
    // Packed share of a member: its part of the section in proportion to its size, so that
    // the ratio cap applies the section's overall compression ratio to each member.
    let packed_share = |len: u64| -> u64 {
        if lzx.length == 0 {
            return 0;
        }
        ((u128::from(len) * u128::from(content_len)).div_ceil(u128::from(lzx.length))) as u64
    };
    // Bound on all frames decoded, including the ones only priming the window.
    let stream_cap = content_len
        .saturating_mul(out.budget().max_ratio)
        .max(RATIO_ALLOWANCE);

    let frame_count = lzx.frames.len();
    let mut decoder: Option<Lzxd> = None;
    let mut frame = 0usize;
    let mut decoded: u64 = 0;
    let mut next = 0usize;
    let mut active: Vec<Active> = Vec::new();

    loop {
        if out.stopped() {
            return;
        }
        let frame_start = (frame as u64) * FRAME as u64;
        let frame_end = frame_start + FRAME as u64;
        // Members starting in this frame become active.
        while let Some(f) = files.get(next) {
            if f.offset >= frame_end {
                break;
            }
            next += 1;
            if f.offset < frame_start {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{}: skipped after an lzx error earlier in the section",
                        super::printable(&f.name)
                    ),
                );
                continue;
            }
            if !out.admit(&f.name, packed_share(f.length), f.length) {
                if out.stopped() {
                    return;
                }
                continue;
            }
            if f.length == 0 {
                if !out.add(f.name.clone(), Cow::Owned(Vec::new())) {
                    return;
                }
                continue;
            }
            active.push(Active {
                name: f.name.clone(),
                offset: f.offset,
                length: f.length,
                data: Vec::new(),
            });
        }
        // With nothing in progress, jump to the reset point before the next member; frames
        // from there on prime the LZX window for it.
        if active.is_empty() {
            let Some(f) = files.get(next) else {
                return;
            };
            let want = usize::try_from(f.offset / FRAME as u64).unwrap_or(usize::MAX);
            let reset_point = want / lzx.reset_frames * lzx.reset_frames;
            if reset_point > frame {
                frame = reset_point;
                decoder = None;
                continue;
            }
        }
        if frame >= frame_count {
            for a in active.drain(..) {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{}: the reset table has no entry for lzx frame {frame}",
                        super::printable(&a.name)
                    ),
                );
            }
            for f in files.get(next..).unwrap_or(&[]) {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{}: the reset table has no entry for its lzx frame",
                        super::printable(&f.name)
                    ),
                );
            }
            return;
        }
        if decoded.saturating_add(FRAME as u64) > stream_cap {
            out.limit(
                Limit::Ratio,
                format!(
                    "the compressed section expands to more than {decoded} bytes \
                     (ratio above {})",
                    out.budget().max_ratio
                ),
            );
            return;
        }

        // Decode this frame.
        let start = lzx.frames[frame];
        let end = lzx.frames.get(frame + 1).copied().unwrap_or(content_len);
        let chunk = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| lzx.content.get(s..e));
        let result = match chunk {
            None => Err(format!(
                "lzx frame {frame} has an impossible compressed range {start}..{end}"
            )),
            Some(chunk) => {
                if frame.is_multiple_of(lzx.reset_frames) {
                    decoder = None;
                }
                let lzxd = decoder.get_or_insert_with(|| Lzxd::new(lzx.window));
                // The decoder may panic on hostile input (overflow checks); contain it.
                match crate::log::guarded(|| lzxd.decompress_next(chunk, FRAME).map(|s| s.to_vec()))
                {
                    Ok(Ok(bytes)) => Ok(bytes),
                    Ok(Err(e)) => Err(format!("lzx frame {frame} is corrupt: {e}")),
                    Err(_) => Err(format!("lzx frame {frame} is corrupt (decoder failure)")),
                }
            }
        };
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(why) => {
                out.warn(Problem::Corrupt, why);
                // Yield what was read, then resume at the next reset point.
                for a in active.drain(..) {
                    out.warn(
                        Problem::Truncated,
                        format!(
                            "{}: truncated by the lzx error ({} of {} bytes)",
                            super::printable(&a.name),
                            a.data.len(),
                            a.length
                        ),
                    );
                    if !out.add(a.name, Cow::Owned(a.data)) {
                        return;
                    }
                }
                decoder = None;
                frame = (frame / lzx.reset_frames + 1) * lzx.reset_frames;
                continue;
            }
        };
        decoded += bytes.len() as u64;

        // Hand each active member its part of the frame.
        let mut i = 0;
        while i < active.len() {
            let a = &mut active[i];
            let from = a.offset + a.data.len() as u64;
            let to = (a.offset + a.length).min(frame_end);
            if from >= frame_start && from < to {
                let s = (from - frame_start) as usize;
                let e = (to - frame_start) as usize;
                a.data
                    .extend_from_slice(bytes.get(s..e).unwrap_or_default());
            }
            if a.data.len() as u64 >= a.length {
                let a = active.remove(i);
                if !out.add(a.name, Cow::Owned(a.data)) {
                    return;
                }
            } else {
                i += 1;
            }
        }
        frame += 1;
    }
}

/// Lists the CHM's directory and yields its user files.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    if data.is_empty() {
        return;
    }
    if !detect(data) {
        out.warn(
            Problem::Corrupt,
            "not a chm file: missing the ITSF signature",
        );
        return;
    }
    let Some(chm) = read_directory(data, out) else {
        if out.warnings.is_empty() && !out.stopped() {
            out.warn(Problem::Truncated, "the chm header is truncated");
        }
        return;
    };
    let mut compressed = Vec::new();
    for e in chm.entries.iter().filter(|e| e.is_user_file()) {
        if out.stopped() {
            return;
        }
        match e.section {
            0 => match section0(data, &chm, e) {
                Some((bytes, truncated)) => {
                    if truncated {
                        out.warn(
                            Problem::Truncated,
                            format!(
                                "{} is truncated: the directory says {} bytes, {} remain",
                                super::printable(&e.name),
                                e.length,
                                bytes.len()
                            ),
                        );
                    }
                    let len = bytes.len() as u64;
                    if out.admit(&e.name, len, len)
                        && !out.add(e.name.clone(), Cow::Borrowed(bytes))
                    {
                        return;
                    }
                }
                None => out.warn(
                    Problem::Truncated,
                    format!(
                        "{} lies beyond the end of the file",
                        super::printable(&e.name)
                    ),
                ),
            },
            1 => compressed.push(e),
            s => out.warn(
                Problem::Unsupported,
                format!("{} is in unknown section {s}", super::printable(&e.name)),
            ),
        }
    }
    if !compressed.is_empty() {
        unpack_section1(data, &chm, compressed, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{self, names_and_data};
    use super::super::{Budget, Limit};
    use super::*;

    fn enc(mut v: u64) -> Vec<u8> {
        let mut b = vec![(v & 0x7F) as u8];
        v >>= 7;
        while v > 0 {
            b.push(0x80 | (v & 0x7F) as u8);
            v >>= 7;
        }
        b.reverse();
        b
    }

    #[derive(Default)]
    struct Builder {
        entries: Vec<(String, u64, u64, u64)>,
        sec0: Vec<u8>,
    }

    impl Builder {
        fn add0(&mut self, name: &str, bytes: &[u8]) {
            let offset = self.sec0.len() as u64;
            self.sec0.extend_from_slice(bytes);
            self.entries
                .push((name.to_string(), 0, offset, bytes.len() as u64));
        }

        fn add1(&mut self, name: &str, offset: usize, len: usize) {
            self.entries
                .push((name.to_string(), 1, offset as u64, len as u64));
        }

        /// Adds the MSCompressed system files for `section` (LZX uncompressed blocks), with a
        /// reset every `reset_frames` frames.
        fn lzx(&mut self, section: &[u8], reset_frames: usize, window_frames: u32) {
            let seg = reset_frames * FRAME;
            let padded = section.len().div_ceil(seg) * seg;
            let mut plain = section.to_vec();
            plain.resize(padded, 0);
            let mut content = Vec::new();
            let mut frames = Vec::new();
            for segment in plain.chunks(seg) {
                for (k, frame) in segment.chunks(FRAME).enumerate() {
                    frames.push(content.len() as u64);
                    if k == 0 {
                        // E8 bit 0, block type 3 (uncompressed), 24-bit size, then alignment.
                        let bits: u32 = (0b0011 << 24) | seg as u32;
                        let word0 = (bits >> 12) as u16;
                        let word1 = ((bits & 0xFFF) << 4) as u16;
                        content.extend_from_slice(&word0.to_le_bytes());
                        content.extend_from_slice(&word1.to_le_bytes());
                        for _ in 0..3 {
                            content.extend_from_slice(&1u32.to_le_bytes());
                        }
                    }
                    content.extend_from_slice(frame);
                }
            }
            let mut control = Vec::new();
            for v in [6u32, 0, 2, reset_frames as u32, window_frames, 0, 0] {
                control.extend_from_slice(&v.to_le_bytes());
            }
            control[4..8].copy_from_slice(b"LZXC");
            let mut table = Vec::new();
            for v in [2u32, frames.len() as u32, 8, 0x28] {
                table.extend_from_slice(&v.to_le_bytes());
            }
            for v in [section.len() as u64, content.len() as u64, FRAME as u64] {
                table.extend_from_slice(&v.to_le_bytes());
            }
            for f in &frames {
                table.extend_from_slice(&f.to_le_bytes());
            }
            // The files real CHMs carry besides the three this parser needs (other readers,
            // such as 7-Zip, want them).
            let mut names: Vec<u16> = vec![0, 2];
            for n in ["Uncompressed", "MSCompressed"] {
                names.push(n.len() as u16);
                names.extend(n.encode_utf16());
                names.push(0);
            }
            names[0] = names.len() as u16;
            let names: Vec<u8> = names.iter().flat_map(|w| w.to_le_bytes()).collect();
            let list: Vec<u8> = "{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}"
                .encode_utf16()
                .flat_map(|w| w.to_le_bytes())
                .collect();
            self.add0("::DataSpace/NameList", &names);
            self.add0(CONTENT, &content);
            self.add0(CONTROL, &control);
            self.add0(
                "::DataSpace/Storage/MSCompressed/SpanInfo",
                &(section.len() as u64).to_le_bytes(),
            );
            self.add0("::DataSpace/Storage/MSCompressed/Transform/List", &list);
            self.add0(RESET_TABLE, &table);
        }

        fn build(&self, chunk_size: usize) -> Vec<u8> {
            // Pack the entries into PMGL chunks.
            let mut chunks: Vec<Vec<u8>> = Vec::new();
            let mut current: Vec<u8> = Vec::new();
            let mut count = 0u16;
            let finish = |current: &mut Vec<u8>, count: u16, chunks: &mut Vec<Vec<u8>>| {
                let mut c = vec![0u8; chunk_size];
                c[..4].copy_from_slice(b"PMGL");
                let free = (chunk_size - PMGL_HEADER - current.len()) as u32;
                c[4..8].copy_from_slice(&free.to_le_bytes());
                c[PMGL_HEADER..PMGL_HEADER + current.len()].copy_from_slice(current);
                c[chunk_size - 2..].copy_from_slice(&count.to_le_bytes());
                chunks.push(c);
                current.clear();
            };
            for (name, section, offset, length) in &self.entries {
                let mut e = enc(name.len() as u64);
                e.extend_from_slice(name.as_bytes());
                e.extend(enc(*section));
                e.extend(enc(*offset));
                e.extend(enc(*length));
                if PMGL_HEADER + current.len() + e.len() + 2 > chunk_size {
                    finish(&mut current, count, &mut chunks);
                    count = 0;
                }
                current.extend(e);
                count += 1;
            }
            finish(&mut current, count, &mut chunks);

            let hs1 = 0x60 + 0x18;
            let cs0 = hs1 + ITSP_HEADER + chunks.len() * chunk_size;
            let mut f = vec![0u8; 0x60];
            f[..4].copy_from_slice(MAGIC);
            f[4..8].copy_from_slice(&3u32.to_le_bytes());
            f[8..12].copy_from_slice(&0x60u32.to_le_bytes());
            f[0x38..0x40].copy_from_slice(&0x60u64.to_le_bytes());
            f[0x40..0x48].copy_from_slice(&0x18u64.to_le_bytes());
            f[0x48..0x50].copy_from_slice(&(hs1 as u64).to_le_bytes());
            f[0x50..0x58]
                .copy_from_slice(&((ITSP_HEADER + chunks.len() * chunk_size) as u64).to_le_bytes());
            f[0x58..0x60].copy_from_slice(&(cs0 as u64).to_le_bytes());
            let mut hs0 = vec![0u8; 0x18];
            hs0[0..4].copy_from_slice(&0x1FEu32.to_le_bytes());
            hs0[8..16].copy_from_slice(&((cs0 + self.sec0.len()) as u64).to_le_bytes());
            f.extend(hs0);
            let mut itsp = vec![0u8; ITSP_HEADER];
            itsp[..4].copy_from_slice(b"ITSP");
            for (at, v) in [
                (4, 1u32),
                (8, ITSP_HEADER as u32),
                (0x0C, 10),
                (0x10, chunk_size as u32),
                (0x14, 2),
                (0x18, 1),
                (0x1C, u32::MAX),
                (0x20, 0),
                (0x24, chunks.len() as u32 - 1),
                (0x28, u32::MAX),
                (0x2C, chunks.len() as u32),
            ] {
                itsp[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            f.extend(itsp);
            for c in chunks {
                f.extend(c);
            }
            assert_eq!(f.len(), cs0);
            f.extend_from_slice(&self.sec0);
            f
        }
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    fn noise(n: usize) -> Vec<u8> {
        let mut x = 0x1234_5678u32;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn section0_sample() -> Builder {
        let mut b = Builder::default();
        b.add0("/#SYSTEM", b"internal");
        b.add0("/$FIftiMain", b"search index");
        b.add0("/index.html", b"<html>hi</html>");
        b.entries.push(("/img/".to_string(), 0, 0, 0));
        b.add0("/img/a.gif", b"GIF89a...");
        b.add0("::DataSpace/NameList", b"names");
        b.add0("/empty.txt", b"");
        b
    }

    #[test]
    fn section0_user_files() {
        let data = section0_sample().build(4096);
        assert!(detect(&data));
        let out = run(&data);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("/index.html".to_string(), b"<html>hi</html>".to_vec()),
                ("/img/a.gif".to_string(), b"GIF89a...".to_vec()),
                ("/empty.txt".to_string(), Vec::new()),
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn directory_spanning_several_chunks() {
        let mut b = Builder::default();
        for i in 0..40 {
            b.add0(&format!("/page{i:02}.htm"), format!("page {i}").as_bytes());
        }
        let data = b.build(128);
        let out = run(&data);
        assert_eq!(out.members.len(), 40);
        assert_eq!(out.members[39].name, "/page39.htm");
        assert_eq!(out.members[39].data.as_ref(), b"page 39");
    }

    fn lzx_sample(reset_frames: usize, window_frames: u32) -> (Vec<u8>, Vec<u8>) {
        let section = noise(5 * FRAME - 100);
        let mut b = Builder::default();
        b.add0("/plain.txt", b"stored");
        b.lzx(&section, reset_frames, window_frames);
        b.add1("/a.htm", 0, 100);
        b.add1("/#TOPICS", 100, 50);
        b.add1("/b.bin", 40_000, 30_000);
        b.add1("/c.txt", 4 * FRAME + 5, 10);
        b.add1("/zero.txt", 3 * FRAME, 0);
        (b.build(4096), section)
    }

    /// How far before the end of `lzx_sample(1, 2)` its Content stream starts.
    fn content_distance_from_end() -> usize {
        let section = noise(5 * FRAME - 100);
        let mut b = Builder::default();
        b.add0("/plain.txt", b"stored");
        b.lzx(&section, 1, 2);
        b.sec0.len() - b.entries[2].2 as usize
    }

    #[test]
    fn section1_lzx_frames_and_resets() {
        for (reset_frames, window_frames) in [(1, 2), (2, 4), (4, 1)] {
            let (data, section) = lzx_sample(reset_frames, window_frames);
            let out = run(&data);
            assert!(out.warnings.is_empty(), "{:?}", out.warnings);
            assert_eq!(
                names_and_data(&out),
                vec![
                    ("/plain.txt".to_string(), b"stored".to_vec()),
                    ("/a.htm".to_string(), section[..100].to_vec()),
                    ("/b.bin".to_string(), section[40_000..70_000].to_vec()),
                    ("/zero.txt".to_string(), Vec::new()),
                    (
                        "/c.txt".to_string(),
                        section[4 * FRAME + 5..4 * FRAME + 15].to_vec()
                    ),
                ],
                "reset every {reset_frames} frames"
            );
        }
    }

    #[test]
    fn corrupt_lzx_frame_yields_partial_data_and_recovers() {
        let (mut data, section) = lzx_sample(1, 2);
        // The first frame's block header opens the Content stream. Zero its block type bits
        // (an invalid type).
        let pos = data.len() - content_distance_from_end();
        assert_eq!(data[pos + 1], 0x30);
        data[pos + 1] = 0x00;
        // Frame 3 holds no member data (only the empty /zero.txt): it is never decoded, so
        // corrupting it changes nothing.
        let frame3 = pos + 3 * (16 + FRAME);
        assert_eq!(data[frame3 + 1], 0x30);
        data[frame3 + 1] = 0x00;
        let out = run(&data);
        assert!(out.warnings.iter().any(|w| w.text.contains("lzx frame 0")));
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert!(names.contains(&"/b.bin"));
        let b = out.members.iter().find(|m| m.name == "/b.bin").unwrap();
        assert_eq!(b.data.as_ref(), &section[40_000..70_000]);
        let a = out.members.iter().find(|m| m.name == "/a.htm").unwrap();
        assert!(a.data.is_empty());
        let c = out.members.iter().find(|m| m.name == "/c.txt").unwrap();
        assert_eq!(c.data.as_ref(), &section[4 * FRAME + 5..4 * FRAME + 15]);
        assert!(!out.warnings.iter().any(|w| w.text.contains("frame 3")));
    }

    #[test]
    fn missing_reset_table_or_bad_control_data() {
        let section = noise(1000);
        let mut b = Builder::default();
        b.lzx(&section, 1, 2);
        b.add1("/a.htm", 0, 100);
        b.entries.retain(|e| e.0 != RESET_TABLE);
        let data = b.build(4096);
        let out = run(&data);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("ResetTable is missing"));

        let mut b = Builder::default();
        b.lzx(&section, 1, 3); // 96 KiB is not a valid window
        b.add1("/a.htm", 0, 100);
        let out_data = b.build(4096);
        let out = run(&out_data);
        assert!(out.warnings[0].text.contains("window size"));

        // A member beyond the section's length.
        let mut b = Builder::default();
        b.lzx(&section, 1, 2);
        b.add1("/far.htm", 5000, 100);
        let data = b.build(4096);
        let out = run(&data);
        assert!(out.warnings[0].text.contains("beyond"));
    }

    #[test]
    fn truncated_files() {
        let data = section0_sample().build(4096);
        let cut = &data[..data.len() - 15];
        let out = run(cut);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("truncated") || w.text.contains("beyond")));
        let (lzx, _) = lzx_sample(1, 2);
        for n in (0..lzx.len()).step_by(997) {
            run(&lzx[..n]);
        }
        for n in 0..data.len() {
            run(&data[..n]);
        }
    }

    #[test]
    fn corrupt_directory() {
        let mut data = section0_sample().build(4096);
        // Chunk size field of the ITSP header.
        let itsp = 0x78;
        data[itsp + 0x10..itsp + 0x14].copy_from_slice(&3u32.to_le_bytes());
        let out = run(&data);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("chunk size"));

        // A name length running past the chunk.
        let mut data = section0_sample().build(4096);
        let first = itsp + ITSP_HEADER + PMGL_HEADER;
        data[first] = 0x7F;
        let out = run(&data);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("corrupt entry")));

        // Chunk range past the number of chunks.
        let mut data = section0_sample().build(4096);
        data[itsp + 0x24..itsp + 0x28].copy_from_slice(&1000u32.to_le_bytes());
        let out = run(&data);
        assert_eq!(out.members.len(), 3);
        assert!(out.warnings[0].text.contains("does not fit"));

        // Directory offset outside the file.
        let mut data = section0_sample().build(4096);
        data[0x48..0x50].copy_from_slice(&u64::MAX.to_le_bytes());
        let out = run(&data);
        assert!(out.members.is_empty());
        assert!(!out.warnings.is_empty());
    }

    #[test]
    fn empty_and_foreign_input() {
        let out = run(b"");
        assert!(out.members.is_empty() && out.warnings.is_empty());
        let out = run(b"ITSF");
        assert!(out.warnings[0].text.contains("truncated"));
        let out = run(b"MZ\x90\x00");
        assert!(out.warnings[0].text.contains("not a chm"));
    }

    #[test]
    fn member_over_budget_is_skipped_with_a_limit() {
        let (data, _) = lzx_sample(1, 2);
        let mut out = Members::new(Budget {
            max_output: 1000,
            ..Budget::unlimited()
        });
        unpack(&data, &mut out);
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["/plain.txt", "/a.htm"]);
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }
}
