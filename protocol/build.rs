//! Compiles `proto/s2.proto` with protox (pure Rust, no `protoc` needed) into prost types.
fn main() {
    println!("cargo:rerun-if-changed=proto/s2.proto");
    let fds = protox::compile(["proto/s2.proto"], ["proto"]).expect("s2.proto compiles");
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(fds)
        .expect("prost generates the s2.v1 types");
}
