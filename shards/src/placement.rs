//! Who owns what. A stream lives in one partition, chosen by a stable hash of (basin, stream);
//! a basin's record lives in the partition chosen by its name. Partitions are spread over
//! shards round-robin. The partition count is fixed when storage is first initialised (see
//! `store::Layout`), so a restart with another shard count finds every key where it was.

/// FNV-1a, 64-bit. Chosen because it is tiny, has no dependency, and is *stable*: it is part
/// of the on-storage layout, so it must never change (std's `DefaultHasher` may).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // Separator (names contain no NUL) so ("ab","c") and ("a","bc") differ.
            h ^= 0;
            h = h.wrapping_mul(PRIME);
        }
        for &b in *part {
            h ^= b as u64;
            h = h.wrapping_mul(PRIME);
        }
    }
    h
}

pub type PartitionId = u32;
pub type ShardId = usize;

pub fn partition_for_stream(basin: &str, stream: &str, partition_count: u32) -> PartitionId {
    (fnv1a(&[basin.as_bytes(), stream.as_bytes()]) % partition_count as u64) as PartitionId
}

pub fn partition_for_basin(basin: &str, partition_count: u32) -> PartitionId {
    (fnv1a(&[basin.as_bytes()]) % partition_count as u64) as PartitionId
}

pub fn shard_for_partition(partition: PartitionId, shard_count: usize) -> ShardId {
    partition as usize % shard_count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        // Golden values: changing them would strand data written by earlier versions.
        assert_eq!(fnv1a(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        assert_eq!(partition_for_stream("my-basin-1", "s", 1), 0);
    }

    #[test]
    fn partitions_spread_over_shards() {
        let shards: Vec<_> = (0..8).map(|p| shard_for_partition(p, 3)).collect();
        assert_eq!(shards, vec![0, 1, 2, 0, 1, 2, 0, 1]);
    }
}
