//! A stream's position. Key `03 ‖ stream id (8B BE)`; value: version byte, then `next_seq`
//! (8B BE), `last_timestamp` (8B BE), `trim_point` (8B BE), token length (1B), token bytes,
//! and from version 2 `appended_bytes` (8B BE) last. Version 1 values (written before usage
//! metering) read as 0 appended bytes.
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
    /// Metered bytes of every record ever appended (the storage gauge subtracts what
    /// collection deleted: `kv::usage::collected`).
    pub appended_bytes: u64,
}

const V1: u8 = 1;
const V2: u8 = 2;
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
    let mut v = Vec::with_capacity(FIXED_LEN + token.len() + 8);
    v.push(V2);
    v.extend_from_slice(&p.next_seq.to_be_bytes());
    v.extend_from_slice(&p.last_timestamp.to_be_bytes());
    v.extend_from_slice(&p.trim_point.to_be_bytes());
    v.push(token.len() as u8);
    v.extend_from_slice(token);
    v.extend_from_slice(&p.appended_bytes.to_be_bytes());
    debug_assert_eq!(v.len(), FIXED_LEN + token.len() + 8);
    v
}

pub fn decode_value(b: &[u8]) -> Result<StreamPosition, DecodeError> {
    let tail_len = match b.first() {
        Some(&V1) => 0,
        Some(&V2) => 8,
        Some(&v) => return Err(DecodeError::UnknownVersion(v)),
        None => return Err(DecodeError::UnknownVersion(0)),
    };
    let bad = || DecodeError::BadKey {
        expected: ordinal::STREAM_POSITION,
        len: b.len(),
    };
    if b.len() < FIXED_LEN {
        return Err(bad());
    }
    let u = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let token_len = b[25] as usize;
    if b.len() != FIXED_LEN + token_len + tail_len {
        return Err(bad());
    }
    let token = std::str::from_utf8(&b[FIXED_LEN..FIXED_LEN + token_len])
        .map_err(|e| DecodeError::BadName(e.to_string()))?;
    Ok(StreamPosition {
        next_seq: u(1),
        last_timestamp: u(9),
        trim_point: u(17),
        fencing_token: token.to_owned(),
        appended_bytes: if tail_len == 8 {
            u(FIXED_LEN + token_len)
        } else {
            0
        },
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
            appended_bytes: 9,
        };
        let v = encode_value(&p);
        assert_eq!(v.len(), 26 + 3 + 8);
        assert_eq!(v[0], 2);
        assert_eq!(decode_value(&v).unwrap(), p);
        assert!(decode_value(&v[..10]).is_err());
        assert!(decode_value(&v[..v.len() - 1]).is_err());
    }

    #[test]
    fn version_1_reads_as_nothing_appended() {
        let mut v = vec![1];
        v.extend_from_slice(&5u64.to_be_bytes());
        v.extend_from_slice(&7u64.to_be_bytes());
        v.extend_from_slice(&2u64.to_be_bytes());
        v.push(3);
        v.extend_from_slice(b"tok");
        let p = decode_value(&v).unwrap();
        assert_eq!((p.next_seq, p.trim_point, p.appended_bytes), (5, 2, 0));
        assert_eq!(p.fencing_token, "tok");
    }
}
