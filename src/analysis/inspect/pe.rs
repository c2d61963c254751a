//! PE metadata (`metadata.application.pe`): headers, sections with hashes and entropy, imports
//! grouped by DLL (with ordinals and delay-load), exports, resources, version strings, PDB path,
//! rich header, TLS callbacks, overlay, the PE checksum, Authenticode ([`super::authenticode`])
//! and .NET ([`super::dotnet`]); the imphash; the tags, facts and heuristics they support.
//!
//! The image, its sections, resources and imports are read by the one PE reader,
//! `formats::pe` (as the unpacker and the UPX rebuild read them); the tables only described
//! (exports, version, debug, TLS, rich header) are read here, the same way: by hand, a damaged
//! table a `pe: ...` warning and the rest still read. Each list is capped by a named `MAX_*`,
//! and the bytes hashed for sections and resources by [`MAX_HASHED_BYTES`] (both may overlap at
//! will).

use std::collections::{BTreeMap, BTreeSet};

use md5::Md5;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::authenticode::{self, Authenticode};
use super::dotnet::{self, DotNet};
use super::{suspicious, Heuristic, Inspection};
use crate::analysis::bytes::{guid_string, le16, le32};
use crate::analysis::formats::pe::{
    self, cstr, Image, ImportDescriptor, ImportedFunction, IMAGE_SCN_MEM_EXECUTE,
    IMAGE_SCN_MEM_READ, IMAGE_SCN_MEM_WRITE,
};
use crate::analysis::hashes::{entropy_of, hex};
use crate::analysis::identify::{FileKind, Format, PeRole};
use crate::analysis::warning::{Problem, Warning};

/// Most exports listed.
const MAX_EXPORTS: usize = 10_000;
/// Most resources listed.
const MAX_RESOURCES: usize = 2_000;
/// Most version-info strings kept.
const MAX_VERSION_STRINGS: usize = 64;
/// Most debug directory entries read.
const MAX_DEBUG_ENTRIES: usize = 32;
/// Most TLS callbacks listed.
const MAX_TLS_CALLBACKS: usize = 64;
/// Most rich header entries listed.
const MAX_RICH_ENTRIES: usize = 256;
/// Most bytes hashed for sections and resources together.
const MAX_HASHED_BYTES: usize = 512 << 20;

pub const ENTRY_OUTSIDE_SECTIONS: &Heuristic = &Heuristic {
    id: "pe-entry-outside-sections",
    priority: 5,
    category: "anomaly",
    description: "The entry point lies outside every section (in the headers or unmapped \
                  space), which compilers never produce and packers and hand-made loaders do.",
    verdict: None,
};

pub const WX_SECTION: &Heuristic = &Heuristic {
    id: "pe-wx-section",
    priority: 4,
    category: "anomaly",
    description: "A section is writable and executable at once, as self-modifying or \
                  unpacking code needs and ordinary programs avoid.",
    verdict: None,
};

pub const ZERO_TIMESTAMP: &Heuristic = &Heuristic {
    id: "pe-zero-timestamp",
    priority: 1,
    category: "anomaly",
    description: "The COFF header's build timestamp is zero: it was wiped, or the linker was \
                  told not to write one.",
    verdict: None,
};

pub const CHECKSUM_MISMATCH: &Heuristic = &Heuristic {
    id: "pe-checksum-mismatch",
    priority: 2,
    category: "anomaly",
    description: "The optional header's checksum is set but does not match the file: it was \
                  changed after linking (patched, infected or truncated).",
    verdict: None,
};

pub const FEW_IMPORTS_HIGH_ENTROPY: &Heuristic = &Heuristic {
    id: "pe-few-imports-high-entropy",
    priority: 4,
    category: "evasion",
    description: "A native program imports very few functions and carries a section of \
                  near-random bytes: the shape of a packed or encrypted executable.",
    verdict: None,
};

pub const PACKER_SECTION: &Heuristic = &Heuristic {
    id: "pe-packer-section-name",
    priority: 3,
    category: "evasion",
    description: "A section bears the name a known packer or protector gives its sections.",
    verdict: None,
};

pub const PACKED_NOT_RESTORED: &Heuristic = &Heuristic {
    id: "pe-packed-not-restored",
    priority: 5,
    category: "evasion",
    description: "Packed or encrypted by a packer assay recognises but does not restore: the code \
                  and data it hides were not analysed.",
    verdict: None,
};

pub const PE_IN_RESOURCE: &Heuristic = &Heuristic {
    id: "pe-pe-in-resource",
    priority: 3,
    category: "execution",
    description: "A resource holds another PE file, as droppers carry their payload.",
    verdict: None,
};

pub const PE_IN_OVERLAY: &Heuristic = &Heuristic {
    id: "pe-pe-in-overlay",
    priority: 3,
    category: "execution",
    description: "The overlay (the bytes after the last section) holds another PE file, as \
                  droppers and binders carry their payload.",
    verdict: None,
};

pub const DIGEST_MISMATCH: &Heuristic = &Heuristic {
    id: "pe-signature-digest-mismatch",
    priority: 7,
    category: "evasion",
    description: "The file is Authenticode-signed but its bytes no longer hash to the signed \
                  digest: it was modified after signing, so the signature vouches for nothing.",
    verdict: suspicious(4, "Win32.Suspicious.TamperedSignature"),
};

pub const SELF_SIGNED: &Heuristic = &Heuristic {
    id: "pe-self-signed",
    priority: 2,
    category: "anomaly",
    description: "The signing certificate is self-signed (its issuer is itself), so the \
                  signature says nothing about who made the file.",
    verdict: None,
};

pub const TLS_CALLBACKS: &Heuristic = &Heuristic {
    id: "pe-tls-callbacks",
    priority: 1,
    category: "execution",
    description: "The file registers TLS callbacks, code the loader runs before the entry \
                  point (some runtimes use them; so does anti-debugging code).",
    verdict: None,
};

pub const RUNTIME_IMPORTS_ONLY: &Heuristic = &Heuristic {
    id: "pe-runtime-imports-only",
    priority: 3,
    category: "evasion",
    description: "Besides a handful of functions the file imports only LoadLibrary and \
                  GetProcAddress: it resolves what it uses at run time, hiding it from the \
                  import table.",
    verdict: None,
};

pub const NO_IMPORTS: &Heuristic = &Heuristic {
    id: "pe-no-imports",
    priority: 2,
    category: "evasion",
    description: "A native program with an entry point imports nothing, as packed or \
                  shellcode-style executables do.",
    verdict: None,
};

pub const PROCESS_INJECTION: &Heuristic = &Heuristic {
    id: "pe-process-injection-imports",
    priority: 3,
    category: "execution",
    description: "The file imports the functions that write code into another process and \
                  run it there (VirtualAllocEx, WriteProcessMemory, CreateRemoteThread or \
                  the hollowing set).",
    verdict: None,
};

pub const INJECTOR_WITH_PAYLOAD: &Heuristic = &Heuristic {
    id: "pe-injector-with-payload",
    priority: 7,
    category: "execution",
    description: "The file carries another PE file (in a resource or its overlay) and imports \
                  the functions to inject code into another process: a dropper-injector.",
    verdict: suspicious(4, "Win32.Suspicious.Injector"),
};

pub const TRUNCATED: &Heuristic = &Heuristic {
    id: "pe-truncated",
    priority: 2,
    category: "anomaly",
    description: "Section data runs past the end of the file: it is truncated or damaged.",
    verdict: None,
};

// ---------------------------------------------------------------------------------------------
// Reading

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
fn iso_time(secs: i64) -> String {
    crate::time::format_utc(secs)
}

// ---------------------------------------------------------------------------------------------
// Output structures

#[derive(Serialize)]
struct EntryPoint {
    rva: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    section: Option<String>,
}

#[derive(Serialize)]
struct Protections {
    aslr: bool,
    high_entropy_va: bool,
    dep: bool,
    cfg: bool,
    force_integrity: bool,
    no_seh: bool,
    appcontainer: bool,
}

#[derive(Serialize)]
struct DllCharacteristics {
    value: u16,
    #[serde(flatten)]
    protections: Protections,
}

#[derive(Serialize)]
struct Characteristics {
    value: u16,
    flags: Vec<&'static str>,
}

#[derive(Serialize)]
struct Checksum {
    stored: u32,
    computed: u32,
}

#[derive(Serialize)]
struct Section {
    name: String,
    virtual_address: u32,
    virtual_size: u32,
    raw_address: u32,
    raw_size: u32,
    characteristics: u32,
    /// `R`, `W`, `X` letters.
    flags: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    entropy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

#[derive(Serialize)]
struct ImportedDll {
    dll: String,
    functions: Vec<ImportedFunction>,
    /// More functions than [`MAX_IMPORTS_PER_DLL`], or a thunk table that could not be read
    /// to its end.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

#[derive(Serialize)]
struct ExportedFunction {
    ordinal: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    rva: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    forwarder: Option<String>,
}

#[derive(Serialize)]
struct Exports {
    #[serde(skip_serializing_if = "Option::is_none")]
    dll_name: Option<String>,
    /// How many functions the directory declares.
    count: u32,
    functions: Vec<ExportedFunction>,
}

#[derive(Serialize)]
struct Resource {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    language: u32,
    offset: u64,
    size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    entropy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// The data is another PE file (for [`PE_IN_RESOURCE`]).
    #[serde(skip)]
    holds_pe: bool,
}

#[derive(Serialize, Default)]
struct VersionInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    file_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_version: Option<String>,
    strings: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Pdb {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    guid: Option<String>,
    age: u32,
}

#[derive(Serialize)]
struct RichEntry {
    product_id: u16,
    build: u16,
    count: u32,
}

#[derive(Serialize)]
struct Tls {
    /// Virtual addresses of the callbacks.
    callbacks: Vec<u64>,
}

#[derive(Serialize)]
struct Overlay {
    offset: u64,
    size: u64,
    entropy: f64,
    sha256: String,
    /// The overlay starts with another PE file.
    contains_pe: bool,
}

#[derive(Serialize)]
struct Metadata {
    machine: String,
    machine_id: u16,
    bits: u8,
    timestamp: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_iso: Option<String>,
    /// The debug directory has a REPRO entry: the timestamp is a hash, not a date.
    reproducible_build: bool,
    subsystem: &'static str,
    subsystem_id: u16,
    characteristics: Characteristics,
    dll_characteristics: DllCharacteristics,
    image_base: u64,
    image_size: u32,
    headers_size: u32,
    section_alignment: u32,
    file_alignment: u32,
    linker_version: String,
    os_version: String,
    entry_point: EntryPoint,
    checksum: Checksum,
    sections: Vec<Section>,
    import_count: usize,
    imports: Vec<ImportedDll>,
    delay_imports: Vec<ImportedDll>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exports: Option<Exports>,
    resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<VersionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdb: Option<Pdb>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rich_header: Vec<RichEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<Tls>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overlay: Option<Overlay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authenticode: Option<Authenticode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dotnet: Option<DotNet>,
}

// ---------------------------------------------------------------------------------------------
// Names

/// Architecture name and tag.
fn arch(machine: u16) -> (&'static str, &'static str) {
    match machine {
        0x14c => ("x86", "arch-x86"),
        0x8664 => ("x86-64", "arch-x86-64"),
        0xaa64 => ("ARM64", "arch-arm64"),
        0x1c0 | 0x1c2 | 0x1c4 => ("ARM", "arch-arm"),
        0x200 => ("IA-64", "arch-ia64"),
        0x5032 | 0x5064 | 0x5128 => ("RISC-V", "arch-riscv"),
        _ => ("unknown", "arch-other"),
    }
}

fn subsystem_name(id: u16) -> &'static str {
    match id {
        1 => "native",
        2 => "windows_gui",
        3 => "windows_cui",
        5 => "os2_cui",
        7 => "posix_cui",
        8 => "native_windows",
        9 => "windows_ce_gui",
        10 => "efi_application",
        11 => "efi_boot_service_driver",
        12 => "efi_runtime_driver",
        13 => "efi_rom",
        14 => "xbox",
        16 => "windows_boot_application",
        _ => "unknown",
    }
}

const CHARACTERISTICS: &[(u16, &str)] = &[
    (0x0001, "RELOCS_STRIPPED"),
    (0x0002, "EXECUTABLE_IMAGE"),
    (0x0004, "LINE_NUMS_STRIPPED"),
    (0x0008, "LOCAL_SYMS_STRIPPED"),
    (0x0010, "AGGRESSIVE_WS_TRIM"),
    (0x0020, "LARGE_ADDRESS_AWARE"),
    (0x0080, "BYTES_REVERSED_LO"),
    (0x0100, "32BIT_MACHINE"),
    (0x0200, "DEBUG_STRIPPED"),
    (0x0400, "REMOVABLE_RUN_FROM_SWAP"),
    (0x0800, "NET_RUN_FROM_SWAP"),
    (0x1000, "SYSTEM"),
    (0x2000, "DLL"),
    (0x4000, "UP_SYSTEM_ONLY"),
    (0x8000, "BYTES_REVERSED_HI"),
];

/// Section names packers and protectors use (compared case-sensitively, as they are written).
const PACKER_SECTIONS: &[&str] = &[
    "UPX0",
    "UPX1",
    "UPX2",
    "UPX!",
    ".aspack",
    ".adata",
    "ASPack",
    ".MPRESS1",
    ".MPRESS2",
    ".petite",
    ".nsp0",
    ".nsp1",
    ".nsp2",
    "nsp0",
    "nsp1",
    "PEC2TO",
    "PEC2MO",
    "PECompact2",
    ".themida",
    ".winlice",
    ".vmp0",
    ".vmp1",
    ".vmp2",
    ".enigma1",
    ".enigma2",
    ".perplex",
    ".yP",
    ".y0da",
    "kkrunchy",
    ".spack",
    "FSG!",
    "MEW",
    ".Upack",
    ".ByDwing",
    "pebundle",
    "PEBundle",
    ".MaskPE",
    "PELOCKnt",
    ".svkp",
    "ProCrypt",
    "!EPack",
    ".packed",
    ".RLPack",
];

// ---------------------------------------------------------------------------------------------
// Tables

/// Hashing budget shared by sections and resources.
struct HashBudget(usize);

impl HashBudget {
    /// Whether `len` more bytes may be hashed (and takes them).
    fn take(&mut self, len: usize) -> bool {
        if len > self.0 {
            self.0 = 0;
            return false;
        }
        self.0 -= len;
        true
    }
}

fn sections(img: &Image, budget: &mut HashBudget, found: &mut Inspection) -> Vec<Section> {
    let mut over_budget = false;
    let list = img
        .sections
        .iter()
        .map(|s| {
            let start = (s.raw_ptr as usize).min(img.data.len());
            let end = start
                .saturating_add(s.raw_size as usize)
                .min(img.data.len());
            let bytes = &img.data[start..end];
            let flags = [
                (IMAGE_SCN_MEM_READ, 'R'),
                (IMAGE_SCN_MEM_WRITE, 'W'),
                (IMAGE_SCN_MEM_EXECUTE, 'X'),
            ]
            .iter()
            .filter(|(bit, _)| s.characteristics & bit != 0)
            .map(|(_, c)| *c)
            .collect();
            // An empty section (uninitialised data) has nothing to hash.
            let hashed = !bytes.is_empty() && budget.take(bytes.len());
            over_budget |= !bytes.is_empty() && !hashed;
            Section {
                name: s.name.clone(),
                virtual_address: s.va,
                virtual_size: s.vsize,
                raw_address: s.raw_ptr,
                raw_size: s.raw_size,
                characteristics: s.characteristics,
                flags,
                entropy: hashed.then(|| entropy_of(bytes)),
                md5: hashed.then(|| hex(&Md5::digest(bytes))),
                sha1: hashed.then(|| hex(&Sha1::digest(bytes))),
                sha256: hashed.then(|| hex(&Sha256::digest(bytes))),
            }
        })
        .collect();
    if over_budget {
        found.warn(
            Problem::Capped,
            format!(
            "pe: more than {MAX_HASHED_BYTES} bytes of section data; later sections are not hashed"
        ),
        );
    }
    list
}

/// The import descriptors grouped by DLL, in order of first appearance (a DLL may have several
/// descriptors; the report lists it once).
fn by_dll(descriptors: Vec<ImportDescriptor>) -> Vec<ImportedDll> {
    let mut dlls: Vec<ImportedDll> = Vec::new();
    for d in descriptors {
        match dlls.iter_mut().find(|x| x.dll.eq_ignore_ascii_case(&d.dll)) {
            Some(x) => {
                x.functions.extend(d.functions);
                x.truncated |= d.truncated;
            }
            None => dlls.push(ImportedDll {
                dll: d.dll,
                functions: d.functions,
                truncated: d.truncated,
            }),
        }
    }
    dlls
}

/// The resources as `metadata.application.pe.resources` lists them (the first
/// [`MAX_RESOURCES`]), hashed within `budget`, and the bytes of the first VERSION resource.
fn listed_resources<'a>(
    img: &Image<'a>,
    budget: &mut HashBudget,
    warnings: &mut Vec<Warning>,
) -> (Vec<Resource>, Option<&'a [u8]>) {
    let found = pe::resources(img, |_| true, warnings);
    let version = found.iter().find(|r| r.type_id == 16).and_then(|r| r.bytes);
    if found.len() > MAX_RESOURCES {
        warnings.push(Warning::new(
            Problem::Capped,
            format!("pe: more than {MAX_RESOURCES} resources; the rest were skipped"),
        ));
    }
    let list = found
        .into_iter()
        .take(MAX_RESOURCES)
        .map(|r| {
            let hashed = r.bytes.filter(|b| budget.take(b.len()));
            Resource {
                kind: r.type_label,
                name: r.name,
                language: r.language,
                offset: img.offset(r.data_rva).unwrap_or(0) as u64,
                size: r.size,
                entropy: hashed.map(entropy_of),
                sha256: hashed.map(|b| hex(&Sha256::digest(b))),
                holds_pe: r.bytes.is_some_and(holds_pe),
            }
        })
        .collect();
    (list, version)
}

fn exports(img: &Image, warnings: &mut Vec<Warning>) -> Option<Exports> {
    let (rva, size) = img.dir(0)?;
    let Some(d) = img.bytes(rva, 40) else {
        warnings.push(Warning::new(
            Problem::Truncated,
            format!("pe: the export directory at RVA 0x{rva:x} lies outside the file"),
        ));
        return None;
    };
    let field = |at| le32(d, at).unwrap_or(0);
    let (name, base, nfunctions, nnames) = (field(12), field(16), field(20), field(24));
    let (functions_at, names_at, ordinals_at) = (field(28), field(32), field(36));
    let listed = (nfunctions as usize).min(MAX_EXPORTS);
    if nfunctions as usize > MAX_EXPORTS {
        warnings.push(Warning::new(
            Problem::Capped,
            format!(
            "pe: the export directory declares {nfunctions} functions; the first {MAX_EXPORTS} \
             were read"
        ),
        ));
    }
    let mut names: Vec<Option<String>> = vec![None; listed];
    for i in 0..(nnames as usize).min(MAX_EXPORTS) {
        let at = |base: u32, width: u32| base.checked_add(i as u32 * width);
        let (Some(name_rva), Some(index)) = (
            at(names_at, 4).and_then(|a| img.u32_at(a)),
            at(ordinals_at, 2).and_then(|a| img.u16_at(a)),
        ) else {
            warnings.push(Warning::new(
                Problem::Truncated,
                "pe: the export name table is truncated",
            ));
            break;
        };
        if let (Some(slot), Some(name)) = (names.get_mut(index as usize), img.str_at(name_rva)) {
            slot.get_or_insert(name);
        }
    }
    let mut functions = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let Some(target) = functions_at
            .checked_add(i as u32 * 4)
            .and_then(|a| img.u32_at(a))
        else {
            warnings.push(Warning::new(
                Problem::Truncated,
                "pe: the export address table is truncated",
            ));
            break;
        };
        if target == 0 {
            continue;
        }
        // An address inside the export directory is a forwarder string ("KERNEL32.Sleep").
        let forwarder = (target >= rva && target - rva < size)
            .then(|| img.str_at(target))
            .flatten();
        functions.push(ExportedFunction {
            ordinal: base.wrapping_add(i as u32),
            name,
            rva: target,
            forwarder,
        });
    }
    Some(Exports {
        dll_name: img.str_at(name).filter(|n| !n.is_empty()),
        count: nfunctions,
        functions,
    })
}

/// One node of a VS_VERSIONINFO tree: key, value bytes, children bytes.
struct VersionNode<'a> {
    key: String,
    value: &'a [u8],
    /// Value length in the header's own unit (words for text, bytes for binary).
    value_len: usize,
    text: bool,
    children: &'a [u8],
    /// Where the next sibling starts (relative to the slice this node was read from).
    next: usize,
}

fn version_node(b: &[u8], at: usize) -> Option<VersionNode<'_>> {
    let len = le16(b, at)? as usize;
    let value_len = le16(b, at + 2)? as usize;
    let text = le16(b, at + 4)? == 1;
    if len < 6 {
        return None;
    }
    let node = b.get(at..at + len)?;
    let mut units = Vec::new();
    let mut p = 6;
    loop {
        let u = le16(node, p)?;
        p += 2;
        if u == 0 {
            break;
        }
        units.push(u);
    }
    let value_at = (p + 3) & !3;
    let value_bytes = if text { value_len * 2 } else { value_len };
    let value_end = (value_at + value_bytes).min(node.len());
    let value = node.get(value_at.min(value_end)..value_end)?;
    let children_at = ((value_end + 3) & !3).min(node.len());
    Some(VersionNode {
        key: String::from_utf16_lossy(&units),
        value,
        value_len,
        text,
        children: &node[children_at..],
        next: (at + len + 3) & !3,
    })
}

fn version_children(b: &[u8]) -> Vec<VersionNode<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() && out.len() < MAX_VERSION_STRINGS {
        let Some(node) = version_node(b, at) else {
            break;
        };
        at = node.next;
        out.push(node);
    }
    out
}

fn utf16z(b: &[u8]) -> String {
    crate::analysis::text::utf16le_to_nul(b)
}

fn version_info(b: &[u8], warnings: &mut Vec<Warning>) -> Option<VersionInfo> {
    let Some(root) = version_node(b, 0).filter(|n| n.key == "VS_VERSION_INFO") else {
        warnings.push(Warning::new(
            Problem::Corrupt,
            "pe: the version resource is malformed",
        ));
        return None;
    };
    let mut info = VersionInfo::default();
    if root.value.len() >= 52 && le32(root.value, 0) == Some(0xfeef_04bd) {
        let v =
            |ms: u32, ls: u32| format!("{}.{}.{}.{}", ms >> 16, ms & 0xffff, ls >> 16, ls & 0xffff);
        let f = |at| le32(root.value, at).unwrap_or(0);
        info.file_version = Some(v(f(8), f(12)));
        info.product_version = Some(v(f(16), f(20)));
    }
    for block in version_children(root.children) {
        if block.key != "StringFileInfo" {
            continue;
        }
        for table in version_children(block.children) {
            for s in version_children(table.children) {
                if info.strings.len() >= MAX_VERSION_STRINGS {
                    break;
                }
                let value = if s.text || s.value_len > 0 {
                    utf16z(s.value)
                } else {
                    String::new()
                };
                info.strings.entry(s.key).or_insert(value);
            }
        }
    }
    Some(info)
}

/// The CodeView entry of the debug directory, and whether a REPRO entry is present.
fn debug(img: &Image, warnings: &mut Vec<Warning>) -> (Option<Pdb>, bool) {
    let Some((rva, size)) = img.dir(6) else {
        return (None, false);
    };
    let mut pdb = None;
    let mut repro = false;
    let count = (size as usize / 28).clamp(1, MAX_DEBUG_ENTRIES);
    for i in 0..count {
        let Some(e) = img.bytes(rva.saturating_add(i as u32 * 28), 28) else {
            warnings.push(Warning::new(
                Problem::Truncated,
                "pe: the debug directory lies outside the file",
            ));
            break;
        };
        let kind = le32(e, 12).unwrap_or(0);
        repro |= kind == 16;
        if kind != 2 || pdb.is_some() {
            continue;
        }
        let (len, at) = (le32(e, 16).unwrap_or(0), le32(e, 24).unwrap_or(0));
        let Some(cv) = img
            .data
            .get(at as usize..(at as usize).saturating_add(len as usize))
        else {
            warnings.push(Warning::new(
                Problem::Truncated,
                "pe: the CodeView debug entry lies outside the file",
            ));
            continue;
        };
        pdb = match cv.get(..4) {
            Some(b"RSDS") => cv.get(24..).and_then(cstr).map(|path| Pdb {
                path,
                guid: guid_string(&cv[4..20]),
                age: le32(cv, 20).unwrap_or(0),
            }),
            Some(b"NB10") => cv.get(16..).and_then(cstr).map(|path| Pdb {
                path,
                guid: None,
                age: le32(cv, 12).unwrap_or(0),
            }),
            _ => None,
        };
    }
    (pdb, repro)
}

fn tls(img: &Image, warnings: &mut Vec<Warning>) -> Option<Tls> {
    let (rva, _) = img.dir(9)?;
    let at = if img.plus { 24 } else { 12 };
    let Some(list_va) = img.ptr_at(rva.saturating_add(at)) else {
        warnings.push(Warning::new(
            Problem::Truncated,
            format!("pe: the TLS directory at RVA 0x{rva:x} lies outside the file"),
        ));
        return None;
    };
    let mut callbacks = Vec::new();
    if list_va == 0 {
        return Some(Tls { callbacks });
    }
    let step = if img.plus { 8 } else { 4 };
    let Some(list) = img.rva_of_va(list_va) else {
        warnings.push(Warning::new(
            Problem::Truncated,
            "pe: the TLS callback list lies outside the image",
        ));
        return Some(Tls { callbacks });
    };
    for i in 0..MAX_TLS_CALLBACKS {
        match list
            .checked_add(i as u32 * step)
            .and_then(|a| img.ptr_at(a))
        {
            Some(0) => break,
            Some(va) => callbacks.push(va),
            None => {
                // The list may sit in uninitialised data, filled at run time.
                break;
            }
        }
    }
    Some(Tls { callbacks })
}

/// The rich header's entries (between the DOS stub and the PE header, XORed with a key).
fn rich_header(data: &[u8], pe_at: usize) -> Vec<RichEntry> {
    let stub = &data[..pe_at.min(data.len())];
    let Some(rich) = (0x40..stub.len().saturating_sub(7))
        .step_by(4)
        .find(|&at| stub.get(at..at + 4) == Some(b"Rich"))
    else {
        return Vec::new();
    };
    let Some(key) = le32(stub, rich + 4) else {
        return Vec::new();
    };
    // Walk back to the XORed "DanS" marker.
    let Some(start) = (0x40..rich)
        .step_by(4)
        .rev()
        .find(|&at| le32(stub, at).map(|v| v ^ key) == Some(0x536e_6144))
    else {
        return Vec::new();
    };
    (start + 16..rich)
        .step_by(8)
        .take(MAX_RICH_ENTRIES)
        .filter_map(|at| {
            let id = le32(stub, at)? ^ key;
            Some(RichEntry {
                product_id: (id >> 16) as u16,
                build: id as u16,
                count: le32(stub, at + 4)? ^ key,
            })
        })
        .collect()
}

/// The standard PE checksum: 16-bit one's-complement sum of the file without its checksum
/// field, plus the file length.
fn pe_checksum(data: &[u8], checksum_at: usize) -> u32 {
    let mut sum: u64 = 0;
    for (i, pair) in data.chunks(2).enumerate() {
        let at = i * 2;
        if at >= checksum_at && at < checksum_at + 4 {
            continue;
        }
        sum += u64::from(pair[0]) | u64::from(*pair.get(1).unwrap_or(&0)) << 8;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32 & 0xffff).wrapping_add(data.len() as u32)
}

/// Whether `b` starts with an MZ header pointing at a PE signature.
fn holds_pe(b: &[u8]) -> bool {
    b.starts_with(b"MZ")
        && le32(b, 0x3c).is_some_and(|at| b.get(at as usize..at as usize + 4) == Some(b"PE\0\0"))
}

/// The overlay as the unpacker extracts it ([`Image::overlay`]), described.
fn overlay(img: &Image) -> Option<Overlay> {
    let (offset, bytes) = img.overlay()?;
    Some(Overlay {
        offset: offset as u64,
        size: bytes.len() as u64,
        entropy: entropy_of(bytes),
        sha256: hex(&Sha256::digest(bytes)),
        contains_pe: holds_pe(bytes),
    })
}

// ---------------------------------------------------------------------------------------------
// Capabilities

const NETWORK_DLLS: &[&str] = &[
    "ws2_32.dll",
    "wsock32.dll",
    "wininet.dll",
    "winhttp.dll",
    "urlmon.dll",
    "dnsapi.dll",
    "iphlpapi.dll",
    "mswsock.dll",
    "httpapi.dll",
    "netapi32.dll",
    "websocket.dll",
];
const CRYPTO_DLLS: &[&str] = &["bcrypt.dll", "ncrypt.dll", "cryptsp.dll", "rsaenh.dll"];
const SERVICE_FUNCTIONS: &[&str] = &[
    "OpenSCManager",
    "CreateService",
    "StartService",
    "ControlService",
    "OpenService",
    "DeleteService",
    "ChangeServiceConfig",
    "StartServiceCtrlDispatcher",
    "RegisterServiceCtrlHandler",
];
const ANTI_DEBUG_FUNCTIONS: &[&str] = &["IsDebuggerPresent", "CheckRemoteDebuggerPresent"];

/// What the imported functions say the file can do.
#[derive(Default)]
struct Capabilities {
    networking: bool,
    crypto: bool,
    injection: Vec<String>,
    registry: bool,
    service: bool,
    anti_debug: bool,
    dynamic_loading: bool,
}

impl Capabilities {
    fn of(dlls: &[&ImportedDll]) -> Self {
        let mut c = Capabilities::default();
        let mut names = BTreeSet::new();
        for d in dlls {
            let dll = d.dll.to_ascii_lowercase();
            c.networking |= NETWORK_DLLS.contains(&dll.as_str());
            c.crypto |= CRYPTO_DLLS.contains(&dll.as_str());
            for f in d.functions.iter().filter_map(|f| f.name.as_deref()) {
                // Matched by full name and by stem (without the A/W and Ex suffixes).
                let stem = f.strip_suffix(['A', 'W']).unwrap_or(f);
                let stem = stem.strip_suffix("Ex").unwrap_or(stem);
                names.insert(f.to_string());
                names.insert(stem.to_string());
                c.crypto |= ["Crypt", "BCrypt", "NCrypt"].iter().any(|p| {
                    f.strip_prefix(p)
                        .is_some_and(|rest| rest.starts_with(|ch: char| ch.is_ascii_uppercase()))
                }) && !["CryptMsg", "CryptQuery", "CryptStringTo", "CryptBinaryTo"]
                    .iter()
                    .any(|p| f.starts_with(p));
                c.registry |= f
                    .strip_prefix("Reg")
                    .is_some_and(|rest| rest.starts_with(|ch: char| ch.is_ascii_uppercase()))
                    && !f.starts_with("RegisterClass");
                c.registry |= [
                    "NtSetValueKey",
                    "ZwSetValueKey",
                    "NtCreateKey",
                    "ZwCreateKey",
                ]
                .contains(&f);
                c.service |= SERVICE_FUNCTIONS.contains(&stem);
                c.anti_debug |= ANTI_DEBUG_FUNCTIONS.contains(&f);
            }
        }
        let has = |any: &[&str]| {
            any.iter()
                .find(|n| names.contains(**n))
                .map(|n| n.to_string())
        };
        let alloc = has(&[
            "VirtualAllocEx",
            "NtAllocateVirtualMemory",
            "ZwAllocateVirtualMemory",
            "NtMapViewOfSection",
        ]);
        let write = has(&[
            "WriteProcessMemory",
            "NtWriteVirtualMemory",
            "ZwWriteVirtualMemory",
        ]);
        let run = has(&[
            "CreateRemoteThread",
            "NtCreateThread",
            "RtlCreateUserThread",
            "QueueUserAPC",
            "NtQueueApcThread",
            "SetThreadContext",
        ]);
        let unmap = has(&["NtUnmapViewOfSection", "ZwUnmapViewOfSection"]);
        if let (Some(write), Some(run)) = (write.clone(), run) {
            if let Some(alloc) = alloc.or(unmap) {
                c.injection = vec![alloc, write, run];
            }
        }
        c.dynamic_loading = names.contains("GetProcAddress")
            && ["LoadLibrary", "LdrLoadDll"]
                .iter()
                .any(|n| names.contains(*n));
        c
    }

    /// The capability names, in the order the story lists them.
    fn listed(&self) -> Vec<&'static str> {
        [
            (self.networking, "networking"),
            (!self.injection.is_empty(), "process-injection"),
            (self.service, "service"),
            (self.registry, "registry"),
            (self.crypto, "crypto"),
            (self.anti_debug, "anti-debug"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name)
        .collect()
    }
}

// ---------------------------------------------------------------------------------------------

pub fn inspect(data: &[u8], kind: &FileKind, found: &mut Inspection) {
    let img = match Image::parse(data, &mut found.warnings) {
        Ok(img) => img,
        Err(why) => {
            found.warn(
                Problem::Corrupt,
                format!("pe: the headers could not be read ({why})"),
            );
            return;
        }
    };
    let w = &mut found.warnings;
    let mut budget = HashBudget(MAX_HASHED_BYTES);
    let mut total = 0;
    let import_table = pe::imports(&img, &mut total, w);
    if let Some(imphash) = pe::imphash(&import_table) {
        found.hashes.push(("imphash", imphash));
    }
    let w = &mut found.warnings;
    let imports = by_dll(import_table);
    let delay_imports = by_dll(pe::delay_imports(&img, &mut total, w));
    let exports = exports(&img, w);
    let (resources, version) = listed_resources(&img, &mut budget, w);
    let version_info = version.and_then(|v| version_info(v, w));
    let (pdb, reproducible) = debug(&img, w);
    let tls = tls(&img, w);
    let cert = img.dir(4);
    let authenticode = cert.and_then(|(at, size)| {
        authenticode::read(
            data,
            &authenticode::Layout {
                checksum_at: img.checksum_at,
                directory_entry_at: img.dirs_at + 4 * 8,
                table_at: at,
                table_size: size,
            },
            w,
        )
    });
    let dotnet = img
        .dir(14)
        .and_then(|(rva, _)| dotnet::read(&|at: u32, len: usize| img.bytes(at, len), rva, w));
    let overlay = overlay(&img);
    let pe_at = le32(data, 0x3c).unwrap_or(0) as usize;
    let rich = rich_header(data, pe_at);
    let computed_checksum = pe_checksum(data, img.checksum_at);
    let sections = sections(&img, &mut budget, found);

    let (arch_name, arch_tag) = arch(img.machine);
    let dc = img.dll_characteristics;
    let protections = Protections {
        aslr: dc & 0x40 != 0,
        high_entropy_va: dc & 0x20 != 0,
        dep: dc & 0x100 != 0,
        cfg: dc & 0x4000 != 0,
        force_integrity: dc & 0x80 != 0,
        no_seh: dc & 0x400 != 0,
        appcontainer: dc & 0x1000 != 0,
    };
    let entry_section = img.section_of(img.entry);
    let is_dll = img.characteristics & 0x2000 != 0;
    let efi = (10..=13).contains(&img.subsystem);
    let driver = matches!(
        kind.format,
        Format::Pe {
            role: PeRole::Driver,
            ..
        }
    ) || imports
        .iter()
        .any(|d| d.dll.eq_ignore_ascii_case("ntoskrnl.exe"));
    let all_dlls: Vec<&ImportedDll> = imports.iter().chain(&delay_imports).collect();
    let caps = Capabilities::of(&all_dlls);
    let normal_count: usize = imports.iter().map(|d| d.functions.len()).sum();

    // --- heuristics
    if img.entry != 0 && entry_section.is_none() {
        let place = if img.entry < img.size_of_headers {
            "in the headers"
        } else {
            "outside every section"
        };
        found.fire(
            ENTRY_OUTSIDE_SECTIONS,
            vec![format!(
                "the entry point RVA 0x{:x} lies {place}",
                img.entry
            )],
        );
    }
    let wx: Vec<String> = img
        .sections
        .iter()
        .filter(|s| s.writable() && s.characteristics & IMAGE_SCN_MEM_EXECUTE != 0)
        .map(|s| format!("section {} is writable and executable", s.name))
        .collect();
    if !wx.is_empty() {
        found.fire(WX_SECTION, wx.clone());
    }
    if img.timestamp == 0 {
        found.fire(
            ZERO_TIMESTAMP,
            vec!["the COFF header's TimeDateStamp is 0".into()],
        );
    }
    if img.checksum != 0 && img.checksum != computed_checksum {
        found.fire(
            CHECKSUM_MISMATCH,
            vec![format!(
                "the header says 0x{:08x}, the file sums to 0x{computed_checksum:08x}",
                img.checksum
            )],
        );
    }
    let resource_rva = img.dir(2).map(|(rva, _)| rva);
    let dense: Vec<String> = sections
        .iter()
        .zip(&img.sections)
        .filter(|(s, raw)| {
            s.raw_size >= 1024
                && s.entropy.is_some_and(|e| e >= 7.2)
                && !resource_rva.is_some_and(|r| raw.contains(r))
        })
        .map(|(s, _)| {
            format!(
                "section {} has entropy {}",
                s.name,
                s.entropy.unwrap_or(0.0)
            )
        })
        .collect();
    let native_program = dotnet.is_none() && img.entry != 0 && !efi && !driver;
    if native_program && normal_count <= 10 && !dense.is_empty() {
        let mut reasons = vec![format!("{normal_count} imported functions")];
        reasons.extend(dense);
        found.fire(FEW_IMPORTS_HIGH_ENTROPY, reasons);
    }
    let packer: Vec<String> = img
        .sections
        .iter()
        .filter(|s| PACKER_SECTIONS.contains(&s.name.as_str()))
        .map(|s| format!("section {}", s.name))
        .collect();
    if !packer.is_empty() {
        found.fire(PACKER_SECTION, packer.clone());
    }
    if let Some(packer) = crate::analysis::formats::packers::unrestored(&img) {
        found.fire(
            PACKED_NOT_RESTORED,
            vec![format!("packed with {}", packer.name())],
        );
    }
    let pe_resources: Vec<String> = resources
        .iter()
        .filter(|r| r.holds_pe)
        .map(|r| format!("resource {}/{}/{} is a PE file", r.kind, r.name, r.language))
        .collect();
    if !pe_resources.is_empty() {
        found.fire(PE_IN_RESOURCE, pe_resources.clone());
    }
    let pe_overlay = overlay.as_ref().is_some_and(|o| o.contains_pe);
    if let Some(o) = overlay.as_ref().filter(|o| o.contains_pe) {
        found.fire(
            PE_IN_OVERLAY,
            vec![format!(
                "the overlay at offset {} ({} bytes) starts with a PE file",
                o.offset, o.size
            )],
        );
    }
    if let Some(sig) = &authenticode {
        if sig.digest_matches == Some(false) {
            found.fire(
                DIGEST_MISMATCH,
                vec![format!(
                    "the signed {} digest is {} but the file hashes to {}",
                    sig.digest_algorithm.as_deref().unwrap_or("?"),
                    sig.digest.as_deref().unwrap_or("?"),
                    sig.computed_digest.as_deref().unwrap_or("?")
                )],
            );
        }
        if let Some(signer) = sig.signer.as_ref().filter(|s| s.self_signed) {
            found.fire(
                SELF_SIGNED,
                vec![format!(
                    "the signer {} issued its own certificate",
                    signer.subject
                )],
            );
        }
    }
    if let Some(t) = tls.as_ref().filter(|t| !t.callbacks.is_empty()) {
        found.fire(
            TLS_CALLBACKS,
            vec![format!("{} TLS callback(s)", t.callbacks.len())],
        );
    }
    let loader_only = imports.iter().all(|d| {
        d.functions.iter().all(|f| {
            f.name.as_deref().is_some_and(|n| {
                n.starts_with("LoadLibrary")
                    || n.starts_with("GetProcAddress")
                    || n.starts_with("GetModuleHandle")
                    || matches!(
                        n,
                        "ExitProcess" | "VirtualAlloc" | "VirtualProtect" | "VirtualFree"
                    )
            })
        })
    });
    if native_program && caps.dynamic_loading && normal_count <= 8 && loader_only {
        let names: Vec<String> = imports
            .iter()
            .flat_map(|d| d.functions.iter().filter_map(|f| f.name.clone()))
            .collect();
        found.fire(
            RUNTIME_IMPORTS_ONLY,
            vec![format!("the only imports are {}", names.join(", "))],
        );
    }
    if native_program && img.dir(1).is_none() && delay_imports.is_empty() {
        found.fire(NO_IMPORTS, vec!["the import directory is empty".into()]);
    }
    if !caps.injection.is_empty() {
        found.fire(
            PROCESS_INJECTION,
            vec![format!("imports {}", caps.injection.join(", "))],
        );
        if pe_overlay || !pe_resources.is_empty() {
            found.fire(
                INJECTOR_WITH_PAYLOAD,
                vec![
                    format!("imports {}", caps.injection.join(", ")),
                    if pe_overlay {
                        "its overlay is a PE file".to_string()
                    } else {
                        pe_resources[0].clone()
                    },
                ],
            );
        }
    }
    let past_end: Vec<String> = img
        .sections
        .iter()
        .filter(|s| u64::from(s.raw_ptr) + u64::from(s.raw_size) > data.len() as u64)
        .map(|s| {
            format!(
                "section {} ends at byte {} of a {}-byte file",
                s.name,
                u64::from(s.raw_ptr) + u64::from(s.raw_size),
                data.len()
            )
        })
        .collect();
    if !past_end.is_empty() {
        found.fire(TRUNCATED, past_end);
    }

    // --- tags
    found.tag(arch_tag);
    found.tag(if img.plus { "bits-64" } else { "bits-32" });
    for (on, tag) in [
        (protections.aslr, "protection-aslr"),
        (protections.dep, "protection-dep"),
        (protections.cfg, "protection-cfg"),
        (protections.high_entropy_va, "protection-high-entropy-va"),
        (authenticode.is_some(), "signed"),
        (dotnet.is_some(), "dotnet"),
        (driver, "driver"),
        (
            kind.packer.is_some_and(|p| {
                p.contains("installer") || p.contains("extractor") || p.contains("bundle")
            }),
            "installer",
        ),
    ] {
        if on {
            found.tag(tag);
        }
    }
    for cap in caps.listed() {
        found.tag(format!("capability-{cap}"));
    }

    // --- facts
    let what = if driver {
        "driver"
    } else if is_dll {
        "DLL"
    } else if efi {
        "EFI application"
    } else {
        match img.subsystem {
            2 => "GUI program",
            3 => "console program",
            _ => "executable",
        }
    };
    let net = if dotnet.is_some() { ".NET " } else { "" };
    let bits = if img.plus { 64 } else { 32 };
    let mut fact = format!("It is a {bits}-bit {net}Windows {what} for {arch_name}");
    if img.timestamp == 0 {
        fact.push_str(" with no build timestamp");
    } else if !reproducible {
        fact.push_str(&format!(
            ", built {}",
            &iso_time(i64::from(img.timestamp))[..10]
        ));
    }
    match &authenticode {
        None => fact.push_str(", not signed"),
        Some(sig) => {
            let who = sig
                .signer
                .as_ref()
                .map(|s| s.display_name())
                .unwrap_or_else(|| "an unreadable signer".into());
            fact.push_str(&format!(", signed by {who}"));
            fact.push_str(match sig.digest_matches {
                Some(true) => " (the signature's digest matches the file)",
                Some(false) => {
                    " but the file was modified after signing (the digest does not match)"
                }
                None => " (the digest could not be checked)",
            });
        }
    }
    fact.push('.');
    found.facts.push(fact);
    let dll_count = all_dlls.len();
    let listed = caps.listed();
    let mut fact = if total == 0 {
        "It imports no functions.".to_string()
    } else {
        format!(
            "It imports {total} function{} from {dll_count} DLL{}",
            if total == 1 { "" } else { "s" },
            if dll_count == 1 { "" } else { "s" }
        )
    };
    if total > 0 {
        if !listed.is_empty() {
            fact.push_str(&format!(", including {} functions", join_and(&listed)));
        }
        fact.push('.');
    }
    found.facts.push(fact);
    let third = if pe_overlay {
        Some("It carries another PE file in its overlay.".to_string())
    } else if !pe_resources.is_empty() {
        Some("It carries another PE file in its resources.".to_string())
    } else if !packer.is_empty() || !wx.is_empty() {
        Some(format!(
            "It looks packed: {}.",
            packer.first().or(wx.first()).cloned().unwrap_or_default()
        ))
    } else if let Some(net) = &dotnet {
        net.assembly_name.as_ref().map(|name| {
            format!(
                "Its .NET assembly is {name}{}.",
                net.runtime_version
                    .as_ref()
                    .map(|v| format!(", for runtime {v}"))
                    .unwrap_or_default()
            )
        })
    } else {
        exports
            .as_ref()
            .filter(|e| !e.functions.is_empty())
            .map(|e| {
                let n = e.functions.len();
                format!("It exports {n} function{}.", if n == 1 { "" } else { "s" })
            })
    };
    found.facts.extend(third);

    let metadata = Metadata {
        machine: arch_name.to_string(),
        machine_id: img.machine,
        bits,
        timestamp: img.timestamp,
        timestamp_iso: (img.timestamp != 0).then(|| iso_time(i64::from(img.timestamp))),
        reproducible_build: reproducible,
        subsystem: subsystem_name(img.subsystem),
        subsystem_id: img.subsystem,
        characteristics: Characteristics {
            value: img.characteristics,
            flags: CHARACTERISTICS
                .iter()
                .filter(|(bit, _)| img.characteristics & bit != 0)
                .map(|(_, name)| *name)
                .collect(),
        },
        dll_characteristics: DllCharacteristics {
            value: dc,
            protections,
        },
        image_base: img.image_base,
        image_size: img.size_of_image,
        headers_size: img.size_of_headers,
        section_alignment: img.section_alignment,
        file_alignment: img.file_alignment,
        linker_version: format!("{}.{}", img.linker.0, img.linker.1),
        os_version: format!("{}.{}", img.os_version.0, img.os_version.1),
        entry_point: EntryPoint {
            rva: img.entry,
            section: entry_section.map(|s| s.name.clone()),
        },
        checksum: Checksum {
            stored: img.checksum,
            computed: computed_checksum,
        },
        sections,
        import_count: total,
        imports,
        delay_imports,
        exports,
        resources,
        version_info,
        pdb,
        rich_header: rich,
        tls,
        overlay,
        authenticode,
        dotnet,
    };
    if img.declared_sections == 0 {
        found.warn(Problem::Corrupt, "pe: the file has no sections");
    }
    if let Ok(value) = serde_json::to_value(metadata) {
        found.set_metadata(&["application", "pe"], value);
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::analysis::inspect::testing::{self, fired};

    /// The fixtures of `tests/data/pe` (made by `scripts/make-pe-fixtures.sh`, see the README).
    fn sample(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/pe/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn run(data: &[u8]) -> Inspection {
        testing::run_unchecked(inspect, data)
    }

    fn pe(found: &Inspection) -> &Value {
        &found.metadata["application"]["pe"]
    }

    fn put32(d: &mut [u8], at: usize, v: u32) {
        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// File offsets of the optional header and the data directories.
    fn opt_and_dirs(d: &[u8]) -> (usize, usize) {
        let opt = le32(d, 0x3c).unwrap() as usize + 24;
        let plus = le16(d, opt) == Some(0x20b);
        (opt, opt + if plus { 112 } else { 96 })
    }

    fn section<'a>(pe: &'a Value, name: &str) -> &'a Value {
        pe["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    #[test]
    fn a_32_bit_exe_has_its_imports_resources_and_version() {
        let data = sample("app32.exe");
        let found = run(&data);
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        let pe = pe(&found);
        assert_eq!(pe["machine"], "x86");
        assert_eq!(pe["bits"], 32);
        assert_eq!(pe["subsystem"], "windows_cui");
        assert_eq!(pe["entry_point"]["section"], ".text");
        assert_eq!(pe["checksum"]["stored"], pe["checksum"]["computed"]);
        let text = section(pe, ".text");
        assert_eq!(text["flags"], "RX");
        let (at, size) = (
            text["raw_address"].as_u64().unwrap() as usize,
            text["raw_size"].as_u64().unwrap() as usize,
        );
        assert_eq!(text["sha256"], hex(&Sha256::digest(&data[at..at + size])));
        assert_eq!(text["md5"].as_str().unwrap().len(), 32);
        assert_eq!(text["sha1"].as_str().unwrap().len(), 40);
        // Two import descriptors name ws2_32 (a by-ordinal import library and the normal one):
        // grouped as one DLL.
        let imports = pe["imports"].as_array().unwrap();
        let ws2: Vec<_> = imports
            .iter()
            .filter(|d| {
                d["dll"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case("ws2_32.dll")
            })
            .collect();
        assert_eq!(ws2.len(), 1);
        let functions = ws2[0]["functions"].as_array().unwrap();
        assert!(functions
            .iter()
            .any(|f| f["ordinal"] == 9 && f.get("name").is_none()));
        assert!(functions.iter().any(|f| f["name"] == "WSAStartup"));
        let delay = &pe["delay_imports"][0];
        assert_eq!(delay["dll"], "version.dll");
        assert_eq!(delay["functions"][0]["name"], "GetFileVersionInfoSizeA");
        let rcdata = pe["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "RCDATA")
            .unwrap();
        assert_eq!(rcdata["name"], "101");
        assert_eq!(rcdata["language"], 1033);
        let payload = "assay RCDATA fixture payload\n".repeat(9);
        assert_eq!(rcdata["sha256"], hex(&Sha256::digest(payload.as_bytes())));
        let version = &pe["version_info"];
        assert_eq!(version["file_version"], "1.2.3.4");
        assert_eq!(version["strings"]["CompanyName"], "Assay Fixtures");
        assert_eq!(version["strings"]["OriginalFilename"], "app32.exe");
        for tag in [
            "arch-x86",
            "bits-32",
            "protection-aslr",
            "protection-dep",
            "capability-networking",
            "capability-registry",
        ] {
            assert!(found.tags.contains(tag), "{tag}: {:?}", found.tags);
        }
        assert!(!found.tags.contains("signed"));
        assert!(
            found.facts[0].starts_with("It is a 32-bit Windows console program for x86, built "),
            "{:?}",
            found.facts
        );
        assert!(
            found.facts[1].contains("including networking and registry functions"),
            "{:?}",
            found.facts
        );
        assert_eq!(fired(&found), [TLS_CALLBACKS.id]);
    }

    #[test]
    fn a_64_bit_dll_has_its_exports_tls_callbacks_and_pdb() {
        let found = run(&sample("lib64.dll"));
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        let pe = pe(&found);
        assert_eq!(pe["machine"], "x86-64");
        assert!(found.tags.contains("arch-x86-64") && found.tags.contains("bits-64"));
        assert!(found.tags.contains("protection-high-entropy-va"));
        let exports = &pe["exports"];
        assert_eq!(exports["dll_name"], "lib64.dll");
        let functions = exports["functions"].as_array().unwrap();
        let by_ordinal = |n: u64| functions.iter().find(|f| f["ordinal"] == n).unwrap();
        assert_eq!(by_ordinal(1)["name"], "assay_add");
        assert_eq!(by_ordinal(2)["name"], "assay_version");
        assert_eq!(by_ordinal(3)["forwarder"], "kernel32.GetTickCount");
        assert!(
            by_ordinal(7).get("name").is_none(),
            "exported by ordinal only"
        );
        assert!(!pe["tls"]["callbacks"].as_array().unwrap().is_empty());
        assert_eq!(pe["pdb"]["path"], "lib64.pdb");
        assert_eq!(pe["pdb"]["guid"].as_str().unwrap().len(), 36);
        assert!(found.facts[0].starts_with("It is a 64-bit Windows DLL for x86-64"));
        assert_eq!(found.facts[2], "It exports 4 functions.");
        assert_eq!(fired(&found), [TLS_CALLBACKS.id]);
    }

    #[test]
    fn a_signed_dll_matches_its_digest_and_a_tampered_copy_does_not() {
        let found = run(&sample("lib64-signed.dll"));
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        let sig = &pe(&found)["authenticode"];
        assert_eq!(sig["digest_algorithm"], "sha256");
        assert_eq!(sig["digest_matches"], true);
        assert_eq!(sig["digest"], sig["computed_digest"]);
        let signer = &sig["signer"];
        assert_eq!(
            signer["subject"],
            "CN=Assay Test Signer, O=Assay Fixtures, C=NL"
        );
        assert_eq!(signer["issuer"], signer["subject"]);
        assert!(signer["serial"].as_str().unwrap().len() >= 2);
        assert!(signer["not_before"].as_str().unwrap().ends_with('Z'));
        assert!(signer["not_after"].as_str().unwrap() > signer["not_before"].as_str().unwrap());
        assert_eq!(sig["certificates"].as_array().unwrap().len(), 1);
        assert!(found.tags.contains("signed"));
        assert!(
            found.facts[0]
                .contains("signed by Assay Test Signer (the signature's digest matches the file)"),
            "{:?}",
            found.facts
        );
        assert_eq!(fired(&found), [SELF_SIGNED.id, TLS_CALLBACKS.id]);

        let tampered = run(&sample("lib64-tampered.dll"));
        let sig = &pe(&tampered)["authenticode"];
        assert_eq!(sig["digest_matches"], false);
        assert_ne!(sig["digest"], sig["computed_digest"]);
        assert!(fired(&tampered).contains(&DIGEST_MISMATCH.id));
        assert!(tampered.facts[0].contains("modified after signing"));
    }

    #[test]
    fn a_dotnet_assembly_has_its_runtime_name_and_mvid() {
        let found = run(&sample("hello-dotnet.exe"));
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        let net = &pe(&found)["dotnet"];
        assert_eq!(net["runtime_version"], "v4.0.30319");
        assert_eq!(net["assembly_name"], "hello-dotnet");
        assert_eq!(net["assembly_version"], "1.2.3.4");
        assert_eq!(net["module_name"], "hello-dotnet.exe");
        assert_eq!(net["module_guid"].as_str().unwrap().len(), 36);
        assert_eq!(net["references"][0], "mscorlib");
        assert_eq!(net["flags"]["il_only"], true);
        assert!(found.tags.contains("dotnet"));
        assert!(found.facts[2].contains("hello-dotnet"), "{:?}", found.facts);
        // One import (mscoree!_CorExeMain) is what every assembly has: not "few imports".
        assert!(!fired(&found).contains(&FEW_IMPORTS_HIGH_ENTROPY.id));
    }

    #[test]
    fn the_header_anomalies_fire_and_the_clean_twin_stays_silent() {
        let clean = fired(&run(&sample("app32.exe")));
        let bad = fired(&run(&sample("badhdr.exe")));
        assert!(bad.contains(&ZERO_TIMESTAMP.id) && bad.contains(&CHECKSUM_MISMATCH.id));
        assert!(!clean.contains(&ZERO_TIMESTAMP.id) && !clean.contains(&CHECKSUM_MISMATCH.id));

        let wx = fired(&run(&sample("wx.exe")));
        assert!(wx.contains(&WX_SECTION.id));
        assert!(!clean.contains(&WX_SECTION.id));

        let mut entry = sample("app32.exe");
        let (opt, _) = opt_and_dirs(&entry);
        put32(&mut entry, opt + 16, 0x100);
        assert!(fired(&run(&entry)).contains(&ENTRY_OUTSIDE_SECTIONS.id));
        assert!(!clean.contains(&ENTRY_OUTSIDE_SECTIONS.id));

        let data = sample("app32.exe");
        let truncated = run(&data[..data.len() - 1000]);
        assert!(fired(&truncated).contains(&TRUNCATED.id));
        assert!(!clean.contains(&TRUNCATED.id));
    }

    #[test]
    fn a_packer_we_do_not_restore_is_an_indicator() {
        let mut data = sample("app32.exe");
        let pe = le32(&data, 0x3c).unwrap() as usize;
        let table = pe + 24 + usize::from(le16(&data, pe + 20).unwrap());
        data[table..table + 8].copy_from_slice(b".WWP32\0\0");
        let found = run(&data);
        assert!(fired(&found).contains(&PACKED_NOT_RESTORED.id));
        assert!(!fired(&run(&sample("app32.exe"))).contains(&PACKED_NOT_RESTORED.id));
    }

    #[test]
    fn a_packer_shaped_exe_fires_and_a_normal_one_stays_silent() {
        let packed = run(&sample("packed.exe"));
        let ids = fired(&packed);
        for h in [
            FEW_IMPORTS_HIGH_ENTROPY,
            PACKER_SECTION,
            RUNTIME_IMPORTS_ONLY,
        ] {
            assert!(ids.contains(&h.id), "{} not in {ids:?}", h.id);
        }
        assert!(!ids.contains(&NO_IMPORTS.id) && !ids.contains(&TLS_CALLBACKS.id));
        let clean = fired(&run(&sample("app32.exe")));
        for h in [
            FEW_IMPORTS_HIGH_ENTROPY,
            PACKER_SECTION,
            RUNTIME_IMPORTS_ONLY,
            NO_IMPORTS,
        ] {
            assert!(!clean.contains(&h.id), "{}", h.id);
        }
        // Without its import directory it imports nothing at all.
        let mut bare = sample("packed.exe");
        let (_, dirs) = opt_and_dirs(&bare);
        put32(&mut bare, dirs + 8, 0);
        put32(&mut bare, dirs + 12, 0);
        assert!(fired(&run(&bare)).contains(&NO_IMPORTS.id));
    }

    #[test]
    fn an_injector_carrying_a_pe_votes_and_its_parts_alone_do_not() {
        let dropper = sample("dropper.exe");
        let found = run(&dropper);
        let ids = fired(&found);
        for h in [PE_IN_OVERLAY, PROCESS_INJECTION, INJECTOR_WITH_PAYLOAD] {
            assert!(ids.contains(&h.id), "{} not in {ids:?}", h.id);
        }
        assert!(found.tags.contains("capability-process-injection"));
        let overlay = &pe(&found)["overlay"];
        assert_eq!(overlay["contains_pe"], true);
        assert_eq!(overlay["size"], sample("lib64.dll").len());
        assert_eq!(found.facts[2], "It carries another PE file in its overlay.");

        // The injector without its payload: the imports only.
        let at = overlay["offset"].as_u64().unwrap() as usize;
        let alone = fired(&run(&dropper[..at]));
        assert!(alone.contains(&PROCESS_INJECTION.id));
        assert!(!alone.contains(&PE_IN_OVERLAY.id) && !alone.contains(&INJECTOR_WITH_PAYLOAD.id));

        // An overlay of other bytes is described, not flagged.
        let mut other = sample("app32.exe");
        other.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let found = run(&other);
        assert_eq!(pe(&found)["overlay"]["size"], 4096);
        assert_eq!(pe(&found)["overlay"]["contains_pe"], false);
        assert!(!fired(&found).contains(&PE_IN_OVERLAY.id));
    }

    #[test]
    fn a_pe_in_a_resource_fires() {
        let mut data = sample("app32.exe");
        let clean = run(&data);
        let at = pe(&clean)["resources"][0]["offset"].as_u64().unwrap() as usize;
        data[at..at + 2].copy_from_slice(b"MZ");
        put32(&mut data, at + 0x3c, 0x40);
        data[at + 0x40..at + 0x44].copy_from_slice(b"PE\0\0");
        assert!(fired(&run(&data)).contains(&PE_IN_RESOURCE.id));
        assert!(!fired(&clean).contains(&PE_IN_RESOURCE.id));
    }

    #[test]
    fn only_the_tampered_signature_and_the_injector_vote() {
        for name in [
            "app32.exe",
            "badhdr.exe",
            "lib64.dll",
            "lib64-signed.dll",
            "wx.exe",
            "packed.exe",
            "hello-dotnet.exe",
        ] {
            let found = run(&sample(name));
            let voting: Vec<_> = found
                .findings
                .iter()
                .filter(|f| f.heuristic.verdict.is_some())
                .map(|f| f.heuristic.id)
                .collect();
            assert!(voting.is_empty(), "{name}: {voting:?}");
        }
        for (name, h) in [
            ("lib64-tampered.dll", DIGEST_MISMATCH),
            ("dropper.exe", INJECTOR_WITH_PAYLOAD),
        ] {
            let found = run(&sample(name));
            let voting: Vec<_> = found
                .findings
                .iter()
                .filter(|f| f.heuristic.verdict.is_some())
                .map(|f| f.heuristic.id)
                .collect();
            assert_eq!(voting, [h.id], "{name}");
        }
    }

    #[test]
    fn truncated_headers_are_warnings() {
        let data = sample("app32.exe");
        for len in [0, 2, 0x3c, 0x40, 0x90, 0xa0] {
            let found = run(&data[..len]);
            assert!(found.metadata.is_empty(), "{len}");
            assert!(found.warnings[0].text.starts_with("pe: "), "{len}");
        }
        // The section table runs past the end: the sections before it are read.
        let pe_at = le32(&data, 0x3c).unwrap() as usize;
        let table = pe_at + 24 + le16(&data, pe_at + 20).unwrap() as usize;
        let found = run(&data[..table + 40 * 2 + 10]);
        assert_eq!(pe(&found)["sections"].as_array().unwrap().len(), 2);
        assert!(found
            .warnings
            .iter()
            .any(|w| w.text.contains("section table")));
    }

    #[test]
    fn bad_sub_tables_leave_the_rest_readable() {
        // The import directory points out of the file.
        let mut data = sample("app32.exe");
        let (_, dirs) = opt_and_dirs(&data);
        put32(&mut data, dirs + 8, 0x7fff_0000);
        let found = run(&data);
        assert!(found
            .warnings
            .iter()
            .any(|w| w.text.contains("import directory")));
        assert_eq!(pe(&found)["resources"].as_array().unwrap().len(), 2);
        assert!(pe(&found)["sections"].as_array().unwrap().len() > 5);

        // Huge counts: sections, exports, resource entries.
        let mut data = sample("lib64.dll");
        let pe_at = le32(&data, 0x3c).unwrap() as usize;
        data[pe_at + 6..pe_at + 8].copy_from_slice(&0xffffu16.to_le_bytes());
        let found = run(&data);
        assert!(found
            .warnings
            .iter()
            .any(|w| w.problem == Problem::Capped && w.text.contains("65535 sections")));

        let mut data = sample("lib64.dll");
        let export_at = pe(&run(&data))["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == ".edata")
            .unwrap()["raw_address"]
            .as_u64()
            .unwrap() as usize;
        put32(&mut data, export_at + 20, u32::MAX);
        put32(&mut data, export_at + 24, u32::MAX);
        let found = run(&data);
        assert!(found
            .warnings
            .iter()
            .any(|w| w.text.contains("4294967295 functions")));
        assert!(pe(&found)["exports"]["functions"].as_array().unwrap().len() <= MAX_EXPORTS);
    }

    #[test]
    fn a_looping_or_huge_resource_tree_ends() {
        let mut data = sample("app32.exe");
        let rsrc = section(pe(&run(&data)), ".rsrc")["raw_address"]
            .as_u64()
            .unwrap() as usize;
        // The root's first entry (a type) points back at the root.
        put32(&mut data, rsrc + 16 + 4, 0x8000_0000);
        let found = run(&data);
        assert!(found.warnings.iter().any(|w| w.text.contains("loops")));

        let mut data = sample("app32.exe");
        data[rsrc + 12..rsrc + 16].copy_from_slice(&[0xff; 4]);
        let found = run(&data);
        assert!(!found.warnings.is_empty());
        assert!(pe(&found)["resources"].as_array().unwrap().len() <= MAX_RESOURCES);
    }

    #[test]
    fn a_garbage_certificate_table_is_a_warning() {
        let data = sample("lib64.dll");
        let (_, dirs) = opt_and_dirs(&data);
        // Past the end of the file.
        let mut past = data.clone();
        put32(&mut past, dirs + 32, 0x2d44_0000);
        put32(&mut past, dirs + 36, 0x100);
        let found = run(&past);
        assert!(found
            .warnings
            .iter()
            .any(|w| w.text.contains("certificate table")));
        assert!(pe(&found).get("authenticode").is_none());
        // In the file, but not a signature: a WIN_CERTIFICATE of type 2 holding junk.
        let mut junk = data.clone();
        let at = junk.len() as u32;
        junk.extend_from_slice(&64u32.to_le_bytes());
        junk.extend_from_slice(&0x0200u16.to_le_bytes());
        junk.extend_from_slice(&2u16.to_le_bytes());
        junk.extend((0..56u8).map(|i| i.wrapping_mul(37)));
        put32(&mut junk, dirs + 32, at);
        put32(&mut junk, dirs + 36, 64);
        let found = run(&junk);
        assert!(
            found.warnings.iter().any(|w| w.text.contains("malformed")),
            "{:?}",
            found.warnings
        );
        assert_eq!(pe(&found)["authenticode"]["digest_matches"], Value::Null);
        assert!(found.tags.contains("signed"));
        assert!(!fired(&found).contains(&DIGEST_MISMATCH.id));
    }

    #[test]
    fn corrupted_and_truncated_fixtures_never_panic() {
        for name in ["app32.exe", "lib64-signed.dll", "hello-dotnet.exe"] {
            let data = sample(name);
            for len in (0..data.len()).step_by(97) {
                run(&data[..len]);
            }
            for at in (0..data.len()).step_by(53) {
                let mut bad = data.clone();
                bad[at] ^= 0xff;
                if let Some(b) = bad.get_mut(at + 1) {
                    *b = 0x80;
                }
                run(&bad);
            }
        }
    }

    #[test]
    fn dates_and_guids_print_as_expected() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_714_521_600), "2024-05-01T00:00:00Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
        let g: Vec<u8> = (0..16).collect();
        assert_eq!(
            guid_string(&g).unwrap(),
            "03020100-0504-0706-0809-0a0b0c0d0e0f"
        );
        assert_eq!(join_and(&["a", "b", "c"]), "a, b and c");
    }
}
