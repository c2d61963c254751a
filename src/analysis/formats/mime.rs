//! Internet mail: RFC 5322 (RFC 822) messages with MIME bodies (RFC 2045 transfer encodings,
//! RFC 2046 multipart, RFC 2047 encoded words, RFC 2231 parameter continuations and charsets),
//! uuencoded blocks inside plain-text bodies, and mbox mailboxes (RFC 4155, mboxrd escaping).
//!
//! Every leaf part of a message becomes a member; nested multiparts are walked in place, while a
//! `message/rfc822` part is handed out whole (the engine recurses into it, under its own depth
//! limit). Mail in the wild is routinely malformed (missing boundaries, junk in base64, headers
//! without the blank line), so the walker keeps going and warns rather than giving up.

use std::borrow::Cow;

use super::{printable, uuencode, Lines, Members};
use crate::analysis::text;
use crate::analysis::warning::Problem;

/// Deepest nesting of multiparts walked in place. Below it the multipart entity is handed out
/// as a `.eml` member, so the engine's own depth limit takes over instead of recursion here.
pub const MAX_MIME_DEPTH: usize = 20;

/// Most MIME entities (leaf parts and multiparts) walked in one message: a message of empty
/// parts costs a few bytes each.
pub const MAX_PARTS: usize = 10_000;

/// Most messages taken from one mbox.
pub const MAX_MBOX_MESSAGES: usize = 100_000;

/// Header lines [`looks_like_message`] reads before deciding.
const MAX_SNIFF_LINES: usize = 200;

/// Longest RFC 2047 encoded word decoded (the RFC allows 75 characters; some mailers write
/// longer ones). A longer `=?...?=` is kept as literal text.
const MAX_ENCODED_WORD: usize = 1024;

/// Longest charset name (with an RFC 2231 `*language` suffix) in an encoded word.
const MAX_CHARSET_LEN: usize = 64;

/// Most RFC 2231 sections assembled into one parameter value.
const MAX_PARAM_SECTIONS: usize = 1000;

/// Header fields that mark the start of a message for [`looks_like_message`].
const MESSAGE_FIELDS: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "received",
    "mime-version",
    "return-path",
    "content-type",
];

pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let message = read(data);
    let mut walker = Walker { out, leaves: 0 };
    walker.entity(&message.root);
    if message.capped {
        out.warn(
            Problem::Capped,
            format!("more than {MAX_PARTS} MIME parts: the rest of the message was not unpacked"),
        );
    }
}

/// Splits an mbox on its `From ` separator lines (at the start or after a blank line), undoes
/// the mboxrd `>From ` escaping and yields each message as `message-N.eml`.
pub fn unpack_mbox<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let mut count = 0usize;
    let mut msg_start = 0usize;
    let mut prev_blank = true;
    let mut seen_separator = false;
    let mut lines = Lines::new(data, 0);
    loop {
        if out.stopped() {
            return;
        }
        let item = lines.next();
        let boundary = match item {
            Some((start, line, _)) if prev_blank && line.starts_with(b"From ") => Some(start),
            Some(_) => None,
            None => Some(data.len()),
        };
        if let Some(end) = boundary {
            let message = &data[msg_start..end];
            let is_leading = !seen_separator;
            let blank = message.iter().all(|c| c.is_ascii_whitespace());
            if !(is_leading && blank) {
                if is_leading {
                    out.warn(
                        Problem::Corrupt,
                        format!(
                            "{} bytes before the first From line were taken as a message",
                            message.len()
                        ),
                    );
                }
                if count >= MAX_MBOX_MESSAGES {
                    out.warn(
                        Problem::Capped,
                        format!(
                            "more than {MAX_MBOX_MESSAGES} messages in the mailbox: the rest were \
                         not split out"
                        ),
                    );
                    return;
                }
                count += 1;
                let body = unescape_from(strip_one_line_end(message));
                if !out.add(format!("message-{count}.eml"), body) {
                    return;
                }
            }
            match item {
                Some((_, _, next)) => {
                    msg_start = next;
                    seen_separator = true;
                }
                None => break,
            }
        }
        if let Some((_, line, _)) = item {
            prev_blank = line.is_empty();
        }
    }
    if count == 0 && !seen_separator {
        out.warn(Problem::Corrupt, "no messages found in the mailbox");
    }
}

/// True when `data` starts with RFC 822 header fields (`Name: value` lines, folded
/// continuations allowed) up to a blank line or the sniffing window, and at least one of them
/// is a field every message has (From, To, Subject, Date, Message-ID, Received, MIME-Version,
/// Return-Path, Content-Type).
pub fn looks_like_message(data: &[u8]) -> bool {
    let mut fields = 0usize;
    let mut known = 0usize;
    for (i, (_, line, _)) in Lines::new(data, 0).take(MAX_SNIFF_LINES).enumerate() {
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if i == 0 {
                return false;
            }
            continue;
        }
        let Some(name) = field_name(line) else {
            // A non-field line ends a header block early in broken mail; it may not open one.
            if fields == 0 {
                return false;
            }
            break;
        };
        if !name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        {
            return false;
        }
        fields += 1;
        if MESSAGE_FIELDS
            .iter()
            .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
        {
            known += 1;
        }
    }
    known > 0
}

/// True when `data` begins with an mbox `From ` separator line followed by a message header.
pub fn looks_like_mbox(data: &[u8]) -> bool {
    let Some((_, first, next)) = Lines::new(data, 0).next() else {
        return false;
    };
    first.len() > 5 && first.starts_with(b"From ") && looks_like_message(&data[next..])
}

/// The MIME fields of an entity (the first of each).
#[derive(Default)]
pub(crate) struct Headers {
    pub content_type: Option<Vec<u8>>,
    pub disposition: Option<Vec<u8>>,
    pub encoding: Option<Vec<u8>>,
    /// Names of MIME fields that appeared more than once (the first one is used).
    pub duplicates: Vec<&'static str>,
}

impl Headers {
    fn set(&mut self, name: &[u8], value: Vec<u8>) {
        let (slot, label) = if name.eq_ignore_ascii_case(b"content-type") {
            (&mut self.content_type, "content-type")
        } else if name.eq_ignore_ascii_case(b"content-disposition") {
            (&mut self.disposition, "content-disposition")
        } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            (&mut self.encoding, "content-transfer-encoding")
        } else {
            return;
        };
        if slot.is_none() {
            *slot = Some(value);
        } else if !self.duplicates.contains(&label) {
            self.duplicates.push(label);
        }
    }
}

/// Most lines read in one header block: the body starts after them.
pub const MAX_HEADER_LINES: usize = 10_000;
/// Most bytes of one unfolded field value; further continuation lines of the field are dropped.
pub const MAX_FIELD_VALUE: usize = 64 * 1024;

/// How a header block ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderEnd {
    /// At a blank line (RFC 5322 2.1): the body follows it.
    Blank,
    /// At a line that is neither a field nor a continuation: broken mail omits the blank line,
    /// and the body starts there.
    NotAField,
    /// After [`MAX_HEADER_LINES`] lines.
    TooManyLines,
    /// At the end of the data: there is no body.
    EndOfData,
}

/// The header block at the start of an entity (RFC 5322 2.2), the one parse of it that the
/// extraction here and the description in `inspect::mime` both read.
pub struct HeaderBlock<'e> {
    /// Every field in order: (its name as written, its raw unfolded value).
    pub fields: Vec<(&'e [u8], Vec<u8>)>,
    /// Where the body starts (the end of the data when there is none).
    pub body_at: usize,
    pub end: HeaderEnd,
    /// Whether the block began with continuation lines, which continue no field: they are
    /// skipped, as mail readers skip them (Python's email package calls it
    /// FirstHeaderLineIsContinuationDefect), and the fields after them are read.
    pub leading_continuation: bool,
}

impl<'e> HeaderBlock<'e> {
    /// `envelope`: a leading mbox `From ` line is skipped (the top of a message).
    pub fn parse(ent: &'e [u8], envelope: bool) -> HeaderBlock<'e> {
        let mut block = HeaderBlock {
            fields: Vec::new(),
            body_at: ent.len(),
            end: HeaderEnd::EndOfData,
            leading_continuation: false,
        };
        for (i, (start, line, next)) in Lines::new(ent, 0).enumerate() {
            if line.is_empty() {
                block.body_at = next;
                block.end = HeaderEnd::Blank;
                break;
            }
            if i >= MAX_HEADER_LINES {
                block.body_at = start;
                block.end = HeaderEnd::TooManyLines;
                break;
            }
            if i == 0 && envelope && line.starts_with(b"From ") {
                continue;
            }
            if matches!(line[0], b' ' | b'\t') {
                match block.fields.last_mut() {
                    // Unfolding: the line break goes, the whitespace stays (RFC 5322 2.2.3).
                    Some((_, value)) if value.len() + line.len() <= MAX_FIELD_VALUE => {
                        value.extend_from_slice(line)
                    }
                    Some(_) => {}
                    None => block.leading_continuation = true,
                }
                continue;
            }
            let Some(name) = field_name(line) else {
                block.body_at = start;
                block.end = HeaderEnd::NotAField;
                break;
            };
            let colon = line.iter().position(|&c| c == b':').unwrap_or(line.len());
            let value = line.get(colon + 1..).unwrap_or(&[]);
            let value = value[..value.len().min(MAX_FIELD_VALUE)].to_vec();
            block.fields.push((name, value));
        }
        block
    }
}

/// The MIME fields of an entity and where its body starts.
fn parse_headers(ent: &[u8], envelope: bool) -> (Headers, HeaderBlock<'_>) {
    let block = HeaderBlock::parse(ent, envelope);
    let mut headers = Headers::default();
    for (name, value) in &block.fields {
        headers.set(name, value.clone());
    }
    (headers, block)
}

/// The field name of a header line (`Name: value`, whitespace before the colon tolerated), or
/// None when the line is not a header field.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&c| c == b':')?;
    let name = trim_end(&line[..colon]);
    if name.is_empty() || !name.iter().all(|&c| (33..=126).contains(&c)) {
        return None;
    }
    Some(name)
}

/// A parsed Content-Type or Content-Disposition value: the lower-cased main value and the
/// parameters (lower-cased names, raw values with quotes removed).
pub(crate) struct Structured {
    pub(crate) value: String,
    pub(crate) params: Vec<(String, Vec<u8>)>,
}

impl Structured {
    pub(crate) fn parse(raw: &[u8]) -> Structured {
        let mut i = 0;
        let mut main = Vec::new();
        let mut depth = 0usize;
        while i < raw.len() && raw[i] != b';' {
            // Comments in parentheses (RFC 5322 CFWS) are not part of the value.
            match raw[i] {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                c if depth == 0 && !c.is_ascii_whitespace() => main.push(c.to_ascii_lowercase()),
                _ => {}
            }
            i += 1;
        }
        let mut params = Vec::new();
        while i < raw.len() {
            // Here raw[i] is ';' (or we are at a parameter that followed a bad one).
            i += 1;
            let name_start = i;
            while i < raw.len() && raw[i] != b'=' && raw[i] != b';' {
                i += 1;
            }
            let name = trim(&raw[name_start..i]);
            if i >= raw.len() || raw[i] == b';' {
                continue;
            }
            i += 1; // '='
            while i < raw.len() && matches!(raw[i], b' ' | b'\t') {
                i += 1;
            }
            let mut value = Vec::new();
            if raw.get(i) == Some(&b'"') {
                i += 1;
                while i < raw.len() && raw[i] != b'"' {
                    if raw[i] == b'\\' && i + 1 < raw.len() {
                        i += 1;
                    }
                    value.push(raw[i]);
                    i += 1;
                }
                // Skip the closing quote and anything up to the next ';'.
                while i < raw.len() && raw[i] != b';' {
                    i += 1;
                }
            } else {
                let start = i;
                while i < raw.len() && raw[i] != b';' {
                    i += 1;
                }
                value.extend_from_slice(trim(&raw[start..i]));
            }
            if !name.is_empty() {
                params.push((String::from_utf8_lossy(name).to_ascii_lowercase(), value));
            }
        }
        Structured {
            value: String::from_utf8_lossy(&main).into_owned(),
            params,
        }
    }

    pub(crate) fn raw(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A parameter as text: the RFC 2231 extended form (`name*`, or `name*0`, `name*1*`, ...)
    /// when present, else the plain form with RFC 2047 encoded words decoded (Outlook and
    /// others put encoded words in quoted file names although RFC 2047 forbids it).
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        if let Some(v) = self.raw(&format!("{name}*")) {
            return Some(decode_extended(v, true).0);
        }
        let mut sections: Vec<(u32, bool, &[u8])> = Vec::new();
        for (n, v) in &self.params {
            let Some(rest) = n.strip_prefix(name).and_then(|r| r.strip_prefix('*')) else {
                continue;
            };
            let (digits, extended) = match rest.strip_suffix('*') {
                Some(d) => (d, true),
                None => (rest, false),
            };
            if let Ok(k) = digits.parse::<u32>() {
                if sections.len() < MAX_PARAM_SECTIONS {
                    sections.push((k, extended, v));
                }
            }
        }
        if !sections.is_empty() {
            sections.sort_by_key(|s| s.0);
            let mut bytes = Vec::new();
            let mut charset = String::new();
            for (expected, (k, extended, v)) in sections.iter().enumerate() {
                if *k as usize != expected {
                    // A gap ends the value: later sections are unreachable (RFC 2231 3).
                    break;
                }
                if *extended {
                    let (decoded, cs) = decode_extended_bytes(v, expected == 0);
                    if expected == 0 {
                        charset = cs;
                    }
                    bytes.extend_from_slice(&decoded);
                } else {
                    bytes.extend_from_slice(v);
                }
            }
            if !bytes.is_empty() {
                return Some(if charset.is_empty() {
                    decode_words(&bytes)
                } else {
                    decode_charset(&bytes, &charset)
                });
            }
        }
        self.raw(name).map(decode_words)
    }
}

/// Decodes an RFC 2231 extended value `charset'lang'percent-encoded` to text.
fn decode_extended(v: &[u8], first: bool) -> (String, String) {
    let (bytes, charset) = decode_extended_bytes(v, first);
    (decode_charset(&bytes, &charset), charset)
}

/// The percent-decoded bytes of an extended value and its charset (only the first section
/// carries `charset'lang'`).
fn decode_extended_bytes(v: &[u8], first: bool) -> (Vec<u8>, String) {
    let mut charset = String::new();
    let mut rest = v;
    if first {
        let quotes: Vec<usize> = v
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == b'\'')
            .map(|(i, _)| i)
            .take(2)
            .collect();
        if let [a, b] = quotes[..] {
            charset = String::from_utf8_lossy(&v[..a]).to_ascii_lowercase();
            rest = &v[b + 1..];
        }
    }
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == b'%' {
            if let (Some(h), Some(l)) = (
                rest.get(i + 1).and_then(|&c| super::hex_digit(c)),
                rest.get(i + 2).and_then(|&c| super::hex_digit(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(rest[i]);
        i += 1;
    }
    (out, charset)
}

/// Decodes RFC 2047 encoded words (`=?charset?B?...?=`, `=?charset?Q?...?=`) in a header
/// value. Whitespace between adjacent encoded words is dropped, and adjacent words in the same
/// charset are decoded together (encoders split multi-byte characters across words).
pub(crate) fn decode_words(input: &[u8]) -> String {
    let mut out = String::new();
    let mut pending: Option<(String, Vec<u8>)> = None;
    let mut literal_start = 0;
    let mut prev_word = false;
    let mut closes = CloseFinder {
        data: input,
        from: None,
        at: None,
    };
    let mut i = 0;
    while i + 1 < input.len() {
        if input[i] == b'=' && input[i + 1] == b'?' {
            if let Some((charset, bytes, end)) = parse_word(input, i, &mut closes) {
                let between = &input[literal_start..i];
                if !(prev_word && between.iter().all(|c| c.is_ascii_whitespace())) {
                    flush(&mut out, &mut pending);
                    out.push_str(&header_text(between));
                }
                match pending.as_mut() {
                    Some((cs, b)) if *cs == charset => b.extend_from_slice(&bytes),
                    _ => {
                        flush(&mut out, &mut pending);
                        pending = Some((charset, bytes));
                    }
                }
                i = end;
                literal_start = end;
                prev_word = true;
                continue;
            }
        }
        i += 1;
    }
    flush(&mut out, &mut pending);
    out.push_str(&header_text(&input[literal_start..]));
    out.trim().to_string()
}

fn flush(out: &mut String, pending: &mut Option<(String, Vec<u8>)>) {
    if let Some((charset, bytes)) = pending.take() {
        out.push_str(&decode_charset(&bytes, &charset));
    }
}

/// Finds the `?=` that closes encoded words, scanning the header about once however many
/// unterminated `=?` it holds. Queries (text starts of successive `=?`) almost only increase:
/// a later `=?` can have its text start before an earlier one's by less than a charset name, so
/// a query behind the cache only looks at the few bytes in between.
struct CloseFinder<'d> {
    data: &'d [u8],
    /// The cached query, if any: `at` is the first `?=` at or after `from`.
    from: Option<usize>,
    at: Option<usize>,
}

impl CloseFinder<'_> {
    fn find(&mut self, q: usize) -> Option<usize> {
        let is_close = |p: usize| self.data.get(p..p + 2) == Some(b"?=");
        match self.from {
            Some(from) if q >= from && self.at.is_none_or(|at| at >= q) => return self.at,
            Some(from) if q < from => {
                let found = (q..from).find(|&p| is_close(p)).or(self.at);
                self.from = Some(q);
                self.at = found;
                return found;
            }
            _ => {}
        }
        let found = self
            .data
            .get(q..)
            .and_then(|rest| rest.windows(2).position(|w| w == b"?="))
            .map(|i| q + i);
        self.from = Some(q);
        self.at = found;
        found
    }
}

/// Parses one encoded word at `at` (which holds `=?`): its charset, decoded bytes and end.
fn parse_word(
    input: &[u8],
    at: usize,
    closes: &mut CloseFinder,
) -> Option<(String, Vec<u8>, usize)> {
    let window = &input[at..input.len().min(at + MAX_ENCODED_WORD)];
    let q1 = 2 + window
        .get(2..window.len().min(2 + MAX_CHARSET_LEN + 1))?
        .iter()
        .position(|&c| c == b'?')?;
    let charset = &window[2..q1];
    if charset.is_empty() || charset.iter().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let encoding = window.get(q1 + 1)?.to_ascii_uppercase();
    if window.get(q1 + 2) != Some(&b'?') || !matches!(encoding, b'B' | b'Q') {
        return None;
    }
    let text_start = q1 + 3;
    let close = closes.find(at + text_start)?;
    let len = close - (at + text_start);
    let text = window.get(text_start..text_start + len)?;
    let bytes = if encoding == b'B' {
        text::decode_base64(text, u64::MAX).data
    } else {
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'_' => out.push(b' '),
                b'=' => {
                    if let (Some(h), Some(l)) = (
                        text.get(i + 1).and_then(|&c| super::hex_digit(c)),
                        text.get(i + 2).and_then(|&c| super::hex_digit(c)),
                    ) {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                    out.push(b'=');
                }
                c => out.push(c),
            }
            i += 1;
        }
        out
    };
    // RFC 2231 section 5 lets the charset carry a language: `utf-8*en`.
    let charset = String::from_utf8_lossy(charset).to_ascii_lowercase();
    let charset = charset.split('*').next().unwrap_or("").to_string();
    Some((charset, bytes, at + text_start + len + 2))
}

/// Decodes bytes in a named charset. UTF-8, ASCII, Latin-1 and Windows-1252 are exact; any
/// other charset is decoded as UTF-8 with replacement characters (names stay readable in the
/// common case of ASCII file names in an exotic charset).
pub(crate) fn decode_charset(bytes: &[u8], charset: &str) -> String {
    match charset.trim().to_ascii_lowercase().as_str() {
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "iso-ir-100"
        | "cp819" | "ibm819" => bytes.iter().map(|&b| char::from(b)).collect(),
        "windows-1252" | "cp1252" | "x-cp1252" => bytes.iter().map(|&b| text::cp1252(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Raw header bytes outside encoded words: UTF-8 when valid (RFC 6532), else Latin-1 (the most
/// common legacy 8-bit header charset).
pub(crate) fn header_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A transfer-decoded body, or the reason it could not be.
enum Body<'a> {
    Data(Cow<'a, [u8]>),
    OverCap(u64),
}

/// One MIME entity read structurally, nothing decoded: the one parse of a message that the
/// extraction here and the description in `inspect::mime` both walk.
pub(crate) struct Entity<'e> {
    /// The whole entity, header and body.
    pub raw: &'e [u8],
    pub header: HeaderBlock<'e>,
    pub mime: Headers,
    /// The Content-Type, resolved: the parent's default when absent (RFC 2046 5.1.5: digest
    /// parts are messages), `text/plain` when unparseable (RFC 2045 5.2).
    pub content_type: Structured,
    pub body: &'e [u8],
    pub shape: Shape<'e>,
}

/// What an entity holds.
pub(crate) enum Shape<'e> {
    /// One body.
    Leaf,
    /// Parts split on the boundary; `closed` when the closing delimiter was found.
    Multipart {
        parts: Vec<Entity<'e>>,
        closed: bool,
    },
    /// A multipart type without a usable boundary parameter: one body.
    NoBoundary,
    /// A multipart body with no delimiter line for its boundary: one body.
    NoDelimiter,
    /// A multipart body in base64 or quoted-printable, which RFC 2045 6.4 forbids (and which
    /// hides attachments): its parts are read only once it is decoded.
    Encoded,
    /// A multipart nested deeper than [`MAX_MIME_DEPTH`]: not split.
    TooDeep,
}

/// A message read structurally.
pub(crate) struct Message<'e> {
    pub root: Entity<'e>,
    /// More than [`MAX_PARTS`] entities: the rest were not read.
    pub capped: bool,
}

/// Reads the MIME structure of a message (the top may start with an mbox `From ` line).
pub(crate) fn read(data: &[u8]) -> Message<'_> {
    let mut reader = Reader {
        entities: 0,
        capped: false,
    };
    let root = reader
        .entity(data, 0, "text/plain", true)
        .expect("the first entity is within the cap");
    Message {
        root,
        capped: reader.capped,
    }
}

struct Reader {
    /// Entities read, against [`MAX_PARTS`].
    entities: usize,
    capped: bool,
}

impl Reader {
    /// The entity `ent`, or `None` past [`MAX_PARTS`].
    fn entity<'e>(
        &mut self,
        ent: &'e [u8],
        depth: usize,
        default_type: &str,
        envelope: bool,
    ) -> Option<Entity<'e>> {
        self.entities += 1;
        if self.entities > MAX_PARTS {
            self.capped = true;
            return None;
        }
        let (mime, header) = parse_headers(ent, envelope);
        let body = &ent[header.body_at.min(ent.len())..];
        let content_type = match &mime.content_type {
            Some(raw) => {
                let ct = Structured::parse(raw);
                if ct.value.contains('/') {
                    ct
                } else {
                    Structured {
                        value: "text/plain".to_string(),
                        params: ct.params,
                    }
                }
            }
            None => Structured {
                value: default_type.to_string(),
                params: Vec::new(),
            },
        };
        let shape = if content_type.value.starts_with("multipart/") {
            self.multipart(&mime, &content_type, body, depth)
        } else {
            Shape::Leaf
        };
        Some(Entity {
            raw: ent,
            header,
            mime,
            content_type,
            body,
            shape,
        })
    }

    fn multipart<'e>(
        &mut self,
        mime: &Headers,
        ct: &Structured,
        body: &'e [u8],
        depth: usize,
    ) -> Shape<'e> {
        let Some(boundary) = ct.raw("boundary").map(trim_end).filter(|b| !b.is_empty()) else {
            return Shape::NoBoundary;
        };
        if matches!(encoding(mime).as_str(), "base64" | "quoted-printable") {
            return Shape::Encoded;
        }
        if depth >= MAX_MIME_DEPTH {
            return Shape::TooDeep;
        }
        let split = split_multipart(body, boundary, MAX_PARTS);
        if split.parts.is_empty() {
            return Shape::NoDelimiter;
        }
        let child_default = if ct.value == "multipart/digest" {
            "message/rfc822"
        } else {
            "text/plain"
        };
        let mut parts = Vec::new();
        for part in split.parts {
            match self.entity(part, depth + 1, child_default, false) {
                Some(e) => parts.push(e),
                None => break,
            }
        }
        Shape::Multipart {
            parts,
            closed: split.closed,
        }
    }
}

struct Walker<'o, 'a> {
    out: &'o mut Members<'a>,
    /// Leaf parts seen, for `part-N` names.
    leaves: usize,
}

impl<'a> Walker<'_, 'a> {
    fn entity(&mut self, e: &Entity<'a>) {
        if self.out.stopped() {
            return;
        }
        let next = self.leaves + 1;
        if e.header.leading_continuation {
            self.out.warn(
                Problem::Corrupt,
                format!(
                    "part {next}: its header starts with a continuation line, which continues no \
                 field (skipped)"
                ),
            );
        }
        for dup in &e.mime.duplicates {
            self.out.warn(
                Problem::Corrupt,
                format!("part {next} has more than one {dup} field: the first was used"),
            );
        }
        let kind = &e.content_type.value;
        match &e.shape {
            Shape::Leaf => self.leaf(e),
            Shape::NoBoundary => {
                self.out.warn(
                    Problem::Corrupt,
                    format!("{kind} body has no boundary parameter: kept as one part"),
                );
                self.leaf(e);
            }
            Shape::NoDelimiter => {
                self.out.warn(
                    Problem::Corrupt,
                    format!("{kind} body has no delimiter line for its boundary: kept as one part"),
                );
                self.leaf(e);
            }
            Shape::Encoded => self.encoded_multipart(e),
            Shape::TooDeep => {
                self.leaves += 1;
                let name = format!("part-{}.eml", self.leaves);
                self.out.warn(
                    Problem::Capped,
                    format!(
                    "multipart nesting deeper than {MAX_MIME_DEPTH} levels: kept {name} unparsed"
                ),
                );
                self.out.add(name, Cow::Borrowed(e.raw));
            }
            Shape::Multipart { parts, closed } => {
                if !closed {
                    self.out.warn(
                        Problem::Truncated,
                        format!("{kind} body is truncated: its closing boundary is missing"),
                    );
                }
                for part in parts {
                    if self.out.stopped() {
                        return;
                    }
                    self.entity(part);
                }
            }
        }
    }

    /// Illegal (RFC 2045 6.4) but used to hide attachments: decode the body and hand it out as
    /// a message of its own so the engine walks it.
    fn encoded_multipart(&mut self, e: &Entity<'a>) {
        let kind = &e.content_type.value;
        let cte = encoding(&e.mime);
        self.leaves += 1;
        let n = self.leaves;
        let name = format!("part-{n}.eml");
        let mut entity = b"Content-Type: ".to_vec();
        entity.extend_from_slice(trim(e.mime.content_type.as_deref().unwrap_or(&[])));
        entity.extend_from_slice(b"\r\n\r\n");
        match self.decode_body(&name, &cte, e.body, n) {
            Body::Data(data) => entity.extend_from_slice(&data),
            Body::OverCap(size) => {
                self.out.admit(&name, e.body.len() as u64, size);
                return;
            }
        }
        self.out.warn(
            Problem::Corrupt,
            format!(
            "part {n} is a {kind} body with {cte} transfer encoding: decoded and kept as {name}"
        ),
        );
        if !self
            .out
            .admit(&name, e.body.len() as u64, entity.len() as u64)
        {
            return;
        }
        self.out.add(name, Cow::Owned(entity));
    }

    fn leaf(&mut self, e: &Entity<'a>) {
        let (ct, body) = (&e.content_type, e.body);
        self.leaves += 1;
        let n = self.leaves;
        let disposition = e.mime.disposition.as_deref().map(Structured::parse);
        let name = disposition
            .as_ref()
            .and_then(|d| d.text("filename"))
            .filter(|s| !s.trim().is_empty())
            .or_else(|| ct.text("name").filter(|s| !s.trim().is_empty()))
            .unwrap_or_else(|| format!("part-{n}.{}", extension(&ct.value)));
        let cte = encoding(&e.mime);
        let data = match self.decode_body(&name, &cte, body, n) {
            Body::Data(data) => data,
            Body::OverCap(size) => {
                self.out.admit(&name, body.len() as u64, size);
                return;
            }
        };
        if !self.out.admit(&name, body.len() as u64, data.len() as u64) {
            return;
        }
        // Old mailers attached files by pasting uuencoded blocks into the text.
        let uu = ct.value == "text/plain" && uuencode::find_begin(&data).is_some();
        let text = if uu { Some(data.clone()) } else { None };
        if !self.out.add(name, data) {
            return;
        }
        if let Some(text) = text {
            uuencode::extract(&text, self.out, &format!("part {n}: "));
        }
    }

    /// Undoes the Content-Transfer-Encoding of a body, within the member cap.
    fn decode_body(&mut self, name: &str, cte: &str, body: &'a [u8], n: usize) -> Body<'a> {
        let cap = self.out.member_cap(body.len() as u64);
        match cte {
            "base64" => {
                let decoded = text::decode_base64(body, cap);
                if decoded.over_cap {
                    return Body::OverCap(decoded.data.len() as u64);
                }
                if decoded.junk > 0 {
                    self.out.warn(
                        Problem::Corrupt,
                        format!(
                            "part {n} ({}): skipped {} characters that are not base64",
                            printable(name),
                            decoded.junk
                        ),
                    );
                }
                if decoded.after_padding > 0 {
                    self.out.warn(
                        Problem::Corrupt,
                        format!(
                            "part {n} ({}): ignored {} base64 characters after the padding",
                            printable(name),
                            decoded.after_padding
                        ),
                    );
                }
                Body::Data(Cow::Owned(decoded.data))
            }
            "quoted-printable" => match text::decode_qp(body, cap) {
                Some(d) => Body::Data(Cow::Owned(d)),
                None => Body::OverCap(cap.saturating_add(1)),
            },
            "" | "7bit" | "8bit" | "binary" => Body::Data(Cow::Borrowed(body)),
            // Uuencoded bodies are handed out as they are: the engine identifies and decodes them.
            "x-uuencode" | "uuencode" | "x-uue" | "uue" => Body::Data(Cow::Borrowed(body)),
            other => {
                self.out.warn(
                    Problem::Unsupported,
                    format!(
                        "part {n} ({}): unknown transfer encoding {}: kept as is",
                        printable(name),
                        printable(other)
                    ),
                );
                Body::Data(Cow::Borrowed(body))
            }
        }
    }
}

/// The Content-Transfer-Encoding, lower case, without parameters; empty when absent.
pub(crate) fn encoding(headers: &Headers) -> String {
    headers
        .encoding
        .as_deref()
        .map(|e| Structured::parse(e).value)
        .unwrap_or_default()
}

/// The extension of an unnamed part, from its content type.
fn extension(mime: &str) -> &'static str {
    match mime {
        "text/html" => "html",
        "message/rfc822" | "message/global" => "eml",
        m if m.starts_with("text/") => "txt",
        _ => "bin",
    }
}

/// The body parts of a multipart body.
struct Split<'a> {
    parts: Vec<&'a [u8]>,
    /// The closing delimiter (`--boundary--`) was found.
    closed: bool,
}

/// Splits a multipart body on its delimiter lines (RFC 2046 5.1.1): `--boundary` at the start
/// of a line, optionally `--` (close), then only whitespace. The line break before a delimiter
/// belongs to the delimiter; the preamble and epilogue are dropped.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8], max: usize) -> Split<'a> {
    let mut split = Split {
        parts: Vec::new(),
        closed: false,
    };
    let mut current: Option<usize> = None;
    for (start, line, next) in Lines::new(body, 0) {
        let Some(rest) = line
            .strip_prefix(b"--")
            .and_then(|r| r.strip_prefix(boundary))
        else {
            continue;
        };
        let (close, rest) = match rest.strip_prefix(b"--") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if !rest.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        if let Some(from) = current.take() {
            let end = if body[..start].ends_with(b"\r\n") {
                start - 2
            } else if body[..start].ends_with(b"\n") {
                start - 1
            } else {
                start
            };
            split
                .parts
                .push(body.get(from..end.max(from)).unwrap_or(&[]));
            if split.parts.len() >= max {
                return split;
            }
        }
        if close {
            split.closed = true;
            return split;
        }
        current = Some(next);
    }
    if let Some(from) = current {
        split.parts.push(&body[from.min(body.len())..]);
    }
    split
}

/// Drops the blank line mbox puts before each `From ` separator.
fn strip_one_line_end(msg: &[u8]) -> &[u8] {
    if msg.ends_with(b"\r\n\r\n") {
        &msg[..msg.len() - 2]
    } else if msg.ends_with(b"\n\n") {
        &msg[..msg.len() - 1]
    } else {
        msg
    }
}

/// Undoes mboxrd quoting: one `>` is removed from every line matching `^>+From `. Borrowed when
/// no line is quoted.
fn unescape_from(msg: &[u8]) -> Cow<'_, [u8]> {
    let quoted = |line: &[u8]| {
        let n = line.iter().take_while(|&&c| c == b'>').count();
        n > 0 && line[n..].starts_with(b"From ")
    };
    if !Lines::new(msg, 0).any(|(_, line, _)| quoted(line)) {
        return Cow::Borrowed(msg);
    }
    let mut out = Vec::with_capacity(msg.len());
    for (start, line, next) in Lines::new(msg, 0) {
        let skip = usize::from(quoted(line));
        out.extend_from_slice(&msg[start + skip..next]);
    }
    Cow::Owned(out)
}

pub(crate) fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &s[n..]
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_whitespace())
        .count();
    &s[..s.len() - n]
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::{Budget, Limit};
    use super::*;

    #[test]
    fn a_header_block_skips_a_leading_continuation_and_says_how_it_ended() {
        let block = HeaderBlock::parse(
            b" stray\r\nContent-Type: text/plain;\r\n charset=x\r\n\r\nbody",
            false,
        );
        assert!(block.leading_continuation);
        assert_eq!(block.end, HeaderEnd::Blank);
        let fields: Vec<(&[u8], &[u8])> = block
            .fields
            .iter()
            .map(|(n, v)| (*n, v.as_slice()))
            .collect();
        assert_eq!(
            fields,
            [(&b"Content-Type"[..], &b" text/plain; charset=x"[..])]
        );
        assert_eq!(
            &b" stray\r\nContent-Type: text/plain;\r\n charset=x\r\n\r\nbody"[block.body_at..],
            b"body"
        );
        // Broken mail: the body starts at the first line that is not a field.
        let block = HeaderBlock::parse(b"Subject: a\r\nnot a field line\r\n", false);
        assert_eq!((block.end, block.body_at), (HeaderEnd::NotAField, 12));
        // The envelope line of an mbox message is not a field; a header to the end has no body.
        let block = HeaderBlock::parse(b"From a@b Mon Jan 1 00:00:00 2020\nSubject: x", true);
        assert_eq!(block.fields.len(), 1);
        assert_eq!(block.end, HeaderEnd::EndOfData);
        // A field folded without end is kept to its cap.
        let mut long = b"X-Long: a\r\n".to_vec();
        for _ in 0..20_000 {
            long.extend_from_slice(b" 0123456789\r\n");
        }
        let block = HeaderBlock::parse(&long, false);
        assert!(block.fields[0].1.len() <= MAX_FIELD_VALUE);
        assert_eq!(block.end, HeaderEnd::TooManyLines);
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    #[test]
    fn one_read_gives_the_shape_of_every_part() {
        let msg = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"A\"\r\n\r\n\
--A\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--A\r\nContent-Type: multipart/digest; boundary=B\r\n\r\n\
--B\r\n\r\nSubject: inner\r\n\r\nbody\r\n--B--\r\n\
--A\r\nContent-Type: multipart/mixed; boundary=C\r\n\
Content-Transfer-Encoding: base64\r\n\r\nLS1DLS0=\r\n\
--A\r\nContent-Type: multipart/related; boundary=Z\r\n\r\nno delimiter line\r\n\
--A\r\nContent-Type: multipart/alternative\r\n\r\nno boundary\r\n";
        let m = read(msg);
        assert!(!m.capped);
        let Shape::Multipart { parts, closed } = &m.root.shape else {
            panic!("the root is a multipart");
        };
        assert!(!closed, "the closing delimiter is missing");
        let shapes: Vec<&str> = parts
            .iter()
            .map(|p| match &p.shape {
                Shape::Leaf => "leaf",
                Shape::Multipart { .. } => "multipart",
                Shape::NoBoundary => "no boundary",
                Shape::NoDelimiter => "no delimiter",
                Shape::Encoded => "encoded",
                Shape::TooDeep => "too deep",
            })
            .collect();
        assert_eq!(
            shapes,
            [
                "leaf",
                "multipart",
                "encoded",
                "no delimiter",
                "no boundary"
            ]
        );
        // A digest's parts are messages unless they say otherwise (RFC 2046 5.1.5).
        let Shape::Multipart { parts: digest, .. } = &parts[1].shape else {
            unreachable!()
        };
        assert_eq!(digest[0].content_type.value, "message/rfc822");
        assert_eq!(parts[0].body, b"hello");
        // Nesting past MAX_MIME_DEPTH stops splitting there.
        let mut nested = b"Content-Type: text/plain\r\n\r\ncore".to_vec();
        for level in 0..=MAX_MIME_DEPTH {
            let b = format!("L{level}");
            let mut outer = format!("Content-Type: multipart/mixed; boundary={b}\r\n\r\n--{b}\r\n")
                .into_bytes();
            outer.extend_from_slice(&nested);
            outer.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
            nested = outer;
        }
        let mut e = &read(&nested).root;
        let mut depth = 0;
        while let Shape::Multipart { parts, .. } = &e.shape {
            e = &parts[0];
            depth += 1;
        }
        assert_eq!(depth, MAX_MIME_DEPTH);
        assert!(matches!(e.shape, Shape::TooDeep));
    }

    fn names(out: &Members) -> Vec<String> {
        out.members.iter().map(|m| m.name.clone()).collect()
    }

    const MULTI: &[u8] = b"From: a@example.com\r\n\
To: b@example.com\r\n\
Subject: test\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n\
\r\n\
preamble\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Caf=C3=A9 soft=\r\n\
break\r\n\
--inner\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>hi</p>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/octet-stream; name=\"ignored.bin\"\r\n\
Content-Disposition: attachment; filename=\"=?UTF-8?B?w6lj?= =?UTF-8?Q?ole=2Etxt?=\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
SGVsbG8g\r\n\
d29ybGQ=\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: inner\r\n\
\r\n\
inner body\r\n\
--outer--\r\n\
epilogue\r\n";

    #[test]
    fn walks_nested_multipart() {
        let out = run(MULTI);
        assert_eq!(
            names(&out),
            ["part-1.txt", "part-2.html", "école.txt", "part-4.eml"]
        );
        assert_eq!(&*out.members[0].data, "Café softbreak".as_bytes());
        assert_eq!(&*out.members[1].data, b"<p>hi</p>");
        assert_eq!(&*out.members[2].data, b"Hello world");
        assert_eq!(&*out.members[3].data, b"Subject: inner\r\n\r\ninner body");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert!(looks_like_message(MULTI));
        assert!(!looks_like_mbox(MULTI));
    }

    #[test]
    fn rfc2231_names() {
        let msg = b"Content-Type: multipart/mixed; boundary=b\n\n\
--b\n\
Content-Disposition: attachment;\n filename*0*=utf-8''%E2%82%AC%20rate;\n filename*1=\" list.pdf\"\n\n\
x\n\
--b\n\
Content-Type: application/pdf; name*=iso-8859-1'en'caf%E9.pdf\n\n\
y\n\
--b\n\
Content-Type: application/pdf; name=\"=?iso-8859-1?Q?na=EFve_file?= .doc\"\n\n\
z\n\
--b\n\
Content-Type: image/png\n\n\
w\n\
--b--\n";
        let out = run(msg);
        assert_eq!(
            names(&out),
            [
                "€ rate list.pdf",
                "café.pdf",
                "naïve file .doc",
                "part-4.bin"
            ]
        );
        assert_eq!(&*out.members[0].data, b"x");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn encoded_words() {
        assert_eq!(decode_words(b"=?utf-8?q?a?= =?utf-8?q?b?= c"), "ab c");
        // A UTF-8 character split across two B words.
        assert_eq!(decode_words(b"=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?="), "€");
        assert_eq!(decode_words(b"=?windows-1252?Q?=80?="), "€");
        assert_eq!(decode_words(b"=?koi8-r?B?YWJj?="), "abc");
        assert_eq!(decode_words(b"=?utf-8*en?Q?x?="), "x");
        assert_eq!(decode_words(b"plain =?broken"), "plain =?broken");
        assert_eq!(decode_words(b"caf\xe9"), "café");
    }

    #[test]
    fn hostile_encoded_words_stay_linear() {
        let mut value = b"attachment; filename=\"".to_vec();
        for i in 0..200_000 {
            value.extend_from_slice(if i % 2 == 0 {
                b"=?a?B?x"
            } else {
                b"=?aaaaaaaaaaaaaaaaaaaa?Q?y"
            });
        }
        value.extend_from_slice(b"?=\"");
        let started = std::time::Instant::now();
        let name = Structured::parse(&value).text("filename").unwrap();
        assert!(name.starts_with("=?a?B?x"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let mut closes = CloseFinder {
            data: b"ab?=cd?=",
            from: None,
            at: None,
        };
        assert_eq!(closes.find(3), Some(6));
        assert_eq!(closes.find(0), Some(2));
        assert_eq!(closes.find(7), None);
        assert_eq!(closes.find(1), Some(2));
    }

    #[test]
    fn single_part_with_uuencoded_attachment() {
        let msg = b"From: x@y\nSubject: old style\n\nsee attached\n\nbegin 644 cat.txt\n#0V%T\n`\nend\nbye\n";
        let out = run(msg);
        assert_eq!(names(&out), ["part-1.txt", "cat.txt"]);
        assert_eq!(&*out.members[1].data, b"Cat");
    }

    #[test]
    fn missing_close_and_missing_blank_line() {
        let msg = b"Content-Type: multipart/mixed; boundary=zz\n\n\
--zz\n\
Content-Type: application/octet-stream; name=a.bin\n\
Content-Transfer-Encoding: base64\n\
QUJD\n\
--zz\n\
Content-Type: text/plain\n\n\
truncated te";
        let out = run(msg);
        assert_eq!(names(&out), ["a.bin", "part-2.txt"]);
        assert_eq!(&*out.members[0].data, b"ABC");
        assert_eq!(&*out.members[1].data, b"truncated te");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("closing boundary")));
    }

    #[test]
    fn missing_boundary_and_no_delimiters() {
        let out = run(b"Content-Type: multipart/mixed\n\nbody\n");
        assert_eq!(names(&out), ["part-1.bin"]);
        assert!(out.warnings[0].text.contains("no boundary"));
        let out = run(b"Content-Type: multipart/mixed; boundary=q\n\nno delimiters\n");
        assert_eq!(&*out.members[0].data, b"no delimiters\n");
        assert!(out.warnings[0].text.contains("no delimiter"));
    }

    #[test]
    fn junk_in_base64_is_skipped_with_a_warning() {
        let msg = b"Content-Type: application/zip; name=z.zip\n\
Content-Transfer-Encoding: base64\n\n\
UE*sD\nBA==\nfooter text\n";
        let out = run(msg);
        assert_eq!(&*out.members[0].data, b"PK\x03\x04");
        assert!(out.warnings.iter().any(|w| w.text.contains("not base64")));
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("after the padding")));
    }

    #[test]
    fn empty_input() {
        let out = run(b"");
        assert_eq!(names(&out), ["part-1.txt"]);
        assert!(out.members[0].data.is_empty());
        assert!(!looks_like_message(b""));
        assert!(!looks_like_mbox(b""));
        let mut out = Members::new(Budget::unlimited());
        unpack_mbox(b"", &mut out);
        assert!(out.members.is_empty());
    }

    #[test]
    fn deep_nesting_is_handed_out() {
        let mut msg = Vec::new();
        let depth = MAX_MIME_DEPTH + 5;
        for d in 0..depth {
            msg.extend(format!("Content-Type: multipart/mixed; boundary=b{d}\n\n--b{d}\n").bytes());
        }
        msg.extend_from_slice(b"Content-Type: text/plain\n\nleaf\n");
        for d in (0..depth).rev() {
            msg.extend(format!("--b{d}--\n").bytes());
        }
        let out = run(&msg);
        assert_eq!(out.members.len(), 1);
        assert!(out.members[0].name.ends_with(".eml"));
        assert!(out.warnings.iter().any(|w| w.text.contains("deeper than")));
    }

    #[test]
    fn many_parts_are_capped() {
        let mut msg = b"Content-Type: multipart/mixed; boundary=b\n\n".to_vec();
        for _ in 0..MAX_PARTS + 10 {
            msg.extend_from_slice(b"--b\n\nx\n");
        }
        msg.extend_from_slice(b"--b--\n");
        let out = run(&msg);
        // The top-level multipart counts as one entity.
        assert_eq!(out.members.len(), MAX_PARTS - 1);
        assert!(out.warnings.iter().any(|w| w.text.contains("more than")));
    }

    #[test]
    fn member_over_cap_is_skipped_with_a_limit() {
        let mut msg = b"Content-Type: application/octet-stream\n\
Content-Transfer-Encoding: base64\n\n"
            .to_vec();
        msg.extend(std::iter::repeat_n(b'A', 8000));
        let mut out = Members::new(Budget {
            max_output: 1000,
            ..Budget::unlimited()
        });
        unpack(&msg, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    #[test]
    fn base64_multipart_is_decoded_into_a_message() {
        let inner = b"--x\nContent-Type: text/plain\n\nhidden\n--x--\n";
        let b64 = "LS14CkNvbnRlbnQtVHlwZTogdGV4dC9wbGFpbgoKaGlkZGVuCi0teC0tCg==";
        let msg = format!(
            "Content-Type: multipart/mixed; boundary=x\nContent-Transfer-Encoding: base64\n\n{b64}\n"
        );
        let out = run(msg.as_bytes());
        assert_eq!(names(&out), ["part-1.eml"]);
        assert!(out.members[0].data.ends_with(inner));
        let mut again = Members::new(Budget::unlimited());
        unpack(&out.members[0].data, &mut again);
        assert_eq!(&*again.members[0].data, b"hidden");
    }

    #[test]
    fn sniffing() {
        assert!(looks_like_message(
            b"Received: from x\n\tby y\nSubject: hi\n\nbody"
        ));
        assert!(!looks_like_message(b"hello world\nSubject: x\n"));
        assert!(!looks_like_message(b"X-Foo: 1\nX-Bar: 2\n\n"));
        assert!(!looks_like_message(b" Subject: x\n"));
        assert!(looks_like_mbox(
            b"From MAILER-DAEMON Thu Jan  1 00:00:00 2024\nFrom: a\n\nx"
        ));
        assert!(!looks_like_mbox(b"From here on we go\nnothing\n"));
    }

    #[test]
    fn mbox_split_and_unescape() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\n\
Subject: one\n\n\
hello\n\
>From the start\n\
>>From quoted\n\
From not a separator (no blank line before)\n\
\n\
From c@d Mon Jan  1 00:00:01 2024\r\n\
Subject: two\r\n\r\n\
bye\r\n";
        let mut out = Members::new(Budget::unlimited());
        unpack_mbox(mbox, &mut out);
        assert_eq!(names(&out), ["message-1.eml", "message-2.eml"]);
        assert_eq!(
            &*out.members[0].data,
            &b"Subject: one\n\nhello\nFrom the start\n>From quoted\nFrom not a separator (no blank line before)\n"[..]
        );
        assert_eq!(&*out.members[1].data, b"Subject: two\r\n\r\nbye\r\n");
        assert!(matches!(
            out.members[1].data,
            crate::analysis::formats::Data::Borrowed(_)
        ));
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn mbox_leading_junk_is_kept() {
        let mut out = Members::new(Budget::unlimited());
        unpack_mbox(b"junk\n\nFrom x\nSubject: a\n\nb\n", &mut out);
        assert_eq!(out.members.len(), 2);
        assert_eq!(&*out.members[1].data, b"Subject: a\n\nb\n");
        assert!(out.warnings[0].text.contains("before the first From"));
    }

    #[test]
    fn envelope_line_and_digest() {
        let msg = b"From someone Sat Jan  1 00:00:00 2000\n\
Content-Type: multipart/digest; boundary=d\n\n\
--d\n\n\
Subject: in digest\n\nbody\n\
--d--\n";
        let out = run(msg);
        assert_eq!(names(&out), ["part-1.eml"]);
        assert_eq!(&*out.members[0].data, b"Subject: in digest\n\nbody");
    }

    #[test]
    fn agrees_with_python_email_when_present() {
        let script = r#"
import sys
from email.message import EmailMessage
m = EmailMessage()
m['From'] = 'a@example.com'
m['To'] = 'b@example.com'
m['Subject'] = 'python'
m.set_content('body text\n')
m.add_attachment(bytes(range(256)) * 4, maintype='application', subtype='octet-stream', filename='données ünïcode long name that needs folding and continuation.bin')
m.add_attachment('line one\nline two =\n', subtype='plain', filename='q.txt', cte='quoted-printable')
sys.stdout.buffer.write(bytes(m))
"#;
        let Ok(o) = std::process::Command::new("python3")
            .args(["-c", script])
            .output()
        else {
            return;
        };
        if !o.status.success() {
            return;
        }
        let out = run(&o.stdout);
        assert!(looks_like_message(&o.stdout));
        assert_eq!(
            names(&out),
            [
                "part-1.txt",
                "données ünïcode long name that needs folding and continuation.bin",
                "q.txt"
            ],
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        let expected: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
        assert_eq!(&*out.members[1].data, &expected[..]);
        assert_eq!(&*out.members[2].data, b"line one\nline two =\n");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }
}
