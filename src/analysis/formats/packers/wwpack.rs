//! WWPack32-packed PE32 files: decompresses the sections WWPack32 packed, in place in the
//! virtual image, and finds the original entry point, as the packer's stub does at run time.
//!
//! Written from ClamAV's libclamav/wwunpack.c and the WWPack part of libclamav/pe.c (GPL; read
//! for the format, no code taken), checked against the stub's own code in clamav-testfiles'
//! clam-wwpack.exe (its banner: "WWPack32 decompression routine version 1.12").
//!
//! Layout: WWPack32 appends one section (`.WWP32`), the last, holding the stub; the entry point
//! is its first byte. The original sections keep their headers; only some of them are packed,
//! each in place (in the sample only `.clam`; `.text`, `.rdata` with the imports and `.rsrc` are
//! left as they were, so the header's data directories stay right).
//! At fixed offsets in the stub:
//! - 0x294: `jmp rel32` to the original entry point (rel32 at 0x295, relative to 0x299);
//! - 0x299, 0x29d: the preferred image base and the stub's preferred address (relocation);
//! - 0x2a1: 17-byte block records: the packed area's distance below the stub, where the stub
//!   moves the compressed data (an offset from the area), the compressed size in dwords, the
//!   offset of its last dword, and a byte that is non-zero when another record follows;
//! - after the records: the stub's own relocation list, applied only when the image is not
//!   loaded at its preferred base (so a static restore at that base leaves it alone).
//!
//! Each block is an LZ77 stream of 32-bit little-endian bit buffers read from the top bit down,
//! refilled as soon as they empty, with literal bytes interleaved in the same byte stream.
//!
//! Handled: the one stub layout ClamAV recognises (entry bytes `53 55 8B E8 33 DB EB` and the
//! `call $+5 / pop eax / sub eax, 0x6d` sequence at +0x68), which ClamAV's users list as
//! WWPack32 1.20 and whose decompression routine calls itself version 1.12; any number of
//! packed blocks. The stub's own relocation list is not applied: it only matters when the image
//! loads away from its preferred base. Not handled: other stub layouts (rejected by
//! [`detect`]), WWPack for DOS.

use super::image::{OutSection, Packed, Restored, Section};
use crate::analysis::bytes::le32;

/// The stub's first bytes: `push ebx; push ebp; mov ebp, eax; xor ebx, ebx; jmp short`.
const STUB_HEAD: &[u8] = &[0x53, 0x55, 0x8b, 0xe8, 0x33, 0xdb, 0xeb];
/// Where the stub's position-finding code starts, past its banner.
const STUB_CALL_AT: usize = 0x68;
/// `call $+5; pop eax; sub eax, 0x6d; push eax; pushad; xor ecx, ecx; push eax; pop eax;
/// push eax; push eax`.
const STUB_CALL: &[u8] = &[
    0xe8, 0x00, 0x00, 0x00, 0x00, 0x58, 0x2d, 0x6d, 0x00, 0x00, 0x00, 0x50, 0x60, 0x33, 0xc9, 0x50,
    0x58, 0x50, 0x50,
];
/// Offset in the stub of its final `jmp rel32` to the original entry point.
const OEP_JUMP_AT: usize = 0x294;
/// Offset of the first block record.
const BLOCKS_AT: usize = 0x2a1;
/// Size of one block record.
const BLOCK_LEN: usize = 17;
/// The back-reference distance that ends a block's stream.
const END_MARKER: u32 = 0x1ff;

/// Is this file packed with WWPack32 (and of a variant this module restores)? Its last section
/// (of more than one) is the entry point and starts with the stub ClamAV recognises.
pub fn detect(p: &Packed) -> bool {
    stub(p).is_some()
}

/// The stub section's header and raw bytes, when the entry point is a WWPack32 stub.
fn stub<'a>(p: &'a Packed) -> Option<(&'a Section, &'a [u8])> {
    let (last, rest) = p.sections.split_last()?;
    if rest.is_empty() || p.entry != last.rva {
        return None;
    }
    // Raw offsets are rounded down to 512 as the loader (and `Packed::map`) does.
    let off = (last.raw_off & !0x1ff) as usize;
    let end = off.saturating_add(last.raw_size as usize).min(p.data.len());
    let bytes = p.data.get(off..end)?;
    let call_end = STUB_CALL_AT + STUB_CALL.len();
    let found =
        bytes.starts_with(STUB_HEAD) && bytes.get(STUB_CALL_AT..call_end) == Some(STUB_CALL);
    found.then_some((last, bytes))
}

/// Rounds `v` up to a multiple of `align` (0 leaves it alone); None on overflow.
fn align_up(v: u32, align: u32) -> Option<u32> {
    if align == 0 {
        return Some(v);
    }
    v.div_ceil(align).checked_mul(align)
}

/// One block record of the stub: a packed area and where its compressed data lies.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// RVA of the area, where decompressed output starts.
    area: u32,
    /// Offset from `area` of the last dword of the stub's working copy of the compressed data.
    moved_last: u32,
    /// Compressed size in bytes (a whole number of dwords).
    packed_len: u32,
    /// Offset from `area` of the last dword of the compressed data as stored.
    stored_last: u32,
}

impl Block {
    /// RVA of the compressed data as stored (it ends with the dword at `stored_last`).
    fn stored_at(&self) -> Option<u32> {
        self.area
            .checked_add(self.stored_last)?
            .checked_add(4)?
            .checked_sub(self.packed_len)
    }

    /// End RVA of the stub's working copy, up to which it zeroes after decompressing.
    fn moved_end(&self) -> Option<u32> {
        self.area.checked_add(self.moved_last)?.checked_add(4)
    }
}

/// Most block records read: one per section at most.
const MAX_BLOCKS: usize = crate::analysis::formats::pe::MAX_SECTIONS;

/// Reads the stub's block records, stopping after the one whose "more" byte is zero.
fn blocks(stub: &[u8], stub_rva: u32) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut at = BLOCKS_AT;
    // Each record takes 17 bytes of the stub, and a stub packs one block per section: at most
    // as many records as a PE has sections, which also bounds the zero fills after each block.
    loop {
        if out.len() >= MAX_BLOCKS {
            return Err(format!(
                "wwpack: the stub lists more than {MAX_BLOCKS} packed blocks, more than a PE has \
                 sections"
            ));
        }
        let rec = at
            .checked_add(BLOCK_LEN)
            .and_then(|end| stub.get(at..end))
            .ok_or_else(|| {
                format!(
                    "wwpack: block record {} at stub offset {at:#x} runs past the stub section",
                    out.len() + 1
                )
            })?;
        let field = |k: usize| le32(rec, k).unwrap_or(0);
        let packed_len = field(8).checked_mul(4).filter(|&n| n != 0).ok_or_else(|| {
            format!(
                "wwpack: block record {} gives an impossible compressed size",
                out.len() + 1
            )
        })?;
        out.push(Block {
            area: stub_rva.wrapping_sub(field(0)),
            moved_last: field(4),
            packed_len,
            stored_last: field(12),
        });
        if rec.get(16).copied().unwrap_or(0) == 0 {
            return Ok(out);
        }
        at += BLOCK_LEN;
    }
}

/// The compressed stream of one block: 32-bit bit buffers and literal bytes in one byte stream.
struct BitStream<'a> {
    data: &'a [u8],
    /// Next unread byte of `data`.
    pos: usize,
    /// The current bit buffer, its next bit at the top.
    buf: u32,
    /// Bits left in `buf`; 0 only when the stream ran out while refilling.
    left: u32,
}

impl<'a> BitStream<'a> {
    /// Starts the stream: its first dword is the first bit buffer.
    fn new(data: &'a [u8]) -> Self {
        let mut s = BitStream {
            data,
            pos: 0,
            buf: 0,
            left: 0,
        };
        s.refill();
        s
    }

    /// Loads the next dword as the bit buffer, if there is one.
    fn refill(&mut self) {
        if let Some(v) = le32(self.data, self.pos) {
            self.buf = v;
            self.left = 32;
            self.pos += 4;
        }
    }

    /// The next bit. The buffer is refilled as soon as it empties, before any literal byte
    /// that follows, as the stub does: that order decides where literals are in the stream.
    fn bit(&mut self) -> Result<u32, String> {
        if self.left == 0 {
            return Err(self.short());
        }
        let bit = self.buf >> 31;
        self.buf <<= 1;
        self.left -= 1;
        if self.left == 0 {
            self.refill();
        }
        Ok(bit)
    }

    /// The next `n` bits (`n` at most 16), the first read the highest.
    fn bits(&mut self, n: u32) -> Result<u32, String> {
        let mut v = 0;
        for _ in 0..n.min(16) {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }

    /// The next literal byte.
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.data.get(self.pos).ok_or_else(|| self.short())?;
        self.pos += 1;
        Ok(b)
    }

    fn short(&self) -> String {
        format!(
            "wwpack: the compressed data ({} bytes) ends before its end marker",
            self.data.len()
        )
    }
}

/// The distance of a long back-reference (kinds 0 to 2): a 3-bit width code, then the bits.
fn long_distance(s: &mut BitStream) -> Result<u32, String> {
    let (width, base) = match s.bits(3)? {
        t @ 0..=2 => (t + 5, 0),
        3 => (8 + s.bit()?, 0),
        4 => (10 + s.bit()?, 0),
        5 => (12, 0),
        6 => (14, 0x1fe1),
        _ => (15, 0x5fe1),
    };
    let extra = s.bits(width)?;
    if base != 0 {
        return Ok(extra + base);
    }
    // Widths 5 to 12 cover 1..=8160 back to back: each starts where the last one ended.
    Ok(extra + (1u32 << width) - 31)
}

/// The length of a back-reference coded with the long length code (the `kind` 0 case).
fn long_length(s: &mut BitStream) -> Result<u32, String> {
    if s.bit()? == 0 {
        return Ok(5 + s.bit()?);
    }
    let short = s.bits(3)?;
    if short != 0 {
        return Ok(short + 6);
    }
    let mid = s.bits(4)?;
    if mid != 0 {
        return Ok(mid + 13);
    }
    // Then 5, 6 or 7 bits after a unary prefix (bases 29, 61, 125), else 14 plain bits.
    let mut base = 13u32;
    for width in 5..=7 {
        base = (base + 2) * 2 - 1;
        if s.bit()? == 1 {
            return Ok(s.bits(width)? + base);
        }
    }
    s.bits(14)
}

/// Decompresses one block's stream into `image` from offset `at`; returns the end of the
/// output. Back-references may reach anywhere earlier in the image, as in the stub's memory.
fn decompress(packed: &[u8], image: &mut [u8], at: usize) -> Result<usize, String> {
    let mut s = BitStream::new(packed);
    let mut out = at;
    let past_end = |o: usize| {
        format!("wwpack: decompressed data runs past the end of the image at RVA {o:#x}")
    };
    // Every turn reads at least one bit, so the compressed size bounds the loop.
    loop {
        if s.bit()? == 0 {
            let b = s.byte()?;
            *image.get_mut(out).ok_or_else(|| past_end(out))? = b;
            out += 1;
            continue;
        }
        let kind = s.bits(2)?;
        let (distance, len) = if kind == 3 {
            // A two-byte copy from a short distance: 1, 0x21, 0x61 or 0x161 plus 5 to 9 bits.
            let (width, base) = match s.bits(2)? {
                0 => (5, 1),
                1 => (6, 0x21),
                2 => (8, 0x61),
                _ => (9, 0x161),
            };
            let extra = s.bits(width)?;
            if extra == END_MARKER {
                return Ok(out);
            }
            (extra + base, 2)
        } else {
            let distance = long_distance(&mut s)?;
            let len = if kind == 0 {
                long_length(&mut s)?
            } else {
                kind + 2
            };
            (distance, len)
        };
        let from = out
            .checked_sub(distance as usize)
            .ok_or_else(|| format!("wwpack: a back-reference at RVA {out:#x} reaches {distance:#x} bytes back, before the image"))?;
        for i in 0..len as usize {
            let b = *image.get(from + i).ok_or_else(|| past_end(from + i))?;
            *image.get_mut(out).ok_or_else(|| past_end(out))? = b;
            out += 1;
        }
    }
}

/// Restores one block in `image` as the stub does: moves the compressed data to its working
/// place, decompresses it over the area and zeroes what is left up to the working copy's end.
fn restore_block(image: &mut [u8], block: &Block, n: usize) -> Result<(), String> {
    let len = block.packed_len as usize;
    let outside = || {
        format!(
            "wwpack: block {n}'s compressed data ({len:#x} bytes ending at RVA {:#x}) lies outside the image",
            block.area.wrapping_add(block.stored_last).wrapping_add(4)
        )
    };
    let stored = block.stored_at().ok_or_else(outside)? as usize;
    let packed = image
        .get(stored..stored.saturating_add(len))
        .ok_or_else(outside)?
        .to_vec();
    // The stub's working copy: it is overwritten by the output or zeroed, but where the output
    // is shorter its place still matters. Beyond the image it is no part of the result.
    let moved_end = block.moved_end().map(|e| e as usize);
    if let Some(end) = moved_end.filter(|&e| e <= image.len()) {
        if let Some(moved) = end.checked_sub(len) {
            image.copy_within(stored..stored + len, moved);
        }
    }
    let area = block.area as usize;
    if area >= image.len() {
        return Err(format!(
            "wwpack: block {n}'s area at RVA {area:#x} lies outside the image"
        ));
    }
    let end = decompress(&packed, image, area).map_err(|e| format!("{e} (block {n})"))?;
    let zero_end = moved_end.map_or(end, |e| e.min(image.len()));
    if let Some(rest) = image.get_mut(end..zero_end) {
        rest.fill(0);
    }
    Ok(())
}

/// Restores the original program's virtual image statically.
pub fn unpack(p: &Packed) -> Result<Restored, String> {
    let (last, stub) = stub(p).ok_or("wwpack: the entry point is not a WWPack32 1.x stub")?;
    let originals = p.sections.split_last().map_or(&[][..], |(_, rest)| rest);
    let mut image = p.map()?;

    // The original image ends with its last section (the stub's section comes after it).
    let mut sections = Vec::new();
    let mut image_end = 0u32;
    for s in originals {
        let span = if s.vsize != 0 { s.vsize } else { s.raw_size };
        let span = align_up(span, p.section_align)
            .and_then(|v| v.checked_add(s.rva))
            .map(|end| end.min(image.len() as u32).saturating_sub(s.rva))
            .ok_or_else(|| format!("wwpack: section at RVA {:#x} has an impossible size", s.rva))?;
        image_end = image_end.max(s.rva.saturating_add(span));
        if span != 0 {
            sections.push(OutSection {
                name: s.name,
                rva: s.rva,
                vsize: span,
                flags: s.flags,
            });
        }
    }
    if image_end == 0 {
        return Err("wwpack: the original sections are empty".into());
    }
    image.truncate(image_end as usize);
    sections.sort_by_key(|s| s.rva);

    // Blocks pack distinct areas, so their compressed data cannot add up to more than the
    // image: that bounds the work however many records the stub holds.
    let blocks = blocks(stub, last.rva)?;
    let packed_total = blocks.iter().map(|b| u64::from(b.packed_len)).sum::<u64>();
    if packed_total > image.len() as u64 {
        return Err(format!(
            "wwpack: the {} blocks' compressed data add up to {packed_total:#x} bytes, more than the {:#x}-byte image",
            blocks.len(),
            image.len()
        ));
    }
    for (i, block) in blocks.iter().enumerate() {
        restore_block(&mut image, block, i + 1)?;
    }

    let mut warnings = Vec::new();
    if stub.get(OEP_JUMP_AT) != Some(&0xe9) {
        warnings.push(format!(
            "wwpack: the stub has no jump at offset {OEP_JUMP_AT:#x}; the original entry point is read from there all the same"
        ));
    }
    let rel = le32(stub, OEP_JUMP_AT + 1).ok_or(
        "wwpack: the stub section is too short to hold the jump to the original entry point",
    )?;
    let entry = last
        .rva
        .wrapping_add(OEP_JUMP_AT as u32 + 5)
        .wrapping_add(rel);
    if entry as usize >= image.len() {
        return Err(format!(
            "wwpack: the original entry point {entry:#x} lies outside the image"
        ));
    }
    // WWPack32 leaves the import directory in place (in a section it did not pack, or one that
    // decompresses back in place), so the header's entry still points at it.
    let (import_rva, import_size) = p.dirs[1];
    let imports = (import_rva != 0
        && import_size != 0
        && import_rva
            .checked_add(import_size)
            .is_some_and(|e| e as usize <= image.len()))
    .then_some((import_rva, import_size));
    if imports.is_none() && import_rva != 0 {
        warnings.push(format!(
            "wwpack: the import directory at RVA {import_rva:#x} is not within the original sections"
        ));
    }
    Ok(Restored {
        image,
        entry,
        sections,
        imports,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        check_detects_only, check_hostile_input, check_zipped_clam, restored, sample,
    };
    use super::*;

    const SAMPLE: &str = "clam-wwpack.exe";

    /// `bits` ('0'/'1', at most 32) as one little-endian bit buffer, first bit on top.
    fn buffer(bits: &str) -> [u8; 4] {
        let mut v = 0u32;
        for (i, c) in bits.chars().enumerate() {
            if c == '1' {
                v |= 1 << (31 - i);
            }
        }
        v.to_le_bytes()
    }

    /// Bits of the end marker: flag, kind 3, width code 3, then 0x1ff.
    const END: &str = "11111111111111";

    #[test]
    fn sample_restores_the_dropper() {
        let r = restored(SAMPLE, unpack);
        check_zipped_clam(&r);
        // check_clam cannot pass: clam.exe is only there deflated.
        let clam = sample("clam.exe");
        assert!(!r.image.windows(clam.len()).any(|w| w == &clam[..]));
        let names: Vec<_> = r.sections.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                *b".text\0\0\0",
                *b".rdata\0\0",
                *b".rsrc\0\0\0",
                *b".clam\0\0\0"
            ]
        );
        assert_eq!(r.image.len(), 0x5000);
        assert_eq!(r.imports, Some((0x205c, 0x3c)));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn detect_only_the_wwpack_sample() {
        check_detects_only(SAMPLE, detect);
    }

    #[test]
    fn truncations_and_corruptions_do_not_panic() {
        check_hostile_input(SAMPLE, detect, unpack);
    }

    #[test]
    fn literals_and_short_match() {
        // Three literals; a kind-1 match (length 3) at distance 3 (width 5: 2 + 1); the end.
        let bits = format!("000{}{END}", concat!("1", "01", "000", "00010"));
        let mut packed = buffer(&bits).to_vec();
        packed.extend_from_slice(b"abc");
        let mut out = [0u8; 16];
        assert_eq!(decompress(&packed, &mut out, 0), Ok(6));
        assert_eq!(&out[..6], b"abcabc");
    }

    #[test]
    fn long_length_code() {
        // Kind 0: distance 3, then length bits "01": 5 + 1.
        let bits = format!("000{}{END}", concat!("1", "00", "000", "00010", "01"));
        let mut packed = buffer(&bits).to_vec();
        packed.extend_from_slice(b"abc");
        let mut out = [0u8; 16];
        assert_eq!(decompress(&packed, &mut out, 0), Ok(9));
        assert_eq!(&out[..9], b"abcabcabc");
    }

    #[test]
    fn buffer_refills_before_the_next_literal() {
        // 32 literal flags: the 32nd empties the buffer, so the next buffer comes before the
        // 32nd literal byte.
        let mut packed = buffer("").to_vec();
        packed.extend((0..31u8).map(|i| b'A' + i % 26));
        packed.extend_from_slice(&buffer(END));
        packed.push(b'!');
        let mut out = [0u8; 40];
        assert_eq!(decompress(&packed, &mut out, 0), Ok(32));
        assert_eq!(out[31], b'!');
        assert_eq!(out[30], b'A' + 30 % 26);
    }

    #[test]
    fn corrupt_streams_are_errors() {
        let mut out = [0u8; 8];
        assert!(decompress(&[], &mut out, 0).is_err());
        // A match before anything was written reaches before the image.
        let packed = buffer(&format!("{}{END}", concat!("1", "01", "000", "00010")));
        assert!(decompress(&packed, &mut out, 0).is_err());
        // Literals past the end of the output.
        let mut packed = buffer("").to_vec();
        packed.extend_from_slice(&[1; 31]);
        assert!(decompress(&packed, &mut out, 0).is_err());
    }
}
