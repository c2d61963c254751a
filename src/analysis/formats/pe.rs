//! The members of a PE file (Microsoft PE/COFF specification): the overlay (bytes after the
//! last section, where installers and droppers keep their payload, minus a trailing Authenticode
//! signature) and the resources (the `.rsrc` tree: type / name / language), each resource named
//! `resources/<type>/<name>/<language>`. Small structural resources (strings, version, manifest,
//! dialogs, menus, icon groups) are not members; metadata covers them.

use std::borrow::Cow;

use super::Out;
use crate::analysis::bytes::{le16, le32};

/// Most sections read from the section table (the loader allows 96).
const MAX_SECTIONS: usize = 96;
/// Most resources yielded.
const MAX_RESOURCES: usize = 10_000;
/// Most directory entries visited in the resource tree (it may loop).
const MAX_RESOURCE_NODES: usize = 100_000;

/// Resource types that are structure, not payload.
const STRUCTURAL_TYPES: &[u32] = &[4, 5, 6, 9, 12, 14, 16, 24];

struct Section {
    va: u32,
    vsize: u32,
    raw_ptr: u32,
    raw_size: u32,
}

struct Headers {
    sections: Vec<Section>,
    /// (rva, size) of the resource directory.
    resources: Option<(u32, u32)>,
    /// (file offset, size) of the certificate table.
    security: Option<(u32, u32)>,
}

fn headers(data: &[u8]) -> Option<Headers> {
    let pe = le32(data, 0x3c)? as usize;
    if data.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let nsections = le16(data, pe + 6)? as usize;
    let opt_size = le16(data, pe + 20)? as usize;
    let opt = pe + 24;
    let plus = le16(data, opt)? == 0x20b;
    let (ndirs_at, dirs) = if plus {
        (opt + 108, opt + 112)
    } else {
        (opt + 92, opt + 96)
    };
    let ndirs = le32(data, ndirs_at).unwrap_or(0).min(16) as usize;
    let dir = |i: usize| -> Option<(u32, u32)> {
        if i >= ndirs {
            return None;
        }
        let (a, s) = (le32(data, dirs + i * 8)?, le32(data, dirs + i * 8 + 4)?);
        (a != 0 && s != 0).then_some((a, s))
    };
    let table = opt + opt_size;
    let sections = (0..nsections.min(MAX_SECTIONS))
        .map_while(|i| {
            let s = table + i * 40;
            Some(Section {
                vsize: le32(data, s + 8)?,
                va: le32(data, s + 12)?,
                raw_size: le32(data, s + 16)?,
                raw_ptr: le32(data, s + 20)?,
            })
        })
        .collect();
    Some(Headers {
        sections,
        resources: dir(2),
        security: dir(4),
    })
}

impl Headers {
    /// The file offset of an RVA, through the section that maps it.
    fn offset(&self, rva: u32) -> Option<usize> {
        self.sections.iter().find_map(|s| {
            let size = s.vsize.max(s.raw_size);
            (rva >= s.va && rva - s.va < size && rva - s.va < s.raw_size)
                .then(|| (s.raw_ptr as usize) + (rva - s.va) as usize)
        })
    }
}

pub fn unpack<'a>(data: &'a [u8], out: &mut Out<'a>) {
    // A UPX-packed file yields its original; that child's resources and overlay are the real
    // ones (the packed file's are compressed or copies).
    if super::upx::detect(data) {
        super::upx::unpack(data, out);
        if !out.members.is_empty() {
            return;
        }
    }
    let Some(h) = headers(data) else {
        out.warn("the PE headers are truncated or malformed");
        return;
    };
    resources(data, &h, out);
    overlay(data, &h, out);
}

fn overlay<'a>(data: &'a [u8], h: &Headers, out: &mut Out<'a>) {
    let end = h
        .sections
        .iter()
        .filter(|s| s.raw_size > 0)
        .map(|s| s.raw_ptr as u64 + s.raw_size as u64)
        .max()
        .unwrap_or(0);
    if end == 0 || end >= data.len() as u64 {
        if end > data.len() as u64 {
            out.warn(format!(
                "the sections end at byte {end} but the file has {} bytes: it is truncated",
                data.len()
            ));
        }
        return;
    }
    let mut stop = data.len();
    // An Authenticode signature at the very end is the signature, not a payload.
    if let Some((at, size)) = h.security {
        let (at, size) = (at as usize, size as usize);
        if at >= end as usize
            && at <= stop
            && at
                .checked_add(size)
                .is_some_and(|e| e >= stop.saturating_sub(8))
        {
            stop = at;
        }
    }
    let overlay = &data[end as usize..stop];
    if overlay.iter().any(|&b| b != 0) {
        out.add("overlay", Cow::Borrowed(overlay));
    }
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

/// Walks the three-level resource tree (type, name, language) and yields each data entry.
fn resources<'a>(data: &'a [u8], h: &Headers, out: &mut Out<'a>) {
    let Some((rva, _)) = h.resources else {
        return;
    };
    let Some(base) = h.offset(rva) else {
        out.warn("the resource directory lies outside every section");
        return;
    };
    let mut visited = 0usize;
    let mut yielded = 0usize;
    // (directory offset relative to base, depth, path so far, type id)
    let mut stack = vec![(0usize, 0u8, Vec::<String>::new(), 0u32)];
    while let Some((dir, depth, path, rtype)) = stack.pop() {
        if out.stopped() {
            return;
        }
        let at = base + dir;
        let (Some(named), Some(ids)) = (le16(data, at + 12), le16(data, at + 14)) else {
            out.warn("a resource directory is truncated");
            continue;
        };
        let count = named as usize + ids as usize;
        let mut children = Vec::new();
        for i in 0..count {
            visited += 1;
            if visited > MAX_RESOURCE_NODES {
                out.warn(
                    "the resource tree has too many entries (it may loop); the rest was skipped",
                );
                return;
            }
            let e = at + 16 + i * 8;
            let (Some(name_field), Some(target)) = (le32(data, e), le32(data, e + 4)) else {
                out.warn("a resource directory entry is truncated");
                break;
            };
            let label = if name_field & 0x8000_0000 != 0 {
                resource_string(data, base + (name_field & 0x7fff_ffff) as usize)
                    .unwrap_or_else(|| "?".to_string())
            } else if depth == 0 {
                type_name(name_field).into_owned()
            } else {
                name_field.to_string()
            };
            let id = if depth == 0 && name_field & 0x8000_0000 == 0 {
                name_field
            } else {
                rtype
            };
            let mut child_path = path.clone();
            child_path.push(label);
            if target & 0x8000_0000 != 0 {
                // Only three levels exist; a deeper subdirectory is a loop or junk.
                if depth < 2 {
                    children.push(((target & 0x7fff_ffff) as usize, depth + 1, child_path, id));
                }
                continue;
            }
            if depth == 0 && STRUCTURAL_TYPES.contains(&id) || STRUCTURAL_TYPES.contains(&id) {
                continue;
            }
            let entry = base + target as usize;
            let (Some(data_rva), Some(size)) = (le32(data, entry), le32(data, entry + 4)) else {
                out.warn("a resource data entry is truncated");
                continue;
            };
            let Some(start) = h.offset(data_rva) else {
                out.warn(format!(
                    "resource {} points outside every section",
                    child_path.join("/")
                ));
                continue;
            };
            let Some(bytes) = data.get(start..start.saturating_add(size as usize)) else {
                out.warn(format!(
                    "resource {} runs past the end of the file",
                    child_path.join("/")
                ));
                continue;
            };
            if yielded >= MAX_RESOURCES {
                out.warn(format!(
                    "more than {MAX_RESOURCES} resources; the rest were skipped"
                ));
                return;
            }
            yielded += 1;
            if !out.add(
                format!("resources/{}", child_path.join("/")),
                Cow::Borrowed(bytes),
            ) {
                return;
            }
        }
        // Depth first, in directory order.
        stack.extend(children.into_iter().rev());
    }
}

/// A length-prefixed UTF-16LE resource name.
fn resource_string(data: &[u8], at: usize) -> Option<String> {
    let len = le16(data, at)? as usize;
    let units: Vec<u16> = data
        .get(at + 2..at + 2 + len * 2)?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::Caps;
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
    fn overlay_and_rcdata_resource() {
        let pe = pe_with(b"resource payload", b"overlay payload");
        let mut out = Out::new(Caps::unlimited());
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
        let mut out = Out::new(Caps::unlimited());
        unpack(&pe[..0x210], &mut out);
        assert!(!out.warnings.is_empty());
        let mut out = Out::new(Caps::unlimited());
        unpack(b"MZ", &mut out);
        assert!(out.warnings[0].contains("malformed"));
    }

    #[test]
    fn a_certificate_table_pointing_past_the_end_is_ignored() {
        // Found by the pe fuzz target: the security directory's offset was used to slice.
        let mut pe = pe_with(b"resource payload", b"overlay payload");
        let opt = 0x98;
        pe[opt + 96 + 32..opt + 96 + 36].copy_from_slice(&0x2d44_0000u32.to_le_bytes());
        pe[opt + 96 + 36..opt + 96 + 40].copy_from_slice(&0x10u32.to_le_bytes());
        let mut out = Out::new(Caps::unlimited());
        unpack(&pe, &mut out);
        assert_eq!(&*out.members[1].data, b"overlay payload");
    }

    #[test]
    fn a_looping_resource_tree_ends() {
        let mut pe = pe_with(b"x", b"");
        // Point the language directory back at the root.
        let lang_entry = 0x200 + 0x30 + 20;
        pe[lang_entry..lang_entry + 4].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        let mut out = Out::new(Caps::unlimited());
        unpack(&pe, &mut out);
        assert!(out.members.is_empty());
    }
}
