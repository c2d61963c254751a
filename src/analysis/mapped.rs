//! A read-only memory map of a sample, so the engine sees one `&[u8]` without copying a large
//! upload onto the heap. Spool files belong to the server and are never truncated while mapped
//! (a truncation under a live map would raise SIGBUS).

use std::fs::File;
use std::io;
use std::path::Path;

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};

/// A mapped file, unmapped on drop (memmap2; an empty file needs no mapping).
pub struct Mapped {
    map: Mmap,
}

impl Mapped {
    pub fn open(path: &Path) -> io::Result<Mapped> {
        let file = File::open(path)?;
        // SAFETY: a read-only private mapping of a spool file, which the server owns and never
        // truncates or writes while it is mapped (see the module doc).
        let map = unsafe { MmapOptions::new().map(&file)? };
        if !map.is_empty() {
            // Analysis reads front to back, mostly once; the advice failing is harmless.
            let _ = map.advise(Advice::Sequential);
        }
        Ok(Mapped { map })
    }

    /// Drops the pages of `bytes()[..end]` from this process's resident set; they are read
    /// again from the page cache if touched. Keeps a front-to-back pass over a large file from
    /// growing the resident set by the file's size.
    pub fn release_before(&self, end: usize) {
        const PAGE: usize = 4096;
        let end = end.min(self.map.len()) / PAGE * PAGE;
        if end > 0 {
            // SAFETY: for a read-only private file mapping, MADV_DONTNEED only discards clean
            // copies of file pages, which are read again from the file if touched: the bytes
            // seen through `bytes()` do not change.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, 0, end)
            };
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
