//! What a shard keeps, and how much. Wire-level caps live in `protocol::limits`.

/// Messages waiting in one shard's inbox. A message is ~100 bytes plus its payload pointer,
/// so the inbox costs at most ~400 KiB; past it, callers get 503 rather than queueing
/// without bound. 4096 covers 40 connections × 100 concurrent h2 streams each.
pub const INBOX_DEPTH_MAX: usize = 4096;

/// Basins one partition holds in memory (~300 bytes each with config: ~30 MiB at most).
pub const BASINS_PER_PARTITION_MAX: usize = 100_000;

/// Streams one partition holds in memory (~400 bytes each: ~400 MiB at the bound).
pub const STREAMS_PER_PARTITION_MAX: usize = 1_000_000;

/// How long a shard waits for its in-flight requests when draining for shutdown.
pub const DRAIN_TIMEOUT_SECS: u64 = 10;

/// How often a deleted basin's background cleanup re-checks that its streams are gone.
pub const BASIN_CLEANUP_RECHECK_MS: u64 = 500;

/// Default for `PipelineConfig::state_idle`: a stream's live state unused this long is
/// dropped; the next request reloads it from its durable position key.
pub const STATE_IDLE_SECS: u64 = 120;
