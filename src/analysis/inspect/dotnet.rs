//! .NET metadata (`metadata.application.pe.dotnet`): the CLR header, the metadata root's runtime
//! version, and from the `#~` tables with the `#Strings` and `#GUID` heaps the module name and
//! MVID, the assembly name and version, referenced assemblies and P/Invoke modules.
//!
//! Rows of the tables before the ones read must be skipped, so every table up to AssemblyRef
//! (0x23) has its column layout here (ECMA-335 II.22); tables after it are never needed.

use serde::Serialize;

use crate::analysis::bytes::{guid_string, le16, le32};

/// Most stream headers read from the metadata root.
const MAX_STREAMS: usize = 16;
/// Most names listed per list (references, P/Invoke modules).
const MAX_LISTED: usize = 256;
/// Longest heap string kept, in bytes.
const MAX_STRING: usize = 512;

/// Reads `len` bytes at an RVA of the image.
pub type ReadAt<'r, 'a> = &'r dyn Fn(u32, usize) -> Option<&'a [u8]>;

#[derive(Serialize, Debug, Default)]
pub struct DotNet {
    /// CLR header version, e.g. `2.5`.
    pub clr_version: String,
    /// Metadata root version string, e.g. `v4.0.30319`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    pub flags: Flags,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assembly_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assembly_version: Option<String>,
    pub references: Vec<String>,
    pub pinvoke_modules: Vec<String>,
}

#[derive(Serialize, Debug, Default)]
pub struct Flags {
    pub il_only: bool,
    pub requires_32bit: bool,
    pub prefers_32bit: bool,
    pub strong_name_signed: bool,
    pub native_entry_point: bool,
}

/// A column of a metadata table.
#[derive(Clone, Copy)]
enum Col {
    /// A fixed-width constant.
    Fixed(usize),
    Str,
    Guid,
    Blob,
    /// An index into one table.
    Table(usize),
    /// A coded index over several tables (ECMA-335 II.24.2.6).
    Coded(&'static [usize]),
}

use crate::analysis::warning::{Problem, Warning};
use Col::{Blob, Coded, Fixed, Guid, Str, Table};

const TYPE_DEF: usize = 0x02;
const FIELD: usize = 0x04;
const METHOD_DEF: usize = 0x06;
const PARAM: usize = 0x08;
const EVENT: usize = 0x14;
const PROPERTY: usize = 0x17;
const MODULE_REF: usize = 0x1a;
const ASSEMBLY: usize = 0x20;
const ASSEMBLY_REF: usize = 0x23;
/// Tables that no coded index of the tables read can name; a stand-in row count of 0.
const NONE: usize = 0x3f;

const TYPE_DEF_OR_REF: &[usize] = &[TYPE_DEF, 0x01, 0x1b];
const HAS_CONSTANT: &[usize] = &[FIELD, PARAM, PROPERTY];
const HAS_CUSTOM_ATTRIBUTE: &[usize] = &[
    METHOD_DEF,
    FIELD,
    0x01,
    TYPE_DEF,
    PARAM,
    0x09,
    0x0a,
    0x00,
    0x0e,
    PROPERTY,
    EVENT,
    0x11,
    MODULE_REF,
    0x1b,
    ASSEMBLY,
    ASSEMBLY_REF,
    0x26,
    0x27,
    0x28,
    0x2a,
    0x2c,
    0x2b,
];
const HAS_FIELD_MARSHAL: &[usize] = &[FIELD, PARAM];
const HAS_DECL_SECURITY: &[usize] = &[TYPE_DEF, METHOD_DEF, ASSEMBLY];
const MEMBER_REF_PARENT: &[usize] = &[TYPE_DEF, 0x01, MODULE_REF, METHOD_DEF, 0x1b];
const HAS_SEMANTICS: &[usize] = &[EVENT, PROPERTY];
const METHOD_DEF_OR_REF: &[usize] = &[METHOD_DEF, 0x0a];
const MEMBER_FORWARDED: &[usize] = &[FIELD, METHOD_DEF];
const CUSTOM_ATTRIBUTE_TYPE: &[usize] = &[NONE, NONE, METHOD_DEF, 0x0a, NONE];
const RESOLUTION_SCOPE: &[usize] = &[0x00, MODULE_REF, ASSEMBLY_REF, 0x01];

/// Columns of tables 0x00..=0x23.
const SCHEMA: &[&[Col]] = &[
    /* 0x00 Module */ &[Fixed(2), Str, Guid, Guid, Guid],
    /* 0x01 TypeRef */ &[Coded(RESOLUTION_SCOPE), Str, Str],
    /* 0x02 TypeDef */
    &[
        Fixed(4),
        Str,
        Str,
        Coded(TYPE_DEF_OR_REF),
        Table(FIELD),
        Table(METHOD_DEF),
    ],
    /* 0x03 FieldPtr */ &[Table(FIELD)],
    /* 0x04 Field */ &[Fixed(2), Str, Blob],
    /* 0x05 MethodPtr */ &[Table(METHOD_DEF)],
    /* 0x06 MethodDef */ &[Fixed(4), Fixed(2), Fixed(2), Str, Blob, Table(PARAM)],
    /* 0x07 ParamPtr */ &[Table(PARAM)],
    /* 0x08 Param */ &[Fixed(2), Fixed(2), Str],
    /* 0x09 InterfaceImpl */ &[Table(TYPE_DEF), Coded(TYPE_DEF_OR_REF)],
    /* 0x0a MemberRef */ &[Coded(MEMBER_REF_PARENT), Str, Blob],
    /* 0x0b Constant */ &[Fixed(2), Coded(HAS_CONSTANT), Blob],
    /* 0x0c CustomAttribute */
    &[
        Coded(HAS_CUSTOM_ATTRIBUTE),
        Coded(CUSTOM_ATTRIBUTE_TYPE),
        Blob,
    ],
    /* 0x0d FieldMarshal */ &[Coded(HAS_FIELD_MARSHAL), Blob],
    /* 0x0e DeclSecurity */ &[Fixed(2), Coded(HAS_DECL_SECURITY), Blob],
    /* 0x0f ClassLayout */ &[Fixed(2), Fixed(4), Table(TYPE_DEF)],
    /* 0x10 FieldLayout */ &[Fixed(4), Table(FIELD)],
    /* 0x11 StandAloneSig */ &[Blob],
    /* 0x12 EventMap */ &[Table(TYPE_DEF), Table(EVENT)],
    /* 0x13 EventPtr */ &[Table(EVENT)],
    /* 0x14 Event */ &[Fixed(2), Str, Coded(TYPE_DEF_OR_REF)],
    /* 0x15 PropertyMap */ &[Table(TYPE_DEF), Table(PROPERTY)],
    /* 0x16 PropertyPtr */ &[Table(PROPERTY)],
    /* 0x17 Property */ &[Fixed(2), Str, Blob],
    /* 0x18 MethodSemantics */ &[Fixed(2), Table(METHOD_DEF), Coded(HAS_SEMANTICS)],
    /* 0x19 MethodImpl */
    &[
        Table(TYPE_DEF),
        Coded(METHOD_DEF_OR_REF),
        Coded(METHOD_DEF_OR_REF),
    ],
    /* 0x1a ModuleRef */ &[Str],
    /* 0x1b TypeSpec */ &[Blob],
    /* 0x1c ImplMap */ &[Fixed(2), Coded(MEMBER_FORWARDED), Str, Table(MODULE_REF)],
    /* 0x1d FieldRVA */ &[Fixed(4), Table(FIELD)],
    /* 0x1e EncLog */ &[Fixed(4), Fixed(4)],
    /* 0x1f EncMap */ &[Fixed(4)],
    /* 0x20 Assembly */
    &[
        Fixed(4),
        Fixed(2),
        Fixed(2),
        Fixed(2),
        Fixed(2),
        Fixed(4),
        Blob,
        Str,
        Str,
    ],
    /* 0x21 AssemblyProcessor */ &[Fixed(4)],
    /* 0x22 AssemblyOS */ &[Fixed(4), Fixed(4), Fixed(4)],
    /* 0x23 AssemblyRef */
    &[
        Fixed(2),
        Fixed(2),
        Fixed(2),
        Fixed(2),
        Fixed(4),
        Blob,
        Str,
        Str,
        Blob,
    ],
];

/// The `#~` stream's layout: row counts and index widths.
struct Tables<'a> {
    rows: [u32; 64],
    str_wide: bool,
    guid_wide: bool,
    blob_wide: bool,
    /// The row data, from the first present table on.
    body: &'a [u8],
}

impl Tables<'_> {
    fn rows_of(&self, table: usize) -> u32 {
        self.rows.get(table).copied().unwrap_or(0)
    }

    fn width(&self, col: Col) -> usize {
        let wide = |b: bool| if b { 4 } else { 2 };
        match col {
            Fixed(n) => n,
            Str => wide(self.str_wide),
            Guid => wide(self.guid_wide),
            Blob => wide(self.blob_wide),
            Table(t) => wide(self.rows_of(t) > 0xffff),
            Coded(tables) => {
                let bits = usize::BITS - (tables.len() - 1).leading_zeros();
                let max = tables.iter().map(|&t| self.rows_of(t)).max().unwrap_or(0);
                wide(u64::from(max) >= 1u64 << (16 - bits))
            }
        }
    }

    fn row_size(&self, table: usize) -> usize {
        SCHEMA[table].iter().map(|&c| self.width(c)).sum()
    }

    /// Byte offset of table `table` in `body`, or `None` past the known schema.
    fn table_at(&self, table: usize) -> Option<usize> {
        let mut at = 0usize;
        for t in 0..table {
            if self.rows_of(t) > 0 {
                let size = SCHEMA.get(t).map(|_| self.row_size(t))?;
                at = at.checked_add(size.checked_mul(self.rows_of(t) as usize)?)?;
            }
        }
        Some(at)
    }

    /// Column values (as numbers) of one row; `None` when the row lies past the stream.
    fn row(&self, table: usize, index: u32) -> Option<Vec<u32>> {
        let size = self.row_size(table);
        let mut at = self
            .table_at(table)?
            .checked_add(size.checked_mul(index as usize)?)?;
        let row = self.body.get(at..at.checked_add(size)?)?;
        at = 0;
        let mut values = Vec::with_capacity(SCHEMA[table].len());
        for &col in SCHEMA[table] {
            let w = self.width(col);
            values.push(match w {
                1 => u32::from(row[at]),
                2 => u32::from(le16(row, at)?),
                _ => le32(row, at)?,
            });
            at += w;
        }
        Some(values)
    }
}

/// A `#Strings` heap entry.
fn heap_string(heap: &[u8], index: u32) -> Option<String> {
    let b = heap.get(index as usize..)?;
    let b = &b[..b.len().min(MAX_STRING)];
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Some(String::from_utf8_lossy(&b[..end]).into_owned())
}

/// A `#GUID` heap entry (1-based).
fn heap_guid(heap: &[u8], index: u32) -> Option<String> {
    let at = (index as usize).checked_sub(1)?.checked_mul(16)?;
    guid_string(heap.get(at..at + 16)?)
}

/// Reads the CLR header at `clr_rva` and what it leads to.
pub fn read(at: ReadAt, clr_rva: u32, warnings: &mut Vec<Warning>) -> Option<DotNet> {
    let Some(clr) = at(clr_rva, 72) else {
        warnings.push(Warning::new(
            Problem::Truncated,
            format!("pe: the CLR header at RVA 0x{clr_rva:x} lies outside the file"),
        ));
        return None;
    };
    let flags = le32(clr, 16).unwrap_or(0);
    let mut net = DotNet {
        clr_version: format!(
            "{}.{}",
            le16(clr, 4).unwrap_or(0),
            le16(clr, 6).unwrap_or(0)
        ),
        flags: Flags {
            il_only: flags & 1 != 0,
            requires_32bit: flags & 2 != 0,
            strong_name_signed: flags & 8 != 0,
            native_entry_point: flags & 0x10 != 0,
            prefers_32bit: flags & 0x20000 != 0,
        },
        ..DotNet::default()
    };
    let (meta_rva, meta_size) = (le32(clr, 8).unwrap_or(0), le32(clr, 12).unwrap_or(0));
    let Some(meta) = at(meta_rva, meta_size as usize) else {
        warnings.push(Warning::new(
            Problem::Truncated,
            "pe: the .NET metadata lies outside the file",
        ));
        return Some(net);
    };
    if let Err(why) = metadata(meta, &mut net) {
        warnings.push(Warning::new(
            Problem::Corrupt,
            format!("pe: the .NET metadata is malformed ({why})"),
        ));
    }
    Some(net)
}

fn metadata(meta: &[u8], net: &mut DotNet) -> Result<(), &'static str> {
    if le32(meta, 0) != Some(0x424a_5342) {
        return Err("no BSJB signature");
    }
    let len = le32(meta, 12).ok_or("truncated root")? as usize;
    let version = meta.get(16..16 + len.min(255)).ok_or("truncated root")?;
    let end = version
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(version.len());
    net.runtime_version = Some(String::from_utf8_lossy(&version[..end]).into_owned());
    let mut pos = 16 + len;
    let nstreams = le16(meta, pos + 2).ok_or("truncated root")? as usize;
    pos += 4;
    let (mut tables, mut strings, mut guids) = (None, &[][..], &[][..]);
    for _ in 0..nstreams.min(MAX_STREAMS) {
        let (offset, size) = (
            le32(meta, pos).ok_or("truncated stream header")? as usize,
            le32(meta, pos + 4).ok_or("truncated stream header")? as usize,
        );
        let name_bytes = meta.get(pos + 8..).ok_or("truncated stream header")?;
        let name_len = name_bytes
            .iter()
            .take(32)
            .position(|&c| c == 0)
            .ok_or("unterminated stream name")?;
        let body = meta
            .get(offset..offset.saturating_add(size))
            .ok_or("a stream lies outside the metadata")?;
        match &name_bytes[..name_len] {
            b"#~" | b"#-" => tables = Some(body),
            b"#Strings" => strings = body,
            b"#GUID" => guids = body,
            _ => {}
        }
        pos += 8 + ((name_len + 4) & !3);
    }
    let tables = parse_tables(tables.ok_or("no #~ stream")?)?;
    if let Some(module) = tables.row(0x00, 0).filter(|_| tables.rows_of(0x00) > 0) {
        net.module_name = heap_string(strings, module[1]);
        net.module_guid = heap_guid(guids, module[2]);
    }
    if tables.rows_of(ASSEMBLY) > 0 {
        let a = tables
            .row(ASSEMBLY, 0)
            .ok_or("the Assembly table is truncated")?;
        net.assembly_name = heap_string(strings, a[7]);
        net.assembly_version = Some(format!("{}.{}.{}.{}", a[1], a[2], a[3], a[4]));
    }
    for i in 0..tables.rows_of(ASSEMBLY_REF).min(MAX_LISTED as u32) {
        let r = tables
            .row(ASSEMBLY_REF, i)
            .ok_or("the AssemblyRef table is truncated")?;
        net.references.extend(heap_string(strings, r[6]));
    }
    for i in 0..tables.rows_of(MODULE_REF).min(MAX_LISTED as u32) {
        let r = tables
            .row(MODULE_REF, i)
            .ok_or("the ModuleRef table is truncated")?;
        net.pinvoke_modules.extend(heap_string(strings, r[0]));
    }
    Ok(())
}

fn parse_tables(b: &[u8]) -> Result<Tables<'_>, &'static str> {
    let heaps = *b.get(6).ok_or("truncated #~ header")?;
    let valid = u64::from(le32(b, 8).ok_or("truncated #~ header")?)
        | u64::from(le32(b, 12).ok_or("truncated #~ header")?) << 32;
    let mut rows = [0u32; 64];
    let mut pos = 24;
    for (t, slot) in rows.iter_mut().enumerate() {
        if valid & (1u64 << t) != 0 {
            *slot = le32(b, pos).ok_or("truncated row counts")?;
            pos += 4;
        }
    }
    // Tables past the known schema cannot be skipped, but they all come after the ones read.
    // The extra-data flag (0x40) puts 4 more bytes after the row counts.
    if heaps & 0x40 != 0 {
        pos += 4;
    }
    Ok(Tables {
        rows,
        str_wide: heaps & 1 != 0,
        guid_wide: heaps & 2 != 0,
        blob_wide: heaps & 4 != 0,
        body: b.get(pos..).unwrap_or(&[]),
    })
}
