//! Every format assay parses, in one table keyed by [`Format`]: how a file of that format is taken
//! apart into members (`unpack`, from `formats/`) and how it is described (`describe`: metadata,
//! heuristics and story facts, from `inspect/`). [`parser`] is one `match` over the enum, so a new
//! format variant does not compile until it says what reads it.
//!
//! [`fuzz_one`] runs one registered parser both ways over arbitrary bytes: the body of every fuzz
//! target under `fuzz/`, one target per parser ([`FUZZ_TARGETS`]).

use std::time::Duration;

use super::formats::{self, Budget, Deadline, Handler, Members};
use super::identify::{identify, ElfRole, FileKind, Format, Ole2Use, PeRole, PeWrap, Text};
use super::inspect::{self, Inspection, Inspector};
use super::warning::Problem;

/// What reads one format.
pub struct Parser {
    /// The format as warnings name it ("the PDF metadata reader failed").
    pub name: &'static str,
    /// Finds the members of a container and hands them to [`Members`].
    pub unpack: Option<Handler>,
    /// Reads the format's metadata and raises its heuristics.
    pub describe: Option<Inspector>,
    /// Both at once over one parse, for a format whose parse is worth sharing (the walk uses it
    /// when it unpacks the file; `describe` alone when it does not).
    pub both: Option<Both>,
}

/// Describes and unpacks a file over one parse of it.
pub type Both = for<'a> fn(&'a [u8], &FileKind, &mut Inspection, &mut Members<'a>);

const fn unpack_only(name: &'static str, unpack: Handler) -> Parser {
    Parser {
        name,
        unpack: Some(unpack),
        describe: None,
        both: None,
    }
}

static PE: Parser = Parser {
    name: "PE",
    unpack: Some(plain_pe),
    describe: Some(inspect::pe::inspect),
    both: None,
};
static PE_UPX: Parser = Parser {
    name: "PE",
    unpack: Some(formats::upx::unpack_pe_file),
    describe: Some(inspect::pe::inspect),
    both: None,
};
static PE_PACKED: Parser = Parser {
    name: "PE",
    unpack: Some(packed_pe),
    describe: Some(inspect::pe::inspect),
    both: Some(describe_and_restore_pe),
};
static PE_NSIS: Parser = Parser {
    name: "NSIS",
    unpack: Some(nsis_setup),
    describe: Some(inspect::pe::inspect),
    both: None,
};
static PE_AUTOIT: Parser = Parser {
    name: "AutoIt",
    unpack: Some(autoit_script),
    describe: Some(inspect::pe::inspect),
    both: None,
};
static PE_INSTALLSHIELD: Parser = Parser {
    name: "InstallShield",
    unpack: Some(installshield_setup),
    describe: Some(inspect::pe::inspect),
    both: None,
};
/// A PE file's resources, section data and overlay; a packer assay recognises but does not
/// restore is named in a warning first.
fn plain_pe<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let Ok(img) = formats::pe::Image::parse(data, &mut Vec::new()) else {
        return formats::pe::unpack(data, out);
    };
    if let Some(packer) = formats::packers::unrestored(&img) {
        out.warn(
            Problem::Unsupported,
            formats::packers::unrestored_warning(packer),
        );
    }
    formats::pe::unpack_image(&img, true, out);
}

/// A packed PE file's original program, then the packed file's own resources, section data and
/// overlay (what is appended to a packed program is not packed: an installer's data, an
/// archive).
fn packed_pe<'a>(data: &'a [u8], out: &mut Members<'a>) {
    formats::packers::unpack(data, out);
    formats::pe::unpack(data, out);
}

/// [`packed_pe`] with the PE's description: a packer whose restoration failed is an indicator
/// too, as one assay does not restore is.
fn describe_and_restore_pe<'a>(
    data: &'a [u8],
    kind: &FileKind,
    found: &mut Inspection,
    out: &mut Members<'a>,
) {
    inspect::pe::inspect(data, kind, found);
    if !formats::packers::unpack(data, out) {
        let packer = formats::pe::Image::parse(data, &mut Vec::new())
            .ok()
            .and_then(|img| formats::packers::packer(&img));
        let name = packer.map_or("a packer", |p| p.name());
        found.fire(
            inspect::pe::PACKED_NOT_RESTORED,
            vec![format!("packed with {name}; restoring it failed")],
        );
    }
    formats::pe::unpack(data, out);
}

/// A wrapper's reader, then the PE's own resources and section data (and its overlay when the
/// reader found nothing): a marker alone must not hide a payload stored beside the wrapper.
fn beside_pe<'a>(reader: Handler, data: &'a [u8], out: &mut Members<'a>) {
    let before = out.members.len();
    reader(data, out);
    formats::pe::unpack_beside_wrapper(data, out.members.len() > before, out);
}

fn nsis_setup<'a>(data: &'a [u8], out: &mut Members<'a>) {
    beside_pe(formats::nsis::unpack, data, out);
}

fn autoit_script<'a>(data: &'a [u8], out: &mut Members<'a>) {
    beside_pe(formats::autoit::unpack, data, out);
}

fn installshield_setup<'a>(data: &'a [u8], out: &mut Members<'a>) {
    beside_pe(formats::installshield::unpack, data, out);
}

static ELF: Parser = Parser {
    name: "ELF",
    unpack: None,
    describe: Some(inspect::elf::inspect),
    both: None,
};
static ELF_UPX: Parser = Parser {
    name: "ELF",
    unpack: Some(formats::upx::unpack),
    describe: Some(inspect::elf::inspect),
    both: None,
};
static MACHO: Parser = Parser {
    name: "Mach-O",
    unpack: None,
    describe: Some(inspect::macho::inspect),
    both: None,
};
static ZIP: Parser = unpack_only("ZIP", formats::zip::unpack);
static OFFICE_ZIP: Parser = Parser {
    name: "Office Open XML",
    unpack: Some(formats::zip::unpack),
    describe: Some(inspect::ooxml::inspect),
    both: Some(inspect::ooxml::inspect_and_unpack),
};
static GZIP: Parser = unpack_only("GZIP", formats::stream::gunzip);
static BZIP2: Parser = unpack_only("BZIP2", formats::stream::bunzip2);
static XZ: Parser = unpack_only("XZ", formats::stream::unxz);
static LZMA: Parser = unpack_only("LZMA", formats::stream::unlzma);
static ZSTD: Parser = unpack_only("ZSTD", formats::stream::unzstd);
static UNARC: Parser = unpack_only("archive", formats::unarc::unpack);
static TAR: Parser = unpack_only("TAR", formats::tar::unpack);
static CPIO: Parser = unpack_only("CPIO", formats::cpio::unpack);
static AR: Parser = unpack_only("AR", formats::ar::unpack);
static SIS: Parser = unpack_only("SIS", formats::sis::unpack);
static INSTALLSHIELD_CAB: Parser = unpack_only(
    "InstallShield cabinet",
    formats::installshield::unpack_cabinet,
);
static ISO9660: Parser = unpack_only("ISO 9660", formats::iso9660::unpack);
static CHM: Parser = unpack_only("CHM", formats::chm::unpack);
static SZDD: Parser = unpack_only("SZDD", formats::szdd::unpack);
static OLE2: Parser = unpack_only("OLE2", formats::ole2::unpack);
static OLE2_DOCUMENT: Parser = Parser {
    name: "OLE2 document",
    unpack: Some(formats::ole2::unpack),
    describe: Some(inspect::ole2::inspect),
    both: Some(inspect::ole2::inspect_and_unpack),
};
static TNEF: Parser = unpack_only("TNEF", formats::tnef::unpack);
static RTF: Parser = Parser {
    name: "RTF",
    unpack: Some(formats::rtf::unpack),
    describe: Some(inspect::rtf::inspect),
    both: None,
};
static PDF: Parser = Parser {
    name: "PDF",
    unpack: Some(formats::pdf::unpack),
    describe: Some(inspect::pdf::inspect),
    // Not shared: the description reads the object streams under a budget of its own, so that
    // a task's spent byte budget cannot hide their objects from the heuristics.
    both: None,
};
static EMAIL: Parser = Parser {
    name: "email",
    unpack: Some(formats::mime::unpack),
    describe: Some(inspect::mime::inspect),
    both: None,
};
static MBOX: Parser = unpack_only("mbox", formats::mime::unpack_mbox);
static UUENCODE: Parser = unpack_only("uuencode", formats::uuencode::unpack);
static BINHEX: Parser = unpack_only("BinHex", formats::binhex::unpack);
static HTML: Parser = unpack_only("HTML", formats::html::unpack);

/// What reads `format`; `None` for formats assay identifies but neither unpacks nor describes
/// (images, fonts, text).
pub fn parser(format: Format) -> Option<&'static Parser> {
    use Format as F;
    Some(match format {
        F::Pe {
            wrap: PeWrap::Plain,
            ..
        } => &PE,
        F::Pe {
            wrap: PeWrap::Upx, ..
        } => &PE_UPX,
        F::Pe {
            wrap: PeWrap::Nsis, ..
        } => &PE_NSIS,
        F::Pe {
            wrap: PeWrap::AutoIt,
            ..
        } => &PE_AUTOIT,
        F::Pe {
            wrap: PeWrap::InstallShield,
            ..
        } => &PE_INSTALLSHIELD,
        F::Pe {
            wrap: PeWrap::Packed,
            ..
        } => &PE_PACKED,
        F::Elf { upx: false, .. } => &ELF,
        F::Elf { upx: true, .. } => &ELF_UPX,
        F::MachO(_) | F::MachOUniversal => &MACHO,
        F::Zip(_) => &ZIP,
        F::OfficeZip { .. } => &OFFICE_ZIP,
        F::Gzip => &GZIP,
        F::Bzip2 => &BZIP2,
        F::Xz => &XZ,
        F::Lzma => &LZMA,
        F::Zstd => &ZSTD,
        F::Unarc => &UNARC,
        F::Tar => &TAR,
        F::Cpio => &CPIO,
        F::Ar | F::Deb => &AR,
        F::Sis => &SIS,
        F::InstallShieldCab => &INSTALLSHIELD_CAB,
        F::Iso9660 => &ISO9660,
        F::Chm => &CHM,
        F::Szdd => &SZDD,
        // An installer database and an Outlook message have streams but no document metadata.
        F::Ole2(Ole2Use::Installer | Ole2Use::OutlookMessage) => &OLE2,
        F::Ole2(Ole2Use::Office(_) | Ole2Use::Other) => &OLE2_DOCUMENT,
        F::Tnef => &TNEF,
        F::Rtf => &RTF,
        F::Pdf => &PDF,
        F::Email => &EMAIL,
        F::Mbox => &MBOX,
        F::Uuencode => &UUENCODE,
        F::BinHex => &BINHEX,
        F::Text(Text::Html) => &HTML,
        F::Dos
        | F::Image(_)
        | F::Font(_)
        | F::JavaClass
        | F::Dex
        | F::Text(_)
        | F::Empty
        | F::Unknown
        | F::Unidentified => return None,
    })
}

/// One fuzz target per parser: the target's name (its file under `fuzz/fuzz_targets/`) and a
/// format that [`parser`] routes to that parser.
pub const FUZZ_TARGETS: &[(&str, Format)] = &[
    (
        "pe",
        Format::Pe {
            plus: false,
            role: PeRole::Exe,
            wrap: PeWrap::Plain,
        },
    ),
    (
        "upx_pe",
        Format::Pe {
            plus: false,
            role: PeRole::Exe,
            wrap: PeWrap::Upx,
        },
    ),
    (
        "nsis",
        Format::Pe {
            plus: false,
            role: PeRole::Exe,
            wrap: PeWrap::Nsis,
        },
    ),
    (
        "autoit",
        Format::Pe {
            plus: false,
            role: PeRole::Exe,
            wrap: PeWrap::AutoIt,
        },
    ),
    (
        "installshield",
        Format::Pe {
            plus: false,
            role: PeRole::Exe,
            wrap: PeWrap::InstallShield,
        },
    ),
    (
        "packed_pe",
        Format::Pe {
            plus: false,
            role: PeRole::Exe,
            wrap: PeWrap::Packed,
        },
    ),
    (
        "elf",
        Format::Elf {
            role: ElfRole::Exe,
            upx: false,
        },
    ),
    (
        "upx",
        Format::Elf {
            role: ElfRole::Exe,
            upx: true,
        },
    ),
    ("macho", Format::MachOUniversal),
    ("zip", Format::Zip(super::identify::ZipUse::Archive)),
    (
        "ooxml",
        Format::OfficeZip {
            odf: false,
            doc: super::identify::OfficeDoc::Word,
        },
    ),
    ("gzip", Format::Gzip),
    ("bzip2", Format::Bzip2),
    ("xz", Format::Xz),
    ("lzma", Format::Lzma),
    ("zstd", Format::Zstd),
    ("unarc", Format::Unarc),
    ("tar", Format::Tar),
    ("cpio", Format::Cpio),
    ("ar", Format::Ar),
    ("sis", Format::Sis),
    ("installshield_cab", Format::InstallShieldCab),
    ("iso9660", Format::Iso9660),
    ("chm", Format::Chm),
    ("szdd", Format::Szdd),
    ("ole2", Format::Ole2(Ole2Use::Installer)),
    ("ole2_document", Format::Ole2(Ole2Use::Other)),
    ("tnef", Format::Tnef),
    ("rtf", Format::Rtf),
    ("pdf", Format::Pdf),
    ("mime", Format::Email),
    ("mbox", Format::Mbox),
    ("uuencode", Format::Uuencode),
    ("binhex", Format::BinHex),
    ("html", Format::Text(Text::Html)),
];

/// Runs the parser of fuzz target `target` over arbitrary bytes, every way, outside the guard
/// that keeps a parser's panic from ending an analysis (so that the fuzzer sees it): unpacking
/// under fixed budgets, checking what comes out stays inside them, then describing, then both
/// over one parse when the format shares its parse. The
/// description is given the identification of the bytes with the target's format, as the walk
/// would give it (a reader must take any input without panicking, not only its own format's).
pub fn fuzz_one(target: &str, data: &[u8]) {
    const MAX_OUTPUT: u64 = 64 * 1024 * 1024;
    let (_, format) = FUZZ_TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target is registered as {target:?}"));
    let parser = parser(*format).expect("every fuzz target names a parsed format");
    let budget = || Budget {
        max_output: MAX_OUTPUT,
        max_members: 10_000,
        max_ratio: 100,
        deadline: Deadline::after(Duration::from_secs(10)),
        passwords: vec!["infected".into()],
    };
    let check = |out: &Members| {
        let total: u64 = out.members.iter().map(|m| m.data.len() as u64).sum();
        assert!(total <= MAX_OUTPUT, "{target} yielded {total} bytes");
        assert!(out.members.len() <= 10_000);
    };
    if let Some(unpack) = parser.unpack {
        let mut out = Members::new(budget());
        unpack(data, &mut out);
        check(&out);
    }
    let mut kind = identify(data, "fuzz");
    kind.format = *format;
    if let Some(describe) = parser.describe {
        describe(data, &kind, &mut Inspection::default());
    }
    if let Some(both) = parser.both {
        let mut out = Members::new(budget());
        both(data, &kind, &mut Inspection::default(), &mut out);
        check(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_file_whose_restoration_fails_is_an_indicator() {
        let path = "/usr/share/clamav-testfiles/clam-aspack.exe";
        let mut data = std::fs::read(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (install clamav-testfiles; .ci/run does)"));
        let kind = identify(&data, "clam-aspack.exe");
        let both = parser(kind.format).and_then(|p| p.both).unwrap();
        let ids = |data: &[u8]| {
            let mut found = Inspection::default();
            let mut out = Members::new(Budget::unlimited());
            both(data, &kind, &mut found, &mut out);
            let ids: Vec<&str> = found.findings.iter().map(|f| f.heuristic.id).collect();
            (ids.contains(&"pe-packed-not-restored"), out.warnings.len())
        };
        assert_eq!(ids(&data), (false, 2), "restored: no indicator");
        // The packed sections' data (file offsets 0x600 to 0xc00) destroyed: the stub is still
        // recognised, the data does not decode.
        data[0x600..0xc00].fill(0xff);
        let (fired, _) = ids(&data);
        assert!(fired, "a failed restoration fires pe-packed-not-restored");
    }

    #[test]
    fn a_packed_file_gives_its_restored_program_and_what_is_appended_to_it() {
        let path = "/usr/share/clamav-testfiles/clam-aspack.exe";
        let mut data = std::fs::read(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (install clamav-testfiles; .ci/run does)"));
        data.extend_from_slice(b"appended installer data");
        let out = formats::testing::run(packed_pe, &data);
        let names: Vec<&str> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["unpacked.exe", "overlay"], "{:?}", out.warnings);
        assert_eq!(&out.members[1].data[..], b"appended installer data");
    }

    #[test]
    fn every_parser_has_a_fuzz_target_and_every_target_a_file() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        // Every parser reachable from some format, once each.
        let mut all: Vec<&Parser> = Vec::new();
        for f in crate::analysis::identify::every_format() {
            if let Some(p) = parser(f) {
                if !all.iter().any(|q| std::ptr::eq(*q, p)) {
                    all.push(p);
                }
            }
        }
        for p in &all {
            let covered = FUZZ_TARGETS
                .iter()
                .any(|(_, f)| parser(*f).is_some_and(|q| std::ptr::eq(*p, q)));
            assert!(covered, "the {} parser has no fuzz target", p.name);
        }
        assert_eq!(FUZZ_TARGETS.len(), all.len(), "one target per parser");
        for (name, _) in FUZZ_TARGETS {
            let body = std::fs::read_to_string(fuzz.join(format!("fuzz_targets/{name}.rs")))
                .unwrap_or_else(|e| panic!("fuzz target {name}: {e}"));
            assert!(
                body.contains(&format!("fuzz_one({name:?}, data)")),
                "{name}"
            );
            assert!(
                manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
                "fuzz/Cargo.toml lacks {name}"
            );
        }
    }

    #[test]
    fn every_parser_takes_truncated_and_foreign_input_without_panicking() {
        // Each disagreement fixture and golden sample, cut at many lengths, through every parser
        // both ways (the fuzz targets' body, outside the guard): a panic fails the test.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), vec![0xff; 64], b"MZ".to_vec()];
        for entry in std::fs::read_dir(root.join("tests/data/disagree")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e != "md") {
                let data = std::fs::read(path).unwrap();
                inputs.extend((0..data.len()).step_by(7).map(|n| data[..n].to_vec()));
                inputs.push(data);
            }
        }
        assert!(inputs.len() > 100, "the fixtures are there");
        for (target, _) in FUZZ_TARGETS {
            for data in &inputs {
                fuzz_one(target, data);
            }
        }
    }

    fn data(path: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
    }

    #[test]
    fn a_wrapper_marker_does_not_hide_what_the_pe_carries_beside_it() {
        // app32.exe carries an RCDATA resource; a stray AutoIt marker and junk in its overlay
        // route it to the AutoIt reader, which finds no script: the resource and the overlay
        // still come out, and the reader says what it did not find.
        let mut exe = data("tests/data/pe/app32.exe");
        exe.extend_from_slice(b"AU3!EA06 and sixteen bytes, then no record at all");
        let kind = identify(&exe, "x.exe");
        assert!(matches!(
            kind.format,
            Format::Pe {
                wrap: PeWrap::AutoIt,
                ..
            }
        ));
        let mut out = Members::new(Budget::unlimited());
        (parser(kind.format).unwrap().unpack.unwrap())(&exe, &mut out);
        let names: Vec<&str> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert!(names.contains(&"resources/RCDATA/101/1033"), "{names:?}");
        assert!(names.contains(&"overlay"), "{names:?}");
        assert!(out.warnings.iter().any(|w| w.text.contains("no record")));
    }

    #[test]
    fn another_packers_mark_does_not_stop_upx_restoring() {
        let mut packed = data("tests/data/upx/pe32-f11.upx.exe");
        let pe = crate::analysis::bytes::le32(&packed, 0x3c).unwrap() as usize;
        let opt = usize::from(crate::analysis::bytes::le16(&packed, pe + 20).unwrap());
        // The third section (after UPX0 and UPX1) renamed as ASPack names its own.
        let third = pe + 24 + opt + 2 * 40;
        packed[third..third + 8].copy_from_slice(b".adata\0\0");
        let kind = identify(&packed, "x.exe");
        assert!(
            matches!(
                kind.format,
                Format::Pe {
                    wrap: PeWrap::Upx,
                    ..
                }
            ),
            "{kind:?}"
        );
    }
}
