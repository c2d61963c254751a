//! Upack-packed PE32 files (Upack by Dwing): restores the original program's image as Upack's
//! stub leaves it before jumping to the original entry point.
//!
//! Written from ClamAV's libclamav/upack.c (`unupack`, `unupack399`), the LZMA helpers of
//! libclamav/mew.c and the Upack branch of libclamav/pe.c (GPL; read for the format, no code
//! taken).
//!
//! Upack compresses the program with LZMA (its own decoder: no zero byte before the code, 32-bit
//! probabilities, pb=0, lc = 8 - a shift found in the stub) and keeps its stub and tables in the
//! PE header itself: the optional header is 0x148 bytes long, sections overlap the header (raw
//! offset 0x10), and the stub's parameters are found by following its jumps. Forms handled, as
//! ClamAV names them:
//! - three sections (`mov esi, <table>; lodsd; push eax`): Upack 0.39 and the "0151477" build
//!   (the same stub with its `jecxz` three bytes further); the table holds the original entry
//!   point; checked against clamav-testfiles' clam-upack.exe (0.39);
//! - three sections (`mov esi; push [esi]`): the "0297729" build, followed as ClamAV does,
//!   including its guess of the output's start (twice the first section's RVA), with a
//!   warning;
//! - two sections, one empty: Upack 0.39 (`pushad; call $+0xe`) and 1.1/1.2 beta
//!   (`mov esi; lodsd; mov edi, eax`), whose parameters sit at fixed offsets from the entry
//!   point and, for 1.1/1.2, in the header at 0x130 and 0x148.
//!
//! Only the first form is checked against a real file; the others follow ClamAV's reading.
//!
//! After decompression the stub turns `call`/`jmp` targets marked with a given byte back into
//! relative ones; that is done here too. Not restored: the original section table (the output
//! is one section, as in ClamAV) and the import directory (the stub resolves imports from its
//! own list; `imports` is None).
//!
//! The image is mapped with `Packed::map_to_raw_end`, not `Packed::map`: Upack's
//! header-overlapping sections have raw offset 0x10 and raw size 0x1f0; the loader rounds the
//! offset down to 0 and maps the whole 0x200 bytes up to the unrounded end (raw offset + raw
//! size), as ClamAV reads them too, while `Packed::map` stops 0x1f0 bytes after the rounded
//! offset. The lost 16 bytes matter:
//! Upack's own import descriptor (RVA 0xe1ee in the sample) takes its FirstThunk from them.

use super::image::{OutSection, Packed, Restored};
use super::lzma_mew::{self, Params, Start};
use super::mew::{file_at_rva, keep_resource_section};
use crate::analysis::bytes::{le16, le32, put32};

/// Size of Upack's optional header (a PE32 one is 0xe0).
const UPACK_OPTIONAL_HEADER: u16 = 0x148;
/// Bytes at the entry point ClamAV needs before trying Upack.
const ENTRY_BYTES: usize = 168;
/// The value the stub stores in every probability before decoding.
const PROB_START: u32 = 0x400;

/// The stub forms told apart by the entry point's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// Three sections, `mov esi; lodsd; push eax` (0.39, or the 0151477 build).
    Three039,
    /// Three sections, `mov esi; push [esi]` (the 0297729 build).
    Three0297729,
    /// Two sections, `pushad; call $+0xe` (0.39).
    Two039,
    /// Two sections, `mov esi; lodsd; mov edi, eax` (1.1/1.2 beta).
    Two11,
}

/// What the stub's parameters say, ready for decoding.
struct Plan {
    /// Original entry point (RVA).
    entry: u32,
    /// Start of the output (RVA).
    out: u32,
    /// End of the output (RVA, exclusive).
    out_end: u32,
    /// Compressed stream (RVA).
    input: u32,
    /// The decoder's state block (range, low, four repeat distances) (RVA).
    state: u32,
    /// lc = 8 - shift.
    shift: u32,
    /// How many calls the stub fixes after decoding.
    fix_count: FixCount,
    /// Where the byte marking the calls to fix is (RVA, in the stub's `cmp al, <marker>`).
    marker_at: u32,
    /// Guesses made while reading the stub.
    warnings: Vec<String>,
}

/// Where the number of calls to fix comes from.
enum FixCount {
    /// Read before decoding (three-section forms).
    Known(u32),
    /// Read at this RVA after decoding (two-section forms).
    After(u32),
}

/// Is this file packed with Upack, in one of the forms ClamAV unpacks (see the module doc)?
pub fn detect(p: &Packed) -> bool {
    form(p).is_some()
}

/// Restores the original program's virtual image statically.
pub fn unpack(p: &Packed) -> Result<Restored, String> {
    let form = form(p).ok_or("upack: not a Upack file of a form this unpacker knows")?;
    let mut image = p.map_to_raw_end()?;
    let plan = match form {
        Form::Three039 | Form::Three0297729 => plan_three(p, &mut image, form)?,
        Form::Two039 | Form::Two11 => plan_two(p, &mut image, form)?,
    };
    let Plan {
        entry,
        out,
        out_end,
        input,
        state,
        shift,
        fix_count,
        marker_at,
        mut warnings,
    } = plan;
    if out > out_end || out_end as usize > image.len() {
        return Err(format!(
            "upack: the output range {out:#x}..{out_end:#x} is not inside the image"
        ));
    }
    let start = Start {
        range: read_u32(&image, state, "the decoder's state")?,
        low: read_u32(&image, state.wrapping_add(4), "the decoder's state")?,
        reps: [
            read_u32(&image, state.wrapping_add(8), "the decoder's state")?,
            read_u32(&image, state.wrapping_add(12), "the decoder's state")?,
            read_u32(&image, state.wrapping_add(16), "the decoder's state")?,
            read_u32(&image, state.wrapping_add(20), "the decoder's state")?,
        ],
    };
    let stream = image
        .get(input as usize..)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            format!("upack: the compressed data at RVA {input:#x} lies outside the image")
        })?
        .to_vec();
    let params = Params {
        lc: 8 - shift,
        pb: 0,
    };
    let dest = image
        .get_mut(out as usize..out_end as usize)
        .unwrap_or(&mut []);
    lzma_mew::decode(&stream, dest, params, &start).map_err(|e| format!("upack: {e}"))?;

    // The stub then makes marked call/jmp targets relative again.
    let count = match fix_count {
        FixCount::Known(n) => n,
        FixCount::After(at) => read_u32(&image, at, "the call-fix count")?,
    };
    let marker = byte(&image, marker_at, "the call-fix marker")?;
    let left = fix_calls(&mut image, out, count, marker);
    if left != 0 {
        warnings.push(format!(
            "upack: {left} of {count} marked calls were not found; their targets stay absolute"
        ));
    }

    let first = p.sections.first().ok_or("upack: no sections")?;
    let mut sections = vec![OutSection {
        name: [0; 8],
        rva: out,
        vsize: out_end - out,
        flags: first.flags,
    }];
    sections.retain(|s| s.vsize != 0);
    keep_resource_section(p, &mut sections, &mut warnings, "upack");
    warnings.push("upack: imports are resolved by Upack's stub from its own list; the import directory is not rebuilt".into());
    if entry as usize >= image.len() {
        return Err(format!(
            "upack: the original entry point RVA {entry:#x} lies outside the image"
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

/// Tells the stub's form from the headers and the entry point, as ClamAV's pe.c does.
fn form(p: &Packed) -> Option<Form> {
    let optional_size = le16(p.data, p.pe_off + 20)?;
    let code: &[u8; ENTRY_BYTES] = file_at_rva(p, p.entry)?
        .get(..ENTRY_BYTES)?
        .try_into()
        .ok()?;
    let imm = u32::from_le_bytes([code[1], code[2], code[3], code[4]]).wrapping_sub(p.image_base);
    let align = |rva: u32| {
        if p.section_align == 0 {
            rva
        } else {
            rva - rva % p.section_align
        }
    };
    let lowest = p.sections.iter().map(|s| align(s.rva)).min()?;
    if optional_size == UPACK_OPTIONAL_HEADER
        && p.sections.len() == 3
        && code[0] == 0xbe
        && imm > lowest
    {
        return match (code[5], code[6]) {
            (0xad, 0x50) => Some(Form::Three039),
            (0xff, 0x36) => Some(Form::Three0297729),
            _ => None,
        };
    }
    let has_empty = p
        .sections
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.raw_size == 0 && a.vsize != 0 && b.raw_size != 0));
    if optional_size != UPACK_OPTIONAL_HEADER && p.sections.len() == 2 && has_empty {
        if code.starts_with(&[0x60, 0xe8, 0x09, 0, 0, 0]) {
            return Some(Form::Two039);
        }
        if code[0] == 0xbe
            && imm > 0
            && imm < lowest
            && [code[5], code[6], code[7]] == [0xad, 0x8b, 0xf8]
        {
            return Some(Form::Two11);
        }
    }
    None
}

/// Reads the three-section stub: a table at `mov esi`'s operand, then jumps from the entry point
/// to the decoder's head, where the `jecxz`, the shift and the call-fix marker are found.
fn plan_three(p: &Packed, image: &mut [u8], form: Form) -> Result<Plan, String> {
    let va = |v: u32| v.wrapping_sub(p.image_base);
    let e = p.entry;
    let mut warnings = Vec::new();
    let table = va(read_u32(
        image,
        e.wrapping_add(1),
        "the entry point's operand",
    )?);
    let entry = va(read_u32(image, table, "the original entry point")?);
    let old = form == Form::Three039;
    // First jump from the entry point, then the `mov ch, <count>` and the long jump to the head.
    let (hop, count_at, long_at);
    if old {
        expect(image, e.wrapping_add(0xa), 0xeb, "the first short jmp")?;
        hop = short_jump(image, e.wrapping_add(0xa))?;
        expect(image, hop.wrapping_add(0x1a), 0xeb, "the second short jmp")?;
        count_at = short_jump(image, hop.wrapping_add(0x1a))?.wrapping_add(0xa);
        long_at = count_at.wrapping_add(1 + 8);
    } else {
        expect(image, e.wrapping_add(7), 0xe9, "the first jmp")?;
        hop = near_jump(image, e.wrapping_add(7))?;
        count_at = hop.wrapping_add(0x25);
        long_at = count_at.wrapping_add(1 + 10);
    }
    expect(image, count_at, 0xb5, "the `mov ch` giving the table size")?;
    let count = u32::from(byte(image, count_at.wrapping_add(1), "the table size")?) * 0x100;
    expect(image, long_at, 0xe9, "the jmp to the decoder")?;
    let head = near_jump(image, long_at)?;
    // 0.39 has its `jecxz` 42 bytes into the decoder, the later builds 45.
    let (jecxz, jump_off, shift_at) = if byte(image, head.wrapping_add(42), "the decoder")? == 0xe3
    {
        (head.wrapping_add(42), 8, head.wrapping_add(24))
    } else {
        expect(image, head.wrapping_add(45), 0xe3, "the decoder's jecxz")?;
        (head.wrapping_add(45), 7, head.wrapping_add(26))
    };
    let after = short_jump(image, jecxz)?;
    expect(
        image,
        after.wrapping_add(jump_off),
        0xe9,
        "the jmp to the call fixer",
    )?;
    let extra = if old { 27 } else { 29 };
    let marker_at = near_jump(image, after.wrapping_add(jump_off))?.wrapping_add(extra);
    let shift = read_shift(image, shift_at)?;

    // The stub copies its tables next to the decoder's state, then resets the model there.
    let (from, to, dwords) = if old {
        expect(
            image,
            hop.wrapping_add(7),
            0xbe,
            "the `mov esi` before the table copy",
        )?;
        let to = va(read_u32(
            image,
            table.wrapping_add(8),
            "the table copy's destination",
        )?);
        (
            va(read_u32(
                image,
                hop.wrapping_add(8),
                "the table copy's source",
            )?),
            to,
            0x27,
        )
    } else {
        expect(
            image,
            hop.wrapping_add(6),
            0xbe,
            "the `mov esi` before the table copy",
        )?;
        expect(
            image,
            hop.wrapping_add(11),
            0xbf,
            "the `mov edi` before the table copy",
        )?;
        let source = read_u32(image, hop.wrapping_add(7), "the table copy's source")?;
        let first = p.sections.first().map_or(0, |s| s.rva);
        if source < p.image_base || source > p.image_base.wrapping_add(first) {
            return Err("upack: the table copy's source is not in the header".into());
        }
        (
            va(source),
            va(read_u32(
                image,
                hop.wrapping_add(12),
                "the table copy's destination",
            )?),
            0x16,
        )
    };
    copy_dwords(image, from, to, dwords)?;
    let tables = from.wrapping_add(dwords * 4);
    let state = to.wrapping_add(dwords * 4);
    let input = va(read_u32(
        image,
        state.wrapping_sub(4),
        "the compressed data's address",
    )?);
    reset_model(image, state, count)?;
    let (out, out_end, fix_count_at);
    if old {
        out = va(read_u32(
            image,
            tables.wrapping_add(0xc),
            "the output's address",
        )?);
        out_end = va(read_u32(
            image,
            tables.wrapping_add(0x34),
            "the output's end",
        )?);
        fix_count_at = tables.wrapping_add(4);
    } else {
        let first = p.sections.first().map_or(0, |s| s.rva);
        out = first.wrapping_add(first);
        out_end = va(read_u32(
            image,
            tables.wrapping_add(0x64),
            "the output's end",
        )?);
        fix_count_at = tables.wrapping_add(0x40);
        warnings.push(format!(
            "upack: build 0297729: the output is assumed to start at RVA {out:#x}, as ClamAV guesses from one sample"
        ));
    }
    let fix_count = FixCount::Known(read_u32(image, fix_count_at, "the call-fix count")?);
    Ok(Plan {
        entry,
        out,
        out_end,
        input,
        state,
        shift,
        fix_count,
        marker_at,
        warnings,
    })
}

/// Reads the two-section stub, whose parameters sit at fixed offsets from the entry point.
fn plan_two(p: &Packed, image: &mut [u8], form: Form) -> Result<Plan, String> {
    let va = |v: u32| v.wrapping_sub(p.image_base);
    let e = p.entry;
    let (jump_at, count_at, shift_at, marker_at) = match form {
        Form::Two11 => (0x1a4, 0x1b, 0x41, 0x184),
        _ => (0x217, 0x3a, 0x5f, 0x1c1),
    };
    // The stub ends with `jmp <original entry point>`.
    let entry = near_jump(image, e.wrapping_add(jump_at - 1))?;
    let count = u32::from(byte(image, e.wrapping_add(count_at), "the table size")?) * 0x100;
    let shift = literal_shift(8u32.wrapping_sub(u32::from(byte(
        image,
        e.wrapping_add(shift_at),
        "the shift",
    )?)))?;
    let marker_at = e.wrapping_add(marker_at);
    if form == Form::Two11 {
        let slot = va(read_u32(image, 0x148, "the state's address")?);
        let input = va(read_u32(image, 0x14c, "the compressed data's address")?);
        let state = slot.wrapping_add(4);
        reset_model(image, state, count)?;
        let out = va(read_u32(image, 0x150, "the output's address")?);
        let out_end = va(read_u32(image, 0x130, "the output's end")?);
        let fix_count = FixCount::After(e.wrapping_add(0x174));
        return Ok(Plan {
            entry,
            out,
            out_end,
            input,
            state,
            shift,
            fix_count,
            marker_at,
            warnings: Vec::new(),
        });
    }
    // 0.39: the `call $+0xe` (over the 9 bytes after it) pushes the address of a dword holding
    // the distance back to the table.
    let back_at = e.wrapping_add(6);
    let back = read_u32(image, back_at, "the distance to the table")?;
    put_u32(image, back_at, 0)?;
    if back == 0 {
        return Err(
            "upack: 0.39 two-section stub with a zero distance to its table: not supported".into(),
        );
    }
    let table = e.wrapping_add(6).wrapping_sub(back);
    // The table's first dword is its own VA: any difference is a relocation delta.
    let delta = table.wrapping_sub(va(read_u32(image, table, "the stub's table")?));
    let dest = va(read_u32(
        image,
        table.wrapping_add(4),
        "the table's destination",
    )?);
    let dwords = read_u32(image, table.wrapping_add(8), "the table's length")?;
    if dwords >= 1 << 28 {
        return Err("upack: the stub's table is too long".into());
    }
    copy_dwords(image, table.wrapping_add(12), dest, dwords)?;
    let fill_at = dest.wrapping_add(dwords * 4);
    let skip = read_u32(image, dest, "the table's first entry")?;
    if skip == 0 {
        return Err("upack: 0.39 two-section stub with an empty table: not supported".into());
    }
    let cursor = dest
        .wrapping_add(4)
        .wrapping_add(skip.wrapping_mul(delta.wrapping_add(4)));
    let fill = read_u32(image, cursor, "the probabilities' start value")?;
    if fill != PROB_START {
        return Err(format!(
            "upack: probabilities starting at {fill:#x}: not supported"
        ));
    }
    fill_dwords(image, fill_at, count, fill)?;
    let state = cursor.wrapping_add(4 + 0x14);
    // The dword before the state is the compressed data's address, relocated by the delta.
    let input_at = state.wrapping_sub(4);
    let input = read_u32(image, input_at, "the compressed data's address")?.wrapping_add(delta);
    put_u32(image, input_at, input)?;
    let input = va(input);
    let params = dest.wrapping_add(8);
    let out = va(read_u32(
        image,
        dest.wrapping_add(4),
        "the output's address",
    )?);
    let out_end = va(read_u32(
        image,
        params.wrapping_add(0x24),
        "the output's end",
    )?);
    // The range and the low bound are stored the other way round.
    let range = read_u32(image, state.wrapping_add(4), "the decoder's state")?;
    let low = read_u32(image, state, "the decoder's state")?;
    put_u32(image, state, range)?;
    put_u32(image, state.wrapping_add(4), low)?;
    let fix_count = FixCount::After(params.wrapping_add(0x40));
    Ok(Plan {
        entry,
        out,
        out_end,
        input,
        state,
        shift,
        fix_count,
        marker_at,
        warnings: Vec::new(),
    })
}

/// Writes the decoder's fresh state at `state`: full range, zero low bound, repeat distances 1,
/// then `count` probabilities at one half.
fn reset_model(image: &mut [u8], state: u32, count: u32) -> Result<(), String> {
    for (i, v) in [u32::MAX, 0, 1, 1, 1, 1].into_iter().enumerate() {
        put_u32(image, state.wrapping_add(4 * i as u32), v)?;
    }
    fill_dwords(image, state.wrapping_add(24), count, PROB_START)
}

/// Turns `count` marked `call`/`jmp` targets after `start` (big-endian offsets from `start`
/// behind the marker byte) back into relative ones; returns how many were not found before the
/// image's end.
fn fix_calls(image: &mut [u8], start: u32, count: u32, marker: u8) -> u32 {
    let mut left = count;
    let mut i = start as usize;
    while left > 0 {
        let Some(&op) = image.get(i) else { break };
        i += 1;
        if op != 0xe8 && op != 0xe9 {
            continue;
        }
        let Some(operand) = image.get_mut(i..i + 4) else {
            break;
        };
        let mut word = [0u8; 4];
        word.copy_from_slice(operand);
        if word[0] != marker {
            continue;
        }
        let target = u32::from_be_bytes([0, word[1], word[2], word[3]]);
        let next = (i - start as usize) as u32 + 4;
        operand.copy_from_slice(&target.wrapping_sub(next).to_le_bytes());
        i += 4;
        left -= 1;
    }
    left
}

/// Reads the `shr ebp, <shift>` at `at`; the shift must be 2..8.
fn read_shift(image: &[u8], at: u32) -> Result<u32, String> {
    expect(image, at, 0xc1, "the decoder's shr")?;
    expect(image, at.wrapping_add(1), 0xed, "the decoder's shr")?;
    literal_shift(u32::from(byte(
        image,
        at.wrapping_add(2),
        "the decoder's shift",
    )?))
}

/// `shift` when it is one the stub's literal coder can have (lc = 8 - shift): 2 to 8.
fn literal_shift(shift: u32) -> Result<u32, String> {
    if !(2..=8).contains(&shift) {
        return Err(format!("upack: literal shift {shift} out of 2..8"));
    }
    Ok(shift)
}

/// The target of the short jump (`eb rel8`, or `e3 rel8`) at `at`.
fn short_jump(image: &[u8], at: u32) -> Result<u32, String> {
    let rel = byte(image, at.wrapping_add(1), "a short jump")? as i8;
    Ok(at.wrapping_add(2).wrapping_add(rel as i32 as u32))
}

/// The target of the near jump (`e9 rel32`) at `at`.
fn near_jump(image: &[u8], at: u32) -> Result<u32, String> {
    Ok(at
        .wrapping_add(5)
        .wrapping_add(read_u32(image, at.wrapping_add(1), "a jump")?))
}

/// Fails unless the byte at `at` is `want` (an opcode of the stub).
fn expect(image: &[u8], at: u32, want: u8, what: &str) -> Result<(), String> {
    let got = byte(image, at, what)?;
    if got != want {
        return Err(format!(
            "upack: {what} at RVA {at:#x} is {got:#04x}, not {want:#04x}: unknown stub"
        ));
    }
    Ok(())
}

/// Copies `dwords` dwords from `from` to `to` (RVAs), forward, as the stub's `rep movsd`.
fn copy_dwords(image: &mut [u8], from: u32, to: u32, dwords: u32) -> Result<(), String> {
    let n = dwords as usize * 4;
    let (from, to) = (from as usize, to as usize);
    if from.checked_add(n).is_none_or(|e| e > image.len())
        || to.checked_add(n).is_none_or(|e| e > image.len())
    {
        return Err(format!("upack: the stub's table copy ({n:#x} bytes from RVA {from:#x} to {to:#x}) leaves the image"));
    }
    for i in 0..n {
        let b = image.get(from + i).copied().unwrap_or(0);
        if let Some(d) = image.get_mut(to + i) {
            *d = b;
        }
    }
    Ok(())
}

/// Writes `count` copies of `value` from `at` (an RVA).
fn fill_dwords(image: &mut [u8], at: u32, count: u32, value: u32) -> Result<(), String> {
    let n = count as usize * 4;
    let dst = (at as usize)
        .checked_add(n)
        .and_then(|end| image.get_mut(at as usize..end))
        .ok_or_else(|| {
            format!("upack: the decoder's table at RVA {at:#x} ({n:#x} bytes) leaves the image")
        })?;
    for chunk in dst.chunks_exact_mut(4) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    Ok(())
}

/// The byte at `rva` in the image.
fn byte(image: &[u8], rva: u32, what: &str) -> Result<u8, String> {
    image
        .get(rva as usize)
        .copied()
        .ok_or_else(|| format!("upack: {what} at RVA {rva:#x} lies outside the image"))
}

/// The little-endian dword at `rva` in the image.
fn read_u32(image: &[u8], rva: u32, what: &str) -> Result<u32, String> {
    le32(image, rva as usize)
        .ok_or_else(|| format!("upack: {what} at RVA {rva:#x} lies outside the image"))
}

/// Writes a little-endian dword at `rva` in the image.
fn put_u32(image: &mut [u8], rva: u32, value: u32) -> Result<(), String> {
    put32(image, rva as usize, value)
        .ok_or_else(|| format!("upack: RVA {rva:#x} lies outside the image"))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        check_detects_only, check_hostile_input, check_zipped_clam, restored,
    };
    use super::*;

    const SAMPLE: &str = "clam-upack.exe";

    #[test]
    fn unpacks_the_sample() {
        let r = restored(SAMPLE, unpack);
        check_zipped_clam(&r);
        let spans: Vec<(u32, u32)> = r.sections.iter().map(|s| (s.rva, s.vsize)).collect();
        assert_eq!(spans, [(0x1000, 0x406f), (0x6000, 0x8000)]);
        // Both marked calls were found and made relative again.
        assert!(!r.warnings.iter().any(|w| w.contains("not found")));
        // The decoded program equals MEW's up to its resources, which Upack moved to 0x6000.
        let m = restored("clam-mew.exe", super::super::mew::unpack);
        assert_eq!(r.image[0x1000..0x3058], m.image[0x1000..0x3058]);
    }

    #[test]
    fn detects_only_upack() {
        check_detects_only(SAMPLE, detect);
    }

    #[test]
    fn survives_truncation_and_corruption() {
        check_hostile_input(SAMPLE, detect, unpack);
    }
}
