//! Identification by content (magic bytes), never by name: the first step of analysis.
//!
//! This is the shallow identifier the server starts with; the analysis engine issue replaces it
//! with a deeper one. It looks at the first bytes of the file only.

/// What a file was identified as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKind {
    /// `info.file.file_type`, e.g. `PE`, `ELF`, `Binary`, `Text`, `Document`, `Image`.
    pub file_type: &'static str,
    /// `info.file.file_subtype`, e.g. `Exe`, `Dll`, `Archive`, `PDF`, `None`.
    pub file_subtype: &'static str,
    /// Human name of the format; `None` when the format was not recognised.
    pub name: Option<&'static str>,
}

impl FileKind {
    const fn known(
        file_type: &'static str,
        file_subtype: &'static str,
        name: &'static str,
    ) -> Self {
        FileKind {
            file_type,
            file_subtype,
            name: Some(name),
        }
    }
}

/// How many leading bytes [`identify`] wants to see.
pub const HEAD_BYTES: usize = 64 * 1024;

/// Identifies a file from its first bytes (`head`, up to [`HEAD_BYTES`]).
pub fn identify(head: &[u8]) -> FileKind {
    if let Some(kind) = executable(head) {
        return kind;
    }
    // Ordered: the first match wins. Longer, more specific magics come before shorter ones.
    const MAGICS: &[(usize, &[u8], FileKind)] = &[
        (
            0,
            b"PK\x03\x04",
            FileKind::known("Binary", "Archive", "ZIP"),
        ),
        (
            0,
            b"PK\x05\x06",
            FileKind::known("Binary", "Archive", "ZIP"),
        ),
        (0, b"\x1f\x8b", FileKind::known("Binary", "Archive", "GZIP")),
        (0, b"BZh", FileKind::known("Binary", "Archive", "BZIP2")),
        (
            0,
            b"\xfd7zXZ\x00",
            FileKind::known("Binary", "Archive", "XZ"),
        ),
        (
            0,
            b"\x28\xb5\x2f\xfd",
            FileKind::known("Binary", "Archive", "ZSTD"),
        ),
        (
            0,
            b"7z\xbc\xaf\x27\x1c",
            FileKind::known("Binary", "Archive", "7Z"),
        ),
        (
            0,
            b"Rar!\x1a\x07",
            FileKind::known("Binary", "Archive", "RAR"),
        ),
        (
            0,
            b"MSCF\x00\x00\x00\x00",
            FileKind::known("Binary", "Archive", "CAB"),
        ),
        (257, b"ustar", FileKind::known("Binary", "Archive", "TAR")),
        (0, b"!<arch>\n", FileKind::known("Binary", "Archive", "AR")),
        (
            0,
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            FileKind::known("Document", "None", "OLE2"),
        ),
        (0, b"%PDF-", FileKind::known("Document", "PDF", "PDF")),
        (0, b"{\\rtf", FileKind::known("Document", "RTF", "RTF")),
        (
            0,
            b"\x89PNG\r\n\x1a\n",
            FileKind::known("Image", "PNG", "PNG"),
        ),
        (0, b"\xff\xd8\xff", FileKind::known("Image", "JPEG", "JPEG")),
        (0, b"GIF87a", FileKind::known("Image", "GIF", "GIF")),
        (0, b"GIF89a", FileKind::known("Image", "GIF", "GIF")),
        (0, b"II*\x00", FileKind::known("Image", "TIFF", "TIFF")),
        (0, b"MM\x00*", FileKind::known("Image", "TIFF", "TIFF")),
        (
            0,
            b"\xca\xfe\xba\xbe",
            FileKind::known("Binary", "Java", "Java class"),
        ),
        (0, b"dex\n", FileKind::known("Binary", "Android", "DEX")),
    ];
    for (offset, magic, kind) in MAGICS {
        if head.len() >= offset + magic.len() && &head[*offset..offset + magic.len()] == *magic {
            // CAFEBABE is also the Mach-O universal magic; tell them apart by the arch count.
            if *magic == b"\xca\xfe\xba\xbe" && is_fat_macho(head) {
                return FileKind::known("MachO", "Universal", "Mach-O universal binary");
            }
            return kind.clone();
        }
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return FileKind::known("Image", "WebP", "WebP");
    }
    if head.len() >= 2 && &head[..2] == b"BM" && head.len() >= 14 {
        return FileKind::known("Image", "BMP", "BMP");
    }
    text(head)
}

fn executable(head: &[u8]) -> Option<FileKind> {
    if head.starts_with(b"MZ") {
        return Some(pe(head).unwrap_or(FileKind::known("Binary", "DOS", "MS-DOS executable")));
    }
    if head.starts_with(b"\x7fELF") {
        return Some(elf(head));
    }
    match head.get(..4) {
        Some([0xfe, 0xed, 0xfa, 0xce | 0xcf]) | Some([0xce | 0xcf, 0xfa, 0xed, 0xfe]) => {
            Some(FileKind::known("MachO", "None", "Mach-O"))
        }
        _ => None,
    }
}

fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn pe(head: &[u8]) -> Option<FileKind> {
    let pe_at = u32_le(head, 0x3c)? as usize;
    if head.get(pe_at..pe_at + 4)? != b"PE\0\0" {
        return None;
    }
    let characteristics = u16_le(head, pe_at + 22)?;
    let magic = u16_le(head, pe_at + 24)?;
    let plus = match magic {
        0x10b => false,
        0x20b => true,
        _ => return None,
    };
    let subsystem_at = pe_at + 24 + 68;
    let subsystem = u16_le(head, subsystem_at).unwrap_or(0);
    let file_type = if plus { "PE+" } else { "PE" };
    let (subtype, name) = if characteristics & 0x2000 != 0 {
        ("Dll", if plus { "PE32+ DLL" } else { "PE32 DLL" })
    } else if subsystem == 1 {
        ("Driver", if plus { "PE32+ driver" } else { "PE32 driver" })
    } else {
        (
            "Exe",
            if plus {
                "PE32+ executable"
            } else {
                "PE32 executable"
            },
        )
    };
    Some(FileKind::known(file_type, subtype, name))
}

fn elf(head: &[u8]) -> FileKind {
    let little = head.get(5) != Some(&2);
    let e_type = head.get(16..18).map(|b| {
        if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        }
    });
    let (subtype, name) = match e_type {
        Some(1) => ("Relocatable", "ELF relocatable"),
        Some(2) => ("Exe", "ELF executable"),
        Some(3) => ("SharedObject", "ELF shared object"),
        Some(4) => ("Core", "ELF core dump"),
        _ => ("None", "ELF"),
    };
    FileKind::known("ELF", subtype, name)
}

fn is_fat_macho(head: &[u8]) -> bool {
    // Java class files carry their version here (>= 45); fat Mach-O files a small arch count.
    head.get(4..8)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .is_some_and(|n| (1..20).contains(&n))
}

fn text(head: &[u8]) -> FileKind {
    if head.is_empty() {
        return FileKind {
            file_type: "None",
            file_subtype: "None",
            name: Some("Empty file"),
        };
    }
    let body = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    // Text if it is UTF-8 (allowing a character cut off at the end of the head) with few controls.
    let valid = match std::str::from_utf8(body) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && body.len() == head.len().min(HEAD_BYTES),
    };
    let controls = body
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
        .count();
    if !valid || controls * 100 > body.len() {
        return FileKind {
            file_type: "Binary",
            file_subtype: "None",
            name: None,
        };
    }
    let lower: Vec<u8> = body.iter().take(1024).map(u8::to_ascii_lowercase).collect();
    let trimmed = {
        let start = lower
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        &lower[start..]
    };
    if trimmed.starts_with(b"#!") {
        let line = trimmed.split(|&b| b == b'\n').next().unwrap_or(b"");
        let has = |w: &[u8]| memchr::memmem::find(line, w).is_some();
        let name = if has(b"python") {
            "Python script"
        } else if has(b"perl") {
            "Perl script"
        } else if has(b"node") {
            "JavaScript"
        } else if has(b"pwsh") || has(b"powershell") {
            "PowerShell script"
        } else {
            "Shell script"
        };
        return FileKind::known("Text", "Script", name);
    }
    if trimmed.starts_with(b"<!doctype html") || trimmed.starts_with(b"<html") {
        return FileKind::known("Text", "HTML", "HTML");
    }
    if trimmed.starts_with(b"<svg")
        || memchr::memmem::find(trimmed, b"<svg").is_some() && trimmed.starts_with(b"<?xml")
    {
        return FileKind::known("Text", "SVG", "SVG");
    }
    if trimmed.starts_with(b"<?xml") {
        return FileKind::known("Text", "XML", "XML");
    }
    if (trimmed.starts_with(b"{") || trimmed.starts_with(b"["))
        && serde_json::from_slice::<serde_json::Value>(body).is_ok()
    {
        return FileKind::known("Text", "JSON", "JSON");
    }
    FileKind::known("Text", "None", "Text")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe_image(characteristics: u16, magic: u16, subsystem: u16) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x80 + 22..0x80 + 24].copy_from_slice(&characteristics.to_le_bytes());
        b[0x80 + 24..0x80 + 26].copy_from_slice(&magic.to_le_bytes());
        b[0x80 + 92..0x80 + 94].copy_from_slice(&subsystem.to_le_bytes());
        b
    }

    #[test]
    fn pe_variants() {
        assert_eq!(
            identify(&pe_image(0x0102, 0x10b, 2)).name,
            Some("PE32 executable")
        );
        let dll = identify(&pe_image(0x2102, 0x20b, 2));
        assert_eq!((dll.file_type, dll.file_subtype), ("PE+", "Dll"));
        assert_eq!(identify(&pe_image(0x0102, 0x20b, 1)).file_subtype, "Driver");
        assert_eq!(identify(b"MZ\x90\x00").name, Some("MS-DOS executable"));
    }

    #[test]
    fn elf_types() {
        let mut h = b"\x7fELF\x02\x01\x01".to_vec();
        h.resize(64, 0);
        h[16] = 3;
        assert_eq!(identify(&h).file_subtype, "SharedObject");
        h[16] = 2;
        assert_eq!(identify(&h).name, Some("ELF executable"));
    }

    #[test]
    fn containers_and_documents() {
        assert_eq!(identify(b"PK\x03\x04rest").name, Some("ZIP"));
        assert_eq!(identify(b"\x1f\x8b\x08\x00").name, Some("GZIP"));
        assert_eq!(identify(b"%PDF-1.7\n").file_subtype, "PDF");
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(identify(&tar).name, Some("TAR"));
        let mut java = b"\xca\xfe\xba\xbe\x00\x00\x00\x34".to_vec();
        assert_eq!(identify(&java).name, Some("Java class"));
        java[4..8].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(identify(&java).file_type, "MachO");
    }

    #[test]
    fn text_and_binary() {
        assert_eq!(identify(b"#!/bin/sh\necho hi\n").name, Some("Shell script"));
        assert_eq!(
            identify(b"#!/usr/bin/env python3\n").name,
            Some("Python script")
        );
        assert_eq!(identify(b"  <!DOCTYPE html><html>").file_subtype, "HTML");
        assert_eq!(identify(b"{\"a\": [1, 2]}").file_subtype, "JSON");
        assert_eq!(identify(b"hello world\n").file_type, "Text");
        assert_eq!(identify(b"\x00\x01\x02\x03\xfe\xff").file_type, "Binary");
        assert_eq!(identify(b"").name, Some("Empty file"));
    }
}
