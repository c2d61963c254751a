//! TNEF (Transport Neutral Encapsulation Format, the `winmail.dat` Outlook attaches) as
//! specified in [MS-OXTNEF], with the compressed RTF body decoded per [MS-OXRTFCP].
//!
//! A TNEF stream is a signature, a legacy key and a flat list of attributes (level, id, length,
//! data, checksum). Attachments are the attributes between one `attAttachRendData` and the
//! next: `attAttachTitle` (short name), `attAttachData` (bytes) and `attAttachment`, a MAPI
//! property list whose long file name overrides the title and whose `PR_ATTACH_DATA_BIN/OBJ`
//! carries the bytes when `attAttachData` is absent. Message bodies come from `attBody` and the
//! `attMsgProps` property list (plain, HTML and LZFu-compressed RTF).

use crate::analysis::bytes::Cursor;
use std::borrow::Cow;

use super::Members;
use crate::analysis::warning::Problem;

/// The TNEF signature, little-endian at offset 0 (bytes `78 9F 3E 22`).
pub const TNEF_SIGNATURE: u32 = 0x223E_9F78;

/// Most attributes walked in one stream; each costs at least 11 bytes, so this only bites on
/// huge inputs.
pub const MAX_ATTRIBUTES: usize = 1_000_000;

/// Most attachments taken from one stream.
pub const MAX_ATTACHMENTS: usize = 10_000;

/// Most properties read from one MAPI property list.
pub const MAX_PROPERTIES: usize = 100_000;

/// Most values read from one multi-valued property.
pub const MAX_VALUES: usize = 100_000;

const LVL_MESSAGE: u8 = 0x01;
const LVL_ATTACHMENT: u8 = 0x02;

// Attribute identifiers (the low 16 bits of the attribute id; the high bits are its type).
const ATT_BODY: u32 = 0x800C;
const ATT_ATTACH_DATA: u32 = 0x800F;
const ATT_ATTACH_TITLE: u32 = 0x8010;
const ATT_ATTACH_REND_DATA: u32 = 0x9002;
const ATT_MSG_PROPS: u32 = 0x9003;
const ATT_ATTACHMENT: u32 = 0x9005;

// MAPI property identifiers.
const PR_BODY: u16 = 0x1000;
const PR_RTF_COMPRESSED: u16 = 0x1009;
const PR_BODY_HTML: u16 = 0x1013;
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_ATTACH_DATA: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;

// MAPI property types.
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const PT_OBJECT: u16 = 0x000D;
const MV_FLAG: u16 = 0x1000;

/// LZFu: the compressed form of PR_RTF_COMPRESSED ("LZFu" little-endian).
const RTF_COMPRESSED: u32 = 0x7546_5A4C;
/// MELA: PR_RTF_COMPRESSED stored without compression.
const RTF_UNCOMPRESSED: u32 = 0x414C_454D;

/// The dictionary every LZFu stream starts with ([MS-OXRTFCP] 3.1.2.2.1).
const RTF_PREAMBLE: &[u8] = b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";

/// True when `data` starts with the TNEF signature.
pub fn detect(data: &[u8]) -> bool {
    data.get(..4)
        .is_some_and(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) == TNEF_SIGNATURE)
}

/// One attachment as its attributes describe it.
#[derive(Default)]
struct Attachment<'a> {
    title: Option<String>,
    data: Option<&'a [u8]>,
    props: Props<'a>,
}

/// The MAPI properties this parser uses, from `attAttachment` or `attMsgProps`.
#[derive(Default)]
struct Props<'a> {
    long_name: Option<String>,
    short_name: Option<String>,
    display_name: Option<String>,
    /// PR_ATTACH_DATA_BIN, or the payload of PR_ATTACH_DATA_OBJ after its interface id.
    attach_data: Option<&'a [u8]>,
    rtf: Option<&'a [u8]>,
    body: Option<Cow<'a, [u8]>>,
    html: Option<&'a [u8]>,
}

pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    if !detect(data) {
        out.warn(
            Problem::Corrupt,
            "not a TNEF stream: the signature 78 9f 3e 22 is missing",
        );
        return;
    }
    if data.len() < 6 {
        out.warn(Problem::Truncated, "the TNEF stream ends inside its header");
        return;
    }
    let mut attachments: Vec<Attachment<'a>> = Vec::new();
    let mut message = Props::default();
    let mut body_attr: Option<&'a [u8]> = None;
    let mut bad_checksums = 0usize;
    let mut bad_levels = 0usize;
    let mut too_many_attachments = false;
    let mut pos = 6;
    let mut count = 0usize;
    while pos < data.len() {
        if out.stopped() {
            return;
        }
        count += 1;
        if count > MAX_ATTRIBUTES {
            out.warn(
                Problem::Capped,
                format!("more than {MAX_ATTRIBUTES} TNEF attributes: the rest were not read"),
            );
            break;
        }
        let Some(head) = data.get(pos..pos + 9) else {
            out.warn(
                Problem::Truncated,
                format!(
                    "the TNEF stream ends with {} bytes, too few for an attribute header",
                    data.len() - pos
                ),
            );
            break;
        };
        let level = head[0];
        let id = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let declared = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
        let start = pos + 9;
        let avail = data.len() - start;
        let truncated = declared > avail;
        let value = &data[start..start + declared.min(avail)];
        if truncated {
            out.warn(
                Problem::Truncated,
                format!(
                    "TNEF attribute {count} (id {id:#010x}) is truncated: header says {declared} \
                 bytes, {avail} remain"
                ),
            );
        } else {
            match data.get(start + declared..start + declared + 2) {
                Some(c) => {
                    let stored = u16::from_le_bytes([c[0], c[1]]);
                    let sum = value
                        .iter()
                        .fold(0u16, |acc, &b| acc.wrapping_add(u16::from(b)));
                    if stored != sum {
                        bad_checksums += 1;
                    }
                }
                None => out.warn(
                    Problem::Truncated,
                    format!("TNEF attribute {count} (id {id:#010x}) is missing its checksum"),
                ),
            }
        }
        if level != LVL_MESSAGE && level != LVL_ATTACHMENT {
            bad_levels += 1;
        }
        let mut problems = Vec::new();
        match id & 0xFFFF {
            ATT_ATTACH_REND_DATA => {
                if attachments.len() < MAX_ATTACHMENTS {
                    attachments.push(Attachment::default());
                } else {
                    too_many_attachments = true;
                }
            }
            ATT_ATTACH_TITLE => {
                if let Some(a) = current(&mut attachments, &mut too_many_attachments, false) {
                    a.title = Some(string8(value));
                }
            }
            ATT_ATTACH_DATA => {
                if let Some(a) = current(&mut attachments, &mut too_many_attachments, true) {
                    a.data = Some(value);
                }
            }
            ATT_ATTACHMENT => {
                if let Some(a) = current(&mut attachments, &mut too_many_attachments, false) {
                    a.props = parse_props(value, &mut problems);
                }
            }
            ATT_BODY if level == LVL_MESSAGE => body_attr = Some(value),
            ATT_MSG_PROPS if level == LVL_MESSAGE => message = parse_props(value, &mut problems),
            _ => {}
        }
        for p in problems {
            out.warn(
                Problem::Corrupt,
                format!("TNEF attribute {count} (id {id:#010x}): {p}"),
            );
        }
        if truncated {
            break;
        }
        pos = start + declared + 2;
    }
    if bad_checksums > 0 {
        out.warn(
            Problem::Corrupt,
            format!("{bad_checksums} TNEF attributes have a wrong checksum"),
        );
    }
    if bad_levels > 0 {
        out.warn(
            Problem::Corrupt,
            format!(
            "{bad_levels} TNEF attributes have a level other than message (1) or attachment (2)"
        ),
        );
    }
    if too_many_attachments {
        out.warn(
            Problem::Capped,
            format!("more than {MAX_ATTACHMENTS} TNEF attachments: the rest were not read"),
        );
    }
    let mut without_data = 0usize;
    for (i, a) in attachments.into_iter().enumerate() {
        if out.stopped() {
            return;
        }
        let Some(bytes) = a.data.or(a.props.attach_data) else {
            without_data += 1;
            continue;
        };
        let fallback = if detect(bytes) {
            format!("attachment-{}.tnef", i + 1)
        } else {
            format!("attachment-{}.bin", i + 1)
        };
        let name = [
            a.props.long_name,
            a.props.short_name,
            a.title,
            a.props.display_name,
        ]
        .into_iter()
        .flatten()
        .find(|n| !n.trim().is_empty())
        .unwrap_or(fallback);
        if !out.add(name, Cow::Borrowed(bytes)) {
            return;
        }
    }
    if without_data > 0 {
        out.warn(
            Problem::Truncated,
            format!(
                "{without_data} TNEF attachments have no data (attached by reference or truncated)"
            ),
        );
    }
    if let Some(rtf) = message.rtf {
        if let Some(text) = decompress_rtf(rtf, out) {
            if !out.add("body.rtf", Cow::Owned(text)) {
                return;
            }
        }
    }
    if let Some(body) = body_attr.map(Cow::Borrowed).or(message.body) {
        if !out.add("body.txt", body) {
            return;
        }
    }
    if let Some(html) = message.html {
        out.add("body.html", Cow::Borrowed(html));
    }
}

/// The attachment the next attribute belongs to. Writers are supposed to open each attachment
/// with attAttachRendData; when they do not, one is opened here (and a second attAttachData
/// starts a new attachment rather than replacing the first one's data).
fn current<'v, 'a>(
    attachments: &'v mut Vec<Attachment<'a>>,
    too_many: &mut bool,
    for_data: bool,
) -> Option<&'v mut Attachment<'a>> {
    let need_new = match attachments.last() {
        None => true,
        Some(a) => for_data && a.data.is_some(),
    };
    if need_new {
        if attachments.len() >= MAX_ATTACHMENTS {
            *too_many = true;
            return None;
        }
        attachments.push(Attachment::default());
    }
    attachments.last_mut()
}

/// Skips the padding that aligns a value of `len` bytes to 4.
fn pad(r: &mut Cursor, len: usize) -> Option<()> {
    r.bytes((4 - len % 4) % 4).map(|_| ())
}

/// Parses a MAPI property list ([MS-OXTNEF] 2.1.3.4): a count, then for each property its tag,
/// its name when it is a named property, and its values. Keeps the properties in [`Props`];
/// stops at the first property it cannot read, keeping those before it.
fn parse_props<'a>(data: &'a [u8], problems: &mut Vec<String>) -> Props<'a> {
    let mut props = Props::default();
    let mut r = Cursor::new(data);
    let Some(count) = r.u32() else {
        problems.push("the property list is too short for its count".to_string());
        return props;
    };
    let count = count as usize;
    if count > MAX_PROPERTIES {
        problems.push(format!(
            "the property list claims {count} properties; reading at most {MAX_PROPERTIES}"
        ));
    }
    for index in 0..count.min(MAX_PROPERTIES) {
        match parse_prop(&mut r, &mut props) {
            Ok(()) => {}
            Err(why) => {
                problems.push(format!(
                    "property {} of {count} could not be read ({why}): the rest of the list \
                     was skipped",
                    index + 1
                ));
                break;
            }
        }
    }
    props
}

fn parse_prop<'a>(r: &mut Cursor<'a>, props: &mut Props<'a>) -> Result<(), String> {
    let ptype = r.u16().ok_or("truncated tag")?;
    let id = r.u16().ok_or("truncated tag")?;
    if id >= 0x8000 {
        // A named property: GUID, kind, then a number or a UTF-16 name.
        r.bytes(16).ok_or("truncated name")?;
        match r.u32().ok_or("truncated name")? {
            0 => {
                r.u32().ok_or("truncated name")?;
            }
            1 => {
                let len = r.u32().ok_or("truncated name")? as usize;
                r.bytes(len).ok_or("truncated name")?;
                pad(r, len).ok_or("truncated name")?;
            }
            kind => return Err(format!("unknown name kind {kind}")),
        }
    }
    let multi = ptype & MV_FLAG != 0;
    let base = ptype & !MV_FLAG;
    let fixed = match base {
        0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => Some(4),
        0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => Some(8),
        0x0048 => Some(16),
        PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT => None,
        other => return Err(format!("unknown property type {other:#06x}")),
    };
    let values = if multi || fixed.is_none() {
        let n = r.u32().ok_or("truncated value count")? as usize;
        // Every value takes at least 4 bytes, so a count beyond that is a lie.
        if n > MAX_VALUES || n > r.remaining() / 4 + 1 {
            return Err(format!("value count {n} is impossible"));
        }
        n
    } else {
        1
    };
    for v in 0..values {
        match fixed {
            Some(size) => {
                r.bytes(size).ok_or("truncated value")?;
            }
            None => {
                let len = r.u32().ok_or("truncated value size")? as usize;
                let bytes = r.bytes(len).ok_or("truncated value")?;
                pad(r, len).ok_or("truncated padding")?;
                if v == 0 && !multi {
                    keep(props, id, base, bytes);
                }
            }
        }
    }
    Ok(())
}

/// Stores a property value this parser uses.
fn keep<'a>(props: &mut Props<'a>, id: u16, ptype: u16, bytes: &'a [u8]) {
    let text = || match ptype {
        PT_STRING8 => Some(string8(bytes)),
        PT_UNICODE => Some(unicode(bytes)),
        _ => None,
    };
    match id {
        PR_ATTACH_LONG_FILENAME => props.long_name = text(),
        PR_ATTACH_FILENAME => props.short_name = text(),
        PR_DISPLAY_NAME => props.display_name = text(),
        PR_ATTACH_DATA => {
            props.attach_data = match ptype {
                PT_BINARY => Some(bytes),
                // The value starts with the 16-byte interface id (IID_IMessage for an embedded
                // message, whose payload is itself a TNEF stream).
                PT_OBJECT => bytes.get(16..),
                _ => None,
            }
        }
        PR_RTF_COMPRESSED if ptype == PT_BINARY => props.rtf = Some(bytes),
        PR_BODY => {
            props.body = match ptype {
                PT_STRING8 => Some(Cow::Borrowed(trim_nul(bytes))),
                PT_UNICODE => Some(Cow::Owned(unicode(bytes).into_bytes())),
                _ => None,
            }
        }
        PR_BODY_HTML if ptype == PT_BINARY || ptype == PT_STRING8 => {
            props.html = Some(trim_nul(bytes))
        }
        _ => {}
    }
}

fn trim_nul(b: &[u8]) -> &[u8] {
    let n = b.iter().rev().take_while(|&&c| c == 0).count();
    &b[..b.len() - n]
}

/// An 8-bit string (in the sender's OEM code page): UTF-8 when valid, else Latin-1.
fn string8(b: &[u8]) -> String {
    let b = trim_nul(b);
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| char::from(c)).collect(),
    }
}

/// A UTF-16LE string without its terminating NUL.
fn unicode(b: &[u8]) -> String {
    let s = crate::analysis::text::utf16le(b);
    s.trim_end_matches('\0').to_string()
}

/// Decodes PR_RTF_COMPRESSED ([MS-OXRTFCP] 2.1.3.1): a 16-byte header (compressed size, raw
/// size, type, CRC) then LZFu tokens over a 4096-byte ring dictionary preloaded with
/// [`RTF_PREAMBLE`]. Warns about problems; None when nothing usable came out or a limit hit.
fn decompress_rtf(data: &[u8], out: &mut Members) -> Option<Vec<u8>> {
    const NAME: &str = "body.rtf";
    let Some(header) = data.get(..16) else {
        out.warn(
            Problem::Truncated,
            "the compressed RTF body is shorter than its 16-byte header",
        );
        return None;
    };
    let le =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let comp_size = le(0) as usize;
    let raw_size = u64::from(le(4));
    let comp_type = le(8);
    let stored_crc = le(12);
    let available = &data[16..];
    let want = comp_size.saturating_sub(12);
    let contents = if want > available.len() {
        out.warn(
            Problem::Truncated,
            format!(
                "the compressed RTF body is truncated: header says {want} bytes, {} present",
                available.len()
            ),
        );
        available
    } else {
        &available[..want]
    };
    let packed = contents.len() as u64;
    match comp_type {
        RTF_UNCOMPRESSED => {
            let n = contents
                .len()
                .min(usize::try_from(raw_size).unwrap_or(usize::MAX));
            if !out.admit(NAME, packed, n as u64) {
                return None;
            }
            return Some(contents[..n].to_vec());
        }
        RTF_COMPRESSED => {}
        other => {
            out.warn(
                Problem::Unsupported,
                format!("the RTF body has an unknown compression type {other:#010x}"),
            );
            return None;
        }
    }
    let crc = rtf_crc(contents);
    if crc != stored_crc {
        out.warn(Problem::Corrupt, format!(
            "the compressed RTF body fails its CRC (stored {stored_crc:#010x}, computed {crc:#010x})"
        ));
    }
    if !out.admit(NAME, packed, raw_size) {
        return None;
    }
    let cap = out.member_cap(packed);
    let mut dict = [0u8; 4096];
    dict[..RTF_PREAMBLE.len()].copy_from_slice(RTF_PREAMBLE);
    let mut write = RTF_PREAMBLE.len();
    let mut result = Vec::new();
    let mut i = 0;
    let mut ended = false;
    'outer: while let Some(&control) = contents.get(i) {
        i += 1;
        for bit in 0..8 {
            if control & (1 << bit) == 0 {
                let Some(&b) = contents.get(i) else {
                    break 'outer;
                };
                i += 1;
                result.push(b);
                dict[write] = b;
                write = (write + 1) & 0xFFF;
            } else {
                let Some(pair) = contents.get(i..i + 2) else {
                    break 'outer;
                };
                i += 2;
                let word = u16::from_be_bytes([pair[0], pair[1]]) as usize;
                let offset = word >> 4;
                let len = (word & 0xF) + 2;
                if offset == write {
                    ended = true;
                    break 'outer;
                }
                // Byte by byte: a reference may read bytes it is itself writing.
                for k in 0..len {
                    let b = dict[(offset + k) & 0xFFF];
                    result.push(b);
                    dict[write] = b;
                    write = (write + 1) & 0xFFF;
                }
            }
        }
        if result.len() as u64 > cap {
            out.admit(NAME, packed, result.len() as u64);
            return None;
        }
    }
    if !ended {
        out.warn(
            Problem::Truncated,
            "the compressed RTF body has no end marker: kept what was decoded",
        );
    }
    if result.len() as u64 != raw_size {
        out.warn(
            Problem::Corrupt,
            format!(
                "the RTF body decoded to {} bytes; its header says {raw_size}",
                result.len()
            ),
        );
    }
    Some(result)
}

/// The CRC-32 of [MS-OXRTFCP] 3.1.3.2: the IEEE polynomial, reflected, but starting from 0 and
/// without the final inversion.
fn rtf_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::{Budget, Limit};
    use super::*;

    /// [MS-OXRTFCP] 3.1.1 example 1: "{\rtf1\ansi\ansicpg1252\pard hello world}\r\n".
    const SIMPLE_RTF: &[u8] = &[
        0x2d, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7,
        0xa7, 0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a,
        0xf3, 0x20, 0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d,
        0x0a, 0x80, 0x0f, 0xa0,
    ];

    /// [MS-OXRTFCP] 3.1.1 example 2: a reference that crosses the write position.
    const CROSSING_RTF: &[u8] = &[
        0x1a, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xe2, 0xd4, 0x4b,
        0x51, 0x41, 0x00, 0x04, 0x20, 0x57, 0x58, 0x59, 0x5a, 0x0d, 0x6e, 0x7d, 0x01, 0x0e, 0xb0,
    ];

    /// A TNEF stream builder.
    struct Tnef(Vec<u8>);

    impl Tnef {
        fn new() -> Tnef {
            let mut v = TNEF_SIGNATURE.to_le_bytes().to_vec();
            v.extend_from_slice(&0x1234u16.to_le_bytes());
            Tnef(v)
        }

        fn attr(mut self, level: u8, id: u32, data: &[u8]) -> Tnef {
            self.0.push(level);
            self.0.extend_from_slice(&id.to_le_bytes());
            self.0.extend_from_slice(&(data.len() as u32).to_le_bytes());
            self.0.extend_from_slice(data);
            let sum = data.iter().fold(0u16, |a, &b| a.wrapping_add(u16::from(b)));
            self.0.extend_from_slice(&sum.to_le_bytes());
            self
        }
    }

    /// A MAPI property list builder.
    struct PropList(Vec<u8>, u32);

    impl PropList {
        fn new() -> PropList {
            PropList(Vec::new(), 0)
        }

        fn var(mut self, ptype: u16, id: u16, value: &[u8]) -> PropList {
            self.1 += 1;
            self.0.extend_from_slice(&ptype.to_le_bytes());
            self.0.extend_from_slice(&id.to_le_bytes());
            self.0.extend_from_slice(&1u32.to_le_bytes());
            self.0
                .extend_from_slice(&(value.len() as u32).to_le_bytes());
            self.0.extend_from_slice(value);
            self.0.resize(self.0.len() + (4 - value.len() % 4) % 4, 0);
            self
        }

        fn long(mut self, id: u16, v: u32) -> PropList {
            self.1 += 1;
            self.0.extend_from_slice(&0x0003u16.to_le_bytes());
            self.0.extend_from_slice(&id.to_le_bytes());
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }

        /// A named multi-valued string property, to exercise the parts we skip.
        fn named_mv(mut self) -> PropList {
            self.1 += 1;
            self.0
                .extend_from_slice(&(PT_STRING8 | MV_FLAG).to_le_bytes());
            self.0.extend_from_slice(&0x8005u16.to_le_bytes());
            self.0.extend_from_slice(&[0xAB; 16]);
            self.0.extend_from_slice(&1u32.to_le_bytes());
            let name = utf16("Keywords");
            self.0.extend_from_slice(&(name.len() as u32).to_le_bytes());
            self.0.extend_from_slice(&name);
            self.0.resize(self.0.len() + (4 - name.len() % 4) % 4, 0);
            self.0.extend_from_slice(&2u32.to_le_bytes());
            for v in [&b"one\0"[..], b"three\0"] {
                self.0.extend_from_slice(&(v.len() as u32).to_le_bytes());
                self.0.extend_from_slice(v);
                self.0.resize(self.0.len() + (4 - v.len() % 4) % 4, 0);
            }
            self
        }

        fn build(self) -> Vec<u8> {
            let mut v = self.1.to_le_bytes().to_vec();
            v.extend(self.0);
            v
        }
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain(std::iter::once(0))
            .flat_map(|u| u.to_le_bytes())
            .collect()
    }

    fn sample() -> Vec<u8> {
        let props1 = PropList::new()
            .long(0x0E21, 1)
            .named_mv()
            .var(PT_STRING8, PR_ATTACH_FILENAME, b"REPORT~1.PDF\0")
            .var(
                PT_UNICODE,
                PR_ATTACH_LONG_FILENAME,
                &utf16("Quarterly report é.pdf"),
            )
            .build();
        let mut embedded = vec![
            0x07, 0x03, 0x02, 0x00, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46,
        ];
        let inner = Tnef::new().attr(LVL_MESSAGE, 0x0001_800C, b"inner").0;
        embedded.extend_from_slice(&inner);
        let props2 = PropList::new()
            .var(PT_OBJECT, PR_ATTACH_DATA, &embedded)
            .build();
        let msg_props = PropList::new()
            .var(PT_BINARY, PR_RTF_COMPRESSED, SIMPLE_RTF)
            .var(PT_BINARY, PR_BODY_HTML, b"<b>x</b>")
            .build();
        Tnef::new()
            .attr(LVL_MESSAGE, 0x0008_9006, &[0, 0, 1, 0])
            .attr(LVL_MESSAGE, 0x0001_800C, b"plain body")
            .attr(LVL_MESSAGE, 0x0006_9003, &msg_props)
            .attr(LVL_ATTACHMENT, 0x0006_9002, &[1, 0, 0, 0])
            .attr(LVL_ATTACHMENT, 0x0001_8010, b"REPORT~1.PDF\0")
            .attr(LVL_ATTACHMENT, 0x0006_800F, b"%PDF-1.4 data")
            .attr(LVL_ATTACHMENT, 0x0006_9005, &props1)
            .attr(LVL_ATTACHMENT, 0x0006_9002, &[1, 0, 0, 0])
            .attr(LVL_ATTACHMENT, 0x0001_8010, b"short.txt\0")
            .attr(LVL_ATTACHMENT, 0x0006_800F, b"second")
            .attr(LVL_ATTACHMENT, 0x0006_9002, &[5, 0, 0, 0])
            .attr(LVL_ATTACHMENT, 0x0006_9005, &props2)
            .0
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    #[test]
    fn rtf_examples_from_the_spec() {
        let mut out = Members::new(Budget::unlimited());
        let rtf = decompress_rtf(SIMPLE_RTF, &mut out).unwrap();
        assert_eq!(rtf, b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n");
        let rtf = decompress_rtf(CROSSING_RTF, &mut out).unwrap();
        assert_eq!(rtf, b"{\\rtf1 WXYZWXYZWXYZWXYZWXYZ}");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert_eq!(RTF_PREAMBLE.len(), 207);
    }

    #[test]
    fn attachments_and_bodies() {
        let data = sample();
        assert!(detect(&data));
        let out = run(&data);
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Quarterly report é.pdf",
                "short.txt",
                "attachment-3.tnef",
                "body.rtf",
                "body.txt",
                "body.html"
            ],
            "{:?}",
            out.warnings
        );
        assert_eq!(&*out.members[0].data, b"%PDF-1.4 data");
        assert_eq!(&*out.members[1].data, b"second");
        assert!(detect(&out.members[2].data));
        let mut inner = Members::new(Budget::unlimited());
        unpack(&out.members[2].data, &mut inner);
        assert_eq!(&*inner.members[0].data, b"inner");
        assert_eq!(
            &*out.members[3].data,
            b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
        );
        assert_eq!(&*out.members[4].data, b"plain body");
        assert_eq!(&*out.members[5].data, b"<b>x</b>");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn truncated_stream_keeps_what_it_read() {
        let data = sample();
        // Cut inside the first attachment's data attribute.
        let at = data.windows(8).position(|w| w == b"%PDF-1.4").unwrap();
        let out = run(&data[..at + 4]);
        assert_eq!(out.members.len(), 4, "{:?}", out.warnings);
        assert_eq!(out.members[0].name, "REPORT~1.PDF");
        assert_eq!(&*out.members[0].data, b"%PDF");
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));
    }

    #[test]
    fn bad_checksum_and_oversized_length() {
        let mut data = Tnef::new().attr(LVL_ATTACHMENT, 0x0006_800F, b"abc").0;
        let n = data.len();
        data[n - 1] ^= 0xFF;
        let out = run(&data);
        assert_eq!(&*out.members[0].data, b"abc");
        assert!(out.warnings.iter().any(|w| w.text.contains("checksum")));
        let mut data = Tnef::new().0;
        data.push(LVL_ATTACHMENT);
        data.extend_from_slice(&0x0006_800Fu32.to_le_bytes());
        data.extend_from_slice(&u32::MAX.to_le_bytes());
        data.extend_from_slice(b"tiny");
        let out = run(&data);
        assert_eq!(&*out.members[0].data, b"tiny");
        assert!(out.warnings[0]
            .text
            .contains("header says 4294967295 bytes"));
    }

    #[test]
    fn lying_property_list() {
        let mut props = 3u32.to_le_bytes().to_vec();
        props.extend_from_slice(&PT_BINARY.to_le_bytes());
        props.extend_from_slice(&PR_ATTACH_DATA.to_le_bytes());
        props.extend_from_slice(&u32::MAX.to_le_bytes()); // value count
        let data = Tnef::new()
            .attr(LVL_ATTACHMENT, 0x0006_9002, &[1, 0, 0, 0])
            .attr(LVL_ATTACHMENT, 0x0006_9005, &props)
            .0;
        let out = run(&data);
        assert!(out.members.is_empty());
        assert!(out.warnings.iter().any(|w| w.text.contains("impossible")));
        assert!(out.warnings.iter().any(|w| w.text.contains("no data")));
    }

    #[test]
    fn empty_and_foreign_input() {
        let out = run(b"");
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("signature"));
        assert!(!detect(b"\x78\x9f\x3e"));
        let sig = TNEF_SIGNATURE.to_le_bytes();
        let out = run(&sig);
        assert!(out.warnings[0].text.contains("header"));
        let mut data = Tnef::new().0;
        data.extend_from_slice(&[1, 2, 3]);
        let out = run(&data);
        assert!(out.warnings[0].text.contains("too few"));
    }

    #[test]
    fn corrupt_rtf_is_tolerated() {
        let mut bad = SIMPLE_RTF.to_vec();
        bad[20] ^= 0x55;
        let mut out = Members::new(Budget::unlimited());
        assert!(decompress_rtf(&bad, &mut out).is_some());
        assert!(out.warnings.iter().any(|w| w.text.contains("CRC")));
        let mut out = Members::new(Budget::unlimited());
        assert!(decompress_rtf(&SIMPLE_RTF[..30], &mut out).is_some());
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));
        let mut out = Members::new(Budget::unlimited());
        assert!(decompress_rtf(&SIMPLE_RTF[..10], &mut out).is_none());
        let mut mela = SIMPLE_RTF[..16].to_vec();
        mela[8..12].copy_from_slice(&RTF_UNCOMPRESSED.to_le_bytes());
        mela[0..4].copy_from_slice(&(12u32 + 5).to_le_bytes());
        mela[4..8].copy_from_slice(&5u32.to_le_bytes());
        mela.extend_from_slice(b"{rtf}");
        let mut out = Members::new(Budget::unlimited());
        assert_eq!(decompress_rtf(&mela, &mut out).unwrap(), b"{rtf}");
    }

    #[test]
    fn rtf_bomb_is_cut_off_at_the_ratio_cap() {
        // Literal 'A' then references that copy the previous 17 bytes again and again.
        let mut body = vec![0b1111_1110u8, b'A'];
        let mut write = RTF_PREAMBLE.len() + 1;
        let mut tokens = 7;
        for _ in 0..100_000 {
            if tokens == 0 {
                body.push(0xFF);
                tokens = 8;
            }
            let offset = (write + 0xFFF) & 0xFFF;
            let word = ((offset << 4) | 0xF) as u16;
            body.extend_from_slice(&word.to_be_bytes());
            write = (write + 17) & 0xFFF;
            tokens -= 1;
        }
        let mut rtf = ((body.len() + 12) as u32).to_le_bytes().to_vec();
        rtf.extend_from_slice(&100u32.to_le_bytes()); // a lying raw size
        rtf.extend_from_slice(&RTF_COMPRESSED.to_le_bytes());
        rtf.extend_from_slice(&rtf_crc(&body).to_le_bytes());
        rtf.extend_from_slice(&body);
        let mut out = Members::new(Budget {
            max_ratio: 2,
            ..Budget::unlimited()
        });
        assert!(decompress_rtf(&rtf, &mut out).is_none());
        assert_eq!(out.limits[0].limit, Limit::Ratio);
    }

    #[test]
    fn member_over_cap_is_skipped_with_a_limit() {
        let data = Tnef::new()
            .attr(LVL_ATTACHMENT, 0x0006_800F, &[9u8; 5000])
            .0;
        let mut out = Members::new(Budget {
            max_output: 1000,
            ..Budget::unlimited()
        });
        unpack(&data, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    #[test]
    fn many_attachments_are_capped() {
        let mut t = Tnef::new();
        for _ in 0..MAX_ATTACHMENTS + 2 {
            t = t.attr(LVL_ATTACHMENT, 0x0006_800F, b"x");
        }
        let out = run(&t.0);
        assert_eq!(out.members.len(), MAX_ATTACHMENTS);
        assert!(out.warnings.iter().any(|w| w.text.contains("more than")));
    }
}
