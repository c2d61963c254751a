//! 7z, RAR (1.3 to 7), CAB, ARJ, LHA, ACE, ZOO and compress (.Z) through the `unarc-rs`
//! crate, which wraps pure-Rust decoders (sevenz-rust2, rars, delharc, lzxd) behind one
//! entry iterator. Each read carries the member's budget as unarc's size limit, so a decoder stops
//! at the cap; the deadline is checked between members.

use std::borrow::Cow;
use std::io::Cursor;

use unarc_rs::unified::{ArchiveEntryKind, ArchiveFormat, ArchiveOptions};
use unarc_rs::ArchiveError;

use super::{printable, EntryInfo, Limit, Members};
use crate::analysis::warning::Problem;

/// Most entries read from one archive, including directories and links.
const MAX_ENTRIES: usize = 1_000_000;

/// The formats identification sends here. unarc-rs detects more (ARC, HA, SQ, disk images…);
/// those are not identified, so they are not unpacked either, and their decoders stay unused.
fn format_of(data: &[u8]) -> Option<ArchiveFormat> {
    use ArchiveFormat as F;
    ArchiveFormat::detect_from_bytes(data).filter(|f| {
        matches!(
            f,
            F::SevenZ | F::Rar | F::Cab | F::Arj | F::Lha | F::Ace | F::Zoo | F::Z
        )
    })
}

pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let Some(format) = format_of(data) else {
        out.warn(
            Problem::Unsupported,
            "the archive format was not recognised by the unpacker",
        );
        return;
    };
    let mut archive = match format.open_with_options(Cursor::new(data), ArchiveOptions::new()) {
        Ok(a) => a,
        Err(e) => {
            out.warn(
                Problem::Corrupt,
                format!("the {} archive could not be opened: {e}", format.name()),
            );
            return;
        }
    };
    for _ in 0..MAX_ENTRIES {
        if out.stopped() {
            return;
        }
        let entry = match archive.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                out.warn(
                    Problem::Corrupt,
                    format!("the {} archive is corrupt or truncated: {e}", format.name()),
                );
                return;
            }
        };
        if entry.kind() != ArchiveEntryKind::File {
            continue;
        }
        // compress (.Z) stores no name; unarc calls the member "compressed". Leave it unnamed so
        // the engine names it after the parent (`a.txt.Z` -> `a.txt`).
        let name = if format == ArchiveFormat::Z {
            String::new()
        } else {
            entry.name().to_string()
        };
        let packed = entry.compressed_size();
        out.entry(EntryInfo {
            name: name.clone(),
            size: entry.original_size(),
            packed_size: Some(packed),
            method: Some(entry.compression_method().to_string()).filter(|m| !m.is_empty()),
            encrypted: entry.is_encrypted(),
        });
        if !out.admit(&name, packed, entry.original_size()) {
            if let Err(e) = archive.skip(&entry) {
                out.warn(Problem::Corrupt, format!("{}: {e}", printable(&name)));
                return;
            }
            continue;
        }
        let cap = out.member_cap(packed);
        let plain = ArchiveOptions::new().with_max_entry_size(Some(cap));
        let mut result = archive.read_with_options(&entry, &plain);
        let encrypted = entry.is_encrypted() || matches!(result, Err(ref e) if needs_password(e));
        if encrypted && result.is_err() {
            // A wrong password shows up as anything from "invalid password" to a corrupt LZMA
            // stream; only a size limit ends the search early.
            result = Err(ArchiveError::EncryptionRequired {
                entry: name.clone(),
                format: format.name().to_string(),
            });
            for password in out.budget().passwords.clone() {
                let opts = plain.clone().with_password(password);
                match archive.read_with_options(&entry, &opts) {
                    Ok(bytes) => {
                        result = Ok(bytes);
                        break;
                    }
                    Err(e @ ArchiveError::SizeLimitExceeded { .. }) => {
                        result = Err(e);
                        break;
                    }
                    Err(_) => {}
                }
            }
        }
        match result {
            Ok(bytes) => {
                if !out.add(name, Cow::Owned(bytes)) {
                    return;
                }
            }
            Err(ArchiveError::SizeLimitExceeded { .. }) => out.over_cap(&name, packed, cap + 1),
            Err(e) if needs_password(&e) => out.limit(
                Limit::Password,
                format!(
                    "{} is encrypted and none of the {} configured passwords opened it",
                    printable(&name),
                    out.budget().passwords.len()
                ),
            ),
            Err(e) => out.warn(Problem::Corrupt, format!("{}: {e}", printable(&name))),
        }
    }
    out.warn(
        Problem::Capped,
        format!("more than {MAX_ENTRIES} entries; the rest were not read"),
    );
}

fn needs_password(e: &ArchiveError) -> bool {
    matches!(
        e,
        ArchiveError::PasswordRequired { .. }
            | ArchiveError::EncryptionRequired { .. }
            | ArchiveError::InvalidPassword { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::super::Budget;
    use super::*;

    #[test]
    fn unknown_or_garbage_archives_are_warnings() {
        let mut out = Members::new(Budget::unlimited());
        unpack(b"not an archive at all", &mut out);
        assert!(out.warnings[0].text.contains("not recognised"));
        // ARC is detected by unarc-rs but not routed here (its LZW decoder panicked under fuzzing).
        let mut out = Members::new(Budget::unlimited());
        unpack(b"\x1a\x07=ar!\x1a\0\0\0", &mut out);
        assert!(out.warnings[0].text.contains("not recognised"));
        let mut out = Members::new(Budget::unlimited());
        unpack(b"7z\xbc\xaf\x27\x1c\x00\x04 truncated", &mut out);
        assert!(out.members.is_empty());
        assert!(!out.warnings.is_empty());
    }
}
