//! S2S framing (API.md §9.2), for append and read sessions over HTTP/2:
//!
//! ```text
//! +-----------------+-----------+-------------------------------------------+
//! | length: 3 bytes | flags: 1B | payload (length - 1 bytes)                |
//! +-----------------+-----------+-------------------------------------------+
//! flags: bit 7 terminal, bits 6-5 compression (00 none, 01 zstd, 10 gzip),
//!        bit 4 reconnect advised, bits 3-0 reserved
//! ```
//! A terminal frame's payload is a 2-byte status then the JSON error body. Client frames
//! may be zstd or gzip compressed; Strand sends uncompressed frames, which every client
//! accepts.

use crate::compression::{decompress, Codec, DecompressError};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest accepted `length` (flags + payload).
pub const FRAME_LEN_MAX: usize = 2 * 1024 * 1024;

const TERMINAL: u8 = 0x80;
const COMPRESSION_MASK: u8 = 0x60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub terminal: bool,
    pub payload: Bytes,
}

/// Why a client's frame is refused; the text is what the terminal `bad_frame` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame exceeds decode limit")]
    TooLarge,
    #[error("empty frame payload")]
    Empty,
    #[error("unknown compression algorithm")]
    UnknownCompression,
    /// Compressed payload that does not decompress (s2-lite's text for bad zstd data).
    #[error("incomplete frame")]
    BadCompressedPayload,
    #[error("decompressed frame exceeds decode limit")]
    DecompressedTooLarge,
    #[error("Unexpected terminal frame as input")]
    UnexpectedTerminal,
    #[error("bytes remaining on stream")]
    Truncated,
}

/// A regular frame carrying `payload` (an encoded protobuf message).
pub fn encode(payload: &[u8]) -> Bytes {
    let len = payload.len() + 1;
    assert!(
        len <= FRAME_LEN_MAX,
        "messages are bounded well below 2 MiB"
    );
    let mut b = BytesMut::with_capacity(3 + len);
    b.put_uint(len as u64, 3);
    b.put_u8(0);
    b.put_slice(payload);
    b.freeze()
}

/// A regular frame, its payload compressed with `codec` when it is at least 1 KiB (as
/// s2-lite sends them; smaller payloads go as they are, flagged uncompressed).
pub fn encode_compressed(payload: &[u8], codec: Option<crate::compression::Codec>) -> Bytes {
    use crate::compression::{compress, Codec, COMPRESS_MIN_BYTES};
    let Some(codec) = codec.filter(|_| payload.len() >= COMPRESS_MIN_BYTES) else {
        return encode(payload);
    };
    let packed = compress(codec, payload);
    if packed.len() + 1 > FRAME_LEN_MAX {
        return encode(payload);
    }
    let mut b = BytesMut::with_capacity(4 + packed.len());
    b.put_uint(packed.len() as u64 + 1, 3);
    b.put_u8(match codec {
        Codec::Zstd => 0x20,
        Codec::Gzip => 0x40,
    });
    b.put_slice(&packed);
    b.freeze()
}

/// A terminal frame: status, then the JSON error body.
pub fn encode_terminal(status: u16, body: &[u8]) -> Bytes {
    let len = 1 + 2 + body.len();
    let mut b = BytesMut::with_capacity(3 + len);
    b.put_uint(len as u64, 3);
    b.put_u8(TERMINAL);
    b.put_u16(status);
    b.put_slice(body);
    b.freeze()
}

/// Incremental decoder of client frames. Holds at most one partial frame (≤ 2 MiB).
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if there is one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 3 {
            return Ok(None);
        }
        let len = (self.buf[0] as usize) << 16 | (self.buf[1] as usize) << 8 | self.buf[2] as usize;
        if len > FRAME_LEN_MAX {
            return Err(FrameError::TooLarge);
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if self.buf.len() < 3 + len {
            return Ok(None);
        }
        self.buf.advance(3);
        let flags = self.buf[0];
        self.buf.advance(1);
        let payload = self.buf.split_to(len - 1).freeze();
        let codec = match flags & COMPRESSION_MASK {
            0 => None,
            0x20 => Some(Codec::Zstd),
            0x40 => Some(Codec::Gzip),
            _ => return Err(FrameError::UnknownCompression),
        };
        let payload = match codec {
            None => payload,
            Some(c) => decompress(c, &payload, FRAME_LEN_MAX - 1).map_err(|e| match e {
                DecompressError::TooLarge => FrameError::DecompressedTooLarge,
                DecompressError::Corrupt(_) => FrameError::BadCompressedPayload,
            })?,
        };
        Ok(Some(Frame {
            terminal: flags & TERMINAL != 0,
            payload,
        }))
    }

    /// Bytes received and not yet taken as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// At end of input: leftover bytes mean a truncated frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_pieces() {
        let mut d = Decoder::default();
        let f = encode(b"hello");
        assert_eq!(&f[..4], &[0, 0, 6, 0]);
        for b in f.iter() {
            assert_eq!(d.next_frame().unwrap(), None);
            d.push(&[*b]);
        }
        let got = d.next_frame().unwrap().unwrap();
        assert_eq!((got.terminal, &got.payload[..]), (false, &b"hello"[..]));
        assert!(d.finish().is_ok());
        let t = encode_terminal(412, br#"{"seq_num_mismatch":4}"#);
        assert_eq!(&t[3..6], &[0x80, 0x01, 0x9c]);
    }

    #[test]
    fn compressed_frames_round_trip() {
        use crate::compression::Codec;
        let big = vec![7u8; 4096];
        for codec in [Codec::Gzip, Codec::Zstd] {
            let frame = encode_compressed(&big, Some(codec));
            assert!(frame.len() < 1000, "compressed");
            let mut d = Decoder::default();
            d.push(&frame);
            assert_eq!(&d.next_frame().unwrap().unwrap().payload[..], &big[..]);
        }
        // Below the threshold, sent as is.
        assert_eq!(
            encode_compressed(b"small", Some(Codec::Zstd)),
            encode(b"small")
        );
    }

    #[test]
    fn compressed_frames_decode() {
        let msg = vec![7u8; 3000];
        let z = zstd::stream::encode_all(&msg[..], 3).unwrap();
        let mut framed = BytesMut::new();
        framed.put_uint(z.len() as u64 + 1, 3);
        framed.put_u8(0x20);
        framed.put_slice(&z);
        let mut d = Decoder::default();
        d.push(&framed);
        assert_eq!(&d.next_frame().unwrap().unwrap().payload[..], &msg[..]);
        let mut d = Decoder::default();
        d.push(&[0, 0, 3, 0x20, 1, 2]);
        assert_eq!(d.next_frame(), Err(FrameError::BadCompressedPayload));
    }

    #[test]
    fn bad_frames() {
        let mut d = Decoder::default();
        d.push(&[0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::Empty));
        let mut d = Decoder::default();
        d.push(&[0x30, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::TooLarge));
        let mut d = Decoder::default();
        d.push(&[0, 0, 1, 0x60]);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownCompression));
        let mut d = Decoder::default();
        d.push(&[0, 0, 5, 0]);
        assert_eq!(d.finish(), Err(FrameError::Truncated));
    }

    #[test]
    fn no_input_panics_or_overallocates() {
        // A cheap exhaustive-ish sweep over short inputs.
        for a in 0..=255u8 {
            for b in [0u8, 1, 2, 0x7f, 0x80, 0xff] {
                let mut d = Decoder::default();
                d.push(&[b, a, 3, a, b, a, b]);
                let _ = d.next_frame();
                let _ = d.finish();
            }
        }
    }
}
