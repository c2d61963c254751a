#![allow(dead_code)]

use std::borrow::Cow;
use std::io::Read;

use protobuf::Enum;
use rustc_hash::FxHashMap;
use tinyzip::Archive;

use crate::modules::protos::zip::{Compression, Entry, Zip as ZipProto};

pub(crate) enum CachedZip<'a> {
    NotZip,
    Zip(Zip<'a>),
}

pub(crate) struct Zip<'a> {
    pub data: &'a [u8],
    pub archive: Archive<&'a [u8]>,
    pub cached_contents: FxHashMap<String, Cow<'a, [u8]>>,
}

impl<'a> CachedZip<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        let archive = match Archive::open(data) {
            Ok(arch) => arch,
            Err(_) => return CachedZip::NotZip,
        };

        CachedZip::Zip(Zip {
            data,
            archive,
            cached_contents: FxHashMap::default(),
        })
    }
}

impl<'a> Zip<'a> {
    pub(crate) fn get_file_content<'b>(
        &'b mut self,
        path: &str,
    ) -> Option<&'b [u8]> {
        // Check if the content for the given path is already cached, it not,
        // put it into the cache.
        if !self.cached_contents.contains_key(path) {
            let entry = self.archive.find_file(path).ok()?;
            let data_range = entry.data_range().ok()?.data_range;
            let start = data_range.start as usize;
            let end = data_range.end as usize;
            let raw_bytes = self.data.get(start..end)?;

            let content = match entry.compression() {
                Ok(tinyzip::Compression::Stored) => Cow::Borrowed(raw_bytes),
                Ok(tinyzip::Compression::Deflated) => {
                    let mut decoder =
                        flate2::read::DeflateDecoder::new(raw_bytes);
                    // Pre-allocate based on the compressed data we actually
                    // have, not the entry's `uncompressed_size` header field,
                    // which is attacker-controlled (up to u64::MAX via a Zip64
                    // extra field) and unvalidated -- trusting it makes
                    // `Vec::with_capacity` panic with "capacity overflow" or
                    // request a huge allocation. `read_to_end` grows the
                    // buffer as needed.
                    let mut buf = Vec::with_capacity(raw_bytes.len());
                    decoder.read_to_end(&mut buf).ok()?;
                    Cow::Owned(buf)
                }
                _ => return None,
            };

            self.cached_contents.insert(path.to_string(), content);
        }

        // At this point the content for the given path must be already in the
        // cache.
        Some(self.cached_contents.get(path).unwrap().as_ref())
    }
}

impl<'a> From<&Zip<'a>> for ZipProto {
    fn from(cached: &Zip<'a>) -> Self {
        let mut zip = ZipProto::new();
        zip.set_is_zip(true);

        let mut entries = Vec::new();
        let max_entries = 100000; // Guardrail: prevent DoS with huge entry counts

        let mut path_buf = vec![0u8; 65536];

        for entry in cached.archive.entries().filter_map(|entry| entry.ok()) {
            if entries.len() >= max_entries {
                break;
            }

            let path_bytes = match entry.read_path(&mut path_buf) {
                Ok(b) => b,
                Err(_) => continue,
            };

            let file_path = String::from_utf8_lossy(path_bytes).to_string();

            let mut proto_entry = Entry::new();
            proto_entry.set_file_path(file_path);
            proto_entry
                .set_uncompressed_size(entry.uncompressed_size() as i64);
            proto_entry.set_compressed_size(entry.compressed_size() as i64);

            let compression = match entry.compression() {
                Ok(tinyzip::Compression::Stored) => Compression::STORED,
                Ok(tinyzip::Compression::Deflated) => Compression::DEFLATED,
                Err(tinyzip::Error::UnsupportedCompression(raw)) => {
                    Compression::from_i32(raw as i32)
                        .unwrap_or(Compression::UNKNOWN)
                }
                Err(_) => Compression::UNKNOWN,
            };

            proto_entry.compression = Some(compression.into());
            entries.push(proto_entry);
        }

        zip.entries = entries;
        zip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_zip_cache() {
        assert!(matches!(
            CachedZip::new(b"invalid zip data"),
            CachedZip::NotZip
        ));

        let eocd = [
            0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        if let CachedZip::Zip(mut cached) = CachedZip::new(&eocd) {
            assert!(cached.get_file_content("missing.txt").is_none());
            let zip_proto: ZipProto = (&cached).into();
            assert!(zip_proto.is_zip());
            assert_eq!(zip_proto.entries.len(), 0);
        }
    }
}
