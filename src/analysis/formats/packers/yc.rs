//! yoda's Crypter (yC) 1.2 and 1.3: undoes the two layers of polymorphic byte cipher (its loader's
//! and the program's sections'), puts back the import table yC hid, and reads the original entry
//! point from the loader's variables.
//!
//! Written from ClamAV's libclamav/yc.c and the yC part of libclamav/pe.c (GPL; read for the
//! format, no code taken). The loader's variable block and its import handling were checked
//! against a published C++ port of the yC 1.3 loader (GPL; read only) and the clamav-testfiles
//! sample.
//!
//! Format. yC appends a section (named "yC" by default; the name is an option, so it is not relied
//! on) holding its loader, with the entry point 0x60 bytes in. The loader first decrypts the rest
//! of itself with a `lodsb; <0x30-byte body>; stosb; loop` loop whose body is generated per file
//! from a few x86 instructions on `al` (add/sub/xor with `cl` or an immediate, inc/dec, rol/ror by
//! `cl` or an immediate, nop/clc/stc, short jumps over junk bytes); `cl` is the low byte of the
//! count of bytes left. The decrypted loader holds a second such loop, which it runs over each
//! section's raw size at the section's RVA (sections named like resources, relocations, exports,
//! `.rdata`, `.idata`, `.tls`, or without raw data, are not encrypted), and its variables: image
//! base, original entry point (an RVA), protection flags, two CRCs, an NT flag, then up to 30
//! import records (DLL name, FirstThunk, OriginalFirstThunk). When crypting, yC nibble-swapped
//! (rol 4) every DLL and function name and overwrote each import descriptor with one repeated
//! random dword; the loader resolves the imports itself.
//!
//! Handled: the three loader entry forms ClamAV recognises (what it calls yC 1.3, a variant of it
//! with a 0x40-byte stack frame, and "yC 1.x/modified"), with a first layer between 0x800 and
//! 0x2000 bytes long. The variables are found at a fixed distance from the end of the first layer,
//! checked by the image base that starts them, with ClamAV's fixed offset as the fallback: the
//! sample's loader (a first layer of 0xb6b bytes) is 0x2c bytes shorter than the one (0xb97) that
//! offset was written for. Not handled: other yC versions, yoda's Protector, decryptor bodies using
//! other instructions.
//!
//! Restored: the image as the loader leaves it before jumping to the original entry point, except
//! for imports: where the loader writes resolved addresses (or its own redirection stubs) into the
//! import address table and, with its "destroy import" option, wipes the names, this module puts
//! back the program's own import table: names decrypted, and descriptors rebuilt from the loader's
//! records where the destroyed ones can be found. Not restored: the descriptors' TimeDateStamp and
//! ForwarderChain (written as 0), and a TLS directory yC moved into its own section.

use super::byte_cipher::{self, Op};
use super::image::{OutSection, Packed, Restored, Section};
use crate::analysis::bytes::{le16, le32, put32};

/// How far into the loader's section its entry point lies.
const ENTRY_IN_SECTION: u32 = 0x60;
/// Bytes of entry code examined.
const ENTRY_CODE_LEN: usize = 0x80;
/// Length of a decryptor's body, between its `lodsb` and its `stosb`.
const BODY_LEN: usize = 0x30;
/// Most instructions followed in one body (its jumps could loop).
const MAX_BODY_STEPS: usize = 0x100;
/// Bounds (exclusive) on the first layer's length, as ClamAV takes them.
const LAYER1_LEN_MIN: u32 = 0x800;
const LAYER1_LEN_MAX: u32 = 0x2000;
/// Where the first decryptor's body and the bytes it decrypts start, from the loader's base.
const LAYER1_BODY: usize = 0x93;
const LAYER1_DATA: usize = 0xc6;
/// Where the section decryptor's body starts, from the loader's base ("yC 1.x/modified" differs).
const LAYER2_BODY: usize = 0x457;
const LAYER2_BODY_MODIFIED: usize = 0x3ea;
/// The entry-point variable lies this far before the end of the first layer...
const OEP_BEFORE_END: usize = 0x24e;
/// ...or, as ClamAV has it, this far from the loader's base.
const OEP_FIXED: usize = 0xa0f;
/// From the entry-point variable to the first import record.
const RECORDS_AFTER_OEP: usize = 0x14;
/// Import records in the loader (yC refuses files importing from more DLLs).
const MAX_RECORDS: usize = 30;
/// Bytes in an import record and in an import descriptor.
const RECORD_LEN: usize = 12;
const DESCRIPTOR_LEN: usize = 20;
/// Longest name yC encrypts.
const MAX_NAME_LEN: usize = 256;
/// Most imported function names restored in one file.
const MAX_IMPORT_NAMES: usize = 1 << 16;
/// An import thunk's "by ordinal" bit.
const ORDINAL_FLAG: u32 = 0x8000_0000;
/// First four bytes of the section names yC does not encrypt.
const PLAIN_SECTIONS: [&[u8; 4]; 8] = [
    b"rsrc", b".rsr", b"relo", b".rel", b".eda", b".rda", b".ida", b".tls",
];

/// The loader entry forms ClamAV recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `push ebp; mov ebp, esp; push ebx/esi/edi; pushad; call $+5; pop ebp; ...` (yC 1.3).
    Plain,
    /// The same after `sub esp, 0x40`: the loader's layout is 0x10 bytes later.
    Framed,
    /// `pushad; call $+5; pop ebp; ...` ("yC 1.x/modified"): the layout is 0x18 bytes earlier.
    Modified,
}

/// What the entry code says about the loader.
#[derive(Clone, Copy, Debug)]
struct Loader {
    /// Which entry form it has.
    form: Form,
    /// Length of the first (self-decrypted) layer.
    len: u32,
    /// Shift of the loader's layout from yC 1.3's, in bytes.
    shift: i32,
}

/// Recognises the loader's entry code. Each form loads `ebp` with the run-time delta (`call $+5;
/// pop ebp; sub ebp, <link-time address of the pop>`), then the first layer's address and length
/// from link-time addresses; their difference from the pop's address is checked.
fn read_entry(ep: &[u8]) -> Option<Loader> {
    let has = |at: usize, bytes: &[u8]| ep.get(at..at + bytes.len()) == Some(bytes);
    let d = |at: usize| le32(ep, at);
    let plain = || -> Option<Loader> {
        let head = [
            0x55, 0x8b, 0xec, 0x53, 0x56, 0x57, 0x60, 0xe8, 0, 0, 0, 0, 0x5d, 0x81, 0xed,
        ];
        let tail = [
            0x8d, 0x3a, 0x8b, 0xf7, 0x33, 0xc0, 0xeb, 0x04, 0x90, 0xeb, 0x01, 0xc2, 0xac,
        ];
        let ok = has(0, &head)
            && has(0x26, &tail)
            && ep.get(0x13) == Some(&0xb9)
            && le16(ep, 0x18) == Some(0xe981)
            && has(0x1e, &[0x8b, 0xd5, 0x81, 0xc2]);
        (ok && d(0x22)?.wrapping_sub(d(0x0f)?) == 0x5a).then_some(())?;
        let len = d(0x14)?.wrapping_sub(d(0x1a)?);
        Some(Loader {
            form: Form::Plain,
            len,
            shift: 0,
        })
    };
    let framed = || -> Option<Loader> {
        let ok = has(0, &[0x55, 0x8b, 0xec, 0x83, 0xec, 0x40, 0x53, 0x56, 0x57])
            && has(0x17, &[0xe8, 0, 0, 0, 0, 0x5d, 0x81, 0xed])
            && ep.get(0x23) == Some(&0xb9);
        (ok && d(0x32)?.wrapping_sub(d(0x1f)?) == 0x5a).then_some(())?;
        let len = d(0x24)?.wrapping_sub(d(0x2a)?);
        Some(Loader {
            form: Form::Framed,
            len,
            shift: 0x10,
        })
    };
    let modified = || -> Option<Loader> {
        let ok = has(0, &[0x60, 0xe8, 0, 0, 0, 0, 0x5d, 0x81, 0xed])
            && ep.get(0x0d) == Some(&0xb9)
            && le16(ep, 0x12) == Some(0xbd8d)
            && has(0x18, &[0x8b, 0xf7, 0xac]);
        (ok && d(0x14)?.wrapping_sub(d(0x09)?) == 0x48).then_some(())?;
        Some(Loader {
            form: Form::Modified,
            len: d(0x0e)?,
            shift: -0x18,
        })
    };
    let loader = plain().or_else(framed).or_else(modified)?;
    // The body ends with `stosb; loop <body start>`.
    let end = usize::try_from(0x63 + loader.shift).ok()?;
    let fits = loader.len > LAYER1_LEN_MIN && loader.len < LAYER1_LEN_MAX;
    (fits && has(end, &[0xaa, 0xe2, 0xcc])).then_some(loader)
}

/// The packed file's loader section (the last one) and its entry code, as ClamAV finds them.
fn find_loader<'a>(p: &'a Packed) -> Result<(&'a Section, Loader), String> {
    let last = match p.sections.as_slice() {
        [_, .., last] => last,
        _ => return Err("yC: the file has fewer than two sections".into()),
    };
    if p.entry != last.rva.wrapping_add(ENTRY_IN_SECTION) {
        return Err("yC: the entry point is not 0x60 bytes into the last section".into());
    }
    let raw = (last.raw_off & !0x1ff) as usize;
    let raw_end = raw.saturating_add(last.raw_size as usize).min(p.data.len());
    let from = raw.saturating_add(ENTRY_IN_SECTION as usize);
    let code = p.data.get(from..raw_end.max(from)).unwrap_or(&[]);
    let code = code.get(..ENTRY_CODE_LEN.min(code.len())).unwrap_or(&[]);
    let loader = read_entry(code).ok_or("yC: the entry code is not that of a yC 1.2/1.3 loader")?;
    Ok((last, loader))
}

/// Is this file packed with yoda's Crypter 1.2/1.3, in a form this module restores?
pub fn detect(p: &Packed) -> bool {
    find_loader(p).is_ok()
}

/// A decryptor body read into the instructions it executes for each byte, in order. The body
/// does not depend on the data (no conditional jumps), so it is read once.
#[derive(Debug)]
struct Decryptor {
    steps: Vec<Op>,
}

impl Decryptor {
    /// Reads a `BODY_LEN`-byte body from its first byte until control reaches its end. `what`
    /// names the decryptor in errors.
    fn read(body: &[u8], what: &str) -> Result<Self, String> {
        let unknown = |pc: usize| {
            let b = body.get(pc..).unwrap_or(&[]);
            let b = b.get(..3.min(b.len())).unwrap_or(&[]);
            format!("yC: the {what} decryptor uses an unknown instruction ({b:02x?} at +0x{pc:x})")
        };
        let mut steps = Vec::new();
        let mut pc = 0usize;
        for _ in 0..MAX_BODY_STEPS {
            if pc == BODY_LEN {
                return Ok(Decryptor { steps });
            }
            let code = body.get(pc..).unwrap_or(&[]);
            let (step, len) = match code {
                [0xd2, 0xc0, ..] => (Some(Op::RolCl), 2),
                [0xd2, 0xc8, ..] => (Some(Op::RorCl), 2),
                &[0xeb, rel, ..] => {
                    // A short jump, relative to the next instruction; it must stay in the body.
                    let to = (pc as isize)
                        .wrapping_add(2)
                        .wrapping_add(isize::from(rel as i8));
                    pc = usize::try_from(to)
                        .ok()
                        .filter(|&to| to <= BODY_LEN)
                        .ok_or_else(|| format!("yC: the {what} decryptor jumps out of its body"))?;
                    continue;
                }
                _ => byte_cipher::decode(code).ok_or_else(|| unknown(pc))?,
            };
            steps.extend(step);
            pc += len;
        }
        Err(format!("yC: the {what} decryptor does not reach its end"))
    }

    /// Decrypts `data`, the first bytes of a run of `count` bytes (the loop's initial `ecx`).
    fn run(&self, data: &mut [u8], count: u32) {
        byte_cipher::run(&self.steps, data, count);
    }
}

/// The decryptor whose body starts at `at` in the image, checked to sit between a `lodsb` and a
/// `stosb; loop`.
fn decryptor_at(img: &[u8], at: usize, what: &str) -> Result<Decryptor, String> {
    let framed = at.checked_sub(1).and_then(|before| img.get(before)) == Some(&0xac)
        && img.get(at + BODY_LEN..at + BODY_LEN + 2) == Some(&[0xaa, 0xe2][..]);
    let body = img
        .get(at..at + BODY_LEN)
        .filter(|_| framed)
        .ok_or_else(|| {
            format!("yC: the {what} decryptor is not at RVA 0x{at:x}, where yC 1.2/1.3 keeps it")
        })?;
    Decryptor::read(body, what)
}

/// One of the loader's import records.
#[derive(Clone, Copy, Debug)]
struct ImportRecord {
    /// RVA of the DLL's name.
    name: u32,
    /// RVA of the import address table the loader fills.
    first_thunk: u32,
    /// RVA of the import lookup table, or 0 (the names are then read from `first_thunk`).
    original_first_thunk: u32,
}

/// Nibble-swaps the NUL-terminated name at `at` back, as the loader does before loading it.
fn decrypt_name(img: &mut [u8], at: usize) {
    let name = img.get_mut(at..).unwrap_or(&mut []);
    for b in name.iter_mut().take(MAX_NAME_LEN) {
        if *b == 0 {
            break;
        }
        *b = b.rotate_left(4);
    }
}

/// Decrypts the DLL and function names of every import record, walking each DLL's thunks as
/// the loader does. False when it stopped at `MAX_IMPORT_NAMES`.
fn decrypt_names(img: &mut [u8], records: &[ImportRecord]) -> bool {
    let mut left = MAX_IMPORT_NAMES;
    for r in records {
        decrypt_name(img, r.name as usize);
        let thunks = if r.original_first_thunk != 0 {
            r.original_first_thunk
        } else {
            r.first_thunk
        };
        let thunks = thunks as usize;
        for k in 0..img.len() / 4 {
            let thunk = match le32(img, thunks.saturating_add(4 * k)) {
                Some(0) | None => break,
                Some(t) => t,
            };
            left = match left.checked_sub(1) {
                Some(l) => l,
                None => return false,
            };
            if thunk & ORDINAL_FLAG == 0 {
                // Skip the hint.
                decrypt_name(img, (thunk as usize).saturating_add(2));
            }
        }
    }
    true
}

/// Finds where yC overwrote the program's `count` import descriptors: the one 4-aligned run of
/// exactly `5 * count` equal nonzero dwords inside `sections`, followed by a descriptor whose
/// Name is 0 (the terminator, which yC leaves). None if there is no such run, or more than one.
fn find_destroyed_descriptors(img: &[u8], sections: &[OutSection], count: usize) -> Option<usize> {
    let want = count.checked_mul(DESCRIPTOR_LEN / 4)?;
    let mut found = None;
    for s in sections {
        let end = (s.rva as usize)
            .saturating_add(s.vsize as usize)
            .min(img.len());
        let mut at = (s.rva as usize).checked_add(3)? & !3;
        while let Some(v) = le32(img, at).filter(|_| at + 4 <= end) {
            let mut run = 1;
            while at + 4 * run + 4 <= end && le32(img, at + 4 * run) == Some(v) {
                run += 1;
            }
            let terminator = le32(img, at + 4 * run + 12);
            if v != 0 && run == want && terminator == Some(0) {
                if found.is_some() {
                    return None;
                }
                found = Some(at);
            }
            at += 4 * run;
        }
    }
    found
}

/// Restores the original program's virtual image statically: both cipher layers undone, the
/// import names and descriptors put back, the image cut at the end of the original sections
/// (yC's own section dropped), the entry point read from the loader's variables.
pub fn unpack(p: &Packed) -> Result<Restored, String> {
    let (yc, loader) = find_loader(p)?;
    let mut img = p.map()?;
    let mut warnings = Vec::new();
    let base = i64::from(yc.rva) + i64::from(loader.shift);
    let base = usize::try_from(base)
        .ok()
        .filter(|&b| b < img.len())
        .ok_or("yC: the loader lies outside the image")?;

    // First layer: the loader decrypts the rest of itself.
    let layer1 = decryptor_at(&img, base + LAYER1_BODY, "loader")?;
    let start = base + LAYER1_DATA;
    let end = start + loader.len as usize;
    let region = img.get_mut(start..end).ok_or_else(|| {
        format!(
            "yC: the loader's encrypted part (0x{:x} bytes at RVA 0x{start:x}) runs past the image",
            loader.len
        )
    })?;
    layer1.run(region, loader.len);

    // The variables: image base, entry point, flags, CRCs, NT flag, import records.
    let oep_at = [end.checked_sub(OEP_BEFORE_END), Some(base + OEP_FIXED)]
        .into_iter()
        .flatten()
        .find(|&at| at >= start + 4 && at + 4 <= end && le32(&img, at - 4) == Some(p.image_base))
        .ok_or(
            "yC: the loader's variables (the image base, then the entry point) were not found",
        )?;
    let oep = le32(&img, oep_at).ok_or("yC: the entry-point variable is cut short")?;
    let mut records = Vec::new();
    for k in 0..MAX_RECORDS {
        let at = oep_at + RECORDS_AFTER_OEP + k * RECORD_LEN;
        if at + RECORD_LEN > end {
            break;
        }
        let field = |i: usize| le32(&img, at + 4 * i).unwrap_or(0);
        let r = ImportRecord {
            name: field(0),
            first_thunk: field(1),
            original_first_thunk: field(2),
        };
        if r.first_thunk == 0 {
            break;
        }
        records.push(r);
    }

    // Second layer: the sections.
    let body = base
        + if loader.form == Form::Modified {
            LAYER2_BODY_MODIFIED
        } else {
            LAYER2_BODY
        };
    let layer2 = decryptor_at(&img, body, "section")?;
    let originals = p
        .sections
        .get(..p.sections.len().saturating_sub(1))
        .unwrap_or(&[]);
    let mut budget = p.data.len();
    for s in originals {
        let plain = s
            .name
            .get(..4)
            .is_some_and(|n| PLAIN_SECTIONS.iter().any(|&w| n == w))
            || s.name.starts_with(b"yC");
        if plain || s.raw_off == 0 || s.raw_size == 0 {
            continue;
        }
        let n = s.raw_size as usize;
        budget = budget.checked_sub(n).ok_or_else(|| {
            "yC: the sections' raw sizes add up to more than the file (overlapping sections)"
                .to_string()
        })?;
        let at = s.rva as usize;
        // The mapped image always covers each section's raw size.
        if let Some(data) = img.get_mut(at..at.saturating_add(n)) {
            layer2.run(data, s.raw_size);
        }
    }

    // The original sections and the image's end.
    let mut sections: Vec<OutSection> = originals
        .iter()
        .map(|s| OutSection {
            name: s.name,
            rva: s.rva,
            vsize: if s.vsize != 0 { s.vsize } else { s.raw_size },
            flags: s.flags,
        })
        .collect();
    sections.sort_by_key(|s| s.rva);
    let mut image_end = sections
        .iter()
        .map(|s| (s.rva as usize).saturating_add(s.vsize as usize))
        .max()
        .unwrap_or(0);
    if p.section_align.is_power_of_two() {
        image_end = image_end
            .div_ceil(p.section_align as usize)
            .saturating_mul(p.section_align as usize);
    }
    let image_end = image_end.min(img.len());
    img.truncate(image_end);
    for s in &mut sections {
        s.vsize = s
            .vsize
            .min(u32::try_from(image_end.saturating_sub(s.rva as usize)).unwrap_or(u32::MAX));
    }
    if oep == 0 || oep as usize >= image_end {
        return Err(format!(
            "yC: the original entry point 0x{oep:x} lies outside the original sections"
        ));
    }

    // Imports: names, then the descriptors yC overwrote.
    let mut imports = None;
    if !records.is_empty() {
        if !decrypt_names(&mut img, &records) {
            warnings.push(format!(
                "yC: only the first {MAX_IMPORT_NAMES} imported names were decrypted"
            ));
        }
        match find_destroyed_descriptors(&img, &sections, records.len()) {
            Some(at) => {
                for (k, r) in records.iter().enumerate() {
                    let d = at + k * DESCRIPTOR_LEN;
                    let fields = [r.original_first_thunk, 0, 0, r.name, r.first_thunk];
                    for (i, v) in fields.into_iter().enumerate() {
                        put32(&mut img, d + 4 * i, v);
                    }
                }
                let size = (records.len() + 1) * DESCRIPTOR_LEN;
                imports = Some((at as u32, size as u32));
            }
            None => warnings.push(
                "yC: the import descriptors yC overwrote were not found in one place; the import \
                 names are decrypted but the import directory is not restored"
                    .into(),
            ),
        }
    }
    let tls = p.dirs[9].0;
    if tls >= yc.rva && tls - yc.rva < yc.vsize.max(yc.raw_size) {
        warnings.push(format!(
            "yC: the TLS directory was moved into yC's section (RVA 0x{tls:x}), not back"
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
    use super::super::testing::{check_detects_only, check_hostile_input, restored, sample};
    use super::*;

    const SAMPLE: &str = "clam-yc.exe";

    #[test]
    fn sample_restores_clam_upx() -> Result<(), String> {
        let r = restored(SAMPLE, unpack);
        let upx_data = sample("clam-upx.exe");
        let upx = Packed::parse(&upx_data)?;
        let want = upx.map()?;
        // UPX0, UPX1 and .rsrc, mapped, byte for byte (the import descriptors in .rsrc included).
        for s in &upx.sections {
            let range = s.rva as usize..(s.rva + s.vsize) as usize;
            assert_eq!(
                r.image.get(range.clone()),
                want.get(range),
                "section {:?}",
                s.name
            );
        }
        assert_eq!(r.entry, upx.entry);
        assert_eq!(r.imports, Some((upx.dirs[1].0, 3 * 20)));
        assert_eq!(r.image.len(), upx.image_size as usize);
        let names: Vec<_> = r
            .sections
            .iter()
            .map(|s| (s.name, s.rva, s.vsize))
            .collect();
        let upx_names: Vec<_> = upx
            .sections
            .iter()
            .map(|s| (s.name, s.rva, s.vsize))
            .collect();
        assert_eq!(names, upx_names);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        Ok(())
    }

    #[test]
    fn detects_only_its_sample() {
        check_detects_only(SAMPLE, detect);
    }

    #[test]
    fn hostile_input_never_panics() {
        check_hostile_input(SAMPLE, detect, unpack);
    }

    #[test]
    fn decryptor_body_runs_as_x86_would() {
        // sub al,cl; xor al,0x10; rol al,3; jmp over a junk byte; dec al; nops to the end.
        let mut body = vec![
            0x2a, 0xc1, 0x34, 0x10, 0xc0, 0xc0, 0x03, 0xeb, 0x01, 0xe9, 0xfe, 0xc8,
        ];
        body.resize(BODY_LEN, 0x90);
        let d = Decryptor::read(&body, "test").unwrap();
        assert_eq!(d.steps, [Op::SubCl, Op::Xor(0x10), Op::Rol(3), Op::Dec]);
        // cl is 2 for the first byte, 1 for the second: (0 - 2) ^ 0x10 = 0xee, rol 3 = 0x77,
        // dec = 0x76; (0x41 - 1) ^ 0x10 = 0x50, rol 3 = 0x82, dec = 0x81.
        let mut data = [0x00, 0x41];
        d.run(&mut data, 2);
        assert_eq!(data, [0x76, 0x81]);
        // A jump out of the body, an endless loop and an unknown instruction are refused.
        body[8] = 0x7f;
        assert!(Decryptor::read(&body, "test").is_err());
        body[8] = 0xfe;
        assert!(Decryptor::read(&body, "test").is_err());
        body[7] = 0xcc;
        assert!(Decryptor::read(&body, "test").is_err());
    }

    #[test]
    fn names_are_nibble_swapped_back() {
        let mut img = vec![0u8; 64];
        img[8..12].copy_from_slice(&[0xb4, 0x54, 0x25, 0]);
        decrypt_name(&mut img, 8);
        assert_eq!(&img[8..12], b"KER\0");
    }
}
