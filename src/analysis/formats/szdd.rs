//! Files compressed by Microsoft's `COMPRESS.EXE`: the SZDD format (`file.ex_`, one LZSS
//! stream) and the KWAJ format (stored, XOR, LZSS or MSZIP data with an optional original name).
//! Follows the format notes of libmspack (`szdd.h`, `kwaj.h`, Stuart Caie) and the SZDD/KWAJ
//! descriptions in the "Microsoft compression formats" documentation at
//! <https://www.cabextract.org.uk/libmspack/doc/>.
//!
//! Each file holds exactly one member.
//!
//! Naming: SZDD keeps only the last character of the original extension (the one that
//! `COMPRESS -r` replaced by `_`); the rest of the name lives only in the outer file name, which
//! this parser does not see. The member is named `expanded.??<c>` where `<c>` is that character
//! (e.g. `expanded.??e` for a `setup.ex_`), or `expanded` when the character is absent or not
//! printable ASCII: the `??` mark what only the outer name can supply. KWAJ headers may carry the
//! original name and extension, which are used as given.
//!
//! Not supported: KWAJ method 3 ("LZ+Huffman"), reported with a warning; the QBasic `SZ` variant.

use std::borrow::Cow;

use super::Members;
use crate::analysis::warning::Problem;

/// SZDD magic.
const SZDD_MAGIC: &[u8] = b"SZDD\x88\xF0\x27\x33";
/// KWAJ magic.
const KWAJ_MAGIC: &[u8] = b"KWAJ\x88\xF0\x27\xD1";
/// Size of the SZDD header (magic, mode, missing character, length).
const SZDD_HEADER: usize = 14;
/// Size of the fixed KWAJ header (magic, method, data offset, flags).
const KWAJ_HEADER: usize = 14;
/// LZSS ring buffer size.
const LZSS_WINDOW: usize = 4096;
/// Output bytes between deadline checks in the decoders.
const CHECK_EVERY: usize = 1 << 20;
/// The MSZIP history window: a block may refer to the previous block's last 32 KiB.
const MSZIP_WINDOW: usize = 32 * 1024;
/// Most MSZIP blocks read from one file; real ones hold 32 KiB each, so this allows 8 GiB.
const MAX_MSZIP_BLOCKS: usize = 256 * 1024;

/// KWAJ optional header flags.
const KWAJ_HAS_LENGTH: u16 = 0x01;
const KWAJ_HAS_UNKNOWN1: u16 = 0x02;
const KWAJ_HAS_UNKNOWN2: u16 = 0x04;
const KWAJ_HAS_NAME: u16 = 0x08;
const KWAJ_HAS_EXT: u16 = 0x10;
const KWAJ_HAS_TEXT: u16 = 0x20;

/// Which format `data` is: "SZDD" or "KWAJ" (by the 8-byte magic at offset 0).
pub fn detect(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(SZDD_MAGIC) {
        Some("SZDD")
    } else if data.starts_with(KWAJ_MAGIC) {
        Some("KWAJ")
    } else {
        None
    }
}

/// How a decoder ended.
enum Decoded {
    /// The whole stream was decoded.
    Full(Vec<u8>),
    /// The stream is corrupt or truncated: what was decoded, and why it stopped.
    Partial(Vec<u8>, String),
    /// The member cap or the deadline stopped it; already recorded in `Members`.
    Limit,
}

/// Expands the SZDD/KWAJ LZSS stream, stopping at `want` bytes when the header declares a size.
fn lzss(input: &[u8], want: Option<u64>, name: &str, out: &mut Members<'_>) -> Decoded {
    let packed = input.len() as u64;
    let cap = out.member_cap(packed);
    let mut window = [b' '; LZSS_WINDOW];
    let mut wpos = LZSS_WINDOW - 16;
    let mut output: Vec<u8> = Vec::with_capacity(input.len().min(1 << 20));
    let mut next_check = CHECK_EVERY;
    let mut i = 0usize;
    let full = |o: &Vec<u8>| want.is_some_and(|w| o.len() as u64 >= w);

    'stream: while i < input.len() && !full(&output) {
        let control = input[i];
        i += 1;
        for bit in 0..8 {
            if i >= input.len() || full(&output) {
                break 'stream;
            }
            if control & (1 << bit) != 0 {
                let b = input[i];
                i += 1;
                output.push(b);
                window[wpos] = b;
                wpos = (wpos + 1) % LZSS_WINDOW;
            } else {
                let Some(pair) = input.get(i..i + 2) else {
                    // An odd byte after the last complete pair: the encoder never writes
                    // this, but stopping here loses nothing.
                    break 'stream;
                };
                i += 2;
                let mut mpos = usize::from(pair[0]) | (usize::from(pair[1] & 0xF0) << 4);
                let len = usize::from(pair[1] & 0x0F) + 3;
                for _ in 0..len {
                    let b = window[mpos];
                    output.push(b);
                    window[wpos] = b;
                    wpos = (wpos + 1) % LZSS_WINDOW;
                    mpos = (mpos + 1) % LZSS_WINDOW;
                }
            }
            if output.len() as u64 > cap {
                out.admit(name, packed, output.len() as u64);
                return Decoded::Limit;
            }
            if output.len() >= next_check {
                next_check += CHECK_EVERY;
                if out.stopped() {
                    return Decoded::Limit;
                }
            }
        }
    }
    if let Some(w) = want {
        // A final match may run past the declared end.
        if output.len() as u64 > w {
            output.truncate(w as usize);
        }
        if (output.len() as u64) < w {
            let got = output.len();
            return Decoded::Partial(
                output,
                format!("compressed data ends after {got} of the {w} bytes the header declares"),
            );
        }
    }
    Decoded::Full(output)
}

/// Feeds all of `input` to a raw inflater, appending what it produces to `sink` (or dropping it
/// when `sink` is None). Returns whether the deflate stream ended and how many input bytes were
/// consumed.
fn inflate_into(
    d: &mut flate2::Decompress,
    input: &[u8],
    mut sink: Option<&mut Vec<u8>>,
    cap: u64,
) -> Result<(bool, usize), String> {
    let mut scratch = vec![0u8; MSZIP_WINDOW];
    let base = d.total_in();
    loop {
        let used = (d.total_in() - base) as usize;
        let before_in = d.total_in();
        let before_out = d.total_out();
        let status = d
            .decompress(
                input.get(used..).unwrap_or(&[]),
                &mut scratch,
                flate2::FlushDecompress::None,
            )
            .map_err(|e| format!("deflate error: {e}"))?;
        let produced = (d.total_out() - before_out) as usize;
        if let Some(sink) = sink.as_deref_mut() {
            sink.extend_from_slice(&scratch[..produced]);
            if sink.len() as u64 > cap {
                return Err("cap".to_string());
            }
        }
        if status == flate2::Status::StreamEnd {
            return Ok((true, (d.total_in() - base) as usize));
        }
        if produced == 0 && d.total_in() == before_in {
            return Ok((false, (d.total_in() - base) as usize));
        }
    }
}

/// Decodes KWAJ MSZIP data: blocks of `u16 length, "CK", deflate stream` until a zero length.
/// Each block may refer back into the previous block's output, so the decoder is primed with
/// up to 32 KiB of history as a stored deflate block whose output is discarded.
fn mszip(input: &[u8], name: &str, out: &mut Members<'_>) -> Decoded {
    let packed = input.len() as u64;
    let cap = out.member_cap(packed);
    let mut output = Vec::new();
    let mut pos = 0usize;
    for block in 1..=MAX_MSZIP_BLOCKS {
        if out.stopped() {
            return Decoded::Limit;
        }
        let Some(len) = input.get(pos..pos + 2) else {
            // libmspack reads zeros past the end: a missing terminator ends the stream.
            return Decoded::Full(output);
        };
        if len == [0, 0] {
            return Decoded::Full(output);
        }
        if input.get(pos + 2..pos + 4) != Some(b"CK".as_slice()) {
            return Decoded::Partial(
                output,
                format!("mszip block {block} lacks its CK signature"),
            );
        }
        pos += 4;
        let history = &output[output.len().saturating_sub(MSZIP_WINDOW)..];
        let mut d = flate2::Decompress::new(false);
        if !history.is_empty() {
            let n = history.len() as u16;
            let mut primer = vec![0x00, n as u8, (n >> 8) as u8, !n as u8, !(n >> 8) as u8];
            primer.extend_from_slice(history);
            match inflate_into(&mut d, &primer, None, u64::MAX) {
                Ok((false, used)) if used == primer.len() => {}
                _ => {
                    return Decoded::Partial(
                        output,
                        format!("mszip block {block}: could not prime the history window"),
                    )
                }
            }
        }
        match inflate_into(&mut d, &input[pos..], Some(&mut output), cap) {
            Ok((true, used)) => pos += used,
            Ok((false, _)) => {
                return Decoded::Partial(output, format!("mszip block {block} is truncated"))
            }
            Err(e) if e == "cap" => {
                out.admit(name, packed, output.len() as u64);
                return Decoded::Limit;
            }
            // What the block produced before the error is good data: keep it.
            Err(e) => return Decoded::Partial(output, format!("mszip block {block}: {e}")),
        }
    }
    Decoded::Partial(
        output,
        format!("more than {MAX_MSZIP_BLOCKS} mszip blocks; the rest is not read"),
    )
}

fn emit<'a>(name: String, decoded: Decoded, out: &mut Members<'a>) {
    match decoded {
        Decoded::Full(data) => {
            out.add(name, Cow::Owned(data));
        }
        Decoded::Partial(data, why) => {
            out.warn(
                Problem::Corrupt,
                format!("{}: {why}", super::printable(&name)),
            );
            out.add(name, Cow::Owned(data));
        }
        Decoded::Limit => {}
    }
}

fn unpack_szdd<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let Some(header) = data.get(..SZDD_HEADER) else {
        out.warn(
            Problem::Truncated,
            format!(
                "szdd header is truncated: {} of {SZDD_HEADER} bytes",
                data.len()
            ),
        );
        return;
    };
    if header[8] != b'A' {
        out.warn(
            Problem::Corrupt,
            format!(
                "szdd compression mode is {:#04x}, not 'A'; decoding it as 'A'",
                header[8]
            ),
        );
    }
    let missing = header[9];
    let name = if missing.is_ascii_graphic() {
        format!("expanded.??{}", char::from(missing))
    } else {
        "expanded".to_string()
    };
    let declared = u64::from(u32::from_le_bytes([
        header[10], header[11], header[12], header[13],
    ]));
    let body = &data[SZDD_HEADER..];
    if !out.admit(&name, body.len() as u64, declared) {
        return;
    }
    let decoded = lzss(body, Some(declared), &name, out);
    emit(name, decoded, out);
}

/// A NUL-terminated string of at most `max` bytes at `pos`; returns it and the position after.
fn kwaj_string(data: &[u8], pos: usize, max: usize) -> Option<(&[u8], usize)> {
    let field = data.get(pos..)?;
    let n = field.iter().take(max + 1).position(|&b| b == 0)?;
    Some((&field[..n], pos + n + 1))
}

fn unpack_kwaj<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let Some(header) = data.get(..KWAJ_HEADER) else {
        out.warn(
            Problem::Truncated,
            format!(
                "kwaj header is truncated: {} of {KWAJ_HEADER} bytes",
                data.len()
            ),
        );
        return;
    };
    let method = u16::from_le_bytes([header[8], header[9]]);
    let data_offset = usize::from(u16::from_le_bytes([header[10], header[11]]));
    let flags = u16::from_le_bytes([header[12], header[13]]);

    // Optional headers, in this order.
    let mut pos = KWAJ_HEADER;
    let mut declared: Option<u64> = None;
    let mut stem: Option<&[u8]> = None;
    let mut ext: Option<&[u8]> = None;
    let mut header_ok = true;
    if flags & KWAJ_HAS_LENGTH != 0 {
        match data.get(pos..pos + 4) {
            Some(b) => declared = Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            None => header_ok = false,
        }
        pos += 4;
    }
    if flags & KWAJ_HAS_UNKNOWN1 != 0 {
        pos += 2;
    }
    if header_ok && flags & KWAJ_HAS_UNKNOWN2 != 0 {
        match data.get(pos..pos + 2) {
            Some(b) => pos += 2 + usize::from(u16::from_le_bytes([b[0], b[1]])),
            None => header_ok = false,
        }
    }
    if header_ok && flags & KWAJ_HAS_NAME != 0 {
        match kwaj_string(data, pos, 8) {
            Some((s, next)) => {
                stem = Some(s);
                pos = next;
            }
            None => header_ok = false,
        }
    }
    if header_ok && flags & KWAJ_HAS_EXT != 0 {
        match kwaj_string(data, pos, 3) {
            Some((s, next)) => {
                ext = Some(s);
                pos = next;
            }
            None => header_ok = false,
        }
    }
    if header_ok && flags & KWAJ_HAS_TEXT != 0 {
        match data.get(pos..pos + 2) {
            Some(b) => pos += 2 + usize::from(u16::from_le_bytes([b[0], b[1]])),
            None => header_ok = false,
        }
    }
    if !header_ok || pos > data.len() {
        out.warn(
            Problem::Corrupt,
            "kwaj optional headers are truncated or malformed; the original name is unknown",
        );
        stem = None;
        ext = None;
    }

    let stem = stem.map_or_else(
        || "expanded".to_string(),
        |s| String::from_utf8_lossy(s).into_owned(),
    );
    let name = match ext {
        Some(e) => format!("{stem}.{}", String::from_utf8_lossy(e)),
        None => stem,
    };

    let Some(body) = data
        .get(data_offset..)
        .filter(|_| data_offset >= KWAJ_HEADER)
    else {
        out.warn(
            Problem::Truncated,
            format!(
                "kwaj data offset {data_offset} is outside the file ({} bytes)",
                data.len()
            ),
        );
        return;
    };
    let packed = body.len() as u64;
    if let Some(d) = declared {
        if !out.admit(&name, packed, d) {
            return;
        }
    }
    match method {
        0 | 1 => {
            // Stored data runs to the end of the file; the declared length, when present,
            // marks where the original ended.
            let mut len = body.len();
            if let Some(d) = declared {
                if d < len as u64 {
                    len = d as usize;
                } else if d > len as u64 {
                    out.warn(
                        Problem::Truncated,
                        format!(
                            "{}: stored data is truncated: header says {d} bytes, {len} remain",
                            super::printable(&name)
                        ),
                    );
                }
            }
            let body = &body[..len];
            if !out.admit(&name, len as u64, len as u64) {
                return;
            }
            if method == 0 {
                out.add(name, Cow::Borrowed(body));
            } else {
                out.add(name, Cow::Owned(body.iter().map(|b| b ^ 0xFF).collect()));
            }
        }
        2 => {
            let decoded = lzss(body, declared, &name, out);
            emit(name, decoded, out);
        }
        3 => out.warn(
            Problem::Unsupported,
            format!(
                "{}: kwaj method 3 (lz+huffman) is not supported",
                super::printable(&name)
            ),
        ),
        4 => {
            let decoded = mszip(body, &name, out);
            let decoded = match (decoded, declared) {
                (Decoded::Full(mut v), Some(d)) if v.len() as u64 != d => {
                    if v.len() as u64 > d {
                        v.truncate(d as usize);
                        Decoded::Full(v)
                    } else {
                        let got = v.len();
                        Decoded::Partial(
                            v,
                            format!("data ends after {got} of the {d} bytes the header declares"),
                        )
                    }
                }
                (other, _) => other,
            };
            emit(name, decoded, out);
        }
        m => out.warn(
            Problem::Unsupported,
            format!(
                "{}: unknown kwaj compression method {m}",
                super::printable(&name)
            ),
        ),
    }
}

/// Expands an SZDD or KWAJ file into its single member.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    match detect(data) {
        Some("SZDD") => unpack_szdd(data, out),
        Some(_) => unpack_kwaj(data, out),
        None if data.is_empty() => {}
        None => out.warn(Problem::Corrupt, "not an szdd or kwaj file: unknown magic"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::{Budget, Limit};
    use super::*;
    use std::io::Write;

    /// A greedy LZSS encoder for the SZDD format (matches of 3..=18 bytes within the window).
    fn lzss_encode(input: &[u8]) -> Vec<u8> {
        let mut window = [b' '; LZSS_WINDOW];
        let mut wpos = LZSS_WINDOW - 16;
        let mut outb = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let ctrl_at = outb.len();
            outb.push(0u8);
            for bit in 0..8 {
                if i >= input.len() {
                    break;
                }
                // Find the longest match in the window (only positions already written, so
                // that overlapping copies are decoded identically).
                let mut best = (0usize, 0usize);
                for start in 0..LZSS_WINDOW {
                    let mut l = 0;
                    while l < 18 && i + l < input.len() {
                        let src = (start + l) % LZSS_WINDOW;
                        // Bytes written during this match come from the input itself.
                        let dist = (wpos + LZSS_WINDOW - start) % LZSS_WINDOW;
                        let b = if dist != 0 && l >= dist {
                            input[i + l - dist]
                        } else {
                            window[src]
                        };
                        if dist == 0 || b != input[i + l] {
                            break;
                        }
                        l += 1;
                    }
                    if l > best.1 {
                        best = (start, l);
                    }
                }
                if best.1 >= 3 {
                    let (start, len) = best;
                    outb.push(start as u8);
                    outb.push((((start >> 4) & 0xF0) | (len - 3)) as u8);
                    for k in 0..len {
                        window[wpos] = input[i + k];
                        wpos = (wpos + 1) % LZSS_WINDOW;
                    }
                    i += len;
                } else {
                    outb[ctrl_at] |= 1 << bit;
                    outb.push(input[i]);
                    window[wpos] = input[i];
                    wpos = (wpos + 1) % LZSS_WINDOW;
                    i += 1;
                }
            }
        }
        outb
    }

    fn szdd(content: &[u8], missing: u8) -> Vec<u8> {
        let mut f = SZDD_MAGIC.to_vec();
        f.push(b'A');
        f.push(missing);
        f.extend_from_slice(&(content.len() as u32).to_le_bytes());
        f.extend(lzss_encode(content));
        f
    }

    fn kwaj(method: u16, flags: u16, optional: &[u8], body: &[u8]) -> Vec<u8> {
        let mut f = KWAJ_MAGIC.to_vec();
        f.extend_from_slice(&method.to_le_bytes());
        f.extend_from_slice(&((KWAJ_HEADER + optional.len()) as u16).to_le_bytes());
        f.extend_from_slice(&flags.to_le_bytes());
        f.extend_from_slice(optional);
        f.extend_from_slice(body);
        f
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    const TEXT: &[u8] = b"Hello hello hello, this is a test of the SZDD format.    \
        Spaces at the start are matched from the initial window. abcabcabcabcabcabcabc!";

    #[test]
    fn szdd_round_trip() {
        let data = szdd(TEXT, b'e');
        assert_eq!(detect(&data), Some("SZDD"));
        let out = run(&data);
        assert_eq!(out.members.len(), 1);
        assert_eq!(out.members[0].name, "expanded.??e");
        assert_eq!(out.members[0].data.as_ref(), TEXT);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        // The encoder really produced matches, including ones reaching into the initial spaces.
        assert!(data.len() < SZDD_HEADER + TEXT.len());
    }

    #[test]
    fn szdd_initial_window_is_spaces() {
        // Control byte 0: first item is a match at position 0 (spaces), length 5.
        let mut f = SZDD_MAGIC.to_vec();
        f.extend_from_slice(&[b'A', 0]);
        f.extend_from_slice(&6u32.to_le_bytes());
        f.extend_from_slice(&[0b0000_0010, 0x00, 0x02, b'x']);
        let out = run(&f);
        assert_eq!(out.members[0].name, "expanded");
        assert_eq!(out.members[0].data.as_ref(), b"     x");
    }

    #[test]
    fn szdd_truncated_and_oversized() {
        let mut data = szdd(TEXT, b'l');
        data.truncate(data.len() - 10);
        let out = run(&data);
        assert!(out.members[0].data.len() < TEXT.len());
        assert!(TEXT.starts_with(&out.members[0].data));
        assert!(out.warnings.iter().any(|w| w.text.contains("ends after")));

        // Header shorter than declared content: output stops at the declared length.
        let mut short = szdd(TEXT, b'l');
        short[10..14].copy_from_slice(&10u32.to_le_bytes());
        let out = run(&short);
        assert_eq!(out.members[0].data.as_ref(), &TEXT[..10]);

        let out = run(SZDD_MAGIC);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("truncated"));
        for n in 0..data.len() {
            run(&data[..n]);
        }
    }

    #[test]
    fn szdd_bomb_is_cut_off() {
        // Each pair repeats 18 bytes: about 9x expansion per input byte.
        let mut bomb = Vec::new();
        for _ in 0..200_000 {
            bomb.extend_from_slice(&[0, 0, 0x0F, 0, 0x0F, 0, 0x0F, 0, 0x0F]);
            bomb.extend_from_slice(&[0, 0x0F, 0, 0x0F, 0, 0x0F, 0, 0x0F]);
        }
        let mut f = SZDD_MAGIC.to_vec();
        f.extend_from_slice(b"Ax");
        f.extend_from_slice(&u32::MAX.to_le_bytes());
        f.extend_from_slice(&bomb);
        let caps = || Budget {
            max_ratio: 2,
            ..Budget::unlimited()
        };
        // Declared size over the ratio cap: refused before decoding.
        let mut out = Members::new(caps());
        unpack(&f, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Ratio);
        // Declared size small: decoding stops there.
        f[10..14].copy_from_slice(&1000u32.to_le_bytes());
        let mut out = Members::new(caps());
        unpack(&f, &mut out);
        assert_eq!(out.members[0].data.len(), 1000);
        // No declared size (KWAJ without a length header): cut off while decoding.
        let k = kwaj(2, 0, &[], &bomb);
        let mut out = Members::new(caps());
        unpack(&k, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Ratio);
    }

    #[test]
    fn member_over_budget_is_skipped_with_a_limit() {
        let data = szdd(TEXT, b'e');
        let mut out = Members::new(Budget {
            max_output: 20,
            ..Budget::unlimited()
        });
        unpack(&data, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    #[test]
    fn kwaj_methods_and_names() {
        // Stored, with length, name and extension.
        let mut opt = 5u32.to_le_bytes().to_vec();
        opt.extend_from_slice(b"SETUP\0EXE\0");
        let f = kwaj(
            0,
            KWAJ_HAS_LENGTH | KWAJ_HAS_NAME | KWAJ_HAS_EXT,
            &opt,
            b"MZ!!!extra",
        );
        assert_eq!(detect(&f), Some("KWAJ"));
        let out = run(&f);
        assert_eq!(out.members[0].name, "SETUP.EXE");
        assert_eq!(out.members[0].data.as_ref(), b"MZ!!!");

        // XOR, with every optional header.
        let mut opt = Vec::new();
        opt.extend_from_slice(&3u32.to_le_bytes());
        opt.extend_from_slice(&[9, 9]);
        opt.extend_from_slice(&2u16.to_le_bytes());
        opt.extend_from_slice(b"??");
        opt.extend_from_slice(b"README\0");
        opt.extend_from_slice(b"TXT\0");
        opt.extend_from_slice(&4u16.to_le_bytes());
        opt.extend_from_slice(b"text");
        let f = kwaj(1, 0x3F, &opt, &[!b'a', !b'b', !b'c']);
        let out = run(&f);
        assert_eq!(out.members[0].name, "README.TXT");
        assert_eq!(out.members[0].data.as_ref(), b"abc");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);

        // LZSS, no optional headers.
        let f = kwaj(2, 0, &[], &lzss_encode(TEXT));
        let out = run(&f);
        assert_eq!(out.members[0].name, "expanded");
        assert_eq!(out.members[0].data.as_ref(), TEXT);

        // LZ+Huffman: not supported.
        let k = kwaj(3, 0, &[], b"xx");
        let out = run(&k);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("not supported"));
        let k = kwaj(9, 0, &[], b"xx");
        let out = run(&k);
        assert!(out.warnings[0]
            .text
            .contains("unknown kwaj compression method 9"));
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A fixed-Huffman deflate block holding one match of length 10 at distance 5.
    fn match_only_block() -> Vec<u8> {
        let mut bits: Vec<u8> = Vec::new();
        let push_lsb = |v: u32, n: u32, bits: &mut Vec<u8>| {
            for k in 0..n {
                bits.push(((v >> k) & 1) as u8);
            }
        };
        let push_code = |v: u32, n: u32, bits: &mut Vec<u8>| {
            for k in (0..n).rev() {
                bits.push(((v >> k) & 1) as u8);
            }
        };
        push_lsb(1, 1, &mut bits); // BFINAL
        push_lsb(1, 2, &mut bits); // fixed Huffman
        push_code(264 - 256, 7, &mut bits); // length 10
        push_code(4, 5, &mut bits); // distance 5..6
        push_lsb(0, 1, &mut bits); // extra bit: distance 5
        push_code(0, 7, &mut bits); // end of block
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (k, b) in bits.iter().enumerate() {
            bytes[k / 8] |= b << (k % 8);
        }
        bytes
    }

    fn mszip_block(deflated: &[u8]) -> Vec<u8> {
        let mut b = ((deflated.len() + 2) as u16).to_le_bytes().to_vec();
        b.extend_from_slice(b"CK");
        b.extend_from_slice(deflated);
        b
    }

    #[test]
    fn kwaj_mszip_blocks_share_history() {
        let first = b"0123456789abcdefghij".repeat(10);
        let mut body = mszip_block(&deflate(&first));
        body.extend(mszip_block(&match_only_block()));
        body.extend_from_slice(&[0, 0]);
        let f = kwaj(4, 0, &[], &body);
        let out = run(&f);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let mut expected = first.clone();
        expected.extend_from_slice(b"fghijfghij");
        assert_eq!(out.members[0].data.as_ref(), expected.as_slice());

        // Without the terminating zero length, and with a declared length.
        let mut opt = (expected.len() as u32).to_le_bytes().to_vec();
        opt.extend_from_slice(b"DATA\0");
        let f = kwaj(
            4,
            KWAJ_HAS_LENGTH | KWAJ_HAS_NAME,
            &opt,
            &body[..body.len() - 2],
        );
        let out = run(&f);
        assert_eq!(out.members[0].name, "DATA");
        assert_eq!(out.members[0].data.as_ref(), expected.as_slice());
    }

    #[test]
    fn kwaj_mszip_corruption() {
        let first = b"some data to compress ".repeat(20);
        let mut body = mszip_block(&deflate(&first));
        body.extend_from_slice(b"\x05\x00XX");
        let k = kwaj(4, 0, &[], &body);
        let out = run(&k);
        assert_eq!(out.members[0].data.as_ref(), first.as_slice());
        assert!(out.warnings[0].text.contains("CK"));

        let whole = mszip_block(&deflate(&first));
        let k = kwaj(4, 0, &[], &whole[..whole.len() / 2]);
        let out = run(&k);
        assert!(out.warnings[0].text.contains("truncated"));
        assert!(first.starts_with(&out.members[0].data));

        let mut garbage = b"\x10\x00CK".to_vec();
        garbage.extend_from_slice(&[0xFF; 16]);
        let k = kwaj(4, 0, &[], &garbage);
        let out = run(&k);
        assert!(!out.warnings.is_empty());
    }

    #[test]
    fn kwaj_mszip_bomb_is_cut_off() {
        let zeros = vec![0u8; 4 << 20];
        let mut body = mszip_block(&deflate(&zeros));
        body.extend_from_slice(&[0, 0]);
        let mut out = Members::new(Budget {
            max_ratio: 10,
            ..Budget::unlimited()
        });
        let k = kwaj(4, 0, &[], &body);
        unpack(&k, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Ratio);
    }

    #[test]
    fn kwaj_malformed_headers() {
        // Name without terminator within 9 bytes.
        let f = kwaj(0, KWAJ_HAS_NAME, b"ABCDEFGHIJKL", b"");
        let out = run(&f);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("optional headers")));

        // Data offset beyond the end.
        let mut f = kwaj(0, 0, &[], b"abc");
        f[10..12].copy_from_slice(&1000u16.to_le_bytes());
        let out = run(&f);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("outside the file"));

        // Declared stored length longer than the data.
        let f = kwaj(0, KWAJ_HAS_LENGTH, &100u32.to_le_bytes(), b"abc");
        let out = run(&f);
        assert_eq!(out.members[0].data.as_ref(), b"abc");
        assert!(out.warnings[0].text.contains("truncated"));

        let out = run(KWAJ_MAGIC);
        assert!(out.warnings[0].text.contains("truncated"));
        for n in 0..f.len() {
            run(&f[..n]);
        }
    }

    #[test]
    fn empty_and_foreign_input() {
        assert_eq!(detect(b""), None);
        let out = run(b"");
        assert!(out.members.is_empty() && out.warnings.is_empty());
        let out = run(b"MZ\x90\x00");
        assert!(out.warnings[0].text.contains("not an szdd"));
    }
}
