//! PDF documents (`metadata.document`): version, page count, encryption, the document
//! information dictionary, counts of the names that make a PDF active (/JavaScript, /JS,
//! /OpenAction, /AA, /Launch, /EmbeddedFile, /URI, /AcroForm, /XFA), the URIs it links to, and
//! the heuristics over them. Follows the lexical rules of ISO 32000-1:2008 7.2-7.3 (names with
//! `#xx` escapes, literal and hex strings, comments), 7.5.7 (object streams) and 14.3.3 (the
//! information dictionary).
//!
//! Like pdfid, this counts tokens over the whole file rather than walking the object graph:
//! malicious PDFs break their cross-reference tables on purpose. Unlike a plain byte search it
//! decodes `#xx` escapes in names (`/J#61vaScript` is `/JavaScript`), skips stream bodies (so
//! compressed bytes never count) and reads the objects inside object streams, where PDF 1.5
//! writers put most dictionaries (pages included), as `formats::pdf` decodes them (every filter
//! and predictor) under a budget of the description's own. The tokens come from the one PDF
//! lexer, `formats::pdf::Lexer`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use memchr::memmem;
use serde::Serialize;

use super::{suspicious, Heuristic, Inspection};
use crate::analysis::formats::pdf::{self, is_delim, Lexer};
use crate::analysis::formats::{Budget, Deadline};
use crate::analysis::identify::FileKind;
use crate::analysis::warning::{Problem, Warning};

/// Wall time for decoding the object streams of a PDF for its description.
const OBJSTM_TIME: Duration = Duration::from_secs(10);
/// Most bytes one object stream decompresses to for the description (a longer one is skipped,
/// with a warning).
const MAX_OBJSTM_BYTES: u64 = 64 * 1024 * 1024;
/// Most bytes of all object streams of a file scanned for the description.
const MAX_OBJSTM_TOTAL: u64 = 128 * 1024 * 1024;
/// Most URIs listed.
const MAX_URIS: usize = 1000;
/// Longest string kept (URIs, information entries).
const MAX_STRING: usize = 4096;
/// Most object offsets remembered (to find the information dictionary).
const MAX_OBJECTS: usize = 1_000_000;
/// Most names with needless `#xx` escapes quoted as evidence.
const MAX_EXAMPLES: usize = 10;
/// How far into the file the `%PDF-x.y` header is looked for (readers accept junk before it).
const HEADER_WINDOW: usize = 1024;

/// The names counted, as they appear in the report.
const KEYWORDS: &[&str] = &[
    "JavaScript",
    "JS",
    "OpenAction",
    "AA",
    "Launch",
    "EmbeddedFile",
    "URI",
    "AcroForm",
    "XFA",
];

pub const JAVASCRIPT: &Heuristic = &Heuristic {
    id: "pdf-javascript",
    priority: 3,
    category: "execution",
    description: "The PDF contains JavaScript (/JavaScript or /JS).",
    verdict: None,
};

pub const AUTO_JAVASCRIPT: &Heuristic = &Heuristic {
    id: "pdf-autorun-javascript",
    priority: 4,
    category: "execution",
    description: "The PDF has JavaScript and an action that runs when the document or a page \
                  opens (/OpenAction or /AA). Forms use this; so do exploits.",
    verdict: None,
};

pub const OBFUSCATED_AUTO_JAVASCRIPT: &Heuristic = &Heuristic {
    id: "pdf-autorun-javascript-evasive",
    priority: 7,
    category: "execution",
    description: "JavaScript that runs when the PDF opens comes with hidden names, obfuscated \
                  script or a /Launch action: the shape of exploit and dropper PDFs.",
    verdict: suspicious(6, "Document.Suspicious.PDFJavaScript"),
};

pub const LAUNCH: &Heuristic = &Heuristic {
    id: "pdf-launch-action",
    priority: 6,
    category: "execution",
    description: "The PDF has a /Launch action, which asks the reader to run a program or open \
                  a file outside the PDF.",
    verdict: suspicious(5, "Document.Suspicious.PDFLaunch"),
};

pub const OBFUSCATED_NAMES: &Heuristic = &Heuristic {
    id: "pdf-obfuscated-names",
    priority: 5,
    category: "evasion",
    description: "Names in the PDF escape plain letters or digits as #xx (/J#61vaScript), which \
                  no PDF writer needs and tools that search for keywords miss.",
    verdict: None,
};

pub const EMBEDDED_FILE: &Heuristic = &Heuristic {
    id: "pdf-embedded-file",
    priority: 2,
    category: "anomaly",
    description: "The PDF carries embedded files (/EmbeddedFile).",
    verdict: None,
};

pub const ENCRYPTED: &Heuristic = &Heuristic {
    id: "pdf-encrypted",
    priority: 1,
    category: "evasion",
    description: "The PDF is encrypted (/Encrypt), so its strings and streams can only be read \
                  after decryption.",
    verdict: None,
};

#[derive(Serialize, Default)]
struct Document {
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    pages: usize,
    objects: usize,
    object_streams: usize,
    encrypted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keywords: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    producer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modified: Option<String>,
    /// Occurrences of each name in [`KEYWORDS`] (escaped spellings included).
    names: BTreeMap<&'static str, usize>,
    obfuscated_names: usize,
    uris: Vec<String>,
}

/// What the token scan collects.
#[derive(Default)]
struct Scan {
    counts: [usize; KEYWORDS.len()],
    pages: usize,
    objects: usize,
    object_streams: usize,
    encrypted: bool,
    uris: Vec<String>,
    obfuscated: usize,
    examples: Vec<String>,
    /// JavaScript in literal strings that calls what obfuscators use.
    script_tricks: Vec<&'static str>,
    info: Option<(u64, u64)>,
    offsets: HashMap<(u64, u64), usize>,
    warnings: Vec<Warning>,
}

/// A lexical token.
#[derive(Debug, PartialEq)]
enum Token<'d> {
    /// A name, decoded, and whether it escaped a letter or digit for no reason.
    Name(Vec<u8>, bool),
    Str(Vec<u8>),
    /// A keyword or number.
    Word(&'d [u8]),
    DictOpen,
    DictClose,
    /// `[`, `]`, `{`, `}` and stray delimiters.
    Punct,
}

/// The next token from `lx`, the one PDF lexer (`formats::pdf::Lexer`); never fails (junk
/// becomes [`Token::Punct`]). Strings keep at most [`MAX_STRING`] bytes.
fn next_token<'d>(lx: &mut Lexer<'d>) -> Option<Token<'d>> {
    lx.skip_ws();
    let b = lx.peek()?;
    Some(match b {
        b'/' => {
            lx.pos += 1;
            let (name, needless) = lx.name_and_escapes();
            Token::Name(name, needless)
        }
        b'(' => {
            lx.pos += 1;
            Token::Str(lx.literal_string_max(MAX_STRING))
        }
        b'<' if lx.starts_with(b"<<") => {
            lx.pos += 2;
            Token::DictOpen
        }
        b'<' => {
            lx.pos += 1;
            Token::Str(lx.hex_string_max(MAX_STRING))
        }
        b'>' if lx.starts_with(b">>") => {
            lx.pos += 2;
            Token::DictClose
        }
        _ if is_delim(b) => {
            lx.pos += 1;
            Token::Punct
        }
        _ => Token::Word(lx.token()),
    })
}

/// Flags of the object being read: whether its stream is an object stream.
#[derive(Default)]
struct ObjectFlags {
    object_stream: bool,
}

/// What obfuscated JavaScript calls, looked for in JavaScript kept in literal strings.
const SCRIPT_TRICKS: &[(&[u8], &str)] = &[
    (b"eval(", "eval"),
    (b"unescape(", "unescape"),
    (b"fromCharCode", "String.fromCharCode"),
    (b"%u9090", "%u-encoded shellcode"),
];

fn is_int(w: &[u8]) -> Option<u64> {
    if w.is_empty() || w.len() > 12 || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok()
}

/// Scans `data` (the file, or a decoded object stream when `top` is false).
fn scan(data: &[u8], top: bool, s: &mut Scan) {
    let mut lx = Lexer::new(data, 0);
    // The last name seen, while only numbers and `R` follow it (a key and its value).
    let mut key: Option<Vec<u8>> = None;
    // The last two integers and where the first began, for `N G obj` and `N G R`.
    let mut ints: [Option<(u64, usize)>; 2] = [None, None];
    let mut flags = ObjectFlags::default();
    loop {
        let before = lx.pos;
        let Some(tok) = next_token(&mut lx) else {
            break;
        };
        match tok {
            Token::Name(name, needless) => {
                if needless {
                    s.obfuscated += 1;
                    if s.examples.len() < MAX_EXAMPLES {
                        s.examples
                            .push(format!("/{}", String::from_utf8_lossy(&name)));
                    }
                }
                if let Some(i) = KEYWORDS.iter().position(|k| k.as_bytes() == name) {
                    s.counts[i] += 1;
                }
                if key.as_deref() == Some(b"Type") && name == b"Page" {
                    s.pages += 1;
                }
                if name == b"ObjStm" {
                    flags.object_stream = true;
                }
                if name == b"Encrypt" && top {
                    s.encrypted = true;
                }
                key = Some(name);
                ints = [None, None];
            }
            Token::Str(text) => {
                match key.as_deref() {
                    Some(b"URI") => {
                        let uri = String::from_utf8_lossy(&text).trim().to_string();
                        // Encrypted strings are noise until decrypted: keep readable ones.
                        let readable = !uri.is_empty() && !uri.chars().any(char::is_control);
                        if readable && s.uris.len() < MAX_URIS && !s.uris.contains(&uri) {
                            s.uris.push(uri);
                        }
                    }
                    Some(b"JS") => {
                        for (needle, label) in SCRIPT_TRICKS {
                            if memmem::find(&text, needle).is_some()
                                && !s.script_tricks.contains(label)
                            {
                                s.script_tricks.push(label);
                            }
                        }
                    }
                    _ => {}
                }
                key = None;
                ints = [None, None];
            }
            Token::Word(w) => {
                if let Some(n) = is_int(w) {
                    ints = [ints[1], Some((n, before))];
                    continue;
                }
                match w {
                    b"obj" => {
                        if let [Some((num, at)), Some((gen, _))] = ints {
                            s.objects += 1;
                            if top && s.offsets.len() < MAX_OBJECTS {
                                s.offsets.insert((num, gen), at);
                            }
                        }
                        flags = ObjectFlags::default();
                    }
                    b"R" => {
                        if let ([Some((num, _)), Some((gen, _))], Some(b"Info")) =
                            (ints, key.as_deref())
                        {
                            if top {
                                s.info = Some((num, gen));
                            }
                        }
                    }
                    b"stream" => {
                        let Some(end) = stream_end(data, lx.pos) else {
                            s.warnings.push(Warning::new(
                                Problem::Truncated,
                                format!(
                                "pdf: the stream at offset {before} has no endstream: the rest of \
                                 the file was not scanned"
                            ),
                            ));
                            return;
                        };
                        // Its objects are scanned from formats::pdf's decoding of it.
                        if flags.object_stream {
                            s.object_streams += 1;
                        }
                        lx.pos = end + b"endstream".len();
                        flags = ObjectFlags::default();
                    }
                    b"endobj" => flags = ObjectFlags::default(),
                    _ => {}
                }
                if w != b"R" {
                    key = None;
                }
                ints = [None, None];
            }
            Token::DictOpen | Token::DictClose | Token::Punct => {
                key = None;
                ints = [None, None];
            }
        }
    }
}

/// Where the `endstream` closing the stream that starts at `from` is.
fn stream_end(data: &[u8], from: usize) -> Option<usize> {
    memmem::find(data.get(from..)?, b"endstream").map(|i| from + i)
}

/// The text of a PDF text string, decoded as the extractor decodes file names (one decoder:
/// `formats::pdf::pdf_text`), without surrounding NULs and whitespace.
fn pdf_text(s: &[u8]) -> String {
    crate::analysis::formats::pdf::pdf_text(s)
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string()
}

/// A PDF date (`D:YYYYMMDDHHmmSSOHH'mm'`, 7.9.4) as ISO 8601; other text is kept as it is.
fn pdf_date(text: &str) -> String {
    let t = text.strip_prefix("D:").unwrap_or(text);
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return text.to_string();
    }
    let part =
        |r: std::ops::Range<usize>, default: &str| digits.get(r).unwrap_or(default).to_string();
    let mut iso = format!(
        "{}-{}-{}T{}:{}:{}",
        part(0..4, ""),
        part(4..6, "01"),
        part(6..8, "01"),
        part(8..10, "00"),
        part(10..12, "00"),
        part(12..14, "00")
    );
    let zone = &t[digits.len().min(t.len())..];
    match zone.chars().next() {
        Some('Z') => iso.push('Z'),
        Some(sign @ ('+' | '-')) => {
            let z: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
            if z.len() >= 2 {
                iso.push_str(&format!(
                    "{sign}{}:{}",
                    &z[..2],
                    z.get(2..4).unwrap_or("00")
                ));
            }
        }
        _ => {}
    }
    iso
}

/// Reads the information dictionary at `at` (an `N G obj` offset) into `doc`.
fn info(data: &[u8], at: usize, doc: &mut Document) {
    let mut lx = Lexer::new(data, at);
    let mut key: Option<Vec<u8>> = None;
    let mut depth = 0usize;
    while let Some(tok) = next_token(&mut lx) {
        match tok {
            Token::DictOpen => depth += 1,
            Token::DictClose => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return;
                }
            }
            Token::Word(b"endobj") | Token::Word(b"stream") => return,
            Token::Name(n, _) if depth == 1 => {
                key = Some(n);
                continue;
            }
            Token::Str(s) if depth == 1 => {
                let text = pdf_text(&s);
                // An encrypted file's strings are ciphertext: keep only readable text.
                let readable = !text.is_empty() && !text.chars().any(char::is_control);
                let slot = match key.as_deref() {
                    Some(b"Title") => &mut doc.title,
                    Some(b"Author") => &mut doc.author,
                    Some(b"Subject") => &mut doc.subject,
                    Some(b"Keywords") => &mut doc.keywords,
                    Some(b"Creator") => &mut doc.creator,
                    Some(b"Producer") => &mut doc.producer,
                    Some(b"CreationDate") if readable => {
                        doc.created = Some(pdf_date(&text));
                        continue;
                    }
                    Some(b"ModDate") if readable => {
                        doc.modified = Some(pdf_date(&text));
                        continue;
                    }
                    _ => continue,
                };
                if readable {
                    *slot = Some(text);
                }
            }
            _ => {}
        }
        key = None;
    }
}

/// The `x.y` of the `%PDF-x.y` header.
fn version(data: &[u8]) -> Option<String> {
    let head = &data[..data.len().min(HEADER_WINDOW)];
    let at = memmem::find(head, b"%PDF-")? + 5;
    let v: String = data[at..]
        .iter()
        .take(8)
        .take_while(|c| c.is_ascii_digit() || **c == b'.')
        .map(|&c| char::from(c))
        .collect();
    (!v.is_empty()).then_some(v)
}

pub fn inspect(data: &[u8], _kind: &FileKind, found: &mut Inspection) {
    let mut s = Scan::default();
    scan(data, true, &mut s);
    // The objects inside object streams, decoded by the extractor's decoder (every filter and
    // predictor) under a budget of the description's own: a task's spent byte budget must not
    // hide them from the heuristics.
    let budget = Budget {
        max_output: MAX_OBJSTM_BYTES,
        max_members: 0,
        max_ratio: u64::MAX,
        deadline: Deadline::after(OBJSTM_TIME),
        passwords: Vec::new(),
    };
    let mut total = 0u64;
    let mut capped = false;
    let problems = pdf::object_streams(data, budget, &mut |decoded| {
        total = total.saturating_add(decoded.len() as u64);
        if total > MAX_OBJSTM_TOTAL {
            capped = true;
            return false;
        }
        scan(decoded, false, &mut s);
        true
    });
    if capped {
        s.warnings.push(Warning::new(
            Problem::Capped,
            format!(
            "pdf: object streams decode to more than {MAX_OBJSTM_TOTAL} bytes: the rest were not \
             read"
        ),
        ));
    }
    // What kept objects from the description (the extraction reports its own).
    s.warnings
        .extend(problems.into_iter().map(|w| w.prefixed("pdf: ")));
    describe(data, s, found);
}

/// The metadata, heuristics and facts from what the scan collected.
fn describe(data: &[u8], mut s: Scan, found: &mut Inspection) {
    found.warnings.append(&mut s.warnings);
    let count = |name: &str| {
        KEYWORDS
            .iter()
            .position(|k| *k == name)
            .map_or(0, |i| s.counts[i])
    };
    let mut doc = Document {
        format: "PDF",
        version: version(data),
        pages: s.pages,
        objects: s.objects,
        object_streams: s.object_streams,
        encrypted: s.encrypted,
        names: KEYWORDS.iter().map(|k| (*k, count(k))).collect(),
        obfuscated_names: s.obfuscated,
        uris: s.uris.clone(),
        ..Document::default()
    };
    if doc.version.is_none() {
        found.warn(
            Problem::Corrupt,
            "pdf: no %PDF- header in the first kilobyte",
        );
    }
    if s.objects == 0 {
        found.warn(
            Problem::Corrupt,
            "pdf: no objects found: the file is damaged or not a PDF",
        );
    }
    if let Some(at) = s.info.and_then(|r| s.offsets.get(&r)) {
        info(data, *at, &mut doc);
    }

    let js = count("JavaScript") + count("JS");
    let auto = count("OpenAction") + count("AA");
    let launch = count("Launch");
    if js > 0 {
        found.tag("pdf-javascript");
        found.fire(
            JAVASCRIPT,
            vec![format!(
                "/JavaScript {} times, /JS {} times",
                count("JavaScript"),
                count("JS")
            )],
        );
    }
    if js > 0 && auto > 0 {
        found.tag("pdf-autoaction");
        found.fire(
            AUTO_JAVASCRIPT,
            vec![format!(
                "/OpenAction {} times, /AA {} times",
                count("OpenAction"),
                count("AA")
            )],
        );
        let mut evasion = Vec::new();
        if s.obfuscated > 0 {
            evasion.push(format!("{} names hidden with #xx escapes", s.obfuscated));
        }
        if !s.script_tricks.is_empty() {
            evasion.push(format!("the script uses {}", s.script_tricks.join(", ")));
        }
        if launch > 0 {
            evasion.push(format!("/Launch {launch} times"));
        }
        if !evasion.is_empty() {
            found.fire(OBFUSCATED_AUTO_JAVASCRIPT, evasion);
        }
    }
    if launch > 0 {
        found.tag("pdf-launch");
        found.fire(LAUNCH, vec![format!("/Launch {launch} times")]);
    }
    if s.obfuscated > 0 {
        found.fire(
            OBFUSCATED_NAMES,
            vec![format!(
                "{} names, e.g. {}",
                s.obfuscated,
                s.examples.join(", ")
            )],
        );
    }
    if count("EmbeddedFile") > 0 {
        found.tag("pdf-embedded-file");
        found.fire(
            EMBEDDED_FILE,
            vec![format!("/EmbeddedFile {} times", count("EmbeddedFile"))],
        );
    }
    if doc.encrypted {
        found.tag("encrypted");
        found.fire(ENCRYPTED, vec!["the trailer has /Encrypt".to_string()]);
    }
    if count("AcroForm") > 0 {
        found.tag("pdf-form");
    }

    let mut fact = format!(
        "It is a PDF{} document of {} page{}",
        doc.version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        doc.pages,
        if doc.pages == 1 { "" } else { "s" }
    );
    if let Some(author) = &doc.author {
        fact.push_str(&format!(" by {author}"));
    }
    if let Some(created) = &doc.created {
        fact.push_str(&format!(
            ", created {}",
            created.get(..10).unwrap_or(created)
        ));
    }
    if doc.encrypted {
        fact.push_str(", encrypted");
    }
    fact.push('.');
    found.facts.push(fact);
    if js > 0 {
        found.facts.push(
            if auto > 0 {
                "It contains JavaScript and an action that runs when it opens."
            } else {
                "It contains JavaScript."
            }
            .to_string(),
        );
    }
    if launch > 0 {
        found
            .facts
            .push("It has an action that launches a program or file.".to_string());
    }
    if let Ok(value) = serde_json::to_value(&doc) {
        found.set_metadata(&["document"], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::identify::identify;
    use crate::analysis::identify::Format;
    use crate::analysis::inspect::testing::{self, fired};
    use std::io::Write;

    fn run(data: &[u8]) -> Inspection {
        testing::run(|f| f == Format::Pdf, inspect, data)
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A PDF from object bodies (numbered from 1) and a trailer dictionary.
    fn pdf(objects: &[&[u8]], trailer: &str) -> Vec<u8> {
        let mut d = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
        for (i, body) in objects.iter().enumerate() {
            d.extend(format!("{} 0 obj\n", i + 1).as_bytes());
            d.extend(*body);
            d.extend(b"\nendobj\n");
        }
        d.extend(format!("trailer\n{trailer}\n%%EOF\n").as_bytes());
        d
    }

    fn clean() -> Vec<u8> {
        pdf(
            &[
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
                b"<< /Type /Page /Parent 2 0 R /Annots [<< /A << /S /URI /URI (https://example.com/a\\(1\\)) >> >>] >>",
                b"<< /Type/Page/Parent 2 0 R >>",
                b"<< /Title (Annual \\(draft\\)) /Author <FEFF0041006C006900630065> \
                   /CreationDate (D:20240501100000+02'00') /Producer (pdfTeX) >>",
                b"<< /Length 26 >>\nstream\n/JavaScript /Launch (x) \nendstream",
            ],
            "<< /Root 1 0 R /Info 5 0 R /Size 7 >>",
        )
    }

    #[test]
    fn a_clean_pdf_is_described_and_fires_nothing() {
        let found = run(&clean());
        let doc = &found.metadata["document"];
        assert_eq!(doc["format"], "PDF");
        assert_eq!(doc["version"], "1.7");
        assert_eq!(doc["pages"], 2);
        assert_eq!(doc["objects"], 6);
        assert_eq!(doc["encrypted"], false);
        assert_eq!(doc["title"], "Annual (draft)");
        assert_eq!(doc["author"], "Alice");
        assert_eq!(doc["producer"], "pdfTeX");
        assert_eq!(doc["created"], "2024-05-01T10:00:00+02:00");
        assert_eq!(doc["uris"], serde_json::json!(["https://example.com/a(1)"]));
        // Names inside the stream body do not count.
        assert_eq!(doc["names"]["JavaScript"], 0);
        assert_eq!(doc["names"]["Launch"], 0);
        assert_eq!(doc["names"]["URI"], 2);
        assert!(fired(&found).is_empty(), "{:?}", fired(&found));
        assert_eq!(
            found.facts,
            ["It is a PDF 1.7 document of 2 pages by Alice, created 2024-05-01."]
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn autorun_javascript_is_info_until_it_hides() {
        let plain = pdf(
            &[
                b"<< /Type /Catalog /OpenAction 2 0 R >>",
                b"<< /S /JavaScript /JS (app.alert\\('hi'\\)) >>",
            ],
            "<< /Root 1 0 R >>",
        );
        let found = run(&plain);
        assert_eq!(fired(&found), [JAVASCRIPT.id, AUTO_JAVASCRIPT.id]);
        assert!(found.tags.contains("pdf-javascript"));
        // The same with escaped names and eval.
        let hidden = pdf(
            &[
                b"<< /Type /Catalog /Open#41ction 2 0 R >>",
                b"<< /S /J#61vaScript /JS (eval\\(unescape\\('%41'\\)\\)) >>",
            ],
            "<< /Root 1 0 R >>",
        );
        let found = run(&hidden);
        assert_eq!(
            fired(&found),
            [
                JAVASCRIPT.id,
                AUTO_JAVASCRIPT.id,
                OBFUSCATED_AUTO_JAVASCRIPT.id,
                OBFUSCATED_NAMES.id
            ]
        );
        let doc = &found.metadata["document"];
        assert_eq!(doc["names"]["JavaScript"], 1);
        assert_eq!(doc["names"]["OpenAction"], 1);
        assert_eq!(doc["obfuscated_names"], 2);
        let reasons = &found.findings[2].reasons;
        assert!(reasons[1].contains("eval, unescape"), "{reasons:?}");
    }

    #[test]
    fn launch_votes_and_embedded_files_are_noted() {
        let found = run(&pdf(
            &[
                b"<< /Type /Catalog /OpenAction << /S /Launch /F (cmd.exe) >> >>",
                b"<< /Type /EmbeddedFile /Length 3 >>\nstream\nabc\nendstream",
            ],
            "<< /Root 1 0 R >>",
        ));
        assert_eq!(fired(&found), [LAUNCH.id, EMBEDDED_FILE.id]);
        assert!(LAUNCH.verdict.is_some());
        assert!(found.facts[1].contains("launches"));
    }

    #[test]
    fn objects_in_an_object_stream_are_counted() {
        let inner = b"3 0 4 30 << /Type /Page /AA << /O 5 0 R >> >> << /S /JavaScript /JS 6 0 R >>";
        let packed = deflate(inner);
        let mut objstm = format!(
            "<< /Type /ObjStm /N 2 /First 8 /Filter /FlateDecode /Length {} >>\nstream\n",
            packed.len()
        )
        .into_bytes();
        objstm.extend(&packed);
        objstm.extend(b"\nendstream");
        let data = pdf(
            &[b"<< /Type /Catalog >>", &objstm],
            "<< /Root 1 0 R /Encrypt 9 0 R >>",
        );
        let found = run(&data);
        let doc = &found.metadata["document"];
        assert_eq!(doc["pages"], 1);
        assert_eq!(doc["object_streams"], 1);
        assert_eq!(doc["encrypted"], true);
        assert_eq!(
            fired(&found),
            [JAVASCRIPT.id, AUTO_JAVASCRIPT.id, ENCRYPTED.id]
        );
        assert!(found.tags.contains("encrypted"));
        // Through the engine with the task's byte budget spent: nothing can be extracted, but
        // the description still reads the object stream under its own budget.
        let starved = crate::analysis::Limits {
            max_total_bytes: 1,
            ..crate::analysis::Limits::default()
        };
        let r = crate::analysis::Engine::with_limits(starved).analyze_bytes(&data, "x.pdf");
        assert_eq!(r[0].metadata["document"]["names"]["JavaScript"], 1);
        let ids: Vec<&str> = r[0].indicators.iter().map(|i| i.id.as_str()).collect();
        assert!(ids.contains(&AUTO_JAVASCRIPT.id), "{ids:?}");
    }

    #[test]
    fn garbage_and_truncation_give_warnings() {
        let found = run(b"%PDF-1.4\n\x00\x01garbage(((<<<</J#");
        assert!(found.warnings.iter().any(|w| w.text.contains("no objects")));
        let cut = run(b"%PDF-1.4\n1 0 obj << /Length 5 >>\nstream\nabc");
        assert!(
            cut.warnings[0].text.contains("no endstream"),
            "{:?}",
            cut.warnings
        );
        let bad = run(b"%PDF-1.5\n1 0 obj << /Type /ObjStm /Filter /FlateDecode >>\nstream\nnot zlib\nendstream\nendobj");
        assert!(bad.warnings.iter().any(|w| w.text.contains("corrupt")));
        // Unterminated strings and dictionaries end at the end of the data.
        let found = run(b"%PDF-1.7\n1 0 obj << /URI (http://x.test/");
        assert_eq!(found.metadata["document"]["uris"][0], "http://x.test/");
        for cut in 0..clean().len() {
            let mut f = Inspection::default();
            inspect(&clean()[..cut], &identify(b"%PDF-1.7", "x"), &mut f);
        }
    }

    #[test]
    fn dates_and_text() {
        assert_eq!(pdf_date("D:2024"), "2024-01-01T00:00:00");
        assert_eq!(pdf_date("D:20240102030405Z"), "2024-01-02T03:04:05Z");
        assert_eq!(
            pdf_date("D:20240102030405-05'30"),
            "2024-01-02T03:04:05-05:30"
        );
        assert_eq!(pdf_date("yesterday"), "yesterday");
        assert_eq!(pdf_text(b"\xef\xbb\xbfh\xc3\xa9"), "h\u{e9}");
        // UTF-16LE with its byte order mark, as the extractor reads file names.
        assert_eq!(pdf_text(b"\xff\xfeh\x00\xe9\x00\x00\x00"), "h\u{e9}");
    }
}
