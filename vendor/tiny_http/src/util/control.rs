//! assay patch: what the threads that serve one connection share to keep it bounded in time: the
//! deadline for the next request's head, the socket's timeouts, whether the answer to the current
//! request has gone out, and whether the connection must close.

use std::io::{Error as IoError, ErrorKind, Result as IoResult};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::connection::Connection;

/// Bounds on what one client may hold of the server. `Default` keeps upstream's behaviour apart
/// from the drain cap (upstream drains any length, with one allocation of that length).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest wait for a request's head (request line and headers) to arrive complete, counted
    /// from when the connection is ready for it: opened, or its previous answer sent. An idle
    /// keep-alive connection is closed when it runs out; a partial head is answered 408.
    pub head_timeout: Option<Duration>,
    /// Longest wait for the next bytes of a request body (idle, not total: a slow upload that
    /// keeps sending is never cut off).
    pub read_timeout: Option<Duration>,
    /// Longest wait for a client to take the next bytes of an answer.
    pub write_timeout: Option<Duration>,
    /// Most connections served at once; a connection beyond it is answered 503 and closed.
    pub max_connections: usize,
    /// Most bytes of the request line (414 beyond) and of all header lines together (431).
    pub max_head_bytes: usize,
    /// Most header lines (431 beyond).
    pub max_headers: usize,
    /// Most bytes of an unread request body read and thrown away (with a fixed buffer) so that
    /// the connection can serve another request; with more left, the answer says
    /// `Connection: close` and the connection is closed after it.
    pub max_drain_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            head_timeout: None,
            read_timeout: None,
            write_timeout: None,
            max_connections: usize::MAX,
            max_head_bytes: usize::MAX,
            max_headers: usize::MAX,
            max_drain_bytes: 64 * 1024,
        }
    }
}

/// Shared by a connection's reader thread, the requests it hands out and their body readers.
pub(crate) struct Control {
    /// A handle on the client's socket, for timeouts and for closing it.
    socket: Connection,
    limits: Limits,
    /// Set while a head is read or a body drained: reads fail with `TimedOut` past it.
    deadline: Mutex<Option<Instant>>,
    /// True from when a request is handed out until it is answered or dropped.
    busy: Mutex<bool>,
    answered: Condvar,
    closing: AtomicBool,
}

impl Control {
    pub(crate) fn new(socket: Connection, limits: Limits) -> Control {
        Control {
            socket,
            limits,
            deadline: Mutex::new(None),
            busy: Mutex::new(false),
            answered: Condvar::new(),
            closing: AtomicBool::new(false),
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Starts the clock for the next request's head.
    pub(crate) fn start_head(&self) {
        *lock(&self.deadline) = self.limits.head_timeout.map(|t| Instant::now() + t);
    }

    /// Reads from now on may wait `total` in all, until [`Control::end_deadline`].
    pub(crate) fn start_deadline(&self, total: Duration) {
        *lock(&self.deadline) = Some(Instant::now() + total);
    }

    /// Reads wait at most `read_timeout` each again (the head is in, a drain is over).
    pub(crate) fn end_deadline(&self) -> IoResult<()> {
        *lock(&self.deadline) = None;
        self.socket.set_read_timeout(self.limits.read_timeout)
    }

    /// Called before each read from the socket: while a deadline runs (a head, a drain), the
    /// read may only wait for what is left of it.
    pub(crate) fn before_read(&self) -> IoResult<()> {
        let Some(deadline) = *lock(&self.deadline) else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(IoError::new(ErrorKind::TimedOut, "out of time"));
        }
        self.socket.set_read_timeout(Some(left))
    }

    /// A request was handed out: the next head is not read before it is answered.
    pub(crate) fn request_started(&self) {
        *lock(&self.busy) = true;
    }

    /// The request handed out was answered (or dropped without an answer).
    pub(crate) fn request_finished(&self) {
        *lock(&self.busy) = false;
        self.answered.notify_all();
    }

    /// Waits until the request handed out last is answered.
    pub(crate) fn wait_answered(&self) {
        let mut busy = lock(&self.busy);
        while *busy {
            busy = self
                .answered
                .wait(busy)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Closes the connection after the answer that went out: no further request is read from
    /// it, and the client sees the end of the answers (what it still sends is read and thrown
    /// away for a moment, see `ClientConnection::linger`, so that it reads the answer before the
    /// connection is reset).
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let _ = self.socket.shutdown(Shutdown::Write);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }
}

/// The state behind these locks is plain data written whole, so a panic elsewhere cannot leave
/// it half-written: a poisoned lock is used as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// True for the errors a socket read or write gives when its timeout passed (`WouldBlock` on
/// Unix, `TimedOut` elsewhere).
pub(crate) fn is_timeout(e: &IoError) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
