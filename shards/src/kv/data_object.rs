//! A data object's catalogue entry (decision 0016). Key `0B ‖ object id (8B BE)`. Value:
//! version byte, entry count (4B BE), then per stream with records in the object: stream id,
//! the last seq_num it has there, and when its records there expire (ms since the epoch;
//! `u64::MAX`: never), 8B BE each. Written in the batch whose pointers name the object;
//! deleted with the object once every entry is gone (`data_objects`).

use super::{ordinal, DecodeError};

const V1: u8 = 1;

/// One stream's records in an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub stream_id: u64,
    pub last_seq: u64,
    pub expires_at: u64,
}

pub fn key(object: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = ordinal::DATA_OBJECT;
    k[1..].copy_from_slice(&object.to_be_bytes());
    k
}

pub fn decode_key(k: &[u8]) -> Result<u64, DecodeError> {
    match k {
        [o, id @ ..] if *o == ordinal::DATA_OBJECT && id.len() == 8 => {
            Ok(u64::from_be_bytes(id.try_into().expect("8 bytes")))
        }
        _ => Err(DecodeError::BadKey {
            expected: ordinal::DATA_OBJECT,
            len: k.len(),
        }),
    }
}

pub fn encode_value(entries: &[Entry]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + 24 * entries.len());
    v.push(V1);
    v.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        v.extend_from_slice(&e.stream_id.to_be_bytes());
        v.extend_from_slice(&e.last_seq.to_be_bytes());
        v.extend_from_slice(&e.expires_at.to_be_bytes());
    }
    v
}

pub fn decode_value(b: &[u8]) -> Result<Vec<Entry>, DecodeError> {
    let bad = || DecodeError::BadKey {
        expected: ordinal::DATA_OBJECT,
        len: b.len(),
    };
    match b.first() {
        Some(&V1) => {}
        Some(&v) => return Err(DecodeError::UnknownVersion(v)),
        None => return Err(bad()),
    }
    let count = u32::from_be_bytes(b.get(1..5).ok_or_else(bad)?.try_into().expect("4")) as usize;
    let body = &b[5..];
    if body.len() != count * 24 {
        return Err(bad());
    }
    let u64_at = |i: usize| u64::from_be_bytes(body[i..i + 8].try_into().expect("8 bytes"));
    Ok((0..count)
        .map(|i| Entry {
            stream_id: u64_at(24 * i),
            last_seq: u64_at(24 * i + 8),
            expires_at: u64_at(24 * i + 16),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let entries = vec![
            Entry {
                stream_id: 3,
                last_seq: 99,
                expires_at: u64::MAX,
            },
            Entry {
                stream_id: 7,
                last_seq: 1,
                expires_at: 5,
            },
        ];
        assert_eq!(decode_value(&encode_value(&entries)).unwrap(), entries);
        assert_eq!(decode_key(&key(42)).unwrap(), 42);
        assert!(decode_value(b"\x01\0\0\0\x05").is_err());
        assert!(decode_value(b"").is_err());
        assert!(decode_key(b"\x0b\0").is_err());
    }
}
