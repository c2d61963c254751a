//! What systemd's watchdog checks: that the HTTP front end answers a probe on the listening port,
//! or, with every HTTP thread inside a request, that something is still happening.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
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

/// How the watchdog's probe reaches the front end: plain HTTP, or HTTPS trusting exactly the
/// server's own certificate (whatever name or CA it has).
pub enum Probe {
    Plain,
    Tls(Arc<rustls::ClientConfig>),
}

impl Probe {
    /// The probe for `config`'s front end.
    pub fn new(config: &crate::config::Config) -> Result<Probe, String> {
        let Some(tls) = &config.tls else {
            return Ok(Probe::Plain);
        };
        use rustls::pki_types::pem::PemObject;
        let ours = rustls::pki_types::CertificateDer::from_pem_file(&tls.cert_file)
            .map_err(|e| format!("{}: {e}", tls.cert_file.display()))?;
        // ring, as the server side and ureq use.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(OwnCertificate {
                ours: ours.into_owned(),
                provider,
            }))
            .with_no_client_auth();
        Ok(Probe::Tls(Arc::new(config)))
    }
}

/// Accepts the one certificate the server was configured with: the probe talks to its own
/// process over loopback, so the name and the issuer do not matter, the bytes do.
#[derive(Debug)]
struct OwnCertificate {
    ours: rustls::pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for OwnCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.ours.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "not the certificate of tls.cert_file".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether the HTTP front end serves, for systemd's watchdog: a request sent to `addr` is
/// answered within `wait`, or every HTTP thread is inside a request and something happened since
/// `*beats` was taken (a saturated Worker is busy, not stuck).
pub fn serving(
    app: &App,
    probe: &Probe,
    addr: std::net::SocketAddr,
    wait: Duration,
    beats: &mut u64,
) -> bool {
    let now = app.pulse.beats.load(Ordering::Relaxed);
    let progressed = std::mem::replace(beats, now) != now;
    let saturated = app.pulse.busy.load(Ordering::Relaxed) >= app.config.http.threads;
    ask(probe, addr, wait) || (saturated && progressed)
}

/// Sends `HEAD /srv/tiscale/v1/available` to `addr` (loopback for an unspecified address) and
/// waits up to `wait` for the status line of any answer.
fn ask(probe: &Probe, addr: std::net::SocketAddr, wait: Duration) -> bool {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let Ok(s) = std::net::TcpStream::connect_timeout(&addr, wait) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(wait));
    let _ = s.set_write_timeout(Some(wait));
    let request = format!(
        "HEAD /srv/tiscale/v1/available HTTP/1.1\r\nHost: {addr}\r\n{PROBE_HEADER}: 1\r\n\
         Connection: close\r\n\r\n"
    );
    let mut head = [0u8; 12];
    let mut exchange = |s: &mut dyn ReadWrite| {
        s.write_all(request.as_bytes()).is_ok()
            && s.flush().is_ok()
            && s.read_exact(&mut head).is_ok()
            && head.starts_with(b"HTTP/1.1 ")
    };
    match probe {
        Probe::Plain => exchange(&mut { s }),
        Probe::Tls(config) => {
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let Ok(conn) = rustls::ClientConnection::new(config.clone(), name) else {
                return false;
            };
            exchange(&mut rustls::StreamOwned::new(conn, s))
        }
    }
}

trait ReadWrite: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> ReadWrite for T {}
