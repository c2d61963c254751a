//! Configuration: the TOML file (unknown keys rejected) and command-line overrides, validated once
//! into a typed [`Config`] whose `Display` is the effective configuration with secrets redacted.
//!
//! Only this module reads the configuration file; everything else receives a typed part of `Config`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::analysis::cache::Bounds as CacheBounds;
use crate::analysis::inspect::strings::Options as StringOptions;
use crate::analysis::yara::{Options as YaraOptions, Rulesets};
use crate::analysis::{Engine, Limits};

/// Why the configuration could not be used. Printed at start-up; the server does not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrongly typed values.
    #[error("configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is out of range or otherwise unusable.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The file as written: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    public_url: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    analysis: RawAnalysis,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    tokens: RawTokens,
    #[serde(default)]
    health: RawHealth,
    #[serde(default)]
    license: RawLicense,
    #[serde(default)]
    unpacking: RawUnpacking,
    #[serde(default)]
    strings: RawStrings,
    #[serde(default)]
    verdicts: RawVerdicts,
    #[serde(default)]
    yara: RawYara,
    #[serde(default)]
    reports: RawReports,
    #[serde(default)]
    outbox: RawOutbox,
    callback: Option<RawCallback>,
    splunk: Option<RawSplunk>,
    s3: Option<RawS3>,
    tls: Option<RawTls>,
    hub: Option<RawHub>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHub {
    poll_secs: Option<usize>,
    timeout_secs: Option<usize>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    workers: Vec<RawHubWorker>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHubWorker {
    url: String,
    usage_token: Option<String>,
    service_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3 {
    endpoint: Option<String>,
    region: Option<String>,
    path_style: Option<bool>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    prefix: Option<String>,
    samples: Option<String>,
    reports: Option<String>,
    unpacked: Option<String>,
    timeout_secs: Option<usize>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    threads: Option<usize>,
    max_age_secs: Option<usize>,
    max_pending: Option<usize>,
    first_retry_secs: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCallback {
    url: Option<String>,
    report_type: Option<String>,
    view: Option<String>,
    allowed_hosts: Option<Vec<String>>,
    timeout_secs: Option<usize>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSplunk {
    url: String,
    token: String,
    index: Option<String>,
    sourcetype: Option<String>,
    report_type: Option<String>,
    view: Option<String>,
    timeout_secs: Option<usize>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReports {
    types_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYara {
    rules_dir: Option<PathBuf>,
    sync: Option<bool>,
    poll_secs: Option<usize>,
    scan_timeout_secs: Option<usize>,
    max_strings: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStrings {
    min_length: Option<usize>,
    max_per_category: Option<usize>,
    max_listed: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerdicts {
    hash_lists: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnpacking {
    max_depth: Option<usize>,
    max_files: Option<usize>,
    max_total_bytes: Option<u64>,
    max_ratio: Option<u64>,
    /// Seconds, fractions allowed (`0.05`).
    max_seconds: Option<f64>,
    passwords: Option<Vec<String>>,
    alert_exceeds_max: Option<bool>,
    fuzzy_max_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    threads: Option<usize>,
    max_upload_bytes: Option<u64>,
    max_connections: Option<usize>,
    idle_timeout_secs: Option<usize>,
    read_timeout_secs: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnalysis {
    threads: Option<usize>,
    queue_capacity: Option<usize>,
    queue_timeout_secs: Option<u64>,
    cache_max_entries: Option<usize>,
    cache_max_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    results_secs: Option<u64>,
    cancelled_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    usage: Option<String>,
    service: Option<String>,
    license: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    max_disk_used_percent: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicense {
    enforce: Option<bool>,
}

/// Command-line values that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen ADDR`
    pub listen: Option<String>,
    /// `--data-dir DIR`
    pub data_dir: Option<PathBuf>,
}

/// The outbox and its delivery threads.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub threads: usize,
    /// A delivery still failing this long after it was written is given up.
    pub max_age: Duration,
    /// Pending deliveries above which the log and sysinfo raise an alarm.
    pub max_pending: u64,
    /// About how long the first retry of a failed delivery waits; each next one twice as long,
    /// up to an hour.
    pub first_retry: Duration,
}

/// `[callback]`: POST each finished task's document to a URL.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    /// The default target; `user_data.callback.url` overrides it per task.
    pub url: Option<String>,
    pub report_type: String,
    pub view: Option<String>,
    /// Hosts a per-upload URL may name (`None`: any).
    pub allowed_hosts: Option<Vec<String>>,
    pub timeout: Duration,
    /// PEM certificates of a private CA to trust instead of the public roots.
    pub ca_file: Option<PathBuf>,
}

/// `[splunk]`: each finished task as an event to Splunk's HTTP Event Collector.
#[derive(Clone)]
pub struct SplunkConfig {
    /// The collector's base URL; `/services/collector/event` is appended.
    pub url: String,
    pub token: String,
    pub index: Option<String>,
    pub sourcetype: String,
    pub report_type: String,
    pub view: Option<String>,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for SplunkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplunkConfig")
            .field("url", &self.url)
            .field("token", &"<set>")
            .field("index", &self.index)
            .field("sourcetype", &self.sourcetype)
            .field("report_type", &self.report_type)
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

/// `[s3]`: samples and reports in S3 buckets (DECISIONS.md: keys, links).
#[derive(Clone)]
pub struct S3Config {
    pub endpoint: String,
    pub region: String,
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`.
    pub path_style: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Put before every object key (e.g. `assay/`).
    pub prefix: String,
    pub samples: Option<String>,
    pub reports: Option<String>,
    /// Every extracted file, content-addressed like the samples.
    pub unpacked: Option<String>,
    /// Longest wait for the next bytes of a request or an answer (idle, not total).
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<set>")
            .field("prefix", &self.prefix)
            .field("samples", &self.samples)
            .field("reports", &self.reports)
            .field("unpacked", &self.unpacked)
            .finish_non_exhaustive()
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Holds the SQLite file and the spool directory, nothing else.
    pub data_dir: PathBuf,
    /// Base for `task_url` (e.g. `https://worker01:8443`); when absent the request's Host is used.
    pub public_url: Option<String>,
    /// Peers whose `X-Forwarded-Proto` / `X-Forwarded-Host` headers count for `task_url`.
    pub trusted_proxies: Vec<AddrRange>,
    pub http: HttpConfig,
    pub analysis: AnalysisConfig,
    pub retention: RetentionConfig,
    pub tokens: Tokens,
    /// Used share of the data directory's file system above which the server is "not healthy".
    pub max_disk_used_percent: f64,
    /// When true, uploads are refused unless the license status is VALID.
    pub enforce_license: bool,
    /// Budgets of the analysis engine.
    pub unpacking: Limits,
    /// What string extraction keeps.
    pub strings: StringOptions,
    /// Directory of known-bad / known-good hash lists (default `<data_dir>/hash-lists`).
    pub hash_lists: PathBuf,
    /// YARA rulesets (default directory `<data_dir>/yara`).
    pub yara: YaraOptions,
    /// Custom report types, one JSON file each (default `<data_dir>/report-types`).
    pub report_types: PathBuf,
    pub outbox: OutboxConfig,
    pub callback: Option<CallbackConfig>,
    pub splunk: Option<SplunkConfig>,
    pub s3: Option<S3Config>,
    /// HTTPS: the server's certificate and key (PEM).
    pub tls: Option<TlsConfig>,
    /// Hub mode: uploads are forwarded to these Workers, nothing is analysed here.
    pub hub: Option<HubConfig>,
}

/// `[tls]`: the certificate chain and private key the server answers HTTPS with.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `[hub]`: the Workers a Hub forwards uploads to, round-robin.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// How often each Worker's `/srv/tiscale/v1/available` is asked.
    pub poll: Duration,
    /// Longest wait for a Worker: to connect, and between bytes of a forward or an answer.
    pub timeout: Duration,
    /// A private CA for the Workers' certificates (PEM); the public roots otherwise.
    pub ca_file: Option<PathBuf>,
    pub workers: Vec<HubWorker>,
}

/// One Worker behind a Hub.
#[derive(Debug, Clone)]
pub struct HubWorker {
    /// `scheme://host[:port]`, without a trailing slash.
    pub url: String,
    /// The Worker's `tokens.usage`, sent with forwarded uploads.
    pub usage_token: Option<String>,
    /// The Worker's `tokens.service`, sent with the availability polls.
    pub service_token: Option<String>,
}

pub const DEFAULT_HUB_POLL_SECS: usize = 5;
pub const DEFAULT_HUB_TIMEOUT_SECS: usize = 30;

fn tls(raw: RawTls) -> Result<TlsConfig, ConfigError> {
    for (key, path) in [
        ("tls.cert_file", &raw.cert_file),
        ("tls.key_file", &raw.key_file),
    ] {
        if !path.is_file() {
            return Err(ConfigError::Invalid(format!(
                "{key}: {} is not a readable file",
                path.display()
            )));
        }
    }
    Ok(TlsConfig {
        cert_file: raw.cert_file,
        key_file: raw.key_file,
    })
}

fn hub(raw: RawHub) -> Result<HubConfig, ConfigError> {
    if raw.workers.is_empty() {
        return Err(ConfigError::Invalid(
            "[hub] needs at least one Worker: [[hub.workers]] with its url".into(),
        ));
    }
    let mut workers: Vec<HubWorker> = Vec::new();
    for (i, w) in raw.workers.into_iter().enumerate() {
        let url = http_url(&format!("hub.workers[{i}].url"), &w.url)?;
        if url
            .split("://")
            .nth(1)
            .is_some_and(|rest| rest.contains(['/', '?', '#']))
        {
            return Err(ConfigError::Invalid(format!(
                "hub.workers[{i}].url: {url:?} must be scheme://host[:port] without a path"
            )));
        }
        if workers.iter().any(|other| other.url == url) {
            return Err(ConfigError::Invalid(format!(
                "hub.workers[{i}].url: {url} is listed twice"
            )));
        }
        workers.push(HubWorker {
            url,
            usage_token: token(&format!("hub.workers[{i}].usage_token"), w.usage_token)?,
            service_token: token(&format!("hub.workers[{i}].service_token"), w.service_token)?,
        });
    }
    Ok(HubConfig {
        poll: Duration::from_secs(
            positive("hub.poll_secs", raw.poll_secs, DEFAULT_HUB_POLL_SECS)? as u64,
        ),
        timeout: Duration::from_secs(positive(
            "hub.timeout_secs",
            raw.timeout_secs,
            DEFAULT_HUB_TIMEOUT_SECS,
        )? as u64),
        ca_file: ca_file("hub.ca_file", raw.ca_file)?,
        workers,
    })
}

/// An address or a range of addresses (`10.0.0.0/8`), as `trusted_proxies` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    addr: IpAddr,
    prefix: u8,
}

impl AddrRange {
    /// Whether `ip` is in the range (an IPv4 peer seen as `::ffff:a.b.c.d` counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for AddrRange {
    type Err = ();

    fn from_str(s: &str) -> Result<AddrRange, ()> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| ())?)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| ())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(());
        }
        Ok(AddrRange { addr, prefix })
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// HTTP front end.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub threads: usize,
    pub max_upload_bytes: u64,
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// A connection's next request must have arrived (its head complete) this long after the
    /// connection opened or its previous answer went out; an idle connection is closed then.
    pub idle_timeout: Duration,
    /// Longest wait for the next bytes of a request body, or for a client to take an answer.
    pub read_timeout: Duration,
}

/// The analysis cache's bounds from `[analysis]`.
fn cache_bounds(raw: &RawAnalysis) -> CacheBounds {
    let d = CacheBounds::default();
    CacheBounds {
        max_entries: raw.cache_max_entries.unwrap_or(d.max_entries),
        max_bytes: raw.cache_max_bytes.unwrap_or(d.max_bytes),
    }
}

/// Queue and analysis pool.
#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    pub threads: usize,
    pub queue_capacity: usize,
    /// A task still queued after this long is cancelled; `None` disables the timeout.
    pub queue_timeout: Option<Duration>,
    /// Bounds of the analysis cache (`cache_max_entries = 0` turns it off).
    pub cache: CacheBounds,
}

/// How long records are kept.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Finished (done or failed) tasks are purged this long after processing.
    pub results: Duration,
    /// Cancelled task records are purged this long after cancellation.
    pub cancelled: Duration,
}

/// One optional token per endpoint group.
#[derive(Clone, Default)]
pub struct Tokens {
    /// `/api/tiscale/*`
    pub usage: Option<String>,
    /// `/srv/tiscale/*`
    pub service: Option<String>,
    /// `/api/license/*`
    pub license: Option<String>,
}

impl Tokens {
    /// One warning per endpoint group left open while another group has a token: an operator
    /// who set one token most likely meant the Worker to be closed, not half open.
    pub fn warnings(&self) -> Vec<String> {
        let groups = [
            (
                "tokens.usage",
                &self.usage,
                "/api/tiscale/*: upload files and read every report",
            ),
            (
                "tokens.service",
                &self.service,
                "/srv/tiscale/*: pause the Worker and read its statistics",
            ),
            (
                "tokens.license",
                &self.license,
                "/api/license/*: regenerate the machine id and replace the license",
            ),
        ];
        let Some((set, _, _)) = groups.iter().find(|(_, token, _)| token.is_some()) else {
            return Vec::new();
        };
        groups
            .iter()
            .filter(|(_, token, _)| token.is_none())
            .map(|(key, _, what)| {
                format!("WARNING: {key} is not set while {set} is: anyone who reaches this port can use {what}")
            })
            .collect()
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never let a token reach a log through Debug either.
        f.debug_struct("Tokens")
            .field("usage", &redact(&self.usage))
            .field("service", &redact(&self.service))
            .field("license", &redact(&self.license))
            .finish()
    }
}

fn redact(token: &Option<String>) -> &'static str {
    match token {
        Some(_) => "<set>",
        None => "<none>",
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./assay-data";
pub const DEFAULT_HTTP_THREADS: usize = 8;
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 4 * 1024 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
pub const DEFAULT_IDLE_TIMEOUT_SECS: usize = 30;
pub const DEFAULT_READ_TIMEOUT_SECS: usize = 60;
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
pub const DEFAULT_QUEUE_TIMEOUT_SECS: u64 = 3600;
pub const DEFAULT_RESULTS_SECS: u64 = 30 * 60;
pub const DEFAULT_CANCELLED_SECS: u64 = 24 * 3600;
pub const DEFAULT_MAX_DISK_USED_PERCENT: f64 = 95.0;

impl Config {
    /// Reads `path` (or uses the embedded defaults when `None`), applies `overrides`, validates.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let raw = match path {
            None => RawConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                parse_raw(&text).map_err(|message| ConfigError::Parse {
                    path: path.to_owned(),
                    message,
                })?
            }
        };
        let config = Config::from_raw(raw, overrides)?;
        config.check_data_dir()?;
        Ok(config)
    }

    /// Only the analysis engine, for `assay scan`: no data directory is needed or created, and
    /// hash lists are used only when `verdicts.hash_lists` names them.
    pub fn load_engine(path: Option<&Path>) -> Result<Engine, ConfigError> {
        let raw = match path {
            None => RawConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                parse_raw(&text).map_err(|message| ConfigError::Parse {
                    path: path.to_owned(),
                    message,
                })?
            }
        };
        // Offline scans use YARA rules only when a directory is configured.
        let rules_dir = raw.yara.rules_dir.clone();
        let yara = match rules_dir {
            Some(dir) => Arc::new(Rulesets::load(yara(raw.yara, dir, None)?)),
            None => Arc::new(Rulesets::none()),
        };
        Ok(Engine::new(
            limits(raw.unpacking)?,
            strings(raw.strings)?,
            raw.verdicts.hash_lists,
        )
        .with_yara(yara)
        .with_cache(cache_bounds(&raw.analysis))
        .spilling_to(std::env::temp_dir()))
    }

    /// Parses TOML text without touching the file system (data_dir is not checked).
    #[cfg(test)]
    pub fn from_toml(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let raw = parse_raw(text).map_err(|message| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            message,
        })?;
        Config::from_raw(raw, overrides)
    }

    fn from_raw(raw: RawConfig, overrides: &Overrides) -> Result<Config, ConfigError> {
        let listen_text = overrides
            .listen
            .clone()
            .or(raw.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "listen: {listen_text:?} is not an address such as 127.0.0.1:8080"
            ))
        })?;
        let data_dir = overrides
            .data_dir
            .clone()
            .or(raw.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid("data_dir must not be empty".into()));
        }

        let public_url = match raw.public_url {
            None => None,
            Some(url) => {
                let url = url.trim_end_matches('/').to_string();
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.contains('?')
                    || url.split("://").nth(1).is_none_or(str::is_empty)
                {
                    return Err(ConfigError::Invalid(format!(
                        "public_url: {url:?} must be an absolute http:// or https:// URL without a query"
                    )));
                }
                Some(url)
            }
        };

        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .map(|text| {
                text.parse::<AddrRange>().map_err(|()| {
                    ConfigError::Invalid(format!(
                        "trusted_proxies: {text:?} is not an address (10.0.0.1) or a range \
                         (10.0.0.0/8, fd00::/8)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let secs = |key: &str, value: Option<usize>, default: usize| {
            positive(key, value, default).map(|s| Duration::from_secs(s as u64))
        };
        let http = HttpConfig {
            threads: positive("http.threads", raw.http.threads, DEFAULT_HTTP_THREADS)?,
            max_upload_bytes: raw
                .http
                .max_upload_bytes
                .unwrap_or(DEFAULT_MAX_UPLOAD_BYTES),
            max_connections: positive(
                "http.max_connections",
                raw.http.max_connections,
                DEFAULT_MAX_CONNECTIONS,
            )?,
            idle_timeout: secs(
                "http.idle_timeout_secs",
                raw.http.idle_timeout_secs,
                DEFAULT_IDLE_TIMEOUT_SECS,
            )?,
            read_timeout: secs(
                "http.read_timeout_secs",
                raw.http.read_timeout_secs,
                DEFAULT_READ_TIMEOUT_SECS,
            )?,
        };
        if http.max_upload_bytes == 0 {
            return Err(ConfigError::Invalid(
                "http.max_upload_bytes must be at least 1".into(),
            ));
        }

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let analysis = AnalysisConfig {
            threads: positive("analysis.threads", raw.analysis.threads, cores)?,
            queue_capacity: positive(
                "analysis.queue_capacity",
                raw.analysis.queue_capacity,
                DEFAULT_QUEUE_CAPACITY,
            )?,
            queue_timeout: match raw
                .analysis
                .queue_timeout_secs
                .unwrap_or(DEFAULT_QUEUE_TIMEOUT_SECS)
            {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            cache: cache_bounds(&raw.analysis),
        };

        let retention = RetentionConfig {
            results: Duration::from_secs(
                raw.retention.results_secs.unwrap_or(DEFAULT_RESULTS_SECS),
            ),
            cancelled: Duration::from_secs(
                raw.retention
                    .cancelled_secs
                    .unwrap_or(DEFAULT_CANCELLED_SECS),
            ),
        };

        let tokens = Tokens {
            usage: token("tokens.usage", raw.tokens.usage)?,
            service: token("tokens.service", raw.tokens.service)?,
            license: token("tokens.license", raw.tokens.license)?,
        };

        let max_disk_used_percent = raw
            .health
            .max_disk_used_percent
            .unwrap_or(DEFAULT_MAX_DISK_USED_PERCENT);
        if !(max_disk_used_percent > 0.0 && max_disk_used_percent <= 100.0) {
            return Err(ConfigError::Invalid(format!(
                "health.max_disk_used_percent must be in (0, 100], got {max_disk_used_percent}"
            )));
        }

        let hub = raw.hub.map(hub).transpose()?;
        if hub.is_some() {
            for (section, set) in [
                ("[callback]", raw.callback.is_some()),
                ("[splunk]", raw.splunk.is_some()),
                ("[s3]", raw.s3.is_some()),
            ] {
                if set {
                    return Err(ConfigError::Invalid(format!(
                        "{section} with [hub]: a Hub analyses nothing and delivers no reports; \
                         configure {section} on the Workers"
                    )));
                }
            }
        }

        Ok(Config {
            listen,
            public_url,
            trusted_proxies,
            http,
            analysis,
            retention,
            tokens,
            max_disk_used_percent,
            enforce_license: raw.license.enforce.unwrap_or(false),
            unpacking: limits(raw.unpacking)?,
            strings: strings(raw.strings)?,
            hash_lists: raw
                .verdicts
                .hash_lists
                .unwrap_or_else(|| data_dir.join("hash-lists")),
            yara: yara(
                raw.yara,
                data_dir.join("yara"),
                Some(data_dir.join("yara-cache")),
            )?,
            report_types: raw
                .reports
                .types_dir
                .unwrap_or_else(|| data_dir.join("report-types")),
            outbox: outbox(raw.outbox)?,
            callback: raw.callback.map(callback).transpose()?,
            splunk: raw.splunk.map(splunk).transpose()?,
            s3: raw.s3.map(s3).transpose()?,
            tls: raw.tls.map(tls).transpose()?,
            hub,
            data_dir,
        })
    }

    /// The scheme the server answers in: `https` with `[tls]`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The analysis engine this configuration describes.
    pub fn engine(&self) -> Engine {
        Engine::new(
            self.unpacking.clone(),
            self.strings.clone(),
            Some(self.hash_lists.clone()),
        )
        .with_cache(self.analysis.cache.clone())
        .spilling_to(self.spill_dir())
    }

    /// Creates the data directory if needed and proves it writable.
    fn check_data_dir(&self) -> Result<(), ConfigError> {
        let invalid = |what: &str, e: std::io::Error| {
            ConfigError::Invalid(format!("data_dir {}: {what}: {e}", self.data_dir.display()))
        };
        std::fs::create_dir_all(&self.data_dir).map_err(|e| invalid("cannot create", e))?;
        let probe = self.data_dir.join(".write-probe");
        std::fs::write(&probe, b"").map_err(|e| invalid("not writable", e))?;
        std::fs::remove_file(&probe).map_err(|e| invalid("not writable", e))?;
        Ok(())
    }

    /// The SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("assay.db")
    }

    /// Where uploads wait for analysis.
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    /// Where analysis spills large decoded streams (files unlinked as soon as created).
    pub fn spill_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// Where extracted files wait for their delivery to S3's unpacked bucket (named by sha1),
    /// when there is one.
    pub fn unpacked_dir(&self) -> Option<PathBuf> {
        self.s3
            .as_ref()
            .filter(|s| s.unpacked.is_some())
            .map(|_| self.data_dir.join("unpacked"))
    }
}

fn parse_raw(text: &str) -> Result<RawConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
}

fn limits(raw: RawUnpacking) -> Result<Limits, ConfigError> {
    let d = Limits::default();
    let limits = Limits {
        max_depth: positive("unpacking.max_depth", raw.max_depth, d.max_depth)?,
        max_files: positive("unpacking.max_files", raw.max_files, d.max_files)?,
        max_total_bytes: raw.max_total_bytes.unwrap_or(d.max_total_bytes),
        max_ratio: raw.max_ratio.unwrap_or(d.max_ratio),
        max_time: match raw.max_seconds {
            None => d.max_time,
            Some(secs) => seconds("unpacking.max_seconds", secs)?,
        },
        passwords: raw.passwords.unwrap_or(d.passwords),
        alert_exceeds_max: raw.alert_exceeds_max.unwrap_or(d.alert_exceeds_max),
        fuzzy_max_bytes: raw.fuzzy_max_bytes.unwrap_or(d.fuzzy_max_bytes),
    };
    if limits.max_total_bytes == 0 || limits.max_ratio == 0 {
        return Err(ConfigError::Invalid(
            "unpacking.max_total_bytes and max_ratio must be at least 1".into(),
        ));
    }
    Ok(limits)
}

fn strings(raw: RawStrings) -> Result<StringOptions, ConfigError> {
    let d = StringOptions::default();
    Ok(StringOptions {
        min_length: positive("strings.min_length", raw.min_length, d.min_length)?,
        max_per_category: raw.max_per_category.unwrap_or(d.max_per_category),
        max_listed: raw.max_listed.unwrap_or(d.max_listed),
    })
}

/// `[yara]`; the server keeps compiled rules in `cache_dir`, `assay scan` does not.
fn yara(
    raw: RawYara,
    default_dir: PathBuf,
    cache_dir: Option<PathBuf>,
) -> Result<YaraOptions, ConfigError> {
    let d = YaraOptions::default();
    let secs = |key: &str, value: Option<usize>, default: Duration| {
        positive(key, value, default.as_secs() as usize).map(|s| Duration::from_secs(s as u64))
    };
    Ok(YaraOptions {
        rules_dir: Some(raw.rules_dir.unwrap_or(default_dir)),
        sync: raw.sync.unwrap_or(d.sync),
        poll: secs("yara.poll_secs", raw.poll_secs, d.poll)?,
        scan_timeout: secs(
            "yara.scan_timeout_secs",
            raw.scan_timeout_secs,
            d.scan_timeout,
        )?,
        max_strings: raw.max_strings.unwrap_or(d.max_strings),
        cache_dir,
    })
}

/// A duration given in seconds, fractions allowed: more than zero and within what a clock counts.
fn seconds(key: &str, secs: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{key} must be a number of seconds above 0 (such as 60 or 0.05), not {secs}"
            ))
        })
}

pub const DEFAULT_OUTBOX_THREADS: usize = 2;
pub const DEFAULT_OUTBOX_MAX_AGE_SECS: usize = 24 * 3600;
pub const DEFAULT_OUTBOX_MAX_PENDING: usize = 10_000;
pub const DEFAULT_OUTBOX_FIRST_RETRY_SECS: usize = 5;
pub const DEFAULT_DELIVERY_TIMEOUT_SECS: usize = 30;
pub const DEFAULT_DELIVERY_REPORT_TYPE: &str = "medium";
pub const DEFAULT_SPLUNK_SOURCETYPE: &str = "assay:report";

fn outbox(raw: RawOutbox) -> Result<OutboxConfig, ConfigError> {
    Ok(OutboxConfig {
        threads: positive("outbox.threads", raw.threads, DEFAULT_OUTBOX_THREADS)?,
        max_age: Duration::from_secs(positive(
            "outbox.max_age_secs",
            raw.max_age_secs,
            DEFAULT_OUTBOX_MAX_AGE_SECS,
        )? as u64),
        max_pending: positive(
            "outbox.max_pending",
            raw.max_pending,
            DEFAULT_OUTBOX_MAX_PENDING,
        )? as u64,
        first_retry: Duration::from_secs(positive(
            "outbox.first_retry_secs",
            raw.first_retry_secs,
            DEFAULT_OUTBOX_FIRST_RETRY_SECS,
        )? as u64),
    })
}

/// An absolute http:// or https:// URL (`key` names it in the error).
pub fn http_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .filter(|h| !h.is_empty());
    match host {
        Some(_) => Ok(url.to_string()),
        None => Err(ConfigError::Invalid(format!(
            "{key}: {url:?} must be an absolute http:// or https:// URL"
        ))),
    }
}

fn ca_file(key: &str, path: Option<PathBuf>) -> Result<Option<PathBuf>, ConfigError> {
    match path {
        Some(p) if !p.is_file() => Err(ConfigError::Invalid(format!(
            "{key}: {} is not a readable file",
            p.display()
        ))),
        p => Ok(p),
    }
}

fn callback(raw: RawCallback) -> Result<CallbackConfig, ConfigError> {
    Ok(CallbackConfig {
        url: raw.url.map(|u| http_url("callback.url", &u)).transpose()?,
        report_type: raw
            .report_type
            .unwrap_or_else(|| DEFAULT_DELIVERY_REPORT_TYPE.into()),
        view: raw.view,
        allowed_hosts: raw.allowed_hosts.map(|hosts| {
            hosts
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect()
        }),
        timeout: Duration::from_secs(positive(
            "callback.timeout_secs",
            raw.timeout_secs,
            DEFAULT_DELIVERY_TIMEOUT_SECS,
        )? as u64),
        ca_file: ca_file("callback.ca_file", raw.ca_file)?,
    })
}

fn splunk(raw: RawSplunk) -> Result<SplunkConfig, ConfigError> {
    if raw.token.trim().is_empty() {
        return Err(ConfigError::Invalid(
            "splunk.token must not be empty".into(),
        ));
    }
    Ok(SplunkConfig {
        url: http_url("splunk.url", &raw.url)?,
        token: raw.token.trim().to_string(),
        index: raw.index,
        sourcetype: raw
            .sourcetype
            .unwrap_or_else(|| DEFAULT_SPLUNK_SOURCETYPE.into()),
        report_type: raw
            .report_type
            .unwrap_or_else(|| DEFAULT_DELIVERY_REPORT_TYPE.into()),
        view: raw.view,
        timeout: Duration::from_secs(positive(
            "splunk.timeout_secs",
            raw.timeout_secs,
            DEFAULT_DELIVERY_TIMEOUT_SECS,
        )? as u64),
        ca_file: ca_file("splunk.ca_file", raw.ca_file)?,
    })
}

pub const DEFAULT_S3_REGION: &str = "us-east-1";
pub const DEFAULT_S3_TIMEOUT_SECS: usize = 60;

fn s3(raw: RawS3) -> Result<S3Config, ConfigError> {
    let region = raw.region.unwrap_or_else(|| DEFAULT_S3_REGION.to_string());
    let endpoint = match raw.endpoint {
        Some(e) => http_url("s3.endpoint", &e)?,
        None => format!("https://s3.{region}.amazonaws.com"),
    };
    // The standard variables stand in for keys the file leaves out.
    let from_env = |key: Option<String>, var: &str, name: &str| {
        key.or_else(|| std::env::var(var).ok())
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| ConfigError::Invalid(format!("s3.{name} is not set (nor {var})")))
    };
    let bucket = |name: &str, b: Option<String>| -> Result<Option<String>, ConfigError> {
        match b {
            Some(b) if b.is_empty() || b.contains('/') => Err(ConfigError::Invalid(format!(
                "s3.{name}: {b:?} is not a bucket name"
            ))),
            b => Ok(b),
        }
    };
    let config = S3Config {
        endpoint,
        region,
        path_style: raw.path_style.unwrap_or(false),
        access_key_id: from_env(raw.access_key_id, "AWS_ACCESS_KEY_ID", "access_key_id")?,
        secret_access_key: from_env(
            raw.secret_access_key,
            "AWS_SECRET_ACCESS_KEY",
            "secret_access_key",
        )?,
        prefix: raw.prefix.unwrap_or_default(),
        samples: bucket("samples", raw.samples)?,
        reports: bucket("reports", raw.reports)?,
        unpacked: bucket("unpacked", raw.unpacked)?,
        timeout: Duration::from_secs(positive(
            "s3.timeout_secs",
            raw.timeout_secs,
            DEFAULT_S3_TIMEOUT_SECS,
        )? as u64),
        ca_file: ca_file("s3.ca_file", raw.ca_file)?,
    };
    if config.samples.is_none() && config.reports.is_none() && config.unpacked.is_none() {
        return Err(ConfigError::Invalid(
            "[s3] needs a bucket: s3.samples, s3.reports or s3.unpacked".into(),
        ));
    }
    Ok(config)
}

fn positive(key: &str, value: Option<usize>, default: usize) -> Result<usize, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(ConfigError::Invalid(format!("{key} must be at least 1"))),
        Some(n) => Ok(n),
    }
}

/// Tokens are 30–60 ASCII alphanumerics (the seed's rule); an empty string means "no token".
fn token(key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        None => Ok(None),
        Some(t) if t.is_empty() => Ok(None),
        Some(t) => {
            if (30..=60).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Ok(Some(t))
            } else {
                Err(ConfigError::Invalid(format!(
                    "{key} must be 30 to 60 letters and digits (got {} characters)",
                    t.chars().count()
                )))
            }
        }
    }
}

impl fmt::Display for Config {
    /// The effective configuration, one `key = value` per line, tokens redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "listen = {}", self.listen)?;
        writeln!(f, "data_dir = {}", self.data_dir.display())?;
        writeln!(
            f,
            "public_url = {}",
            self.public_url.as_deref().unwrap_or("<from Host header>")
        )?;
        let proxies: Vec<String> = self.trusted_proxies.iter().map(|p| p.to_string()).collect();
        writeln!(f, "trusted_proxies = [{}]", proxies.join(", "))?;
        writeln!(f, "http.threads = {}", self.http.threads)?;
        writeln!(f, "http.max_upload_bytes = {}", self.http.max_upload_bytes)?;
        writeln!(f, "http.max_connections = {}", self.http.max_connections)?;
        writeln!(
            f,
            "http.idle_timeout_secs = {}",
            self.http.idle_timeout.as_secs()
        )?;
        writeln!(
            f,
            "http.read_timeout_secs = {}",
            self.http.read_timeout.as_secs()
        )?;
        writeln!(f, "analysis.threads = {}", self.analysis.threads)?;
        writeln!(
            f,
            "analysis.queue_capacity = {}",
            self.analysis.queue_capacity
        )?;
        writeln!(
            f,
            "analysis.queue_timeout_secs = {}",
            self.analysis.queue_timeout.map_or(0, |d| d.as_secs())
        )?;
        writeln!(
            f,
            "analysis.cache_max_entries = {}",
            self.analysis.cache.max_entries
        )?;
        writeln!(
            f,
            "analysis.cache_max_bytes = {}",
            self.analysis.cache.max_bytes
        )?;
        writeln!(
            f,
            "retention.results_secs = {}",
            self.retention.results.as_secs()
        )?;
        writeln!(
            f,
            "retention.cancelled_secs = {}",
            self.retention.cancelled.as_secs()
        )?;
        writeln!(f, "tokens.usage = {}", redact(&self.tokens.usage))?;
        writeln!(f, "tokens.service = {}", redact(&self.tokens.service))?;
        writeln!(f, "tokens.license = {}", redact(&self.tokens.license))?;
        writeln!(
            f,
            "health.max_disk_used_percent = {}",
            self.max_disk_used_percent
        )?;
        writeln!(f, "license.enforce = {}", self.enforce_license)?;
        let u = &self.unpacking;
        writeln!(f, "unpacking.max_depth = {}", u.max_depth)?;
        writeln!(f, "unpacking.max_files = {}", u.max_files)?;
        writeln!(f, "unpacking.max_total_bytes = {}", u.max_total_bytes)?;
        writeln!(f, "unpacking.max_ratio = {}", u.max_ratio)?;
        writeln!(f, "unpacking.max_seconds = {}", u.max_time.as_secs_f64())?;
        writeln!(f, "unpacking.passwords = {} configured", u.passwords.len())?;
        writeln!(f, "unpacking.alert_exceeds_max = {}", u.alert_exceeds_max)?;
        writeln!(f, "unpacking.fuzzy_max_bytes = {}", u.fuzzy_max_bytes)?;
        writeln!(f, "strings.min_length = {}", self.strings.min_length)?;
        writeln!(
            f,
            "strings.max_per_category = {}",
            self.strings.max_per_category
        )?;
        writeln!(f, "strings.max_listed = {}", self.strings.max_listed)?;
        writeln!(f, "verdicts.hash_lists = {}", self.hash_lists.display())?;
        let y = &self.yara;
        if let Some(dir) = &y.rules_dir {
            writeln!(f, "yara.rules_dir = {}", dir.display())?;
        }
        writeln!(f, "yara.sync = {}", y.sync)?;
        writeln!(f, "yara.poll_secs = {}", y.poll.as_secs())?;
        writeln!(f, "yara.scan_timeout_secs = {}", y.scan_timeout.as_secs())?;
        writeln!(f, "yara.max_strings = {}", y.max_strings)?;
        writeln!(f, "reports.types_dir = {}", self.report_types.display())?;
        let o = &self.outbox;
        writeln!(f, "outbox.threads = {}", o.threads)?;
        writeln!(f, "outbox.max_age_secs = {}", o.max_age.as_secs())?;
        writeln!(f, "outbox.max_pending = {}", o.max_pending)?;
        write!(f, "outbox.first_retry_secs = {}", o.first_retry.as_secs())?;
        if let Some(c) = &self.callback {
            writeln!(f)?;
            writeln!(
                f,
                "callback.url = {}",
                c.url.as_deref().unwrap_or("<per upload>")
            )?;
            writeln!(f, "callback.report_type = {}", c.report_type)?;
            writeln!(
                f,
                "callback.view = {}",
                c.view.as_deref().unwrap_or("<none>")
            )?;
            match &c.allowed_hosts {
                Some(hosts) => writeln!(f, "callback.allowed_hosts = {}", hosts.join(", "))?,
                None => writeln!(f, "callback.allowed_hosts = <any>")?,
            }
            write!(f, "callback.timeout_secs = {}", c.timeout.as_secs())?;
        }
        if let Some(s) = &self.s3 {
            writeln!(f)?;
            writeln!(f, "s3.endpoint = {}", s.endpoint)?;
            writeln!(f, "s3.region = {}", s.region)?;
            writeln!(f, "s3.path_style = {}", s.path_style)?;
            writeln!(f, "s3.access_key_id = {}", s.access_key_id)?;
            writeln!(f, "s3.secret_access_key = <set>")?;
            writeln!(f, "s3.prefix = {}", s.prefix)?;
            writeln!(
                f,
                "s3.samples = {}",
                s.samples.as_deref().unwrap_or("<none>")
            )?;
            writeln!(
                f,
                "s3.reports = {}",
                s.reports.as_deref().unwrap_or("<none>")
            )?;
            writeln!(
                f,
                "s3.unpacked = {}",
                s.unpacked.as_deref().unwrap_or("<none>")
            )?;
            write!(f, "s3.timeout_secs = {}", s.timeout.as_secs())?;
        }
        if let Some(s) = &self.splunk {
            writeln!(f)?;
            writeln!(f, "splunk.url = {}", s.url)?;
            writeln!(f, "splunk.token = <set>")?;
            writeln!(
                f,
                "splunk.index = {}",
                s.index.as_deref().unwrap_or("<default>")
            )?;
            writeln!(f, "splunk.sourcetype = {}", s.sourcetype)?;
            writeln!(f, "splunk.report_type = {}", s.report_type)?;
            write!(f, "splunk.timeout_secs = {}", s.timeout.as_secs())?;
        }
        if let Some(t) = &self.tls {
            writeln!(f)?;
            writeln!(f, "tls.cert_file = {}", t.cert_file.display())?;
            write!(f, "tls.key_file = {}", t.key_file.display())?;
        }
        if let Some(h) = &self.hub {
            writeln!(f)?;
            writeln!(f, "hub.poll_secs = {}", h.poll.as_secs())?;
            writeln!(f, "hub.timeout_secs = {}", h.timeout.as_secs())?;
            if let Some(ca) = &h.ca_file {
                writeln!(f, "hub.ca_file = {}", ca.display())?;
            }
            for (i, w) in h.workers.iter().enumerate() {
                write!(
                    f,
                    "hub.workers[{i}] = {} (usage_token {}, service_token {})",
                    w.url,
                    redact(&w.usage_token),
                    redact(&w.service_token)
                )?;
                if i + 1 < h.workers.len() {
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let range = |s: &str| s.parse::<AddrRange>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(range("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!range("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(range("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!range("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(range("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(range("fd00::/8").contains(ip("fd12::1")));
        assert!(!range("fd00::/8").contains(ip("fe80::1")));
        // An IPv4 peer on a dual-stack socket is seen as ::ffff:a.b.c.d.
        assert!(range("192.0.2.0/24").contains(ip("::ffff:192.0.2.7")));
        for bad in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "host.example",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<AddrRange>().is_err(), "{bad:?}");
        }
        let err = Config::from_raw(
            RawConfig {
                trusted_proxies: vec!["10.0.0.0/40".into()],
                ..RawConfig::default()
            },
            &Overrides::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("trusted_proxies") && err.contains("10.0.0.0/40"),
            "{err}"
        );
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::from_toml("", &Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.retention.results, Duration::from_secs(1800));
        assert_eq!(c.retention.cancelled, Duration::from_secs(86400));
        assert!(c.analysis.threads >= 1);
        assert!(c.tokens.usage.is_none());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = Config::from_toml("lisen = \"1.2.3.4:1\"", &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = Config::from_toml("[analysis]\nthreadz = 2", &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("threadz"), "{err}");
    }

    #[test]
    fn overrides_beat_the_file() {
        let o = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some("/tmp/x".into()),
        };
        let c = Config::from_toml("listen = \"0.0.0.0:9\"\ndata_dir = \"/y\"", &o).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn tokens_must_be_30_to_60_alphanumerics() {
        let ok = format!("[tokens]\nusage = \"{TOKEN}\"");
        assert!(Config::from_toml(&ok, &Overrides::default()).is_ok());
        for bad in [
            "short",
            &"a".repeat(61),
            "abcdefghijklmnopqrstuvwxyz-0123456789",
        ] {
            let text = format!("[tokens]\nservice = \"{bad}\"");
            let err = Config::from_toml(&text, &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("tokens.service"), "{err}");
        }
    }

    #[test]
    fn an_endpoint_group_left_open_beside_a_closed_one_is_warned_about() {
        let read = |text: &str| Config::from_toml(text, &Overrides::default()).unwrap();
        assert!(
            read("").tokens.warnings().is_empty(),
            "all open is a choice"
        );
        let w = read(&format!("[tokens]\nusage = \"{TOKEN}\""))
            .tokens
            .warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("tokens.service") && w[0].contains("pause the Worker"));
        assert!(w[1].contains("tokens.license") && w[1].contains("machine id"));
        let all =
            format!("[tokens]\nusage = \"{TOKEN}\"\nservice = \"{TOKEN}\"\nlicense = \"{TOKEN}\"");
        assert!(read(&all).tokens.warnings().is_empty());
    }

    #[test]
    fn display_redacts_tokens() {
        let text = format!("[tokens]\nusage = \"{TOKEN}\"\nlicense = \"{TOKEN}\"");
        let c = Config::from_toml(&text, &Overrides::default()).unwrap();
        let shown = format!("{c}\n{c:?}");
        assert!(!shown.contains(TOKEN));
        assert!(shown.contains("tokens.usage = <set>"));
        assert!(shown.contains("tokens.service = <none>"));
    }

    #[test]
    fn bad_values_are_named() {
        for (text, key) in [
            ("listen = \"nowhere\"", "listen"),
            ("[http]\nthreads = 0", "http.threads"),
            (
                "[health]\nmax_disk_used_percent = 120.0",
                "max_disk_used_percent",
            ),
            ("public_url = \"worker01:8080\"", "public_url"),
        ] {
            let err = Config::from_toml(text, &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn unpacking_budgets_are_read_and_checked() {
        let c = Config::from_toml(
            "[unpacking]\nmax_depth = 3\npasswords = [\"x\"]\nalert_exceeds_max = true",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.unpacking.max_depth, 3);
        assert_eq!(c.unpacking.passwords, ["x"]);
        assert!(c.unpacking.alert_exceeds_max);
        assert!(Config::from_toml("[unpacking]\nmax_ratio = 0", &Overrides::default()).is_err());
        let d = Config::from_toml("", &Overrides::default()).unwrap();
        assert!(d.unpacking.passwords.iter().any(|p| p == "infected"));
    }

    #[test]
    fn max_seconds_takes_whole_seconds_and_fractions() {
        let read = |text: &str| Config::from_toml(text, &Overrides::default());
        let c = read("[unpacking]\nmax_seconds = 0.05").unwrap();
        assert_eq!(c.unpacking.max_time, Duration::from_millis(50));
        assert!(c.to_string().contains("unpacking.max_seconds = 0.05"));
        let c = read("[unpacking]\nmax_seconds = 90").unwrap();
        assert_eq!(c.unpacking.max_time, Duration::from_secs(90));
        assert!(c.to_string().contains("unpacking.max_seconds = 90\n"));
        for bad in ["0", "0.0", "-1", "nan", "inf", "1e300", "1e-12"] {
            let err = read(&format!("[unpacking]\nmax_seconds = {bad}")).unwrap_err();
            assert!(
                err.to_string().contains("unpacking.max_seconds"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn queue_timeout_zero_disables_it() {
        let c =
            Config::from_toml("[analysis]\nqueue_timeout_secs = 0", &Overrides::default()).unwrap();
        assert!(c.analysis.queue_timeout.is_none());
    }

    #[test]
    fn unwritable_data_dir_is_refused() {
        let o = Overrides {
            listen: None,
            data_dir: Some("/proc/assay-cannot-exist".into()),
        };
        assert!(Config::load(None, &o).is_err());
    }
}
