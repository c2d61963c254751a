//! Digests and byte statistics computed in one pass over a file's bytes: md5, sha1, sha256,
//! sha512, the fuzzy hashes ssdeep and TLSH (skipped above a configured size: they are the
//! expensive part), and the byte histogram behind `entropy`.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::report::Hash;

/// Streaming md5, sha1, sha256, sha512 and a byte histogram (for entropy).
pub struct Digests {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
    sha512: Sha512,
    histogram: Box<[u64; 256]>,
    len: u64,
}

impl Default for Digests {
    fn default() -> Self {
        Digests::new()
    }
}

/// A file's hashes, size and entropy: what [`Digests`] computes.
#[derive(Debug, Clone, PartialEq)]
pub struct FileHashes {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
    pub entropy: f64,
    /// `None` when fuzzy hashing was skipped (see [`FuzzyState`]).
    pub ssdeep: Option<String>,
    pub tlsh: Option<String>,
    pub fuzzy: FuzzyState,
}

/// Whether the fuzzy hashes were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuzzyState {
    Computed,
    /// The file was larger than the configured `fuzzy_max_bytes`.
    SkippedSize,
    /// TLSH needs at least 50 bytes with some variety; ssdeep was still computed.
    TlshTooSimple,
}

impl Digests {
    /// Streaming digests (no fuzzy hashes: those are computed by [`Digests::of`]).
    pub fn new() -> Self {
        Digests {
            md5: Md5::new(),
            sha1: Sha1::new(),
            sha256: Sha256::new(),
            sha512: Sha512::new(),
            histogram: Box::new([0; 256]),
            len: 0,
        }
    }

    /// Every hash over bytes already in memory, with ssdeep and TLSH when `fuzzy` is true.
    ///
    /// The fuzzy hashes go through the crates' whole-buffer functions: their streaming types
    /// are generic and would be compiled (and, in debug builds, left unoptimised) in this crate.
    pub fn of(data: &[u8], fuzzy: bool) -> FileHashes {
        let mut d = Digests::new();
        d.update(data);
        let mut summary = d.finish();
        if fuzzy {
            summary.add_fuzzy(data);
        }
        summary
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha1.update(data);
        self.sha256.update(data);
        self.sha512.update(data);
        count_bytes(&mut self.histogram, data);
        self.len += data.len() as u64;
    }

    /// Finishes every digest.
    pub fn finish(self) -> FileHashes {
        FileHashes {
            ssdeep: None,
            tlsh: None,
            fuzzy: FuzzyState::SkippedSize,
            md5: hex(&self.md5.finalize()),
            sha1: hex(&self.sha1.finalize()),
            sha256: hex(&self.sha256.finalize()),
            sha512: hex(&self.sha512.finalize()),
            size: self.len,
            entropy: entropy(&self.histogram, self.len),
        }
    }
}

impl FileHashes {
    /// Adds ssdeep and TLSH of `data` (the bytes this summary was computed over).
    pub fn add_fuzzy(&mut self, data: &[u8]) {
        self.ssdeep = Some(super::ssdeep::hash(data));
        match tlsh::hash_buf(data) {
            Ok(t) => {
                self.tlsh = Some(t.to_string());
                self.fuzzy = FuzzyState::Computed;
            }
            Err(_) => self.fuzzy = FuzzyState::TlshTooSimple,
        }
    }

    /// The `info.file.hashes` list, in a fixed order.
    pub fn hash_list(&self) -> Vec<Hash> {
        [
            ("md5", &self.md5),
            ("sha1", &self.sha1),
            ("sha256", &self.sha256),
            ("sha512", &self.sha512),
        ]
        .into_iter()
        .chain(self.ssdeep.as_ref().map(|v| ("ssdeep", v)))
        .chain(self.tlsh.as_ref().map(|v| ("tlsh", v)))
        .map(|(name, value)| Hash {
            name: name.to_string(),
            value: value.clone(),
        })
        .collect()
    }
}

/// md5, sha1 and sha256 of a stream, in one pass: `assay digest`, and the benchmark against
/// `openssl dgst` computing the same three.
pub fn md5_sha1_sha256(reader: &mut dyn std::io::Read) -> std::io::Result<[String; 3]> {
    let (mut md5, mut sha1, mut sha256) = (Md5::new(), Sha1::new(), Sha256::new());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        md5.update(&buf[..n]);
        sha1.update(&buf[..n]);
        sha256.update(&buf[..n]);
    }
    Ok([
        hex(&md5.finalize()),
        hex(&sha1.finalize()),
        hex(&sha256.finalize()),
    ])
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Shannon entropy of `data` in bits per byte, rounded to 4 decimals (sections, resources).
pub fn entropy_of(data: &[u8]) -> f64 {
    let mut histogram = [0u64; 256];
    count_bytes(&mut histogram, data);
    entropy(&histogram, data.len() as u64)
}

/// Adds the byte counts of `data` to `histogram`.
fn count_bytes(histogram: &mut [u64; 256], data: &[u8]) {
    // Four tables break the store-to-load dependency when neighbouring bytes repeat.
    let mut h = [[0u32; 256]; 4];
    for block in data.chunks(1 << 24) {
        let mut quads = block.chunks_exact(4);
        for q in &mut quads {
            h[0][q[0] as usize] += 1;
            h[1][q[1] as usize] += 1;
            h[2][q[2] as usize] += 1;
            h[3][q[3] as usize] += 1;
        }
        for &b in quads.remainder() {
            h[0][b as usize] += 1;
        }
        for (i, total) in histogram.iter_mut().enumerate() {
            *total += (h[0][i] + h[1][i] + h[2][i] + h[3][i]) as u64;
        }
        h = [[0u32; 256]; 4];
    }
}

/// Shannon entropy in bits per byte, rounded to 4 decimals so reports are stable.
fn entropy(histogram: &[u64; 256], len: u64) -> f64 {
    if len == 0 {
        return 0.0;
    }
    let n = len as f64;
    let h: f64 = histogram
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    // `+ 0.0` turns the -0.0 of a single-valued input into 0.0 (JSON would show "-0.0").
    (h * 10_000.0).round() / 10_000.0 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(data: &[u8]) -> FileHashes {
        let mut d = Digests::default();
        d.update(data);
        d.finish()
    }

    #[test]
    fn known_vectors() {
        let s = digest(b"abc");
        assert_eq!(s.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(s.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            s.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(s.sha512.starts_with("ddaf35a193617aba"));
        assert_eq!(s.size, 3);
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut d = Digests::default();
        for chunk in data.chunks(333) {
            d.update(chunk);
        }
        assert_eq!(d.finish(), digest(&data));
    }

    #[test]
    fn fuzzy_hashes_match_the_reference_tools() {
        // ssdeep's own documentation example (python-ssdeep README, computed with libfuzzy).
        let s = Digests::of(
            b"Also called fuzzy hashes, Ctph can match inputs that have homologies.",
            true,
        );
        assert_eq!(
            s.ssdeep.as_deref(),
            Some("3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C")
        );
        // Too short for TLSH (under 50 bytes): said so, not an empty value.
        let short = Digests::of(b"too short for tlsh", true);
        assert_eq!(short.tlsh, None);
        assert_eq!(short.fuzzy, FuzzyState::TlshTooSimple);
        assert!(s.tlsh.is_some());
        // The TLSH reference implementation's value for fast-tlsh's documented example.
        let lorem = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do \
            eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad \
            minim veniam, quis nostrud exercitation ullamco laboris nisi ut \
            aliquip ex ea commodo consequat. Duis aute irure dolor in \
            reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla \
            pariatur. Excepteur sint occaecat cupidatat non proident, sunt in \
            culpa qui officia deserunt mollit anim id est laborum.";
        let s = Digests::of(lorem, true);
        assert_eq!(
            s.tlsh.as_deref(),
            Some("T1DCF0DC36520C1B007FD32079B226559FD998A0200725E75AFCEAC99F5881184A4B1AA2")
        );
        let names: Vec<_> = s.hash_list().into_iter().map(|h| h.name).collect();
        assert_eq!(names, ["md5", "sha1", "sha256", "sha512", "ssdeep", "tlsh"]);
    }

    #[test]
    fn the_three_digests_alone_match_the_full_set() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let three = md5_sha1_sha256(&mut &data[..]).unwrap();
        let all = digest(&data);
        assert_eq!(three, [all.md5, all.sha1, all.sha256]);
    }

    #[test]
    fn fuzzy_hashes_can_be_skipped() {
        let s = Digests::of(b"abc", false);
        assert_eq!(s.fuzzy, FuzzyState::SkippedSize);
        assert_eq!(s.hash_list().len(), 4);
    }

    #[test]
    fn entropy_bounds() {
        assert_eq!(digest(b"").entropy, 0.0);
        assert_eq!(digest(&[7u8; 1000]).entropy, 0.0);
        assert!(digest(&[7u8; 1000]).entropy.is_sign_positive());
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(digest(&all).entropy, 8.0);
        assert_eq!(digest(b"abab").entropy, 1.0);
    }
}
