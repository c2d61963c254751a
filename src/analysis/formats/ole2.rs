//! OLE2 compound files (MS-CFB): Word/Excel/PowerPoint 97-2003 documents, MSI installers and
//! Outlook messages. Every stream becomes a member named by its path inside the file, except the
//! property-set and bookkeeping streams (names starting with \x01 or \x05) and MSI's database
//! tables. MSI stream names are stored mangled; they are decoded, so an MSI's embedded cabinet
//! appears under its real name (and is then unpacked as a CAB).
//!
//! Embedded objects: an object inserted into a document lives in a storage of its own
//! (`ObjectPool/_1279313719` in Word) whose `\x01Ole10Native` stream holds the OLE1 native data
//! ([`super::ole1`]); for a Packager object that is a whole file, taken out under its own name
//! (`ObjectPool/_1279313719/invoice.exe`), else the native data (`.../Ole10Native.bin`). And any
//! stream that holds a complete PE file after its first byte gives that file too
//! ([`super::pe::carve`]: only valid headers, the length from them). PowerPoint keeps its
//! embedded objects inside the `PowerPoint Document` stream instead, as `ExOleObjStg` records
//! ([MS-PPT] 2.10.34), zlib-compressed compound files: each is a member
//! (`PowerPoint Document/object-1.ole`), unpacked in its turn like any compound file.

use std::borrow::Cow;
use std::io::{Cursor, Read};

use super::msi;
use super::ole1::Package;
use super::{printable, Members, ReadStop};
use crate::analysis::warning::Problem;

/// Most directory entries walked.
const MAX_ENTRIES: usize = 100_000;

/// A compound file opened for reading its streams.
pub(crate) type Compound<'d> = cfb::CompoundFile<Cursor<&'d [u8]>>;

/// One stream: its path from the root (`/Macros/VBA/dir`) and its length.
pub(crate) struct Stream {
    pub path: String,
    pub len: u64,
}

/// A compound file, opened and its directory walked once (at most [`MAX_ENTRIES`] entries): the
/// one parse of OLE2 that the extraction here and the description in `inspect::ole2` read.
pub(crate) struct Directory<'d> {
    pub file: Compound<'d>,
    pub streams: Vec<Stream>,
}

/// Opens `data` as a compound file. cfb's non-strict parser accepts the sector-count and
/// padding quirks real writers produce.
pub(crate) fn open(data: &[u8]) -> std::io::Result<Directory<'_>> {
    let file = cfb::CompoundFile::open(Cursor::new(data))?;
    let streams = file
        .walk()
        .take(MAX_ENTRIES)
        .filter(|e| e.is_stream())
        .map(|e| Stream {
            path: e.path().to_string_lossy().into_owned(),
            len: e.len(),
        })
        .collect();
    Ok(Directory { file, streams })
}

impl Directory<'_> {
    /// The storages named `VBA` that hold a `dir` stream: the VBA projects (names compare
    /// case-insensitively in MS-CFB).
    pub fn vba_projects(&self) -> impl Iterator<Item = &str> {
        self.streams.iter().filter_map(|s| {
            let (parent, name) = s.path.rsplit_once('/')?;
            let storage = parent.rsplit('/').next()?;
            (name.eq_ignore_ascii_case("dir") && storage.eq_ignore_ascii_case("vba"))
                .then_some(parent)
        })
    }
}

pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    match open(data) {
        Ok(dir) => unpack_directory(dir, out),
        Err(e) => out.warn(Problem::Corrupt, unreadable(&e)),
    }
}

/// The warning for a compound file that does not open.
pub(crate) fn unreadable(e: &std::io::Error) -> String {
    format!("the compound file is unreadable: {e}")
}

/// The members of a compound file already opened (its streams, as [`unpack`] names them).
pub(crate) fn unpack_directory<'a>(dir: Directory<'a>, out: &mut Members<'a>) {
    let Directory { mut file, streams } = dir;
    // An installer database: its cabinets' files are named by the `File` table.
    let installed_names = msi::file_names(&mut |name| {
        let s = streams
            .iter()
            .find(|s| msi::stream_name(s.path.trim_start_matches('/')) == name)?;
        if s.len > msi::MAX_STREAM {
            return None;
        }
        let mut data = Vec::new();
        file.open_stream(&s.path)
            .ok()?
            .take(msi::MAX_STREAM)
            .read_to_end(&mut data)
            .ok()?;
        Some(data)
    });
    for Stream { path, len } in streams {
        if out.stopped() {
            return;
        }
        let name = path.trim_start_matches('/').to_string();
        let leaf = name.rsplit('/').next().unwrap_or("");
        let native = leaf.eq_ignore_ascii_case(OLE10_NATIVE);
        if leaf.starts_with(['\u{1}', '\u{5}']) && !native {
            continue;
        }
        let decoded = msi::stream_name(&name);
        if decoded.starts_with('!') || decoded.contains("/!") {
            continue;
        }
        if !out.admit(&decoded, len, len) {
            continue;
        }
        let mut stream = match file.open_stream(&path) {
            Ok(s) => s,
            Err(e) => {
                out.warn(
                    Problem::Corrupt,
                    format!("stream {decoded} is unreadable: {e}"),
                );
                continue;
            }
        };
        match out.read_member(&decoded, len, &mut stream) {
            Ok(bytes) if native => {
                let storage = name.rsplit_once('/').map_or("", |(s, _)| s);
                if !ole10_native(storage, &bytes, out) {
                    return;
                }
            }
            Ok(bytes) if !installed_names.is_empty() && bytes.starts_with(b"MSCF") => {
                if !msi::unpack_cabinet(&decoded, &bytes, &installed_names, out) {
                    return;
                }
            }
            Ok(bytes) => {
                if decoded.eq_ignore_ascii_case(POWERPOINT_DOCUMENT)
                    && !powerpoint_objects(&bytes, out)
                {
                    return;
                }
                if !super::pe::carve(&bytes, &decoded, out) || !out.add(decoded, Cow::Owned(bytes))
                {
                    return;
                }
            }
            Err(ReadStop::Limit) => {}
            Err(ReadStop::Corrupt(e, partial)) => {
                out.warn(
                    Problem::Truncated,
                    format!("stream {decoded} is truncated: {e}"),
                );
                if !partial.is_empty() && !out.add(decoded, Cow::Owned(partial)) {
                    return;
                }
            }
        }
    }
}

/// The stream of a PowerPoint 97-2003 presentation that holds its records.
const POWERPOINT_DOCUMENT: &str = "PowerPoint Document";

/// `ExOleObjStg`: an embedded object's storage, compressed when its instance is 1.
const RT_EX_OLE_OBJ_STG: u16 = 0x1011;

/// Most records walked in one `PowerPoint Document` stream.
const MAX_PPT_RECORDS: usize = 1_000_000;

/// The embedded objects of a `PowerPoint Document` stream: its records are walked as a tree
/// (a container, version 0xF, holds records; an atom holds data), and each `ExOleObjStg` atom's
/// compound file becomes a member: inflated when compressed (u32 size, then zlib), as is when
/// not. Returns false when `out` says to stop.
fn powerpoint_objects(stream: &[u8], out: &mut Members<'_>) -> bool {
    let mut pos = 0usize;
    let mut n = 0;
    for _ in 0..MAX_PPT_RECORDS {
        let Some(header) = stream.get(pos..pos + 8) else {
            return true;
        };
        let ver_instance = u16::from_le_bytes([header[0], header[1]]);
        let kind = u16::from_le_bytes([header[2], header[3]]);
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let body_at = pos + 8;
        if ver_instance & 0xf == 0xf {
            // A container: its records follow its header.
            pos = body_at;
            continue;
        }
        let Some(body) = stream.get(body_at..body_at.saturating_add(len)) else {
            out.warn(
                Problem::Truncated,
                format!(
                    "{POWERPOINT_DOCUMENT}: the record at offset {pos} says {len} bytes, {} remain",
                    stream.len() - body_at.min(stream.len())
                ),
            );
            return true;
        };
        pos = body_at + len;
        if kind != RT_EX_OLE_OBJ_STG {
            continue;
        }
        n += 1;
        let name = format!("{POWERPOINT_DOCUMENT}/object-{n}.ole");
        let compressed = ver_instance >> 4 == 1;
        let storage = if compressed {
            let Some(packed) = body.get(4..) else {
                out.warn(
                    Problem::Truncated,
                    format!("{name}: the compressed object has no size field"),
                );
                continue;
            };
            let declared = crate::analysis::bytes::le32(body, 0).unwrap_or(0);
            if !out.admit(&name, packed.len() as u64, u64::from(declared)) {
                continue;
            }
            let mut z = flate2::read::ZlibDecoder::new(packed);
            match out.read_member(&name, packed.len() as u64, &mut z) {
                Ok(bytes) => bytes,
                Err(ReadStop::Limit) => continue,
                Err(ReadStop::Corrupt(e, partial)) => {
                    out.warn(
                        Problem::Corrupt,
                        format!("{name}: the compressed object is corrupt ({e})"),
                    );
                    partial
                }
            }
        } else {
            body.to_vec()
        };
        if !storage.is_empty() && !out.add(name, Cow::Owned(storage)) {
            return false;
        }
    }
    out.warn(
        Problem::Capped,
        format!(
            "{POWERPOINT_DOCUMENT}: more than {MAX_PPT_RECORDS} records; the rest were not read"
        ),
    );
    true
}

/// The stream of an embedded object's storage that holds its OLE1 native data.
const OLE10_NATIVE: &str = "\u{1}Ole10Native";

/// The file in an `\x01Ole10Native` stream of `storage`: u32 size, then the native data, which
/// for a Packager object is a [`Package`] wrapping a file. Returns false when `out` says to stop.
fn ole10_native(storage: &str, stream: &[u8], out: &mut Members<'_>) -> bool {
    let at = |leaf: &str| {
        if storage.is_empty() {
            leaf.to_string()
        } else {
            format!("{storage}/{leaf}")
        }
    };
    let Some(declared) = crate::analysis::bytes::le32(stream, 0) else {
        out.warn(
            Problem::Truncated,
            format!(
                "{}: the Ole10Native stream is shorter than its size field",
                at("")
            ),
        );
        return true;
    };
    let native = &stream[4..];
    let native = &native[..native.len().min(declared as usize)];
    if (native.len() as u64) < u64::from(declared) {
        out.warn(
            Problem::Truncated,
            format!(
                "{}: the native data is truncated: the stream says {declared} bytes, {} remain",
                printable(&at(OLE10_NATIVE)),
                native.len()
            ),
        );
    }
    match Package::parse(native) {
        Ok(p) if p.kind != 1 && !p.content.is_empty() => {
            if (p.content.len() as u64) < u64::from(p.declared) {
                out.warn(
                    Problem::Truncated,
                    format!(
                        "{}: the packaged file is truncated: the package says {} bytes, {} remain",
                        printable(&at(OLE10_NATIVE)),
                        p.declared,
                        p.content.len()
                    ),
                );
            }
            let name = p.name().unwrap_or_else(|| "package.bin".into());
            out.add(at(&name), Cow::Owned(p.content.to_vec()))
        }
        Ok(p) if p.kind == 1 => {
            out.warn(
                Problem::Unsupported,
                format!(
                    "{}: the package is a link to {} (nothing embedded)",
                    printable(&at(OLE10_NATIVE)),
                    printable(&String::from_utf8_lossy(p.source))
                ),
            );
            true
        }
        // Not a package: the object's own data (an equation, a sheet), analysed as it is.
        _ if !native.is_empty() => out.add(at("Ole10Native.bin"), Cow::Owned(native.to_vec())),
        _ => true,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::Budget;
    use super::*;
    use std::io::Write;

    /// A compound file holding `streams` (paths with `/` between storages).
    pub(crate) fn compound(streams: &[(&str, &[u8])]) -> Vec<u8> {
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        for (path, data) in streams {
            if let Some((dir, _)) = path.rsplit_once('/') {
                if !dir.is_empty() && !cf.exists(dir) {
                    cf.create_storage_all(dir).unwrap();
                }
            }
            let mut s = cf.create_stream(path).unwrap();
            s.write_all(data).unwrap();
        }
        cf.into_inner().into_inner()
    }

    #[test]
    fn streams_become_members_and_property_sets_do_not() {
        let f = compound(&[
            ("/WordDocument", b"doc body"),
            ("/\u{5}SummaryInformation", b"props"),
            ("/Macros/VBA/ThisDocument", &[3u8; 5000]),
        ]);
        let mut out = Members::new(Budget::unlimited());
        unpack(&f, &mut out);
        let mut names: Vec<_> = out.members.iter().map(|m| m.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["Macros/VBA/ThisDocument", "WordDocument"]);
    }

    #[test]
    fn msi_names_are_decoded_and_tables_skipped() {
        // "Data1.cab" as MSI writes it: pairs packed into U+3800.., a trailing single symbol.
        let enc = |a: u32, b: u32| char::from_u32(0x3800 + a + (b << 6)).unwrap();
        let name: String = [enc(13, 36), enc(55, 36), enc(1, 62), enc(38, 36)]
            .into_iter()
            .chain(std::iter::once(char::from_u32(0x4800 + 37).unwrap()))
            .collect();
        assert_eq!(msi::stream_name(&name), "Data1.cab");
        assert_eq!(msi::stream_name("\u{4840}File"), "!File");
    }

    #[test]
    fn garbage_is_a_warning() {
        let mut out = Members::new(Budget::unlimited());
        unpack(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 truncated", &mut out);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("unreadable"));
    }

    fn app32() -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pe");
        std::fs::read(dir.join("app32.exe")).unwrap()
    }

    fn members(data: &[u8]) -> Members<'_> {
        let mut out = Members::new(Budget::unlimited());
        unpack(data, &mut out);
        out
    }

    fn named<'m>(out: &'m Members<'_>, name: &str) -> Option<&'m [u8]> {
        out.members
            .iter()
            .find(|m| m.name == name)
            .map(|m| &m.data[..])
    }

    /// An `\x01Ole10Native` stream: u32 size, then `native`.
    fn ole10_stream(native: &[u8]) -> Vec<u8> {
        let mut v = (native.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(native);
        v
    }

    #[test]
    fn a_packaged_file_in_an_object_pool_comes_out_under_its_own_name() {
        let exe = app32();
        let pkg = crate::analysis::formats::ole1::tests::package(
            b"invoice.exe",
            b"C:\\t\\invoice.exe",
            &exe,
        );
        let mut cut = ole10_stream(&pkg);
        cut.truncate(cut.len() - 100);
        let f = compound(&[
            ("/WordDocument", b"doc"),
            ("/ObjectPool/_1/\u{1}Ole10Native", &ole10_stream(&pkg)),
            ("/ObjectPool/_1/\u{1}CompObj", b"skipped"),
            (
                "/ObjectPool/_2/\u{1}Ole10Native",
                &ole10_stream(b"\x1c\x00equation data"),
            ),
            ("/ObjectPool/_3/\u{1}OLE10NATIVE", &cut),
        ]);
        let out = members(&f);
        assert_eq!(named(&out, "ObjectPool/_1/invoice.exe"), Some(&exe[..]));
        assert_eq!(
            named(&out, "ObjectPool/_2/Ole10Native.bin"),
            Some(&b"\x1c\x00equation data"[..])
        );
        // Truncated: what is there, and two warnings saying so.
        let partial = named(&out, "ObjectPool/_3/invoice.exe").unwrap();
        assert_eq!(partial, &exe[..partial.len()]);
        let truncated: Vec<_> = out
            .warnings
            .iter()
            .filter(|w| w.problem == Problem::Truncated)
            .collect();
        assert_eq!(truncated.len(), 2, "{:?}", out.warnings);
        assert_eq!(
            out.members.len(),
            4,
            "no CompObj, no raw Ole10Native stream"
        );
    }

    #[test]
    fn powerpoint_objects_are_inflated_into_compound_files() {
        use std::io::Write;
        let inner = compound(&[(
            "/\u{1}Ole10Native",
            &ole10_stream(&crate::analysis::formats::ole1::tests::package(
                b"clam.exe",
                b"C:\\clam.exe",
                b"MZ payload",
            )),
        )]);
        let record = |ver_instance: u16, kind: u16, body: &[u8]| {
            let mut r = ver_instance.to_le_bytes().to_vec();
            r.extend_from_slice(&kind.to_le_bytes());
            r.extend_from_slice(&(body.len() as u32).to_le_bytes());
            r.extend_from_slice(body);
            r
        };
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&inner).unwrap();
        let mut compressed = (inner.len() as u32).to_le_bytes().to_vec();
        compressed.extend(z.finish().unwrap());
        // A document container holding an atom, the compressed object, and a plain one.
        let mut children = record(0x0000, 0x03e9, b"atom");
        children.extend(record(0x0010, RT_EX_OLE_OBJ_STG, &compressed));
        children.extend(record(0x0000, RT_EX_OLE_OBJ_STG, &inner));
        let stream = record(0x000f, 0x03e8, &children);
        let f = compound(&[("/PowerPoint Document", &stream)]);
        let out = members(&f);
        assert_eq!(
            named(&out, "PowerPoint Document/object-1.ole"),
            Some(&inner[..])
        );
        assert_eq!(
            named(&out, "PowerPoint Document/object-2.ole"),
            Some(&inner[..])
        );
        assert_eq!(named(&out, "PowerPoint Document"), Some(&stream[..]));
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);

        // A record that claims more than the stream holds.
        let mut lying = record(0x0000, 0x03e9, b"atom");
        lying.extend_from_slice(&[0, 0, 0x11, 0x10, 0xff, 0xff, 0, 0]);
        let f = compound(&[("/PowerPoint Document", &lying)]);
        let out = members(&f);
        assert_eq!(out.warnings[0].problem, Problem::Truncated);
    }

    #[test]
    fn an_executable_inside_a_stream_is_carved() {
        let exe = app32();
        let mut data = b"presentation bytes before it ".to_vec();
        data.extend_from_slice(&exe);
        data.extend_from_slice(b" and after");
        let f = compound(&[("/Data", &data)]);
        let out = members(&f);
        assert_eq!(named(&out, "Data@0x1d.exe"), Some(&exe[..]));
        assert_eq!(named(&out, "Data"), Some(&data[..]));
    }

    fn msi_fixture(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn cabinet_files_are_named_as_the_database_installs_them() {
        let msi = msi_fixture("msi/named.msi");
        let mut out = Members::new(Budget::unlimited());
        unpack(&msi, &mut out);
        let got: Vec<(&str, &[u8])> = out
            .members
            .iter()
            .filter(|m| m.name.starts_with("payload.cab/"))
            .map(|m| (m.name.as_str(), &m.data[..]))
            .collect();
        let app = msi_fixture("pe/app32.exe");
        let doc = msi_fixture("msi/readme.txt");
        assert_eq!(got.len(), 2, "{:?}", out.warnings);
        assert!(got[0] == ("payload.cab/app32.exe", &app[..]));
        assert!(got[1] == ("payload.cab/read me first.txt", &doc[..]));
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);

        // The cabinet itself names them by their File-table keys.
        let dir = open(&msi).unwrap();
        let cab_path = dir
            .streams
            .iter()
            .find(|s| msi::stream_name(s.path.trim_start_matches('/')) == "payload.cab")
            .unwrap()
            .path
            .clone();
        let mut file = dir.file;
        let mut cab = Vec::new();
        file.open_stream(&cab_path)
            .unwrap()
            .read_to_end(&mut cab)
            .unwrap();
        let mut keys = Members::new(Budget::unlimited());
        super::super::unarc::unpack(&cab, &mut keys);
        let keys: Vec<&str> = keys.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(keys, ["filApp", "filDoc"]);
    }
}
