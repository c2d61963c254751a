//! Authenticode (`metadata.application.pe.authenticode`): the PKCS#7 SignedData in a PE's
//! certificate table, read with a small DER walker: the certificates (subject, issuer, serial,
//! validity), the signer, the digest signed in SpcIndirectDataContent, and whether the file still
//! hashes to it (the Authenticode digest: the whole file except the checksum field, the
//! certificate-table directory entry and the certificate table). Cryptographic signatures are
//! not verified: a matching digest says the file was not changed since it was signed, not who
//! signed it.

use md5::Md5;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::analysis::bytes::{le16, le32};
use crate::analysis::hashes::hex;
use crate::analysis::warning::{Problem, Warning};
use crate::time::format_utc as iso_time;

/// Most WIN_CERTIFICATE entries read from the table.
const MAX_ENTRIES: usize = 8;
/// Most certificates listed.
const MAX_CERTIFICATES: usize = 32;
/// Most relative distinguished names kept in one name.
const MAX_NAME_PARTS: usize = 32;
/// Longest serial number kept, in bytes.
const MAX_SERIAL_BYTES: usize = 64;

/// Where the parts the digest skips are.
pub struct Layout {
    /// File offset of the optional header's checksum field.
    pub checksum_at: usize,
    /// File offset of data directory 4 (certificate table).
    pub directory_entry_at: usize,
    /// The certificate table's file offset and size (data directory 4).
    pub table_at: u32,
    pub table_size: u32,
}

#[derive(Serialize, Debug, Clone)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    /// Serial number in hex.
    pub serial: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    pub self_signed: bool,
}

impl Certificate {
    /// The subject's common name (or organisation), for the story.
    pub fn display_name(&self) -> String {
        ["CN=", "O="]
            .iter()
            .find_map(|key| {
                self.subject
                    .split(", ")
                    .find_map(|part| part.strip_prefix(key))
            })
            .unwrap_or(&self.subject)
            .to_string()
    }
}

#[derive(Serialize, Debug, Default)]
pub struct Authenticode {
    /// How many WIN_CERTIFICATE entries the table has.
    pub entries: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_algorithm: Option<String>,
    /// The digest the signature covers (SpcIndirectDataContent), hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The Authenticode digest of the file as it is, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_digest: Option<String>,
    /// `None` when either digest is unknown.
    pub digest_matches: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<Certificate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<String>,
    pub certificates: Vec<Certificate>,
}

// ---------------------------------------------------------------------------------------------
// DER

/// One DER element.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Reads one element from the start of `b`; returns it and the rest.
fn tlv(b: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *b.first()?;
    if tag & 0x1f == 0x1f {
        // High tag numbers appear nowhere in what is read here.
        return None;
    }
    let first = *b.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            // Indefinite (BER) or absurd lengths.
            return None;
        }
        let mut len = 0usize;
        for &byte in b.get(2..2 + n)? {
            len = len << 8 | byte as usize;
        }
        (len, 2 + n)
    };
    let content = b.get(header..header.checked_add(len)?)?;
    Some((Tlv { tag, content }, &b[header + len..]))
}

/// The elements inside a constructed element.
fn children(b: &[u8]) -> impl Iterator<Item = Tlv<'_>> {
    let mut rest = b;
    std::iter::from_fn(move || {
        let (t, r) = tlv(rest)?;
        rest = r;
        Some(t)
    })
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0]` constructed (context-specific).
const CONTEXT_0: u8 = 0xa0;

/// An OID in dotted form.
fn oid(b: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut value = 0u64;
    for &byte in b {
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if parts.is_empty() {
                let first = (value / 40).min(2);
                parts.push(first);
                parts.push(value - first * 40);
            } else {
                parts.push(value);
            }
            value = 0;
        }
    }
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const SPC_INDIRECT_DATA: &str = "1.3.6.1.4.1.311.2.1.4";
const SIGNING_TIME: &str = "1.2.840.113549.1.9.5";

fn digest_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.2.840.113549.2.5" => "md5",
        "1.3.14.3.2.26" => "sha1",
        "2.16.840.1.101.3.4.2.1" => "sha256",
        "2.16.840.1.101.3.4.2.2" => "sha384",
        "2.16.840.1.101.3.4.2.3" => "sha512",
        _ => return None,
    })
}

fn attribute_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "1.2.840.113549.1.9.1" => "E",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
}

/// A directory string's text (UTF-8, printable, IA5, T61 or BMP).
fn text(t: Tlv) -> String {
    match t.tag {
        0x1e => crate::analysis::text::utf16be(t.content),
        _ => String::from_utf8_lossy(t.content).into_owned(),
    }
}

/// A Name as `CN=..., O=..., C=...` (most specific first, as Windows shows it).
fn name(b: &[u8]) -> String {
    let mut parts: Vec<String> = children(b)
        .filter(|rdn| rdn.tag == SET)
        .flat_map(|rdn| children(rdn.content).collect::<Vec<_>>())
        .take(MAX_NAME_PARTS)
        .filter_map(|atv| {
            let mut it = children(atv.content);
            let key = it.next().filter(|k| k.tag == OID)?;
            let value = it.next()?;
            let key = oid(key.content);
            let label = attribute_name(&key).map_or(key, str::to_string);
            Some(format!("{label}={}", text(value)))
        })
        .collect();
    parts.reverse();
    parts.join(", ")
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as ISO 8601.
fn time(t: Tlv) -> Option<String> {
    let s = std::str::from_utf8(t.content).ok()?;
    let digits = s.trim_end_matches('Z');
    let (year, rest) = match t.tag {
        UTC_TIME => {
            let yy: i64 = digits.get(..2)?.parse().ok()?;
            (
                if yy < 50 { 2000 + yy } else { 1900 + yy },
                digits.get(2..)?,
            )
        }
        GENERALIZED_TIME => (digits.get(..4)?.parse().ok()?, digits.get(4..)?),
        _ => return None,
    };
    let field = |at: usize| -> Option<i64> { rest.get(at..at + 2)?.parse().ok() };
    let (month, day, hour, minute) = (field(0)?, field(2)?, field(4)?, field(6)?);
    let second = field(8).unwrap_or(0);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = crate::time::days_from_civil(year, month, day);
    Some(iso_time(days * 86_400 + hour * 3600 + minute * 60 + second))
}

fn serial(t: Tlv) -> String {
    hex(&t.content[..t.content.len().min(MAX_SERIAL_BYTES)])
}

/// A certificate's fields, and its (issuer, serial) DER bytes to match the signer.
fn certificate(cert: Tlv<'_>) -> Option<(Certificate, &[u8], &[u8])> {
    let tbs = children(cert.content)
        .next()
        .filter(|t| t.tag == SEQUENCE)?;
    let mut fields = children(tbs.content).peekable();
    if fields.peek().is_some_and(|t| t.tag == CONTEXT_0) {
        fields.next();
    }
    let serial_tlv = fields.next().filter(|t| t.tag == INTEGER)?;
    let _algorithm = fields.next()?;
    let issuer = fields.next().filter(|t| t.tag == SEQUENCE)?;
    let validity = fields.next().filter(|t| t.tag == SEQUENCE)?;
    let subject = fields.next().filter(|t| t.tag == SEQUENCE)?;
    let mut times = children(validity.content);
    let (subject_name, issuer_name) = (name(subject.content), name(issuer.content));
    Some((
        Certificate {
            self_signed: subject.content == issuer.content,
            subject: subject_name,
            issuer: issuer_name,
            serial: serial(serial_tlv),
            not_before: times.next().and_then(time),
            not_after: times.next().and_then(time),
        },
        issuer.content,
        serial_tlv.content,
    ))
}

/// Reads the SignedData of one PKCS#7 ContentInfo into `out`. Errors say what was missing.
fn signed_data(der: &[u8], out: &mut Authenticode) -> Result<(), &'static str> {
    let (info, _) = tlv(der)
        .filter(|(t, _)| t.tag == SEQUENCE)
        .ok_or("no ContentInfo")?;
    let mut it = children(info.content);
    let kind = it
        .next()
        .filter(|t| t.tag == OID)
        .ok_or("no content type")?;
    if oid(kind.content) != SIGNED_DATA {
        return Err("the content is not SignedData");
    }
    let explicit = it
        .next()
        .filter(|t| t.tag == CONTEXT_0)
        .ok_or("no SignedData")?;
    let sd = children(explicit.content)
        .next()
        .filter(|t| t.tag == SEQUENCE)
        .ok_or("no SignedData")?;
    let mut fields = children(sd.content);
    let _version = fields.next();
    let _digest_algorithms = fields.next();
    let content = fields
        .next()
        .filter(|t| t.tag == SEQUENCE)
        .ok_or("no content info")?;
    spc_indirect_data(content, out)?;
    let mut matches = Vec::new();
    let mut signer_id = None;
    for f in fields {
        match f.tag {
            CONTEXT_0 => {
                for c in children(f.content).filter(|c| c.tag == SEQUENCE) {
                    if out.certificates.len() >= MAX_CERTIFICATES {
                        break;
                    }
                    if let Some((cert, issuer, serial)) = certificate(c) {
                        matches.push((issuer, serial));
                        out.certificates.push(cert);
                    }
                }
            }
            SET => {
                // The first SignerInfo: version, issuerAndSerialNumber, ...
                let info = children(f.content).find(|s| s.tag == SEQUENCE);
                if let Some(info) = info {
                    let mut parts = children(info.content);
                    let _version = parts.next();
                    signer_id = parts.next().filter(|t| t.tag == SEQUENCE).and_then(|id| {
                        let mut id = children(id.content);
                        Some((id.next()?.content, id.next()?.content))
                    });
                    out.signing_time = parts
                        .find(|p| p.tag == CONTEXT_0)
                        .and_then(|attrs| signing_time(attrs.content));
                }
            }
            _ => {}
        }
    }
    if let Some((issuer, serial)) = signer_id {
        out.signer = matches
            .iter()
            .position(|m| *m == (issuer, serial))
            .and_then(|i| out.certificates.get(i).cloned());
    }
    Ok(())
}

/// The signingTime authenticated attribute, if present.
fn signing_time(attrs: &[u8]) -> Option<String> {
    children(attrs).filter(|a| a.tag == SEQUENCE).find_map(|a| {
        let mut it = children(a.content);
        let key = it.next().filter(|k| k.tag == OID)?;
        (oid(key.content) == SIGNING_TIME).then_some(())?;
        children(it.next()?.content).next().and_then(time)
    })
}

/// ContentInfo { SPC_INDIRECT_DATA, [0] SpcIndirectDataContent { data, DigestInfo } }.
fn spc_indirect_data(content: Tlv, out: &mut Authenticode) -> Result<(), &'static str> {
    let mut it = children(content.content);
    let kind = it
        .next()
        .filter(|t| t.tag == OID)
        .ok_or("no content type")?;
    if oid(kind.content) != SPC_INDIRECT_DATA {
        return Err("the signed content is not SpcIndirectDataContent");
    }
    let spc = it
        .next()
        .filter(|t| t.tag == CONTEXT_0)
        .and_then(|t| children(t.content).next())
        .ok_or("no SpcIndirectDataContent")?;
    let digest_info = children(spc.content)
        .nth(1)
        .filter(|t| t.tag == SEQUENCE)
        .ok_or("no DigestInfo")?;
    let mut d = children(digest_info.content);
    let algorithm = d
        .next()
        .and_then(|a| children(a.content).next())
        .filter(|t| t.tag == OID)
        .ok_or("no digest algorithm")?;
    let digest = d
        .next()
        .filter(|t| t.tag == OCTET_STRING)
        .ok_or("no digest")?;
    let algorithm = oid(algorithm.content);
    out.digest_algorithm = Some(digest_name(&algorithm).map_or(algorithm, str::to_string));
    out.digest = Some(hex(digest.content));
    Ok(())
}

/// The Authenticode digest of `data` with the named algorithm, in hex.
fn file_digest(data: &[u8], layout: &Layout, algorithm: &str, trailing: bool) -> Option<String> {
    let table = layout.table_at as usize;
    let table_end = table.checked_add(layout.table_size as usize)?;
    let (c, d) = (layout.checksum_at, layout.directory_entry_at);
    if !(c + 4 <= d && d + 8 <= table && table <= data.len()) {
        return None;
    }
    let mut parts = vec![&data[..c], &data[c + 4..d], &data[d + 8..table]];
    if trailing {
        parts.push(data.get(table_end..).unwrap_or(&[]));
    }
    fn run<H: Digest>(parts: &[&[u8]]) -> String {
        let mut h = H::new();
        for p in parts {
            h.update(p);
        }
        hex(&h.finalize())
    }
    Some(match algorithm {
        "md5" => run::<Md5>(&parts),
        "sha1" => run::<Sha1>(&parts),
        "sha256" => run::<Sha256>(&parts),
        "sha384" => run::<Sha384>(&parts),
        "sha512" => run::<Sha512>(&parts),
        _ => return None,
    })
}

/// Reads the certificate table; `None` when the directory does not describe one in the file.
pub fn read(data: &[u8], layout: &Layout, warnings: &mut Vec<Warning>) -> Option<Authenticode> {
    let (at, size) = (layout.table_at as usize, layout.table_size as usize);
    let Some(table) = data.get(at..at.saturating_add(size)) else {
        warnings.push(Warning::new(
            Problem::Truncated,
            format!(
            "pe: the certificate table (offset {at}, {size} bytes) runs past the end of the file"
        ),
        ));
        return None;
    };
    let mut out = Authenticode::default();
    let mut pos = 0;
    let mut pkcs7 = None;
    while pos + 8 <= table.len() && out.entries < MAX_ENTRIES {
        let len = le32(table, pos).unwrap_or(0) as usize;
        let kind = le16(table, pos + 6).unwrap_or(0);
        let Some(body) = table.get(pos + 8..pos.saturating_add(len)) else {
            warnings.push(Warning::new(
                Problem::Truncated,
                "pe: a certificate table entry runs past the table",
            ));
            break;
        };
        out.entries += 1;
        // WIN_CERT_TYPE_PKCS_SIGNED_DATA; the first one is the signature.
        if kind == 2 && pkcs7.is_none() {
            pkcs7 = Some(body);
        }
        if len < 8 {
            break;
        }
        pos += (len + 7) & !7;
    }
    match pkcs7 {
        None => warnings.push(Warning::new(
            Problem::Corrupt,
            "pe: the certificate table holds no PKCS#7 signature",
        )),
        Some(der) => {
            if let Err(why) = signed_data(der, &mut out) {
                warnings.push(Warning::new(
                    Problem::Corrupt,
                    format!("pe: the Authenticode signature is malformed ({why})"),
                ));
            }
        }
    }
    if let (Some(algorithm), Some(signed)) = (&out.digest_algorithm, &out.digest) {
        out.computed_digest = file_digest(data, layout, algorithm, true);
        // Bytes appended after the table are hashed by some tools and not by others.
        if out.computed_digest.as_ref() != Some(signed) && at.saturating_add(size) < data.len() {
            if let Some(without) = file_digest(data, layout, algorithm, false) {
                if &without == signed {
                    out.computed_digest = Some(without);
                }
            }
        }
        out.digest_matches = out.computed_digest.as_ref().map(|c| c == signed);
    }
    Some(out)
}
