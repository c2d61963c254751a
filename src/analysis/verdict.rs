//! Verdicts: the votes of every source about one file (built-in signatures, hash lists,
//! heuristics, unpacking limits, later YARA) and the classification they add up to.
//!
//! Order of precedence on one file: a malicious vote wins; otherwise a known-good vote (a hash
//! list the user keeps to silence false positives) beats a suspicious one; otherwise the worst
//! vote wins. Children are handled in the walk: a suspicious or malicious child always reaches
//! its container, known good or not.

use crate::report::{
    Classification, ScanResult, ScanType, GOODWARE, MALICIOUS, SUSPICIOUS, UNKNOWN,
};

/// One source's opinion of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// The source, e.g. `assay-signatures`, `hash-list:known-bad/feed.txt`.
    pub name: String,
    pub kind: ScanType,
    pub classification: u8,
    pub factor: u8,
    /// Threat name (`Platform.Type.Family`) or, for known good, what vouched for it.
    pub result: String,
}

/// Name of the scan result every report carries for the built-in engine.
pub const ENGINE_NAME: &str = "assay";

/// Name of the built-in signature source.
pub const SIGNATURES: &str = "assay-signatures";

/// Name of the heuristics' vote in `scan_results`.
pub const HEURISTICS_NAME: &str = "assay-heuristics";

/// Threat name given when a limit stopped work and `alert_exceeds_max` is on.
pub const LIMIT_THREAT: &str = "Archive.Suspicious.LimitsExceeded";

/// The EICAR anti-virus test file's 68 characters.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Threat name of the EICAR test file.
pub const EICAR_THREAT: &str = "Text.Test.EICAR";

/// Votes of the built-in signatures. EICAR follows its definition: the file starts with the 68
/// characters, optionally followed by white space, 128 bytes at most in all.
pub fn signatures(data: &[u8]) -> Option<Vote> {
    let eicar = data.len() <= 128
        && data.starts_with(EICAR)
        && data[EICAR.len()..].iter().all(u8::is_ascii_whitespace);
    eicar.then(|| Vote {
        name: SIGNATURES.into(),
        kind: ScanType::Antivirus,
        classification: MALICIOUS,
        factor: 5,
        result: EICAR_THREAT.into(),
    })
}

/// Which classification wins on one file (higher wins).
pub(crate) fn rank(classification: u8) -> u8 {
    match classification {
        MALICIOUS => 3,
        GOODWARE => 2,
        SUSPICIOUS => 1,
        _ => 0,
    }
}

/// The classification `votes` add up to. `scan_results` lists every vote, the deciding one first;
/// with no votes it holds the engine's own "nothing found".
pub fn classify(mut votes: Vec<Vote>) -> Classification {
    votes.sort_by(|a, b| {
        (rank(b.classification), b.factor, &a.name).cmp(&(
            rank(a.classification),
            a.factor,
            &b.name,
        ))
    });
    let Some(top) = votes.first().filter(|v| v.classification != UNKNOWN) else {
        return Classification {
            classification: UNKNOWN,
            factor: 0,
            result: None,
            propagated: false,
            propagation_source: None,
            scan_results: vec![ScanResult {
                name: ENGINE_NAME.into(),
                kind: ScanType::Internal,
                classification: UNKNOWN,
                factor: 0,
                result: String::new(),
            }],
        };
    };
    Classification {
        classification: top.classification,
        factor: top.factor,
        result: (top.classification >= SUSPICIOUS).then(|| top.result.clone()),
        propagated: false,
        propagation_source: None,
        scan_results: votes
            .into_iter()
            .map(|v| ScanResult {
                name: v.name,
                kind: v.kind,
                classification: v.classification,
                factor: v.factor,
                result: v.result,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(name: &str, classification: u8, factor: u8) -> Vote {
        Vote {
            name: name.into(),
            kind: ScanType::Internal,
            classification,
            factor,
            result: format!("Test.{name}"),
        }
    }

    #[test]
    fn eicar_is_recognised_as_defined() {
        assert_eq!(signatures(EICAR).unwrap().result, EICAR_THREAT);
        let mut padded = EICAR.to_vec();
        padded.extend(b"  \r\n");
        assert!(signatures(&padded).is_some());
        // Anything but white space after it, or the string later in a file: not the test file.
        let mut trailing = EICAR.to_vec();
        trailing.extend(b"x");
        assert!(signatures(&trailing).is_none());
        let mut late = b" ".to_vec();
        late.extend(EICAR);
        assert!(signatures(&late).is_none());
        assert!(signatures(&EICAR[..60]).is_none());
    }

    #[test]
    fn no_votes_is_unknown_with_the_engine_as_the_only_result() {
        let c = classify(Vec::new());
        assert_eq!(c.classification, UNKNOWN);
        assert_eq!(c.result, None);
        assert_eq!(c.scan_results.len(), 1);
        assert_eq!(c.scan_results[0].name, ENGINE_NAME);
    }

    #[test]
    fn malicious_beats_known_good_which_beats_suspicious() {
        let c = classify(vec![vote("heur", SUSPICIOUS, 7), vote("good", GOODWARE, 0)]);
        assert_eq!(c.classification, GOODWARE);
        assert_eq!(c.result, None);
        assert_eq!(c.scan_results[0].name, "good");
        assert_eq!(c.scan_results.len(), 2);

        let c = classify(vec![
            vote("good", GOODWARE, 0),
            vote("sig", MALICIOUS, 5),
            vote("heur", SUSPICIOUS, 7),
        ]);
        assert_eq!(c.classification, MALICIOUS);
        assert_eq!(c.result.as_deref(), Some("Test.sig"));
        assert_eq!(c.scan_results[0].name, "sig");
    }

    #[test]
    fn the_strongest_vote_of_a_level_names_the_threat() {
        let c = classify(vec![
            vote("weak", SUSPICIOUS, 3),
            vote("strong", SUSPICIOUS, 8),
        ]);
        assert_eq!(c.factor, 8);
        assert_eq!(c.result.as_deref(), Some("Test.strong"));
    }
}
