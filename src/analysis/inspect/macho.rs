//! Mach-O metadata (`metadata.application.macho`): for each architecture of a file (one, or
//! several in a universal binary) the CPU, file type, load commands by kind, linked dylibs,
//! segments with protections and entropy, and the code signature with its entitlements. Parsed
//! with goblin; the code signature's superblob is read here.

use std::collections::BTreeMap;

use goblin::mach::load_command::CommandVariant;
use goblin::mach::{constants::cputype, header, Mach, MachO, SingleArch};
use serde::Serialize;

use super::{Heuristic, Inspection};
use crate::analysis::hashes::entropy_of;
use crate::analysis::identify::FileKind;
use crate::analysis::warning::Problem;

/// Most architectures read from a universal binary.
const MAX_ARCHES: usize = 16;
/// Most segments and dylibs listed per architecture.
const MAX_LISTED: usize = 256;
/// Longest entitlements text kept.
const MAX_ENTITLEMENTS: usize = 64 * 1024;

/// Code signature superblob and entitlements blob magics (big endian).
const SUPERBLOB_MAGIC: u32 = 0xfade_0cc0;
const ENTITLEMENTS_MAGIC: u32 = 0xfade_7171;

/// VM protection bits.
const VM_PROT_WRITE: u32 = 2;
const VM_PROT_EXECUTE: u32 = 4;

pub const NO_SIGNATURE: &Heuristic = &Heuristic {
    id: "macho-no-code-signature",
    priority: 2,
    category: "signature",
    description: "The Mach-O executable has no code signature; macOS runs unsigned code only \
                  after the user overrides Gatekeeper, and Apple silicon requires at least an \
                  ad-hoc signature.",
    verdict: None,
};

pub const WX_SEGMENT: &Heuristic = &Heuristic {
    id: "macho-wx-segment",
    priority: 5,
    category: "anomaly",
    description: "A segment is mapped writable and executable at once, as self-modifying or \
                  unpacking code needs and ordinary programs avoid.",
    verdict: None,
};

#[derive(Serialize)]
struct Segment {
    name: String,
    virtual_address: u64,
    virtual_size: u64,
    file_offset: u64,
    file_size: u64,
    max_protection: String,
    initial_protection: String,
    entropy: f64,
}

#[derive(Serialize)]
struct CodeSignature {
    offset: u32,
    size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    entitlements: Option<String>,
}

#[derive(Serialize)]
struct Arch {
    #[serde(skip)]
    cpu: u32,
    cpu_type: String,
    /// The header's `filetype` (`MH_EXECUTE`, ...).
    #[serde(skip)]
    filetype: u32,
    /// Its name as the report shows it (`EXECUTE`, ...), from goblin.
    #[serde(rename = "file_type")]
    filetype_name: &'static str,
    bits: u8,
    entry: u64,
    load_commands: usize,
    load_command_kinds: BTreeMap<&'static str, usize>,
    dylibs: Vec<String>,
    rpaths: Vec<String>,
    segments: Vec<Segment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_signature: Option<CodeSignature>,
}

#[derive(Serialize)]
struct Metadata {
    universal: bool,
    architectures: Vec<Arch>,
}

/// `rwx` letters for a VM protection.
fn protection(p: u32) -> String {
    [(1, 'r'), (VM_PROT_WRITE, 'w'), (VM_PROT_EXECUTE, 'x')]
        .iter()
        .map(|&(bit, c)| if p & bit != 0 { c } else { '-' })
        .collect()
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The entitlements plist inside a code signature superblob, if any.
fn entitlements(sig: &[u8]) -> Option<String> {
    if be32(sig, 0)? != SUPERBLOB_MAGIC {
        return None;
    }
    let count = be32(sig, 8)? as usize;
    for i in 0..count.min(64) {
        let offset = be32(sig, 12 + i * 8 + 4)? as usize;
        if be32(sig, offset)? == ENTITLEMENTS_MAGIC {
            let len = be32(sig, offset + 4)? as usize;
            let body = sig.get(offset + 8..offset.checked_add(len)?.min(sig.len()))?;
            let body = &body[..body.len().min(MAX_ENTITLEMENTS)];
            return Some(String::from_utf8_lossy(body).into_owned());
        }
    }
    None
}

fn cpu_name(cpu: u32, sub: u32) -> String {
    cputype::get_arch_name_from_types(cpu, sub)
        .map(str::to_string)
        .unwrap_or_else(|| format!("cpu 0x{cpu:x}"))
}

/// Tag and story name of a CPU.
fn cpu_tag(cpu: u32) -> (&'static str, &'static str) {
    match cpu {
        cputype::CPU_TYPE_X86_64 => ("arch-x86-64", "x86-64"),
        cputype::CPU_TYPE_X86 => ("arch-x86", "x86"),
        cputype::CPU_TYPE_ARM64 | cputype::CPU_TYPE_ARM64_32 => ("arch-arm64", "ARM64"),
        cputype::CPU_TYPE_ARM => ("arch-arm", "ARM"),
        cputype::CPU_TYPE_POWERPC | cputype::CPU_TYPE_POWERPC64 => ("arch-powerpc", "PowerPC"),
        _ => ("arch-other", "other"),
    }
}

/// Reads one architecture (`data` is that architecture's slice of the file).
fn arch(m: &MachO, data: &[u8], found: &mut Inspection) -> Arch {
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut code_signature = None;
    for lc in &m.load_commands {
        *kinds
            .entry(goblin::mach::load_command::cmd_to_str(lc.command.cmd()))
            .or_default() += 1;
        if let CommandVariant::CodeSignature(c) = &lc.command {
            let start = (c.dataoff as usize).min(data.len());
            let end = (c.dataoff as usize)
                .saturating_add(c.datasize as usize)
                .min(data.len());
            code_signature = Some(CodeSignature {
                offset: c.dataoff,
                size: c.datasize,
                entitlements: entitlements(&data[start..end]),
            });
        }
    }
    let segments: Vec<Segment> = m
        .segments
        .iter()
        .take(MAX_LISTED)
        .map(|s| {
            let start = (s.fileoff as usize).min(data.len());
            let end = (s.fileoff.saturating_add(s.filesize) as usize).min(data.len());
            Segment {
                name: s.name().unwrap_or("").to_string(),
                virtual_address: s.vmaddr,
                virtual_size: s.vmsize,
                file_offset: s.fileoff,
                file_size: s.filesize,
                max_protection: protection(s.maxprot),
                initial_protection: protection(s.initprot),
                entropy: entropy_of(&data[start..end]),
            }
        })
        .collect();
    let wx: Vec<String> = m
        .segments
        .iter()
        .filter(|s| {
            s.initprot & (VM_PROT_WRITE | VM_PROT_EXECUTE) == VM_PROT_WRITE | VM_PROT_EXECUTE
        })
        .map(|s| format!("segment {} is mapped rwx", s.name().unwrap_or("?")))
        .collect();
    if !wx.is_empty() {
        found.fire(WX_SEGMENT, wx);
    }
    let executable = m.header.filetype == header::MH_EXECUTE;
    if executable && code_signature.is_none() {
        found.fire(
            NO_SIGNATURE,
            vec!["no LC_CODE_SIGNATURE load command".to_string()],
        );
    }
    if code_signature.is_some() {
        found.tag("signed");
    }
    found.tag(cpu_tag(m.header.cputype).0);
    Arch {
        cpu: m.header.cputype,
        cpu_type: cpu_name(m.header.cputype, m.header.cpusubtype),
        filetype: m.header.filetype,
        filetype_name: header::filetype_to_str(m.header.filetype),
        bits: if m.is_64 { 64 } else { 32 },
        entry: m.entry,
        load_commands: m.load_commands.len(),
        load_command_kinds: kinds,
        // goblin lists the file itself first, as "self".
        dylibs: m
            .libs
            .iter()
            .filter(|l| **l != "self")
            .take(MAX_LISTED)
            .map(|l| l.to_string())
            .collect(),
        rpaths: m
            .rpaths
            .iter()
            .take(MAX_LISTED)
            .map(|r| r.to_string())
            .collect(),
        segments,
        code_signature,
    }
}

pub fn inspect(data: &[u8], _kind: &FileKind, found: &mut Inspection) {
    let mut arches = Vec::new();
    let universal = match Mach::parse(data) {
        Ok(Mach::Binary(m)) => {
            arches.push(arch(&m, data, found));
            false
        }
        Ok(Mach::Fat(fat)) => {
            for (i, fa) in fat.iter_arches().take(MAX_ARCHES).enumerate() {
                let Ok(fa) = fa else {
                    found.warn(
                        Problem::Corrupt,
                        format!("macho: architecture {i} of the universal binary is unreadable"),
                    );
                    continue;
                };
                let slice = fa.slice(data);
                match fat.get(i) {
                    Ok(SingleArch::MachO(m)) => arches.push(arch(&m, slice, found)),
                    Ok(SingleArch::Archive(_)) => {}
                    Err(e) => found.warn(
                        Problem::Corrupt,
                        format!("macho: architecture {i} could not be read ({e})"),
                    ),
                }
            }
            true
        }
        Err(e) => {
            found.warn(
                Problem::Corrupt,
                format!("macho: the headers could not be read ({e})"),
            );
            return;
        }
    };
    if arches.is_empty() {
        return;
    }
    let names: Vec<&str> = arches.iter().map(|a| cpu_tag(a.cpu).1).collect();
    let first = &arches[0];
    let what = match first.filetype {
        header::MH_EXECUTE => "executable",
        header::MH_DYLIB => "dynamic library",
        header::MH_BUNDLE => "bundle",
        header::MH_OBJECT => "object file",
        _ => "file",
    };
    let signed = arches.iter().all(|a| a.code_signature.is_some());
    found.facts.push(format!(
        "It is a macOS {what}{} linking {} dylibs; it is {}.",
        if universal {
            format!(" for {} architectures ({})", arches.len(), names.join(", "))
        } else {
            format!(" for {}", names[0])
        },
        first.dylibs.len(),
        if signed {
            "code-signed"
        } else {
            "not code-signed"
        }
    ));
    let metadata = Metadata {
        universal,
        architectures: arches,
    };
    if let Ok(value) = serde_json::to_value(metadata) {
        found.set_metadata(&["application", "macho"], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::inspect::testing::{self, fired};

    fn run(data: &[u8]) -> Inspection {
        testing::run_unchecked(inspect, data)
    }

    /// A 64-bit x86-64 executable: one __TEXT segment with protection `prot`, a dylib, and a
    /// code signature holding entitlements when `signed`.
    fn tiny_macho(prot: u32, signed: bool) -> Vec<u8> {
        let mut cmds: Vec<u8> = Vec::new();
        let mut ncmds = 0u32;
        // LC_SEGMENT_64 __TEXT, no sections.
        let mut seg = Vec::new();
        seg.extend(0x19u32.to_le_bytes());
        seg.extend(72u32.to_le_bytes());
        let mut name = [0u8; 16];
        name[..6].copy_from_slice(b"__TEXT");
        seg.extend(name);
        seg.extend(0x1_0000_0000u64.to_le_bytes()); // vmaddr
        seg.extend(0x1000u64.to_le_bytes()); // vmsize
        seg.extend(0u64.to_le_bytes()); // fileoff
        seg.extend(0x200u64.to_le_bytes()); // filesize
        seg.extend(prot.to_le_bytes()); // maxprot
        seg.extend(prot.to_le_bytes()); // initprot
        seg.extend(0u32.to_le_bytes()); // nsects
        seg.extend(0u32.to_le_bytes()); // flags
        cmds.extend(seg);
        ncmds += 1;
        // LC_LOAD_DYLIB /usr/lib/libSystem.B.dylib
        let path = b"/usr/lib/libSystem.B.dylib\0\0\0\0\0\0";
        cmds.extend(0xcu32.to_le_bytes());
        cmds.extend((24 + path.len() as u32).to_le_bytes());
        cmds.extend(24u32.to_le_bytes());
        cmds.extend([0u8; 12]);
        cmds.extend(path);
        ncmds += 1;
        let sig_at = 0x200u32;
        let mut sig = Vec::new();
        if signed {
            let plist =
                b"<plist><dict><key>com.apple.security.get-task-allow</key><true/></dict></plist>";
            let blob_len = 8 + plist.len() as u32;
            sig.extend(SUPERBLOB_MAGIC.to_be_bytes());
            sig.extend((20 + blob_len).to_be_bytes());
            sig.extend(1u32.to_be_bytes());
            sig.extend(5u32.to_be_bytes()); // slot: entitlements
            sig.extend(20u32.to_be_bytes());
            sig.extend(ENTITLEMENTS_MAGIC.to_be_bytes());
            sig.extend(blob_len.to_be_bytes());
            sig.extend(plist);
            cmds.extend(0x1du32.to_le_bytes());
            cmds.extend(16u32.to_le_bytes());
            cmds.extend(sig_at.to_le_bytes());
            cmds.extend((sig.len() as u32).to_le_bytes());
            ncmds += 1;
        }
        let mut d = Vec::new();
        d.extend(0xfeed_facfu32.to_le_bytes());
        d.extend(cputype::CPU_TYPE_X86_64.to_le_bytes());
        d.extend(3u32.to_le_bytes());
        d.extend(header::MH_EXECUTE.to_le_bytes());
        d.extend(ncmds.to_le_bytes());
        d.extend((cmds.len() as u32).to_le_bytes());
        d.extend(0u32.to_le_bytes());
        d.extend(0u32.to_le_bytes());
        d.extend(cmds);
        d.resize(sig_at as usize, 0);
        d.extend(sig);
        d
    }

    /// A universal binary holding `arches` at 4 KiB alignment.
    fn fat(arches: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend(0xcafe_babeu32.to_be_bytes());
        d.extend((arches.len() as u32).to_be_bytes());
        let mut offset = 0x1000u32;
        for (cpu, body) in arches {
            d.extend(cpu.to_be_bytes());
            d.extend(3u32.to_be_bytes());
            d.extend(offset.to_be_bytes());
            d.extend((body.len() as u32).to_be_bytes());
            d.extend(12u32.to_be_bytes());
            offset += (body.len() as u32).div_ceil(0x1000) * 0x1000;
        }
        for (_, body) in arches {
            d.resize(d.len().div_ceil(0x1000) * 0x1000, 0);
            d.extend(body);
        }
        d
    }

    #[test]
    fn a_signed_executable_with_entitlements() {
        let found = run(&tiny_macho(5, true));
        let m = &found.metadata["application"]["macho"];
        assert_eq!(m["universal"], false);
        let a = &m["architectures"][0];
        assert_eq!(a["cpu_type"], "x86_64");
        assert_eq!(a["file_type"], "EXECUTE");
        assert_eq!(a["dylibs"][0], "/usr/lib/libSystem.B.dylib");
        assert_eq!(a["segments"][0]["name"], "__TEXT");
        assert_eq!(a["segments"][0]["initial_protection"], "r-x");
        assert!(a["code_signature"]["entitlements"]
            .as_str()
            .unwrap()
            .contains("get-task-allow"));
        assert!(found.tags.contains("signed"));
        assert!(fired(&found).is_empty());
        assert!(found.facts[0].contains("code-signed"), "{:?}", found.facts);
    }

    #[test]
    fn unsigned_and_wx_fire_and_their_clean_twin_stays_silent() {
        let found = run(&tiny_macho(7, false));
        assert_eq!(fired(&found), [WX_SEGMENT.id, NO_SIGNATURE.id]);
        assert!(fired(&run(&tiny_macho(5, true))).is_empty());
    }

    #[test]
    fn every_architecture_of_a_universal_binary() {
        let data = fat(&[
            (cputype::CPU_TYPE_X86_64, tiny_macho(5, true)),
            (cputype::CPU_TYPE_X86_64, tiny_macho(5, false)),
        ]);
        let found = run(&data);
        let m = &found.metadata["application"]["macho"];
        assert_eq!(m["universal"], true);
        assert_eq!(m["architectures"].as_array().unwrap().len(), 2);
        assert!(m["architectures"][1]["code_signature"].is_null());
        assert_eq!(fired(&found), [NO_SIGNATURE.id]);
    }

    #[test]
    fn truncated_files_are_warnings() {
        let data = tiny_macho(5, true);
        for cut in [20, 40, 100] {
            let found = run(&data[..cut]);
            assert!(found.metadata.is_empty(), "cut at {cut}");
            assert!(found.warnings[0].text.starts_with("macho:"), "cut at {cut}");
        }
    }
}
