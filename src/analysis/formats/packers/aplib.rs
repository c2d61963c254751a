//! The aPLib decoder shared by the MEW and PESpin unpackers: both compress with the variant of
//! aPLib that FSG uses (ClamAV decodes both with the same code: libclamav/packlibs.c, `unmew`
//! and `cli_unfsg`; GPL, read for the format, no code taken).
//!
//! The stream starts with one literal byte; then tag bits (from tag bytes read as needed, high
//! bit first, between the other bytes) choose each item: `0` a literal byte; `10` a match with a
//! gamma-coded offset (high part) and length, or the last offset again; `110` a match of 2 or 3
//! bytes with a 7-bit offset in one byte, offset 0 ending the stream; `111` one byte at a 4-bit
//! offset, offset 0 writing a zero byte.

use super::image::MAX_IMAGE;

/// Largest gamma code accepted: no length or offset high part fits an image above it.
const MAX_GAMMA: u32 = MAX_IMAGE as u32;

/// Decompresses one stream from `input` into `out`; returns the bytes read and written.
/// Matches may only reach back into what this stream wrote (a stream that refers before its
/// start is an error); bytes of `out` past those written are left as they were.
pub fn decompress(input: &[u8], out: &mut [u8]) -> Result<(usize, usize), String> {
    let full = || "the data decompresses to more than its destination holds".to_string();
    let mut bits = TagBits {
        input,
        pos: 0,
        tag: 0x80,
    };
    let mut written = 0usize;
    let first = bits.byte()?;
    *out.first_mut().ok_or_else(full)? = first;
    written += 1;
    // Whether the previous item was a literal (or a one-byte match): then a gamma code of 2
    // means "the last offset again".
    let mut after_literal = true;
    let mut last_offset = 0u32;
    loop {
        if bits.bit()? == 0 {
            let byte = bits.byte()?;
            *out.get_mut(written).ok_or_else(full)? = byte;
            written += 1;
            after_literal = true;
            continue;
        }
        let (offset, length);
        if bits.bit()? == 0 {
            // A gamma-coded high part of the offset (gamma codes are at least 2), or the last
            // offset again.
            let high = bits.gamma()?.saturating_sub(1 + u32::from(after_literal));
            if high == 0 {
                offset = last_offset;
                length = bits.gamma()?;
            } else {
                let low = u32::from(bits.byte()?);
                offset = (high - 1)
                    .checked_mul(0x100)
                    .ok_or("an offset is larger than any image")?
                    | low;
                let mut n = bits.gamma()?;
                if offset >= 0x7d00 {
                    n += 1;
                }
                if offset >= 0x500 {
                    n += 1;
                }
                if offset <= 0x7f {
                    n += 2;
                }
                length = n;
                last_offset = offset;
            }
            after_literal = false;
        } else if bits.bit()? == 0 {
            // A 7-bit offset and a 1-bit length in one byte; offset 0 ends the stream.
            let byte = bits.byte()?;
            offset = u32::from(byte >> 1);
            if offset == 0 {
                break;
            }
            length = 2 + u32::from(byte & 1);
            last_offset = offset;
            after_literal = false;
        } else {
            // A 4-bit offset for one byte; offset 0 writes a zero byte.
            let mut nibble = 0u32;
            for _ in 0..4 {
                nibble = (nibble << 1) | bits.bit()?;
            }
            after_literal = true;
            if nibble == 0 {
                *out.get_mut(written).ok_or_else(full)? = 0;
                written += 1;
                continue;
            }
            offset = nibble;
            length = 1;
        }
        let from = written
            .checked_sub(offset as usize)
            .filter(|_| offset != 0)
            .ok_or_else(|| {
                format!("a match at output byte {written:#x} reaches {offset:#x} bytes back")
            })?;
        let end = written
            .checked_add(length as usize)
            .filter(|&e| e <= out.len())
            .ok_or_else(full)?;
        // Byte by byte: a match may overlap the bytes it writes.
        for i in 0..end - written {
            let byte = out.get(from + i).copied().unwrap_or(0);
            if let Some(slot) = out.get_mut(written + i) {
                *slot = byte;
            }
        }
        written = end;
    }
    Ok((bits.pos, written))
}

/// aPLib's bit reader: bits come from a tag byte refilled from the input, high bit first.
struct TagBits<'a> {
    /// The compressed data (tag bytes and the other bytes interleaved).
    input: &'a [u8],
    /// Next input byte.
    pos: usize,
    /// Bits left in the current tag byte, followed by a marker bit.
    tag: u8,
}

impl TagBits<'_> {
    /// The next input byte.
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or("the compressed data ends early")?;
        self.pos += 1;
        Ok(b)
    }

    /// The next bit: the tag's high bit; a tag that shifts to zero is refilled first (the
    /// refilled byte carries a marker bit in at the bottom).
    fn bit(&mut self) -> Result<u32, String> {
        if self.tag & 0x7f == 0 {
            let b = self.byte()?;
            self.tag = (b << 1) | 1;
            return Ok(u32::from(b >> 7));
        }
        let bit = u32::from(self.tag >> 7);
        self.tag <<= 1;
        Ok(bit)
    }

    /// An Elias-gamma number (at least 2): a 1 then pairs of (value bit, continue bit).
    fn gamma(&mut self) -> Result<u32, String> {
        let mut n = 1u32;
        loop {
            n = (n << 1) | self.bit()?;
            if n >= MAX_GAMMA {
                return Err("a length or offset is larger than any image".into());
            }
            if self.bit()? == 0 {
                return Ok(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output of `input` decompressed into `room` bytes.
    fn unpacked(input: &[u8], room: usize) -> Result<Vec<u8>, String> {
        let mut out = vec![0u8; room];
        let (_, written) = decompress(input, &mut out)?;
        out.truncate(written);
        Ok(out)
    }

    #[test]
    fn literals_matches_and_end() {
        // 'a' as is; then tag bits 0 0 | 1 1 0 | 1 1 0 (one tag byte, its top bit first):
        // literal 'b', literal 'c', a one-byte match (offset 3, length 2: "ab"), the end.
        let input = [b'a', 0b0011_0110, b'b', b'c', 3 << 1, 0];
        let mut out = [0u8; 16];
        let (read, written) = decompress(&input, &mut out).unwrap();
        assert_eq!(&out[..written], b"abcab");
        assert_eq!(read, input.len());
        // Literals and two short matches.
        let s = [b'a', 0x36, b'b', b'c', 0x07, 0x07, 0xc0, 0x00];
        assert_eq!(unpacked(&s, 64).unwrap(), b"abcabcabc");
    }

    #[test]
    fn four_bit_matches_and_zeros() {
        // A 4-bit one-byte match and a 4-bit zero.
        assert_eq!(
            unpacked(&[b'a', 0xe3, 0xc3, 0x00, 0x00], 64).unwrap(),
            b"aa\0"
        );
    }

    #[test]
    fn gamma_coded_match() {
        // Offset 3, length 6.
        let s = [b'a', 0x29, b'b', b'c', 0x03, 0x30, 0x00];
        assert_eq!(unpacked(&s, 64).unwrap(), b"abcabcabc");
        assert!(unpacked(&s, 8).is_err(), "more output than room");
        assert!(unpacked(&s[..5], 64).is_err(), "input cut short");
    }

    #[test]
    fn a_match_before_the_start_is_refused() {
        assert!(unpacked(&[b'a', 0xc0, 0x04], 64).is_err());
        assert!(unpacked(b"a", 0).is_err(), "no room at all");
    }
}
