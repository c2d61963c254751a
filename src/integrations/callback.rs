//! The callback: each finished task's document (what `GET task` answers, shaped by the
//! callback's report type and view) POSTed as JSON to the configured URL, or to the task's own
//! (`user_data.callback`, which may also set the report type and view). Any 2xx is delivered;
//! anything else is tried again until `outbox.max_age_secs`.

use serde_json::Value;

use super::{client, each, user_data, Context, Outcome, Sink};
use crate::config::CallbackConfig;
use crate::store::{Delivery, Target};

pub struct Callback {
    config: CallbackConfig,
    agent: ureq::Agent,
}

impl Callback {
    pub fn new(config: &CallbackConfig) -> Result<Callback, String> {
        let agent = client::agent(
            client::Limit::Whole(config.timeout),
            config.ca_file.as_deref(),
        )
        .map_err(|e| format!("callback.ca_file: {e}"))?;
        Ok(Callback {
            config: config.clone(),
            agent,
        })
    }
}

/// `user_data.callback`: what a task overrides.
#[derive(Default)]
struct Override<'a> {
    url: Option<&'a str>,
    report_type: Option<&'a str>,
    view: Option<&'a str>,
}

fn override_of(user_data: Option<&Value>) -> Override<'_> {
    let Some(c) = user_data.and_then(|u| u.get("callback")) else {
        return Override::default();
    };
    let text = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    Override {
        url: text("url"),
        report_type: text("report_type"),
        view: text("view"),
    }
}

/// A task's URL as it is used: without a scheme it is `http://` (DECISIONS.md).
fn absolute(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// The host a URL names, lower-case, without port or credentials.
fn host_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    // Credentials in a URL only serve to disguise its host: refused.
    if authority.contains('@') {
        return None;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The URL a task's callback goes to, if it has one: its own, else the configured one.
pub fn url_for(config: &CallbackConfig, user_data: Option<&str>) -> Option<String> {
    let user: Option<Value> = user_data.and_then(|u| serde_json::from_str(u).ok());
    override_of(user.as_ref())
        .url
        .map(absolute)
        .or_else(|| config.url.clone())
}

/// Checks `user_data.callback` at upload, so that a bad override is refused (400) before
/// anything is queued: a report type or view that does not exist, or a URL that is not http(s)
/// or names a host outside `callback.allowed_hosts`.
pub fn check_override(
    config: &CallbackConfig,
    catalog: &crate::report::shape::Catalog,
    user_data: &Value,
) -> Result<(), String> {
    let o = override_of(Some(user_data));
    if o.report_type.is_some() || o.view.is_some() {
        let params = crate::report::shape::Params {
            report_type: Some(o.report_type.unwrap_or(&config.report_type)),
            full: None,
            view: o.view.or(config.view.as_deref()),
            include_fields: None,
            exclude_fields: None,
            v13: false,
        };
        crate::report::shape::resolve(&params, catalog)
            .map_err(|e| format!("user_data.callback: {e}"))?;
    }
    if let Some(url) = o.url {
        let url = absolute(url);
        let host = host_of(&url).ok_or_else(|| {
            format!("user_data.callback.url: {url:?} is not an http:// or https:// URL")
        })?;
        if let Some(allowed) = &config.allowed_hosts {
            if !allowed.contains(&host) {
                return Err(format!(
                    "user_data.callback.url: the host {host} is not one of callback.allowed_hosts"
                ));
            }
        }
    }
    Ok(())
}

impl Sink for Callback {
    fn target(&self) -> Target {
        Target::Callback
    }

    fn counters(&self) -> (&'static str, &'static str) {
        ("callback_success", "callback_failure")
    }

    fn send(&self, ctx: &Context, deliveries: &[Delivery]) -> Vec<Outcome> {
        each(deliveries, |d| self.attempt(ctx, d))
    }
}

impl Callback {
    fn attempt(&self, ctx: &Context, d: &Delivery) -> Result<Outcome, Outcome> {
        let task = ctx.task(d)?;
        let user = user_data(&task);
        let o = override_of(user.as_ref());
        let url = o
            .url
            .map(absolute)
            .or_else(|| self.config.url.clone())
            .ok_or_else(|| Outcome::GiveUp("no callback URL".into()))?;
        // The allowed hosts may have changed since the upload was checked.
        if let Some(allowed) = &self.config.allowed_hosts {
            if o.url.is_some() && !host_of(&url).is_some_and(|h| allowed.contains(&h)) {
                return Err(Outcome::GiveUp(format!(
                    "{url} is not in callback.allowed_hosts"
                )));
            }
        }
        let body = ctx.document(
            &task,
            o.report_type.unwrap_or(&self.config.report_type),
            o.view.or(self.config.view.as_deref()),
        )?;
        let id = d.id();
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Assay-Delivery", id.as_str()),
        ];
        Ok(match client::post(&self.agent, &url, &headers, &body) {
            Ok(answer) if answer.ok() => Outcome::Delivered,
            Ok(answer) => Outcome::Retry(format!("{url}: {}", answer.describe())),
            Err(e) => Outcome::Retry(format!("{url}: {e}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allowed: Option<&[&str]>) -> CallbackConfig {
        CallbackConfig {
            url: Some("https://soar.example/in".into()),
            report_type: "medium".into(),
            view: None,
            allowed_hosts: allowed.map(|a| a.iter().map(|h| h.to_string()).collect()),
            timeout: std::time::Duration::from_secs(1),
            ca_file: None,
        }
    }

    #[test]
    fn a_task_url_overrides_the_configured_one_and_gets_http_without_a_scheme() {
        let c = config(None);
        assert_eq!(
            url_for(&c, None).as_deref(),
            Some("https://soar.example/in")
        );
        let u = r#"{"callback": {"url": "example.com:8080/hook"}}"#;
        assert_eq!(
            url_for(&c, Some(u)).as_deref(),
            Some("http://example.com:8080/hook")
        );
        let none = CallbackConfig { url: None, ..c };
        assert_eq!(url_for(&none, Some(r#"{"network": 1}"#)), None);
    }

    #[test]
    fn bad_overrides_are_refused_with_the_reason() {
        let catalog = crate::report::shape::Catalog::default();
        let c = config(Some(&["soar.example", "10.0.0.5"]));
        let check = |u: &str| check_override(&c, &catalog, &serde_json::from_str(u).unwrap());
        assert!(check(r#"{"callback": {"url": "https://SOAR.example:8443/x"}}"#).is_ok());
        assert!(check(r#"{"callback": {"url": "10.0.0.5/x", "view": "flat"}}"#).is_ok());
        let e = check(r#"{"callback": {"url": "https://evil.example/x"}}"#).unwrap_err();
        assert!(
            e.contains("evil.example") && e.contains("allowed_hosts"),
            "{e}"
        );
        let e = check(r#"{"callback": {"url": "https://soar.example@evil.example/"}}"#);
        assert!(
            e.unwrap_err().contains("not an http"),
            "credentials disguise a host"
        );
        let e = check(r#"{"callback": {"report_type": "nope"}}"#).unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let e = check(r#"{"callback": {"view": "sideways"}}"#).unwrap_err();
        assert!(e.contains("sideways"), "{e}");
        let e = check(r#"{"callback": {"url": "ftp://soar.example/"}}"#).unwrap_err();
        assert!(e.contains("not an http"), "{e}");
    }
}
