//! HTTP/1.1 request heads: any bytes give a head, "need more", 400 or 431, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol::fuzz::http1_head(data));
