//! Basin metadata. Key `01 basin`; value v1 JSON; scope: the basin's partition
//! (`placement::partition_for_basin`); mutable (reconfigure, delete marks `deleted_at`);
//! removed when the basin's background deletion finishes.

use super::{decode_json, encode_json, ordinal, DecodeError};
use protocol::config::BasinConfig;
use protocol::names::BasinName;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasinMeta {
    pub config: BasinConfig,
    pub created_at_nanos: u64,
    pub deleted_at_nanos: Option<u64>,
    /// Set when created with `s2-request-token`: replays with the same token and config
    /// are no-ops.
    pub creation: Option<CreationKey>,
}

/// What makes a create idempotent: the request token and the requested config, canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreationKey {
    pub request_token: String,
    pub config_json: String,
}

pub fn key(basin: &BasinName) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + basin.as_str().len());
    k.push(ordinal::BASIN_META);
    k.extend_from_slice(basin.as_str().as_bytes());
    debug_assert_eq!(k.len(), 1 + basin.as_str().len());
    k
}

pub fn decode_key(k: &[u8]) -> Result<BasinName, DecodeError> {
    match k.split_first() {
        Some((&ordinal::BASIN_META, name)) => std::str::from_utf8(name)
            .map_err(|e| DecodeError::BadName(e.to_string()))
            .and_then(|s| BasinName::parse(s).map_err(DecodeError::BadName)),
        _ => Err(DecodeError::BadKey {
            expected: ordinal::BASIN_META,
            len: k.len(),
        }),
    }
}

pub fn encode_value(m: &BasinMeta) -> Vec<u8> {
    encode_json(m)
}

pub fn decode_value(b: &[u8]) -> Result<BasinMeta, DecodeError> {
    decode_json(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_key_and_round_trip() {
        let b = BasinName::parse("my-basin-1").unwrap();
        assert_eq!(key(&b), b"\x01my-basin-1");
        assert_eq!(decode_key(&key(&b)).unwrap(), b);
        let m = BasinMeta {
            config: BasinConfig::default(),
            created_at_nanos: 5,
            deleted_at_nanos: None,
            creation: Some(CreationKey {
                request_token: "t".into(),
                config_json: "{}".into(),
            }),
        };
        let v = encode_value(&m);
        assert_eq!(v[0], 1);
        assert_eq!(decode_value(&v).unwrap(), m);
        assert!(decode_value(b"\x09{}").is_err());
    }
}
