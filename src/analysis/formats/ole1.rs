//! OLE1 objects ([MS-OLEDS] 2.2): the embedded-object layout that RTF carries in `\\objdata` and
//! that OLE2 documents keep in a `\x01Ole10Native` stream, and the Packager's `Package` object
//! inside it, which wraps any file (a dropper's favourite: an `.exe` or `.hta` behind an icon).
//! The one parse of both, read by the RTF extraction and description and by the OLE2 extraction.

use crate::analysis::bytes::Cursor;

/// Longest OLE1 class, topic or item name accepted (bytes, including the NUL). Real class names
/// are short ProgIDs (`Equation.3`, `Package`); a huge length means the bytes are not OLE1.
pub const MAX_OLE1_STRING: u32 = 4096;

/// OLE1 `FormatID` of a linked object: it names a file but carries no data.
pub const FORMAT_LINKED: u32 = 1;
/// OLE1 `FormatID` of an embedded object: native data follows the names.
pub const FORMAT_EMBEDDED: u32 = 2;

/// MS-OLEDS `LengthPrefixedAnsiString`: u32 length (including the NUL), then the bytes; `None`
/// past [`MAX_OLE1_STRING`] or the data's end.
fn ole1_string<'b>(r: &mut Cursor<'b>) -> Option<&'b [u8]> {
    let len = r.u32()?;
    if len > MAX_OLE1_STRING {
        return None;
    }
    r.bytes(len as usize).map(trim_nul)
}

fn trim_nul(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    &s[..end]
}

/// The OLE1 object in a decoded objdata ([MS-OLEDS] 2.2.4 ObjectHeader, 2.2.5
/// EmbeddedObject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ole1<'d> {
    /// A linked object names a file and carries no data.
    pub linked: bool,
    /// The class name (a ProgID such as `Package` or `Equation.3`): what Word activates.
    pub class: &'d [u8],
    pub topic: &'d [u8],
    /// The native data's size as the header gives it; None when the header ends before it.
    pub declared: Option<u32>,
    /// The native data present (fewer bytes than declared when the object is truncated).
    pub native: &'d [u8],
}

impl<'d> Ole1<'d> {
    /// None when the bytes are not an OLE1 object: no linked or embedded format id, or a class
    /// name whose length is implausible ([`MAX_OLE1_STRING`]).
    pub fn parse(decoded: &'d [u8]) -> Option<Ole1<'d>> {
        let mut r = Cursor::new(decoded);
        let _ole_version = r.u32()?;
        let linked = match r.u32()? {
            FORMAT_LINKED => true,
            FORMAT_EMBEDDED => false,
            _ => return None,
        };
        let class = ole1_string(&mut r)?;
        let topic = ole1_string(&mut r).unwrap_or_default();
        let _item = ole1_string(&mut r).unwrap_or_default();
        let declared = if linked { None } else { r.u32() };
        let native = declared.map_or(&[][..], |n| r.take_upto(n as usize));
        Some(Ole1 {
            linked,
            class,
            topic,
            declared,
            native,
        })
    }
}

/// The file an OLE Package (Packager) object carries, from its native data.
///
/// Layout: u16 signature (2), label (NUL-terminated), source path (NUL-terminated), u16 reserved,
/// u16 type (3 = embedded file, 1 = link), u32 length + temporary path, u32 size + file data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package<'n> {
    pub label: &'n [u8],
    pub source: &'n [u8],
    /// 3: an embedded file; 1: a link to `source`.
    pub kind: u16,
    pub temp: &'n [u8],
    /// The file's size as the package gives it.
    pub declared: u32,
    /// The file's bytes present (fewer than declared when it is truncated).
    pub content: &'n [u8],
}

impl<'n> Package<'n> {
    /// The package, or what is wrong with its layout (to follow "package ...").
    pub fn parse(native: &'n [u8]) -> Result<Package<'n>, &'static str> {
        let mut r = Cursor::new(native);
        r.u16().ok_or("is too short for its header")?;
        let label = r.cstr();
        let source = r.cstr();
        let (Some(_reserved), Some(kind)) = (r.u16(), r.u16()) else {
            return Err("ends after its file names");
        };
        let temp_len = r.u32().ok_or("ends before its temporary path")?;
        // Be tolerant: when the length is implausible, the path is still NUL-terminated.
        let temp = if (temp_len as usize) <= r.remaining() {
            trim_nul(r.take_upto(temp_len as usize))
        } else {
            r.cstr()
        };
        let declared = r.u32().ok_or("ends before its file data")?;
        let content = r.take_upto(declared as usize);
        Ok(Package {
            label,
            source,
            kind,
            temp,
            declared,
            content,
        })
    }

    /// The packaged file's name: its label, else the last part of its temporary or source path.
    pub fn name(&self) -> Option<String> {
        [self.label, basename(self.temp), basename(self.source)]
            .into_iter()
            .find(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
    }
}

/// The last component of a Windows or Unix path.
fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'\\' || b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// An OLE1 length-prefixed string (the length counts the NUL).
    pub(crate) fn ole1_string(s: &[u8]) -> Vec<u8> {
        let mut v = ((s.len() + 1) as u32).to_le_bytes().to_vec();
        v.extend_from_slice(s);
        v.push(0);
        v
    }

    /// An embedded OLE1 object of `class` carrying `native`.
    pub(crate) fn ole1(class: &[u8], native: &[u8]) -> Vec<u8> {
        let mut v = 0x0501u32.to_le_bytes().to_vec();
        v.extend_from_slice(&2u32.to_le_bytes());
        v.extend(ole1_string(class));
        v.extend(ole1_string(b""));
        v.extend(ole1_string(b""));
        v.extend_from_slice(&(native.len() as u32).to_le_bytes());
        v.extend_from_slice(native);
        v
    }

    /// A Packager `Package` stream: `label` from `C:\\src\\`, extracted to `temp`.
    pub(crate) fn package(label: &[u8], temp: &[u8], content: &[u8]) -> Vec<u8> {
        let mut v = 2u16.to_le_bytes().to_vec();
        v.extend_from_slice(label);
        v.push(0);
        v.extend_from_slice(b"C:\\src\\");
        v.extend_from_slice(label);
        v.push(0);
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&3u16.to_le_bytes());
        v.extend_from_slice(&((temp.len() + 1) as u32).to_le_bytes());
        v.extend_from_slice(temp);
        v.push(0);
        v.extend_from_slice(&(content.len() as u32).to_le_bytes());
        v.extend_from_slice(content);
        v
    }
}
