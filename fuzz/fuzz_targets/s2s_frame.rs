//! S2S frames arriving in arbitrary pieces: the decoder never panics, never holds more than
//! one frame, and every payload it yields goes through the append decoder and validation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol::fuzz::s2s_frame(data));
