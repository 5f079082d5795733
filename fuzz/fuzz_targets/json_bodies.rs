//! JSON request bodies: appends in both formats, and the config bodies of basin and stream
//! creation and reconfiguration, decoded and validated.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol::fuzz::json_bodies(data));
