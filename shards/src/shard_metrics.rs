//! What each shard counts, for `/metrics`. Every shard owns one [`ShardMetrics`]: only its
//! own thread writes it (plain loads and stores of relaxed atomics, no contention, no
//! locks), and the thread rendering `/metrics` reads every shard's. Code running on a shard
//! reaches its own through [`with`]; off a shard (start-up, tests) nothing is counted.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Seconds, as s2-lite buckets its append latencies.
pub const S2_LATENCY_BOUNDS: &[f64] = &[0.005, 0.010, 0.025, 0.050, 0.100, 0.250, 0.500, 1.0, 2.5];
pub const S2_BATCH_RECORDS_BOUNDS: &[f64] = &[1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
pub const S2_BATCH_BYTES_BOUNDS: &[f64] = &[
    512.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 524288.0, 1048576.0,
];
/// Seconds, finer at the low end, for rounds and storage calls (sub-millisecond in memory).
pub const FINE_LATENCY_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 30.0,
];

/// A Prometheus histogram with fixed bounds, written by one thread.
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then `+Inf`; not cumulative (rendering sums them).
    buckets: Box<[AtomicU64]>,
    /// The sum of observations, as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// One writer per histogram (its shard), so a load and a store cannot lose an update.
    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|&b| b < v);
        let bucket = &self.buckets[i];
        bucket.store(bucket.load(Relaxed) + 1, Relaxed);
        let sum = f64::from_bits(self.sum.load(Relaxed)) + v;
        self.sum.store(sum.to_bits(), Relaxed);
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// (per-bucket counts, not cumulative, `+Inf` last; sum).
    pub fn snapshot(&self) -> (Vec<u64>, f64) {
        (
            self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            f64::from_bits(self.sum.load(Relaxed)),
        )
    }
}

/// A counter or gauge written by one thread.
#[derive(Default)]
pub struct Cell(AtomicU64);

impl Cell {
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub fn sub(&self, n: u64) {
        self.0
            .store(self.0.load(Relaxed).saturating_sub(n), Relaxed);
    }

    pub fn set(&self, n: u64) {
        self.0.store(n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

pub struct ShardMetrics {
    // s2-lite's series (rendered summed over shards, under s2-lite's names).
    /// Waiting for room under the in-flight append bytes.
    pub append_permit_seconds: Histogram,
    /// From admission to the append's answer (durable, or failed).
    pub append_ack_seconds: Histogram,
    pub append_batch_records: Histogram,
    pub append_batch_bytes: Histogram,
    // Strand's own, per shard.
    /// Group-commit rounds: dispatch to durable (write, flush, await_durable).
    pub round_seconds: Histogram,
    pub rounds: Cell,
    /// Rounds in which some partition's part failed.
    pub rounds_failed: Cell,
    /// Rounds the dispatcher held back for a partition whose L0 was high.
    pub rounds_paced: Cell,
    /// Storage calls under the deadline (reads, stream loads, metadata writes, deletions).
    pub storage_call_seconds: Histogram,
    pub storage_call_errors: Cell,
    pub storage_call_timeouts: Cell,
    pub append_inflight_bytes: Cell,
    pub window_bytes: Cell,
    pub follow_hub_bytes: Cell,
    pub follow_hubs: Cell,
    /// S2S and SSE sessions open on this shard's connections.
    pub sessions: Cell,
    /// Usage counts dropped because the shard's usage meter was full (`usage_meter`).
    pub usage_dropped: Cell,
}

impl Default for ShardMetrics {
    fn default() -> Self {
        Self {
            append_permit_seconds: Histogram::new(S2_LATENCY_BOUNDS),
            append_ack_seconds: Histogram::new(S2_LATENCY_BOUNDS),
            append_batch_records: Histogram::new(S2_BATCH_RECORDS_BOUNDS),
            append_batch_bytes: Histogram::new(S2_BATCH_BYTES_BOUNDS),
            round_seconds: Histogram::new(FINE_LATENCY_BOUNDS),
            rounds: Cell::default(),
            rounds_failed: Cell::default(),
            rounds_paced: Cell::default(),
            storage_call_seconds: Histogram::new(FINE_LATENCY_BOUNDS),
            storage_call_errors: Cell::default(),
            storage_call_timeouts: Cell::default(),
            append_inflight_bytes: Cell::default(),
            window_bytes: Cell::default(),
            follow_hub_bytes: Cell::default(),
            follow_hubs: Cell::default(),
            sessions: Cell::default(),
            usage_dropped: Cell::default(),
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<ShardMetrics>>> = const { RefCell::new(None) };
}

/// Makes `m` this thread's metrics (a shard's thread, at start).
pub(crate) fn install(m: Arc<ShardMetrics>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(m));
}

/// Runs `f` on this shard's metrics; off a shard, does nothing.
pub fn with(f: impl FnOnce(&ShardMetrics)) {
    CURRENT.with(|c| {
        if let Some(m) = c.borrow().as_ref() {
            f(m)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 5.0, 50.0, 50.0] {
            h.observe(v);
        }
        let (buckets, sum) = h.snapshot();
        assert_eq!(buckets, vec![2, 1, 2]);
        assert_eq!(sum, 106.5);
    }

    #[test]
    fn off_a_shard_nothing_is_counted() {
        let mut called = false;
        with(|_| called = true);
        assert!(!called);
        install(Arc::new(ShardMetrics::default()));
        with(|m| m.rounds.add(2));
        with(|m| called = m.rounds.get() == 2);
        assert!(called);
    }
}
