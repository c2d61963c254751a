//! MEW-packed PE32 files (MEW 11 SE, by Northfox): restores the original program's image as
//! MEW's stub leaves it before jumping to the original entry point.
//!
//! Written from ClamAV's libclamav/mew.c (`unmew11`, `mew_lzma`), libclamav/packlibs.c (`unmew`)
//! and the MEW branch of libclamav/pe.c (GPL; read for the format, no code taken).
//!
//! The format: a first section with no raw data (where the program is decompressed), then a
//! section holding the packed data and the stub. The entry point is a `jmp` back into the PE
//! header, to file offset 0x154 (the "Win9x compatible" build) or 0x158, where the stub starts
//! with `mov esi, <table>`. The table holds a dword the stub skips, the original entry point
//! (VA), and the destination (VA) of the first block; each block is compressed with MEW's
//! variant of aPLib (the one FSG uses too) and is followed by the next destination, 0 ending the
//! list. If the stub has a `call` at its offset 0x7b, an LZMA stage follows: the aPLib blocks
//! held the LZMA decoder, and after the list come (an optional call-fix length, when the decoder
//! starts with `push eax`), the VA of the decoder's probability table and LZMA blocks (output
//! size, destination VA, compressed size, one byte, then the stream with its leading zero
//! byte); the "special" form has one block whose `call`/`jmp` targets were made absolute and
//! big-endian, which are turned back here.
//!
//! Handled: both stub offsets, the aPLib-only and the LZMA forms (plain and special). Not
//! restored: MEW's own import list (the stub resolves imports from its compact list into the
//! original IAT at run time; the import directory is not rebuilt, so `imports` is None) and the
//! original section table (sections are rebuilt as ClamAV does: one per aPLib block, ending at
//! the block's end rounded up to 4 KiB, or one for the whole first section in the LZMA form).
//! Only the aPLib form is checked against a real file (clamav-testfiles' clam-mew.exe); the
//! LZMA forms follow ClamAV's reading of the stub and are covered by the decoder's own tests.

use super::aplib;
use super::image::{OutSection, Packed, Restored};
use super::lzma_mew::{self, Params, Start};
use crate::analysis::bytes::le32;

/// File offsets (equal to RVAs: the header is mapped at RVA 0) where MEW's stub starts.
const STUB_OFFSETS: [u32; 2] = [0x154, 0x158];
/// Offset in the stub of the `call` to the LZMA decoder, when there is one.
const LZMA_CALL: u32 = 0x7b;
/// Most compressed blocks followed in one file (each also consumes input).
const MAX_BLOCKS: usize = 256;
/// MEW's LZMA model: 4 literal context bits, 2 position bits.
const MEW_LZMA: Params = Params { lc: 4, pb: 2 };
/// Bytes of MEW's LZMA probability table (0x1b9b dwords), which must lie in the image.
const LZMA_TABLE_BYTES: u32 = 0x1b9b * 4;
/// Rebuilt sections end on these boundaries.
const BLOCK_ALIGN: u32 = 0x1000;

/// The packer's layout, read from the headers and the stub.
#[derive(Debug)]
struct Stub {
    /// Index of the empty section the program is decompressed into.
    target: usize,
    /// RVA of the stub's table (the `mov esi` operand).
    table: u32,
    /// RVA of the LZMA decoder when the LZMA stage is used.
    lzma_decoder: Option<u32>,
}

/// Is this file packed with MEW 11 SE, in a form this module restores: an empty section followed
/// by a non-empty one, an entry point jumping to MEW's stub in the header, and the stub's table
/// inside the packed section.
pub fn detect(p: &Packed) -> bool {
    find_stub(p).is_ok()
}

/// Restores the original program's virtual image statically.
pub fn unpack(p: &Packed) -> Result<Restored, String> {
    let stub = find_stub(p)?;
    let target = p
        .sections
        .get(stub.target)
        .ok_or("mew: the target section is missing")?;
    let packed = p
        .sections
        .get(stub.target + 1)
        .ok_or("mew: the packed section is missing")?;
    let mut image = p.map()?;
    let va = |v: u32| v.wrapping_sub(p.image_base);
    let entry = va(read_u32(
        &image,
        stub.table.wrapping_add(4),
        "the original entry point",
    )?);
    let mut dest = va(read_u32(
        &image,
        stub.table.wrapping_add(8),
        "the first block's destination",
    )?);

    // The compressed blocks run from after the table to the end of the packed section.
    let data_start = stub.table.wrapping_add(12) as usize;
    let data_end = (packed.rva as usize)
        .saturating_add(packed.vsize.max(packed.raw_size) as usize)
        .min(image.len());
    let data = image
        .get(data_start..data_end)
        .ok_or_else(|| {
            format!("mew: the packed data at RVA {data_start:#x} lies outside the image")
        })?
        .to_vec();
    let mut at = 0usize;
    let mut block_ends = Vec::new();
    let mut total = 0usize;
    loop {
        if block_ends.len() == MAX_BLOCKS {
            return Err(format!("mew: more than {MAX_BLOCKS} compressed blocks"));
        }
        let out = image
            .get_mut(dest as usize..)
            .filter(|o| !o.is_empty())
            .ok_or_else(|| {
                format!("mew: block destination RVA {dest:#x} lies outside the image")
            })?;
        let input = data.get(at..).unwrap_or(&[]);
        let (read, written) = aplib::decompress(input, out)
            .map_err(|e| format!("mew: block {} (to RVA {dest:#x}): {e}", block_ends.len()))?;
        // Blocks fill distinct parts of the image: more output in all is hostile.
        total += written;
        if total > image.len() {
            return Err("mew: the blocks decompress to more than the image holds".into());
        }
        block_ends.push((dest as usize).saturating_add(written));
        at += read;
        let next = le32(&data, at).ok_or("mew: the block list runs past the packed data")?;
        at += 4;
        if next == 0 {
            break;
        }
        dest = va(next);
    }

    let mut warnings = vec![
        "mew: imports are resolved by MEW's stub from its own list; the import directory is not rebuilt"
            .to_string(),
    ];
    let target_end = target.rva.saturating_add(target.vsize);
    let mut sections = Vec::new();
    if let Some(decoder) = stub.lzma_decoder {
        let special = image.get(decoder.wrapping_add(8) as usize) == Some(&0x50);
        let params_at = data_start + at;
        unlzma(&mut image, params_at, special, p.image_base, &mut warnings)?;
        sections.push(OutSection {
            name: [0; 8],
            rva: target.rva,
            vsize: target.vsize,
            flags: target.flags,
        });
    } else {
        // As ClamAV: each block closes a section at its end rounded up to 4 KiB.
        let mut start = target.rva;
        for &end in &block_ends {
            let offset = (end as u64).saturating_sub(u64::from(target.rva));
            let end = u64::from(target.rva)
                + offset.div_ceil(u64::from(BLOCK_ALIGN)) * u64::from(BLOCK_ALIGN);
            if end < u64::from(start) || end > u64::from(target_end) {
                warnings.push(format!(
                    "mew: the blocks do not fill the section at RVA {:#x} in order; it is kept whole",
                    target.rva
                ));
                sections.clear();
                sections.push(OutSection {
                    name: [0; 8],
                    rva: target.rva,
                    vsize: target.vsize,
                    flags: target.flags,
                });
                break;
            }
            let end = end as u32;
            if end > start {
                sections.push(OutSection {
                    name: [0; 8],
                    rva: start,
                    vsize: end - start,
                    flags: target.flags,
                });
                start = end;
            }
        }
    }
    keep_resource_section(p, &mut sections, &mut warnings, "mew");
    sections.retain(|s| (s.rva as usize).saturating_add(s.vsize as usize) <= image.len());
    if entry as usize >= image.len() {
        return Err(format!(
            "mew: the original entry point RVA {entry:#x} lies outside the image"
        ));
    }
    Ok(Restored {
        image,
        entry,
        sections,
        imports: None,
        warnings,
    })
}

/// Finds MEW's layout as ClamAV's pe.c does: the empty section, the entry point's `jmp` to the
/// stub, the stub's table in the packed section, and the LZMA `call` if any.
fn find_stub(p: &Packed) -> Result<Stub, String> {
    let target = p
        .sections
        .windows(2)
        .position(|w| matches!(w, [a, b] if a.raw_size == 0 && a.vsize != 0 && b.raw_size != 0))
        .ok_or("mew: no empty section followed by a packed one")?;
    let packed = p
        .sections
        .get(target + 1)
        .ok_or("mew: the packed section is missing")?;
    let entry = file_at_rva(p, p.entry).ok_or("mew: the entry point is not in the file")?;
    if entry.first() != Some(&0xe9) || entry.len() < 16 {
        return Err("mew: the entry point is not a jmp".into());
    }
    let rel = le32(entry, 1).ok_or("mew: the entry point is not a jmp")?;
    let stub_at = p.entry.wrapping_add(5).wrapping_add(rel);
    if !STUB_OFFSETS.contains(&stub_at) {
        return Err("mew: the entry point does not jump to MEW's stub".into());
    }
    let stub = p
        .data
        .get(stub_at as usize..(stub_at + LZMA_CALL + 5) as usize)
        .ok_or("mew: the stub is cut short")?;
    let operand = |at: u32| le32(stub, at as usize).ok_or("mew: the stub is cut short");
    let table = operand(1)?.wrapping_sub(p.image_base);
    // The table and its 12 bytes lie in the packed section's raw data.
    if table <= packed.rva
        || u64::from(table) + 12 > u64::from(packed.rva) + u64::from(packed.raw_size)
    {
        return Err(format!(
            "mew: the stub's table at RVA {table:#x} is not in the packed section"
        ));
    }
    let lzma_decoder = if stub.get(LZMA_CALL as usize) == Some(&0xe8) {
        let decoder = stub_at
            .wrapping_add(LZMA_CALL + 5)
            .wrapping_add(operand(LZMA_CALL + 1)?);
        // ClamAV wants the decoder in the second section (the packed one, in MEW's layout).
        let second = p.sections.get(1).ok_or("mew: no second section")?;
        if decoder < second.rva
            || u64::from(decoder) + 4 > u64::from(second.rva) + u64::from(second.vsize)
        {
            return Err(format!(
                "mew: the LZMA decoder at RVA {decoder:#x} is outside the packed section"
            ));
        }
        Some(decoder)
    } else {
        None
    };
    Ok(Stub {
        target,
        table,
        lzma_decoder,
    })
}

/// Runs MEW's LZMA stage from its parameters at `at` (an RVA) after the aPLib block list.
fn unlzma(
    image: &mut [u8],
    at: usize,
    special: bool,
    base: u32,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let va = |v: u32| v.wrapping_sub(base);
    let mut at = at as u32;
    let mut fix_len = 0;
    if special {
        fix_len = read_u32(image, at, "the LZMA call-fix length")?;
        at = at.wrapping_add(4);
    }
    let table = va(read_u32(image, at, "the LZMA probability table's address")?);
    if u64::from(table) + u64::from(LZMA_TABLE_BYTES) > image.len() as u64 {
        return Err(format!(
            "mew: the LZMA probability table at RVA {table:#x} lies outside the image"
        ));
    }
    at = at.wrapping_add(4);
    let mut total = 0usize;
    for _ in 0..MAX_BLOCKS {
        let size = read_u32(image, at, "an LZMA block header")?;
        if size == 0 {
            if special {
                // The special form skips empty blocks to its one block.
                at = at.wrapping_add(13).wrapping_add(read_u32(
                    image,
                    at.wrapping_add(8),
                    "an LZMA block header",
                )?);
                continue;
            }
            return Ok(());
        }
        let dest = va(read_u32(
            image,
            at.wrapping_add(4),
            "an LZMA block's destination",
        )?);
        total = total.saturating_add(size as usize);
        if total > image.len() {
            return Err("mew: the LZMA blocks decompress to more than the image holds".into());
        }
        let packed = read_u32(image, at.wrapping_add(8), "an LZMA block's size")?;
        // Header (12 bytes), one byte, then the stream (its leading zero byte, the code).
        let stream = (at as usize).saturating_add(13);
        let stream_end = stream.saturating_add(packed as usize);
        if packed < 5 || stream_end > image.len() {
            return Err(format!(
                "mew: the LZMA block at RVA {at:#x} ({packed:#x} bytes) does not fit the image"
            ));
        }
        let input = image.get(stream + 1..stream_end).unwrap_or(&[]).to_vec();
        let out = (dest as usize)
            .checked_add(size as usize)
            .and_then(|end| image.get_mut(dest as usize..end))
            .ok_or_else(|| format!("mew: the LZMA block's output at RVA {dest:#x} (+{size:#x}) lies outside the image"))?;
        lzma_mew::decode(&input, out, MEW_LZMA, &Start::FRESH)
            .map_err(|e| format!("mew: block at RVA {at:#x}: {e}"))?;
        if special {
            unfix_calls(image, dest, fix_len, warnings);
            return Ok(());
        }
        at = u32::try_from(stream_end).map_err(|_| "mew: LZMA block list too long")?;
    }
    Err(format!("mew: more than {MAX_BLOCKS} LZMA blocks"))
}

/// Turns the special LZMA form's absolute, big-endian `call`/`jmp` targets in `len` bytes at
/// `at` back into relative ones.
fn unfix_calls(image: &mut [u8], at: u32, len: u32, warnings: &mut Vec<String>) {
    let Some(code) = (at as usize)
        .checked_add(len as usize)
        .filter(|_| len >= 5)
        .and_then(|end| image.get_mut(at as usize..end))
    else {
        warnings.push(format!(
            "mew: the call targets at RVA {at:#x} (+{len:#x}) were left absolute"
        ));
        return;
    };
    // As the stub: opcodes up to 5 bytes before the end, each operand skipped once fixed.
    let last = code.len().saturating_sub(5);
    let mut i = 0usize;
    while i < last {
        let is_call = matches!(code.get(i), Some(0xe8 | 0xe9));
        match code.get_mut(i + 1..i + 5) {
            Some(operand) if is_call => {
                let mut word = [0u8; 4];
                word.copy_from_slice(operand);
                let rel = u32::from_be_bytes(word)
                    .wrapping_sub(i as u32)
                    .wrapping_sub(1);
                operand.copy_from_slice(&rel.to_le_bytes());
                i += 5;
            }
            _ => i += 1,
        }
    }
}

/// Adds the packed section holding the resource directory when no restored section holds it:
/// MEW and Upack leave the resource directory uncompressed in their own section (where Explorer
/// reads icons without running the stub). `packer` starts the warning.
pub(crate) fn keep_resource_section(
    p: &Packed,
    sections: &mut Vec<OutSection>,
    warnings: &mut Vec<String>,
    packer: &str,
) {
    let rsrc = p.dirs[2].0;
    if rsrc == 0
        || sections
            .iter()
            .any(|s| rsrc >= s.rva && rsrc - s.rva < s.vsize)
    {
        return;
    }
    if let Some(s) = p.section_of(rsrc) {
        let vsize = s.vsize.max(s.raw_size);
        if sections
            .iter()
            .all(|o| o.rva.saturating_add(o.vsize) <= s.rva || s.rva.saturating_add(vsize) <= o.rva)
        {
            sections.push(OutSection {
                name: [0; 8],
                rva: s.rva,
                vsize,
                flags: s.flags,
            });
            sections.sort_by_key(|o| o.rva);
            warnings.push(format!(
                "{packer}: the resource directory (RVA {rsrc:#x}) stays in the packer's section at RVA {:#x}, kept",
                s.rva
            ));
        }
    }
}

/// The file bytes loaded at `rva`: from the raw offset rounded down to 512 (as the loader
/// does) to the unrounded end of the section's raw data (as Upack needs, see upack.rs).
pub(crate) fn file_at_rva<'a>(p: &Packed<'a>, rva: u32) -> Option<&'a [u8]> {
    if rva < p.headers_size {
        return p
            .data
            .get(rva as usize..(p.headers_size as usize).min(p.data.len()));
    }
    let s = p.section_of(rva)?;
    let start = ((s.raw_off & !0x1ff) as usize).saturating_add((rva - s.rva) as usize);
    let end = (s.raw_off as usize).saturating_add(s.raw_size as usize);
    p.data.get(start..end.min(p.data.len()))
}

/// The little-endian dword at `rva` in the image; `what` names it for the error.
fn read_u32(image: &[u8], rva: u32, what: &str) -> Result<u32, String> {
    le32(image, rva as usize)
        .ok_or_else(|| format!("mew: {what} at RVA {rva:#x} lies outside the image"))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        check_detects_only, check_hostile_input, check_zipped_clam, restored,
    };
    use super::*;

    const SAMPLE: &str = "clam-mew.exe";

    #[test]
    fn unpacks_the_sample() {
        let r = restored(SAMPLE, unpack);
        check_zipped_clam(&r);
        let spans: Vec<(u32, u32)> = r.sections.iter().map(|s| (s.rva, s.vsize)).collect();
        assert_eq!(
            spans,
            [
                (0x1000, 0x1000),
                (0x2000, 0x1000),
                (0x3000, 0x1000),
                (0x4000, 0x1000),
                (0x5000, 0x1000),
                (0x6000, 0x1000)
            ]
        );
        assert_eq!(r.imports, None);
    }

    #[test]
    fn detects_only_mew() {
        check_detects_only(SAMPLE, detect);
    }

    #[test]
    fn survives_truncation_and_corruption() {
        check_hostile_input(SAMPLE, detect, unpack);
    }

    /// An image holding MEW's LZMA parameters at 0x100 (after `prefix`) and one block: the
    /// 169-byte test stream of `lzma_mew`, decoded to RVA 0x2000.
    fn lzma_image(prefix: &[u8]) -> Vec<u8> {
        use super::lzma_mew::tests::{hex, LC4_PB2};
        let stream = hex(LC4_PB2);
        let mut image = vec![0u8; 0x10000];
        let mut params = prefix.to_vec();
        for v in [0x40_8000u32, 169, 0x40_2000, stream.len() as u32] {
            params.extend(v.to_le_bytes());
        }
        params.push(0x5e);
        params.extend(&stream);
        params.extend(0u32.to_le_bytes());
        image[0x100..0x100 + params.len()].copy_from_slice(&params);
        image
    }

    #[test]
    fn lzma_stage_decodes_its_blocks() {
        use super::lzma_mew::tests::plain;
        let mut image = lzma_image(&[]);
        let mut warnings = Vec::new();
        unlzma(&mut image, 0x100, false, 0x40_0000, &mut warnings).unwrap();
        assert_eq!(&image[0x2000..0x2000 + 169], &plain()[..]);
        // The special form: a call-fix length first, then its one block.
        let mut image = lzma_image(&169u32.to_le_bytes());
        unlzma(&mut image, 0x100, true, 0x40_0000, &mut warnings).unwrap();
        assert_eq!(&image[0x2000..0x2000 + 169], &plain()[..]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn special_lzma_calls_become_relative() {
        // A call at 2 whose stored target is big-endian 0x10 + 2 + 1: relative 0x10.
        let mut code = vec![0x90, 0x90, 0xe8, 0, 0, 0, 0x13, 0x90, 0x90, 0x90];
        let mut warnings = Vec::new();
        unfix_calls(&mut code, 0, 10, &mut warnings);
        assert_eq!(&code[2..7], &[0xe8, 0x10, 0, 0, 0]);
        assert!(warnings.is_empty());
    }
}
