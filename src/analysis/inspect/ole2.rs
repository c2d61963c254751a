//! OLE2 documents (`metadata.document`): the SummaryInformation and DocumentSummaryInformation
//! property sets ([MS-OLEPS] 2.21, property ids from [MS-OSHARED] 2.3.3.2) and VBA projects
//! ([MS-OVBA]: the `dir` stream of 2.3.4.2, module streams of 2.3.4.3 and the compression of
//! 2.4.1), with the macro heuristics. Word, Excel and PowerPoint 97-2003 files, and the
//! `vbaProject.bin` the engine extracts from an Office Open XML file, which is an OLE2 file of
//! its own.

use std::io::Read;

use serde::Serialize;

use super::{suspicious, Heuristic, Inspection, Properties};
use crate::analysis::formats::{ole2, printable, Members};
use crate::analysis::identify::{FileKind, Format, OfficeDoc, Ole2Use};
use crate::analysis::text::cp1252;
use crate::analysis::warning::Problem;
use crate::time::format_utc;

/// Most bytes of a property set stream read.
const MAX_PROPERTY_STREAM: u64 = 256 * 1024;
/// Most properties read from one property set.
const MAX_PROPERTIES: usize = 1000;
/// Longest property string kept, in characters.
const MAX_STRING: usize = 4096;
/// Most VBA projects (storages holding a `VBA/dir` stream) read from one file.
const MAX_PROJECTS: usize = 8;
/// Most modules read from one project.
const MAX_MODULES: usize = 256;
/// Most bytes of a compressed stream (`dir` or module) read before decompressing.
const MAX_VBA_STREAM: u64 = 4 * 1024 * 1024;
/// Most bytes one `dir` stream or module decompresses to; the keyword scan sees this much.
const MAX_DECOMPRESSED: usize = 4 * 1024 * 1024;
/// Most bytes of a module's source kept in the report.
const MAX_SOURCE_KEPT: usize = 64 * 1024;
/// Chr()/ChrW() calls from which a macro counts as building strings character by character.
const MIN_CHR_CALLS: usize = 10;

pub const MACROS: &Heuristic = &Heuristic {
    id: "doc-vba-macros",
    priority: 2,
    category: "execution",
    description: "The document carries a VBA macro project.",
    verdict: None,
};

pub const AUTO_EXEC: &Heuristic = &Heuristic {
    id: "doc-vba-autoexec",
    priority: 4,
    category: "execution",
    description: "A VBA macro runs by itself when the document is opened or closed \
                  (AutoOpen, Document_Open, Workbook_Open and the like).",
    verdict: None,
};

pub const SUSPICIOUS_KEYWORDS: &Heuristic = &Heuristic {
    id: "doc-vba-suspicious-keywords",
    priority: 4,
    category: "execution",
    description: "The VBA macros use functions that run programs, download files, call the \
                  Windows API or hide strings (Shell, CreateObject, URLDownloadToFile, many \
                  Chr() calls...).",
    verdict: None,
};

pub const AUTO_EXEC_LAUNCHER: &Heuristic = &Heuristic {
    id: "doc-vba-autoexec-launcher",
    priority: 7,
    category: "execution",
    description: "A macro that runs by itself when the document opens also runs programs or \
                  downloads files (Shell, CreateObject, PowerShell, URLDownloadToFile...): \
                  the usual shape of a malicious document's first stage.",
    verdict: suspicious(6, "Document.Suspicious.MacroDownloader"),
};

pub const ENCRYPTED: &Heuristic = &Heuristic {
    id: "doc-encrypted",
    priority: 2,
    category: "evasion",
    description: "The document is password-encrypted, so its content cannot be inspected.",
    verdict: None,
};

/// What a matched keyword says about the macro.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Power {
    /// Runs programs or downloads: makes an auto-exec macro vote.
    Launch,
    /// Hides what it does, or reaches outside VBA.
    Other,
}

/// Keywords looked for in VBA source (lower case), their label, whether they must stand as a
/// whole word (short ones would match inside other identifiers) and what they mean.
const KEYWORDS: &[(&str, &str, bool, Power)] = &[
    ("shell", "Shell", true, Power::Launch),
    ("wscript.shell", "WScript.Shell", true, Power::Launch),
    ("shellexecute", "ShellExecute", false, Power::Launch),
    ("powershell", "PowerShell", false, Power::Launch),
    ("createobject", "CreateObject", true, Power::Launch),
    ("getobject", "GetObject", true, Power::Launch),
    (
        "urldownloadtofile",
        "URLDownloadToFile",
        false,
        Power::Launch,
    ),
    ("xmlhttp", "XMLHTTP", false, Power::Launch),
    ("winhttp", "WinHttp", false, Power::Launch),
    ("adodb.stream", "ADODB.Stream", false, Power::Launch),
    ("createprocess", "CreateProcess", false, Power::Launch),
    ("winexec", "WinExec", false, Power::Launch),
    ("macscript", "MacScript", true, Power::Launch),
    (
        "executeexcel4macro",
        "ExecuteExcel4Macro",
        true,
        Power::Launch,
    ),
    ("virtualalloc", "VirtualAlloc", false, Power::Launch),
    ("rtlmovememory", "RtlMoveMemory", false, Power::Launch),
    ("createthread", "CreateThread", false, Power::Launch),
    ("callbyname", "CallByName", true, Power::Other),
    ("strreverse", "StrReverse", true, Power::Other),
    ("environ", "Environ", true, Power::Other),
    ("savetofile", "SaveToFile", true, Power::Other),
    ("lib", "Declare ... Lib", true, Power::Other),
];

/// Procedure names Office runs by itself ([MS-OVBA] does not list them; these are Word's,
/// Excel's and PowerPoint's documented automatic macros and document events).
const AUTO_EXEC_NAMES: &[&str] = &[
    "autoexec",
    "autoopen",
    "auto_open",
    "autoclose",
    "auto_close",
    "autoexit",
    "autonew",
    "document_open",
    "document_close",
    "document_new",
    "document_beforeclose",
    "documentopen",
    "documentbeforeclose",
    "workbook_open",
    "workbook_activate",
    "workbook_close",
    "workbook_beforeclose",
    "auto_activate",
];

/// ActiveX control events that fire without the user doing anything once the document shows
/// the control (`InkPicture1_Painted`, `Frame1_Layout`): a known way around auto-exec blocking.
const AUTO_EXEC_EVENTS: &[&str] = &["_painted", "_painting", "_layout", "_gotfocus", "_resize"];

#[derive(Serialize)]
struct Module {
    name: String,
    /// The stream holding it, as a path inside the compound file.
    stream: String,
    /// `procedural` (a standard module) or `document/class` (ThisDocument, sheets, classes,
    /// forms).
    #[serde(rename = "type")]
    kind: &'static str,
    /// Decompressed source size in bytes (up to the decompression cap).
    source_size: usize,
    source: String,
    source_truncated: bool,
}

#[derive(Serialize)]
struct Macros {
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<String>,
    modules: Vec<Module>,
    auto_exec: Vec<String>,
    suspicious_keywords: Vec<String>,
}

#[derive(Serialize, Default)]
struct Document {
    format: &'static str,
    #[serde(flatten)]
    properties: Properties,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_page: Option<u16>,
    encrypted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    macros: Option<Macros>,
}

type Ole<'d> = ole2::Compound<'d>;

pub fn inspect(data: &[u8], kind: &FileKind, found: &mut Inspection) {
    match ole2::open(data) {
        Ok(mut dir) => describe(&mut dir, kind, found),
        Err(e) => found.warn(Problem::Corrupt, unreadable(&e)),
    }
}

/// [`inspect`] and `formats::ole2::unpack` over one open of the compound file: the walk calls
/// this when the file is unpacked too (see `analysis::registry`).
pub fn inspect_and_unpack<'a>(
    data: &'a [u8],
    kind: &FileKind,
    found: &mut Inspection,
    out: &mut Members<'a>,
) {
    match ole2::open(data) {
        Ok(mut dir) => {
            describe(&mut dir, kind, found);
            ole2::unpack_directory(dir, out);
        }
        Err(e) => {
            found.warn(Problem::Corrupt, unreadable(&e));
            out.warn(Problem::Corrupt, ole2::unreadable(&e));
        }
    }
}

fn unreadable(e: &std::io::Error) -> String {
    format!("ole: the compound file is unreadable ({e})")
}

/// The description of a compound file already opened.
fn describe(dir: &mut ole2::Directory, kind: &FileKind, found: &mut Inspection) {
    let projects: Vec<String> = dir.vba_projects().map(str::to_string).collect();
    let file = &mut dir.file;
    let mut doc = Document {
        format: "OLE2",
        ..Document::default()
    };
    if let Some(bytes) = read_stream(file, "/\u{5}SummaryInformation", found) {
        summary_information(&bytes, &mut doc, found);
    }
    if let Some(bytes) = read_stream(file, "/\u{5}DocumentSummaryInformation", found) {
        document_summary_information(&bytes, &mut doc, found);
    }
    doc.encrypted |= is_encrypted(file);
    doc.macros = macros(file, &projects, found);

    if doc.encrypted {
        found.tag("encrypted");
        found.fire(ENCRYPTED, vec!["the document is encrypted".to_string()]);
    }
    if let Some(m) = &doc.macros {
        found.tag("macro");
        found.fire(
            MACROS,
            vec![format!(
                "VBA project {} with {} module{}",
                m.project.as_deref().unwrap_or("(unnamed)"),
                m.modules.len(),
                plural(m.modules.len())
            )],
        );
        if !m.auto_exec.is_empty() {
            found.tag("macro-autoexec");
            found.fire(
                AUTO_EXEC,
                vec![format!("entry points: {}", m.auto_exec.join(", "))],
            );
        }
        if !m.suspicious_keywords.is_empty() {
            found.fire(
                SUSPICIOUS_KEYWORDS,
                vec![format!("keywords: {}", m.suspicious_keywords.join(", "))],
            );
        }
        let launchers: Vec<&str> = KEYWORDS
            .iter()
            .filter(|k| k.3 == Power::Launch && m.suspicious_keywords.iter().any(|s| s == k.1))
            .map(|k| k.1)
            .collect();
        if !m.auto_exec.is_empty() && !launchers.is_empty() {
            found.fire(
                AUTO_EXEC_LAUNCHER,
                vec![format!(
                    "{} runs automatically and the macros use {}",
                    m.auto_exec.join(", "),
                    launchers.join(", ")
                )],
            );
        }
    }
    found.facts.extend(facts(&doc, kind));
    if let Ok(value) = serde_json::to_value(&doc) {
        found.set_metadata(&["document"], value);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The story: what the document is, who wrote it, and what its macros do.
fn facts(doc: &Document, kind: &FileKind) -> Vec<String> {
    let what = match kind.format {
        Format::Ole2(Ole2Use::Office(OfficeDoc::Word)) => "a Word document",
        Format::Ole2(Ole2Use::Office(OfficeDoc::Excel)) => "an Excel workbook",
        Format::Ole2(Ole2Use::Office(OfficeDoc::PowerPoint)) => "a PowerPoint presentation",
        _ if doc.macros.is_some() => "a VBA project",
        _ => "an OLE2 compound file",
    };
    let mut s = format!("It is {what}");
    s.push_str(&doc.properties.byline());
    if doc.encrypted {
        s.push_str(", encrypted");
    }
    let mut facts = Vec::new();
    match &doc.macros {
        Some(m) => {
            let n = m.modules.len();
            s.push_str(&format!(", with {n} VBA module{}", plural(n)));
            if !m.auto_exec.is_empty() {
                s.push_str(&format!(
                    "; a macro runs automatically when it opens ({})",
                    m.auto_exec.join(", ")
                ));
            }
            s.push('.');
            facts.push(s);
            if !m.suspicious_keywords.is_empty() {
                facts.push(format!(
                    "Its macros use {}.",
                    m.suspicious_keywords.join(", ")
                ));
            }
        }
        None => {
            s.push('.');
            facts.push(s);
        }
    }
    facts
}

/// Reads a whole stream (up to [`MAX_PROPERTY_STREAM`]); None when it does not exist.
fn read_stream(file: &mut Ole, path: &str, found: &mut Inspection) -> Option<Vec<u8>> {
    read_capped(file, path, MAX_PROPERTY_STREAM, found)
}

fn read_capped(file: &mut Ole, path: &str, cap: u64, found: &mut Inspection) -> Option<Vec<u8>> {
    if !file.is_stream(path) {
        return None;
    }
    let mut stream = match file.open_stream(path) {
        Ok(s) => s,
        Err(e) => {
            found.warn(
                Problem::Corrupt,
                format!("ole: stream {} is unreadable ({e})", printable(path)),
            );
            return None;
        }
    };
    let mut bytes = Vec::new();
    if let Err(e) = (&mut stream).take(cap).read_to_end(&mut bytes) {
        found.warn(
            Problem::Truncated,
            format!("ole: stream {} is truncated ({e})", printable(path)),
        );
    }
    Some(bytes)
}

/// Encryption a reader can see without a password: an encrypted Office Open XML package in an
/// OLE2 wrapper ([MS-OFFCRYPTO] 2.3.4), or Word's `fEncrypted` bit in the FIB ([MS-DOC] 2.5.2).
fn is_encrypted(file: &mut Ole) -> bool {
    if file.is_stream("/EncryptedPackage") || file.is_stream("/EncryptionInfo") {
        return true;
    }
    if !file.is_stream("/WordDocument") {
        return false;
    }
    let Ok(mut s) = file.open_stream("/WordDocument") else {
        return false;
    };
    let mut fib = [0u8; 12];
    s.read_exact(&mut fib).is_ok() && u16::from_le_bytes([fib[0], fib[1]]) == 0xa5ec && {
        fib[11] & 0x01 != 0
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// One typed property value ([MS-OLEPS] 2.15), the kinds document properties use.
#[derive(Debug, PartialEq)]
enum Value {
    Int(i64),
    Text(String),
    /// FILETIME: 100-nanosecond intervals since 1601-01-01 UTC.
    Time(u64),
    Other,
}

/// The first property set of a property set stream: (property id, value) pairs, plus the
/// code page it declared.
fn property_set(stream: &[u8], name: &str, found: &mut Inspection) -> Vec<(u32, Value)> {
    if u16_at(stream, 0) != Some(0xfffe) {
        found.warn(
            Problem::Corrupt,
            format!("ole: {name} has no property set byte order mark"),
        );
        return Vec::new();
    }
    let Some(set_at) = u32_at(stream, 44).map(|o| o as usize) else {
        found.warn(
            Problem::Truncated,
            format!("ole: {name} is truncated in its header"),
        );
        return Vec::new();
    };
    let Some(set) = stream.get(set_at..) else {
        found.warn(
            Problem::Truncated,
            format!(
                "ole: {name} puts its property set at offset {set_at}, past its end ({} bytes)",
                stream.len()
            ),
        );
        return Vec::new();
    };
    let Some(count) = u32_at(set, 4).map(|c| c as usize) else {
        found.warn(
            Problem::Truncated,
            format!("ole: {name} is truncated in its property set header"),
        );
        return Vec::new();
    };
    if count > MAX_PROPERTIES {
        found.warn(
            Problem::Capped,
            format!(
            "ole: {name} declares {count} properties: only the first {MAX_PROPERTIES} were read"
        ),
        );
    }
    let entries: Vec<(u32, usize)> = (0..count.min(MAX_PROPERTIES))
        .map_while(|i| Some((u32_at(set, 8 + i * 8)?, u32_at(set, 12 + i * 8)? as usize)))
        .collect();
    if entries.len() < count.min(MAX_PROPERTIES) {
        found.warn(
            Problem::Truncated,
            format!(
                "ole: {name} is truncated: {} of {count} property entries present",
                entries.len()
            ),
        );
    }
    // The code page (property 1) says how to read 8-bit strings, wherever it is in the list.
    let code_page = entries
        .iter()
        .find(|(id, _)| *id == 1)
        .and_then(|&(_, at)| match value(set, at, 1252) {
            Some(Value::Int(cp)) => Some(cp as u16),
            _ => None,
        })
        .unwrap_or(1252);
    let mut bad = 0usize;
    let mut props = Vec::new();
    for (id, at) in entries {
        match value(set, at, code_page) {
            Some(v) => props.push((id, v)),
            None => bad += 1,
        }
    }
    if bad > 0 {
        found.warn(
            Problem::Truncated,
            format!(
                "ole: {name} has {bad} propert{} with offsets or sizes outside the stream",
                if bad == 1 { "y" } else { "ies" }
            ),
        );
    }
    props
}

/// Reads the typed value at `at` in a property set; None when it runs outside the set.
fn value(set: &[u8], at: usize, code_page: u16) -> Option<Value> {
    let vt = u16_at(set, at)?;
    let body = at.checked_add(4)?;
    Some(match vt {
        0x0002 => Value::Int(i64::from(u16_at(set, body)? as i16)),
        0x0003 | 0x0016 => Value::Int(i64::from(u32_at(set, body)? as i32)),
        0x0013 | 0x0017 => Value::Int(i64::from(u32_at(set, body)?)),
        0x000b => Value::Int(i64::from(u16_at(set, body)? != 0)),
        0x001e => {
            let len = u32_at(set, body)? as usize;
            let start = body + 4;
            let end = start.checked_add(len)?;
            // A lying size is clipped to the set: the text up to there is still useful.
            let bytes = set.get(start..end.min(set.len()))?;
            Value::Text(code_page_text(bytes, code_page))
        }
        0x001f => {
            let chars = u32_at(set, body)? as usize;
            let start = body + 4;
            let end = start.checked_add(chars.checked_mul(2)?)?;
            let bytes = set.get(start..end.min(set.len()))?;
            Value::Text(utf16(bytes))
        }
        0x0040 => Value::Time(u64_at(set, body)?),
        _ => Value::Other,
    })
}

/// Text in a Windows code page: UTF-16 (1200), UTF-8 (65001), else Windows-1252, which reads
/// ASCII right in every single-byte code page. Cut at the first NUL and at [`MAX_STRING`].
fn code_page_text(bytes: &[u8], code_page: u16) -> String {
    let s: String = match code_page {
        1200 => return utf16(bytes),
        65001 => String::from_utf8_lossy(bytes).into_owned(),
        _ => bytes.iter().map(|&b| cp1252(b)).collect(),
    };
    clean(&s)
}

fn utf16(bytes: &[u8]) -> String {
    clean(&crate::analysis::text::utf16le(bytes))
}

/// Cuts at the first NUL, trims, and bounds the length.
fn clean(s: &str) -> String {
    let s = s.split('\0').next().unwrap_or("").trim();
    s.chars().take(MAX_STRING).collect()
}

/// A FILETIME as `YYYY-MM-DDTHH:MM:SSZ`; None for zero (unset).
fn filetime(ft: u64) -> Option<String> {
    /// Seconds between 1601-01-01 and 1970-01-01.
    const EPOCH_DIFF: i64 = 11_644_473_600;
    if ft == 0 {
        return None;
    }
    Some(format_utc((ft / 10_000_000) as i64 - EPOCH_DIFF))
}

fn text(v: Value) -> Option<String> {
    match v {
        Value::Text(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn int(v: Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

fn time(v: Value) -> Option<String> {
    match v {
        Value::Time(t) => filetime(t),
        _ => None,
    }
}

/// SummaryInformation ([MS-OSHARED] 2.3.3.2.1, PIDSI_*).
fn summary_information(stream: &[u8], doc: &mut Document, found: &mut Inspection) {
    for (id, v) in property_set(stream, "SummaryInformation", found) {
        match id {
            1 => doc.code_page = int(v).map(|cp| cp as u16),
            2 => doc.properties.title = text(v),
            3 => doc.properties.subject = text(v),
            4 => doc.properties.author = text(v),
            5 => doc.properties.keywords = text(v),
            6 => doc.properties.comments = text(v),
            7 => doc.properties.template = text(v),
            8 => doc.properties.last_author = text(v),
            9 => doc.properties.revision = text(v),
            11 => doc.properties.last_printed = time(v),
            12 => doc.properties.created = time(v),
            13 => doc.properties.modified = time(v),
            14 => doc.properties.pages = int(v),
            15 => doc.properties.words = int(v),
            16 => doc.properties.characters = int(v),
            18 => doc.properties.application = text(v),
            // PIDSI_DOC_SECURITY bit 0: password protected.
            19 => doc.encrypted |= int(v).is_some_and(|s| s & 1 != 0),
            _ => {}
        }
    }
}

/// DocumentSummaryInformation ([MS-OSHARED] 2.3.3.2.2, PIDDSI_*).
fn document_summary_information(stream: &[u8], doc: &mut Document, found: &mut Inspection) {
    for (id, v) in property_set(stream, "DocumentSummaryInformation", found) {
        match id {
            2 => doc.properties.category = text(v),
            14 => doc.properties.manager = text(v),
            15 => doc.properties.company = text(v),
            _ => {}
        }
    }
}

/// Every VBA project in the file, merged into one listing.
/// `projects`: the VBA storages ([`ole2::Directory::vba_projects`]). Word keeps its project
/// under Macros/, Excel under _VBA_PROJECT_CUR/, vbaProject.bin at the root.
fn macros(file: &mut Ole, projects: &[String], found: &mut Inspection) -> Option<Macros> {
    let dirs = projects.iter().take(MAX_PROJECTS).cloned();
    if projects.is_empty() {
        return None;
    }
    let mut all = Macros {
        project: None,
        modules: Vec::new(),
        auto_exec: Vec::new(),
        suspicious_keywords: Vec::new(),
    };
    let mut scanned = Vec::new();
    for vba in dirs {
        let Some(packed) = read_capped(file, &format!("{vba}/dir"), MAX_VBA_STREAM, found) else {
            continue;
        };
        let (dir, error) = decompress(&packed, MAX_DECOMPRESSED);
        if let Some(e) = error {
            found.warn(
                Problem::Corrupt,
                format!("ole: the VBA dir stream in {vba} {e}"),
            );
        }
        let project = parse_dir(&dir, found);
        if all.project.is_none() {
            all.project = project.name;
        }
        for m in project.modules {
            if all.modules.len() >= MAX_MODULES {
                found.warn(
                    Problem::Capped,
                    format!("ole: more than {MAX_MODULES} VBA modules: the rest were not read"),
                );
                break;
            }
            let path = format!("{vba}/{}", m.stream);
            let Some(stream) = read_capped(file, &path, MAX_VBA_STREAM, found) else {
                found.warn(
                    Problem::Corrupt,
                    format!(
                        "ole: VBA module {} has no stream {}",
                        m.name,
                        printable(&path)
                    ),
                );
                continue;
            };
            let Some(packed) = stream.get(m.offset as usize..) else {
                found.warn(
                    Problem::Truncated,
                    format!(
                        "ole: VBA module {} says its source starts at offset {}, past the end of \
                     its {}-byte stream",
                        m.name,
                        m.offset,
                        stream.len()
                    ),
                );
                continue;
            };
            let (source, error) = decompress(packed, MAX_DECOMPRESSED);
            if let Some(e) = error {
                found.warn(
                    Problem::Corrupt,
                    format!("ole: the source of VBA module {} {e}", m.name),
                );
            }
            let text = code_page_source(&source, project.code_page);
            scanned.push(text.clone());
            let truncated = text.len() > MAX_SOURCE_KEPT;
            let mut cut = text.len().min(MAX_SOURCE_KEPT);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            all.modules.push(Module {
                name: m.name,
                stream: path.trim_start_matches('/').to_string(),
                kind: if m.procedural {
                    "procedural"
                } else {
                    "document/class"
                },
                source_size: source.len(),
                source: text[..cut].to_string(),
                source_truncated: truncated,
            });
        }
    }
    for text in &scanned {
        for name in auto_exec(text) {
            if !all.auto_exec.contains(&name) {
                all.auto_exec.push(name);
            }
        }
        for k in keywords(text) {
            if !all.suspicious_keywords.contains(&k) {
                all.suspicious_keywords.push(k);
            }
        }
    }
    // Keep the keyword list in the table's order, so reports are stable.
    all.suspicious_keywords.sort_by_key(|k| {
        KEYWORDS
            .iter()
            .position(|w| w.1 == k)
            .unwrap_or(KEYWORDS.len())
    });
    Some(all)
}

/// Module source bytes as text: VBA stores it in the project's code page.
fn code_page_source(bytes: &[u8], code_page: u16) -> String {
    match code_page {
        65001 => String::from_utf8_lossy(bytes).into_owned(),
        _ => bytes.iter().map(|&b| cp1252(b)).collect(),
    }
}

/// What the `dir` stream says about a module.
#[derive(Debug, PartialEq)]
struct DirModule {
    name: String,
    stream: String,
    offset: u32,
    procedural: bool,
}

#[derive(Debug, Default)]
struct Project {
    name: Option<String>,
    code_page: u16,
    modules: Vec<DirModule>,
}

/// Reads the decompressed `dir` stream ([MS-OVBA] 2.3.4.2): a run of records, each an id
/// (u16), a size (u32) and that many bytes. The one exception is PROJECTVERSION (0x0009),
/// whose size field is a constant 4 followed by 6 bytes. Reading record by record (not by the
/// spec's fixed order) tolerates the optional records different Office versions write.
fn parse_dir(dir: &[u8], found: &mut Inspection) -> Project {
    let mut project = Project {
        code_page: 1252,
        ..Project::default()
    };
    let mut current: Option<DirModule> = None;
    let mut at = 0usize;
    while at < dir.len() {
        let (Some(id), Some(size)) = (u16_at(dir, at), u32_at(dir, at + 2)) else {
            found.warn(
                Problem::Truncated,
                format!("ole: the VBA dir stream is truncated at offset {at}"),
            );
            break;
        };
        let size = if id == 0x0009 { 6 } else { size as usize };
        let start = at + 6;
        let Some(body) = start.checked_add(size).and_then(|end| dir.get(start..end)) else {
            found.warn(
                Problem::Truncated,
                format!(
                    "ole: VBA dir record 0x{id:04x} at offset {at} says {size} bytes, {} remain",
                    dir.len().saturating_sub(start)
                ),
            );
            break;
        };
        at = start + size;
        match id {
            // PROJECTCODEPAGE
            0x0003 => project.code_page = u16_at(body, 0).unwrap_or(1252),
            // PROJECTNAME
            0x0004 => project.name = Some(code_page_text(body, project.code_page)),
            // MODULENAME: starts a module.
            0x0019 => {
                if let Some(m) = current.take() {
                    project.modules.push(m);
                }
                let name = code_page_text(body, project.code_page);
                current = Some(DirModule {
                    stream: name.clone(),
                    name,
                    offset: 0,
                    procedural: true,
                });
            }
            // MODULENAMEUNICODE
            0x0047 => {
                if let Some(m) = current.as_mut() {
                    let name = utf16(body);
                    if !name.is_empty() {
                        m.name = name;
                    }
                }
            }
            // MODULESTREAMNAME, then its Unicode twin (0x0032), which wins when present.
            0x001a => {
                if let Some(m) = current.as_mut() {
                    m.stream = code_page_text(body, project.code_page);
                }
            }
            0x0032 => {
                if let Some(m) = current.as_mut() {
                    let name = utf16(body);
                    if !name.is_empty() {
                        m.stream = name;
                    }
                }
            }
            // MODULEOFFSET
            0x0031 => {
                if let Some(m) = current.as_mut() {
                    m.offset = u32_at(body, 0).unwrap_or(0);
                }
            }
            // MODULETYPE: procedural (0x21) or document/class/designer (0x22).
            0x0022 => {
                if let Some(m) = current.as_mut() {
                    m.procedural = false;
                }
            }
            // Module terminator.
            0x002b => {
                if let Some(m) = current.take() {
                    project.modules.push(m);
                }
            }
            // dir stream terminator.
            0x0010 => break,
            _ => {}
        }
        if project.modules.len() >= MAX_MODULES {
            break;
        }
    }
    if let Some(m) = current.take() {
        project.modules.push(m);
    }
    project
}

/// Decompresses an [MS-OVBA] 2.4.1 CompressedContainer. Returns what was decoded (up to
/// `cap` bytes) and, when the data was damaged, a sentence fragment saying how.
fn decompress(data: &[u8], cap: usize) -> (Vec<u8>, Option<String>) {
    let mut out: Vec<u8> = Vec::new();
    match data.first() {
        Some(1) => {}
        Some(b) => return (out, Some(format!("has signature byte 0x{b:02x}, not 0x01"))),
        None => return (out, Some("is empty".to_string())),
    }
    let mut at = 1usize;
    let mut chunk_no = 0usize;
    while at < data.len() {
        chunk_no += 1;
        let Some(header) = u16_at(data, at) else {
            return (
                out,
                Some(format!("ends inside the header of chunk {chunk_no}")),
            );
        };
        if (header >> 12) & 0b111 != 0b011 {
            return (
                out,
                Some(format!(
                    "has a bad header in chunk {chunk_no} (0x{header:04x}): decoding stopped"
                )),
            );
        }
        let size = usize::from(header & 0x0fff) + 3;
        let compressed = header & 0x8000 != 0;
        let end = at + size;
        let truncated = end > data.len();
        let chunk = &data[at + 2..end.min(data.len())];
        at = end;
        let chunk_start = out.len();
        if !compressed {
            // A raw chunk is always 4096 bytes.
            let take = chunk.len().min(4096).min(cap.saturating_sub(out.len()));
            out.extend_from_slice(&chunk[..take]);
        } else {
            let mut i = 0usize;
            'tokens: while i < chunk.len() {
                let flags = chunk[i];
                i += 1;
                for bit in 0..8 {
                    if i >= chunk.len() {
                        break 'tokens;
                    }
                    if out.len() >= cap {
                        return (out, Some(format!("decompresses past {cap} bytes: cut")));
                    }
                    if flags & (1 << bit) == 0 {
                        out.push(chunk[i]);
                        i += 1;
                        continue;
                    }
                    let Some(token) = u16_at(chunk, i) else {
                        return (
                            out,
                            Some(format!("ends inside a copy token of chunk {chunk_no}")),
                        );
                    };
                    i += 2;
                    let done = out.len() - chunk_start;
                    // The split between offset and length bits grows with the position in the
                    // chunk (CopyToken Help, 2.4.1.3.19.1): at least 4 offset bits.
                    let mut bits = 4u32;
                    while (1usize << bits) < done {
                        bits += 1;
                    }
                    let length_mask = 0xffffu16 >> bits;
                    let length = usize::from(token & length_mask) + 3;
                    let offset = usize::from(token >> (16 - bits)) + 1;
                    if done == 0 || offset > done {
                        return (
                            out,
                            Some(format!(
                                "has a copy token in chunk {chunk_no} reaching {offset} bytes \
                                 back, before the chunk start"
                            )),
                        );
                    }
                    for _ in 0..length {
                        if out.len() >= cap {
                            return (out, Some(format!("decompresses past {cap} bytes: cut")));
                        }
                        let b = out[out.len() - offset];
                        out.push(b);
                    }
                }
            }
        }
        if truncated {
            return (out, Some(format!("is truncated in chunk {chunk_no}")));
        }
        if out.len() >= cap {
            return (out, Some(format!("decompresses past {cap} bytes: cut")));
        }
    }
    (out, None)
}

/// Whether `c` may be part of a VBA identifier.
fn ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The lines of source that are code, trimmed, as (lower-cased, as written), with whole-line
/// comments dropped. Lower-casing is ASCII only, so byte offsets agree between the two.
fn code_lines(source: &str) -> impl Iterator<Item = (String, &str)> + '_ {
    source
        .lines()
        .map(|l| (l.trim().to_ascii_lowercase(), l.trim()))
        .filter(|(l, _)| !(l.starts_with('\'') || l.starts_with("rem ") || l == "rem"))
}

/// Names of the procedures Office runs by itself that `source` declares, as written.
fn auto_exec(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (line, original) in code_lines(source) {
        let mut rest = line.as_str();
        for prefix in ["private ", "public ", "friend ", "static "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest).trim_start();
        }
        let Some(after) = rest
            .strip_prefix("sub ")
            .or_else(|| rest.strip_prefix("function "))
        else {
            continue;
        };
        let after = after.trim_start();
        let start = line.len() - after.len();
        let name = &after[..after.bytes().take_while(|&c| ident(c)).count()];
        let auto = AUTO_EXEC_NAMES.contains(&name)
            || AUTO_EXEC_EVENTS
                .iter()
                .any(|e| name.len() > e.len() && name.ends_with(e));
        let shown = original.get(start..start + name.len()).unwrap_or(name);
        if auto && !names.iter().any(|n| n == shown) {
            names.push(shown.to_string());
        }
    }
    names
}

/// Labels of the [`KEYWORDS`] `source` uses, and Chr() obfuscation.
fn keywords(source: &str) -> Vec<String> {
    let code: String = code_lines(source)
        .map(|(l, _)| l)
        .collect::<Vec<_>>()
        .join("\n");
    let hay = code.as_bytes();
    let mut found: Vec<String> = KEYWORDS
        .iter()
        .filter(|(word, _, whole, _)| {
            if *word == "lib" {
                // Only as part of a Declare statement: `Declare Function X Lib "kernel32"`.
                return code.lines().any(|l| {
                    let l = l.trim_start();
                    (l.starts_with("declare ") || l.contains(" declare "))
                        && contains_word(l.as_bytes(), b"lib")
                });
            }
            if *word == "shell" {
                // `Shell "..."`, not the `.Shell` of WScript.Shell (listed on its own).
                return memchr::memmem::find_iter(hay, b"shell").any(|at| {
                    at.checked_sub(1)
                        .and_then(|i| hay.get(i))
                        .is_none_or(|&c| !ident(c) && c != b'.')
                        && hay.get(at + 5).is_none_or(|&c| !ident(c))
                });
            }
            if *whole {
                contains_word(hay, word.as_bytes())
            } else {
                memchr::memmem::find(hay, word.as_bytes()).is_some()
            }
        })
        .map(|(_, label, _, _)| label.to_string())
        .collect();
    let chr = ["chr", "chrw", "chrb", "chr$", "chrw$", "chrb$"]
        .iter()
        .map(|f| count_calls(hay, f.as_bytes()))
        .sum::<usize>();
    if chr >= MIN_CHR_CALLS {
        found.push(format!("Chr ({chr} calls)"));
    }
    found
}

/// Whether `word` occurs in `hay` with no identifier character on either side.
fn contains_word(hay: &[u8], word: &[u8]) -> bool {
    memchr::memmem::find_iter(hay, word).any(|at| {
        let before = at.checked_sub(1).and_then(|i| hay.get(i));
        let after = hay.get(at + word.len());
        !before.is_some_and(|&c| ident(c)) && !after.is_some_and(|&c| ident(c))
    })
}

/// Calls of function `f` (`f(` or `f (`), as a whole word.
fn count_calls(hay: &[u8], f: &[u8]) -> usize {
    memchr::memmem::find_iter(hay, f)
        .filter(|&at| {
            let before = at.checked_sub(1).and_then(|i| hay.get(i));
            let rest = &hay[at + f.len()..];
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            !before.is_some_and(|&c| ident(c)) && rest.first() == Some(&b'(')
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::identify::identify;
    use crate::analysis::inspect::testing::{self, fired};
    use crate::analysis::warning;

    fn run(data: &[u8]) -> Inspection {
        testing::run(|f| matches!(f, Format::Ole2(_)), inspect, data)
    }

    /// [MS-OVBA] 2.4.1 compression without copy tokens (valid, just not smaller). A full
    /// 4096-byte chunk of literal tokens would pass the 4098-byte chunk size limit, so full
    /// chunks are stored raw and only the last, short one is tokenised.
    fn compress(data: &[u8]) -> Vec<u8> {
        let mut out = vec![1u8];
        for chunk in data.chunks(4096) {
            if chunk.len() == 4096 {
                out.extend_from_slice(&0x3fffu16.to_le_bytes());
                out.extend_from_slice(chunk);
                continue;
            }
            let mut body = Vec::new();
            for group in chunk.chunks(8) {
                body.push(0);
                body.extend_from_slice(group);
            }
            assert!(body.len() + 2 <= 4098);
            let header = 0xb000u16 | (body.len() as u16 + 2 - 3);
            out.extend_from_slice(&header.to_le_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    fn record(id: u16, body: &[u8]) -> Vec<u8> {
        let mut r = id.to_le_bytes().to_vec();
        r.extend_from_slice(&(body.len() as u32).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A `dir` stream the way Office writes it (information, references elided, modules).
    fn dir_stream(project: &str, modules: &[(&str, bool)]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend(record(0x0001, &1u32.to_le_bytes()));
        d.extend(record(0x0002, &0x409u32.to_le_bytes()));
        d.extend(record(0x0014, &0x409u32.to_le_bytes()));
        d.extend(record(0x0003, &1252u16.to_le_bytes()));
        d.extend(record(0x0004, project.as_bytes()));
        d.extend(record(0x0005, b""));
        d.extend(record(0x0040, b""));
        // PROJECTVERSION: Reserved (4), then 6 bytes.
        d.extend(0x0009u16.to_le_bytes());
        d.extend(4u32.to_le_bytes());
        d.extend(1u32.to_le_bytes());
        d.extend(2u16.to_le_bytes());
        d.extend(record(0x000c, b""));
        d.extend(record(0x003c, b""));
        d.extend(record(0x000f, &(modules.len() as u16).to_le_bytes()));
        d.extend(record(0x0013, &0xffffu16.to_le_bytes()));
        for (name, procedural) in modules {
            d.extend(record(0x0019, name.as_bytes()));
            d.extend(record(0x0047, &utf16le(name)));
            d.extend(record(0x001a, name.as_bytes()));
            d.extend(record(0x0032, &utf16le(name)));
            d.extend(record(0x001c, b""));
            d.extend(record(0x0048, b""));
            d.extend(record(0x0031, &16u32.to_le_bytes()));
            d.extend(record(0x001e, &0u32.to_le_bytes()));
            d.extend(record(0x002c, &0xffffu16.to_le_bytes()));
            d.extend(record(if *procedural { 0x0021 } else { 0x0022 }, b""));
            d.extend(record(0x002b, b""));
        }
        d.extend(record(0x0010, b""));
        d
    }

    fn compound(streams: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let streams: Vec<(&str, &[u8])> = streams.iter().map(|(p, d)| (*p, d.as_slice())).collect();
        crate::analysis::formats::ole2::tests::compound(&streams)
    }

    /// A property set stream with one set of (id, type, value bytes) properties.
    fn property_stream(props: &[(u32, u16, Vec<u8>)]) -> Vec<u8> {
        let mut values = Vec::new();
        let mut index = Vec::new();
        let table = 8 + props.len() * 8;
        for (id, vt, bytes) in props {
            index.push((*id, (table + values.len()) as u32));
            values.extend(vt.to_le_bytes());
            values.extend([0, 0]);
            values.extend(bytes);
            while values.len() % 4 != 0 {
                values.push(0);
            }
        }
        let mut set = Vec::new();
        set.extend(((table + values.len()) as u32).to_le_bytes());
        set.extend((props.len() as u32).to_le_bytes());
        for (id, off) in index {
            set.extend(id.to_le_bytes());
            set.extend(off.to_le_bytes());
        }
        set.extend(values);
        let mut s = Vec::new();
        s.extend(0xfffeu16.to_le_bytes());
        s.extend(0u16.to_le_bytes());
        s.extend(0x0002_0006u32.to_le_bytes());
        s.extend([0u8; 16]);
        s.extend(1u32.to_le_bytes());
        s.extend([0xe0, 0x85, 0x9f, 0xf2, 0xf9, 0x4f, 0x68, 0x10]);
        s.extend([0xab, 0x91, 0x08, 0x00, 0x2b, 0x27, 0xb3, 0xd9]);
        s.extend(48u32.to_le_bytes());
        s.extend(set);
        s
    }

    fn lpstr(s: &str) -> Vec<u8> {
        let mut b = ((s.len() + 1) as u32).to_le_bytes().to_vec();
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        b
    }

    /// 2024-05-01T10:00:00Z as a FILETIME.
    const MAY_FIRST: u64 = (1_714_557_600 + 11_644_473_600) * 10_000_000;

    fn summary() -> Vec<u8> {
        property_stream(&[
            (1, 2, 1252u16.to_le_bytes().to_vec()),
            (2, 0x1e, lpstr("Quarterly report")),
            (4, 0x1e, lpstr("Alice Example")),
            (8, 0x1e, lpstr("Bob")),
            (12, 0x40, MAY_FIRST.to_le_bytes().to_vec()),
            (13, 0x40, MAY_FIRST.to_le_bytes().to_vec()),
            (14, 3, 3u32.to_le_bytes().to_vec()),
            (18, 0x1e, lpstr("Microsoft Office Word")),
        ])
    }

    /// A Word document with a VBA project holding `modules` (name, procedural, source).
    fn word(modules: &[(&str, bool, &str)]) -> Vec<u8> {
        let mut streams = vec![
            (
                "/WordDocument",
                vec![0xec, 0xa5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            ("/\u{5}SummaryInformation", summary()),
        ];
        if !modules.is_empty() {
            let list: Vec<(&str, bool)> = modules.iter().map(|m| (m.0, m.1)).collect();
            streams.push(("/Macros/VBA/dir", compress(&dir_stream("Project", &list))));
            streams.push(("/Macros/VBA/_VBA_PROJECT", vec![0xcc, 0x61, 0xff, 0xff]));
            streams.push(("/Macros/PROJECT", b"ID=\"{00000000}\"\r\n".to_vec()));
        }
        let names: Vec<String> = modules
            .iter()
            .map(|m| format!("/Macros/VBA/{}", m.0))
            .collect();
        for (m, path) in modules.iter().zip(&names) {
            // 16 bytes of (fake) p-code before the source, as MODULEOFFSET says.
            let mut s = vec![0u8; 16];
            s.extend(compress(m.2.as_bytes()));
            streams.push((path.as_str(), s));
        }
        compound(&streams)
    }

    const DROPPER: &str = "Attribute VB_Name = \"ThisDocument\"\r\n\
        Private Sub Document_Open()\r\n\
        \x20   Dim s\r\n\
        \x20   Set s = CreateObject(\"WScript.Shell\")\r\n\
        \x20   s.Run \"powershell -enc AAAA\"\r\n\
        End Sub\r\n";

    const HARMLESS: &str = "Attribute VB_Name = \"Module1\"\r\n\
        ' Shell is mentioned only in a comment\r\n\
        Sub FormatTable()\r\n\
        \x20   Selection.Font.Bold = True\r\n\
        End Sub\r\n";

    #[test]
    fn decompresses_the_spec_example_and_a_copy_token() {
        // [MS-OVBA] 3.2.1: "abcdefghijklmnopqrstuv." with literal tokens only.
        let packed = b"\x01\x19\xb0\x00abcdefgh\x00ijklmnop\x00qrstuv.";
        assert_eq!(
            decompress(packed, 1 << 20),
            (b"abcdefghijklmnopqrstuv.".to_vec(), None)
        );
        // One literal and one copy token (offset 1, length 9): ten a's.
        let packed = b"\x01\x03\xb0\x02a\x06\x00";
        assert_eq!(decompress(packed, 1 << 20), (b"aaaaaaaaaa".to_vec(), None));
        // The same, cut to a cap of 4.
        let (cut, why) = decompress(packed, 4);
        assert_eq!(cut, b"aaaa");
        assert!(why.unwrap().contains("past 4 bytes"));
        // A raw chunk and a short compressed one round-trip through the test compressor.
        let long: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(decompress(&compress(&long), 1 << 20), (long, None));
    }

    #[test]
    fn bad_compressed_data_gives_partial_output_and_a_reason() {
        // Bad chunk signature bits.
        let (out, why) = decompress(b"\x01\x19\x00\x00abc", 1 << 20);
        assert!(out.is_empty());
        assert!(why.unwrap().contains("bad header"));
        // Wrong container signature.
        assert!(decompress(b"\x02\x19\xb0", 100)
            .1
            .unwrap()
            .contains("signature"));
        // A copy token before anything was decoded.
        assert!(decompress(b"\x01\x02\xb0\x01\x06\x00", 100)
            .1
            .unwrap()
            .contains("before the chunk start"));
        // Truncated inside the chunk: the literals up to the cut are kept.
        let (out, why) = decompress(b"\x01\x19\xb0\x00abcd", 100);
        assert_eq!(out, b"abcd");
        assert!(why.unwrap().contains("truncated"));
        // Truncated inside a copy token and inside a header.
        assert!(decompress(b"\x01\x03\xb0\x02a\x06", 100).1.is_some());
        assert!(decompress(b"\x01\x03", 100).1.is_some());
        assert!(decompress(b"", 100).1.is_some());
    }

    #[test]
    fn summary_information_becomes_document_metadata() {
        let found = run(&word(&[]));
        let doc = &found.metadata["document"];
        assert_eq!(doc["format"], "OLE2");
        assert_eq!(doc["title"], "Quarterly report");
        assert_eq!(doc["author"], "Alice Example");
        assert_eq!(doc["last_author"], "Bob");
        assert_eq!(doc["created"], "2024-05-01T10:00:00Z");
        assert_eq!(doc["modified"], "2024-05-01T10:00:00Z");
        assert_eq!(doc["pages"], 3);
        assert_eq!(doc["application"], "Microsoft Office Word");
        assert_eq!(doc["encrypted"], false);
        assert!(doc.get("macros").is_none());
        assert_eq!(
            found.facts,
            ["It is a Word document by Alice Example, created 2024-05-01."]
        );
        assert!(fired(&found).is_empty());
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn unicode_strings_and_document_summary() {
        let mut wide = (("Contoso".len() + 1) as u32).to_le_bytes().to_vec();
        wide.extend(utf16le("Contoso\0"));
        let mut streams = vec![(
            "/\u{5}DocumentSummaryInformation",
            property_stream(&[(15, 0x1f, wide), (2, 0x1e, lpstr("Finance"))]),
        )];
        streams.push(("/Workbook", vec![0; 64]));
        let found = run(&compound(&streams));
        assert_eq!(found.metadata["document"]["company"], "Contoso");
        assert_eq!(found.metadata["document"]["category"], "Finance");
        assert!(found.facts[0].starts_with("It is an Excel workbook."));
    }

    #[test]
    fn macros_are_listed_and_an_autoexec_launcher_votes() {
        let found = run(&word(&[
            ("ThisDocument", false, DROPPER),
            ("Module1", true, HARMLESS),
        ]));
        let m = &found.metadata["document"]["macros"];
        assert_eq!(m["project"], "Project");
        assert_eq!(m["modules"][0]["name"], "ThisDocument");
        assert_eq!(m["modules"][0]["stream"], "Macros/VBA/ThisDocument");
        assert_eq!(m["modules"][0]["type"], "document/class");
        assert_eq!(m["modules"][0]["source"], DROPPER);
        assert_eq!(m["modules"][1]["type"], "procedural");
        assert_eq!(m["auto_exec"], serde_json::json!(["Document_Open"]));
        assert_eq!(
            m["suspicious_keywords"],
            serde_json::json!(["WScript.Shell", "PowerShell", "CreateObject"])
        );
        assert_eq!(
            fired(&found),
            [
                MACROS.id,
                AUTO_EXEC.id,
                SUSPICIOUS_KEYWORDS.id,
                AUTO_EXEC_LAUNCHER.id
            ]
        );
        assert!(found.tags.contains("macro") && found.tags.contains("macro-autoexec"));
        assert_eq!(
            found.facts[0],
            "It is a Word document by Alice Example, created 2024-05-01, with 2 VBA modules; \
             a macro runs automatically when it opens (Document_Open)."
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn harmless_macros_fire_only_the_info_heuristic() {
        let found = run(&word(&[("Module1", true, HARMLESS)]));
        assert_eq!(fired(&found), [MACROS.id]);
        assert!(found.metadata["document"]["macros"]["suspicious_keywords"]
            .as_array()
            .unwrap()
            .is_empty());
        // Auto-exec alone, with nothing launched, does not vote.
        let opener = "Sub AutoOpen()\r\n MsgBox \"hi\"\r\nEnd Sub\r\n";
        let found = run(&word(&[("Module1", true, opener)]));
        assert_eq!(fired(&found), [MACROS.id, AUTO_EXEC.id]);
        // Launchers without auto-exec do not vote either.
        let launcher = "Sub Go()\r\n Shell \"calc.exe\"\r\nEnd Sub\r\n";
        let found = run(&word(&[("Module1", true, launcher)]));
        assert_eq!(fired(&found), [MACROS.id, SUSPICIOUS_KEYWORDS.id]);
    }

    #[test]
    fn keyword_and_entry_point_matching() {
        assert_eq!(
            auto_exec("Private Sub InkPicture1_Painted(ByVal h As Long)\nSub workbook_open()\n"),
            ["InkPicture1_Painted", "workbook_open"]
        );
        assert!(auto_exec("' Sub AutoOpen()\nSub AutoOpenLater()\n").is_empty());
        let chr: String = (0..12)
            .map(|i| format!("s = s & Chr({})\n", 65 + i))
            .collect();
        assert_eq!(keywords(&chr), ["Chr (12 calls)"]);
        assert_eq!(
            keywords("Private Declare PtrSafe Function X Lib \"kernel32\" ()\nx = ShellX\n"),
            ["Declare ... Lib"]
        );
        assert_eq!(
            keywords("URLDownloadToFileA 0, u, p, 0, 0"),
            ["URLDownloadToFile"]
        );
    }

    #[test]
    fn a_vba_project_bin_on_its_own() {
        let mut streams = vec![(
            "/VBA/dir",
            compress(&dir_stream("VBAProject", &[("Module1", true)])),
        )];
        let mut m = vec![0u8; 16];
        m.extend(compress(b"Sub Auto_Open()\r\nEnd Sub\r\n"));
        streams.push(("/VBA/Module1", m));
        streams.push(("/PROJECT", b"Name=\"VBAProject\"".to_vec()));
        let found = run(&compound(&streams));
        assert_eq!(
            found.metadata["document"]["macros"]["project"],
            "VBAProject"
        );
        assert_eq!(fired(&found), [MACROS.id, AUTO_EXEC.id]);
        assert!(found.facts[0].starts_with("It is a VBA project, with 1 VBA module;"));
    }

    #[test]
    fn damaged_vba_gives_warnings_not_panics() {
        let mut doc = word(&[("ThisDocument", false, DROPPER)]);
        // Swap the module source for a bad chunk header.
        let mut streams = vec![
            (
                "/WordDocument",
                vec![0xec, 0xa5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
            ),
            (
                "/Macros/VBA/dir",
                compress(&dir_stream("P", &[("A", true), ("B", true), ("C", true)])),
            ),
        ];
        streams.push((
            "/Macros/VBA/A",
            [vec![0u8; 16], b"\x01\x00\x00".to_vec()].concat(),
        ));
        streams.push(("/Macros/VBA/B", vec![0u8; 4]));
        let found = run(&compound(&streams));
        let w = warning::texts(found.warnings.clone()).join("\n");
        assert!(w.contains("module A") && w.contains("bad header"), "{w}");
        assert!(w.contains("past the end"), "{w}");
        assert!(w.contains("no stream"), "{w}");
        assert_eq!(found.metadata["document"]["encrypted"], true);
        assert!(found.tags.contains("encrypted"));
        assert_eq!(fired(&found), [ENCRYPTED.id, MACROS.id]);
        // A dir stream cut short.
        let dir = dir_stream("P", &[("A", true)]);
        let cut = compress(&dir[..dir.len() - 30]);
        let found = run(&compound(&[("/VBA/dir", cut)]));
        assert!(found.warnings.iter().any(|w| w.text.contains("dir")));
        // The whole file cut short.
        doc.truncate(1000);
        let mut f = Inspection::default();
        inspect(&doc, &identify(&word(&[]), "x"), &mut f);
        assert!(f.warnings[0].text.starts_with("ole:"));
    }

    #[test]
    fn bad_property_sets_give_warnings() {
        let mut s = summary();
        // Property set offset past the end.
        s[44..48].copy_from_slice(&9999u32.to_le_bytes());
        let found = run(&compound(&[
            ("/WordDocument", vec![0; 12]),
            ("/\u{5}SummaryInformation", s),
        ]));
        assert!(
            found.warnings[0].text.contains("past its end"),
            "{:?}",
            found.warnings
        );
        // A property whose offset points outside, one string whose size lies, a cut table.
        let mut s = summary();
        s[48 + 12..48 + 16].copy_from_slice(&70_000u32.to_le_bytes());
        let len = s.len();
        s.truncate(len - 20);
        let found = run(&compound(&[
            ("/WordDocument", vec![0; 12]),
            ("/\u{5}SummaryInformation", s),
        ]));
        assert!(
            found.warnings.iter().any(|w| w.text.contains("outside")),
            "{:?}",
            found.warnings
        );
        for cut in [0, 1, 10, 30, 50, 60] {
            let found = run(&compound(&[
                ("/WordDocument", vec![0; 12]),
                ("/\u{5}SummaryInformation", summary()[..cut].to_vec()),
            ]));
            assert!(!found.warnings.is_empty(), "cut at {cut}");
        }
    }
}
