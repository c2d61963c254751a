//! Log lines on stderr, one per event, each starting with a UTC timestamp.

use std::fmt;
use std::io::Write;

/// Writes one line to stderr. Callers never pass tokens or request bodies.
pub fn line(args: fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{} {}",
        crate::time::format_utc(crate::time::now()),
        args
    );
}

/// `log!("...", args)`: one line on stderr.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}
