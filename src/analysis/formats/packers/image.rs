//! The two images every static unpacker works between: the packed file as Windows' loader maps it
//! ([`Packed`]), and the original program's image as the packer's stub leaves it in memory just
//! before it jumps to the original entry point ([`Restored`]), which [`rebuild`] writes out as a
//! PE file.

use crate::analysis::bytes::{le16, le32, put32};
use crate::analysis::formats::pe::Image;

/// The largest virtual image an unpacker builds, packed or restored.
pub const MAX_IMAGE: usize = 256 << 20;

/// A section header of the packed file, under the names the unpackers use.
#[derive(Clone, Debug)]
pub struct Section {
    pub name: [u8; 8],
    pub vsize: u32,
    pub rva: u32,
    pub raw_size: u32,
    pub raw_off: u32,
    pub flags: u32,
}

/// A packed PE32 file, as read from its headers.
#[derive(Debug)]
pub struct Packed<'a> {
    pub data: &'a [u8],
    /// Offset of the `PE\0\0` signature.
    pub pe_off: usize,
    pub image_base: u32,
    /// Entry point RVA.
    pub entry: u32,
    pub image_size: u32,
    pub section_align: u32,
    pub file_align: u32,
    pub headers_size: u32,
    /// The 16 data directories (RVA, size); missing ones are (0, 0).
    pub dirs: [(u32, u32); 16],
    pub sections: Vec<Section>,
}

impl<'a> Packed<'a> {
    /// The view of a PE32 image already read; None for PE32+ (no packer here makes those).
    pub(crate) fn new(img: &Image<'a>) -> Option<Packed<'a>> {
        if img.plus {
            return None;
        }
        let mut dirs = [(0, 0); 16];
        for (d, &v) in dirs.iter_mut().zip(&img.dirs) {
            *d = v;
        }
        Some(Packed {
            data: img.data,
            pe_off: img.pe_at,
            image_base: u32::try_from(img.image_base).ok()?,
            entry: img.entry,
            image_size: img.size_of_image,
            section_align: img.section_alignment,
            file_align: img.file_alignment,
            headers_size: img.size_of_headers,
            dirs,
            sections: img
                .sections
                .iter()
                .map(|s| Section {
                    name: s.raw_name,
                    vsize: s.vsize,
                    rva: s.va,
                    raw_size: s.raw_size,
                    raw_off: s.raw_ptr,
                    flags: s.characteristics,
                })
                .collect(),
        })
    }

    /// Offset of the section table in the file.
    pub fn section_table(&self) -> usize {
        let opt_size = le16(self.data, self.pe_off + 20).unwrap_or(0);
        self.pe_off + 24 + usize::from(opt_size)
    }

    /// The image as Windows' loader maps it: the headers, then each section's raw data at its
    /// RVA (raw offsets rounded down to 512 as the loader does, raw sizes cut to the file and to
    /// the virtual size), zeros elsewhere. Its length is the image size, or the furthest
    /// section's end if that is larger.
    pub fn map(&self) -> Result<Vec<u8>, String> {
        self.map_sections(false)
    }

    /// [`Packed::map`], but each section's data runs from the rounded raw offset to the
    /// unrounded end (raw offset + raw size), as Upack needs (see upack.rs).
    pub fn map_to_raw_end(&self) -> Result<Vec<u8>, String> {
        self.map_sections(true)
    }

    /// The length of [`Packed::map`]'s image: the image size, or the furthest section's end.
    pub fn mapped_len(&self) -> u64 {
        let ends = self
            .sections
            .iter()
            .map(|s| u64::from(s.rva) + u64::from(s.vsize.max(s.raw_size)));
        ends.fold(u64::from(self.image_size), u64::max)
    }

    fn map_sections(&self, to_raw_end: bool) -> Result<Vec<u8>, String> {
        let len = self.mapped_len();
        if len > MAX_IMAGE as u64 {
            return Err(format!(
                "the packed image of {len} bytes is larger than the {MAX_IMAGE} assay maps"
            ));
        }
        let mut img = vec![0u8; len as usize];
        let h = (self.headers_size as usize)
            .min(self.data.len())
            .min(img.len());
        img[..h].copy_from_slice(&self.data[..h]);
        for s in &self.sections {
            let off = (s.raw_off & !0x1ff) as usize;
            if off >= self.data.len() {
                continue;
            }
            let mut n = s.raw_size as usize;
            if to_raw_end {
                n = n.saturating_add((s.raw_off & 0x1ff) as usize);
            }
            n = n.min(self.data.len() - off);
            if s.vsize != 0 {
                n = n.min(s.vsize as usize);
            }
            let at = s.rva as usize;
            let n = n.min(img.len().saturating_sub(at));
            if n > 0 {
                img[at..at + n].copy_from_slice(&self.data[off..off + n]);
            }
        }
        Ok(img)
    }

    /// The section holding `rva`.
    pub fn section_of(&self, rva: u32) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| rva >= s.rva && rva - s.rva < s.vsize.max(s.raw_size))
    }
}

/// A section of the restored image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutSection {
    pub name: [u8; 8],
    pub rva: u32,
    pub vsize: u32,
    pub flags: u32,
}

/// What an unpacker restores: the original program's virtual image, as the packer's stub leaves
/// it in memory just before it jumps to the original entry point.
#[derive(Debug, Default)]
pub struct Restored {
    /// The whole virtual image from RVA 0 (its first bytes may be the packed file's headers;
    /// [`rebuild`] writes headers of its own).
    pub image: Vec<u8>,
    /// The original entry point, as an RVA.
    pub entry: u32,
    /// The original program's sections, in RVA order, within `image`.
    pub sections: Vec<OutSection>,
    /// The import directory (RVA, size) when the unpacker found or rebuilt it.
    pub imports: Option<(u32, u32)>,
    /// What a user should hear about: something not restored, a guess made.
    pub warnings: Vec<String>,
}

/// File alignment of a rebuilt file.
const FILE_ALIGN: u32 = 0x200;
/// Size of the DOS header a rebuilt file starts with (no DOS stub).
const DOS_HEADER: usize = 0x40;
/// Size of a PE32 optional header with its 16 data directories.
const OPTIONAL_HEADER: usize = 0xe0;
/// Directories kept from the packed file when they point into the restored sections: exports,
/// resources, exceptions, TLS, load configuration and the CLR header. The import directory is
/// the unpacker's; the others (security is a file offset; relocations, debug, bound imports and
/// the IAT are the stub's) are cleared.
const KEPT_DIRECTORIES: &[usize] = &[0, 2, 3, 9, 10, 14];

fn align_up(v: usize, a: usize) -> Option<usize> {
    Some(v.checked_add(a - 1)? / a * a)
}

/// Writes `r` out as a PE32 file, as the unpacked program would look on disk: a fresh DOS and PE
/// header (the packed file's COFF and optional header fields, with the original entry point, the
/// restored sections and the directories that still point into them), then each section's data
/// at a 512-byte-aligned offset, trailing zeros left to the virtual size.
pub fn rebuild(packed: &Packed, r: &Restored) -> Result<Vec<u8>, String> {
    let salign = match packed.section_align {
        a if a.is_power_of_two() && a >= FILE_ALIGN => a,
        _ => 0x1000,
    };
    let mut sections = r.sections.clone();
    sections.retain(|s| (s.rva as usize) < r.image.len());
    if sections.is_empty() {
        let start = salign.min(r.image.len() as u32);
        sections.push(OutSection {
            name: *b".text\0\0\0",
            rva: start,
            vsize: (r.image.len() as u32).saturating_sub(start),
            flags: 0xe000_0060,
        });
    }
    sections.sort_by_key(|s| s.rva);
    if sections.len() > 96 {
        return Err(format!(
            "the restored image has {} sections, more than a PE file holds",
            sections.len()
        ));
    }
    let headers_len = DOS_HEADER + 4 + 20 + OPTIONAL_HEADER + 40 * sections.len();
    // The packed file's header bytes, up to its headers' size or its first section's data, and
    // to the first restored section: what a packer or the program keeps after its section table
    // (UPX's pack header, under a crypter) stays at its offset.
    let first_raw = packed
        .sections
        .iter()
        .filter(|s| s.raw_size != 0)
        .map(|s| s.raw_off as usize)
        .min()
        .unwrap_or(usize::MAX);
    let kept = (packed.headers_size as usize)
        .min(first_raw)
        .min(sections[0].rva as usize)
        .min(r.image.len());
    let headers_size = align_up(headers_len.max(kept), FILE_ALIGN as usize).unwrap_or(headers_len);
    if sections[0].rva < headers_size as u32 {
        return Err("the restored sections overlap the headers".into());
    }
    // Each section's bytes, cut to the image and stripped of trailing zeros.
    let mut raw: Vec<(&[u8], u32)> = Vec::with_capacity(sections.len());
    let mut at = headers_size;
    for s in &sections {
        let start = s.rva as usize;
        let end = start.saturating_add(s.vsize as usize).min(r.image.len());
        let bytes = &r.image[start..end.max(start)];
        let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let bytes = &bytes[..used];
        raw.push((bytes, if bytes.is_empty() { 0 } else { at as u32 }));
        at = align_up(at + bytes.len(), FILE_ALIGN as usize)
            .ok_or("the restored image is too large")?;
    }
    if at > MAX_IMAGE {
        return Err("the restored image is too large".into());
    }
    let image_end = sections
        .iter()
        .map(|s| u64::from(s.rva) + u64::from(s.vsize))
        .max()
        .unwrap_or(0);
    let image_size = u32::try_from(align_up(image_end as usize, salign as usize).unwrap_or(0))
        .map_err(|_| "the restored image is too large")?;
    let within = |(rva, size): (u32, u32)| {
        rva != 0
            && sections.iter().any(|s| {
                rva >= s.rva
                    && u64::from(rva) + u64::from(size) <= u64::from(s.rva) + u64::from(s.vsize)
            })
    };

    let mut out = vec![0u8; at];
    if kept > headers_len {
        out[headers_len..kept].copy_from_slice(&r.image[headers_len..kept]);
    }
    out[..2].copy_from_slice(b"MZ");
    out[0x3c..0x40].copy_from_slice(&(DOS_HEADER as u32).to_le_bytes());
    let pe = DOS_HEADER;
    out[pe..pe + 4].copy_from_slice(b"PE\0\0");
    // COFF header: the packed file's machine, timestamp and characteristics.
    let coff = pe + 4;
    let src_coff = packed.pe_off + 4;
    let copy = |out: &mut [u8], to: usize, from: usize, len: usize| {
        if let Some(b) = packed.data.get(from..from + len) {
            out[to..to + len].copy_from_slice(b);
        }
    };
    copy(&mut out, coff, src_coff, 2);
    out[coff + 2..coff + 4].copy_from_slice(&(sections.len() as u16).to_le_bytes());
    copy(&mut out, coff + 4, src_coff + 4, 4);
    out[coff + 16..coff + 18].copy_from_slice(&(OPTIONAL_HEADER as u16).to_le_bytes());
    copy(&mut out, coff + 18, src_coff + 18, 2);
    // Optional header: the packed one's fields (linker, versions, subsystem, stack and heap),
    // then what the rebuild decides.
    let opt = coff + 20;
    copy(&mut out, opt, src_coff + 20, 96);
    // Every field written below lies in the headers, which `out` holds whole.
    out[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
    put32(&mut out, opt + 16, r.entry);
    put32(&mut out, opt + 28, packed.image_base);
    put32(&mut out, opt + 32, salign);
    put32(&mut out, opt + 36, FILE_ALIGN);
    put32(&mut out, opt + 56, image_size);
    put32(&mut out, opt + 60, headers_size as u32);
    put32(&mut out, opt + 64, 0);
    put32(&mut out, opt + 92, 16);
    let dirs = opt + 96;
    for (i, &dir) in packed.dirs.iter().enumerate() {
        if KEPT_DIRECTORIES.contains(&i) && within(dir) {
            put32(&mut out, dirs + 8 * i, dir.0);
            put32(&mut out, dirs + 8 * i + 4, dir.1);
        }
    }
    if let Some(imports) = r.imports.filter(|&d| within(d)) {
        put32(&mut out, dirs + 8, imports.0);
        put32(&mut out, dirs + 12, imports.1);
    }
    // The section table and the sections' data.
    let table = opt + OPTIONAL_HEADER;
    for (i, (s, (bytes, offset))) in sections.iter().zip(&raw).enumerate() {
        let h = table + 40 * i;
        out[h..h + 8].copy_from_slice(&s.name);
        put32(&mut out, h + 8, s.vsize);
        put32(&mut out, h + 12, s.rva);
        let raw_size = align_up(bytes.len(), FILE_ALIGN as usize).unwrap_or(0) as u32;
        put32(&mut out, h + 16, raw_size);
        put32(&mut out, h + 20, *offset);
        put32(&mut out, h + 36, s.flags);
        let o = *offset as usize;
        out[o..o + bytes.len()].copy_from_slice(bytes);
    }
    debug_assert_eq!(le32(&out, 0x3c), Some(DOS_HEADER as u32));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::formats::pe::tests::fixture;

    #[test]
    fn a_rebuilt_image_reads_back_with_its_sections_entry_and_imports() {
        let app = fixture("app32.exe");
        let img = Image::parse(&app, &mut Vec::new()).unwrap();
        let packed = Packed::new(&img).unwrap();
        let mut image = vec![0u8; 0x4000];
        image[0x1000..0x1004].copy_from_slice(b"code");
        image[0x2000..0x2010].copy_from_slice(b"imports go here.");
        let r = Restored {
            image,
            entry: 0x1002,
            sections: vec![
                OutSection {
                    name: *b".text\0\0\0",
                    rva: 0x1000,
                    vsize: 0x1000,
                    flags: 0x6000_0020,
                },
                OutSection {
                    name: *b".idata\0\0",
                    rva: 0x2000,
                    vsize: 0x2000,
                    flags: 0xc000_0040,
                },
            ],
            imports: Some((0x2000, 0x14)),
            warnings: Vec::new(),
        };
        let file = rebuild(&packed, &r).unwrap();
        let mut warnings = Vec::new();
        let back = Image::parse(&file, &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back.entry, 0x1002);
        assert_eq!(back.size_of_image, 0x4000);
        assert_eq!(back.dir(1), Some((0x2000, 0x14)));
        let names: Vec<&str> = back.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [".text", ".idata"]);
        assert_eq!(back.bytes(0x1000, 4), Some(&b"code"[..]));
        assert_eq!(back.bytes(0x2000, 16), Some(&b"imports go here."[..]));
        // Trailing zeros are left to the virtual size: one 512-byte block per section after the
        // headers, which keep the packed file's size.
        assert_eq!(back.size_of_headers, img.size_of_headers.max(0x200));
        assert_eq!(file.len(), back.size_of_headers as usize + 0x200 * 2);
        // The packed file's own resource directory does not point into these sections.
        assert_eq!(back.dir(2), None);
    }

    #[test]
    fn sections_over_the_headers_are_refused() {
        let app = fixture("app32.exe");
        let img = Image::parse(&app, &mut Vec::new()).unwrap();
        let packed = Packed::new(&img).unwrap();
        let r = Restored {
            image: vec![0; 0x2000],
            sections: vec![OutSection {
                name: [0; 8],
                rva: 0x100,
                vsize: 0x1000,
                flags: 0,
            }],
            ..Restored::default()
        };
        assert!(rebuild(&packed, &r).is_err());
    }
}
