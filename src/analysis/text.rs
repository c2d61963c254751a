//! Text encodings the format readers share: hexadecimal digits, base64 and quoted-printable as
//! mail readers decode them (leniently), Windows-1252, and UTF-16 in either byte order. One copy
//! of each, so that two readers of one format cannot decode the same bytes differently.

/// The value of one hexadecimal digit (`0-9`, `a-f`, `A-F`).
pub fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// UTF-16 text whose units `unit` reads (an odd final byte is dropped; unpaired surrogates
/// become U+FFFD).
fn utf16(b: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units: Vec<u16> = b.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

/// UTF-16LE text.
pub(crate) fn utf16le(b: &[u8]) -> String {
    utf16(b, u16::from_le_bytes)
}

/// UTF-16BE text.
pub(crate) fn utf16be(b: &[u8]) -> String {
    utf16(b, u16::from_be_bytes)
}

/// UTF-16LE text up to its first NUL unit.
pub(crate) fn utf16le_to_nul(b: &[u8]) -> String {
    let end = b
        .chunks_exact(2)
        .position(|c| c == [0, 0])
        .map_or(b.len(), |i| i * 2);
    utf16le(&b[..end])
}

/// What [`decode_base64`] produced.
#[derive(Debug, Default)]
pub(crate) struct Base64 {
    /// The decoded bytes (up to the padding, or to the cap).
    pub data: Vec<u8>,
    /// Characters skipped because they are neither base64 nor whitespace.
    pub junk: usize,
    /// Base64 characters that followed the padding and were ignored.
    pub after_padding: usize,
    /// Decoding stopped because the output passed the cap.
    pub over_cap: bool,
}

/// Decodes base64 leniently, as mail readers do: whitespace and characters outside the alphabet
/// are skipped (and counted in `junk`), decoding stops at the first `=` (padding), a final
/// partial group yields the whole bytes it holds. Stops once the output passes `cap` bytes.
pub(crate) fn decode_base64(input: &[u8], cap: u64) -> Base64 {
    let mut result = Base64 {
        data: Vec::with_capacity(input.len() / 4 * 3 + 3),
        ..Base64::default()
    };
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut rest = input.len();
    for (i, &c) in input.iter().enumerate() {
        let v = match base64_value(c) {
            Some(v) => v,
            None => {
                if c == b'=' {
                    rest = i;
                    break;
                }
                if !c.is_ascii_whitespace() {
                    result.junk += 1;
                }
                continue;
            }
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            result.data.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
            if result.data.len() as u64 > cap {
                result.over_cap = true;
                return result;
            }
        }
    }
    if rest < input.len() {
        result.after_padding = input[rest..]
            .iter()
            .filter(|&&c| base64_value(c).is_some())
            .count();
    }
    result
}

/// The value of a base64 character, `None` outside the alphabet.
pub(crate) fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// A byte of Windows-1252 text as a character (0x80-0x9F are its own; the rest is Latin-1).
pub(crate) fn cp1252(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    match b {
        0x80..=0x9F => char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).unwrap_or('\u{FFFD}'),
        _ => char::from(b),
    }
}

/// Decodes quoted-printable (RFC 2045 6.7) leniently: `=XX` in either case, soft line breaks
/// (with trailing whitespace before the break tolerated), and a stray `=` kept as is. Returns
/// None once the output passes `cap`.
pub(crate) fn decode_qp(input: &[u8], cap: u64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c == b'=' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|&c| hex_digit(c)),
                input.get(i + 2).and_then(|&c| hex_digit(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
            } else {
                let ws = input[i + 1..]
                    .iter()
                    .take_while(|&&c| matches!(c, b' ' | b'\t' | b'\r'))
                    .count();
                let after = i + 1 + ws;
                if after >= input.len() {
                    i = after;
                } else if input[after] == b'\n' {
                    i = after + 1;
                } else {
                    out.push(b'=');
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
        if out.len() as u64 > cap {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_in_both_orders_and_up_to_a_nul() {
        assert_eq!(utf16le(b"h\0i\0!"), "hi");
        assert_eq!(utf16be(b"\0h\0i"), "hi");
        assert_eq!(utf16le_to_nul(b"a\0b\0\0\0c\0"), "ab");
        assert_eq!(utf16le_to_nul(b"a\0b\0"), "ab");
        assert_eq!(utf16le(b"\x00\xd8"), "\u{fffd}");
        assert_eq!(hex_digit(b'F'), Some(15));
        assert_eq!(hex_digit(b'g'), None);
        assert_eq!(cp1252(0x80), '\u{20ac}');
    }
}
