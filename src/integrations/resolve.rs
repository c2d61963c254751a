//! Host names to addresses for the outbound clients, without the C library's resolver:
//! `/etc/hosts`, then DNS over UDP to the nameservers of `/etc/resolv.conf`. The shipped binary
//! is static (glibc with crt-static), where `getaddrinfo` needs the build machine's NSS libraries
//! at run time and so cannot be relied on (DECISIONS.md).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// How long one query to one nameserver may take.
const QUERY_WAIT: Duration = Duration::from_secs(2);
/// Nameservers asked, at most (as the C library does).
const MAX_NAMESERVERS: usize = 3;

/// What resolution reads from the system.
#[derive(Debug, Clone, Default)]
pub struct System {
    /// `/etc/hosts`: (name, address), names lower-case.
    pub hosts: Vec<(String, IpAddr)>,
    /// `nameserver` lines of `/etc/resolv.conf`, port 53.
    pub nameservers: Vec<SocketAddr>,
    /// `search` (or `domain`) of `/etc/resolv.conf`.
    pub search: Vec<String>,
}

impl System {
    /// Reads `/etc/hosts` and `/etc/resolv.conf` (each may be missing).
    pub fn read() -> System {
        let text = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let mut system = System {
            hosts: parse_hosts(&text("/etc/hosts")),
            ..System::default()
        };
        let (nameservers, search) = parse_resolv_conf(&text("/etc/resolv.conf"));
        system.nameservers = nameservers;
        system.search = search;
        system
    }

    /// The addresses of `host` (a name or an address literal) with `port`.
    pub fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        let mut found: Vec<IpAddr> = self
            .hosts
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, ip)| *ip)
            .collect();
        if found.is_empty() && name == "localhost" {
            found = vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
        }
        if found.is_empty() {
            for candidate in self.candidates(host) {
                found = self.ask(&candidate);
                if !found.is_empty() {
                    break;
                }
            }
        }
        if found.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot resolve {host}: not in /etc/hosts, and no nameserver knows it"),
            ));
        }
        // IPv4 first: most receivers listen there.
        found.sort_by_key(|ip| ip.is_ipv6());
        found.dedup();
        Ok(found
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// The names to ask for, in order: a name with a dot as it is first, a single label with
    /// the search domains first; a name ending with a dot only as it is.
    fn candidates(&self, host: &str) -> Vec<String> {
        if let Some(absolute) = host.strip_suffix('.') {
            return vec![absolute.to_string()];
        }
        let searched = self.search.iter().map(|d| format!("{host}.{d}"));
        if host.contains('.') {
            std::iter::once(host.to_string()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(host.to_string())).collect()
        }
    }

    /// A and AAAA records of `name` from the first nameserver that answers.
    fn ask(&self, name: &str) -> Vec<IpAddr> {
        for server in self.nameservers.iter().take(MAX_NAMESERVERS) {
            let mut found = Vec::new();
            let mut answered = false;
            for qtype in [TYPE_A, TYPE_AAAA] {
                if let Ok(ips) = query(*server, name, qtype) {
                    answered = true;
                    found.extend(ips);
                }
            }
            if answered {
                return found;
            }
        }
        Vec::new()
    }
}

fn parse_hosts(text: &str) -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
            continue;
        };
        out.extend(words.map(|name| (name.to_ascii_lowercase(), ip)));
    }
    out
}

fn parse_resolv_conf(text: &str) -> (Vec<SocketAddr>, Vec<String>) {
    let (mut servers, mut search) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    servers.push(SocketAddr::new(ip, 53));
                }
            }
            Some("search" | "domain") => {
                search = words.map(|d| d.trim_end_matches('.').to_string()).collect();
            }
            _ => {}
        }
    }
    (servers, search)
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// Asks `server` for records of `qtype` of `name`: the addresses, or an error when it did not
/// answer (a name it does not know is an answer with none).
fn query(server: SocketAddr, name: &str, qtype: u16) -> io::Result<Vec<IpAddr>> {
    let id = (std::process::id() as u16) ^ (qtype << 8) ^ name.len() as u16;
    let packet = question(id, name, qtype)?;
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(QUERY_WAIT))?;
    socket.send(&packet)?;
    let mut buf = [0u8; 1500];
    loop {
        let n = socket.recv(&mut buf)?;
        if let Some(ips) = answer(&buf[..n], id, qtype) {
            return Ok(ips);
        }
        // Not the answer to this question: keep waiting (until the timeout).
    }
}

/// A query packet: one question, recursion desired.
fn question(id: u16, name: &str, qtype: u16) -> io::Result<Vec<u8>> {
    let mut p = Vec::with_capacity(32 + name.len());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a host name"),
            ));
        }
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    Ok(p)
}

/// The addresses of type `qtype` in an answer to query `id`; `None` when the packet is not
/// such an answer.
fn answer(p: &[u8], id: u16, qtype: u16) -> Option<Vec<IpAddr>> {
    let be16 = |at: usize| p.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    if be16(0)? != id || p.get(2)? & 0x80 == 0 {
        return None;
    }
    let (questions, answers) = (be16(4)?, be16(6)?);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(p, at)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..answers {
        at = skip_name(p, at)?;
        let (rtype, len) = (be16(at)?, be16(at + 8)? as usize);
        let data = p.get(at + 10..at + 10 + len)?;
        match (rtype, len) {
            (TYPE_A, 4) if qtype == TYPE_A => {
                out.push(IpAddr::from(<[u8; 4]>::try_from(data).ok()?));
            }
            (TYPE_AAAA, 16) if qtype == TYPE_AAAA => {
                out.push(IpAddr::from(<[u8; 16]>::try_from(data).ok()?));
            }
            _ => {} // CNAMEs and the like: the recursive server answered with the final records too
        }
        at += 10 + len;
    }
    Some(out)
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(p: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *p.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + l as usize,
        }
    }
}

/// The resolver the outbound clients use.
#[derive(Debug, Default)]
pub struct Resolver;

impl ureq::unversioned::resolver::Resolver for Resolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        // An address needs no files read (the common case of a receiver on a fixed address).
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addrs = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => System::read()
                .resolve(host, port)
                .map_err(ureq::Error::Io)?,
        };
        let mut out = self.empty();
        // ureq keeps at most 16 addresses.
        for a in addrs.into_iter().take(16) {
            out.push(a);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_resolv_conf_are_read_as_the_c_library_reads_them() {
        let hosts = parse_hosts(
            "127.0.0.1 localhost\n# a comment\n10.0.0.5  soar.example  SOAR # the SOAR\n::1 ip6-localhost\nnot-an-ip x\n",
        );
        assert_eq!(hosts.len(), 4);
        assert_eq!(hosts[2], ("soar".into(), "10.0.0.5".parse().unwrap()));
        let (servers, search) = parse_resolv_conf(
            "nameserver 10.255.255.53\nnameserver ::1\nsearch corp.example lab.\n",
        );
        assert_eq!(servers[0], "10.255.255.53:53".parse().unwrap());
        assert_eq!(servers[1], "[::1]:53".parse().unwrap());
        assert_eq!(search, ["corp.example", "lab"]);
        let system = System {
            hosts,
            nameservers: Vec::new(),
            search,
        };
        assert_eq!(
            system.resolve("SOAR.example", 8443).unwrap(),
            vec!["10.0.0.5:8443".parse().unwrap()]
        );
        assert_eq!(
            system.resolve("[::1]", 80).unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
        assert!(system.resolve("nowhere.example", 80).is_err());
        assert_eq!(system.candidates("db"), ["db.corp.example", "db.lab", "db"]);
        assert_eq!(
            system.candidates("a.b"),
            ["a.b", "a.b.corp.example", "a.b.lab"]
        );
        assert_eq!(system.candidates("a.b."), ["a.b"]);
    }

    #[test]
    fn a_nameserver_on_loopback_answers_a_and_aaaa() {
        // A tiny DNS server: answers every question with one record of the asked type.
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                let q = &buf[..n];
                let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
                let mut r = q.to_vec();
                r[2] |= 0x80; // a response
                r[7] = 1; // one answer
                r.extend_from_slice(&[0xc0, 12]); // the question's name
                r.extend_from_slice(&qtype.to_be_bytes());
                r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
                if qtype == TYPE_A {
                    r.extend_from_slice(&[0, 4, 192, 0, 2, 7]);
                } else {
                    r.extend_from_slice(&[0, 16]);
                    r.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
                }
                server.send_to(&r, from).unwrap();
            }
        });
        let system = System {
            nameservers: vec![addr],
            ..System::default()
        };
        let found = system.resolve("hec.example", 8088).unwrap();
        assert_eq!(
            found,
            vec![
                "192.0.2.7:8088".parse().unwrap(),
                "[2001:db8::7]:8088".parse().unwrap()
            ]
        );
    }

    #[test]
    fn packets_that_are_not_the_answer_are_not_taken() {
        let q = question(7, "a.example", TYPE_A).unwrap();
        assert_eq!(answer(&q, 7, TYPE_A), None, "a question is not an answer");
        let mut r = q.clone();
        r[2] |= 0x80;
        assert_eq!(answer(&r, 8, TYPE_A), None, "another id");
        assert_eq!(
            answer(&r, 7, TYPE_A),
            Some(Vec::new()),
            "an answer with no record"
        );
        assert_eq!(answer(&r[..5], 7, TYPE_A), None, "truncated");
        assert!(question(1, "a..b", TYPE_A).is_err());
    }
}
