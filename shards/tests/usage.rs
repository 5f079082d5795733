//! Usage metering against a misbehaving store: counts made while the store hangs stay
//! answerable, are written once it heals (a flush that timed out is retried with the same
//! keys, so nothing is counted twice), and survive a restart; a flush never wedges a shard.

mod common;

use common::*;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use protocol::names::BasinName;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strand_shards::fault_store::{Fault, FaultStore};
use strand_shards::Cluster;

/// Appended bytes of the test basin, summed over every row.
fn appended(cluster: &Cluster) -> u64 {
    let basin = BasinName::parse(BASIN).unwrap();
    let rows = futures::executor::block_on(cluster.usage(Some(&basin), 0, u32::MAX)).unwrap();
    rows.iter().map(|r| r.usage.append_bytes).sum()
}

#[test]
fn usage_counted_while_the_store_hangs_is_written_once_it_heals() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (store, switch) = FaultStore::wrap(inner.clone());
    let tune = |p: &mut strand_shards::append_pipeline::PipelineConfig| {
        p.usage_flush = Duration::from_millis(100);
    };
    let running = start_with(store, tune);
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams);
    // One record of 1 byte: 9 metered bytes, per stream.
    for (s, _) in &streams {
        append(&cluster, s, "x").unwrap();
    }
    let before = 9 * streams.len() as u64;
    assert_eq!(appended(&cluster), before);

    // Writes hang: flushes time out (and may land later), appends fail, nothing is lost.
    hang_writes(&switch, None, Fault::Hang);
    std::thread::sleep(DEADLINE * 3);
    assert_eq!(appended(&cluster), before, "counts while the store hangs");

    switch.heal();
    // The shards work on: appends succeed again and are counted once.
    let mut after = before;
    for (s, _) in &streams {
        let (_, body, _) = append_until_ok(&cluster, s, "y", Duration::from_secs(15));
        // Only the append that succeeded counts.
        after += 8 + body.len() as u64;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while appended(&cluster) != after {
        assert!(Instant::now() < deadline, "counted {}", appended(&cluster));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let flushes write it all, then read it back from storage alone.
    std::thread::sleep(Duration::from_millis(500));
    running.shutdown();
    let running = start_with(inner, tune);
    assert_eq!(appended(&running.cluster()), after, "after a restart");
    running.shutdown();
}
