//! A stream's position. Key `03 ‖ stream id (8B BE)`; value: version byte, then `next_seq`
//! (8B BE), `last_timestamp` (8B BE), `trim_point` (8B BE), token length (1B), token bytes.
//! Scope: the stream's partition. Written in the same write batch as the records that move
//! it, so records and position are durable together. Removed with the stream.

use super::{ordinal, DecodeError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamPosition {
    /// Next sequence number to assign (the tail).
    pub next_seq: u64,
    /// Timestamp of the last record (0 for an empty stream).
    pub last_timestamp: u64,
    /// Records below this are trimmed.
    pub trim_point: u64,
    pub fencing_token: String,
}

const V1: u8 = 1;
const FIXED_LEN: usize = 1 + 8 + 8 + 8 + 1;

pub fn key(stream_id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = ordinal::STREAM_POSITION;
    k[1..].copy_from_slice(&stream_id.to_be_bytes());
    k
}

pub fn encode_value(p: &StreamPosition) -> Vec<u8> {
    let token = p.fencing_token.as_bytes();
    assert!(
        token.len() <= u8::MAX as usize,
        "fencing tokens are at most 36 bytes"
    );
    let mut v = Vec::with_capacity(FIXED_LEN + token.len());
    v.push(V1);
    v.extend_from_slice(&p.next_seq.to_be_bytes());
    v.extend_from_slice(&p.last_timestamp.to_be_bytes());
    v.extend_from_slice(&p.trim_point.to_be_bytes());
    v.push(token.len() as u8);
    v.extend_from_slice(token);
    debug_assert_eq!(v.len(), FIXED_LEN + token.len());
    v
}

pub fn decode_value(b: &[u8]) -> Result<StreamPosition, DecodeError> {
    match b.first() {
        Some(&V1) => {}
        Some(&v) => return Err(DecodeError::UnknownVersion(v)),
        None => return Err(DecodeError::UnknownVersion(0)),
    }
    let bad = || DecodeError::BadKey {
        expected: ordinal::STREAM_POSITION,
        len: b.len(),
    };
    if b.len() < FIXED_LEN {
        return Err(bad());
    }
    let u = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let token_len = b[25] as usize;
    if b.len() != FIXED_LEN + token_len {
        return Err(bad());
    }
    let token =
        std::str::from_utf8(&b[FIXED_LEN..]).map_err(|e| DecodeError::BadName(e.to_string()))?;
    Ok(StreamPosition {
        next_seq: u(1),
        last_timestamp: u(9),
        trim_point: u(17),
        fencing_token: token.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_and_round_trip() {
        assert_eq!(key(1), [3, 0, 0, 0, 0, 0, 0, 0, 1]);
        let p = StreamPosition {
            next_seq: 5,
            last_timestamp: 7,
            trim_point: 2,
            fencing_token: "tok".into(),
        };
        let v = encode_value(&p);
        assert_eq!(v.len(), 26 + 3);
        assert_eq!(v[0], 1);
        assert_eq!(decode_value(&v).unwrap(), p);
        assert!(decode_value(&v[..10]).is_err());
    }
}
