//! RTF documents (`metadata.document.rtf_objects`): the embedded OLE objects, one per
//! `\objdata` destination (RTF 1.9.1 "Objects": `\object`, `\objclass`, `\objupdate`,
//! `\objdata`, `\bin`), with the OLE1 header inside ([MS-OLEDS] 2.2.4 ObjectHeader, 2.2.5
//! EmbeddedObject) and, for an OLE Package, the name of the file it carries. The objects are
//! found, decoded and parsed by `formats::rtf` (the one parse, which also extracts them); this
//! module describes them and raises the RTF heuristics.

use serde::Serialize;

use super::{suspicious, Heuristic, Inspection};
use crate::analysis::formats::{ole1, rtf};
use crate::analysis::identify::FileKind;
use crate::analysis::policy;
use crate::analysis::warning::Problem;

/// Most objects listed.
const MAX_OBJECTS: usize = 1000;
/// Most bytes of an object decoded to read its OLE1 header and package names.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How far before `\objdata` the object's `\object` and `\objclass` are looked for.
const MAX_LOOKBACK: usize = 64 * 1024;
/// Longest class or file name kept.
const MAX_NAME: usize = 1024;

pub const OBJECT: &Heuristic = &Heuristic {
    id: "rtf-embedded-object",
    priority: 2,
    category: "anomaly",
    description: "The RTF document embeds OLE objects.",
    verdict: None,
};

pub const EQUATION_EDITOR: &Heuristic = &Heuristic {
    id: "rtf-equation-editor-object",
    priority: 8,
    category: "execution",
    description: "The RTF document embeds an Equation Editor 3.0 object (Equation.3), whose \
                  parser has memory-corruption flaws exploited in the wild (CVE-2017-11882, \
                  CVE-2018-0802); Office dropped the component in 2018.",
    verdict: suspicious(6, "Document.Suspicious.EquationEditor"),
};

pub const PACKAGE: &Heuristic = &Heuristic {
    id: "rtf-ole-package",
    priority: 4,
    category: "execution",
    description: "The RTF document embeds a file through an OLE Package object; the user is \
                  one double-click away from opening it.",
    verdict: None,
};

pub const PACKAGED_EXECUTABLE: &Heuristic = &Heuristic {
    id: "rtf-packaged-executable",
    priority: 7,
    category: "execution",
    description: "An OLE Package object in the RTF document carries a program or script \
                  (.exe, .js, .vbs, .hta, .sct and the like).",
    verdict: suspicious(5, "Document.Suspicious.EmbeddedExecutable"),
};

#[derive(Serialize, Debug, Default, PartialEq)]
struct Package {
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temp_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u32>,
}

#[derive(Serialize, Debug, Default)]
struct Object {
    /// Offset of the `\objdata` control word.
    offset: usize,
    /// The `\objclass` text, as the RTF claims it.
    #[serde(skip_serializing_if = "Option::is_none")]
    objclass: Option<String>,
    /// The class in the OLE1 header, which is what Word activates.
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<String>,
    /// `embedded`, `linked`, or `raw` when the data is not an OLE1 object.
    format: &'static str,
    /// Decoded bytes of the objdata.
    size: usize,
    /// `\objupdate`: Word loads the object when the document opens.
    auto_update: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<Package>,
}

#[derive(Serialize)]
struct Document {
    format: &'static str,
    rtf_objects: Vec<Object>,
}

fn name(bytes: &[u8]) -> Option<String> {
    let s: String = String::from_utf8_lossy(bytes)
        .trim()
        .chars()
        .take(MAX_NAME)
        .collect();
    (!s.is_empty()).then_some(s)
}

/// Describes the OLE1 object (and package) in a decoded objdata into `obj`.
fn ole1(decoded: &[u8], obj: &mut Object, index: usize, found: &mut Inspection) {
    let Some(o) = ole1::Ole1::parse(decoded) else {
        obj.format = "raw";
        return;
    };
    obj.class = name(o.class);
    if o.linked {
        obj.format = "linked";
        return;
    }
    obj.format = "embedded";
    if !obj
        .class
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("package"))
    {
        return;
    }
    if o.declared.is_none() {
        found.warn(
            Problem::Truncated,
            format!("rtf: object {index}: the OLE1 header of its Package ends early"),
        );
        return;
    }
    obj.package = Some(match ole1::Package::parse(o.native) {
        Ok(p) => Package {
            label: name(p.label),
            source_path: name(p.source),
            temp_path: name(p.temp),
            size: Some(p.declared),
        },
        Err(what) => {
            found.warn(
                Problem::Truncated,
                format!(
                    "rtf: object {index}: its Package data is truncated: the package {what} \
                 (read up to {} bytes)",
                    decoded.len()
                ),
            );
            Package::default()
        }
    });
}

/// The `\objclass` text and the `\object` control words between `from` and `to`.
fn object_words(data: &[u8], from: usize, to: usize) -> (Option<String>, bool) {
    let window = &data[from..to];
    let class = rtf::find_word(window, b"\\objclass", 0).map(|(_, end)| {
        let rest = &window[end..];
        let len = rest
            .iter()
            .position(|&b| b == b'}' || b == b'\\' || b == b'{')
            .unwrap_or(rest.len());
        name(&rest[..len])
    });
    let update = rtf::find_word(window, b"\\objupdate", 0).is_some();
    (class.flatten(), update)
}

/// The extension of a file name or Windows path, lower case.
fn extension(path: &str) -> Option<String> {
    let base = path.rsplit(['\\', '/']).next()?;
    Some(base.rsplit_once('.')?.1.trim().to_ascii_lowercase())
}

pub fn inspect(data: &[u8], _kind: &FileKind, found: &mut Inspection) {
    let mut objects: Vec<Object> = Vec::new();
    let mut pos = 0usize;
    let mut previous_end = 0usize;
    while let Some((at, start)) = rtf::find_objdata(data, pos) {
        if objects.len() >= MAX_OBJECTS {
            found.warn(
                Problem::Capped,
                format!("rtf: more than {MAX_OBJECTS} objects: the rest were not listed"),
            );
            break;
        }
        let index = objects.len() + 1;
        // Only the start of the data is kept: the OLE1 header and the package's names.
        let keep = MAX_HEADER_BYTES as u64;
        let Some(decoded) = rtf::decode(data, at, start, keep, true, &mut || false) else {
            break;
        };
        if !decoded.closed {
            found.warn(
                Problem::Truncated,
                format!("rtf: object {index}: the group holding its objdata is not closed"),
            );
        }
        // The object's own control words come before its data, within its group.
        let from = previous_end.max(at.saturating_sub(MAX_LOOKBACK));
        let (objclass, auto_update) = object_words(data, from, at);
        let mut obj = Object {
            offset: at,
            objclass,
            size: usize::try_from(decoded.size).unwrap_or(usize::MAX),
            auto_update,
            format: "raw",
            ..Object::default()
        };
        ole1(&decoded.bytes, &mut obj, index, found);
        objects.push(obj);
        pos = decoded.end.max(at + 1);
        previous_end = pos;
    }
    if !data.starts_with(b"{\\rt") {
        found.warn(Problem::Corrupt, "rtf: the file does not start with {\\rtf");
    }

    if !objects.is_empty() {
        found.tag("rtf-object");
        let classes: Vec<String> = objects
            .iter()
            .map(|o| {
                o.class
                    .clone()
                    .or_else(|| o.objclass.clone())
                    .unwrap_or_else(|| "unknown class".to_string())
            })
            .collect();
        found.fire(
            OBJECT,
            vec![format!(
                "{} object(s): {}",
                objects.len(),
                classes.join(", ")
            )],
        );
    }
    let equations: Vec<String> = objects
        .iter()
        .filter(|o| {
            [&o.class, &o.objclass].iter().any(|c| {
                c.as_deref()
                    .is_some_and(|c| c.to_ascii_lowercase().starts_with("equation.3"))
            })
        })
        .map(|o| format!("Equation.3 object at offset {}", o.offset))
        .collect();
    if !equations.is_empty() {
        found.tag("cve-2017-11882");
        found.fire(EQUATION_EDITOR, equations);
    }
    let packages: Vec<(&Object, String)> = objects
        .iter()
        .filter_map(|o| {
            let p = o.package.as_ref()?;
            let shown = p
                .label
                .clone()
                .or_else(|| p.temp_path.clone())
                .or_else(|| p.source_path.clone())
                .unwrap_or_else(|| "(unnamed)".to_string());
            Some((o, shown))
        })
        .collect();
    if !packages.is_empty() {
        found.tag("ole-package");
        found.fire(
            PACKAGE,
            packages
                .iter()
                .map(|(_, n)| format!("package {n}"))
                .collect(),
        );
    }
    let executables: Vec<String> = packages
        .iter()
        .filter_map(|(o, shown)| {
            let p = o.package.as_ref()?;
            let hit = [&p.label, &p.temp_path, &p.source_path]
                .iter()
                .filter_map(|n| n.as_deref().and_then(extension))
                .find(|e| policy::is_executable_extension(e))?;
            Some(format!("package {shown} is a .{hit} file"))
        })
        .collect();
    if !executables.is_empty() {
        found.fire(PACKAGED_EXECUTABLE, executables);
    }

    let fact = match objects.len() {
        0 => "It is an RTF document with no embedded objects.".to_string(),
        n => {
            let mut classes: Vec<&str> = objects
                .iter()
                .filter_map(|o| o.class.as_deref().or(o.objclass.as_deref()))
                .collect();
            classes.dedup();
            format!(
                "It is an RTF document with {n} embedded object{}{}.",
                if n == 1 { "" } else { "s" },
                if classes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", classes.join(", "))
                }
            )
        }
    };
    found.facts.push(fact);
    let doc = Document {
        format: "RTF",
        rtf_objects: objects,
    };
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
    use crate::analysis::warning;

    fn run(data: &[u8]) -> Inspection {
        testing::run(|f| f == Format::Rtf, inspect, data)
    }

    fn package(label: &[u8], content: &[u8]) -> Vec<u8> {
        let temp = [b"C:\\Temp\\".as_slice(), label].concat();
        ole1::tests::package(label, &temp, content)
    }

    fn rtf(objects: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut s = String::from("{\\rtf1\\ansi Hello ");
        for (class, data) in objects {
            s.push_str(&format!(
                "{{\\object\\objemb\\objupdate{{\\*\\objclass {class}}}\\objw100\\objh100\
                 {{\\*\\objdata {}}}}}",
                rtf::tests::hex(data)
            ));
        }
        s.push('}');
        s.into_bytes()
    }

    #[test]
    fn a_plain_rtf_has_no_objects() {
        let found = run(b"{\\rtf1\\ansi Hello \\\\objdata is text}");
        assert_eq!(
            found.metadata["document"]["rtf_objects"],
            serde_json::json!([])
        );
        assert!(fired(&found).is_empty());
        assert_eq!(
            found.facts,
            ["It is an RTF document with no embedded objects."]
        );
    }

    #[test]
    fn equation_objects_vote_and_other_classes_do_not() {
        let found = run(&rtf(&[(
            "Equation.3",
            ole1::tests::ole1(b"Equation.3", b"\x1c\x00eqn"),
        )]));
        let o = &found.metadata["document"]["rtf_objects"][0];
        assert_eq!(o["class"], "Equation.3");
        assert_eq!(o["objclass"], "Equation.3");
        assert_eq!(o["format"], "embedded");
        assert_eq!(o["auto_update"], true);
        assert_eq!(fired(&found), [OBJECT.id, EQUATION_EDITOR.id]);
        // A lying \objclass does not hide the OLE1 class.
        let found = run(&rtf(&[(
            "Word.Document.8",
            ole1::tests::ole1(b"EQuATioN.3", b"x"),
        )]));
        assert_eq!(fired(&found), [OBJECT.id, EQUATION_EDITOR.id]);
        let found = run(&rtf(&[(
            "Excel.Sheet.8",
            ole1::tests::ole1(b"Excel.Sheet.8", b"x"),
        )]));
        assert_eq!(fired(&found), [OBJECT.id]);
        assert!(found.facts[0].contains("1 embedded object (Excel.Sheet.8)"));
    }

    #[test]
    fn packages_are_named_and_executables_vote() {
        let found = run(&rtf(&[(
            "Package",
            ole1::tests::ole1(b"Package", &package(b"invoice.hta", b"<script>")),
        )]));
        let p = &found.metadata["document"]["rtf_objects"][0]["package"];
        assert_eq!(p["label"], "invoice.hta");
        assert_eq!(p["temp_path"], "C:\\Temp\\invoice.hta");
        assert_eq!(p["size"], 8);
        assert_eq!(
            fired(&found),
            [OBJECT.id, PACKAGE.id, PACKAGED_EXECUTABLE.id]
        );
        let found = run(&rtf(&[(
            "Package",
            ole1::tests::ole1(b"Package", &package(b"notes.txt", b"hello")),
        )]));
        assert_eq!(fired(&found), [OBJECT.id, PACKAGE.id]);
    }

    #[test]
    fn obfuscated_hex_and_bin_are_read() {
        let data = ole1::tests::ole1(b"Equation.3", b"abc");
        let h = rtf::tests::hex(&data);
        let (a, b) = h.split_at(9);
        let s = format!("{{\\rtf1{{\\object{{\\*\\objdata \\junk12 {a}\r\n{{\\*\\x}}{b}}}}}}}");
        let found = run(s.as_bytes());
        assert_eq!(
            found.metadata["document"]["rtf_objects"][0]["class"],
            "Equation.3"
        );
        let mut raw = b"{\\rtf1{\\object{\\*\\objdata \\bin".to_vec();
        raw.extend(format!("{} ", data.len()).as_bytes());
        raw.extend(&data);
        raw.extend(b"}}}");
        let found = run(&raw);
        assert_eq!(
            found.metadata["document"]["rtf_objects"][0]["size"],
            data.len()
        );
        assert_eq!(fired(&found), [OBJECT.id, EQUATION_EDITOR.id]);
    }

    #[test]
    fn broken_objects_give_warnings() {
        // Unterminated group; OLE1 package cut short; data that is not OLE1.
        let pkg = ole1::tests::ole1(b"Package", &package(b"a.exe", b"MZ"));
        let s = format!(
            "{{\\rtf1{{\\object{{\\*\\objdata {}",
            rtf::tests::hex(&pkg[..40])
        );
        let found = run(s.as_bytes());
        let w = warning::texts(found.warnings.clone()).join("\n");
        assert!(w.contains("not closed"), "{w}");
        assert!(w.contains("truncated"), "{w}");
        let found = run(b"{\\rtf1{\\object{\\*\\objdata 0102}}}");
        assert_eq!(
            found.metadata["document"]["rtf_objects"][0]["format"],
            "raw"
        );
        for cut in 0..pkg.len() {
            let s = format!(
                "{{\\rtf1{{\\object{{\\*\\objdata {}}}}}",
                rtf::tests::hex(&pkg[..cut])
            );
            let mut f = Inspection::default();
            inspect(s.as_bytes(), &identify(b"{\\rtf1", "x"), &mut f);
        }
        // A huge \bin count is clipped to the data.
        let found = run(b"{\\rtf1{\\object{\\*\\objdata \\bin99999999999 ab}}}");
        assert_eq!(found.metadata["document"]["rtf_objects"][0]["size"], 5);
    }
}
