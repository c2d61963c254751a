//! NSIS's bzip2: the bzip2 block format (Burrows–Wheeler, move-to-front, Huffman) as NSIS's own
//! copy of libbzip2 writes it, which standard decoders refuse: no `BZh` stream header, a one-byte
//! block signature (`0x31`; `0x17` ends the stream) instead of six, and no block or stream CRCs
//! and no randomisation bit. The rest follows the bzip2 format (as in libbzip2's
//! `decompress.c`). Blocks are at most 900,000 bytes before the final run-length step.

/// Largest block (bytes after the Huffman and move-to-front stages) bzip2 makes.
const MAX_BLOCK: usize = 900_000;

/// Symbols per Huffman group selector.
const GROUP_SIZE: usize = 50;

const RUNA: u16 = 0;
const RUNB: u16 = 1;

/// Decodes an NSIS bzip2 stream. Stops once more than `cap` bytes are out (the result is then
/// longer than `cap`: the caller reports the budget), or when `stopped` says so between blocks
/// (an error then). On corrupt or truncated input, why and the bytes decoded before the bad
/// block.
pub fn decode(
    input: &[u8],
    cap: u64,
    stopped: &dyn Fn() -> bool,
) -> Result<Vec<u8>, (String, Vec<u8>)> {
    let mut bits = Bits {
        data: input,
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        if stopped() {
            return Err(("the time budget ran out while decoding".into(), out));
        }
        match bits.take(8) {
            Some(0x31) => {}
            Some(0x17) => return Ok(out),
            Some(b) => return Err((format!("bad block signature {b:#04x}"), out)),
            // A stream that simply ends after a block (no end byte) is taken as whole.
            None if !out.is_empty() => return Ok(out),
            None => return Err(("the stream is empty".into(), out)),
        }
        if let Err(why) = block(&mut bits, &mut out, cap) {
            return Err((why.to_string(), out));
        }
        if out.len() as u64 > cap {
            return Ok(out);
        }
    }
}

/// Big-endian bit reader.
struct Bits<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = v << 1 | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }

    fn bit(&mut self) -> Option<bool> {
        self.take(1).map(|b| b == 1)
    }
}

/// Canonical Huffman decoding table for one group: code lengths 1..=20.
struct Table {
    /// For each length, the largest code of that length (or -1).
    limit: [i32; 21],
    /// For each length, the symbol index of its first code minus that code.
    base: [i32; 21],
    perm: Vec<u16>,
    min_len: u32,
}

impl Table {
    fn new(lengths: &[u8]) -> Table {
        let min_len = u32::from(*lengths.iter().min().unwrap_or(&1));
        let max_len = u32::from(*lengths.iter().max().unwrap_or(&1));
        let mut perm = Vec::with_capacity(lengths.len());
        for len in min_len..=max_len {
            for (sym, &l) in lengths.iter().enumerate() {
                if u32::from(l) == len {
                    perm.push(sym as u16);
                }
            }
        }
        let mut limit = [-1i32; 21];
        let mut base = [0i32; 21];
        let mut code = 0i32;
        let mut index = 0i32;
        for len in min_len..=max_len {
            let count = lengths.iter().filter(|&&l| u32::from(l) == len).count() as i32;
            base[len as usize] = index - code;
            code += count;
            index += count;
            limit[len as usize] = code - 1;
            code <<= 1;
        }
        Table {
            limit,
            base,
            perm,
            min_len,
        }
    }

    fn symbol(&self, bits: &mut Bits) -> Result<u16, &'static str> {
        let mut len = self.min_len;
        let mut code = bits.take(len).ok_or(TRUNCATED)? as i32;
        loop {
            if len > 20 {
                return Err("a Huffman code is longer than 20 bits");
            }
            if code <= self.limit[len as usize] {
                let i = (self.base[len as usize] + code) as usize;
                return self
                    .perm
                    .get(i)
                    .copied()
                    .ok_or("a Huffman code is out of range");
            }
            code = code << 1 | bits.take(1).ok_or(TRUNCATED)? as i32;
            len += 1;
        }
    }
}

const TRUNCATED: &str = "the stream ends inside a block";

/// Decodes one block (after its signature) and appends its bytes to `out`.
fn block(bits: &mut Bits, out: &mut Vec<u8>, cap: u64) -> Result<(), &'static str> {
    let orig_ptr = bits.take(24).ok_or(TRUNCATED)? as usize;
    // The byte values in use.
    let used16 = bits.take(16).ok_or(TRUNCATED)?;
    let mut seq = Vec::with_capacity(256);
    for i in 0..16 {
        if used16 & (0x8000 >> i) != 0 {
            let used = bits.take(16).ok_or(TRUNCATED)?;
            for j in 0..16 {
                if used & (0x8000 >> j) != 0 {
                    seq.push((i * 16 + j) as u8);
                }
            }
        }
    }
    if seq.is_empty() {
        return Err("a block uses no byte values");
    }
    let alpha = seq.len() + 2;
    let groups = bits.take(3).ok_or(TRUNCATED)? as usize;
    if !(2..=6).contains(&groups) {
        return Err("a block has a bad number of Huffman groups");
    }
    let selectors = bits.take(15).ok_or(TRUNCATED)? as usize;
    if selectors == 0 {
        return Err("a block has no selectors");
    }
    let mut mtf_groups: Vec<u8> = (0..groups as u8).collect();
    let mut chosen = Vec::with_capacity(selectors);
    for _ in 0..selectors {
        let mut j = 0;
        while bits.bit().ok_or(TRUNCATED)? {
            j += 1;
            if j >= groups {
                return Err("a selector is out of range");
            }
        }
        let g = mtf_groups.remove(j);
        mtf_groups.insert(0, g);
        chosen.push(g);
    }
    let mut tables = Vec::with_capacity(groups);
    for _ in 0..groups {
        let mut len = bits.take(5).ok_or(TRUNCATED)? as i32;
        let mut lengths = Vec::with_capacity(alpha);
        for _ in 0..alpha {
            loop {
                if !(1..=20).contains(&len) {
                    return Err("a Huffman code length is out of range");
                }
                if !bits.bit().ok_or(TRUNCATED)? {
                    break;
                }
                len += if bits.bit().ok_or(TRUNCATED)? { -1 } else { 1 };
            }
            lengths.push(len as u8);
        }
        tables.push(Table::new(&lengths));
    }

    // Huffman and move-to-front: the block before the Burrows–Wheeler transform is undone.
    let eob = (alpha - 1) as u16;
    // `seq.len()` may be 256, which a u8 range cannot end at.
    let mut mtf: Vec<u8> = (0..seq.len()).map(|i| i as u8).collect();
    let mut block: Vec<u8> = Vec::new();
    let mut counts = [0usize; 256];
    let mut run = 0usize;
    let mut run_weight = 1usize;
    let mut decoded = 0usize;
    loop {
        let group = *chosen
            .get(decoded / GROUP_SIZE)
            .ok_or("a block has more symbols than selectors")?;
        let sym = tables[usize::from(group)].symbol(bits)?;
        decoded += 1;
        if sym == RUNA || sym == RUNB {
            run += run_weight << usize::from(sym == RUNB);
            run_weight <<= 1;
            if run > MAX_BLOCK {
                return Err("a run is longer than a block");
            }
            continue;
        }
        if run > 0 {
            let byte = seq[usize::from(mtf[0])];
            if block.len() + run > MAX_BLOCK {
                return Err("a block is longer than 900,000 bytes");
            }
            block.resize(block.len() + run, byte);
            counts[usize::from(byte)] += run;
            run = 0;
            run_weight = 1;
        }
        if sym == eob {
            break;
        }
        let i = usize::from(sym - 1);
        if i >= mtf.len() {
            return Err("a move-to-front index is out of range");
        }
        let v = mtf.remove(i);
        mtf.insert(0, v);
        let byte = seq[usize::from(v)];
        if block.len() >= MAX_BLOCK {
            return Err("a block is longer than 900,000 bytes");
        }
        block.push(byte);
        counts[usize::from(byte)] += 1;
    }
    if orig_ptr >= block.len() {
        return Err("the block's origin pointer is past its end");
    }

    // The Burrows–Wheeler transform undone, then the initial run-length step.
    let mut next_of_kind = [0usize; 256];
    let mut sum = 0;
    for (c, n) in counts.iter().enumerate() {
        next_of_kind[c] = sum;
        sum += n;
    }
    let mut follow = vec![0u32; block.len()];
    for (i, &b) in block.iter().enumerate() {
        follow[next_of_kind[usize::from(b)]] = i as u32;
        next_of_kind[usize::from(b)] += 1;
    }
    let mut p = follow[orig_ptr] as usize;
    let mut last: Option<u8> = None;
    let mut same = 0;
    for _ in 0..block.len() {
        let b = block[p];
        p = follow[p] as usize;
        if same == 4 {
            // After four equal bytes, a count of more.
            if let Some(l) = last {
                out.resize(out.len() + usize::from(b), l);
            }
            same = 0;
            last = None;
        } else {
            if Some(b) == last {
                same += 1;
            } else {
                same = 1;
                last = Some(b);
            }
            out.push(b);
        }
        if out.len() as u64 > cap {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A standard bzip2 stream turned into NSIS's: the `BZh9` header dropped, each 48-bit block
    /// signature replaced by the byte 0x31 and the block CRC and randomisation bit removed, the
    /// end signature and stream CRC replaced by 0x17. Done on the bit stream, as blocks are not
    /// byte-aligned.
    fn nsis_from_bzip2(standard: &[u8]) -> Vec<u8> {
        let bit = |i: usize| (standard[i / 8] >> (7 - i % 8)) & 1;
        let total = standard.len() * 8;
        let read =
            |pos: usize, n: usize| (0..n).fold(0u64, |v, k| v << 1 | u64::from(bit(pos + k)));
        let mut outbits: Vec<u8> = Vec::new();
        let push = |v: u64, n: usize, o: &mut Vec<u8>| {
            for k in (0..n).rev() {
                o.push(((v >> k) & 1) as u8);
            }
        };
        let mut pos = 32; // "BZh9"
        loop {
            let magic = read(pos, 48);
            if magic == 0x3141_5926_5359 {
                push(0x31, 8, &mut outbits);
                pos += 48 + 32 + 1; // signature, CRC, randomised
                                    // Copy up to the next signature: find it by decoding is too much for a test;
                                    // single-block inputs only.
                let end = (pos..total - 48)
                    .find(|&p| read(p, 48) == 0x1772_4538_5090)
                    .expect("one block, then the end signature");
                for p in pos..end {
                    outbits.push(bit(p));
                }
                pos = end;
            } else {
                assert_eq!(magic, 0x1772_4538_5090);
                push(0x17, 8, &mut outbits);
                break;
            }
        }
        outbits
            .chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |v, (k, &b)| v | b << (7 - k))
            })
            .collect()
    }

    fn bzip2(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_runs_and_all_byte_values() {
        let mut data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        data.extend(std::iter::repeat_n(b'a', 1000));
        data.extend(b"the end".iter());
        data.extend(std::iter::repeat_n(0u8, 7));
        let nsis = nsis_from_bzip2(&bzip2(&data));
        assert_eq!(decode(&nsis, u64::MAX, &|| false).unwrap(), data);
        // The cap stops it early, past the cap.
        let capped = decode(&nsis, 100, &|| false).unwrap();
        assert!(capped.len() > 100 && capped.len() < data.len());
    }

    #[test]
    fn damage_is_an_error_with_what_decoded_before() {
        let nsis = nsis_from_bzip2(&bzip2(b"hello hello hello"));
        // Cut anywhere inside the block: an error, never a panic or a wrong success.
        for cut in 0..nsis.len() - 2 {
            assert!(decode(&nsis[..cut], u64::MAX, &|| false).is_err(), "{cut}");
        }
        assert!(decode(b"\x42garbage", u64::MAX, &|| false).is_err());
        // Any one byte flipped: an error or other bytes, never a panic.
        for i in 0..nsis.len() {
            let mut flipped = nsis.clone();
            flipped[i] ^= 0x5a;
            if let Ok(d) = decode(&flipped, u64::MAX, &|| false) {
                assert!(d.len() <= MAX_BLOCK * 2);
            }
        }
    }
}
