//! ELF metadata (`metadata.application.elf`): header, interpreter, needed libraries, sections and
//! segments with their flags and entropy, symbol counts, and the hardening a reader looks for
//! (PIE, NX stack, RELRO, stack canary). Parsed with goblin; a file goblin cannot parse gets a
//! warning and no metadata.

use goblin::elf::{header, program_header as ph, section_header as sh, Elf};
use serde::Serialize;

use super::{Heuristic, Inspection};
use crate::analysis::hashes::entropy_of;
use crate::analysis::identify::FileKind;
use crate::analysis::warning::Problem;

/// Most sections and segments listed (a hostile file may declare thousands).
const MAX_LISTED: usize = 256;
/// Most needed libraries listed.
const MAX_LIBRARIES: usize = 256;

pub const RWX_SEGMENT: &Heuristic = &Heuristic {
    id: "elf-rwx-segment",
    priority: 5,
    category: "anomaly",
    description: "A loadable segment is writable and executable at once, as self-modifying or \
                  unpacking code needs and ordinary programs avoid.",
    verdict: None,
};

pub const NO_SECTIONS: &Heuristic = &Heuristic {
    id: "elf-no-section-headers",
    priority: 4,
    category: "evasion",
    description: "The executable has no section headers: they were stripped or damaged, as \
                  packers and anti-analysis tools do.",
    verdict: None,
};

pub const EXECUTABLE_STACK: &Heuristic = &Heuristic {
    id: "elf-executable-stack",
    priority: 3,
    category: "anomaly",
    description: "The program asks for an executable stack (PT_GNU_STACK with X), which \
                  disables a basic exploit protection.",
    verdict: None,
};

#[derive(Serialize)]
struct Section {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    flags: String,
    address: u64,
    offset: u64,
    size: u64,
    entropy: f64,
}

#[derive(Serialize)]
struct Segment {
    #[serde(rename = "type")]
    kind: String,
    flags: String,
    offset: u64,
    virtual_address: u64,
    file_size: u64,
    memory_size: u64,
    entropy: f64,
}

#[derive(Serialize)]
struct Symbols {
    symtab: usize,
    dynsym: usize,
}

#[derive(Serialize)]
struct Protections {
    pie: bool,
    nx_stack: bool,
    relro: bool,
    stack_canary: bool,
}

#[derive(Serialize)]
struct Metadata {
    class: &'static str,
    endianness: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    machine: &'static str,
    entry: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    interpreter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    soname: Option<String>,
    needed: Vec<String>,
    stripped: bool,
    symbols: Symbols,
    protections: Protections,
    sections: Vec<Section>,
    segments: Vec<Segment>,
    rwx_segments: usize,
}

/// `R`, `W`, `X` letters for segment flags.
fn segment_flags(flags: u32) -> String {
    [(ph::PF_R, 'R'), (ph::PF_W, 'W'), (ph::PF_X, 'X')]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// `W`, `A`, `X` letters for section flags (write, alloc, exec), as `readelf` prints them.
fn section_flags(flags: u64) -> String {
    [
        (sh::SHF_WRITE as u64, 'W'),
        (sh::SHF_ALLOC as u64, 'A'),
        (sh::SHF_EXECINSTR as u64, 'X'),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// The bytes of a file range, clipped to the file.
fn range(data: &[u8], offset: u64, size: u64) -> &[u8] {
    let start = (offset as usize).min(data.len());
    let end = (offset.saturating_add(size) as usize).min(data.len());
    &data[start..end]
}

/// Common architecture names, for tags and the story.
fn arch(machine: u16) -> (&'static str, &'static str) {
    match machine {
        header::EM_X86_64 => ("x86-64", "arch-x86-64"),
        header::EM_386 => ("x86", "arch-x86"),
        header::EM_AARCH64 => ("ARM64", "arch-arm64"),
        header::EM_ARM => ("ARM", "arch-arm"),
        header::EM_MIPS => ("MIPS", "arch-mips"),
        header::EM_PPC | header::EM_PPC64 => ("PowerPC", "arch-powerpc"),
        header::EM_RISCV => ("RISC-V", "arch-riscv"),
        _ => (header::machine_to_str(machine), "arch-other"),
    }
}

/// Symbols whose import says what a program can do.
const NETWORK_SYMBOLS: &[&str] = &["socket", "connect", "getaddrinfo", "gethostbyname", "bind"];

pub fn inspect(data: &[u8], _kind: &FileKind, found: &mut Inspection) {
    let elf = match Elf::parse(data) {
        Ok(elf) => elf,
        Err(e) => {
            found.warn(
                Problem::Corrupt,
                format!("elf: the headers could not be read ({e})"),
            );
            return;
        }
    };
    let e_type = elf.header.e_type;
    let pie = e_type == header::ET_DYN && elf.interpreter.is_some();
    let kind = match e_type {
        header::ET_REL => "relocatable",
        header::ET_EXEC => "executable",
        header::ET_DYN if pie => "executable (PIE)",
        header::ET_DYN => "shared object",
        header::ET_CORE => "core",
        _ => "unknown",
    };
    let sections: Vec<Section> = elf
        .section_headers
        .iter()
        .take(MAX_LISTED)
        .map(|s| {
            let bytes = if s.sh_type == sh::SHT_NOBITS {
                &[][..]
            } else {
                range(data, s.sh_offset, s.sh_size)
            };
            Section {
                name: elf.shdr_strtab.get_at(s.sh_name).unwrap_or("").to_string(),
                kind: sh::sht_to_str(s.sh_type).to_string(),
                flags: section_flags(s.sh_flags),
                address: s.sh_addr,
                offset: s.sh_offset,
                size: s.sh_size,
                entropy: entropy_of(bytes),
            }
        })
        .collect();
    let segments: Vec<Segment> = elf
        .program_headers
        .iter()
        .take(MAX_LISTED)
        .map(|p| Segment {
            kind: ph::pt_to_str(p.p_type).to_string(),
            flags: segment_flags(p.p_flags),
            offset: p.p_offset,
            virtual_address: p.p_vaddr,
            file_size: p.p_filesz,
            memory_size: p.p_memsz,
            entropy: entropy_of(range(data, p.p_offset, p.p_filesz)),
        })
        .collect();
    let rwx: Vec<String> = elf
        .program_headers
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.p_type == ph::PT_LOAD && p.p_flags & (ph::PF_W | ph::PF_X) == ph::PF_W | ph::PF_X
        })
        .map(|(i, p)| {
            format!(
                "segment {i} at 0x{:x} ({} bytes) is RWX",
                p.p_vaddr, p.p_memsz
            )
        })
        .collect();
    let stack = elf
        .program_headers
        .iter()
        .find(|p| p.p_type == ph::PT_GNU_STACK);
    let exec_stack = stack.is_some_and(|p| p.p_flags & ph::PF_X != 0);
    let dynamic_names: Vec<&str> = elf
        .dynsyms
        .iter()
        .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
        .collect();
    let protections = Protections {
        pie,
        nx_stack: stack.is_some() && !exec_stack,
        relro: elf
            .program_headers
            .iter()
            .any(|p| p.p_type == ph::PT_GNU_RELRO),
        stack_canary: dynamic_names.contains(&"__stack_chk_fail"),
    };
    let stripped = !elf
        .section_headers
        .iter()
        .any(|s| s.sh_type == sh::SHT_SYMTAB);
    let (arch_name, arch_tag) = arch(elf.header.e_machine);

    if !rwx.is_empty() {
        found.fire(RWX_SEGMENT, rwx.clone());
    }
    let loadable = matches!(e_type, header::ET_EXEC | header::ET_DYN);
    if loadable && elf.section_headers.is_empty() {
        found.fire(
            NO_SECTIONS,
            vec![format!("e_shnum is {}", elf.header.e_shnum)],
        );
    }
    if exec_stack {
        found.fire(
            EXECUTABLE_STACK,
            vec!["PT_GNU_STACK has flags RWX".to_string()],
        );
    }
    found.tag(arch_tag);
    found.tag(if elf.is_64 { "bits-64" } else { "bits-32" });
    if protections.pie {
        found.tag("protection-pie");
    }
    if protections.nx_stack {
        found.tag("protection-nx");
    }
    if protections.relro {
        found.tag("protection-relro");
    }
    if protections.stack_canary {
        found.tag("protection-stack-canary");
    }
    if stripped && loadable {
        found.tag("stripped");
    }
    if dynamic_names.iter().any(|n| NETWORK_SYMBOLS.contains(n)) {
        found.tag("capability-networking");
    }

    let bits = if elf.is_64 { 64 } else { 32 };
    let mut fact = format!("It is a {bits}-bit {arch_name} ELF {kind}");
    if elf.libraries.is_empty() {
        fact.push_str(if loadable && elf.interpreter.is_none() {
            ", statically linked"
        } else {
            ""
        });
    } else {
        fact.push_str(&format!(
            " that loads {} shared librar{}",
            elf.libraries.len(),
            if elf.libraries.len() == 1 { "y" } else { "ies" }
        ));
    }
    if stripped && loadable {
        fact.push_str("; its symbol table is stripped");
    }
    fact.push('.');
    found.facts.push(fact);
    if !rwx.is_empty() {
        found
            .facts
            .push("It has a segment that is both writable and executable.".to_string());
    }

    let metadata = Metadata {
        class: if elf.is_64 { "ELF64" } else { "ELF32" },
        endianness: if elf.little_endian { "little" } else { "big" },
        kind,
        machine: header::machine_to_str(elf.header.e_machine),
        entry: elf.header.e_entry,
        interpreter: elf.interpreter.map(str::to_string),
        soname: elf.soname.map(str::to_string),
        needed: elf
            .libraries
            .iter()
            .take(MAX_LIBRARIES)
            .map(|l| l.to_string())
            .collect(),
        stripped,
        symbols: Symbols {
            symtab: elf.syms.len(),
            dynsym: elf.dynsyms.len(),
        },
        protections,
        sections,
        segments,
        rwx_segments: rwx.len(),
    };
    if let Ok(value) = serde_json::to_value(metadata) {
        found.set_metadata(&["application", "elf"], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::inspect::testing::{self, fired};

    fn run(data: &[u8]) -> Inspection {
        testing::run_unchecked(inspect, data)
    }

    /// A minimal 64-bit little-endian x86-64 executable: header, one PT_LOAD with `flags`, a
    /// PT_GNU_STACK with `stack`, no sections.
    fn tiny_elf(flags: u32, stack: u32) -> Vec<u8> {
        let mut d = vec![0u8; 64 + 56 * 2 + 16];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2; // 64-bit
        d[5] = 1; // little endian
        d[6] = 1;
        d[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        d[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
        d[20..24].copy_from_slice(&1u32.to_le_bytes());
        d[24..32].copy_from_slice(&0x400078u64.to_le_bytes()); // entry
        d[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        d[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
        d[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        d[56..58].copy_from_slice(&2u16.to_le_bytes()); // phnum
        d[58..60].copy_from_slice(&64u16.to_le_bytes()); // shentsize
        let ph = |d: &mut Vec<u8>, at: usize, kind: u32, flags: u32, size: u64| {
            d[at..at + 4].copy_from_slice(&kind.to_le_bytes());
            d[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            d[at + 16..at + 24].copy_from_slice(&0x400000u64.to_le_bytes());
            d[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
            d[at + 40..at + 48].copy_from_slice(&size.to_le_bytes());
        };
        let len = d.len() as u64;
        ph(&mut d, 64, ph::PT_LOAD, flags, len);
        ph(&mut d, 120, ph::PT_GNU_STACK, stack, 0);
        d
    }

    #[test]
    fn a_real_executable_is_described() {
        // The test binary itself: a dynamically linked executable of this machine.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let found = run(&me);
        let elf = &found.metadata["application"]["elf"];
        assert_eq!(elf["class"], "ELF64");
        assert!(elf["needed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("libc.so")));
        assert!(elf["sections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == ".text" && s["flags"] == "AX"));
        assert!(elf["interpreter"].as_str().unwrap().contains("ld-linux"));
        assert_eq!(elf["protections"]["nx_stack"], true);
        assert!(found.tags.contains("protection-nx"));
        assert!(
            found.facts[0].starts_with("It is a 64-bit"),
            "{:?}",
            found.facts
        );
        assert!(fired(&found).is_empty(), "{:?}", fired(&found));
    }

    #[test]
    fn rwx_segment_and_missing_sections_fire_and_a_clean_twin_stays_silent() {
        let bad = run(&tiny_elf(
            ph::PF_R | ph::PF_W | ph::PF_X,
            ph::PF_R | ph::PF_W | ph::PF_X,
        ));
        assert_eq!(
            fired(&bad),
            [RWX_SEGMENT.id, NO_SECTIONS.id, EXECUTABLE_STACK.id]
        );
        assert_eq!(bad.metadata["application"]["elf"]["rwx_segments"], 1);
        assert_eq!(
            bad.metadata["application"]["elf"]["segments"][0]["flags"],
            "RWX"
        );
        let twin = run(&tiny_elf(ph::PF_R | ph::PF_X, ph::PF_R | ph::PF_W));
        assert_eq!(fired(&twin), [NO_SECTIONS.id]);
        assert!(twin.tags.contains("arch-x86-64"));
    }

    #[test]
    fn garbage_after_the_magic_is_a_warning() {
        let found = run(b"\x7fELF\x02\x01\x01\x00garbage");
        assert!(found.metadata.is_empty());
        assert!(found.warnings[0].text.starts_with("elf:"));
    }
}
