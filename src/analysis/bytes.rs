//! Checked reads shared by the binary format readers: little-endian integers at an offset (and
//! the one write the unpackers need), C strings, GUIDs. `None` when the value runs past the data
//! (or the offset overflows), never a panic.

/// The `u16` at `at`.
pub(crate) fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// The `u32` at `at`.
pub(crate) fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The `u64` at `at`.
pub(crate) fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Writes `v` little-endian at `at`; `None` (and nothing written) when it does not fit.
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) -> Option<()> {
    b.get_mut(at..at.checked_add(4)?)?
        .copy_from_slice(&v.to_le_bytes());
    Some(())
}

/// The NUL-terminated string at the start of `b`, at most `max` bytes before the NUL, decoded
/// as UTF-8 (invalid bytes replaced); `None` when no NUL ends it in time.
pub(crate) fn cstr(b: &[u8], max: usize) -> Option<String> {
    let b = &b[..b.len().min(max.saturating_add(1))];
    let end = b.iter().position(|&c| c == 0)?;
    Some(String::from_utf8_lossy(&b[..end]).into_owned())
}

/// A forward-only reader of little-endian fields: each read moves past what it read, or returns
/// `None` (moving nowhere) when the data ends first.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { data, pos: 0 }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub fn u16(&mut self) -> Option<u16> {
        let v = le16(self.data, self.pos)?;
        self.pos += 2;
        Some(v)
    }

    pub fn u32(&mut self) -> Option<u32> {
        let v = le32(self.data, self.pos)?;
        self.pos += 4;
        Some(v)
    }

    /// Up to `n` bytes: fewer when the data ends first.
    pub fn take_upto(&mut self, n: usize) -> &'a [u8] {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let s = &rest[..n.min(rest.len())];
        self.pos += s.len();
        s
    }

    /// The bytes up to a NUL (the NUL consumed; the rest of the data when there is none).
    pub fn cstr(&mut self) -> &'a [u8] {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        self.pos += (len + 1).min(rest.len());
        &rest[..len]
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

/// A GUID in its usual text form (its first three fields are little-endian), from the first 16
/// bytes of `g`.
pub(crate) fn guid_string(g: &[u8]) -> Option<String> {
    use crate::analysis::hashes::hex;
    let g: &[u8; 16] = g.get(..16)?.try_into().ok()?;
    Some(format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        hex(&g[8..10]),
        hex(&g[10..16])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end_and_at_overflow() {
        let b = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(le16(&b, 0), Some(0x0201));
        assert_eq!(le32(&b, 4), Some(0x0807_0605));
        assert_eq!(le64(&b, 0), Some(0x0807_0605_0403_0201));
        assert_eq!(le32(&b, 5), None);
        assert_eq!(le16(&b, usize::MAX), None);
        let mut w = b;
        assert_eq!(put32(&mut w, 4, 0x0d0c_0b0a), Some(()));
        assert_eq!(w, [1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
        assert_eq!(put32(&mut w, 5, 0), None);
        assert_eq!(w[5..], [0x0b, 0x0c, 0x0d]);
        let g: Vec<u8> = (0..16).collect();
        assert_eq!(
            guid_string(&g).as_deref(),
            Some("03020100-0504-0706-0809-0a0b0c0d0e0f")
        );
        assert_eq!(guid_string(&g[..15]), None);
    }
}
