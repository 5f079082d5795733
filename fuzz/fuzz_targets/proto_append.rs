//! Protobuf append bodies (`content-type: application/protobuf`), decoded and validated.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol::fuzz::proto_append(data));
