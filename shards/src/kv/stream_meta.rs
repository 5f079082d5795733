//! Stream metadata. Key `02 basin 00 stream`; value v1 JSON; scope: the stream's partition
//! (`placement::partition_for_stream`); mutable (reconfigure, delete marks `deleted_at`);
//! removed when the stream's background deletion finishes.

use super::basin_meta::CreationKey;
use super::{decode_json, encode_json, ordinal, DecodeError};
use protocol::config::{Cipher, ResolvedStreamConfig};
use protocol::names::{BasinName, StreamName};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    /// Partition-local identity, used by record keys.
    pub id: u64,
    pub config: ResolvedStreamConfig,
    /// The basin's `stream_cipher` when the stream was created; immutable.
    pub cipher: Option<Cipher>,
    pub created_at_nanos: u64,
    pub deleted_at_nanos: Option<u64>,
    pub creation: Option<CreationKey>,
}

pub fn key(basin: &BasinName, stream: &StreamName) -> Vec<u8> {
    let (b, s) = (basin.as_str().as_bytes(), stream.as_str().as_bytes());
    let mut k = Vec::with_capacity(2 + b.len() + s.len());
    k.push(ordinal::STREAM_META);
    k.extend_from_slice(b);
    k.push(0);
    k.extend_from_slice(s);
    debug_assert_eq!(k.len(), 2 + b.len() + s.len());
    k
}

/// The key prefix of every stream of `basin`.
pub fn basin_prefix(basin: &BasinName) -> Vec<u8> {
    let mut k = vec![ordinal::STREAM_META];
    k.extend_from_slice(basin.as_str().as_bytes());
    k.push(0);
    k
}

pub fn decode_key(k: &[u8]) -> Result<(BasinName, StreamName), DecodeError> {
    let bad = || DecodeError::BadKey {
        expected: ordinal::STREAM_META,
        len: k.len(),
    };
    let rest = match k.split_first() {
        Some((&ordinal::STREAM_META, rest)) => rest,
        _ => return Err(bad()),
    };
    let nul = rest.iter().position(|&c| c == 0).ok_or_else(bad)?;
    let utf8 = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|e| DecodeError::BadName(e.to_string()))
    };
    let basin = BasinName::parse(&utf8(&rest[..nul])?).map_err(DecodeError::BadName)?;
    let stream = StreamName::parse(&utf8(&rest[nul + 1..])?).map_err(DecodeError::BadName)?;
    Ok((basin, stream))
}

pub fn encode_value(m: &StreamMeta) -> Vec<u8> {
    encode_json(m)
}

pub fn decode_value(b: &[u8]) -> Result<StreamMeta, DecodeError> {
    decode_json(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::config::StreamConfig;

    #[test]
    fn golden_key_and_round_trip() {
        let b = BasinName::parse("my-basin-1").unwrap();
        let s = StreamName::parse("a/b c").unwrap();
        assert_eq!(key(&b, &s), b"\x02my-basin-1\x00a/b c");
        assert_eq!(decode_key(&key(&b, &s)).unwrap(), (b.clone(), s));
        assert!(key(&b, &StreamName::parse("x").unwrap()).starts_with(&basin_prefix(&b)));
        let m = StreamMeta {
            id: 7,
            config: StreamConfig::default().resolve(None),
            cipher: None,
            created_at_nanos: 1,
            deleted_at_nanos: Some(2),
            creation: None,
        };
        assert_eq!(decode_value(&encode_value(&m)).unwrap(), m);
    }

    #[test]
    fn keys_sort_by_basin_then_stream() {
        let b1 = BasinName::parse("aaaaaaaa").unwrap();
        let b2 = BasinName::parse("aaaaaaaa-b").unwrap();
        let s = |n: &str| StreamName::parse(n).unwrap();
        assert!(key(&b1, &s("zzz")) < key(&b2, &s("a")));
        assert!(key(&b1, &s("a")) < key(&b1, &s("a/b c?d")));
        assert!(key(&b1, &s("a/b c?d")) < key(&b1, &s("b")));
    }
}
