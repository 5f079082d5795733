//! Replays every input kept in `fuzz/regressions/<target>/` (seeds, and anything a fuzz run
//! found and we fixed) through the fuzz targets' own bodies (`strand_protocol::fuzz`), so
//! `make test` keeps them fixed without needing cargo-fuzz.

use std::path::PathBuf;
use strand_protocol::fuzz;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no inputs in {}", dir.display());
    for p in paths {
        body(&std::fs::read(&p).unwrap());
    }
}

#[test]
fn s2s_frame_inputs() {
    replay("s2s_frame", fuzz::s2s_frame);
}

#[test]
fn http1_head_inputs() {
    replay("http1_head", fuzz::http1_head);
}

#[test]
fn json_body_inputs() {
    replay("json_bodies", fuzz::json_bodies);
}

#[test]
fn proto_append_inputs() {
    replay("proto_append", fuzz::proto_append);
}

#[test]
fn http1_body_inputs() {
    replay("http1_body", fuzz::http1_body);
}
