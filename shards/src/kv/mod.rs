//! The key catalogue: every key type a partition's SlateDB holds. The first byte of a key is
//! its type ordinal, persisted and never renumbered. Values are a version byte then the
//! encoding named per type.
//!
//! | ordinal | key bytes                               | value                      | written by       |
//! |---------|-----------------------------------------|----------------------------|------------------|
//! | 0x01    | `01 basin`                              | v1 JSON [`BasinMeta`]      | basin's partition|
//! | 0x02    | `02 basin 00 stream`                    | v1 JSON [`StreamMeta`]     | stream's partition|
//! | 0x03    | `03 id_be8`                             | binary [`stream_position`] | append pipeline  |
//! | 0x04    | `04 id_be8 seq_be8`                     | binary [`record`]          | append pipeline  |
//! | 0x05    | `05`                                    | binary [`stream_id_counter`] | stream creation |
//! | 0x06    | `06 id_be8 bucket_be8`                  | binary [`timestamp_index`] | append pipeline  |
//! | 0x07    | `07 token_id`                           | v1 JSON [`access_token`]   | partition 0      |
//! | 0x08    | `08 basin 00 minute_be4 shard_be2`      | v1 JSON [`usage`] minute   | each shard       |
//! | 0x09    | `09 id_be8 minute_be4`                  | stored-bytes sample        | usage sampler    |
//! | 0x0A    | `0A id_be8`                             | collected bytes            | record collection|
//! | 0x0B    | `0B object_be8`                         | binary [`data_object`]     | append pipeline  |
//!
//! Each ordinal is its own SlateDB segment, and so its own LSM tree ([`segments`]).
//!
//! Basin names never contain NUL, so `basin 00 stream` sorts by basin, then stream, bytewise,
//! which is exactly the API's listing order. Stream metadata carries a partition-local `id`,
//! so record keys stay short; ids come from a durable counter and are never reused, so a
//! re-created stream never sees an old one's records.

pub mod access_token;
pub mod basin_meta;
pub mod data_object;
pub mod record;
pub mod segments;
pub mod stream_id_counter;
pub mod stream_meta;
pub mod stream_position;
pub mod timestamp_index;
pub mod usage;

pub use basin_meta::{BasinMeta, CreationKey};
pub use stream_meta::StreamMeta;

/// Key type ordinals. Persisted: never renumber.
pub mod ordinal {
    pub const BASIN_META: u8 = 0x01;
    pub const STREAM_META: u8 = 0x02;
    pub const STREAM_POSITION: u8 = 0x03;
    pub const RECORD: u8 = 0x04;
    pub const STREAM_ID_COUNTER: u8 = 0x05;
    pub const TIMESTAMP_INDEX: u8 = 0x06;
    pub const ACCESS_TOKEN: u8 = 0x07;
    pub const USAGE: u8 = 0x08;
    pub const STORAGE_SAMPLE: u8 = 0x09;
    pub const COLLECTED_BYTES: u8 = 0x0A;
    pub const DATA_OBJECT: u8 = 0x0B;
}

/// Version byte in front of every JSON metadata value.
const JSON_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("key of type {expected:#04x} has wrong shape: {len} bytes")]
    BadKey { expected: u8, len: usize },
    #[error("unknown value version {0}")]
    UnknownVersion(u8),
    #[error("value: {0}")]
    Json(#[from] serde_json::Error),
    #[error("name in key is not valid: {0}")]
    BadName(String),
}

pub(crate) fn encode_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![JSON_V1];
    serde_json::to_writer(&mut out, v).expect("metadata serializes");
    out
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, DecodeError> {
    match b.split_first() {
        Some((&JSON_V1, rest)) => Ok(serde_json::from_slice(rest)?),
        Some((&v, _)) => Err(DecodeError::UnknownVersion(v)),
        None => Err(DecodeError::UnknownVersion(0)),
    }
}
