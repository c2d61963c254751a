//! Finished tasks and their shaped documents, read lately, shared by the delivery threads.
//!
//! A finished task usually goes to several targets within moments (its callback, its HEC
//! event, its S3 report), and reading it (the stored report inflated) and shaping its document
//! were most of what a delivery cost besides the request itself. Each is done once here and
//! handed to the other targets. Only finished tasks are kept: what is delivered of them does
//! not change. The oldest entries go first once more than [`BUDGET`] bytes are kept.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::store::Task;

/// Most bytes of reports and documents kept.
const BUDGET: usize = 16 * 1024 * 1024;

/// What a document is shaped by: its task, report type and view.
type DocKey = (i64, String, Option<String>);

enum Entry {
    Task(Arc<Task>),
    Document(DocKey, Arc<[u8]>),
}

impl Entry {
    fn bytes(&self) -> usize {
        match self {
            Entry::Task(t) => 256 + t.report.as_ref().map_or(0, Vec::len),
            Entry::Document(_, d) => 64 + d.len(),
        }
    }
}

#[derive(Default)]
pub struct Recent {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Oldest first.
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl Recent {
    /// The finished task `id`, read with `read` unless it is kept.
    pub fn task<E>(&self, id: i64, read: impl FnOnce() -> Result<Task, E>) -> Result<Arc<Task>, E> {
        let kept = self.find(|e| match e {
            Entry::Task(t) if t.id == id => Some(t.clone()),
            _ => None,
        });
        if let Some(task) = kept {
            return Ok(task);
        }
        let task = Arc::new(read()?);
        if task.processed.is_some() {
            self.keep(Entry::Task(task.clone()));
        }
        Ok(task)
    }

    /// The document of a finished task shaped by `report_type` and `view`, made with `make`
    /// unless it is kept.
    pub fn document<E>(
        &self,
        task: &Task,
        report_type: &str,
        view: Option<&str>,
        make: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<[u8]>, E> {
        let kept = self.find(|e| match e {
            Entry::Document((id, t, v), d)
                if *id == task.id && t == report_type && v.as_deref() == view =>
            {
                Some(d.clone())
            }
            _ => None,
        });
        if let Some(doc) = kept {
            return Ok(doc);
        }
        let doc: Arc<[u8]> = make()?.into();
        if task.processed.is_some() {
            let key = (task.id, report_type.to_string(), view.map(str::to_string));
            self.keep(Entry::Document(key, doc.clone()));
        }
        Ok(doc)
    }

    fn find<T>(&self, pick: impl Fn(&Entry) -> Option<T>) -> Option<T> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Newest first: what was just read is what the next target asks for.
        inner.entries.iter().rev().find_map(pick)
    }

    fn keep(&self, entry: Entry) {
        let size = entry.bytes();
        if size > BUDGET / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.bytes += size;
        inner.entries.push_back(entry);
        while inner.bytes > BUDGET {
            match inner.entries.pop_front() {
                Some(old) => inner.bytes -= old.bytes(),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TaskState;

    fn task(id: i64, processed: Option<i64>, report_len: usize) -> Task {
        Task {
            id,
            state: TaskState::Done,
            submitted: 1,
            processed,
            sha1: "0".repeat(40),
            custom_data: None,
            user_data: None,
            direct_sender: String::new(),
            forwarded_for: Vec::new(),
            error: None,
            report: Some(vec![b'x'; report_len]),
        }
    }

    #[test]
    fn a_finished_task_and_its_documents_are_read_once() {
        let recent = Recent::default();
        let reads = std::cell::Cell::new(0);
        let read = |id| {
            reads.set(reads.get() + 1);
            Ok::<_, ()>(task(id, Some(2), 100))
        };
        let a = recent.task(7, || read(7)).unwrap();
        let b = recent.task(7, || read(7)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(reads.get(), 1);
        let made = std::cell::Cell::new(0);
        let make = |body: &str| {
            made.set(made.get() + 1);
            Ok::<_, ()>(body.as_bytes().to_vec())
        };
        let medium = recent.document(&a, "medium", None, || make("m")).unwrap();
        assert_eq!(
            &*recent.document(&a, "medium", None, || make("?")).unwrap(),
            b"m"
        );
        assert_eq!(&*medium, b"m");
        let flat = recent
            .document(&a, "medium", Some("flat"), || make("f"))
            .unwrap();
        assert_eq!(&*flat, b"f", "another view is another document");
        assert_eq!(
            &*recent.document(&a, "large", None, || make("l")).unwrap(),
            b"l"
        );
        assert_eq!(made.get(), 3);
    }

    #[test]
    fn an_unfinished_task_is_read_again_each_time() {
        let recent = Recent::default();
        let reads = std::cell::Cell::new(0);
        for _ in 0..3 {
            recent
                .task(1, || {
                    reads.set(reads.get() + 1);
                    Ok::<_, ()>(task(1, None, 0))
                })
                .unwrap();
        }
        assert_eq!(
            reads.get(),
            3,
            "a queued task's report and state are still to come"
        );
        let failed = recent.task(2, || Err::<Task, _>("gone"));
        assert_eq!(failed.unwrap_err(), "gone");
    }

    #[test]
    fn the_oldest_go_once_the_budget_is_spent() {
        let recent = Recent::default();
        let big = BUDGET / 8;
        for id in 0..12 {
            recent
                .task(id, || Ok::<_, ()>(task(id, Some(2), big)))
                .unwrap();
        }
        let inner = recent.inner.lock().unwrap();
        assert!(inner.bytes <= BUDGET, "{}", inner.bytes);
        drop(inner);
        let reads = std::cell::Cell::new(0);
        let read = |id| {
            recent
                .task(id, || {
                    reads.set(reads.get() + 1);
                    Ok::<_, ()>(task(id, Some(2), 1))
                })
                .unwrap();
        };
        read(11);
        assert_eq!(reads.get(), 0, "the newest is kept");
        read(0);
        assert_eq!(reads.get(), 1, "the oldest was let go");
        // One too large to keep is never kept.
        let huge = recent
            .task(99, || Ok::<_, ()>(task(99, Some(2), BUDGET)))
            .unwrap();
        assert_eq!(huge.id, 99);
        let again = recent
            .task(99, || Ok::<_, ()>(task(99, Some(2), 1)))
            .unwrap();
        assert_eq!(again.report.as_ref().unwrap().len(), 1);
    }
}
