//! An access token. Key `07 ‖ id`; value: version byte, then JSON [`StoredToken`]: the
//! token's info and the SHA-256 of its secret (the secret itself is never stored). Scope:
//! partition 0, which holds every token (a small, control-plane table).

use super::{ordinal, DecodeError, JSON_V1};
use protocol::access::AccessTokenInfo;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    pub info: AccessTokenInfo,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    pub created_at_nanos: u64,
    /// Issued by an authenticated caller (`--auth` on). Tokens anyone could issue while
    /// access control was off never authenticate.
    #[serde(default)]
    pub issued_with_auth: bool,
}

pub fn key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(ordinal::ACCESS_TOKEN);
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn decode_key(k: &[u8]) -> Result<String, DecodeError> {
    match k.split_first() {
        Some((&ordinal::ACCESS_TOKEN, id)) => {
            String::from_utf8(id.to_vec()).map_err(|_| DecodeError::BadKey {
                expected: ordinal::ACCESS_TOKEN,
                len: k.len(),
            })
        }
        _ => Err(DecodeError::BadKey {
            expected: ordinal::ACCESS_TOKEN,
            len: k.len(),
        }),
    }
}

pub fn encode_value(t: &StoredToken) -> Vec<u8> {
    let mut v = vec![JSON_V1];
    serde_json::to_writer(&mut v, t).expect("a token serializes");
    v
}

pub fn decode_value(b: &[u8]) -> Result<StoredToken, DecodeError> {
    match b.split_first() {
        Some((&JSON_V1, json)) => serde_json::from_slice(json).map_err(|_| DecodeError::BadKey {
            expected: ordinal::ACCESS_TOKEN,
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
    fn round_trip() {
        let t = StoredToken {
            info: serde_json::from_str(r#"{"id":"t1","scope":{"ops":["read"]}}"#).unwrap(),
            secret_sha256: "ab".repeat(32),
            created_at_nanos: 7,
            issued_with_auth: true,
        };
        assert_eq!(decode_value(&encode_value(&t)).unwrap(), t);
        assert_eq!(decode_key(&key("t1")).unwrap(), "t1");
        assert!(key("a") < key("b"));
    }
}
