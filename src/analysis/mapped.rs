//! A read-only memory map of a sample, so the engine sees one `&[u8]` without copying a large
//! upload onto the heap, and of large decoded streams spilled to disk ([`Spill`]). Spool files
//! belong to the server and are never truncated while mapped (a truncation under a live map
//! would raise SIGBUS); spilled files are unlinked from the start and written before they are
//! mapped.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};

/// A mapped file, unmapped on drop (memmap2; an empty file needs no mapping).
pub struct Mapped {
    map: Mmap,
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapped({} bytes)", self.map.len())
    }
}

impl Mapped {
    pub fn open(path: &Path) -> io::Result<Mapped> {
        // SAFETY: a read-only mapping of a spool file, which the server owns and never
        // truncates or writes while it is mapped (see the module doc).
        unsafe { Mapped::of(&File::open(path)?) }
    }

    /// # Safety
    /// Nobody may truncate or write `file` while the mapping lives.
    unsafe fn of(file: &File) -> io::Result<Mapped> {
        let map = MmapOptions::new().map(file)?;
        if !map.is_empty() {
            // Analysis reads front to back, mostly once; the advice failing is harmless.
            let _ = map.advise(Advice::Sequential);
        }
        Ok(Mapped { map })
    }

    /// Whether `part` lies in this mapping.
    pub fn contains(&self, part: &[u8]) -> bool {
        let base = self.map.as_ptr() as usize;
        let start = part.as_ptr() as usize;
        start >= base && start + part.len() <= base + self.map.len()
    }

    /// Drops from this process's resident set the pages of `part[..end]`, where `part` lies in
    /// this mapping (nothing otherwise); they are read again from the page cache if touched.
    /// Keeps a pass over a large file from growing the resident set by the file's size.
    pub fn release_within(&self, part: &[u8], end: usize) {
        if self.contains(part) {
            let start = part.as_ptr() as usize - self.map.as_ptr() as usize;
            self.release(start..start + end.min(part.len()));
        }
    }

    /// Drops the whole pages inside `range` from the resident set.
    fn release(&self, range: std::ops::Range<usize>) {
        const PAGE: usize = 4096;
        let start = range.start.div_ceil(PAGE) * PAGE;
        let end = range.end.min(self.map.len()) / PAGE * PAGE;
        if end > start {
            // SAFETY: on a shared file mapping, MADV_DONTNEED only drops this process's page
            // table entries; the pages stay in the page cache (a spill file's written pages
            // with their dirty state) and are mapped again when touched, also by another thread
            // reading meanwhile: the bytes seen through `bytes()` do not change.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// A temporary file for a large decoded stream: unlinked as soon as it is created (a crash
/// leaves nothing behind), written front to back, then mapped ([`Spill::finish`]).
pub struct Spill {
    file: File,
    len: u64,
}

impl Spill {
    /// A new spill file in `dir`.
    pub fn create(dir: &Path) -> io::Result<Spill> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("spill-{}-{n}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Spill { file, len: 0 })
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The written bytes, mapped; read back into memory where they cannot be mapped.
    pub fn finish(mut self) -> io::Result<Kept> {
        // SAFETY: the file has no name, so nobody else can open it, and it is not written once
        // this consumes the only handle that writes it.
        match unsafe { Mapped::of(&self.file) } {
            Ok(map) => Ok(Kept::Mapped(map)),
            Err(_) => self.read_back().map(Kept::Owned),
        }
    }

    /// The bytes written before the first failed write, read back; what that write left of
    /// itself is cut off, so that writing may go on after them.
    pub fn read_back(&mut self) -> io::Result<Vec<u8>> {
        self.file.set_len(self.len)?;
        self.file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        (&self.file).take(self.len).read_to_end(&mut bytes)?;
        if bytes.len() as u64 != self.len {
            return Err(io::Error::other("the spill file lost bytes"));
        }
        Ok(bytes)
    }
}

/// A spill's bytes: mapped, or in memory where the mapping failed.
pub enum Kept {
    Mapped(Mapped),
    Owned(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spill_file_has_no_name_and_gives_back_what_was_written() {
        let dir = std::env::temp_dir().join(format!("assay-spill-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut spill = Spill::create(&dir).unwrap();
        spill.write(b"first ").unwrap();
        spill.write(b"second").unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        assert_eq!(spill.read_back().unwrap(), b"first second");
        // Read back, it can still be written on and mapped whole.
        spill.write(b" third").unwrap();
        let Ok(Kept::Mapped(map)) = spill.finish() else {
            panic!("not mapped");
        };
        assert_eq!(map.bytes(), b"first second third");
        assert!(map.contains(&map.bytes()[6..12]) && !map.contains(b"elsewhere"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn maps_files_and_empty_files() {
        let dir = std::env::temp_dir();
        let p = dir.join(format!("assay-map-{}", std::process::id()));
        std::fs::write(&p, b"mapped bytes").unwrap();
        assert_eq!(Mapped::open(&p).unwrap().bytes(), b"mapped bytes");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(Mapped::open(&p).unwrap().bytes(), b"");
        std::fs::remove_file(&p).unwrap();
        assert!(Mapped::open(&p).is_err());
    }
}
