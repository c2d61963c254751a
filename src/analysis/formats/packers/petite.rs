//! Petite-packed PE32 files: undoes what Petite's stub does at run time (decompression, block
//! moves, call/jump filter, zero fills, entry-point encryption) and rebuilds the import
//! directory that Petite wipes, giving the original program's virtual image.
//!
//! Written from ClamAV's libclamav/petite.c and the Petite part of libclamav/pe.c (GPL; read for
//! the format, no code taken), and checked against the stub of clamav-testfiles' clam-petite.exe,
//! disassembled, for what ClamAV leaves out: the call/jump filter and zero fills, and the import
//! lists' layout.
//!
//! Variants: the two stub layouts ClamAV handles, which it calls Petite 2.1 (`mov eax, <VA of the
//! second-to-last section>` at the entry point, block table at +0x178 in that section, 0x323-byte
//! stub tail) and Petite 2.2 (`mov eax, <VA of the last section>`, table at +0x1b8, 0x355-byte
//! tail), each with or without the 0x34/0x35 extra tail bytes of files that keep relocations.
//! Petite 1.x is not handled (ClamAV does not handle it either). Level-0 (stored) files are
//! refused, as ClamAV does. For 2.2 everything above is restored (checked on the sample); for
//! 2.1 only what ClamAV restores (blocks and entry point): its filter, zero fills and import
//! lists are not known, and a warning says so. Relocations are never restored.
//!
//! The format: the stub's section holds a table of 12-byte move entries (bit 31 of the first
//! dword set: move that many dwords, copying backwards from the last one) and 16-byte block
//! entries (source RVA, size, destination RVA, `zero_fill << 1 | filter`), ended by a zero dword.
//! Blocks are NRV-like LZ with an 8-bit bit buffer, literals XORed with the low byte of the count
//! of bytes still to produce. The last block ends with the rest of the stub (the "tail"), whose
//! jump to the original entry point is XORed with a key found from known plaintext; for 2.2 the
//! key also goes through a mixing step per imported function. The tail also points at Petite's
//! import list: one dword per DLL, the RVA of its IAT, ended by zero, in the order of the DLL
//! names in the packed file's own import table. The IATs hold ordinals or name RVAs: each a
//! hint/name entry's RVA plus 2, the name itself (for `GetProcAddress`); restored to hint/name
//! RVAs (the 2 bytes before each name are its hint's slot, zero on the sample).

use super::image::{OutSection, Packed, Restored};
use crate::analysis::bytes::{le32, put32};

/// Bytes read at the entry point (ClamAV also asks for 200).
const EP_WINDOW: usize = 200;
/// The dword at entry point + 0x80 in level-0 (stored) files.
const LEVEL_ZERO_MARK: u32 = 0x163c_988d;
/// Most entries read from the block table.
const MAX_ENTRIES: usize = 256;
/// Most DLLs in an import list or import directory.
const MAX_DLLS: usize = 1024;
/// Most imported functions walked over all DLLs.
const MAX_IMPORTS: usize = 1 << 16;
/// Longest DLL name read.
const MAX_NAME: usize = 256;
/// Two dwords of stub code at tail + 0x54 (`xor eax,eax; pop esi; mov ebx,fs:[eax]; ...`).
const TAIL_MAGIC: [u32; 2] = [0x645e_c033, 0x1b8b_188b];
/// Where [`TAIL_MAGIC`] sits in the tail.
const TAIL_MAGIC_AT: usize = 0x54;
/// The plaintexts of the two encrypted dwords at tail + 7 and + 0xb (`stosb; popa; popf` and
/// `add esp,8; jmp`): equal keys from both prove the key.
const TAIL_PLAIN: [(usize, u32); 2] = [(0x07, 0x9d66_61aa), (0x0b, 0xe908_c483)];
/// Where the encrypted displacement of the jump to the original entry point sits in the tail.
const TAIL_JUMP_AT: usize = 0x0f;
/// Where the RVA of the import list sits in the tail.
const TAIL_IMPORTS_AT: usize = 0x121;
/// Where the tail holds [`NOPS`] when imports are not "mangled" (redirected through jumps).
const TAIL_MANGLE_AT: usize = 0x1c0;
/// Four `nop`s.
const NOPS: u32 = 0x9090_9090;
/// A stand-in for a resolved API's address (above any image, as on Windows), as ClamAV uses.
const API_STANDIN: u32 = 0xbff0_1337;
/// Flags of the rebuilt import section: initialized data, readable, writable.
const IDATA_FLAGS: u32 = 0xc000_0040;
/// Flags of a guessed section that no packed section covers.
const DEFAULT_FLAGS: u32 = 0xe000_0060;

/// The stub layouts handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// ClamAV's "v2.1": the block table in the second-to-last section.
    V21,
    /// ClamAV's "v2.2": the block table in the last section.
    V22,
}

impl Layout {
    /// Offset of the block table in the stub's section.
    fn table_offset(self) -> usize {
        match self {
            Layout::V21 => 0x178,
            Layout::V22 => 0x1b8,
        }
    }
    /// Length of the stub tail appended to the last block.
    fn tail_len(self) -> usize {
        match self {
            Layout::V21 => 0x323,
            Layout::V22 => 0x355,
        }
    }
    /// Extra tail bytes when the program keeps relocations.
    fn reloc_extra(self) -> usize {
        match self {
            Layout::V21 => 0x34,
            Layout::V22 => 0x35,
        }
    }
}

/// What the entry point says: the layout and the stub's own section.
#[derive(Clone, Copy, Debug)]
struct Stub {
    /// Which of the two layouts.
    layout: Layout,
    /// RVA of the section `mov eax, <VA>` loads (the block table's section).
    home: u32,
    /// Level 0 (stored data, another stub): not handled.
    level_zero: bool,
}

/// One entry of the block table.
#[derive(Clone, Copy, Debug)]
enum Entry {
    /// Moves dwords, backwards (the stub's `std; rep movsd`).
    Move {
        /// How many dwords.
        count: u32,
        /// RVA of the last source dword.
        src_last: u32,
        /// RVA of the last destination dword.
        dst_last: u32,
    },
    /// Unpacks a block.
    Block(Block),
}

/// A compressed block: `size` bytes unpacked from `src` to `rva`.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// RVA of the compressed stream.
    src: u32,
    /// Bytes it unpacks to (0: an empty section, nothing to unpack).
    size: u32,
    /// RVA it unpacks to.
    rva: u32,
    /// Bit 0: undo the call/jump filter; the rest: bytes to zero after the block.
    flags: u32,
}

/// The stub tail found at the end of a block.
#[derive(Clone, Copy, Debug)]
struct Tail {
    /// Its first byte's RVA.
    start: usize,
    /// The RVA past it (the block's end).
    end: usize,
    /// Whether it has the extra bytes of files that keep relocations.
    relocs: bool,
}

/// Is this file packed with Petite 2.1 or 2.2 at a compression level this module restores?
pub fn detect(p: &Packed) -> bool {
    find_stub(p).is_some_and(|s| !s.level_zero)
}

/// Restores the original program's virtual image statically.
pub fn unpack(p: &Packed) -> Result<Restored, String> {
    let stub =
        find_stub(p).ok_or("petite: the entry point does not hold Petite 2.1 or 2.2's stub")?;
    if stub.level_zero {
        return Err("petite: level-0 (stored, not compressed) files are not supported".into());
    }
    let mut img = p.map()?;
    let table_at = (stub.home as usize).saturating_add(stub.layout.table_offset());
    let entries = read_table(&img, table_at)?;
    let (blocks, tail) = run_table(&mut img, &entries, stub.layout)?;
    let key = tail_key(&img, tail.start)
        .ok_or("petite: the key of the encrypted entry point does not check out")?;
    let field =
        |off: usize| le32(&img, tail.start + off).ok_or("petite: the stub's tail is cut short");
    let jump = field(TAIL_JUMP_AT)? ^ key;

    let mut warnings = vec![
        "petite: the original section names are lost; sections were guessed from the unpacked blocks' addresses".to_string(),
    ];
    if tail.relocs {
        warnings.push("petite: the program keeps relocations, which are not restored".into());
    }
    let mut sections = guess_sections(p, &blocks, stub.home, img.len());
    let (mut imports, mut idata) = (None, None);
    let entry = match stub.layout {
        Layout::V21 => {
            warnings.push("petite 2.1: the call/jump filter, zero fills and import directory are not restored (their layout is not known for this version)".into());
            wipe_tail(&mut img, &tail);
            p.entry.wrapping_add(5).wrapping_add(jump)
        }
        Layout::V22 => {
            let list_rva = field(TAIL_IMPORTS_AT)?;
            let mangled = field(TAIL_MANGLE_AT)? != NOPS;
            for b in &blocks {
                post_process(&mut img, b).ok_or_else(|| {
                    format!(
                        "petite: the zero fill after the block at RVA {:#x} runs past the image",
                        b.rva
                    )
                })?;
            }
            wipe_tail(&mut img, &tail);
            let dlls = import_lists(&img, list_rva)?;
            let key = mix_key(&dlls, jump, mangled, p, stub.home);
            match rebuild_imports(p, &mut img, &dlls, stub.home) {
                Ok((rva, size, vsize)) => {
                    warnings.push(format!("petite: the import directory was rebuilt at RVA {rva:#x} (section .idata) from the IAT lists and the packed file's DLL names; Petite wipes the original descriptors"));
                    let name = *b".idata\0\0";
                    idata = Some(OutSection {
                        name,
                        rva,
                        vsize,
                        flags: IDATA_FLAGS,
                    });
                    imports = Some((rva, size));
                }
                Err(why) => warnings.push(why),
            }
            p.entry.wrapping_add(5).wrapping_add(key)
        }
    };
    if !sections
        .iter()
        .any(|s| entry >= s.rva && entry - s.rva < s.vsize)
    {
        return Err(format!(
            "petite: the decrypted entry point {entry:#x} lies outside the unpacked sections"
        ));
    }
    sections.extend(idata);
    sections.sort_by_key(|s| s.rva);
    Ok(Restored {
        image: img,
        entry,
        sections,
        imports,
        warnings,
    })
}

/// Runs the block table as the stub does: moves and unpacks, the whole work bounded by a few
/// times the image. Returns the blocks and the stub tail found at the end of the last one.
fn run_table(
    img: &mut [u8],
    entries: &[Entry],
    layout: Layout,
) -> Result<(Vec<Block>, Tail), String> {
    let mut budget = img.len().saturating_mul(4);
    let mut blocks = Vec::new();
    let mut tail = None;
    for entry in entries {
        match *entry {
            Entry::Move {
                count,
                src_last,
                dst_last,
            } => {
                budget = budget
                    .checked_sub((count as usize).saturating_mul(4))
                    .ok_or("petite: the block table moves more data than the image holds")?;
                move_dwords(img, count, src_last, dst_last).ok_or_else(|| {
                    format!("petite: the move of {count} dwords to RVA {dst_last:#x} runs outside the image")
                })?;
            }
            Entry::Block(b) => {
                if b.size > 0 {
                    budget = budget
                        .checked_sub(b.size as usize)
                        .ok_or("petite: the block table unpacks more data than the image holds")?;
                    inflate(img, b.src as usize, b.rva as usize, b.size as usize).map_err(
                        |why| format!("petite: the block unpacked to RVA {:#x} {why}", b.rva),
                    )?;
                    tail = find_tail(img, &b, layout).or(tail);
                }
                blocks.push(b);
            }
        }
    }
    if blocks.iter().all(|b| b.size == 0) {
        return Err("petite: the block table holds no compressed block".into());
    }
    let tail = tail.ok_or(
        "petite: the stub's tail (holding the original entry point) is not at the end of any block",
    )?;
    Ok((blocks, tail))
}

/// Zeros the stub's tail, as the stub does before it leaves.
fn wipe_tail(img: &mut [u8], tail: &Tail) {
    if let Some(t) = img.get_mut(tail.start..tail.end) {
        t.fill(0);
    }
}

// ---------------------------------------------------------------------------------------------
// Detection and table

/// The stub the entry point starts (`mov eax, <VA of the stub's section>`), as ClamAV tests it,
/// plus: the entry point lies in that section.
fn find_stub(p: &Packed) -> Option<Stub> {
    let s = p.section_of(p.entry)?;
    let delta = p.entry.checked_sub(s.rva)?;
    if delta >= s.raw_size {
        return None;
    }
    let at = ((s.raw_off & !0x1ff) as usize).checked_add(delta as usize)?;
    let code = p.data.get(at..at.checked_add(EP_WINDOW)?)?;
    if code.first() != Some(&0xb8) {
        return None;
    }
    let home = le32(code, 1)?.wrapping_sub(p.image_base);
    let n = p.sections.len();
    let layout = if p.sections.last()?.rva == home {
        Layout::V22
    } else if n >= 2 && p.sections.get(n - 2)?.rva == home {
        Layout::V21
    } else {
        return None;
    };
    if s.rva != home {
        return None;
    }
    Some(Stub {
        layout,
        home,
        level_zero: le32(code, 0x80) == Some(LEVEL_ZERO_MARK),
    })
}

/// Reads the block table at `at` up to its zero dword.
fn read_table(img: &[u8], mut at: usize) -> Result<Vec<Entry>, String> {
    let cut = || "petite: the block table runs past the image".to_string();
    let mut entries = Vec::new();
    loop {
        let word = |k: usize| at.checked_add(k).and_then(|a| le32(img, a)).ok_or_else(cut);
        let first = word(0)?;
        if first == 0 {
            return Ok(entries);
        }
        if entries.len() >= MAX_ENTRIES {
            return Err(format!(
                "petite: the block table has more than {MAX_ENTRIES} entries"
            ));
        }
        if first & 0x8000_0000 != 0 {
            entries.push(Entry::Move {
                count: first & 0x7fff_ffff,
                src_last: word(4)?,
                dst_last: word(8)?,
            });
            at += 12;
        } else {
            entries.push(Entry::Block(Block {
                src: first,
                size: word(4)?,
                rva: word(8)?,
                flags: word(12)?,
            }));
            at += 16;
        }
    }
}

/// A move entry: `count` dwords, copied from the last one down, as the stub's `std; rep movsd`.
fn move_dwords(img: &mut [u8], count: u32, src_last: u32, dst_last: u32) -> Option<()> {
    if count == 0 {
        return Some(());
    }
    let back = (count as usize - 1).checked_mul(4)?;
    let src = (src_last as usize).checked_sub(back)?;
    let dst = (dst_last as usize).checked_sub(back)?;
    let len = back.checked_add(4)?;
    img.get(src..src.checked_add(len)?)?;
    img.get(dst..dst.checked_add(len)?)?;
    for i in (0..count as usize).rev() {
        let word = le32(img, src + 4 * i)?;
        put32(img, dst + 4 * i, word)?;
    }
    Some(())
}

// ---------------------------------------------------------------------------------------------
// Decompression

/// The stub's bit buffer: 8 bits a byte, high bit first, a marker bit telling when it is empty.
struct Bits {
    /// RVA of the next stream byte.
    pos: usize,
    /// Bits left, then the marker bit.
    buf: u8,
}

/// Why a block cannot be unpacked (completes "the block unpacked to RVA x ...").
type Why = &'static str;
/// The stream or the output runs off the image.
const PAST: Why = "runs past the image";

impl Bits {
    /// The next byte of the stream (literals and bit buffers share it).
    fn byte(&mut self, img: &[u8]) -> Result<u8, Why> {
        let b = *img.get(self.pos).ok_or(PAST)?;
        self.pos += 1;
        Ok(b)
    }

    /// The next bit, refilling the buffer from the stream when only the marker is left.
    fn bit(&mut self, img: &[u8]) -> Result<u64, Why> {
        let mut old = self.buf;
        self.buf = old << 1;
        if old & 0x7f == 0 {
            old = self.byte(img)?;
            self.buf = old << 1 | 1;
        }
        Ok(u64::from(old >> 7))
    }

    /// An Elias-gamma-like number: from 1, (value bit, continue bit) pairs.
    fn gamma(&mut self, img: &[u8]) -> Result<u64, Why> {
        let mut v = 1u64;
        loop {
            v = v * 2 + self.bit(img)?;
            if v > u64::from(u32::MAX) {
                return Err("has a malformed length code");
            }
            if self.bit(img)? == 0 {
                return Ok(v);
            }
        }
    }
}

/// Unpacks `size` bytes from `src` to `dst`, both in `img` (the stub works in place).
fn inflate(img: &mut [u8], src: usize, dst: usize, size: usize) -> Result<(), Why> {
    // Low bits of a new distance, and the distances past which matches are one, two bytes longer.
    let (low_bits, near, far) = match size {
        0..=0xffff => (5, 0x3a0, 0x3fa0),
        0x1_0000..=0x3_ffff => (7, 0x680, 0x7e80),
        _ => (8, 0x500, 0x7d00),
    };
    if dst.checked_add(size).is_none_or(|end| end > img.len()) {
        return Err(PAST);
    }
    let mut bits = Bits { pos: src, buf: 0 };
    let mut out = dst;
    let mut left = size;
    let first = bits.byte(img)?;
    *img.get_mut(out).ok_or(PAST)? = first;
    out += 1;
    left -= 1;
    let mut last_distance = 0u64;
    while left > 0 {
        if bits.bit(img)? == 0 {
            let b = bits.byte(img)? ^ left as u8;
            *img.get_mut(out).ok_or(PAST)? = b;
            out += 1;
            left -= 1;
            continue;
        }
        let code = bits.gamma(img)?;
        let mut extra = 0;
        if code >= 3 {
            let mut x = code - 3;
            for _ in 0..low_bits {
                x = x * 2 + bits.bit(img)?;
            }
            last_distance = x + 1;
            extra = 1 + u64::from(last_distance > near) + u64::from(last_distance > far);
        }
        let mut len = bits.bit(img)? * 2 + bits.bit(img)?;
        if len == 0 {
            len = bits.gamma(img)? + 2;
        }
        len += extra;
        if len > left as u64 {
            return Err("has a match longer than the bytes left to unpack");
        }
        if last_distance == 0 {
            return Err("reuses a match distance before setting one");
        }
        let from = (out as u64)
            .checked_sub(last_distance)
            .ok_or("copies from before the image start")? as usize;
        let len = len as usize;
        for i in 0..len {
            let b = *img.get(from + i).ok_or(PAST)?;
            *img.get_mut(out + i).ok_or(PAST)? = b;
        }
        out += len;
        left -= len;
    }
    Ok(())
}

/// Undoes the x86 call/jump filter: `E8`/`E9` and `0F 80..8F` displacements were made
/// block-relative (the stub subtracts each one's offset in the block).
fn unfilter(block: &mut [u8]) {
    let Some(last) = block.len().checked_sub(6) else {
        return;
    };
    let mut i = 0;
    while i <= last {
        let (op, next) = (block.get(i).copied(), block.get(i + 1).copied());
        let (at, step) = match (op, next) {
            (Some(0xe8 | 0xe9), _) => (i + 1, 5),
            (Some(0x0f), Some(0x80..=0x8f)) => (i + 2, 6),
            _ => {
                i += 1;
                continue;
            }
        };
        if let Some(v) = le32(block, at) {
            let v = v.wrapping_sub(i as u32).to_le_bytes();
            if let Some(d) = block.get_mut(at..at + 4) {
                d.copy_from_slice(&v);
            }
        }
        i += step;
    }
}

/// Petite 2.2's pass after unpacking: the filter when flagged, then zeros after the block.
fn post_process(img: &mut [u8], b: &Block) -> Option<()> {
    let start = b.rva as usize;
    let end = start.checked_add(b.size as usize)?;
    if b.flags & 1 != 0 {
        unfilter(img.get_mut(start..end)?);
    }
    let zeros = (b.flags >> 1) as usize;
    img.get_mut(end..end.checked_add(zeros)?)?.fill(0);
    Some(())
}

// ---------------------------------------------------------------------------------------------
// Stub tail, entry point

/// The stub tail at the end of block `b`, found by its code magic, with or without the
/// relocation-handling extra bytes.
fn find_tail(img: &[u8], b: &Block, layout: Layout) -> Option<Tail> {
    let end = (b.rva as usize).checked_add(b.size as usize)?;
    let base = end.checked_sub(layout.tail_len())?;
    let has_magic = |start: usize| {
        start >= b.rva as usize
            && le32(img, start + TAIL_MAGIC_AT) == Some(TAIL_MAGIC[0])
            && le32(img, start + TAIL_MAGIC_AT + 4) == Some(TAIL_MAGIC[1])
    };
    if let Some(start) = base
        .checked_sub(layout.reloc_extra())
        .filter(|&s| has_magic(s))
    {
        return Some(Tail {
            start,
            end,
            relocs: true,
        });
    }
    has_magic(base).then_some(Tail {
        start: base,
        end,
        relocs: false,
    })
}

/// The XOR key of the tail's encrypted jump, when both known plaintexts give the same one.
fn tail_key(img: &[u8], start: usize) -> Option<u32> {
    let [(a, pa), (b, pb)] = TAIL_PLAIN;
    let k = le32(img, start + a)? ^ pa;
    (k == le32(img, start + b)? ^ pb).then_some(k)
}

/// One DLL of Petite's import list: its IAT's RVA and the IAT's entries (name RVAs, or ordinals
/// with bit 31 set), without the closing zero.
struct Dll {
    /// RVA of the IAT.
    iat: u32,
    /// The IAT's entries.
    thunks: Vec<u32>,
}

/// Petite's import list at `rva`: one IAT RVA per DLL, ended by zero; with each IAT's entries.
fn import_lists(img: &[u8], rva: u32) -> Result<Vec<Dll>, String> {
    let mut dlls = Vec::new();
    let mut walked = 0usize;
    for i in 0..=MAX_DLLS {
        let at = (rva as usize).checked_add(4 * i);
        let iat = at.and_then(|at| le32(img, at)).ok_or_else(|| {
            format!("petite: the import list at RVA {rva:#x} runs past the image")
        })?;
        if iat == 0 {
            return Ok(dlls);
        }
        let mut thunks = Vec::new();
        for k in 0.. {
            let at = (iat as usize).checked_add(4 * k);
            let thunk = at
                .and_then(|at| le32(img, at))
                .ok_or_else(|| format!("petite: the IAT at RVA {iat:#x} runs past the image"))?;
            if thunk == 0 {
                break;
            }
            walked += 1;
            if walked > MAX_IMPORTS {
                return Err(format!(
                    "petite: more than {MAX_IMPORTS} imports; not supported"
                ));
            }
            thunks.push(thunk);
        }
        dlls.push(Dll { iat, thunks });
    }
    Err(format!(
        "petite: the import list at RVA {rva:#x} names more than {MAX_DLLS} DLLs"
    ))
}

/// Petite 2.2 mixes each import into the entry point's key as its loader resolves it: one
/// decrement when the address is above the stub's section, one when below the next jump thunk
/// (mangled imports get a 5-byte thunk after the entry point, on a pseudo-random schedule),
/// then a rotation. Real APIs lie above the image, so a stand-in address gives the same result.
fn mix_key(dlls: &[Dll], mut key: u32, mangled: bool, p: &Packed, home: u32) -> u32 {
    let home_va = home.wrapping_add(p.image_base);
    let mut thunk_va = p.entry.wrapping_add(5).wrapping_add(p.image_base);
    let mut skip = 0i64;
    for &thunk in dlls.iter().flat_map(|d| &d.thunks) {
        let mut address = API_STANDIN;
        if thunk & 0x8000_0000 == 0 && mangled {
            skip -= 1;
            if skip < 0 {
                address = thunk_va;
                thunk_va = thunk_va.wrapping_add(5);
                skip = i64::from(thunk_va & 7);
            }
        }
        key = key
            .wrapping_sub(u32::from(home_va < address))
            .wrapping_sub(u32::from(address < thunk_va));
        key = key.rotate_right(3);
    }
    key
}

// ---------------------------------------------------------------------------------------------
// Imports, sections

/// The DLL names of the packed file's import table, in the order they lie in memory (the
/// stub's loader walks them one after the other).
fn packed_dll_names(p: &Packed, img: &[u8]) -> Vec<Vec<u8>> {
    let mut named = Vec::new();
    let (dir, _) = p.dirs[1];
    for i in 0..MAX_DLLS {
        let field = |k: usize| {
            (dir as usize)
                .checked_add(20 * i + k)
                .and_then(|at| le32(img, at))
        };
        let (Some(name), Some(iat)) = (field(12), field(16)) else {
            break;
        };
        if name == 0 && iat == 0 {
            break;
        }
        if let Some(s) = c_string(img, name as usize) {
            named.push((name, s.to_vec()));
        }
    }
    named.sort();
    named.dedup_by_key(|(rva, _)| *rva);
    named.into_iter().map(|(_, s)| s).collect()
}

/// Writes an import directory at the start of the stub's section, pairing each IAT with a DLL
/// name: descriptors, then lookup tables (copies of the IATs), then the names; the IATs' name
/// RVAs become hint/name RVAs again. Returns (RVA, directory size, bytes written).
fn rebuild_imports(
    p: &Packed,
    img: &mut [u8],
    dlls: &[Dll],
    home: u32,
) -> Result<(u32, u32, u32), String> {
    let names = packed_dll_names(p, img);
    if names.len() < dlls.len() || dlls.is_empty() {
        return Err(format!(
            "petite: the import directory is not rebuilt: {} IAT lists but {} DLL names in the packed import table",
            dlls.len(),
            names.len()
        ));
    }
    let dir_len = (dlls.len() + 1) * 20;
    let lookups_len: usize = dlls.iter().map(|d| (d.thunks.len() + 1) * 4).sum();
    let (mut descriptors, mut lookups, mut strings) = (Vec::new(), Vec::new(), Vec::new());
    for (dll, name) in dlls.iter().zip(&names) {
        let lookup_rva = home as usize + dir_len + lookups.len();
        let name_rva = home as usize + dir_len + lookups_len + strings.len();
        // Lookup table, time stamp, forwarder chain, name, IAT.
        for word in [lookup_rva as u32, 0, 0, name_rva as u32, dll.iat] {
            descriptors.extend_from_slice(&word.to_le_bytes());
        }
        for &thunk in dll.thunks.iter().chain([&0]) {
            lookups.extend_from_slice(&hint_name(thunk).to_le_bytes());
        }
        strings.extend_from_slice(name);
        strings.push(0);
    }
    descriptors.extend_from_slice(&[0; 20]);
    let table = [descriptors, lookups, strings].concat();
    // Room: up to the next section or the image end.
    let next = p
        .sections
        .iter()
        .map(|s| s.rva as usize)
        .filter(|&r| r > home as usize)
        .min();
    let room_end = next.unwrap_or(img.len()).min(img.len());
    let at = home as usize;
    let dest = at
        .checked_add(table.len())
        .filter(|&end| end <= room_end)
        .and_then(|end| img.get_mut(at..end))
        .ok_or(
            "petite: the import directory is not rebuilt: no room for it in the stub's section",
        )?;
    dest.copy_from_slice(&table);
    for dll in dlls {
        for (k, &thunk) in dll.thunks.iter().enumerate() {
            let at = (dll.iat as usize).saturating_add(4 * k);
            // An IAT that does not fit was not read either (`import_lists`).
            let _ = put32(img, at, hint_name(thunk));
        }
    }
    Ok((home, dir_len as u32, table.len() as u32))
}

/// An IAT entry as the PE format has it: an ordinal as is, a name RVA back to its hint/name RVA.
fn hint_name(thunk: u32) -> u32 {
    if thunk & 0x8000_0000 != 0 || thunk < 2 {
        thunk
    } else {
        thunk - 2
    }
}

/// The original sections, guessed: each starts at a block's or a packed section's RVA below the
/// stub's section and runs to the next such RVA; packed sections above the stub's are kept.
fn guess_sections(p: &Packed, blocks: &[Block], home: u32, img_len: usize) -> Vec<OutSection> {
    let flags_at = |rva: u32| p.section_of(rva).map_or(DEFAULT_FLAGS, |s| s.flags);
    let mut starts: Vec<u32> = blocks
        .iter()
        .map(|b| b.rva)
        .chain(p.sections.iter().map(|s| s.rva))
        .filter(|&r| r > 0 && r < home)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let ends = starts.iter().skip(1).copied().chain([home]);
    let mut out: Vec<OutSection> = starts
        .iter()
        .zip(ends)
        .map(|(&rva, end)| OutSection {
            name: [0; 8],
            rva,
            vsize: end - rva,
            flags: flags_at(rva),
        })
        .collect();
    for s in p.sections.iter().filter(|s| s.rva > home) {
        out.push(OutSection {
            name: s.name,
            rva: s.rva,
            vsize: s.vsize.max(s.raw_size),
            flags: s.flags,
        });
    }
    for s in &mut out {
        let room = img_len.saturating_sub(s.rva as usize);
        s.vsize = s.vsize.min(u32::try_from(room).unwrap_or(u32::MAX));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Bytes

/// The NUL-terminated string at `at` (without the NUL), at most [`MAX_NAME`] bytes.
fn c_string(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    let rest = rest.get(..rest.len().min(MAX_NAME + 1))?;
    let len = rest.iter().position(|&c| c == 0)?;
    rest.get(..len).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        check_detects_only, check_hostile_input, check_zipped_clam, restored,
    };
    use super::*;

    const SAMPLE: &str = "clam-petite.exe";

    #[test]
    fn sample_restores() {
        let r = restored(SAMPLE, unpack);
        check_zipped_clam(&r);
        let rvas: Vec<u32> = r.sections.iter().map(|s| s.rva).collect();
        assert_eq!(rvas, [0x1000, 0x2000, 0x3000, 0x4000, 0x5000]);
        // The rebuilt imports: KERNEL32.dll's IAT at 0x2000, USER32.dll's at 0x2014.
        let (dir, size) = r.imports.expect("imports rebuilt");
        assert_eq!(size, 60);
        let d = dir as usize;
        assert_eq!(le32(&r.image, d + 16), Some(0x2000));
        // ExitProcess's hint/name entry: a zero hint, then the name.
        assert_eq!(le32(&r.image, 0x2000), Some(0x20b4));
        assert_eq!(&r.image[0x20b4..0x20c2], b"\0\0ExitProcess\0");
        assert_eq!(le32(&r.image, d + 36), Some(0x2014));
        assert_eq!(
            c_string(&r.image, le32(&r.image, d + 12).unwrap() as usize),
            Some(&b"KERNEL32.dll"[..])
        );
        assert_eq!(
            c_string(&r.image, le32(&r.image, d + 32).unwrap() as usize),
            Some(&b"USER32.dll"[..])
        );
        // The stub's tail is wiped, the zero fill after .rdata cleared the moved packed data.
        assert!(r.image[0x2123..0x3000].iter().all(|&b| b == 0));
    }

    #[test]
    fn detects_only_petite() {
        check_detects_only(SAMPLE, detect);
    }

    #[test]
    fn hostile_input() {
        check_hostile_input(SAMPLE, detect, unpack);
    }

    #[test]
    fn inflate_small_stream() {
        // 'a' verbatim; control byte 0b0011_0000: literal, literal, match (code 3 -> distance
        // from 5 more bits 0b00010 = 3), then 0b1000_1000: distance bits 1,0, length bits 0,0
        // (so a gamma follows: 1,0 = 3, +2 = 5), plus 1 for a new distance: 6 bytes.
        let mut img = vec![
            0x61,
            0x30,
            b'b' ^ 8,
            b'c' ^ 7,
            0x88,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        inflate(&mut img, 0, 6, 9).unwrap();
        assert_eq!(&img[6..15], b"abcabcabc");
        assert_eq!(inflate(&mut img, 0, 6, 12), Err(PAST));
    }

    #[test]
    fn unfilter_makes_calls_relative() {
        let mut code = [
            0x90, 0x90, 0xe8, 0x12, 0, 0, 0, 0x0f, 0x85, 0x17, 0, 0, 0, 0x90,
        ];
        unfilter(&mut code);
        assert_eq!(
            code,
            [0x90, 0x90, 0xe8, 0x10, 0, 0, 0, 0x0f, 0x85, 0x10, 0, 0, 0, 0x90]
        );
    }
}
