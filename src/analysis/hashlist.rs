//! Local hash lists: known-bad and known-good files of md5, sha1 or sha256 values, one per line,
//! kept by the user in a directory and reloaded when they change (no restart).
//!
//! Layout: `<dir>/known-bad/*` and `<dir>/known-good/*`, any file name. A line holds a hex hash,
//! optionally followed by white space and a threat name (known bad) or a note (known good);
//! `#` starts a comment. A line that is not a hash is skipped and reported once in the log.
//! A file matched by several lists gets one vote per list.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::report::{ScanType, GOODWARE, MALICIOUS};

use super::verdict::Vote;
use crate::watched::Watched;

/// How often the directory is checked for changes (on the next analysis after this).
pub const RECHECK: Duration = Duration::from_secs(2);

/// Threat name for a known-bad hash listed without one.
pub const DEFAULT_THREAT: &str = "Generic.Malware.HashList";

/// Known-bad hashes score this factor.
const BAD_FACTOR: u8 = 8;

/// What one list says about a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listing {
    /// `known-bad/<file>` or `known-good/<file>`.
    list: Arc<str>,
    bad: bool,
    /// Threat name or note.
    text: String,
}

/// The loaded lists: lower-case hex hash -> every listing of it.
#[derive(Debug, Default)]
pub struct Lists {
    entries: HashMap<String, Vec<Listing>>,
    /// Lines that were not hashes, as `file:line: why`.
    pub problems: Vec<String>,
}

impl Lists {
    /// Reads every list under `dir` (a missing directory is an empty set of lists).
    pub fn load(dir: &Path) -> Lists {
        let mut lists = Lists::default();
        for (sub, bad) in [("known-bad", true), ("known-good", false)] {
            for path in list_files(&dir.join(sub)) {
                let name: Arc<str> = format!(
                    "{sub}/{}",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )
                .into();
                match std::fs::read_to_string(&path) {
                    Ok(text) => lists.add(&name, bad, &text),
                    Err(e) => lists.problems.push(format!("{name}: {e}")),
                }
            }
        }
        lists
    }

    fn add(&mut self, list: &Arc<str>, bad: bool, text: &str) {
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (hash, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let valid =
                matches!(hash.len(), 32 | 40 | 64) && hash.bytes().all(|c| c.is_ascii_hexdigit());
            if !valid {
                self.problems.push(format!(
                    "{list}:{}: not an md5, sha1 or sha256 value: {hash:?}",
                    n + 1
                ));
                continue;
            }
            let rest = rest.trim();
            let text = match (bad, rest.is_empty()) {
                (true, true) => DEFAULT_THREAT.to_string(),
                (false, true) => "listed as known good".to_string(),
                (_, false) => rest.to_string(),
            };
            self.entries
                .entry(hash.to_ascii_lowercase())
                .or_default()
                .push(Listing {
                    list: list.clone(),
                    bad,
                    text,
                });
        }
    }

    /// Number of distinct hashes listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The votes of the lists on a file with these hashes (lower-case hex).
    pub fn votes(&self, hashes: &[&str]) -> Vec<Vote> {
        let mut votes: Vec<Vote> = Vec::new();
        for hash in hashes {
            for l in self.entries.get(*hash).into_iter().flatten() {
                let name = format!("hash-list:{}", l.list);
                if votes.iter().any(|v| v.name == name) {
                    continue;
                }
                votes.push(Vote {
                    name,
                    kind: if l.bad {
                        ScanType::Internal
                    } else {
                        ScanType::Whitelisting
                    },
                    classification: if l.bad { MALICIOUS } else { GOODWARE },
                    factor: if l.bad { BAD_FACTOR } else { 0 },
                    result: l.text.clone(),
                });
            }
        }
        votes
    }
}

/// Regular files directly in `dir`, sorted; none when it does not exist.
fn list_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Every list file of `dir`, sorted.
fn list_files_of(dir: &Path) -> Vec<PathBuf> {
    ["known-bad", "known-good"]
        .iter()
        .flat_map(|sub| list_files(&dir.join(sub)))
        .collect()
}

/// The lists of `dir` (`None`: no lists), reloaded when they change (checked at most every
/// [`RECHECK`]). Analysis threads take an `Arc` of the current lists.
pub fn watch(dir: Option<PathBuf>) -> Watched<Lists> {
    Watched::new(dir, RECHECK, list_files_of, load_logged)
}

fn load_logged(dir: &Path) -> Lists {
    let lists = Lists::load(dir);
    crate::log!("hash lists in {}: {} hashes", dir.display(), lists.len());
    for problem in lists.problems.iter().take(20) {
        crate::log!("hash lists: skipped {problem}");
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
    const SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("assay-hashlist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("known-bad")).unwrap();
        std::fs::create_dir_all(d.join("known-good")).unwrap();
        d
    }

    #[test]
    fn lines_hashes_names_comments_and_problems() {
        let d = dir("lines");
        std::fs::write(
            d.join("known-bad/feed.txt"),
            format!(
                "# feed\n{MD5} Win32.Trojan.Test\n\n{}  # no name\nnot-a-hash\n",
                SHA256.to_uppercase()
            ),
        )
        .unwrap();
        let lists = Lists::load(&d);
        assert_eq!(lists.len(), 2);
        assert_eq!(lists.problems.len(), 1);
        assert!(lists.problems[0].contains("known-bad/feed.txt:5"));
        let v = lists.votes(&[MD5]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].name, "hash-list:known-bad/feed.txt");
        assert_eq!(v[0].classification, MALICIOUS);
        assert_eq!(v[0].result, "Win32.Trojan.Test");
        assert_eq!(lists.votes(&[SHA256])[0].result, DEFAULT_THREAT);
        assert!(lists.votes(&["00"]).is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn one_vote_per_list_even_when_several_hashes_match() {
        let d = dir("once");
        std::fs::write(
            d.join("known-good/vendor.txt"),
            format!("{MD5}\n{SHA256} our build\n"),
        )
        .unwrap();
        let v = Lists::load(&d).votes(&[MD5, SHA256]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].classification, GOODWARE);
        assert_eq!(v[0].kind, ScanType::Whitelisting);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn edits_are_picked_up_without_a_restart() {
        let d = dir("reload");
        let feed = d.join("known-bad/feed.txt");
        std::fs::write(&feed, format!("{MD5} First.Name.One\n")).unwrap();
        let w = Watched::new(Some(d.clone()), Duration::ZERO, list_files_of, load_logged);
        assert_eq!(w.current().votes(&[MD5])[0].result, "First.Name.One");
        std::fs::write(&feed, format!("{MD5} Second.Name.Longer\n{SHA256}\n")).unwrap();
        assert_eq!(w.current().votes(&[MD5])[0].result, "Second.Name.Longer");
        std::fs::remove_file(&feed).unwrap();
        assert!(w.current().is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_directory_is_no_lists() {
        let w = watch(Some(PathBuf::from("/nonexistent/assay-lists")));
        assert!(w.current().is_empty());
        assert!(watch(None).current().is_empty());
    }
}
