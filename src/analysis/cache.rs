//! The analysis cache: what the walk found under a file, by a key made from the file's content,
//! so that a file seen before (in this upload or an earlier one) is not analysed again. Shared by
//! the analysis threads behind one lock, held only to look up, insert or evict. Bounded by entries
//! and by bytes (the size its owner gives each value); the least recently used go first. Every
//! value is made under an epoch (the rules and hash lists in force): a look-up under another
//! epoch misses, and the first insertion under a new epoch empties the cache.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The cache's bounds; `analysis.cache_max_entries` and `analysis.cache_max_bytes` in the
/// configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// Most values held; 0 turns the cache off.
    pub max_entries: usize,
    /// Most bytes held, as their owner measures them.
    pub max_bytes: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_entries: 50_000,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

impl Bounds {
    /// The largest single value kept: a sixteenth of the bytes, so that one huge tree does not
    /// push out thousands of small ones.
    pub fn max_value_bytes(&self) -> u64 {
        self.max_bytes / 16
    }
}

/// Counters since start, for sysinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub bytes: u64,
    pub evictions: u64,
}

/// A bounded least-recently-used map from `String` keys to shared values of type `V`, valid
/// under an epoch of type `E`.
pub struct Cache<V, E> {
    bounds: Bounds,
    state: Mutex<State<V, E>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct State<V, E> {
    epoch: Option<E>,
    map: HashMap<String, Slot<V>>,
    /// Last use -> key: the oldest first.
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: u64,
    evictions: u64,
}

struct Slot<V> {
    value: Arc<V>,
    used: u64,
    bytes: u64,
}

/// Its bounds and counters: the values may be thousands of report trees.
impl<V, E: PartialEq> std::fmt::Debug for Cache<V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("bounds", &self.bounds)
            .field("counters", &self.counters())
            .finish()
    }
}

impl<V, E: PartialEq> Cache<V, E> {
    pub fn new(bounds: Bounds) -> Self {
        Cache {
            bounds,
            state: Mutex::new(State {
                epoch: None,
                map: HashMap::new(),
                order: BTreeMap::new(),
                tick: 0,
                bytes: 0,
                evictions: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// Whether the cache keeps anything at all.
    pub fn enabled(&self) -> bool {
        self.bounds.max_entries > 0 && self.bounds.max_value_bytes() > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<V, E>> {
        // A panic while the lock was held left a consistent map (no user code runs under it).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value under `key` made under `epoch`, marked as just used; counted as a hit or miss.
    pub fn get(&self, key: &str, epoch: &E) -> Option<Arc<V>> {
        self.get_with(key, epoch, |v| Some(v.clone()))
    }

    /// What `prepare` makes of the value under `key` made under `epoch` (outside the lock);
    /// `None` when there is none or `prepare` finds it unusable. Counted as a hit only when
    /// something came of it.
    pub fn get_with<T>(
        &self,
        key: &str,
        epoch: &E,
        prepare: impl FnOnce(&Arc<V>) -> Option<T>,
    ) -> Option<T> {
        if !self.enabled() {
            return None;
        }
        let found = {
            let mut s = self.lock();
            let State {
                epoch: current,
                map,
                order,
                tick,
                ..
            } = &mut *s;
            match map.get_mut(key) {
                Some(slot) if current.as_ref() == Some(epoch) => {
                    *tick += 1;
                    if let Some(k) = order.remove(&slot.used) {
                        order.insert(*tick, k);
                    }
                    slot.used = *tick;
                    Some(slot.value.clone())
                }
                _ => None,
            }
        };
        let found = found.and_then(|v| prepare(&v));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `value` (of `bytes` bytes) under `key`, made under `epoch`, evicting the least
    /// recently used values as the bounds require. A value over [`Bounds::max_value_bytes`] is
    /// not kept.
    pub fn insert(&self, key: String, value: Arc<V>, bytes: u64, epoch: E) {
        if !self.enabled() || bytes > self.bounds.max_value_bytes() {
            return;
        }
        let mut s = self.lock();
        if s.epoch.as_ref() != Some(&epoch) {
            s.map.clear();
            s.order.clear();
            s.bytes = 0;
            s.epoch = Some(epoch);
        }
        s.tick += 1;
        let used = s.tick;
        if let Some(old) = s.map.insert(key.clone(), Slot { value, used, bytes }) {
            s.order.remove(&old.used);
            s.bytes -= old.bytes;
        }
        s.order.insert(used, key);
        s.bytes += bytes;
        while s.map.len() > self.bounds.max_entries || s.bytes > self.bounds.max_bytes {
            let Some((_, oldest)) = s.order.pop_first() else {
                break;
            };
            if let Some(gone) = s.map.remove(&oldest) {
                s.bytes -= gone.bytes;
                s.evictions += 1;
            }
        }
    }

    pub fn counters(&self) -> Counters {
        let s = self.lock();
        Counters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: s.map.len() as u64,
            bytes: s.bytes,
            evictions: s.evictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_entries: usize, max_bytes: u64) -> Cache<u32, u8> {
        Cache::new(Bounds {
            max_entries,
            max_bytes,
        })
    }

    #[test]
    fn the_least_recently_used_go_first_when_entries_or_bytes_run_over() {
        let c = cache(2, 1600);
        c.insert("a".into(), Arc::new(1), 10, 0);
        c.insert("b".into(), Arc::new(2), 10, 0);
        assert_eq!(c.get("a", &0).as_deref(), Some(&1)); // a is now the newer
        c.insert("c".into(), Arc::new(3), 10, 0);
        assert!(c.get("b", &0).is_none(), "b was the least recently used");
        assert_eq!(c.get("a", &0).as_deref(), Some(&1));
        assert_eq!(c.get("c", &0).as_deref(), Some(&3));

        let c = cache(100, 1600);
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            c.insert(k.into(), Arc::new(i as u32), 100, 0);
        }
        assert!(c.get("a", &0).is_some());
        // 100 more bytes than fit: the oldest by use (b) goes.
        for k in [
            "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
        ] {
            c.insert(k.into(), Arc::new(0), 100, 0);
        }
        let n = c.counters();
        assert!(n.bytes <= 1600, "{n:?}");
        assert!(c.get("b", &0).is_none());
        assert_eq!(n.evictions, 1);
    }

    #[test]
    fn a_value_over_a_sixteenth_of_the_bytes_is_not_kept() {
        let c = cache(100, 1600);
        c.insert("big".into(), Arc::new(1), 101, 0);
        assert!(c.get("big", &0).is_none());
        c.insert("fits".into(), Arc::new(1), 100, 0);
        assert!(c.get("fits", &0).is_some());
    }

    #[test]
    fn another_epoch_misses_and_empties_the_cache_on_its_first_insertion() {
        let c = cache(100, 1600);
        c.insert("a".into(), Arc::new(1), 10, 0);
        assert!(c.get("a", &1).is_none(), "made under other rules");
        c.insert("b".into(), Arc::new(2), 10, 1);
        assert!(c.get("a", &0).is_none(), "emptied by the new epoch");
        assert_eq!(c.get("b", &1).as_deref(), Some(&2));
        let n = c.counters();
        assert_eq!((n.hits, n.misses, n.entries, n.bytes), (1, 2, 1, 10));
    }

    #[test]
    fn no_bounds_keep_nothing_and_count_nothing() {
        let c = cache(0, 1600);
        c.insert("a".into(), Arc::new(1), 10, 0);
        assert!(c.get("a", &0).is_none());
        assert_eq!(c.counters(), Counters::default());
    }
}
