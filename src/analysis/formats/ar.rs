//! Unix `ar` archives (`!<arch>\n`): static libraries, Windows `.lib` files and Debian `.deb`
//! packages. Follows the common format described in FreeBSD's `ar(5)` manual page, with the GNU
//! (SysV) long-name table and the BSD `#1/<len>` name convention.
//!
//! Symbol tables (`/`, `/SYM64/`, `/<ECSYMBOLS>/`, `__.SYMDEF*`) and the GNU long-name table
//! (`//`) are index structures, not members. A `.deb` needs nothing special: its
//! `debian-binary`, `control.tar.*` and `data.tar.*` are ordinary members that the engine unpacks
//! in turn.

use std::borrow::Cow;

use super::Members;
use crate::analysis::warning::Problem;

/// The global header of a regular archive.
const MAGIC: &[u8] = b"!<arch>\n";
/// The global header of a GNU thin archive, whose members live in other files.
const THIN_MAGIC: &[u8] = b"!<thin>\n";
/// Size of a member header.
const HEADER: usize = 60;
/// Terminator of a member header.
const FMAG: &[u8] = b"`\n";
/// Longest BSD `#1/<len>` name we accept: real names are short, and the name is copied.
const MAX_BSD_NAME: usize = 4096;
/// Longest GNU long name we accept from the `//` table (the same reasoning).
const MAX_LONG_NAME: usize = 4096;

/// True when `data` is a Debian binary package: an ar archive whose first member is
/// `debian-binary`.
pub fn is_deb(data: &[u8]) -> bool {
    if !data.starts_with(MAGIC) {
        return false;
    }
    match data.get(MAGIC.len()..MAGIC.len() + 16) {
        Some(name) => trim_name(name) == b"debian-binary",
        None => false,
    }
}

/// The short name field without its space padding and GNU `/` terminator.
fn trim_name(field: &[u8]) -> &[u8] {
    let end = field.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    let name = &field[..end];
    // GNU terminates names with '/' so that they may contain spaces; "/" and "//" are special
    // and handled before this.
    match name.strip_suffix(b"/") {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => name,
    }
}

fn parse_decimal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field)
        .ok()?
        .trim_matches(|c| c == ' ' || c == '\0');
    if text.is_empty() {
        return None;
    }
    text.parse().ok()
}

/// Looks up a GNU `/<offset>` name in the `//` table.
fn long_name(table: Option<&[u8]>, offset: u64) -> Option<Vec<u8>> {
    let table = table?;
    let rest = table.get(usize::try_from(offset).ok()?..)?;
    let end = rest
        .iter()
        .take(MAX_LONG_NAME)
        .position(|&b| b == b'\n' || b == 0)
        .unwrap_or_else(|| rest.len().min(MAX_LONG_NAME));
    let name = &rest[..end];
    Some(name.strip_suffix(b"/").unwrap_or(name).to_vec())
}

fn is_symbol_table(name: &[u8]) -> bool {
    name == b"/"
        || name == b"/SYM64/"
        || (name.starts_with(b"/<") && name.ends_with(b">/"))
        || name.starts_with(b"__.SYMDEF")
}

/// Walks the archive and yields its members.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    if data.starts_with(THIN_MAGIC) {
        out.warn(
            Problem::Unsupported,
            "thin ar archive: member contents are stored in other files, not in the archive",
        );
        return;
    }
    if !data.starts_with(MAGIC) {
        out.warn(
            Problem::Corrupt,
            "not an ar archive: missing the !<arch> header",
        );
        return;
    }
    let mut pos = MAGIC.len();
    let mut index = 0usize;
    let mut names_table: Option<&[u8]> = None;

    while pos < data.len() {
        if out.stopped() {
            return;
        }
        index += 1;
        let Some(header) = data.get(pos..pos + HEADER) else {
            // Some writers leave a trailing newline; anything else is a cut-off header.
            if data[pos..].iter().any(|b| !b.is_ascii_whitespace()) {
                out.warn(
                    Problem::Truncated,
                    format!(
                        "member {index} header is truncated: {} of {HEADER} bytes remain",
                        data.len() - pos
                    ),
                );
            }
            return;
        };
        if &header[58..60] != FMAG {
            out.warn(
                Problem::Corrupt,
                format!(
                    "member {index} at offset {pos} has a corrupt header (no terminator); stopping"
                ),
            );
            return;
        }
        let Some(size) = parse_decimal(&header[48..58]) else {
            out.warn(
                Problem::Corrupt,
                format!("member {index} at offset {pos} has an invalid size field; stopping"),
            );
            return;
        };
        let start = pos + HEADER;
        let available = data.len() - start;
        let size_usize = usize::try_from(size).unwrap_or(usize::MAX);
        let truncated = size_usize > available;
        let body = &data[start..start + size_usize.min(available)];
        let raw_name = &header[..16];
        let padded = raw_name
            .iter()
            .rposition(|&b| b != b' ')
            .map_or(&raw_name[..0], |i| &raw_name[..=i]);

        let mut member: Option<(Vec<u8>, &'a [u8])> = None;
        if padded == b"//" {
            names_table = Some(body);
        } else if is_symbol_table(padded) {
            // An index of symbols, not a file.
        } else if let Some(len) = padded.strip_prefix(b"#1/") {
            // BSD: the name is the first <len> bytes of the data, and counts in its size.
            match parse_decimal(len).and_then(|n| usize::try_from(n).ok()) {
                Some(n) if n <= body.len() && n <= MAX_BSD_NAME => {
                    let name = &body[..n];
                    let name = name
                        .iter()
                        .position(|&b| b == 0)
                        .map_or(name, |z| &name[..z]);
                    if !is_symbol_table(name) {
                        member = Some((name.to_vec(), &body[n..]));
                    }
                }
                _ => {
                    out.warn(
                        Problem::Corrupt,
                        format!(
                            "member {index}: its BSD name length {} does not fit its data",
                            super::printable(&String::from_utf8_lossy(len))
                        ),
                    );
                    member = Some((format!("member-{index}.bin").into_bytes(), body));
                }
            }
        } else if let Some(reference) = padded.strip_prefix(b"/") {
            // GNU: "/<offset>" into the "//" table.
            let name = parse_decimal(reference).and_then(|off| long_name(names_table, off));
            match name {
                Some(name) => member = Some((name, body)),
                None => {
                    out.warn(
                        Problem::Corrupt,
                        format!(
                        "member {index}: long name reference {} is missing from the names table",
                        super::printable(&String::from_utf8_lossy(padded))
                    ),
                    );
                    member = Some((format!("member-{index}.bin").into_bytes(), body));
                }
            }
        } else {
            member = Some((trim_name(raw_name).to_vec(), body));
        }

        if let Some((name, content)) = member {
            let name = String::from_utf8_lossy(&name).into_owned();
            if truncated {
                out.warn(Problem::Truncated, format!(
                    "member {index} ({}) is truncated: header says {size} bytes, {available} remain",
                    super::printable(&name)
                ));
            }
            let len = content.len() as u64;
            if out.admit(&name, len, len) && !out.add(name, Cow::Borrowed(content)) {
                return;
            }
        }
        if truncated {
            return;
        }
        // Members start on even offsets.
        pos = start + size_usize;
        if pos % 2 == 1 {
            pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{self, names_and_data};
    use super::super::{Budget, Limit};
    use super::*;

    fn member(buf: &mut Vec<u8>, name: &str, body: &[u8]) {
        let header = format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            0,
            "100644",
            body.len()
        );
        assert_eq!(header.len(), 60);
        buf.extend_from_slice(header.as_bytes());
        buf.extend_from_slice(body);
        if buf.len() % 2 == 1 {
            buf.push(b'\n');
        }
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    #[test]
    fn gnu_archive_with_symbols_and_long_names() {
        let mut buf = MAGIC.to_vec();
        member(&mut buf, "/", b"\0\0\0\0");
        member(
            &mut buf,
            "//",
            b"a_very_long_object_name.o/\nsecond_long_name_here.o/\n",
        );
        member(&mut buf, "short.o/", b"odd");
        member(&mut buf, "/0", b"first long");
        member(&mut buf, "/27", b"second");
        member(&mut buf, "/SYM64/", b"sym");
        let out = run(&buf);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("short.o".to_string(), b"odd".to_vec()),
                (
                    "a_very_long_object_name.o".to_string(),
                    b"first long".to_vec()
                ),
                ("second_long_name_here.o".to_string(), b"second".to_vec()),
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn bsd_names_and_symdef() {
        let mut buf = MAGIC.to_vec();
        member(&mut buf, "#1/20", b"__.SYMDEF SORTED\0\0\0\0table");
        member(&mut buf, "#1/13", b"long_name.o\0\0contents");
        member(&mut buf, "plain.txt", b"plain");
        let out = run(&buf);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("long_name.o".to_string(), b"contents".to_vec()),
                ("plain.txt".to_string(), b"plain".to_vec()),
            ]
        );
    }

    #[test]
    fn deb_is_an_ordinary_archive() {
        let mut buf = MAGIC.to_vec();
        member(&mut buf, "debian-binary", b"2.0\n");
        member(&mut buf, "control.tar.gz", b"\x1f\x8bcontrol");
        member(&mut buf, "data.tar.xz", b"\xfd7zXZdata");
        assert!(is_deb(&buf));
        let out = run(&buf);
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["debian-binary", "control.tar.gz", "data.tar.xz"]);
        assert_eq!(out.members[0].data.as_ref(), b"2.0\n");
        let mut lib = MAGIC.to_vec();
        member(&mut lib, "a.o", b"x");
        assert!(!is_deb(&lib));
        assert!(!is_deb(b"!<arch>\n"));
    }

    #[test]
    fn truncated_member_and_header() {
        let mut buf = MAGIC.to_vec();
        member(&mut buf, "a", b"complete");
        member(&mut buf, "b", b"0123456789");
        buf.truncate(buf.len() - 4);
        let out = run(&buf);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("a".to_string(), b"complete".to_vec()),
                ("b".to_string(), b"012345".to_vec()),
            ]
        );
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));

        let mut cut = MAGIC.to_vec();
        member(&mut cut, "a", b"ok");
        cut.extend_from_slice(b"partial header");
        let out = run(&cut);
        assert_eq!(out.members.len(), 1);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.problem == Problem::Truncated && w.text.contains("header is truncated")));

        // A trailing newline is not an error.
        let mut nl = MAGIC.to_vec();
        member(&mut nl, "a", b"ok");
        nl.push(b'\n');
        assert!(run(&nl).warnings.is_empty());
    }

    #[test]
    fn bad_sizes_and_references() {
        let mut buf = MAGIC.to_vec();
        member(&mut buf, "a", b"x");
        let mut bad = buf.clone();
        bad.extend_from_slice(format!("{:<16}{:<32}{:<10}`\n", "b", "", "9999999999").as_bytes());
        bad.extend_from_slice(b"short");
        let out = run(&bad);
        assert_eq!(out.members.len(), 2);
        assert_eq!(out.members[1].data.as_ref(), b"short");
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));

        let mut garbage = buf.clone();
        garbage.extend_from_slice(format!("{:<16}{:<32}{:<10}`\n", "b", "", "12x").as_bytes());
        let out = run(&garbage);
        assert_eq!(out.members.len(), 1);
        assert!(out.warnings.iter().any(|w| w.text.contains("invalid size")));

        let mut noterm = buf.clone();
        noterm.extend_from_slice(&[b' '; 60]);
        let out = run(&noterm);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("corrupt header")));

        let mut dangling = MAGIC.to_vec();
        member(&mut dangling, "/55", b"data");
        member(&mut dangling, "#1/999", b"data");
        let out = run(&dangling);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("member-1.bin".to_string(), b"data".to_vec()),
                ("member-2.bin".to_string(), b"data".to_vec()),
            ]
        );
        assert_eq!(out.warnings.len(), 2);
    }

    #[test]
    fn empty_thin_and_foreign_input() {
        assert!(run(b"").members.is_empty());
        assert!(run(b"!<arch>\n").warnings.is_empty());
        let out = run(b"!<thin>\n");
        assert!(out.warnings[0].text.contains("thin"));
        let out = run(b"PK\x03\x04");
        assert!(out.warnings[0].text.contains("not an ar archive"));
        let mut buf = MAGIC.to_vec();
        member(&mut buf, "//", b"name/\n");
        member(&mut buf, "/0", b"abc");
        for n in 0..buf.len() {
            run(&buf[..n]);
        }
    }

    #[test]
    fn member_over_budget_is_skipped_with_a_limit() {
        let mut buf = MAGIC.to_vec();
        member(&mut buf, "small", b"abc");
        member(&mut buf, "big", &[0u8; 100]);
        let mut out = Members::new(Budget {
            max_output: 50,
            ..Budget::unlimited()
        });
        unpack(&buf, &mut out);
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    #[test]
    fn genuine_ar_tool_output_if_present() {
        let dir = std::env::temp_dir().join(format!("ar-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("short.txt"), b"one").unwrap();
        std::fs::write(dir.join("a_rather_long_member_name.txt"), b"two!").unwrap();
        let status = std::process::Command::new("ar")
            .current_dir(&dir)
            .args(["rc", "t.a", "short.txt", "a_rather_long_member_name.txt"])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            std::fs::remove_dir_all(&dir).ok();
            return;
        }
        let data = std::fs::read(dir.join("t.a")).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let out = run(&data);
        assert_eq!(
            names_and_data(&out),
            vec![
                ("short.txt".to_string(), b"one".to_vec()),
                (
                    "a_rather_long_member_name.txt".to_string(),
                    b"two!".to_vec()
                ),
            ]
        );
    }
}
