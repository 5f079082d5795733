//! Protobuf append bodies (`content-type: application/protobuf`), decoded and validated.
#![no_main]
use libfuzzer_sys::fuzz_target;
use protocol::records::AppendInput;

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = AppendInput::from_proto(data) {
        let _ = input.validate();
        let _ = input.metered_size();
    }
});
