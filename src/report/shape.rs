//! Report shaping on read (DECISIONS.md, "report_type, view and field filters").
//!
//! The store keeps one full report per task. Every shape a client can ask for is computed from
//! it when it is read, by [`shape`]: a pure function of the stored bytes and a [`Shape`].
//!
//! An entry's top-level fields are parsed only when the shape must look inside them. `large`
//! with no filter returns the stored bytes as they are; `medium` parses `info` and `indicators`
//! and copies the other fields it keeps through as raw JSON, so `metadata` (most of a large
//! report) is skipped over, never built.
//!
//! Steps, in order: the report type, then `view=extended` (adds `metadata` and the full
//! indicators back), `include_fields`, `exclude_fields`, `v13`, and `view=flat` last.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, OnceLock};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The names of the built-in report types.
pub const BUILT_IN: [&str; 3] = ["small", "medium", "large"];

/// The views a client can ask for.
pub const VIEWS: [&str; 2] = ["flat", "extended"];

/// Which fields of each entry a report keeps.
#[derive(Debug, Clone)]
pub enum ReportType {
    /// `info.file` (type, subtype, name, size, md5/sha1/sha256) and `classification`.
    Small,
    /// The summary: the default.
    Medium,
    /// Everything stored.
    Large,
    /// A report type read from a file.
    Custom(Arc<CustomType>),
}

/// A view: a transformation applied after the report type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Each entry's nested objects flattened into dotted keys; arrays kept as arrays.
    Flat,
    /// The report type plus `metadata` and the full indicator form.
    Extended,
}

/// A named report type from the configured directory: the fields it keeps (`include`) and then
/// removes (`exclude`), as paths into the full report.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomType {
    pub name: String,
    pub include: Option<Paths>,
    pub exclude: Option<Paths>,
}

/// The custom report types in force, and the files that could not be loaded (named in the 400
/// for an unknown report type, so a typo in a file is found from the client side too).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub types: BTreeMap<String, Arc<CustomType>>,
    pub errors: Vec<String>,
}

/// Everything that decides the shape of one report.
#[derive(Debug, Clone)]
pub struct Shape {
    pub report_type: ReportType,
    pub view: Option<View>,
    pub include: Option<Paths>,
    pub exclude: Option<Paths>,
    /// Enumerations as numbers, as Worker 1.3 reported them.
    pub v13: bool,
}

impl Shape {
    /// The full report, unchanged.
    pub fn large() -> Shape {
        Shape {
            report_type: ReportType::Large,
            view: None,
            include: None,
            exclude: None,
            v13: false,
        }
    }

    fn is_identity(&self) -> bool {
        matches!(self.report_type, ReportType::Large)
            && self.view != Some(View::Flat)
            && self.include.is_none()
            && self.exclude.is_none()
            && !self.v13
    }
}

/// The shaping parameters of a request, as sent (`GET task` query, or a callback's
/// `user_data`). Empty values count as absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params<'q> {
    pub report_type: Option<&'q str>,
    pub full: Option<bool>,
    pub view: Option<&'q str>,
    pub include_fields: Option<&'q str>,
    pub exclude_fields: Option<&'q str>,
    pub v13: bool,
}

/// A parameter's value, trimmed; `None` when absent or empty.
fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// Decides the shape a request asks for. The error is the message of a 400.
///
/// The report type is `report_type` if given; else `full=true` is large and `full=false` is
/// medium; else, when `include_fields` is given, large (the fields are picked from the whole
/// report, as the seed's `include_fields=["metadata.media.image.exif",...]` example needs);
/// else medium, which is also the summary the seed applies to a `view` without `full`.
pub fn resolve(p: &Params, catalog: &Catalog) -> Result<Shape, String> {
    let include = given(p.include_fields)
        .map(|v| Paths::from_json(v).map_err(|e| format!("include_fields: {e}")))
        .transpose()?;
    let exclude = given(p.exclude_fields)
        .map(|v| Paths::from_json(v).map_err(|e| format!("exclude_fields: {e}")))
        .transpose()?;
    let view = match given(p.view) {
        None => None,
        Some("flat") => Some(View::Flat),
        Some("extended") => Some(View::Extended),
        Some(other) => {
            return Err(format!(
                "unknown view {other:?}: the views are {}",
                VIEWS.join(", ")
            ))
        }
    };
    let report_type = match given(p.report_type) {
        Some("small") => ReportType::Small,
        Some("medium") => ReportType::Medium,
        Some("large") => ReportType::Large,
        Some(name) => match catalog.types.get(name) {
            Some(t) => ReportType::Custom(t.clone()),
            None => return Err(unknown_type(name, catalog)),
        },
        None => match p.full {
            Some(true) => ReportType::Large,
            Some(false) => ReportType::Medium,
            None if include.is_some() => ReportType::Large,
            None => ReportType::Medium,
        },
    };
    Ok(Shape {
        report_type,
        view,
        include,
        exclude,
        v13: p.v13,
    })
}

fn unknown_type(name: &str, catalog: &Catalog) -> String {
    let mut known: Vec<&str> = BUILT_IN.to_vec();
    known.extend(catalog.types.keys().map(String::as_str));
    let mut message = format!(
        "unknown report_type {name:?}: the report types are {}",
        known.join(", ")
    );
    if !catalog.errors.is_empty() {
        message.push_str(&format!(
            " (report type files not loaded: {})",
            catalog.errors.join("; ")
        ));
    }
    message
}

/// Dotted field paths relative to an entry (`metadata.application.pe.sections`), as a tree.
/// A path that reaches an array applies to every element of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Paths {
    children: BTreeMap<String, Paths>,
    /// The path ends here: the whole value is meant.
    whole: bool,
}

impl Paths {
    pub fn parse<S: AsRef<str>>(paths: &[S]) -> Result<Paths, String> {
        let mut root = Paths::default();
        for path in paths {
            let path = path.as_ref();
            if path.split('.').any(str::is_empty) {
                return Err(format!(
                    "{path:?} is not a dotted field path (like \"info.file.hashes\")"
                ));
            }
            let mut node = &mut root;
            for segment in path.split('.') {
                node = node.children.entry(segment.to_string()).or_default();
            }
            node.whole = true;
        }
        Ok(root)
    }

    /// Paths sent as a JSON array of strings, as `include_fields`/`exclude_fields` are.
    pub fn from_json(text: &str) -> Result<Paths, String> {
        let list: Vec<String> = serde_json::from_str(text).map_err(|e| {
            format!("must be a JSON array of dotted paths, like [\"classification\"]: {e}")
        })?;
        Paths::parse(&list)
    }
}

/// Shapes a stored report (the JSON list `tc_report`). The error means the stored bytes are not
/// a report, which is a fault of ours, not of the request.
pub fn shape<'a>(report: &'a [u8], shape: &Shape) -> Result<Cow<'a, [u8]>, String> {
    if shape.is_identity() {
        return Ok(Cow::Borrowed(report));
    }
    let mut out = Vec::with_capacity(report.len());
    Shaped::new(report, shape.clone())
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(Cow::Owned(out))
}

/// The report `source` gives (the JSON list `tc_report`, as stored), shaped as it is read: what
/// `GET task` sends of a large report, which is never whole in memory, stored or shaped.
pub fn reader<'a>(source: impl Read + Send + 'a, shape: Shape) -> Box<dyn Read + Send + 'a> {
    if shape.is_identity() {
        Box::new(source)
    } else {
        Box::new(Shaped::new(source, shape))
    }
}

/// How much of the source [`Shaped`] reads at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A report shaped as it is read from its source: each entry is cut from the source's JSON,
/// shaped and written out before the next is read, so that only one entry's parsed values are
/// held at a time (`view=flat` parses every field, and a 10,000-entry report parsed whole took
/// ten times its size).
struct Shaped<R> {
    source: R,
    shape: Shape,
    /// What was read of the source and not yet shaped: `input[start..]`.
    input: Vec<u8>,
    start: usize,
    /// How far the entry that begins at `start` was scanned for its end.
    cut: Cut,
    /// Shaped JSON not yet handed out: `output[sent..]`.
    output: Vec<u8>,
    sent: usize,
    at: Place,
}

/// Where [`Shaped`] is in the list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    BeforeList,
    FirstEntry,
    NextEntry,
    /// After the list.
    Done,
    /// After an error, which every later read returns too.
    Failed,
}

/// The scan for the end of one JSON object or array, resumed where the input ran out.
#[derive(Default)]
struct Cut {
    /// Bytes scanned, from the value's first byte.
    at: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Cut {
    /// The length of the value that `value` begins with, once its end is in it; the scan goes
    /// on from where the last call stopped.
    fn end(&mut self, value: &[u8]) -> Option<usize> {
        while let Some(&b) = value.get(self.at) {
            self.at += 1;
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        let end = self.at;
                        *self = Cut::default();
                        return Some(end);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

fn damaged(why: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the stored report cannot be read: {why}"),
    )
}

impl<R: Read> Shaped<R> {
    fn new(source: R, shape: Shape) -> Shaped<R> {
        Shaped {
            source,
            shape,
            input: Vec::with_capacity(READ_CHUNK),
            start: 0,
            cut: Cut::default(),
            output: Vec::new(),
            sent: 0,
            at: Place::BeforeList,
        }
    }

    /// Reads more of the source after what is left unshaped; false at its end.
    fn fill(&mut self) -> io::Result<bool> {
        self.input.drain(..self.start);
        self.start = 0;
        let len = self.input.len();
        self.input.resize(len + READ_CHUNK, 0);
        let read = loop {
            match self.source.read(&mut self.input[len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.input.truncate(len + *read.as_ref().unwrap_or(&0));
        Ok(read? > 0)
    }

    /// The next byte that is not white space, left unread; `None` at the source's end.
    fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            let rest = &self.input[self.start..];
            match rest
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            {
                Some(n) => {
                    self.start += n;
                    return Ok(Some(rest[n]));
                }
                None => {
                    self.start = self.input.len();
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Writes the next piece of the shaped list into `output`: its opening, one entry (with the
    /// comma before it), or its end.
    fn produce(&mut self) -> io::Result<()> {
        let next = self.peek()?;
        match (self.at, next) {
            (Place::BeforeList, Some(b'[')) => {
                self.start += 1;
                self.output.push(b'[');
                self.at = Place::FirstEntry;
                return Ok(());
            }
            (Place::BeforeList, _) => return Err(damaged("it is not a JSON list")),
            (Place::FirstEntry | Place::NextEntry, Some(b']')) => {
                // The source is read to its end before the list is closed: a compressed
                // report's checksum comes last, and a report damaged in a way that still
                // parses must fail here rather than pass for whole.
                self.start += 1;
                if self.peek()?.is_some() {
                    return Err(damaged("something follows the list"));
                }
                self.output.push(b']');
                self.at = Place::Done;
                return Ok(());
            }
            (Place::NextEntry, Some(b',')) => {
                self.start += 1;
                self.output.push(b',');
            }
            (Place::FirstEntry, Some(b'{')) => {}
            (Place::Done | Place::Failed, _) => return Ok(()),
            (_, None) => return Err(damaged("it ends inside the list")),
            (_, Some(b)) => return Err(damaged(format!("{:?} where an entry was due", b as char))),
        }
        if self.peek()? != Some(b'{') {
            return Err(damaged("an entry is not a JSON object"));
        }
        let end = loop {
            if let Some(n) = self.cut.end(&self.input[self.start..]) {
                break self.start + n;
            }
            if !self.fill()? {
                return Err(damaged("it ends inside an entry"));
            }
        };
        let entry: Entry = serde_json::from_slice(&self.input[self.start..end]).map_err(damaged)?;
        let shaped = shape_entry(entry, &self.shape).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the stored report cannot be shaped: {e}"),
            )
        })?;
        serde_json::to_writer(&mut self.output, &shaped)?;
        self.start = end;
        self.at = Place::NextEntry;
        Ok(())
    }
}

impl<R: Read> Read for Shaped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.sent == self.output.len() {
            match self.at {
                Place::Done => return Ok(0),
                Place::Failed => return Err(damaged("it could not be read before")),
                _ => {}
            }
            self.output.clear();
            self.sent = 0;
            if let Err(e) = self.produce() {
                self.at = Place::Failed;
                self.output.clear();
                return Err(e);
            }
        }
        let n = buf.len().min(self.output.len() - self.sent);
        buf[..n].copy_from_slice(&self.output[self.sent..self.sent + n]);
        self.sent += n;
        Ok(n)
    }
}

fn shape_entry<'a>(mut e: Entry<'a>, s: &Shape) -> serde_json::Result<Entry<'a>> {
    let metadata = e.raw("metadata");
    let indicators = e.raw("indicators");
    match &s.report_type {
        ReportType::Large => {}
        ReportType::Medium => e.include(medium())?,
        ReportType::Small => {
            e.include(small())?;
            e.keep_hashes(&["md5", "sha1", "sha256"])?;
        }
        ReportType::Custom(t) => {
            if let Some(p) = &t.include {
                e.include(p)?;
            }
            if let Some(p) = &t.exclude {
                e.exclude(p)?;
            }
        }
    }
    if s.view == Some(View::Extended) {
        if let Some(raw) = indicators {
            e.set("indicators", Field::Raw(raw));
        }
        if let Some(raw) = metadata {
            e.set("metadata", Field::Raw(raw));
        }
    }
    if let Some(p) = &s.include {
        e.include(p)?;
    }
    if let Some(p) = &s.exclude {
        e.exclude(p)?;
    }
    if s.v13 {
        e.numbered_enums()?;
    }
    if s.view == Some(View::Flat) {
        e.flatten()?;
    }
    Ok(e)
}

/// The summary, as DECISIONS.md gives it.
fn medium() -> &'static Paths {
    static PATHS: OnceLock<Paths> = OnceLock::new();
    PATHS.get_or_init(|| {
        Paths::parse(&[
            "info.file",
            "info.identification",
            "classification",
            "indicators.priority",
            "indicators.category",
            "indicators.description",
            "interesting_strings",
            "story",
            "tags",
        ])
        .expect("built-in paths")
    })
}

fn small() -> &'static Paths {
    static PATHS: OnceLock<Paths> = OnceLock::new();
    PATHS.get_or_init(|| {
        Paths::parse(&[
            "info.file.file_type",
            "info.file.file_subtype",
            "info.file.file_name",
            "info.file.size",
            "info.file.hashes",
            "classification",
        ])
        .expect("built-in paths")
    })
}

/// `classification.scan_results[].type` in the order of the seed's v13 enumeration.
pub const SCAN_TYPES: [&str; 12] = [
    "generic",
    "antivirus",
    "sandbox",
    "validator",
    "unpacker",
    "internal",
    "cloud",
    "user_override",
    "certificate",
    "whitelisting",
    "analyst_override",
    "next_gen_av",
];

/// One entry, its top-level fields in stored order, each parsed only once something needs to
/// look inside it.
struct Entry<'a> {
    fields: Vec<(String, Field<'a>)>,
}

/// A value of the stored report: still raw text, narrowed by field paths with the parts it keeps
/// still raw, or parsed (to be changed).
enum Field<'a> {
    Raw(&'a RawValue),
    Object(Vec<(String, Field<'a>)>),
    Array(Vec<Field<'a>>),
    Value(Value),
}

impl Field<'_> {
    fn into_value(self) -> serde_json::Result<Value> {
        Ok(match self {
            Field::Raw(raw) => serde_json::from_str(raw.get())?,
            Field::Object(members) => Value::Object(
                members
                    .into_iter()
                    .map(|(k, f)| Ok((k, f.into_value()?)))
                    .collect::<serde_json::Result<_>>()?,
            ),
            Field::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(Field::into_value)
                    .collect::<serde_json::Result<_>>()?,
            ),
            Field::Value(v) => v,
        })
    }

    /// The member `key` of an object narrowed by `include`.
    fn member_mut(&mut self, key: &str) -> Option<&mut Self> {
        match self {
            Field::Object(members) => members
                .iter_mut()
                .find_map(|(k, f)| (k == key).then_some(f)),
            _ => None,
        }
    }

    fn value_mut(&mut self) -> serde_json::Result<&mut Value> {
        if !matches!(self, Field::Value(_)) {
            let field = std::mem::replace(self, Field::Value(Value::Null));
            *self = Field::Value(field.into_value()?);
        }
        match self {
            Field::Value(v) => Ok(v),
            _ => unreachable!("parsed above"),
        }
    }
}

/// What of `field` the `paths` name; `None` when nothing is. Raw text is read one level at a
/// time, so what is kept whole is never parsed.
fn select_field<'a>(field: Field<'a>, paths: &Paths) -> serde_json::Result<Option<Field<'a>>> {
    if paths.whole {
        return Ok(Some(field));
    }
    let Field::Raw(raw) = field else {
        return Ok(select(field.into_value()?, paths).map(Field::Value));
    };
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => {
            let RawMap(members) = serde_json::from_str(raw.get())?;
            let mut kept = Vec::new();
            for (key, member) in members {
                if let Some(sub) = paths.children.get(&key) {
                    if let Some(f) = select_field(Field::Raw(member), sub)? {
                        kept.push((key, f));
                    }
                }
            }
            Ok((!kept.is_empty()).then_some(Field::Object(kept)))
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(raw.get())?;
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                if let Some(f) = select_field(Field::Raw(item), paths)? {
                    kept.push(f);
                }
            }
            Ok(Some(Field::Array(kept)))
        }
        _ => Ok(None),
    }
}

impl<'a> Entry<'a> {
    fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.iter().find_map(|(k, f)| match f {
            Field::Raw(raw) if k == key => Some(*raw),
            _ => None,
        })
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Field<'a>> {
        self.fields
            .iter_mut()
            .find_map(|(k, f)| (k == key).then_some(f))
    }

    /// Replaces the field `key`, or adds it at the end.
    fn set(&mut self, key: &str, field: Field<'a>) {
        match self.get_mut(key) {
            Some(f) => *f = field,
            None => self.fields.push((key.to_string(), field)),
        }
    }

    /// Keeps only what `paths` name.
    fn include(&mut self, paths: &Paths) -> serde_json::Result<()> {
        let mut kept = Vec::with_capacity(paths.children.len());
        for (key, field) in std::mem::take(&mut self.fields) {
            let Some(sub) = paths.children.get(&key) else {
                continue;
            };
            if let Some(f) = select_field(field, sub)? {
                kept.push((key, f));
            }
        }
        self.fields = kept;
        Ok(())
    }

    /// Removes what `paths` name.
    fn exclude(&mut self, paths: &Paths) -> serde_json::Result<()> {
        for (key, sub) in &paths.children {
            if sub.whole {
                self.fields.retain(|(k, _)| k != key);
            } else if let Some(field) = self.get_mut(key) {
                remove(field.value_mut()?, sub);
            }
        }
        Ok(())
    }

    /// Keeps only the named digests in `info.file.hashes`.
    fn keep_hashes(&mut self, names: &[&str]) -> serde_json::Result<()> {
        #[derive(Deserialize)]
        struct Named<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
        }
        // As `include(small())` leaves it: objects of raw members, the hashes raw. Only their
        // names are read.
        let hashes = self
            .get_mut("info")
            .and_then(|info| info.member_mut("file"))
            .and_then(|file| file.member_mut("hashes"));
        let Some(hashes) = hashes else {
            return Ok(());
        };
        let Field::Raw(raw) = *hashes else {
            return Ok(());
        };
        let mut kept = Vec::new();
        for item in serde_json::from_str::<Vec<&RawValue>>(raw.get())? {
            let named: Option<Named> = serde_json::from_str(item.get()).ok();
            if named.is_some_and(|n| names.contains(&n.name.as_ref())) {
                kept.push(Field::Raw(item));
            }
        }
        *hashes = Field::Array(kept);
        Ok(())
    }

    /// `v13=true`: the scan result types as their numbers.
    fn numbered_enums(&mut self) -> serde_json::Result<()> {
        let Some(c) = self.get_mut("classification") else {
            return Ok(());
        };
        if let Some(Value::Array(results)) = c.value_mut()?.get_mut("scan_results") {
            for r in results {
                if let Some(t) = r.get_mut("type") {
                    if let Some(n) = t
                        .as_str()
                        .and_then(|s| SCAN_TYPES.iter().position(|k| *k == s))
                    {
                        *t = Value::from(n);
                    }
                }
            }
        }
        Ok(())
    }

    /// `view=flat`: nested objects become dotted keys; arrays stay arrays.
    fn flatten(&mut self) -> serde_json::Result<()> {
        let mut flat = Map::new();
        for (key, field) in std::mem::take(&mut self.fields) {
            flatten_into(&key, field.into_value()?, &mut flat);
        }
        self.fields = flat
            .into_iter()
            .map(|(k, v)| (k, Field::Value(v)))
            .collect();
        Ok(())
    }
}

/// What of `value` the `paths` name; `None` when nothing is. Arrays are kept (possibly empty)
/// with each element narrowed; elements with nothing named are left out.
fn select(value: Value, paths: &Paths) -> Option<Value> {
    if paths.whole {
        return Some(value);
    }
    match value {
        Value::Object(map) => {
            let mut kept = Map::new();
            for (key, v) in map {
                if let Some(v) = paths.children.get(&key).and_then(|sub| select(v, sub)) {
                    kept.insert(key, v);
                }
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(|v| select(v, paths)).collect(),
        )),
        _ => None,
    }
}

fn remove(value: &mut Value, paths: &Paths) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !paths.children.get(key).is_some_and(|sub| sub.whole));
            for (key, v) in map.iter_mut() {
                if let Some(sub) = paths.children.get(key) {
                    remove(v, sub);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| remove(v, paths)),
        _ => {}
    }
}

fn flatten_into(prefix: &str, value: Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                flatten_into(&format!("{prefix}.{key}"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other);
        }
    }
}

/// A JSON object's members in order, their values left raw.
struct RawMap<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawMap<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawMap<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMap<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(RawMap(members))
            }
        }
        d.deserialize_map(Members)
    }
}

impl<'de> Deserialize<'de> for Entry<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let RawMap(members) = RawMap::deserialize(d)?;
        Ok(Entry {
            fields: members
                .into_iter()
                .map(|(k, raw)| (k, Field::Raw(raw)))
                .collect(),
        })
    }
}

fn serialize_members<S: Serializer>(members: &[(String, Field)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(members.len()))?;
    for (key, field) in members {
        map.serialize_entry(key, field)?;
    }
    map.end()
}

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_members(&self.fields, s)
    }
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Raw(raw) => raw.serialize(s),
            Field::Object(members) => serialize_members(members, s),
            Field::Array(items) => s.collect_seq(items),
            Field::Value(v) => v.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ScanType;
    use serde_json::json;

    /// Two entries shaped like the engine's: a zip and the PE inside it.
    fn report() -> Vec<u8> {
        let entry = |name: &str, kind: &str| {
            json!({
                "info": {
                    "file": {
                        "file_type": kind, "file_subtype": "None", "file_name": name,
                        "file_path": name, "size": 10, "entropy": 1.5,
                        "hashes": [
                            {"name": "md5", "value": "m"}, {"name": "sha1", "value": "s1"},
                            {"name": "sha256", "value": "s2"}, {"name": "sha512", "value": "s5"},
                            {"name": "ssdeep", "value": "3:a:b"}
                        ]
                    },
                    "identification": {"success": true, "name": kind},
                    "unpacking": {"status": "complete", "warnings": [], "extracted": 1}
                },
                "classification": {
                    "classification": 3, "factor": 5, "result": "Win32.Test.Eicar",
                    "propagated": false,
                    "scan_results": [
                        {"name": "eicar", "type": "internal", "classification": 3, "factor": 5,
                         "result": "Win32.Test.Eicar"},
                        {"name": "hashes", "type": "whitelisting", "classification": 1,
                         "factor": 1, "result": ""}
                    ]
                },
                "indicators": [
                    {"priority": 8, "category": "yara", "description": "d1", "id": "yara:a:b",
                     "relevance": 1, "reasons": ["$a"]},
                    {"priority": 2, "category": "pe", "description": "d2", "id": "pe-wx",
                     "relevance": 0, "reasons": []}
                ],
                "interesting_strings": [{"category": "http", "values": ["http://x.test/"]}],
                "story": "A story.",
                "tags": {"ticore": ["archive"]},
                "metadata": {
                    "application": {"pe": {"sections": [
                        {"name": ".text", "entropy": 6.1}, {"name": ".data", "entropy": 1.0}
                    ]}},
                    "yara": {"ruleset_id": "abc"}
                }
            })
        };
        serde_json::to_vec(&json!([entry("a.zip", "Archive"), entry("b.exe", "PE")])).unwrap()
    }

    fn shaped(params: Params) -> Value {
        let s = resolve(&params, &Catalog::default()).unwrap();
        serde_json::from_slice(&shape(&report(), &s).unwrap()).unwrap()
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn large_is_the_stored_report_itself() {
        let stored = report();
        let out = shape(&stored, &Shape::large()).unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
        let extended = resolve(
            &Params {
                full: Some(true),
                view: Some("extended"),
                ..Params::default()
            },
            &Catalog::default(),
        )
        .unwrap();
        assert!(matches!(extended.report_type, ReportType::Large));
        assert_eq!(
            shape(&stored, &extended).unwrap(),
            Cow::Borrowed(&stored[..])
        );
    }

    #[test]
    fn medium_is_the_default_and_keeps_the_summary_fields() {
        let r = shaped(Params::default());
        for e in r.as_array().unwrap() {
            assert_eq!(
                keys(e),
                [
                    "info",
                    "classification",
                    "indicators",
                    "interesting_strings",
                    "story",
                    "tags"
                ]
            );
            assert_eq!(keys(&e["info"]), ["file", "identification"]);
            assert_eq!(e["info"]["file"]["hashes"].as_array().unwrap().len(), 5);
            assert_eq!(
                e["indicators"][0],
                json!({"priority": 8, "category": "yara", "description": "d1"})
            );
            assert_eq!(e["classification"]["scan_results"][0]["type"], "internal");
        }
        let full_false = shaped(Params {
            full: Some(false),
            ..Params::default()
        });
        assert_eq!(full_false, r);
        // A view without full applies the summary first.
        let flat = shaped(Params {
            view: Some("flat"),
            ..Params::default()
        });
        assert!(flat[0].get("metadata.yara.ruleset_id").is_none());
        assert!(flat[0].get("info.file.file_type").is_some());
    }

    #[test]
    fn small_keeps_the_file_and_three_hashes_and_the_classification() {
        let r = shaped(Params {
            report_type: Some("small"),
            ..Params::default()
        });
        let e = &r[1];
        assert_eq!(keys(e), ["info", "classification"]);
        assert_eq!(
            e["info"],
            json!({"file": {"file_type": "PE", "file_subtype": "None", "file_name": "b.exe",
                "size": 10, "hashes": [{"name": "md5", "value": "m"},
                {"name": "sha1", "value": "s1"}, {"name": "sha256", "value": "s2"}]}})
        );
        assert_eq!(e["classification"]["factor"], 5);
    }

    #[test]
    fn extended_adds_metadata_and_the_full_indicators_to_the_summary() {
        let r = shaped(Params {
            view: Some("extended"),
            ..Params::default()
        });
        let e = &r[0];
        assert_eq!(e["metadata"]["yara"]["ruleset_id"], "abc");
        assert_eq!(e["indicators"][1]["id"], "pe-wx");
        assert_eq!(e["indicators"][0]["reasons"], json!(["$a"]));
        assert_eq!(keys(&e["info"]), ["file", "identification"]);
    }

    #[test]
    fn flat_view_makes_dotted_keys_and_keeps_arrays() {
        let r = shaped(Params {
            report_type: Some("large"),
            view: Some("flat"),
            ..Params::default()
        });
        let e = &r[1];
        assert_eq!(e["info.file.file_type"], "PE");
        assert_eq!(e["info.unpacking.warnings"], json!([]));
        assert_eq!(e["classification.scan_results"][1]["type"], "whitelisting");
        assert_eq!(
            e["metadata.application.pe.sections"][0],
            json!({"name": ".text", "entropy": 6.1})
        );
        assert!(e.as_object().unwrap().values().all(|v| !v.is_object()));
    }

    #[test]
    fn include_and_exclude_follow_paths_through_arrays() {
        let r = shaped(Params {
            include_fields: Some(
                r#"["metadata.application.pe.sections.name","classification.result"]"#,
            ),
            ..Params::default()
        });
        // No report type: the fields come from the whole report.
        assert_eq!(
            r[0],
            json!({"classification": {"result": "Win32.Test.Eicar"},
                "metadata": {"application": {"pe": {"sections": [{"name": ".text"}, {"name": ".data"}]}}}})
        );
        // After a report type: only what it kept can be picked.
        let r = shaped(Params {
            report_type: Some("medium"),
            include_fields: Some(r#"["metadata","indicators.category"]"#),
            ..Params::default()
        });
        assert_eq!(
            r[0],
            json!({"indicators": [{"category": "yara"}, {"category": "pe"}]})
        );
        let r = shaped(Params {
            report_type: Some("large"),
            exclude_fields: Some(r#"["metadata","indicators.reasons","info.file.hashes"]"#),
            ..Params::default()
        });
        assert!(r[1].get("metadata").is_none());
        assert_eq!(
            r[1]["indicators"][0],
            json!({"priority": 8, "category": "yara", "description": "d1", "id": "yara:a:b",
                "relevance": 1})
        );
        assert_eq!(keys(&r[1]["info"]["file"]).len(), 6);
        assert!(r[1]["info"]["file"].get("hashes").is_none());
    }

    #[test]
    fn v13_numbers_the_scan_result_types() {
        let r = shaped(Params {
            v13: true,
            ..Params::default()
        });
        assert_eq!(r[0]["classification"]["scan_results"][0]["type"], 5);
        assert_eq!(r[0]["classification"]["scan_results"][1]["type"], 9);
        // The table follows the report model's enumeration, in order.
        let all = [
            ScanType::Generic,
            ScanType::Antivirus,
            ScanType::Sandbox,
            ScanType::Validator,
            ScanType::Unpacker,
            ScanType::Internal,
            ScanType::Cloud,
            ScanType::UserOverride,
            ScanType::Certificate,
            ScanType::Whitelisting,
            ScanType::AnalystOverride,
            ScanType::NextGenAv,
        ];
        for (n, t) in all.iter().enumerate() {
            assert_eq!(serde_json::to_value(t).unwrap(), SCAN_TYPES[n]);
        }
    }

    #[test]
    fn bad_parameters_are_explained() {
        let err = |p: Params| resolve(&p, &Catalog::default()).unwrap_err();
        let e = err(Params {
            view: Some("tree"),
            ..Params::default()
        });
        assert!(e.contains("flat, extended"), "{e}");
        let mut catalog = Catalog::default();
        catalog.errors.push("bad.json: not valid".into());
        let e = resolve(
            &Params {
                report_type: Some("soar"),
                ..Params::default()
            },
            &catalog,
        )
        .unwrap_err();
        assert!(e.contains("small, medium, large"), "{e}");
        assert!(e.contains("bad.json: not valid"), "{e}");
        let e = err(Params {
            include_fields: Some("[metadata]"),
            ..Params::default()
        });
        assert!(e.starts_with("include_fields: must be a JSON array"), "{e}");
        let e = err(Params {
            exclude_fields: Some(r#"["a..b"]"#),
            ..Params::default()
        });
        assert!(e.contains("\"a..b\" is not a dotted field path"), "{e}");
        // Empty values count as absent.
        let ok = resolve(
            &Params {
                report_type: Some(""),
                view: Some(""),
                ..Params::default()
            },
            &Catalog::default(),
        )
        .unwrap();
        assert!(matches!(ok.report_type, ReportType::Medium) && ok.view.is_none());
    }

    #[test]
    fn a_custom_type_picks_and_drops_fields_of_the_full_report() {
        let mut catalog = Catalog::default();
        let t = CustomType {
            name: "soar".into(),
            include: Some(
                Paths::parse(&["info.file.hashes", "classification", "metadata"]).unwrap(),
            ),
            exclude: Some(Paths::parse(&["classification.scan_results", "metadata.yara"]).unwrap()),
        };
        catalog.types.insert("soar".into(), Arc::new(t));
        let s = resolve(
            &Params {
                report_type: Some("soar"),
                ..Params::default()
            },
            &catalog,
        )
        .unwrap();
        let r: Value = serde_json::from_slice(&shape(&report(), &s).unwrap()).unwrap();
        let e = &r[0];
        assert_eq!(keys(e), ["info", "classification", "metadata"]);
        assert_eq!(e["info"]["file"]["hashes"].as_array().unwrap().len(), 5);
        assert!(e["classification"].get("scan_results").is_none());
        assert_eq!(keys(&e["metadata"]), ["application"]);
    }

    /// A source that gives at most `n` bytes a read.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Reads all of `r` a few bytes at a time.
    fn drain(mut r: impl Read, step: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0; step];
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn a_report_shaped_as_it_is_read_is_the_report_shaped_whole() {
        // Strings that hold brackets, braces, quotes and escapes, white space between the
        // entries, and reads that end anywhere.
        let mut list: Value = serde_json::from_slice(&report()).unwrap();
        list[0]["story"] = json!("odd } ] { [ \\\" \\\\ \\\"} text");
        list[1]["tags"]["ticore"] = json!(["]", "\\", "{\"a\":[1]}"]);
        let stored = serde_json::to_vec_pretty(&list).unwrap();
        for query in [
            Params::default(),
            Params {
                report_type: Some("small"),
                ..Params::default()
            },
            Params {
                view: Some("flat"),
                full: Some(true),
                ..Params::default()
            },
            Params {
                include_fields: Some(r#"["story", "tags"]"#),
                full: Some(true),
                v13: true,
                ..Params::default()
            },
        ] {
            let s = resolve(&query, &Catalog::default()).unwrap();
            let whole = shape(&stored, &s).unwrap().into_owned();
            let as_json: Value = serde_json::from_slice(&whole).unwrap();
            assert_eq!(as_json.as_array().unwrap().len(), 2, "{query:?}");
            for (source_step, read_step) in [(1, 1), (3, 7), (4096, 5), (100_000, 100_000)] {
                let streamed = drain(reader(Trickle(&stored, source_step), s.clone()), read_step);
                assert_eq!(
                    streamed.unwrap(),
                    whole,
                    "{query:?} {source_step} {read_step}"
                );
            }
        }
        let story = shaped(Params {
            include_fields: Some(r#"["story"]"#),
            ..Params::default()
        });
        assert_eq!(story[0]["story"], "A story.");
    }

    #[test]
    fn a_damaged_stored_report_is_an_error_and_stays_one() {
        let stored = report();
        let medium = resolve(&Params::default(), &Catalog::default()).unwrap();
        let cut = &stored[..stored.len() - 40];
        for damaged in [cut, b"{}", b"[1,2]", b"[{\"info\":1}{}]", b"", b"[] x"] {
            let mut r = reader(Trickle(damaged, 64), medium.clone());
            let err = drain(&mut r, 16).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(
                err.to_string().starts_with("the stored report cannot be"),
                "{err}"
            );
            // What was sent before is not followed by an end that would make it look whole.
            assert!(r.read(&mut [0; 16]).is_err());
        }
        // A compressed report whose checksum (its last bytes) does not match: every entry
        // parses, and still the list is never closed.
        let mut packed = crate::report::packed::Packed::of(&stored)
            .as_bytes()
            .to_vec();
        *packed.last_mut().unwrap() ^= 1;
        let source = crate::report::packed::Packed::from_stored(packed).into_reader();
        let shaped = drain(reader(source, medium), 16);
        assert!(shaped.is_err(), "{:?}", shaped.map(String::from_utf8));
    }
}
