//! HTTP/1.1 body decoders: framing, chunked bodies in pieces, gzip and zstd, never a panic
//! and never past their limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol::fuzz::http1_body(data));
