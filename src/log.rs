//! Log lines on stderr, one per event, each starting with a UTC timestamp.

use std::fmt;
use std::io::Write;

/// Writes one line to stderr. Callers never pass tokens or request bodies.
pub fn line(args: fmt::Arguments<'_>) {
    // Formatted first and written in one call: stderr is unbuffered, so `writeln!` straight to it
    // made a system call of every piece of the line (a few per line, two lines per upload).
    let text = format!("{} {}\n", crate::time::format_utc(crate::time::now()), args);
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `log!("...", args)`: one line on stderr.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}

/// A panic caught by [`guarded`], with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked(pub String);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panic: {}", self.0)
    }
}

/// Runs `f`, turning a panic into an error that carries its message: the one guard used where
/// a fault in one piece of work (a format parser, a request, a delivery, a task) must not end
/// the thread doing it. Unwind safety is asserted: callers drop or reset what `f` touched.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|payload| Panicked(panic_message(payload.as_ref())))
}

/// The message of a caught panic, for the log line that reports it.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let r = guarded(|| -> u8 { panic!("boom") });
        assert_eq!(r.unwrap_err().to_string(), "panic: boom");
        let n = 7;
        let r = guarded(|| -> u8 { panic!("formatted {n}") });
        assert_eq!(r.unwrap_err(), Panicked("formatted 7".into()));
        assert_eq!(guarded(|| 3), Ok(3));
    }
}
