//! ssdeep (context-triggered piecewise hashing, Kornblum 2006), computed as libfuzzy 2.14 does
//! without flags, so values compare with those of the `ssdeep` tool and VirusTotal.
//!
//! Written here for speed. Only the low 6 bits of the FNV-style piece hashes ever reach the
//! digest, and the low bits of a product depend only on the low bits of its factors, so the piece
//! hashes of all 31 block sizes are kept as 16-bit lanes of two fixed arrays and updated together
//! every byte (the compiler turns that into a handful of vector multiplies and xors); lanes of block
//! sizes not yet or no longer in use are updated too, harmlessly. The trigger test is a mask and a
//! modulo by the constant 3 (block sizes are 3 * 2^k), so nothing divides by a variable per byte.

const ROLLING_WINDOW: usize = 7;
const MIN_BLOCK_SIZE: u64 = 3;
const NUM_BLOCKHASHES: usize = 31;
const SPAMSUM_LENGTH: usize = 64;
const HASH_PRIME: u32 = 0x0100_0193;
const HASH_INIT: u32 = 0x2802_1967;
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The low 16 bits of the FNV constants: enough for the low 6 bits that matter.
const PRIME16: u16 = HASH_PRIME as u16;
const INIT16: u16 = HASH_INIT as u16;

/// The digest of one block size (its piece hashes live in the lane arrays of [`hash`]).
#[derive(Clone, Copy)]
struct BlockHash {
    digest: [u8; SPAMSUM_LENGTH],
    half_digest: u8,
    len: usize,
}

impl BlockHash {
    const EMPTY: BlockHash = BlockHash {
        digest: [0; SPAMSUM_LENGTH],
        half_digest: 0,
        len: 0,
    };
}

/// The rolling hash over the last seven bytes.
struct Roll {
    window: [u8; ROLLING_WINDOW],
    at: usize,
    h1: u32,
    h2: u32,
    h3: u32,
}

impl Roll {
    #[inline(always)]
    fn push(&mut self, c: u8) -> u32 {
        let c32 = c as u32;
        self.h2 = self
            .h2
            .wrapping_sub(self.h1)
            .wrapping_add(ROLLING_WINDOW as u32 * c32);
        self.h1 = self
            .h1
            .wrapping_add(c32)
            .wrapping_sub(self.window[self.at] as u32);
        self.window[self.at] = c;
        self.at = if self.at + 1 == ROLLING_WINDOW {
            0
        } else {
            self.at + 1
        };
        self.h3 = (self.h3 << 5) ^ c32;
        self.h1.wrapping_add(self.h2).wrapping_add(self.h3)
    }
}

/// The ssdeep hash of `data`, e.g. `3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C`.
pub fn hash(data: &[u8]) -> String {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { hash_avx2(data) };
    }
    hash_lanes(data)
}

/// [`hash_lanes`] compiled with 256-bit vectors: the lane updates take half the instructions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hash_avx2(data: &[u8]) -> String {
    hash_lanes(data)
}

#[inline(always)]
fn hash_lanes(data: &[u8]) -> String {
    let total = data.len() as u64;
    let mut bh = [BlockHash::EMPTY; NUM_BLOCKHASHES];
    // Piece hashes (h) and half-digest piece hashes of every block size, one lane each.
    let mut h = [INIT16; 32];
    let mut half = [INIT16; 32];
    let (mut start, mut end) = (0usize, 1usize);
    let mut roll = Roll {
        window: [0; ROLLING_WINDOW],
        at: 0,
        h1: 0,
        h2: 0,
        h3: 0,
    };
    let mut sum = 0u32;
    for &c in data {
        sum = roll.push(c);
        let c16 = c as u16;
        for x in h.iter_mut() {
            *x = x.wrapping_mul(PRIME16) ^ c16;
        }
        for x in half.iter_mut() {
            *x = x.wrapping_mul(PRIME16) ^ c16;
        }
        // Block size i is 3 << i. sum % bs == bs - 1  <=>  (sum + 1) is a multiple of both 2^i
        // and 3. Sizes double, so a miss at i is a miss at every larger i.
        let next = sum as u64 + 1;
        if !next.is_multiple_of(3) || next & ((1u64 << start) - 1) != 0 {
            continue;
        }
        let mut i = start;
        while i < end {
            if next & ((1u64 << i) - 1) != 0 {
                break;
            }
            if bh[i].len == 0 && end < NUM_BLOCKHASHES {
                // Fork a larger block size off the largest one.
                bh[end] = BlockHash::EMPTY;
                h[end] = h[end - 1];
                half[end] = half[end - 1];
                end += 1;
            }
            let b = &mut bh[i];
            b.digest[b.len] = B64[(h[i] & 63) as usize];
            b.half_digest = B64[(half[i] & 63) as usize];
            if b.len < SPAMSUM_LENGTH - 1 {
                b.len += 1;
                b.digest[b.len] = 0;
                h[i] = INIT16;
                if b.len < SPAMSUM_LENGTH / 2 {
                    half[i] = INIT16;
                    b.half_digest = 0;
                }
            } else if end - start >= 2
                && (MIN_BLOCK_SIZE << start) * (SPAMSUM_LENGTH as u64) < total
                && bh[start + 1].len >= SPAMSUM_LENGTH / 2
            {
                // The smallest block size has a full digest and the next one half of one: the
                // smallest can no longer be chosen, so stop computing it.
                start += 1;
            }
            i += 1;
        }
    }
    let last = |i: usize| (B64[(h[i] & 63) as usize], B64[(half[i] & 63) as usize]);
    digest(&bh, start, end, sum, total, last)
}

/// Writes the hash; `last(i)` gives the characters of block size i's unfinished piece and half piece.
fn digest(
    bh: &[BlockHash; NUM_BLOCKHASHES],
    start: usize,
    end: usize,
    sum: u32,
    total: u64,
    last: impl Fn(usize) -> (u8, u8),
) -> String {
    let mut bi = start;
    while (MIN_BLOCK_SIZE << bi) * (SPAMSUM_LENGTH as u64) < total && bi + 1 < NUM_BLOCKHASHES {
        bi += 1;
    }
    while bi >= end {
        bi -= 1;
    }
    while bi > start && bh[bi].len < SPAMSUM_LENGTH / 2 {
        bi -= 1;
    }
    let mut out = format!("{}:", MIN_BLOCK_SIZE << bi);
    let b = &bh[bi];
    out.extend(b.digest[..b.len].iter().map(|&c| c as char));
    if sum != 0 {
        out.push(last(bi).0 as char);
    } else if b.digest[b.len] != 0 {
        out.push(b.digest[b.len] as char);
    }
    out.push(':');
    if bi < end - 1 {
        let b = &bh[bi + 1];
        let n = b.len.min(SPAMSUM_LENGTH / 2 - 1);
        out.extend(b.digest[..n].iter().map(|&c| c as char));
        if sum != 0 {
            out.push(last(bi + 1).1 as char);
        } else if b.half_digest != 0 {
            out.push(b.half_digest as char);
        }
    } else if sum != 0 {
        out.push(last(bi).0 as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_and_portable_paths_agree() {
        let data: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        assert_eq!(hash(&data), hash_lanes(&data));
    }

    #[test]
    fn reference_values() {
        // python-ssdeep's documented example, computed with libfuzzy.
        assert_eq!(
            hash(b"Also called fuzzy hashes, Ctph can match inputs that have homologies."),
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"
        );
        // libfuzzy's value for no input.
        assert_eq!(hash(b""), "3::");
    }

    #[test]
    fn agrees_with_an_independent_implementation() {
        // The fuzzyhash crate ports libfuzzy without this module's shortcuts. It drops the
        // last character when no piece ever triggered, so compare inputs long enough to trigger.
        let mut state = 0x1234_5678u32;
        for len in [200usize, 1000, 4096, 10_000, 65_536, 300_000, 1 << 20] {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state >> 24) as u8
                })
                .collect();
            let text: Vec<u8> = data
                .iter()
                .map(|b| b"abcdefgh \n"[(*b % 10) as usize])
                .collect();
            for input in [&data, &text] {
                assert_eq!(
                    hash(input),
                    fuzzyhash::FuzzyHash::new(input).to_string(),
                    "length {len}"
                );
            }
        }
    }
}
