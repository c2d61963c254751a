//! Streaming multipart/form-data parser: owns splitting an upload body into parts (RFC 7578 /
//! RFC 2046) and reading each part's headers, with memory bounded by one fixed buffer however
//! large the parts are.
//!
//! The body is read into a buffer of `64 KiB + delimiter length` bytes that is allocated once and
//! never grows. Part content is handed to a [`PartSink`] in slices as large as the reads allow;
//! only the last `delimiter length - 1` bytes, which could be the start of a delimiter split across
//! reads, are held back until the next read decides them.
//!
//! A delimiter is exactly `CRLF--boundary` followed by optional transport padding (spaces and
//! tabs) and CRLF, or the close delimiter `CRLF--boundary--`. Anything else, such as
//! `--boundary` without the CRLF or `CRLF--boundaryX`, is part content. The first delimiter may
//! start the body without the CRLF.

use std::io::{self, Read};

use memchr::memmem::Finder;

/// Largest header block of one part, in bytes, including its line endings and the blank line.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Most parts one body may have.
pub const MAX_PARTS: usize = 1000;

/// Longest preamble (bytes before the first delimiter's CRLF, or before its `--` at the very
/// start of the body) accepted. Form clients send no preamble at all, so a body whose first
/// 64 KiB hold no delimiter has the wrong boundary; failing there saves reading a multi-GiB upload
/// only to reject it at the end.
pub const MAX_PREAMBLE_BYTES: usize = 64 * 1024;

/// RFC 2046 limits boundaries to 70 characters.
const MAX_BOUNDARY_LEN: usize = 70;

/// Buffer size apart from the delimiter length; slices handed to a sink are never larger than the
/// whole buffer.
const DATA_BUF_BYTES: usize = 64 * 1024;

/// Free space at the end of the buffer below which unconsumed bytes are moved to the front before
/// a read. Not compacting on every read keeps tiny reads from copying a large pending header block
/// over and over.
const COMPACT_BELOW: usize = DATA_BUF_BYTES / 2;

/// Headers of one part, as far as we use them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHeaders {
    /// `name` parameter of Content-Disposition (form field name); empty if absent.
    pub name: String,
    /// `filename` parameter, if present (may be empty string, may contain odd characters;
    /// `filename*=UTF-8''...` is percent-decoded and preferred over `filename`).
    pub filename: Option<String>,
    /// Content-Type of the part, if present.
    pub content_type: Option<String>,
}

/// Receives the parts as they stream by. Returning Err aborts parsing and that error is returned
/// from [`parse`].
pub trait PartSink {
    /// A part starts; its content follows through [`PartSink::data`].
    fn begin(&mut self, headers: &PartHeaders) -> Result<(), MultipartError>;
    /// The next piece of the current part's content (never empty).
    fn data(&mut self, chunk: &[u8]) -> Result<(), MultipartError>;
    /// The current part's content is complete. Not called for a part cut off by the end of the
    /// body: `parse` then returns [`MultipartError::Truncated`] instead.
    fn end(&mut self) -> Result<(), MultipartError>;
}

/// Why a multipart body could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    /// The Content-Type header has no usable boundary.
    #[error("Content-Type is not multipart/form-data with a usable boundary")]
    NoBoundary,
    /// The body is not valid multipart (explain what in the String).
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    /// The body ended before the closing boundary.
    #[error("multipart body ended before the closing boundary")]
    Truncated,
    /// A part's header block exceeded MAX_HEADER_BYTES.
    #[error("multipart part headers exceed {} bytes", MAX_HEADER_BYTES)]
    HeadersTooLarge,
    /// More than MAX_PARTS parts.
    #[error("multipart body has more than {} parts", MAX_PARTS)]
    TooManyParts,
    /// Reading the body failed.
    #[error("reading multipart body failed: {0}")]
    Io(#[from] std::io::Error),
    /// Raised by a sink to stop parsing (e.g. the upload is over the size limit); carries the
    /// sink's reason.
    #[error("{0}")]
    Rejected(String),
}

/// Extracts the boundary from a Content-Type header value such as
/// `multipart/form-data; boundary="abc"` (quoted or not, case-insensitive media type and
/// parameter name, other parameters in any order). None if not multipart/form-data or no
/// boundary, or boundary longer than 70 chars / empty.
pub fn boundary_from_content_type(value: &str) -> Option<String> {
    let (media_type, params) = parse_params(value);
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let (_, boundary) = params.into_iter().find(|(name, _)| name == "boundary")?;
    valid_boundary(&boundary).then_some(boundary)
}

/// Streams `body`, calling the sink for every part. Returns Ok once the closing boundary
/// `--boundary--` has been seen (anything after it, the epilogue, is ignored and need not be
/// read). Preamble before the first boundary is ignored.
///
/// Errors: [`MultipartError::NoBoundary`] if `boundary` is empty, longer than 70 bytes or not
/// printable ASCII; [`MultipartError::Malformed`] if the body ends without containing
/// `--boundary` at all (including an empty body), the preamble is longer than
/// [`MAX_PREAMBLE_BYTES`], a part header line has no colon, or the transport padding after a
/// boundary does not fit the buffer; [`MultipartError::Truncated`] if the body ends anywhere
/// after the first `--boundary` was seen but before the close delimiter's `--`.
pub fn parse<R: Read, S: PartSink>(
    body: R,
    boundary: &str,
    sink: &mut S,
) -> Result<(), MultipartError> {
    if !valid_boundary(boundary) {
        return Err(MultipartError::NoBoundary);
    }
    let mut stream = Stream::new(body, boundary);

    let mut skipped = 0usize;
    let first = stream.scan(|chunk| {
        skipped += chunk.len();
        // `+ 2` for the CRLF the stream puts before the body (see `Stream::new`).
        if skipped > MAX_PREAMBLE_BYTES + 2 {
            Err(MultipartError::Malformed(format!(
                "no boundary delimiter in the first {MAX_PREAMBLE_BYTES} bytes"
            )))
        } else {
            Ok(())
        }
    })?;
    match first {
        Scanned::Part => {}
        // A body with no parts at all is unusual but well-formed.
        Scanned::Close => return Ok(()),
        Scanned::Eof { in_delimiter: true } => return Err(MultipartError::Truncated),
        // Nothing resembling a delimiter: most likely the wrong boundary rather than a cut-off
        // body, so say so.
        Scanned::Eof {
            in_delimiter: false,
        } => {
            return Err(MultipartError::Malformed(
                "no boundary delimiter found in body".into(),
            ))
        }
    }

    let mut parts = 0usize;
    loop {
        if parts == MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        parts += 1;
        let headers = stream.read_headers()?;
        sink.begin(&headers)?;
        match stream.scan(|chunk| sink.data(chunk))? {
            Scanned::Part => sink.end()?,
            Scanned::Close => return sink.end(),
            Scanned::Eof { .. } => return Err(MultipartError::Truncated),
        }
    }
}

/// A boundary we can search for: RFC 2046 length, and printable ASCII so that it cannot contain
/// the CR or LF that would make delimiter matching ambiguous. The RFC's narrower character set is
/// not enforced because some clients stray from it harmlessly.
fn valid_boundary(boundary: &str) -> bool {
    !boundary.is_empty()
        && boundary.len() <= MAX_BOUNDARY_LEN
        && boundary.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !boundary.ends_with(' ')
}

/// What [`Stream::scan`] stopped at.
#[derive(Debug, PartialEq, Eq)]
enum Scanned {
    /// A delimiter line; the stream is positioned at the next part's headers.
    Part,
    /// The close delimiter; the rest of the body is epilogue.
    Close,
    /// End of body without a delimiter. `in_delimiter` is true if it ended inside what would have
    /// been a delimiter line (the `CRLF--boundary` had been seen).
    Eof { in_delimiter: bool },
}

/// What follows a `CRLF--boundary` match.
#[derive(Debug, PartialEq, Eq)]
enum After {
    /// Padding and CRLF: a delimiter. Carries the length of padding plus CRLF.
    Delimiter(usize),
    /// `--`: the close delimiter.
    Close,
    /// Anything else: the match is part content.
    NotDelimiter,
    /// Not enough bytes buffered to decide.
    NeedMore,
}

/// Decides whether the bytes after a `CRLF--boundary` match make it a delimiter.
fn classify(rest: &[u8]) -> After {
    match rest.first() {
        None => return After::NeedMore,
        Some(b'-') => {
            return match rest.get(1) {
                None => After::NeedMore,
                Some(b'-') => After::Close,
                Some(_) => After::NotDelimiter,
            }
        }
        Some(_) => {}
    }
    let padding = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    match (rest.get(padding), rest.get(padding + 1)) {
        (None, _) | (Some(b'\r'), None) => After::NeedMore,
        (Some(b'\r'), Some(b'\n')) => After::Delimiter(padding + 2),
        _ => After::NotDelimiter,
    }
}

/// The body with its read buffer. `buf[pos..len]` holds read but unconsumed bytes.
struct Stream<R> {
    src: R,
    /// Fixed size for the whole parse (a boxed slice cannot grow): this is the memory bound.
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Finds `CRLF--boundary`.
    finder: Finder<'static>,
    delim_len: usize,
}

impl<R: Read> Stream<R> {
    fn new(src: R, boundary: &str) -> Self {
        let delimiter = format!("\r\n--{boundary}");
        let delim_len = delimiter.len();
        let mut buf = vec![0u8; DATA_BUF_BYTES + delim_len].into_boxed_slice();
        // Pretend the body starts with CRLF so that a first boundary at the very start of the
        // body matches the same `CRLF--boundary` pattern as every other delimiter. The extra
        // bytes can only ever end up in the discarded preamble.
        buf[..2].copy_from_slice(b"\r\n");
        Stream {
            src,
            buf,
            pos: 0,
            len: 2,
            finder: Finder::new(delimiter.as_bytes()).into_owned(),
            delim_len,
        }
    }

    /// Reads more of the body into the buffer. Returns false at end of body.
    fn fill(&mut self) -> Result<bool, MultipartError> {
        if self.pos == self.len {
            self.pos = 0;
            self.len = 0;
        } else if self.pos > 0 && self.buf.len() - self.len < COMPACT_BELOW {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.len == self.buf.len() {
            // Only reachable with `pos == 0` (otherwise we compacted above), i.e. the whole
            // buffer is one undecided delimiter line; header blocks are stopped earlier by
            // MAX_HEADER_BYTES, which is smaller than the buffer.
            return Err(MultipartError::Malformed(
                "transport padding after a boundary delimiter is too long".into(),
            ));
        }
        loop {
            let free = &mut self.buf[self.len..];
            let room = free.len();
            match self.src.read(free) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    // `min` only guards against a reader breaking the `Read` contract.
                    self.len += n.min(room);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Consumes content up to and including the next delimiter line, passing the content to
    /// `on_data` in slices.
    fn scan<F>(&mut self, mut on_data: F) -> Result<Scanned, MultipartError>
    where
        F: FnMut(&[u8]) -> Result<(), MultipartError>,
    {
        // `buf[pos..pos + decided]` is known to be content: a match starting there, if any, was
        // followed by something that made it not a delimiter.
        let mut decided = 0usize;
        loop {
            let from = self.pos + decided;
            let found = self
                .finder
                .find(&self.buf[from..self.len])
                .map(|i| from + i);
            let (content_end, in_delimiter) = match found {
                Some(at) => match classify(&self.buf[at + self.delim_len..self.len]) {
                    After::Delimiter(line_rest) => {
                        emit(&mut on_data, &self.buf[self.pos..at])?;
                        self.pos = at + self.delim_len + line_rest;
                        return Ok(Scanned::Part);
                    }
                    After::Close => {
                        emit(&mut on_data, &self.buf[self.pos..at])?;
                        self.pos = at + self.delim_len + 2;
                        return Ok(Scanned::Close);
                    }
                    After::NotDelimiter => {
                        // The match's first byte is content; a real delimiter may still start
                        // right after it, so search on from there rather than past the match.
                        decided = at + 1 - self.pos;
                        continue;
                    }
                    // Everything before the match is content; the match waits for more bytes.
                    After::NeedMore => (at, true),
                },
                // No full match: only the last `delim_len - 1` bytes could begin one that the
                // next read completes, so everything before them is content.
                None => (self.len.saturating_sub(self.delim_len - 1).max(from), false),
            };
            emit(&mut on_data, &self.buf[self.pos..content_end])?;
            self.pos = content_end;
            decided = 0;
            if !self.fill()? {
                return Ok(Scanned::Eof { in_delimiter });
            }
        }
    }

    /// Consumes one part's header block (up to and including the blank line) and parses it.
    fn read_headers(&mut self) -> Result<PartHeaders, MultipartError> {
        // Offset from `pos` of the first byte of the line not yet examined.
        let mut line_start = 0usize;
        let block_len = loop {
            let from = self.pos + line_start;
            match memchr::memchr(b'\n', &self.buf[from..self.len]) {
                Some(i) => {
                    let line = &self.buf[from..from + i];
                    // Bare LF line endings are accepted here because some clients send them in
                    // headers; the delimiter itself is matched strictly.
                    let blank = line.is_empty() || line == b"\r";
                    line_start += i + 1;
                    if line_start > MAX_HEADER_BYTES {
                        return Err(MultipartError::HeadersTooLarge);
                    }
                    if blank {
                        break line_start;
                    }
                }
                None => {
                    if self.len - self.pos > MAX_HEADER_BYTES {
                        return Err(MultipartError::HeadersTooLarge);
                    }
                    if !self.fill()? {
                        return Err(MultipartError::Truncated);
                    }
                }
            }
        };
        let headers = parse_header_block(&self.buf[self.pos..self.pos + block_len])?;
        self.pos += block_len;
        Ok(headers)
    }
}

/// Passes non-empty content to the sink (empty slices would only be noise for it).
fn emit<F>(on_data: &mut F, chunk: &[u8]) -> Result<(), MultipartError>
where
    F: FnMut(&[u8]) -> Result<(), MultipartError>,
{
    if chunk.is_empty() {
        Ok(())
    } else {
        on_data(chunk)
    }
}

/// Parses a complete header block (lines ending in CRLF or LF, the last one blank).
fn parse_header_block(block: &[u8]) -> Result<PartHeaders, MultipartError> {
    let mut headers = PartHeaders::default();
    let mut seen_disposition = false;
    for raw in block.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        match line.first() {
            None => break,
            // Folded continuation line: folding is obsolete (RFC 7578 §4.8 forbids it in
            // form-data), so the continuation is dropped rather than rejected.
            Some(b' ' | b'\t') => continue,
            Some(_) => {}
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return Err(MultipartError::Malformed(format!(
                "part header line without ':': {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            )));
        };
        let name = line[..colon].trim_ascii();
        // Lossy: a filename in raw non-UTF-8 bytes should not fail the upload.
        let value = String::from_utf8_lossy(line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-disposition") {
            // First one wins; a repeated header is ignored rather than guessed between.
            if !seen_disposition {
                seen_disposition = true;
                apply_disposition(&value, &mut headers);
            }
        } else if name.eq_ignore_ascii_case(b"content-type") && headers.content_type.is_none() {
            headers.content_type = Some(value.into_owned());
        }
    }
    Ok(headers)
}

/// Takes `name` and `filename` from a Content-Disposition value. Parameters are read whatever
/// the disposition type is; a part without a `name` keeps the empty default.
fn apply_disposition(value: &str, headers: &mut PartHeaders) {
    let (_, params) = parse_params(value);
    let mut filename = None;
    let mut filename_ext = None;
    for (key, val) in params {
        match key.as_str() {
            "name" if headers.name.is_empty() => headers.name = val,
            "filename" if filename.is_none() => filename = Some(val),
            // RFC 6266: `filename*` takes precedence over `filename` when understood.
            "filename*" if filename_ext.is_none() => filename_ext = decode_ext_value(&val),
            _ => {}
        }
    }
    headers.filename = filename_ext.or(filename);
}

/// Splits a header value `type; a=b; c="d;e"` into its first token and lower-cased parameter
/// names with their values. Quoted values may contain `;` and the escapes `\"` and `\\`; any
/// other backslash is kept literally because some browsers send Windows paths
/// (`C:\dir\file`) unescaped. An unterminated quote runs to the end of the value.
fn parse_params(value: &str) -> (&str, Vec<(String, String)>) {
    let b = value.as_bytes();
    let first_end = memchr::memchr(b';', b).unwrap_or(b.len());
    let first = value[..first_end].trim();
    let mut params = Vec::new();
    let mut i = first_end;
    // Every index used for slicing below is at an ASCII byte or the end, hence a char boundary.
    loop {
        while i < b.len() && matches!(b[i], b';' | b' ' | b'\t') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let name_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b';' {
            i += 1;
        }
        let name = value[name_start..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] == b';' {
            // A parameter without a value carries nothing we use.
            continue;
        }
        i += 1;
        while i < b.len() && matches!(b[i], b' ' | b'\t') {
            i += 1;
        }
        let val = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut val = String::new();
            let mut seg = i;
            loop {
                if i >= b.len() {
                    val.push_str(&value[seg..]);
                    break;
                }
                match b[i] {
                    b'"' => {
                        val.push_str(&value[seg..i]);
                        i += 1;
                        break;
                    }
                    b'\\' if matches!(b.get(i + 1), Some(b'"' | b'\\')) => {
                        val.push_str(&value[seg..i]);
                        seg = i + 1;
                        i += 2;
                    }
                    _ => i += 1,
                }
            }
            // Ignore anything between the closing quote and the next `;`.
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            val
        } else {
            let start = i;
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            value[start..i].trim().to_string()
        };
        params.push((name, val));
    }
    (first, params)
}

/// Decodes an RFC 8187 extended value `charset'language'percent-encoded`. None for a charset
/// other than UTF-8 or ISO-8859-1, or a value without the two quotes, so that the plain
/// parameter is used instead.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut fields = value.splitn(3, '\'');
    let charset = fields.next()?.trim();
    let _language = fields.next()?;
    let bytes = percent_decode(fields.next()?);
    if charset.eq_ignore_ascii_case("utf-8") {
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        None
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept as is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(hi), Some(lo)) = (hex_digit(b.get(i + 1)), hex_digit(b.get(i + 2))) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_digit(c: Option<&u8>) -> Option<u8> {
    let d = char::from(*c?).to_digit(16)?;
    u8::try_from(d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const WEBKIT: &str = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

    /// Records everything a parse hands over and checks the begin/data/end order.
    #[derive(Default)]
    struct Recorder {
        parts: Vec<(PartHeaders, Vec<u8>)>,
        open: bool,
        data_calls: usize,
        empty_chunks: usize,
    }

    impl PartSink for Recorder {
        fn begin(&mut self, headers: &PartHeaders) -> Result<(), MultipartError> {
            assert!(!self.open, "begin while a part is open");
            self.open = true;
            self.parts.push((headers.clone(), Vec::new()));
            Ok(())
        }
        fn data(&mut self, chunk: &[u8]) -> Result<(), MultipartError> {
            assert!(self.open, "data outside a part");
            self.data_calls += 1;
            if chunk.is_empty() {
                self.empty_chunks += 1;
            }
            if let Some(last) = self.parts.last_mut() {
                last.1.extend_from_slice(chunk);
            }
            Ok(())
        }
        fn end(&mut self) -> Result<(), MultipartError> {
            assert!(self.open, "end without begin");
            self.open = false;
            Ok(())
        }
    }

    /// Returns one byte per read.
    struct OneByte<'a>(&'a [u8]);
    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&b, rest)), Some(slot)) => {
                    *slot = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// Deterministic xorshift64, so failures reproduce.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Returns reads of random size between 1 and `max` bytes.
    struct RandomChunks<'a> {
        data: &'a [u8],
        rng: XorShift,
        max: usize,
    }
    impl Read for RandomChunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let want = (self.rng.next() % self.max as u64) as usize + 1;
            let n = want.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Returns `data[..split]` in the first read (or fewer if `buf` is small), then the rest.
    struct SplitAt<'a> {
        data: &'a [u8],
        split: usize,
    }
    impl Read for SplitAt<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let limit = if self.split > 0 {
                self.split
            } else {
                self.data.len()
            };
            let n = limit.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.split = self.split.saturating_sub(n);
            Ok(n)
        }
    }

    /// Fails every read.
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("connection reset"))
        }
    }

    /// Builds a body: each part is (header lines without the blank line, content).
    fn build(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, (headers, content)) in parts.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n").as_bytes());
            body.extend_from_slice(content);
        }
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    }

    fn run(body: impl Read, boundary: &str) -> Result<Recorder, MultipartError> {
        let mut rec = Recorder::default();
        parse(body, boundary, &mut rec)?;
        assert!(!rec.open, "Ok returned with a part still open");
        assert_eq!(rec.empty_chunks, 0, "sink got empty data slices");
        Ok(rec)
    }

    fn headers_of(block: &str) -> PartHeaders {
        let body = build("b", &[(block, b"x")]);
        let rec = run(Cursor::new(body), "b").expect("parse");
        assert_eq!(rec.parts.len(), 1);
        rec.parts[0].0.clone()
    }

    /// Content that tries hard to confuse the delimiter search for boundary `b`: every byte
    /// value, CR/LF bursts and `CRLF--` near-misses, and a near-miss right at its end.
    fn nasty_content(boundary: &str) -> Vec<u8> {
        let mut c: Vec<u8> = (0..=255u8).collect();
        for piece in [
            "\r\n\r\n\r\r\n\n\r\r\r\n\n\n".to_string(),
            "\r\n--".to_string(),
            "\r\n-".to_string(),
            format!("--{boundary}\r\n"),
            format!("x--{boundary}--"),
            format!("\n--{boundary}\r\n"),
            format!("\r--{boundary}\r\n"),
            format!("\r\n--{}", &boundary[..boundary.len() - 1]),
            format!("\r\n--{boundary}X\r\n"),
            format!("\r\n--{boundary}-x"),
            format!("\r\n--{boundary} \tx\r\n"),
            format!("\r\n--{boundary}\r"),
            format!("\r\n--{boundary}\rx"),
            format!("\r\r\n--{}\r\n-", &boundary[..boundary.len() - 1]),
        ] {
            c.extend_from_slice(piece.as_bytes());
            c.extend((0..=255u8).rev());
        }
        c.extend_from_slice(format!("\r\n--{}", &boundary[..boundary.len() - 1]).as_bytes());
        c
    }

    fn nasty_body(boundary: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
        let a = nasty_content(boundary);
        let mut b = b"\r".to_vec();
        b.extend_from_slice(&a);
        b.extend_from_slice(b"\r\n\r");
        let parts: Vec<Vec<u8>> = vec![a, Vec::new(), b];
        let body = build(
            boundary,
            &[
                (
                    "Content-Disposition: form-data; name=\"f1\"; filename=\"a.bin\"\r\n",
                    &parts[0],
                ),
                (
                    "Content-Disposition: form-data; name=\"empty\"\r\n",
                    &parts[1],
                ),
                (
                    "Content-Disposition: form-data; name=\"f2\"; filename=\"b.bin\"\r\n",
                    &parts[2],
                ),
            ],
        );
        (body, parts)
    }

    fn contents(rec: &Recorder) -> Vec<Vec<u8>> {
        rec.parts.iter().map(|(_, c)| c.clone()).collect()
    }

    // ---- boundary_from_content_type ----

    #[test]
    fn boundary_quoted_unquoted_and_case() {
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary_from_content_type("Multipart/Form-Data;BOUNDARY=\"a b;c\"").as_deref(),
            Some("a b;c")
        );
        assert_eq!(
            boundary_from_content_type("multipart/form-data; charset=utf-8; Boundary = xyz ; x=1")
                .as_deref(),
            Some("xyz")
        );
        assert_eq!(
            boundary_from_content_type(&format!("multipart/form-data; boundary={WEBKIT}"))
                .as_deref(),
            Some(WEBKIT)
        );
    }

    #[test]
    fn boundary_rejections() {
        assert_eq!(
            boundary_from_content_type("multipart/mixed; boundary=abc"),
            None
        );
        assert_eq!(boundary_from_content_type("text/plain"), None);
        assert_eq!(boundary_from_content_type("multipart/form-data"), None);
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary="),
            None
        );
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary=\"\""),
            None
        );
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundaryx=a"),
            None
        );
        let b70 = "a".repeat(70);
        assert_eq!(
            boundary_from_content_type(&format!("multipart/form-data; boundary={b70}")),
            Some(b70.clone())
        );
        assert_eq!(
            boundary_from_content_type(&format!("multipart/form-data; boundary={b70}a")),
            None
        );
    }

    // ---- basic structure ----

    #[test]
    fn two_parts_field_and_file() {
        let body = build(
            WEBKIT,
            &[
                ("Content-Disposition: form-data; name=\"comment\"\r\n", b"hello"),
                (
                    "Content-Disposition: form-data; name=\"file\"; filename=\"a.exe\"\r\nContent-Type: application/octet-stream\r\n",
                    b"MZ\x90\x00\r\n",
                ),
            ],
        );
        let rec = run(Cursor::new(body), WEBKIT).expect("parse");
        assert_eq!(rec.parts.len(), 2);
        assert_eq!(rec.parts[0].0.name, "comment");
        assert_eq!(rec.parts[0].0.filename, None);
        assert_eq!(rec.parts[0].1, b"hello");
        assert_eq!(rec.parts[1].0.name, "file");
        assert_eq!(rec.parts[1].0.filename.as_deref(), Some("a.exe"));
        assert_eq!(
            rec.parts[1].0.content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(rec.parts[1].1, b"MZ\x90\x00\r\n");
    }

    #[test]
    fn preamble_ignored_and_epilogue_not_read() {
        let mut body = b"This is the preamble.\r\n--notit\r\n".to_vec();
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&build("b", &[("", b"data")]));
        // The epilogue is a reader that fails: parse must not touch it.
        let reader = Cursor::new(body).chain(Failing);
        let rec = run(reader, "b").expect("parse");
        assert_eq!(contents(&rec), vec![b"data".to_vec()]);
        assert_eq!(rec.parts[0].0, PartHeaders::default());
    }

    #[test]
    fn close_delimiter_without_parts() {
        let rec = run(Cursor::new(b"--b--".to_vec()), "b").expect("parse");
        assert!(rec.parts.is_empty());
    }

    #[test]
    fn transport_padding_after_boundary() {
        let body = b"--b \t \r\n\r\none\r\n--b\t\r\n\r\ntwo\r\n--b--".to_vec();
        let rec = run(Cursor::new(body), "b").expect("parse");
        assert_eq!(contents(&rec), vec![b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn excessive_padding_is_malformed() {
        let mut body = b"--b\r\n\r\nx\r\n--b".to_vec();
        body.extend(std::iter::repeat_n(b' ', 2 * DATA_BUF_BYTES));
        body.extend_from_slice(b"\r\n\r\n\r\n--b--");
        let err = run(Cursor::new(body), "b").err();
        assert!(matches!(err, Some(MultipartError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn near_misses_are_content() {
        let b = "boundary";
        for content in [
            &b"--boundary\r\n"[..],
            b"x--boundary--\r\n",
            b"\r\n--boundar",
            b"\r\n--boundar\r\n",
            b"\r\n--boundaryX\r\n",
            b"\r\n--boundary-X",
            b"\r\n--boundary \tX\r\n",
            b"\n--boundary\r\n",
            b"\r--boundary\r\n",
            b"\r\n--boundary\rX",
            b"\r\n-- boundary\r\n",
            b"\r\n--BOUNDARY\r\n",
        ] {
            let body = build(b, &[("", content), ("", content)]);
            let rec = run(Cursor::new(body.clone()), b).expect("parse");
            assert_eq!(contents(&rec), vec![content.to_vec(); 2], "{content:?}");
            let rec = run(OneByte(&body), b).expect("parse");
            assert_eq!(contents(&rec), vec![content.to_vec(); 2], "{content:?}");
        }
    }

    #[test]
    fn empty_parts_get_no_data_calls() {
        let body = build(
            "b",
            &[
                ("", b""),
                (
                    "Content-Disposition: form-data; name=\"e\"; filename=\"\"\r\n",
                    b"",
                ),
            ],
        );
        for rec in [
            run(Cursor::new(body.clone()), "b").expect("parse"),
            run(OneByte(&body), "b").expect("parse"),
        ] {
            assert_eq!(rec.parts.len(), 2);
            assert_eq!(rec.data_calls, 0);
            assert_eq!(rec.parts[1].0.filename.as_deref(), Some(""));
        }
    }

    // ---- chunking ----

    #[test]
    fn one_byte_reads() {
        for boundary in ["b", WEBKIT] {
            let (body, expected) = nasty_body(boundary);
            let rec = run(OneByte(&body), boundary).expect("parse");
            assert_eq!(contents(&rec), expected);
            assert_eq!(rec.parts[2].0.filename.as_deref(), Some("b.bin"));
        }
    }

    #[test]
    fn random_sized_reads() {
        for boundary in ["b", "xy", WEBKIT] {
            let (body, expected) = nasty_body(boundary);
            for seed in 1..=40u64 {
                for max in [2, 7, 80, 1000, 100_000] {
                    let reader = RandomChunks {
                        data: &body,
                        rng: XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                        max,
                    };
                    let rec = run(reader, boundary).expect("parse");
                    assert_eq!(contents(&rec), expected, "seed {seed} max {max}");
                }
            }
        }
    }

    #[test]
    fn split_at_every_position() {
        for boundary in ["b", WEBKIT] {
            let (body, expected) = nasty_body(boundary);
            for split in 1..body.len() {
                let rec = run(SplitAt { data: &body, split }, boundary).expect("parse");
                assert_eq!(contents(&rec), expected, "split {split}");
            }
        }
    }

    /// Streams a cyclic pattern full of near-misses, `remaining` bytes long.
    struct Generator {
        pattern: Vec<u8>,
        offset: usize,
        remaining: usize,
    }
    impl Read for Generator {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.remaining);
            for slot in &mut buf[..n] {
                *slot = self.pattern[self.offset % self.pattern.len()];
                self.offset += 1;
            }
            self.remaining -= n;
            Ok(n)
        }
    }

    /// Checks streamed content against the generator's pattern without storing it.
    struct Verifier {
        pattern: Vec<u8>,
        offset: usize,
        data_calls: usize,
        largest: usize,
        ended: bool,
    }
    impl PartSink for Verifier {
        fn begin(&mut self, _: &PartHeaders) -> Result<(), MultipartError> {
            Ok(())
        }
        fn data(&mut self, chunk: &[u8]) -> Result<(), MultipartError> {
            for &b in chunk {
                assert_eq!(
                    b,
                    self.pattern[self.offset % self.pattern.len()],
                    "at {}",
                    self.offset
                );
                self.offset += 1;
            }
            self.data_calls += 1;
            self.largest = self.largest.max(chunk.len());
            Ok(())
        }
        fn end(&mut self) -> Result<(), MultipartError> {
            self.ended = true;
            Ok(())
        }
    }

    #[test]
    fn twenty_mib_part_streams_in_bounded_memory() {
        // The buffer is a boxed slice allocated once in `Stream::new`, so it cannot grow; what is
        // checked here is that a part far larger than it arrives complete, in large slices, none
        // larger than the buffer.
        const SIZE: usize = 20 * 1024 * 1024;
        let mut pattern = nasty_content(WEBKIT);
        pattern.extend_from_slice(b"tail"); // 4099-ish, not a power of two
        let head = format!(
            "--{WEBKIT}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n"
        );
        let tail = format!("\r\n--{WEBKIT}--\r\n");
        let reader = Cursor::new(head.into_bytes())
            .chain(Generator {
                pattern: pattern.clone(),
                offset: 0,
                remaining: SIZE,
            })
            .chain(Cursor::new(tail.into_bytes()));
        let mut sink = Verifier {
            pattern,
            offset: 0,
            data_calls: 0,
            largest: 0,
            ended: false,
        };
        parse(reader, WEBKIT, &mut sink).expect("parse");
        assert!(sink.ended);
        assert_eq!(sink.offset, SIZE);
        assert!(sink.largest <= DATA_BUF_BYTES + WEBKIT.len() + 4);
        assert!(
            sink.data_calls < SIZE / (16 * 1024),
            "{} calls",
            sink.data_calls
        );
    }

    // ---- headers ----

    #[test]
    fn disposition_quoted_strings() {
        let h = headers_of(
            "Content-Disposition: form-data; name=\"file\"; filename=\"a b;c=\\\"d\\\".exe\"\r\n",
        );
        assert_eq!(h.name, "file");
        assert_eq!(h.filename.as_deref(), Some("a b;c=\"d\".exe"));
        assert_eq!(h.content_type, None);

        let h =
            headers_of("Content-Disposition: form-data; filename=\"C:\\dir\\x.txt\"; name=f\r\n");
        assert_eq!(h.filename.as_deref(), Some("C:\\dir\\x.txt"));
        assert_eq!(h.name, "f");

        let h = headers_of("Content-Disposition: form-data; name=\"unterminated; x\r\n");
        assert_eq!(h.name, "unterminated; x");
    }

    #[test]
    fn disposition_unquoted_and_case_insensitive() {
        let h = headers_of(
            "content-DISPOSITION:form-data;NAME=upload ;FileName= x.bin\r\nCONTENT-TYPE:  text/plain ; charset=utf-8 \r\nX-Other: y\r\n",
        );
        assert_eq!(h.name, "upload");
        assert_eq!(h.filename.as_deref(), Some("x.bin"));
        assert_eq!(
            h.content_type.as_deref(),
            Some("text/plain ; charset=utf-8")
        );
    }

    #[test]
    fn disposition_ext_filename() {
        let h = headers_of(
            "Content-Disposition: form-data; name=f; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC%20rates%2.txt\r\n",
        );
        assert_eq!(h.filename.as_deref(), Some("€ rates%2.txt"));
        let h = headers_of("Content-Disposition: form-data; filename*=iso-8859-1'en'%A3.txt\r\n");
        assert_eq!(h.filename.as_deref(), Some("£.txt"));
        // Unknown charset: fall back to the plain parameter.
        let h = headers_of(
            "Content-Disposition: form-data; filename*=koi8-r''%C1; filename=\"plain\"\r\n",
        );
        assert_eq!(h.filename.as_deref(), Some("plain"));
    }

    #[test]
    fn raw_utf8_filename_and_missing_disposition() {
        let h = headers_of("Content-Disposition: form-data; name=\"f\"; filename=\"über.pdf\"\r\n");
        assert_eq!(h.filename.as_deref(), Some("über.pdf"));
        let h = headers_of("Content-Type: image/png\r\n");
        assert_eq!(h.name, "");
        assert_eq!(h.filename, None);
        assert_eq!(h.content_type.as_deref(), Some("image/png"));
    }

    #[test]
    fn bare_lf_header_lines() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\nContent-Type: text/plain\n\nvalue\r\n--b--".to_vec();
        let rec = run(Cursor::new(body), "b").expect("parse");
        assert_eq!(rec.parts[0].0.name, "a");
        assert_eq!(rec.parts[0].0.content_type.as_deref(), Some("text/plain"));
        assert_eq!(rec.parts[0].1, b"value");
    }

    #[test]
    fn header_line_without_colon_is_malformed() {
        let body = build("b", &[("garbage\r\n", b"x")]);
        let err = run(Cursor::new(body), "b").err();
        assert!(matches!(err, Some(MultipartError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn folded_continuation_is_ignored() {
        let h = headers_of("Content-Disposition: form-data; name=\"a\"\r\n  ; filename=\"x\"\r\n");
        assert_eq!(h.name, "a");
        assert_eq!(h.filename, None);
    }

    // ---- limits and errors ----

    #[test]
    fn header_block_limit() {
        let near = format!("X-Pad: {}\r\n", "a".repeat(MAX_HEADER_BYTES - 11));
        assert_eq!(near.len() + 2, MAX_HEADER_BYTES);
        run(Cursor::new(build("b", &[(&near, b"x")])), "b").expect("at the limit");

        let over = format!("X-Pad: {}\r\n", "a".repeat(MAX_HEADER_BYTES - 10));
        let err = run(Cursor::new(build("b", &[(&over, b"x")])), "b").err();
        assert!(
            matches!(err, Some(MultipartError::HeadersTooLarge)),
            "{err:?}"
        );

        // A header line that never ends must not be buffered without limit.
        let mut body = b"--b\r\nX: ".to_vec();
        body.extend(std::iter::repeat_n(b'a', 10 * MAX_HEADER_BYTES));
        let err = run(OneByte(&body), "b").err();
        assert!(
            matches!(err, Some(MultipartError::HeadersTooLarge)),
            "{err:?}"
        );
    }

    #[test]
    fn part_count_limit() {
        let parts = vec![("", &b"x"[..]); MAX_PARTS];
        let rec = run(Cursor::new(build("b", &parts)), "b").expect("at the limit");
        assert_eq!(rec.parts.len(), MAX_PARTS);

        let parts = vec![("", &b"x"[..]); MAX_PARTS + 1];
        let err = run(Cursor::new(build("b", &parts)), "b").err();
        assert!(matches!(err, Some(MultipartError::TooManyParts)), "{err:?}");
    }

    #[test]
    fn truncated_bodies() {
        let full = build(
            "b",
            &[("Content-Disposition: form-data; name=\"a\"\r\n", b"data")],
        );
        let close = full.len() - b"--\r\n".len();
        // Every cut after the first delimiter line started, up to the close delimiter's `--`.
        for cut in 3..close + 1 {
            let err = run(Cursor::new(full[..cut].to_vec()), "b").err();
            assert!(
                matches!(err, Some(MultipartError::Truncated)),
                "cut {cut}: {err:?}"
            );
        }
        run(Cursor::new(full[..close + 2].to_vec()), "b").expect("close delimiter complete");
    }

    #[test]
    fn no_boundary_in_body_is_malformed() {
        for body in [
            &b""[..],
            b"hello world",
            b"--other\r\n\r\nx\r\n--other--",
            b"--",
        ] {
            let err = run(Cursor::new(body.to_vec()), "b").err();
            assert!(
                matches!(err, Some(MultipartError::Malformed(_))),
                "{body:?}: {err:?}"
            );
        }
        // The preamble (everything before the delimiter's CRLF) may be MAX_PREAMBLE_BYTES long,
        // not longer, whatever the read sizes.
        for (len, ok) in [(MAX_PREAMBLE_BYTES, true), (MAX_PREAMBLE_BYTES + 1, false)] {
            let mut body = vec![b'p'; len];
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(&build("b", &[("", b"x")]));
            for max in [1, 1000, 1 << 20] {
                let reader = RandomChunks {
                    data: &body,
                    rng: XorShift(7),
                    max,
                };
                match run(reader, "b") {
                    Ok(_) => assert!(ok, "{len} bytes of preamble accepted"),
                    Err(MultipartError::Malformed(_)) => assert!(!ok, "{len} bytes rejected"),
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
    }

    #[test]
    fn unusable_boundary_argument() {
        for boundary in ["", " ", "a\r\nb", &"a".repeat(71)] {
            let err = run(Cursor::new(b"--x--".to_vec()), boundary).err();
            assert!(matches!(err, Some(MultipartError::NoBoundary)), "{err:?}");
        }
    }

    #[test]
    fn io_errors_propagate() {
        let reader = Cursor::new(b"--b\r\n\r\npartial".to_vec()).chain(Failing);
        let err = run(reader, "b").err();
        assert!(matches!(err, Some(MultipartError::Io(_))), "{err:?}");
    }

    /// Rejects at a chosen call.
    struct Rejecting {
        at: &'static str,
        data_calls: usize,
    }
    impl PartSink for Rejecting {
        fn begin(&mut self, _: &PartHeaders) -> Result<(), MultipartError> {
            self.check("begin")
        }
        fn data(&mut self, _: &[u8]) -> Result<(), MultipartError> {
            self.data_calls += 1;
            self.check("data")
        }
        fn end(&mut self) -> Result<(), MultipartError> {
            self.check("end")
        }
    }
    impl Rejecting {
        fn check(&self, call: &str) -> Result<(), MultipartError> {
            if call == self.at {
                Err(MultipartError::Rejected(format!("no {call}")))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn sink_errors_propagate_unchanged() {
        let body = build("b", &[("", b"abc"), ("", b"def")]);
        for at in ["begin", "data", "end"] {
            let mut sink = Rejecting { at, data_calls: 0 };
            let err = parse(OneByte(&body), "b", &mut sink).err();
            match err {
                Some(MultipartError::Rejected(msg)) => assert_eq!(msg, format!("no {at}")),
                other => panic!("{at}: {other:?}"),
            }
            if at == "data" {
                assert_eq!(
                    sink.data_calls, 1,
                    "parsing continued after the sink's error"
                );
            }
        }
    }

    #[test]
    fn classify_cases() {
        assert_eq!(classify(b""), After::NeedMore);
        assert_eq!(classify(b"-"), After::NeedMore);
        assert_eq!(classify(b"--"), After::Close);
        assert_eq!(classify(b"-x"), After::NotDelimiter);
        assert_eq!(classify(b"\r"), After::NeedMore);
        assert_eq!(classify(b"\r\n"), After::Delimiter(2));
        assert_eq!(classify(b" \t"), After::NeedMore);
        assert_eq!(classify(b" \t\r\nxx"), After::Delimiter(4));
        assert_eq!(classify(b" x"), After::NotDelimiter);
        assert_eq!(classify(b"\n"), After::NotDelimiter);
        assert_eq!(classify(b"\rx"), After::NotDelimiter);
    }
}
