//! Helpers shared by the restorers' tests: the samples of the Debian package clamav-testfiles
//! (which `.ci/run` installs), each packing the same small program, and the checks every
//! restorer's tests make on them.

use std::io::Read as _;
use std::time::{Duration, Instant};

use super::image::{Packed, Restored};
use crate::analysis::formats::pe::Image;

/// Where the Debian package clamav-testfiles installs its samples.
const SAMPLES: &str = "/usr/share/clamav-testfiles";

/// A restorer's detection, as `mod.rs` calls it.
pub type Detect = fn(&Packed) -> bool;
/// A restorer's restoration, as `mod.rs` calls it.
pub type Unpack = fn(&Packed) -> Result<Restored, String>;

/// A sample of the Debian package clamav-testfiles.
pub fn sample(name: &str) -> Vec<u8> {
    let path = format!("{SAMPLES}/{name}");
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

/// The sample `name`, restored by `unpack`.
pub fn restored(name: &str, unpack: Unpack) -> Restored {
    let data = sample(name);
    let p = Packed::parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
    unpack(&p).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The check each restorer's test makes on its sample whose packed program is the small
/// "dropper" (sections .text, .rdata, .rsrc and a .clam/.clamav section holding the 544-byte
/// clam.exe as a whole file): the restored image holds clam.exe byte for byte, and its entry
/// point is the dropper's (see [`check_dropper_code`]).
pub fn check_clam(r: &Restored) {
    let clam = sample("clam.exe");
    assert!(
        r.image.windows(clam.len()).any(|w| w == &clam[..]),
        "clam.exe is not in the restored image"
    );
    check_dropper_code(r);
}

/// [`check_clam`] for the samples (MEW, Upack, Petite, WWPack32) whose dropper carries clam.exe
/// deflated in a zip archive (like clam.zip, though not byte-identical: another time stamp)
/// instead of as is: the restored image holds a zip archive whose one member, clam.exe,
/// inflates to clam.exe byte for byte (its CRC-32 checked by the reader), and its entry point
/// is the dropper's.
pub fn check_zipped_clam(r: &Restored) {
    let start = r
        .image
        .windows(4)
        .position(|w| w == b"PK\x03\x04")
        .expect("no zip archive in the restored image");
    let archive = &r.image[start..];
    // The archive ends with its 22-byte end-of-directory record (it has no comment).
    let end = archive
        .windows(4)
        .position(|w| w == b"PK\x05\x06")
        .expect("the zip archive has no end-of-directory record")
        + 22;
    let archive = archive.get(..end).expect("the zip archive is cut short");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).expect("a zip archive");
    assert_eq!(zip.len(), 1, "the zip archive holds more than clam.exe");
    let mut member = zip
        .by_name("clam.exe")
        .expect("clam.exe in the zip archive");
    let mut inflated = Vec::new();
    member
        .read_to_end(&mut inflated)
        .expect("clam.exe inflates with the right CRC-32");
    assert!(
        inflated == sample("clam.exe"),
        "the zipped clam.exe differs"
    );
    check_dropper_code(r);
}

/// The restored entry point is the dropper's, RVA 0x1020, and lands on its code (that of
/// clam-fsg.exe, which despite its name is the dropper unpacked: entry point RVA 0x1020 in a
/// 0xf7-byte .text), and the sections lie in the image.
fn check_dropper_code(r: &Restored) {
    assert_eq!(r.entry, 0x1020, "not the dropper's entry point");
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

/// `detect` recognises `name` and none of the package's other executables.
pub fn check_detects_only(name: &str, detect: Detect) {
    let mut names: Vec<String> = std::fs::read_dir(SAMPLES)
        .unwrap_or_else(|e| panic!("{SAMPLES}: {e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".exe"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for other in names {
        let data = sample(&other);
        let found = Packed::parse(&data).is_ok_and(|p| detect(&p));
        assert_eq!(found, other == name, "{other}");
    }
}

/// Most time one damaged copy may take to detect and restore.
const HOSTILE_LIMIT: Duration = Duration::from_secs(5);
/// Damaged copies made by changing one byte.
const CORRUPTIONS: usize = 4000;

/// Every truncation of the sample `name`, then copies of it with one byte replaced (offsets and
/// values from a fixed LCG): detecting and restoring each must return, Ok or Err, without
/// panicking and within [`HOSTILE_LIMIT`].
pub fn check_hostile_input(name: &str, detect: Detect, unpack: Unpack) {
    check_hostile_input_with(name, detect, unpack, |_, _, _| {});
}

/// [`check_hostile_input`], with `prepare(k, at, copy)` adjusting the `k`th changed copy (changed
/// at `at`) before it is restored. Returns how many changed copies were restored.
pub fn check_hostile_input_with(
    name: &str,
    detect: Detect,
    unpack: Unpack,
    prepare: impl FnMut(usize, usize, &mut [u8]),
) -> usize {
    check_hostile_bytes_with(name, &sample(name), detect, unpack, prepare)
}

/// [`check_hostile_input`] on a file a test made (`name` labels it).
pub fn check_hostile_bytes(name: &str, data: &[u8], detect: Detect, unpack: Unpack) {
    check_hostile_bytes_with(name, data, detect, unpack, |_, _, _| {});
}

fn check_hostile_bytes_with(
    name: &str,
    data: &[u8],
    detect: Detect,
    unpack: Unpack,
    mut prepare: impl FnMut(usize, usize, &mut [u8]),
) -> usize {
    let run = |bytes: &[u8]| {
        let started = Instant::now();
        let restored = Packed::parse(bytes).is_ok_and(|p| {
            let _ = detect(&p);
            unpack(&p).is_ok()
        });
        let took = started.elapsed();
        assert!(took < HOSTILE_LIMIT, "{name}: a damaged copy took {took:?}");
        restored
    };
    for len in 1..data.len() {
        run(&data[..len]);
    }
    let mut seed = 0x2545_f491u32;
    let mut next = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        seed
    };
    let mut restored = 0;
    for k in 0..CORRUPTIONS {
        let mut bad = data.to_vec();
        let at = (next() >> 8) as usize % bad.len();
        bad[at] = (next() >> 16) as u8;
        prepare(k, at, &mut bad);
        restored += usize::from(run(&bad));
    }
    restored
}
