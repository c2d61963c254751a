use std::io::Read;
use std::io::Result as IoResult;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::util::Control;

/// A `Reader` that reads exactly the number of bytes from a sub-reader.
///
/// If the limit is reached, it returns EOF. If the limit is not reached
/// when the destructor is called, the remaining bytes will be read and
/// thrown away.
///
/// assay patch: they are thrown away with a fixed buffer, at most `max_drain` bytes of them;
/// with more left the connection is closed. Upstream allocated the whole remaining length at once
/// (`vec![0; remaining]`): a declared length of 2^60 aborted the process, 2^63 panicked.
pub struct EqualReader<R>
where
    R: Read,
{
    reader: R,
    /// Bytes of the body not read yet, shared with the request (see `Request::body_drained`).
    left: Arc<AtomicUsize>,
    max_drain: usize,
    control: Option<Arc<Control>>,
}

impl<R> EqualReader<R>
where
    R: Read,
{
    pub(crate) fn new(
        reader: R,
        size: usize,
        max_drain: usize,
        control: Option<Arc<Control>>,
    ) -> EqualReader<R> {
        EqualReader {
            reader,
            left: Arc::new(AtomicUsize::new(size)),
            max_drain,
            control,
        }
    }

    /// What is left of the body, as it goes.
    pub(crate) fn left(&self) -> Arc<AtomicUsize> {
        self.left.clone()
    }
}

impl<R> Read for EqualReader<R>
where
    R: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        let size = self.left.load(Ordering::Relaxed);
        if size == 0 {
            return Ok(0);
        }

        let buf = if buf.len() < size {
            buf
        } else {
            &mut buf[..size]
        };

        match self.reader.read(buf) {
            Ok(len) => {
                self.left.store(size - len, Ordering::Relaxed);
                Ok(len)
            }
            err @ Err(_) => err,
        }
    }
}

impl<R> Drop for EqualReader<R>
where
    R: Read,
{
    fn drop(&mut self) {
        let mut remaining = self.left.load(Ordering::Relaxed);
        if remaining == 0 || self.control.as_ref().is_some_and(|c| c.is_closing()) {
            return;
        }
        let mut budget = self.max_drain;
        let mut buf = [0u8; 8192];
        while remaining > 0 {
            let want = remaining.min(budget).min(buf.len());
            if want == 0 {
                break;
            }
            match self.reader.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    remaining -= n;
                    budget -= n;
                }
            }
        }
        self.left.store(remaining, Ordering::Relaxed);
        if remaining > 0 {
            // The rest of the body is still on its way: the next request cannot be found.
            if let Some(control) = &self.control {
                control.close();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EqualReader;
    use std::io::Read;

    #[test]
    fn test_limit() {
        use std::io::Cursor;

        let mut org_reader = Cursor::new("hello world".to_string().into_bytes());

        {
            let mut equal_reader = EqualReader::new(org_reader.by_ref(), 5, 64, None);

            let mut string = String::new();
            equal_reader.read_to_string(&mut string).unwrap();
            assert_eq!(string, "hello");
        }

        let mut string = String::new();
        org_reader.read_to_string(&mut string).unwrap();
        assert_eq!(string, " world");
    }

    #[test]
    fn test_not_enough() {
        use std::io::Cursor;

        let mut org_reader = Cursor::new("hello world".to_string().into_bytes());

        {
            let mut equal_reader = EqualReader::new(org_reader.by_ref(), 5, 64, None);

            let mut vec = [0];
            equal_reader.read_exact(&mut vec).unwrap();
            assert_eq!(vec[0], b'h');
        }

        let mut string = String::new();
        org_reader.read_to_string(&mut string).unwrap();
        assert_eq!(string, " world");
    }

    #[test]
    fn a_huge_unread_body_is_drained_up_to_the_cap_without_allocating_it() {
        // A body declared at 2^60 (upstream: vec![0; 2^60] in drop, and the process aborted)
        // and at usize::MAX (upstream: capacity overflow, a panic).
        for declared in [1usize << 60, usize::MAX] {
            let mut source = std::io::repeat(b'x').take(1 << 20);
            {
                let mut r = EqualReader::new(source.by_ref(), declared, 100_000, None);
                let mut first = [0u8; 10];
                r.read_exact(&mut first).unwrap();
            }
            // 10 read, then at most the cap thrown away: the rest stays unread.
            assert_eq!(source.limit(), (1 << 20) - 10 - 100_000);
        }
    }

    #[test]
    fn a_small_unread_body_is_drained_whole() {
        let mut source = std::io::Cursor::new(vec![7u8; 5000]);
        {
            let _r = EqualReader::new(source.by_ref(), 4000, 64 * 1024, None);
        }
        assert_eq!(
            source.position(),
            4000,
            "the next request starts right after the body"
        );
    }
}
