//! Facts about this machine that the API reports: host name, addresses, load and disk usage.

use std::ffi::CStr;
use std::path::Path;

/// Facts about this worker reported with every task.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    pub hostname: String,
    pub ips: Vec<String>,
}

impl WorkerInfo {
    /// This machine's.
    pub fn here() -> WorkerInfo {
        WorkerInfo {
            hostname: hostname(),
            ips: ip_addresses(),
        }
    }
}

/// The machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The machine's IP addresses, loopback last (and only if there is nothing else).
pub fn ip_addresses() -> Vec<String> {
    let mut out = Vec::new();
    let mut loopback = Vec::new();
    // SAFETY: getifaddrs fills a linked list that we only read and then free with freeifaddrs.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return vec!["127.0.0.1".to_string()];
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() {
                let family = i32::from((*ifa.ifa_addr).sa_family);
                let addr = match family {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        Some(std::net::IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ))
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        Some(std::net::IpAddr::from(sin6.sin6_addr.s6_addr))
                    }
                    _ => None,
                };
                if let Some(ip) = addr {
                    let is_link_local_v6 = matches!(ip, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
                    if ip.is_loopback() {
                        loopback.push(ip.to_string());
                    } else if !is_link_local_v6 {
                        out.push(ip.to_string());
                    }
                }
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        loopback.sort();
        loopback.dedup();
        return loopback;
    }
    out
}

/// 1, 5 and 15 minute load averages from the kernel.
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|s| s.parse::<f64>().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// Used share (percent, as `df` computes it) of the file system holding `path`.
pub fn disk_used_percent(path: &Path) -> std::io::Result<f64> {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = path.as_os_str().as_bytes().to_vec();
    bytes.push(0);
    let cpath = CStr::from_bytes_with_nul(&bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(cpath.as_ptr(), &mut st) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        st
    };
    let used = st.f_blocks.saturating_sub(st.f_bfree) as f64;
    let avail = st.f_bavail as f64;
    if used + avail == 0.0 {
        return Ok(0.0);
    }
    Ok(((used / (used + avail)) * 10_000.0).ceil() / 100.0)
}

/// Raises this process's soft limit on open files to its hard limit, and returns the limit now
/// in force. Each HTTP connection holds three descriptors, so the common soft limit of 1,024
/// would run out at about 300 connections.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write one rlimit struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    Ok(lim.rlim_cur)
}

/// 16 random bytes from `/dev/urandom`, for ids that must not repeat (not for secrets): without
/// it, the time and the process id.
pub fn unique_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    if bytes == [0u8; 16] {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    bytes
}

/// Gives memory the allocator holds freed back to the system. glibc keeps freed memory in each
/// thread's arena for reuse, so without this the process keeps the peak of every large task each
/// analysis thread ever ran (hundreds of MB after a 10,000-file archive) while it holds a few
/// MB, and what compiling a rule set freed. musl returns freed memory by itself.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_plausible() {
        assert!(!hostname().is_empty());
        let ips = ip_addresses();
        assert!(!ips.is_empty());
        assert!(ips.iter().all(|ip| ip.parse::<std::net::IpAddr>().is_ok()));
        let used = disk_used_percent(Path::new("/")).unwrap();
        assert!((0.0..=100.0).contains(&used));
        assert!(disk_used_percent(Path::new("/no/such/dir")).is_err());
    }
}
