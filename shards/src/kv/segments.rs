//! How a partition's keys are grouped into SlateDB segments (SlateDB RFC-0024): one LSM tree
//! per key type, named by the key's first byte (its ordinal in the catalogue).
//!
//! Why: records are append-only, and their keys only grow within a stream. In a tree of
//! their own, the L0 SSTs of a partition that one stream writes never overlap, so SlateDB
//! compacts them by moving them into a sorted run (`enable_trivial_move`) instead of
//! rewriting every byte 2-3 times. The keys that are rewritten every round (positions, the
//! timestamp index) compact in trees of their own, at a cost proportional to their small
//! size. Where streams of one partition interleave, record SSTs overlap and compact as
//! before (docs/decisions/0015-segments-per-key-type.md).

use slatedb::object_store::ObjectStore;
use slatedb::{PrefixExtractor, PrefixTarget};
use std::sync::Arc;

/// The persisted name: a database created with it must always be opened with it.
pub const NAME: &str = "strand-key-type-v1";

/// Extracts a key's first byte. The prefixes are all one byte long, so no prefix is a
/// proper prefix of another (the antichain SlateDB requires).
pub struct KeyType;

impl PrefixExtractor for KeyType {
    fn name(&self) -> &str {
        NAME
    }

    fn prefix_len(&self, target: &PrefixTarget) -> Option<usize> {
        let bytes = match target {
            PrefixTarget::Point(b) | PrefixTarget::Prefix(b) => b,
        };
        (!bytes.is_empty()).then_some(1)
    }
}

/// Whether the database at `path` is (or will be created) segmented by key type. A database
/// created before segments has a manifest without an extractor, and SlateDB refuses to add
/// one to it (its keys would route wrong), so it keeps the single tree it was made with:
/// everything works the same, only its compaction rewrites records.
pub async fn use_segments(
    path: &slatedb::object_store::path::Path,
    store: &Arc<dyn ObjectStore>,
) -> Result<bool, slatedb::Error> {
    let admin = slatedb::admin::Admin::builder(path.clone(), store.clone()).build();
    Ok(match admin.read_manifest(None).await? {
        None => true,
        Some(m) => m.segment_extractor_name().is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn one_byte_per_key_type() {
        let point =
            |k: &'static [u8]| KeyType.prefix_len(&PrefixTarget::Point(Bytes::from_static(k)));
        assert_eq!(point(b"\x04\0\0"), Some(1));
        assert_eq!(point(b"\x01"), Some(1));
        assert_eq!(point(b""), None);
        let prefix = KeyType.prefix_len(&PrefixTarget::Prefix(Bytes::from_static(b"")));
        assert_eq!(prefix, None);
    }
}
