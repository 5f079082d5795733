//! Replays every input kept in `fuzz/regressions/<target>/` (seeds, and anything a fuzz run
//! found and we fixed) through the same code the fuzz targets drive, so `make test` keeps
//! them fixed without needing cargo-fuzz.

use std::path::PathBuf;
use strand_protocol::config::{BasinConfig, StreamConfig, StreamReconfiguration};
use strand_protocol::http1::parse_head;
use strand_protocol::records::{AppendInput, Format};
use strand_protocol::s2s::Decoder;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

#[test]
fn s2s_frame_inputs() {
    for (_, data) in inputs("s2s_frame") {
        let Some((&split, rest)) = data.split_first() else {
            continue;
        };
        let mut decoder = Decoder::default();
        'pieces: for piece in rest.chunks((split as usize).max(1)) {
            decoder.push(piece);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        if let Ok(input) = AppendInput::from_proto(&frame.payload) {
                            let _ = input.validate();
                        }
                    }
                    Ok(None) => break,
                    Err(_) => break 'pieces,
                }
            }
        }
    }
}

#[test]
fn http1_head_inputs() {
    for (path, data) in inputs("http1_head") {
        if let Ok(Some((head, n))) = parse_head(&data) {
            assert!(n <= data.len(), "{}", path.display());
            assert!(!head.path.contains('?'));
        }
    }
}

#[test]
fn json_body_inputs() {
    for (_, data) in inputs("json_bodies") {
        for format in [Format::Raw, Format::Base64] {
            if let Ok(input) = AppendInput::from_json(&data, format) {
                let _ = input.validate();
            }
        }
        if let Ok(c) = serde_json::from_slice::<StreamConfig>(&data) {
            if c.validate().is_ok() {
                let _ = c.normalized().resolve(None);
            }
        }
        if let Ok(c) = serde_json::from_slice::<BasinConfig>(&data) {
            let _ = c.validate();
        }
        if let Ok(r) = serde_json::from_slice::<StreamReconfiguration>(&data) {
            let _ = r.validate();
        }
    }
}

#[test]
fn proto_append_inputs() {
    for (_, data) in inputs("proto_append") {
        if let Ok(input) = AppendInput::from_proto(&data) {
            let _ = input.validate();
        }
    }
}
