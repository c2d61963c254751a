//! Typed soft errors. A parser that meets a damaged, truncated or unusual input keeps going and
//! says what it met as a [`Warning`]: the [`Problem`] says what kind of thing went wrong, for
//! callers that filter and tests that assert; the text says it for a person, and is what the
//! report carries (`info.unpacking.warnings`, `metadata.warnings`).
//!
//! Budgets that stop a walk are not warnings: they are [`crate::analysis::formats::LimitHit`]s,
//! reported as `unpacking.limits`. A reader's own structural cap ("more than 200 objects") is a
//! warning of kind [`Problem::Capped`], since it is a property of the file, not of the task.

use std::fmt;

/// What kind of thing a parser met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The input ends before data it declares: cut off, or a size or offset points past its end.
    Truncated,
    /// A structure is malformed: a bad checksum, an impossible value, data that does not decode.
    Corrupt,
    /// Valid data this reader does not handle: a compression method, a mode, a variant.
    Unsupported,
    /// Encrypted or password-protected data that was not decrypted.
    Encrypted,
    /// A cap of the reader's own (entries, objects, resources) stopped it; the rest was skipped.
    Capped,
    /// The reader itself failed on this input (a panic, caught); what it found before is kept.
    Failed,
}

/// One problem a parser met, and the sentence that says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub problem: Problem,
    pub text: String,
}

impl Warning {
    pub fn new(problem: Problem, text: impl Into<String>) -> Warning {
        Warning {
            problem,
            text: text.into(),
        }
    }

    /// The same warning with `prefix` before its text (`"pdf: "`), for a reader that reports
    /// another's warnings under its own name.
    pub fn prefixed(self, prefix: &str) -> Warning {
        Warning {
            text: format!("{prefix}{}", self.text),
            ..self
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The sentences of `warnings`, as the report carries them.
pub fn texts(warnings: impl IntoIterator<Item = Warning>) -> Vec<String> {
    warnings.into_iter().map(|w| w.text).collect()
}
