//! A stream's timestamp index: key `06 ‖ stream id (8B BE) ‖ bucket (8B BE)`, where a bucket
//! is `timestamp / BUCKET_MS`; value: version byte, then the seq_num (8B BE) of the stream's
//! first record in that bucket. Written in the same batch as that record, so index and
//! records are durable together. A read by timestamp `t` looks up the first entry at or
//! after `t`'s bucket and scans at most one bucket of records, instead of the whole stream
//! from the trim point. Scope: the stream's partition; removed with the stream.

use super::{ordinal, DecodeError};

/// One entry per second of timestamps at most: a busy stream's index stays small, and a
/// seek scans at most a second's worth of records.
pub const BUCKET_MS: u64 = 1000;

const V1: u8 = 1;

pub fn bucket(timestamp: u64) -> u64 {
    timestamp / BUCKET_MS
}

pub fn key(stream_id: u64, bucket: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = ordinal::TIMESTAMP_INDEX;
    k[1..9].copy_from_slice(&stream_id.to_be_bytes());
    k[9..].copy_from_slice(&bucket.to_be_bytes());
    k
}

/// The end of stream `id`'s index range (exclusive).
pub fn end(stream_id: u64) -> [u8; 17] {
    key(stream_id, u64::MAX)
}

/// (stream id, bucket) of an index key.
pub fn decode_key(k: &[u8]) -> Result<(u64, u64), DecodeError> {
    if k.len() != 17 || k[0] != ordinal::TIMESTAMP_INDEX {
        return Err(DecodeError::BadKey {
            expected: ordinal::TIMESTAMP_INDEX,
            len: k.len(),
        });
    }
    let id = u64::from_be_bytes(k[1..9].try_into().expect("8 bytes"));
    let b = u64::from_be_bytes(k[9..].try_into().expect("8 bytes"));
    Ok((id, b))
}

pub fn encode_value(seq_num: u64) -> [u8; 9] {
    let mut v = [0u8; 9];
    v[0] = V1;
    v[1..].copy_from_slice(&seq_num.to_be_bytes());
    v
}

pub fn decode_value(b: &[u8]) -> Result<u64, DecodeError> {
    match b {
        [V1, rest @ ..] if rest.len() == 8 => {
            Ok(u64::from_be_bytes(rest.try_into().expect("8 bytes")))
        }
        [v, ..] if *v != V1 => Err(DecodeError::UnknownVersion(*v)),
        _ => Err(DecodeError::BadKey {
            expected: ordinal::TIMESTAMP_INDEX,
            len: b.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_stream_then_bucket() {
        assert!(key(1, 5) < key(1, 6));
        assert!(key(1, u64::MAX - 1) < key(2, 0));
        assert_eq!(decode_key(&key(7, 9)).unwrap(), (7, 9));
        assert_eq!(decode_value(&encode_value(42)).unwrap(), 42);
        assert!(decode_value(&[2; 9]).is_err());
        assert!(decode_value(&[1, 0]).is_err());
        assert!(decode_key(&[6; 3]).is_err());
        assert_eq!(bucket(1999), 1);
    }
}
