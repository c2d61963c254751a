//! The LZMA decoder shared by the MEW and Upack unpackers: both packers' stubs carry their own
//! LZMA decoder, with fixed model parameters and no stream header, writing straight into the
//! image they unpack.
//!
//! Written from ClamAV's libclamav/mew.c (`mew_lzma` and its helpers for MEW) and
//! libclamav/upack.c (`unupack399` with mew.c's `lzma_upack_esi_*` for Upack) (GPL; read for the
//! format, no code taken). Both are classic LZMA (11-bit probabilities moved by 1/32, 12 states,
//! four repeat distances, the usual length, slot and alignment coders) and differ only in:
//! - the model: MEW uses lc=4 lp=0 pb=2, Upack lc=8-shift lp=0 pb=0 (the shift is a stub
//!   parameter), both given here as [`Params`];
//! - the start of the range coder: MEW's stream has the usual zero byte before the four code
//!   bytes, Upack's has not and its stub may start from a range, a low bound and repeat
//!   distances kept in its data ([`Start`]);
//! - the layout of the probabilities in the stub's memory (MEW: 16-bit, LZMA's own order;
//!   Upack: 32-bit, its own order), which does not change what is decoded and is not kept here:
//!   the probabilities live in this decoder, the image only receives the output.
//!
//! The output size is known beforehand (both stubs stop at a given end); an end marker (distance
//! 0xFFFFFFFF) also stops the stream, as MEW's stub does.

/// Literal context and position bits of one stream.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Literal context bits (lc): how many high bits of the previous byte select the literal
    /// coder; at most 8.
    pub lc: u32,
    /// Position bits (pb): how many low bits of the output position select the match and length
    /// coders; at most 4.
    pub pb: u32,
}

/// The range decoder's and the model's state when decoding starts.
#[derive(Clone, Copy, Debug)]
pub struct Start {
    /// The range (0xFFFFFFFF for a fresh stream).
    pub range: u32,
    /// The low bound subtracted from the first four code bytes (0 for a fresh stream).
    pub low: u32,
    /// The four repeat distances, counted back from the next output byte (1 = previous byte).
    pub reps: [u32; 4],
}

impl Start {
    /// A fresh stream: full range, zero low bound, all repeat distances 1.
    pub const FRESH: Start = Start {
        range: u32::MAX,
        low: 0,
        reps: [1; 4],
    };
}

/// What one call decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Output bytes written (less than the output's length when an end marker came first).
    pub written: usize,
    /// Input bytes read, counting the four first code bytes.
    pub read: usize,
}

/// Probabilities start at one half.
const HALF: u16 = 1 << 10;
/// Probabilities have 11 bits.
const PROB_BITS: u32 = 11;
/// A probability moves by 1/32 of its distance to the bit seen.
const MOVE_BITS: u32 = 5;
/// The range is renormalised below 2^24.
const TOP: u32 = 1 << 24;
/// States 0..7 follow a literal, 7..12 a match.
const STATES: usize = 12;
/// Distance slots below this code their low bits with the position coders.
const END_POS_MODEL: u32 = 14;

/// LZMA's range decoder over one input slice.
struct RangeDecoder<'a> {
    /// The compressed stream, from its first code byte.
    input: &'a [u8],
    /// Next byte to shift in.
    pos: usize,
    /// Current range.
    range: u32,
    /// The code less the low bound, compared with the range's split.
    code: u32,
}

impl<'a> RangeDecoder<'a> {
    /// Starts on `input`'s first four bytes (big-endian) less `start.low`.
    fn new(input: &'a [u8], start: &Start) -> Result<Self, String> {
        let head: [u8; 4] = input
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or("lzma: the compressed stream is shorter than its 4 code bytes")?;
        Ok(RangeDecoder {
            input,
            pos: 4,
            range: start.range,
            code: u32::from_be_bytes(head).wrapping_sub(start.low),
        })
    }

    /// Shifts in one input byte when the range got small.
    fn normalize(&mut self) -> Result<(), String> {
        if self.range < TOP {
            let byte = *self
                .input
                .get(self.pos)
                .ok_or("lzma: the compressed stream ends before its output")?;
            self.pos += 1;
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(byte);
        }
        Ok(())
    }

    /// Decodes one bit with probability `probs[at]` and adapts it.
    fn bit(&mut self, probs: &mut [u16], at: usize) -> Result<u32, String> {
        let prob = probs
            .get_mut(at)
            .ok_or("lzma: probability index out of its table")?;
        let p = u32::from(*prob).min(1 << PROB_BITS);
        let bound = (self.range >> PROB_BITS).wrapping_mul(p);
        let bit = if self.code < bound {
            self.range = bound;
            *prob = (p + (((1 << PROB_BITS) - p) >> MOVE_BITS)) as u16;
            0
        } else {
            self.range = self.range.wrapping_sub(bound);
            self.code = self.code.wrapping_sub(bound);
            *prob = (p - (p >> MOVE_BITS)) as u16;
            1
        };
        self.normalize()?;
        Ok(bit)
    }

    /// Decodes `count` bits of equal probability, high bit first.
    fn direct(&mut self, count: u32) -> Result<u32, String> {
        let mut value = 0u32;
        for _ in 0..count {
            self.range >>= 1;
            let bit = if self.code >= self.range {
                self.code = self.code.wrapping_sub(self.range);
                1
            } else {
                0
            };
            value = (value << 1) | bit;
            self.normalize()?;
        }
        Ok(value)
    }

    /// Decodes a `bits`-bit symbol high bit first with the tree at `probs[base + 1..]`.
    fn tree(&mut self, probs: &mut [u16], base: usize, bits: u32) -> Result<u32, String> {
        let mut node = 1usize;
        for _ in 0..bits {
            node = (node << 1) | self.bit(probs, base + node)? as usize;
        }
        Ok((node - (1 << bits)) as u32)
    }

    /// Decodes a `bits`-bit symbol low bit first with the tree at `probs[base + 1..]`.
    fn reverse(&mut self, probs: &mut [u16], base: usize, bits: u32) -> Result<u32, String> {
        let mut node = 1usize;
        let mut value = 0u32;
        for i in 0..bits {
            let bit = self.bit(probs, base + node)?;
            node = (node << 1) | bit as usize;
            value |= bit << i;
        }
        Ok(value)
    }
}

/// The length coder: 8 short lengths per position state, 8 middle ones, 256 long ones.
struct LengthCoder {
    /// choice, choice2, then low (16 x 8), middle (16 x 8) and high (256) trees.
    probs: Vec<u16>,
}

impl LengthCoder {
    /// Start of the short-length trees (after the two choice bits).
    const LOW: usize = 2;
    /// Start of the middle-length trees.
    const MID: usize = Self::LOW + 16 * 8;
    /// Start of the long-length tree.
    const HIGH: usize = Self::MID + 16 * 8;

    /// All probabilities at one half.
    fn new() -> Self {
        LengthCoder {
            probs: vec![HALF; Self::HIGH + 256],
        }
    }

    /// A match length less 2 (0..=271).
    fn decode(&mut self, rc: &mut RangeDecoder, pos_state: usize) -> Result<u32, String> {
        if rc.bit(&mut self.probs, 0)? == 0 {
            return rc.tree(&mut self.probs, Self::LOW + pos_state * 8, 3);
        }
        if rc.bit(&mut self.probs, 1)? == 0 {
            return Ok(8 + rc.tree(&mut self.probs, Self::MID + pos_state * 8, 3)?);
        }
        Ok(16 + rc.tree(&mut self.probs, Self::HIGH, 8)?)
    }
}

/// Decodes one stream from `input` into `out`, until `out` is full or an end marker. Matches
/// may only reach back into `out` itself (a stream that refers before its start is an error,
/// not a read of whatever precedes it in memory). The work is bounded by `out`'s length and
/// `input`'s.
pub fn decode(
    input: &[u8],
    out: &mut [u8],
    params: Params,
    start: &Start,
) -> Result<Decoded, String> {
    if params.lc > 8 || params.pb > 4 {
        return Err(format!(
            "lzma: unsupported model lc={} pb={}",
            params.lc, params.pb
        ));
    }
    let mut rc = RangeDecoder::new(input, start)?;
    let pos_mask = (1usize << params.pb) - 1;
    // is_match and is_rep0_long are per (state, position state); the rest per state.
    let mut is_match = vec![HALF; STATES << 4];
    let mut is_rep = [HALF; STATES];
    let mut is_rep_g0 = [HALF; STATES];
    let mut is_rep_g1 = [HALF; STATES];
    let mut is_rep_g2 = [HALF; STATES];
    let mut is_rep0_long = vec![HALF; STATES << 4];
    let mut slot_probs = vec![HALF; 4 * 64];
    let mut special = vec![HALF; 1 + 128 - END_POS_MODEL as usize];
    let mut align = [HALF; 16];
    let mut lengths = LengthCoder::new();
    let mut rep_lengths = LengthCoder::new();
    let mut literals = vec![HALF; 0x300 << params.lc];

    let mut state = 0usize;
    let mut reps = start.reps;
    let mut pos = 0usize;
    while pos < out.len() {
        let pos_state = pos & pos_mask;
        if rc.bit(&mut is_match, (state << 4) | pos_state)? == 0 {
            let prev = if pos == 0 {
                0
            } else {
                out.get(pos - 1).copied().unwrap_or(0)
            };
            let base = 0x300 * (usize::from(prev) >> (8 - params.lc));
            let mut symbol = 1usize;
            if state >= 7 {
                // After a match the literal is coded against the byte at the last distance.
                let mut matched = usize::from(byte_back(out, pos, reps[0])?);
                while symbol < 0x100 {
                    let match_bit = (matched >> 7) & 1;
                    matched <<= 1;
                    let bit = rc.bit(&mut literals, base + ((1 + match_bit) << 8) + symbol)?;
                    symbol = (symbol << 1) | bit as usize;
                    if match_bit != bit as usize {
                        break;
                    }
                }
            }
            while symbol < 0x100 {
                symbol = (symbol << 1) | rc.bit(&mut literals, base + symbol)? as usize;
            }
            put(out, pos, symbol as u8)?;
            pos += 1;
            state = match state {
                0..=3 => 0,
                4..=9 => state - 3,
                _ => state - 6,
            };
            continue;
        }
        let length;
        if rc.bit(&mut is_rep, state)? == 1 {
            if rc.bit(&mut is_rep_g0, state)? == 0 {
                if rc.bit(&mut is_rep0_long, (state << 4) | pos_state)? == 0 {
                    // A single byte at the last distance.
                    state = if state < 7 { 9 } else { 11 };
                    let byte = byte_back(out, pos, reps[0])?;
                    put(out, pos, byte)?;
                    pos += 1;
                    continue;
                }
            } else {
                let distance;
                if rc.bit(&mut is_rep_g1, state)? == 0 {
                    distance = reps[1];
                } else {
                    if rc.bit(&mut is_rep_g2, state)? == 0 {
                        distance = reps[2];
                    } else {
                        distance = reps[3];
                        reps[3] = reps[2];
                    }
                    reps[2] = reps[1];
                }
                reps[1] = reps[0];
                reps[0] = distance;
            }
            length = rep_lengths.decode(&mut rc, pos_state)?;
            state = if state < 7 { 8 } else { 11 };
        } else {
            reps[3] = reps[2];
            reps[2] = reps[1];
            reps[1] = reps[0];
            length = lengths.decode(&mut rc, pos_state)?;
            state = if state < 7 { 7 } else { 10 };
            let slot_set = (length.min(3) as usize) * 64;
            let slot = rc.tree(&mut slot_probs, slot_set, 6)?;
            let distance = if slot < 4 {
                slot
            } else {
                let direct_bits = (slot >> 1) - 1;
                let base = (2 | (slot & 1)) << direct_bits;
                if slot < END_POS_MODEL {
                    // This slot's tree has its node 1 at `base - slot + 1`.
                    let at = (base - slot) as usize;
                    base + rc.reverse(&mut special, at, direct_bits)?
                } else {
                    let high = rc.direct(direct_bits - 4)? << 4;
                    base.wrapping_add(high)
                        .wrapping_add(rc.reverse(&mut align, 0, 4)?)
                }
            };
            if distance == u32::MAX {
                // The end marker.
                return Ok(Decoded {
                    written: pos,
                    read: rc.pos,
                });
            }
            reps[0] = distance + 1;
        }
        let count = (length as usize + 2).min(out.len() - pos);
        for _ in 0..count {
            let byte = byte_back(out, pos, reps[0])?;
            put(out, pos, byte)?;
            pos += 1;
        }
    }
    Ok(Decoded {
        written: pos,
        read: rc.pos,
    })
}

/// The output byte `distance` back from `pos`.
fn byte_back(out: &[u8], pos: usize, distance: u32) -> Result<u8, String> {
    pos.checked_sub(distance as usize)
        .and_then(|at| out.get(at).copied())
        .ok_or_else(|| {
            format!("lzma: a match at output byte {pos} reaches {distance} bytes back, before the output's start")
        })
}

/// Writes one output byte.
fn put(out: &mut [u8], pos: usize, byte: u8) -> Result<(), String> {
    *out.get_mut(pos)
        .ok_or("lzma: output position out of range")? = byte;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What the test streams hold: 169 bytes with repeats.
    pub(crate) fn plain() -> Vec<u8> {
        let mut v = b"Hello hello hello, LZMA for MEW and Upack! ".repeat(3);
        v.extend(0u8..40);
        v
    }

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// Raw LZMA1 streams made by Python's `lzma.compress(FORMAT_RAW, lc, lp=0, pb)` (liblzma):
    /// a leading zero byte, then the code; they end with an end marker.
    pub(crate) const LC4_PB2: &str = "00241949986f1016207d522cec08f6b3cb257532b8ff28f6192b18b0b5e8340c647e1b3bac81\
        6191134e6313b252385292ee72b482b4386ecc639ce89749b26b300280a419745a91626965412a502122961446ffffcbae0000";
    const LC3_PB0: &str = "00241a14e2c42776c72a221f84a592e3461017f78b7a477d19b628e6be8041e7367fe3872a34ce\
        c81aac54881347f40cbaf3dff27bee99e578eef134c4db53ccadd475a2f6d28a032e95e2abe603aa73fffe366800";

    #[test]
    fn decodes_mew_model() {
        let input = hex(LC4_PB2);
        let mut out = vec![0u8; 169];
        let r = decode(
            &input[1..],
            &mut out,
            Params { lc: 4, pb: 2 },
            &Start::FRESH,
        )
        .unwrap();
        assert_eq!(out, plain());
        assert_eq!(r.written, 169);
    }

    #[test]
    fn decodes_upack_model_and_stops_at_end_marker() {
        let input = hex(LC3_PB0);
        // A larger buffer: the stream's end marker stops it at 169 bytes.
        let mut out = vec![0u8; 300];
        let r = decode(
            &input[1..],
            &mut out,
            Params { lc: 3, pb: 0 },
            &Start::FRESH,
        )
        .unwrap();
        assert_eq!(r.written, 169);
        assert_eq!(&out[..169], &plain()[..]);
    }

    #[test]
    fn truncated_or_corrupt_streams_fail_cleanly() {
        let input = hex(LC4_PB2);
        for cut in 0..input.len() {
            let mut out = vec![0u8; 169];
            let _ = decode(
                &input[1..cut.max(1)],
                &mut out,
                Params { lc: 4, pb: 2 },
                &Start::FRESH,
            );
        }
        let mut seed = 7u32;
        for _ in 0..2000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let mut bad = input.clone();
            let at = (seed >> 8) as usize % bad.len();
            bad[at] ^= (seed >> 24) as u8 | 1;
            let mut out = vec![0u8; 169];
            let _ = decode(&bad[1..], &mut out, Params { lc: 4, pb: 2 }, &Start::FRESH);
        }
    }
}
