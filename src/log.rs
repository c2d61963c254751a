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

/// The message of a caught panic, for the log line that reports it.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
