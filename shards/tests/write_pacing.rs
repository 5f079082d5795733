//! Write pacing (decision 0013) against compaction that does not keep up: once a
//! partition's L0 holds more than half its slots, rounds are paced rather than left to
//! freeze when SlateDB stops flushing, and every acked record is still there, in order.
//!
//! Tiny L0 SSTs (256 KiB) make the L0 grow a slot every two appends or so, and a compactor
//! that polls every 30 s leaves it growing for the whole test.

mod common;

use common::*;
use object_store::memory::InMemory;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORD: usize = 30 << 10;

/// Appends batch `n` (4 records); returns its first seq_num and how long its ack took.
fn append_batch(cluster: &strand_shards::Cluster, stream: &str, n: usize) -> (u64, Duration) {
    let started = Instant::now();
    let seq = append_sized(cluster, stream, &n.to_string(), 4, RECORD)
        .expect("appends are paced, never refused here");
    (seq, started.elapsed())
}

#[test]
fn a_high_l0_paces_rounds_and_loses_nothing() {
    // Each test file is its own process under nextest, so these reach only this test.
    std::env::set_var("SL8_L0_SST_SIZE_BYTES", "262144");
    std::env::set_var("SL8_COMPACTOR_OPTIONS.POLL_INTERVAL", "30s");
    std::env::set_var(
        "SL8_COMPACTOR_OPTIONS.WORKER.COMPACTIONS_POLL_INTERVAL",
        "30s",
    );
    // Records stay in SlateDB (no data objects), whose L0 this test fills.
    let running = start_with(Arc::new(InMemory::new()), |p| {
        p.data_object_min = usize::MAX
    });
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams[..1]);
    let stream = streams[0].0.clone();
    let paced = || -> u64 {
        cluster
            .shard_metrics()
            .iter()
            .map(|m| m.rounds_paced.get())
            .sum()
    };

    // An L0 SST per two appends or so: pacing starts past 16, SlateDB would stop at 32.
    let mut appended = 0;
    let mut slowest = Duration::ZERO;
    // Each L0 flush lands a little after its append: give them time, and stop well before
    // SlateDB's 32 slots.
    let give_up = Instant::now() + Duration::from_secs(30);
    while paced() == 0 {
        assert!(
            appended < 56 && Instant::now() < give_up,
            "no round paced after {appended} appends"
        );
        std::thread::sleep(Duration::from_millis(50));
        let (seq, took) = append_batch(&cluster, &stream, appended);
        assert_eq!(seq, 4 * appended as u64);
        slowest = slowest.max(took);
        appended += 1;
    }
    eprintln!("paced after {appended} appends");
    // A few more, paced: slower, not stopped.
    for _ in 0..3 {
        let (seq, took) = append_batch(&cluster, &stream, appended);
        assert_eq!(seq, 4 * appended as u64);
        slowest = slowest.max(took);
        appended += 1;
    }
    assert!(
        slowest < Duration::from_secs(10),
        "an append took {slowest:?}"
    );

    let read = read_all(&cluster, &stream);
    assert_eq!(read.len(), 4 * appended, "every acked record reads back");
    for (i, (seq, body)) in read.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert!(
            body.starts_with(&format!("{}.{}:", i / 4, i % 4)),
            "record {i}"
        );
    }
    running.shutdown();
}
