//! Identification by content, never by name: the first step of analysing every node.
//!
//! [`identify`] looks at magic bytes and structure (PE and ELF headers, ZIP member names, OLE2
//! stream names, the first lines of text) and returns a [`Format`], a human format name and the
//! packer if one is recognised. The file's name only breaks ties between text formats that look
//! alike (a `.ps1` that could be any script).
//!
//! [`Format`] is the one place the report's `file_type` / `file_subtype` strings come from
//! ([`Format::file_type`], [`Format::file_subtype`], as `../shared/spec/DECISIONS.md` names
//! them); the rest of the engine routes on the enum, and the parser registry
//! (`analysis::registry`) is a `match` over it, so a format without an arm does not compile.

use memchr::memmem;

use super::bytes::{le16, le32};
use super::formats;
use super::formats::packers::Packer;

/// Every kind of file assay tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A PE image, PE32 or PE32+ (`plus`), and what wraps a payload in it, if anything.
    Pe {
        plus: bool,
        role: PeRole,
        wrap: PeWrap,
    },
    /// An MZ executable without a PE header.
    Dos,
    /// An ELF file; `upx` when a UPX pack header is found in it.
    Elf {
        role: ElfRole,
        upx: bool,
    },
    /// A thin Mach-O file.
    MachO(MachORole),
    /// A fat (universal) Mach-O file.
    MachOUniversal,
    /// A ZIP archive that is not an office document.
    Zip(ZipUse),
    /// An Office Open XML (`odf: false`) or OpenDocument (`odf: true`) document.
    OfficeZip {
        odf: bool,
        doc: OfficeDoc,
    },
    Gzip,
    Bzip2,
    Xz,
    /// lzma_alone (`.lzma`).
    Lzma,
    Zstd,
    /// 7z, RAR, CAB, ARJ, LHA, ACE, ZOO and compress (.Z), through the `unarc-rs` crate; the
    /// identification name says which.
    Unarc,
    Tar,
    Cpio,
    Ar,
    /// A Symbian installation package (`.sis`, EPOC releases 3 to 6).
    Sis,
    /// An InstallShield cabinet (`ISc(`): `data1.hdr`, or a `data1.cab` carrying its header.
    InstallShieldCab,
    /// A Debian package (an `ar` archive with `debian-binary` first).
    Deb,
    Iso9660,
    Chm,
    /// Microsoft's SZDD and KWAJ (`compress.exe`) formats.
    Szdd,
    /// An OLE2 compound file, by what its streams hold.
    Ole2(Ole2Use),
    Tnef,
    Rtf,
    Pdf,
    Image(Image),
    Font(Font),
    JavaClass,
    Dex,
    BinHex,
    Mbox,
    /// An RFC 822 / MIME message.
    Email,
    Uuencode,
    /// Text: markup, data, scripts, or plain.
    Text(Text),
    /// A file of zero bytes.
    Empty,
    /// Bytes no rule recognised.
    Unknown,
    /// A file whose analysis failed before it was identified (the failure report).
    Unidentified,
}

/// What a PE file carries its real content in, when a reader of ours takes it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeWrap {
    /// Nothing known: resources and overlay are the members.
    Plain,
    /// Packed by UPX: the original file is rebuilt.
    Upx,
    /// A Nullsoft (NSIS) installer: its files are in the overlay.
    Nsis,
    /// A compiled AutoIt script: the script and its `FileInstall` files are in a block of its
    /// own (`AU3!EA05`/`AU3!EA06`).
    AutoIt,
    /// An InstallShield setup carrying its files in the overlay.
    InstallShield,
    /// Packed by a packer other than UPX that assay restores: the original program is rebuilt.
    Packed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeRole {
    Exe,
    Dll,
    Driver,
    Efi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElfRole {
    Relocatable,
    Exe,
    SharedObject,
    Core,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MachORole {
    Object,
    Exe,
    Core,
    Dylib,
    Bundle,
    Other,
}

/// What a ZIP that is not an office document is: an archive, or an Android package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZipUse {
    Archive,
    Android,
}

/// The kind of an office document, whatever its packaging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfficeDoc {
    Word,
    Excel,
    PowerPoint,
    Visio,
    /// An OpenDocument file of another kind.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ole2Use {
    /// A Windows Installer database or patch.
    Installer,
    Office(OfficeDoc),
    /// An Outlook `.msg`.
    OutlookMessage,
    /// Another compound file (or a bare VBA project).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Image {
    Png,
    Jpeg,
    Gif,
    Tiff,
    WebP,
    Bmp,
    Ico,
    Svg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Font {
    TrueType,
    OpenType,
    TrueTypeCollection,
    Woff,
    Woff2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Text {
    Html,
    Xml,
    Json,
    Python,
    Perl,
    JavaScript,
    PowerShell,
    Ruby,
    Shell,
    VbScript,
    Batch,
    Plain,
}

impl Format {
    /// `info.file.file_type`.
    pub fn file_type(self) -> &'static str {
        use Format as F;
        match self {
            F::Pe { plus: false, .. } => "PE",
            F::Pe { plus: true, .. } => "PE+",
            F::Elf { .. } => "ELF",
            F::MachO(_) | F::MachOUniversal => "MachO",
            F::OfficeZip { .. } | F::Chm | F::Rtf | F::Pdf => "Document",
            F::Ole2(Ole2Use::Office(_) | Ole2Use::Other) => "Document",
            F::Ole2(Ole2Use::OutlookMessage) => "Text",
            F::Image(_) => "Image",
            F::Font(_) => "Font",
            F::BinHex | F::Mbox | F::Email | F::Uuencode | F::Text(_) => "Text",
            F::Empty => "None",
            F::Unidentified => "Unknown",
            F::Dos
            | F::Zip(_)
            | F::Gzip
            | F::Bzip2
            | F::Xz
            | F::Lzma
            | F::Zstd
            | F::Unarc
            | F::Tar
            | F::Cpio
            | F::Ar
            | F::Deb
            | F::Sis
            | F::InstallShieldCab
            | F::Iso9660
            | F::Szdd
            | F::Ole2(Ole2Use::Installer)
            | F::Tnef
            | F::JavaClass
            | F::Dex
            | F::Unknown => "Binary",
        }
    }

    /// `info.file.file_subtype`.
    pub fn file_subtype(self) -> &'static str {
        use Format as F;
        let document = |doc: OfficeDoc, other: &'static str| match doc {
            OfficeDoc::Word => "Word",
            OfficeDoc::Excel => "Excel",
            OfficeDoc::PowerPoint => "PowerPoint",
            OfficeDoc::Visio => "Visio",
            OfficeDoc::Other => other,
        };
        match self {
            F::Pe { role, .. } => match role {
                PeRole::Exe => "Exe",
                PeRole::Dll => "Dll",
                PeRole::Driver => "Driver",
                PeRole::Efi => "EFI",
            },
            F::Dos => "DOS",
            F::Elf { role, .. } => match role {
                ElfRole::Relocatable => "Relocatable",
                ElfRole::Exe => "Exe",
                ElfRole::SharedObject => "SharedObject",
                ElfRole::Core => "Core",
                ElfRole::Other => "None",
            },
            F::MachO(role) => match role {
                MachORole::Object => "Object",
                MachORole::Exe => "Exe",
                MachORole::Core => "Core",
                MachORole::Dylib => "Dylib",
                MachORole::Bundle => "Bundle",
                MachORole::Other => "None",
            },
            F::MachOUniversal => "Universal",
            F::Zip(ZipUse::Android) => "Android",
            F::Zip(ZipUse::Archive)
            | F::Gzip
            | F::Bzip2
            | F::Xz
            | F::Lzma
            | F::Zstd
            | F::Unarc
            | F::Tar
            | F::Cpio
            | F::Ar
            | F::Szdd => "Archive",
            F::OfficeZip { doc, .. } => document(doc, "OpenDocument"),
            F::Deb | F::Sis => "Package",
            F::InstallShieldCab => "Installer",
            F::Iso9660 => "DiskImage",
            F::Chm => "CHM",
            F::Ole2(Ole2Use::Installer) => "Installer",
            F::Ole2(Ole2Use::Office(doc)) => document(doc, "OLE"),
            F::Ole2(Ole2Use::OutlookMessage) | F::Email => "Email",
            F::Ole2(Ole2Use::Other) => "OLE",
            F::Tnef => "TNEF",
            F::Rtf => "RTF",
            F::Pdf => "PDF",
            F::Image(image) => match image {
                Image::Png => "PNG",
                Image::Jpeg => "JPEG",
                Image::Gif => "GIF",
                Image::Tiff => "TIFF",
                Image::WebP => "WebP",
                Image::Bmp => "BMP",
                Image::Ico => "ICO",
                Image::Svg => "SVG",
            },
            F::Font(font) => match font {
                Font::TrueType => "TrueType",
                Font::OpenType => "OpenType",
                Font::TrueTypeCollection => "TrueTypeCollection",
                Font::Woff => "WOFF",
                Font::Woff2 => "WOFF2",
            },
            F::JavaClass => "JavaClass",
            F::Dex => "Dex",
            F::BinHex => "BinHex",
            F::Mbox => "Mbox",
            F::Uuencode => "UUEncoded",
            F::Text(text) => match text {
                Text::Html => "HTML",
                Text::Xml => "XML",
                Text::Json => "JSON",
                Text::Python => "Python",
                Text::Perl => "Perl",
                Text::JavaScript => "JavaScript",
                Text::PowerShell => "PowerShell",
                Text::Ruby => "Ruby",
                Text::Shell => "Shell",
                Text::VbScript => "VBScript",
                Text::Batch => "Batch",
                Text::Plain => "None",
            },
            F::Empty | F::Unknown | F::Unidentified => "None",
        }
    }

    /// Whether the report calls it text (`file_type` `Text`): its strings are its lines.
    pub fn is_text(self) -> bool {
        self.file_type() == "Text"
    }

    /// Whether the report calls it an archive (`file_subtype` `Archive`).
    pub fn is_archive(self) -> bool {
        self.file_subtype() == "Archive"
    }

    /// The `contains-*` tag a container gets for holding a file of this format, if any.
    pub fn contained_tag(self) -> Option<&'static str> {
        match self {
            Format::Pe { .. } => Some("contains-pe"),
            Format::Elf { .. } => Some("contains-elf"),
            Format::MachO(_) | Format::MachOUniversal => Some("contains-macho"),
            _ => None,
        }
    }
}

/// Every [`Format`] value, for tests that must cover them all. The match below has no wildcard:
/// a new variant does not compile until it is listed here too.
#[cfg(test)]
pub(crate) fn every_format() -> Vec<Format> {
    use Format as F;
    fn listed(f: Format) {
        match f {
            F::Pe { .. } | F::Dos | F::Elf { .. } | F::MachO(_) | F::MachOUniversal => {}
            F::Zip(_) | F::OfficeZip { .. } | F::Gzip | F::Bzip2 | F::Xz | F::Lzma | F::Zstd => {}
            F::Unarc | F::Tar | F::Cpio | F::Ar | F::Deb | F::Iso9660 | F::Chm | F::Szdd => {}
            F::Sis | F::InstallShieldCab => {}
            F::Ole2(_) | F::Tnef | F::Rtf | F::Pdf | F::Image(_) | F::Font(_) => {}
            F::JavaClass | F::Dex | F::BinHex | F::Mbox | F::Email | F::Uuencode | F::Text(_) => {}
            F::Empty | F::Unknown | F::Unidentified => {}
        }
    }
    let docs = [
        OfficeDoc::Word,
        OfficeDoc::Excel,
        OfficeDoc::PowerPoint,
        OfficeDoc::Visio,
        OfficeDoc::Other,
    ];
    let mut all = Vec::new();
    for plus in [false, true] {
        for wrap in [
            PeWrap::Plain,
            PeWrap::Upx,
            PeWrap::Nsis,
            PeWrap::AutoIt,
            PeWrap::InstallShield,
            PeWrap::Packed,
        ] {
            for role in [PeRole::Exe, PeRole::Dll, PeRole::Driver, PeRole::Efi] {
                all.push(F::Pe { plus, role, wrap });
            }
        }
    }
    for upx in [false, true] {
        for role in [
            ElfRole::Relocatable,
            ElfRole::Exe,
            ElfRole::SharedObject,
            ElfRole::Core,
            ElfRole::Other,
        ] {
            all.push(F::Elf { role, upx });
        }
    }
    for odf in [false, true] {
        for doc in docs {
            all.push(F::OfficeZip { odf, doc });
        }
    }
    all.extend(
        [
            MachORole::Object,
            MachORole::Exe,
            MachORole::Core,
            MachORole::Dylib,
            MachORole::Bundle,
            MachORole::Other,
        ]
        .map(F::MachO),
    );
    all.extend([ZipUse::Archive, ZipUse::Android].map(F::Zip));
    all.extend(docs.map(|d| F::Ole2(Ole2Use::Office(d))));
    all.extend([Ole2Use::Installer, Ole2Use::OutlookMessage, Ole2Use::Other].map(F::Ole2));
    all.extend(
        [
            Image::Png,
            Image::Jpeg,
            Image::Gif,
            Image::Tiff,
            Image::WebP,
            Image::Bmp,
            Image::Ico,
            Image::Svg,
        ]
        .map(F::Image),
    );
    all.extend(
        [
            Font::TrueType,
            Font::OpenType,
            Font::TrueTypeCollection,
            Font::Woff,
            Font::Woff2,
        ]
        .map(F::Font),
    );
    all.extend(
        [
            Text::Html,
            Text::Xml,
            Text::Json,
            Text::Python,
            Text::Perl,
            Text::JavaScript,
            Text::PowerShell,
            Text::Ruby,
            Text::Shell,
            Text::VbScript,
            Text::Batch,
            Text::Plain,
        ]
        .map(F::Text),
    );
    all.extend([
        F::Dos,
        F::MachOUniversal,
        F::Gzip,
        F::Bzip2,
        F::Xz,
        F::Lzma,
        F::Zstd,
        F::Unarc,
        F::Tar,
        F::Cpio,
        F::Ar,
        F::Deb,
        F::Sis,
        F::InstallShieldCab,
        F::Iso9660,
        F::Chm,
        F::Szdd,
        F::Tnef,
        F::Rtf,
        F::Pdf,
        F::JavaClass,
        F::Dex,
        F::BinHex,
        F::Mbox,
        F::Email,
        F::Uuencode,
        F::Empty,
        F::Unknown,
        F::Unidentified,
    ]);
    all.iter().copied().for_each(listed);
    all
}

/// What a file was identified as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKind {
    pub format: Format,
    /// Human name of the format; `None` when the format was not recognised.
    pub name: Option<&'static str>,
    /// A packer or installer recognised on top of the format (e.g. `UPX`).
    pub packer: Option<&'static str>,
}

impl FileKind {
    const fn known(format: Format, name: &'static str) -> Self {
        FileKind {
            format,
            name: Some(name),
            packer: None,
        }
    }

    /// What a file is reported as when its analysis failed before identification.
    pub const fn unidentified() -> Self {
        FileKind {
            format: Format::Unidentified,
            name: None,
            packer: None,
        }
    }

    /// `info.file.file_type`.
    pub fn file_type(&self) -> &'static str {
        self.format.file_type()
    }

    /// `info.file.file_subtype`.
    pub fn file_subtype(&self) -> &'static str {
        self.format.file_subtype()
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
    use Format as F;
    let kind = if at(head, 0, b"PK\x03\x04") || at(head, 0, b"PK\x05\x06") || at(head, 0, b"PK00PK")
    {
        zip_kind(data)
    } else if at(head, 0, b"\x1f\x8b") {
        FileKind::known(F::Gzip, "GZIP")
    } else if at(head, 0, b"BZh") && head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        FileKind::known(F::Bzip2, "BZIP2")
    } else if at(head, 0, b"\xfd7zXZ\x00") {
        FileKind::known(F::Xz, "XZ")
    } else if at(head, 0, b"\x28\xb5\x2f\xfd") {
        FileKind::known(F::Zstd, "ZSTD")
    } else if is_lzma_alone(head) {
        FileKind::known(F::Lzma, "LZMA")
    } else if at(head, 0, b"7z\xbc\xaf\x27\x1c") {
        FileKind::known(F::Unarc, "7Z")
    } else if at(head, 0, b"Rar!\x1a\x07\x01\x00") {
        FileKind::known(F::Unarc, "RAR5")
    } else if at(head, 0, b"Rar!\x1a\x07") || at(head, 0, b"RE~^") {
        FileKind::known(F::Unarc, "RAR")
    } else if at(head, 0, b"MSCF\x00\x00\x00\x00") {
        FileKind::known(F::Unarc, "CAB")
    } else if at(head, 0, b"\x60\xea") && le16(head, 2).is_some_and(|n| (1..=2600).contains(&n)) {
        FileKind::known(F::Unarc, "ARJ")
    } else if is_lha(head) {
        FileKind::known(F::Unarc, "LHA")
    } else if at(head, 7, b"**ACE**") {
        FileKind::known(F::Unarc, "ACE")
    } else if at(head, 20, b"\xdc\xa7\xc4\xfd") {
        FileKind::known(F::Unarc, "ZOO")
    } else if at(head, 0, b"\x1f\x9d") {
        FileKind::known(F::Unarc, "COMPRESS")
    } else if at(head, 257, b"ustar") || is_old_tar(head) {
        FileKind::known(F::Tar, "TAR")
    } else if at(head, 0, b"ISc(") {
        FileKind::known(F::InstallShieldCab, "InstallShield cabinet")
    } else if formats::sis::detect(head) {
        FileKind::known(F::Sis, "Symbian SIS package")
    } else if let Some(variant) = cpio_variant(head) {
        FileKind::known(F::Cpio, variant)
    } else if at(head, 0, b"!<arch>\n") {
        if formats::ar::is_deb(head) {
            FileKind::known(F::Deb, "Debian package")
        } else {
            FileKind::known(F::Ar, "AR")
        }
    } else if formats::iso9660::detect(data) {
        FileKind::known(F::Iso9660, "ISO 9660")
    } else if at(head, 0, b"ITSF") {
        FileKind::known(F::Chm, "CHM")
    } else if at(head, 0, b"SZDD\x88\xf0\x27\x33") {
        FileKind::known(F::Szdd, "SZDD")
    } else if at(head, 0, b"KWAJ\x88\xf0\x27\xd1") {
        FileKind::known(F::Szdd, "KWAJ")
    } else if at(head, 0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        ole_kind(data)
    } else if at(head, 0, b"\x78\x9f\x3e\x22") {
        FileKind::known(F::Tnef, "TNEF")
    } else if formats::rtf::detect(head) {
        FileKind::known(F::Rtf, "RTF")
    } else if formats::pdf::detect(head) {
        FileKind::known(F::Pdf, "PDF")
    } else if at(head, 0, b"\x89PNG\r\n\x1a\n") {
        FileKind::known(Format::Image(Image::Png), "PNG")
    } else if at(head, 0, b"\xff\xd8\xff") {
        FileKind::known(Format::Image(Image::Jpeg), "JPEG")
    } else if at(head, 0, b"GIF87a") || at(head, 0, b"GIF89a") {
        FileKind::known(Format::Image(Image::Gif), "GIF")
    } else if at(head, 0, b"II*\x00") || at(head, 0, b"MM\x00*") {
        FileKind::known(Format::Image(Image::Tiff), "TIFF")
    } else if at(head, 0, b"RIFF") && at(head, 8, b"WEBP") {
        FileKind::known(Format::Image(Image::WebP), "WebP")
    } else if at(head, 0, b"BM")
        && le32(head, 2).is_some_and(|n| n as usize >= 26)
        && le32(head, 14).is_some_and(|n| [12, 40, 52, 56, 64, 108, 124].contains(&n))
    {
        FileKind::known(Format::Image(Image::Bmp), "BMP")
    } else if at(head, 0, b"\x00\x00\x01\x00")
        && le16(head, 4).is_some_and(|n| (1..=256).contains(&n))
        && head.get(9) == Some(&0)
    {
        FileKind::known(Format::Image(Image::Ico), "ICO")
    } else if at(head, 0, b"\x00\x01\x00\x00")
        && le16(head, 4).is_some_and(|n| n.swap_bytes() < 64)
        && mentions(&head[..head.len().min(512)], b"glyf")
    {
        FileKind::known(Format::Font(Font::TrueType), "TrueType font")
    } else if at(head, 0, b"OTTO") {
        FileKind::known(Format::Font(Font::OpenType), "OpenType font")
    } else if at(head, 0, b"true") && mentions(&head[..head.len().min(512)], b"glyf") {
        FileKind::known(Format::Font(Font::TrueType), "TrueType font")
    } else if at(head, 0, b"ttcf") {
        FileKind::known(
            Format::Font(Font::TrueTypeCollection),
            "TrueType collection",
        )
    } else if at(head, 0, b"wOFF") {
        FileKind::known(Format::Font(Font::Woff), "WOFF font")
    } else if at(head, 0, b"wOF2") {
        FileKind::known(Format::Font(Font::Woff2), "WOFF2 font")
    } else if at(head, 0, b"\xca\xfe\xba\xbe") {
        // Also the Mach-O universal magic: a class file has its version here (>= 45), a fat
        // Mach-O file a small architecture count.
        if u32_be(head, 4).is_some_and(|n| (1..20).contains(&n)) {
            FileKind::known(F::MachOUniversal, "Mach-O universal binary")
        } else {
            FileKind::known(F::JavaClass, "Java class")
        }
    } else if at(head, 0, b"dex\n") && head.get(7) == Some(&0) {
        FileKind::known(F::Dex, "Android DEX")
    } else {
        return None;
    };
    Some(kind)
}

/// A ZIP, or one of the formats built on ZIP, told apart by the names of its members.
fn zip_kind(data: &[u8]) -> FileKind {
    let office = |odf, doc, name| FileKind::known(Format::OfficeZip { odf, doc }, name);
    let archive = |name| FileKind::known(Format::Zip(ZipUse::Archive), name);
    // ODF stores its media type uncompressed as the first member, "mimetype".
    if at(data, 30, b"mimetypeapplication/vnd.oasis.opendocument.") {
        let rest = &data[30 + 43..data.len().min(30 + 43 + 40)];
        return if rest.starts_with(b"text") {
            office(true, OfficeDoc::Word, "OpenDocument text")
        } else if rest.starts_with(b"spreadsheet") {
            office(true, OfficeDoc::Excel, "OpenDocument spreadsheet")
        } else if rest.starts_with(b"presentation") {
            office(true, OfficeDoc::PowerPoint, "OpenDocument presentation")
        } else {
            office(true, OfficeDoc::Other, "OpenDocument")
        };
    }
    let has = |name: &[u8]| mentions(data, name);
    if has(b"[Content_Types].xml") {
        if has(b"word/document") || has(b"word/_rels") {
            return office(false, OfficeDoc::Word, "Office Open XML document");
        }
        if has(b"xl/workbook") || has(b"xl/_rels") {
            return office(false, OfficeDoc::Excel, "Office Open XML workbook");
        }
        if has(b"ppt/presentation") || has(b"ppt/_rels") {
            return office(false, OfficeDoc::PowerPoint, "Office Open XML presentation");
        }
        if has(b"visio/document") {
            return office(false, OfficeDoc::Visio, "Office Open XML drawing");
        }
    }
    if has(b"AndroidManifest.xml") && has(b"classes") {
        return FileKind::known(Format::Zip(ZipUse::Android), "Android APK");
    }
    if has(b"install.rdf") || has(b"META-INF/mozilla.rsa") {
        return archive("XPI");
    }
    if has(b".dist-info/WHEEL") {
        return archive("Python wheel");
    }
    if has(b"META-INF/MANIFEST.MF") || has(b".class") && !has(b"[Content_Types].xml") {
        return archive("JAR");
    }
    archive("ZIP")
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
        return FileKind::known(Format::Ole2(Ole2Use::Installer), "MSI");
    }
    let has = |name: &str| mentions(data, &utf16(name));
    let ole = |what, name| FileKind::known(Format::Ole2(what), name);
    if has("WordDocument") {
        ole(Ole2Use::Office(OfficeDoc::Word), "Word 97-2003 document")
    } else if has("Workbook") || has("Book\0") {
        ole(Ole2Use::Office(OfficeDoc::Excel), "Excel 97-2003 workbook")
    } else if has("PowerPoint Document") {
        ole(
            Ole2Use::Office(OfficeDoc::PowerPoint),
            "PowerPoint 97-2003 presentation",
        )
    } else if has("__substg1.0_") {
        ole(Ole2Use::OutlookMessage, "Outlook message")
    } else {
        ole(Ole2Use::Other, "OLE2 compound file")
    }
}

fn is_lzma_alone(head: &[u8]) -> bool {
    // lzma_alone: properties byte (lc/lp/pb, <= 224), a dictionary size, then the unpacked size,
    // which is -1 (unknown) or plausible. xz-utils writes 0x5d and a power-of-two-ish dictionary.
    let (Some(&props), Some(dict)) = (head.first(), le32(head, 1)) else {
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
        return Some(pe(data).unwrap_or(FileKind::known(Format::Dos, "MS-DOS executable")));
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
    let pe_at = le32(data, 0x3c)? as usize;
    if data.get(pe_at..pe_at.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let characteristics = le16(data, pe_at + 22)?;
    let opt = pe_at + 24;
    let plus = match le16(data, opt)? {
        0x10b => false,
        0x20b => true,
        _ => return None,
    };
    let subsystem = le16(data, opt + 68).unwrap_or(0);
    // Data directory 14 (CLR runtime header) is set for .NET assemblies.
    let dirs = opt + if plus { 112 } else { 96 };
    // The CLR header's directory counts only where the header declares that many directories
    // (Upack's header declares 10 and keeps code where the 15th would be).
    let ndirs = le32(data, opt + if plus { 108 } else { 92 }).unwrap_or(0);
    let dotnet = ndirs > 14 && le32(data, dirs + 14 * 8).is_some_and(|rva| rva != 0);
    use PeRole as R;
    let (role, name) = match (characteristics & 0x2000 != 0, subsystem, plus, dotnet) {
        (_, 10..=13, false, _) => (R::Efi, "PE32 EFI application"),
        (_, 10..=13, true, _) => (R::Efi, "PE32+ EFI application"),
        (true, _, false, true) => (R::Dll, "PE32 .NET DLL"),
        (true, _, true, true) => (R::Dll, "PE32+ .NET DLL"),
        (true, _, false, false) => (R::Dll, "PE32 DLL"),
        (true, _, true, false) => (R::Dll, "PE32+ DLL"),
        (false, 1, false, _) => (R::Driver, "PE32 driver"),
        (false, 1, true, _) => (R::Driver, "PE32+ driver"),
        (false, _, false, true) => (R::Exe, "PE32 .NET executable"),
        (false, _, true, true) => (R::Exe, "PE32+ .NET executable"),
        (false, _, false, false) => (R::Exe, "PE32 executable"),
        (false, _, true, false) => (R::Exe, "PE32+ executable"),
    };
    // A packer assay restores routes the file to its restorer. yoda's Crypter and Protector wrap
    // UPX-packed files and keep their UPX sections: the outer layer is named first. UPX names
    // its sections UPX0/UPX1 or leaves its pack header before the packed data; such files go to
    // the UPX decompressor. Other packers' marks do not stop UPX restoring a UPX-packed file.
    let packed = formats::pe::Image::parse(data, &mut Vec::new())
        .ok()
        .and_then(|img| formats::packers::recognise(&img));
    let (wrap, packer) = match packed {
        Some((p, true)) => (PeWrap::Packed, Some(p.name())),
        Some((p @ (Packer::YodasCrypter | Packer::YodasProtector), false)) => {
            (PeWrap::Plain, Some(p.name()))
        }
        _ if formats::upx::detect(data) => (PeWrap::Upx, Some("UPX")),
        _ => match installer(data) {
            Some(NSIS) => (PeWrap::Nsis, Some(NSIS)),
            Some(name) if name.starts_with("AutoIt") => (PeWrap::AutoIt, Some(name)),
            None if formats::installshield::find(data).is_some() => {
                (PeWrap::InstallShield, Some("InstallShield setup"))
            }
            other => (PeWrap::Plain, other.or(packed.map(|(p, _)| p.name()))),
        },
    };
    let mut kind = FileKind::known(Format::Pe { plus, role, wrap }, name);
    kind.packer = packer;
    Some(kind)
}

/// The name an NSIS installer is identified by.
const NSIS: &str = "NSIS installer";

/// Self-extracting installers, by the markers their stubs look for in the overlay.
fn installer(data: &[u8]) -> Option<&'static str> {
    const MARKERS: &[(&[u8], &str)] = &[
        (b"\xef\xbe\xad\xdeNullsoftInst", NSIS),
        (b"AU3!EA06", "AutoIt v3 script (EA06)"),
        (b"AU3!EA05", "AutoIt v3 script (EA05)"),
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
    let (role, name) = match e_type {
        Some(1) => (ElfRole::Relocatable, "ELF relocatable"),
        Some(2) => (ElfRole::Exe, "ELF executable"),
        Some(3) => {
            // A PIE executable is ET_DYN too; an interpreter segment tells it from a library.
            if memmem::find(&data[..data.len().min(4096)], b"/ld-").is_some() {
                (ElfRole::Exe, "ELF executable (PIE)")
            } else {
                (ElfRole::SharedObject, "ELF shared object")
            }
        }
        Some(4) => (ElfRole::Core, "ELF core dump"),
        _ => (ElfRole::Other, "ELF"),
    };
    // UPX leaves its pack header at the end of the file (found even with its magic wiped).
    let upx = formats::upx::detect(data);
    let mut kind = FileKind::known(Format::Elf { role, upx }, name);
    if upx {
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
    let (role, name) = match filetype {
        Some(1) => (MachORole::Object, "Mach-O object"),
        Some(2) => (MachORole::Exe, "Mach-O executable"),
        Some(4) => (MachORole::Core, "Mach-O core dump"),
        Some(6) => (MachORole::Dylib, "Mach-O dynamic library"),
        Some(8) => (MachORole::Bundle, "Mach-O bundle"),
        _ => (MachORole::Other, "Mach-O"),
    };
    FileKind::known(Format::MachO(role), name)
}
/// True when lower-cased text `t` opens with an element only HTML has (`<a href=`, `<div>`,
/// `<iframe`): a page fragment without `<html>` or `<body>`, as droppers write them.
fn starts_with_html_element(t: &[u8]) -> bool {
    const ELEMENTS: &[&[u8]] = &[
        b"a",
        b"b",
        b"i",
        b"u",
        b"p",
        b"br",
        b"hr",
        b"h1",
        b"h2",
        b"h3",
        b"h4",
        b"h5",
        b"h6",
        b"ul",
        b"ol",
        b"li",
        b"div",
        b"span",
        b"img",
        b"iframe",
        b"frameset",
        b"frame",
        b"table",
        b"form",
        b"input",
        b"meta",
        b"link",
        b"style",
        b"title",
        b"object",
        b"embed",
        b"center",
        b"font",
        b"pre",
        b"noscript",
        b"applet",
        b"base",
    ];
    let Some(rest) = t.strip_prefix(b"<") else {
        return false;
    };
    let end = rest
        .iter()
        .position(|c| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let follows = rest.get(end).copied();
    ELEMENTS.contains(&&rest[..end])
        && matches!(follows, Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'))
}

/// What identification reads of a file's name: what follows its last dot, lower case.
pub(crate) fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Text formats: markup, data, mail and scripts, then plain text; otherwise an unknown binary.
fn text(head: &[u8], whole: bool, name: &str) -> FileKind {
    if head.is_empty() {
        return FileKind::known(Format::Empty, "Empty file");
    }
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return FileKind::known(Format::Text(Text::Plain), "UTF-16 text");
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
        return FileKind {
            format: Format::Unknown,
            name: None,
            packer: None,
        };
    }
    let lower: Vec<u8> = body.iter().take(4096).map(u8::to_ascii_lowercase).collect();
    let start = lower
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let t = &lower[start..];
    let has = |w: &[u8]| memmem::find(t, w).is_some();
    let ext = extension(name);

    if t.starts_with(b"#!") {
        let line = t.split(|&b| b == b'\n').next().unwrap_or(b"");
        let on = |w: &[u8]| memmem::find(line, w).is_some();
        return if on(b"python") {
            FileKind::known(Format::Text(Text::Python), "Python script")
        } else if on(b"perl") {
            FileKind::known(Format::Text(Text::Perl), "Perl script")
        } else if on(b"node") || on(b"deno") {
            FileKind::known(Format::Text(Text::JavaScript), "JavaScript")
        } else if on(b"pwsh") || on(b"powershell") {
            FileKind::known(Format::Text(Text::PowerShell), "PowerShell script")
        } else if on(b"ruby") {
            FileKind::known(Format::Text(Text::Ruby), "Ruby script")
        } else {
            FileKind::known(Format::Text(Text::Shell), "Shell script")
        };
    }
    if formats::binhex::detect(head) {
        return FileKind::known(Format::BinHex, "BinHex 4.0");
    }
    if formats::mime::looks_like_mbox(body) {
        return FileKind::known(Format::Mbox, "mbox");
    }
    if formats::mime::looks_like_message(body) {
        return if has(b"\nmime-version:")
            || t.starts_with(b"mime-version:")
            || has(b"\ncontent-type: multipart/")
        {
            FileKind::known(Format::Email, "MIME message")
        } else {
            FileKind::known(Format::Email, "RFC822 message")
        };
    }
    if formats::uuencode::find_begin(body).is_some() {
        return FileKind::known(Format::Uuencode, "uuencode");
    }
    if t.starts_with(b"<!doctype html")
        || t.starts_with(b"<html")
        || (t.starts_with(b"<")
            && (has(b"<html") || has(b"<body") || has(b"<script") || has(b"<head>")))
            && !t.starts_with(b"<?xml")
        || starts_with_html_element(t)
    {
        return FileKind::known(Format::Text(Text::Html), "HTML");
    }
    if t.starts_with(b"<svg") || (t.starts_with(b"<?xml") && has(b"<svg")) {
        return FileKind::known(Format::Image(Image::Svg), "SVG");
    }
    if t.starts_with(b"<?xml") {
        if has(b"<html") {
            return FileKind::known(Format::Text(Text::Html), "XHTML");
        }
        return FileKind::known(Format::Text(Text::Xml), "XML");
    }
    if (t.starts_with(b"{") || t.starts_with(b"["))
        && (if whole {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
        } else {
            t.starts_with(b"{\"") || t.starts_with(b"[{") || t.starts_with(b"[\"")
        })
    {
        return FileKind::known(Format::Text(Text::Json), "JSON");
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
            FileKind::known(Format::Text(Text::PowerShell), "PowerShell script"),
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
            FileKind::known(Format::Text(Text::VbScript), "VBScript"),
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
            FileKind::known(Format::Text(Text::Batch), "Batch script"),
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
            FileKind::known(Format::Text(Text::JavaScript), "JavaScript"),
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
            FileKind::known(Format::Text(Text::Python), "Python script"),
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
            FileKind::known(Format::Text(Text::Perl), "Perl script"),
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
        return FileKind::known(Format::Text(Text::Shell), "Shell script");
    }
    if !valid {
        return FileKind::known(Format::Text(Text::Plain), "Text (8-bit)");
    }
    FileKind::known(Format::Text(Text::Plain), "Text")
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
    fn every_format_has_its_wire_strings() {
        let all = every_format();
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "listed once each");
        for f in all {
            assert!(
                !f.file_type().is_empty() && !f.file_subtype().is_empty(),
                "{f:?}"
            );
        }
    }

    #[test]
    fn pe_variants() {
        assert_eq!(
            id(&pe_image(0x0102, 0x10b, 2)).name,
            Some("PE32 executable")
        );
        let dll = id(&pe_image(0x2102, 0x20b, 2));
        assert_eq!((dll.file_type(), dll.file_subtype()), ("PE+", "Dll"));
        assert_eq!(id(&pe_image(0x0102, 0x20b, 1)).file_subtype(), "Driver");
        assert_eq!(id(&pe_image(0x0102, 0x20b, 10)).file_subtype(), "EFI");
        let mut net = pe_image(0x0102, 0x10b, 3);
        net[0x80 + 24 + 96 + 14 * 8] = 0x08;
        // The CLR directory counts only where the header declares it (Upack declares 10 and
        // keeps code there).
        net[0x80 + 24 + 92] = 10;
        assert_eq!(id(&net).name, Some("PE32 executable"));
        net[0x80 + 24 + 92] = 16;
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
        assert_eq!(id(&h).file_subtype(), "SharedObject");
        h[16] = 2;
        assert_eq!(id(&h).name, Some("ELF executable"));
        h[16] = 1;
        assert_eq!(id(&h).file_subtype(), "Relocatable");
        h[16] = 4;
        assert_eq!(id(&h).file_subtype(), "Core");
        let mut m = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00".to_vec();
        m.extend_from_slice(&6u32.to_le_bytes());
        assert_eq!(id(&m).file_subtype(), "Dylib");
        let mut java = b"\xca\xfe\xba\xbe\x00\x00\x00\x34".to_vec();
        assert_eq!(id(&java).name, Some("Java class"));
        java[4..8].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(id(&java).file_subtype(), "Universal");
        assert_eq!(id(b"dex\n035\0rest").name, Some("Android DEX"));
    }

    #[test]
    fn containers_and_documents() {
        assert_eq!(id(b"PK\x03\x04rest").name, Some("ZIP"));
        assert_eq!(id(b"\x1f\x8b\x08\x00").format, Format::Gzip);
        assert_eq!(id(b"%PDF-1.7\n").file_subtype(), "PDF");
        assert_eq!(id(b"junk\n%PDF-1.7\n").file_subtype(), "PDF");
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
        assert_eq!(id(b"{\\rtf1\\ansi").format, Format::Rtf);
        assert_eq!(id(b"{\\rtxa\\ansi").format, Format::Rtf);
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
        assert_eq!(id(&docx).file_subtype(), "Word");
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
        assert_eq!(id(b"#!/usr/bin/env python3\n").file_subtype(), "Python");
        assert_eq!(id(b"  <!DOCTYPE html><html>").file_subtype(), "HTML");
        assert_eq!(
            id(b"<?xml version=\"1.0\"?><svg></svg>").file_subtype(),
            "SVG"
        );
        assert_eq!(id(b"<?xml version=\"1.0\"?><a/>").file_subtype(), "XML");
        assert_eq!(id(b"{\"a\": [1, 2]}").file_subtype(), "JSON");
        assert_eq!(id(b"{not json").file_subtype(), "None");
        assert_eq!(id(b"hello world\n").file_type(), "Text");
        assert_eq!(id(b"\x00\x01\x02\x03\xfe\xff").file_type(), "Binary");
        assert_eq!(id(b"").name, Some("Empty file"));
        let mail = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody";
        assert_eq!(id(mail).name, Some("RFC822 message"));
        let mime =
            b"MIME-Version: 1.0\nFrom: a@b.c\nContent-Type: multipart/mixed; boundary=x\n\n--x";
        assert_eq!(id(mime).name, Some("MIME message"));
        let mbox = b"From a@b.c Mon Jan  1 00:00:00 2024\nFrom: a@b.c\nSubject: x\n\nhi\n";
        assert_eq!(id(mbox).name, Some("mbox"));
        assert_eq!(
            id(b"begin 644 eicar.com\n`\nend\n").format,
            Format::Uuencode
        );
        assert_eq!(
            id(b"(This file must be converted with BinHex 4.0)\n:abc").name,
            Some("BinHex 4.0")
        );
        assert_eq!(
            id(b"$a = New-Object Net.WebClient\nInvoke-Expression $a\nWrite-Host 1").file_subtype(),
            "PowerShell"
        );
        assert_eq!(
            id(b"Set o = CreateObject(\"WScript.Shell\")\nDim x\n").file_subtype(),
            "VBScript"
        );
        assert_eq!(
            id(b"@echo off\nset x=1\ngoto :end\n").file_subtype(),
            "Batch"
        );
        assert_eq!(
            id(b"var x = document.getElementById('a');\nfunction f() {}\n").file_subtype(),
            "JavaScript"
        );
        // The name is a hint for text only: a PE named .txt is still a PE.
        assert_eq!(
            identify(&pe_image(0x0102, 0x10b, 2), "a.txt").file_type(),
            "PE"
        );
        assert_eq!(identify(b"x = 1\n", "run.ps1").file_subtype(), "None");
    }

    #[test]
    fn images_and_fonts() {
        assert_eq!(id(b"\x89PNG\r\n\x1a\n....").name, Some("PNG"));
        assert_eq!(id(b"GIF89a....").name, Some("GIF"));
        assert_eq!(id(b"RIFF\0\0\0\0WEBPVP8 ").name, Some("WebP"));
        assert_eq!(id(b"wOFF\0\x01\0\0").file_type(), "Font");
        assert_eq!(id(b"OTTO\0\x0a\0\x80").file_type(), "Font");
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&100u32.to_le_bytes());
        bmp.extend_from_slice(&[0; 8]);
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(id(&bmp).name, Some("BMP"));
        assert_eq!(id(b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0").name, Some("ICO"));
    }
}
