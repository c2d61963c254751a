//! Office Open XML and OpenDocument files (`metadata.document`): the document properties
//! (ECMA-376 Part 2 11 core properties in `docProps/core.xml`, Part 1 22.2 extended properties
//! in `docProps/app.xml`; ODF 1.2 `meta.xml`), whether a VBA project is inside (the
//! `vbaProject.bin` part itself reaches the OLE2 inspector as a child), the relationships that
//! point outside the package (ECMA-376 Part 2 9.3, `TargetMode="External"`), and DDE fields
//! (Word field instructions in `w:instrText` and `w:fldSimple`, Excel `ddeLink`s).
//!
//! The XML is searched, not parsed: the few elements and attributes read here are found by
//! name, which also works on the malformed XML that Office tolerates.

use std::io::{Cursor, Read};

use memchr::memmem;
use serde::Serialize;

use super::{suspicious, Heuristic, Inspection, Properties};
use crate::analysis::formats::{self, Members};
use crate::analysis::identify::{FileKind, Format, OfficeDoc};
use crate::analysis::warning::Problem;

/// Most ZIP entries looked at.
const MAX_ENTRIES: usize = 10_000;
/// Most bytes of one XML part read.
const MAX_PART: u64 = 16 * 1024 * 1024;
/// Most bytes of XML read from all parts together.
const MAX_TOTAL: u64 = 128 * 1024 * 1024;
/// Most external relationships and DDE fields listed.
const MAX_LISTED: usize = 256;
/// Longest property or field text kept, in characters.
const MAX_TEXT: usize = 4096;

/// Relationship types (the last segment of the type URI) whose external target Word fetches
/// when the document opens.
const FETCHED_TYPES: &[&str] = &["attachedTemplate", "oleObject", "frame", "subDocument"];

/// What a DDE field runs when it names one of these (lower case).
const COMMAND_WORDS: &[&str] = &[
    "cmd",
    "powershell",
    "mshta",
    "rundll32",
    "regsvr32",
    "wscript",
    "cscript",
    "certutil",
    "bitsadmin",
    "msiexec",
    ".exe",
];

pub const MACROS: &Heuristic = &Heuristic {
    id: "doc-ooxml-vba-project",
    priority: 2,
    category: "execution",
    description: "The document package holds a VBA project (vbaProject.bin) or Basic macros.",
    verdict: None,
};

pub const REMOTE_TEMPLATE: &Heuristic = &Heuristic {
    id: "doc-remote-template",
    priority: 7,
    category: "execution",
    description: "The document has an external relationship that Office fetches from the \
                  network when the document opens (an attached template, OLE object or frame \
                  at an http(s) or UNC address): remote template injection, used to load \
                  macros or exploits past mail filters.",
    verdict: suspicious(6, "Document.Suspicious.RemoteTemplate"),
};

pub const DDE: &Heuristic = &Heuristic {
    id: "doc-dde-field",
    priority: 4,
    category: "execution",
    description: "The document has a DDE field or link, which asks Office to start another \
                  application and exchange data with it.",
    verdict: None,
};

pub const DDE_COMMAND: &Heuristic = &Heuristic {
    id: "doc-dde-command",
    priority: 8,
    category: "execution",
    description: "A DDE field or link in the document starts a command interpreter or program \
                  (cmd, PowerShell, mshta...): code execution without macros.",
    verdict: suspicious(6, "Document.Suspicious.DDE"),
};

#[derive(Serialize, Debug, PartialEq)]
struct Relationship {
    /// The `.rels` part that declares it.
    part: String,
    /// The last segment of the relationship type URI, e.g. `attachedTemplate`, `hyperlink`.
    #[serde(rename = "type")]
    kind: String,
    target: String,
}

#[derive(Serialize, Default)]
struct Document {
    format: &'static str,
    #[serde(flatten)]
    properties: Properties,
    has_macros: bool,
    external_relationships: Vec<Relationship>,
    dde: Vec<String>,
}

/// Decodes the five predefined XML entities and character references.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn bounded(s: &str) -> Option<String> {
    let s: String = unescape(s.trim()).chars().take(MAX_TEXT).collect();
    (!s.is_empty()).then_some(s)
}

/// The text content of the first element named `tag` (qualified name, e.g. `dc:title`).
fn element(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}");
    let mut from = 0;
    while let Some(at) = xml[from..].find(&open).map(|i| from + i) {
        let after = at + open.len();
        from = after;
        // `<dc:title>` or `<dc:title xml:lang="en">`, not `<dc:titles>`.
        if !xml[after..].starts_with(['>', ' ', '\t', '\r', '\n', '/']) {
            continue;
        }
        let body = after + xml[after..].find('>')? + 1;
        if xml[..body].ends_with("/>") {
            return None;
        }
        let end = xml[body..].find(&format!("</{tag}>"))?;
        return bounded(&xml[body..body + end]);
    }
    None
}

/// The value of attribute `name` in an element's start tag text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = tag[from..].find(name).map(|i| from + i) {
        from = at + name.len();
        let before_ok = at == 0 || tag.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = tag[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        if !before_ok {
            continue;
        }
        let rest = rest.trim_start();
        let quote = rest.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let end = rest[1..].find(quote)?;
        return Some(unescape(&rest[1..1 + end]));
    }
    None
}

/// The start tags of every element named `tag`.
fn start_tags<'x>(xml: &'x str, tag: &'x str) -> impl Iterator<Item = &'x str> + 'x {
    let open = format!("<{tag}");
    let mut from = 0;
    std::iter::from_fn(move || loop {
        let at = from + xml[from..].find(&open)?;
        let after = at + open.len();
        from = after;
        if !xml[after..].starts_with([' ', '\t', '\r', '\n', '/', '>']) {
            continue;
        }
        let end = after + xml[after..].find('>').unwrap_or(xml.len() - after);
        from = end;
        return Some(&xml[after..end]);
    })
}

/// Core properties (`docProps/core.xml`).
fn core(xml: &str, doc: &mut Properties) {
    doc.title = element(xml, "dc:title");
    doc.subject = element(xml, "dc:subject");
    doc.author = element(xml, "dc:creator");
    doc.keywords = element(xml, "cp:keywords");
    doc.comments = element(xml, "dc:description");
    doc.last_author = element(xml, "cp:lastModifiedBy");
    doc.revision = element(xml, "cp:revision");
    doc.category = element(xml, "cp:category");
    doc.created = element(xml, "dcterms:created");
    doc.modified = element(xml, "dcterms:modified");
    doc.last_printed = element(xml, "cp:lastPrinted");
}

/// Extended properties (`docProps/app.xml`; the elements are in the default namespace).
fn app(xml: &str, doc: &mut Properties) {
    doc.application = element(xml, "Application");
    doc.company = element(xml, "Company");
    doc.manager = element(xml, "Manager");
    doc.template = element(xml, "Template");
    let int = |tag| element(xml, tag).and_then(|v| v.parse().ok());
    doc.pages = int("Pages").or_else(|| int("Slides"));
    doc.words = int("Words");
    doc.characters = int("Characters");
}

/// OpenDocument metadata (`meta.xml`).
fn odf_meta(xml: &str, doc: &mut Properties) {
    doc.title = element(xml, "dc:title");
    doc.subject = element(xml, "dc:subject");
    doc.author = element(xml, "meta:initial-creator");
    doc.last_author = element(xml, "dc:creator");
    doc.keywords = element(xml, "meta:keyword");
    doc.comments = element(xml, "dc:description");
    doc.created = element(xml, "meta:creation-date");
    doc.modified = element(xml, "dc:date");
    doc.application = element(xml, "meta:generator");
    if let Some(stats) = start_tags(xml, "meta:document-statistic").next() {
        let int = |a| attribute(stats, a).and_then(|v| v.parse().ok());
        doc.pages = int("meta:page-count");
        doc.words = int("meta:word-count");
        doc.characters = int("meta:character-count");
    }
}

/// External relationships of one `.rels` part.
fn relationships(part: &str, xml: &str, doc: &mut Document) {
    for tag in start_tags(xml, "Relationship") {
        let external = attribute(tag, "TargetMode").is_some_and(|m| m == "External");
        if !external || doc.external_relationships.len() >= MAX_LISTED {
            continue;
        }
        let kind = attribute(tag, "Type").unwrap_or_default();
        let kind = kind.rsplit('/').next().unwrap_or("").to_string();
        let target: String = attribute(tag, "Target")
            .unwrap_or_default()
            .chars()
            .take(MAX_TEXT)
            .collect();
        doc.external_relationships.push(Relationship {
            part: part.to_string(),
            kind,
            target,
        });
    }
}

/// Field instructions of a WordprocessingML part: `w:fldSimple/@w:instr`, and the
/// `w:instrText` runs between each `w:fldChar begin` and the next (a field's instruction is
/// split across runs, which hides `DDEAUTO` from a plain search).
fn field_instructions(xml: &str) -> Vec<String> {
    let mut fields = Vec::new();
    for tag in start_tags(xml, "w:fldSimple") {
        if let Some(instr) = attribute(tag, "w:instr") {
            fields.push(instr);
        }
    }
    let mut current: Option<String> = None;
    let mut pos = 0;
    while let Some(at) = xml[pos..].find('<').map(|i| pos + i) {
        pos = at + 1;
        let rest = &xml[at..];
        if rest.starts_with("<w:fldChar") {
            let end = rest.find('>').unwrap_or(rest.len());
            match attribute(&rest[..end], "w:fldCharType").as_deref() {
                Some("begin") => {
                    if let Some(f) = current.replace(String::new()) {
                        fields.push(f);
                    }
                }
                Some("separate") | Some("end") => {
                    if let Some(f) = current.take() {
                        fields.push(f);
                    }
                }
                _ => {}
            }
        } else if rest.starts_with("<w:instrText") {
            let Some(open_end) = rest.find('>') else {
                break;
            };
            if rest[..open_end].ends_with('/') {
                continue;
            }
            let body = &rest[open_end + 1..];
            let Some(close) = body.find("</w:instrText>") else {
                break;
            };
            let text = unescape(&body[..close]);
            match current.as_mut() {
                Some(f) if f.len() < MAX_TEXT => f.push_str(&text),
                Some(_) => {}
                None => fields.push(text),
            }
        }
    }
    if let Some(f) = current {
        fields.push(f);
    }
    fields
        .into_iter()
        .map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|f| !f.is_empty())
        .collect()
}

/// Whether a field instruction is a DDE field.
fn is_dde(instr: &str) -> bool {
    let upper = instr.trim_start().to_ascii_uppercase();
    upper.starts_with("DDE ") || upper.starts_with("DDEAUTO") || upper == "DDE"
}

/// Excel DDE links (`xl/externalLinks/*.xml`): service and topic, as `service|topic`.
fn dde_links(xml: &str) -> Vec<String> {
    start_tags(xml, "ddeLink")
        .map(|tag| {
            format!(
                "{}|{}",
                attribute(tag, "ddeService").unwrap_or_default(),
                attribute(tag, "ddeTopic").unwrap_or_default()
            )
        })
        .collect()
}

/// Whether a DDE field or link starts a program.
fn runs_command(dde: &str) -> bool {
    let lower = dde.to_ascii_lowercase();
    COMMAND_WORDS.iter().any(|w| {
        memmem::find_iter(lower.as_bytes(), w.as_bytes()).any(|at| {
            let before = at
                .checked_sub(1)
                .and_then(|i| lower.as_bytes().get(i))
                .copied();
            // `cmd` as a word or path end (`c:\windows\system32\cmd.exe`), not `xcmdy`.
            w.starts_with('.') || !before.is_some_and(|b| b.is_ascii_alphanumeric())
        })
    })
}

/// Whether a relationship target is fetched from the network.
fn remote(target: &str) -> bool {
    let t = target.trim().to_ascii_lowercase();
    t.starts_with("http://")
        || t.starts_with("https://")
        || t.starts_with("\\\\")
        || t.starts_with("file://\\\\")
        || t.starts_with("mhtml:")
        || t.contains("://") && !t.starts_with("file:///")
}

pub fn inspect(data: &[u8], kind: &FileKind, found: &mut Inspection) {
    match formats::zip::open(data) {
        Ok(mut zip) => describe(&mut zip, kind, found),
        Err(e) => found.warn(Problem::Corrupt, unreadable(&e)),
    }
}

/// [`inspect`] and `formats::zip::unpack` over one open of the package: the walk calls this when
/// the file is unpacked too (see `analysis::registry`).
pub fn inspect_and_unpack<'a>(
    data: &'a [u8],
    kind: &FileKind,
    found: &mut Inspection,
    out: &mut Members<'a>,
) {
    let mut opened = formats::zip::open(data);
    match &mut opened {
        Ok(zip) => describe(zip, kind, found),
        Err(e) => found.warn(Problem::Corrupt, unreadable(e)),
    }
    formats::zip::unpack_opened(data, opened, out);
}

fn unreadable(e: &zip::result::ZipError) -> String {
    format!("ooxml: the package is unreadable ({e})")
}

/// The description of a package already opened.
fn describe(zip: &mut formats::zip::Archive, kind: &FileKind, found: &mut Inspection) {
    let names: Vec<String> = zip
        .file_names()
        .take(MAX_ENTRIES)
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    let odf = names.iter().any(|n| n == "mimetype") && names.iter().any(|n| n == "content.xml");
    let mut doc = Document {
        format: if odf { "ODF" } else { "OOXML" },
        ..Document::default()
    };
    doc.has_macros = names.iter().any(|n| {
        let lower = n.to_ascii_lowercase();
        lower.ends_with("vbaproject.bin")
            || (odf && lower.starts_with("basic/") && n.ends_with(".xml"))
    });
    let mut budget = MAX_TOTAL;
    let mut read = |zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
                    name: &str,
                    found: &mut Inspection|
     -> Option<String> {
        let file = match zip.by_name(name) {
            Ok(f) => f,
            Err(e) => {
                found.warn(
                    Problem::Corrupt,
                    format!("ooxml: part {name} is unreadable ({e})"),
                );
                return None;
            }
        };
        let mut bytes = Vec::new();
        let cap = MAX_PART.min(budget);
        if let Err(e) = file.take(cap).read_to_end(&mut bytes) {
            found.warn(
                Problem::Corrupt,
                format!("ooxml: part {name} is corrupt ({e}); read in part"),
            );
        }
        budget = budget.saturating_sub(bytes.len() as u64);
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let mut dde = Vec::new();
    for name in &names {
        let lower = name.to_ascii_lowercase();
        if lower == "docprops/core.xml" {
            if let Some(xml) = read(zip, name, found) {
                core(&xml, &mut doc.properties);
            }
        } else if lower == "docprops/app.xml" {
            if let Some(xml) = read(zip, name, found) {
                app(&xml, &mut doc.properties);
            }
        } else if odf && lower == "meta.xml" {
            if let Some(xml) = read(zip, name, found) {
                odf_meta(&xml, &mut doc.properties);
            }
        } else if lower.ends_with(".rels") {
            if let Some(xml) = read(zip, name, found) {
                relationships(name, &xml, &mut doc);
            }
        } else if lower.starts_with("word/") && lower.ends_with(".xml") {
            if let Some(xml) = read(zip, name, found) {
                dde.extend(field_instructions(&xml).into_iter().filter(|f| is_dde(f)));
            }
        } else if lower.starts_with("xl/externallinks/") && lower.ends_with(".xml") {
            if let Some(xml) = read(zip, name, found) {
                dde.extend(dde_links(&xml));
            }
        }
    }
    if budget == 0 {
        found.warn(
            Problem::Capped,
            format!("ooxml: the XML parts pass {MAX_TOTAL} bytes: the rest were not read"),
        );
    }
    doc.dde = dde
        .into_iter()
        .map(|d| d.chars().take(MAX_TEXT).collect())
        .take(MAX_LISTED)
        .collect();

    if doc.has_macros {
        found.tag("macro");
        found.fire(
            MACROS,
            vec!["the package has a VBA project part".to_string()],
        );
    }
    let injected: Vec<String> = doc
        .external_relationships
        .iter()
        .filter(|r| FETCHED_TYPES.contains(&r.kind.as_str()) && remote(&r.target))
        .map(|r| format!("{} -> {} ({})", r.part, r.target, r.kind))
        .collect();
    if !injected.is_empty() {
        found.tag("remote-template");
        found.fire(REMOTE_TEMPLATE, injected.clone());
    }
    if !doc.dde.is_empty() {
        found.tag("dde");
        found.fire(DDE, doc.dde.clone());
        let commands: Vec<String> = doc
            .dde
            .iter()
            .filter(|d| runs_command(d))
            .cloned()
            .collect();
        if !commands.is_empty() {
            found.fire(DDE_COMMAND, commands);
        }
    }

    let doc_kind = match kind.format {
        Format::OfficeZip { doc, .. } => Some(doc),
        _ => None,
    };
    let what = match (doc_kind, odf) {
        (Some(OfficeDoc::Word), false) => "a Word document",
        (Some(OfficeDoc::Excel), false) => "an Excel workbook",
        (Some(OfficeDoc::PowerPoint), false) => "a PowerPoint presentation",
        (Some(OfficeDoc::Word), true) => "an OpenDocument text",
        (Some(OfficeDoc::Excel), true) => "an OpenDocument spreadsheet",
        (Some(OfficeDoc::PowerPoint), true) => "an OpenDocument presentation",
        _ => "an Office document",
    };
    let mut fact = format!("It is {what}");
    fact.push_str(&doc.properties.byline());
    if doc.has_macros {
        fact.push_str(", with macros");
    }
    fact.push('.');
    found.facts.push(fact);
    if let Some(first) = injected.first() {
        found.facts.push(format!(
            "It fetches content from the network when opened ({first})."
        ));
    }
    if let Some(first) = doc.dde.first() {
        found.facts.push(format!("It has a DDE field: {first}."));
    }
    if let Ok(value) = serde_json::to_value(&doc) {
        found.set_metadata(&["document"], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::identify::identify;
    use crate::analysis::inspect::testing::{self, fired};
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn run(data: &[u8]) -> Inspection {
        testing::run(|f| matches!(f, Format::OfficeZip { .. }), inspect, data)
    }

    fn package(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in parts {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const CORE: &str = r#"<?xml version="1.0"?><cp:coreProperties xmlns:cp="x" xmlns:dc="y">
        <dc:title>Plan &amp; budget</dc:title><dc:creator>Alice Example</dc:creator>
        <cp:lastModifiedBy>Bob</cp:lastModifiedBy><cp:revision>3</cp:revision>
        <dcterms:created xsi:type="dcterms:W3CDTF">2024-05-01T10:00:00Z</dcterms:created>
        </cp:coreProperties>"#;
    const APP: &str = "<Properties><Template>Normal.dotm</Template><Pages>2</Pages>\
        <Words>120</Words><Application>Microsoft Office Word</Application>\
        <Company>Contoso</Company></Properties>";

    fn docx(rels: &str, document: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut parts = vec![
            ("[Content_Types].xml", "<Types/>"),
            ("_rels/.rels", "<Relationships/>"),
            ("docProps/core.xml", CORE),
            ("docProps/app.xml", APP),
            ("word/document.xml", document),
            ("word/_rels/settings.xml.rels", rels),
        ];
        parts.extend_from_slice(extra);
        package(&parts)
    }

    const LOCAL_TEMPLATE: &str = r#"<Relationships><Relationship Id="rId1"
        Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate"
        Target="file:///C:\Users\a\Normal.dotm" TargetMode="External"/>
        <Relationship Id="rId2" Type="http://x/hyperlink" Target="https://example.com/"
        TargetMode="External"/></Relationships>"#;
    const REMOTE: &str = r#"<Relationships><Relationship Id="rId1"
        Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate"
        Target="https://evil.test/t.dotm?a=1&amp;b=2" TargetMode="External"/></Relationships>"#;
    const PLAIN_BODY: &str = "<w:document><w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p>\
        <w:fldSimple w:instr=\" PAGE \"/></w:body></w:document>";
    const DDE_BODY: &str = "<w:document><w:body><w:p>\
        <w:r><w:fldChar w:fldCharType=\"begin\"/></w:r>\
        <w:r><w:instrText xml:space=\"preserve\">DDE</w:instrText></w:r>\
        <w:r><w:instrText>AUTO c:\\\\windows\\\\system32\\\\cmd.exe \"/k calc\"</w:instrText></w:r>\
        <w:r><w:fldChar w:fldCharType=\"end\"/></w:r></w:p></w:body></w:document>";

    #[test]
    fn properties_and_a_clean_twin() {
        let found = run(&docx(LOCAL_TEMPLATE, PLAIN_BODY, &[]));
        let doc = &found.metadata["document"];
        assert_eq!(doc["format"], "OOXML");
        assert_eq!(doc["title"], "Plan & budget");
        assert_eq!(doc["author"], "Alice Example");
        assert_eq!(doc["last_author"], "Bob");
        assert_eq!(doc["revision"], "3");
        assert_eq!(doc["created"], "2024-05-01T10:00:00Z");
        assert_eq!(doc["pages"], 2);
        assert_eq!(doc["words"], 120);
        assert_eq!(doc["company"], "Contoso");
        assert_eq!(doc["template"], "Normal.dotm");
        assert_eq!(doc["has_macros"], false);
        assert_eq!(doc["external_relationships"].as_array().unwrap().len(), 2);
        assert_eq!(doc["external_relationships"][0]["type"], "attachedTemplate");
        assert_eq!(doc["dde"], serde_json::json!([]));
        assert!(fired(&found).is_empty(), "{:?}", fired(&found));
        assert_eq!(
            found.facts,
            ["It is a Word document by Alice Example, created 2024-05-01."]
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn remote_template_votes() {
        let found = run(&docx(REMOTE, PLAIN_BODY, &[]));
        assert_eq!(fired(&found), [REMOTE_TEMPLATE.id]);
        assert!(found.findings[0].reasons[0].contains("https://evil.test/t.dotm?a=1&b=2"));
        assert!(found.tags.contains("remote-template"));
        assert!(found.facts[1].contains("network"));
    }

    #[test]
    fn dde_fields_split_across_runs_are_found() {
        let found = run(&docx(LOCAL_TEMPLATE, DDE_BODY, &[]));
        assert_eq!(
            found.metadata["document"]["dde"][0],
            "DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe \"/k calc\""
        );
        assert_eq!(fired(&found), [DDE.id, DDE_COMMAND.id]);
        assert!(found.tags.contains("dde"));
        // A DDE link to Excel data, with no command, is only noted.
        let body = DDE_BODY.replace(
            "AUTO c:\\\\windows\\\\system32\\\\cmd.exe \"/k calc\"",
            " Excel \"C:\\\\data.xlsx\" \"Sheet1!R1C1\"",
        );
        let found = run(&docx(LOCAL_TEMPLATE, &body, &[]));
        assert_eq!(fired(&found), [DDE.id]);
    }

    #[test]
    fn excel_dde_links_and_macros() {
        let xlsx = package(&[
            ("[Content_Types].xml", "<Types/>"),
            ("xl/workbook.xml", "<workbook/>"),
            ("xl/vbaProject.bin", "not really"),
            (
                "xl/externalLinks/externalLink1.xml",
                "<externalLink><ddeLink ddeService=\"cmd\" ddeTopic=\"/c calc.exe\"/></externalLink>",
            ),
        ]);
        let found = run(&xlsx);
        assert_eq!(found.metadata["document"]["dde"][0], "cmd|/c calc.exe");
        assert_eq!(found.metadata["document"]["has_macros"], true);
        assert_eq!(fired(&found), [MACROS.id, DDE.id, DDE_COMMAND.id]);
        assert!(found.facts[0].starts_with("It is an Excel workbook, with macros."));
    }

    #[test]
    fn opendocument_meta() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("mimetype", stored).unwrap();
        w.write_all(b"application/vnd.oasis.opendocument.text")
            .unwrap();
        for (name, body) in [
            ("content.xml", "<office:document-content/>"),
            (
                "meta.xml",
                "<office:meta><meta:initial-creator>Carol</meta:initial-creator>\
                 <meta:creation-date>2023-01-02T03:04:05</meta:creation-date>\
                 <meta:document-statistic meta:page-count=\"4\" meta:word-count=\"99\"/>\
                 <meta:generator>LibreOffice/7.0</meta:generator></office:meta>",
            ),
        ] {
            w.start_file(name, SimpleFileOptions::default()).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        let found = run(&w.finish().unwrap().into_inner());
        let doc = &found.metadata["document"];
        assert_eq!(doc["format"], "ODF");
        assert_eq!(doc["author"], "Carol");
        assert_eq!(doc["pages"], 4);
        assert_eq!(doc["application"], "LibreOffice/7.0");
        assert!(found.facts[0].starts_with("It is an OpenDocument text by Carol"));
    }

    #[test]
    fn broken_packages_give_warnings() {
        let good = docx(REMOTE, DDE_BODY, &[]);
        let kind = identify(&good, "x");
        for cut in [10, 100, good.len() / 2, good.len() - 10] {
            let mut f = Inspection::default();
            inspect(&good[..cut], &kind, &mut f);
            assert!(
                !f.warnings.is_empty() || !f.findings.is_empty(),
                "cut at {cut}"
            );
        }
        // Malformed XML: unterminated tags and attributes.
        let found = run(&docx(
            "<Relationship TargetMode=\"External\" Target=\"http://x",
            "<w:fldChar w:fldCharType=\"begin\"/><w:instrText>DDEAUTO cmd",
            &[],
        ));
        assert!(found.metadata["document"]["dde"]
            .as_array()
            .unwrap()
            .is_empty());
        assert_eq!(unescape("a &lt;&#65;&#x42;&bogus; &"), "a <AB&bogus; &");
        assert_eq!(element("<a><dc:titles>x</dc:titles></a>", "dc:title"), None);
    }
}
