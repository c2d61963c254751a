//! Executable packers and crypters other than UPX (which `upx.rs` restores): recognised by the
//! marks each leaves ([`packer`]) and, for those assay restores, undone statically. Each
//! restorer reads its stub's parameters at the places the packer puts them and decodes the
//! packed sections into the original program's image ([`image::Restored`]); nothing runs the
//! stub's code. The image is written out as a PE file ([`image::rebuild`]), the one member
//! `unpacked.exe` (or `unpacked.dll`), and analysed like any other file: the program's own
//! payload is found in it as in any executable.
//!
//! A restored file is not the original byte for byte: these packers keep neither the original
//! headers nor the file layout, so the sections' contents and the entry point are what is
//! restored, in a layout of assay's own (raw offset order, 512-byte file alignment).

mod aplib;
mod aspack;
mod byte_cipher;
mod fsg;
pub mod image;
mod lzma_mew;
mod mew;
mod pespin;
mod petite;
#[cfg(test)]
mod testing;
mod upack;
mod wwpack;
mod yc;

use std::borrow::Cow;

use super::pe::Image;
use super::Members;
use crate::analysis::warning::Problem;
use image::{Packed, Restored};

/// A packer or crypter assay recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packer {
    Aspack,
    Mew,
    Petite,
    Upack,
    PeSpin,
    WwPack32,
    YodasCrypter,
    YodasProtector,
    Fsg,
    Mpress,
    NsPack,
}

/// A packer's restorer: whether it handles this variant, and the restoration.
struct Restorer {
    detect: fn(&Packed) -> bool,
    unpack: fn(&Packed) -> Result<Restored, String>,
}

impl Packer {
    /// The packer's name as identification and warnings give it.
    pub fn name(self) -> &'static str {
        match self {
            Packer::Aspack => "ASPack",
            Packer::Mew => "MEW",
            Packer::Petite => "Petite",
            Packer::Upack => "Upack",
            Packer::PeSpin => "PESpin",
            Packer::WwPack32 => "WWPack32",
            Packer::YodasCrypter => "yoda's Crypter",
            Packer::YodasProtector => "yoda's Protector",
            Packer::Fsg => "FSG",
            Packer::Mpress => "MPRESS",
            Packer::NsPack => "NsPack",
        }
    }

    fn restorer(self) -> Option<Restorer> {
        let restorer = |detect, unpack| Some(Restorer { detect, unpack });
        match self {
            Packer::Aspack => restorer(aspack::detect, aspack::unpack),
            Packer::Mew => restorer(mew::detect, mew::unpack),
            Packer::Petite => restorer(petite::detect, petite::unpack),
            Packer::Upack => restorer(upack::detect, upack::unpack),
            Packer::PeSpin => restorer(pespin::detect, pespin::unpack),
            Packer::WwPack32 => restorer(wwpack::detect, wwpack::unpack),
            Packer::YodasCrypter => restorer(yc::detect, yc::unpack),
            Packer::Fsg => restorer(fsg::detect, fsg::unpack),
            Packer::YodasProtector | Packer::Mpress | Packer::NsPack => None,
        }
    }
}

/// The packer or crypter that made `img`, by the section names, header layouts and entry-point
/// code each one leaves (UPX, restored by `upx.rs`, is `upx::detect`).
pub(crate) fn packer(img: &Image<'_>) -> Option<Packer> {
    let named = |names: &[&str]| {
        img.sections
            .iter()
            .any(|s| names.contains(&s.name.as_str()))
    };
    let entry = img.from(img.entry).unwrap_or(&[]);
    let entry_is = |pattern: &[Option<u8>]| {
        entry.len() >= pattern.len()
            && pattern
                .iter()
                .zip(entry)
                .all(|(p, b)| p.is_none_or(|p| p == *b))
    };
    const ASPACK_ENTRY: &[Option<u8>] = &[
        Some(0x60),
        Some(0xe8),
        Some(0x03),
        Some(0x00),
        Some(0x00),
        Some(0x00),
        Some(0xe9),
        Some(0xeb),
    ];
    const PESPIN_ENTRY: &[Option<u8>] = &[
        Some(0xeb),
        Some(0x01),
        Some(0x68),
        Some(0x60),
        Some(0xe8),
        Some(0x00),
        Some(0x00),
        Some(0x00),
        Some(0x00),
        Some(0x8b),
        Some(0x1c),
        Some(0x24),
        Some(0x83),
        Some(0xc3),
    ];
    // FSG 2.0: xchg [..], esp; popad; xchg eax, esp; push ebp; movsb; mov dh, 0x80; call [ebx].
    const FSG2_ENTRY: &[Option<u8>] = &[
        Some(0x87),
        Some(0x25),
        None,
        None,
        None,
        None,
        Some(0x61),
        Some(0x94),
        Some(0x55),
        Some(0xa4),
        Some(0xb6),
        Some(0x80),
        Some(0xff),
        Some(0x13),
    ];
    // FSG 1.33: mov esi, table; lodsd; xchg eax, ebx; lodsd; xchg eax, edi; lodsd; push esi;
    // xchg eax, esi; mov dl, 0x80.
    const FSG133_ENTRY: &[Option<u8>] = &[
        Some(0xbe),
        None,
        None,
        None,
        None,
        Some(0xad),
        Some(0x93),
        Some(0xad),
        Some(0x97),
        Some(0xad),
        Some(0x56),
        Some(0x96),
        Some(0xb2),
        Some(0x80),
    ];
    Some(if named(&[".aspack", ".adata"]) || entry_is(ASPACK_ENTRY) {
        Packer::Aspack
    } else if img.sections.iter().any(|s| s.name.starts_with("MEW")) {
        Packer::Mew
    } else if named(&[".petite"]) {
        Packer::Petite
    } else if img.data.get(2..14) == Some(b"KERNEL32.DLL") && img.pe_at == 0x10 {
        Packer::Upack
    } else if entry_is(PESPIN_ENTRY) || named(&[".taz"]) {
        Packer::PeSpin
    } else if named(&[".WWP32"]) {
        Packer::WwPack32
    } else if named(&["yC"]) {
        Packer::YodasCrypter
    } else if named(&["yP"]) {
        Packer::YodasProtector
    } else if entry_is(FSG2_ENTRY) || entry_is(FSG133_ENTRY) {
        Packer::Fsg
    } else if named(&[".MPRESS1", ".MPRESS2"]) {
        Packer::Mpress
    } else if named(&[".nsp0", ".nsp1", "nsp0", "nsp1"]) {
        Packer::NsPack
    } else {
        return None;
    })
}

/// The packer of `img`, and whether assay restores this file (the packer and the variant):
/// identification routes a restorable file to [`unpack`].
pub(crate) fn recognise(img: &Image<'_>) -> Option<(Packer, bool)> {
    let packer = packer(img)?;
    let restores = match (packer.restorer(), Packed::new(img)) {
        (Some(r), Some(packed)) => (r.detect)(&packed),
        _ => false,
    };
    Some((packer, restores))
}

/// The packer of `img` when assay recognises it but cannot restore this file: named in a
/// warning and an indicator so the packed code never passes silently.
pub(crate) fn unrestored(img: &Image<'_>) -> Option<Packer> {
    recognise(img).and_then(|(p, restores)| (!restores).then_some(p))
}

/// A packed PE file: its original program, restored (`unpacked.exe` or `unpacked.dll`). Returns
/// false, with a warning saying why, when it could not be restored (a budget that refuses it is
/// a recorded limit instead, and true).
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) -> bool {
    match restore(data, out) {
        Ok(()) => true,
        Err((packer, why)) => {
            out.warn(
                Problem::Unsupported,
                format!(
                    "packed with {packer}, which assay could not restore ({why}): the code and \
                     data it packed were not analysed"
                ),
            );
            false
        }
    }
}

/// The warning for a file packed by a packer assay does not restore.
pub fn unrestored_warning(packer: Packer) -> String {
    format!(
        "packed with {}, which assay does not restore: the code and data it packed were not \
         analysed",
        packer.name()
    )
}

/// Restores the original program of `data` into `out`; on failure, the packer's name and why.
fn restore<'a>(data: &'a [u8], out: &mut Members<'a>) -> Result<(), (&'static str, String)> {
    let img = Image::parse(data, &mut Vec::new()).map_err(|e| ("a packer", e))?;
    let packer = match recognise(&img) {
        Some((packer, true)) => packer,
        _ => return Err(("a packer", "no restorer for it".to_string())),
    };
    let name = packer.name();
    let member = if img.characteristics & 0x2000 != 0 {
        "unpacked.dll"
    } else {
        "unpacked.exe"
    };
    // The image the restorer builds is the one the headers map (the image size, or the furthest
    // section's end): checked against the task's byte and ratio budgets before anything is
    // decoded, and the file written out again after (a refusal is a recorded limit).
    let packed = Packed::new(&img).ok_or((name, "not a PE32 image".to_string()))?;
    if out.stopped() || !out.admit(member, data.len() as u64, packed.mapped_len()) {
        return Ok(());
    }
    let restorer = packer.restorer().ok_or((name, "no restorer".to_string()))?;
    let restored = (restorer.unpack)(&packed).map_err(|e| (name, e))?;
    let file = image::rebuild(&packed, &restored).map_err(|e| (name, e))?;
    // Each restorer's warnings name it already ("aspack: ...").
    for w in restored.warnings {
        out.warn(Problem::Unsupported, w);
    }
    if out.admit(member, data.len() as u64, file.len() as u64) {
        out.add(member, Cow::Owned(file));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::formats::pe::tests::{fixture, with_section_name};

    #[test]
    fn packers_are_named_by_their_marks() {
        let app = fixture("app32.exe");
        let packer = |data: &[u8]| {
            let img = Image::parse(data, &mut Vec::new()).unwrap();
            packer(&img).map(Packer::name)
        };
        assert_eq!(packer(&app), None);
        for (section, name) in [
            (&b".aspack"[..], "ASPack"),
            (b"MEW", "MEW"),
            (b".petite", "Petite"),
            (b".WWP32", "WWPack32"),
            (b"yC", "yoda's Crypter"),
            (b"yP", "yoda's Protector"),
            (b".MPRESS1", "MPRESS"),
        ] {
            assert_eq!(packer(&with_section_name(app.clone(), section)), Some(name));
        }
    }

    #[test]
    fn a_restoration_over_the_byte_budget_is_a_limit_not_an_allocation() {
        use crate::analysis::formats::{Budget, Limit};
        let data = testing::sample("clam-aspack.exe");
        let mut out = Members::new(Budget {
            max_output: 4096,
            ..Budget::unlimited()
        });
        assert!(
            unpack(&data, &mut out),
            "a limit is not a failure to restore"
        );
        assert!(out.members.is_empty());
        // The declared image (32 KiB) is refused before anything is decoded.
        assert_eq!(out.limits[0].limit, Limit::Bytes);
        // Within budget, the program is restored.
        let mut out = Members::new(Budget::unlimited());
        assert!(unpack(&data, &mut out));
        assert_eq!(out.members[0].name, "unpacked.exe");
    }

    #[test]
    fn a_packer_mark_on_a_program_it_did_not_pack_is_reported_not_restored() {
        // The marks are there, the stub is not: the file is named, not restored, and its own
        // parts are still the members.
        let data = with_section_name(fixture("app32.exe"), b".petite");
        let img = Image::parse(&data, &mut Vec::new()).unwrap();
        assert_eq!(recognise(&img), Some((Packer::Petite, false)));
        assert_eq!(unrestored(&img), Some(Packer::Petite));
    }
}
