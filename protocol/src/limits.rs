//! What the wire accepts (API.md §11). Shard-side resource bounds live in `shards::limits`.

/// Basin names are 8..=48 bytes.
pub const BASIN_NAME_LEN_MIN: usize = 8;
pub const BASIN_NAME_LEN_MAX: usize = 48;
/// Stream names are 1..=512 bytes of UTF-8.
pub const STREAM_NAME_LEN_MAX: usize = 512;
/// `s2-request-token` and fencing tokens.
pub const REQUEST_TOKEN_LEN_MAX: usize = 36;
pub const FENCING_TOKEN_LEN_MAX: usize = 36;
/// List pages: default and maximum item count; 0 or more than this means this.
pub const LIST_LIMIT_MAX: usize = 1000;
/// Buffered (unary) request bodies, as axum's default limit in s2-lite.
pub const REQUEST_BODY_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Records per append batch, and the metered size of a record and of a batch.
pub const BATCH_RECORDS_MAX: usize = 1000;
pub const RECORD_METERED_BYTES_MAX: usize = 1024 * 1024;
pub const BATCH_METERED_BYTES_MAX: usize = 1024 * 1024;
/// Default retention when neither stream nor basin says: 7 days.
pub const RETENTION_AGE_SECS_DEFAULT: u64 = 7 * 24 * 3600;
