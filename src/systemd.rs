//! The systemd notify protocol (`Type=notify`): READY=1 once listening, STOPPING=1 on shutdown,
//! WATCHDOG=1 while the server serves (`WatchdogSec=`).

use std::os::unix::net::UnixDatagram;

/// Sends `state` to `$NOTIFY_SOCKET` if systemd gave us one; does nothing otherwise.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        // An abstract socket name.
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = sent {
        crate::log!("systemd notify {state:?} failed: {e}");
    }
}

/// How often systemd expects WATCHDOG=1, when it asked for it (`WatchdogSec=` sets
/// `$WATCHDOG_USEC`, and `$WATCHDOG_PID` names this process).
pub fn watchdog_interval() -> Option<std::time::Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_str().and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| std::time::Duration::from_micros(usec))
}
