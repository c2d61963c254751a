//! FSG-packed PE32 files (FSG 1.33 and 2.0, by bart/xt): restores the original program's image
//! as FSG's stub leaves it before jumping to the original entry point.
//!
//! Written from ClamAV's libclamav/fsg.c (`unfsg_133`, `unfsg_200`), libclamav/packlibs.c
//! (`cli_unfsg`) and the FSG branches of libclamav/pe.c (GPL; read for the format, no code
//! taken).
//!
//! The format: an empty section (no raw data) where the program is decompressed, followed by a
//! section holding the compressed data, larger than 0x19 bytes and smaller than the empty
//! section. The data is compressed with the variant of aPLib that MEW uses too (`aplib.rs`), as
//! one stream (2.0) or one stream per original section (1.33); each stream starts afresh (its
//! matches reach back only into its own output). Addresses in the stub's data are VAs.
//! - FSG 2.0: the entry point is `xchg [A], esp` (`87 25 A`). A, in the packed section's raw
//!   data, holds the address of the register block the stub loads with `popad`: EDI (the
//!   destination: the empty section's start), ESI (the compressed stream) and EBX (a table of
//!   four dwords, the last the original entry point), all in the packed section too.
//! - FSG 1.33: the entry point is `mov esi, T` (`be T`), T in the header area (below the first
//!   section and the aligned header size). From T to the packed section's raw data: a dword
//!   (EBX; not used here), the first destination (the empty section's start), the compressed
//!   data's address, then each further stream's destination plus one, and a 0 with at least one
//!   byte after it. The streams follow each other in the data; the original entry point is the
//!   target of the 6-byte jump at entry point + 161 (its rel32 at + 163).
//!
//! Handled: the two forms above, recognised as ClamAV recognises them (the stub's first bytes,
//! the parameters they point to, and the section layout). Not handled: FSG 1.31 (entry point
//! `mov ebx; mov edi; mov esi`, its section list in 16-bit words), refused with an error.
//! Not restored: FSG's import list (the stub resolves imports into the original IAT at run
//! time; the import directory is not rebuilt, so `imports` is None) and the original section
//! table (rebuilt as ClamAV does: for 2.0 one section for the whole empty section, for 1.33 one
//! section from each stream's destination to the next one's).
//!
//! Tested only on files the tests build from this reading of ClamAV (FSG-style files made from
//! clamav-testfiles' clam-fsg.exe, which is itself not packed), not on files made by FSG itself.

use super::aplib;
use super::image::{OutSection, Packed, Restored, Section};
use crate::analysis::bytes::le32;

/// Bytes ClamAV wants readable at the entry point before it tries FSG.
const STUB_LEN: usize = 168;
/// Most stub bytes read (ClamAV reads at most this many at the entry point).
const STUB_READ: usize = 4096;
/// Offset, from FSG 1.33's entry point, of its 6-byte jump to the original entry point.
const OEP_JUMP_133: u32 = 161;
/// Packed sections this small are not FSG's (ClamAV's size check).
const MIN_PACKED: usize = 0x1a;
/// Bytes of FSG 2.0's register block (a `popad` frame).
const REGISTERS_LEN: usize = 32;
/// Bytes of FSG 2.0's table whose fourth dword is the original entry point.
const TABLE_LEN: usize = 16;

/// FSG's layout, read from the headers, the stub and its parameters.
#[derive(Debug)]
struct Plan {
    /// "1.33" or "2.0", for messages.
    version: &'static str,
    /// Index of the empty section the program is decompressed into.
    target: usize,
    /// Bytes of the target section (its virtual size rounded up to the section alignment).
    target_len: u32,
    /// Offset of the compressed data in the packed section's raw data.
    source: usize,
    /// RVA each stream is decompressed to, in stream order (the first is the target's start).
    dests: Vec<u32>,
    /// The original entry point (RVA).
    entry: u32,
}

/// Is this file packed with FSG 1.33 or 2.0, as ClamAV recognises them: an empty section followed
/// by a packed one, FSG's first stub bytes at the entry point, and the parameters they point to
/// consistent with those sections.
pub fn detect(p: &Packed) -> bool {
    find_plan(p).is_ok()
}

/// Restores the original program's virtual image statically.
pub fn unpack(p: &Packed) -> Result<Restored, String> {
    let plan = find_plan(p)?;
    let v = plan.version;
    let target = p
        .sections
        .get(plan.target)
        .ok_or("fsg: the target section is missing")?;
    let packed = p
        .sections
        .get(plan.target + 1)
        .ok_or("fsg: the packed section is missing")?;
    let source = raw_data(p, packed).get(plan.source..).unwrap_or(&[]);
    let mut image = p.map().map_err(|e| format!("fsg {v}: {e}"))?;
    let start = target.rva as usize;
    let end = start
        .saturating_add(plan.target_len as usize)
        .min(image.len());
    if start >= end {
        return Err(format!(
            "fsg {v}: the target section at RVA {start:#x} lies outside the image"
        ));
    }

    let mut read_at = 0usize;
    let mut total = 0usize;
    for (k, &dest) in plan.dests.iter().enumerate() {
        let out = image
            .get_mut(dest as usize..end)
            .filter(|o| !o.is_empty())
            .ok_or_else(|| {
                format!("fsg {v}: stream {k}'s destination RVA {dest:#x} is outside the target")
            })?;
        let input = source.get(read_at..).unwrap_or(&[]);
        let (read, written) = aplib::decompress(input, out)
            .map_err(|e| format!("fsg {v}: stream {k} (to RVA {dest:#x}): {e}"))?;
        read_at += read;
        // Streams fill distinct parts of the target: more output in all is hostile.
        total += written;
        if total > end - start {
            return Err(format!(
                "fsg {v}: the streams decompress to more than the target section's {:#x} bytes",
                end - start
            ));
        }
    }

    // As ClamAV: one section from each destination to the next (the last to the target's end).
    let mut starts = plan.dests.clone();
    starts.sort_unstable();
    starts.dedup();
    let sections = starts
        .iter()
        .enumerate()
        .map(|(k, &rva)| {
            let next = starts.get(k + 1).map_or(end, |&n| n as usize);
            OutSection {
                name: [0; 8],
                rva,
                vsize: (next - rva as usize) as u32,
                flags: target.flags,
            }
        })
        .collect();
    if plan.entry as usize >= image.len() {
        return Err(format!(
            "fsg {v}: the original entry point RVA {:#x} lies outside the image",
            plan.entry
        ));
    }
    let mut warnings = vec![
        "fsg: imports are resolved by FSG's stub from its own list; the import directory is not rebuilt"
            .to_string(),
    ];
    if !(start..end).contains(&(plan.entry as usize)) {
        warnings.push(format!(
            "fsg {v}: the original entry point RVA {:#x} is not in the decompressed sections",
            plan.entry
        ));
    }
    Ok(Restored {
        image,
        entry: plan.entry,
        sections,
        imports: None,
        warnings,
    })
}

/// Finds FSG's layout as ClamAV's pe.c does: the empty section and the packed one after it,
/// their sizes, the stub's first bytes and the parameters they point to.
fn find_plan(p: &Packed) -> Result<Plan, String> {
    let target = p
        .sections
        .windows(2)
        .position(|w| {
            matches!(w, [a, b] if a.raw_size == 0 && a.vsize != 0 && !raw_data(p, b).is_empty())
        })
        .ok_or("fsg: no empty section followed by a packed one")?;
    let (Some(empty), Some(packed)) = (p.sections.get(target), p.sections.get(target + 1)) else {
        return Err("fsg: the packed section is missing".into());
    };
    let stub = entry_bytes(p).ok_or("fsg: the entry point is not in the file")?;
    if stub.len() < STUB_LEN {
        return Err("fsg: the entry point is too close to the end of the file".into());
    }
    let version = match stub {
        [0x87, 0x25, ..] => "2.0",
        [0xbe, ..] => "1.33",
        [0xbb, _, _, _, _, 0xbf, _, _, _, _, 0xbe, ..] => {
            return Err("fsg 1.31: not supported".into())
        }
        _ => return Err("fsg: the entry point is not FSG's stub".into()),
    };
    let target_len =
        align_up(empty.vsize, p.section_align).ok_or("fsg: the target section's size overflows")?;
    let packed_len = raw_data(p, packed).len();
    if packed_len < MIN_PACKED || target_len as usize <= packed_len {
        return Err(format!(
            "fsg {version}: the packed section ({packed_len:#x} bytes) does not fit the target ({target_len:#x} bytes)"
        ));
    }
    let mut plan = Plan {
        version,
        target,
        target_len,
        source: 0,
        dests: vec![empty.rva],
        entry: 0,
    };
    if version == "2.0" {
        read_params_200(p, stub, packed, &mut plan)?;
    } else {
        read_params_133(p, stub, empty, packed, &mut plan)?;
    }
    Ok(plan)
}

/// FSG 2.0: follows `xchg [A], esp` to the register block, then to the table holding the
/// original entry point.
fn read_params_200(
    p: &Packed,
    stub: &[u8],
    packed: &Section,
    plan: &mut Plan,
) -> Result<(), String> {
    let va = |v: u32| v.wrapping_sub(p.image_base);
    let data = raw_data(p, packed);
    // The bytes at `rva` in the packed section's raw data.
    let at = |rva: u32, len: usize, what: &str| {
        rva.checked_sub(packed.rva)
            .and_then(|off| data.get(off as usize..(off as usize).checked_add(len)?))
            .ok_or_else(|| format!("fsg 2.0: {what} at RVA {rva:#x} is not in the packed section"))
    };
    let slot = va(le32(stub, 2).unwrap_or(0));
    let frame = va(le32(at(slot, 4, "the stack pointer's slot")?, 0).unwrap_or(0));
    let regs = at(frame, REGISTERS_LEN, "the register block")?;
    // `popad` loads EDI, ESI, EBP, (ESP), EBX, EDX, ECX, EAX in that order.
    let edi = va(le32(regs, 0).unwrap_or(0));
    let esi = va(le32(regs, 4).unwrap_or(0));
    let ebx = va(le32(regs, 16).unwrap_or(0));
    if Some(&edi) != plan.dests.first() {
        return Err(format!(
            "fsg 2.0: the destination RVA {edi:#x} is not the empty section's start"
        ));
    }
    plan.source = esi
        .checked_sub(packed.rva)
        .filter(|&off| (off as usize) < data.len())
        .ok_or_else(|| {
            format!("fsg 2.0: the compressed data at RVA {esi:#x} is not in the packed section")
        })? as usize;
    let table = at(ebx, TABLE_LEN, "the stub's table")?;
    plan.entry = va(le32(table, 12).unwrap_or(0));
    Ok(())
}

/// FSG 1.33: reads the parameter table that `mov esi, T` points to in the header area, and the
/// jump to the original entry point.
fn read_params_133(
    p: &Packed,
    stub: &[u8],
    empty: &Section,
    packed: &Section,
    plan: &mut Plan,
) -> Result<(), String> {
    let va = |v: u32| v.wrapping_sub(p.image_base);
    let table_rva = va(le32(stub, 1).unwrap_or(0));
    // The table lies before every section, in the headers, and ends where the packed
    // section's raw data starts.
    let lowest = p.sections.iter().map(|s| s.rva).min().unwrap_or(0);
    let headers = align_up(p.headers_size, p.section_align).unwrap_or(p.headers_size);
    if table_rva >= lowest || table_rva >= headers {
        return Err(format!(
            "fsg 1.33: the parameter table at RVA {table_rva:#x} is not in the headers"
        ));
    }
    let table = p
        .data
        .get(table_rva as usize..raw_start(packed))
        .filter(|t| t.len() >= 16)
        .ok_or_else(|| {
            format!("fsg 1.33: the parameter table at {table_rva:#x} does not end before the packed data")
        })?;
    let word = |at: usize| le32(table, at).unwrap_or(0);
    let first = va(word(4));
    let esi = va(word(8));
    let data = raw_data(p, packed);
    plan.source = esi
        .checked_sub(packed.rva)
        .filter(|&off| (off as usize) < data.len())
        .ok_or_else(|| {
            format!("fsg 1.33: the compressed data at RVA {esi:#x} is not in the packed section")
        })? as usize;
    if first != empty.rva {
        return Err(format!(
            "fsg 1.33: the first destination RVA {first:#x} is not the empty section's start"
        ));
    }
    // Then each further stream's destination plus one, up to a 0 (with room after it).
    let mut at = 12usize;
    loop {
        if at + 4 >= table.len() {
            return Err("fsg 1.33: the list of sections has no end".into());
        }
        let entry = word(at);
        if entry == 0 {
            break;
        }
        let rva = va(entry).wrapping_sub(1);
        if rva < empty.rva || rva - empty.rva >= plan.target_len {
            return Err(format!(
                "fsg 1.33: section {} at RVA {rva:#x} is outside the empty section",
                plan.dests.len()
            ));
        }
        plan.dests.push(rva);
        at += 4;
    }
    let rel = le32(stub, OEP_JUMP_133 as usize + 2).unwrap_or(0);
    plan.entry = p.entry.wrapping_add(OEP_JUMP_133 + 6).wrapping_add(rel);
    Ok(())
}

/// The bytes of the file from the entry point on (at most [`STUB_READ`]), found as ClamAV
/// finds them: in the header area (up to the aligned header size) or the last section whose
/// raw data holds it.
fn entry_bytes<'a>(p: &Packed<'a>) -> Option<&'a [u8]> {
    let headers = align_up(p.headers_size, p.section_align).unwrap_or(p.headers_size);
    let offset = if p.entry < headers {
        p.entry as usize
    } else {
        let s = p
            .sections
            .iter()
            .rev()
            .find(|s| s.raw_size != 0 && p.entry >= s.rva && p.entry - s.rva < s.raw_size)?;
        raw_start(s).checked_add((p.entry - s.rva) as usize)?
    };
    let rest = p.data.get(offset..)?;
    rest.get(..STUB_READ.min(rest.len()))
}

/// Where a section's raw data starts in the file (rounded down to 512, as the loader does).
fn raw_start(s: &Section) -> usize {
    (s.raw_off & !0x1ff) as usize
}

/// A section's raw data, cut to the file.
fn raw_data<'a>(p: &Packed<'a>, s: &Section) -> &'a [u8] {
    let start = raw_start(s).min(p.data.len());
    let end = start.saturating_add(s.raw_size as usize).min(p.data.len());
    p.data.get(start..end).unwrap_or(&[])
}

/// `n` rounded up to a multiple of `align` (unchanged when `align` is 0).
fn align_up(n: u32, align: u32) -> Option<u32> {
    if align == 0 {
        return Some(n);
    }
    n.checked_next_multiple_of(align)
}

#[cfg(test)]
mod tests {
    //! No FSG-packed sample is public (clamav-testfiles' clam-fsg.exe is the unpacked program),
    //! so these tests pack clam-fsg.exe themselves, in the layout ClamAV reads: only the stub
    //! bytes ClamAV checks (the rest is filler; the stub does not run), the parameters it points
    //! to, and the sections compressed with a small greedy encoder of FSG's aPLib variant.

    use super::super::testing::{check_clam, check_hostile_bytes, sample};
    use super::*;
    use std::collections::HashMap;

    const BASE: u32 = 0x40_0000;
    /// Where the original program's sections start and end (clam-fsg.exe's layout).
    const TARGET: u32 = 0x1000;
    const TARGET_END: u32 = 0x5000;
    /// The packed section's RVA and file offset.
    const PACKED_RVA: u32 = 0x5000;
    const HEADERS: usize = 0x200;
    /// With the PE header at 0x0c (as FSG writes it) the two section headers end here.
    const AFTER_TABLE: usize = 0x154;
    /// Filler standing for the stub's code that ClamAV does not read.
    const FILLER: u8 = 0xcc;

    /// How often the encoder wrote each kind of item.
    #[derive(Default, Debug)]
    struct Kinds {
        literal: usize,
        long: usize,
        repeat: usize,
        short: usize,
        nibble: usize,
        zero: usize,
    }

    /// aPLib's writer: tag bytes take their place in the output when their first bit is written.
    struct Encoder {
        out: Vec<u8>,
        tag_at: usize,
        tag_used: u32,
    }

    impl Encoder {
        fn bit(&mut self, one: bool) {
            if self.tag_used == 8 {
                self.tag_at = self.out.len();
                self.out.push(0);
                self.tag_used = 0;
            }
            if one {
                self.out[self.tag_at] |= 0x80 >> self.tag_used;
            }
            self.tag_used += 1;
        }
        fn bits(&mut self, bits: &[u8]) {
            for &b in bits {
                self.bit(b == 1);
            }
        }
        /// Elias gamma, as the decoder reads it: after the leading 1, (value bit, more bit) pairs.
        fn gamma(&mut self, v: usize) {
            assert!(v >= 2);
            let top = usize::BITS - 1 - v.leading_zeros();
            for i in (0..top).rev() {
                self.bit(v >> i & 1 == 1);
                self.bit(i != 0);
            }
        }
    }

    /// Compresses `data` as one FSG stream: greedily (literals, matches with a gamma-coded or
    /// 7-bit offset, the last offset again, 4-bit one-byte matches and zeros), or literals only.
    fn compress(data: &[u8], greedy: bool) -> (Vec<u8>, Kinds) {
        let mut e = Encoder {
            out: vec![data[0]],
            tag_at: 0,
            tag_used: 8,
        };
        let mut kinds = Kinds::default();
        let mut chains: HashMap<&[u8], Vec<usize>> = HashMap::new();
        chains
            .entry(&data[..3.min(data.len())])
            .or_default()
            .push(0);
        let same = |i: usize, off: usize| {
            data[i..]
                .iter()
                .zip(&data[i - off..])
                .take_while(|(a, b)| a == b)
                .count()
        };
        // Length bonus the decoder adds to a gamma-coded match at this offset.
        let bonus = |off: usize| {
            usize::from(off >= 0x7d00) + usize::from(off >= 0x500) + 2 * usize::from(off <= 0x7f)
        };
        let (mut after_literal, mut last, mut i) = (true, 0usize, 1usize);
        while i < data.len() {
            let before = i;
            let (mut len, mut off) = (0, 0);
            if let Some(c) = data
                .get(i..i + 3)
                .and_then(|k| chains.get(k))
                .filter(|_| greedy)
            {
                for &pos in c.iter().rev().take(64) {
                    let l = same(i, i - pos);
                    if l > len {
                        (len, off) = (l, i - pos);
                    }
                }
            }
            let repeat = if after_literal && last != 0 {
                same(i, last)
            } else {
                0
            };
            let near = (1..=15.min(i)).find(|&o| data[i - o] == data[i]);
            if !greedy {
                e.bit(false);
                e.out.push(data[i]);
                (after_literal, i) = (true, i + 1);
                kinds.literal += 1;
            } else if repeat >= 2 && repeat >= len {
                e.bits(&[1, 0]);
                e.gamma(2);
                e.gamma(repeat);
                (after_literal, i) = (false, i + repeat);
                kinds.repeat += 1;
            } else if len >= 2 + bonus(off) {
                e.bits(&[1, 0]);
                e.gamma((off >> 8) + 2 + usize::from(after_literal));
                e.out.push(off as u8);
                e.gamma(len - bonus(off));
                (after_literal, last, i) = (false, off, i + len);
                kinds.long += 1;
            } else if len >= 2 && off <= 0x7f {
                let l = len.min(3);
                e.bits(&[1, 1, 0]);
                e.out.push((off << 1 | (l - 2)) as u8);
                (after_literal, last, i) = (false, off, i + l);
                kinds.short += 1;
            } else if data[i] == 0 {
                e.bits(&[1, 1, 1, 0, 0, 0, 0]);
                (after_literal, i) = (true, i + 1);
                kinds.zero += 1;
            } else if let Some(o) = near {
                e.bits(&[1, 1, 1]);
                for b in (0..4).rev() {
                    e.bit(o >> b & 1 == 1);
                }
                (after_literal, i) = (true, i + 1);
                kinds.nibble += 1;
            } else {
                e.bit(false);
                e.out.push(data[i]);
                (after_literal, i) = (true, i + 1);
                kinds.literal += 1;
            }
            for j in before..i {
                if let Some(k) = data.get(j..j + 3) {
                    chains.entry(k).or_default().push(j);
                }
            }
        }
        // The end: a 7-bit offset of 0.
        e.bits(&[1, 1, 0]);
        e.out.push(0);
        (e.out, kinds)
    }

    fn dword(v: u32) -> [u8; 4] {
        v.to_le_bytes()
    }

    /// clam-fsg.exe as the loader maps it (its sections span RVAs 0x1000..0x5000).
    fn original() -> Vec<u8> {
        let file = sample("clam-fsg.exe");
        Packed::parse(&file).unwrap().map().unwrap()
    }

    /// A file laid out as FSG writes one: the PE header at 0x0c, clam-fsg.exe's optional header
    /// (entry point, sizes and import directories changed), an empty section for the program
    /// and a packed one at 0x5000 holding `packed`; `tail` goes after the section table.
    fn build(entry: u32, tail: &[u8], packed: &[u8]) -> Vec<u8> {
        let orig = sample("clam-fsg.exe");
        let orig_opt = Packed::parse(&orig).unwrap().pe_off + 24;
        let packed_vsize = packed.len().next_multiple_of(0x1000) as u32;
        let packed_raw = packed.len().next_multiple_of(0x200) as u32;
        let mut f = vec![0u8; HEADERS];
        f[..2].copy_from_slice(b"MZ");
        f[0x0c..0x10].copy_from_slice(b"PE\0\0");
        f[0x10..0x12].copy_from_slice(&0x14cu16.to_le_bytes());
        f[0x12..0x14].copy_from_slice(&2u16.to_le_bytes());
        f[0x20..0x22].copy_from_slice(&0xe0u16.to_le_bytes());
        f[0x22..0x24].copy_from_slice(&0x10fu16.to_le_bytes());
        let o = 0x24;
        f[o..o + 0xe0].copy_from_slice(&orig[orig_opt..orig_opt + 0xe0]);
        let mut set = |at: usize, v: u32| f[o + at..o + at + 4].copy_from_slice(&dword(v));
        set(16, entry);
        set(24, 0x0c); // BaseOfData doubles as e_lfanew (file offset 0x3c)
        set(56, PACKED_RVA + packed_vsize);
        set(60, HEADERS as u32);
        for dir in [1, 12] {
            set(96 + 8 * dir, 0);
            set(100 + 8 * dir, 0);
        }
        let sections = [
            (TARGET_END - TARGET, TARGET, 0, 0),
            (packed_vsize, PACKED_RVA, packed_raw, HEADERS as u32),
        ];
        for (k, (vsize, rva, raw, off)) in sections.into_iter().enumerate() {
            let h = o + 0xe0 + 40 * k;
            for (at, v) in [
                (8, vsize),
                (12, rva),
                (16, raw),
                (20, off),
                (36, 0xe000_0060),
            ] {
                f[h + at..h + at + 4].copy_from_slice(&dword(v));
            }
        }
        assert_eq!(o + 0xe0 + 80, AFTER_TABLE);
        f[AFTER_TABLE..AFTER_TABLE + tail.len()].copy_from_slice(tail);
        f.extend_from_slice(packed);
        f.resize(HEADERS + packed_raw as usize, 0);
        f
    }

    /// clam-fsg.exe packed as FSG 2.0: `xchg [0x405000], esp` at 0x154; at 0x405000 the address
    /// of the register block (0x405004), then the table (0x405024, the original entry point in
    /// its fourth dword), then the whole program as one stream (0x405034).
    fn fsg_200() -> Vec<u8> {
        let image = original();
        let (stream, _) = compress(&image[TARGET as usize..TARGET_END as usize], true);
        let va = |rva: u32| BASE + rva;
        let mut packed = dword(va(PACKED_RVA + 4)).to_vec();
        let regs = [
            va(TARGET),
            va(PACKED_RVA + 0x34),
            0,
            0,
            va(PACKED_RVA + 0x24),
            0,
            0,
            0,
        ];
        let table = [0, 0, 0, va(0x1020)];
        for v in regs.iter().chain(&table) {
            packed.extend(dword(*v));
        }
        assert_eq!(packed.len(), 0x34);
        packed.extend(stream);
        let mut stub = vec![0x87, 0x25];
        stub.extend(dword(va(PACKED_RVA)));
        // popad; xchg eax, esp; push ebp; movsb; mov dh, 0x80; call [ebx]: FSG 2.0's stub.
        stub.extend([0x61, 0x94, 0x55, 0xa4, 0xb6, 0x80, 0xff, 0x13]);
        stub.resize(HEADERS - AFTER_TABLE, FILLER);
        build(AFTER_TABLE as u32, &stub, &packed)
    }

    /// clam-fsg.exe packed as FSG 1.33: one stream per original section (the .rsrc one literals
    /// only), then the stub (`mov esi, 0x400154`, the jump's offset at +163); at 0x154 the table:
    /// a dword for EBX, the first destination, the data, the other destinations plus one, 0.
    fn fsg_133() -> Vec<u8> {
        let image = original();
        let mut packed = Vec::new();
        for rva in (TARGET..TARGET_END).step_by(0x1000) {
            let section = &image[rva as usize..rva as usize + 0x1000];
            packed.extend(compress(section, rva != 0x3000).0);
        }
        packed.resize(packed.len().next_multiple_of(4), 0);
        let entry = PACKED_RVA + packed.len() as u32;
        let mut stub = vec![0xbe];
        stub.extend(dword(BASE + AFTER_TABLE as u32));
        // lodsd; xchg eax, ebx; lodsd; xchg eax, edi; lodsd; push esi; xchg eax, esi; mov dl,
        // 0x80: FSG 1.33's stub.
        stub.extend([0xad, 0x93, 0xad, 0x97, 0xad, 0x56, 0x96, 0xb2, 0x80]);
        stub.resize(OEP_JUMP_133 as usize + 2, FILLER);
        stub.extend(dword(0x1020u32.wrapping_sub(entry + OEP_JUMP_133 + 6)));
        stub.resize(0xb0, FILLER);
        packed.extend(stub);
        let mut table = Vec::new();
        for v in [0, TARGET, PACKED_RVA, 0x2001, 0x3001, 0x4001] {
            table.extend(dword(BASE + v));
        }
        table.extend(dword(0));
        build(entry, &table, &packed)
    }

    /// Unpacks `file` and checks it restores clam-fsg.exe's sections and entry point.
    fn check_restores(file: &[u8], spans: &[(u32, u32)]) {
        // Identification sends it here: named by its stub, and this variant restored.
        let img = crate::analysis::formats::pe::Image::parse(file, &mut Vec::new()).unwrap();
        assert_eq!(
            super::super::recognise(&img),
            Some((super::super::Packer::Fsg, true))
        );
        let p = Packed::parse(file).unwrap();
        assert!(detect(&p));
        let r = unpack(&p).unwrap();
        check_clam(&r);
        assert_eq!(r.entry, 0x1020);
        let range = TARGET as usize..TARGET_END as usize;
        assert!(
            r.image[range.clone()] == original()[range],
            "the sections differ"
        );
        let got: Vec<(u32, u32)> = r.sections.iter().map(|s| (s.rva, s.vsize)).collect();
        assert_eq!(got, spans);
        assert_eq!(r.imports, None);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    }

    #[test]
    fn unpacks_fsg_200() {
        check_restores(&fsg_200(), &[(0x1000, 0x4000)]);
    }

    #[test]
    fn unpacks_fsg_133() {
        let spans = [
            (0x1000, 0x1000),
            (0x2000, 0x1000),
            (0x3000, 0x1000),
            (0x4000, 0x1000),
        ];
        check_restores(&fsg_133(), &spans);
    }

    #[test]
    fn encoder_round_trips_through_the_decoder() {
        let mut data = b"FSG packs with aPLib; aPLib packs FSG. ".repeat(20);
        data.extend([0u8; 300]);
        data.extend((0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        data.extend(b"abcabcabcabd".repeat(30));
        data.extend_from_slice(&data.clone()[..1500]); // far matches (offset >= 0x500)
        for greedy in [true, false] {
            let (stream, kinds) = compress(&data, greedy);
            let mut out = vec![0u8; data.len()];
            assert_eq!(
                aplib::decompress(&stream, &mut out),
                Ok((stream.len(), data.len()))
            );
            assert!(out == data, "greedy {greedy}: {kinds:?}");
            if greedy {
                assert!(stream.len() < data.len() / 2, "{}", stream.len());
            } else {
                assert_eq!(kinds.literal, data.len() - 1);
            }
        }
        // The program's sections use every kind of item.
        let image = original();
        let (_, k) = compress(&image[TARGET as usize..TARGET_END as usize], true);
        for (n, kind) in [k.literal, k.long, k.repeat, k.short, k.nibble, k.zero]
            .iter()
            .zip(0..)
        {
            assert!(*n > 0, "item kind {kind} unused: {k:?}");
        }
    }

    #[test]
    fn detects_only_fsg() {
        for file in [fsg_200(), fsg_133()] {
            assert!(detect(&Packed::parse(&file).unwrap()));
        }
        let mut names: Vec<String> = std::fs::read_dir("/usr/share/clamav-testfiles")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("clam") && n.ends_with(".exe"))
            .collect();
        names.sort();
        assert!(names.len() >= 10, "{names:?}");
        let mut parsed = 0;
        for name in names {
            let data = sample(&name);
            if let Ok(p) = Packed::parse(&data) {
                parsed += 1;
                assert!(!detect(&p), "{name} detected as FSG");
                assert!(unpack(&p).is_err(), "{name}");
            }
        }
        assert!(parsed >= 10, "only {parsed} samples parse");
        // FSG 1.31's entry point is recognised and refused.
        let mut file = fsg_133();
        let p = Packed::parse(&file).unwrap();
        let at = HEADERS + (p.entry - PACKED_RVA) as usize;
        file[at..at + 11].copy_from_slice(&[0xbb, 0, 0, 0, 0, 0xbf, 0, 0, 0, 0, 0xbe]);
        let p = Packed::parse(&file).unwrap();
        assert!(!detect(&p));
        assert_eq!(unpack(&p).unwrap_err(), "fsg 1.31: not supported");
    }

    #[test]
    fn survives_truncation_and_corruption() {
        check_hostile_bytes("FSG 2.0", &fsg_200(), detect, unpack);
        check_hostile_bytes("FSG 1.33", &fsg_133(), detect, unpack);
    }
}
