//! The outbound HTTP client the deliveries share: ureq (sync, rustls) with our own resolver
//! (`resolve.rs`, for the static binary), a timeout, no
//! redirects followed (a receiver that moved is a failure to see, not to follow with a report),
//! and certificates checked against the public roots or a private CA's.

use std::path::Path;
use std::time::Duration;

use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};

/// Most bytes of a receiver's answer read (for its status and error message).
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// How long a request may take.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// The whole request and its answer (a callback, a batch of events).
    Whole(Duration),
    /// Each wait for the next bytes, and the connection: a large upload that keeps moving is
    /// never cut off (S3 objects).
    Idle(Duration),
}

/// An agent for one integration, with certificates checked against the public roots, or
/// against `ca_file`'s (PEM) instead.
pub fn agent(limit: Limit, ca_file: Option<&Path>) -> Result<ureq::Agent, String> {
    let builder = ureq::Agent::config_builder();
    let builder = match limit {
        Limit::Whole(t) => builder.timeout_global(Some(t)),
        Limit::Idle(t) => builder
            .timeout_connect(Some(t))
            .timeout_per_read(Some(t))
            .timeout_per_write(Some(t)),
    };
    let config = builder
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("assay/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls(ca_file)?)
        .build();
    Ok(ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        super::resolve::Resolver,
    ))
}

/// The TLS settings: the public roots, or `ca_file`'s certificates.
fn tls(ca_file: Option<&Path>) -> Result<TlsConfig, String> {
    let mut tls = TlsConfig::builder();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let certs: Vec<_> = parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    Ok(tls.build())
}

/// What a receiver answered: its status and the start of its body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The status and the start of the body, for a log line.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.chars().take(200).collect();
        format!("HTTP {}: {}", self.status, text.trim())
    }
}

/// POSTs `body` to `url` with `headers`; an error is a transport failure (no answer).
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, String> {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_vec()
        .unwrap_or_default();
    Ok(Answer { status, body })
}
