//! Reports as the store keeps them: the `tc_report` list's JSON, zlib-compressed (level 1). A
//! report's JSON shrinks about five times, for about 10 ms per 3 MB written and read. A stored
//! report that begins with `[` is plain JSON (rows written before compression; a zlib stream
//! never begins with that byte).
//!
//! Each thread keeps a compressor: setting one up (its window and hash tables, fresh pages each
//! time) cost more than compressing a small report, a twentieth of the server's CPU under a
//! stream of small uploads.
//!
//! The same compression holds a large task's entries' JSON until its report is written
//! ([`Held`]), each thread keeping an inflater to read them back.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{Cursor, Read};
use std::sync::Arc;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// A report as stored.
pub struct Packed(Vec<u8>);

impl Packed {
    /// The report whose JSON is `json`, compressed.
    pub fn of(json: &[u8]) -> Packed {
        let mut p = Packer::new();
        p.write(json);
        p.finish()
    }

    /// A report as it was read from the store.
    pub fn from_stored(bytes: Vec<u8>) -> Packed {
        Packed(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Its stored size (compressed, but for a plain report stored before compression).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The report's JSON, whole. The error says what is wrong with the stored bytes.
    pub fn unpack(self) -> Result<Vec<u8>, String> {
        if self.is_plain() {
            return Ok(self.0);
        }
        let mut out = Vec::with_capacity(self.0.len() * 5);
        flate2::read::ZlibDecoder::new(&self.0[..])
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// The report's JSON, inflated as it is read (a damaged stream is a read error that says
    /// so).
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        if self.is_plain() {
            Box::new(Cursor::new(self.0))
        } else {
            Box::new(Inflating(flate2::read::ZlibDecoder::new(Cursor::new(
                self.0,
            ))))
        }
    }

    fn is_plain(&self) -> bool {
        self.0.first() == Some(&b'[')
    }
}

/// A stored report being inflated, its errors said to be the stored report's.
struct Inflating(flate2::read::ZlibDecoder<Cursor<Vec<u8>>>);

impl Read for Inflating {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the stored report cannot be read: {e}"),
            )
        })
    }
}

/// JSON kept until it is written into a report, as it is or compressed as the store keeps
/// reports: an entry's JSON from the end of its node's walk until its task's report is written
/// (and in the analysis cache). A 10,000-entry task held 37 MB of it; compressed, about a fifth.
/// Clones share the bytes.
#[derive(Debug, Clone)]
pub enum Held {
    /// As it is.
    Plain(Arc<[u8]>),
    /// Compressed, with its length once inflated.
    Packed(Arc<[u8]>, usize),
}

impl Held {
    /// `json` as it is.
    pub fn plain(json: Vec<u8>) -> Held {
        Held::Plain(json.into())
    }

    /// `json` compressed (by the thread's spare compressor).
    pub fn packed(json: &[u8]) -> Held {
        Held::Packed(Packed::of(json).0.into(), json.len())
    }

    /// The bytes it takes in memory.
    pub fn size(&self) -> usize {
        match self {
            Held::Plain(b) | Held::Packed(b, _) => b.len(),
        }
    }

    /// The JSON's length (once inflated).
    pub fn len(&self) -> usize {
        match self {
            Held::Plain(b) => b.len(),
            Held::Packed(_, len) => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The JSON. Compressed bytes are our own, in memory: the error (what the inflater said)
    /// would come of a defect.
    pub fn json(&self) -> Result<Cow<'_, [u8]>, String> {
        match self {
            Held::Plain(b) => Ok(Cow::Borrowed(b)),
            Held::Packed(b, len) => inflate(b, *len).map(Cow::Owned),
        }
    }
}

/// A zlib stream inflated into exactly `len` bytes, by the thread's spare inflater.
fn inflate(packed: &[u8], len: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(len);
    INFLATER.with_borrow_mut(|spare| {
        let z = spare.get_or_insert_with(|| Decompress::new(true));
        z.reset(true);
        // Inflating writes only into spare capacity: a longer stream stops short of its end.
        let status = z
            .decompress_vec(packed, &mut out, FlushDecompress::Finish)
            .map_err(|e| e.to_string())?;
        if status != Status::StreamEnd || out.len() != len {
            return Err(format!(
                "the stream does not inflate to its {len} bytes ({} and {status:?})",
                out.len()
            ));
        }
        Ok(out)
    })
}

thread_local! {
    /// The compressor this thread keeps between reports.
    static SPARE: RefCell<Option<Compress>> = const { RefCell::new(None) };
    /// The inflater this thread keeps for held JSON ([`Held::json`]).
    static INFLATER: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// JSON compressed as it is written: a report's entries as they are finished, so that its whole
/// JSON (37 MB for a 10,000-entry report) is never held.
pub struct Packer {
    /// Taken from the thread's spare; back there when finished or dropped.
    z: Option<Compress>,
    out: Vec<u8>,
}

impl Packer {
    pub fn new() -> Packer {
        let z = SPARE
            .with_borrow_mut(Option::take)
            .unwrap_or_else(|| Compress::new(Compression::fast(), true));
        Packer {
            z: Some(z),
            out: Vec::with_capacity(256),
        }
    }

    /// Compresses `bytes` after what was written before.
    pub fn write(&mut self, bytes: &[u8]) {
        self.deflate(bytes, FlushCompress::None);
    }

    /// The compressed stream, ended.
    pub fn finish(mut self) -> Packed {
        self.deflate(&[], FlushCompress::Finish);
        // (Room reserved by doubling would stay with the report until it is stored.)
        self.out.shrink_to_fit();
        Packed(std::mem::take(&mut self.out))
    }

    fn deflate(&mut self, input: &[u8], flush: FlushCompress) {
        let Some(z) = self.z.as_mut() else {
            return;
        };
        let start = z.total_in();
        loop {
            // Room for what this call may write; compression writes only into spare capacity.
            if self.out.capacity() - self.out.len() < 1024 {
                self.out.reserve(self.out.capacity().max(4096));
            }
            let read = (z.total_in() - start) as usize;
            let status = z
                .compress_vec(&input[read..], &mut self.out, flush)
                .expect("compressing into memory");
            let consumed = (z.total_in() - start) as usize == input.len();
            let full = self.out.capacity() - self.out.len() < 1024;
            match flush {
                FlushCompress::Finish if status == Status::StreamEnd => return,
                FlushCompress::Finish => {}
                _ if consumed && !full => return,
                _ => {}
            }
        }
    }
}

impl Default for Packer {
    fn default() -> Self {
        Packer::new()
    }
}

impl Drop for Packer {
    fn drop(&mut self) {
        if let Some(mut z) = self.z.take() {
            z.reset();
            SPARE.with_borrow_mut(|spare| *spare = Some(z));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: u32) -> Vec<u8> {
        (0..n)
            .flat_map(|i| <sha1::Sha1 as sha1::Digest>::digest(i.to_le_bytes()))
            .collect()
    }

    #[test]
    fn the_kept_compressor_packs_one_report_after_another_whole() {
        // Incompressible bytes outgrow the room first reserved; an empty report packs too.
        let noise = noise(15_000);
        for report in [&b"[]"[..], &noise, b"", &b"[{}]".repeat(10_000), b"[1]"] {
            assert_eq!(Packed::of(report).unpack().unwrap(), report);
        }
    }

    #[test]
    fn json_packed_piece_by_piece_is_the_json_whole() {
        let noise = noise(5_000);
        let pieces: Vec<&[u8]> = vec![b"[", &noise[..70_000], b"", b",", &noise[70_000..], b"]"];
        let mut p = Packer::new();
        for piece in &pieces {
            p.write(piece);
        }
        // A packer left unfinished gives its compressor back clean.
        let mut dropped = Packer::new();
        dropped.write(b"half a report");
        drop(dropped);
        let whole = pieces.concat();
        assert_eq!(p.finish().unpack().unwrap(), whole);
        let mut read = Vec::new();
        Packed::of(&whole)
            .into_reader()
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, whole);
        // JSON held compressed reads back whole, and a stream that is not its length is refused.
        let entry = br#"{"info":{"file":{"size":1}}}"#.repeat(1_000);
        let held = Held::packed(&entry);
        assert!(held.size() * 20 < entry.len());
        assert_eq!(held.len(), entry.len());
        assert_eq!(held.json().unwrap(), entry);
        assert_eq!(Held::packed(&whole).json().unwrap(), whole);
        assert_eq!(Held::plain(b"{}".to_vec()).json().unwrap(), &b"{}"[..]);
        let Held::Packed(bytes, len) = held else {
            unreachable!()
        };
        assert!(Held::Packed(bytes.clone(), len - 1).json().is_err());
        assert!(Held::Packed(bytes.clone(), len + 1).json().is_err());
        assert!(Held::Packed(bytes[..bytes.len() / 2].into(), len)
            .json()
            .is_err());
        // A plain stored report (from before compression) reads as it is.
        assert_eq!(
            Packed::from_stored(b"[1]".to_vec()).unpack().unwrap(),
            b"[1]"
        );
    }
}
