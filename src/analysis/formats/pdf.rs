//! PDF streams, embedded files and JavaScript, following ISO 32000-1:2008 (PDF 1.7): object syntax
//! (7.3), stream filters and predictors (7.4), object streams (7.5.7), file specifications and
//! embedded file streams (7.11), JavaScript actions (12.6.4.16).
//!
//! Malware PDFs have broken cross-reference tables on purpose, so this module does not trust the
//! xref: it scans the file for `N G obj` headers, parses each object, takes stream data by its
//! `/Length` when that is direct and consistent and by the `endstream` keyword otherwise, and
//! expands object streams (`/Type /ObjStm`) so objects hidden there are seen too. A later
//! definition of an object replaces an earlier one (incremental updates); an object in an object
//! stream never replaces one defined at top level.
//!
//! Members, in this order: embedded files (`/Type /EmbeddedFile` streams or streams referenced
//! from a file specification's `/EF`), named by the file specification; JavaScript (`/JS` strings
//! and streams) as `javascript-N.js`; every other decodable stream as `stream-<obj>-<gen>.bin`,
//! except images, fonts, page contents, xref and object streams, XMP metadata and ICC profiles.
//! Encrypted PDFs are not decrypted.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use flate2::read::ZlibDecoder;

use super::{Budget, Members, ReadStop};
use crate::analysis::warning::{Problem, Warning};

/// Most objects (top level and inside object streams) parsed in one file: large real PDFs have
/// a few hundred thousand; more than this is an attack on the parser.
pub const MAX_OBJECTS: usize = 500_000;

/// Most `N G obj` headers located in one file (some lie inside stream data and are skipped):
/// bounds the memory of the header list.
pub const MAX_HEADERS: usize = 4 * MAX_OBJECTS;

/// Most streams decoded in one file (object streams included).
pub const MAX_STREAMS: usize = 20_000;

/// Longest filter chain decoded: real files use one or two filters; long chains of cheap filters
/// are an evasion trick and a way to multiply work.
pub const MAX_FILTERS: usize = 8;

/// Deepest nesting of arrays and dictionaries parsed in one object: deeper is a stack attack.
pub const MAX_NESTING: usize = 64;

/// Longest chain of indirect references followed to reach a value (`/Length 5 0 R` where
/// object 5 is `6 0 R` ...): guards against reference cycles.
pub const MAX_REF_DEPTH: usize = 16;

/// Most `trailer` keywords examined for `/Encrypt`: incremental updates add one each.
pub const MAX_TRAILERS: usize = 1000;

/// Bytes after a `trailer` keyword within which its dictionary must be parsed.
pub const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// Most bytes in one predictor row (`/Columns` × `/Colors` × `/BitsPerComponent` / 8): real rows
/// are a few kilobytes; a huge row is a way to make us allocate.
pub const MAX_ROW_BYTES: u64 = 1 << 24;

/// Most warnings recorded for one file: a damaged file can produce one per object.
pub const MAX_WARNINGS: usize = 200;

/// True when `data` is a PDF: readers accept the `%PDF-` header anywhere in the first 1024
/// bytes, so droppers put junk before it.
pub fn detect(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1024)];
    find(head, b"%PDF-", 0).is_some()
}

/// Finds the embedded files, JavaScript and other streams of the PDF in `data` and hands them to
/// `out`.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    read(data, out, None, true);
}

/// Who reads the decoded bytes of each object stream, in file order (the objects in them are
/// not in the file as written): the metadata reader (`inspect::pdf`). It returns false when it
/// wants no more: the expansion then stops, and no later object stream is decoded.
pub(crate) type ObjectStreams<'s> = &'s mut dyn FnMut(&[u8]) -> bool;

/// Only the object streams of `data`, each handed to `seen`, under `budget` (nothing is
/// extracted): the one decoding of object streams, which the description reads too. Returns
/// what kept objects in them from being read: the warnings met while expanding object streams
/// and the limits that stopped the parse (as [`Problem::Capped`], `limit: ...`). Problems with
/// the rest of the file are the extraction's to report.
pub(crate) fn object_streams(data: &[u8], budget: Budget, seen: ObjectStreams) -> Vec<Warning> {
    let mut out = Members::new(budget);
    let from = read(data, &mut out, Some(&mut *seen), false);
    let limits = out
        .limits
        .into_iter()
        .map(|l| Warning::new(Problem::Capped, format!("limit: {}", l.detail)));
    out.warnings
        .split_off(from)
        .into_iter()
        .chain(limits)
        .collect()
}

/// Parses `data` into `out`, and extracts members when `emit`. Returns how many warnings were
/// recorded before the object streams were expanded (all of them, when the parse stopped before).
fn read<'a, 'o>(
    data: &'a [u8],
    out: &'o mut Members<'a>,
    seen: Option<ObjectStreams<'o>>,
    emit: bool,
) -> usize {
    let mut pdf = Pdf {
        data,
        out,
        entries: Vec::new(),
        index: HashMap::new(),
        warnings: 0,
        decoded: 0,
        encrypted: false,
        seen,
    };
    pdf.scan_objects();
    if pdf.out.stopped() {
        return pdf.out.warnings.len();
    }
    pdf.check_encryption();
    let before_object_streams = pdf.out.warnings.len();
    pdf.expand_object_streams();
    if pdf.out.stopped() || !emit {
        return before_object_streams;
    }
    pdf.emit();
    before_object_streams
}

// ---------------------------------------------------------------------------------------------
// Object model and parser (ISO 32000-1 7.2, 7.3)
// ---------------------------------------------------------------------------------------------

/// An object number and generation.
type Key = (u32, u16);

#[derive(Debug, Clone, PartialEq)]
enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    Str(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
}

static NULL: Obj = Obj::Null;

#[derive(Debug, Clone, PartialEq, Default)]
struct Dict(Vec<(Vec<u8>, Obj)>);

impl Dict {
    /// The value of `key`; with duplicate keys the last one wins, as in most readers.
    fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Obj {
    fn as_dict(&self) -> Option<&Dict> {
        match self {
            Obj::Dict(d) => Some(d),
            _ => None,
        }
    }
}

/// PDF white space (ISO 32000-1 7.2.2).
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

/// PDF delimiters (ISO 32000-1 7.2.2).
pub(crate) fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}

/// Keywords that end an object: a value parser that meets one stops instead of skipping it.
fn is_end_keyword(tok: &[u8]) -> bool {
    matches!(
        tok,
        b"endobj" | b"stream" | b"endstream" | b"obj" | b"xref" | b"trailer"
    )
}

/// The one lexer of PDF syntax: a tolerant parser of PDF objects over a byte slice (the slice
/// ends where the object must end), whose token readers (names, strings, keywords) the
/// metadata reader's token scan (`inspect::pdf`) uses too.
pub(crate) struct Lexer<'s> {
    s: &'s [u8],
    pub(crate) pos: usize,
    /// Set when a string, array or dictionary ran into the end of the slice unclosed.
    truncated: bool,
}

impl<'s> Lexer<'s> {
    pub(crate) fn new(s: &'s [u8], pos: usize) -> Lexer<'s> {
        Lexer {
            s,
            pos,
            truncated: false,
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub(crate) fn starts_with(&self, p: &[u8]) -> bool {
        self.s.get(self.pos..).is_some_and(|r| r.starts_with(p))
    }

    /// Skips white space and comments.
    pub(crate) fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while self.peek().is_some_and(|b| b != b'\r' && b != b'\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The run of regular characters at the position (consumed).
    pub(crate) fn token(&mut self) -> &'s [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_regular) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// The run of regular characters at the position, not consumed.
    fn peek_token(&self) -> &'s [u8] {
        let rest = self.s.get(self.pos..).unwrap_or(&[]);
        let len = rest
            .iter()
            .position(|&b| !is_regular(b))
            .unwrap_or(rest.len());
        &rest[..len]
    }

    /// Skips something that is not a value (a stray delimiter or an unknown keyword), always
    /// moving forward.
    fn skip_junk(&mut self) {
        let tok = self.token();
        if tok.is_empty() {
            self.pos += 1;
        }
    }

    /// Parses one object. None when the position holds no value (a closing delimiter, an
    /// unknown keyword, the end of the slice); unknown keywords are not consumed.
    fn parse(&mut self, depth: usize) -> Option<Obj> {
        if depth > MAX_NESTING {
            return None;
        }
        self.skip_ws();
        let b = self.peek()?;
        match b {
            b'<' if self.starts_with(b"<<") => {
                self.pos += 2;
                Some(Obj::Dict(self.dict(depth)))
            }
            b'<' => {
                self.pos += 1;
                Some(Obj::Str(self.hex_string()))
            }
            b'(' => {
                self.pos += 1;
                Some(Obj::Str(self.literal_string()))
            }
            b'[' => {
                self.pos += 1;
                Some(Obj::Array(self.array(depth)))
            }
            b'/' => {
                self.pos += 1;
                Some(Obj::Name(self.name()))
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => Some(self.number()),
            _ if is_regular(b) => match self.peek_token() {
                b"true" => {
                    self.pos += 4;
                    Some(Obj::Bool(true))
                }
                b"false" => {
                    self.pos += 5;
                    Some(Obj::Bool(false))
                }
                b"null" => {
                    self.pos += 4;
                    Some(Obj::Null)
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn dict(&mut self, depth: usize) -> Dict {
        let mut entries = Vec::new();
        loop {
            self.skip_ws();
            if self.peek().is_none() {
                self.truncated = true;
                break;
            }
            if self.starts_with(b">>") {
                self.pos += 2;
                break;
            }
            if is_end_keyword(self.peek_token()) {
                // A dictionary cut short (`<< /A 1 endobj`): keep what it had.
                break;
            }
            if self.peek() != Some(b'/') {
                self.skip_junk();
                continue;
            }
            self.pos += 1;
            let key = self.name();
            self.skip_ws();
            if self.starts_with(b">>") {
                entries.push((key, Obj::Null));
                continue;
            }
            let before = self.pos;
            match self.parse(depth + 1) {
                Some(v) => entries.push((key, v)),
                None => {
                    entries.push((key, Obj::Null));
                    if is_end_keyword(self.peek_token()) {
                        break;
                    }
                    if self.pos == before {
                        self.skip_junk();
                    }
                }
            }
        }
        Dict(entries)
    }

    fn array(&mut self, depth: usize) -> Vec<Obj> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    self.truncated = true;
                    break;
                }
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let before = self.pos;
            match self.parse(depth + 1) {
                Some(v) => items.push(v),
                None => {
                    if is_end_keyword(self.peek_token()) {
                        break;
                    }
                    if self.pos == before {
                        self.skip_junk();
                    }
                }
            }
        }
        items
    }

    /// A name after its `/`, with `#hh` escapes decoded.
    fn name(&mut self) -> Vec<u8> {
        self.name_and_escapes().0
    }

    /// A name after its `/`, with `#hh` escapes decoded, and whether one of them escaped a
    /// letter or digit, which no writer needs to (`/J#61vaScript`): a sign of obfuscation.
    pub(crate) fn name_and_escapes(&mut self) -> (Vec<u8>, bool) {
        let tok = self.token();
        let mut name = Vec::with_capacity(tok.len());
        let mut needless = false;
        let mut i = 0;
        while let Some(&b) = tok.get(i) {
            if b == b'#' {
                if let (Some(h), Some(l)) = (
                    tok.get(i + 1).and_then(|&c| super::hex_digit(c)),
                    tok.get(i + 2).and_then(|&c| super::hex_digit(c)),
                ) {
                    let v = h << 4 | l;
                    needless |= v.is_ascii_alphanumeric();
                    name.push(v);
                    i += 3;
                    continue;
                }
            }
            name.push(b);
            i += 1;
        }
        (name, needless)
    }

    /// A number, or an indirect reference `N G R`.
    fn number(&mut self) -> Obj {
        let tok = self.token();
        if tok.is_empty() {
            // A lone sign or dot followed by a delimiter.
            self.pos += 1;
            return Obj::Null;
        }
        let text = std::str::from_utf8(tok).unwrap_or("");
        if let Ok(n) = text.parse::<i64>() {
            if let Ok(num) = u32::try_from(n) {
                if tok[0].is_ascii_digit() {
                    if let Some(gen) = self.reference_tail() {
                        return Obj::Ref(num, gen);
                    }
                }
            }
            return Obj::Int(n);
        }
        // PDF reals have no exponent; Rust's parser accepts more, which is harmless.
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Obj::Real(f),
            _ => Obj::Null,
        }
    }

    /// After an integer: consumes ` G R` and returns G when it follows.
    fn reference_tail(&mut self) -> Option<u16> {
        let save = self.pos;
        self.skip_ws();
        let gen = self.token();
        let gen = (!gen.is_empty() && gen.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(gen).ok()?.parse::<u16>().ok())
            .flatten();
        if let Some(gen) = gen {
            self.skip_ws();
            if self.token() == b"R" {
                return Some(gen);
            }
        }
        self.pos = save;
        None
    }

    /// A hex string after its `<`: whitespace and junk ignored, an odd final digit padded with 0.
    fn hex_string(&mut self) -> Vec<u8> {
        self.hex_string_max(usize::MAX)
    }

    /// [`Lexer::hex_string`] keeping at most `max` bytes (the rest is read past).
    pub(crate) fn hex_string_max(&mut self, max: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let mut hi: Option<u8> = None;
        loop {
            let Some(b) = self.peek() else {
                self.truncated = true;
                break;
            };
            self.pos += 1;
            if b == b'>' {
                break;
            }
            if let Some(x) = super::hex_digit(b) {
                match hi.take() {
                    Some(h) if v.len() < max => v.push(h << 4 | x),
                    Some(_) => {}
                    None => hi = Some(x),
                }
            }
        }
        if let Some(h) = hi.filter(|_| v.len() < max) {
            v.push(h << 4);
        }
        v
    }

    /// A literal string after its `(`: balanced parentheses, backslash escapes, EOLs as `\n`.
    fn literal_string(&mut self) -> Vec<u8> {
        self.literal_string_max(usize::MAX)
    }

    /// [`Lexer::literal_string`] keeping at most `max` bytes (the rest is read past).
    pub(crate) fn literal_string_max(&mut self, max: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let mut depth = 0usize;
        loop {
            // Read to the end of the string, keeping `max` bytes (each turn adds at most one).
            if v.len() > max {
                v.truncate(max);
            }
            let Some(b) = self.peek() else {
                self.truncated = true;
                break;
            };
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    v.push(b);
                }
                b')' => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                    v.push(b);
                }
                b'\r' => {
                    if self.peek() == Some(b'\n') {
                        self.pos += 1;
                    }
                    v.push(b'\n');
                }
                b'\\' => {
                    let Some(e) = self.peek() else {
                        continue;
                    };
                    self.pos += 1;
                    match e {
                        b'n' => v.push(b'\n'),
                        b'r' => v.push(b'\r'),
                        b't' => v.push(b'\t'),
                        b'b' => v.push(8),
                        b'f' => v.push(12),
                        b'0'..=b'7' => {
                            let mut n = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        n = n * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            v.push((n & 0xff) as u8);
                        }
                        b'\r' => {
                            // A line continuation.
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => v.push(other),
                    }
                }
                _ => v.push(b),
            }
        }
        v.truncate(max);
        v
    }
}

/// First position of `needle` in `data` at or after `from`.
fn find(data: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i.checked_add(needle.len())? <= data.len() {
        let p = i + data.get(i..)?.iter().position(|&b| b == first)?;
        if data.get(p..p + needle.len()) == Some(needle) {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

/// Every position of `needle` in `data`, in order.
fn positions(data: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    let mut from = 0;
    while let Some(p) = find(data, needle, from) {
        v.push(p);
        from = p + needle.len();
    }
    v
}

/// The first position in the sorted list at or after `from`.
fn next_at(list: &[usize], from: usize) -> Option<usize> {
    list.get(list.partition_point(|&p| p < from)).copied()
}

/// Decodes a PDF text string (7.9.2.2; file names here, the document information in
/// `inspect::pdf`): UTF-16 with a BOM (big-endian as the specification says, little-endian as
/// some writers do), UTF-8 with a BOM or valid UTF-8, otherwise PDFDocEncoding, read as Latin-1
/// (they agree on the printable range).
pub(crate) fn pdf_text(s: &[u8]) -> String {
    if let Some(rest) = s.strip_prefix(b"\xfe\xff") {
        crate::analysis::text::utf16be(rest)
    } else if let Some(rest) = s.strip_prefix(b"\xff\xfe") {
        crate::analysis::text::utf16le(rest)
    } else if let Some(rest) = s.strip_prefix(b"\xef\xbb\xbf") {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        match std::str::from_utf8(s) {
            Ok(t) => t.to_string(),
            Err(_) => s.iter().map(|&b| char::from(b)).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Document: objects found by scanning
// ---------------------------------------------------------------------------------------------

/// One object found in the file.
struct Entry<'a> {
    num: u32,
    gen: u16,
    value: Obj,
    /// The raw (still encoded) stream data, when the object is a stream.
    stream: Option<&'a [u8]>,
}

/// How one filter of a chain is applied.
enum Filter {
    Flate(Predict),
    Lzw(Predict, bool),
    AsciiHex,
    Ascii85,
    RunLength,
}

/// `/DecodeParms` of a Flate or LZW filter that matter for predictors.
#[derive(Debug, Clone, Copy)]
struct Predict {
    predictor: i64,
    colors: i64,
    bpc: i64,
    columns: i64,
}

struct Pdf<'a, 'o> {
    data: &'a [u8],
    out: &'o mut Members<'a>,
    entries: Vec<Entry<'a>>,
    /// Which entry defines each object.
    index: HashMap<Key, usize>,
    warnings: usize,
    /// Streams decoded so far, for [`MAX_STREAMS`].
    decoded: usize,
    encrypted: bool,
    /// Who else reads the decoded object streams.
    seen: Option<ObjectStreams<'o>>,
}

/// References collected from all objects: what role each stream plays.
#[derive(Default)]
struct Roles {
    /// Streams referenced from a file specification's `/EF`, with the file name.
    embedded: HashMap<Key, Option<String>>,
    contents: HashSet<Key>,
    fonts: HashSet<Key>,
    icc: HashSet<Key>,
    /// JavaScript in discovery order.
    js: Vec<Js>,
}

enum Js {
    Text(Vec<u8>),
    Stream(Key),
}

impl<'a> Pdf<'a, '_> {
    fn warn(&mut self, problem: Problem, msg: String) {
        self.warnings += 1;
        if self.warnings <= MAX_WARNINGS {
            self.out.warn(problem, msg);
        } else if self.warnings == MAX_WARNINGS + 1 {
            self.out.warn(
                Problem::Capped,
                format!("more than {MAX_WARNINGS} problems; the rest are not listed"),
            );
        }
    }

    /// Follows indirect references to a direct value (Null when missing or cyclic).
    fn resolve<'s>(&'s self, mut obj: &'s Obj) -> &'s Obj {
        for _ in 0..MAX_REF_DEPTH {
            match obj {
                Obj::Ref(n, g) => match self.index.get(&(*n, *g)) {
                    Some(&i) => obj = &self.entries[i].value,
                    None => return &NULL,
                },
                _ => return obj,
            }
        }
        &NULL
    }

    fn get<'s>(&'s self, d: &'s Dict, key: &[u8]) -> &'s Obj {
        self.resolve(d.get(key).unwrap_or(&NULL))
    }

    fn name_is(&self, d: &Dict, key: &[u8], names: &[&[u8]]) -> bool {
        matches!(self.get(d, key), Obj::Name(n) if names.contains(&n.as_slice()))
    }

    fn int(&self, d: &Dict, key: &[u8]) -> Option<i64> {
        match self.get(d, key) {
            Obj::Int(n) => Some(*n),
            Obj::Real(f) => Some(*f as i64),
            _ => None,
        }
    }

    /// Finds every `N G obj` in the file and parses it.
    fn scan_objects(&mut self) {
        let data = self.data;
        let endstreams = positions(data, b"endstream");
        let endobjs = positions(data, b"endobj");
        let (headers, more) = object_headers(data);
        if more {
            self.warn(
                Problem::Capped,
                format!("more than {MAX_HEADERS} object headers; the rest are not examined"),
            );
        }
        let lengths = integer_objects(data, &headers);
        let starts: Vec<usize> = headers.iter().map(|h| h.start).collect();
        let mut pos = 0;
        let mut capped = false;
        for (h, header) in headers.iter().enumerate() {
            if header.at < pos {
                continue; // inside the previous object's value or stream data
            }
            if self.out.stopped() {
                return;
            }
            let (num, gen) = header.key;
            pos = header.at + 3;
            if self.entries.len() >= MAX_OBJECTS {
                capped = true;
                break;
            }
            // An object ends at its `endobj`, or at the next object header when that is
            // missing: parsing is bounded so one broken object can neither swallow the rest of
            // the file nor make the scan quadratic.
            let next_header = headers.get(h + 1).map_or(data.len(), |n| n.start);
            let window = next_at(&endobjs, pos)
                .unwrap_or(data.len())
                .min(next_header)
                .max(pos);
            let mut lx = Lexer::new(&data[..window], pos);
            let value = lx.parse(0).unwrap_or(Obj::Null);
            let value_end = lx.pos;
            let clean = !lx.truncated;
            lx.skip_ws();
            let is_stream = lx.peek_token() == b"stream" && matches!(value, Obj::Dict(_));
            if !is_stream {
                if clean {
                    pos = pos.max(value_end);
                }
                self.entries.push(Entry {
                    num,
                    gen,
                    value,
                    stream: None,
                });
                continue;
            }
            let mut start = lx.pos + b"stream".len();
            // The keyword is followed by CRLF or LF (a lone CR or stray spaces are tolerated).
            while matches!(data.get(start), Some(b' ' | b'\t')) {
                start += 1;
            }
            if data.get(start..start + 2) == Some(b"\r\n") {
                start += 2;
            } else if matches!(data.get(start), Some(b'\n' | b'\r')) {
                start += 1;
            }
            let start = start.min(data.len());
            let marks = Marks {
                endstreams: &endstreams,
                endobjs: &endobjs,
                headers: &starts,
                lengths: &lengths,
            };
            let (raw, resume) = self.stream_extent(num, gen, &value, start, &marks);
            pos = pos.max(resume);
            self.entries.push(Entry {
                num,
                gen,
                value,
                stream: Some(raw),
            });
        }
        if capped {
            self.warn(
                Problem::Capped,
                format!("more than {MAX_OBJECTS} objects; the rest are not examined"),
            );
        }
        // A later top-level definition replaces an earlier one (incremental update).
        for (i, e) in self.entries.iter().enumerate() {
            self.index.insert((e.num, e.gen), i);
        }
    }

    /// The raw data of a stream starting at `start`, and where scanning resumes after it.
    fn stream_extent(
        &mut self,
        num: u32,
        gen: u16,
        value: &Obj,
        start: usize,
        marks: &Marks<'_>,
    ) -> (&'a [u8], usize) {
        let data = self.data;
        let dict = value.as_dict();
        // An indirect /Length is usually defined after the stream; `lengths` has every integer
        // object of the file, and the `endstream` check below catches a wrong pick.
        let length = dict.and_then(|d| match d.get(b"Length") {
            Some(Obj::Int(n)) => Some(*n),
            Some(Obj::Ref(n, g)) => marks.lengths.get(&(*n, *g)).copied(),
            _ => None,
        });
        if let Some(n) = length {
            // Trust /Length only when `endstream` is where it says.
            let end = usize::try_from(n).ok().and_then(|n| start.checked_add(n));
            if let Some(end) = end.filter(|&e| e <= data.len()) {
                let mut after = end;
                while data.get(after).copied().is_some_and(is_ws) {
                    after += 1;
                }
                if data
                    .get(after..)
                    .is_some_and(|r| r.starts_with(b"endstream"))
                {
                    return (&data[start..end], after + b"endstream".len());
                }
            }
        }
        // An `endstream` after the next `endobj` or object header belongs to a later object.
        let next_endobj = next_at(marks.endobjs, start);
        let next_header = next_at(marks.headers, start);
        let endstream = next_at(marks.endstreams, start)
            .filter(|&e| next_endobj.is_none_or(|o| e < o) && next_header.is_none_or(|h| e < h));
        let (end, resume) = match endstream {
            Some(e) => {
                if let Some(n) = length {
                    self.warn(
                        Problem::Corrupt,
                        format!(
                            "object {num} {gen}: /Length {n} does not match the stream data; \
                         ended it at endstream"
                        ),
                    );
                }
                (e, e + b"endstream".len())
            }
            None => {
                self.warn(
                    Problem::Corrupt,
                    format!(
                        "object {num} {gen}: stream has no endstream; ended it at the next endobj \
                     or object"
                    ),
                );
                // Resume right after the keyword so the objects that follow are still found.
                let end = next_endobj
                    .unwrap_or(data.len())
                    .min(next_header.unwrap_or(data.len()));
                (end, start)
            }
        };
        let mut end = end.max(start);
        // The EOL before `endstream` is not part of the data.
        if end > start && data.get(end - 1) == Some(&b'\n') {
            end -= 1;
            if end > start && data.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
        } else if end > start && data.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        (&data[start..end], resume)
    }

    /// Warns once when a trailer or xref stream names an encryption dictionary.
    fn check_encryption(&mut self) {
        let data = self.data;
        let mut encrypted = false;
        let mut from = 0;
        for _ in 0..MAX_TRAILERS {
            let Some(p) = find(data, b"trailer", from) else {
                break;
            };
            from = p + b"trailer".len();
            let window = data.len().min(from.saturating_add(MAX_TRAILER_BYTES));
            let mut lx = Lexer::new(&data[..window], from);
            if let Some(Obj::Dict(d)) = lx.parse(0) {
                if d.get(b"Encrypt").is_some() {
                    encrypted = true;
                    break;
                }
            }
        }
        encrypted |= self.entries.iter().any(|e| {
            e.value.as_dict().is_some_and(|d| {
                d.get(b"Encrypt").is_some()
                    && matches!(d.get(b"Type"), Some(Obj::Name(n)) if n == b"XRef")
            })
        });
        if encrypted {
            self.encrypted = true;
            self.out.warn(
                Problem::Encrypted,
                "encrypted PDF: streams are not decrypted".to_string(),
            );
        }
    }

    /// Parses the objects inside every object stream (7.5.7).
    fn expand_object_streams(&mut self) {
        let top = self.entries.len();
        let mut found: Vec<Entry<'a>> = Vec::new();
        for i in 0..top {
            if self.out.stopped() {
                return;
            }
            let e = &self.entries[i];
            let Some(d) = e.value.as_dict() else {
                continue;
            };
            if e.stream.is_none() || !self.name_is(d, b"Type", &[b"ObjStm"]) {
                continue;
            }
            let (num, gen) = (e.num, e.gen);
            let count = self.int(d, b"N").unwrap_or(0).max(0);
            let first = self.int(d, b"First").unwrap_or(0).max(0);
            let label = format!("object stream {num} {gen}");
            let Some(decoded) = self.decode_entry(i, &label) else {
                continue;
            };
            if let Some(seen) = self.seen.as_mut() {
                if !seen(&decoded) {
                    return;
                }
            }
            let room = MAX_OBJECTS.saturating_sub(top + found.len());
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            if count > room {
                self.warn(
                    Problem::Capped,
                    format!(
                        "{label}: holds {count} objects, more than the {MAX_OBJECTS} objects \
                     examined per file"
                    ),
                );
            }
            // The header: N pairs of object number and offset from /First.
            let mut lx = Lexer::new(&decoded, 0);
            let mut pairs = Vec::new();
            while pairs.len() < count.min(room) {
                match (lx.parse(0), lx.parse(0)) {
                    (Some(Obj::Int(n)), Some(Obj::Int(off))) => pairs.push((n, off)),
                    _ => {
                        self.warn(
                            Problem::Corrupt,
                            format!(
                                "{label}: header is damaged after {} of {count} objects",
                                pairs.len()
                            ),
                        );
                        break;
                    }
                }
            }
            let mut starts: Vec<usize> = Vec::with_capacity(pairs.len());
            for &(_, off) in &pairs {
                let s = usize::try_from(first.saturating_add(off.max(0))).unwrap_or(usize::MAX);
                starts.push(s);
            }
            let mut sorted = starts.clone();
            sorted.sort_unstable();
            let mut parsed = HashSet::new();
            let mut shared = 0usize;
            for (&(n, _), &s) in pairs.iter().zip(&starts) {
                let Ok(n) = u32::try_from(n) else {
                    continue;
                };
                // Objects sharing an offset would be parsed again and again: keep the first.
                if !parsed.insert(s) {
                    shared += 1;
                    continue;
                }
                if s >= decoded.len() {
                    self.warn(
                        Problem::Corrupt,
                        format!(
                            "{label}: object {n} starts at {s}, past the {} decoded bytes",
                            decoded.len()
                        ),
                    );
                    continue;
                }
                // Each object ends where the next one starts.
                let end = sorted
                    .get(sorted.partition_point(|&p| p <= s))
                    .copied()
                    .unwrap_or(decoded.len())
                    .min(decoded.len());
                let mut lx = Lexer::new(&decoded[..end], s);
                let value = lx.parse(0).unwrap_or(Obj::Null);
                found.push(Entry {
                    num: n,
                    gen: 0,
                    value,
                    stream: None,
                });
            }
            if shared > 0 {
                self.warn(
                    Problem::Corrupt,
                    format!(
                        "{label}: {shared} objects share an offset with another; only the first \
                     was read"
                    ),
                );
            }
        }
        for e in found {
            // A top-level definition wins over one in an object stream.
            let i = self.entries.len();
            self.index.entry((e.num, e.gen)).or_insert(i);
            self.entries.push(e);
        }
    }

    /// The filter chain of a stream dictionary; Err(None) for filters we do not decode on
    /// purpose (images, encryption), Err(Some(why)) for broken chains and unknown filters.
    fn filters(&self, d: &Dict) -> Result<Vec<Filter>, Option<(Problem, String)>> {
        let names: Vec<Vec<u8>> = match self.get(d, b"Filter") {
            Obj::Null => Vec::new(),
            Obj::Name(n) => vec![n.clone()],
            Obj::Array(a) => {
                if a.len() > MAX_FILTERS {
                    return Err(Some((
                        Problem::Capped,
                        format!("{} filters, more than the {MAX_FILTERS} decoded", a.len()),
                    )));
                }
                let mut v = Vec::new();
                for f in a {
                    match self.resolve(f) {
                        Obj::Name(n) => v.push(n.clone()),
                        _ => {
                            return Err(Some((
                                Problem::Corrupt,
                                "a filter that is not a name".to_string(),
                            )))
                        }
                    }
                }
                v
            }
            _ => {
                return Err(Some((
                    Problem::Corrupt,
                    "a /Filter that is not a name or array".to_string(),
                )))
            }
        };
        let parms: Vec<Option<&Dict>> = match self.get(d, b"DecodeParms") {
            Obj::Dict(p) => vec![Some(p)],
            Obj::Array(a) => a.iter().map(|p| self.resolve(p).as_dict()).collect(),
            _ => match self.get(d, b"DP") {
                Obj::Dict(p) => vec![Some(p)],
                _ => Vec::new(),
            },
        };
        let mut chain = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let p = parms.get(i).copied().flatten();
            let predict = Predict {
                predictor: p.and_then(|p| self.int(p, b"Predictor")).unwrap_or(1),
                colors: p.and_then(|p| self.int(p, b"Colors")).unwrap_or(1),
                bpc: p
                    .and_then(|p| self.int(p, b"BitsPerComponent"))
                    .unwrap_or(8),
                columns: p.and_then(|p| self.int(p, b"Columns")).unwrap_or(1),
            };
            // Abbreviated names belong to inline images, but readers accept them anywhere.
            chain.push(match name.as_slice() {
                b"FlateDecode" | b"Fl" => Filter::Flate(predict),
                b"LZWDecode" | b"LZW" => {
                    let early = p.and_then(|p| self.int(p, b"EarlyChange")).unwrap_or(1) != 0;
                    Filter::Lzw(predict, early)
                }
                b"ASCIIHexDecode" | b"AHx" => Filter::AsciiHex,
                b"ASCII85Decode" | b"A85" => Filter::Ascii85,
                b"RunLengthDecode" | b"RL" => Filter::RunLength,
                b"DCTDecode" | b"DCT" | b"JPXDecode" | b"JBIG2Decode" | b"CCITTFaxDecode"
                | b"CCF" | b"Crypt" => return Err(None),
                other => {
                    return Err(Some((
                        Problem::Unsupported,
                        format!("unknown filter /{}", String::from_utf8_lossy(other)),
                    )))
                }
            });
        }
        Ok(chain)
    }

    /// Decodes the stream of entry `i` (`label` names it in warnings and limits). None when it
    /// cannot or must not be decoded (the reason is recorded).
    fn decode_entry(&mut self, i: usize, label: &str) -> Option<Cow<'a, [u8]>> {
        let e = self.entries.get(i)?;
        let raw = e.stream?;
        let chain = match e.value.as_dict().map(|d| self.filters(d)) {
            Some(Ok(c)) => c,
            None => Vec::new(),
            Some(Err(None)) => return None,
            Some(Err(Some((problem, why)))) => {
                self.warn(problem, format!("{label}: stream not decoded: {why}"));
                return None;
            }
        };
        self.decoded += 1;
        if self.decoded > MAX_STREAMS {
            if self.decoded == MAX_STREAMS + 1 {
                self.warn(
                    Problem::Capped,
                    format!("more than {MAX_STREAMS} streams; the rest are not decoded"),
                );
            }
            return None;
        }
        let packed = raw.len() as u64;
        let mut cur: Cow<'a, [u8]> = Cow::Borrowed(raw);
        for f in chain {
            if self.out.stopped() {
                return None;
            }
            let cap = self.out.member_cap(packed);
            let step = match f {
                Filter::Flate(p) => {
                    let d = self.inflate(label, packed, &cur)?;
                    self.predict(label, d, p)
                }
                Filter::Lzw(p, early) => {
                    let d = self.finish(label, packed, "LZWDecode", lzw(&cur, early, cap))?;
                    self.predict(label, d, p)
                }
                Filter::AsciiHex => {
                    self.finish(label, packed, "ASCIIHexDecode", ascii_hex(&cur, cap))?
                }
                Filter::Ascii85 => {
                    self.finish(label, packed, "ASCII85Decode", ascii85(&cur, cap))?
                }
                Filter::RunLength => {
                    self.finish(label, packed, "RunLengthDecode", run_length(&cur, cap))?
                }
            };
            cur = Cow::Owned(step);
        }
        Some(cur)
    }

    /// Flate through [`Members::read_member`] (zlib, as the standard says; readers reject raw
    /// deflate too, and trying it would turn encrypted bytes into garbage). A corrupt or
    /// truncated stream keeps what decoded.
    fn inflate(&mut self, label: &str, packed: u64, input: &[u8]) -> Option<Vec<u8>> {
        let res = self
            .out
            .read_member(label, packed, &mut ZlibDecoder::new(input));
        match res {
            Ok(v) => Some(v),
            Err(ReadStop::Limit) => None,
            Err(ReadStop::Corrupt(err, partial)) => {
                if partial.is_empty() {
                    // Encrypted streams all fail here; the encryption warning says why.
                    if !self.encrypted {
                        self.warn(
                            Problem::Corrupt,
                            format!("{label}: FlateDecode data is corrupt ({err})"),
                        );
                    }
                    return None;
                }
                self.warn(
                    Problem::Corrupt,
                    format!(
                        "{label}: FlateDecode data is corrupt or truncated ({err}); kept the {} \
                     bytes that decoded",
                        partial.len()
                    ),
                );
                Some(partial)
            }
        }
    }

    /// Turns a hand-written decoder's result into data, recording limits and problems.
    fn finish(
        &mut self,
        label: &str,
        packed: u64,
        filter: &str,
        res: Result<Decoded, u64>,
    ) -> Option<Vec<u8>> {
        match res {
            Ok(Decoded {
                data,
                problem: None,
            }) => Some(data),
            Ok(Decoded {
                data,
                problem: Some(p),
            }) => {
                self.warn(
                    Problem::Corrupt,
                    format!(
                        "{label}: {filter} data is damaged ({p}); kept the {} bytes that decoded",
                        data.len()
                    ),
                );
                (!data.is_empty()).then_some(data)
            }
            Err(size) => {
                // Records which budget the output broke.
                self.out.admit(label, packed, size);
                None
            }
        }
    }

    /// Undoes a PNG or TIFF predictor (7.4.4.4).
    fn predict(&mut self, label: &str, data: Vec<u8>, p: Predict) -> Vec<u8> {
        if p.predictor <= 1 {
            return data;
        }
        let bits_per_pixel = p.colors.checked_mul(p.bpc).filter(|&b| b > 0);
        let row_bits = bits_per_pixel.and_then(|b| b.checked_mul(p.columns));
        let row = match row_bits {
            Some(bits) if bits > 0 && (bits as u64).div_ceil(8) <= MAX_ROW_BYTES => {
                (bits as u64).div_ceil(8) as usize
            }
            _ => {
                self.warn(
                    Problem::Corrupt,
                    format!(
                    "{label}: predictor parameters are invalid (/Colors {} /BitsPerComponent {} \
                     /Columns {}); data left as is",
                    p.colors, p.bpc, p.columns
                ),
                );
                return data;
            }
        };
        let bpp = bits_per_pixel.map_or(1, |b| (b as usize).div_ceil(8));
        match p.predictor {
            2 => match tiff_predict(data, row, bpp, p.bpc) {
                Ok(d) => d,
                Err(d) => {
                    self.warn(
                        Problem::Unsupported,
                        format!(
                            "{label}: TIFF predictor with {} bits per component is not supported; \
                         data left as is",
                            p.bpc
                        ),
                    );
                    d
                }
            },
            10..=15 => {
                let (d, bad) = png_predict(&data, row, bpp);
                if bad {
                    self.warn(
                        Problem::Unsupported,
                        format!("{label}: PNG predictor rows have unknown filter types"),
                    );
                }
                d
            }
            other => {
                self.warn(
                    Problem::Unsupported,
                    format!("{label}: unknown predictor {other}; data left as is"),
                );
                data
            }
        }
    }

    /// Walks every object and records what each referenced stream is.
    fn roles(&self) -> Roles {
        let mut roles = Roles::default();
        for (i, e) in self.entries.iter().enumerate() {
            if self.index.get(&(e.num, e.gen)) == Some(&i) {
                self.walk(&e.value, &mut roles, 0);
            }
        }
        roles
    }

    fn walk(&self, obj: &Obj, roles: &mut Roles, depth: usize) {
        if depth > MAX_NESTING {
            return;
        }
        match obj {
            Obj::Dict(d) => {
                self.visit_dict(d, roles);
                for (_, v) in &d.0 {
                    self.walk(v, roles, depth + 1);
                }
            }
            Obj::Array(a) => {
                // `[/ICCBased N G R]` colour spaces name ICC profile streams.
                for w in a.windows(2) {
                    if let [Obj::Name(n), Obj::Ref(r, g)] = w {
                        if n == b"ICCBased" {
                            roles.icc.insert((*r, *g));
                        }
                    }
                }
                for v in a {
                    self.walk(v, roles, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn visit_dict(&self, d: &Dict, roles: &mut Roles) {
        let refs = |o: Option<&Obj>| -> Vec<Key> {
            match o {
                Some(Obj::Ref(n, g)) => vec![(*n, *g)],
                Some(Obj::Array(a)) => a
                    .iter()
                    .filter_map(|x| match x {
                        Obj::Ref(n, g) => Some((*n, *g)),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        roles.contents.extend(refs(d.get(b"Contents")));
        for key in [&b"FontFile"[..], b"FontFile2", b"FontFile3"] {
            roles.fonts.extend(refs(d.get(key)));
        }
        if let Obj::Dict(ef) = self.get(d, b"EF") {
            // A file specification (7.11.3): /UF is the Unicode name, /F the portable one.
            let name = [&b"UF"[..], b"F"]
                .iter()
                .find_map(|k| match self.get(d, k) {
                    Obj::Str(s) if !s.is_empty() => Some(pdf_text(s)),
                    _ => None,
                });
            for (_, v) in &ef.0 {
                if let Obj::Ref(n, g) = v {
                    let slot = roles.embedded.entry((*n, *g)).or_insert(None);
                    if slot.is_none() {
                        slot.clone_from(&name);
                    }
                }
            }
        }
        match d.get(b"JS") {
            Some(Obj::Str(s)) => roles.js.push(Js::Text(s.clone())),
            Some(Obj::Ref(n, g)) => match self.index.get(&(*n, *g)) {
                Some(&i) if self.entries[i].stream.is_some() => roles.js.push(Js::Stream((*n, *g))),
                Some(_) => {
                    if let Obj::Str(s) = self.resolve(&Obj::Ref(*n, *g)) {
                        roles.js.push(Js::Text(s.clone()));
                    }
                }
                None => {}
            },
            _ => {}
        }
    }

    /// True for streams that are not members: images, fonts, page contents, xref and object
    /// streams, XMP metadata, ICC profiles.
    fn excluded(&self, key: Key, d: &Dict, roles: &Roles) -> bool {
        self.name_is(d, b"Subtype", &[b"Image"])
            || self.name_is(d, b"Subtype", &[b"Type1C", b"CIDFontType0C", b"OpenType"])
            || d.get(b"Length1").is_some()
            || roles.fonts.contains(&key)
            || roles.contents.contains(&key)
            || self.name_is(d, b"Type", &[b"XRef", b"ObjStm", b"Metadata"])
            || (matches!(self.get(d, b"N"), Obj::Int(_))
                && (d.get(b"Alternate").is_some() || roles.icc.contains(&key)))
    }

    /// Hands the members to `out`: embedded files, then JavaScript, then other streams.
    fn emit(&mut self) {
        let roles = self.roles();
        let winners: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                e.stream.is_some() && self.index.get(&(e.num, e.gen)) == Some(&i)
            })
            .collect();
        let mut done: HashSet<Key> = HashSet::new();

        let mut n = 0;
        for &i in &winners {
            if self.out.stopped() {
                return;
            }
            let e = &self.entries[i];
            let key = (e.num, e.gen);
            let typed = e
                .value
                .as_dict()
                .is_some_and(|d| self.name_is(d, b"Type", &[b"EmbeddedFile"]));
            if !typed && !roles.embedded.contains_key(&key) {
                continue;
            }
            done.insert(key);
            n += 1;
            let name = roles
                .embedded
                .get(&key)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("embedded-{n}.bin"));
            if let Some(data) = self.decode_entry(i, &name) {
                if !self.out.add(name, data) {
                    return;
                }
            }
        }

        let mut n = 0;
        for js in roles.js.iter() {
            if self.out.stopped() {
                return;
            }
            let data = match js {
                Js::Text(s) => Cow::Owned(s.clone()),
                Js::Stream(key) => {
                    if !done.insert(*key) {
                        continue;
                    }
                    let Some(&i) = self.index.get(key) else {
                        continue;
                    };
                    let label = format!("javascript-{}.js", n + 1);
                    match self.decode_entry(i, &label) {
                        Some(d) => d,
                        None => continue,
                    }
                }
            };
            n += 1;
            if !self.out.add(format!("javascript-{n}.js"), data) {
                return;
            }
        }

        for &i in &winners {
            if self.out.stopped() {
                return;
            }
            let e = &self.entries[i];
            let key = (e.num, e.gen);
            if done.contains(&key) {
                continue;
            }
            let Some(d) = e.value.as_dict() else {
                continue;
            };
            if self.excluded(key, d, &roles) {
                continue;
            }
            let name = format!("stream-{}-{}.bin", key.0, key.1);
            // Empty streams (placeholders, stripped content) carry nothing to analyse.
            let Some(data) = self.decode_entry(i, &name).filter(|d| !d.is_empty()) else {
                continue;
            };
            if !self.out.add(name, data) {
                return;
            }
        }
    }
}

/// Keyword positions and integer objects of the file, for finding where streams end.
struct Marks<'m> {
    endstreams: &'m [usize],
    endobjs: &'m [usize],
    /// Where each `N G obj` header starts, in order.
    headers: &'m [usize],
    lengths: &'m HashMap<Key, i64>,
}

/// Every `N G obj <integer>` object of the file (the last definition wins): the values of
/// indirect `/Length` entries.
fn integer_objects(data: &[u8], headers: &[Header]) -> HashMap<Key, i64> {
    let mut map = HashMap::new();
    for h in headers {
        let mut lx = Lexer::new(data, h.at + 3);
        lx.skip_ws();
        if !lx.peek().is_some_and(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Obj::Int(n) = lx.number() {
            lx.skip_ws();
            if lx.peek_token() == b"endobj" {
                map.insert(h.key, n);
            }
        }
    }
    map
}

/// An `N G obj` header found in the file.
struct Header {
    /// Where the object number starts.
    start: usize,
    /// Where the `obj` keyword is.
    at: usize,
    key: Key,
}

/// Every `N G obj` header of the file, in order (some may lie inside stream data), and whether
/// there were more than [`MAX_HEADERS`].
fn object_headers(data: &[u8]) -> (Vec<Header>, bool) {
    let mut headers = Vec::new();
    let mut pos = 0;
    while let Some(at) = find(data, b"obj", pos) {
        pos = at + 3;
        if let Some((key, start)) = object_header(data, at) {
            if headers.len() >= MAX_HEADERS {
                return (headers, true);
            }
            headers.push(Header { start, at, key });
        }
    }
    (headers, false)
}

/// The object number, generation and start of the `N G obj` header whose `obj` is at `at`.
fn object_header(data: &[u8], at: usize) -> Option<(Key, usize)> {
    if data.get(at + 3).copied().is_some_and(is_regular) {
        return None; // `objects`, `obj1` ...
    }
    let mut i = at;
    while i > 0 && is_ws(data[i - 1]) {
        i -= 1;
    }
    let gen_end = i;
    while i > 0 && data[i - 1].is_ascii_digit() {
        i -= 1;
    }
    let gen = data.get(i..gen_end)?;
    let ws_end = i;
    while i > 0 && is_ws(data[i - 1]) {
        i -= 1;
    }
    if i == ws_end {
        return None;
    }
    let num_end = i;
    while i > 0 && data[i - 1].is_ascii_digit() {
        i -= 1;
    }
    let num = data.get(i..num_end)?;
    if gen.is_empty() || num.is_empty() || gen.len() > 5 || num.len() > 10 {
        return None;
    }
    let gen = std::str::from_utf8(gen).ok()?.parse::<u16>().ok()?;
    let num = std::str::from_utf8(num).ok()?.parse::<u32>().ok()?;
    Some(((num, gen), i))
}

// ---------------------------------------------------------------------------------------------
// Filters (7.4)
// ---------------------------------------------------------------------------------------------

/// Output of a hand-written decoder: the bytes, and what was wrong if it stopped early.
struct Decoded {
    data: Vec<u8>,
    problem: Option<String>,
}

/// ASCIIHexDecode (7.4.2): whitespace ignored, `>` ends, an odd last digit is followed by 0.
/// Err(size) once the output passes `cap`.
fn ascii_hex(input: &[u8], cap: u64) -> Result<Decoded, u64> {
    let mut data = Vec::with_capacity(input.len() / 2);
    let mut hi: Option<u8> = None;
    let mut problem = None;
    for (i, &b) in input.iter().enumerate() {
        if b == b'>' {
            break;
        }
        if is_ws(b) {
            continue;
        }
        let Some(v) = super::hex_digit(b) else {
            problem = Some(format!("invalid character 0x{b:02x} at offset {i}"));
            break;
        };
        match hi.take() {
            Some(h) => data.push(h << 4 | v),
            None => hi = Some(v),
        }
        if data.len() as u64 > cap {
            return Err(data.len() as u64);
        }
    }
    if let Some(h) = hi {
        data.push(h << 4);
    }
    Ok(Decoded { data, problem })
}

/// ASCII85Decode (7.4.3). Err(size) once the output passes `cap`.
fn ascii85(input: &[u8], cap: u64) -> Result<Decoded, u64> {
    let input = input.strip_prefix(b"<~").unwrap_or(input);
    let mut data = Vec::with_capacity(input.len());
    let mut group = [0u8; 5];
    let mut count = 0usize;
    let mut problem = None;
    for (i, &b) in input.iter().enumerate() {
        match b {
            b'~' => break,
            b'z' if count == 0 => data.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[count] = b - b'!';
                count += 1;
                if count == 5 {
                    match a85_group(&group) {
                        Some(v) => data.extend_from_slice(&v.to_be_bytes()),
                        None => {
                            problem = Some(format!("group overflows at offset {i}"));
                            break;
                        }
                    }
                    count = 0;
                }
            }
            _ if is_ws(b) => {}
            _ => {
                problem = Some(format!("invalid character 0x{b:02x} at offset {i}"));
                break;
            }
        }
        if data.len() as u64 > cap {
            return Err(data.len() as u64);
        }
    }
    // A final partial group of k characters is padded with `u` and gives k-1 bytes.
    if count > 1 && problem.is_none() {
        for g in group.iter_mut().skip(count) {
            *g = b'u' - b'!';
        }
        if let Some(v) = a85_group(&group) {
            data.extend_from_slice(&v.to_be_bytes()[..count - 1]);
        }
    }
    Ok(Decoded { data, problem })
}

fn a85_group(g: &[u8; 5]) -> Option<u32> {
    let v = g.iter().fold(0u64, |acc, &d| acc * 85 + u64::from(d));
    u32::try_from(v).ok()
}

/// RunLengthDecode (7.4.5). Err(size) once the output passes `cap`.
fn run_length(input: &[u8], cap: u64) -> Result<Decoded, u64> {
    let mut data = Vec::new();
    let mut i = 0;
    let mut problem = None;
    while let Some(&len) = input.get(i) {
        i += 1;
        match len {
            128 => break,
            0..=127 => {
                let n = usize::from(len) + 1;
                let avail = input.len() - i;
                data.extend_from_slice(&input[i..i + n.min(avail)]);
                i += n.min(avail);
                if avail < n {
                    problem = Some("a literal run is cut off".to_string());
                }
            }
            _ => match input.get(i) {
                Some(&b) => {
                    i += 1;
                    data.resize(data.len() + 257 - usize::from(len), b);
                }
                None => problem = Some("a repeat run is cut off".to_string()),
            },
        }
        if data.len() as u64 > cap {
            return Err(data.len() as u64);
        }
    }
    Ok(Decoded { data, problem })
}

/// LZWDecode (7.4.4): codes of 9 to 12 bits MSB first, 256 clears, 257 ends; with EarlyChange
/// the code width grows one code early. Err(size) once the output passes `cap`.
fn lzw(input: &[u8], early: bool, cap: u64) -> Result<Decoded, u64> {
    const CLEAR: usize = 256;
    const EOD: usize = 257;
    const MAX_CODES: usize = 4096;
    // Each code is a prefix code plus one byte; `len` is the length of its whole string.
    #[derive(Clone, Copy)]
    struct Code {
        prefix: u16,
        byte: u8,
        first: u8,
        len: u32,
    }
    let base: Vec<Code> = (0..=EOD)
        .map(|i| Code {
            prefix: 0,
            byte: i as u8,
            first: i as u8,
            len: u32::from(i < CLEAR),
        })
        .collect();
    let mut table = base.clone();
    let mut data: Vec<u8> = Vec::new();
    let mut width = 9u32;
    let mut bitbuf = 0u32;
    let mut bits = 0u32;
    let mut pos = 0usize;
    let mut prev: Option<usize> = None;
    let mut problem = None;
    // Appends the string of `code` to `data`.
    let emit = |table: &[Code], code: usize, data: &mut Vec<u8>| {
        let c = table[code];
        let start = data.len();
        data.resize(start + c.len as usize, 0);
        let mut k = code;
        for slot in data[start..].iter_mut().rev() {
            let e = table[k];
            *slot = e.byte;
            k = usize::from(e.prefix);
        }
    };
    loop {
        while bits < width {
            let Some(&b) = input.get(pos) else {
                // Ran out without EOD: tolerated, as readers do.
                return Ok(Decoded { data, problem });
            };
            pos += 1;
            bitbuf = bitbuf << 8 | u32::from(b);
            bits += 8;
        }
        let code = ((bitbuf >> (bits - width)) & ((1 << width) - 1)) as usize;
        bits -= width;
        bitbuf &= (1 << bits) - 1;
        if code == CLEAR {
            table.truncate(EOD + 1);
            width = 9;
            prev = None;
            continue;
        }
        if code == EOD {
            break;
        }
        match prev {
            None => {
                if code >= CLEAR {
                    problem = Some(format!("invalid first code {code}"));
                    break;
                }
                emit(&table, code, &mut data);
            }
            Some(p) => {
                let first = if code < table.len() {
                    table[code].first
                } else if code == table.len() {
                    table[p].first
                } else {
                    problem = Some(format!("invalid code {code}"));
                    break;
                };
                if table.len() < MAX_CODES {
                    table.push(Code {
                        prefix: p as u16,
                        byte: first,
                        first: table[p].first,
                        len: table[p].len + 1,
                    });
                }
                emit(&table, code.min(table.len() - 1), &mut data);
            }
        }
        prev = Some(code.min(table.len() - 1));
        let next = table.len() + usize::from(early);
        width = match next {
            0..=511 => 9,
            512..=1023 => 10,
            1024..=2047 => 11,
            _ => 12,
        };
        if data.len() as u64 > cap {
            return Err(data.len() as u64);
        }
    }
    Ok(Decoded { data, problem })
}

/// Undoes the PNG predictors (row filter byte, then the row). Returns the data and whether an
/// unknown filter type was met (such rows are kept as they are).
fn png_predict(data: &[u8], row: usize, bpp: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    let mut bad = false;
    for chunk in data.chunks(row + 1) {
        let Some((&ft, src)) = chunk.split_first() else {
            break;
        };
        let mut cur = src.to_vec();
        for i in 0..cur.len() {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let upleft = if i >= bpp { prev[i - bpp] } else { 0 };
            let pred = match ft {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, upleft),
                _ => {
                    bad = true;
                    0
                }
            };
            cur[i] = cur[i].wrapping_add(pred);
        }
        prev[..cur.len()].copy_from_slice(&cur);
        out.extend_from_slice(&cur);
    }
    (out, bad)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Undoes TIFF predictor 2 for 8- and 16-bit components; Err(data unchanged) for other depths.
fn tiff_predict(mut data: Vec<u8>, row: usize, bpp: usize, bpc: i64) -> Result<Vec<u8>, Vec<u8>> {
    match bpc {
        8 => {
            for r in data.chunks_mut(row) {
                for i in bpp..r.len() {
                    r[i] = r[i].wrapping_add(r[i - bpp]);
                }
            }
            Ok(data)
        }
        16 => {
            for r in data.chunks_mut(row) {
                let mut i = bpp;
                while i + 1 < r.len() {
                    let cur = u16::from_be_bytes([r[i], r[i + 1]]);
                    let left = u16::from_be_bytes([r[i - bpp], r[i - bpp + 1]]);
                    r[i..i + 2].copy_from_slice(&cur.wrapping_add(left).to_be_bytes());
                    i += 2;
                }
            }
            Ok(data)
        }
        _ => Err(data),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Budget, Limit};
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Builds a PDF by hand, object by object.
    struct Pdfb(Vec<u8>);

    impl Pdfb {
        fn new() -> Pdfb {
            Pdfb(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec())
        }
        fn obj(&mut self, num: u32, body: &str) -> &mut Pdfb {
            self.0
                .extend_from_slice(format!("{num} 0 obj\n{body}\nendobj\n").as_bytes());
            self
        }
        /// A stream with a correct /Length; `dict` is the rest of the dictionary.
        fn stream(&mut self, num: u32, dict: &str, data: &[u8]) -> &mut Pdfb {
            let head = format!(
                "{num} 0 obj\n<< /Length {} {dict} >>\nstream\r\n",
                data.len()
            );
            self.0.extend_from_slice(head.as_bytes());
            self.0.extend_from_slice(data);
            self.0.extend_from_slice(b"\r\nendstream\nendobj\n");
            self
        }
        fn raw(&mut self, s: &[u8]) -> &mut Pdfb {
            self.0.extend_from_slice(s);
            self
        }
        fn trailer(&mut self, extra: &str) -> Vec<u8> {
            let t = format!("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 20 /Root 1 0 R {extra} >>\nstartxref\n999999\n%%EOF\n");
            self.0.extend_from_slice(t.as_bytes());
            self.0.clone()
        }
    }

    fn run(data: &[u8], caps: Budget) -> Members<'_> {
        let mut out = Members::new(caps);
        unpack(data, &mut out);
        out
    }

    fn names(out: &Members<'_>) -> Vec<String> {
        out.members.iter().map(|m| m.name.clone()).collect()
    }

    fn member<'o>(out: &'o Members<'_>, name: &str) -> &'o [u8] {
        &out.members.iter().find(|m| m.name == name).unwrap().data
    }

    #[test]
    fn embedded_file_javascript_and_streams() {
        let payload = b"MZ\x90\x00 this is the attached program".repeat(20);
        let js_stream = b"var x = unescape('%u9090'); app.alert(x);";
        let js_hex: String = deflate(js_stream)
            .iter()
            .map(|b| format!("{b:02x} "))
            .chain(std::iter::once(">".to_string()))
            .collect();
        // UTF-16BE with BOM: "r\u{e9}sum\u{e9}.exe"
        let uf: String = "résumé.exe"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .map(|b| format!("{b:02X}"))
            .collect();
        let pdf = Pdfb::new()
            .obj(
                1,
                "<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (app.alert\\(\\'hi\\'\\);) >> /Names << /EmbeddedFiles << /Names [(a) 4 0 R] >> >> >>",
            )
            .obj(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
            .obj(3, "<< /Type /Page /Parent 2 0 R /Contents 6 0 R /AA << /O 9 0 R >> /Resources << /ColorSpace << /C0 [/ICCBased 12 0 R] >> /Font << /F1 << /FontDescriptor << /FontFile2 10 0 R >> >> >> >> >>")
            .obj(4, &format!("<< /Type /Filespec /F (resume.exe) /UF <FEFF{uf}> /EF << /F 5 0 R >> >>"))
            .stream(5, "/Type /EmbeddedFile /Filter /FlateDecode", &deflate(&payload))
            .stream(6, "/Filter /FlateDecode", &deflate(b"BT /F1 12 Tf (Hello) Tj ET"))
            .stream(7, "", b"some other stream data")
            .stream(8, "/Subtype /Image /Width 1 /Height 1", b"\xff\x00\x00")
            .obj(9, "<< /S /JavaScript /JS 11 0 R >>")
            .stream(10, "/Length1 4", b"\x00\x01\x00\x00")
            .stream(11, "/Filter [/ASCIIHexDecode /FlateDecode]", js_hex.as_bytes())
            .stream(12, "/N 3 /Alternate /DeviceRGB", b"icc profile")
            .stream(13, "/Type /Metadata /Subtype /XML", b"<x:xmpmeta/>")
            .trailer("");
        assert!(detect(&pdf));
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(
            names(&out),
            [
                "résumé.exe",
                "javascript-1.js",
                "javascript-2.js",
                "stream-7-0.bin"
            ],
            "{:?}",
            out.warnings
        );
        assert_eq!(member(&out, "résumé.exe"), &payload[..]);
        assert_eq!(member(&out, "javascript-1.js"), b"app.alert('hi');");
        assert_eq!(member(&out, "javascript-2.js"), js_stream);
        assert_eq!(member(&out, "stream-7-0.bin"), b"some other stream data");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        // The uncompressed stream is borrowed from the input, not copied.
        assert!(matches!(
            out.members[3].data,
            crate::analysis::formats::Data::Borrowed(_)
        ));
    }

    #[test]
    fn objects_hidden_in_an_object_stream() {
        let o1 = "<< /S /JavaScript /JS <6170702E616C657274283129> >>";
        let o2 = "<< /Type /Filespec /F (secret.exe) /EF << /F 5 0 R >> >>";
        let header = format!("10 0 11 {} ", o1.len() + 1);
        let body = format!("{header}{o1} {o2}");
        let pdf = Pdfb::new()
            .obj(1, "<< /Type /Catalog /OpenAction 10 0 R >>")
            .stream(5, "", b"hidden payload")
            .stream(
                20,
                &format!(
                    "/Type /ObjStm /N 2 /First {} /Filter /FlateDecode",
                    header.len()
                ),
                &deflate(body.as_bytes()),
            )
            .trailer("");
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(
            names(&out),
            ["secret.exe", "javascript-1.js"],
            "{:?}",
            out.warnings
        );
        assert_eq!(member(&out, "secret.exe"), b"hidden payload");
        assert_eq!(member(&out, "javascript-1.js"), b"app.alert(1)");
    }

    #[test]
    fn object_streams_report_only_what_kept_their_objects_from_being_read() {
        // A damaged ordinary stream (the extraction's to report), an object stream whose
        // FlateDecode data is cut short, and one with a filter we do not know.
        let body = b"1 0 2 20 << /A 1 >> << /B 2 >>";
        let packed = deflate(body);
        let pdf = Pdfb::new()
            .stream(5, "/Type /EmbeddedFile /Filter /Bogus", b"opaque")
            .stream(
                6,
                "/Type /ObjStm /N 2 /First 8 /Filter /FlateDecode",
                &packed[..packed.len() / 2],
            )
            .stream(7, "/Type /ObjStm /N 1 /First 4 /Filter /Rot13", b"0 0 ")
            .trailer("");
        let mut seen = 0;
        let problems = object_streams(&pdf, Budget::unlimited(), &mut |_| {
            seen += 1;
            true
        });
        let kinds: Vec<(Problem, &str)> = problems
            .iter()
            .map(|w| (w.problem, w.text.split(':').next().unwrap_or("")))
            .collect();
        assert_eq!(
            kinds,
            [
                (Problem::Corrupt, "object stream 6 0"),
                (Problem::Corrupt, "object stream 6 0"),
                (Problem::Unsupported, "object stream 7 0"),
            ],
            "{problems:?}"
        );
        assert_eq!(seen, 1, "the partly decoded object stream is still read");
        // The whole parse reports the ordinary stream too, as unsupported.
        let out = run(&pdf, Budget::unlimited());
        assert!(
            out.warnings
                .iter()
                .any(|w| w.problem == Problem::Unsupported && w.text.starts_with("embedded-1.bin")),
            "{:?}",
            out.warnings
        );
    }

    #[test]
    fn a_reader_that_wants_no_more_stops_the_object_stream_decoding() {
        let dict = "/Type /ObjStm /N 1 /First 5 /Filter /FlateDecode";
        let pdf = Pdfb::new()
            .stream(6, dict, &deflate(b"10 0 << /N 10 >>"))
            .stream(7, dict, &deflate(b"11 0 << /N 11 >>"))
            .trailer("");
        let mut all = 0;
        object_streams(&pdf, Budget::unlimited(), &mut |_| {
            all += 1;
            true
        });
        assert_eq!(all, 2);
        let mut first = 0;
        let problems = object_streams(&pdf, Budget::unlimited(), &mut |_| {
            first += 1;
            false
        });
        assert_eq!(first, 1);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn truncated_flate_keeps_what_decoded() {
        let text: Vec<u8> = (0..5000)
            .flat_map(|i| format!("line {i} of text\n").into_bytes())
            .collect();
        let z = deflate(&text);
        let pdf = Pdfb::new()
            .stream(4, "/Filter /FlateDecode", &z[..z.len() / 2])
            .stream(5, "/Filter /FlateDecode", b"\x78\x9c\xff\xff\xff garbage")
            .trailer("");
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(names(&out), ["stream-4-0.bin"]);
        let got = member(&out, "stream-4-0.bin");
        assert!(!got.is_empty() && got.len() < text.len());
        assert_eq!(got, &text[..got.len()]);
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));
        assert!(out.warnings.iter().any(|w| w
            .text
            .contains("stream-5-0.bin: FlateDecode data is corrupt")));
    }

    #[test]
    fn missing_endstream_and_lying_length() {
        let pdf = Pdfb::new()
            .raw(b"4 0 obj\n<< /Length 5 >>\nstream\nthe length says five\nendstream\nendobj\n")
            .raw(b"5 0 obj\n<< /Length 99999 >>\nstream\nlength past the end\nendstream\nendobj\n")
            .raw(b"6 0 obj\n<< /Length 7 0 R >>\nstream\nindirect length\r\nendstream\nendobj\n")
            .raw(b"7 0 obj\n<< >>\nstream\nno end keyword here\nendobj\n")
            .stream(8, "", b"after the broken one")
            // An indirect /Length defined later, around data that holds both keywords.
            .raw(b"9 0 obj\n<< /Length 10 0 R >>\nstream\nx endobj y endstream z\nendstream\nendobj\n")
            .raw(b"10 0 obj 22 endobj\n")
            // Neither endstream nor endobj: the stream ends where the next object starts.
            .raw(b"11 0 obj << >> stream\nno end at all\n")
            .stream(12, "", b"next")
            .trailer("");
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(member(&out, "stream-9-0.bin"), b"x endobj y endstream z");
        assert_eq!(member(&out, "stream-11-0.bin"), b"no end at all");
        assert_eq!(member(&out, "stream-12-0.bin"), b"next");
        assert_eq!(
            names(&out),
            [
                "stream-4-0.bin",
                "stream-5-0.bin",
                "stream-6-0.bin",
                "stream-7-0.bin",
                "stream-8-0.bin",
                "stream-9-0.bin",
                "stream-11-0.bin",
                "stream-12-0.bin"
            ],
            "{:?}",
            out.warnings
        );
        assert_eq!(member(&out, "stream-4-0.bin"), b"the length says five");
        assert_eq!(member(&out, "stream-5-0.bin"), b"length past the end");
        assert_eq!(member(&out, "stream-6-0.bin"), b"indirect length");
        assert_eq!(member(&out, "stream-7-0.bin"), b"no end keyword here");
        assert_eq!(member(&out, "stream-8-0.bin"), b"after the broken one");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("/Length 5 does not match")));
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("/Length 99999 does not match")));
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("object 7 0: stream has no endstream")));
    }

    #[test]
    fn later_definition_wins() {
        let pdf = Pdfb::new()
            .stream(4, "", b"old version")
            .stream(4, "", b"new version")
            .trailer("");
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(names(&out), ["stream-4-0.bin"]);
        assert_eq!(member(&out, "stream-4-0.bin"), b"new version");
    }

    #[test]
    fn other_filters() {
        let rl = [2u8, b'a', b'b', b'c', 253, b'x', 128];
        let pdf = Pdfb::new()
            .stream(4, "/Filter /ASCII85Decode", b"<~87cURD]i,\"Ebo80~>")
            .stream(5, "/Filter /RunLengthDecode", &rl)
            // The LZW example of ISO 32000-1 7.4.4.2.
            .stream(
                6,
                "/Filter /LZWDecode",
                b"\x80\x0b\x60\x50\x22\x0c\x0c\x85\x01",
            )
            .stream(7, "/Filter /DCTDecode", b"\xff\xd8\xff")
            .stream(8, "/Filter /Bogus", b"x")
            .stream(
                9,
                "/Filter [/AHx /AHx /AHx /AHx /AHx /AHx /AHx /AHx /AHx]",
                b"x",
            )
            .trailer("");
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(
            names(&out),
            ["stream-4-0.bin", "stream-5-0.bin", "stream-6-0.bin"],
            "{:?}",
            out.warnings
        );
        assert_eq!(member(&out, "stream-4-0.bin"), b"Hello World!");
        assert_eq!(member(&out, "stream-5-0.bin"), b"abcxxxx");
        assert_eq!(member(&out, "stream-6-0.bin"), b"-----A---B");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("unknown filter /Bogus")));
        assert!(out.warnings.iter().any(|w| w.text.contains("9 filters")));
    }

    /// An LZW encoder for the tests (EarlyChange 1, no clear codes after the first).
    fn lzw_encode(data: &[u8]) -> Vec<u8> {
        let width = |n: usize| match n {
            0..=511 => 9,
            512..=1023 => 10,
            1024..=2047 => 11,
            _ => 12,
        };
        let mut bits: Vec<bool> = Vec::new();
        let mut put = |code: usize, w: u32| {
            for i in (0..w).rev() {
                bits.push(code >> i & 1 == 1);
            }
        };
        let mut dict: HashMap<(usize, u8), usize> = HashMap::new();
        let mut next = 258;
        put(256, 9);
        let mut w: Option<usize> = None;
        for &b in data {
            match w {
                None => w = Some(usize::from(b)),
                Some(p) => match dict.get(&(p, b)) {
                    Some(&c) => w = Some(c),
                    None => {
                        put(p, width(next));
                        if next < 4096 {
                            dict.insert((p, b), next);
                            next += 1;
                        }
                        w = Some(usize::from(b));
                    }
                },
            }
        }
        if let Some(p) = w {
            put(p, width(next));
            put(257, width(next + 1));
        }
        bits.chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |a, (i, &b)| a | (u8::from(b) << (7 - i)))
            })
            .collect()
    }

    #[test]
    fn lzw_round_trip_through_all_code_widths() {
        let mut x = 12345u32;
        let data: Vec<u8> = (0..30000)
            .map(|_| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                b"abcdefgh"[(x >> 16) as usize % 8]
            })
            .collect();
        let got = lzw(&lzw_encode(&data), true, u64::MAX).unwrap_or_else(|_| panic!("limit"));
        assert!(got.problem.is_none(), "{:?}", got.problem);
        assert_eq!(got.data, data);
    }

    #[test]
    fn png_and_tiff_predictors() {
        // Two rows of 4 bytes: row 1 with Sub, row 2 with Up.
        let rows = [1u8, 1, 1, 1, 1, 2, 5, 5, 5, 5];
        let tiff = [10u8, 1, 1, 1, 20, 2, 2, 2];
        let pdf = Pdfb::new()
            .stream(
                4,
                "/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >>",
                &deflate(&rows),
            )
            .stream(
                5,
                "/Filter [/FlateDecode] /DecodeParms [<< /Predictor 2 /Columns 4 >>]",
                &deflate(&tiff),
            )
            .trailer("");
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(member(&out, "stream-4-0.bin"), [1, 2, 3, 4, 6, 7, 8, 9]);
        assert_eq!(
            member(&out, "stream-5-0.bin"),
            [10, 11, 12, 13, 20, 22, 24, 26]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn encrypted_pdf_yields_clear_data_and_warns() {
        let pdf = Pdfb::new()
            .obj(2, "<< /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>")
            .stream(4, "/Type /EmbeddedFile", b"clear bytes")
            .stream(5, "/Filter /FlateDecode", b"\x13\x37ciphertext")
            .trailer("/Encrypt 2 0 R");
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(names(&out), ["embedded-1.bin"]);
        assert_eq!(
            out.warnings,
            [Warning::new(
                Problem::Encrypted,
                "encrypted PDF: streams are not decrypted"
            )]
        );
    }

    #[test]
    fn member_over_the_ratio_cap_is_skipped() {
        let bomb = deflate(&vec![0u8; 8 * 1024 * 1024]);
        let pdf = Pdfb::new()
            .stream(4, "/Filter /FlateDecode", &bomb)
            .stream(5, "/Filter /RunLengthDecode", &[129u8, 0].repeat(20_000))
            .stream(6, "", b"small")
            .trailer("");
        let caps = Budget {
            max_ratio: 10,
            ..Budget::unlimited()
        };
        let out = run(&pdf, caps);
        assert_eq!(names(&out), ["stream-6-0.bin"]);
        assert_eq!(out.limits.len(), 2, "{:?}", out.limits);
        assert!(out.limits.iter().all(|l| l.limit == Limit::Ratio));
    }

    #[test]
    fn byte_budget_stops_the_walk() {
        let pdf = Pdfb::new()
            .stream(4, "", &[b'a'; 600])
            .stream(5, "", &[b'b'; 600])
            .trailer("");
        let caps = Budget {
            max_output: 1000,
            ..Budget::unlimited()
        };
        let out = run(&pdf, caps);
        assert_eq!(names(&out), ["stream-4-0.bin"]);
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    #[test]
    fn hostile_structures_do_not_break_the_parser() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let dicts = "<< /A ".repeat(5000);
        let pdf = Pdfb::new()
            .obj(1, "1 0 R")
            .raw(b"2 0 obj\n<< /Length 1 0 R /Filter 3 0 R >>\nstream\nabc\nendstream\nendobj\n")
            .obj(3, "3 0 R")
            .obj(4, &deep)
            .obj(5, &dicts)
            .obj(6, "<< /Key (unclosed string ")
            .obj(7, "<< /JS 7 0 R /EF 7 0 R >>")
            .stream(8, "", b"still found")
            .raw(b"9 0 obj << /Type /ObjStm /N 99999999 /First -5 >> stream\nxx\nendstream endobj")
            .raw(
                b"10 0 obj << /Type /ObjStm /N 2 /First 0 >> stream\n1 999 2 abc\nendstream endobj",
            )
            .raw(b"99999999999 0 obj 70000 0 obj 1 0obj obj")
            .trailer("");
        let out = run(&pdf, Budget::unlimited());
        assert_eq!(
            names(&out),
            ["stream-2-0.bin", "stream-8-0.bin"],
            "{:?}",
            out.warnings
        );
        assert_eq!(member(&out, "stream-2-0.bin"), b"abc");
        assert!(out.warnings.iter().any(|w| w
            .text
            .contains("object stream 10 0: object 1 starts at 999")));
    }

    #[test]
    fn empty_and_garbage_input() {
        for input in [
            &b""[..],
            b"%PDF-",
            b"obj",
            b" 0 obj",
            b"1 0 obj",
            b"1 0 obj <<",
            b"1 0 obj << >> stream",
            b"trailer <<",
        ] {
            let out = run(input, Budget::unlimited());
            assert!(out.members.is_empty(), "{input:?}");
        }
        assert!(detect(b"junk before\n%PDF-1.4"));
        assert!(!detect(b"%PDF"));
        let mut late = vec![b' '; 1100];
        late.extend_from_slice(b"%PDF-1.4");
        assert!(!detect(&late));
    }

    #[test]
    fn the_token_readers_cap_strings_and_flag_needless_escapes() {
        let src = b"(abc\\(de\\)f) <41424344> /J#61vaScript /A#20B rest";
        let mut lx = Lexer::new(src, 1);
        assert_eq!(lx.literal_string_max(3), b"abc");
        lx.skip_ws();
        assert_eq!(lx.peek(), Some(b'<'), "the whole string was read past");
        lx.pos += 1;
        assert_eq!(lx.hex_string_max(2), b"AB");
        lx.skip_ws();
        lx.pos += 1;
        assert_eq!(lx.name_and_escapes(), (b"JavaScript".to_vec(), true));
        lx.skip_ws();
        lx.pos += 1;
        // An escaped space is what escapes are for.
        assert_eq!(lx.name_and_escapes(), (b"A B".to_vec(), false));
        lx.skip_ws();
        assert_eq!(lx.token(), b"rest");
    }

    #[test]
    fn filespec_names_and_text_strings() {
        assert_eq!(pdf_text(b"\xfe\xff\x00a\x00b"), "ab");
        assert_eq!(pdf_text(b"\xff\xfea\x00"), "a");
        assert_eq!(pdf_text(b"caf\xe9"), "café");
        assert_eq!(pdf_text("café".as_bytes()), "café");
        let mut lx = Lexer::new(b"(a\\(b\\)\\101\\\r\nc) /N#41me [1 0 R 2] <414>", 0);
        assert_eq!(lx.parse(0), Some(Obj::Str(b"a(b)Ac".to_vec())));
        assert_eq!(lx.parse(0), Some(Obj::Name(b"NAme".to_vec())));
        assert_eq!(
            lx.parse(0),
            Some(Obj::Array(vec![Obj::Ref(1, 0), Obj::Int(2)]))
        );
        assert_eq!(lx.parse(0), Some(Obj::Str(b"A@".to_vec())));
    }

    #[test]
    fn object_count_cap() {
        // Streams are cheap to declare; the cap bounds how many are decoded.
        let mut b = Pdfb::new();
        for i in 0..(MAX_STREAMS as u32 + 10) {
            b.raw(format!("{i} 0 obj<</Type/ObjStm>>stream\nx\nendstream endobj ").as_bytes());
        }
        let pdf = b.trailer("");
        let out = run(&pdf, Budget::unlimited());
        assert!(out.members.is_empty());
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("streams; the rest are not decoded")));
    }
}
