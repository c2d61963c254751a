//! Internet mail (`metadata.email`): the header fields a reader checks first (RFC 5322 3.6:
//! from, to, cc, subject, date, message-id, reply-to, return-path, the Received chain, the
//! mailer), with RFC 2047 encoded words decoded, and the list of attachments found by walking
//! the MIME structure (RFC 2046 multiparts, RFC 2183 Content-Disposition, RFC 2231 parameter
//! values). The structure is the one `formats::mime::read` parses, which the extraction walks
//! too; the attachments themselves are unpacked there, and this module only describes them and
//! raises the mail heuristics.

use serde::Serialize;

use super::{suspicious, Heuristic, Inspection};
use crate::analysis::formats::mime::{
    self, decode_words, header_text, Entity, HeaderBlock, HeaderEnd, Shape, Structured,
    MAX_MIME_DEPTH,
};
use crate::analysis::identify::FileKind;
use crate::analysis::policy;
use crate::analysis::warning::{Problem, Warning};

/// Most MIME parts listed.
const MAX_PARTS: usize = 1000;
/// Most attachments listed.
const MAX_ATTACHMENTS: usize = 256;
/// Most Received fields listed.
const MAX_RECEIVED: usize = 100;
/// Longest header value kept, in characters.
const MAX_VALUE: usize = 4096;

/// Extensions a double-extension name pretends to be.
const DECOY_EXTENSIONS: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "rtf", "txt", "jpg", "jpeg", "png", "gif",
    "zip", "rar", "htm", "html", "csv", "odt", "mp3", "mp4", "avi",
];

pub const EXECUTABLE_ATTACHMENT: &Heuristic = &Heuristic {
    id: "mail-executable-attachment",
    priority: 4,
    category: "execution",
    description: "The message carries an attachment whose name makes Windows run it when \
                  opened (.exe, .scr, .js, .vbs, .lnk and the like).",
    verdict: None,
};

pub const DOUBLE_EXTENSION: &Heuristic = &Heuristic {
    id: "mail-double-extension",
    priority: 7,
    category: "evasion",
    description: "An attachment's name hides an executable behind a document extension \
                  (invoice.pdf.exe, padding before the real extension, or a right-to-left \
                  override character).",
    verdict: suspicious(5, "Email.Suspicious.DoubleExtension"),
};

pub const RETURN_PATH_MISMATCH: &Heuristic = &Heuristic {
    id: "mail-return-path-mismatch",
    priority: 1,
    category: "anomaly",
    description: "The From domain differs from the Return-Path (envelope sender) domain. \
                  Mailing lists and bulk senders do this; so does spoofed mail.",
    verdict: None,
};

#[derive(Serialize, Debug, PartialEq)]
struct Attachment {
    name: String,
    content_type: String,
    /// Size once its transfer encoding is undone (base64 and quoted-printable are estimated
    /// from the encoded text, within a few bytes).
    size: usize,
}

#[derive(Serialize, Default)]
struct Email {
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    /// The Date field as ISO 8601, when it parses.
    #[serde(skip_serializing_if = "Option::is_none")]
    sent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_mailer: Option<String>,
    /// Received fields, newest (topmost) first.
    received: Vec<String>,
    parts: usize,
    attachments: Vec<Attachment>,
}

/// One header block: (lower-case field name, raw unfolded value) in order, and where the body
/// starts (None when no body follows the block). Read from the one parse of a header block,
/// `formats::mime::HeaderBlock`, which the extraction reads too.
struct Header {
    fields: Vec<(String, Vec<u8>)>,
    body_at: Option<usize>,
    leading_continuation: bool,
}

impl Header {
    fn of(block: &HeaderBlock) -> Header {
        Header {
            fields: block
                .fields
                .iter()
                .map(|(name, value)| {
                    let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
                    (name, value.clone())
                })
                .collect(),
            body_at: (block.end != HeaderEnd::EndOfData).then_some(block.body_at),
            leading_continuation: block.leading_continuation,
        }
    }

    fn raw(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A field's value with encoded words decoded, trimmed and bounded.
    fn text(&self, name: &str) -> Option<String> {
        let v = decode_words(self.raw(name)?);
        let v: String = v.trim().chars().take(MAX_VALUE).collect();
        (!v.is_empty()).then_some(v)
    }
}

/// The decoded size of a body in a transfer encoding, without decoding it.
fn decoded_size(body: &[u8], encoding: &str) -> usize {
    match encoding {
        "base64" => {
            let chars = body
                .iter()
                .filter(|&&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
                .count();
            chars * 3 / 4
        }
        "quoted-printable" => {
            let escapes = memchr::memchr_iter(b'=', body).count();
            body.len().saturating_sub(escapes * 2)
        }
        _ => body.len(),
    }
}

/// Walks the message's MIME structure as `formats::mime` read it, listing attachments.
struct Walker<'w> {
    parts: usize,
    attachments: Vec<Attachment>,
    warnings: &'w mut Vec<Warning>,
    capped: bool,
}

impl Walker<'_> {
    fn entity(&mut self, e: &Entity, depth: usize) {
        self.parts += 1;
        if self.parts > MAX_PARTS {
            if !self.capped {
                self.capped = true;
                self.warnings.push(Warning::new(
                    Problem::Capped,
                    format!("email: more than {MAX_PARTS} MIME parts: the rest were not listed"),
                ));
            }
            return;
        }
        let ct = &e.content_type;
        match &e.shape {
            Shape::Leaf => self.leaf(e, depth),
            // Extracted as one part: listed as one.
            Shape::NoBoundary => {
                self.warnings.push(Warning::new(
                    Problem::Corrupt,
                    format!("email: a {} part has no boundary parameter", ct.value),
                ));
                self.leaf(e, depth);
            }
            Shape::NoDelimiter => {
                self.warnings.push(Warning::new(
                    Problem::Corrupt,
                    format!(
                        "email: a {} body has no delimiter line for its boundary",
                        ct.value
                    ),
                ));
                self.leaf(e, depth);
            }
            Shape::Encoded => self.warnings.push(Warning::new(
                Problem::Corrupt,
                format!(
                    "email: a {} body has {} transfer encoding, which hides its parts (they are \
                 listed in the message it is extracted as)",
                    ct.value,
                    mime::encoding(&e.mime)
                ),
            )),
            Shape::TooDeep => self.warnings.push(Warning::new(
                Problem::Capped,
                format!(
                "email: multiparts nest deeper than {MAX_MIME_DEPTH} levels: the rest were not \
                 listed"
            ),
            )),
            Shape::Multipart { parts, closed } => {
                if !closed {
                    self.warnings.push(Warning::new(
                        Problem::Truncated,
                        format!(
                            "email: a {} body is truncated: its closing boundary is missing",
                            ct.value
                        ),
                    ));
                }
                for part in parts {
                    if self.capped {
                        return;
                    }
                    if part.header.leading_continuation {
                        self.warnings.push(Warning::new(
                            Problem::Corrupt,
                            "email: a part's header starts with a continuation line (skipped)"
                                .to_string(),
                        ));
                    }
                    self.entity(part, depth + 1);
                }
            }
        }
    }

    fn leaf(&mut self, e: &Entity, depth: usize) {
        let ct = &e.content_type;
        let disposition = e.mime.disposition.as_deref().map(Structured::parse);
        let name = disposition
            .as_ref()
            .and_then(|d| d.text("filename"))
            .or_else(|| ct.text("name"))
            .map(|n| n.trim().chars().take(MAX_VALUE).collect::<String>())
            .filter(|n| !n.is_empty());
        let is_attachment = disposition
            .as_ref()
            .is_some_and(|d| d.value == "attachment")
            || name.is_some()
            || ct.value.starts_with("message/");
        if !is_attachment || depth == 0 && name.is_none() {
            return;
        }
        if self.attachments.len() >= MAX_ATTACHMENTS {
            return;
        }
        self.attachments.push(Attachment {
            name: name.unwrap_or_else(|| format!("part-{}", self.parts)),
            content_type: ct.value.clone(),
            size: decoded_size(e.body, &mime::encoding(&e.mime)),
        });
    }
}

/// The domain of the first address in a field (`Name <user@host>` or `user@host`).
fn domain(field: &str) -> Option<String> {
    let addr = match (field.rfind('<'), field.rfind('>')) {
        (Some(a), Some(b)) if a < b => &field[a + 1..b],
        _ => field,
    };
    let host = addr.rsplit_once('@')?.1;
    let host = host
        .trim()
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// The last two labels of a host: close enough to "the same organisation" for an
/// informational check (`mail.example.com` and `example.com` agree).
fn organisation(host: &str) -> String {
    let labels: Vec<&str> = host.rsplit('.').take(2).collect();
    labels.into_iter().rev().collect::<Vec<_>>().join(".")
}

/// The file extension of `name` (lower case) and the name without it.
fn split_extension(name: &str) -> Option<(&str, String)> {
    let (stem, ext) = name.rsplit_once('.')?;
    Some((stem, ext.trim().to_ascii_lowercase()))
}

/// Why an attachment name disguises an executable, if it does.
fn disguise(name: &str) -> Option<String> {
    if name.contains('\u{202e}') {
        return Some(format!(
            "{} uses a right-to-left override to reverse its extension",
            name.replace('\u{202e}', "<RLO>")
        ));
    }
    let (stem, ext) = split_extension(name)?;
    if !policy::is_executable_extension(&ext) {
        return None;
    }
    if stem.ends_with("    ") || stem.ends_with("\t") {
        return Some(format!("{name} pads its name to hide the .{ext} extension"));
    }
    let (_, decoy) = split_extension(stem)?;
    DECOY_EXTENSIONS
        .contains(&decoy.as_str())
        .then(|| format!("{name} looks like a .{decoy} but is a .{ext}"))
}

/// RFC 5322 3.3 date-time (`Wed, 1 May 2024 10:00:00 +0200`) as ISO 8601.
fn parse_date(text: &str) -> Option<String> {
    let t = text.split_once(',').map_or(text, |(_, rest)| rest);
    let mut words = t.split_whitespace();
    let day: u32 = words.next()?.parse().ok()?;
    let month = words.next()?.to_ascii_lowercase();
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| month.starts_with(m))?
        + 1;
    let mut year: u32 = words.next()?.parse().ok()?;
    // Obsolete two-digit years (RFC 5322 4.3).
    if year < 50 {
        year += 2000;
    } else if year < 1000 {
        year += 1900;
    }
    let time = words.next()?;
    let mut hms = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (
        hms.next()??,
        hms.next()??,
        hms.next().flatten().unwrap_or(0),
    );
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let zone = match words.next() {
        Some(z) if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            format!("{}:{}", &z[..3], &z[3..])
        }
        _ => "Z".to_string(),
    };
    let zone = if zone == "+00:00" {
        "Z".to_string()
    } else {
        zone
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{zone}"
    ))
}

pub fn inspect(data: &[u8], _kind: &FileKind, found: &mut Inspection) {
    let message = mime::read(data);
    let header = Header::of(&message.root.header);
    if header.leading_continuation {
        found.warn(
            Problem::Corrupt,
            "email: the header starts with a continuation line, which continues no field \
             (skipped)"
                .to_string(),
        );
    }
    if header.fields.is_empty() {
        found.warn(Problem::Corrupt, "email: no header fields found");
        return;
    }
    if header.body_at.is_none() {
        found.warn(
            Problem::Corrupt,
            "email: the header is not followed by a blank line: the message has no body"
                .to_string(),
        );
    }
    let mut mail = Email {
        from: header.text("from"),
        to: header.text("to"),
        cc: header.text("cc"),
        subject: header.text("subject"),
        date: header.text("date"),
        message_id: header.text("message-id"),
        reply_to: header.text("reply-to"),
        return_path: header.text("return-path"),
        x_mailer: header
            .text("x-mailer")
            .or_else(|| header.text("user-agent")),
        received: header
            .fields
            .iter()
            .filter(|(n, _)| n == "received")
            .take(MAX_RECEIVED)
            .map(|(_, v)| {
                let v = header_text(v);
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect(),
        ..Email::default()
    };
    mail.sent = mail.date.as_deref().and_then(parse_date);
    let mut walker = Walker {
        parts: 0,
        attachments: Vec::new(),
        warnings: &mut found.warnings,
        capped: false,
    };
    walker.entity(&message.root, 0);
    mail.parts = walker.parts.min(MAX_PARTS);
    mail.attachments = walker.attachments;

    let executables: Vec<&str> = mail
        .attachments
        .iter()
        .filter(|a| {
            split_extension(&a.name).is_some_and(|(_, ext)| policy::is_executable_extension(&ext))
        })
        .map(|a| a.name.as_str())
        .collect();
    if !executables.is_empty() {
        found.tag("executable-attachment");
        found.fire(
            EXECUTABLE_ATTACHMENT,
            executables.iter().map(|n| n.to_string()).collect(),
        );
    }
    let disguised: Vec<String> = mail
        .attachments
        .iter()
        .filter_map(|a| disguise(&a.name))
        .collect();
    if !disguised.is_empty() {
        found.tag("double-extension");
        found.fire(DOUBLE_EXTENSION, disguised);
    }
    if let (Some(from), Some(rp)) = (&mail.from, &mail.return_path) {
        if let (Some(a), Some(b)) = (domain(from), domain(rp)) {
            if organisation(&a) != organisation(&b) {
                found.fire(
                    RETURN_PATH_MISMATCH,
                    vec![format!("From is at {a}, Return-Path at {b}")],
                );
            }
        }
    }

    let mut fact = "It is an email".to_string();
    if let Some(from) = &mail.from {
        fact.push_str(&format!(" from {from}"));
    }
    if let Some(to) = &mail.to {
        fact.push_str(&format!(" to {to}"));
    }
    if let Some(sent) = &mail.sent {
        fact.push_str(&format!(", sent {}", sent.get(..10).unwrap_or(sent)));
    }
    if let Some(subject) = &mail.subject {
        fact.push_str(&format!(", subject \u{201c}{subject}\u{201d}"));
    }
    match mail.attachments.len() {
        0 => {}
        n => {
            let names: Vec<&str> = mail
                .attachments
                .iter()
                .take(5)
                .map(|a| a.name.as_str())
                .collect();
            fact.push_str(&format!(
                ", with {n} attachment{} ({}{})",
                if n == 1 { "" } else { "s" },
                names.join(", "),
                if n > 5 { ", ..." } else { "" }
            ));
        }
    }
    fact.push('.');
    found.facts.push(fact);
    if let Ok(value) = serde_json::to_value(&mail) {
        found.set_metadata(&["email"], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::identify::identify;
    use crate::analysis::identify::Format;
    use crate::analysis::inspect::testing::{self, fired};

    fn run(data: &[u8]) -> Inspection {
        testing::run(|f| f == Format::Email, inspect, data)
    }

    fn message(from: &str, return_path: &str, attachment: &str) -> Vec<u8> {
        format!(
            "Return-Path: <{return_path}>\r\n\
             Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n\
             \tby mail.example.com; Wed, 1 May 2024 10:00:05 +0200\r\n\
             Received: from sender.example.org by mx.example.net; Wed, 1 May 2024 10:00:01 +0200\r\n\
             From: =?utf-8?Q?Alice_Ex=C3=A4mple?= <{from}>\r\n\
             To: bob@example.com\r\n\
             Subject: =?utf-8?B?SW52b2ljZQ==?= =?utf-8?Q?_May?=\r\n\
             Date: Wed, 1 May 2024 10:00:00 +0200\r\n\
             Message-ID: <1@example.org>\r\n\
             X-Mailer: Test 1.0\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
             \r\n\
             preamble\r\n\
             --b1\r\n\
             Content-Type: text/plain\r\n\
             \r\n\
             Hello\r\n\
             --b1\r\n\
             Content-Type: application/octet-stream; name=\"{attachment}\"\r\n\
             Content-Disposition: attachment; filename=\"{attachment}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             \r\n\
             TVqQAAMAAAAEAAAA\r\n\
             --b1\r\n\
             Content-Type: text/plain\r\n\
             Content-Disposition: attachment;\r\n\
             \tfilename*=utf-8''r%C3%A9sum%C3%A9.txt\r\n\
             \r\n\
             text\r\n\
             --b1--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn headers_and_attachments() {
        let found = run(&message(
            "alice@example.org",
            "bounce@example.org",
            "report.pdf",
        ));
        let m = &found.metadata["email"];
        assert_eq!(m["from"], "Alice Ex\u{e4}mple <alice@example.org>");
        assert_eq!(m["to"], "bob@example.com");
        assert_eq!(m["subject"], "Invoice May");
        assert_eq!(m["date"], "Wed, 1 May 2024 10:00:00 +0200");
        assert_eq!(m["sent"], "2024-05-01T10:00:00+02:00");
        assert_eq!(m["message_id"], "<1@example.org>");
        assert_eq!(m["return_path"], "<bounce@example.org>");
        assert_eq!(m["x_mailer"], "Test 1.0");
        assert_eq!(m["received"].as_array().unwrap().len(), 2);
        assert!(m["received"][0]
            .as_str()
            .unwrap()
            .starts_with("from mx.example.net (mx.example.net [192.0.2.1]) by mail"));
        assert_eq!(m["parts"], 4);
        assert_eq!(
            m["attachments"],
            serde_json::json!([
                {"name": "report.pdf", "content_type": "application/octet-stream", "size": 12},
                {"name": "r\u{e9}sum\u{e9}.txt", "content_type": "text/plain", "size": 4},
            ])
        );
        assert!(fired(&found).is_empty(), "{:?}", fired(&found));
        assert_eq!(
            found.facts,
            [
                "It is an email from Alice Ex\u{e4}mple <alice@example.org> to bob@example.com, \
              sent 2024-05-01, subject \u{201c}Invoice May\u{201d}, with 2 attachments \
              (report.pdf, r\u{e9}sum\u{e9}.txt)."
            ]
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn a_double_extension_votes_and_a_mismatch_is_noted() {
        let found = run(&message(
            "alice@example.org",
            "x@mailer.example.net",
            "invoice.pdf.exe",
        ));
        assert_eq!(
            fired(&found),
            [
                EXECUTABLE_ATTACHMENT.id,
                DOUBLE_EXTENSION.id,
                RETURN_PATH_MISMATCH.id
            ]
        );
        assert!(found.findings[1].reasons[0].contains("looks like a .pdf but is a .exe"));
        assert!(found.tags.contains("double-extension"));
        // A plain executable is noted, not voted on; so are the script and setup files the
        // shared policy list names (it holds what the RTF reader counts as executable too).
        for name in ["setup.exe", "run.sct", "driver.inf", "install.msi"] {
            let found = run(&message("a@example.org", "b@mx.example.org", name));
            assert_eq!(fired(&found), [EXECUTABLE_ATTACHMENT.id], "{name}");
        }
        assert!(fired(&run(&message(
            "a@example.org",
            "b@mx.example.org",
            "notes.txt"
        )))
        .is_empty());
        assert!(disguise("photo\u{202e}gpj.exe").is_some());
        assert!(disguise("notes.txt                  .scr").is_some());
        assert!(disguise("archive.tar.gz").is_none());
    }

    #[test]
    fn a_multipart_without_a_boundary_is_listed_as_the_one_part_it_is_extracted_as() {
        let found = run(b"From: a@example.com\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; name=\"pay.exe\"\r\n\r\nMZ...\r\n");
        assert!(
            found.warnings[0].text.contains("no boundary"),
            "{:?}",
            found.warnings
        );
        assert_eq!(found.metadata["email"]["attachments"][0]["name"], "pay.exe");
        assert_eq!(fired(&found), [EXECUTABLE_ATTACHMENT.id]);
    }

    #[test]
    fn header_only_and_broken_mail_give_warnings() {
        let found = run(b"From: a@example.com\r\nSubject: hi\r\n");
        assert!(
            found.warnings[0].text.contains("no body"),
            "{:?}",
            found.warnings
        );
        assert_eq!(found.metadata["email"]["subject"], "hi");
        let found = run(b"From: a@example.com\nContent-Type: multipart/mixed\n\nbody");
        assert!(found.warnings[0].text.contains("no boundary"));
        let found = run(
            b"From: a@example.com\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\
              Content-Type: text/plain; name=a.txt\n\nabc",
        );
        assert!(found.warnings[0].text.contains("truncated"));
        assert_eq!(found.metadata["email"]["attachments"][0]["name"], "a.txt");
        let found =
            run(b"From: a@example.com\nContent-Type: multipart/mixed; boundary=x\n\nno parts");
        assert!(found.warnings[0].text.contains("no delimiter"));
        // Every prefix of a good message reads without panicking.
        let good = message("a@example.org", "a@example.org", "a.pdf");
        for cut in 1..good.len() {
            let mut f = Inspection::default();
            inspect(&good[..cut], &identify(&good, "x"), &mut f);
        }
    }

    #[test]
    fn encoded_words_and_dates() {
        assert_eq!(decode_words(b"=?iso-8859-1?q?caf=E9?= ok"), "caf\u{e9} ok");
        assert_eq!(decode_words(b"=?utf-8?B?YQ==?=  =?utf-8?B?Yg==?="), "ab");
        assert_eq!(decode_words(b"=?broken"), "=?broken");
        assert_eq!(
            parse_date("1 Jan 99 23:59 -0000"),
            Some("1999-01-01T23:59:00-00:00".to_string())
        );
        assert_eq!(parse_date("someday"), None);
        assert_eq!(
            domain("Bob <bob@Mail.Example.com>"),
            Some("mail.example.com".into())
        );
        assert_eq!(organisation("mail.example.com"), "example.com");
    }
}
