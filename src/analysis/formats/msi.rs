//! Windows Installer databases (MSI): the names of the files its cabinets hold. A cabinet in an
//! MSI names each file by its key in the database's `File` table (`fil3A7B...`); the name the
//! file is installed under is that table's `FileName` column (`APP~1.EXE|app.exe`). The tables
//! are streams of the compound file ([`super::ole2`]): `!_StringPool` and `!_StringData` hold
//! every string, `!_Columns` describes each table's columns, and `!File` holds the rows, column
//! by column. Layout as Wine's and msitools' readers document it.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{Budget, Members};
use crate::analysis::bytes::le16;

/// Largest table or string stream read (a real `!_StringData` is a few megabytes at most).
pub(crate) const MAX_STREAM: u64 = 16 * 1024 * 1024;

/// Most file names kept, and the longest (in characters): a name is a Windows path part.
const MAX_NAMES: usize = 100_000;
const MAX_NAME_CHARS: usize = 260;

/// Most strings in the pool.
const MAX_STRINGS: usize = 4_000_000;

/// A column type bit: the column holds string ids.
const TYPE_STRING: u16 = 0x0800;

/// Decodes MSI's stream-name mangling: characters U+3800..U+4840 pack one or two characters of
/// a 64-symbol alphabet; U+4840 marks a database table (shown as `!`).
pub(crate) fn stream_name(name: &str) -> String {
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

/// Reads the database table stream of that (unmangled) name, at most [`MAX_STREAM`] bytes;
/// `None` when there is none or it is larger. The compound file's reader ([`super::ole2`])
/// provides it, so this module does not depend on it.
pub(crate) type Tables<'t> = &'t mut dyn FnMut(&str) -> Option<Vec<u8>>;

/// The installed name of each file the database's cabinets hold, by the key they name it with;
/// empty when the database's tables cannot be read (the keys are then kept as names).
pub(crate) fn file_names(table: Tables<'_>) -> HashMap<String, String> {
    read_file_names(table).unwrap_or_default()
}

fn read_file_names(table: Tables<'_>) -> Option<HashMap<String, String>> {
    let pool = table("!_StringPool")?;
    let data = table("!_StringData")?;
    let columns = table("!_Columns")?;
    let files = table("!File")?;
    let strings = Strings::read(&pool, &data)?;

    // !_Columns: Table (string), Number (i16), Name (string), Type (i16), column by column.
    let sref = strings.ref_size;
    let rows = columns.len() / (2 * sref + 4);
    let column = |i: usize, width: usize| -> Vec<u32> {
        let start = match i {
            0 => 0,
            1 => rows * sref,
            2 => rows * (sref + 2),
            _ => rows * (2 * sref + 2),
        };
        (0..rows)
            .map(|r| read(&columns, start + r * width, width))
            .collect()
    };
    let (tables, numbers, names, types) =
        (column(0, sref), column(1, 2), column(2, sref), column(3, 2));
    let mut file_columns: Vec<(u32, String, u16)> = (0..rows)
        .filter(|&r| strings.get(tables[r]) == Some("File"))
        .map(|r| {
            (
                numbers[r] ^ 0x8000,
                strings.get(names[r]).unwrap_or("").to_string(),
                (types[r] ^ 0x8000) as u16,
            )
        })
        .collect();
    file_columns.sort_by_key(|c| c.0);
    let width = |t: u16| {
        if t & TYPE_STRING != 0 {
            sref
        } else if t & 0xff == 4 {
            4
        } else {
            2
        }
    };
    let row_size: usize = file_columns.iter().map(|c| width(c.2)).sum();
    if row_size == 0 {
        return None;
    }
    let rows = files.len() / row_size;
    let mut offset = 0;
    let mut key_at = None;
    let mut name_at = None;
    for (_, name, t) in &file_columns {
        match name.as_str() {
            "File" => key_at = Some(offset),
            "FileName" => name_at = Some(offset),
            _ => {}
        }
        offset += rows * width(*t);
    }
    let (key_at, name_at) = (key_at?, name_at?);
    let mut names = HashMap::new();
    for r in 0..rows {
        let key = strings.get(read(&files, key_at + r * sref, sref))?;
        let Some(name) = strings.get(read(&files, name_at + r * sref, sref)) else {
            continue;
        };
        // "SHORT~1.EXT|long name.ext": the long name is the one installed on modern systems.
        let long = name.rsplit('|').next().unwrap_or(name);
        if names.len() >= MAX_NAMES {
            break;
        }
        names.insert(
            key.chars().take(MAX_NAME_CHARS).collect(),
            long.chars().take(MAX_NAME_CHARS).collect(),
        );
    }
    Some(names)
}

/// The files of the cabinet stream `cabinet` of an installer database, each under the name the
/// database installs it as (`Data1.cab/app.exe`), or its key when the `File` table lacks it. The
/// cabinet itself is not a member: its files are, named as they will be on disk. Returns false
/// when `out` says to stop.
pub(crate) fn unpack_cabinet(
    cabinet: &str,
    data: &[u8],
    names: &HashMap<String, String>,
    out: &mut Members<'_>,
) -> bool {
    let budget = Budget {
        max_output: out.room(),
        max_members: out.budget().max_members.saturating_sub(out.members.len()),
        ..out.budget().clone()
    };
    let mut files = Members::new(budget);
    super::unarc::unpack(data, &mut files);
    for w in std::mem::take(&mut files.warnings) {
        out.warnings.push(w.prefixed(&format!("{cabinet}: ")));
    }
    for hit in std::mem::take(&mut files.limits) {
        out.limit(hit.limit, hit.detail);
    }
    let found = files.members.len();
    for m in std::mem::take(&mut files.members) {
        let name = names.get(&m.name).unwrap_or(&m.name);
        if !out.add(format!("{cabinet}/{name}"), Cow::Owned(m.data.into_owned())) {
            return false;
        }
    }
    // Nothing came out (a damaged or unusual cabinet): the cabinet itself is still analysed.
    if found == 0 && !out.add(cabinet.to_string(), Cow::Owned(data.to_vec())) {
        return false;
    }
    !out.stopped()
}

/// A little-endian value of `width` bytes (2, 3 or 4) at `at`; 0 past the end.
fn read(data: &[u8], at: usize, width: usize) -> u32 {
    data.get(at..at + width).map_or(0, |b| {
        b.iter()
            .rev()
            .fold(0u32, |v, &byte| v << 8 | u32::from(byte))
    })
}

/// The string pool: string `n` (from 1) of the database.
struct Strings {
    strings: Vec<String>,
    /// Bytes of a string reference in the tables: 2, or 3 in databases with many strings.
    ref_size: usize,
}

impl Strings {
    fn read(pool: &[u8], data: &[u8]) -> Option<Strings> {
        let word = |i: usize| le16(pool, i * 2).map(u32::from);
        let ref_size = if word(1)? & 0x8000 != 0 { 3 } else { 2 };
        let count = pool.len() / 4;
        let mut strings = vec![String::new()];
        let mut offset = 0usize;
        let mut i = 1;
        while i < count && strings.len() < MAX_STRINGS {
            let (len, refs) = (word(i * 2)?, word(i * 2 + 1)?);
            let len = if len == 0 && refs == 0 {
                i += 1;
                strings.push(String::new());
                continue;
            } else if len == 0 {
                // Over 64 KiB: this entry holds the high word, the next the low word.
                let long = (refs << 16) + word(i * 2 + 2).unwrap_or(0);
                i += 2;
                long as usize
            } else {
                i += 1;
                len as usize
            };
            let bytes = data.get(offset..offset.checked_add(len)?)?;
            offset += len;
            strings.push(String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| {
                bytes
                    .iter()
                    .map(|&b| crate::analysis::text::cp1252(b))
                    .collect()
            }));
        }
        Some(Strings { strings, ref_size })
    }

    fn get(&self, id: u32) -> Option<&str> {
        self.strings
            .get(id as usize)
            .map(String::as_str)
            .filter(|s| id != 0 && !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_tables_leave_the_keys() {
        // A string pool that points past its data: no names, no panic.
        assert!(Strings::read(&[0, 0, 0, 0, 9, 0, 1, 0], b"abc").is_none());
        let s = Strings::read(
            &[0xe4, 0x04, 0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 2, 0, 1, 0],
            b"Filex",
        )
        .unwrap();
        assert_eq!(s.get(1), Some("Fil"));
        assert_eq!(s.get(2), None, "an empty entry keeps its id");
        assert_eq!(s.get(3), Some("ex"));
        assert_eq!(s.ref_size, 2);
    }
}
