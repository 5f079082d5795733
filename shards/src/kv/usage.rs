//! Usage metering keys (the `/v1/metrics` API, `usage`).
//!
//! - `08 ‖ basin ‖ 00 ‖ minute (4B BE) ‖ shard (2B BE) ‖ flush (8B BE)`: what one shard's
//!   flush `flush` counted of a basin in one minute (`basin` empty: account-level
//!   operations), as a [`MinuteUsage`]. Written once by that shard, on a partition it owns,
//!   with a TTL of [`USAGE_TTL_SECS`]; a flush that failed is written again with the same
//!   keys and values, so one that landed late anyway is not counted twice. Flush ids
//!   increase (they are the flush's time in ns). Queries sum every key, on every partition.
//! - `09 ‖ stream id (8B BE) ‖ minute (4B BE)`: a stream's stored bytes sampled in that
//!   minute, written when they changed and at least once an hour. Scope: the stream's
//!   partition, same TTL.
//! - `0A ‖ stream id (8B BE)`: metered bytes of the stream's records deleted so far by
//!   collection (trim, retention), written in the same batch as the deletions. Stored bytes
//!   are the position's `appended_bytes` minus this. Removed with the stream.
//!
//! Minutes are Unix minutes (seconds / 60).

use super::{decode_json, encode_json, ordinal, DecodeError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long usage is kept: the longest span a query may ask for (s2's API: 90 days).
pub const USAGE_TTL_SECS: u64 = 90 * 24 * 3600;

/// What one shard counted for one basin in one minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteUsage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub append_ops_express: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub append_ops_standard: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub append_bytes: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read_ops_unary: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read_ops_streaming: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub read_bytes: u64,
    /// Basin- or account-level operations by name (`basin-ops`, `account-ops`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ops: BTreeMap<String, u64>,
    /// Gauge: stored bytes of the basin's streams on this shard, when sampled this minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<u64>,
    /// Gauge: the basin's streams on this shard, when sampled this minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<u64>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

const USAGE_KEY_TAIL: usize = 1 + 4 + 2 + 8;

pub fn usage_key(basin: &str, minute: u32, shard: u16, flush: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + basin.len() + USAGE_KEY_TAIL);
    k.push(ordinal::USAGE);
    k.extend_from_slice(basin.as_bytes());
    k.push(0);
    k.extend_from_slice(&minute.to_be_bytes());
    k.extend_from_slice(&shard.to_be_bytes());
    k.extend_from_slice(&flush.to_be_bytes());
    k
}

/// The range of a basin's usage keys (`None`: every basin's).
pub fn usage_range(basin: Option<&str>) -> std::ops::Range<Vec<u8>> {
    match basin {
        Some(b) => {
            let mut start = vec![ordinal::USAGE];
            start.extend_from_slice(b.as_bytes());
            start.push(0);
            let mut end = start.clone();
            *end.last_mut().expect("not empty") = 1;
            start..end
        }
        None => vec![ordinal::USAGE]..vec![ordinal::USAGE + 1],
    }
}

/// A usage key's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageKey {
    pub basin: String,
    pub minute: u32,
    pub shard: u16,
    pub flush: u64,
}

pub fn decode_usage_key(k: &[u8]) -> Result<UsageKey, DecodeError> {
    let bad = || DecodeError::BadKey {
        expected: ordinal::USAGE,
        len: k.len(),
    };
    if k.len() < 1 + USAGE_KEY_TAIL || k[0] != ordinal::USAGE {
        return Err(bad());
    }
    let (name, rest) = k[1..].split_at(k.len() - 1 - USAGE_KEY_TAIL);
    if rest[0] != 0 {
        return Err(bad());
    }
    let basin = std::str::from_utf8(name).map_err(|e| DecodeError::BadName(e.to_string()))?;
    Ok(UsageKey {
        basin: basin.to_owned(),
        minute: u32::from_be_bytes(rest[1..5].try_into().expect("4 bytes")),
        shard: u16::from_be_bytes(rest[5..7].try_into().expect("2 bytes")),
        flush: u64::from_be_bytes(rest[7..15].try_into().expect("8 bytes")),
    })
}

pub fn encode_usage(u: &MinuteUsage) -> Vec<u8> {
    encode_json(u)
}

pub fn decode_usage(b: &[u8]) -> Result<MinuteUsage, DecodeError> {
    decode_json(b)
}

pub fn sample_key(stream_id: u64, minute: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = ordinal::STORAGE_SAMPLE;
    k[1..9].copy_from_slice(&stream_id.to_be_bytes());
    k[9..].copy_from_slice(&minute.to_be_bytes());
    k
}

/// Minute of a sample key.
pub fn decode_sample_key(k: &[u8]) -> Result<u32, DecodeError> {
    if k.len() != 13 || k[0] != ordinal::STORAGE_SAMPLE {
        return Err(DecodeError::BadKey {
            expected: ordinal::STORAGE_SAMPLE,
            len: k.len(),
        });
    }
    Ok(u32::from_be_bytes(k[9..].try_into().expect("4 bytes")))
}

pub fn collected_key(stream_id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = ordinal::COLLECTED_BYTES;
    k[1..].copy_from_slice(&stream_id.to_be_bytes());
    k
}

/// Stream id of a collected-bytes key.
pub fn decode_collected_key(k: &[u8]) -> Result<u64, DecodeError> {
    if k.len() != 9 || k[0] != ordinal::COLLECTED_BYTES {
        return Err(DecodeError::BadKey {
            expected: ordinal::COLLECTED_BYTES,
            len: k.len(),
        });
    }
    Ok(u64::from_be_bytes(k[1..].try_into().expect("8 bytes")))
}

const V1: u8 = 1;

/// A byte count value (samples and collected bytes): version byte, then 8B BE.
pub fn encode_bytes(n: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(9);
    v.push(V1);
    v.extend_from_slice(&n.to_be_bytes());
    v
}

pub fn decode_bytes(b: &[u8]) -> Result<u64, DecodeError> {
    match b.split_first() {
        Some((&V1, rest)) if rest.len() == 8 => {
            Ok(u64::from_be_bytes(rest.try_into().expect("8 bytes")))
        }
        Some((&V1, _)) => Err(DecodeError::BadKey {
            expected: ordinal::COLLECTED_BYTES,
            len: b.len(),
        }),
        Some((&v, _)) => Err(DecodeError::UnknownVersion(v)),
        None => Err(DecodeError::UnknownVersion(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_keys_round_trip_and_sort_by_basin_then_minute() {
        let k = usage_key("b1", 7, 3, 11);
        assert_eq!(
            decode_usage_key(&k).unwrap(),
            UsageKey {
                basin: "b1".into(),
                minute: 7,
                shard: 3,
                flush: 11
            }
        );
        assert_eq!(decode_usage_key(&usage_key("", 9, 0, 0)).unwrap().basin, "");
        assert!(usage_key("b1", 7, 3, u64::MAX) < usage_key("b1", 8, 0, 0));
        assert!(usage_key("b1", u32::MAX, 9, 9) < usage_key("b1-x", 0, 0, 0));
        let r = usage_range(Some("b1"));
        assert!(r.contains(&k) && !r.contains(&usage_key("b1-x", 0, 0, 0)));
        assert!(r.contains(&usage_key("b1", u32::MAX, u16::MAX, u64::MAX)));
        assert!(usage_range(None).contains(&usage_key("", 0, 0, 0)));
        assert!(decode_usage_key(&k[..5]).is_err());
    }

    #[test]
    fn usage_values_round_trip_and_leave_out_zeros() {
        let mut u = MinuteUsage {
            append_bytes: 5,
            stored_bytes: Some(10),
            ..Default::default()
        };
        u.ops.insert("list-streams".into(), 1);
        let v = encode_usage(&u);
        assert_eq!(decode_usage(&v).unwrap(), u);
        assert!(!String::from_utf8_lossy(&v).contains("read_bytes"));
    }

    #[test]
    fn byte_values_and_other_keys() {
        assert_eq!(decode_bytes(&encode_bytes(42)).unwrap(), 42);
        assert!(decode_bytes(&[1, 2]).is_err());
        assert_eq!(decode_sample_key(&sample_key(4, 99)).unwrap(), 99);
        assert_eq!(decode_collected_key(&collected_key(4)).unwrap(), 4);
        assert!(sample_key(4, u32::MAX) < sample_key(5, 0));
    }
}
