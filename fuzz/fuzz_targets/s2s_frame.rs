//! S2S frames arriving in arbitrary pieces: the decoder never panics, never holds more than
//! one frame, and every payload it yields goes through the append decoder and validation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use protocol::records::AppendInput;
use protocol::s2s::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let chunk = (split as usize).max(1);
    let mut decoder = Decoder::default();
    for piece in rest.chunks(chunk) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let Ok(input) = AppendInput::from_proto(&frame.payload) {
                        let _ = input.validate();
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = decoder.finish();
});
