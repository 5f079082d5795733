//! JSON request bodies: appends in both formats, and the config bodies of basin and stream
//! creation and reconfiguration, decoded and validated.
#![no_main]
use libfuzzer_sys::fuzz_target;
use protocol::config::{BasinConfig, StreamConfig, StreamReconfiguration};
use protocol::json::{CreateBasinRequest, CreateStreamRequest};
use protocol::records::{AppendInput, Format};

fuzz_target!(|data: &[u8]| {
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
});
