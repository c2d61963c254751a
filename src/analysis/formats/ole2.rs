//! OLE2 compound files (MS-CFB): Word/Excel/PowerPoint 97-2003 documents, MSI installers and
//! Outlook messages. Every stream becomes a member named by its path inside the file, except the
//! property-set and bookkeeping streams (names starting with \x01 or \x05) and MSI's database
//! tables. MSI stream names are stored mangled; they are decoded, so an MSI's embedded cabinet
//! appears under its real name (and is then unpacked as a CAB).

use std::borrow::Cow;
use std::io::Cursor;

use super::{Members, ReadStop};
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
    for Stream { path, len } in streams {
        if out.stopped() {
            return;
        }
        let name = path.trim_start_matches('/').to_string();
        let leaf = name.rsplit('/').next().unwrap_or("");
        if leaf.starts_with(['\u{1}', '\u{5}']) {
            continue;
        }
        let decoded = msi_name(&name);
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
            Ok(bytes) => {
                if !out.add(decoded, Cow::Owned(bytes)) {
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

/// Decodes MSI's stream-name mangling: characters U+3800..U+4840 pack one or two characters of
/// a 64-symbol alphabet; U+4840 marks a database table (shown as `!`).
fn msi_name(name: &str) -> String {
    fn symbol(i: u32) -> char {
        match i {
            0..=9 => char::from(b'0' + i as u8),
            10..=35 => char::from(b'A' + (i - 10) as u8),
            36..=61 => char::from(b'a' + (i - 36) as u8),
            62 => '.',
            _ => '_',
        }
    }
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        let x = c as u32;
        match x {
            0x3800..=0x47ff => {
                let v = x - 0x3800;
                s.push(symbol(v & 0x3f));
                s.push(symbol((v >> 6) & 0x3f));
            }
            0x4800..=0x483f => s.push(symbol(x - 0x4800)),
            0x4840 => s.push('!'),
            _ => s.push(c),
        }
    }
    s
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
        assert_eq!(msi_name(&name), "Data1.cab");
        assert_eq!(msi_name("\u{4840}File"), "!File");
    }

    #[test]
    fn garbage_is_a_warning() {
        let mut out = Members::new(Budget::unlimited());
        unpack(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 truncated", &mut out);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("unreadable"));
    }
}
