//! A value loaded from the files of a directory, and loaded again when they change: the hash
//! lists and the custom report types. When the value is read, at most every `recheck`, the files'
//! paths, sizes and modification times are compared with those of the last load. Readers take
//! an `Arc` of the current value; the lock is held only to swap it, never while files are read.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Paths, sizes and modification times of the files a value was loaded from.
type Stamp = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// A value of type `T` kept current with the files of a directory.
pub struct Watched<T> {
    dir: Option<PathBuf>,
    recheck: Duration,
    /// The files the value is made of, sorted.
    files: fn(&Path) -> Vec<PathBuf>,
    load: fn(&Path) -> T,
    state: Mutex<State<T>>,
}

struct State<T> {
    checked: Instant,
    stamp: Stamp,
    value: Arc<T>,
}

impl<T> std::fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("dir", &self.dir)
            .field("recheck", &self.recheck)
            .finish_non_exhaustive()
    }
}

impl<T: Default> Watched<T> {
    /// Loads the value of `dir` now (`None`: the default value, never reloaded). `files` lists
    /// the files that make it, `load` reads them.
    pub fn new(
        dir: Option<PathBuf>,
        recheck: Duration,
        files: fn(&Path) -> Vec<PathBuf>,
        load: fn(&Path) -> T,
    ) -> Watched<T> {
        let (stamp, value) = match &dir {
            Some(d) => (stamp(files(d)), load(d)),
            None => (Vec::new(), T::default()),
        };
        Watched {
            dir,
            recheck,
            files,
            load,
            state: Mutex::new(State {
                checked: Instant::now(),
                stamp,
                value: Arc::new(value),
            }),
        }
    }

    /// The current value, loaded again first when the files changed since the last check.
    pub fn current(&self) -> Arc<T> {
        let Some(dir) = &self.dir else {
            return self.lock().value.clone();
        };
        let (known, value) = {
            let mut state = self.lock();
            if state.checked.elapsed() < self.recheck {
                return state.value.clone();
            }
            // Claim this check so other threads keep using the current value meanwhile.
            state.checked = Instant::now();
            (state.stamp.clone(), state.value.clone())
        };
        let now = stamp((self.files)(dir));
        if now == known {
            return value;
        }
        let fresh = Arc::new((self.load)(dir));
        let mut state = self.lock();
        state.stamp = now;
        state.value = fresh.clone();
        fresh
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state is replaced whole, so a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn stamp(files: Vec<PathBuf>) -> Stamp {
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (p, size, modified)
        })
        .collect()
}
