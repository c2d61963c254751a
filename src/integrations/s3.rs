//! S3: samples and reports in buckets (DECISIONS.md). Requests are signed with SigV4 by
//! rusty-s3 (presigned, sans-IO) and sent by the same ureq client as the other deliveries.
//!
//! Keys: a sample `<prefix>samples/<sha1>`, content-addressed (an object already there is not
//! uploaded again); a report `<prefix>reports/<sha1>/<task_id>-<submitted>.json`, the task's
//! document in the large shape (`custom_data` in it), one per task. A sample over
//! [`MULTIPART_OVER`] goes up as a multipart upload, each part streamed from the spool file, so
//! no object is ever held whole in memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::{client, each, Context, Outcome, Sink};
use crate::config::S3Config;
use crate::store::{Delivery, Sample, Target};

/// Objects larger than this go up in parts.
pub const MULTIPART_OVER: u64 = 64 * 1024 * 1024;
/// The size of each part of a multipart upload (S3 allows at most 10,000 parts: 160 GiB).
const PART: u64 = 16 * 1024 * 1024;
/// How long a presigned request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(3600);

/// The key of a sample (and of an unpacked file).
pub fn sample_key(prefix: &str, sha1: &str) -> String {
    format!("{prefix}samples/{sha1}")
}

/// The key of a task's report.
pub fn report_key(prefix: &str, sha1: &str, task_id: i64, submitted: i64) -> String {
    format!("{prefix}reports/{sha1}/{task_id}-{submitted}.json")
}

/// An object's link as the API shows it.
pub fn link(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// The S3 connection the two sinks share.
pub struct Client {
    config: S3Config,
    agent: ureq::Agent,
    credentials: Credentials,
    samples: Option<Bucket>,
    reports: Option<Bucket>,
    unpacked: Option<Bucket>,
    spool_dir: PathBuf,
    /// Where the analysis keeps extracted files for the unpacked bucket.
    unpacked_dir: Option<PathBuf>,
}

impl Client {
    pub fn new(
        config: &S3Config,
        spool_dir: PathBuf,
        unpacked_dir: Option<PathBuf>,
    ) -> Result<Client, String> {
        let endpoint: url::Url = config
            .endpoint
            .parse()
            .map_err(|e| format!("s3.endpoint: {e}"))?;
        let style = if config.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = |name: &Option<String>, key: &str| {
            name.as_ref()
                .map(|n| {
                    Bucket::new(endpoint.clone(), style, n.clone(), config.region.clone())
                        .map_err(|e| format!("s3.{key}: {e}"))
                })
                .transpose()
        };
        Ok(Client {
            agent: client::agent(
                client::Limit::Idle(config.timeout),
                config.ca_file.as_deref(),
            )
            .map_err(|e| format!("s3.ca_file: {e}"))?,
            credentials: Credentials::new(&config.access_key_id, &config.secret_access_key),
            samples: bucket(&config.samples, "samples")?,
            reports: bucket(&config.reports, "reports")?,
            unpacked: bucket(&config.unpacked, "unpacked")?,
            config: config.clone(),
            spool_dir,
            unpacked_dir,
        })
    }

    /// Whether `key` is in `bucket`.
    fn exists(&self, bucket: &Bucket, key: &str) -> Result<bool, String> {
        let url = bucket
            .head_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        match self.agent.head(url.as_str()).call() {
            Ok(r) if r.status().is_success() => Ok(true),
            Ok(r) if r.status().as_u16() == 404 => Ok(false),
            Ok(r) => Err(format!("HEAD {key}: HTTP {}", r.status().as_u16())),
            Err(e) => Err(format!("HEAD {key}: {e}")),
        }
    }

    /// PUTs `len` bytes of `body` to the presigned `url`.
    fn put(
        &self,
        url: &url::Url,
        body: &mut dyn Read,
        len: u64,
    ) -> Result<ureq::http::HeaderMap, String> {
        let mut response = self
            .agent
            .put(url.as_str())
            .header("Content-Length", len.to_string())
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response.headers().clone());
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(client::MAX_ANSWER_BYTES)
            .read_to_string()
            .unwrap_or_default();
        Err(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        ))
    }

    /// Uploads `len` bytes of `body` as `key` in one request.
    fn put_object(
        &self,
        bucket: &Bucket,
        key: &str,
        body: &mut dyn Read,
        len: u64,
    ) -> Result<(), String> {
        let url = bucket
            .put_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        self.put(&url, body, len).map(|_| ())
    }

    /// Uploads `body` as `key` in one request.
    fn put_bytes(&self, bucket: &Bucket, key: &str, body: &[u8]) -> Result<(), String> {
        self.put_object(bucket, key, &mut &body[..], body.len() as u64)
    }

    /// Uploads the file at `path` as `key`, in parts when it is large.
    fn put_file(&self, bucket: &Bucket, key: &str, path: &std::path::Path) -> Result<(), String> {
        let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        if size <= MULTIPART_OVER {
            return self.put_object(bucket, key, &mut file, size);
        }
        let create = bucket.create_multipart_upload(Some(&self.credentials), key);
        let answer = self.post(&create.sign(SIGNED_FOR), b"")?;
        let created = rusty_s3::actions::CreateMultipartUpload::parse_response(&answer)
            .map_err(|e| format!("CreateMultipartUpload: {e}"))?;
        let upload_id = created.upload_id();
        let mut etags = Vec::new();
        let result = (|| {
            let mut offset = 0;
            let mut part = 1u16;
            while offset < size {
                let len = PART.min(size - offset);
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| e.to_string())?;
                let url = bucket
                    .upload_part(Some(&self.credentials), key, part, upload_id)
                    .sign(SIGNED_FOR);
                let headers = self.put(&url, &mut (&mut file).take(len), len)?;
                let etag = headers
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("a part's answer has no ETag")?;
                etags.push(etag.to_string());
                offset += len;
                part += 1;
            }
            let complete = bucket.complete_multipart_upload(
                Some(&self.credentials),
                key,
                upload_id,
                etags.iter().map(String::as_str),
            );
            let url = complete.sign(SIGNED_FOR);
            self.post(&url, complete.body().as_bytes()).map(|_| ())
        })();
        if result.is_err() {
            let abort = bucket.abort_multipart_upload(Some(&self.credentials), key, upload_id);
            let _ = self.agent.delete(abort.sign(SIGNED_FOR).as_str()).call();
        }
        result
    }

    /// POSTs `body` to a presigned `url`; the answer's body.
    fn post(&self, url: &url::Url, body: &[u8]) -> Result<String, String> {
        let answer = client::post(&self.agent, url.as_str(), &[], body)?;
        if !answer.ok() {
            return Err(answer.describe());
        }
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }
}

/// Samples: the uploaded file, content-addressed, read from the spool (or the database, where
/// small samples are kept).
pub struct Samples(pub std::sync::Arc<Client>);

/// Reports: the task's document, large.
pub struct Reports(pub std::sync::Arc<Client>);

/// Unpacked files: every file extracted from the task's sample, content-addressed, from where
/// the analysis kept them (each is deleted there once it is in the bucket).
pub struct Unpacked(pub std::sync::Arc<Client>);

impl Sink for Samples {
    fn target(&self) -> Target {
        Target::S3Sample
    }

    fn counters(&self) -> (&'static str, &'static str) {
        ("s3_upload", "s3_upload_failure")
    }

    fn send(&self, ctx: &Context, deliveries: &[Delivery]) -> Vec<Outcome> {
        each(deliveries, |d| self.attempt(ctx, d))
    }
}

impl Samples {
    fn attempt(&self, ctx: &Context, d: &Delivery) -> Result<Outcome, Outcome> {
        let s3 = &self.0;
        let bucket = s3
            .samples
            .as_ref()
            .ok_or_else(|| Outcome::GiveUp("s3.samples is no longer configured".into()))?;
        let task = ctx.task(d)?;
        let key = sample_key(&s3.config.prefix, &task.sha1);
        if s3.exists(bucket, &key).map_err(Outcome::Retry)? {
            return Ok(Outcome::Delivered);
        }
        let sample = ctx
            .store
            .sample(task.id)
            .map_err(|e| Outcome::Retry(format!("cannot read the sample: {e}")))?
            .ok_or_else(|| Outcome::GiveUp("the sample is gone (the task was cancelled)".into()))?;
        let sent = match &sample {
            Sample::Spool(file) => s3.put_file(bucket, &key, &s3.spool_dir.join(file)),
            Sample::Stored(bytes) => s3.put_bytes(bucket, &key, bytes),
        };
        Ok(match sent {
            Ok(()) => Outcome::Delivered,
            Err(e) => Outcome::Retry(format!("{}: {e}", link(bucket.name(), &key))),
        })
    }
}

impl Sink for Reports {
    fn target(&self) -> Target {
        Target::S3Report
    }

    fn counters(&self) -> (&'static str, &'static str) {
        ("s3_report_upload", "s3_report_upload_failure")
    }

    fn send(&self, ctx: &Context, deliveries: &[Delivery]) -> Vec<Outcome> {
        each(deliveries, |d| self.attempt(ctx, d))
    }
}

impl Reports {
    fn attempt(&self, ctx: &Context, d: &Delivery) -> Result<Outcome, Outcome> {
        let s3 = &self.0;
        let bucket = s3
            .reports
            .as_ref()
            .ok_or_else(|| Outcome::GiveUp("s3.reports is no longer configured".into()))?;
        let task = ctx.task(d)?;
        let body = ctx.document(&task, "large", None)?;
        let key = report_key(&s3.config.prefix, &task.sha1, task.id, task.submitted);
        Ok(match s3.put_bytes(bucket, &key, &body) {
            Ok(()) => Outcome::Delivered,
            Err(e) => Outcome::Retry(format!("{}: {e}", link(bucket.name(), &key))),
        })
    }
}

impl Sink for Unpacked {
    fn target(&self) -> Target {
        Target::S3Unpacked
    }

    fn counters(&self) -> (&'static str, &'static str) {
        ("s3_unpacked_success", "s3_unpacked_failure")
    }

    fn send(&self, ctx: &Context, deliveries: &[Delivery]) -> Vec<Outcome> {
        each(deliveries, |d| self.attempt(ctx, d))
    }
}

/// The distinct sha1s of the files extracted in a stored report (its entries after the first).
pub fn extracted_sha1s(report: &[u8]) -> Result<Vec<String>, String> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(report).map_err(|e| format!("the stored report: {e}"))?;
    let mut seen = std::collections::BTreeSet::new();
    for e in entries.iter().skip(1) {
        let sha1 = e["info"]["file"]["hashes"]
            .as_array()
            .and_then(|hashes| hashes.iter().find(|h| h["name"] == "sha1"))
            .and_then(|h| h["value"].as_str());
        if let Some(sha1) = sha1 {
            seen.insert(sha1.to_string());
        }
    }
    Ok(seen.into_iter().collect())
}

impl Unpacked {
    fn attempt(&self, ctx: &Context, d: &Delivery) -> Result<Outcome, Outcome> {
        let s3 = &self.0;
        let (Some(bucket), Some(dir)) = (&s3.unpacked, &s3.unpacked_dir) else {
            return Err(Outcome::GiveUp(
                "s3.unpacked is no longer configured".into(),
            ));
        };
        let task = ctx.task(d)?;
        let Some(report) = &task.report else {
            return Ok(Outcome::Delivered); // no report, nothing extracted
        };
        let mut missing = Vec::new();
        for sha1 in extracted_sha1s(report).map_err(Outcome::GiveUp)? {
            let key = sample_key(&s3.config.prefix, &sha1);
            let local = dir.join(&sha1);
            if !s3.exists(bucket, &key).map_err(Outcome::Retry)? {
                if !local.exists() {
                    missing.push(sha1);
                    continue;
                }
                s3.put_file(bucket, &key, &local)
                    .map_err(|e| Outcome::Retry(format!("{}: {e}", link(bucket.name(), &key))))?;
            }
            // In the bucket: the copy kept for it is not needed any more.
            let _ = std::fs::remove_file(&local);
        }
        if missing.is_empty() {
            Ok(Outcome::Delivered)
        } else {
            Err(Outcome::GiveUp(format!(
                "{} extracted file(s) were not kept and are not in the bucket: {}",
                missing.len(),
                missing.join(", ")
            )))
        }
    }
}
