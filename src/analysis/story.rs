//! The story of each entry: a few plain sentences a person reads first, from what the walk
//! found (identification, the describers' facts, unpacking, limits, the verdict and who gave it).

use super::verdict::ENGINE_NAME;
use crate::report::{Classification, Entry, FileInfo, Identification, Unpacking};
use crate::report::{UnpackStatus, UNKNOWN};

/// What a story is told from: the parts of an entry it reads.
pub(super) struct About<'a> {
    pub file: &'a FileInfo,
    pub identification: &'a Identification,
    pub unpacking: &'a Unpacking,
    pub classification: &'a Classification,
}

impl<'a> About<'a> {
    pub fn of(e: &'a Entry) -> About<'a> {
        About {
            file: &e.info.file,
            identification: &e.info.identification,
            unpacking: &e.info.unpacking,
            classification: &e.classification,
        }
    }
}

/// A few plain sentences about one entry; entry 0 also sums up the tree.
pub(super) fn story(e: About<'_>, facts: &[String], tree: Option<(usize, usize)>) -> String {
    let f = e.file;
    let what = if e.identification.success {
        format!("identified as {}", e.identification.name)
    } else {
        "not of a format assay recognises".to_string()
    };
    let mut s = format!(
        "{} is {} bytes long and was {what}.",
        display_name(&f.file_name),
        f.size
    );
    for fact in facts.iter().take(3) {
        s.push(' ');
        s.push_str(fact);
    }
    let u = e.unpacking;
    if u.extracted > 0 {
        s.push_str(&match u.extracted {
            1 => " 1 file was extracted from it.".to_string(),
            n => format!(" {n} files were extracted from it."),
        });
    }
    if let Some((total, limits)) = tree {
        if total > 1 {
            s.push_str(&match total - 1 {
                1 => " The whole upload holds 1 file.".to_string(),
                n => format!(" The whole upload holds {n} files."),
            });
        }
        if limits > 0 {
            s.push_str(&if limits == 1 {
                " An unpacking limit stopped work, so not everything inside was examined."
                    .to_string()
            } else {
                format!(
                    " {limits} unpacking limits stopped work, so not everything inside was examined."
                )
            });
        }
    } else if !u.limits.is_empty() {
        s.push_str(" A limit stopped unpacking it, so not everything inside was examined.");
    }
    if !u.warnings.is_empty() && u.status != UnpackStatus::NotApplicable {
        s.push_str(" It could not be read completely (see the unpacking warnings).");
    }
    let c = e.classification;
    match c.classification {
        UNKNOWN => s.push_str(" No detection source flagged it, so it is not classified."),
        1 => s.push_str(&format!(
            " It is known good according to {}.",
            c.scan_results
                .first()
                .map_or(ENGINE_NAME, |r| r.name.as_str())
        )),
        level => {
            let word = if level >= 3 {
                "malicious"
            } else {
                "suspicious"
            };
            let name = c.result.as_deref().unwrap_or("no name");
            match &c.propagation_source {
                Some(src) if c.propagated => s.push_str(&format!(
                    " It is classified {word} ({name}) because of {src}."
                )),
                _ => s.push_str(&format!(
                    " It is classified {word} ({name}) by {}.",
                    c.scan_results
                        .first()
                        .map_or(ENGINE_NAME, |r| r.name.as_str())
                )),
            }
        }
    }
    s
}

/// How a story names the file.
pub(super) fn display_name(file_name: &str) -> &str {
    if file_name.is_empty() {
        "the file"
    } else {
        file_name
    }
}
