//! The partition's next stream id. Key `05`; value: version byte, then the next id (8B BE).
//! Written in the same batch as each new stream's metadata, so an id is never handed out
//! twice, even after its stream is removed and the server restarts: a new stream can never
//! find an old stream's records or position under its id.

use super::{ordinal, DecodeError};

const V1: u8 = 1;

pub fn key() -> [u8; 1] {
    [ordinal::STREAM_ID_COUNTER]
}

pub fn encode_value(next: u64) -> [u8; 9] {
    let mut v = [0u8; 9];
    v[0] = V1;
    v[1..].copy_from_slice(&next.to_be_bytes());
    v
}

pub fn decode_value(b: &[u8]) -> Result<u64, DecodeError> {
    match b {
        [V1, rest @ ..] if rest.len() == 8 => {
            Ok(u64::from_be_bytes(rest.try_into().expect("8 bytes")))
        }
        [V1, ..] => Err(DecodeError::BadKey {
            expected: ordinal::STREAM_ID_COUNTER,
            len: b.len(),
        }),
        [v, ..] => Err(DecodeError::UnknownVersion(*v)),
        [] => Err(DecodeError::UnknownVersion(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        assert_eq!(decode_value(&encode_value(42)).unwrap(), 42);
        assert!(decode_value(&[1, 2, 3]).is_err());
        assert!(decode_value(&[9; 9]).is_err());
        assert!(decode_value(&[]).is_err());
    }
}
