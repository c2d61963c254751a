//! The external variables that the LOKI and THOR scanners define for every file, so that YARA
//! rules written for them compile and match here: `filename`, `filepath`, `extension`,
//! `filetype`, `md5` and `owner`. The public signature-base rule set tests `filename` in hundreds
//! of places (`filename == "svchost.exe"`, `filepath contains "\\Temp\\"`).
//!
//! Each is filled per node from its name and lineage, as LOKI fills it from a path on disk:
//! - `filename`: the last component of the node's path (`dropper.exe`);
//! - `filepath`: the rest of the path, without a trailing separator: the upload's name and the
//!   containers and directories that hold the node (`mail.eml/invoice.zip/bin`), empty for an
//!   upload (the server never sees the client's directory);
//! - `extension`: of `filename`, lower case with its dot (`.exe`), empty when there is none
//!   (a name that only starts with a dot has none, as Python's `splitext` says);
//! - `filetype`: LOKI's name for the first bytes ([`filetype`]: `EXE`, `ZIP`, `PDF`, ...);
//! - `md5`: the node's MD5, lower-case hex;
//! - `owner`: always empty: an uploaded file has no owner account.

/// The external variables, as the rules name them. Rulesets are compiled with each defined as an
/// empty string, so rules that use them compile (those of the name only when some ruleset needs
/// them, [`is_name`]); the scan of a node sets them.
pub const NAMES: [&str; 6] = [
    "filename",
    "filepath",
    "extension",
    "filetype",
    "md5",
    "owner",
];

/// Whether variable `name` holds something of the file's name or path rather than its content.
/// Rules that test none of these are compiled without them (see `yara::Compiled::reads_names`).
pub fn is_name(name: &str) -> bool {
    matches!(name, "filename" | "filepath" | "extension")
}

/// The values of [`NAMES`] for one node, in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVars {
    values: [String; 6],
}

impl FileVars {
    /// The variables of the node at `path` (the report's `file_path`: names joined by `/`, a
    /// member's own name keeping whatever separators its container used), with content `data`
    /// and MD5 `md5`.
    pub fn new(path: &str, data: &[u8], md5: &str) -> FileVars {
        let (dir, name) = match path.rfind(['/', '\\']) {
            Some(at) => (&path[..at], &path[at + 1..]),
            None => ("", path),
        };
        FileVars {
            values: [
                name.to_string(),
                dir.to_string(),
                extension(name),
                filetype(data).to_string(),
                md5.to_ascii_lowercase(),
                String::new(),
            ],
        }
    }

    /// Each variable's name and value.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        NAMES
            .into_iter()
            .zip(self.values.iter().map(String::as_str))
    }
}

/// The extension of `name` as LOKI computes it: lower case, with its dot; none for a name whose
/// only dot is its first character.
fn extension(name: &str) -> String {
    let stem_start = name.len() - name.trim_start_matches('.').len();
    match name[stem_start..].rfind('.') {
        Some(at) => name[stem_start + at..].to_lowercase(),
        None => String::new(),
    }
}

/// LOKI's and THOR's file types, by leading bytes, in the order they are tried (the first that
/// matches wins, so a longer magic comes before a shorter one it starts with). The names are the
/// ones their rules compare against (`filetype == "EXE"`). LOKI reads its table into a Python
/// dict, so where a magic is listed twice the first place and the last name hold (`CWS`, `EVT`).
const FILETYPES: &[(&[u8], &str)] = &[
    (b"\x1f\x8b\x08", "GZIP"),
    (b"%PDF", "PDF"),
    (b"\x30\x00\x00\x00\x4c\x66\x4c\x65", "EVT"),
    (b"PK\x03\x04\x14\x00\x06\x00", "Office"),
    (b"PK\x03\x04\x14\x00\x08\x00", "JAR"),
    (b"PKSpX", "PKSFX"),
    (b"7z\xbc\xaf\x27\x1c", "7Zip"),
    (b"Function", "VBS"),
    (b"BZh", "BZip2"),
    (b"\x5f\x27\xa8\x89", "JAR"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"PK\x05\x06", "PKZIP"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"WinZip", "WinZIP"),
    (b"regf", "Registry Hive"),
    (b"{\\rtf1", "RTF"),
    (b"ustar", "TAR"),
    (b"\xd4\xc3\xb2\xa1", "WINPCAP"),
    (b"\xa1\xb2\xc3\xd4", "LIBPCAP"),
    (b"\xa1\xb2\xcd\x34", "LIBPCAP"),
    (b"\xca\xfe\xba\xbe", "Class"),
    (b"\xffKEYB   ", "SYS Keyboard Driver"),
    (b"\xff\xfe<\x00?\x00x\x00m\x00l", "Windows At Job"),
    (b"<?php", "PHP"),
    (b"\x0dDOC", "DOC"),
    (b"# Disk D", "VMDK"),
    (b"ElfFil", "EVTX"),
    (b"AES", "AESCrypt"),
    (b"COWD", "VMDK"),
    (b"<?xm", "XML"),
    (b"<?XM", "XML"),
    (b"CWS", "CWS"),
    (b"ZWS", "ZWS"),
    (b"GIF", "GIF"),
    (b"FILE", "NTFS MFT"),
    (b"JARCS\x00", "JARCS"),
    (b"KDM", "VMDK"),
    (b"L\x00\x00\x00\x01\x14\x02\x00", "LNK"),
    (b"MSCF", "CAB"),
    (b"PK\x03\x04", "ZIP"),
    (b"\xff\xfe<\x00%\x00@", "JSP"),
    (b"_CASE_", "Encase File"),
    (b"conectix", "VHD"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE"),
    (b"\xff\xff\xff\xff", "SYS"),
    (b"#!/", "UNIX SCRIPT"),
    (b"MDMP", "MDMP"),
    (b"FWS", "FWS (Flash)"),
    (b"\x7fE", "ELF"),
    (b"#!", "Script"),
    (b"\x60\xea", "ARJ"),
    (b"\x1f\x9d", "TARZ"),
    (b"\x1f\xa0", "TARZ"),
    (b"<%", "JSP"),
    (b"MZ", "EXE"),
    (b"\xff\xfe", "Windows Registry File"),
    (b"\xe8", "SYS"),
    (b"\xe9", "SYS"),
    (b"\xeb", "SYS"),
];

/// LOKI's file type of `data`, `UNKNOWN` when no magic matches.
pub fn filetype(data: &[u8]) -> &'static str {
    FILETYPES
        .iter()
        .find(|(magic, _)| data.starts_with(magic))
        .map_or("UNKNOWN", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(path: &str, data: &[u8]) -> Vec<(&'static str, String)> {
        FileVars::new(path, data, "D41D8CD98F00B204E9800998ECF8427E")
            .pairs()
            .map(|(k, v)| (k, v.to_string()))
            .collect()
    }

    #[test]
    fn a_member_gets_its_name_its_lineage_and_loki_file_type() {
        assert_eq!(
            vars("mail.eml/invoice.zip/bin/Dropper.EXE", b"MZ\x90\x00"),
            [
                ("filename", "Dropper.EXE".to_string()),
                ("filepath", "mail.eml/invoice.zip/bin".to_string()),
                ("extension", ".exe".to_string()),
                ("filetype", "EXE".to_string()),
                ("md5", "d41d8cd98f00b204e9800998ecf8427e".to_string()),
                ("owner", String::new()),
            ]
        );
        // An upload has no directory; a Windows member path splits at its backslashes.
        let top = vars("report.pdf", b"%PDF-1.7");
        assert_eq!(top[0].1, "report.pdf");
        assert_eq!(top[1].1, "");
        assert_eq!(top[3].1, "PDF");
        let win = vars("x.zip/Windows\\System32\\svchost.exe", b"");
        assert_eq!(win[0].1, "svchost.exe");
        assert_eq!(win[1].1, "x.zip/Windows\\System32");
        assert_eq!(win[3].1, "UNKNOWN");
    }

    #[test]
    fn extensions_follow_python_splitext() {
        for (name, ext) in [
            ("a.tar.GZ", ".gz"),
            ("README", ""),
            (".bashrc", ""),
            ("..hidden.js", ".js"),
            ("trailing.", "."),
            ("", ""),
        ] {
            assert_eq!(extension(name), ext, "{name}");
        }
    }

    #[test]
    fn the_first_magic_in_order_wins() {
        assert_eq!(filetype(b"PK\x03\x04\x14\x00\x06\x00rest"), "Office");
        assert_eq!(filetype(b"PK\x03\x04\x0a\x00"), "ZIP");
        assert_eq!(filetype(b"#!/bin/sh"), "UNIX SCRIPT");
        assert_eq!(filetype(b"#!perl"), "Script");
        assert_eq!(filetype(b"\x7fELF"), "ELF");
        assert_eq!(filetype(b""), "UNKNOWN");
    }
}
