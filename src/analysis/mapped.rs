//! A read-only memory map of a sample, so the engine sees one `&[u8]` without copying a large
//! upload onto the heap. Spool files belong to the server and are never truncated while mapped
//! (a truncation under a live map would raise SIGBUS).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A mapped file, unmapped on drop. Empty files are not mapped (mmap refuses length 0).
pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and private; nothing writes through `ptr`.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Mapped {
    pub fn open(path: &Path) -> io::Result<Mapped> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::other("the file is too large to map"))?;
        if len == 0 {
            return Ok(Mapped {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh read-only private mapping of an open file descriptor; the result is
        // checked against MAP_FAILED before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Analysis reads front to back, mostly once.
        // SAFETY: advice on the mapping just created; failure is harmless.
        unsafe {
            libc::madvise(ptr, len, libc::MADV_SEQUENTIAL);
        }
        Ok(Mapped { ptr, len })
    }

    /// Drops the pages of `bytes()[..end]` from this process's resident set; they are read
    /// again from the page cache if touched. Keeps a front-to-back pass over a large file from
    /// growing the resident set by the file's size.
    pub fn release_before(&self, end: usize) {
        const PAGE: usize = 4096;
        let end = end.min(self.len) / PAGE * PAGE;
        if end > 0 {
            // SAFETY: advice on pages inside our own read-only private mapping; for such a
            // mapping MADV_DONTNEED only discards clean copies of file pages.
            unsafe {
                libc::madvise(self.ptr, end, libc::MADV_DONTNEED);
            }
        }
    }

    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes for the lifetime of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping exactly the mapping made in `open`.
            unsafe {
                libc::munmap(self.ptr, self.len);
            }
        }
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
