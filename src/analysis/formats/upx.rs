//! UPX-packed executables (PE32 and PE32+ images, little-endian ELF executables and shared
//! objects, 32 and 64-bit): decompresses what UPX packed and rebuilds the original file, as
//! `upx -d` does. The restored file is the one member: `unpacked.exe`, `unpacked.dll` or
//! `unpacked`.
//!
//! Written from UPX 4.2's sources (GPL; read for the format, no code taken): `src/packhead.cpp`
//! (the 32-byte pack header and its checksum), `src/p_unix.cpp` and `src/p_lx_elf.cpp` (ELF:
//! `l_info`/`p_info`/`b_info` blocks, per-PT_LOAD extents, the gaps after the loader, shared
//! objects' uncompressed low part and `DT_INIT` hook), `src/pefile.cpp` (PE: the extra info
//! after the image, `rebuildImports`/`rebuildRelocs`/`rebuildExports`/`rebuildResources`,
//! `unpack0`), `src/packer_r.cpp` (delta-coded relocations), `src/filteri.cpp` with
//! `src/filter/ct.h`, `cto.h`, `ctoj.h`, `ctok.h` (the call/jump filters), UCL's `n2b_d.c`,
//! `n2d_d.c`, `n2e_d.c` and `getbit.h` (NRV2B/2D/2E) and `src/compress/compress_lzma.cpp` (UPX's
//! two-byte LZMA properties header). Checked against files packed by `upx` 4.2.2.
//!
//! Methods: NRV2B, NRV2D, NRV2E (LE32, 8-bit and LE16 bit buffers) and LZMA. Filters: x86 call
//! tricks 0x01-0x09, 0x11-0x19, 0x24-0x26, 0x36, 0x46, 0x49, ARM 0x50 and ARM64 0x52; another
//! filter leaves that code filtered, with a warning. Not handled: big-endian formats (MIPS BE,
//! PowerPC), pre-1.2 UPX (8-byte block headers), Android shared libraries' relocated symbols,
//! Mach-O and DOS formats.
//!
//! Restored ELF files are byte-identical to the original. Restored PE files are byte-identical
//! to `upx -d`'s output: original headers, sections, resources and overlay, with the import
//! directory, relocations and exports rebuilt in UPX's own layout (so they differ from the
//! linker's), the debug, IAT and bound-import directories cleared and the checksum zeroed. When
//! the image decompresses but cannot be rebuilt, the decompressed image itself is the member
//! (`unpacked.bin`), with a warning.

use std::borrow::Cow;
use std::io::Read;

use memchr::memmem;

use crate::analysis::bytes::{le16, le32, le64};

// The PE reader's caps. Here, in the tree copier (`read_rtree`), a shared resource subtree
// counts each time it is reached.
use super::pe::{Image, SectionHeader, MAX_RESOURCE_NODES, MAX_SECTIONS};
use super::Members;
use crate::analysis::warning::Problem;

/// Largest unpacked size accepted: UPX itself refuses larger files (`UPX_RSIZE_MAX_MEM`).
const MAX_UNPACKED: u64 = 768 << 20;
/// Most compressed blocks walked in one ELF file.
const MAX_BLOCKS: usize = 1 << 16;
/// Most program headers read from an ELF header.
const MAX_PHDRS: usize = 256;
/// Most DLLs in UPX's compact import list.
const MAX_DLLS: usize = 10_000;
/// Bytes searched for the pack header from 64 bytes before a PE's second section.
const PE_HEADER_WINDOW: usize = 1024;
/// Bytes at the end of an ELF file searched for the pack header (UPX reads 128).
const ELF_TAIL: usize = 128;
/// Output bytes a decoder produces between two looks at the clock.
const CLOCK_EVERY: usize = 1 << 16;

const MAGIC: &[u8; 4] = b"UPX!";
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PF_W: u32 = 2;

/// Is this a UPX-packed PE or ELF file worth handing to [`unpack`]: a PE with a section named
/// `UPX*` or a pack header near its second section, or an ELF file with a pack header in its
/// last 128 bytes. The header is found by its `UPX!` magic or, when that was wiped, by its own
/// checksum.
pub fn detect(data: &[u8]) -> bool {
    if data.starts_with(b"\x7fELF") {
        let tail = data.len().saturating_sub(ELF_TAIL);
        return find_header(data, tail, ELF_TAIL).is_some();
    }
    Image::parse(data, &mut Vec::new()).is_ok_and(|img| detect_pe(&img))
}

/// [`detect`] for a PE image already read.
fn detect_pe(img: &Image) -> bool {
    img.sections.iter().any(|s| s.raw_name.starts_with(b"UPX")) || pe_header(img).is_some()
}

/// A UPX-packed PE file: its original, whose resources and overlay are the real ones (the
/// packed file's are compressed or copies); when it cannot be restored, the packed file's own
/// resources and overlay.
pub fn unpack_pe_file<'a>(data: &'a [u8], out: &mut Members<'a>) {
    if let Ok(img) = Image::parse(data, &mut Vec::new()) {
        unpack_pe(&img, out);
        if !out.members.is_empty() {
            return;
        }
    }
    super::pe::unpack(data, out);
}

/// Restores the original file of a UPX-packed PE or ELF file: `unpacked.exe`, `unpacked.dll`
/// or `unpacked`.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    if data.starts_with(b"\x7fELF") {
        unpack_elf(data, out);
    } else if let Ok(img) = Image::parse(data, &mut Vec::new()) {
        unpack_pe(&img, out);
    } else {
        out.warn(Problem::Corrupt, "upx: not a PE or ELF file");
    }
}

// ---------------------------------------------------------------------------------------------
// Byte access

fn put(b: &mut [u8], at: usize, v: &[u8]) -> Option<()> {
    b.get_mut(at..at.checked_add(v.len())?)?.copy_from_slice(v);
    Some(())
}

/// The NUL-terminated string at `at` (without the NUL).
fn cstr(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    Some(&rest[..memchr::memchr(0, rest)?])
}

/// UPX's `ALIGN_UP`: rounds up to a multiple of `a` (any `a`, 0 leaves `v` alone).
fn align_up(v: u64, a: u64) -> u64 {
    if a == 0 {
        v
    } else {
        v.div_ceil(a).saturating_mul(a)
    }
}

fn adler32(mut adler: u32, data: &[u8]) -> u32 {
    let (mut a, mut b) = (adler & 0xffff, adler >> 16);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    adler = (b << 16) | a;
    adler
}

// ---------------------------------------------------------------------------------------------
// Pack header (packhead.cpp): "UPX!", version, format, method, level, u_adler, c_adler, u_len,
// c_len, u_file_size, filter, filter_cto, n_mru, checksum (32 bytes, little-endian formats).

#[derive(Debug, Clone, Copy)]
struct PackHeader {
    at: usize,
    version: u8,
    format: u8,
    method: u8,
    u_adler: u32,
    c_adler: u32,
    u_len: u32,
    c_len: u32,
    u_file_size: u32,
    filter: u8,
    filter_cto: u8,
    magic: bool,
    checksum: bool,
}

fn parse_header(data: &[u8], at: usize) -> Option<PackHeader> {
    let h = data.get(at..at.checked_add(32)?)?;
    let sum = h[4..31].iter().map(|&b| u32::from(b)).sum::<u32>() % 251;
    Some(PackHeader {
        at,
        version: h[4],
        format: h[5],
        method: h[6],
        u_adler: le32(h, 8)?,
        c_adler: le32(h, 12)?,
        u_len: le32(h, 16)?,
        c_len: le32(h, 20)?,
        u_file_size: le32(h, 24)?,
        filter: h[28],
        filter_cto: h[29],
        magic: &h[..4] == MAGIC,
        checksum: u32::from(h[31]) == sum,
    })
}

/// The pack header in `data[start..start + len]`: by its magic, else (magic wiped, as malware
/// does) the first 32 bytes whose checksum and fields look like one.
fn find_header(data: &[u8], start: usize, len: usize) -> Option<PackHeader> {
    let end = start.saturating_add(len).min(data.len());
    let window = data.get(start..end)?;
    let by_magic = memmem::find_iter(window, MAGIC)
        .filter_map(|i| parse_header(data, start + i))
        .find(|h| h.version >= 10 && h.format != 0);
    by_magic.or_else(|| {
        (0..window.len()).find_map(|i| {
            let h = parse_header(data, start + i)?;
            let plausible = (10..=14).contains(&h.version)
                && (1..128).contains(&h.format)
                && supported(h.method)
                && (1..=10).contains(&data[start + i + 7])
                && 0 < h.c_len
                && h.c_len < h.u_len
                && h.c_len as usize <= data.len()
                && u64::from(h.u_len) <= MAX_UNPACKED;
            (h.checksum && plausible).then_some(h)
        })
    })
}

/// Warnings about a pack header that was found but was edited.
fn header_quirks(h: &PackHeader, out: &mut Members) {
    if !h.magic {
        out.warn(
            Problem::Corrupt,
            format!(
                "upx: the pack header's UPX! magic at offset {:#x} was wiped",
                h.at
            ),
        );
    }
    if !h.checksum {
        out.warn(
            Problem::Corrupt,
            "upx: the pack header fails its checksum (the header was edited)",
        );
    }
    if h.format >= 128 {
        out.warn(
            Problem::Unsupported,
            format!("upx: big-endian UPX format {} is not supported", h.format),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Decompression

/// A stream that could not be decoded in full: why, and the bytes decoded before.
struct Broken {
    partial: Vec<u8>,
    why: String,
}

fn broken(partial: Vec<u8>, why: impl Into<String>) -> Broken {
    Broken {
        partial,
        why: why.into(),
    }
}

/// Methods decoded here: NRV2B, NRV2D, NRV2E (LE32, 8-bit and LE16 bit buffers) and LZMA.
fn supported(method: u8) -> bool {
    matches!(method, 2..=10 | 14)
}

/// Decodes `src` with UPX method `method` to exactly `u_len` bytes.
fn decompress(out: &mut Members, method: u8, src: &[u8], u_len: usize) -> Result<Vec<u8>, Broken> {
    let mut dst = Vec::with_capacity(u_len.min(src.len().saturating_mul(4) + 4096));
    let result = match method {
        2..=10 => nrv(out, method, src, u_len, &mut dst),
        14 => lzma(out, src, u_len, &mut dst),
        _ => Err(format!("compression method {method} is not supported")),
    };
    match result {
        Err(why) => Err(broken(dst, why)),
        Ok(()) if dst.len() == u_len => Ok(dst),
        Ok(()) => {
            let why = format!(
                "the compressed stream ends after {} of {u_len} bytes",
                dst.len()
            );
            Err(broken(dst, why))
        }
    }
}

/// UCL's bit buffers: `width` 8, 16 (LE16) or 32 (LE32); bits are read most significant first.
struct BitIn<'a> {
    src: &'a [u8],
    pos: usize,
    bb: u32,
    bc: u32,
    width: u8,
}

impl BitIn<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.src.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn bit(&mut self) -> Result<u32, String> {
        match self.width {
            8 => {
                // The refill marker bit sits in the low byte until all 8 bits were shifted out.
                self.bb = if self.bb & 0x7f != 0 {
                    self.bb.wrapping_mul(2)
                } else {
                    u32::from(self.byte()?) * 2 + 1
                };
                Ok((self.bb >> 8) & 1)
            }
            16 => {
                self.bb = self.bb.wrapping_mul(2);
                if self.bb & 0xffff == 0 {
                    let w = le16(self.src, self.pos).ok_or_else(truncated)?;
                    self.pos += 2;
                    self.bb = u32::from(w) * 2 + 1;
                }
                Ok((self.bb >> 16) & 1)
            }
            _ => {
                if self.bc == 0 {
                    self.bb = le32(self.src, self.pos).ok_or_else(truncated)?;
                    self.pos += 4;
                    self.bc = 32;
                }
                self.bc -= 1;
                Ok((self.bb >> self.bc) & 1)
            }
        }
    }

    /// The Elias-gamma-like code of NRV2B lengths: data bit, then 1 to stop.
    fn gamma(&mut self) -> Result<u32, String> {
        let mut v: u32 = 1;
        loop {
            v = v.wrapping_mul(2).wrapping_add(self.bit()?);
            if self.bit()? == 1 {
                return Ok(v);
            }
        }
    }
}

fn truncated() -> String {
    "the compressed stream is truncated".into()
}

/// NRV2B (methods 2-4), NRV2D (5-7) and NRV2E (8-10), after UCL's `n2?_d.c`.
fn nrv(
    out: &mut Members,
    method: u8,
    src: &[u8],
    u_len: usize,
    dst: &mut Vec<u8>,
) -> Result<(), String> {
    let kind = (method - 2) / 3; // 0: 2B, 1: 2D, 2: 2E
    let width = [32, 8, 16][usize::from((method - 2) % 3)];
    let mut inp = BitIn {
        src,
        pos: 0,
        bb: 0,
        bc: 0,
        width,
    };
    let overrun = || "the compressed stream decodes past its declared size".to_string();
    let mut last_off: u32 = 1;
    let mut next_clock = CLOCK_EVERY;
    loop {
        if dst.len() >= next_clock {
            if out.stopped() {
                return Err("the time budget ran out while decompressing".into());
            }
            next_clock = dst.len() + CLOCK_EVERY;
        }
        while inp.bit()? == 1 {
            if dst.len() >= u_len {
                return Err(overrun());
            }
            dst.push(inp.byte()?);
        }
        let mut off: u32 = 1;
        if kind == 0 {
            off = inp.gamma()?;
        } else {
            loop {
                off = off.wrapping_mul(2).wrapping_add(inp.bit()?);
                if inp.bit()? == 1 {
                    break;
                }
                off = off.wrapping_sub(1).wrapping_mul(2).wrapping_add(inp.bit()?);
            }
        }
        let mut len: u32 = 0;
        if off == 2 {
            off = last_off;
            if kind != 0 {
                len = inp.bit()?;
            }
        } else {
            let raw = off
                .wrapping_sub(3)
                .wrapping_mul(256)
                .wrapping_add(u32::from(inp.byte()?));
            if raw == u32::MAX {
                return Ok(()); // end marker
            }
            if kind == 0 {
                off = raw.wrapping_add(1);
            } else {
                len = !raw & 1;
                off = (raw >> 1) + 1;
            }
            last_off = off;
        }
        match kind {
            0 => {
                len = inp.bit()? * 2 + inp.bit()?;
                if len == 0 {
                    len = inp.gamma()?.wrapping_add(2);
                }
            }
            1 => {
                len = len * 2 + inp.bit()?;
                if len == 0 {
                    len = inp.gamma()?.wrapping_add(2);
                }
            }
            _ => {
                if len != 0 {
                    len = 1 + inp.bit()?;
                } else if inp.bit()? == 1 {
                    len = 3 + inp.bit()?;
                } else {
                    len = inp.gamma()?.wrapping_add(3);
                }
            }
        }
        let far = if kind == 0 { 0xd00 } else { 0x500 };
        let count = len as usize + usize::from(off > far) + 1;
        let off = off as usize;
        if off == 0 || off > dst.len() {
            return Err("a match points before the start of the output".into());
        }
        if count > u_len - dst.len() {
            return Err(overrun());
        }
        let from = dst.len() - off;
        if off >= count {
            dst.extend_from_within(from..from + count);
        } else {
            for i in 0..count {
                let b = dst[from + i];
                dst.push(b);
            }
        }
    }
}

/// LZMA with UPX's two-byte header: `(lc + lp) << 3 | pb`, then `lp << 4 | lc`.
fn lzma(out: &mut Members, src: &[u8], u_len: usize, dst: &mut Vec<u8>) -> Result<(), String> {
    let (&b0, &b1) = (
        src.first().ok_or_else(truncated)?,
        src.get(1).ok_or_else(truncated)?,
    );
    let (pb, lp, lc) = (b0 & 7, b1 >> 4, b1 & 15);
    if pb >= 5 || lp >= 5 || lc >= 9 || b0 >> 3 != lc + lp {
        return Err(format!("bad lzma properties {b0:#04x} {b1:#04x}"));
    }
    // UPX decodes into the whole output buffer, so a dictionary as large as the output will do.
    let dict = u32::try_from(u_len.max(4096)).unwrap_or(u32::MAX);
    let mut reader = lzma_rust2::LzmaReader::new(
        &src[2..],
        u_len as u64,
        u32::from(lc),
        u32::from(lp),
        u32::from(pb),
        dict,
        None,
    )
    .map_err(|e| format!("the lzma stream cannot start ({e})"))?;
    let mut chunk = vec![0u8; CLOCK_EVERY];
    loop {
        if out.stopped() {
            return Err("the time budget ran out while decompressing".into());
        }
        match reader.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) if n > u_len - dst.len() => {
                return Err("the compressed stream decodes past its declared size".into())
            }
            Ok(n) => dst.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("the lzma stream is corrupt ({e})")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Filters (filteri.cpp): UPX rewrites the operands of x86 CALL/JMP (and Jcc) so that equal
// targets compress alike. `addvalue` is the buffer's offset in the image.

/// Undoes filter `id` on `buf`; false when the filter is not known here (the bytes are left as
/// they are).
fn unfilter(buf: &mut [u8], id: u8, cto: u8, addvalue: u32) -> bool {
    match id {
        0 => {}
        0x01..=0x09 => calltrick(buf, id - 0x01, 2, addvalue),
        0x11..=0x19 => calltrick(buf, id - 0x11, 4, addvalue),
        0x24..=0x26 | 0x36 | 0x46 | 0x49 => cto_calltrick(buf, id, cto, addvalue),
        0x50 | 0x52 => arm_calltrick(buf, id == 0x52, addvalue),
        _ => return false,
    }
    true
}

/// `ct.h`: each E8 (call), E9 (jmp) or both holds an absolute target, little-endian (variants
/// 0-2), big-endian (3-5: UPX swapped it for compression) or swapped the other way (6-8).
fn calltrick(buf: &mut [u8], variant: u8, width: usize, addvalue: u32) {
    if buf.len() < width + 2 {
        return;
    }
    let end = buf.len() - width - 1;
    let mut i = 0;
    loop {
        let b = buf[i];
        if [b == 0xe8, b == 0xe9, b == 0xe8 || b == 0xe9][usize::from(variant % 3)] {
            i += 1;
            let op = &mut buf[i..i + width];
            if variant / 3 == 1 {
                op.reverse();
            }
            let mut v = [0u8; 4];
            v[..width].copy_from_slice(op);
            let v = u32::from_le_bytes(v)
                .wrapping_sub(i as u32)
                .wrapping_sub(addvalue);
            op.copy_from_slice(&v.to_le_bytes()[..width]);
            if variant / 3 == 2 {
                op.reverse();
            }
            i += width - 1;
        }
        i += 1;
        if i >= end {
            break;
        }
    }
}

/// `cto.h`, `ctoj.h`, `ctok.h`: targets inside the buffer were stored big-endian with the high
/// byte set to `cto`; 0x49 also filtered 0F 8x (Jcc near) unless the 0F ended the previous
/// operand.
fn cto_calltrick(buf: &mut [u8], id: u8, cto: u8, addvalue: u32) {
    if buf.len() < 5 {
        return;
    }
    let jcc = id == 0x49;
    let mark = u32::from(cto) << 24;
    let mut lastcall = 0;
    let mut i = 0;
    while i < buf.len() - 5 {
        let b = buf[i];
        let hit = match id {
            0x24 => b == 0xe8,
            0x25 => b == 0xe9,
            _ => {
                b == 0xe8
                    || b == 0xe9
                    || (jcc
                        && lastcall != i
                        && i > 0
                        && buf[i - 1] == 0x0f
                        && (0x80..=0x8f).contains(&b))
            }
        };
        if hit && buf[i + 1] == cto {
            let target = u32::from_be_bytes([buf[i + 1], buf[i + 2], buf[i + 3], buf[i + 4]]);
            let rel = target
                .wrapping_sub(i as u32 + 1)
                .wrapping_sub(addvalue)
                .wrapping_sub(mark);
            buf[i + 1..i + 5].copy_from_slice(&rel.to_le_bytes());
            i += 4;
            lastcall = i + 1;
        }
        i += 1;
    }
}

/// `ct.h` for ARM (0x50: BL, 24-bit word offset) and ARM64 (0x52: B/BL, 26-bit): each
/// little-endian instruction word holds an absolute word target.
fn arm_calltrick(buf: &mut [u8], arm64: bool, addvalue: u32) {
    let (mask, is_call): (u32, fn(u8) -> bool) = if arm64 {
        (0x03ff_ffff, |b| b & 0x7c == 0x14)
    } else {
        (0x00ff_ffff, |b| b & 0x0f == 0x0b)
    };
    let mut i = 0;
    while i + 4 <= buf.len() && (i == 0 || i < buf.len() - 4) {
        let word = u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        if is_call(buf[i + 3]) {
            let v = word.wrapping_sub(i as u32 / 4).wrapping_sub(addvalue) & mask;
            buf[i..i + 4].copy_from_slice(&((word & !mask) | v).to_le_bytes());
        }
        i += 4;
    }
}

// ---------------------------------------------------------------------------------------------
// ELF (p_lx_elf.cpp, p_unix.cpp). Layout of a packed file: the packer's ELF header and program
// headers, [shared objects: the original bytes below xct_off], l_info (12 bytes, "UPX!" at +4),
// p_info {progid, filesize, blocksize} at `overlay_offset`, then blocks (b_info: sz_unc, sz_cpr,
// method, filter id, cto, 0; then sz_cpr bytes, stored when sz_cpr == sz_unc): the original ELF
// and program headers, then each PT_LOAD in turn (shared objects: only the read-only ones above
// xct_off; writable ones stay uncompressed in the packed file), then the loader, then the gaps
// between PT_LOADs and after the last one, an end marker {0, "UPX!"}, the pack header and
// overlay_offset.

#[derive(Debug, Clone, Copy)]
struct Phdr {
    ty: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

fn read_phdrs(b: &[u8], is64: bool) -> Option<Vec<Phdr>> {
    let (phoff, entsize, phnum) = if is64 {
        (le64(b, 32)?, le16(b, 54)?, le16(b, 56)?)
    } else {
        (u64::from(le32(b, 28)?), le16(b, 42)?, le16(b, 44)?)
    };
    if entsize != if is64 { 56 } else { 32 } {
        return None;
    }
    let phoff = usize::try_from(phoff).ok()?;
    (0..usize::from(phnum).min(MAX_PHDRS))
        .map(|i| {
            let p = phoff.checked_add(i * usize::from(entsize))?;
            Some(if is64 {
                Phdr {
                    ty: le32(b, p)?,
                    flags: le32(b, p + 4)?,
                    offset: le64(b, p + 8)?,
                    vaddr: le64(b, p + 16)?,
                    filesz: le64(b, p + 32)?,
                }
            } else {
                Phdr {
                    ty: le32(b, p)?,
                    offset: u64::from(le32(b, p + 4)?),
                    vaddr: u64::from(le32(b, p + 8)?),
                    filesz: u64::from(le32(b, p + 16)?),
                    flags: le32(b, p + 24)?,
                }
            })
        })
        .collect()
}

/// The dynamic entries (tag, value, offset in `b`) of the PT_DYNAMIC at `p`.
fn dyn_entries(b: &[u8], p: &Phdr, is64: bool) -> Vec<(u64, u64, usize)> {
    let size = if is64 { 16 } else { 8 };
    let start = usize::try_from(p.offset).unwrap_or(usize::MAX);
    let count = usize::try_from(p.filesz).unwrap_or(0) / size;
    (0..count)
        .map_while(|i| {
            let at = start.checked_add(i * size)?;
            if is64 {
                Some((le64(b, at)?, le64(b, at + 8)?, at))
            } else {
                Some((u64::from(le32(b, at)?), u64::from(le32(b, at + 4)?), at))
            }
        })
        .collect()
}

/// `find_LOAD_gap`: bytes between the end of PT_LOAD `k` and the next PT_LOAD (or the end of the
/// file).
fn load_gap(ph: &[Phdr], k: usize, file_size: u64) -> u64 {
    let p = &ph[k];
    if p.ty != PT_LOAD {
        return 0;
    }
    let hi = p.offset.saturating_add(p.filesz);
    if file_size < hi {
        return 0;
    }
    let mut lo = file_size;
    for (j, q) in ph.iter().enumerate() {
        if j != k && q.ty == PT_LOAD && q.offset.wrapping_sub(hi) < lo - hi {
            lo = q.offset;
        }
    }
    lo - hi
}

/// Walks the b_info blocks of a packed ELF file.
struct Blocks<'d> {
    data: &'d [u8],
    pos: usize,
    blocksize: u32,
    count: usize,
    c_adler: u32,
    u_adler: u32,
    unknown_filter: Option<u8>,
}

impl Blocks<'_> {
    /// Decodes the next block; on failure, what could be decoded and why it stopped.
    fn next(&mut self, out: &mut Members, room: u64) -> Result<Vec<u8>, Broken> {
        self.count += 1;
        if self.count > MAX_BLOCKS {
            return Err(broken(Vec::new(), "too many compressed blocks"));
        }
        let at = self.pos;
        let (Some(unc), Some(cpr), Some(&[method, ftid, cto])) = (
            le32(self.data, at),
            le32(self.data, at + 4),
            self.data.get(at + 8..at + 11),
        ) else {
            return Err(broken(
                Vec::new(),
                format!("block header at {at:#x} is truncated"),
            ));
        };
        if unc == 0 || cpr == 0 || cpr > unc || unc > self.blocksize || u64::from(unc) > room {
            let why = format!("block at {at:#x} is corrupt: {cpr} bytes said to hold {unc}");
            return Err(broken(Vec::new(), why));
        }
        let start = at + 12;
        let Some(src) = self.data.get(start..start.saturating_add(cpr as usize)) else {
            let why = format!(
                "block at {at:#x} is truncated: it says {cpr} bytes, {} remain",
                self.data.len().saturating_sub(start)
            );
            return Err(broken(Vec::new(), why));
        };
        self.pos = start + cpr as usize;
        self.c_adler = adler32(self.c_adler, src);
        let mut buf = if cpr < unc {
            if !supported(method) {
                let why = format!(
                    "block at {at:#x} uses compression method {method}, which is not supported"
                );
                return Err(broken(Vec::new(), why));
            }
            let mut buf = decompress(out, method, src, unc as usize)?;
            if !unfilter(&mut buf, ftid, cto, 0) {
                self.unknown_filter = Some(ftid);
            }
            buf
        } else {
            src.to_vec()
        };
        self.u_adler = adler32(self.u_adler, &buf);
        buf.truncate(unc as usize);
        Ok(buf)
    }

    /// `unpackExtent`: decodes blocks worth `wanted` bytes into `dst` at `at`.
    fn extent(
        &mut self,
        out: &mut Members,
        dst: &mut Vec<u8>,
        at: u64,
        wanted: u64,
        limit: u64,
    ) -> Result<(), String> {
        let (mut at, mut wanted) = (at, wanted);
        while wanted > 0 {
            if out.stopped() {
                return Err("the time budget ran out".into());
            }
            let (buf, failure) = match self.next(out, wanted) {
                Ok(buf) => (buf, None),
                Err(b) => (b.partial, Some(b.why)),
            };
            let len = buf.len() as u64;
            place(dst, at, &buf, limit)?;
            at += len;
            wanted -= len;
            if let Some(why) = failure {
                return Err(why);
            }
        }
        Ok(())
    }
}

/// Writes `bytes` at `at` in `dst`, growing it, never past `limit`.
fn place(dst: &mut Vec<u8>, at: u64, bytes: &[u8], limit: u64) -> Result<(), String> {
    let end = at.saturating_add(bytes.len() as u64);
    if end > limit {
        return Err(format!(
            "data at {at:#x} lies past the declared file size of {limit} bytes"
        ));
    }
    let (at, end) = (at as usize, end as usize);
    if dst.len() < end {
        dst.resize(end, 0);
    }
    dst[at..end].copy_from_slice(bytes);
    Ok(())
}

/// Is `pos` the header of a gap block of `unc` bytes?
fn gap_block_at(data: &[u8], pos: usize, unc: u32) -> bool {
    let (Some(u), Some(c), Some(word)) = (
        le32(data, pos),
        le32(data, pos.saturating_add(4)),
        le32(data, pos.saturating_add(8)),
    ) else {
        return false;
    };
    let fits = pos.saturating_add(12).saturating_add(c as usize) <= data.len();
    let method = word as u8;
    fits && u == unc
        && c > 0
        && ((c == unc && word == 0) || (c < unc && supported(method) && word >> 8 == 0))
}

fn unpack_elf(data: &[u8], out: &mut Members) {
    if data.get(5) != Some(&1) {
        out.warn(
            Problem::Unsupported,
            "upx: big-endian ELF files are not supported",
        );
        return;
    }
    let is64 = data.get(4) == Some(&2);
    let tail = data.len().saturating_sub(ELF_TAIL);
    let Some(ph) = find_header(data, tail, ELF_TAIL) else {
        out.warn(
            Problem::Corrupt,
            "upx: no UPX pack header at the end of this ELF file",
        );
        return;
    };
    header_quirks(&ph, out);
    if ph.format >= 128 {
        return;
    }
    let overlay = le32(data, ph.at + 32).map_or(usize::MAX, |v| v as usize);
    let (Some(p_filesize), Some(blocksize)) = (
        overlay.checked_add(4).and_then(|at| le32(data, at)),
        overlay.checked_add(8).and_then(|at| le32(data, at)),
    ) else {
        out.warn(
            Problem::Truncated,
            format!("upx: the overlay offset {overlay:#x} points outside the file"),
        );
        return;
    };
    if overlay < 12 {
        out.warn(
            Problem::Corrupt,
            format!("upx: the overlay offset {overlay:#x} is corrupt"),
        );
        return;
    }
    if !supported(ph.method) {
        out.warn(
            Problem::Unsupported,
            format!("upx: compression method {} is not supported", ph.method),
        );
        return;
    }
    if data.get(overlay - 8..overlay - 4) != Some(MAGIC) {
        out.warn(
            Problem::Corrupt,
            "upx: the l_info magic before the packed data was wiped",
        );
    }
    if p_filesize != ph.u_file_size {
        out.warn(
            Problem::Corrupt,
            format!(
                "upx: the sizes disagree: p_info says {p_filesize} bytes, the pack header {}",
                ph.u_file_size
            ),
        );
    }
    let declared = u64::from(p_filesize);
    if !out.admit("unpacked", data.len() as u64, declared) {
        return;
    }
    if declared > MAX_UNPACKED {
        out.warn(
            Problem::Corrupt,
            format!("upx: the unpacked size {declared} is larger than UPX allows"),
        );
        return;
    }
    let mut blocks = Blocks {
        data,
        pos: overlay + 12,
        blocksize,
        count: 0,
        c_adler: 1,
        u_adler: 1,
        unknown_filter: None,
    };
    let mut dst = Vec::new();
    let result = elf_body(
        data,
        is64,
        &ph,
        overlay,
        declared,
        &mut blocks,
        &mut dst,
        out,
    );
    if let Some(id) = blocks.unknown_filter {
        out.warn(
            Problem::Unsupported,
            format!("upx: filter {id:#04x} is not supported; that code was left filtered"),
        );
    }
    match result {
        Ok(()) => {
            if dst.len() as u64 != declared {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "upx: the restored file has {} bytes, the header says {declared}",
                        dst.len()
                    ),
                );
            } else if blocks.u_adler != ph.u_adler || blocks.c_adler != ph.c_adler {
                out.warn(
                    Problem::Corrupt,
                    "upx: the unpacked data fails the pack header's adler-32 checksums",
                );
            }
        }
        Err(why) => {
            out.warn(Problem::Corrupt, format!("upx: {why}"));
            if !dst.is_empty() {
                out.warn(Problem::Truncated, "upx: the restored file is incomplete");
            }
        }
    }
    if !dst.is_empty() {
        out.add("unpacked", Cow::Owned(dst));
    }
}

#[allow(clippy::too_many_arguments)]
fn elf_body(
    data: &[u8],
    is64: bool,
    ph: &PackHeader,
    overlay: usize,
    limit: u64,
    blocks: &mut Blocks,
    dst: &mut Vec<u8>,
    out: &mut Members,
) -> Result<(), String> {
    let first = blocks.pos;
    let hdr = blocks
        .next(out, limit)
        .map_err(|b| format!("the saved ELF header cannot be read: {}", b.why))?;
    if !hdr.starts_with(b"\x7fELF")
        || hdr.get(4) != data.get(4)
        || hdr.get(18..20) != data.get(18..20)
    {
        return Err("the saved ELF header is corrupt".into());
    }
    let phdrs = read_phdrs(&hdr, is64).ok_or("the saved program headers are corrupt")?;
    let packed = read_phdrs(data, is64).unwrap_or_default();
    // A packed shared library keeps its PT_DYNAMIC for the dynamic linker; a packed PIE
    // executable does not, or marks it DF_1_PIE.
    let dynamic = packed.iter().find(|p| p.ty == PT_DYNAMIC);
    let pie = dynamic.is_some_and(|d| {
        dyn_entries(data, d, is64)
            .iter()
            .any(|&(tag, val, _)| tag == 0x6fff_fffb && val & 0x0800_0000 != 0)
    });
    let mut old_dtinit = None;
    if dynamic.is_none() || pie {
        // The first block is also the start of the first PT_LOAD: decode it again.
        (blocks.pos, blocks.count, blocks.c_adler, blocks.u_adler) = (first, 0, 1, 1);
        for p in phdrs.iter().filter(|p| p.ty == PT_LOAD) {
            blocks.extent(out, dst, p.offset, p.filesz, limit)?;
        }
    } else {
        // Shared object: below xct_off the packed file holds the original bytes (for the
        // dynamic linker); the ELF headers are in the first block.
        let xct = overlay - 12;
        place(dst, 0, &hdr, limit)?;
        if hdr.len() < xct {
            let low = data
                .get(hdr.len()..xct)
                .ok_or("the uncompressed low part is truncated")?;
            place(dst, hdr.len() as u64, low, limit)?;
        }
        for p in phdrs.iter().filter(|p| p.ty == PT_LOAD) {
            let end = p.offset.saturating_add(p.filesz);
            if end <= xct as u64 {
                continue;
            }
            let start = p.offset.max(xct as u64);
            if p.flags & PF_W == 0 {
                blocks.extent(out, dst, start, end - start, limit)?;
                continue;
            }
            // Writable segments stay uncompressed, moved to a lower file offset.
            let q = packed
                .iter()
                .find(|q| q.ty == PT_LOAD && q.vaddr == p.vaddr)
                .ok_or("a writable segment is missing from the packed file")?;
            let from = q.offset.saturating_add(start - p.offset);
            let bytes = usize::try_from(from)
                .ok()
                .and_then(|f| data.get(f..f.checked_add(usize::try_from(end - start).ok()?)?))
                .ok_or("a writable segment is truncated")?;
            place(dst, start, bytes, limit)?;
        }
        old_dtinit = shlib_dtinit(data, is64, &packed, blocks.pos, xct);
    }
    // The gaps between PT_LOADs (and after the last one) follow the loader.
    let gaps: Vec<(u64, u64)> = (0..phdrs.len())
        .filter_map(|k| {
            let g = load_gap(&phdrs, k, u64::from(ph.u_file_size));
            (g > 0).then(|| (phdrs[k].offset + phdrs[k].filesz, g))
        })
        .collect();
    if let Some(&(_, size)) = gaps.first() {
        let want = u32::try_from(size.min(u64::from(blocks.blocksize))).unwrap_or(u32::MAX);
        let entry = if is64 {
            le64(data, 24)
        } else {
            le32(data, 24).map(u64::from)
        }
        .unwrap_or(0);
        let preferred = packed
            .iter()
            .find(|q| q.ty == PT_LOAD && entry.wrapping_sub(q.vaddr) < q.filesz)
            .and_then(|q| usize::try_from(q.offset.saturating_add(q.filesz)).ok())
            .map(|end| end.saturating_add(3) & !3);
        // Loader sizes vary between UPX versions: look for the block when it is not where the
        // loader should end.
        let start = preferred
            .filter(|&p| gap_block_at(data, p, want))
            .or_else(|| (blocks.pos..ph.at).find(|&p| gap_block_at(data, p, want)))
            .ok_or("the compressed gaps after the loader cannot be found")?;
        blocks.pos = start;
        for (at, size) in gaps {
            blocks.extent(out, dst, at, size, limit)?;
        }
    }
    if le32(data, blocks.pos) != Some(0) || data.get(blocks.pos + 4..blocks.pos + 8) != Some(MAGIC)
    {
        out.warn(
            Problem::Truncated,
            "upx: the end-of-blocks marker is missing",
        );
    }
    if let Some(dtinit) = old_dtinit {
        restore_dtinit(dst, &phdrs, is64, dtinit);
    } else if dynamic.is_some() && !pie {
        out.warn(
            Problem::Corrupt,
            "upx: the original DT_INIT could not be found; the packer's value was kept",
        );
    }
    Ok(())
}

/// The original DT_INIT the packer saved for its loader: three words (DT_INIT, hatch, xct_off)
/// just before the loader's entry point, also reachable from the end of the compressed segments.
fn shlib_dtinit(data: &[u8], is64: bool, packed: &[Phdr], after: usize, xct: usize) -> Option<u64> {
    let entry = if is64 {
        le64(data, 24)?
    } else {
        u64::from(le32(data, 24)?)
    };
    let q = packed
        .iter()
        .find(|q| q.ty == PT_LOAD && entry.wrapping_sub(q.vaddr) < q.filesz)?;
    let at_entry = q
        .offset
        .checked_add(entry - q.vaddr)
        .and_then(|o| usize::try_from(o).ok()?.checked_sub(12));
    let mut at_end = after.saturating_add(3) & !3;
    if le32(data, at_end) == Some(0) {
        at_end += 4;
    }
    [at_entry, Some(at_end + 8)]
        .into_iter()
        .flatten()
        .find(|&at| le32(data, at.saturating_add(8)) == Some(xct as u32))
        .and_then(|at| le32(data, at))
        .map(u64::from)
}

/// `un_DT_INIT`: puts the original initialiser back where the packer hooked its loader.
fn restore_dtinit(dst: &mut [u8], phdrs: &[Phdr], is64: bool, dtinit: u64) {
    let Some(dynamic) = phdrs.iter().find(|p| p.ty == PT_DYNAMIC) else {
        return;
    };
    let entries = dyn_entries(dst, dynamic, is64);
    let hooked = [12, 32, 25] // DT_INIT, DT_PREINIT_ARRAY, DT_INIT_ARRAY
        .into_iter()
        .find_map(|tag| entries.iter().find(|e| e.0 == tag));
    let word = |v: u64| {
        if is64 {
            v.to_le_bytes().to_vec()
        } else {
            (v as u32).to_le_bytes().to_vec()
        }
    };
    let half = if is64 { 8 } else { 4 };
    match hooked {
        Some(&(12, _, at)) => {
            // With no DT_INIT of its own, the packer took a DT_NULL slot.
            let tag = if dtinit == 0 { 0 } else { 12 };
            put(dst, at, &word(tag));
            put(dst, at + half, &word(dtinit));
        }
        Some(&(_, vaddr, _)) => {
            let file = phdrs
                .iter()
                .find(|p| p.ty == PT_LOAD && vaddr.wrapping_sub(p.vaddr) < p.filesz)
                .and_then(|p| usize::try_from(p.offset.checked_add(vaddr - p.vaddr)?).ok());
            if let Some(at) = file {
                put(dst, at, &word(dtinit));
            }
        }
        None => {}
    }
}

// ---------------------------------------------------------------------------------------------
// PE (pefile.cpp). Packed: UPX0 (empty, the image's address space), UPX1 (pack header, the
// compressed image, the loader), UPX2/.rsrc (UPX's import table, uncompressed resources with
// their original RVA in the 4 bytes before each, exports, relocations). The decompressed data is
// the image from the first section's RVA, then compact imports, compact relocations, and the
// "extra info": the original PE header (248/264 bytes from "PE\0\0"), section table,
// [imports: u32 offset, u32 names RVA], [relocs: u32 offset, u8 kinds], [resources: u16 icon
// count], and last a u32 giving where the extra info starts.

/// UPX looks 64 bytes before its second section, older versions at the third.
fn pe_header(img: &Image) -> Option<PackHeader> {
    let data = img.data;
    let at = |i: usize| img.sections.get(i).map(|s| s.raw_ptr as usize);
    at(1)
        .and_then(|raw| find_header(data, raw.saturating_sub(64), PE_HEADER_WINDOW))
        .or_else(|| at(2).and_then(|raw| find_header(data, raw, PE_HEADER_WINDOW)))
}

/// Restores the original of a UPX-packed PE image.
fn unpack_pe(img: &Image, out: &mut Members) {
    let data = img.data;
    let named = img.sections.iter().any(|s| s.raw_name.starts_with(b"UPX"));
    let Some(ph) = pe_header(img).filter(|_| img.sections.len() >= 3) else {
        if named {
            out.warn(
                Problem::Corrupt,
                "upx: the sections are named like UPX's but there is no UPX pack header",
            );
        } else {
            out.warn(Problem::Corrupt, "upx: no UPX pack header in this PE file");
        }
        return;
    };
    header_quirks(&ph, out);
    if ph.format >= 128 {
        return;
    }
    if !supported(ph.method) {
        out.warn(
            Problem::Unsupported,
            format!("upx: compression method {} is not supported", ph.method),
        );
        return;
    }
    let start = ph.at + 32;
    let end = start.saturating_add(ph.c_len as usize);
    let src = match data.get(start..end) {
        Some(src) => src,
        None => {
            out.warn(
                Problem::Truncated,
                format!(
                    "upx: the compressed image is truncated: the header says {} bytes, {} remain",
                    ph.c_len,
                    data.len().saturating_sub(start)
                ),
            );
            data.get(start..).unwrap_or_default()
        }
    };
    let declared = u64::from(ph.u_len);
    if !out.admit("unpacked", data.len() as u64, declared) {
        return;
    }
    if declared > MAX_UNPACKED {
        out.warn(
            Problem::Corrupt,
            format!("upx: the unpacked size {declared} is larger than UPX allows"),
        );
        return;
    }
    let image = match decompress(out, ph.method, src, ph.u_len as usize) {
        Ok(image) => {
            if adler32(1, &image) != ph.u_adler {
                out.warn(
                    Problem::Corrupt,
                    "upx: the decompressed image fails its adler-32 checksum",
                );
            }
            image
        }
        Err(b) => {
            out.warn(Problem::Corrupt, format!("upx: {}", b.why));
            if b.partial.len() < 4 || out.stopped() {
                return;
            }
            // A stream that ends early (a lying size) may still hold the whole image.
            b.partial
        }
    };
    let mut image = image;
    match rebuild_pe(img, &ph, &mut image, out) {
        Ok((file, dll)) => {
            out.add(
                if dll { "unpacked.dll" } else { "unpacked.exe" },
                Cow::Owned(file),
            );
        }
        Err(why) => {
            out.warn(
                Problem::Corrupt,
                format!("upx: cannot rebuild the original file ({why}); keeping the image"),
            );
            out.add("unpacked.bin", Cow::Owned(image));
        }
    }
}

/// Offsets of a data directory entry in a saved PE header (from "PE\0\0").
fn ddir(plus: bool, i: usize) -> usize {
    (if plus { 136 } else { 120 }) + 8 * i
}

fn corrupt() -> String {
    "the saved headers or tables are corrupt".into()
}

/// `unpack0`: the original file from the decompressed image `obuf` (rebuilt in place).
fn rebuild_pe(
    pe: &Image,
    ph: &PackHeader,
    obuf: &mut [u8],
    out: &mut Members,
) -> Result<(Vec<u8>, bool), String> {
    let data = pe.data;
    let plus = pe.plus;
    let hsize = if plus { 264 } else { 248 };
    let extra = le32(obuf, obuf.len().saturating_sub(4)).ok_or_else(corrupt)? as usize;
    let mut oh = obuf
        .get(extra..extra.saturating_add(hsize))
        .ok_or_else(corrupt)?
        .to_vec();
    let objs = usize::from(le16(&oh, 6).unwrap_or(0));
    if !oh.starts_with(b"PE\0\0")
        || le16(&oh, 24) != Some(if plus { 0x20b } else { 0x10b })
        || objs == 0
        || objs > MAX_SECTIONS
    {
        return Err("the saved PE header is corrupt".into());
    }
    let table = obuf
        .get(extra + hsize..extra + hsize + 40 * objs)
        .ok_or_else(corrupt)?
        .to_vec();
    let field = |i: usize, at: usize| le32(&table, 40 * i + at).unwrap_or(0);
    let mut ei = extra + hsize + 40 * objs;
    let rvamin = field(0, 12);
    let s2 = pe.sections.get(2).ok_or_else(corrupt)?;
    let mut warn = |w: String| out.warn(Problem::Corrupt, format!("upx: {w}"));
    let sect2 = section_data(data, s2, &mut warn);
    if ph.filter != 0 {
        let (codesize, codebase) = (
            le32(&oh, 28).unwrap_or(0) as usize,
            le32(&oh, 44).unwrap_or(0),
        );
        let code = codebase
            .checked_sub(rvamin)
            .and_then(|o| obuf.get_mut(o as usize..(o as usize).checked_add(codesize)?));
        match code.map(|code| unfilter(code, ph.filter, ph.filter_cto, codebase - rvamin)) {
            Some(true) => {}
            Some(false) => warn(format!(
                "filter {:#04x} is not supported; the code was left filtered",
                ph.filter
            )),
            None => warn("the filtered code lies outside the image; it was left filtered".into()),
        }
    }
    if pe.characteristics & 1 != 0 {
        // Relocations were stripped when packing.
        oh[22] |= 1;
        oh[ddir(plus, 5)..ddir(plus, 5) + 8].fill(0);
    }
    let flags = le16(&oh, 22).unwrap_or(0);
    let imagebase = if plus {
        le64(&oh, 48)
    } else {
        le32(&oh, 52).map(u64::from)
    }
    .unwrap_or(0);
    if rebuild_imports(
        obuf,
        rvamin,
        &oh,
        &mut ei,
        sect2,
        s2.va,
        pe.dir_raw(1).0,
        plus,
    )
    .is_none()
    {
        warn("the import table could not be rebuilt".into());
    }
    match rebuild_relocs(obuf, rvamin, &oh, &mut ei, flags, imagebase, plus) {
        Some(Some(size)) => {
            oh[ddir(plus, 5) + 4..ddir(plus, 5) + 8].copy_from_slice(&size.to_le_bytes())
        }
        Some(None) => {}
        None => warn("the relocations could not be rebuilt".into()),
    }
    if rebuild_exports(obuf, rvamin, &oh, sect2, s2.va, pe.dir_raw(0)).is_none() {
        warn("the export directory could not be rebuilt".into());
    }
    let last = pe
        .sections
        .get(pe.sections.len().min(4).saturating_sub(1))
        .ok_or_else(corrupt)?;
    let rsrc = if pe.sections.len() >= 4 {
        section_data(data, last, &mut warn)
    } else {
        sect2
    };
    if rebuild_resources(obuf, rvamin, &oh, &mut ei, rsrc, last.va, pe.dir_raw(2)).is_none() {
        warn("the resources could not be restored".into());
    }
    for dir in [6, 11, 12] {
        oh[ddir(plus, dir)..ddir(plus, dir) + 8].fill(0); // debug, bound imports, IAT
    }
    let filealign = le32(&oh, 60).unwrap_or(0);
    let fill = |size: u32| align_up(u64::from(size), u64::from(filealign));
    oh[84..88].copy_from_slice(&(fill((pe.pe_at + hsize + 40 * objs) as u32) as u32).to_le_bytes());
    oh[88..92].fill(0); // checksum
                        // Every section comes out of the image (zeros past its end): a header claiming more than
                        // the image can fill is lying.
    let raw: Vec<usize> = (0..objs).filter(|&i| field(i, 20) != 0).collect();
    let first = raw.first().map_or(0, |&i| field(i, 20) as usize);
    let total = raw.iter().map(|&i| fill(field(i, 16))).sum::<u64>();
    let room = obuf.len() as u64 + (objs as u64 + 1) * u64::from(filealign.min(1 << 16));
    if first as u64 > room || total > room {
        return Err(format!(
            "the sections claim {total} bytes from {first:#x}, more than the image holds"
        ));
    }
    let mut file = data.get(..pe.pe_at).ok_or_else(corrupt)?.to_vec();
    file.extend_from_slice(&oh);
    file.extend_from_slice(&table);
    if first < file.len() {
        return Err("the first section overlaps the headers".into());
    }
    file.resize(first, 0);
    for i in raw {
        let size = fill(field(i, 16)) as usize;
        let have = field(i, 12)
            .checked_sub(rvamin)
            .and_then(|o| obuf.get(o as usize..))
            .unwrap_or_default();
        let take = have.len().min(size);
        file.extend_from_slice(&have[..take]);
        file.resize(file.len() + (size - take), 0);
    }
    // The overlay: whatever follows the packed file's last section.
    let plast = pe.sections.last().ok_or_else(corrupt)?;
    let end = align_up(
        u64::from(plast.raw_ptr) + u64::from(plast.raw_size),
        u64::from(pe.file_alignment),
    );
    file.extend_from_slice(
        data.get(usize::try_from(end).unwrap_or(usize::MAX)..)
            .unwrap_or_default(),
    );
    Ok((file, flags & 0x2000 != 0))
}

/// A section's raw bytes in the packed file (as many as there are).
fn section_data<'d>(data: &'d [u8], s: &SectionHeader, warn: &mut impl FnMut(String)) -> &'d [u8] {
    let start = (s.raw_ptr as usize).min(data.len());
    let end = start.saturating_add(s.raw_size as usize);
    if end > data.len() {
        warn(format!("section {} is truncated", s.name));
    }
    &data[start..end.min(data.len())]
}

/// `rebuildImports`: UPX's compact list (per DLL: u32 name offset in UPX's import table, u32 IAT
/// offset, then entries 1+name+NUL, FF+u16 ordinal, FE+u32 thunk offset, and a 0) becomes an
/// import directory at the original RVA with the DLL names and hint/names at the names RVA.
#[allow(clippy::too_many_arguments)]
fn rebuild_imports(
    obuf: &mut [u8],
    rvamin: u32,
    oh: &[u8],
    ei: &mut usize,
    sect2: &[u8],
    s2_vaddr: u32,
    packed_import: u32,
    plus: bool,
) -> Option<()> {
    let (imp_rva, imp_size) = (le32(oh, ddir(plus, 1))?, le32(oh, ddir(plus, 1) + 4)?);
    if imp_rva == 0 || imp_size <= 20 {
        return Some(());
    }
    let idata = le32(obuf, *ei)? as usize;
    let names_rva = le32(obuf, *ei + 4)?;
    *ei += 8;
    let import = packed_import.checked_sub(s2_vaddr)? as usize;
    let dll_name = |obuf: &[u8], p: usize| -> Option<Vec<u8>> {
        let at = import.checked_add(le32(obuf, p)? as usize)?;
        Some(cstr(sect2, at)?.to_vec())
    };
    let thunk = if plus { 8 } else { 4 };
    let mut sdllnames = 0;
    let mut p = idata;
    let mut dlls = 0;
    while le32(obuf, p)? != 0 {
        dlls += 1;
        if dlls > MAX_DLLS {
            return None;
        }
        sdllnames += dll_name(obuf, p)?.len() + 1;
        p += 8;
        loop {
            match *obuf.get(p)? {
                0 => break,
                1 => p += cstr(obuf, p + 1)?.len() + 2,
                0xff => p += 3,
                _ => p += 5,
            }
        }
        p += 1;
    }
    let sdllnames = sdllnames.next_multiple_of(2);
    let mut im = imp_rva.checked_sub(rvamin)? as usize;
    let mut dllnames = names_rva.wrapping_sub(rvamin) as usize;
    let first_name = dllnames + sdllnames;
    let mut names = first_name;
    let mut p = idata;
    while le32(obuf, p)? != 0 {
        let dname = dll_name(obuf, p)?;
        let iat = le32(obuf, p + 4)?.wrapping_add(rvamin);
        if names_rva != 0 {
            put(obuf, dllnames, &[&dname[..], &[0]].concat())?;
            put(
                obuf,
                im + 12,
                &(dllnames as u32).wrapping_add(rvamin).to_le_bytes(),
            )?;
            dllnames += dname.len() + 1;
        } else {
            let at = le32(obuf, im + 12)?.checked_sub(rvamin)? as usize;
            put(obuf, at, &[&dname[..], &[0]].concat())?;
        }
        put(obuf, im + 16, &iat.to_le_bytes())?;
        let mut slot = iat.checked_sub(rvamin)? as usize;
        p += 8;
        loop {
            let value: u64 = match *obuf.get(p)? {
                0 => break,
                1 => {
                    let name = cstr(obuf, p + 1)?.to_vec();
                    p += name.len() + 2;
                    if names_rva != 0 {
                        // Hint/name entries are word aligned; the hint is never written.
                        if (names - first_name) & 1 == 1 {
                            names -= 1;
                        }
                        put(obuf, names + 2, &[&name[..], &[0]].concat())?;
                        let rva = (names as u32).wrapping_add(rvamin);
                        names += 2 + name.len() + 1;
                        u64::from(rva)
                    } else {
                        let at = le32(obuf, slot)?.checked_sub(rvamin)? as usize;
                        put(obuf, at + 2, &[&name[..], &[0]].concat())?;
                        if plus {
                            le64(obuf, slot)?
                        } else {
                            u64::from(le32(obuf, slot)?)
                        }
                    }
                }
                0xff => {
                    let ord = u64::from(le16(obuf, p + 1)?);
                    p += 3;
                    ord | if plus { 1 << 63 } else { 1 << 31 }
                }
                _ => {
                    let at = import.checked_add(le32(obuf, p + 1)? as usize)?;
                    p += 5;
                    if plus {
                        le64(sect2, at)?
                    } else {
                        u64::from(le32(sect2, at)?)
                    }
                }
            };
            put(obuf, slot, &value.to_le_bytes()[..thunk])?;
            slot += thunk;
        }
        put(obuf, slot, &[0; 8][..thunk])?;
        im += 20;
        p += 1;
    }
    Some(())
}

/// `rebuildRelocs`: delta-coded positions (values stored big-endian, minus the image base) become
/// a standard `.reloc` table. Returns its size, or None inside when there was nothing to do.
fn rebuild_relocs(
    obuf: &mut [u8],
    rvamin: u32,
    oh: &[u8],
    ei: &mut usize,
    flags: u16,
    imagebase: u64,
    plus: bool,
) -> Option<Option<u32>> {
    let (rva, size) = (le32(oh, ddir(plus, 5))?, le32(oh, ddir(plus, 5) + 4)?);
    if rva == 0 || size == 0 || flags & 1 != 0 {
        return Some(None);
    }
    let at = rva.checked_sub(rvamin)? as usize;
    if size == 8 {
        put(obuf, at, &[0, 0, 0, 0, 8, 0, 0, 0])?;
        return Some(None);
    }
    let mut fix = le32(obuf, *ei)? as usize;
    let kinds = *obuf.get(*ei + 4)?;
    *ei += 5;
    let width = if plus { 8 } else { 4 };
    let mut positions = Vec::new();
    let mut pc = 0u32.wrapping_sub(4);
    loop {
        let b = *obuf.get(fix)?;
        if b == 0 {
            fix += 1;
            break;
        }
        let delta = if b < 0xf0 {
            fix += 1;
            u32::from(b)
        } else {
            let mut d = u32::from(b & 0x0f) * 0x10000 + u32::from(le16(obuf, fix + 1)?);
            fix += 3;
            if d == 0 {
                d = le32(obuf, fix)?;
                fix += 4;
            }
            d
        };
        if (delta as i32) < 4 {
            return None; // overlapping fixups
        }
        pc = pc.wrapping_add(delta);
        let field = obuf.get_mut(pc as usize..(pc as usize).checked_add(width)?)?;
        field.reverse();
        positions.push(pc);
    }
    let mut table = RelocTable::default();
    if kinds & 6 != 0 {
        let mut q = fix;
        let kind = if kinds & 4 != 0 { 2 } else { 1 };
        while le32(obuf, q)? != 0 {
            table.add(le32(obuf, q)?.wrapping_add(rvamin), kind);
            q += 4;
        }
        if kinds & 6 == 6 {
            q += 4;
            while le32(obuf, q)? != 0 {
                table.add(le32(obuf, q)?.wrapping_add(rvamin), 1);
                q += 4;
            }
        }
    }
    let base = imagebase.wrapping_add(u64::from(rvamin));
    for &pos in &positions {
        let p = pos as usize;
        if plus {
            let v = le64(obuf, p)?.wrapping_add(base);
            put(obuf, p, &v.to_le_bytes())?;
        } else {
            let v = le32(obuf, p)?.wrapping_add(base as u32);
            put(obuf, p, &v.to_le_bytes())?;
        }
        table.add(rvamin.wrapping_add(pos), if plus { 10 } else { 3 });
    }
    let bytes = table.finish();
    put(obuf, at, &bytes)?;
    Some(Some(bytes.len() as u32))
}

/// UPX's `Reloc`: entries sorted by (position, kind), one block per 4 KiB page, each padded to 4
/// bytes with a zero entry.
#[derive(Default)]
struct RelocTable(Vec<u32>);

impl RelocTable {
    fn add(&mut self, pos: u32, kind: u32) {
        self.0.push((pos << 4) | kind);
    }

    fn finish(mut self) -> Vec<u8> {
        // A sentinel on its own page closes the last real block.
        self.0.push(0xf000_0000);
        self.0.sort_unstable();
        let mut out: Vec<u8> = Vec::new();
        let (mut block, mut w) = (0usize, 0usize);
        let mut prev = u32::MAX;
        let write = |out: &mut Vec<u8>, at: usize, v: &[u8]| {
            if out.len() < at + v.len() {
                out.resize(at + v.len(), 0);
            }
            out[at..at + v.len()].copy_from_slice(v);
        };
        for &e in &self.0 {
            if (e ^ prev) >= 0x10000 {
                prev = e;
                write(&mut out, w, &[0, 0]);
                let size = (w - block).next_multiple_of(4);
                write(&mut out, block + 4, &(size as u32).to_le_bytes());
                block += size;
                w = block + 8;
                write(&mut out, block, &((e >> 4) & !0xfff).to_le_bytes());
            }
            write(
                &mut out,
                w,
                &((((e << 12) & 0xf000) | ((e >> 4) & 0xfff)) as u16).to_le_bytes(),
            );
            w += 2;
        }
        out.truncate((w & !3) - 8);
        out
    }
}

/// `rebuildExports`: a DLL's export directory moved to UPX2 is rebuilt at its original RVA.
fn rebuild_exports(
    obuf: &mut [u8],
    rvamin: u32,
    oh: &[u8],
    sect2: &[u8],
    s2_vaddr: u32,
    packed: (u32, u32),
) -> Option<()> {
    let plus = le16(oh, 24)? == 0x20b;
    let (o_rva, o_size) = (le32(oh, ddir(plus, 0))?, le32(oh, ddir(plus, 0) + 4)?);
    let (i_rva, i_size) = packed;
    if o_size == 0 || o_rva == i_rva || i_size == 0 {
        return Some(());
    }
    let at = |rva: u32| rva.checked_sub(s2_vaddr).map(|o| o as usize);
    let edir = sect2.get(at(i_rva)?..at(i_rva)? + 40)?;
    let name = cstr(sect2, at(le32(edir, 12)?)?)?;
    let (nfunc, nnames) = (le32(edir, 20)? as usize, le32(edir, 24)? as usize);
    let funcs_at = at(le32(edir, 28)?)?;
    let mut funcs = sect2
        .get(funcs_at..funcs_at.checked_add(nfunc.checked_mul(4)?)?)?
        .to_vec();
    let ptrs = at(le32(edir, 32)?)?;
    let names = (0..nnames)
        .map(|i| cstr(sect2, at(le32(sect2, ptrs + 4 * i)?)?))
        .collect::<Option<Vec<_>>>()?;
    let ords_at = at(le32(edir, 36)?)?;
    let ordinals = sect2.get(ords_at..ords_at.checked_add(nnames.checked_mul(2)?)?)?;
    let mut forwarders = Vec::new();
    for i in 0..nfunc {
        let f = le32(&funcs, 4 * i)?;
        if f >= i_rva && f - i_rva < i_size {
            forwarders.push((i, cstr(sect2, at(f)?)?));
        }
    }
    let functionp = 40;
    let namep = functionp + 4 * nfunc;
    let ordinalp = namep + 4 * nnames;
    let enamep = ordinalp + 2 * nnames;
    let mut strings = enamep + name.len() + 1;
    let size = strings
        + names.iter().map(|n| n.len() + 1).sum::<usize>()
        + forwarders.iter().map(|f| f.1.len() + 1).sum::<usize>();
    let mut buf = vec![0u8; size.next_multiple_of(4)];
    let rva = |o: usize| (o as u32).wrapping_add(o_rva);
    let mut dir = edir.to_vec();
    put(&mut dir, 28, &rva(functionp).to_le_bytes())?;
    put(&mut dir, 36, &rva(ordinalp).to_le_bytes())?;
    put(&mut dir, 12, &rva(enamep).to_le_bytes())?;
    put(&mut dir, 32, &rva(namep).to_le_bytes())?;
    put(&mut buf, ordinalp, ordinals)?;
    put(&mut buf, enamep, name)?;
    for (i, n) in names.iter().enumerate() {
        put(&mut buf, strings, n)?;
        put(&mut buf, namep + 4 * i, &rva(strings).to_le_bytes())?;
        strings += n.len() + 1;
    }
    for (i, f) in &forwarders {
        put(&mut buf, strings, f)?;
        put(&mut funcs, 4 * i, &rva(strings).to_le_bytes())?;
        strings += f.len() + 1;
    }
    put(&mut buf, functionp, &funcs)?;
    put(&mut buf, 0, &dir)?;
    put(obuf, o_rva.checked_sub(rvamin)? as usize, &buf)
}

/// A resource directory (its 16-byte header) or a data entry (16 bytes), with UPX's new offset.
struct RNode {
    head: [u8; 16],
    children: Vec<(u32, Option<Vec<u8>>, RNode)>,
    leaf: bool,
}

/// Reads the resource tree at `off` (relative to the tree's root at `root` in `r`).
fn read_rtree(r: &[u8], root: usize, off: usize, level: u32, nodes: &mut usize) -> Option<RNode> {
    *nodes += 1;
    if *nodes > MAX_RESOURCE_NODES {
        return None;
    }
    let at = root.checked_add(off)?;
    let head: [u8; 16] = r.get(at..at + 16)?.try_into().ok()?;
    if level == 3 {
        return Some(RNode {
            head,
            children: Vec::new(),
            leaf: true,
        });
    }
    let n = usize::from(le16(&head, 12)?) + usize::from(le16(&head, 14)?);
    if n == 0 && level > 0 {
        return None;
    }
    let mut children = Vec::with_capacity(n.min(1024));
    for i in 0..n {
        let e = at + 16 + 8 * i;
        let (id, child) = (le32(r, e)?, le32(r, e + 4)?);
        // Directories point at directories down to level 2, then at data entries.
        if (child & 0x8000_0000 != 0) != (level < 2) {
            return None;
        }
        let name = if id & 0x8000_0000 != 0 {
            let p = root.checked_add((id & 0x7fff_ffff) as usize)?;
            let len = 2 + 2 * usize::from(le16(r, p)?);
            Some(r.get(p..p + len)?.to_vec())
        } else {
            None
        };
        let node = read_rtree(r, root, (child & 0x7fff_ffff) as usize, level + 1, nodes)?;
        children.push((id, name, node));
    }
    Some(RNode {
        head,
        children,
        leaf: false,
    })
}

/// Sizes UPX gives a tree: (directories and data entries, name strings).
fn rtree_sizes(n: &RNode) -> (usize, usize) {
    if n.leaf {
        return (16, 0);
    }
    n.children
        .iter()
        .fold((16 + 8 * n.children.len(), 0), |(d, s), (_, name, c)| {
            let (cd, cs) = rtree_sizes(c);
            (d + cd, s + cs + name.as_ref().map_or(0, Vec::len))
        })
}

/// `Resource::build`: directories depth first, names after them.
fn write_rtree(
    n: &RNode,
    buf: &mut [u8],
    bpos: &mut usize,
    spos: &mut usize,
    level: u32,
) -> Option<()> {
    if n.leaf {
        put(buf, *bpos, &n.head)?;
        *bpos += 16;
        return Some(());
    }
    let at = *bpos;
    put(buf, at, &n.head)?;
    *bpos += 16 + 8 * n.children.len();
    for (i, (id, name, child)) in n.children.iter().enumerate() {
        let mut tnl = *id;
        if let Some(name) = name {
            tnl = *spos as u32 | 0x8000_0000;
            put(buf, *spos, name)?;
            *spos += name.len();
        }
        let link = *bpos as u32 | if level < 2 { 0x8000_0000 } else { 0 };
        put(buf, at + 16 + 8 * i, &tnl.to_le_bytes())?;
        put(buf, at + 16 + 8 * i + 4, &link.to_le_bytes())?;
        write_rtree(child, buf, bpos, spos, level + 1)?;
    }
    Some(())
}

/// `rebuildResources`: resources UPX kept uncompressed (after its directory, each preceded by its
/// original RVA) go back to their place; the directory is rebuilt when UPX cleared the original.
#[allow(clippy::too_many_arguments)]
fn rebuild_resources(
    obuf: &mut [u8],
    rvamin: u32,
    oh: &[u8],
    ei: &mut usize,
    r: &[u8],
    r_vaddr: u32,
    packed: (u32, u32),
) -> Option<()> {
    let plus = le16(oh, 24)? == 0x20b;
    let (o_rva, o_size) = (le32(oh, ddir(plus, 2))?, le32(oh, ddir(plus, 2) + 4)?);
    if o_size == 0 || packed.1 == 0 {
        return Some(());
    }
    let mut icons = le16(obuf, *ei)?;
    *ei += 2;
    let vaddr = packed.0;
    let root = vaddr.checked_sub(r_vaddr)? as usize;
    let mut tree = read_rtree(r, root, 0, 0, &mut 0)?;
    // Data entries in depth-first order, with their type.
    let mut leaves: Vec<(&mut [u8; 16], u32)> = Vec::new();
    for (ty, _, name) in tree.children.iter_mut() {
        for (_, _, lang) in name.children.iter_mut() {
            for (_, _, leaf) in lang.children.iter_mut() {
                leaves.push((&mut leaf.head, *ty));
            }
        }
    }
    for (head, ty) in leaves {
        let (offs, size) = (le32(&head[..], 0)?, le32(&head[..], 4)?);
        if offs <= vaddr {
            continue;
        }
        let src = offs.checked_sub(r_vaddr)? as usize;
        let orig = le32(r, src.checked_sub(4)?)?;
        let len = align_up(u64::from(size), 4) as usize;
        let bytes = r.get(src..src.checked_add(len)?)?;
        let dst = orig.checked_sub(rvamin)? as usize;
        put(obuf, dst, bytes)?;
        put(&mut head[..], 0, &orig.to_le_bytes())?;
        if icons != 0 && ty == 14 {
            // RT_GROUP_ICON: UPX kept one icon in the first group; its count comes back.
            put(obuf, dst + 4, &icons.to_le_bytes())?;
            icons = 0;
        }
    }
    let (dsize, ssize) = rtree_sizes(&tree);
    let mut dir = vec![0u8; (dsize + ssize).next_multiple_of(4)];
    write_rtree(&tree, &mut dir, &mut 0, &mut dsize.clone(), 0)?;
    let at = o_rva.checked_sub(rvamin)? as usize;
    if le32(obuf, at + 12)? == 0 {
        put(obuf, at, &dir)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::super::{testing::run, Budget, Limit};
    use super::*;
    use crate::analysis::warning::Warning;
    use sha2::{Digest, Sha256};
    use std::path::PathBuf;

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    // A tiny greedy NRV encoder (all three codes, all three bit-buffer widths), so the decoders
    // are tested without the upx tool. Bits go most significant first into a word reserved in
    // the output when its first bit is written, as UCL's encoder does.
    struct BitOut {
        out: Vec<u8>,
        width: u32,
        slot: usize,
        used: u32,
    }

    impl BitOut {
        fn bit(&mut self, b: u32) {
            if self.used == self.width {
                self.slot = self.out.len();
                self.out.resize(self.slot + self.width as usize / 8, 0);
                self.used = 0;
            }
            let k = self.width - 1 - self.used;
            self.out[self.slot + k as usize / 8] |= (b as u8 & 1) << (k % 8);
            self.used += 1;
        }

        /// NRV2B gamma: the bits under the leading one, each followed by 1 on the last.
        fn gamma(&mut self, v: u32) {
            let top = 31 - v.leading_zeros();
            for i in (0..top).rev() {
                self.bit(v >> i & 1);
                self.bit(u32::from(i == 0));
            }
        }

        /// NRV2D/2E offset gamma: two bits per step.
        fn gamma2(&mut self, v: u32) {
            fn prefix(o: &mut BitOut, v: u32) {
                if v < 4 {
                    o.bit(v - 2);
                } else {
                    prefix(o, (v >> 2) + 1);
                    o.bit(0);
                    o.bit(v >> 1 & 1);
                    o.bit(v & 1);
                }
            }
            prefix(self, v);
            self.bit(1);
        }
    }

    fn encode(method: u8, data: &[u8]) -> Vec<u8> {
        let kind = (method - 2) / 3;
        let width = [32, 8, 16][usize::from((method - 2) % 3)];
        let mut o = BitOut {
            out: Vec::new(),
            width,
            slot: 0,
            used: width,
        };
        let far = if kind == 0 { 0xd00 } else { 0x500 };
        let offset = |o: &mut BitOut, t: u32| {
            if kind == 0 {
                o.gamma((t >> 8) + 3)
            } else {
                o.gamma2((t >> 8) + 3)
            }
            o.out.push(t as u8);
        };
        let mut seen: std::collections::HashMap<(u8, u8, u8), Vec<usize>> = Default::default();
        let mut i = 0;
        while i < data.len() {
            let (mut len, mut off) = (0, 0);
            // The last few earlier positions with the same next three bytes.
            let key = data.get(i..i + 3).map(|k| (k[0], k[1], k[2]));
            for &j in key
                .and_then(|k| seen.get(&k))
                .into_iter()
                .flatten()
                .rev()
                .take(16)
            {
                let l = (0..300)
                    .take_while(|&k| i + k < data.len() && data[i + k] == data[j + k])
                    .count();
                if l > len {
                    (len, off) = (l, i - j);
                }
            }
            if len < 3 + usize::from(off > far) {
                len = 1;
            }
            for k in i..(i + len).min(data.len().saturating_sub(2)) {
                seen.entry((data[k], data[k + 1], data[k + 2]))
                    .or_default()
                    .push(k);
            }
            if len == 1 {
                o.bit(1);
                o.out.push(data[i]);
                i += 1;
                continue;
            }
            o.bit(0);
            let t = off as u32 - 1;
            let ml = len as u32 - 1 - u32::from(off > far);
            match kind {
                0 => {
                    offset(&mut o, t);
                    if ml <= 3 {
                        o.bit(ml >> 1);
                        o.bit(ml & 1);
                    } else {
                        o.bit(0);
                        o.bit(0);
                        o.gamma(ml - 2);
                    }
                }
                1 => {
                    let lb = if ml <= 3 { ml >> 1 } else { 0 };
                    offset(&mut o, t << 1 | (1 - lb));
                    if ml <= 3 {
                        o.bit(ml & 1);
                    } else {
                        o.bit(0);
                        o.gamma(ml - 2);
                    }
                }
                _ => {
                    offset(&mut o, t << 1 | u32::from(ml > 2));
                    match ml {
                        1 | 2 => o.bit(ml - 1),
                        3 | 4 => {
                            o.bit(1);
                            o.bit(ml - 3);
                        }
                        _ => {
                            o.bit(0);
                            o.gamma(ml - 3);
                        }
                    }
                }
            }
            i += len;
        }
        o.bit(0);
        offset(&mut o, 0x00ff_ffff << 8 | 0xff);
        o.out
    }

    /// Test data with short and far repeats and some noise.
    fn sample_data(n: usize) -> Vec<u8> {
        let mut x = 0x2545_f491u32;
        let mut v: Vec<u8> = Vec::with_capacity(n);
        while v.len() < n {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 4 {
                0 if v.len() > 5000 => v.extend_from_within(v.len() - 4000..v.len() - 4000 + 40),
                1 if v.len() > 10 => v.extend_from_within(v.len() - 7..v.len() - 2),
                2 => v.extend_from_slice(&[0; 9]),
                _ => v.extend_from_slice(&x.to_le_bytes()[..2]),
            }
        }
        v.truncate(n);
        v
    }

    fn decode(method: u8, src: &[u8], u_len: usize) -> Result<Vec<u8>, String> {
        decompress(&mut Members::new(Budget::unlimited()), method, src, u_len).map_err(|b| b.why)
    }

    #[test]
    fn nrv_decoders_round_trip_every_code_and_width() {
        let data = sample_data(9000);
        for method in 2..=10 {
            let packed = encode(method, &data);
            assert!(
                packed.len() < data.len() * 3 / 4,
                "method {method} did not compress"
            );
            assert_eq!(
                decode(method, &packed, data.len()).as_deref(),
                Ok(&data[..]),
                "method {method}"
            );
            // Lying sizes and truncation are errors, never panics.
            assert!(decode(method, &packed, data.len() - 1).is_err());
            assert!(decode(method, &packed, data.len() + 1).is_err());
            assert!(decode(method, &packed[..packed.len() / 2], data.len()).is_err());
        }
    }

    #[test]
    fn lzma_rejects_a_bad_properties_header() {
        assert!(decode(14, &[0xff, 0xff, 0, 0, 0], 10)
            .unwrap_err()
            .contains("lzma properties"));
        assert!(decode(14, &[0x18], 10).is_err());
        assert!(decode(11, &[0; 8], 10).unwrap_err().contains("method 11"));
    }

    /// The forward transforms of the filters, as UPX applies them.
    fn filter(buf: &mut [u8], id: u8, cto: u8, addvalue: u32) {
        let size = buf.len() as u32;
        match id {
            0 => {}
            0x11..=0x19 => {
                let v = id - 0x11;
                let mut i = 0;
                while i < buf.len() - 5 {
                    let b = buf[i];
                    if [b == 0xe8, b == 0xe9, b == 0xe8 || b == 0xe9][usize::from(v % 3)] {
                        let a = i as u32 + 1;
                        let op: [u8; 4] = buf[i + 1..i + 5].try_into().unwrap();
                        let x = if v / 3 == 2 {
                            u32::from_be_bytes(op)
                        } else {
                            u32::from_le_bytes(op)
                        };
                        let y = x.wrapping_add(a).wrapping_add(addvalue);
                        let y = if v / 3 == 1 {
                            y.to_be_bytes()
                        } else {
                            y.to_le_bytes()
                        };
                        buf[i + 1..i + 5].copy_from_slice(&y);
                        i += 4;
                    }
                    i += 1;
                }
            }
            0x50 | 0x52 => {
                let mask = if id == 0x52 { 0x03ff_ffff } else { 0x00ff_ffff };
                for i in (0..buf.len() - 4).step_by(4) {
                    let w = u32::from_le_bytes(buf[i..i + 4].try_into().unwrap());
                    let call = if id == 0x52 {
                        buf[i + 3] & 0x7c == 0x14
                    } else {
                        buf[i + 3] & 0x0f == 0x0b
                    };
                    if call {
                        let v = w.wrapping_add(i as u32 / 4).wrapping_add(addvalue) & mask;
                        buf[i..i + 4].copy_from_slice(&((w & !mask) | v).to_le_bytes());
                    }
                }
            }
            _ => {
                let (mut i, mut lastcall) = (0, 0);
                while i < buf.len() - 5 {
                    let b = buf[i];
                    let hit = b == 0xe8
                        || b == 0xe9
                        || (id == 0x49
                            && lastcall != i
                            && buf[i - 1] == 0x0f
                            && (0x80..=0x8f).contains(&b));
                    let jc = u32::from_le_bytes(buf[i + 1..i + 5].try_into().unwrap())
                        .wrapping_add(i as u32 + 1);
                    if hit && jc < size {
                        let v = jc + addvalue + (u32::from(cto) << 24);
                        buf[i + 1..i + 5].copy_from_slice(&v.to_be_bytes());
                        i += 4;
                        lastcall = i + 1;
                    }
                    i += 1;
                }
            }
        }
    }

    /// Code-like bytes: no stray E8/E9/0F, calls and jumps (some out of range), Jcc.
    fn code(n: usize) -> Vec<u8> {
        let mut v = vec![0x90, 0x55];
        let mut k = 7u32;
        while v.len() < n {
            k = k.wrapping_mul(1_103_515_245).wrapping_add(12345);
            match k % 5 {
                0 => v.push(0xe8),
                1 => v.push(0xe9),
                2 => v.extend_from_slice(&[0x0f, 0x84]),
                _ => {
                    v.extend((0..k % 9).map(|j| (j * 37 % 0xe0) as u8 + 1));
                    continue;
                }
            }
            // In range (relative to the opcode) or far out; never bytes that would read as
            // an opcode or as the cto mark 0x7f (UPX picks a mark no stray operand has).
            let opcode = v.len() as u32 - 1;
            let rel = (0..)
                .map(|t: u32| match k >> 28 {
                    0..=9 => ((k >> 8).wrapping_add(t) % (n as u32 - 8)).wrapping_sub(opcode + 1),
                    _ => 0x0100_0000 | (k >> 20 & 0x7e).wrapping_add(2 * t),
                })
                .find(|r| {
                    r.to_le_bytes()
                        .iter()
                        .all(|b| ![0x0f, 0x7f, 0xe8, 0xe9].contains(b))
                })
                .unwrap();
            v.extend_from_slice(&rel.to_le_bytes());
        }
        v.truncate(n);
        v
    }

    #[test]
    fn filters_round_trip() {
        let original = code(4000);
        for (id, addvalue) in [
            (0x11, 0),
            (0x13, 0x1000),
            (0x14, 0),
            (0x16, 4),
            (0x17, 0),
            (0x19, 0x400),
            (0x26, 0x1000),
            (0x36, 0),
            (0x46, 0),
            (0x49, 0x2000),
            (0x50, 0),
            (0x52, 0x10),
        ] {
            let mut buf = original.clone();
            filter(&mut buf, id, 0x7f, addvalue);
            assert_ne!(buf, original, "filter {id:#x} changed nothing");
            assert!(unfilter(&mut buf, id, 0x7f, addvalue));
            assert!(buf == original, "filter {id:#x}");
        }
        let mut buf = original.clone();
        assert!(!unfilter(&mut buf, 0x80, 0, 0));
        assert_eq!(buf, original);
        // Tiny buffers are left alone.
        for id in [0x01, 0x11, 0x26, 0x49, 0x52] {
            let mut tiny = [0xe8, 1, 2];
            assert!(unfilter(&mut tiny, id, 1, 0));
        }
    }

    fn checksummed(mut h: [u8; 32]) -> [u8; 32] {
        h[31] = (h[4..31].iter().map(|&b| u32::from(b)).sum::<u32>() % 251) as u8;
        h
    }

    fn pack_header(
        format: u8,
        method: u8,
        ulen: usize,
        clen: usize,
        uad: u32,
        cad: u32,
        filter: u8,
    ) -> [u8; 32] {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&[b'U', b'P', b'X', b'!', 13, format, method, 8]);
        for (at, v) in [
            (8, uad),
            (12, cad),
            (16, ulen as u32),
            (20, clen as u32),
            (24, ulen as u32),
        ] {
            h[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        h[28] = filter;
        h[29] = 0x7f;
        checksummed(h)
    }

    /// Compressed with `method` (stored when that does not shrink it): (b_info method, bytes).
    fn squeeze(method: u8, data: &[u8]) -> (u8, Vec<u8>) {
        let c = encode(method, data);
        if c.len() < data.len() {
            (method, c)
        } else {
            (0, data.to_vec())
        }
    }

    /// An ELF64 executable with two PT_LOADs and gaps before, between and after them, and its
    /// UPX-packed form (method `method`; the second PT_LOAD filtered with `ftid`).
    fn elf(method: u8, ftid: u8) -> (Vec<u8>, Vec<u8>) {
        let mut orig = sample_data(0x1400);
        orig[..0x40].fill(0);
        orig[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
        for (at, v) in [
            (16, 2u64),
            (18, 62),
            (20, 1),
            (32, 64),
            (52, 64),
            (54, 56),
            (56, 2),
        ] {
            orig[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes());
        }
        for (i, (off, size)) in [(0u64, 0x400u64), (0x1000, 0x300)].into_iter().enumerate() {
            let p = 64 + 56 * i;
            orig[p..p + 56].fill(0);
            orig[p] = 1; // PT_LOAD
            orig[p + 4] = 5;
            for (at, v) in [(8, off), (16, off), (32, size), (40, size)] {
                orig[p + at..p + at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        orig[0x1000..0x1300].copy_from_slice(&code(0x300));
        let mut code_block = orig[0x1000..0x1300].to_vec();
        filter(&mut code_block, ftid, 0x7f, 0);
        let pieces: Vec<(Vec<u8>, u8)> = vec![
            (orig[..176].to_vec(), 0),
            (orig[176..0x400].to_vec(), 0),
            (code_block, ftid),
        ];
        let gaps = [&orig[0x400..0x1000], &orig[0x1300..]];
        let mut p = vec![0u8; 120];
        p[..64].copy_from_slice(&orig[..64]);
        p[56] = 1;
        p[64] = 1;
        let (mut cad, mut uad) = (1, 1);
        let mut block = |p: &mut Vec<u8>, data: &[u8], ftid: u8, unfiltered: &[u8]| {
            let (m, c) = squeeze(method, data);
            let ftid = if m == 0 { 0 } else { ftid };
            p.extend_from_slice(&(data.len() as u32).to_le_bytes());
            p.extend_from_slice(&(c.len() as u32).to_le_bytes());
            p.extend_from_slice(&[m, ftid, if ftid == 0 { 0 } else { 0x7f }, 0]);
            cad = adler32(cad, &c);
            uad = adler32(uad, if m == 0 { data } else { unfiltered });
            p.extend_from_slice(&c);
        };
        p.extend_from_slice(&[0, 0, 0, 0, b'U', b'P', b'X', b'!', 0, 0, 14, 22]);
        let overlay = p.len();
        for v in [0u32, 0x1400, 0x1000] {
            p.extend_from_slice(&v.to_le_bytes());
        }
        for (data, f) in &pieces {
            let plain = if *f == 0 {
                &data[..]
            } else {
                &orig[0x1000..0x1300]
            };
            block(&mut p, data, *f, plain);
        }
        // The "loader", where the entry point is; the packed PT_LOAD ends with it.
        let entry = p.len() as u64;
        p.extend_from_slice(&[0xcc; 13]);
        let end = p.len() as u64;
        p.resize(p.len().next_multiple_of(4), 0);
        for g in gaps {
            block(&mut p, g, 0, g);
        }
        p.extend_from_slice(&[0, 0, 0, 0, b'U', b'P', b'X', b'!', 0, 0, 0, 0]);
        p[24..32].copy_from_slice(&(0x10_0000 + entry).to_le_bytes());
        for (at, v) in [(16, 0x10_0000u64), (32, end), (40, end)] {
            p[64 + at..64 + at + 8].copy_from_slice(&v.to_le_bytes());
        }
        p.extend_from_slice(&pack_header(22, method, 0x1400, p.len(), uad, cad, 0));
        p.extend_from_slice(&(overlay as u32).to_le_bytes());
        (orig, p)
    }

    #[test]
    fn elf_round_trip_with_every_method() {
        for method in 2..=10 {
            let (orig, packed) = elf(method, 0x49);
            assert!(detect(&packed));
            let out = run(unpack, &packed);
            assert_eq!(out.warnings, Vec::<Warning>::new(), "method {method}");
            assert_eq!(out.members.len(), 1);
            assert_eq!(out.members[0].name, "unpacked");
            assert!(out.members[0].data[..] == orig[..], "method {method}");
        }
    }

    #[test]
    fn elf_with_an_unknown_filter_is_kept_filtered() {
        let (orig, packed) = elf(2, 0x80);
        let out = run(unpack, &packed);
        assert!(
            out.warnings.iter().any(|w| w.text.contains("filter 0x80")),
            "{:?}",
            out.warnings
        );
        assert_eq!(out.members[0].data.len(), orig.len());
    }

    #[test]
    fn elf_truncated_or_corrupt() {
        let (orig, packed) = elf(8, 0);
        // Cut in the middle: the pack header at the end is gone.
        let out = run(unpack, &packed[..packed.len() / 2]);
        assert!(out.members.is_empty() && !out.warnings.is_empty());
        // A block cut short, the tail kept: what came before is restored.
        let mut cut = packed[..300].to_vec();
        cut.extend_from_slice(&packed[packed.len() - 36..]);
        let out = run(unpack, &cut);
        assert!(
            out.warnings.iter().any(|w| w.text.contains("truncated")),
            "{:?}",
            out.warnings
        );
        assert!(out.members[0].data[..120] == orig[..120]);
        // Flipped bits in a compressed block.
        let mut bad = packed.clone();
        for b in &mut bad[400..420] {
            *b ^= 0x5a;
        }
        let out = run(unpack, &bad);
        assert!(!out.warnings.is_empty());
        assert!(out.members.len() <= 1);
        // Empty input and garbage.
        assert!(run(unpack, b"").members.is_empty());
        assert!(run(unpack, b"\x7fELF\x02\x01garbage").members.is_empty());
    }

    /// Rewrites the pack header of a packed file (at 36 bytes from its end for ELF).
    fn edit_header(packed: &mut [u8], at: usize, edit: impl Fn(&mut [u8; 32])) {
        let mut h: [u8; 32] = packed[at..at + 32].try_into().unwrap();
        edit(&mut h);
        packed[at..at + 32].copy_from_slice(&checksummed(h));
    }

    #[test]
    fn elf_with_lying_sizes_or_edited_headers() {
        let (orig, packed) = elf(2, 0);
        let ph = packed.len() - 36;
        // A wiped magic is found again by the header's checksum.
        let mut p = packed.clone();
        p[ph..ph + 4].fill(0);
        let out = run(unpack, &p);
        assert!(out.warnings.iter().any(|w| w.text.contains("magic")));
        assert!(out.members[0].data[..] == orig[..]);
        // Garbage over the whole header: nothing.
        let mut p = packed.clone();
        p[ph..ph + 32].fill(0x41);
        let out = run(unpack, &p);
        assert!(out.members.is_empty() && out.warnings[0].text.contains("no UPX pack header"));
        // An unknown method is named.
        let mut p = packed.clone();
        edit_header(&mut p, ph, |h| h[6] = 12);
        let out = run(unpack, &p);
        assert!(
            out.members.is_empty() && out.warnings.iter().any(|w| w.text.contains("method 12"))
        );
        // A size smaller than the data: what fits, and a warning.
        let mut p = packed.clone();
        let overlay = 132;
        p[overlay + 4..overlay + 8].copy_from_slice(&0x1000u32.to_le_bytes());
        edit_header(&mut p, ph, |h| {
            h[24..28].copy_from_slice(&0x1000u32.to_le_bytes())
        });
        let out = run(unpack, &p);
        assert!(
            out.warnings
                .iter()
                .any(|w| w.text.contains("past the declared file size")),
            "{:?}",
            out.warnings
        );
        // A huge declared size is refused before anything is decoded.
        let mut p = packed.clone();
        p[overlay + 4..overlay + 8].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        let mut out = Members::new(Budget {
            max_ratio: 100,
            ..Budget::unlimited()
        });
        unpack(&p, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Ratio);
        // A member over the byte budget is skipped with a limit.
        let mut out = Members::new(Budget {
            max_output: 1000,
            ..Budget::unlimited()
        });
        unpack(&packed, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    /// A PE32 executable with one code section, packed: UPX0, UPX1 (pack header and compressed
    /// image) and UPX2, as UPX lays them out. Returns (original section bytes, packed file).
    fn pe(method: u8, filter_id: u8, names: [&[u8; 8]; 3]) -> (Vec<u8>, Vec<u8>) {
        let text = code(0x200);
        let mut oh = vec![0u8; 248];
        oh[..4].copy_from_slice(b"PE\0\0");
        for (at, v) in [(4, 0x14cu32), (6, 1), (20, 0xe0), (22, 0x102), (24, 0x10b)] {
            oh[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes());
        }
        for (at, v) in [
            (28, 0x200u32),
            (40, 0x1000),
            (44, 0x1000),
            (52, 0x40_0000),
            (56, 0x1000),
            (60, 0x200),
            (80, 0x2000),
            (84, 0x400),
            (88, 0x1234),
            (116, 16),
        ] {
            oh[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        let mut sect = [0u8; 40];
        sect[..5].copy_from_slice(b".text");
        for (at, v) in [
            (8, 0x200u32),
            (12, 0x1000),
            (16, 0x200),
            (20, 0x400),
            (36, 0x6000_0020),
        ] {
            sect[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        let mut image = vec![0u8; 0x1000];
        image[..0x200].copy_from_slice(&text);
        filter(&mut image[..0x200], filter_id, 0x7f, 0);
        image.extend_from_slice(&oh);
        image.extend_from_slice(&sect);
        image.extend_from_slice(&0x1000u32.to_le_bytes());
        let compressed = encode(method, &image);
        let mut p = vec![0u8; 0x400];
        p[..2].copy_from_slice(b"MZ");
        p[0x3c] = 0x40;
        p[0x40..0x40 + 248].copy_from_slice(&oh);
        p[0x46] = 3;
        p[0x40 + 88..0x40 + 92].fill(0);
        let upx1_size = (32 + compressed.len()).next_multiple_of(0x200) as u32;
        for (i, (vaddr, size, raw)) in [
            (0x1000u32, 0, 0),
            (0x2000, upx1_size, 0x400),
            (
                0x2000 + upx1_size.next_multiple_of(0x1000),
                0x200,
                0x400 + upx1_size,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let s = 0x40 + 248 + 40 * i;
            p[s..s + 8].copy_from_slice(names[i]);
            for (at, v) in [(8, size.max(0x1000)), (12, vaddr), (16, size), (20, raw)] {
                p[s + at..s + at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        let h = pack_header(
            9,
            method,
            image.len(),
            compressed.len(),
            adler32(1, &image),
            adler32(1, &compressed),
            filter_id,
        );
        p.extend_from_slice(&h);
        p.extend_from_slice(&compressed);
        p.resize(0x400 + upx1_size as usize + 0x200, 0);
        (text, p)
    }

    #[test]
    fn pe_round_trip_restores_headers_and_sections() {
        let upx = [b"UPX0\0\0\0\0", b"UPX1\0\0\0\0", b"UPX2\0\0\0\0"];
        for (method, filter_id) in [
            (2, 0),
            (5, 0),
            (2, 0x26),
            (5, 0x26),
            (8, 0x11),
            (9, 0x49),
            (4, 0x16),
        ] {
            let (text, packed) = pe(method, filter_id, upx);
            assert!(detect(&packed));
            let out = run(unpack, &packed);
            assert_eq!(out.warnings, Vec::<Warning>::new());
            let file = &out.members[0].data;
            assert_eq!(out.members[0].name, "unpacked.exe");
            assert_eq!(file.len(), 0x600);
            assert!(
                file[0x400..] == text[..],
                "method {method} filter {filter_id:#x} {:?}",
                (0..0x200)
                    .filter(|&i| file[0x400 + i] != text[i])
                    .collect::<Vec<_>>()
            );
            assert_eq!(&file[0x40..0x44], b"PE\0\0");
            assert_eq!(le32(file, 0x40 + 84), Some(0x200)); // SizeOfHeaders, as upx -d sets it
            assert_eq!(le32(file, 0x40 + 88), Some(0)); // checksum cleared
            assert_eq!(&file[0x40 + 248..0x40 + 253], b".text");
        }
    }

    #[test]
    fn pe_without_a_pack_header_or_broken() {
        let upx = [b"UPX0\0\0\0\0", b"UPX1\0\0\0\0", b"UPX2\0\0\0\0"];
        let (text, packed) = pe(2, 0, upx);
        // Sections renamed and magic wiped: still found by the header checksum.
        let mut p = packed.clone();
        p[0x40 + 248..0x40 + 252].copy_from_slice(b"CODE");
        p[0x400..0x404].fill(0);
        let out = run(unpack, &p);
        assert!(
            out.members[0].data[0x400..] == text[..],
            "{:?}",
            out.warnings
        );
        // UPX section names, no header.
        let mut p = packed.clone();
        p[0x400..0x420].fill(0);
        let out = run(unpack, &p);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("named like UPX's"));
        // Truncated in the compressed data: the partial image, flagged.
        let out = run(unpack, &packed[..0x500]);
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));
        assert!(out.members.iter().all(|m| m.name == "unpacked.bin"));
        // A lying unpacked size: too small is an overrun, too large ends early; neither panics.
        for len in [0x100u32, 0x10_0000] {
            let mut p = packed.clone();
            edit_header(&mut p, 0x400, |h| {
                h[16..20].copy_from_slice(&len.to_le_bytes())
            });
            let out = run(unpack, &p);
            assert!(!out.warnings.is_empty());
        }
        // Corrupt compressed bytes.
        let mut p = packed.clone();
        p[0x430..0x440].fill(0xff);
        assert!(!run(unpack, &p).warnings.is_empty());
        // Not UPX at all.
        let mut p = packed;
        p[0x400..0x420].fill(0);
        for i in 0..3 {
            p[0x40 + 248 + 40 * i..0x40 + 252 + 40 * i].copy_from_slice(b"CODE");
        }
        assert!(!detect(&p));
        assert!(run(unpack, &p).warnings[0]
            .text
            .contains("no UPX pack header"));
    }

    fn sha256_hex(data: &[u8]) -> String {
        Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
    /// The samples `scripts/make-upx-fixtures.sh` writes to tests/data/upx, with
    /// EXPECTED: "<file> <sha256 of the restored file>" (the original for ELF, `upx -d`'s
    /// output for PE) and the PE originals. They are committed, so they are always there.
    fn samples() -> (PathBuf, Vec<(String, String)>) {
        let dir: PathBuf = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/upx").into();
        let list = std::fs::read_to_string(dir.join("EXPECTED")).expect("tests/data/upx/EXPECTED");
        let list = list
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((f.next()?.to_string(), f.next()?.to_string()))
            })
            .collect();
        (dir, list)
    }

    /// (DLL, function) pairs as goblin reads them.
    fn imports(file: &[u8]) -> Vec<(String, String)> {
        let pe = goblin::pe::PE::parse(file).expect("the restored PE parses");
        let mut v: Vec<_> = pe
            .imports
            .iter()
            .map(|i| (i.dll.to_lowercase(), i.name.to_string()))
            .collect();
        v.sort();
        v
    }

    /// The bytes of resource RCDATA/100, found by the PE reader's resource walk.
    fn rcdata_100(file: &[u8]) -> Option<Vec<u8>> {
        let img = Image::parse(file, &mut Vec::new()).ok()?;
        let found = crate::analysis::formats::pe::resources(&img, |_| true, &mut Vec::new());
        let r = found.iter().find(|r| r.type_id == 10 && r.name == "100")?;
        Some(r.bytes?.to_vec())
    }

    #[test]
    fn real_samples_restore_exactly() {
        let (dir, list) = samples();
        assert!(list.len() >= 40, "EXPECTED lists {} samples", list.len());
        for (name, want) in list {
            let data = std::fs::read(dir.join(&name)).unwrap();
            assert!(detect(&data), "{name}");
            let out = run(unpack, &data);
            assert_eq!(out.warnings, Vec::<Warning>::new(), "{name}");
            let restored = &out.members[0].data;
            assert_eq!(sha256_hex(restored), want, "{name}");
            let ext = name
                .rsplit('.')
                .next()
                .filter(|e| ["exe", "dll"].contains(e));
            let want_name = ext.map_or("unpacked".to_string(), |e| format!("unpacked.{e}"));
            assert_eq!(out.members[0].name, want_name);
            if let (Some(ext), true) = (ext, name.starts_with("pe")) {
                let original = std::fs::read(dir.join(format!("{}.{ext}", &name[..4]))).unwrap();
                assert_eq!(imports(restored), imports(&original), "{name}");
                assert!(imports(restored).len() > 10);
                assert_eq!(rcdata_100(restored).as_deref(), Some(EICAR), "{name}");
            }
        }
    }

    /// Bit flips, cut files and overwritten words in real samples: never a panic, a hang or more
    /// than one member.
    #[test]
    fn mutated_samples_are_survived() {
        let (dir, list) = samples();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as usize
        };
        for (name, _) in list.iter().step_by(3) {
            let original = std::fs::read(dir.join(name)).unwrap();
            for _ in 0..40 {
                let mut data = original.clone();
                match next() % 3 {
                    0 => data.truncate(next() % data.len()),
                    1 => (0..1 + next() % 8).for_each(|_| {
                        let at = next() % data.len();
                        data[at] ^= 1 << (next() % 8);
                    }),
                    _ => {
                        let at = next() % (data.len() - 4);
                        data[at..at + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
                    }
                }
                let mut out = Members::new(Budget {
                    max_output: 64 << 20,
                    max_ratio: 100,
                    ..Budget::unlimited()
                });
                unpack(&data, &mut out);
                assert!(out.members.len() <= 1);
            }
        }
    }
}
