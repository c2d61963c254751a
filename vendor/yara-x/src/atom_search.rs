//! assay patch: the search for atoms without walking an automaton.
//!
//! YARA-X's atoms are a few bytes (four for most patterns, more for some,
//! such as regular expressions made `wide`). The published crate finds them
//! with a double-array Aho-Corasick automaton (`daachorse`): one step per
//! byte, each step a load that depends on the one before, into a structure
//! of some MB for a large rule set, so the search waits on the cache at
//! every byte. Here each position is looked up on its own instead: the
//! four bytes ending at a position (and the three, two and one) are tested
//! against bitmaps of the atoms' last bytes, and only where a bit is set is
//! a table consulted; an atom of five to eight bytes is then looked up by
//! all its bytes, and a longer one by its last eight and the bytes before
//! them compared. The lookups of one position do not wait on the last
//! position's, so the processor overlaps them.
//!
//! The matches are reported in the order `daachorse`'s overlapping search
//! reports them: by the position where they end, and at one position the
//! longer atom first and atoms with the same bytes in the order they were
//! added. So the scanner sees the same sequence of atom matches as before.
//!
//! The scanner also gives each atom taken from a literal (plain or masked)
//! a [`Hint`]: up to eight bytes of that literal next to the atom. An atom
//! match whose data around it differs there is not reported to the scanner,
//! whose verification of the literal would have failed: an atom of two or
//! three bytes (`48 8D` of `{ 48 8D [6] 48 8B ?? 48 81 [5] 72 }`) matches
//! every few hundred bytes of machine code, and each report reads the atom,
//! its sub-pattern and the literal from tables of some MB.

use std::ops::ControlFlow;

use rustc_hash::FxHashMap;

/// Bits of the hash that indexes the bitmap of atoms of four bytes or more.
const BITS4: u32 = 21;
/// Bits of the hash that indexes the bitmap of atoms of three bytes.
const BITS3: u32 = 18;
/// Atoms are looked up by their last bytes, up to this many.
const MAX_KEY: usize = 8;
/// The most atoms longer than [`MAX_KEY`] bytes that may share their last
/// [`MAX_KEY`]: each occurrence of those bytes compares the bytes before
/// them of every such atom (where the automaton takes one step), so more of
/// them leave the search to the automaton.
const MAX_LONG_IN_GROUP: usize = 16;

#[derive(Clone, Copy)]
struct Candidate {
    idx: u32,
    len: u32,
    /// Where in `heads` the bytes before the last [`MAX_KEY`] lie, for an
    /// atom longer than that.
    head: u32,
    /// The atom's [`Hint`] (none: a zero mask), its fields here so that a
    /// candidate takes 32 bytes, not 40.
    hint_off: i32,
    hint_mask: u64,
    hint_val: u64,
}

/// A test an atom's match must pass before it is reported to the scanner:
/// the eight bytes at `off` from the start of the match, ANDed with `mask`,
/// equal `val`. Made from the literal the atom was taken from, where the
/// scanner's verification compares the same bytes, so a match it stops
/// would not have been verified. A mask of zero tests nothing.
#[derive(Clone, Copy, Default)]
pub(crate) struct Hint {
    off: i32,
    mask: u64,
    val: u64,
}

impl Hint {
    /// The hint for an atom of `atom_len` bytes found `backtrack` bytes
    /// into `pattern` (the bytes a match must hold, where `mask` is set;
    /// every bit counts when `mask` is `None`): the eight bytes after the
    /// atom or the eight before it, whichever holds more bits the mask
    /// keeps. `None` when neither holds any.
    pub(crate) fn new(
        pattern: &[u8],
        mask: Option<&[u8]>,
        backtrack: usize,
        atom_len: usize,
    ) -> Option<Hint> {
        let atom_end = backtrack.checked_add(atom_len)?;
        if atom_end > pattern.len()
            || mask.is_some_and(|m| m.len() != pattern.len())
        {
            return None;
        }
        let mask_at = |i: usize| mask.map_or(0xFF, |m| m[i]);
        // The bits the pattern fixes between `from` and `to`.
        let fixed = |from: usize, to: usize| {
            (from..to).map(|i| mask_at(i).count_ones()).sum::<u32>()
        };
        let after = (atom_end, pattern.len().min(atom_end + 8));
        let before = (backtrack.saturating_sub(8), backtrack);
        let (bits_after, bits_before) =
            (fixed(after.0, after.1), fixed(before.0, before.1));
        let ((from, to), bits) = if bits_after >= bits_before {
            (after, bits_after)
        } else {
            (before, bits_before)
        };
        if bits == 0 {
            return None;
        }
        // The eight bytes loaded: from `from`, or ending at the atom when
        // they lie before it (then the bytes before `from` are masked out).
        let load = if from < backtrack {
            backtrack as i64 - 8
        } else {
            from as i64
        };
        let (mut m, mut v) = (0u64, 0u64);
        for i in from..to {
            let shift = 8 * (i as i64 - load) as u32;
            m |= u64::from(mask_at(i)) << shift;
            v |= u64::from(pattern[i] & mask_at(i)) << shift;
        }
        Some(Hint {
            off: i32::try_from(load - backtrack as i64).ok()?,
            mask: m,
            val: v,
        })
    }
}

impl Candidate {
    /// Whether a match of this atom starting at `start` in `data` may be
    /// its literal's: false only when the hint's bytes are in `data` and
    /// differ.
    #[inline(always)]
    fn hint_holds(&self, data: &[u8], start: usize) -> bool {
        if self.hint_mask == 0 {
            return true;
        }
        let at = start as i64 + i64::from(self.hint_off);
        if at < 0 {
            return true;
        }
        match data.get(at as usize..at as usize + 8) {
            Some(bytes) => {
                u64::from_le_bytes(bytes.try_into().unwrap()) & self.hint_mask
                    == self.hint_val
            }
            None => true,
        }
    }
}

/// The atoms of one length class ending with one key: a range of `ids`.
#[derive(Clone, Copy, Default)]
struct Group {
    from: u32,
    to: u32,
    /// In the class of four bytes: bit `c - 5` set when atoms of class `c`
    /// (5 to [`MAX_KEY`] bytes) end with these four bytes.
    longer: u8,
}

pub(crate) struct AtomSearcher {
    /// Bit `hash4(k)` set when an atom of four bytes or more ends with the
    /// four bytes `k` (little-endian).
    filter4: Box<[u64; 1 << (BITS4 - 6)]>,
    /// Bit `hash3(k)` set when an atom of three bytes is `k`.
    filter3: Box<[u64; 1 << (BITS3 - 6)]>,
    /// Bit `k` set when an atom of two bytes is `k`.
    filter2: Box<[u64; 1 << 10]>,
    /// Bit `k` set when an atom of one byte is `k`.
    filter1: [u64; 4],
    /// For each length class `c` (atoms of `c` bytes, the last class
    /// holding those of [`MAX_KEY`] or more) and key (the last `c` bytes,
    /// little-endian): the group of atoms. An atom of more than four bytes
    /// is reached through the group of its last four (`Group::longer`).
    tables: [FxHashMap<u64, Group>; MAX_KEY],
    /// The groups' atoms, each group longest first and then in index order.
    ids: Vec<Candidate>,
    heads: Vec<u8>,
}

#[inline(always)]
fn hash4(k: u32) -> usize {
    (k.wrapping_mul(0x9E37_79B1) >> (32 - BITS4)) as usize
}

#[inline(always)]
fn hash3(k: u32) -> usize {
    (k.wrapping_mul(0x85EB_CA77) >> (32 - BITS3)) as usize
}

#[inline(always)]
fn test<const N: usize>(filter: &[u64; N], bit: usize) -> bool {
    filter[bit >> 6] & (1 << (bit & 63)) != 0
}

#[inline(always)]
fn set(filter: &mut [u64], bit: usize) {
    filter[bit >> 6] |= 1 << (bit & 63);
}

/// The key of the last `n` (at most [`MAX_KEY`]) bytes of `bytes`,
/// little-endian.
fn key_of(bytes: &[u8], n: usize) -> u64 {
    bytes[bytes.len() - n..]
        .iter()
        .rev()
        .fold(0, |k, b| (k << 8) | u64::from(*b))
}

impl AtomSearcher {
    /// A searcher for `atoms`, where an atom's index in the iterator is the
    /// value reported for it. `None` (the automaton is used then) when an
    /// atom is empty, when more than [`MAX_LONG_IN_GROUP`] atoms longer
    /// than [`MAX_KEY`] bytes end with the same [`MAX_KEY`], or when there
    /// are too many atoms or bytes to count in `u32`.
    pub(crate) fn new<'a, I>(atoms: I) -> Option<Self>
    where
        I: Iterator<Item = &'a [u8]>,
    {
        // (length class, key, candidate) for every atom, sorted so that each
        // group is a run: longest first, then in the order the atoms were
        // added (the order of the automaton's output links).
        let mut all = Vec::new();
        let mut heads = Vec::new();
        for (i, atom) in atoms.enumerate() {
            if atom.is_empty() {
                return None;
            }
            let class = atom.len().min(MAX_KEY);
            let head = u32::try_from(heads.len()).ok()?;
            if atom.len() > MAX_KEY {
                heads.extend_from_slice(&atom[..atom.len() - MAX_KEY]);
            }
            let candidate = Candidate {
                idx: u32::try_from(i).ok()?,
                len: u32::try_from(atom.len()).ok()?,
                head,
                hint_off: 0,
                hint_mask: 0,
                hint_val: 0,
            };
            all.push((class, key_of(atom, class), candidate));
        }
        all.sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then(b.2.len.cmp(&a.2.len))
                .then(a.2.idx.cmp(&b.2.idx))
        });
        let mut searcher = Self {
            filter4: vec![0; 1 << (BITS4 - 6)].try_into().unwrap(),
            filter3: vec![0; 1 << (BITS3 - 6)].try_into().unwrap(),
            filter2: vec![0; 1 << 10].try_into().unwrap(),
            filter1: [0; 4],
            tables: Default::default(),
            ids: Vec::with_capacity(all.len()),
            heads,
        };
        for group in all.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (class, key, _) = group[0];
            let long =
                group.iter().filter(|(_, _, c)| c.len as usize > MAX_KEY);
            if long.count() > MAX_LONG_IN_GROUP {
                return None;
            }
            let from = u32::try_from(searcher.ids.len()).ok()?;
            searcher.ids.extend(group.iter().map(|(_, _, c)| *c));
            let to = u32::try_from(searcher.ids.len()).ok()?;
            let entry = searcher.tables[class - 1].entry(key).or_default();
            (entry.from, entry.to) = (from, to);
            // The last four bytes (the last byte highest), or all of them.
            let key4 = (key >> (8 * class.saturating_sub(4))) as u32;
            match class {
                1 => set(&mut searcher.filter1, key as usize),
                2 => set(&mut searcher.filter2[..], key as usize),
                3 => set(&mut searcher.filter3[..], hash3(key4)),
                _ => set(&mut searcher.filter4[..], hash4(key4)),
            }
            if class > 4 {
                // Reached through the group of its last four bytes, made
                // here (empty) when no atom of four bytes ends with them.
                let group4 =
                    searcher.tables[3].entry(u64::from(key4)).or_default();
                group4.longer |= 1 << (class - 5);
            }
        }
        Some(searcher)
    }

    /// Gives each atom the hint `hint(atom index)`.
    pub(crate) fn set_hints(&mut self, hint: impl Fn(usize) -> Option<Hint>) {
        for c in &mut self.ids {
            let h = hint(c.idx as usize).unwrap_or_default();
            (c.hint_off, c.hint_mask, c.hint_val) = (h.off, h.mask, h.val);
        }
    }

    /// Calls `f(atom index, start)` for every atom occurring in `data`, in
    /// the automaton's order (see the module's comment), until `f` breaks;
    /// with `hinted`, not for a match whose atom's hint does not hold.
    pub(crate) fn find_overlapping<B>(
        &self,
        data: &[u8],
        hinted: bool,
        mut f: impl FnMut(usize, usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        // The first three positions, where fewer than four bytes end: the
        // window holds the bytes there are in its high bytes.
        for end in 0..data.len().min(3) {
            let mut w = 0u32;
            for b in &data[..=end] {
                w = (w >> 8) | (u32::from(*b) << 24);
            }
            self.at(data, end, w, end + 1, hinted, &mut f)?;
        }
        // The rest, where a whole window ends. (Testing blocks of 64
        // positions without branching first, then the positions found, was
        // no faster: a bit is set at about 5 % of the positions of an
        // executable with a large rule set, and the lookups behind it cost
        // more than the branch.)
        for (i, window) in data.windows(4).enumerate() {
            let w = u32::from_le_bytes(window.try_into().unwrap());
            self.at(data, i + 3, w, 4, hinted, &mut f)?;
        }
        ControlFlow::Continue(())
    }

    /// The atoms ending at `end`, where `w` holds the `avail` (at most 4)
    /// bytes ending there in its high bytes, the last byte highest.
    #[inline(always)]
    fn at<B>(
        &self,
        data: &[u8],
        end: usize,
        w: u32,
        avail: usize,
        hinted: bool,
        f: &mut impl FnMut(usize, usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        if avail == 4 && test(&self.filter4, hash4(w)) {
            self.report(4, u64::from(w), data, end, hinted, f)?;
        }
        let k3 = w >> 8;
        if avail >= 3 && test(&self.filter3, hash3(k3)) {
            self.report(3, u64::from(k3), data, end, hinted, f)?;
        }
        let k2 = w >> 16;
        if avail >= 2 && test(&self.filter2, k2 as usize) {
            self.report(2, u64::from(k2), data, end, hinted, f)?;
        }
        let k1 = w >> 24;
        if test(&self.filter1, k1 as usize) {
            self.report(1, u64::from(k1), data, end, hinted, f)?;
        }
        ControlFlow::Continue(())
    }

    /// Reports the atoms of length class `class` (1 to 4) whose last bytes
    /// are `key` and that end at `end`, after those longer than four bytes
    /// that end with them when `class` is 4.
    #[inline(never)]
    fn report<B>(
        &self,
        class: usize,
        key: u64,
        data: &[u8],
        end: usize,
        hinted: bool,
        f: &mut impl FnMut(usize, usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let Some(group) = self.tables[class - 1].get(&key) else {
            return ControlFlow::Continue(());
        };
        if group.longer != 0 {
            for long in (5..=MAX_KEY).rev() {
                if group.longer & (1 << (long - 5)) == 0 || end + 1 < long {
                    continue;
                }
                let key = key_of(&data[..=end], long);
                if let Some(group) = self.tables[long - 1].get(&key) {
                    self.report_group(group, data, end, hinted, f)?;
                }
            }
        }
        self.report_group(group, data, end, hinted, f)
    }

    #[inline(always)]
    fn report_group<B>(
        &self,
        group: &Group,
        data: &[u8],
        end: usize,
        hinted: bool,
        f: &mut impl FnMut(usize, usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        for c in &self.ids[group.from as usize..group.to as usize] {
            let len = c.len as usize;
            let Some(start) = (end + 1).checked_sub(len) else {
                continue;
            };
            if len > MAX_KEY {
                // The bytes before the last `MAX_KEY`.
                let head = c.head as usize;
                if data[start..end + 1 - MAX_KEY]
                    != self.heads[head..head + len - MAX_KEY]
                {
                    continue;
                }
            }
            if hinted && !c.hint_holds(data, start) {
                continue;
            }
            f(c.idx as usize, start)?;
        }
        ControlFlow::Continue(())
    }
}

/// The matches of `automaton` in `data` as (atom index, start), in the
/// order of its overlapping search. For tests. (assay patch.)
pub(crate) fn automaton_matches(
    automaton: &daachorse::DoubleArrayAhoCorasick<u32>,
    data: &[u8],
) -> Vec<(usize, usize)> {
    automaton
        .find_overlapping_iter(data)
        .map(|m| (m.value() as usize, m.start()))
        .collect()
}

impl AtomSearcher {
    /// The matches in `data` as (atom index, start), in the order
    /// `find_overlapping` reports them, without the hints. For tests.
    /// (assay patch.)
    pub(crate) fn matches(&self, data: &[u8]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        let _ = self.find_overlapping::<()>(data, false, |idx, start| {
            found.push((idx, start));
            ControlFlow::Continue(())
        });
        found
    }
}

/// The matches of `atoms` in `data` as (atom index, start), from a
/// `daachorse` automaton built as the compiler builds it and from an
/// [`AtomSearcher`] (`None` when it declines the atoms). For differential
/// tests with arbitrary atoms. (assay patch.)
#[doc(hidden)]
pub fn compare_with_automaton(
    atoms: &[&[u8]],
    data: &[u8],
) -> (Vec<(usize, usize)>, Option<Vec<(usize, usize)>>) {
    let automaton =
        daachorse::DoubleArrayAhoCorasick::<u32>::new(atoms.iter().copied())
            .expect("failed to build Aho-Corasick automaton");
    let found = AtomSearcher::new(atoms.iter().copied())
        .map(|searcher| searcher.matches(data));
    (automaton_matches(&automaton, data), found)
}
