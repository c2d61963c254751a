//! RTF embedded objects: the OLE objects carried as hex in `\objdata` destinations, following the
//! RTF 1.9.1 specification (`\object`, `\objdata`, `\bin`) and MS-OLEDS 2.2 (the OLE1
//! `ObjectHeader` / `EmbeddedObject` layout inside `\objdata`).
//!
//! This is a scan over the text, not a full RTF parser: malware RTFs are built to break parsers
//! (`{\rtx` headers, junk control words and odd digit counts inside the hex, unbalanced groups),
//! while Word itself reads them. So we look for every `\objdata` control word wherever it is
//! (inside `\object`, `\objupdate` or any nested group), collect hex digits until the group that
//! holds it closes, and decode what we got. Pictures (`\pict`) are not members.
//!
//! Members: for an OLE1 `Package` object, the packaged file (named by its label); for any other
//! class, the OLE1 native data (usually an OLE2 compound file) named `<ClassName>-N.bin`; for
//! objdata that is not OLE1, the decoded bytes as `object-N.bin`.
//!
//! This is the one parse of RTF objects: [`find_objdata`], [`decode`] and the OLE1 readers of
//! [`super::ole1`] are what both the extraction here and the description in
//! `inspect::rtf` read, so the object extracted and the object described come from the same
//! bytes (they used to have a hex scanner each, which disagreed on `'hh` and `{\*...}`).

use std::borrow::Cow;

use super::ole1::{Ole1, Package};
use super::{printable, Members};
use crate::analysis::warning::{Problem, Warning};

/// Most `\objdata` destinations decoded in one document: real documents carry a handful; a
/// document with thousands is built to exhaust the analysis.
pub const MAX_OBJECTS: usize = 1000;

/// True when `data` looks like RTF. Word only checks `{\rt`, so malware writes `{\rtx`, `{\rt1`
/// or `{\rtf1` followed by junk; we accept the same.
pub fn detect(data: &[u8]) -> bool {
    data.starts_with(b"{\\rt")
}

/// Finds every embedded object of the RTF document in `data` and hands it to `out`.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let mut pos = 0;
    let mut index = 0usize;
    while let Some((at, start)) = find_objdata(data, pos) {
        if out.stopped() {
            return;
        }
        index += 1;
        if index > MAX_OBJECTS {
            out.warn(
                Problem::Capped,
                format!("more than {MAX_OBJECTS} embedded objects; the rest are not extracted"),
            );
            return;
        }
        // Hex halves the size and `\bin` copies bytes, so only the byte budget can be hit;
        // decoding stops past it so a huge document cannot fill memory past the budget.
        let remaining = data.len().saturating_sub(start) as u64;
        let cap = out.member_cap(remaining);
        let Some(obj) = decode(data, at, start, cap, false, &mut || out.stopped()) else {
            return;
        };
        if obj.size > cap {
            out.admit(&format!("object-{index}.bin"), remaining, obj.size);
            return;
        }
        out.warnings.extend(obj.warnings(index));
        // Objects do not nest inside objdata in real documents; resuming after the group keeps
        // the scan linear even when groups are crafted to overlap.
        pos = obj.end.max(start);
        if obj.bytes.is_empty() {
            out.warn(
                Problem::Corrupt,
                format!("object {index}: objdata is empty"),
            );
            continue;
        }
        if !emit_object(obj.bytes, index, out) {
            return;
        }
    }
}

/// The next `\objdata` control word at or after `from`: where it is, and the position just
/// after it (its delimiter consumed).
pub fn find_objdata(data: &[u8], from: usize) -> Option<(usize, usize)> {
    find_word(data, b"\\objdata", from)
}

/// The next control word `word` (with its backslash) at or after `from`: where it is, and the
/// position after it, its numeric parameter and its delimiter. A word whose backslash is escaped
/// (`\\objdata` is literal text) and a longer word are not it.
pub fn find_word(data: &[u8], word: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut pos = from;
    while pos < data.len() {
        let rel = memchr::memmem::find(data.get(pos..)?, word)?;
        let at = pos + rel;
        pos = at + 1;
        // An even run of backslashes before the word means its backslash is escaped.
        let run = data[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if run % 2 == 1 {
            continue;
        }
        let mut end = at + word.len();
        match data.get(end) {
            Some(b) if b.is_ascii_alphabetic() => continue, // a longer control word
            _ => {}
        }
        // Optional numeric parameter, then an optional space delimiter.
        if data.get(end) == Some(&b'-') {
            end += 1;
        }
        while data.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if data.get(end) == Some(&b' ') {
            end += 1;
        }
        return Some((at, end));
    }
    None
}

/// A control word at `pos` (just after its backslash): returns its name, its numeric parameter
/// (if any) and the position after it and its delimiter.
fn control_word(data: &[u8], pos: usize) -> (&[u8], Option<i64>, usize) {
    let mut end = pos;
    while data.get(end).is_some_and(u8::is_ascii_alphabetic) {
        end += 1;
    }
    let name = &data[pos..end];
    let mut neg = false;
    if data.get(end) == Some(&b'-') && data.get(end + 1).is_some_and(u8::is_ascii_digit) {
        neg = true;
        end += 1;
    }
    let mut param: Option<i64> = None;
    while let Some(&d) = data.get(end).filter(|b| b.is_ascii_digit()) {
        let v = param.unwrap_or(0);
        param = Some(v.saturating_mul(10).saturating_add(i64::from(d - b'0')));
        end += 1;
    }
    if neg {
        param = param.map(|p| -p);
    }
    if data.get(end) == Some(&b' ') {
        end += 1;
    }
    (name, param, end)
}

/// Skips a nested group whose opening brace is just before `pos`: returns the position after
/// its closing brace (or the end of the data).
fn skip_group(data: &[u8], mut pos: usize) -> usize {
    let mut depth = 1usize;
    while let Some(&b) = data.get(pos) {
        pos += 1;
        match b {
            b'\\' => pos += 1, // `\{`, `\}` and `\\` are not braces
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return pos;
                }
            }
            _ => {}
        }
    }
    data.len()
}

/// One `\objdata` destination, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objdata {
    /// Offset of the `\objdata` control word.
    pub offset: usize,
    /// The position after the brace that closes the group holding it (or the end of the data).
    pub end: usize,
    /// The decoded bytes, at most the `keep` asked of [`decode`].
    pub bytes: Vec<u8>,
    /// How many bytes it decodes to in all (more than `bytes.len()` when `keep` cut it).
    pub size: u64,
    /// Whether its group is closed before the end of the document.
    pub closed: bool,
    /// Whether a last hex digit had no partner (it is ignored).
    pub odd_digits: bool,
    /// Whether control words, escapes, ignorable groups or other text sit between the hex
    /// digits (an obfuscation: Word skips them).
    pub junk: bool,
    /// A `\binN` that runs past the end of the document: N, and the bytes that remained.
    pub bin_short: Option<(usize, usize)>,
}

impl Objdata {
    /// What is odd about it, as warnings on object `index`.
    pub fn warnings(&self, index: usize) -> Vec<Warning> {
        let mut w = Vec::new();
        if let Some((n, take)) = self.bin_short {
            w.push(Warning::new(
                Problem::Truncated,
                format!(
                "object {index}: \\bin{n} runs past the end of the document ({take} bytes remain)"
            ),
            ));
        }
        if !self.closed {
            w.push(Warning::new(
                Problem::Truncated,
                format!(
                "object {index}: the objdata group is not closed before the end of the document"
            ),
            ));
        }
        if self.odd_digits {
            w.push(Warning::new(
                Problem::Corrupt,
                format!(
                "object {index}: objdata has an odd number of hex digits; the last one is ignored"
            ),
            ));
        }
        if self.junk {
            w.push(Warning::new(
                Problem::Corrupt,
                format!(
                    "object {index}: objdata contains control words or other text between its hex \
                 digits (obfuscation)"
                ),
            ));
        }
        w
    }
}

/// Decodes the hex of the objdata destination whose control word is at `offset` and whose data
/// starts at `start` ([`find_objdata`]), up to the brace closing the group that holds it, as
/// Word reads it: an ignorable destination (`{\*\foo ...}`) is skipped whole, other nested groups
/// are transparent, `\'hh` is an escaped character (not data), other control words and symbols
/// are skipped, `\binN` copies N raw bytes.
///
/// At most `keep` bytes are kept. Past them decoding stops when `count_past` is false (the
/// returned `size` is then over `keep`: a byte budget was hit), else the rest is only counted.
/// None when `stopped` says so (checked every 64 Ki steps).
pub fn decode(
    data: &[u8],
    offset: usize,
    start: usize,
    keep: u64,
    count_past: bool,
    stopped: &mut dyn FnMut() -> bool,
) -> Option<Objdata> {
    let mut obj = Objdata {
        offset,
        end: data.len(),
        bytes: Vec::new(),
        size: 0,
        closed: false,
        odd_digits: false,
        junk: false,
        bin_short: None,
    };
    let push = |obj: &mut Objdata, bytes: &[u8]| {
        let room = keep.saturating_sub(obj.bytes.len() as u64);
        let kept = if count_past {
            (bytes.len() as u64).min(room) as usize
        } else {
            bytes.len()
        };
        obj.bytes.extend_from_slice(&bytes[..kept]);
        obj.size += bytes.len() as u64;
    };
    let mut nibble: Option<u8> = None;
    let mut pos = start;
    let mut depth = 0usize;
    let mut steps = 0u32;
    while let Some(&b) = data.get(pos) {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(65536) && stopped() {
            return None;
        }
        pos += 1;
        match b {
            b'{' => {
                if data.get(pos..pos + 2) == Some(b"\\*") {
                    pos = skip_group(data, pos);
                    obj.junk = true;
                } else {
                    depth += 1;
                }
            }
            b'}' => {
                if depth == 0 {
                    obj.closed = true;
                    break;
                }
                depth -= 1;
            }
            b'\\' => match data.get(pos) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let (name, param, end) = control_word(data, pos);
                    pos = end;
                    if name == b"bin" {
                        let n = usize::try_from(param.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
                        let take = n.min(data.len() - pos);
                        if take < n {
                            obj.bin_short = Some((n, take));
                        }
                        push(&mut obj, &data[pos..pos + take]);
                        pos += take;
                    } else {
                        obj.junk = true;
                    }
                }
                Some(b'\'') => {
                    pos = (pos + 3).min(data.len());
                    obj.junk = true;
                }
                Some(_) => {
                    // Control symbols (`\{`, `\}`, `\\`, `\~` ...) are not data and not braces.
                    pos += 1;
                    obj.junk = true;
                }
                None => {}
            },
            b' ' | b'\t' | b'\r' | b'\n' | 0 => {}
            _ => match super::hex_digit(b) {
                Some(v) => match nibble.take() {
                    Some(hi) => push(&mut obj, &[hi << 4 | v]),
                    None => nibble = Some(v),
                },
                None => obj.junk = true,
            },
        }
        if !count_past && obj.size > keep {
            obj.end = pos;
            return Some(obj);
        }
    }
    obj.end = pos;
    obj.odd_digits = nibble.is_some();
    Some(obj)
}

/// Hands the content of one decoded objdata to `out`: the packaged file, the native data, or the
/// bytes themselves when they are not OLE1. Returns false when `out` says to stop.
fn emit_object(decoded: Vec<u8>, index: usize, out: &mut Members<'_>) -> bool {
    let Some(ole1) = Ole1::parse(&decoded) else {
        out.warn(
            Problem::Corrupt,
            format!("object {index}: objdata is not an OLE1 object; kept as decoded bytes"),
        );
        return out.add(format!("object-{index}.bin"), Cow::Owned(decoded));
    };
    let class = String::from_utf8_lossy(ole1.class).into_owned();
    if ole1.linked {
        out.warn(
            Problem::Unsupported,
            format!(
                "object {index}: {} object links to {} (nothing embedded)",
                printable(&class),
                printable(&String::from_utf8_lossy(ole1.topic))
            ),
        );
        return true;
    }
    let Some(declared) = ole1.declared else {
        out.warn(
            Problem::Truncated,
            format!(
                "object {index}: OLE1 header of {} ends before its native data size",
                printable(&class)
            ),
        );
        return true;
    };
    let native = ole1.native;
    if (native.len() as u64) < u64::from(declared) {
        out.warn(
            Problem::Truncated,
            format!(
                "object {index}: native data of {} is truncated: header says {declared} bytes, {} \
             remain",
                printable(&class),
                native.len()
            ),
        );
    }
    if native.is_empty() {
        out.warn(
            Problem::Corrupt,
            format!(
                "object {index}: {} object has no native data",
                printable(&class)
            ),
        );
        return true;
    }
    // ProgIDs are looked up case-insensitively, so `package` activates the Packager too.
    if class.eq_ignore_ascii_case("Package") {
        match Package::parse(native) {
            Ok(p) => {
                if p.kind == 1 {
                    out.warn(
                        Problem::Unsupported,
                        format!(
                            "object {index}: package is a link to {} (nothing embedded)",
                            printable(&String::from_utf8_lossy(p.source))
                        ),
                    );
                }
                if (p.content.len() as u64) < u64::from(p.declared) {
                    out.warn(
                        Problem::Truncated,
                        format!(
                            "object {index}: packaged file is truncated: header says {} bytes, {} \
                         remain",
                            p.declared,
                            p.content.len()
                        ),
                    );
                }
                let name = p.name().unwrap_or_else(|| format!("package-{index}.bin"));
                return out.add(name, Cow::Owned(p.content.to_vec()));
            }
            Err(what) => out.warn(
                Problem::Corrupt,
                format!("object {index}: package {what}; kept the whole native data"),
            ),
        }
        return out.add(format!("Package-{index}.bin"), Cow::Owned(native.to_vec()));
    }
    let name = if class.is_empty() {
        format!("object-{index}.bin")
    } else {
        format!("{class}-{index}.bin")
    };
    out.add(name, Cow::Owned(native.to_vec()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{Budget, Limit};
    use super::*;
    use crate::analysis::formats::ole1::tests::{ole1, package};

    /// `data` as RTF hex digits.
    pub(crate) fn hex(data: &[u8]) -> String {
        data.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn rtf_object(class: &str, hexdata: &str) -> String {
        format!(
            "{{\\object\\objemb{{\\*\\objclass {class}}}\\objw100\\objh100{{\\*\\objdata \
             {hexdata}}}{{\\result {{\\pict\\wmetafile8 0102}}}}}}"
        )
    }

    fn run(data: &[u8], caps: Budget) -> Members<'_> {
        let mut out = Members::new(caps);
        unpack(data, &mut out);
        out
    }

    /// The CFB signature: what an Equation.3 object's native data starts with.
    const CFB: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1equation-stream";

    #[test]
    fn decoding_skips_escapes_and_ignorable_groups_and_can_keep_a_prefix() {
        let data = b"{\\rtf1{\\*\\objdata 01 02\\'41{\\*\\bkmkstart 0304}05\\par 06}}";
        let (at, start) = find_objdata(data, 0).unwrap();
        let whole = decode(data, at, start, u64::MAX, true, &mut || false).unwrap();
        assert_eq!(whole.bytes, [1, 2, 5, 6]);
        assert_eq!((whole.size, whole.closed, whole.junk), (4, true, true));
        assert_eq!(&data[whole.end..], b"}");
        // What the metadata reader asks for: the first bytes, and the size of the whole.
        let head = decode(data, at, start, 2, true, &mut || false).unwrap();
        assert_eq!((head.bytes.as_slice(), head.size), (&[1u8, 2][..], 4));
        // What the extractor asks for: stop past the budget.
        let cut = decode(data, at, start, 2, false, &mut || false).unwrap();
        assert_eq!(cut.size, 3);
    }

    #[test]
    fn package_and_equation_objects() {
        let pkg = ole1(
            b"Package",
            &package(b"hello.txt", b"C:\\tmp\\hello.txt", b"hello world\n"),
        );
        let eq = ole1(b"Equation.3", CFB);
        // Line breaks inside the hex, as Word writes them.
        let pkg_hex: String = hex(&pkg)
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let doc = format!(
            "{{\\rtf1\\ansi {{\\fonttbl}} text {} more {} }}",
            rtf_object("Package", &pkg_hex),
            rtf_object("Equation.3", &hex(&eq))
        );
        assert!(detect(doc.as_bytes()));
        let out = run(doc.as_bytes(), Budget::unlimited());
        assert_eq!(out.members.len(), 2, "{:?}", out.warnings);
        assert_eq!(out.members[0].name, "hello.txt");
        assert_eq!(&*out.members[0].data, b"hello world\n");
        assert_eq!(out.members[1].name, "Equation.3-2.bin");
        assert_eq!(&*out.members[1].data, CFB);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn obfuscated_hex_is_decoded() {
        let eq = ole1(b"Equation.3", CFB);
        let h = hex(&eq);
        let (a, b) = h.split_at(10);
        // Junk control words, an ignorable group, uppercase digits, an escaped brace, a stray
        // odd digit at the end, and a `{\rtx` header.
        let data = format!(
            "{{\\rtx9 {{\\object{{\\*\\objdata {a}\\par123 {{\\*\\junk 4141}}\\{{ {}\r\n5}}}}}}",
            b.to_uppercase()
        );
        assert!(detect(data.as_bytes()));
        let out = run(data.as_bytes(), Budget::unlimited());
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.members[0].name, "Equation.3-1.bin");
        assert_eq!(&*out.members[0].data, CFB);
        assert!(out.warnings.iter().any(|w| w.text.contains("odd number")));
        assert!(out.warnings.iter().any(|w| w.text.contains("obfuscation")));
    }

    #[test]
    fn bin_raw_bytes() {
        let eq = ole1(b"Equation.3", CFB);
        let (a, b) = eq.split_at(12);
        let mut data = format!(
            "{{\\rtf1{{\\object{{\\*\\objdata {}\\bin{} ",
            hex(a),
            b.len()
        )
        .into_bytes();
        data.extend_from_slice(b);
        data.extend_from_slice(b"}}}");
        let out = run(&data, Budget::unlimited());
        assert_eq!(out.members.len(), 1, "{:?}", out.warnings);
        assert_eq!(&*out.members[0].data, CFB);
    }

    #[test]
    fn escaped_objdata_is_text() {
        let out = run(b"{\\rtf1 \\\\objdata 0105}", Budget::unlimited());
        assert!(out.members.is_empty());
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn non_ole1_data_is_kept_raw() {
        let data = b"{\\rtf1{\\object{\\*\\objdata d0cf11e0a1b11ae1}}}";
        let out = run(data, Budget::unlimited());
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.members[0].name, "object-1.bin");
        assert_eq!(&*out.members[0].data, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("not an OLE1 object")));
    }

    #[test]
    fn truncated_native_data_and_unclosed_group() {
        let mut eq = ole1(b"Equation.3", CFB);
        eq.truncate(eq.len() - 5);
        let data = format!("{{\\rtf1{{\\object{{\\*\\objdata {}", hex(&eq));
        let out = run(data.as_bytes(), Budget::unlimited());
        assert_eq!(out.members.len(), 1);
        assert_eq!(&*out.members[0].data, &CFB[..CFB.len() - 5]);
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));
        assert!(out.warnings.iter().any(|w| w.text.contains("not closed")));
    }

    #[test]
    fn oversized_package_size_is_tolerated() {
        let mut p = package(b"a.exe", b"C:\\t\\a.exe", b"MZ");
        let n = p.len();
        p[n - 6..n - 2].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let data = format!("{{\\rtf1{{\\*\\objdata {}}}}}", hex(&ole1(b"Package", &p)));
        let out = run(data.as_bytes(), Budget::unlimited());
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.members[0].name, "a.exe");
        assert_eq!(&*out.members[0].data, b"MZ");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("packaged file is truncated")));
    }

    #[test]
    fn huge_class_name_length_is_not_ole1() {
        let mut v = 0x0501u32.to_le_bytes().to_vec();
        v.extend_from_slice(&2u32.to_le_bytes());
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        v.extend_from_slice(b"abc");
        let data = format!("{{\\rtf1{{\\*\\objdata {}}}}}", hex(&v));
        let out = run(data.as_bytes(), Budget::unlimited());
        assert_eq!(out.members[0].name, "object-1.bin");
    }

    #[test]
    fn empty_and_non_rtf_input() {
        assert!(!detect(b""));
        assert!(!detect(b"{\\r"));
        let out = run(b"", Budget::unlimited());
        assert!(out.members.is_empty() && out.warnings.is_empty());
        let out = run(b"{\\rtf1{\\*\\objdata}}", Budget::unlimited());
        assert!(out.members.is_empty());
        assert!(out.warnings.iter().any(|w| w.text.contains("empty")));
        // A lone backslash at the end and a \bin running past the end must not panic.
        let out = run(
            b"{\\rtf1{\\*\\objdata 01\\bin99999 ab\\",
            Budget::unlimited(),
        );
        assert!(out.warnings.iter().any(|w| w.text.contains("runs past")));
    }

    #[test]
    fn object_cap() {
        let one = "{\\*\\objdata 41}";
        let data = format!("{{\\rtf1{}}}", one.repeat(MAX_OBJECTS + 5));
        let out = run(data.as_bytes(), Budget::unlimited());
        assert_eq!(out.members.len(), MAX_OBJECTS);
        assert!(out.warnings.iter().any(|w| w.text.contains("more than")));
    }

    #[test]
    fn member_over_the_byte_budget_is_skipped() {
        let eq = ole1(b"Equation.3", &vec![7u8; 5000]);
        let data = format!("{{\\rtf1{{\\*\\objdata {}}}}}", hex(&eq));
        let caps = Budget {
            max_output: 1000,
            ..Budget::unlimited()
        };
        let out = run(data.as_bytes(), caps);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }
}
