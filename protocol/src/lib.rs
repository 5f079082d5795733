//! The S2 v1 wire format as Strand speaks it: names, configs, JSON bodies, protobuf messages,
//! limits and error codes. This crate does no I/O and knows nothing of storage or HTTP
//! plumbing; it only says what bytes mean and which inputs are valid.

pub mod access;
pub mod compression;
pub mod config;
pub mod encryption;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod http1;
pub mod http1_body;
pub mod json;
pub mod limits;
pub mod maybe;
pub mod names;
pub mod query;
pub mod records;
pub mod s2s;
pub mod sse;
pub mod time;

/// Protobuf messages of package `s2.v1`, generated from `proto/s2.proto`.
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/s2.v1.rs"));
}
