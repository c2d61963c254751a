//! PE/COFF (the Microsoft PE/COFF specification): the one reader of a PE image, and the members
//! of a PE file.
//!
//! [`Image`] reads the headers, the section table and the data directories and maps RVAs to file
//! offsets; [`resources`] walks the resource tree and [`imports`] / [`delay_imports`] read the
//! import descriptors from it. The metadata reader (`inspect/pe.rs`), the unpacker here and the
//! UPX rebuild (`upx.rs`) all read a PE through it, and the imphash ([`imphash`]) comes from the
//! same import list as `metadata.application.pe.imports`.
//!
//! Every table is read by hand from the bytes: a truncated or hostile table gives a `pe: ...`
//! warning and the rest is still read, and each list is capped by a named `MAX_*`. The crates in
//! the build were weighed for this (December 2026, goblin 0.10.7 and yara-x 1.22.1) and left
//! out: neither reports a damaged table to its caller (yara-x drops it silently, goblin's
//! permissive mode only logs it), goblin still fails the whole file on a bad section table or
//! import entry, and each lacks fields the report carries (yara-x: import hints, PDB GUID and
//! age, TLS callbacks, the computed checksum; goblin: delay-load imports, export ordinals,
//! Authenticode); yara-x's `mods::invoke` also parses and verifies everything up front.
//!
//! The members ([`unpack`]) are the overlay (bytes after the last section, where installers and
//! droppers keep their payload, minus a trailing Authenticode signature) and the resources, each
//! named `resources/<type>/<name>/<language>`. Small structural resources (strings, version,
//! manifest, dialogs, menus, icon groups) are not members; the metadata covers them.

use crate::analysis::text;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use md5::{Digest, Md5};
use serde::Serialize;

use super::{printable, Members};
use crate::analysis::bytes::{self, le16, le32, le64};
use crate::analysis::hashes::hex;
use crate::analysis::ordinals;
use crate::analysis::warning::{Problem, Warning};

/// Most sections read (the Windows loader allows 96).
pub(crate) const MAX_SECTIONS: usize = 96;
/// Most import descriptors (DLLs) read, normal and delay-load each.
const MAX_DLLS: usize = 512;
/// Most functions read per DLL.
const MAX_IMPORTS_PER_DLL: usize = 4096;
/// Most functions read over all DLLs.
const MAX_IMPORTS: usize = 20_000;
/// Most resources read.
pub(crate) const MAX_RESOURCES: usize = 10_000;
/// Most resource directory entries visited (a hostile tree is wide or loops).
pub(crate) const MAX_RESOURCE_NODES: usize = 100_000;
/// Longest name (import, export, resource, section) kept, in bytes.
pub(crate) const MAX_NAME: usize = 1024;

/// Resource types that are structure, not payload: not members.
const STRUCTURAL_TYPES: &[u32] = &[4, 5, 6, 9, 12, 14, 16, 24];

/// A NUL-terminated name at the start of `b` (at most [`MAX_NAME`] bytes).
pub(crate) fn cstr(b: &[u8]) -> Option<String> {
    bytes::cstr(b, MAX_NAME)
}

/// A section header as read.
pub(crate) struct SectionHeader {
    /// The name, with a `/N` long name looked up in the COFF string table.
    pub name: String,
    /// The eight bytes of the name field as written.
    pub raw_name: [u8; 8],
    pub va: u32,
    pub vsize: u32,
    pub raw_ptr: u32,
    pub raw_size: u32,
    pub characteristics: u32,
}

impl SectionHeader {
    /// Whether the section maps `rva` (its virtual size, or its raw size when that is 0).
    pub fn contains(&self, rva: u32) -> bool {
        let span = if self.vsize == 0 {
            self.raw_size
        } else {
            self.vsize
        };
        rva >= self.va && rva - self.va < span
    }

    pub fn writable(&self) -> bool {
        self.characteristics & IMAGE_SCN_MEM_WRITE != 0
    }
}

pub(crate) const IMAGE_SCN_MEM_EXECUTE: u32 = 0x2000_0000;
pub(crate) const IMAGE_SCN_MEM_READ: u32 = 0x4000_0000;
pub(crate) const IMAGE_SCN_MEM_WRITE: u32 = 0x8000_0000;

/// The headers of a PE image and how to map RVAs to file offsets.
pub(crate) struct Image<'a> {
    pub data: &'a [u8],
    /// File offset of the `PE\0\0` signature.
    pub pe_at: usize,
    pub machine: u16,
    pub timestamp: u32,
    pub characteristics: u16,
    pub plus: bool,
    pub linker: (u8, u8),
    pub entry: u32,
    pub image_base: u64,
    pub section_alignment: u32,
    pub file_alignment: u32,
    pub os_version: (u16, u16),
    pub size_of_image: u32,
    pub size_of_headers: u32,
    pub checksum: u32,
    /// File offset of the checksum field.
    pub checksum_at: usize,
    pub subsystem: u16,
    pub dll_characteristics: u16,
    /// File offset of the data directories.
    pub dirs_at: usize,
    /// (RVA, size) of each data directory present.
    pub dirs: Vec<(u32, u32)>,
    pub sections: Vec<SectionHeader>,
    /// The section table declares more sections than were read.
    pub declared_sections: usize,
}

impl<'a> Image<'a> {
    /// Reads the headers and the section table. Problems that leave the rest readable (too many
    /// sections, a short section table) are `warnings`; an error means no image at all.
    pub fn parse(data: &'a [u8], warnings: &mut Vec<Warning>) -> Result<Self, String> {
        let pe = le32(data, 0x3c).ok_or("the DOS header is truncated")? as usize;
        if data.get(pe..pe.saturating_add(4)) != Some(b"PE\0\0") {
            return Err("no PE signature where the DOS header points".into());
        }
        let coff = pe + 4;
        let truncated = || "the COFF header is truncated".to_string();
        let machine = le16(data, coff).ok_or_else(truncated)?;
        let nsections = le16(data, coff + 2).ok_or_else(truncated)? as usize;
        let timestamp = le32(data, coff + 4).ok_or_else(truncated)?;
        let symbols_at = le32(data, coff + 8).ok_or_else(truncated)? as usize;
        let nsymbols = le32(data, coff + 12).ok_or_else(truncated)? as usize;
        let opt_size = le16(data, coff + 16).ok_or_else(truncated)? as usize;
        let characteristics = le16(data, coff + 18).ok_or_else(truncated)?;
        let opt = coff + 20;
        let bad_opt = || "the optional header is truncated".to_string();
        let plus = match le16(data, opt).ok_or_else(bad_opt)? {
            0x10b => false,
            0x20b => true,
            m => return Err(format!("unknown optional header magic 0x{m:x}")),
        };
        let get16 = |at: usize| le16(data, opt + at).ok_or_else(bad_opt);
        let get32 = |at: usize| le32(data, opt + at).ok_or_else(bad_opt);
        let image_base = if plus {
            le64(data, opt + 24).ok_or_else(bad_opt)?
        } else {
            u64::from(get32(28)?)
        };
        let (ndirs_at, dirs_at) = if plus { (108, 112) } else { (92, 96) };
        let ndirs = (get32(ndirs_at).unwrap_or(0) as usize).min(16);
        let dirs_at = opt + dirs_at;
        let dirs = (0..ndirs)
            .map_while(|i| {
                Some((
                    le32(data, dirs_at + i * 8)?,
                    le32(data, dirs_at + i * 8 + 4)?,
                ))
            })
            .collect();
        let mut img = Image {
            data,
            pe_at: pe,
            machine,
            timestamp,
            characteristics,
            plus,
            linker: (
                *data.get(opt + 2).ok_or_else(bad_opt)?,
                *data.get(opt + 3).ok_or_else(bad_opt)?,
            ),
            entry: get32(16)?,
            image_base,
            section_alignment: get32(32)?,
            file_alignment: get32(36)?,
            os_version: (get16(40)?, get16(42)?),
            size_of_image: get32(56)?,
            size_of_headers: get32(60)?,
            checksum: get32(64)?,
            checksum_at: opt + 64,
            subsystem: get16(68)?,
            dll_characteristics: get16(70)?,
            dirs_at,
            dirs,
            sections: Vec::new(),
            declared_sections: nsections,
        };
        // COFF string table, for long section names ("/4") in unstripped mingw builds.
        let strtab = symbols_at
            .checked_add(nsymbols.saturating_mul(18))
            .filter(|_| symbols_at != 0)
            .and_then(|at| data.get(at..));
        let table = opt + opt_size;
        if nsections > MAX_SECTIONS {
            warnings.push(Warning::new(
                Problem::Capped,
                format!(
                "pe: the header declares {nsections} sections; the first {MAX_SECTIONS} were read"
            ),
            ));
        }
        for i in 0..nsections.min(MAX_SECTIONS) {
            let s = table + i * 40;
            let Some(header) = data.get(s..s + 40) else {
                warnings.push(Warning::new(
                    Problem::Truncated,
                    format!(
                        "pe: the section table ends past the end of the file ({i} of {nsections} \
                     sections read)"
                    ),
                ));
                break;
            };
            let raw_name = &header[..8];
            let end = raw_name.iter().position(|&c| c == 0).unwrap_or(8);
            let mut name = String::from_utf8_lossy(&raw_name[..end]).into_owned();
            if let (Some(rest), Some(strtab)) = (name.strip_prefix('/'), strtab) {
                if let Some(long) = rest.parse::<usize>().ok().and_then(|o| strtab.get(o..)) {
                    name = cstr(long).unwrap_or(name);
                }
            }
            img.sections.push(SectionHeader {
                name,
                raw_name: raw_name.try_into().unwrap_or([0; 8]),
                vsize: le32(header, 8).unwrap_or(0),
                va: le32(header, 12).unwrap_or(0),
                raw_size: le32(header, 16).unwrap_or(0),
                raw_ptr: le32(header, 20).unwrap_or(0),
                characteristics: le32(header, 36).unwrap_or(0),
            });
        }
        Ok(img)
    }

    /// Data directory `i` when it is set.
    pub fn dir(&self, i: usize) -> Option<(u32, u32)> {
        self.dirs.get(i).copied().filter(|&(rva, _)| rva != 0)
    }

    /// The section mapping `rva`, if any.
    pub fn section_of(&self, rva: u32) -> Option<&SectionHeader> {
        self.sections.iter().find(|s| s.contains(rva))
    }

    /// The file offset of an RVA: in the headers, or in a section's raw data.
    /// A section maps its raw data even past its virtual size (the loader maps whole pages,
    /// and pefile reads such RVAs too), so the span looked up is the larger of the two.
    pub fn offset(&self, rva: u32) -> Option<usize> {
        let mapping = self
            .sections
            .iter()
            .find(|s| rva >= s.va && rva - s.va < s.vsize.max(s.raw_size));
        if let Some(s) = mapping {
            let delta = rva - s.va;
            return (delta < s.raw_size).then(|| s.raw_ptr as usize + delta as usize);
        }
        (rva < self.size_of_headers).then_some(rva as usize)
    }

    /// The file's bytes from `rva` on.
    pub fn from(&self, rva: u32) -> Option<&'a [u8]> {
        self.data.get(self.offset(rva)?..)
    }

    /// `len` bytes at `rva`.
    pub fn bytes(&self, rva: u32, len: usize) -> Option<&'a [u8]> {
        let at = self.offset(rva)?;
        self.data.get(at..at.checked_add(len)?)
    }

    pub fn u32_at(&self, rva: u32) -> Option<u32> {
        le32(self.bytes(rva, 4)?, 0)
    }

    pub fn u16_at(&self, rva: u32) -> Option<u16> {
        le16(self.bytes(rva, 2)?, 0)
    }

    /// A pointer-sized value (4 or 8 bytes) at `rva`.
    pub fn ptr_at(&self, rva: u32) -> Option<u64> {
        if self.plus {
            le64(self.bytes(rva, 8)?, 0)
        } else {
            self.u32_at(rva).map(u64::from)
        }
    }

    pub fn str_at(&self, rva: u32) -> Option<String> {
        cstr(self.from(rva)?)
    }

    /// The RVA of a virtual address, when it lies in the image.
    pub fn rva_of_va(&self, va: u64) -> Option<u32> {
        va.checked_sub(self.image_base)
            .and_then(|r| u32::try_from(r).ok())
    }
}

impl<'a> Image<'a> {
    /// Data directory `i` as written, `(0, 0)` when absent (the UPX rebuild copies them).
    /// Read from its slot whatever NumberOfRvaAndSizes says, as UPX does.
    pub fn dir_raw(&self, i: usize) -> (u32, u32) {
        let at = self.dirs_at + i * 8;
        le32(self.data, at)
            .zip(le32(self.data, at + 4))
            .unwrap_or((0, 0))
    }

    /// Where the sections' raw data ends (0 when no section has any).
    pub fn end_of_sections(&self) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.raw_size > 0)
            .map(|s| u64::from(s.raw_ptr) + u64::from(s.raw_size))
            .max()
            .unwrap_or(0)
    }

    /// Where the headers end: after the section table.
    pub fn headers_end(&self) -> usize {
        let opt_size = le16(self.data, self.pe_at + 20).unwrap_or(0) as usize;
        self.pe_at + 24 + opt_size + self.declared_sections.min(MAX_SECTIONS) * 40
    }

    /// The overlay: the bytes after the sections' raw data (and after the section table, which
    /// a tiny file's sections may end before), minus an Authenticode certificate table that
    /// ends the file; `None` when there is no section data to be after, or when it is empty or
    /// all zero. SizeOfHeaders does not move it: a header that claims the whole file must not
    /// hide a payload. Returns where it starts and its bytes.
    pub fn overlay(&self) -> Option<(usize, &'a [u8])> {
        let sections_end = usize::try_from(self.end_of_sections()).ok()?;
        if sections_end == 0 {
            return None;
        }
        let start = sections_end.max(self.headers_end());
        let mut end = self.data.len();
        if start >= end {
            return None;
        }
        // A certificate table that ends the file is the signature, not overlay.
        if let Some((at, size)) = self.dir(4) {
            let (at, size) = (at as usize, size as usize);
            if at >= start && at.saturating_add(size) >= end.saturating_sub(8) {
                end = at.min(end);
            }
        }
        let bytes = self.data.get(start..end)?;
        (!bytes.iter().all(|&b| b == 0)).then_some((start, bytes))
    }
}

/// One imported function: by name (with its hint) or by ordinal.
#[derive(Serialize, Clone)]
pub(crate) struct ImportedFunction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<u16>,
}

/// One import descriptor: a DLL and the functions imported from it.
pub(crate) struct ImportDescriptor {
    pub dll: String,
    pub functions: Vec<ImportedFunction>,
    /// More functions than [`MAX_IMPORTS_PER_DLL`], or a thunk table that could not be read to
    /// its end.
    pub truncated: bool,
}

/// Reads one thunk table (import lookup or delay-load name table) into functions.
/// `fix` turns the table's addresses into RVAs (delay-load tables of old linkers hold VAs).
fn thunks(
    img: &Image,
    table: u32,
    fix: &dyn Fn(u64) -> Option<u32>,
    total: &mut usize,
) -> (Vec<ImportedFunction>, bool) {
    let step = if img.plus { 8 } else { 4 };
    let ordinal_flag = if img.plus { 1u64 << 63 } else { 1 << 31 };
    let mut out = Vec::new();
    for i in 0..=MAX_IMPORTS_PER_DLL {
        if i == MAX_IMPORTS_PER_DLL || *total >= MAX_IMPORTS {
            return (out, true);
        }
        let Some(thunk) = table
            .checked_add((i * step) as u32)
            .and_then(|at| img.ptr_at(at))
        else {
            return (out, true);
        };
        if thunk == 0 {
            break;
        }
        *total += 1;
        if thunk & ordinal_flag != 0 {
            out.push(ImportedFunction {
                name: None,
                ordinal: Some(thunk as u16),
                hint: None,
            });
            continue;
        }
        let by_name = fix(thunk & 0x7fff_ffff)
            .and_then(|rva| Some((img.u16_at(rva)?, img.str_at(rva.checked_add(2)?)?)));
        out.push(match by_name {
            Some((hint, name)) => ImportedFunction {
                name: Some(name),
                ordinal: None,
                hint: Some(hint),
            },
            None => ImportedFunction {
                name: Some(format!("<unreadable 0x{thunk:x}>")),
                ordinal: None,
                hint: None,
            },
        });
    }
    (out, false)
}

/// The import descriptors, in table order (a DLL may have several). `total` counts the functions
/// read here and in [`delay_imports`] against [`MAX_IMPORTS`].
pub(crate) fn imports(
    img: &Image,
    total: &mut usize,
    warnings: &mut Vec<Warning>,
) -> Vec<ImportDescriptor> {
    let Some((rva, _)) = img.dir(1) else {
        return Vec::new();
    };
    let mut dlls = Vec::new();
    for i in 0..=MAX_DLLS {
        let at = rva.saturating_add(i as u32 * 20);
        let Some(d) = img.bytes(at, 20) else {
            warnings.push(Warning::new(
                Problem::Truncated,
                format!(
                    "pe: the import directory at RVA 0x{at:x} lies outside the file; {i} DLLs read"
                ),
            ));
            break;
        };
        if d.iter().all(|&b| b == 0) {
            break;
        }
        if i == MAX_DLLS {
            warnings.push(Warning::new(
                Problem::Capped,
                format!("pe: more than {MAX_DLLS} imported DLLs; the rest were skipped"),
            ));
            break;
        }
        let (lookup, name_rva, iat) = (
            le32(d, 0).unwrap_or(0),
            le32(d, 12).unwrap_or(0),
            le32(d, 16).unwrap_or(0),
        );
        let Some(name) = img.str_at(name_rva) else {
            warnings.push(Warning::new(
                Problem::Corrupt,
                format!("pe: import descriptor {i} names no readable DLL"),
            ));
            continue;
        };
        let table = if lookup != 0 { lookup } else { iat };
        let (functions, cut) = thunks(img, table, &|v| u32::try_from(v).ok(), total);
        if cut {
            warnings.push(Warning::new(
                Problem::Truncated,
                format!("pe: the imports from {name} were not read to their end"),
            ));
        }
        dlls.push(ImportDescriptor {
            dll: name,
            functions,
            truncated: cut,
        });
    }
    dlls
}

/// The delay-load import descriptors, in table order.
pub(crate) fn delay_imports(
    img: &Image,
    total: &mut usize,
    warnings: &mut Vec<Warning>,
) -> Vec<ImportDescriptor> {
    let Some((rva, size)) = img.dir(13) else {
        return Vec::new();
    };
    // Unlike the import directory's, this size is kept by linkers: it bounds the descriptors
    // even when no null descriptor ends them.
    let count = if size >= 32 {
        size as usize / 32
    } else {
        MAX_DLLS + 1
    };
    let mut dlls = Vec::new();
    for i in 0..count.min(MAX_DLLS + 1) {
        let at = rva.saturating_add(i as u32 * 32);
        let Some(d) = img.bytes(at, 32) else {
            if i == 0 {
                warnings.push(Warning::new(
                    Problem::Truncated,
                    format!(
                        "pe: the delay-load import directory at RVA 0x{at:x} lies outside the file"
                    ),
                ));
            }
            break;
        };
        let (attributes, name, names) = (
            le32(d, 0).unwrap_or(0),
            le32(d, 4).unwrap_or(0),
            le32(d, 16).unwrap_or(0),
        );
        if name == 0 || names == 0 {
            break;
        }
        if i == MAX_DLLS {
            warnings.push(Warning::new(
                Problem::Capped,
                format!("pe: more than {MAX_DLLS} delay-loaded DLLs; the rest were skipped"),
            ));
            break;
        }
        // Attribute bit 0 set: the fields are RVAs; clear (Visual C++ 6): virtual addresses.
        let fix = |v: u64| -> Option<u32> {
            if attributes & 1 != 0 {
                u32::try_from(v).ok()
            } else {
                img.rva_of_va(v)
            }
        };
        let (Some(name_rva), Some(table)) = (fix(name.into()), fix(names.into())) else {
            warnings.push(Warning::new(
                Problem::Truncated,
                format!("pe: delay-load descriptor {i} points outside the image"),
            ));
            continue;
        };
        let Some(dll) = img.str_at(name_rva) else {
            warnings.push(Warning::new(
                Problem::Corrupt,
                format!("pe: delay-load descriptor {i} names no readable DLL"),
            ));
            continue;
        };
        let (functions, cut) = thunks(img, table, &fix, total);
        if cut {
            warnings.push(Warning::new(
                Problem::Truncated,
                format!("pe: the delay-load imports from {dll} were not read to their end"),
            ));
        }
        dlls.push(ImportDescriptor {
            dll,
            functions,
            truncated: cut,
        });
    }
    dlls
}

/// The imphash: md5 over the imports as `dll.function`, lower case, comma separated, in
/// import-table order (the definition pefile and VirusTotal use), the DLL without its `.dll`,
/// `.ocx` or `.sys`. Imports by ordinal are named from pefile's tables for oleaut32, ws2_32 and
/// wsock32 ([`ordinals`]), else `ordN`. A function whose name could not be read is left out, as
/// is a descriptor whose DLL name could not be ([`imports`] skips it); `None` when nothing is
/// imported.
pub(crate) fn imphash(descriptors: &[ImportDescriptor]) -> Option<String> {
    let mut parts = Vec::new();
    for d in descriptors {
        let dll = d.dll.to_ascii_lowercase();
        let stem = ["ocx", "sys", "dll"]
            .iter()
            .find_map(|ext| dll.strip_suffix(&format!(".{ext}")))
            .unwrap_or(&dll);
        for f in &d.functions {
            let func = match (&f.name, f.ordinal) {
                (_, Some(ordinal)) => match ordinals::name(&dll, ordinal) {
                    Some(name) => name.to_ascii_lowercase(),
                    None => format!("ord{ordinal}"),
                },
                (Some(name), None) if f.hint.is_some() => name.to_ascii_lowercase(),
                _ => continue,
            };
            parts.push(format!("{stem}.{func}"));
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(hex(&Md5::digest(parts.join(",").as_bytes())))
}

/// A length-prefixed UTF-16LE resource name.
fn resource_string(b: &[u8], at: usize) -> Option<String> {
    let len = (le16(b, at)? as usize).min(MAX_NAME);
    Some(text::utf16le(b.get(at + 2..at + 2 + len * 2)?))
}

/// One resource: a data entry at the language level of the tree.
pub(crate) struct Resource<'a> {
    /// The type's number (`RT_*`), or `u32::MAX` when the type is named by a string.
    pub type_id: u32,
    /// The type's name (`RCDATA`, a number, or the string).
    pub type_label: String,
    /// The name's number or string.
    pub name: String,
    /// The language's number, or `u32::MAX` when it is a string.
    pub language: u32,
    /// The language's number or string.
    pub language_label: String,
    pub data_rva: u32,
    pub size: u32,
    /// The data; `None` when it lies outside the file.
    pub bytes: Option<&'a [u8]>,
}

impl Resource<'_> {
    /// `<type>/<name>/<language>`.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.type_label, self.name, self.language_label)
    }
}

/// Walks the three-level resource tree (type, name, language), depth first in directory order,
/// and returns its data entries (at most [`MAX_RESOURCES`]). A loop, a deeper tree or a data
/// entry above the language level is a warning, never followed.
/// Only resources whose type `keep` accepts are returned and count against the cap (the
/// unpacker skips structural types, the metadata lists every one).
pub(crate) fn resources<'a>(
    img: &Image<'a>,
    keep: impl Fn(u32) -> bool,
    warnings: &mut Vec<Warning>,
) -> Vec<Resource<'a>> {
    let mut list = Vec::new();
    let Some((rva, _)) = img.dir(2) else {
        return list;
    };
    let Some(tree) = img.from(rva) else {
        warnings.push(Warning::new(
            Problem::Truncated,
            format!("pe: the resource directory at RVA 0x{rva:x} lies outside the file"),
        ));
        return list;
    };
    let mut visited = BTreeSet::new();
    let mut nodes = 0usize;
    // (directory offset in the tree, depth, type id, type label, name label)
    let mut stack = vec![(0usize, 0u8, 0u32, String::new(), String::new())];
    let mut problems = BTreeMap::new();
    'walk: while let Some((dir, depth, type_id, type_label, name_label)) = stack.pop() {
        if !visited.insert(dir) {
            problems.insert(
                "a resource directory is referenced twice (the tree loops)",
                Problem::Corrupt,
            );
            continue;
        }
        let (Some(named), Some(ids)) = (le16(tree, dir + 12), le16(tree, dir + 14)) else {
            problems.insert("a resource directory is truncated", Problem::Truncated);
            continue;
        };
        let mut children = Vec::new();
        for i in 0..named as usize + ids as usize {
            nodes += 1;
            if nodes > MAX_RESOURCE_NODES {
                warnings.push(Warning::new(
                    Problem::Capped,
                    format!(
                    "pe: the resource tree has more than {MAX_RESOURCE_NODES} entries; the rest \
                     were skipped"
                ),
                ));
                break 'walk;
            }
            let e = dir + 16 + i * 8;
            let (Some(id_field), Some(target)) = (le32(tree, e), le32(tree, e + 4)) else {
                problems.insert(
                    "a resource directory entry is truncated",
                    Problem::Truncated,
                );
                break;
            };
            let (id, label) = if id_field & 0x8000_0000 != 0 {
                let s = resource_string(tree, (id_field & 0x7fff_ffff) as usize);
                (u32::MAX, s.unwrap_or_else(|| "?".into()))
            } else if depth == 0 {
                (id_field, type_name(id_field).into_owned())
            } else {
                (id_field, id_field.to_string())
            };
            if target & 0x8000_0000 != 0 {
                let sub = (target & 0x7fff_ffff) as usize;
                match depth {
                    0 => children.push((sub, 1, id, label, String::new())),
                    1 => children.push((sub, 2, type_id, type_label.clone(), label)),
                    _ => {
                        problems.insert(
                            "a resource tree is deeper than three levels",
                            Problem::Corrupt,
                        );
                    }
                }
                continue;
            }
            if depth != 2 {
                problems.insert(
                    "a resource data entry sits above the language level",
                    Problem::Corrupt,
                );
                continue;
            }
            let entry = target as usize;
            let (Some(data_rva), Some(size)) = (le32(tree, entry), le32(tree, entry + 4)) else {
                problems.insert("a resource data entry is truncated", Problem::Truncated);
                continue;
            };
            if !keep(type_id) {
                continue;
            }
            if list.len() >= MAX_RESOURCES {
                warnings.push(Warning::new(
                    Problem::Capped,
                    format!("pe: more than {MAX_RESOURCES} resources; the rest were skipped"),
                ));
                break 'walk;
            }
            let bytes = img.bytes(data_rva, size as usize);
            if bytes.is_none() {
                problems.insert(
                    "a resource's data lies outside the file",
                    Problem::Truncated,
                );
            }
            list.push(Resource {
                type_id,
                type_label: type_label.clone(),
                name: name_label.clone(),
                language: id,
                language_label: label,
                data_rva,
                size,
                bytes,
            });
        }
        stack.extend(children.into_iter().rev());
    }
    warnings.extend(
        problems
            .into_iter()
            .map(|(text, problem)| Warning::new(problem, format!("pe: {text}"))),
    );
    list
}

/// The name of a predefined resource type (`RT_*`), or the number.
pub fn type_name(id: u32) -> Cow<'static, str> {
    const NAMES: &[(u32, &str)] = &[
        (1, "CURSOR"),
        (2, "BITMAP"),
        (3, "ICON"),
        (4, "MENU"),
        (5, "DIALOG"),
        (6, "STRING"),
        (7, "FONTDIR"),
        (8, "FONT"),
        (9, "ACCELERATOR"),
        (10, "RCDATA"),
        (11, "MESSAGETABLE"),
        (12, "GROUP_CURSOR"),
        (14, "GROUP_ICON"),
        (16, "VERSION"),
        (17, "DLGINCLUDE"),
        (19, "PLUGPLAY"),
        (20, "VXD"),
        (21, "ANICURSOR"),
        (22, "ANIICON"),
        (23, "HTML"),
        (24, "MANIFEST"),
    ];
    match NAMES.iter().find(|(n, _)| *n == id) {
        Some((_, name)) => Cow::Borrowed(name),
        None => Cow::Owned(id.to_string()),
    }
}

/// Most `MZ` places examined for a PE file inside one stream or blob ([`carve`]).
pub const MAX_CARVE_CANDIDATES: usize = 4096;

/// Most PE files carved out of one stream or blob.
pub const MAX_CARVED: usize = 64;

/// The length of the PE file that starts at `data[0]`, as its own headers give it: the end of its
/// sections' raw data, or of a certificate table that follows them. None unless the headers are
/// whole and valid: DOS header, PE signature, a known optional header, at least one section, a
/// section table read to its end without a warning, and every section's raw data inside `data`.
/// Carving takes nothing else on trust, so random `MZ` bytes never make a member.
pub fn carved_len(data: &[u8]) -> Option<usize> {
    let mut warnings = Vec::new();
    let img = Image::parse(data, &mut warnings).ok()?;
    let sane = warnings.is_empty()
        && !img.sections.is_empty()
        && img.sections.len() == img.declared_sections
        && img.file_alignment.is_power_of_two();
    if !sane {
        return None;
    }
    // The headers end with the section table; a tiny file's sections may end before it.
    let mut end = usize::try_from(img.end_of_sections())
        .ok()?
        .max(img.headers_end());
    if end > data.len() {
        return None;
    }
    // An unstripped image (mingw) keeps its COFF symbols and their string table after its
    // sections: u32 size first, counting itself.
    let coff = img.pe_at + 4;
    if let (Some(symbols_at), Some(count)) = (le32(data, coff + 8), le32(data, coff + 12)) {
        let strings_at = (symbols_at as usize).checked_add((count as usize).checked_mul(18)?)?;
        if symbols_at != 0 && symbols_at as usize >= end {
            if let Some(size) = le32(data, strings_at) {
                let strings_end = strings_at.checked_add(size as usize)?;
                if size >= 4 && strings_end <= data.len() {
                    end = strings_end;
                }
            }
        }
    }
    // The certificate table's "RVA" is a file offset; a signed file ends with it.
    if let Some((at, size)) = img.dir(4) {
        let cert_end = (at as usize).checked_add(size as usize)?;
        if at as usize >= end && cert_end <= data.len() {
            end = cert_end;
        }
    }
    Some(end)
}

/// Hands `out` every whole PE file found inside `data` after its first byte (at offset 0, `data`
/// is itself the file), each as `<name>@<offset>.exe` with its length from its own headers
/// ([`carved_len`]); the search goes on after each one found. At most
/// [`MAX_CARVE_CANDIDATES`] places are examined and [`MAX_CARVED`] files taken. Returns false
/// when `out` says to stop.
pub fn carve<'a>(data: &[u8], name: &str, out: &mut Members<'a>) -> bool {
    carve_from(data, 1, name, out)
}

/// [`carve`] from offset `from` (0: a file at the very start counts too).
fn carve_from<'a>(data: &[u8], from: usize, name: &str, out: &mut Members<'a>) -> bool {
    let executables = Carving {
        marker: b"MZ",
        what: "executables",
        markers: "MZ markers",
        extension: "exe",
    };
    executables.run(data, from, name, |at| carved_len(&data[at..]), out)
}

/// One kind of file carved out of a blob: found by its marker, its length from its own headers.
struct Carving {
    marker: &'static [u8],
    /// For the cap's warning: what is carved, and its markers.
    what: &'static str,
    markers: &'static str,
    extension: &'static str,
}

impl Carving {
    /// Hands `out` each file `len_at` finds at a marker in `data` from `from` on, as
    /// `<name>@<offset>.<extension>`; the search goes on after each one found. At most
    /// [`MAX_CARVE_CANDIDATES`] markers are examined and [`MAX_CARVED`] files taken. Returns
    /// false when `out` says to stop.
    fn run<'a>(
        &self,
        data: &[u8],
        mut from: usize,
        name: &str,
        len_at: impl Fn(usize) -> Option<usize>,
        out: &mut Members<'a>,
    ) -> bool {
        let mut found = 0;
        let start = from;
        let markers = memchr::memmem::find_iter(data.get(start..).unwrap_or(&[]), self.marker);
        for (examined, at) in markers.map(|i| i + start).enumerate() {
            if at < from {
                continue;
            }
            if examined >= MAX_CARVE_CANDIDATES || found >= MAX_CARVED {
                out.warn(
                    Problem::Capped,
                    format!(
                        "{}: more than {MAX_CARVED} {} or {MAX_CARVE_CANDIDATES} {}; the rest \
                         were not carved",
                        printable(name),
                        self.what,
                        self.markers
                    ),
                );
                return true;
            }
            let Some(len) = len_at(at) else {
                continue;
            };
            found += 1;
            from = at + len;
            if !out.add(
                format!("{name}@{at:#x}.{}", self.extension),
                Cow::Owned(data[at..at + len].to_vec()),
            ) {
                return false;
            }
        }
        true
    }
}

/// The resources and the overlay of a PE file (a UPX-packed one goes to
/// `upx::unpack_pe_file` first), and the executables carved out of them where one starts after
/// their first byte (a dropper's payload behind a header of its own).
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    unpack_parts(data, true, out);
}

/// After a wrapper's own reader (an installer's, a compiled script's) took its files out: the
/// PE's resources and section data too, so a payload beside the wrapper is not lost, and the
/// overlay when the reader found nothing (a wrapper's overlay is its own data).
pub fn unpack_beside_wrapper<'a>(data: &'a [u8], wrapper_found: bool, out: &mut Members<'a>) {
    if !out.stopped() {
        unpack_parts(data, !wrapper_found, out);
    }
}

fn unpack_parts<'a>(data: &'a [u8], with_overlay: bool, out: &mut Members<'a>) {
    let Ok(img) = Image::parse(data, &mut Vec::new()) else {
        out.warn(
            Problem::Corrupt,
            "the PE headers are truncated or malformed",
        );
        return;
    };
    unpack_image(&img, with_overlay, out);
}

/// [`unpack`] on an image already read (`with_overlay` as in [`unpack_beside_wrapper`]).
pub(crate) fn unpack_image<'a>(img: &Image<'a>, with_overlay: bool, out: &mut Members<'a>) {
    let mut warnings = Vec::new();
    let payloads = resources(img, |t| !STRUCTURAL_TYPES.contains(&t), &mut warnings);
    for r in payloads {
        let Some(bytes) = r.bytes else {
            continue;
        };
        let name = format!("resources/{}", r.path());
        if out.stopped() || !carve(bytes, &name, out) || !out.add(name, Cow::Borrowed(bytes)) {
            break;
        }
    }
    out.warnings.append(&mut warnings);
    if !sections(img, out) || !with_overlay {
        return;
    }
    overlay(img, out);
}

/// Executables stored whole in the sections' raw data (the resource section aside: its
/// resources are members of their own), as `sections/<name>@<offset>.exe`.
fn sections(img: &Image<'_>, out: &mut Members<'_>) -> bool {
    let resources = img
        .dir(2)
        .and_then(|(rva, _)| img.section_of(rva))
        .map(|s| s.raw_ptr);
    for (i, s) in img.sections.iter().enumerate() {
        if Some(s.raw_ptr) == resources || s.raw_size == 0 {
            continue;
        }
        let start = s.raw_ptr as usize;
        let end = start
            .saturating_add(s.raw_size as usize)
            .min(img.data.len());
        let Some(bytes) = img.data.get(start..end) else {
            continue;
        };
        let label = if s.name.is_empty() {
            format!("sections/{i}")
        } else {
            format!("sections/{}", printable(&s.name))
        };
        // A section whose raw data starts at the file's start would give the file itself.
        let from = usize::from(start == 0);
        if out.stopped() || !carve_from(bytes, from, &label, out) || !carve_zips(bytes, &label, out)
        {
            return false;
        }
    }
    true
}

/// The length of the ZIP archive that starts at `data[0]` (a local file header), as its own
/// end-of-central-directory record gives it: the first such record whose central directory lies
/// just before it, at the offset it names from the archive's start, and starts with a central
/// header. None for anything else, so a stray `PK` never makes a member.
pub fn zip_len(data: &[u8]) -> Option<usize> {
    let ends: Vec<usize> = memchr::memmem::find_iter(data, b"PK\x05\x06")
        .take(MAX_CARVE_CANDIDATES)
        .collect();
    zip_len_at(data, 0, &ends)
}

/// [`zip_len`] for the archive at `data[start]`, given where `data`'s end records are.
fn zip_len_at(data: &[u8], start: usize, ends: &[usize]) -> Option<usize> {
    let zip = data.get(start..)?;
    if !zip.starts_with(b"PK\x03\x04") {
        return None;
    }
    for &end in ends.iter().filter(|&&e| e > start) {
        let end = end - start;
        let (Some(size), Some(at), Some(comment)) = (
            le32(zip, end + 12),
            le32(zip, end + 16),
            le16(zip, end + 20),
        ) else {
            return None;
        };
        let directory_ends = (at as usize).checked_add(size as usize);
        let len = end + 22 + usize::from(comment);
        if size != 0
            && directory_ends == Some(end)
            && zip
                .get(at as usize..)
                .is_some_and(|d| d.starts_with(b"PK\x01\x02"))
            && len <= zip.len()
        {
            return Some(len);
        }
    }
    None
}

/// Hands `out` every whole ZIP archive stored in `data` (a dropper's payload kept in a section),
/// each as `<name>@<offset>.zip` with its length from its own directory ([`zip_len`]); as
/// [`carve`], bounded by [`MAX_CARVE_CANDIDATES`] and [`MAX_CARVED`]. Returns false when `out`
/// says to stop.
fn carve_zips<'a>(data: &[u8], name: &str, out: &mut Members<'a>) -> bool {
    // The end records are found once: without one there is no archive to look for, and each
    // local header is then checked against that list only.
    let ends: Vec<usize> = memchr::memmem::find_iter(data, b"PK\x05\x06")
        .take(MAX_CARVE_CANDIDATES)
        .collect();
    if ends.is_empty() {
        return true;
    }
    let archives = Carving {
        marker: b"PK\x03\x04",
        what: "archives",
        markers: "ZIP headers",
        extension: "zip",
    };
    archives.run(data, 0, name, |at| zip_len_at(data, at, &ends), out)
}

fn overlay<'a>(img: &Image<'a>, out: &mut Members<'a>) {
    let end = img.end_of_sections();
    if end > img.data.len() as u64 {
        out.warn(
            Problem::Truncated,
            format!(
                "the sections end at byte {end} but the file has {} bytes: it is truncated",
                img.data.len()
            ),
        );
    }
    if let Some((_, overlay)) = img.overlay() {
        if carve(overlay, "overlay", out) {
            out.add("overlay", Cow::Borrowed(overlay));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::Budget;
    use super::*;

    /// A minimal PE32 with one section (`.rsrc` at RVA 0x1000, file offset 0x200) holding an
    /// RCDATA resource named 101, language 1033, followed by `overlay`.
    pub(crate) fn pe_with(resource: &[u8], overlay: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 0x200];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&0x14cu16.to_le_bytes());
        b[0x86..0x88].copy_from_slice(&1u16.to_le_bytes());
        b[0x94..0x96].copy_from_slice(&0xe0u16.to_le_bytes());
        b[0x96..0x98].copy_from_slice(&0x0102u16.to_le_bytes());
        let opt = 0x98;
        b[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
        b[opt + 68..opt + 70].copy_from_slice(&2u16.to_le_bytes());
        b[opt + 92..opt + 96].copy_from_slice(&16u32.to_le_bytes());
        // Data directory 2: resources.
        b[opt + 96 + 16..opt + 96 + 20].copy_from_slice(&0x1000u32.to_le_bytes());
        b[opt + 96 + 20..opt + 96 + 24].copy_from_slice(&0x100u32.to_le_bytes());
        // The tree: root (1 id entry: RCDATA) -> name dir (101) -> lang dir (1033) -> data entry.
        let mut rsrc = vec![0u8; 0x60];
        let dir = |r: &mut Vec<u8>, at: usize, id: u32, target: u32| {
            r[at + 14..at + 16].copy_from_slice(&1u16.to_le_bytes());
            r[at + 16..at + 20].copy_from_slice(&id.to_le_bytes());
            r[at + 20..at + 24].copy_from_slice(&target.to_le_bytes());
        };
        dir(&mut rsrc, 0, 10, 0x8000_0018);
        dir(&mut rsrc, 0x18, 101, 0x8000_0030);
        dir(&mut rsrc, 0x30, 1033, 0x48);
        rsrc[0x48..0x4c].copy_from_slice(&0x1060u32.to_le_bytes());
        rsrc[0x4c..0x50].copy_from_slice(&(resource.len() as u32).to_le_bytes());
        rsrc.extend_from_slice(resource);
        let raw_size = rsrc.len().div_ceil(0x200) * 0x200;
        rsrc.resize(raw_size, 0);
        // Section table.
        let s = opt + 0xe0;
        b[s..s + 5].copy_from_slice(b".rsrc");
        b[s + 8..s + 12].copy_from_slice(&(raw_size as u32).to_le_bytes());
        b[s + 12..s + 16].copy_from_slice(&0x1000u32.to_le_bytes());
        b[s + 16..s + 20].copy_from_slice(&(raw_size as u32).to_le_bytes());
        b[s + 20..s + 24].copy_from_slice(&0x200u32.to_le_bytes());
        b.extend_from_slice(&rsrc);
        b.extend_from_slice(overlay);
        b
    }

    #[test]
    fn carving_stops_at_its_marker_cap_with_a_warning() {
        let mut out = Members::new(Budget::unlimited());
        assert!(carve(
            &b"MZ".repeat(MAX_CARVE_CANDIDATES + 10),
            "blob",
            &mut out
        ));
        assert!(out.members.is_empty());
        assert_eq!(out.warnings.len(), 1);
        assert_eq!(out.warnings[0].problem, Problem::Capped);
        assert_eq!(
            out.warnings[0].text,
            "blob: more than 64 executables or 4096 MZ markers; the rest were not carved"
        );
        let mut out = Members::new(Budget::unlimited());
        let mut zips = b"PK\x03\x04".repeat(MAX_CARVE_CANDIDATES + 10);
        zips.extend_from_slice(b"PK\x05\x06");
        assert!(carve_zips(&zips, "blob", &mut out));
        assert_eq!(
            out.warnings[0].text,
            "blob: more than 64 archives or 4096 ZIP headers; the rest were not carved"
        );
    }

    #[test]
    fn a_zip_archive_stored_in_a_section_is_carved_whole() {
        let zip = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/formats/zip-deflate.zip"
        ))
        .unwrap();
        let mut section = vec![0u8; 0x100];
        section.extend_from_slice(&zip);
        section.extend_from_slice(b"PK\x03\x04 not an archive");
        let mut out = Members::new(Budget::unlimited());
        assert!(carve_zips(&section, "sections/.data", &mut out));
        assert_eq!(
            crate::analysis::formats::testing::members(&out),
            [("sections/.data@0x100.zip", &zip[..])]
        );
        // Cut short, its directory is gone: nothing is carved.
        assert_eq!(zip_len(&zip[..zip.len() - 1]), None);
        assert_eq!(zip_len(b"PK\x03\x04PK\x05\x06"), None);
    }

    #[test]
    fn overlay_and_rcdata_resource() {
        let pe = pe_with(b"resource payload", b"overlay payload");
        let mut out = Members::new(Budget::unlimited());
        unpack(&pe, &mut out);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["resources/RCDATA/101/1033", "overlay"]);
        assert_eq!(&*out.members[0].data, b"resource payload");
        assert_eq!(&*out.members[1].data, b"overlay payload");
    }

    #[test]
    fn truncated_pe_warns() {
        let pe = pe_with(b"resource payload", b"");
        let mut out = Members::new(Budget::unlimited());
        unpack(&pe[..0x210], &mut out);
        assert!(!out.warnings.is_empty());
        let mut out = Members::new(Budget::unlimited());
        unpack(b"MZ", &mut out);
        assert!(out.warnings[0].text.contains("malformed"));
    }

    #[test]
    fn a_certificate_table_pointing_past_the_end_is_ignored() {
        // Found by the pe fuzz target: the security directory's offset was used to slice.
        let mut pe = pe_with(b"resource payload", b"overlay payload");
        let opt = 0x98;
        pe[opt + 96 + 32..opt + 96 + 36].copy_from_slice(&0x2d44_0000u32.to_le_bytes());
        pe[opt + 96 + 36..opt + 96 + 40].copy_from_slice(&0x10u32.to_le_bytes());
        let mut out = Members::new(Budget::unlimited());
        unpack(&pe, &mut out);
        assert_eq!(&*out.members[1].data, b"overlay payload");
    }

    #[test]
    fn imphash_matches_pefile() {
        // Values computed by pefile 2024.8.26 (`PE(path).get_imphash()`) for every PE fixture:
        // app32.exe imports ws2_32 by ordinal, which pefile names from its ordlookup tables; the
        // damaged table hashes what can be read; the UPX-packed files hash UPX's own table.
        for (file, want) in [
            (
                "disagree/pe-damaged-imports.exe",
                "f9ade0aa18f660a34a4fa23392e21838",
            ),
            ("upx/pe32-brute.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f11.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f12.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f13.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f14.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f15.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f16.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f24.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f25.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f46.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-f49.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-lzma.upx.dll", "4309ad132d45505aad12d21dc5ee5ebf"),
            ("upx/pe32-lzma.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-nrv2b.upx.dll", "4309ad132d45505aad12d21dc5ee5ebf"),
            ("upx/pe32-nrv2b.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-nrv2d.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            ("upx/pe32-nrv2e.upx.exe", "84939f95d7d65f8d6b46aa80000c8012"),
            (
                "upx/pe32-overlay.upx.exe",
                "84939f95d7d65f8d6b46aa80000c8012",
            ),
            ("upx/pe32.dll", "d621206daa235bdfa52a73801ba0fe8c"),
            ("upx/pe32.exe", "862f01a05ec7195ed2403c45c69aa81f"),
            ("upx/pe64-lzma.upx.dll", "b431941c337157e834b54d99a8a6e679"),
            ("upx/pe64-lzma.upx.exe", "d9904535440e42784fec24bb2374117d"),
            ("upx/pe64-nrv2b.upx.dll", "b431941c337157e834b54d99a8a6e679"),
            ("upx/pe64-nrv2b.upx.exe", "d9904535440e42784fec24bb2374117d"),
            ("upx/pe64-nrv2e.upx.exe", "d9904535440e42784fec24bb2374117d"),
            ("upx/pe64.dll", "2cc69f13820a0f8f82be49a86aa12f93"),
            ("upx/pe64.exe", "8355fa4ac6c969e9db52bc990482089d"),
            (
                "upx/tls32-norelocs.upx.exe",
                "9bd756a5c5286fffece138e154d3d2f5",
            ),
            ("upx/tls64.upx.exe", "2b9ff69df8cd9c9796a5fe4c23f3b599"),
            ("pe/app32.exe", "d1c425b216e743e8bc46a9215a0608fc"),
            ("pe/badhdr.exe", "d1c425b216e743e8bc46a9215a0608fc"),
            ("pe/dropper.exe", "600640efb39476e5a0b5ce1922ff7d7a"),
            ("pe/hello-dotnet.exe", "f34d5f2d4577ed6d9ceec516c1f5a744"),
            ("pe/lib64-signed.dll", "df00652ad3e78ba777ba702462655cf8"),
            ("pe/lib64-tampered.dll", "df00652ad3e78ba777ba702462655cf8"),
            ("pe/lib64.dll", "df00652ad3e78ba777ba702462655cf8"),
            ("pe/packed.exe", "f8c6cd64e342c353357d986f7041177f"),
            ("pe/wx.exe", "bb4e91e6f53677fb912f01393f393f2c"),
        ] {
            let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
            let data = std::fs::read(&path).unwrap();
            let img = Image::parse(&data, &mut Vec::new()).unwrap();
            let descriptors = imports(&img, &mut 0, &mut Vec::new());
            assert_eq!(imphash(&descriptors).as_deref(), Some(want), "{file}");
        }
    }

    #[test]
    fn the_imphash_follows_descriptor_order_not_the_grouping_by_dll() {
        let f = |name: &str| ImportedFunction {
            name: Some(name.into()),
            ordinal: None,
            hint: Some(0),
        };
        let d = |dll: &str, names: &[&str]| ImportDescriptor {
            dll: dll.into(),
            functions: names.iter().map(|n| f(n)).collect(),
            truncated: false,
        };
        // kernel32 twice, around user32: pefile hashes the table as written.
        let table = [
            d("KERNEL32.dll", &["ExitProcess"]),
            d("user32.dll", &["MessageBoxA"]),
            d("kernel32.dll", &["Sleep"]),
        ];
        let written = "kernel32.exitprocess,user32.messageboxa,kernel32.sleep";
        assert_eq!(imphash(&table), Some(hex(&Md5::digest(written.as_bytes()))));
        let unreadable = ImportedFunction {
            name: Some("<unreadable 0x99999>".into()),
            ordinal: None,
            hint: None,
        };
        let mut damaged = d("kernel32.dll", &["ExitProcess"]);
        damaged.functions.push(unreadable);
        assert_eq!(
            imphash(&[damaged]),
            Some(hex(&Md5::digest(b"kernel32.exitprocess")))
        );
        assert_eq!(imphash(&[]), None);
    }

    #[test]
    fn header_fields_cannot_hide_the_overlay_or_a_resource() {
        let mut pe = pe_with(b"resource payload", b"overlay payload");
        let opt = 0x98;
        // SizeOfHeaders claiming the whole file does not move the overlay.
        pe[opt + 60..opt + 64].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        // A virtual size smaller than the raw data: the loader still maps the raw data (whole
        // pages), so the resource tree and its data there are read.
        let s = opt + 0xe0;
        pe[s + 8..s + 12].copy_from_slice(&0x10u32.to_le_bytes());
        let mut out = Members::new(Budget::unlimited());
        unpack(&pe, &mut out);
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["resources/RCDATA/101/1033", "overlay"],
            "{:?}",
            out.warnings
        );
    }

    #[test]
    fn a_looping_resource_tree_ends() {
        let mut pe = pe_with(b"x", b"");
        // Point the language directory back at the root.
        let lang_entry = 0x200 + 0x30 + 20;
        pe[lang_entry..lang_entry + 4].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        let mut out = Members::new(Budget::unlimited());
        unpack(&pe, &mut out);
        assert!(out.members.is_empty());
    }

    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pe");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn a_pe_file_is_measured_by_its_own_headers() {
        // Unstripped (COFF symbols after the sections), signed (certificate table last), and one
        // with another PE appended, which is not part of it.
        for name in ["app32.exe", "lib64.dll", "lib64-signed.dll", "wx.exe"] {
            let data = fixture(name);
            assert_eq!(carved_len(&data), Some(data.len()), "{name}");
        }
        let dropper = fixture("dropper.exe");
        let lib = fixture("lib64.dll");
        assert_eq!(carved_len(&dropper), Some(dropper.len() - lib.len()));
        // Cut short, or random bytes after MZ: not a PE to carve.
        let app = fixture("app32.exe");
        assert_eq!(carved_len(&app[..app.len() - 600]), None);
        assert_eq!(carved_len(b"MZ\x90\x00 not a header"), None);
        assert_eq!(carved_len(&pe_with(b"data", b"")), None, "FileAlignment 0");
    }

    #[test]
    fn executables_inside_a_blob_are_carved_whole() {
        let app = fixture("app32.exe");
        let lib = fixture("lib64.dll");
        let mut blob = b"header MZ junk MZ\x00\x00\x00".to_vec();
        let app_at = blob.len();
        blob.extend_from_slice(&app);
        blob.extend_from_slice(b"between");
        let lib_at = blob.len();
        blob.extend_from_slice(&lib);
        blob.extend_from_slice(&app[..300]);
        let mut out = Members::new(Budget::unlimited());
        assert!(carve(&blob, "Data", &mut out));
        let got: Vec<(&str, &[u8])> = crate::analysis::formats::testing::members(&out);
        assert_eq!(
            got,
            [
                (format!("Data@{app_at:#x}.exe").as_str(), &app[..]),
                (format!("Data@{lib_at:#x}.exe").as_str(), &lib[..]),
            ]
        );
        // At offset 0 the blob is the file itself: nothing to carve.
        let mut out = Members::new(Budget::unlimited());
        carve(&app, "app32.exe", &mut out);
        assert!(out.members.is_empty());
    }

    #[test]
    fn an_executable_behind_a_header_in_the_overlay_is_carved() {
        let mut data = fixture("app32.exe");
        let lib = fixture("lib64.dll");
        let at = data.len() + 16;
        data.extend_from_slice(b"PAYLOAD-HEADER..");
        data.extend_from_slice(&lib);
        let mut out = Members::new(Budget::unlimited());
        unpack(&data, &mut out);
        let names: Vec<&str> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert!(names.contains(&"overlay"), "{names:?}");
        let carved = out
            .members
            .iter()
            .find(|m| m.name == "overlay@0x10.exe")
            .unwrap_or_else(|| panic!("{names:?}"));
        assert_eq!(&carved.data[..], &lib[..]);
        assert_eq!(&data[at..], &lib[..]);
    }

    /// `data` with its first section renamed `name`.
    pub(crate) fn with_section_name(mut data: Vec<u8>, name: &[u8]) -> Vec<u8> {
        let pe = le32(&data, 0x3c).unwrap() as usize;
        let opt = le16(&data, pe + 20).unwrap() as usize;
        let table = pe + 24 + opt;
        data[table..table + 8].fill(0);
        data[table..table + name.len()].copy_from_slice(name);
        data
    }

    #[test]
    fn a_tiny_pe_whose_section_table_outlasts_its_sections_is_measured_to_the_table() {
        // Sections may end before the section table does (a 544-byte test program of ClamAV's
        // is laid out so): the file, and the headers, end with the table; there is no overlay.
        let mut data = fixture("app32.exe");
        let pe = le32(&data, 0x3c).unwrap() as usize;
        let opt = le16(&data, pe + 20).unwrap() as usize;
        let table = pe + 24 + opt;
        // One section, raw data of 16 bytes at offset 1, before the table ends.
        data[pe + 6..pe + 8].copy_from_slice(&1u16.to_le_bytes());
        data[table + 16..table + 20].copy_from_slice(&16u32.to_le_bytes());
        data[table + 20..table + 24].copy_from_slice(&1u32.to_le_bytes());
        let short_end = pe + 24 + opt + 40;
        data.truncate(short_end);
        assert_eq!(carved_len(&data), Some(short_end));
        let img = Image::parse(&data, &mut Vec::new()).unwrap();
        assert!(img.overlay().is_none());
    }
}
