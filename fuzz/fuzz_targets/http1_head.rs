//! HTTP/1.1 request heads: any bytes give a head, "need more", 400 or 431, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use protocol::http1::{parse_head, HEAD_BYTES_MAX};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((head, consumed))) = parse_head(data) {
        assert!(consumed <= data.len() && consumed <= HEAD_BYTES_MAX);
        assert!(!head.path.contains('?'));
    }
});
