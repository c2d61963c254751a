//! Splunk's HTTP Event Collector: each finished task as one event (`POST
//! <url>/services/collector/event`, `Authorization: Splunk <token>`), several events to a request.
//! The event is the task's document, shaped by `splunk.report_type` and `splunk.view`, with the
//! task's `user_data.network` added unchanged when it was sent (DECISIONS.md).
//!
//! HEC answers 200 with `{"code": 0}` when it took the events. A rejected token (codes 1 to 4),
//! an unknown index (7) or events it cannot read (5, 6, 12, 13) will not get better by trying
//! again: those are given up, logged and counted. Anything else (busy, 5xx, no answer) is tried
//! again later.

use serde::Serialize;

use super::{client, user_data, Context, Outcome, Sink};
use crate::config::SplunkConfig;
use crate::report::document::append;
use crate::store::{Delivery, Target};

/// Most events in one request.
const MAX_EVENTS: usize = 100;
/// Most bytes of events in one request (a larger event goes alone).
const MAX_BYTES: usize = 4 * 1024 * 1024;

pub struct Splunk {
    config: SplunkConfig,
    agent: ureq::Agent,
    endpoint: String,
    authorization: String,
}

impl Splunk {
    pub fn new(config: &SplunkConfig) -> Result<Splunk, String> {
        let agent = client::agent(
            client::Limit::Whole(config.timeout),
            config.ca_file.as_deref(),
        )
        .map_err(|e| format!("splunk.ca_file: {e}"))?;
        Ok(Splunk {
            endpoint: format!("{}/services/collector/event", config.url),
            authorization: format!("Splunk {}", config.token),
            config: config.clone(),
            agent,
        })
    }

    /// The HEC event of one delivery's task.
    fn event(&self, ctx: &Context, d: &Delivery) -> Result<Vec<u8>, Outcome> {
        let task = ctx.task(d)?;
        let shaped = ctx.document(&task, &self.config.report_type, self.config.view.as_deref())?;
        // The shaped document is shared with the other targets: `network` goes into a copy.
        let doc = match user_data(&task).and_then(|u| u.get("network").cloned()) {
            Some(network) => {
                let mut with = shaped.to_vec();
                append(&mut with, "network", network.to_string().as_bytes());
                std::borrow::Cow::Owned(with)
            }
            None => std::borrow::Cow::Borrowed(&shaped[..]),
        };
        #[derive(Serialize)]
        struct Head<'a> {
            time: i64,
            host: &'a str,
            source: &'static str,
            sourcetype: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            index: Option<&'a str>,
        }
        let head = Head {
            time: task.processed.unwrap_or(task.submitted),
            host: &ctx.worker.hostname,
            source: "assay",
            sourcetype: &self.config.sourcetype,
            index: self.config.index.as_deref(),
        };
        let mut event = serde_json::to_vec(&head).unwrap_or_else(|_| b"{}".to_vec());
        append(&mut event, "event", &doc);
        Ok(event)
    }

    /// Sends one request of events; the outcome applies to each of them.
    fn post(&self, events: &[&[u8]], ids: &str) -> Outcome {
        let mut body = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum());
        for e in events {
            body.extend_from_slice(e);
            body.push(b'\n');
        }
        let headers = [
            ("Authorization", self.authorization.as_str()),
            ("Content-Type", "application/json"),
            ("X-Assay-Delivery", ids),
        ];
        let answer = match client::post(&self.agent, &self.endpoint, &headers, &body) {
            Ok(a) => a,
            Err(e) => return Outcome::Retry(format!("{}: {e}", self.endpoint)),
        };
        let code = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("code").and_then(serde_json::Value::as_i64));
        let why = || format!("{}: {}", self.endpoint, answer.describe());
        match (answer.status, code) {
            (200, Some(0)) => Outcome::Delivered,
            (_, Some(1..=4)) => Outcome::GiveUp(format!("the token was refused: {}", why())),
            (_, Some(7)) => Outcome::GiveUp(format!("the index was refused: {}", why())),
            (_, Some(5 | 6 | 12 | 13)) => {
                Outcome::GiveUp(format!("the events were refused: {}", why()))
            }
            _ => Outcome::Retry(why()),
        }
    }
}

impl Sink for Splunk {
    fn target(&self) -> Target {
        Target::Splunk
    }

    fn batch(&self) -> usize {
        MAX_EVENTS
    }

    fn counters(&self) -> (&'static str, &'static str) {
        ("splunk_success", "splunk_failure")
    }

    fn send(&self, ctx: &Context, deliveries: &[Delivery]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; deliveries.len()];
        let mut events: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, d) in deliveries.iter().enumerate() {
            match self.event(ctx, d) {
                Ok(e) => events.push((i, e)),
                Err(outcome) => outcomes[i] = Some(outcome),
            }
        }
        // Requests of at most MAX_BYTES of events each (an event larger than that goes alone).
        let mut start = 0;
        while start < events.len() {
            let mut end = start + 1;
            let mut bytes = events[start].1.len();
            while end < events.len() && bytes + events[end].1.len() <= MAX_BYTES {
                bytes += events[end].1.len();
                end += 1;
            }
            let group = &events[start..end];
            let ids: Vec<String> = group.iter().map(|(i, _)| deliveries[*i].id()).collect();
            let bodies: Vec<&[u8]> = group.iter().map(|(_, e)| e.as_slice()).collect();
            let outcome = self.post(&bodies, &ids.join(","));
            for (i, _) in group {
                outcomes[*i] = Some(outcome.clone());
            }
            start = end;
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Retry("not sent".into())))
            .collect()
    }
}
