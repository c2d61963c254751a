//! What systemd's watchdog checks: that the HTTP front end answers a probe on the listening port,
//! or, with every HTTP thread inside a request, that something is still happening.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::App;

/// Signs of life of the HTTP threads, for the watchdog ([`serving`]).
#[derive(Default)]
pub struct Pulse {
    /// Threads inside a request.
    busy: AtomicUsize,
    /// Bumped as requests end and as request bodies arrive.
    beats: AtomicU64,
}

impl Pulse {
    /// Something happened: part of a body arrived.
    pub fn beat(&self) {
        self.beats.fetch_add(1, Ordering::Relaxed);
    }

    /// An HTTP thread took a request.
    pub fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
    }

    /// An HTTP thread is done with a request.
    pub fn request_ended(&self) {
        self.busy.fetch_sub(1, Ordering::Relaxed);
        self.beat();
    }
}

/// A request body that counts as a sign of life while it arrives: a long upload keeps a
/// thread busy without it being stuck.
pub struct Pulsing<'a, R> {
    pub inner: R,
    pub pulse: &'a Pulse,
}

impl<R: std::io::Read> std::io::Read for Pulsing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.pulse.beat();
        self.inner.read(buf)
    }
}

/// The header that marks the watchdog's own probe, which is not logged.
pub(super) const PROBE_HEADER: &str = "X-Assay-Watchdog";

/// Whether the HTTP front end serves, for systemd's watchdog: a request sent to `addr` is
/// answered within `wait`, or every HTTP thread is inside a request and something happened since
/// `*beats` was taken (a saturated Worker is busy, not stuck).
pub fn serving(app: &App, addr: std::net::SocketAddr, wait: Duration, beats: &mut u64) -> bool {
    let now = app.pulse.beats.load(Ordering::Relaxed);
    let progressed = std::mem::replace(beats, now) != now;
    let saturated = app.pulse.busy.load(Ordering::Relaxed) >= app.config.http.threads;
    probe(addr, wait) || (saturated && progressed)
}

/// Sends `HEAD /srv/tiscale/v1/available` to `addr` (loopback for an unspecified address) and
/// waits up to `wait` for the status line of any answer.
fn probe(addr: std::net::SocketAddr, wait: Duration) -> bool {
    use std::io::{Read, Write};
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, wait) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(wait));
    let _ = s.set_write_timeout(Some(wait));
    let request = format!(
        "HEAD /srv/tiscale/v1/available HTTP/1.1\r\nHost: {addr}\r\n{PROBE_HEADER}: 1\r\n\
         Connection: close\r\n\r\n"
    );
    let mut head = [0u8; 12];
    s.write_all(request.as_bytes()).is_ok()
        && s.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.1 ")
}
