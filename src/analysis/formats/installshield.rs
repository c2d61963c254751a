//! InstallShield setup executables that carry their files in the overlay (the "MSI-based"
//! setup.exe of InstallShield 12 and later: the `.msi`, its `.ini` files, `ISSetup.dll`): after
//! the signature `InstallShield\0` a 32-byte header (u32 file count, then zeros) and, per file,
//! a 312-byte block (its name in 260 bytes, the compressed size as u64 at 264) followed by its
//! data: every byte's nibbles swapped and XORed with a key made from the file name (each name
//! byte XORed with `ec ca 79 f8` in turn, the key index wrapping at 1024), then zlib. The layout
//! is as ClamAV's `ishield.c` documents it; this is our own implementation.
//!
//! Not handled: the older layout of InstallShield 5 to 11 setups (files listed as name, path,
//! version and size strings, with `data1.hdr`/`data1.cab` InstallShield cabinets), whose
//! cabinets need their header parsed; such a setup is identified and reported as not unpacked.

use std::borrow::Cow;

use memchr::memmem;

use super::{printable, Members, ReadStop};
use crate::analysis::bytes::le32;
use crate::analysis::warning::Problem;

const SIGNATURE: &[u8] = b"InstallShield\0";
const HEADER: usize = 0x20;
const NAME: usize = 0x104;
const BLOCK: usize = NAME + 52;
const KEY: [u8; 4] = [0xec, 0xca, 0x79, 0xf8];

/// Most files read from one setup.
pub const MAX_FILES: usize = 10_000;

/// Where the files' header starts: after the first `InstallShield\0` followed by a plausible
/// header (a file count, then 24 zero bytes).
pub fn find(data: &[u8]) -> Option<usize> {
    memmem::find_iter(data, SIGNATURE)
        .map(|at| at + SIGNATURE.len())
        .find(|&at| {
            data.get(at..at + HEADER).is_some_and(|h| {
                le32(h, 0).is_some_and(|n| n > 0 && n as usize <= MAX_FILES)
                    && h[8..].iter().all(|&b| b == 0)
            })
        })
}

/// Unpacks the files an InstallShield setup carries.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let Some(header) = find(data) else {
        out.warn(
            Problem::Unsupported,
            "no InstallShield file list of the layout assay reads (InstallShield 12 and later)",
        );
        return;
    };
    let count = le32(data, header).unwrap_or(0) as usize;
    let mut pos = header + HEADER;
    for _ in 0..count {
        if out.stopped() {
            return;
        }
        let Some(block) = data.get(pos..pos + BLOCK) else {
            out.warn(
                Problem::Truncated,
                format!("the InstallShield file list ends inside a file block at offset {pos}"),
            );
            return;
        };
        let name_len = block[..NAME]
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(NAME - 1);
        let name_bytes = &block[..name_len];
        let name: String = name_bytes
            .iter()
            .map(|&c| crate::analysis::text::cp1252(c))
            .collect();
        let csize = u64::from(le32(block, NAME + 8).unwrap_or(0))
            | u64::from(le32(block, NAME + 12).unwrap_or(0)) << 32;
        pos += BLOCK;
        let Some(stored) = usize::try_from(csize)
            .ok()
            .and_then(|n| data.get(pos..pos.checked_add(n)?))
        else {
            out.warn(
                Problem::Truncated,
                format!(
                    "{}: its {csize} bytes run past the end of the file",
                    printable(&name)
                ),
            );
            return;
        };
        pos += stored.len();
        if name_bytes.is_empty() {
            out.warn(Problem::Corrupt, "an InstallShield file has no name");
            return;
        }
        let key: Vec<u8> = name_bytes
            .iter()
            .enumerate()
            .map(|(i, &c)| c ^ KEY[i & 3])
            .collect();
        let plain: Vec<u8> = stored
            .iter()
            .enumerate()
            .map(|(i, &c)| c.rotate_left(4) ^ key[(i & 0x3ff) % key.len()])
            .collect();
        let mut z = flate2::read::ZlibDecoder::new(&plain[..]);
        match out.read_member(&name, csize, &mut z) {
            Ok(d) => {
                if !out.add(name, Cow::Owned(d)) {
                    return;
                }
            }
            Err(ReadStop::Limit) => {}
            Err(ReadStop::Corrupt(e, partial)) => {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{}: the compressed data is corrupt or truncated ({e}); kept the {} \
                         bytes that decoded",
                        printable(&name),
                        partial.len()
                    ),
                );
                if !partial.is_empty() && !out.add(name, Cow::Owned(partial)) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Budget;
    use super::*;
    use std::io::Write;

    /// A setup carrying `files`, encoded as InstallShield does.
    fn setup(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut v = b"MZ stub ... InstallShield\0\0\0.text decoy ".to_vec();
        v.extend_from_slice(SIGNATURE);
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(files.len() as u32).to_le_bytes());
        v.extend_from_slice(&header);
        for (name, content) in files {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(content).unwrap();
            let packed = z.finish().unwrap();
            let mut block = vec![0u8; BLOCK];
            block[..name.len()].copy_from_slice(name.as_bytes());
            block[NAME + 8..NAME + 16].copy_from_slice(&(packed.len() as u64).to_le_bytes());
            v.extend(block);
            let key: Vec<u8> = name
                .bytes()
                .enumerate()
                .map(|(i, c)| c ^ KEY[i & 3])
                .collect();
            v.extend(
                packed
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| (c ^ key[(i & 0x3ff) % key.len()]).rotate_left(4)),
            );
        }
        v
    }

    #[test]
    fn the_carried_files_come_out_whole_and_named() {
        let big: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
        let data = setup(&[("setup.msi", &big), ("0x0409.ini", b"[Strings]\r\n")]);
        assert!(find(&data).is_some());
        let mut out = Members::new(Budget::unlimited());
        unpack(&data, &mut out);
        let got: Vec<(&str, &[u8])> = out
            .members
            .iter()
            .map(|m| (m.name.as_str(), &m.data[..]))
            .collect();
        assert!(
            got == [
                ("setup.msi", &big[..]),
                ("0x0409.ini", &b"[Strings]\r\n"[..])
            ]
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        for cut in (0..data.len()).step_by(53) {
            let mut out = Members::new(Budget::unlimited());
            unpack(&data[..cut], &mut out);
        }
    }
}
