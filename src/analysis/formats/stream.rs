//! Single-stream compressors: gzip (RFC 1952, every member of a multi-member file), bzip2, xz,
//! lzma_alone and zstd. Each yields one member, the decompressed stream, named by the gzip header's
//! FNAME when there is one and otherwise left unnamed (the engine derives a name from the parent).

use std::io::Read;

use super::{Members, ReadStop};
use crate::analysis::warning::Problem;

/// Most memory a decoder's dictionary or window may take: a 13-byte header may otherwise ask for
/// gigabytes before producing a byte. `xz -9` needs 64 MiB, `zstd --ultra -22` 128 MiB.
const MAX_WINDOW_BYTES: u64 = 256 * 1024 * 1024;

/// Deflate's largest possible expansion (258 bytes from about 2 bits).
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Longest FNAME field read from a gzip header.
const MAX_GZIP_NAME: usize = 1024;

/// Hands the decoder's output to `out` as one member (spilled to disk when it is large);
/// corrupt or truncated streams keep what decoded, with a warning.
fn one_member<'a>(
    out: &mut Members<'a>,
    format: &str,
    name: String,
    packed: u64,
    reader: &mut dyn Read,
) {
    match out.read_stream(&name, packed, reader) {
        Ok(data) => {
            out.add(name, data);
        }
        Err(ReadStop::Limit) => {}
        Err(ReadStop::Corrupt(e, partial)) => {
            out.warn(
                Problem::Corrupt,
                format!(
                    "the {format} stream is corrupt or truncated after {} bytes: {e}",
                    partial.len()
                ),
            );
            if !partial.is_empty() {
                out.add(name, partial);
            }
        }
    }
}

/// The FNAME field of a gzip header, if set.
fn gzip_name(data: &[u8]) -> Option<String> {
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    let flags = *data.get(3)?;
    if flags & FNAME == 0 {
        return None;
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let xlen = u16::from_le_bytes([*data.get(10)?, *data.get(11)?]) as usize;
        at = 12 + xlen;
    }
    let rest = data.get(at..)?;
    let end = memchr::memchr(0, &rest[..rest.len().min(MAX_GZIP_NAME)])?;
    // FNAME is ISO 8859-1 by the RFC; UTF-8 in practice. Keep whatever is valid.
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

pub fn gunzip<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let name = gzip_name(data).unwrap_or_default();
    // The trailer's ISIZE (size mod 2^32) of a single-member file lets a bomb be refused before
    // inflating anything. Deflate cannot expand more than 1032:1, so a larger ISIZE is not a
    // size but a truncated or doctored trailer, and is ignored. Either way the cap while
    // inflating still holds.
    if let Some(isize) = data.len().checked_sub(4).and_then(|at| data.get(at..)) {
        let isize = u32::from_le_bytes(isize.try_into().unwrap_or([0; 4])) as u64;
        let packed = data.len() as u64;
        if isize <= packed.saturating_mul(MAX_DEFLATE_RATIO) && !out.admit(&name, packed, isize) {
            return;
        }
    }
    let mut reader = flate2::read::MultiGzDecoder::new(data);
    one_member(out, "gzip", name, data.len() as u64, &mut reader);
}

pub fn bunzip2<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let mut reader = bzip2::read::MultiBzDecoder::new(data);
    one_member(out, "bzip2", String::new(), data.len() as u64, &mut reader);
}

fn window_kib(out: &Members) -> u32 {
    (out.room().min(MAX_WINDOW_BYTES) / 1024).max(64 * 1024) as u32
}

pub fn unxz<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let mut reader = lzma_rust2::XzReader::new_mem_limit(data, true, window_kib(out));
    one_member(out, "xz", String::new(), data.len() as u64, &mut reader);
}

pub fn unlzma<'a>(data: &'a [u8], out: &mut Members<'a>) {
    match lzma_rust2::LzmaReader::new_mem_limit(data, window_kib(out), None) {
        Ok(mut reader) => one_member(out, "lzma", String::new(), data.len() as u64, &mut reader),
        Err(e) => out.warn(
            Problem::Corrupt,
            format!("the lzma header is not usable: {e}"),
        ),
    }
}

pub fn unzstd<'a>(data: &'a [u8], out: &mut Members<'a>) {
    // Frames follow each other; the streaming decoder reads one, so `Frames` chains them into
    // the one stream the member is (spilled to disk when it is large).
    let mut frames = Frames {
        rest: data,
        current: None,
        done: 0,
        ended: None,
    };
    let result = out.read_stream("", data.len() as u64, &mut frames);
    let whole = match result {
        Ok(whole) => Some(whole),
        Err(ReadStop::Limit) => return,
        Err(ReadStop::Corrupt(e, partial)) => {
            out.warn(
                Problem::Corrupt,
                format!(
                    "zstd frame {} is corrupt or truncated: {e}",
                    frames.done + 1
                ),
            );
            Some(partial)
        }
    };
    if let Some(why) = frames.ended {
        out.warn(Problem::Corrupt, why);
    }
    if let Some(whole) = whole.filter(|w| !w.is_empty() || frames.done > 0) {
        out.add(String::new(), whole);
    }
}

/// zstd's frames one after the other, read as one stream. A frame's own corruption is a read
/// error; a frame header that cannot be used (or data after the last frame that is not one)
/// ends the stream, and why is kept for a warning.
struct Frames<'d> {
    rest: &'d [u8],
    current: Option<ruzstd::decoding::StreamingDecoder<&'d [u8], ruzstd::decoding::FrameDecoder>>,
    /// Frames decoded to their end.
    done: usize,
    ended: Option<String>,
}

impl Read for Frames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(decoder) = &mut self.current {
                let n = decoder.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                let before = self.rest.len();
                if let Some(decoder) = self.current.take() {
                    self.rest = decoder.into_inner();
                }
                self.done += 1;
                // A frame that consumed nothing would be read again for ever.
                if self.rest.len() == before {
                    return Ok(0);
                }
                // Back to the reader between frames, so that it checks the deadline: a file of
                // millions of empty frames would otherwise be decoded in this one call.
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            if self.rest.is_empty() || self.ended.is_some() {
                return Ok(0);
            }
            let next = ruzstd::decoding::StreamingDecoder::new_with_max_window_size(
                self.rest,
                MAX_WINDOW_BYTES,
            );
            match next {
                Ok(decoder) => self.current = Some(decoder),
                Err(e) => {
                    self.ended = Some(match self.done {
                        0 => format!("the zstd frame header is not usable: {e}"),
                        n => format!("data after zstd frame {n} is not a frame: {e}"),
                    });
                    return Ok(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Budget, Limit};
    use super::*;
    use crate::analysis::warning::Warning;
    use std::io::Write;

    type Outcome = (Vec<(String, Vec<u8>)>, Vec<Warning>, Vec<Limit>);

    fn run(f: for<'a> fn(&'a [u8], &mut Members<'a>), data: &[u8], caps: Budget) -> Outcome {
        let mut out = Members::new(caps);
        f(data, &mut out);
        (
            out.members
                .iter()
                .map(|m| (m.name.clone(), m.data.to_vec()))
                .collect(),
            out.warnings.clone(),
            out.limits.iter().map(|l| l.limit).collect(),
        )
    }

    fn gzip(name: Option<&str>, payload: &[u8]) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new();
        if let Some(n) = name {
            b = b.filename(n);
        }
        let mut w = b.write(Vec::new(), flate2::Compression::default());
        w.write_all(payload).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn gzip_member_carries_its_header_name() {
        let (m, w, _) = run(
            gunzip,
            &gzip(Some("eicar.com"), b"hello"),
            Budget::unlimited(),
        );
        assert_eq!(m, [("eicar.com".to_string(), b"hello".to_vec())]);
        assert!(w.is_empty());
    }

    #[test]
    fn gzip_members_are_concatenated() {
        let mut two = gzip(None, b"ab");
        two.extend(gzip(None, b"cd"));
        let (m, _, _) = run(gunzip, &two, Budget::unlimited());
        assert_eq!(m[0].1, b"abcd");
    }

    #[test]
    fn a_truncated_gzip_is_corrupt_not_a_bomb() {
        // Cut off, the last four bytes are compressed data, read as an absurd ISIZE.
        let gz = gzip(Some("a.txt"), &[b'x'; 100]);
        let (_, w, l) = run(gunzip, &gz[..gz.len() - 6], Budget::unlimited());
        assert!(l.is_empty(), "{l:?}");
        assert!(w[0].text.contains("corrupt or truncated"), "{w:?}");
        assert_eq!(w[0].problem, Problem::Corrupt);
    }

    #[test]
    fn truncated_gzip_keeps_what_decoded() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let gz = gzip(None, &payload);
        let (m, w, _) = run(gunzip, &gz[..gz.len() / 2], Budget::unlimited());
        assert!(w[0].text.contains("corrupt or truncated"), "{w:?}");
        assert_eq!(w[0].problem, Problem::Corrupt);
        assert!(!m[0].1.is_empty() && payload.starts_with(&m[0].1));
    }

    #[test]
    fn gzip_bomb_with_a_lying_trailer_still_stops_at_the_ratio() {
        let mut gz = gzip(None, &vec![0u8; 64 * 1024 * 1024]);
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        let caps = Budget {
            max_ratio: 100,
            ..Budget::unlimited()
        };
        let (m, _, l) = run(gunzip, &gz, caps);
        assert!(m.is_empty());
        assert_eq!(l, [Limit::Ratio]);
    }

    #[test]
    fn gzip_bomb_stops_at_the_ratio() {
        let gz = gzip(None, &vec![0u8; 64 * 1024 * 1024]);
        let caps = Budget {
            max_ratio: 100,
            ..Budget::unlimited()
        };
        let (m, _, l) = run(gunzip, &gz, caps);
        assert!(m.is_empty());
        assert_eq!(l, [Limit::Ratio]);
    }

    #[test]
    fn bzip2_xz_lzma_zstd_round_trip() {
        let payload = b"the quick brown fox jumps over the lazy dog".repeat(100);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&payload).unwrap();
        let (m, _, _) = run(bunzip2, &bz.finish().unwrap(), Budget::unlimited());
        assert_eq!(m[0].1, payload);

        let mut xz =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(6)).unwrap();
        xz.write_all(&payload).unwrap();
        let (m, _, _) = run(unxz, &xz.finish().unwrap(), Budget::unlimited());
        assert_eq!(m[0].1, payload);

        let mut lz = lzma_rust2::LzmaWriter::new_use_header(
            Vec::new(),
            &lzma_rust2::LzmaOptions::with_preset(6),
            Some(payload.len() as u64),
        )
        .unwrap();
        lz.write_all(&payload).unwrap();
        let (m, _, _) = run(unlzma, &lz.finish().unwrap(), Budget::unlimited());
        assert_eq!(m[0].1, payload);

        // A zstd frame of one raw block, written by hand (RFC 8878): magic, frame header
        // descriptor with single-segment and a 1-byte content size, then a last raw block.
        let mut zst = b"\x28\xb5\x2f\xfd".to_vec();
        zst.push(0x20);
        zst.push(5);
        let block_header: u32 = 1 | (5 << 3);
        zst.extend_from_slice(&block_header.to_le_bytes()[..3]);
        zst.extend_from_slice(b"hello");
        let (m, w, _) = run(unzstd, &zst, Budget::unlimited());
        assert_eq!(m[0].1, b"hello", "{w:?}");
    }

    #[test]
    fn zstd_frames_are_joined_and_what_follows_them_is_a_warning() {
        // Two frames of one raw block each, written by hand (RFC 8878), then bytes that are not
        // a frame.
        let frame = |text: &[u8]| {
            let mut f = b"\x28\xb5\x2f\xfd".to_vec();
            f.push(0x20);
            f.push(text.len() as u8);
            let block_header: u32 = 1 | ((text.len() as u32) << 3);
            f.extend_from_slice(&block_header.to_le_bytes()[..3]);
            f.extend_from_slice(text);
            f
        };
        let mut zst = frame(b"hello ");
        zst.extend(frame(b"world"));
        let (m, w, _) = run(unzstd, &zst, Budget::unlimited());
        assert_eq!(m, [(String::new(), b"hello world".to_vec())]);
        assert!(w.is_empty(), "{w:?}");
        zst.extend_from_slice(b"trailing junk");
        let (m, w, _) = run(unzstd, &zst, Budget::unlimited());
        assert_eq!(m[0].1, b"hello world");
        assert!(
            w[0].text
                .starts_with("data after zstd frame 2 is not a frame"),
            "{w:?}"
        );
        // The deadline is looked at between frames: thousands of empty frames stop at it.
        let empty = frame(b"");
        let many: Vec<u8> = empty
            .iter()
            .copied()
            .cycle()
            .take(empty.len() * 10_000)
            .collect();
        let (deadline, looks) = super::super::Deadline::at_look(5);
        let caps = Budget {
            deadline,
            ..Budget::unlimited()
        };
        let (_, _, l) = run(unzstd, &many, caps);
        assert_eq!(l, [Limit::Time]);
        assert!(looks.load(std::sync::atomic::Ordering::SeqCst) < 100);
        // A frame cut short keeps what decoded before it.
        let mut cut = frame(b"hello ");
        cut.extend_from_slice(&frame(b"world")[..10]);
        let (m, w, _) = run(unzstd, &cut, Budget::unlimited());
        assert!(m[0].1.starts_with(b"hello "), "{m:?}");
        assert!(
            w[0].text.contains("zstd frame 2 is corrupt or truncated"),
            "{w:?}"
        );
    }

    #[test]
    fn garbage_is_a_warning_not_a_failure() {
        for f in [gunzip, bunzip2, unxz, unlzma, unzstd] {
            let (_, w, _) = run(f, b"\x1f\x8b\x08garbage", Budget::unlimited());
            assert!(!w.is_empty());
        }
    }
}
