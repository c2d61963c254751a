//! assay patch: the search for atoms without walking an automaton.
//!
//! YARA-X's atoms are a few bytes (four for most patterns, more for some,
//! such as regular expressions made `wide`). The published crate finds them with a double-array
//! Aho-Corasick automaton (`daachorse`): one step per byte, each step a
//! load that depends on the one before, into a structure of some MB for a
//! large rule set, so the search waits on the cache at every byte. Here
//! each position is looked up on its own instead: the four bytes ending at
//! a position (and the three, two and one) are tested against bitmaps of
//! the atoms' last bytes, and only where a bit is set is a table consulted
//! and the atom's earlier bytes compared. The lookups of one position do not
//! wait on the last position's, so the processor overlaps them.
//!
//! The matches are reported in the order `daachorse`'s overlapping search
//! reports them: by the position where they end, and at one position the
//! longer atom first and atoms with the same bytes in the order they were
//! added. So the scanner sees the same sequence of atom matches as before.

use std::ops::ControlFlow;

use rustc_hash::FxHashMap;

/// Bits of the hash that indexes the bitmap of atoms of four bytes or more.
const BITS4: u32 = 21;
/// Bits of the hash that indexes the bitmap of atoms of three bytes.
const BITS3: u32 = 18;

#[derive(Clone, Copy)]
struct Candidate {
    idx: u32,
    len: u32,
    head: u32,
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
    /// For each length class (1, 2, 3, and 4 or more bytes) and key: the
    /// range of `ids` with the atoms of that class ending with those bytes.
    tables: [FxHashMap<u32, (u32, u32)>; 4],
    /// Atom indexes and lengths, grouped by class and key, each group
    /// longest first and then in index order, with where in `heads` the
    /// bytes of an atom longer than four before its last four lie.
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

/// The key of the last `n` (at most 4) bytes of `bytes`, little-endian.
fn key_of(bytes: &[u8], n: usize) -> u32 {
    bytes[bytes.len() - n..]
        .iter()
        .rev()
        .fold(0, |k, b| (k << 8) | u32::from(*b))
}

impl AtomSearcher {
    /// A searcher for `atoms`, where an atom's index in the iterator is the
    /// value reported for it. `None` when an atom is empty (the automaton
    /// is used then).
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
            let class = atom.len().min(4);
            let head = heads.len() as u32;
            if atom.len() > 4 {
                heads.extend_from_slice(&atom[..atom.len() - 4]);
            }
            let candidate =
                Candidate { idx: i as u32, len: atom.len() as u32, head };
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
            let start = searcher.ids.len() as u32;
            searcher.ids.extend(group.iter().map(|(_, _, c)| *c));
            searcher.tables[class - 1]
                .insert(key, (start, searcher.ids.len() as u32));
            match class {
                1 => set(&mut searcher.filter1, key as usize),
                2 => set(&mut searcher.filter2[..], key as usize),
                3 => set(&mut searcher.filter3[..], hash3(key)),
                _ => set(&mut searcher.filter4[..], hash4(key)),
            }
        }
        Some(searcher)
    }

    /// Calls `f(atom index, start)` for every atom occurring in `data`, in
    /// the automaton's order (see the module's comment), until `f` breaks.
    pub(crate) fn find_overlapping<B>(
        &self,
        data: &[u8],
        mut f: impl FnMut(usize, usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        // The first three positions, where fewer than four bytes end: the
        // window holds the bytes there are in its high bytes.
        for end in 0..data.len().min(3) {
            let mut w = 0u32;
            for b in &data[..=end] {
                w = (w >> 8) | (u32::from(*b) << 24);
            }
            self.at(data, end, w, end + 1, &mut f)?;
        }
        // The rest, where a whole window ends. (Testing blocks of 64
        // positions without branching first, then the positions found, was
        // no faster: a bit is set at about 5 % of the positions of an
        // executable with a large rule set, and the lookups behind it cost
        // more than the branch.)
        for (i, window) in data.windows(4).enumerate() {
            let w = u32::from_le_bytes(window.try_into().unwrap());
            self.at(data, i + 3, w, 4, &mut f)?;
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
        f: &mut impl FnMut(usize, usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        if avail == 4 && test(&self.filter4, hash4(w)) {
            self.report(3, w, data, end, f)?;
        }
        let k3 = w >> 8;
        if avail >= 3 && test(&self.filter3, hash3(k3)) {
            self.report(2, k3, data, end, f)?;
        }
        let k2 = w >> 16;
        if avail >= 2 && test(&self.filter2, k2 as usize) {
            self.report(1, k2, data, end, f)?;
        }
        let k1 = w >> 24;
        if test(&self.filter1, k1 as usize) {
            self.report(0, k1, data, end, f)?;
        }
        ControlFlow::Continue(())
    }

    /// Reports the atoms of length class `class + 1` whose last bytes are
    /// `key` and that end at `end`.
    #[inline(never)]
    fn report<B>(
        &self,
        class: usize,
        key: u32,
        data: &[u8],
        end: usize,
        f: &mut impl FnMut(usize, usize) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let Some(&(from, to)) = self.tables[class].get(&key) else {
            return ControlFlow::Continue(());
        };
        for c in &self.ids[from as usize..to as usize] {
            let len = c.len as usize;
            let Some(start) = (end + 1).checked_sub(len) else {
                continue;
            };
            if len > 4 {
                // The bytes before the last four.
                let head = c.head as usize;
                if data[start..end - 3] != self.heads[head..head + len - 4] {
                    continue;
                }
            }
            f(c.idx as usize, start)?;
        }
        ControlFlow::Continue(())
    }
}
