//! ASPack-packed PE32 files: decompresses the blocks ASPack packed in place, undoes its call
//! filter and finds the original entry point and import directory, statically.
//!
//! Written from ClamAV's libclamav/aspack.c and the ASPack part of libclamav/pe.c (GPL; read
//! for the format, no code taken), with pedump's lib/pedump/unpacker/aspack.rb (the stub's code
//! patterns for the call filter's switches and the import directory) and a reading of the
//! 2.12 stub in clamav-testfiles' clam-aspack.exe.
//!
//! Handled: the three stub layouts ClamAV recognises by a `push 0; ret` at a fixed distance
//! from the entry point: 2.12, "2.12 < v < 2.42" and 2.42. Tested only on 2.12 (the sample);
//! the other two use ClamAV's offsets and 12-byte block entries, whose third word (the
//! section's flags, per pedump) restores the original flags. Not handled: ASPack 1.x and 2.1
//! (other layouts), stubs that ASPack's options or protectors have re-encrypted, and stubs
//! whose entry point, import directory or call-filter switch are kept in the stub's data
//! rather than in its code (these get an error or a warning); two rare steps of the 2.12 stub,
//! a saved dword and a word-patch list (a warning says when they were needed).
//!
//! The restored image is the one the stub leaves before it jumps to the original entry point,
//! except that the import descriptors are left as the original program had them (the stub
//! fills the IAT and then overwrites the descriptors it used; neither can be done statically).
//! Relocations are never applied: the image is taken at its preferred base.

use super::image::{OutSection, Packed, Restored};
use crate::analysis::bytes::{le16, le32};

/// Bytes of the stub, from its start, searched for code patterns.
const STUB_WINDOW: usize = 0x1000;
/// Most entries read from the stub's block table.
const MAX_BLOCKS: usize = 256;
/// The extra room the stub gives each block's buffers (`size + 0x10e`).
const BLOCK_SLACK: usize = 0x10e;
/// Bytes of the stub's table of length and offset parameters.
const PARAMS_LEN: usize = 0x72;
/// Most import descriptors walked.
const MAX_DESCRIPTORS: usize = 4096;
/// Most resource directory entries visited.
const MAX_RESOURCE_ENTRIES: usize = 4096;
/// Code lengths sent for the three main prefix codes (721 + 28 + 8).
const CODE_LENGTHS: usize = 757;

/// `pushad; call $+8; jmp ...`: how every ASPack 2.x stub starts.
const ENTRY_CODE: [u8; 8] = [0x60, 0xe8, 3, 0, 0, 0, 0xe9, 0xeb];
/// `push 0; ret`: the jump to the original entry point, patched at run time.
const PUSH_RET: [u8; 6] = [0x68, 0, 0, 0, 0, 0xc3];
/// A block-table size that marks an entry with nothing to decompress (`size + 0x10e == 0`).
const EMPTY_BLOCK: u32 = 0u32.wrapping_sub(BLOCK_SLACK as u32);

/// Wildcard in a code pattern.
const ANY: i16 = -1;
/// `mov bl, switch; cmp bl, 0; jnz ...; inc byte [ebp+...]`: the call filter's on/off switch
/// (non-zero: off), raised after the first block.
const FILTER_SWITCH: [i16; 9] = [0xb3, ANY, 0x80, 0xfb, 0, 0x75, ANY, 0xfe, 0x85];
/// The filter's scan up to its marker byte: `cmp al, 0xe8; je; jmp +j; cmp al, 0xe9; je; inc
/// ebx; dec ecx; jmp; mov eax, [esi]; jmp +c; cmp byte [esi], marker`. `jmp +4` skips the 0xe9
/// test, `jmp +5` the marker test.
const FILTER_SCAN: [i16; 20] = [
    0x3c, 0xe8, 0x74, 0x0a, 0xeb, ANY, 0x3c, 0xe9, 0x74, 0x04, 0x43, 0x49, 0xeb, 0xeb, 0x8b, 0x06,
    0xeb, ANY, 0x80, 0x3e,
];
/// `mov esi, imports; mov edx, [ebp+base]; add esi, edx; mov eax, [esi+0xc]; test eax, eax`.
const IMPORTS_IMMEDIATE: [i16; 18] = [
    0xbe, ANY, ANY, ANY, ANY, 0x8b, 0x95, ANY, ANY, ANY, ANY, 0x03, 0xf2, 0x8b, 0x46, 0x0c, 0x85,
    0xc0,
];
/// Where one stub layout keeps what the unpacker reads. `push_ret` counts from the entry point
/// (as pe.c does); every other offset from the stub's start, the byte before the entry point
/// (as aspack.c does).
#[derive(Debug)]
struct Layout {
    /// The version's name in messages.
    version: &'static str,
    /// `push 0; ret`, which tells the layouts apart.
    push_ret: usize,
    /// The block table: (RVA, size) or (RVA, size, flags) entries up to an RVA of 0.
    blocks: usize,
    /// Bytes per block-table entry.
    entry_len: usize,
    /// The 0x72-byte parameter table of match lengths and offsets.
    params: usize,
    /// The call filter's marker byte.
    filter_marker: usize,
    /// The immediate of `mov eax, oep`.
    oep: usize,
    /// Data dwords of steps not taken, with what they are: non-zero means the step was needed.
    not_taken: &'static [(usize, &'static str)],
}

/// The layouts ClamAV recognises.
static LAYOUTS: [Layout; 3] = [
    Layout {
        version: "2.12",
        push_ret: 0x3b9,
        blocks: 0x57c,
        entry_len: 8,
        params: 0x6d6,
        filter_marker: 0x148,
        oep: 0x39b,
        // ebp = stub + 0x13: `mov ebx, [ebp+0x531]` at 0x8a puts the dword at ebp+0x535 at the
        // address in ebx before decompressing; `mov esi, [ebp+0x541]` at 0x25d walks (RVA,
        // word) patches after relocating.
        not_taken: &[(0x544, "saved dword"), (0x554, "word-patch list")],
    },
    Layout {
        version: "2.12-2.42",
        push_ret: 0x41f,
        blocks: 0x5d8,
        entry_len: 12,
        params: 0x732,
        filter_marker: 0x13a,
        oep: 0x401,
        not_taken: &[],
    },
    Layout {
        version: "2.42",
        push_ret: 0x42b,
        blocks: 0x5e4,
        entry_len: 12,
        params: 0x73e,
        filter_marker: 0x148,
        oep: 0x40d,
        not_taken: &[],
    },
];

/// Does `pattern` (bytes, or [`ANY`]) match `b` at `at`?
fn matches(b: &[u8], at: usize, pattern: &[i16]) -> bool {
    b.get(at..at.saturating_add(pattern.len()))
        .is_some_and(|w| {
            w.iter()
                .zip(pattern)
                .all(|(&x, &p)| p == ANY || p == i16::from(x))
        })
}

/// Where `pattern` first matches in `b`.
fn find(b: &[u8], pattern: &[i16]) -> Option<usize> {
    (0..b.len().saturating_sub(pattern.len()).saturating_add(1)).find(|&at| matches(b, at, pattern))
}

/// The layout of the stub whose code starts at the entry point, `code`.
fn layout_of(code: &[u8]) -> Option<&'static Layout> {
    if !code.starts_with(&ENTRY_CODE) {
        return None;
    }
    LAYOUTS.iter().find(|l| {
        code.get(l.push_ret..)
            .is_some_and(|c| c.starts_with(&PUSH_RET))
    })
}

/// Is this file packed with ASPack (and of a variant this module restores)?
pub fn detect(p: &Packed) -> bool {
    // Read from the file: building the whole image only to look at the stub is wasteful.
    let Some(s) = p.section_of(p.entry) else {
        return false;
    };
    let into = (p.entry - s.rva) as usize;
    let start = ((s.raw_off & !0x1ff) as usize).saturating_add(into);
    let len = (s.raw_size as usize).saturating_sub(into);
    let code = p.data.get(start..).unwrap_or(&[]);
    layout_of(code.get(..len).unwrap_or(code)).is_some()
}

/// An MSB-first bit reader with ASPack's 24-bit look-ahead: each look needs the 4 bytes from
/// the current one to be there.
struct Bits<'a> {
    data: &'a [u8],
    /// Bits consumed.
    pos: usize,
}

impl Bits<'_> {
    /// The next 24 bits, not consumed.
    fn peek24(&self) -> Result<u32, &'static str> {
        let at = self.pos / 8;
        let w = self
            .data
            .get(at..at.saturating_add(4))
            .ok_or("the compressed data runs out")?;
        let w = u32::from_be_bytes(w.try_into().map_err(|_| "the compressed data runs out")?);
        Ok((w >> (8 - self.pos % 8)) & 0xff_ffff)
    }

    /// Reads `n` bits (at most 24).
    fn take(&mut self, n: u8) -> Result<u32, &'static str> {
        if n > 24 {
            return Err("a field is wider than 24 bits");
        }
        let v = self.peek24()? >> (24 - n);
        self.pos = self.pos.saturating_add(usize::from(n));
        Ok(v)
    }
}

/// A canonical prefix code as ASPack builds it from code lengths 0-15 (0: no code); it must
/// be complete. Codes are compared left-aligned in 24 bits.
struct PrefixCode {
    /// `end[l]`: the first left-aligned code value past every code of length `l` or less.
    end: [u32; 16],
    /// `first[l]`: where the symbols of length `l` start in `symbols`.
    first: [usize; 16],
    /// The symbols that have a code, by length, then by value.
    symbols: Vec<u16>,
}

impl PrefixCode {
    /// Builds the code from each symbol's code length.
    fn new(lengths: &[u8]) -> Result<Self, &'static str> {
        let bad = "a prefix code in the stream is invalid";
        let mut count = [0usize; 16];
        for &l in lengths {
            *count.get_mut(usize::from(l)).ok_or(bad)? += 1;
        }
        let (mut end, mut first) = ([0u32; 16], [0usize; 16]);
        let mut sum: u64 = 0;
        for l in 1..16 {
            sum += (count[l] as u64) << (24 - l);
            if sum > 1 << 24 {
                return Err(bad);
            }
            end[l] = sum as u32;
            first[l] = if l == 1 {
                0
            } else {
                first[l - 1] + count[l - 1]
            };
        }
        if sum != 1 << 24 {
            return Err(bad);
        }
        let mut symbols = Vec::with_capacity(lengths.len());
        for l in 1..16u8 {
            symbols.extend(
                (0..lengths.len() as u16).filter(|&s| lengths.get(usize::from(s)) == Some(&l)),
            );
        }
        Ok(PrefixCode {
            end,
            first,
            symbols,
        })
    }

    /// Reads one symbol.
    fn decode(&self, bits: &mut Bits) -> Result<u16, &'static str> {
        let v = bits.peek24()? & 0xff_fe00;
        let l = (1..16)
            .find(|&l| v < self.end[l])
            .ok_or("a code is not in its table")?;
        let idx = ((v - self.end[l - 1]) >> (24 - l)) as usize + self.first[l];
        bits.pos = bits.pos.saturating_add(l);
        self.symbols
            .get(idx)
            .copied()
            .ok_or("a code is not in its table")
    }
}

/// The prefix codes of one stretch of a block, sent at its start and when symbol 720 asks.
struct Codes {
    /// Literals 0-255, matches 256-719 (slot << 3 | length - 2), 720: new codes follow.
    main: PrefixCode,
    /// The extra length of matches whose low three bits are all set: 0-27.
    length: PrefixCode,
    /// The low three bits of long offsets; `None` when every length is 3 (raw bits are sent).
    low_offset: Option<PrefixCode>,
}

/// Reads new codes; `prev` holds the last code lengths, which the new ones are sent against.
fn read_codes(bits: &mut Bits, prev: &mut [u8; CODE_LENGTHS]) -> Result<Codes, &'static str> {
    if bits.take(1)? == 0 {
        *prev = [0; CODE_LENGTHS];
    }
    let mut pre = [0u8; 19];
    for l in pre.iter_mut() {
        *l = bits.take(4)? as u8;
    }
    let pre = PrefixCode::new(&pre)?;
    let mut lengths = [0u8; CODE_LENGTHS];
    let mut i = 0;
    while i < CODE_LENGTHS {
        let sym = pre.decode(bits)?;
        let (run, value) = match sym {
            0..=15 => {
                let p = prev.get(i).copied().unwrap_or(0);
                (1, p.wrapping_add(sym as u8) & 15)
            }
            16 => (
                3 + bits.take(2)?,
                if i == 0 {
                    0
                } else {
                    lengths.get(i - 1).copied().unwrap_or(0)
                },
            ),
            17 => (3 + bits.take(3)?, 0),
            _ => (11 + bits.take(7)?, 0),
        };
        let run = (run as usize).min(CODE_LENGTHS - i);
        if let Some(dst) = lengths.get_mut(i..i + run) {
            dst.fill(value);
        }
        i += run;
    }
    let main = PrefixCode::new(&lengths[..721])?;
    let length = PrefixCode::new(&lengths[721..749])?;
    let low = PrefixCode::new(&lengths[749..])?;
    *prev = lengths;
    let raw = lengths[749..].iter().all(|&l| l == 3);
    Ok(Codes {
        main,
        length,
        low_offset: if raw { None } else { Some(low) },
    })
}

/// The stub's table of match parameters.
struct Params {
    /// Base and extra bits of the 28 long match lengths.
    length_base: [u8; 28],
    length_bits: [u8; 28],
    /// Extra bits of the 58 offset slots, and each slot's base (the sum of the slots' ranges
    /// before it).
    offset_bits: [u8; 58],
    offset_base: [u32; 58],
}

impl Params {
    /// Reads the table from its first byte.
    fn read(b: &[u8]) -> Option<Self> {
        let b: &[u8; PARAMS_LEN] = b.get(..PARAMS_LEN)?.try_into().ok()?;
        let mut p = Params {
            length_base: b[..28].try_into().ok()?,
            length_bits: b[28..56].try_into().ok()?,
            offset_bits: b[56..].try_into().ok()?,
            offset_base: [0; 58],
        };
        let mut base = 0u32;
        for (slot, &bits) in p.offset_base.iter_mut().zip(&p.offset_bits) {
            *slot = base;
            base = base.wrapping_add(1u32.checked_shl(u32::from(bits)).unwrap_or(0));
        }
        Some(p)
    }
}

/// Decompresses one block of `out_len` bytes: ASPack's LZ77 with prefix-coded literals,
/// matches and offsets, and a history of the last three offsets.
fn decompress(input: &[u8], out_len: usize, params: &Params) -> Result<Vec<u8>, &'static str> {
    let mut bits = Bits {
        data: input,
        pos: 0,
    };
    let mut prev = [0u8; CODE_LENGTHS];
    let mut codes = read_codes(&mut bits, &mut prev)?;
    let mut out = Vec::with_capacity(out_len);
    let mut recent = [0u32; 3];
    while out.len() < out_len {
        let sym = codes.main.decode(&mut bits)?;
        if sym < 256 {
            out.push(sym as u8);
            continue;
        }
        if sym >= 720 {
            codes = read_codes(&mut bits, &mut prev)?;
            continue;
        }
        let (slot, low) = (usize::from((sym - 256) >> 3), usize::from(sym & 7));
        let mut len = low + 2;
        if low == 7 {
            let e = usize::from(codes.length.decode(&mut bits)?);
            let (base, extra) = (params.length_base.get(e), params.length_bits.get(e));
            let (Some(&base), Some(&extra)) = (base, extra) else {
                return Err("a match length is not in the stub's table");
            };
            len += usize::from(base) + bits.take(extra)? as usize;
        }
        let (Some(&nb), Some(&base)) = (params.offset_bits.get(slot), params.offset_base.get(slot))
        else {
            return Err("a match offset is not in the stub's table");
        };
        let value = match &codes.low_offset {
            Some(low) if nb >= 3 => {
                let high = bits.take(nb - 3)?.wrapping_mul(8);
                base.wrapping_add(high)
                    .wrapping_add(u32::from(low.decode(&mut bits)?))
            }
            _ => base.wrapping_add(bits.take(nb)?),
        };
        let dist = match value {
            0 => recent[0],
            1 | 2 => {
                recent.swap(0, value as usize);
                recent[0]
            }
            _ => {
                recent = [value - 3, recent[0], recent[1]];
                value - 3
            }
        };
        let back = (dist as usize).saturating_add(1);
        if back > out.len() {
            return Err("a match reaches back before the block's start");
        }
        if len > out_len - out.len() {
            return Err("a match runs past the block's end");
        }
        for _ in 0..len {
            let b = out.get(out.len() - back).copied().unwrap_or(0);
            out.push(b);
        }
    }
    Ok(out)
}

/// How the stub undoes ASPack's call filter on the first block: 0xe8 (and 0xe9 if `jumps`)
/// followed by `marker` (any byte if `None`) holds a rotated block offset to make relative.
struct CallFilter {
    jumps: bool,
    marker: Option<u8>,
}

/// Undoes the call filter on a decompressed block, as the stub does.
fn unfilter(buf: &mut [u8], f: &CallFilter) {
    let end = buf.len().saturating_sub(6);
    let mut i = 0;
    while i < end {
        let op = buf.get(i).copied().unwrap_or(0);
        if op == 0xe8 || (f.jumps && op == 0xe9) {
            if let Some(w) = buf.get_mut(i + 1..i + 5) {
                if f.marker.is_none_or(|m| m == w[0]) {
                    let v = u32::from_le_bytes([0, w[1], w[2], w[3]]).rotate_left(24);
                    w.copy_from_slice(&v.wrapping_sub(i as u32).to_le_bytes());
                    i += 5;
                    continue;
                }
            }
        }
        i += 1;
    }
}

/// The call filter as the stub's code sets it: `None` when it is off.
fn call_filter(
    img: &[u8],
    stub: usize,
    l: &Layout,
    warnings: &mut Vec<String>,
) -> Result<Option<CallFilter>, String> {
    let code = img
        .get(stub..stub.saturating_add(STUB_WINDOW).min(img.len()))
        .unwrap_or(&[]);
    if let Some(at) = find(code, &FILTER_SWITCH) {
        if code.get(at + 1).is_some_and(|&s| s != 0) {
            return Ok(None);
        }
    } else {
        // pedump has seen it kept in the stub's data; ClamAV always takes it as on.
        warnings.push("aspack: the call filter's switch was not found; taken as on".into());
    }
    let marker = img.get(stub + l.filter_marker).copied();
    let marker = marker.ok_or("aspack: the call filter's marker lies outside the image")?;
    let scan = stub + l.filter_marker - FILTER_SCAN.len();
    if !matches(img, scan, &FILTER_SCAN) {
        warnings.push(format!(
            "aspack {}: the call filter's code is not where expected; undone as ClamAV does",
            l.version
        ));
        return Ok(Some(CallFilter {
            jumps: true,
            marker: Some(marker),
        }));
    }
    // Both bytes are there: the pattern matched.
    let skip_e9 = img.get(scan + 5).copied().unwrap_or(0);
    let skip_marker = img.get(scan + 17).copied().unwrap_or(0);
    let (jumps, marker) = match (skip_e9, skip_marker) {
        (0 | 4, 0 | 5) => (skip_e9 == 0, Some(marker).filter(|_| skip_marker == 0)),
        _ => {
            return Err(format!(
                "aspack {}: a call-filter variant (jumps of {skip_e9} and {skip_marker} bytes) \
                 is not supported",
                l.version
            ))
        }
    };
    Ok(Some(CallFilter { jumps, marker }))
}

/// The import directory the stub walks: its RVA from `mov esi, rva`, its size from the
/// descriptors up to the first without a name (the stub's own test).
fn imports(img: &[u8], stub: usize, warnings: &mut Vec<String>) -> Option<(u32, u32)> {
    let code = img
        .get(stub..stub.saturating_add(STUB_WINDOW).min(img.len()))
        .unwrap_or(&[]);
    let Some(at) = find(code, &IMPORTS_IMMEDIATE) else {
        // pedump has seen the RVA kept in the stub's data, which needs the stub's base.
        warnings.push("aspack: the stub's `mov esi, imports` was not found; not restored".into());
        return None;
    };
    let rva = le32(code, at + 1)?;
    if rva == 0 {
        return None;
    }
    for n in 0..MAX_DESCRIPTORS {
        let d = (rva as usize).saturating_add(n * 20);
        match le32(img, d + 12).zip(img.get(d..d + 20)) {
            Some((0, _)) => return Some((rva, (n as u32 + 1) * 20)),
            Some(_) => {}
            None => break,
        }
    }
    warnings.push(format!(
        "aspack: the import descriptors at RVA 0x{rva:x} have no end in the image; not restored"
    ));
    None
}

/// The RVAs of the resources' data, from the resource directory at `root` (three levels).
fn resource_data(img: &[u8], root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if root == 0 {
        return out;
    }
    let root = root as usize;
    // (offset from the root, level) of the directories still to read.
    let mut dirs = vec![(0usize, 0u8)];
    let mut visited = 0;
    while let Some((off, level)) = dirs.pop() {
        let at = root.saturating_add(off);
        let named = le16(img, at.saturating_add(12)).unwrap_or(0);
        let ids = le16(img, at.saturating_add(14)).unwrap_or(0);
        for k in 0..usize::from(named) + usize::from(ids) {
            visited += 1;
            let Some(child) = le32(img, at.saturating_add(20 + 8 * k)) else {
                break;
            };
            if visited > MAX_RESOURCE_ENTRIES {
                return out;
            }
            let child_off = (child & 0x7fff_ffff) as usize;
            if child >> 31 == 0 {
                out.extend(le32(img, root.saturating_add(child_off)));
            } else if level < 2 {
                dirs.push((child_off, level + 1));
            }
        }
    }
    out
}

/// Restores the original program's virtual image statically.
pub fn unpack(p: &Packed) -> Result<Restored, String> {
    let mut img = p.map()?;
    let l = img
        .get(p.entry as usize..)
        .and_then(layout_of)
        .ok_or("aspack: the entry point holds no ASPack 2.x stub of a known layout")?;
    let v = l.version;
    // The stub's start: its offsets count from the byte before the entry point.
    let stub = (p.entry as usize)
        .checked_sub(1)
        .ok_or("aspack: the entry point is at RVA 0")?;
    let mut warnings = Vec::new();
    let params_at = stub + l.params;
    let params = img.get(params_at..).and_then(Params::read);
    let params = params.ok_or(format!(
        "aspack {v}: the stub's parameter table at RVA 0x{params_at:x} runs past the image"
    ))?;
    let mut filter = call_filter(&img, stub, l, &mut warnings)?;

    let mut flags = Vec::new();
    let mut total = 0usize;
    let mut entry = stub + l.blocks;
    let mut done = false;
    for _ in 0..MAX_BLOCKS {
        let here = format!("aspack {v}: the block table entry at RVA 0x{entry:x}");
        let rva = le32(&img, entry).ok_or(format!("{here} runs past the image"))?;
        let size = le32(&img, entry + 4).ok_or(format!("{here} runs past the image"))?;
        if l.entry_len == 12 {
            flags.push((rva, le32(&img, entry + 8).unwrap_or(0)));
        }
        entry += l.entry_len;
        if rva == 0 {
            done = true;
            break;
        }
        if l.entry_len == 12 && size == EMPTY_BLOCK {
            continue;
        }
        let (start, len) = (rva as usize, size as usize);
        let end = start
            .checked_add(len)
            .filter(|&e| len > 0 && e <= img.len());
        let end = end.ok_or(format!(
            "aspack {v}: the block at RVA 0x{rva:x} (0x{size:x} bytes) is empty or runs past \
             the image"
        ))?;
        total = total.saturating_add(len);
        if total > img.len() {
            return Err(format!(
                "aspack {v}: the blocks add up to more than the image"
            ));
        }
        // The stub reads the packed bytes in place, with room for 0x10e more.
        let mut input = img
            .get(start..end.saturating_add(BLOCK_SLACK).min(img.len()))
            .unwrap_or(&[])
            .to_vec();
        input.resize(len + BLOCK_SLACK, 0);
        let mut out = decompress(&input, len, &params).map_err(|e| {
            format!("aspack {v}: the block at RVA 0x{rva:x} does not decompress: {e}")
        })?;
        if let Some(f) = filter.take() {
            unfilter(&mut out, &f);
        }
        img.get_mut(start..end)
            .unwrap_or(&mut [])
            .copy_from_slice(&out);
    }
    if !done {
        return Err(format!(
            "aspack {v}: the block table has more than {MAX_BLOCKS} entries"
        ));
    }
    for &(at, what) in l.not_taken {
        if le32(&img, stub + at).is_some_and(|x| x != 0) {
            warnings.push(format!("aspack {v}: the stub's {what} is not applied"));
        }
    }

    // `mov eax, oep`; a stub that loads it from its data is another layout.
    let oep_at = stub + l.oep;
    if img.get(oep_at - 1) != Some(&0xb8) {
        return Err(format!(
            "aspack {v}: the original entry point is not an immediate at RVA 0x{oep_at:x}; not \
             supported"
        ));
    }
    let oep = le32(&img, oep_at).ok_or(format!(
        "aspack {v}: the original entry point runs past the image"
    ))?;
    if oep == 0 || oep as usize >= img.len() {
        return Err(format!(
            "aspack {v}: the original entry point 0x{oep:x} lies outside the image"
        ));
    }
    let imports = imports(&img, stub, &mut warnings);

    // The stub's own two sections come last: its code at the stub's start, then an empty one.
    let n = p.sections.len();
    let ours = match p.sections.get(n.wrapping_sub(2)..) {
        Some([a, b]) if n > 2 && a.rva as usize == stub && b.raw_size == 0 => {
            // ASPack moves some resources (the manifest) out of the compressed .rsrc into its
            // own section, uncompressed; keep that section so they stay in the image.
            let end = a.rva.saturating_add(a.vsize.max(a.raw_size));
            let moved = resource_data(&img, p.dirs[2].0)
                .into_iter()
                .find(|&r| r >= a.rva && r < end);
            if let Some(r) = moved {
                warnings.push(format!(
                    "aspack: resource data at RVA 0x{r:x} lies in the stub's section, which is kept \
                     (as .rsrc2)"
                ));
                n - 1
            } else {
                n - 2
            }
        }
        _ => {
            warnings.push(
                "aspack: the stub's own sections are not the last two; all sections are kept"
                    .into(),
            );
            n
        }
    };
    let mut kept_flags = false;
    let sections = (p.sections.get(..ours).unwrap_or(&[]).iter())
        .map(|s| {
            let original = flags
                .iter()
                .find(|&&(rva, f)| rva == s.rva && f != 0)
                .map(|&(_, f)| f);
            kept_flags |= original.is_none();
            OutSection {
                // The stub's section, kept for the resources it holds, is not named as ASPack's:
                // the restored file is not packed.
                name: if s.rva as usize == stub {
                    *b".rsrc2\0\0"
                } else {
                    s.name
                },
                rva: s.rva,
                vsize: s.vsize,
                flags: original.unwrap_or(s.flags),
            }
        })
        .collect();
    if kept_flags {
        warnings.push(format!(
            "aspack {v}: the stub's data holds no original flags for some sections; the packed \
             file's are kept"
        ));
    }
    Ok(Restored {
        image: img,
        entry: oep,
        sections,
        imports,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        check_clam, check_detects_only, check_hostile_input, restored, sample,
    };
    use super::*;

    const SAMPLE: &str = "clam-aspack.exe";

    #[test]
    fn sample_restores() {
        let r = restored(SAMPLE, unpack);
        check_clam(&r);
        assert_eq!(r.imports, Some((0x205c, 0x3c)));
        let names: Vec<_> = r.sections.iter().map(|s| s.name).collect();
        let want = [
            *b".text\0\0\0",
            *b".rdata\0\0",
            *b".rsrc\0\0\0",
            *b".clam\0\0\0",
            *b".rsrc2\0\0",
        ];
        assert_eq!(
            names, want,
            "the stub's section stays: it holds the moved manifest"
        );
        assert_eq!(&r.image[0x600c..0x6016], b"<assembly ");
        // .rdata decompressed: the dropper's import descriptors name its DLLs.
        assert_eq!(
            le32(&r.image, 0x205c + 12),
            le32(&sample("clam-fsg.exe"), 0x600 + 0x5c + 12)
        );
    }

    #[test]
    fn detects_only_aspack() {
        check_detects_only(SAMPLE, detect);
    }

    #[test]
    fn hostile_input() {
        check_hostile_input(SAMPLE, detect, unpack);
    }

    /// MSB-first bit writer for hand-made streams.
    struct Writer(Vec<u8>, usize);
    impl Writer {
        /// Writes the low `n` bits of `v`, most significant first.
        fn put(&mut self, v: u32, n: usize) {
            for k in (0..n).rev() {
                if self.1.is_multiple_of(8) {
                    self.0.push(0);
                }
                let last = self.0.last_mut().unwrap();
                *last |= (((v >> k) & 1) as u8) << (7 - self.1 % 8);
                self.1 += 1;
            }
        }
    }

    #[test]
    fn decompresses_hand_made_stream() {
        let mut w = Writer(Vec::new(), 0);
        w.put(0, 1); // fresh code lengths
                     // Pre-code: 1 -> 00, 3 -> 01, 18 -> 10 (2 bits); 2 -> 110, 17 -> 111 (3 bits).
        let mut pre = [0u32; 19];
        (pre[1], pre[2], pre[3], pre[17], pre[18]) = (2, 3, 2, 3, 2);
        pre.iter().for_each(|&l| w.put(l, 4));
        let zeros = |w: &mut Writer, mut n: u32| {
            while n >= 11 {
                let k = n.min(138);
                w.put(0b10, 2);
                w.put(k - 11, 7);
                n -= k;
            }
            if n > 0 {
                w.put(0b111, 3);
                w.put(n - 3, 3);
            }
        };
        // Main code: 'A' 1 bit, 'B' 2 bits, matches 256 and 264 3 bits.
        zeros(&mut w, 65);
        w.put(0b00, 2); // 'A': 1
        w.put(0b110, 3); // 'B': 2
        zeros(&mut w, 189);
        w.put(0b01, 2); // 256: 3
        zeros(&mut w, 7);
        w.put(0b01, 2); // 264: 3
        zeros(&mut w, 456);
        w.put(0b00, 2); // length code: two 1-bit symbols
        w.put(0b00, 2);
        zeros(&mut w, 26);
        // Low offsets: all 3 bits, so they are sent raw.
        (0..8).for_each(|_| w.put(0b01, 2));
        w.put(0b0, 1); // 'A'
        w.put(0b10, 2); // 'B'
        w.put(0b111, 3); // 264: slot 1, length 2
        w.put(3, 2); // offset 1 + 3: a new distance of 1 + 1
        w.put(0b110, 3); // 256: slot 0 (no extra bits), length 2: offset 0, the last distance
        w.0.resize(w.0.len() + 8, 0);
        let mut table = [0u8; PARAMS_LEN];
        table[56 + 1] = 2; // slot 1: 2 extra bits, base 1
        let params = Params::read(&table).unwrap();
        assert_eq!(decompress(&w.0, 6, &params).unwrap(), b"ABABAB");
        assert!(
            decompress(&w.0, 5, &params).is_err(),
            "a match past the end is refused"
        );
    }

    #[test]
    fn unfilters_calls() {
        // call to block offset 0x1234 from offset 2, marker 0x11; a 0xe9 left alone.
        let mut b = vec![
            0x90, 0x90, 0xe8, 0x11, 0x34, 0x12, 0, 0xe9, 0x11, 0, 0, 0, 0, 0, 0,
        ];
        unfilter(
            &mut b,
            &CallFilter {
                jumps: false,
                marker: Some(0x11),
            },
        );
        assert_eq!(&b[2..7], &[0xe8, 0x32, 0x12, 0, 0]);
        assert_eq!(&b[7..9], &[0xe9, 0x11]);
    }
}
