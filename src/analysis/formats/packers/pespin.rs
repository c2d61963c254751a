//! PESpin-protected PE32 files: undoes PESpin 1.1's encryption layers and aPLib compression
//! statically and restores the original program's sections in its virtual image.
//!
//! Written from ClamAV's libclamav/spin.c, pe.c (detection) and packlibs.c (`cli_unfsg`, the
//! aPLib decoder) (GPL; read for the format, no code taken), and from BeatriX's public notes and
//! unpacker for PESpin 1.1 (the later stub layers, the stolen entry code, the API and call
//! redirections and the import table's offsets).
//!
//! Handles PESpin 1.1, as ClamAV does: the byte-key and LFSR layers over the stub, the stub's
//! checksum of the file (which keys the sections), the LFSR and the small "polymorphic" byte
//! programs over the sections, aPLib-compressed sections and a compressed tail of the resources.
//! Beyond ClamAV, from fixed offsets in the decrypted stub: the entry code PESpin moved into its
//! stub (its junk `jmp $+3` bytes dropped, its `push ret; jmp` calls made calls again) is put back
//! at the original entry point, calls through PESpin's API table are pointed at the original
//! import address table again, calls and jumps PESpin sent through code it copies into the
//! headers are pointed back at their targets, and the import directory's DLL names are
//! decrypted. Not restored: the imported functions' names (PESpin keeps only a CRC32 of each
//! name), code protected by PESpin's "markers", password protection (ClamAV tries it anyway, so
//! this module does too, with a warning). Other PESpin versions (1.3 and later, 0.x) are
//! detected by their entry code and refused with an error.

use super::aplib;
use super::byte_cipher::{self, Op};
use super::image::{OutSection, Packed, Restored, Section};
use crate::analysis::bytes::le32;

/// The stub's code 4 bytes past its entry point (`call $+5; mov ebx, [esp]; add ebx, ..`),
/// which is what ClamAV's detection compares.
const ENTRY_CODE: [u8; 10] = [0xe8, 0, 0, 0, 0, 0x8b, 0x1c, 0x24, 0x83, 0xc3];
/// Where ENTRY_CODE starts, from the entry point.
const ENTRY_CODE_AT: usize = 4;
/// How much of the stub, from its entry point, the unpacker reads (ClamAV's bound).
const STUB_MIN: usize = 0x3217 + 4;

// The stub's parameters, as offsets from its entry point. "Layer" numbers follow the order in
// which the stub removes its layers.

/// `mov ebx, imm32`; the immediate's low byte keys layer 1.
const LAYER1_MOV: usize = 0xdb;
/// `mov ecx, 0x11fe`: layer 1's length.
const LAYER1_LEN_MOV: usize = 0xe0;
/// Start of layer 1 (a decrementing byte key, applied from the end).
const LAYER1_AT: usize = 0x1fe5;
/// Layer 1's length.
const LAYER1_LEN: u32 = 0x11fe;
/// Layer 2's LFSR key, then (5 bytes on) its length.
const LAYER2_KEY: usize = 0x26eb;
/// Layer 2's length.
const LAYER2_LEN: u32 = 0x5a0;
/// Start of layer 2.
const LAYER2_AT: usize = 0x2d5;
/// How many bytes at the end of the file the stub's checksum leaves out.
const CRC_TAIL: usize = 0x429;
/// The sections' LFSR key plus the file's checksum.
const CRC_SUM: usize = 0x3217;
/// Bit j: section j is encrypted with the keyed LFSR (layer 3).
const XOR_BITMAP: usize = 0x3207;
/// Layer 4's length, then (12 bytes on) its LFSR key.
const LAYER4_LEN_AT: usize = 0x644;
/// Layer 4's length.
const LAYER4_LEN: u32 = 0x180;
/// Start of layer 4.
const LAYER4_AT: usize = 0x28d3;
/// Layer 5's length (`mov ecx, 0x1a1`).
const LAYER5_LEN_AT: usize = 0x28dd;
/// Layer 5's length.
const LAYER5_LEN: u32 = 0x1a1;
/// Layer 5's byte program.
const LAYER5_CODE: usize = 0x28ec;
/// Start of layer 5.
const LAYER5_AT: usize = 0x6d4;
/// Bit j: section j is encrypted with the byte program at SECTION_CODE.
const POLY_BITMAP: usize = 0x6f1;
/// The sections' byte program.
const SECTION_CODE: usize = 0x755;
/// Layer 6's length (`mov ecx, 0x108f`), its byte program following.
const LAYER6_LEN_AT: usize = 0x29e5;
/// Layer 6's byte program.
const LAYER6_CODE: usize = 0x29f4;
/// Start of layers 6 and 7 (the byte program, then an LFSR over the same bytes).
const LAYER67_AT: usize = 0x875;
/// Length of layers 6 and 7.
const LAYER67_LEN: u32 = 0x108f;
/// Layer 7's length (`push 0x108f`).
const LAYER7_LEN_AT: usize = 0x27b4;
/// Layer 7's LFSR key.
const LAYER7_KEY: usize = 0x27ba;
/// Bit j: section j is aPLib-compressed.
const PACK_BITMAP: usize = 0x3061;
/// The RVA from which the resources are compressed (0 if they are not).
const RES_PACKED: usize = 0x2fee;
/// `mov eax, options`.
const OPTIONS_MOV: usize = 0x1e0;
/// The option bit for password protection.
const PASSWORD_FLAG: u32 = 0x0020_0000;
/// The entry code PESpin took from the program, run after the stub's `popad`.
const STOLEN_AT: usize = 0x1875;
/// The VA of the API table the program's calls were redirected to.
const API_TABLE_VA: usize = 0xca0;
/// The API table's length.
const API_TABLE_LEN: usize = 0xca8;
/// The byte program that decrypts the API table (`mov al, [edi]` before, `mov [edi], al`
/// after).
const API_CODE: usize = 0x11d5;
/// The API table's byte program's length.
const API_CODE_LEN: usize = 0x16;
/// The original import directory's RVA.
const IMPORT_DIR: usize = 0x1609;
/// The first thunk RVA of the stub's own import descriptor, which ends the original ones.
const IMPORT_STUB_FT: usize = 0x13ab;
/// Three values a, b, c where a - b != c when calls were redirected through the headers.
const REDIR_CHECK: [usize; 3] = [0x1798, 0x17ae, 0x17b5];
/// The VA of the redirection code in the stub.
const REDIR_VA: usize = 0x17c5;
/// The redirection code's length.
const REDIR_LEN: usize = 0x17ca;
/// The redirection code's byte key.
const REDIR_KEY: usize = 0x17d0;
/// The VA in the headers the redirection code is copied to.
const REDIR_HOME: usize = 0x182e;

/// Most bytes of stolen entry code walked.
const MAX_STOLEN: usize = 0x400;
/// Largest API table or header-redirection area accepted.
const MAX_TABLE: usize = 0x10000;
/// Most import descriptors walked.
const MAX_DLLS: usize = 512;
/// Most thunks counted per DLL.
const MAX_THUNKS: usize = 8192;
/// Most bytes of a DLL name decrypted.
const MAX_NAME: usize = 256;

/// Is this file packed with PESpin 1.1 (the variant this module restores)?
pub fn detect(p: &Packed) -> bool {
    matches!(locate(p), Ok(true))
}

/// Restores the original program's virtual image statically.
pub fn unpack(p: &Packed) -> Result<Restored, String> {
    if !locate(p)? {
        return Err(
            "pespin: the stub is not PESpin 1.1's (another version, or a damaged file); \
                    only PESpin 1.1 is supported"
                .into(),
        );
    }
    let (loader, originals) = p.sections.split_last().ok_or("pespin: no sections")?;
    let mut warnings = Vec::new();
    let mut stub = Stub::read(p, loader)?;
    stub.decrypt_head()?;
    if stub.byte(OPTIONS_MOV)? == 0xb8 && stub.dword(OPTIONS_MOV + 1)? & PASSWORD_FLAG != 0 {
        warnings.push(
            "pespin: the file is password-protected, which is not supported; the restored \
             sections may be garbage"
                .to_string(),
        );
    }
    let raws = decrypt_sections(p, originals, &mut stub)?;
    let mut image = p.map()?;
    let pack_bits = stub.dword(PACK_BITMAP)?;
    let mut sections = Vec::with_capacity(originals.len());
    for (j, (s, raw)) in originals.iter().zip(&raws).enumerate() {
        let (start, end) = span(p, s, image.len());
        let dest = image.get_mut(start..end).unwrap_or_default();
        if bit(pack_bits, j) {
            let (_, written) = aplib::decompress(raw, dest).map_err(|e| {
                format!(
                    "pespin: section {j} does not decompress ({e}); the file may be damaged, \
                     since its checksum is the sections' key"
                )
            })?;
            if let Some(rest) = dest.get_mut(written..) {
                rest.fill(0);
            }
        } else {
            let n = mapped_len(s).min(raw.len()).min(dest.len());
            dest[..n].copy_from_slice(&raw[..n]);
        }
        // PESpin gives the sections it renames the stub section's name.
        let name = if s.name == loader.name {
            [0; 8]
        } else {
            s.name
        };
        let (rva, vsize) = (start as u32, (end - start) as u32);
        sections.push(OutSection {
            name,
            rva,
            vsize,
            flags: s.flags,
        });
    }
    let res = stub.dword(RES_PACKED)?;
    if res != 0 {
        let packed = (originals, raws.as_slice(), pack_bits);
        unpack_resources(p, packed, res, &mut image, &mut warnings);
    }
    let (start, end) = span(p, loader, image.len());
    let dest = image.get_mut(start..end).unwrap_or_default();
    let n = mapped_len(loader).min(stub.code.len()).min(dest.len());
    dest[..n].copy_from_slice(&stub.code[..n]);

    let mut fix = Fixer {
        image: &mut image,
        base: p.image_base,
        stub: &stub,
        spans: &sections,
    };
    let oep = fix.restore_stolen();
    fix.fix_api_calls(&mut warnings);
    fix.fix_redirections();
    let imports = fix.fix_imports(&mut warnings);
    let entry = match oep {
        Some(oep) => oep,
        None => {
            // The stub's section then stays, so that the entry point is in a section.
            let at = stub
                .rva
                .saturating_add(stub.ep as u32)
                .saturating_add(STOLEN_AT as u32);
            warnings.push(format!(
                "pespin: the original entry point was not found; the entry is the stub's last \
                 code at RVA {at:#x}, which runs the program's first instructions and jumps into it"
            ));
            let (rva, vsize) = (start as u32, (end - start) as u32);
            sections.push(OutSection {
                name: loader.name,
                rva,
                vsize,
                flags: loader.flags,
            });
            at
        }
    };
    Ok(Restored {
        image,
        entry,
        sections,
        imports,
        warnings,
    })
}

/// The original sections' raw data, decrypted: the LFSR keyed by the stub's checksum of the
/// file, then the stub's byte program (removing the stub's layers 4 to 7 on the way).
fn decrypt_sections(
    p: &Packed,
    originals: &[Section],
    stub: &mut Stub,
) -> Result<Vec<Vec<u8>>, String> {
    let key = stub
        .dword(CRC_SUM)?
        .wrapping_sub(file_checksum(p.data, stub.dword(CRC_TAIL)?)?);
    // Each section's raw data is copied to be decrypted: sections sharing the same bytes must
    // not multiply the file.
    let total: u64 = originals.iter().map(|s| u64::from(s.raw_size)).sum();
    if total > p.data.len() as u64 {
        return Err(format!(
            "pespin: the sections' raw data add up to {total} bytes, more than the file's {}",
            p.data.len()
        ));
    }
    let mut raws = Vec::with_capacity(originals.len());
    for (j, s) in originals.iter().enumerate() {
        let raw = raw_data(p, s).filter(|r| r.len() == s.raw_size as usize);
        let raw = raw.ok_or_else(|| {
            format!("pespin: section {j}'s raw data runs past the end of the file")
        })?;
        raws.push(raw.to_vec());
    }
    let xor_bits = stub.dword(XOR_BITMAP)?;
    for (j, raw) in raws.iter_mut().enumerate() {
        if bit(xor_bits, j) {
            lfsr_xor(raw, key, 0xed43_af31, false);
        }
    }
    stub.decrypt_middle()?;
    let program = Poly::compile(stub.span(SECTION_CODE, 0x25)?, 0x24, &[0xaa])?;
    let poly_bits = stub.dword(POLY_BITMAP)?;
    for (j, raw) in raws.iter_mut().enumerate() {
        if bit(poly_bits, j) {
            program.run(raw);
        }
    }
    stub.decrypt_tail()?;
    Ok(raws)
}

/// Checks what ClamAV checks (the entry point in the last of two or more sections, far enough
/// from its end, and the stub's code at the entry point): Err if that fails, Ok(false) if the
/// stub is not PESpin 1.1's, Ok(true) if it is.
fn locate(p: &Packed) -> Result<bool, String> {
    let not = || "pespin: the entry point holds no PESpin stub".to_string();
    let loader = match p.sections.as_slice() {
        [_, .., last] => last,
        _ => return Err(not()),
    };
    let ep = p.entry.checked_sub(loader.rva).ok_or_else(not)? as usize;
    if ep.saturating_add(STUB_MIN) >= loader.raw_size as usize {
        return Err(not());
    }
    let code = raw_data(p, loader).ok_or_else(not)?;
    let at = |off: usize, n: usize| code.get(ep + off..ep + off + n);
    if at(ENTRY_CODE_AT, ENTRY_CODE.len()) != Some(&ENTRY_CODE[..]) {
        return Err(not());
    }
    Ok(at(LAYER1_MOV, 1) == Some(&[0xbb])
        && at(LAYER1_LEN_MOV, 5) == Some(&[0xb9, 0xfe, 0x11, 0, 0]))
}

/// A section's raw data in the file (the offset rounded down to 512, as the loader does), cut
/// to the file.
fn raw_data<'a>(p: &Packed<'a>, s: &Section) -> Option<&'a [u8]> {
    let from = (s.raw_off & !0x1ff) as usize;
    let rest = p.data.get(from..)?;
    rest.get(..s.raw_size as usize).or(Some(rest))
}

/// How much of a section's raw data the loader maps: its raw size cut to its virtual size.
fn mapped_len(s: &Section) -> usize {
    let n = if s.vsize == 0 {
        s.raw_size
    } else {
        s.raw_size.min(s.vsize)
    };
    n as usize
}

/// The section's extent in an image of `len` bytes: from its RVA over its virtual size (its raw
/// size if that is 0) rounded up to the section alignment.
fn span(p: &Packed, s: &Section, len: usize) -> (usize, usize) {
    let size = u64::from(if s.vsize == 0 { s.raw_size } else { s.vsize });
    let a = u64::from(p.section_align);
    let size = if a == 0 {
        size
    } else {
        size.div_ceil(a).saturating_mul(a)
    };
    let start = (s.rva as usize).min(len);
    let end = (u64::from(s.rva).saturating_add(size)).min(len as u64) as usize;
    (start, end.max(start))
}

/// Bit j of a section bitmap.
fn bit(bits: u32, j: usize) -> bool {
    j < 32 && bits >> j & 1 != 0
}

/// XORs `buf` with the low byte of an LFSR stepped before each byte: shifted right, and XORed
/// with `poly` when the bit shifted out is `on_carry`.
fn lfsr_xor(buf: &mut [u8], mut key: u32, poly: u32, on_carry: bool) {
    for b in buf {
        let out = key & 1 != 0;
        key >>= 1;
        if out == on_carry {
            key ^= poly;
        }
        *b ^= key as u8;
    }
}

/// The stub's checksum of the file, leaving out the last `tail` bytes.
fn file_checksum(data: &[u8], tail: u32) -> Result<u32, String> {
    let len = data.len().checked_sub(tail as usize).filter(|_| tail != 0);
    let data = len
        .and_then(|n| data.get(..n))
        .ok_or("pespin: the stub's checksum length is not inside the file")?;
    let (mut a, mut b) = (u32::MAX, u32::MAX);
    for &x in data {
        a = ((a ^ u32::from(x) << 8) >> 3) & 0x1fff_ffff;
        for _ in 0..4 {
            a ^= (b >> 8) & 0xff;
            a = a.wrapping_add(0x7801_a108) ^ b;
            a = a.rotate_right(b & 31);
            std::mem::swap(&mut a, &mut b);
        }
    }
    Ok(b)
}

/// The PESpin stub: the last section's raw data, decrypted layer by layer.
struct Stub {
    /// The section's raw data (not cut to its virtual size).
    code: Vec<u8>,
    /// Offset of the entry point in `code`.
    ep: usize,
    /// The stub section's RVA.
    rva: u32,
}

impl Stub {
    /// The stub section's raw data.
    fn read(p: &Packed, loader: &Section) -> Result<Self, String> {
        let code = raw_data(p, loader).ok_or("pespin: the stub's section is not in the file")?;
        let ep = p.entry.saturating_sub(loader.rva) as usize;
        Ok(Stub {
            code: code.to_vec(),
            ep,
            rva: loader.rva,
        })
    }

    /// The error for data at entry+`off` that is not in the section.
    fn out_of_section(off: usize) -> String {
        format!("pespin: the stub's data at entry+{off:#x} lies past the end of its section")
    }

    /// The `len` bytes at entry+`off`.
    fn span(&self, off: usize, len: usize) -> Result<&[u8], String> {
        let at = self.ep.saturating_add(off);
        self.code
            .get(at..at.saturating_add(len))
            .ok_or_else(|| Self::out_of_section(off))
    }

    /// The `len` bytes at entry+`off`, to decrypt.
    fn span_mut(&mut self, off: usize, len: usize) -> Result<&mut [u8], String> {
        let at = self.ep.saturating_add(off);
        self.code
            .get_mut(at..at.saturating_add(len))
            .ok_or_else(|| Self::out_of_section(off))
    }

    /// The byte at entry+`off`.
    fn byte(&self, off: usize) -> Result<u8, String> {
        Ok(self.span(off, 1)?[0])
    }

    /// The dword at entry+`off`.
    fn dword(&self, off: usize) -> Result<u32, String> {
        let b = self.span(off, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Checks that the dword at `off` is the constant PESpin 1.1 puts there.
    fn expect(&self, off: usize, want: u32) -> Result<(), String> {
        match self.dword(off)? {
            v if v == want => Ok(()),
            v => Err(format!(
                "pespin: the stub has {v:#x} at entry+{off:#x} where PESpin 1.1 has {want:#x} \
                 (another version, or a damaged file)"
            )),
        }
    }

    /// Layers 1 and 2, which uncover the checksum's parameters and the sections' bitmaps.
    fn decrypt_head(&mut self) -> Result<(), String> {
        let key8 = self.byte(LAYER1_MOV + 1)?;
        for (i, b) in self
            .span_mut(LAYER1_AT, LAYER1_LEN as usize)?
            .iter_mut()
            .rev()
            .enumerate()
        {
            *b ^= key8.wrapping_sub(i as u8);
        }
        self.expect(LAYER2_KEY + 5, LAYER2_LEN)?;
        let key = self.dword(LAYER2_KEY)?;
        lfsr_xor(
            self.span_mut(LAYER2_AT, LAYER2_LEN as usize)?,
            key,
            0x8c32_8834,
            true,
        );
        Ok(())
    }

    /// Layers 4 and 5, which uncover the sections' byte program.
    fn decrypt_middle(&mut self) -> Result<(), String> {
        self.expect(LAYER4_LEN_AT, LAYER4_LEN)?;
        let key = self.dword(LAYER4_LEN_AT + 12)?;
        lfsr_xor(
            self.span_mut(LAYER4_AT, LAYER4_LEN as usize)?,
            key,
            0xed43_af32,
            true,
        );
        self.expect(LAYER5_LEN_AT, LAYER5_LEN)?;
        let program = Poly::compile(self.span(LAYER5_CODE, 0x25)?, 0x24, &[0xaa])?;
        program.run(self.span_mut(LAYER5_AT, LAYER5_LEN as usize)?);
        Ok(())
    }

    /// Layers 6 and 7, which uncover the stolen entry code and the redirections' parameters.
    fn decrypt_tail(&mut self) -> Result<(), String> {
        self.expect(LAYER6_LEN_AT, LAYER67_LEN)?;
        self.expect(LAYER7_LEN_AT, LAYER67_LEN)?;
        let program = Poly::compile(self.span(LAYER6_CODE, 0x25)?, 0x24, &[0xaa])?;
        program.run(self.span_mut(LAYER67_AT, LAYER67_LEN as usize)?);
        let key = self.dword(LAYER7_KEY)?;
        lfsr_xor(
            self.span_mut(LAYER67_AT, LAYER67_LEN as usize)?,
            key,
            0xed43_af32,
            true,
        );
        Ok(())
    }
}

/// A byte program PESpin generates per file: a few x86 instructions on `al` and `cl` mixed
/// with do-nothing ones, run on each byte with `cl` the count of bytes left (`loop`'s ecx).
struct Poly(Vec<Op>);

impl Poly {
    /// Reads the program: exactly `len` bytes of known instructions, then `end` (the store).
    fn compile(code: &[u8], len: usize, end: &[u8]) -> Result<Self, String> {
        let bad = |what: &str| format!("pespin: the stub's byte program has {what}");
        let mut ops = Vec::new();
        let mut i = 0;
        while i < len {
            let rest = code.get(i..).filter(|r| !r.is_empty());
            let rest = rest.ok_or_else(|| bad("no end"))?;
            let (inst, n) = match rest {
                [0x0a, 0xc0, ..] => (None, 2), // or al, al
                [0xeb, 0x01, ..] => (None, 3), // jmp over one junk byte
                _ => byte_cipher::decode(rest).ok_or_else(|| {
                    bad(&format!(
                        "an unknown instruction {:#04x} at byte {i}",
                        rest[0]
                    ))
                })?,
            };
            ops.extend(inst);
            i += n;
        }
        if i != len || code.get(len..len + end.len()) != Some(end) {
            return Err(bad("the wrong length"));
        }
        Ok(Poly(ops))
    }

    /// Runs the program on each byte of `buf` (`cl` counting down from its length).
    fn run(&self, buf: &mut [u8]) {
        let count = buf.len() as u32;
        byte_cipher::run(&self.0, buf, count);
    }
}

/// Decompresses the resources' compressed tail (from RVA `res`) when it lies in a section that
/// was not compressed as a whole, as ClamAV does; a failure is a warning.
/// `packed` is the original sections, their decrypted raw data and the compression bitmap.
fn unpack_resources(
    p: &Packed,
    (originals, raws, pack_bits): (&[Section], &[Vec<u8>], u32),
    res: u32,
    image: &mut [u8],
    warnings: &mut Vec<String>,
) {
    let len = image.len();
    let Some((j, s)) = originals.iter().enumerate().find(|(_, s)| {
        let (start, end) = span(p, s, len);
        (start..end).contains(&(res as usize)) && (res - s.rva) <= s.raw_size
    }) else {
        warnings.push(format!(
            "pespin: the compressed resources at RVA {res:#x} are in no section"
        ));
        return;
    };
    if bit(pack_bits, j) {
        return;
    }
    let (_, end) = span(p, s, len);
    let from = (res - s.rva) as usize;
    let src = raws.get(j).and_then(|r| r.get(from..)).unwrap_or_default();
    let dest = image.get_mut(res as usize..end).unwrap_or_default();
    // Decoded aside: a stream that fails leaves the image as it was.
    let mut out = vec![0u8; dest.len()];
    match aplib::decompress(src, &mut out) {
        Ok(_) => dest.copy_from_slice(&out),
        Err(e) => warnings.push(format!(
            "pespin: the resources compressed at RVA {res:#x} do not decompress ({e}); they are \
             left as they are"
        )),
    }
}

/// Undoes what PESpin did to the program's code, in the image, from the decrypted stub's data.
struct Fixer<'a> {
    /// The restored image, sections decompressed.
    image: &'a mut [u8],
    /// The image base, to turn the code's VAs into RVAs.
    base: u32,
    /// The decrypted stub.
    stub: &'a Stub,
    /// The original sections.
    spans: &'a [OutSection],
}

impl Fixer<'_> {
    /// The dword at `rva` in the image.
    fn dword(&self, rva: usize) -> Option<u32> {
        le32(self.image, rva)
    }

    /// The RVA of a VA, if it is inside the stub's section after its entry point.
    fn in_stub(&self, va: u32, len: usize) -> Option<usize> {
        let rva = va.checked_sub(self.base)? as usize;
        let start = (self.stub.rva as usize).checked_add(self.stub.ep)?;
        let end = (self.stub.rva as usize)
            .checked_add(self.stub.code.len())?
            .min(self.image.len());
        (rva >= start && rva.checked_add(len)? <= end).then_some(rva)
    }

    /// The original sections' extents.
    fn ranges(&self) -> Vec<(usize, usize)> {
        self.spans
            .iter()
            .map(|s| (s.rva as usize, s.rva as usize + s.vsize as usize))
            .collect()
    }

    /// Puts the entry code PESpin moved into its stub back at the original entry point, and
    /// returns that. The stolen code runs after the stub's `popad`, its instructions separated
    /// by `jmp $+3` over a junk byte and its calls made `push return; jmp target`, and ends with
    /// a `jmp` to the rest of the program; its original place is left zeroed. Found only when
    /// the code, cleaned, exactly fills the zeroed bytes before that jump's target.
    fn restore_stolen(&mut self) -> Option<u32> {
        let at = (self.stub.rva as usize)
            .checked_add(self.stub.ep)?
            .checked_add(STOLEN_AT)?;
        if self.image.get(at.checked_sub(1)?) != Some(&0x61) {
            return None;
        }
        let code = self.image.get(at..)?;
        let code = &code[..code.len().min(MAX_STOLEN)];
        let rel = |i: usize| le32(code, i).map(|v| v as i32 as i64);
        let va = |i: usize| (self.base as i64 + (at + i) as i64) as u32;
        let call = |i: usize| {
            code.get(i) == Some(&0x68)
                && code.get(i + 5) == Some(&0xe9)
                && le32(code, i + 1) == Some(va(i + 10))
        };
        let ranges = self.ranges();
        // Pass 1: the final jump and the cleaned code's length.
        let (mut i, mut n) = (0, 0usize);
        let (end, target) = loop {
            if code.get(i..i + 2)? == [0xeb, 0x01] {
                i += 3;
            } else if call(i) {
                i += 10;
                n += 5;
            } else {
                if code[i] == 0xe9 {
                    let t = (at + i + 5) as i64 + rel(i + 1)?;
                    let fits = ranges
                        .iter()
                        .any(|&(s, e)| (s as i64) <= t - n as i64 && t < e as i64);
                    if fits {
                        let t = t as usize;
                        if self.image.get(t - n..t)?.iter().all(|&b| b == 0) {
                            break (i, t);
                        }
                    }
                }
                i += 1;
                n += 1;
            }
        };
        // Pass 2: the cleaned code, at its original place.
        let oep = target - n;
        let mut out = Vec::with_capacity(n);
        let mut i = 0;
        while i < end {
            if code.get(i..i + 2) == Some(&[0xeb, 0x01]) {
                i += 3;
            } else if call(i) {
                let t = (at + i + 10) as i64 + rel(i + 6)?;
                let next = (oep + out.len() + 5) as i64;
                out.push(0xe8);
                out.extend_from_slice(&((t - next) as i32).to_le_bytes());
                i += 10;
            } else {
                out.push(code[i]);
                i += 1;
            }
        }
        if out.len() != n {
            return None;
        }
        self.image.get_mut(oep..target)?.copy_from_slice(&out);
        u32::try_from(oep).ok()
    }

    /// Points `call [x]`, `jmp [x]` and `mov reg, [x]` that PESpin sent through its API table
    /// back at the original import address table (the table's entries, once decrypted, hold
    /// the slots' VAs).
    fn fix_api_calls(&mut self, warnings: &mut Vec<String>) {
        let (Ok(va), Ok(len)) = (
            self.stub.dword(API_TABLE_VA),
            self.stub.dword(API_TABLE_LEN),
        ) else {
            return;
        };
        let len = len as usize;
        let Some(table) = self
            .in_stub(va, len)
            .filter(|_| (4..=MAX_TABLE).contains(&len))
        else {
            return;
        };
        let program = self
            .stub
            .span(API_CODE - 2, API_CODE_LEN + 4)
            .ok()
            .and_then(|c| {
                (c.get(..2) == Some(&[0x8a, 0x07][..])).then_some(())?;
                Poly::compile(c.get(2..)?, API_CODE_LEN, &[0x88, 0x07]).ok()
            });
        let Some(program) = program else {
            warnings.push(
                "pespin: the API table's decryption code is not PESpin 1.1's; calls to \
                           imported functions still go through the stub"
                    .into(),
            );
            return;
        };
        program.run(&mut self.image[table..table + len]);
        let ranges = self.ranges();
        let in_image = |v: u32| {
            let r = v.wrapping_sub(self.base) as usize;
            ranges
                .iter()
                .any(|&(s, e)| r >= s && r.saturating_add(4) <= e)
        };
        for &(start, end) in &ranges {
            for at in start.max(2)..end.saturating_sub(3) {
                let op = (self.image[at - 2], self.image[at - 1]);
                let by_address =
                    matches!(op, (0xff, 0x15 | 0x25)) || (op.0 == 0x8b && op.1 & 0xc7 == 0x05);
                let Some(v) = self.dword(at).filter(|_| by_address) else {
                    continue;
                };
                let slot = v.wrapping_sub(va) as usize;
                if slot.saturating_add(4) > len {
                    continue;
                }
                if let Some(orig) = self.dword(table + slot).filter(|&o| in_image(o)) {
                    self.image[at..at + 4].copy_from_slice(&orig.to_le_bytes());
                }
            }
        }
    }

    /// Points `call`s and `jmp`s PESpin sent through code it copies into the headers back at
    /// their targets (or, for a `jmp` standing for a `push imm32`, puts the `push` back).
    fn fix_redirections(&mut self) {
        let d = |off| self.stub.dword(off).ok();
        let (Some(a), Some(b), Some(c)) = (d(REDIR_CHECK[0]), d(REDIR_CHECK[1]), d(REDIR_CHECK[2]))
        else {
            return;
        };
        let (Some(va), Some(len), Ok(key), Some(home)) = (
            d(REDIR_VA),
            d(REDIR_LEN),
            self.stub.byte(REDIR_KEY),
            d(REDIR_HOME),
        ) else {
            return;
        };
        let len = len as usize;
        let Some(area) = self
            .in_stub(va, len)
            .filter(|_| a.wrapping_sub(b) != c && len <= MAX_TABLE)
        else {
            return;
        };
        let home = home.wrapping_sub(self.base) as usize;
        if self
            .spans
            .first()
            .is_none_or(|s| home.saturating_add(len) > s.rva as usize)
        {
            return;
        }
        for (k, x) in self.image[area..area + len].iter_mut().enumerate() {
            *x = (*x ^ key).wrapping_add((k + 1) as u8);
        }
        for (start, end) in self.ranges() {
            for at in start..end.saturating_sub(4) {
                let op = self.image[at];
                if op != 0xe8 && op != 0xe9 {
                    continue;
                }
                let Some(rel) = self.dword(at + 1) else {
                    continue;
                };
                let t = (at as i64 + 5 + i64::from(rel as i32)) - home as i64;
                if t < 0 || t as usize + 5 > len {
                    continue;
                }
                let r = area + t as usize;
                let Some(v) = self.dword(r + 1) else { continue };
                match (op, self.image[r]) {
                    (_, 0xe9) => {
                        let dest = (home + t as usize + 5) as i64 + i64::from(v as i32);
                        let rel = (dest - (at as i64 + 5)) as i32;
                        self.image[at + 1..at + 5].copy_from_slice(&rel.to_le_bytes());
                    }
                    (0xe9, 0x68) => {
                        self.image[at] = 0x68;
                        self.image[at + 1..at + 5].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => {}
                }
            }
        }
    }

    /// The original import directory: its DLL names decrypted (PESpin NOTs them) and the
    /// stub's own descriptor, which follows them, made the terminator.
    fn fix_imports(&mut self, warnings: &mut Vec<String>) -> Option<(u32, u32)> {
        let dir = self.stub.dword(IMPORT_DIR).ok()? as usize;
        let stub_ft = self.stub.dword(IMPORT_STUB_FT).ok()?;
        if dir == 0 {
            return None;
        }
        if !self.ranges().iter().any(|&(s, e)| (s..e).contains(&dir)) {
            let w = format!("pespin: the import directory's RVA {dir:#x} is in no section");
            warnings.push(w);
            return None;
        }
        let (mut dlls, mut hashed) = (0, 0);
        for k in 0..MAX_DLLS {
            let at = dir.checked_add(20 * k)?;
            let Some(desc) = self.image.get(at..at + 20) else {
                warnings.push(format!(
                    "pespin: the import directory at RVA {dir:#x} runs out of the image"
                ));
                return None;
            };
            let (name, ft) = (le32(desc, 12)?, le32(desc, 16)?);
            if ft == stub_ft || (name == 0 && ft == 0) {
                self.image[at..at + 20].fill(0);
                if hashed > 0 {
                    warnings.push(format!(
                        "pespin: the names of {hashed} imported functions in {dlls} DLLs were \
                         replaced by CRC32 hashes and cannot be recovered"
                    ));
                }
                return Some((dir as u32, 20 * (k as u32 + 1)));
            }
            dlls += 1;
            if let Some(s) = self.image.get_mut(name as usize..) {
                let n = s.iter().take(MAX_NAME).position(|&b| b == 0).unwrap_or(0);
                if s[..n].iter().all(|&b| b >= 0x80) {
                    s[..n].iter_mut().for_each(|b| *b = !*b);
                }
            }
            for t in 0..MAX_THUNKS {
                match self.dword((ft as usize).saturating_add(4 * t)) {
                    Some(0) | None => break,
                    Some(v) if v & 0x8000_0000 == 0 => hashed += 1,
                    _ => {}
                }
            }
        }
        warnings.push(format!(
            "pespin: the import directory at RVA {dir:#x} has no end"
        ));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        check_clam, check_detects_only, check_hostile_input_with, restored, sample,
    };
    use super::*;

    const SAMPLE: &str = "clam-pespin.exe";
    /// The file offset of the sample's entry point.
    const ENTRY_OFFSET: usize = 0xc87;

    /// Moves the stub's stored checksum in `data` by the change of the file's checksum from
    /// `before`, so that the sections' key (their difference) stays right.
    fn keep_key(data: &mut [u8], tail: u32, before: u32) {
        let after = file_checksum(data, tail).unwrap();
        let sum_at = ENTRY_OFFSET + CRC_SUM;
        let sum = le32(data, sum_at)
            .unwrap()
            .wrapping_sub(before)
            .wrapping_add(after);
        data[sum_at..sum_at + 4].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn sample_restores() {
        let r = restored(SAMPLE, unpack);
        check_clam(&r);
        assert_eq!(r.sections.len(), 4);
        assert_eq!(&r.sections[2].name, b".rsrc\0\0\0");
        assert_eq!(r.sections[0].name, [0; 8]);
        assert_eq!(r.imports, Some((0x205c, 60)));
        assert_eq!(r.image.get(0x20fa..0x2106), Some(&b"KERNEL32.DLL"[..]));
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    }

    #[test]
    fn stolen_code_not_found_keeps_the_stub() {
        let mut data = sample(SAMPLE);
        let p = Packed::parse(&data).unwrap();
        let mut stub = Stub::read(&p, p.sections.last().unwrap()).unwrap();
        stub.decrypt_head().unwrap();
        let tail = stub.dword(CRC_TAIL).unwrap();
        let before = file_checksum(&data, tail).unwrap();
        // Spoil the stolen code's final jump (RVA 0x694e, file offset 0x254e), and keep the
        // sections' key by fixing the stored checksum (entry+0x3217, outside the summed bytes).
        data[0x254e] ^= 0xff;
        keep_key(&mut data, tail, before);
        let r = unpack(&Packed::parse(&data).unwrap()).unwrap();
        assert_eq!(r.entry, 0x5087 + STOLEN_AT as u32);
        assert_eq!(r.sections.len(), 5);
        assert!(r
            .warnings
            .iter()
            .any(|w| w.contains("original entry point was not found")));
    }

    #[test]
    fn detects_only_pespin() {
        check_detects_only(SAMPLE, detect);
    }

    #[test]
    fn other_versions_are_refused() {
        let mut data = sample(SAMPLE);
        // The layer-1 `mov ecx, 0x11fe` at entry+0xe0.
        data[ENTRY_OFFSET + 0xe1] = 0x22;
        let p = Packed::parse(&data).unwrap();
        assert!(!detect(&p));
        assert!(unpack(&p).unwrap_err().contains("only PESpin 1.1"));
    }

    #[test]
    fn hostile_input_never_panics() {
        // The stub's checksum covers the file, so a corruption mostly spoils the sections' key
        // and stops at decompression; every other one keeps the key (fixing the stored sum) to
        // reach the later steps too.
        let tail = 0x163;
        let sum_at = ENTRY_OFFSET + CRC_SUM;
        let before = file_checksum(&sample(SAMPLE), tail).unwrap();
        let restored = check_hostile_input_with(SAMPLE, detect, unpack, |k, at, copy| {
            if k % 2 == 1 && !(sum_at..sum_at + 4).contains(&at) {
                keep_key(copy, tail, before);
            }
        });
        assert!(restored > 1000, "{restored}");
    }

    #[test]
    fn poly_program() {
        // add al, cl; jmp +1; junk; xor al, 0x5a; rol al, 3; then the store.
        let code = [
            0x02, 0xc1, 0xeb, 0x01, 0xe8, 0x34, 0x5a, 0xc0, 0xc0, 0x03, 0xaa,
        ];
        let p = Poly::compile(&code, 10, &[0xaa]).unwrap();
        let mut buf = [0x10, 0x20];
        p.run(&mut buf);
        assert_eq!(
            buf,
            [
                ((0x10u8 + 2) ^ 0x5a).rotate_left(3),
                ((0x20u8 + 1) ^ 0x5a).rotate_left(3)
            ]
        );
        assert!(Poly::compile(&code, 9, &[0xaa]).is_err());
        assert!(Poly::compile(&[0x0f, 0x05, 0xaa], 2, &[0xaa]).is_err());
    }
}
