//! Helpers shared by the restorers' tests: the samples of the Debian package clamav-testfiles
//! (which `.ci/run` installs), each packing the same small program.

use super::image::{Packed, Restored};
use crate::analysis::formats::pe::Image;

/// A sample of the Debian package clamav-testfiles.
pub fn sample(name: &str) -> Vec<u8> {
    let path = format!("/usr/share/clamav-testfiles/{name}");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{path}: {e} (install the Debian package clamav-testfiles; .ci/run does)")
    })
}

impl<'a> Packed<'a> {
    /// Reads a PE32 file's headers (for tests; the tree builds a `Packed` from an `Image`).
    pub fn parse(data: &'a [u8]) -> Result<Packed<'a>, String> {
        let img = Image::parse(data, &mut Vec::new())?;
        Packed::new(&img).ok_or_else(|| "not a PE32 file".to_string())
    }
}

/// The check each restorer's test makes on its sample whose packed program is the small
/// "dropper" (sections .text, .rdata, .rsrc and a .clam/.clamav section holding the 544-byte
/// clam.exe as a whole file): the restored image holds clam.exe byte for byte, and its entry
/// point lands on the dropper's code (that of the unpacked clam-fsg.exe, whose entry point is
/// RVA 0x1020 in a 0xf7-byte .text).
pub fn check_clam(r: &Restored) {
    let clam = sample("clam.exe");
    assert!(
        r.image.windows(clam.len()).any(|w| w == &clam[..]),
        "clam.exe is not in the restored image"
    );
    check_dropper_code(r);
}

/// The restored entry point lands on the dropper's code, and the sections lie in the image.
pub fn check_dropper_code(r: &Restored) {
    let dropper = sample("clam-fsg.exe");
    // clam-fsg.exe's .text: raw 0x400, 0xf7 bytes, RVA 0x1000; entry 0x1020.
    let code = &dropper[0x420..0x4f7];
    let at = r.entry as usize;
    assert_eq!(
        r.image.get(at..at + code.len()),
        Some(code),
        "the code at the restored entry point is not the dropper's"
    );
    for s in &r.sections {
        assert!(
            s.rva as usize + s.vsize as usize <= r.image.len(),
            "section outside the image"
        );
    }
}
