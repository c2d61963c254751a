//! Identification by content, never by name: the first step of analysing every node.
//!
//! [`identify`] looks at magic bytes and structure (PE and ELF headers, ZIP member names, OLE2
//! stream names, the first lines of text) and returns the `file_type` / `file_subtype` pair of
//! DECISIONS.md, a human format name, and which container handler (if any) unpacks it. The file's
//! name only breaks ties between text formats that look alike (a `.ps1` that could be any script).

use memchr::memmem;

use super::formats::{self, Container};

/// What a file was identified as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKind {
    /// `info.file.file_type`, e.g. `PE`, `ELF`, `Binary`, `Text`, `Document`, `Image`.
    pub file_type: &'static str,
    /// `info.file.file_subtype`, e.g. `Exe`, `Dll`, `Archive`, `PDF`, `None`.
    pub file_subtype: &'static str,
    /// Human name of the format; `None` when the format was not recognised.
    pub name: Option<&'static str>,
    /// The handler that takes this file apart, if it is a container.
    pub container: Option<Container>,
    /// A packer or installer recognised on top of the format (e.g. `UPX`).
    pub packer: Option<&'static str>,
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
            container: None,
            packer: None,
        }
    }

    const fn unpacked_by(mut self, container: Container) -> Self {
        self.container = Some(container);
        self
    }

    const fn unknown_binary() -> Self {
        FileKind {
            file_type: "Binary",
            file_subtype: "None",
            name: None,
            container: None,
            packer: None,
        }
    }

    /// The identification name, with the packer when there is one (`PE32 executable (UPX)`).
    pub fn display_name(&self) -> Option<String> {
        let name = self.name?;
        Some(match self.packer {
            Some(p) => format!("{name} ({p})"),
            None => name.to_string(),
        })
    }
}

/// How many leading bytes text and magic checks look at.
pub const HEAD_BYTES: usize = 64 * 1024;

/// How far from either end of a ZIP or OLE2 file member/stream names are searched for.
const NAME_SCAN_BYTES: usize = 4 * 1024 * 1024;

/// Identifies `data`; `name` is the file's name, a hint for text formats only.
pub fn identify(data: &[u8], name: &str) -> FileKind {
    let head = &data[..data.len().min(HEAD_BYTES)];
    if let Some(kind) = executable(data) {
        return kind;
    }
    if let Some(kind) = magic(data, head) {
        return kind;
    }
    text(head, data.len() <= HEAD_BYTES, name)
}

fn at(data: &[u8], offset: usize, magic: &[u8]) -> bool {
    data.get(offset..offset + magic.len()) == Some(magic)
}

fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u32_be(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Whether `needle` occurs within the first or last [`NAME_SCAN_BYTES`] of `data`.
fn mentions(data: &[u8], needle: &[u8]) -> bool {
    if data.len() <= 2 * NAME_SCAN_BYTES {
        return memmem::find(data, needle).is_some();
    }
    memmem::find(&data[..NAME_SCAN_BYTES], needle).is_some()
        || memmem::find(&data[data.len() - NAME_SCAN_BYTES..], needle).is_some()
}

fn magic(data: &[u8], head: &[u8]) -> Option<FileKind> {
    use Container as C;
    let archive = |name| FileKind::known("Binary", "Archive", name);
    let kind = if at(head, 0, b"PK\x03\x04") || at(head, 0, b"PK\x05\x06") || at(head, 0, b"PK00PK")
    {
        zip_kind(data).unpacked_by(C::Zip)
    } else if at(head, 0, b"\x1f\x8b") {
        archive("GZIP").unpacked_by(C::Gzip)
    } else if at(head, 0, b"BZh") && head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        archive("BZIP2").unpacked_by(C::Bzip2)
    } else if at(head, 0, b"\xfd7zXZ\x00") {
        archive("XZ").unpacked_by(C::Xz)
    } else if at(head, 0, b"\x28\xb5\x2f\xfd") {
        archive("ZSTD").unpacked_by(C::Zstd)
    } else if is_lzma_alone(head) {
        archive("LZMA").unpacked_by(C::Lzma)
    } else if at(head, 0, b"7z\xbc\xaf\x27\x1c") {
        archive("7Z").unpacked_by(C::Unarc)
    } else if at(head, 0, b"Rar!\x1a\x07\x01\x00") {
        archive("RAR5").unpacked_by(C::Unarc)
    } else if at(head, 0, b"Rar!\x1a\x07") || at(head, 0, b"RE~^") {
        archive("RAR").unpacked_by(C::Unarc)
    } else if at(head, 0, b"MSCF\x00\x00\x00\x00") {
        archive("CAB").unpacked_by(C::Unarc)
    } else if at(head, 0, b"\x60\xea") && u16_le(head, 2).is_some_and(|n| (1..=2600).contains(&n)) {
        archive("ARJ").unpacked_by(C::Unarc)
    } else if is_lha(head) {
        archive("LHA").unpacked_by(C::Unarc)
    } else if at(head, 7, b"**ACE**") {
        archive("ACE").unpacked_by(C::Unarc)
    } else if at(head, 20, b"\xdc\xa7\xc4\xfd") {
        archive("ZOO").unpacked_by(C::Unarc)
    } else if at(head, 0, b"\x1f\x9d") {
        archive("COMPRESS").unpacked_by(C::Unarc)
    } else if at(head, 257, b"ustar") || is_old_tar(head) {
        archive("TAR").unpacked_by(C::Tar)
    } else if let Some(variant) = cpio_variant(head) {
        FileKind::known("Binary", "Archive", variant).unpacked_by(C::Cpio)
    } else if at(head, 0, b"!<arch>\n") {
        if formats::ar::is_deb(head) {
            FileKind::known("Binary", "Package", "Debian package").unpacked_by(C::Ar)
        } else {
            archive("AR").unpacked_by(C::Ar)
        }
    } else if formats::iso9660::detect(data) {
        FileKind::known("Binary", "DiskImage", "ISO 9660").unpacked_by(C::Iso9660)
    } else if at(head, 0, b"ITSF") {
        FileKind::known("Document", "CHM", "CHM").unpacked_by(C::Chm)
    } else if at(head, 0, b"SZDD\x88\xf0\x27\x33") {
        archive("SZDD").unpacked_by(C::Szdd)
    } else if at(head, 0, b"KWAJ\x88\xf0\x27\xd1") {
        archive("KWAJ").unpacked_by(C::Szdd)
    } else if at(head, 0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        ole_kind(data).unpacked_by(C::Ole2)
    } else if at(head, 0, b"\x78\x9f\x3e\x22") {
        FileKind::known("Binary", "TNEF", "TNEF").unpacked_by(C::Tnef)
    } else if formats::rtf::detect(head) {
        FileKind::known("Document", "RTF", "RTF").unpacked_by(C::Rtf)
    } else if formats::pdf::detect(head) {
        FileKind::known("Document", "PDF", "PDF").unpacked_by(C::Pdf)
    } else if at(head, 0, b"\x89PNG\r\n\x1a\n") {
        FileKind::known("Image", "PNG", "PNG")
    } else if at(head, 0, b"\xff\xd8\xff") {
        FileKind::known("Image", "JPEG", "JPEG")
    } else if at(head, 0, b"GIF87a") || at(head, 0, b"GIF89a") {
        FileKind::known("Image", "GIF", "GIF")
    } else if at(head, 0, b"II*\x00") || at(head, 0, b"MM\x00*") {
        FileKind::known("Image", "TIFF", "TIFF")
    } else if at(head, 0, b"RIFF") && at(head, 8, b"WEBP") {
        FileKind::known("Image", "WebP", "WebP")
    } else if at(head, 0, b"BM")
        && u32_le(head, 2).is_some_and(|n| n as usize >= 26)
        && u32_le(head, 14).is_some_and(|n| [12, 40, 52, 56, 64, 108, 124].contains(&n))
    {
        FileKind::known("Image", "BMP", "BMP")
    } else if at(head, 0, b"\x00\x00\x01\x00")
        && u16_le(head, 4).is_some_and(|n| (1..=256).contains(&n))
        && head.get(9) == Some(&0)
    {
        FileKind::known("Image", "ICO", "ICO")
    } else if at(head, 0, b"\x00\x01\x00\x00")
        && u16_le(head, 4).is_some_and(|n| n.swap_bytes() < 64)
        && mentions(&head[..head.len().min(512)], b"glyf")
    {
        FileKind::known("Font", "TrueType", "TrueType font")
    } else if at(head, 0, b"OTTO") {
        FileKind::known("Font", "OpenType", "OpenType font")
    } else if at(head, 0, b"true") && mentions(&head[..head.len().min(512)], b"glyf") {
        FileKind::known("Font", "TrueType", "TrueType font")
    } else if at(head, 0, b"ttcf") {
        FileKind::known("Font", "TrueTypeCollection", "TrueType collection")
    } else if at(head, 0, b"wOFF") {
        FileKind::known("Font", "WOFF", "WOFF font")
    } else if at(head, 0, b"wOF2") {
        FileKind::known("Font", "WOFF2", "WOFF2 font")
    } else if at(head, 0, b"\xca\xfe\xba\xbe") {
        // Also the Mach-O universal magic: a class file has its version here (>= 45), a fat
        // Mach-O file a small architecture count.
        if u32_be(head, 4).is_some_and(|n| (1..20).contains(&n)) {
            FileKind::known("MachO", "Universal", "Mach-O universal binary")
        } else {
            FileKind::known("Binary", "JavaClass", "Java class")
        }
    } else if at(head, 0, b"dex\n") && head.get(7) == Some(&0) {
        FileKind::known("Binary", "Dex", "Android DEX")
    } else {
        return None;
    };
    Some(kind)
}

/// A ZIP, or one of the formats built on ZIP, told apart by the names of its members.
fn zip_kind(data: &[u8]) -> FileKind {
    // ODF stores its media type uncompressed as the first member, "mimetype".
    if at(data, 30, b"mimetypeapplication/vnd.oasis.opendocument.") {
        let rest = &data[30 + 43..data.len().min(30 + 43 + 40)];
        return if rest.starts_with(b"text") {
            FileKind::known("Document", "Word", "OpenDocument text")
        } else if rest.starts_with(b"spreadsheet") {
            FileKind::known("Document", "Excel", "OpenDocument spreadsheet")
        } else if rest.starts_with(b"presentation") {
            FileKind::known("Document", "PowerPoint", "OpenDocument presentation")
        } else {
            FileKind::known("Document", "OpenDocument", "OpenDocument")
        };
    }
    let has = |name: &[u8]| mentions(data, name);
    if has(b"[Content_Types].xml") {
        if has(b"word/document") || has(b"word/_rels") {
            return FileKind::known("Document", "Word", "Office Open XML document");
        }
        if has(b"xl/workbook") || has(b"xl/_rels") {
            return FileKind::known("Document", "Excel", "Office Open XML workbook");
        }
        if has(b"ppt/presentation") || has(b"ppt/_rels") {
            return FileKind::known("Document", "PowerPoint", "Office Open XML presentation");
        }
        if has(b"visio/document") {
            return FileKind::known("Document", "Visio", "Office Open XML drawing");
        }
    }
    if has(b"AndroidManifest.xml") && has(b"classes") {
        return FileKind::known("Binary", "Android", "Android APK");
    }
    if has(b"install.rdf") || has(b"META-INF/mozilla.rsa") {
        return FileKind::known("Binary", "Archive", "XPI");
    }
    if has(b".dist-info/WHEEL") {
        return FileKind::known("Binary", "Archive", "Python wheel");
    }
    if has(b"META-INF/MANIFEST.MF") || has(b".class") && !has(b"[Content_Types].xml") {
        return FileKind::known("Binary", "Archive", "JAR");
    }
    FileKind::known("Binary", "Archive", "ZIP")
}

/// An OLE2 compound file, told apart by its stream names (UTF-16LE in the directory) or, for
/// MSI, by the root entry's class id.
fn ole_kind(data: &[u8]) -> FileKind {
    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }
    // {000C1084-0000-0000-C000-000000000046}, the MSI database class id.
    const MSI_CLSID: &[u8] = b"\x84\x10\x0c\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46";
    const MSP_CLSID: &[u8] = b"\x86\x10\x0c\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46";
    if mentions(data, MSI_CLSID) || mentions(data, MSP_CLSID) {
        return FileKind::known("Binary", "Installer", "MSI");
    }
    let has = |name: &str| mentions(data, &utf16(name));
    if has("WordDocument") {
        FileKind::known("Document", "Word", "Word 97-2003 document")
    } else if has("Workbook") || has("Book\0") {
        FileKind::known("Document", "Excel", "Excel 97-2003 workbook")
    } else if has("PowerPoint Document") {
        FileKind::known("Document", "PowerPoint", "PowerPoint 97-2003 presentation")
    } else if has("__substg1.0_") {
        FileKind::known("Text", "Email", "Outlook message")
    } else {
        FileKind::known("Document", "OLE", "OLE2 compound file")
    }
}

fn is_lzma_alone(head: &[u8]) -> bool {
    // lzma_alone: properties byte (lc/lp/pb, <= 224), a dictionary size, then the unpacked size,
    // which is -1 (unknown) or plausible. xz-utils writes 0x5d and a power-of-two-ish dictionary.
    let (Some(&props), Some(dict)) = (head.first(), u32_le(head, 1)) else {
        return false;
    };
    let size = head
        .get(5..13)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    props <= 224
        && props == 0x5d
        && (dict.is_power_of_two() || dict & (dict >> 1).max(1) == 0 || dict == 0x00ff_ffff)
        && dict >= 4096
        && size.is_some_and(|s| s == u64::MAX || s < (1 << 40))
        && head.len() >= 14
}

fn is_lha(head: &[u8]) -> bool {
    head.get(2..7)
        .is_some_and(|m| m[0] == b'-' && m[4] == b'-' && (m[1..3] == *b"lh" || m[1..3] == *b"lz"))
}

/// A pre-POSIX (v7) tar: no `ustar` magic, so check the header checksum.
fn is_old_tar(head: &[u8]) -> bool {
    let Some(h) = head.get(..512) else {
        return false;
    };
    let field = &h[148..156];
    let digits: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .map(|&b| b as char)
        .collect();
    let Ok(stored) = u32::from_str_radix(digits.trim(), 8) else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    h[0] != 0 && sum == stored
}

fn cpio_variant(head: &[u8]) -> Option<&'static str> {
    Some(match formats::cpio::variant(head)? {
        "newc" => "CPIO (newc)",
        "crc" => "CPIO (crc)",
        "odc" => "CPIO (odc)",
        _ => "CPIO (binary)",
    })
}

fn executable(data: &[u8]) -> Option<FileKind> {
    if data.starts_with(b"MZ") {
        return Some(pe(data).unwrap_or(FileKind::known("Binary", "DOS", "MS-DOS executable")));
    }
    if data.starts_with(b"\x7fELF") {
        return Some(elf(data));
    }
    match data.get(..4) {
        Some([0xfe, 0xed, 0xfa, 0xce | 0xcf]) | Some([0xce | 0xcf, 0xfa, 0xed, 0xfe]) => {
            Some(macho(data))
        }
        _ => None,
    }
}

fn pe(data: &[u8]) -> Option<FileKind> {
    let pe_at = u32_le(data, 0x3c)? as usize;
    if data.get(pe_at..pe_at.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let characteristics = u16_le(data, pe_at + 22)?;
    let opt = pe_at + 24;
    let plus = match u16_le(data, opt)? {
        0x10b => false,
        0x20b => true,
        _ => return None,
    };
    let subsystem = u16_le(data, opt + 68).unwrap_or(0);
    // Data directory 14 (CLR runtime header) is set for .NET assemblies.
    let dirs = opt + if plus { 112 } else { 96 };
    let dotnet = u32_le(data, dirs + 14 * 8).is_some_and(|rva| rva != 0);
    let file_type = if plus { "PE+" } else { "PE" };
    let (subtype, name) = match (characteristics & 0x2000 != 0, subsystem, plus, dotnet) {
        (_, 10..=13, false, _) => ("EFI", "PE32 EFI application"),
        (_, 10..=13, true, _) => ("EFI", "PE32+ EFI application"),
        (true, _, false, true) => ("Dll", "PE32 .NET DLL"),
        (true, _, true, true) => ("Dll", "PE32+ .NET DLL"),
        (true, _, false, false) => ("Dll", "PE32 DLL"),
        (true, _, true, false) => ("Dll", "PE32+ DLL"),
        (false, 1, false, _) => ("Driver", "PE32 driver"),
        (false, 1, true, _) => ("Driver", "PE32+ driver"),
        (false, _, false, true) => ("Exe", "PE32 .NET executable"),
        (false, _, true, true) => ("Exe", "PE32+ .NET executable"),
        (false, _, false, false) => ("Exe", "PE32 executable"),
        (false, _, true, false) => ("Exe", "PE32+ executable"),
    };
    let mut kind = FileKind::known(file_type, subtype, name).unpacked_by(Container::Pe);
    // UPX names its sections UPX0/UPX1 or leaves its pack header before the packed data; the
    // PE handler hands such files to the UPX decompressor.
    if formats::upx::detect(data) {
        kind.packer = Some("UPX");
    } else {
        kind.packer = installer(data);
    }
    Some(kind)
}

/// Self-extracting installers, by the markers their stubs look for in the overlay.
fn installer(data: &[u8]) -> Option<&'static str> {
    const MARKERS: &[(&[u8], &str)] = &[
        (b"\xef\xbe\xad\xdeNullsoftInst", "NSIS installer"),
        (b"Inno Setup Setup Data", "Inno Setup installer"),
        (b";!@Install@!UTF-8!", "7-Zip self-extractor"),
        (b".wixburn", "WiX Burn bundle"),
    ];
    MARKERS
        .iter()
        .find(|(marker, _)| memmem::find(data, marker).is_some())
        .map(|(_, name)| *name)
}

fn elf(data: &[u8]) -> FileKind {
    let little = data.get(5) != Some(&2);
    let e_type = data.get(16..18).map(|b| {
        if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        }
    });
    let (subtype, name) = match e_type {
        Some(1) => ("Relocatable", "ELF relocatable"),
        Some(2) => ("Exe", "ELF executable"),
        Some(3) => {
            // A PIE executable is ET_DYN too; an interpreter segment tells it from a library.
            if memmem::find(&data[..data.len().min(4096)], b"/ld-").is_some() {
                ("Exe", "ELF executable (PIE)")
            } else {
                ("SharedObject", "ELF shared object")
            }
        }
        Some(4) => ("Core", "ELF core dump"),
        _ => ("None", "ELF"),
    };
    let mut kind = FileKind::known("ELF", subtype, name);
    // UPX leaves its pack header at the end of the file (found even with its magic wiped).
    if formats::upx::detect(data) {
        kind = kind.unpacked_by(Container::Upx);
        kind.packer = Some("UPX");
    }
    kind
}

fn macho(data: &[u8]) -> FileKind {
    let little = matches!(data.first(), Some(0xce | 0xcf));
    let filetype = data.get(12..16).map(|b| {
        let b = [b[0], b[1], b[2], b[3]];
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    });
    let (subtype, name) = match filetype {
        Some(1) => ("Object", "Mach-O object"),
        Some(2) => ("Exe", "Mach-O executable"),
        Some(4) => ("Core", "Mach-O core dump"),
        Some(6) => ("Dylib", "Mach-O dynamic library"),
        Some(8) => ("Bundle", "Mach-O bundle"),
        _ => ("None", "Mach-O"),
    };
    FileKind::known("MachO", subtype, name)
}

/// Text formats: markup, data, mail and scripts, then plain text; otherwise an unknown binary.
fn text(head: &[u8], whole: bool, name: &str) -> FileKind {
    use Container as C;
    if head.is_empty() {
        return FileKind {
            file_type: "None",
            file_subtype: "None",
            name: Some("Empty file"),
            container: None,
            packer: None,
        };
    }
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return FileKind::known("Text", "None", "UTF-16 text");
    }
    let body = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    // Text if it is UTF-8 (allowing a character cut off at the end of the head) with few
    // control characters. Latin-1 text with no controls is text too.
    let valid = match std::str::from_utf8(body) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && !whole,
    };
    let controls = body
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1a))
        .count();
    if controls * 100 > body.len() || (!valid && body.contains(&0)) {
        return FileKind::unknown_binary();
    }
    let lower: Vec<u8> = body.iter().take(4096).map(u8::to_ascii_lowercase).collect();
    let start = lower
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let t = &lower[start..];
    let has = |w: &[u8]| memmem::find(t, w).is_some();
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();

    if t.starts_with(b"#!") {
        let line = t.split(|&b| b == b'\n').next().unwrap_or(b"");
        let on = |w: &[u8]| memmem::find(line, w).is_some();
        return if on(b"python") {
            FileKind::known("Text", "Python", "Python script")
        } else if on(b"perl") {
            FileKind::known("Text", "Perl", "Perl script")
        } else if on(b"node") || on(b"deno") {
            FileKind::known("Text", "JavaScript", "JavaScript")
        } else if on(b"pwsh") || on(b"powershell") {
            FileKind::known("Text", "PowerShell", "PowerShell script")
        } else if on(b"ruby") {
            FileKind::known("Text", "Ruby", "Ruby script")
        } else {
            FileKind::known("Text", "Shell", "Shell script")
        };
    }
    if formats::binhex::detect(head) {
        return FileKind::known("Text", "BinHex", "BinHex 4.0").unpacked_by(C::BinHex);
    }
    if formats::mime::looks_like_mbox(body) {
        return FileKind::known("Text", "Mbox", "mbox").unpacked_by(C::Mbox);
    }
    if formats::mime::looks_like_message(body) {
        return if has(b"\nmime-version:")
            || t.starts_with(b"mime-version:")
            || has(b"\ncontent-type: multipart/")
        {
            FileKind::known("Text", "Email", "MIME message").unpacked_by(C::Mime)
        } else {
            FileKind::known("Text", "Email", "RFC822 message").unpacked_by(C::Mime)
        };
    }
    if formats::uuencode::find_begin(body).is_some() {
        return FileKind::known("Text", "UUEncoded", "uuencode").unpacked_by(C::Uuencode);
    }
    if t.starts_with(b"<!doctype html")
        || t.starts_with(b"<html")
        || (t.starts_with(b"<")
            && (has(b"<html") || has(b"<body") || has(b"<script") || has(b"<head>")))
            && !t.starts_with(b"<?xml")
    {
        return FileKind::known("Text", "HTML", "HTML");
    }
    if t.starts_with(b"<svg") || (t.starts_with(b"<?xml") && has(b"<svg")) {
        return FileKind::known("Image", "SVG", "SVG");
    }
    if t.starts_with(b"<?xml") {
        if has(b"<html") {
            return FileKind::known("Text", "HTML", "XHTML");
        }
        return FileKind::known("Text", "XML", "XML");
    }
    if (t.starts_with(b"{") || t.starts_with(b"["))
        && (if whole {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
        } else {
            t.starts_with(b"{\"") || t.starts_with(b"[{") || t.starts_with(b"[\"")
        })
    {
        return FileKind::known("Text", "JSON", "JSON");
    }
    // Scripts without a shebang: score each language by its telltale tokens; the extension
    // breaks ties and nudges weak evidence.
    let scores: [(&[&[u8]], &str, FileKind); 6] = [
        (
            &[
                b"write-host",
                b"invoke-",
                b"-executionpolicy",
                b"$env:",
                b"new-object ",
                b"[system.",
                b"param(",
                b"-encodedcommand",
                b"get-",
                b"set-",
                b"foreach-object",
            ],
            "ps1",
            FileKind::known("Text", "PowerShell", "PowerShell script"),
        ),
        (
            &[
                b"wscript.",
                b"createobject(",
                b"dim ",
                b"end sub",
                b"end function",
                b"on error resume next",
                b"msgbox",
                b"\nset ",
            ],
            "vbs",
            FileKind::known("Text", "VBScript", "VBScript"),
        ),
        (
            &[
                b"@echo off",
                b"%~dp0",
                b"goto :",
                b"\nset ",
                b"%comspec%",
                b"errorlevel",
                b"\nrem ",
                b"setlocal",
                b"\ncall ",
            ],
            "bat",
            FileKind::known("Text", "Batch", "Batch script"),
        ),
        (
            &[
                b"function(",
                b"function ",
                b"var ",
                b"document.",
                b"window.",
                b"=>",
                b"const ",
                b"let ",
                b"eval(",
                b"activexobject",
                b"console.log",
            ],
            "js",
            FileKind::known("Text", "JavaScript", "JavaScript"),
        ),
        (
            &[
                b"import ",
                b"def ",
                b"__name__",
                b"self.",
                b"print(",
                b"elif ",
                b"from ",
            ],
            "py",
            FileKind::known("Text", "Python", "Python script"),
        ),
        (
            &[
                b"use strict;",
                b"my $",
                b"sub ",
                b"print \"",
                b"=~",
                b"use warnings;",
            ],
            "pl",
            FileKind::known("Text", "Perl", "Perl script"),
        ),
    ];
    let mut best: Option<(usize, FileKind)> = None;
    for (tokens, script_ext, kind) in scores {
        let mut score = tokens.iter().filter(|tok| has(tok)).count() * 2;
        let ext_match = ext == script_ext
            || (script_ext == "bat" && ext == "cmd")
            || (script_ext == "js" && matches!(ext.as_str(), "jse" | "mjs"))
            || (script_ext == "vbs" && matches!(ext.as_str(), "vbe" | "vba"))
            || (script_ext == "ps1" && matches!(ext.as_str(), "psm1" | "psd1"));
        if ext_match {
            score += 3;
        }
        if score >= 4 && best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, kind));
        }
    }
    if let Some((_, kind)) = best {
        return kind;
    }
    if ext == "sh" || ext == "bash" {
        return FileKind::known("Text", "Shell", "Shell script");
    }
    if !valid {
        return FileKind::known("Text", "None", "Text (8-bit)");
    }
    FileKind::known("Text", "None", "Text")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(data: &[u8]) -> FileKind {
        identify(data, "")
    }

    fn pe_image(characteristics: u16, magic: u16, subsystem: u16) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x80 + 20..0x80 + 22].copy_from_slice(&0xe0u16.to_le_bytes());
        b[0x80 + 22..0x80 + 24].copy_from_slice(&characteristics.to_le_bytes());
        b[0x80 + 24..0x80 + 26].copy_from_slice(&magic.to_le_bytes());
        b[0x80 + 92..0x80 + 94].copy_from_slice(&subsystem.to_le_bytes());
        b
    }

    #[test]
    fn pe_variants() {
        assert_eq!(
            id(&pe_image(0x0102, 0x10b, 2)).name,
            Some("PE32 executable")
        );
        let dll = id(&pe_image(0x2102, 0x20b, 2));
        assert_eq!((dll.file_type, dll.file_subtype), ("PE+", "Dll"));
        assert_eq!(id(&pe_image(0x0102, 0x20b, 1)).file_subtype, "Driver");
        assert_eq!(id(&pe_image(0x0102, 0x20b, 10)).file_subtype, "EFI");
        let mut net = pe_image(0x0102, 0x10b, 3);
        net[0x80 + 24 + 96 + 14 * 8] = 0x08;
        assert_eq!(id(&net).name, Some("PE32 .NET executable"));
        assert_eq!(id(b"MZ\x90\x00").name, Some("MS-DOS executable"));
        let mut upx = pe_image(0x0102, 0x10b, 2);
        upx[0x86] = 1;
        upx[0x80 + 24 + 0xe0..0x80 + 24 + 0xe0 + 4].copy_from_slice(b"UPX0");
        assert_eq!(
            id(&upx).display_name().as_deref(),
            Some("PE32 executable (UPX)")
        );
        let mut nsis = pe_image(0x0102, 0x10b, 2);
        nsis.extend_from_slice(b"\0\0\0\0\xef\xbe\xad\xdeNullsoftInst\0");
        assert_eq!(
            id(&nsis).display_name().as_deref(),
            Some("PE32 executable (NSIS installer)")
        );
    }

    #[test]
    fn elf_and_macho_types() {
        let mut h = b"\x7fELF\x02\x01\x01".to_vec();
        h.resize(64, 0);
        h[16] = 3;
        assert_eq!(id(&h).file_subtype, "SharedObject");
        h[16] = 2;
        assert_eq!(id(&h).name, Some("ELF executable"));
        h[16] = 1;
        assert_eq!(id(&h).file_subtype, "Relocatable");
        h[16] = 4;
        assert_eq!(id(&h).file_subtype, "Core");
        let mut m = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00".to_vec();
        m.extend_from_slice(&6u32.to_le_bytes());
        assert_eq!(id(&m).file_subtype, "Dylib");
        let mut java = b"\xca\xfe\xba\xbe\x00\x00\x00\x34".to_vec();
        assert_eq!(id(&java).name, Some("Java class"));
        java[4..8].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(id(&java).file_subtype, "Universal");
        assert_eq!(id(b"dex\n035\0rest").name, Some("Android DEX"));
    }

    #[test]
    fn containers_and_documents() {
        assert_eq!(id(b"PK\x03\x04rest").name, Some("ZIP"));
        assert_eq!(id(b"\x1f\x8b\x08\x00").container, Some(Container::Gzip));
        assert_eq!(id(b"%PDF-1.7\n").file_subtype, "PDF");
        assert_eq!(id(b"junk\n%PDF-1.7\n").file_subtype, "PDF");
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(id(&tar).name, Some("TAR"));
        let mut newc = b"070701".to_vec();
        newc.resize(110, b'0');
        assert_eq!(id(&newc).name, Some("CPIO (newc)"));
        assert_eq!(
            id(b"!<arch>\ndebian-binary   ").name,
            Some("Debian package")
        );
        assert_eq!(id(b"{\\rtf1\\ansi").container, Some(Container::Rtf));
        assert_eq!(id(b"{\\rtxa\\ansi").container, Some(Container::Rtf));
        assert_eq!(id(b"Rar!\x1a\x07\x01\x00").name, Some("RAR5"));
        assert_eq!(id(b"Rar!\x1a\x07\x00").name, Some("RAR"));
        assert_eq!(id(b"\x00\x00-lh5-").name, Some("LHA"));
        assert_eq!(id(b"SZDD\x88\xf0\x27\x33A").name, Some("SZDD"));
        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(id(&iso).name, Some("ISO 9660"));
    }

    #[test]
    fn zip_family_by_member_names() {
        let mut docx = b"PK\x03\x04".to_vec();
        docx.extend_from_slice(b"....[Content_Types].xml....word/document.xml");
        assert_eq!(id(&docx).file_subtype, "Word");
        let mut apk = b"PK\x03\x04".to_vec();
        apk.extend_from_slice(b"AndroidManifest.xml classes.dex");
        assert_eq!(id(&apk).name, Some("Android APK"));
        let mut jar = b"PK\x03\x04".to_vec();
        jar.extend_from_slice(b"META-INF/MANIFEST.MF");
        assert_eq!(id(&jar).name, Some("JAR"));
        let mut odt = vec![0u8; 30];
        odt[..4].copy_from_slice(b"PK\x03\x04");
        odt.extend_from_slice(b"mimetypeapplication/vnd.oasis.opendocument.text");
        assert_eq!(id(&odt).name, Some("OpenDocument text"));
    }

    #[test]
    fn text_formats() {
        assert_eq!(id(b"#!/bin/sh\necho hi\n").name, Some("Shell script"));
        assert_eq!(id(b"#!/usr/bin/env python3\n").file_subtype, "Python");
        assert_eq!(id(b"  <!DOCTYPE html><html>").file_subtype, "HTML");
        assert_eq!(
            id(b"<?xml version=\"1.0\"?><svg></svg>").file_subtype,
            "SVG"
        );
        assert_eq!(id(b"<?xml version=\"1.0\"?><a/>").file_subtype, "XML");
        assert_eq!(id(b"{\"a\": [1, 2]}").file_subtype, "JSON");
        assert_eq!(id(b"{not json").file_subtype, "None");
        assert_eq!(id(b"hello world\n").file_type, "Text");
        assert_eq!(id(b"\x00\x01\x02\x03\xfe\xff").file_type, "Binary");
        assert_eq!(id(b"").name, Some("Empty file"));
        let mail = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody";
        assert_eq!(id(mail).name, Some("RFC822 message"));
        let mime =
            b"MIME-Version: 1.0\nFrom: a@b.c\nContent-Type: multipart/mixed; boundary=x\n\n--x";
        assert_eq!(id(mime).name, Some("MIME message"));
        let mbox = b"From a@b.c Mon Jan  1 00:00:00 2024\nFrom: a@b.c\nSubject: x\n\nhi\n";
        assert_eq!(id(mbox).name, Some("mbox"));
        assert_eq!(
            id(b"begin 644 eicar.com\n`\nend\n").container,
            Some(Container::Uuencode)
        );
        assert_eq!(
            id(b"(This file must be converted with BinHex 4.0)\n:abc").name,
            Some("BinHex 4.0")
        );
        assert_eq!(
            id(b"$a = New-Object Net.WebClient\nInvoke-Expression $a\nWrite-Host 1").file_subtype,
            "PowerShell"
        );
        assert_eq!(
            id(b"Set o = CreateObject(\"WScript.Shell\")\nDim x\n").file_subtype,
            "VBScript"
        );
        assert_eq!(id(b"@echo off\nset x=1\ngoto :end\n").file_subtype, "Batch");
        assert_eq!(
            id(b"var x = document.getElementById('a');\nfunction f() {}\n").file_subtype,
            "JavaScript"
        );
        // The name is a hint for text only: a PE named .txt is still a PE.
        assert_eq!(
            identify(&pe_image(0x0102, 0x10b, 2), "a.txt").file_type,
            "PE"
        );
        assert_eq!(identify(b"x = 1\n", "run.ps1").file_subtype, "None");
    }

    #[test]
    fn images_and_fonts() {
        assert_eq!(id(b"\x89PNG\r\n\x1a\n....").name, Some("PNG"));
        assert_eq!(id(b"GIF89a....").name, Some("GIF"));
        assert_eq!(id(b"RIFF\0\0\0\0WEBPVP8 ").name, Some("WebP"));
        assert_eq!(id(b"wOFF\0\x01\0\0").file_type, "Font");
        assert_eq!(id(b"OTTO\0\x0a\0\x80").file_type, "Font");
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&100u32.to_le_bytes());
        bmp.extend_from_slice(&[0; 8]);
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(id(&bmp).name, Some("BMP"));
        assert_eq!(id(b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0").name, Some("ICO"));
    }
}
