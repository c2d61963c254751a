//! The task document: the JSON that `GET /api/tiscale/v1/task/{id}` answers, which the callback
//! and Splunk deliveries send too (DECISIONS.md: "the same JSON as GET task answers").

use serde::Serialize;
use serde_json::value::RawValue;

use crate::host::WorkerInfo;

/// A task's own fields, as the store keeps them.
pub struct TaskFields<'a> {
    pub task_id: i64,
    pub submitted: i64,
    /// `None` while the report is not to be shown (pending).
    pub processed: Option<i64>,
    pub direct_sender: &'a str,
    pub forwarded_for: &'a [String],
    /// As received; only shown once processed.
    pub custom_data: Option<&'a str>,
    /// Why a task failed or was cancelled.
    pub error: Option<&'a str>,
    /// Where the sample was saved (S3), once it is there.
    pub file_link: Option<&'a str>,
}

/// The worker fields every task carries.
#[derive(Serialize)]
pub struct WorkerFields<'a> {
    worker_ip: &'a [String],
    worker_address: [&'a str; 1],
    worker_hostname: &'a str,
}

impl<'a> WorkerFields<'a> {
    pub fn of(worker: &'a WorkerInfo) -> WorkerFields<'a> {
        WorkerFields {
            worker_ip: &worker.ips,
            worker_address: [&worker.hostname],
            worker_hostname: &worker.hostname,
        }
    }
}

#[derive(Serialize)]
struct View<'a> {
    task_id: i64,
    submitted: i64,
    processed: Option<i64>,
    #[serde(flatten)]
    worker: WorkerFields<'a>,
    direct_sender: &'a str,
    forwarded_for: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_data: Option<&'a RawValue>,
    /// Not a seed field; absent unless the task failed or was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_link: Option<&'a str>,
}

/// The document of a task, with `report` (the shaped `tc_report`, JSON) as it is: megabytes
/// written by serde_json are not parsed again to be checked.
pub fn document(task: &TaskFields, worker: &WorkerInfo, report: Option<&[u8]>) -> Vec<u8> {
    let report = report.unwrap_or(b"null");
    let mut doc = opening(task, worker, report.len() + 1);
    doc.extend_from_slice(report);
    doc.push(b'}');
    doc
}

/// The document up to its report: `{` and the task's fields, then `"tc_report":`. What follows
/// is the report's JSON and `}` (`GET task` sends a large report as it is shaped), for which
/// `room` bytes are reserved.
pub fn opening(task: &TaskFields, worker: &WorkerInfo, room: usize) -> Vec<u8> {
    let custom_data = task
        .processed
        .and(task.custom_data)
        .and_then(|c| serde_json::from_str::<&RawValue>(c).ok());
    let view = View {
        task_id: task.task_id,
        submitted: task.submitted,
        processed: task.processed,
        worker: WorkerFields::of(worker),
        direct_sender: task.direct_sender,
        forwarded_for: task.forwarded_for,
        custom_data,
        error: task.error,
        file_link: task.file_link,
    };
    let mut doc = serde_json::to_vec(&view).unwrap_or_else(|_| b"{}".to_vec());
    doc.reserve(room + 16);
    append(&mut doc, "tc_report", b"");
    doc.pop();
    doc
}

/// Adds `"name": value` (JSON) at the end of a document.
pub fn append(doc: &mut Vec<u8>, name: &str, value: &[u8]) {
    debug_assert_eq!(doc.last(), Some(&b'}'));
    doc.pop();
    if doc.len() > 1 {
        doc.push(b',');
    }
    doc.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
    doc.push(b':');
    doc.extend_from_slice(value);
    doc.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_holds_the_task_worker_and_report_and_shows_custom_data_once_processed() {
        let worker = WorkerInfo {
            hostname: "w1".into(),
            ips: vec!["10.0.0.1".into()],
        };
        let mut task = TaskFields {
            task_id: 7,
            submitted: 100,
            processed: None,
            direct_sender: "127.0.0.1",
            forwarded_for: &[],
            custom_data: Some(r#"{"a":1}"#),
            error: None,
            file_link: None,
        };
        let pending: serde_json::Value =
            serde_json::from_slice(&document(&task, &worker, None)).unwrap();
        assert!(pending["tc_report"].is_null() && pending["processed"].is_null());
        assert!(pending.get("custom_data").is_none());
        task.processed = Some(105);
        let mut doc = document(&task, &worker, Some(br#"[{"x":1}]"#));
        append(&mut doc, "network", br#"{"n":2}"#);
        let done: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(done["tc_report"][0]["x"], 1);
        assert_eq!(done["custom_data"]["a"], 1);
        assert_eq!(done["worker_hostname"], "w1");
        assert_eq!(done["network"]["n"], 2);
    }
}
