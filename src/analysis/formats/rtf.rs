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

use std::borrow::Cow;

use super::{printable, Out};

/// Most `\objdata` destinations decoded in one document: real documents carry a handful; a
/// document with thousands is built to exhaust the analysis.
pub const MAX_OBJECTS: usize = 1000;

/// Longest OLE1 class, topic or item name accepted (bytes, including the NUL). Real class names
/// are short ProgIDs (`Equation.3`, `Package`); a huge length means the bytes are not OLE1.
pub const MAX_OLE1_STRING: u32 = 4096;

/// OLE1 `FormatID` of a linked object: it names a file but carries no data.
const FORMAT_LINKED: u32 = 1;
/// OLE1 `FormatID` of an embedded object: native data follows the names.
const FORMAT_EMBEDDED: u32 = 2;

/// True when `data` looks like RTF. Word only checks `{\rt`, so malware writes `{\rtx`, `{\rt1`
/// or `{\rtf1` followed by junk; we accept the same.
pub fn detect(data: &[u8]) -> bool {
    data.starts_with(b"{\\rt")
}

/// Finds every embedded object of the RTF document in `data` and hands it to `out`.
pub fn unpack<'a>(data: &'a [u8], out: &mut Out<'a>) {
    let mut pos = 0;
    let mut index = 0usize;
    while let Some(start) = find_objdata(data, pos) {
        if out.stopped() {
            return;
        }
        index += 1;
        if index > MAX_OBJECTS {
            out.warn(format!(
                "more than {MAX_OBJECTS} embedded objects; the rest are not extracted"
            ));
            return;
        }
        let (decoded, end) = match collect_hex(data, start, index, out) {
            Some(x) => x,
            None => return,
        };
        // Objects do not nest inside objdata in real documents; resuming after the group keeps
        // the scan linear even when groups are crafted to overlap.
        pos = end.max(start);
        if decoded.is_empty() {
            out.warn(format!("object {index}: objdata is empty"));
            continue;
        }
        if !emit_object(decoded, index, out) {
            return;
        }
    }
}

/// Position just after the next `\objdata` control word at or after `from` (its delimiter
/// consumed), skipping `\\objdata`, which is literal text.
fn find_objdata(data: &[u8], from: usize) -> Option<usize> {
    const WORD: &[u8] = b"\\objdata";
    let mut pos = from;
    while pos < data.len() {
        let rel = memchr::memmem::find(data.get(pos..)?, WORD)?;
        let at = pos + rel;
        pos = at + 1;
        // An even run of backslashes before the word means its backslash is escaped.
        let run = data[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if run % 2 == 1 {
            continue;
        }
        let mut end = at + WORD.len();
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
        return Some(end);
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

/// Decodes the hex of the objdata destination starting at `start`, up to the brace closing the
/// group that holds it. Returns the bytes and the position after the group, or None when the
/// walk must stop (deadline, byte budget).
fn collect_hex(
    data: &[u8],
    start: usize,
    index: usize,
    out: &mut Out<'_>,
) -> Option<(Vec<u8>, usize)> {
    // Hex halves the size and `\bin` copies bytes, so only the byte budget can be hit; check it
    // as we go so a huge document cannot fill memory past the budget.
    let cap = out.member_cap(data.len().saturating_sub(start) as u64);
    let mut bytes = Vec::new();
    let mut nibble: Option<u8> = None;
    let mut pos = start;
    let mut depth = 0usize;
    let mut junk = false;
    let mut closed = false;
    let mut steps = 0u32;
    while let Some(&b) = data.get(pos) {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(65536) && out.stopped() {
            return None;
        }
        pos += 1;
        match b {
            b'{' => {
                // An ignorable destination (`{\*\foo ...}`) inside objdata is skipped whole, as
                // Word does; other nested groups are transparent and their hex counts.
                if data.get(pos..pos + 2) == Some(b"\\*") {
                    pos = skip_group(data, pos);
                    junk = true;
                } else {
                    depth += 1;
                }
            }
            b'}' => {
                if depth == 0 {
                    closed = true;
                    break;
                }
                depth -= 1;
            }
            b'\\' => match data.get(pos) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let (name, param, end) = control_word(data, pos);
                    pos = end;
                    if name == b"bin" {
                        // `\binN`: N raw bytes follow the delimiter.
                        let n = usize::try_from(param.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
                        let take = n.min(data.len() - pos);
                        if take < n {
                            out.warn(format!(
                                "object {index}: \\bin{n} runs past the end of the document \
                                 ({take} bytes remain)"
                            ));
                        }
                        bytes.extend_from_slice(&data[pos..pos + take]);
                        pos += take;
                    } else {
                        junk = true;
                    }
                }
                Some(b'\'') => {
                    // `\'hh` is an escaped character, not object data.
                    pos = (pos + 3).min(data.len());
                    junk = true;
                }
                Some(_) => {
                    // Control symbols (`\{`, `\}`, `\\`, `\~` ...) are not data and not braces.
                    pos += 1;
                    junk = true;
                }
                None => {}
            },
            b' ' | b'\t' | b'\r' | b'\n' | 0 => {}
            _ => match super::hex_digit(b) {
                Some(v) => match nibble.take() {
                    Some(hi) => bytes.push(hi << 4 | v),
                    None => nibble = Some(v),
                },
                None => junk = true,
            },
        }
        if bytes.len() as u64 > cap {
            let name = format!("object-{index}.bin");
            out.admit(
                &name,
                data.len().saturating_sub(start) as u64,
                bytes.len() as u64,
            );
            return None;
        }
    }
    if !closed {
        out.warn(format!(
            "object {index}: the objdata group is not closed before the end of the document"
        ));
    }
    if nibble.is_some() {
        out.warn(format!(
            "object {index}: objdata has an odd number of hex digits; the last one is ignored"
        ));
    }
    if junk {
        out.warn(format!(
            "object {index}: objdata contains control words or other text between its hex \
             digits (obfuscation)"
        ));
    }
    Some((bytes, pos))
}

/// A little-endian reader over a byte slice that never panics.
struct Reader<'b> {
    data: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    fn u16(&mut self) -> Option<u16> {
        let b = self.data.get(self.pos..self.pos.checked_add(2)?)?;
        self.pos += 2;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.data.get(self.pos..self.pos.checked_add(4)?)?;
        self.pos += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Up to `n` bytes: fewer when the data ends first.
    fn take_upto(&mut self, n: usize) -> &'b [u8] {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let s = &rest[..n.min(rest.len())];
        self.pos += s.len();
        s
    }

    /// A NUL-terminated string (the NUL consumed; the rest of the data if there is none).
    fn cstr(&mut self) -> &'b [u8] {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        self.pos += (len + 1).min(rest.len());
        &rest[..len]
    }

    /// MS-OLEDS `LengthPrefixedAnsiString`: u32 length (including the NUL), then the bytes.
    fn ole1_string(&mut self) -> Option<&'b [u8]> {
        let len = self.u32()?;
        if len > MAX_OLE1_STRING {
            return None;
        }
        let s = self
            .data
            .get(self.pos..self.pos.checked_add(len as usize)?)?;
        self.pos += s.len();
        Some(trim_nul(s))
    }
}

fn trim_nul(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    &s[..end]
}

/// Parses one decoded objdata as an OLE1 object and hands its content to `out`. Returns false
/// when `out` says to stop.
fn emit_object(decoded: Vec<u8>, index: usize, out: &mut Out<'_>) -> bool {
    let mut r = Reader {
        data: &decoded,
        pos: 0,
    };
    let header = (|| {
        let _ole_version = r.u32()?;
        let format_id = r.u32()?;
        let class = r.ole1_string()?;
        Some((format_id, class))
    })();
    let (format_id, class) = match header {
        Some((id @ (FORMAT_LINKED | FORMAT_EMBEDDED), class)) => (id, class),
        _ => {
            out.warn(format!(
                "object {index}: objdata is not an OLE1 object; kept as decoded bytes"
            ));
            return out.add(format!("object-{index}.bin"), Cow::Owned(decoded));
        }
    };
    let class = String::from_utf8_lossy(class).into_owned();
    let topic = r.ole1_string().unwrap_or_default();
    let _item = r.ole1_string().unwrap_or_default();
    if format_id == FORMAT_LINKED {
        out.warn(format!(
            "object {index}: {} object links to {} (nothing embedded)",
            printable(&class),
            printable(&String::from_utf8_lossy(topic))
        ));
        return true;
    }
    let Some(declared) = r.u32() else {
        out.warn(format!(
            "object {index}: OLE1 header of {} ends before its native data size",
            printable(&class)
        ));
        return true;
    };
    let native = r.take_upto(declared as usize);
    if (native.len() as u64) < u64::from(declared) {
        out.warn(format!(
            "object {index}: native data of {} is truncated: header says {declared} bytes, {} \
             remain",
            printable(&class),
            native.len()
        ));
    }
    if native.is_empty() {
        out.warn(format!(
            "object {index}: {} object has no native data",
            printable(&class)
        ));
        return true;
    }
    // ProgIDs are looked up case-insensitively, so `package` activates the Packager too.
    if class.eq_ignore_ascii_case("Package") {
        if let Some((name, content)) = parse_package(native, index, out) {
            return out.add(name, Cow::Owned(content.to_vec()));
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

/// The packaged file of an OLE Package (Packager) native data: returns its name and content, or
/// None (with a warning) when the layout does not hold.
///
/// Layout: u16 signature (2), label (NUL-terminated), source path (NUL-terminated), u16 reserved,
/// u16 type (3 = embedded file, 1 = link), u32 length + temporary path, u32 size + file data.
fn parse_package<'n>(
    native: &'n [u8],
    index: usize,
    out: &mut Out<'_>,
) -> Option<(String, &'n [u8])> {
    let mut r = Reader {
        data: native,
        pos: 0,
    };
    let bad = |out: &mut Out<'_>, what: &str| {
        out.warn(format!(
            "object {index}: package {what}; kept the whole native data"
        ));
    };
    let Some(_signature) = r.u16() else {
        bad(out, "is too short for its header");
        return None;
    };
    let label = r.cstr();
    let source = r.cstr();
    let (Some(_reserved), Some(kind)) = (r.u16(), r.u16()) else {
        bad(out, "ends after its file names");
        return None;
    };
    if kind == 1 {
        out.warn(format!(
            "object {index}: package is a link to {} (nothing embedded)",
            printable(&String::from_utf8_lossy(source))
        ));
    }
    let Some(temp_len) = r.u32() else {
        bad(out, "ends before its temporary path");
        return None;
    };
    // Be tolerant: when the length is implausible, the path is still NUL-terminated.
    let temp = if (temp_len as usize) <= native.len().saturating_sub(r.pos) {
        trim_nul(r.take_upto(temp_len as usize))
    } else {
        r.cstr()
    };
    let Some(size) = r.u32() else {
        bad(out, "ends before its file data");
        return None;
    };
    let content = r.take_upto(size as usize);
    if (content.len() as u64) < u64::from(size) {
        out.warn(format!(
            "object {index}: packaged file is truncated: header says {size} bytes, {} remain",
            content.len()
        ));
    }
    let name = [label, basename(temp), basename(source)]
        .into_iter()
        .find(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_else(|| format!("package-{index}.bin"));
    Some((name, content))
}

/// The last component of a Windows or Unix path.
fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'\\' || b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Caps, Limit};
    use super::*;

    fn ole1_string(s: &[u8]) -> Vec<u8> {
        let mut v = ((s.len() + 1) as u32).to_le_bytes().to_vec();
        v.extend_from_slice(s);
        v.push(0);
        v
    }

    fn ole1(class: &[u8], native: &[u8]) -> Vec<u8> {
        let mut v = 0x0501u32.to_le_bytes().to_vec();
        v.extend_from_slice(&2u32.to_le_bytes());
        v.extend(ole1_string(class));
        v.extend(ole1_string(b""));
        v.extend(ole1_string(b""));
        v.extend_from_slice(&(native.len() as u32).to_le_bytes());
        v.extend_from_slice(native);
        v
    }

    fn package(label: &[u8], temp: &[u8], content: &[u8]) -> Vec<u8> {
        let mut v = 2u16.to_le_bytes().to_vec();
        v.extend_from_slice(label);
        v.push(0);
        v.extend_from_slice(b"C:\\src\\");
        v.extend_from_slice(label);
        v.push(0);
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&3u16.to_le_bytes());
        v.extend_from_slice(&((temp.len() + 1) as u32).to_le_bytes());
        v.extend_from_slice(temp);
        v.push(0);
        v.extend_from_slice(&(content.len() as u32).to_le_bytes());
        v.extend_from_slice(content);
        v
    }

    fn hex(data: &[u8]) -> String {
        data.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn rtf_object(class: &str, hexdata: &str) -> String {
        format!(
            "{{\\object\\objemb{{\\*\\objclass {class}}}\\objw100\\objh100{{\\*\\objdata \
             {hexdata}}}{{\\result {{\\pict\\wmetafile8 0102}}}}}}"
        )
    }

    fn run(data: &[u8], caps: Caps) -> Out<'_> {
        let mut out = Out::new(caps);
        unpack(data, &mut out);
        out
    }

    /// The CFB signature: what an Equation.3 object's native data starts with.
    const CFB: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1equation-stream";

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
        let out = run(doc.as_bytes(), Caps::unlimited());
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
        let out = run(data.as_bytes(), Caps::unlimited());
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.members[0].name, "Equation.3-1.bin");
        assert_eq!(&*out.members[0].data, CFB);
        assert!(out.warnings.iter().any(|w| w.contains("odd number")));
        assert!(out.warnings.iter().any(|w| w.contains("obfuscation")));
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
        let out = run(&data, Caps::unlimited());
        assert_eq!(out.members.len(), 1, "{:?}", out.warnings);
        assert_eq!(&*out.members[0].data, CFB);
    }

    #[test]
    fn escaped_objdata_is_text() {
        let out = run(b"{\\rtf1 \\\\objdata 0105}", Caps::unlimited());
        assert!(out.members.is_empty());
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn non_ole1_data_is_kept_raw() {
        let data = b"{\\rtf1{\\object{\\*\\objdata d0cf11e0a1b11ae1}}}";
        let out = run(data, Caps::unlimited());
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.members[0].name, "object-1.bin");
        assert_eq!(&*out.members[0].data, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.contains("not an OLE1 object")));
    }

    #[test]
    fn truncated_native_data_and_unclosed_group() {
        let mut eq = ole1(b"Equation.3", CFB);
        eq.truncate(eq.len() - 5);
        let data = format!("{{\\rtf1{{\\object{{\\*\\objdata {}", hex(&eq));
        let out = run(data.as_bytes(), Caps::unlimited());
        assert_eq!(out.members.len(), 1);
        assert_eq!(&*out.members[0].data, &CFB[..CFB.len() - 5]);
        assert!(out.warnings.iter().any(|w| w.contains("truncated")));
        assert!(out.warnings.iter().any(|w| w.contains("not closed")));
    }

    #[test]
    fn oversized_package_size_is_tolerated() {
        let mut p = package(b"a.exe", b"C:\\t\\a.exe", b"MZ");
        let n = p.len();
        p[n - 6..n - 2].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let data = format!("{{\\rtf1{{\\*\\objdata {}}}}}", hex(&ole1(b"Package", &p)));
        let out = run(data.as_bytes(), Caps::unlimited());
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.members[0].name, "a.exe");
        assert_eq!(&*out.members[0].data, b"MZ");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.contains("packaged file is truncated")));
    }

    #[test]
    fn huge_class_name_length_is_not_ole1() {
        let mut v = 0x0501u32.to_le_bytes().to_vec();
        v.extend_from_slice(&2u32.to_le_bytes());
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        v.extend_from_slice(b"abc");
        let data = format!("{{\\rtf1{{\\*\\objdata {}}}}}", hex(&v));
        let out = run(data.as_bytes(), Caps::unlimited());
        assert_eq!(out.members[0].name, "object-1.bin");
    }

    #[test]
    fn empty_and_non_rtf_input() {
        assert!(!detect(b""));
        assert!(!detect(b"{\\r"));
        let out = run(b"", Caps::unlimited());
        assert!(out.members.is_empty() && out.warnings.is_empty());
        let out = run(b"{\\rtf1{\\*\\objdata}}", Caps::unlimited());
        assert!(out.members.is_empty());
        assert!(out.warnings.iter().any(|w| w.contains("empty")));
        // A lone backslash at the end and a \bin running past the end must not panic.
        let out = run(b"{\\rtf1{\\*\\objdata 01\\bin99999 ab\\", Caps::unlimited());
        assert!(out.warnings.iter().any(|w| w.contains("runs past")));
    }

    #[test]
    fn object_cap() {
        let one = "{\\*\\objdata 41}";
        let data = format!("{{\\rtf1{}}}", one.repeat(MAX_OBJECTS + 5));
        let out = run(data.as_bytes(), Caps::unlimited());
        assert_eq!(out.members.len(), MAX_OBJECTS);
        assert!(out.warnings.iter().any(|w| w.contains("more than")));
    }

    #[test]
    fn member_over_the_byte_budget_is_skipped() {
        let eq = ole1(b"Equation.3", &vec![7u8; 5000]);
        let data = format!("{{\\rtf1{{\\*\\objdata {}}}}}", hex(&eq));
        let caps = Caps {
            max_output: 1000,
            ..Caps::unlimited()
        };
        let out = run(data.as_bytes(), caps);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }
}
