//! Formats: one file per format, holding its one parse and a pure
//! `unpack(&[u8], &mut Members)` that finds the members of a container and hands them to
//! [`Members`]; each is registered in `analysis::registry`. Nothing here touches the file system:
//! a member's name is a label from the container, never a path we open.
//!
//! [`Members`] carries the task's remaining [`Budget`] down to the parser. Parsers ask it how many
//! bytes a member may decode to *before* decoding ([`Members::member_cap`]), and stop as soon as
//! it says the walk is over ([`Members::stopped`]), so a bomb is cut off while it inflates, not
//! after.

pub mod ar;
pub mod autoit;
pub mod autoit_tokens;
pub mod binhex;
pub mod chm;
pub mod cpio;
pub mod html;
pub mod installshield;
pub mod iso9660;
pub mod mime;
pub mod msi;
pub mod nsis;
pub mod nsis_bzip2;
pub mod ole1;
pub mod ole2;
pub mod packers;
pub mod pdf;
pub mod pe;
pub mod rtf;
pub mod sis;
pub mod stream;
pub mod szdd;
pub mod tar;
pub mod tnef;
pub mod unarc;
pub mod upx;
pub mod uuencode;
pub mod zip;

pub use super::text::hex_digit;

use crate::analysis::mapped::{Kept, Mapped, Spill};
use crate::analysis::warning::{Problem, Warning};
use std::borrow::Cow;
use std::io::{self, Read};
use std::path::Path;
#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Takes a container apart: finds its members and hands them to [`Members`].
pub type Handler = for<'a> fn(&'a [u8], &mut Members<'a>);

/// Helpers shared by the parsers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Budget, Handler, Members};

    /// Runs `handler` over `data` with no practical budget.
    pub fn run(handler: Handler, data: &[u8]) -> Members<'_> {
        let mut out = Members::new(Budget::unlimited());
        handler(data, &mut out);
        out
    }

    /// Every member as (name, bytes), borrowed, for comparing with what a test put in.
    pub fn members<'m>(out: &'m Members<'_>) -> Vec<(&'m str, &'m [u8])> {
        out.members
            .iter()
            .map(|m| (m.name.as_str(), &m.data[..]))
            .collect()
    }

    /// Every member as (name, bytes), for comparing with what a test put in.
    pub fn names_and_data(out: &Members<'_>) -> Vec<(String, Vec<u8>)> {
        out.members
            .iter()
            .map(|m| (m.name.clone(), m.data.to_vec()))
            .collect()
    }
}

/// Bytes any member may decode to regardless of its compression ratio: small, highly repetitive
/// files (logs, zero-filled images) are legitimate.
pub const RATIO_ALLOWANCE: u64 = 1024 * 1024;

/// Chunk size of [`Members::read_member`]: the deadline is checked between chunks.
const READ_CHUNK: usize = 256 * 1024;

/// A stream read by [`Members::read_stream`] that decodes to more than this is spilled to disk
/// (when the engine has somewhere to put it).
pub const SPILL_AT: usize = 16 * 1024 * 1024;

/// A member read by [`Members::read_held`] that decodes to more than this is spilled to disk:
/// the members of a container that holds many wait, decoded, until the walk comes to them, and
/// in memory those of two wheels or jars at once were most of the server's heap at its peak.
pub const HELD_SPILL_AT: usize = 1024 * 1024;

/// Which budget stopped work. Each one appears in `info.unpacking` and as an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Nesting deeper than `max_depth`.
    Depth,
    /// More files than `max_files` in one task.
    Files,
    /// More unpacked bytes than `max_total_bytes` in one task.
    Bytes,
    /// One member decoding to more than `max_ratio` times its packed size.
    Ratio,
    /// The task ran past `max_seconds`.
    Time,
    /// An encrypted member none of the configured passwords opened.
    Password,
}

impl Limit {
    /// The stable name used in reports (`"limit exceeded: ratio ..."`).
    pub fn name(self) -> &'static str {
        match self {
            Limit::Depth => "depth",
            Limit::Files => "files",
            Limit::Bytes => "bytes",
            Limit::Ratio => "ratio",
            Limit::Time => "time",
            Limit::Password => "password",
        }
    }
}

/// A limit that stopped work, with what it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    pub limit: Limit,
    pub detail: String,
}

/// One file found inside a container.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// The name as the container gives it: possibly empty, `../` laden or otherwise hostile.
    /// The engine sanitises it for the report; it never becomes a path.
    pub name: String,
    pub data: Data<'a>,
}

/// A member's bytes: a slice of its container, bytes decoded into memory, or a large decoded
/// stream spilled to a temporary file and mapped ([`Members::spill_to`]), whose pages the walk
/// releases as it reads them: the 650 MB tar of a Debian package costs disk (or, with the spill
/// directory on tmpfs, shared memory), not the resident set.
#[derive(Debug, Clone)]
pub enum Data<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Mapped(Arc<Mapped>),
}

impl Data<'_> {
    /// The bytes in memory of their own (a copy unless they were already).
    pub fn into_owned(self) -> Vec<u8> {
        match self {
            Data::Owned(v) => v,
            other => other.to_vec(),
        }
    }

    /// The mapping the bytes are, when they were spilled.
    pub fn mapped(&self) -> Option<&Mapped> {
        match self {
            Data::Mapped(m) => Some(m),
            _ => None,
        }
    }
}

impl std::ops::Deref for Data<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Data::Borrowed(b) => b,
            Data::Owned(v) => v,
            Data::Mapped(m) => m.bytes(),
        }
    }
}

impl AsRef<[u8]> for Data<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl<'a> From<Cow<'a, [u8]>> for Data<'a> {
    fn from(c: Cow<'a, [u8]>) -> Self {
        match c {
            Cow::Borrowed(b) => Data::Borrowed(b),
            Cow::Owned(v) => Data::Owned(v),
        }
    }
}

impl<'a> From<&'a [u8]> for Data<'a> {
    fn from(b: &'a [u8]) -> Self {
        Data::Borrowed(b)
    }
}

impl From<Vec<u8>> for Data<'_> {
    fn from(v: Vec<u8>) -> Self {
        Data::Owned(v)
    }
}

/// What a container's directory says about one entry, whether or not it was extracted: the
/// `metadata.archive.entries` of the container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntryInfo {
    pub name: String,
    /// Size once unpacked, as declared.
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packed_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub encrypted: bool,
}

/// Most entries listed per container (all are still counted).
pub const MAX_LISTED_ENTRIES: usize = 1000;

/// When a task's time budget runs out. Work looks at it between units (members, chunks of
/// output, files); nothing interrupts a unit in progress.
#[derive(Debug, Clone)]
pub struct Deadline(When);

#[derive(Debug, Clone)]
enum When {
    /// Passes at this instant; `None` (a budget beyond what the clock can count) never passes.
    At(Option<Instant>),
    /// Passes at the `at`th look and at every look after it. A test stops a walk exactly there,
    /// however fast the machine is, where a real budget would pass somewhere that depends on it.
    #[cfg(test)]
    Look { looks: Arc<AtomicUsize>, at: usize },
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline(When::At(Instant::now().checked_add(budget)))
    }

    /// True once the budget has run out.
    pub fn passed(&self) -> bool {
        match &self.0 {
            When::At(at) => at.is_some_and(|at| Instant::now() >= at),
            #[cfg(test)]
            When::Look { looks, at } => looks.fetch_add(1, Ordering::SeqCst) + 1 >= *at,
        }
    }

    /// A deadline that passes at the `at`th look (1 is the first), and the count of looks so far,
    /// shared by its clones.
    #[cfg(test)]
    pub fn at_look(at: usize) -> (Deadline, Arc<AtomicUsize>) {
        let looks = Arc::new(AtomicUsize::new(0));
        (
            Deadline(When::Look {
                looks: looks.clone(),
                at,
            }),
            looks,
        )
    }
}

/// The remaining budget of the task, as seen by one container.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Most bytes all members of this container may decode to.
    pub max_output: u64,
    /// Most members this container may yield.
    pub max_members: usize,
    /// Most output bytes per packed byte of one member, beyond [`RATIO_ALLOWANCE`].
    pub max_ratio: u64,
    /// When work must stop.
    pub deadline: Deadline,
    /// Passwords to try on encrypted members, in order.
    pub passwords: Vec<String>,
}

impl Budget {
    /// Budget with no practical limit and no passwords: for unit tests of parsers.
    pub fn unlimited() -> Budget {
        Budget {
            max_output: u64::MAX,
            max_members: usize::MAX,
            max_ratio: u64::MAX,
            deadline: Deadline::after(Duration::from_secs(3600)),
            passwords: Vec::new(),
        }
    }
}

/// Why [`Members::read_member`] (or [`Members::read_stream`]) gave up on a member.
#[derive(Debug)]
pub enum ReadStop<D = Vec<u8>> {
    /// A budget ran out; it has been recorded in [`Members`].
    Limit,
    /// The decoder failed (corrupt or truncated data). The bytes decoded so far come along.
    Corrupt(io::Error, D),
}

/// What a parser produced: members, warnings about the container, and limits that stopped it.
#[derive(Debug)]
pub struct Members<'a> {
    budget: Budget,
    used: u64,
    pub members: Vec<Member<'a>>,
    pub warnings: Vec<Warning>,
    pub limits: Vec<LimitHit>,
    /// The directory of an archive, for parsers that read one ([`Members::entry`]).
    pub entries: Vec<EntryInfo>,
    /// Entries seen, listed or not.
    pub entry_count: u64,
    stopped: bool,
    /// Where [`Members::read_stream`] and [`Members::read_held`] spill a large member, if
    /// anywhere.
    spill: Option<Arc<Path>>,
}

impl<'a> Members<'a> {
    pub fn new(budget: Budget) -> Members<'a> {
        Members {
            budget,
            used: 0,
            members: Vec::new(),
            warnings: Vec::new(),
            limits: Vec::new(),
            entries: Vec::new(),
            entry_count: 0,
            stopped: false,
            spill: None,
        }
    }

    /// These members, with streams larger than [`SPILL_AT`] read by [`Members::read_stream`]
    /// (and held members larger than [`HELD_SPILL_AT`], [`Members::read_held`]) spilled to
    /// temporary files in `dir`.
    pub fn spill_to(mut self, dir: Option<Arc<Path>>) -> Members<'a> {
        self.spill = dir;
        self
    }

    /// Records an entry of the archive's directory (listed up to [`MAX_LISTED_ENTRIES`]).
    pub fn entry(&mut self, info: EntryInfo) {
        self.entry_count += 1;
        if self.entries.len() < MAX_LISTED_ENTRIES {
            self.entries.push(info);
        }
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// True once a budget or the deadline has run out: the parser should return what it has.
    /// Checks the clock, so call it in every loop that walks entries or decodes data.
    pub fn stopped(&mut self) -> bool {
        if !self.stopped && self.budget.deadline.passed() {
            let detail = format!(
                "the time budget ran out while unpacking, after {} members",
                self.members.len()
            );
            self.limit(Limit::Time, detail);
        }
        self.stopped
    }

    /// Records a limit that stopped work. Files, Bytes and Time stop the whole container; Ratio and
    /// Password only skip one member.
    pub fn limit(&mut self, limit: Limit, detail: String) {
        if matches!(
            limit,
            Limit::Files | Limit::Bytes | Limit::Time | Limit::Depth
        ) {
            self.stopped = true;
        }
        self.limits.push(LimitHit { limit, detail });
    }

    /// Records a problem with the container that did not stop the walk (corrupt entry, bad CRC).
    pub fn warn(&mut self, problem: Problem, text: impl Into<String>) {
        self.warnings.push(Warning::new(problem, text));
    }

    /// Bytes left in the output budget.
    pub fn room(&self) -> u64 {
        self.budget.max_output.saturating_sub(self.used)
    }

    /// The most bytes one member with `packed` input bytes may decode to: the smaller of the
    /// output budget left and the ratio cap. A decoder stops once it produced more than this.
    pub fn member_cap(&self, packed: u64) -> u64 {
        let ratio_cap = packed
            .saturating_mul(self.budget.max_ratio)
            .max(RATIO_ALLOWANCE);
        self.room().min(ratio_cap)
    }

    /// Checks a size a header declares before decoding anything: records the limit and returns
    /// false when the member would be over budget (`name` is for the finding).
    pub fn admit(&mut self, name: &str, packed: u64, declared: u64) -> bool {
        if declared <= self.member_cap(packed) {
            return true;
        }
        self.over_cap(name, packed, declared);
        false
    }

    /// Records which budget a member of `size` bytes (or more) broke.
    pub fn over_cap(&mut self, name: &str, packed: u64, size: u64) {
        let name = printable(name);
        if size > self.room() {
            self.limit(
                Limit::Bytes,
                format!(
                    "{name}: unpacking would exceed the task's byte budget ({} bytes left)",
                    self.room()
                ),
            );
        } else {
            self.limit(
                Limit::Ratio,
                format!(
                    "{name}: {packed} packed bytes expand to more than {size} bytes \
                     (ratio above {})",
                    self.budget.max_ratio
                ),
            );
        }
    }

    /// Adds a member. Returns false (and records the limit) when the container's member or byte
    /// budget is spent; the parser should then stop.
    pub fn add(&mut self, name: impl Into<String>, data: impl Into<Data<'a>>) -> bool {
        let (name, data) = (name.into(), data.into());
        if self.stopped() {
            return false;
        }
        if self.members.len() >= self.budget.max_members {
            self.limit(
                Limit::Files,
                format!("the task's file budget ran out before {}", printable(&name)),
            );
            return false;
        }
        let len = data.len() as u64;
        if len > self.room() {
            self.over_cap(&name, len, len);
            return false;
        }
        self.used += len;
        self.members.push(Member { name, data });
        true
    }

    /// Reads a decoder to its end, stopping as soon as its output passes the member's cap
    /// (`packed` is the member's packed size, for the ratio) or the deadline passes.
    pub fn read_member(
        &mut self,
        name: &str,
        packed: u64,
        reader: &mut dyn Read,
    ) -> Result<Vec<u8>, ReadStop> {
        // Nothing is spilled, so the bytes are in memory already and `into_owned` copies none.
        match self.read(name, packed, reader, None) {
            Ok(data) => Ok(data.into_owned()),
            Err(ReadStop::Limit) => Err(ReadStop::Limit),
            Err(ReadStop::Corrupt(e, partial)) => Err(ReadStop::Corrupt(e, partial.into_owned())),
        }
    }

    /// [`Members::read_member`] for a stream that may be large (the one member of gzip, xz,
    /// bzip2, lzma and zstd): past [`SPILL_AT`] bytes, when a spill directory is set, the output
    /// goes on into a temporary file, mapped once complete. Where the file cannot be made or
    /// written, the stream stays in memory (and the log says why); where it cannot be mapped, it
    /// is read back.
    pub fn read_stream(
        &mut self,
        name: &str,
        packed: u64,
        reader: &mut dyn Read,
    ) -> Result<Data<'static>, ReadStop<Data<'static>>> {
        self.read(name, packed, reader, Some(SPILL_AT))
    }

    /// [`Members::read_stream`] for one of many members decoded before the first is walked (a
    /// zip member read through its central directory): spilled past [`HELD_SPILL_AT`] bytes.
    pub fn read_held(
        &mut self,
        name: &str,
        packed: u64,
        reader: &mut dyn Read,
    ) -> Result<Data<'static>, ReadStop<Data<'static>>> {
        self.read(name, packed, reader, Some(HELD_SPILL_AT))
    }

    /// Reads a member, spilling it past `spill_at` bytes if that is set (and a spill directory).
    fn read(
        &mut self,
        name: &str,
        packed: u64,
        reader: &mut dyn Read,
        spill_at: Option<usize>,
    ) -> Result<Data<'static>, ReadStop<Data<'static>>> {
        let cap = self.member_cap(packed);
        let mut data = Vec::new();
        let mut spill: Option<Spill> = None;
        // Past how many bytes the member goes to a spill file; `None` once that was tried.
        let mut spill_past = spill_at.filter(|_| self.spill.is_some());
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut len = 0u64;
        let end = loop {
            if self.stopped() {
                return Err(ReadStop::Limit);
            }
            let n = match reader.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            len += n as u64;
            if len > cap {
                self.over_cap(name, packed, len);
                return Err(ReadStop::Limit);
            }
            if let Some(mut file) = spill.take() {
                match file.write(&chunk[..n]) {
                    Ok(()) => {
                        spill = Some(file);
                        continue;
                    }
                    // The disk is full or failing: on in memory, from what the file holds.
                    Err(e) => {
                        crate::log!("a large stream stays in memory: its spill file failed: {e}");
                        match file.read_back() {
                            Ok(written) => data = written,
                            Err(e) => break Err(kept_failed(e)),
                        }
                    }
                }
            }
            data.extend_from_slice(&chunk[..n]);
            if spill_past.is_some_and(|past| data.len() > past) {
                spill_past = None;
                if let Some(dir) = self.spill.as_deref() {
                    match Spill::create(dir).and_then(|mut f| f.write(&data).map(|()| f)) {
                        Ok(file) => {
                            data = Vec::new();
                            spill = Some(file);
                        }
                        Err(e) => crate::log!(
                            "a large stream stays in memory: no spill file in {}: {e}",
                            dir.display()
                        ),
                    }
                }
            }
        };
        let data = match spill.map(Spill::finish) {
            Some(Ok(Kept::Mapped(mapped))) => Data::Mapped(Arc::new(mapped)),
            Some(Ok(Kept::Owned(bytes))) => Data::Owned(bytes),
            Some(Err(e)) => return Err(ReadStop::Corrupt(kept_failed(e), Data::Owned(Vec::new()))),
            None => Data::Owned(data),
        };
        match end {
            Ok(()) => Ok(data),
            Err(e) => Err(ReadStop::Corrupt(e, data)),
        }
    }
}

/// The error of a decoded stream that could neither stay in its spill file nor be read back
/// from it. It comes as [`ReadStop::Corrupt`], the one way a reader reports a failed read; the
/// text says it was the spill file.
fn kept_failed(e: io::Error) -> io::Error {
    io::Error::other(format!(
        "the decoded bytes could not be kept (their spill file failed: {e})"
    ))
}

/// Lines of `data` from an offset: (start, line without `\n` or `\r\n`, start of the next line).
/// Shared by the text formats (mail, uuencode).
pub struct Lines<'d> {
    data: &'d [u8],
    pos: usize,
}

impl<'d> Lines<'d> {
    pub fn new(data: &'d [u8], pos: usize) -> Lines<'d> {
        Lines { data, pos }
    }
}

impl<'d> Iterator for Lines<'d> {
    type Item = (usize, &'d [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.pos;
        let (mut line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], start + i + 1),
            None => (rest, self.data.len()),
        };
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        self.pos = next;
        Some((start, line, next))
    }
}

/// A name made safe to print in a finding: control characters escaped, length bounded.
pub fn printable(name: &str) -> String {
    const MAX: usize = 200;
    let mut s = String::new();
    for c in name.chars() {
        if s.len() >= MAX {
            s.push('…');
            break;
        }
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("(unnamed)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max_output: u64, max_members: usize, max_ratio: u64) -> Budget {
        Budget {
            max_output,
            max_members,
            max_ratio,
            ..Budget::unlimited()
        }
    }

    #[test]
    fn add_stops_at_the_member_budget() {
        let mut out = Members::new(caps(1000, 2, 100));
        assert!(out.add("a", &b"1"[..]));
        assert!(out.add("b", &b"2"[..]));
        assert!(!out.add("c", &b"3"[..]));
        assert_eq!(out.limits[0].limit, Limit::Files);
        assert!(out.stopped());
    }

    #[test]
    fn read_member_cuts_a_bomb_off_at_the_ratio_cap() {
        let mut out = Members::new(caps(u64::MAX, 10, 100));
        let mut zeros = io::repeat(0).take(50 * 1024 * 1024);
        match out.read_member("bomb", 1000, &mut zeros) {
            Err(ReadStop::Limit) => {}
            other => panic!("expected a limit, got {other:?}"),
        }
        assert_eq!(out.limits[0].limit, Limit::Ratio);
        // A ratio hit skips one member; the container goes on.
        assert!(!out.stopped());
    }

    #[test]
    fn read_member_stops_at_the_byte_budget() {
        let mut out = Members::new(caps(2 * 1024 * 1024, 10, u64::MAX));
        let mut zeros = io::repeat(0).take(3 * 1024 * 1024);
        assert!(matches!(
            out.read_member("big", 3 * 1024 * 1024, &mut zeros),
            Err(ReadStop::Limit)
        ));
        assert_eq!(out.limits[0].limit, Limit::Bytes);
        assert!(out.stopped());
    }

    /// A new empty directory for spill files.
    fn spill_dir(name: &str) -> Arc<Path> {
        let dir = std::env::temp_dir().join(format!("assay-spill-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Arc::from(dir.as_path())
    }

    /// A stream of `len` bytes that are not all alike.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_large_stream_is_spilled_to_a_file_that_leaves_nothing_behind() {
        let dir = spill_dir("large");
        let bytes = pattern(SPILL_AT + 3 * READ_CHUNK + 5);
        let mut out = Members::new(Budget::unlimited()).spill_to(Some(dir.clone()));
        let data = out.read_stream("s", 1, &mut &bytes[..]).unwrap();
        assert!(data.mapped().is_some(), "spilled");
        assert!(data[..] == bytes[..]);
        // The file has no name from the start: the directory is empty while it is mapped.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        // A small stream, or one read with nowhere to spill, stays in memory.
        let small = out.read_stream("s", 1, &mut &bytes[..1000]).unwrap();
        assert!(small.mapped().is_none() && small[..] == bytes[..1000]);
        let mut plain = Members::new(Budget::unlimited());
        let kept = plain.read_stream("s", 1, &mut &bytes[..]).unwrap();
        assert!(kept.mapped().is_none() && kept[..] == bytes[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_held_member_is_spilled_from_a_smaller_size() {
        let dir = spill_dir("held");
        let bytes = pattern(HELD_SPILL_AT + 10);
        let mut out = Members::new(Budget::unlimited()).spill_to(Some(dir.clone()));
        let held = out.read_held("m", 1, &mut &bytes[..]).unwrap();
        assert!(held.mapped().is_some() && held[..] == bytes[..]);
        let at_the_size = out.read_held("m", 1, &mut &bytes[..HELD_SPILL_AT]).unwrap();
        assert!(at_the_size.mapped().is_none() && at_the_size[..] == bytes[..HELD_SPILL_AT]);
        let stream = out.read_stream("s", 1, &mut &bytes[..]).unwrap();
        assert!(stream.mapped().is_none() && stream[..] == bytes[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stream_that_cannot_be_spilled_stays_in_memory_whole() {
        let dir = spill_dir("gone");
        std::fs::remove_dir_all(&dir).unwrap();
        let bytes = pattern(SPILL_AT + 10);
        let mut out = Members::new(Budget::unlimited()).spill_to(Some(dir));
        let data = out.read_stream("s", 1, &mut &bytes[..]).unwrap();
        assert!(data.mapped().is_none() && data[..] == bytes[..]);
    }

    #[test]
    fn a_spilled_stream_keeps_its_limits_and_what_decoded_before_an_error() {
        let dir = spill_dir("limits");
        let mut out =
            Members::new(caps(SPILL_AT as u64 * 2, 10, u64::MAX)).spill_to(Some(dir.clone()));
        let mut zeros = io::repeat(0).take(SPILL_AT as u64 * 3);
        assert!(matches!(
            out.read_stream("big", 1 << 40, &mut zeros),
            Err(ReadStop::Limit)
        ));
        assert_eq!(out.limits[0].limit, Limit::Bytes);
        let bytes = pattern(SPILL_AT + 100);
        let failing = (&bytes[..]).chain(Failing);
        let mut out = Members::new(Budget::unlimited()).spill_to(Some(dir.clone()));
        match out.read_stream("s", 1, &mut { failing }) {
            Err(ReadStop::Corrupt(e, partial)) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                assert!(partial.mapped().is_some() && partial[..] == bytes[..]);
            }
            other => panic!("expected the decoded part, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A reader that fails as a corrupt stream does.
    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt"))
        }
    }

    #[test]
    fn admit_checks_declared_sizes_before_decoding() {
        let mut out = Members::new(caps(u64::MAX, 10, 100));
        assert!(out.admit("ok", 100_000, 5_000_000));
        assert!(!out.admit("bomb", 1000, 1 << 30));
        assert_eq!(out.limits[0].limit, Limit::Ratio);
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("a\0b\n"), "a\\u{0}b\\n");
        assert_eq!(printable(""), "(unnamed)");
    }
}
