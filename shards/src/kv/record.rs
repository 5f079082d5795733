//! A record. Key `04 ‖ stream id (8B BE) ‖ seq_num (8B BE)`, so a stream's records are one
//! contiguous key range in seq_num order. Value: version byte, timestamp (8B BE), from
//! version 2 the stream's metered bytes appended before this record (8B BE), then header
//! count (4B BE), each header as name length (4B BE), name, value length (4B BE), value; then
//! the body (the rest). Scope: the stream's partition. Immutable; removed by trim, retention
//! and deletion. A version 3 value is a [`Pointer`] instead (decision 0016): timestamp and
//! bytes before as in version 2, then where the record's version 2 value is in a data
//! object; [`decode_value`] refuses it, so readers resolve pointers first.
//!
//! The bytes before a record make stored bytes exact however records disappear (our
//! collection, or SlateDB's compaction dropping expired ones first): a stream stores its
//! appended bytes minus the bytes before its first live record.

use super::{ordinal, DecodeError};
use bytes::{BufMut, Bytes};

const V1: u8 = 1;
const V2: u8 = 2;
/// A pointer into a data object (decision 0016): timestamp, bytes before, object id,
/// offset, length, metered size. The pointed-to bytes are the record's v2 value.
const V3: u8 = 3;
pub const POINTER_LEN: usize = 1 + 8 + 8 + 8 + 4 + 4 + 4;

/// Where a v3 record's value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pointer {
    pub object: u64,
    pub offset: u32,
    pub len: u32,
    pub metered: u32,
}

pub fn encode_pointer(timestamp: u64, bytes_before: u64, p: Pointer) -> Vec<u8> {
    let mut v = Vec::with_capacity(POINTER_LEN);
    v.push(V3);
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(&bytes_before.to_be_bytes());
    v.extend_from_slice(&p.object.to_be_bytes());
    v.extend_from_slice(&p.offset.to_be_bytes());
    v.extend_from_slice(&p.len.to_be_bytes());
    v.extend_from_slice(&p.metered.to_be_bytes());
    v
}

/// The pointer in a v3 value (`None` for values that hold their record).
pub fn pointer(b: &[u8]) -> Option<Pointer> {
    if b.first() != Some(&V3) || b.len() != POINTER_LEN {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    Some(Pointer {
        object: u64::from_be_bytes(b[17..25].try_into().expect("8 bytes")),
        offset: u32_at(25),
        len: u32_at(29),
        metered: u32_at(33),
    })
}

/// A value's timestamp, whatever its version.
pub fn timestamp(b: &[u8]) -> Result<u64, DecodeError> {
    match b.get(1..9) {
        Some(t) if matches!(b[0], V1 | V2 | V3) => {
            Ok(u64::from_be_bytes(t.try_into().expect("8 bytes")))
        }
        _ => Err(bad(b)),
    }
}

/// Timestamp, headers and body, sharing the value's buffer.
pub type DecodedRecord = (u64, Vec<(Bytes, Bytes)>, Bytes);

pub fn key(stream_id: u64, seq_num: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = ordinal::RECORD;
    k[1..9].copy_from_slice(&stream_id.to_be_bytes());
    k[9..].copy_from_slice(&seq_num.to_be_bytes());
    k
}

/// The seq_num in a record key.
pub fn decode_key(k: &[u8]) -> Result<(u64, u64), DecodeError> {
    if k.len() != 17 || k[0] != ordinal::RECORD {
        return Err(DecodeError::BadKey {
            expected: ordinal::RECORD,
            len: k.len(),
        });
    }
    let id = u64::from_be_bytes(k[1..9].try_into().expect("8 bytes"));
    let seq = u64::from_be_bytes(k[9..].try_into().expect("8 bytes"));
    Ok((id, seq))
}

pub fn encoded_len(headers: &[(Bytes, Bytes)], body: &[u8]) -> usize {
    1 + 8 + 8 + envelope_len(headers, body)
}

/// `bytes_before`: the stream's metered bytes appended before this record.
pub fn encode_value(
    timestamp: u64,
    bytes_before: u64,
    headers: &[(Bytes, Bytes)],
    body: &[u8],
) -> Vec<u8> {
    let len = encoded_len(headers, body);
    let mut v = Vec::with_capacity(len);
    v.push(V2);
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(&bytes_before.to_be_bytes());
    encode_envelope(&mut v, headers, body);
    debug_assert_eq!(v.len(), len);
    v
}

/// The envelope (headers, then body) as a value carries it after its timestamp; also the
/// plaintext of a sealed record (`record_cipher`).
pub fn envelope_len(headers: &[(Bytes, Bytes)], body: &[u8]) -> usize {
    4 + headers
        .iter()
        .map(|(n, v)| 8 + n.len() + v.len())
        .sum::<usize>()
        + body.len()
}

pub fn encode_envelope(out: &mut impl BufMut, headers: &[(Bytes, Bytes)], body: &[u8]) {
    out.put_u32(headers.len() as u32);
    for (n, val) in headers {
        out.put_u32(n.len() as u32);
        out.put_slice(n);
        out.put_u32(val.len() as u32);
        out.put_slice(val);
    }
    out.put_slice(body);
}

/// Decodes without copying: headers and body are slices of `b`.
pub fn decode_value(b: &Bytes) -> Result<DecodedRecord, DecodeError> {
    let envelope_at = match b.first() {
        Some(&V1) => 9,
        Some(&V2) => 17,
        Some(&v) => return Err(DecodeError::UnknownVersion(v)),
        None => return Err(DecodeError::UnknownVersion(0)),
    };
    if b.len() < envelope_at {
        return Err(bad(b));
    }
    let timestamp = u64::from_be_bytes(b[1..9].try_into().expect("8 bytes"));
    let (headers, body) = decode_envelope(&b.slice(envelope_at..))?;
    Ok((timestamp, headers, body))
}

/// The stream's metered bytes appended before this record (`None`: a version 1 record,
/// written before they were kept).
pub fn bytes_before(b: &[u8]) -> Option<u64> {
    match (b.first(), b.get(9..17)) {
        (Some(&V2 | &V3), Some(n)) => Some(u64::from_be_bytes(n.try_into().expect("8 bytes"))),
        _ => None,
    }
}

fn bad(b: &[u8]) -> DecodeError {
    DecodeError::BadKey {
        expected: ordinal::RECORD,
        len: b.len(),
    }
}

/// An envelope's headers and body, as slices of `b`.
pub fn decode_envelope(b: &Bytes) -> Result<(Vec<(Bytes, Bytes)>, Bytes), DecodeError> {
    if b.len() < 4 {
        return Err(bad(b));
    }
    let count = u32::from_be_bytes(b[0..4].try_into().expect("4 bytes")) as usize;
    let mut at = 4;
    let take = |at: &mut usize| -> Result<Bytes, DecodeError> {
        if *at + 4 > b.len() {
            return Err(bad(b));
        }
        let n = u32::from_be_bytes(b[*at..*at + 4].try_into().expect("4 bytes")) as usize;
        *at += 4;
        if *at + n > b.len() {
            return Err(bad(b));
        }
        let s = b.slice(*at..*at + n);
        *at += n;
        Ok(s)
    };
    // A corrupt count cannot make us allocate more than the value could hold.
    let mut headers = Vec::with_capacity(count.min(b.len() / 8));
    for _ in 0..count {
        let name = take(&mut at)?;
        let value = take(&mut at)?;
        headers.push((name, value));
    }
    Ok((headers, b.slice(at..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_round_trip_and_share_the_v2_prefix() {
        let p = Pointer {
            object: 7,
            offset: 1 << 20,
            len: 8192,
            metered: 8200,
        };
        let v = encode_pointer(42, 1000, p);
        assert_eq!(v.len(), POINTER_LEN);
        assert_eq!(pointer(&v), Some(p));
        assert_eq!(timestamp(&v).unwrap(), 42);
        assert_eq!(bytes_before(&v), Some(1000));
        assert!(
            decode_value(&Bytes::from(v)).is_err(),
            "a pointer is not a record"
        );
        let inline = encode_value(42, 1000, &[], b"body");
        assert_eq!(pointer(&inline), None);
        assert_eq!(timestamp(&inline).unwrap(), 42);
    }

    #[test]
    fn golden_and_round_trip() {
        assert_eq!(decode_key(&key(2, 9)).unwrap(), (2, 9));
        assert!(key(1, 255) < key(1, 256));
        assert!(key(1, u64::MAX) < key(2, 0));
        let headers = vec![(Bytes::from("k"), Bytes::from("v"))];
        let v = encode_value(42, 7, &headers, b"body");
        assert_eq!(
            v,
            b"\x02\0\0\0\0\0\0\0\x2a\0\0\0\0\0\0\0\x07\0\0\0\x01\0\0\0\x01k\0\0\0\x01vbody"
        );
        assert_eq!(v.len(), encoded_len(&headers, b"body"));
        assert_eq!(bytes_before(&v), Some(7));
        let (ts, h, body) = decode_value(&Bytes::from(v)).unwrap();
        assert_eq!(
            (ts, h.clone(), &body[..]),
            (42, headers.clone(), &b"body"[..])
        );
        // Version 1 values (no bytes before) still read.
        let v1 = b"\x01\0\0\0\0\0\0\0\x2a\0\0\0\x01\0\0\0\x01k\0\0\0\x01vbody";
        let (ts, h, body) = decode_value(&Bytes::from_static(v1)).unwrap();
        assert_eq!((ts, h, &body[..]), (42, headers, &b"body"[..]));
        assert_eq!(bytes_before(v1), None);
        assert!(
            decode_value(&Bytes::from_static(b"\x01\0\0\0\0\0\0\0\0\xff\xff\xff\xff")).is_err()
        );
    }
}
