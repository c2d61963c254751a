//! Digests and byte statistics computed in one pass over a file's bytes.

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
        Digests {
            md5: Md5::new(),
            sha1: Sha1::new(),
            sha256: Sha256::new(),
            sha512: Sha512::new(),
            histogram: Box::new([0; 256]),
            len: 0,
        }
    }
}

/// The result of [`Digests`].
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
    pub entropy: f64,
}

impl Digests {
    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha1.update(data);
        self.sha256.update(data);
        self.sha512.update(data);
        for &b in data {
            self.histogram[b as usize] += 1;
        }
        self.len += data.len() as u64;
    }

    /// Finishes every digest.
    pub fn finish(self) -> Summary {
        Summary {
            md5: hex(&self.md5.finalize()),
            sha1: hex(&self.sha1.finalize()),
            sha256: hex(&self.sha256.finalize()),
            sha512: hex(&self.sha512.finalize()),
            size: self.len,
            entropy: entropy(&self.histogram, self.len),
        }
    }
}

impl Summary {
    /// The `info.file.hashes` list, in a fixed order.
    pub fn hash_list(&self) -> Vec<Hash> {
        [
            ("md5", &self.md5),
            ("sha1", &self.sha1),
            ("sha256", &self.sha256),
            ("sha512", &self.sha512),
        ]
        .into_iter()
        .map(|(name, value)| Hash {
            name: name.to_string(),
            value: value.clone(),
        })
        .collect()
    }
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
    (h * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(data: &[u8]) -> Summary {
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
    fn entropy_bounds() {
        assert_eq!(digest(b"").entropy, 0.0);
        assert_eq!(digest(&[7u8; 1000]).entropy, 0.0);
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(digest(&all).entropy, 8.0);
        assert_eq!(digest(b"abab").entropy, 1.0);
    }
}
