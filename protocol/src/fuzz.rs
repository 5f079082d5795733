//! The bodies of the fuzz targets (`fuzz/fuzz_targets/`), here so the fuzzer and the
//! regression replay in `make test` (`protocol/tests/fuzz_regressions.rs`) drive exactly
//! the same code. Each must return normally on any input.

use crate::compression::{decompress, Codec};
use crate::config::{BasinConfig, StreamConfig, StreamReconfiguration};
use crate::http1::{parse_head, HEAD_BYTES_MAX};
use crate::http1_body::{framing, ChunkedDecoder};
use crate::json::{CreateBasinRequest, CreateStreamRequest};
use crate::records::{AppendInput, Format};
use crate::s2s::Decoder;

/// S2S frames arriving in pieces of `data[0]` bytes; every payload goes through the append
/// decoder and validation.
pub fn s2s_frame(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut decoder = Decoder::default();
    for piece in rest.chunks((split as usize).max(1)) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => proto_append(&frame.payload),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = decoder.finish();
}

/// An HTTP/1.1 request head: a head, "need more", 400 or 431.
pub fn http1_head(data: &[u8]) {
    if let Ok(Some((head, consumed))) = parse_head(data) {
        assert!(consumed <= data.len() && consumed <= HEAD_BYTES_MAX);
        assert!(!head.path.contains('?'));
    }
}

/// Request body decoders: a head's declared framing, a chunked body arriving in pieces of
/// `data[0]` bytes, and both decompressors; each stays within its limit.
pub fn http1_body(data: &[u8]) {
    const LIMIT: usize = 4096;
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    if let Ok(Some((head, _))) = parse_head(rest) {
        let _ = framing(&head.headers);
    }
    let mut decoder = ChunkedDecoder::new(LIMIT);
    let mut buf = Vec::new();
    for piece in rest.chunks((split as usize).max(1)) {
        buf.extend_from_slice(piece);
        match decoder.feed(&mut buf) {
            Ok(false) => {}
            Ok(true) | Err(_) => break,
        }
    }
    assert!(decoder.into_body().len() <= LIMIT);
    for codec in [Codec::Gzip, Codec::Zstd] {
        if let Ok(out) = decompress(codec, rest, LIMIT) {
            assert!(out.len() <= LIMIT);
        }
    }
}

/// JSON request bodies: appends in both formats, and the basin and stream config bodies.
pub fn json_bodies(data: &[u8]) {
    for format in [Format::Raw, Format::Base64] {
        if let Ok(input) = AppendInput::from_json(data, format) {
            let _ = input.validate();
            let _ = input.metered_size();
        }
    }
    if let Ok(c) = serde_json::from_slice::<StreamConfig>(data) {
        if c.validate().is_ok() {
            let _ = c.normalized().resolve(None);
        }
    }
    if let Ok(c) = serde_json::from_slice::<BasinConfig>(data) {
        let _ = c.validate();
    }
    if let Ok(r) = serde_json::from_slice::<StreamReconfiguration>(data) {
        let _ = r.validate();
    }
    let _ = serde_json::from_slice::<CreateBasinRequest>(data);
    let _ = serde_json::from_slice::<CreateStreamRequest>(data);
}

/// A protobuf append body.
pub fn proto_append(data: &[u8]) {
    if let Ok(input) = AppendInput::from_proto(data) {
        let _ = input.validate();
        let _ = input.metered_size();
    }
}
