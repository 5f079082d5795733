//! Key-type segments (decision 0015): one stream's records are compacted by moving their
//! SSTs, not rewriting them, and a database created before segments still opens and works.
//!
//! What compaction rewrote shows as SSTs it replaced: objects under `compacted/` that the
//! manifest no longer lists. Tiny L0 SSTs (256 KiB) make compactions happen within a few
//! seconds. Moved SSTs stay listed, so with records moved only the small trees of other
//! key types leave replaced SSTs behind.

mod common;

use common::*;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORD: usize = 30 << 10;
const BATCHES: usize = 48;

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The largest L0 of any tree of partition `p`, and whether it is segmented.
fn l0_and_segments(store: &Arc<dyn ObjectStore>, p: u32) -> (usize, bool) {
    let path = strand_shards::store::partition_path(BASE, p);
    tokio().block_on(async {
        let admin = slatedb::admin::Admin::builder(path, store.clone()).build();
        let m = admin.read_manifest(None).await.unwrap().expect("manifest");
        let l0 = m
            .segments()
            .iter()
            .map(|s| s.l0().len())
            .chain([m.l0().len()])
            .max()
            .unwrap_or(0);
        (l0, m.segment_extractor_name().is_some())
    })
}

/// Bytes of the SSTs of partition `p` that compaction replaced: written, then dropped from
/// the manifest (the garbage collector of a custom store waits minutes, so none are gone).
fn replaced_bytes(store: &Arc<dyn ObjectStore>, p: u32) -> u64 {
    let path = strand_shards::store::partition_path(BASE, p);
    let dir = format!("{path}/compacted");
    tokio().block_on(async {
        let admin = slatedb::admin::Admin::builder(path, store.clone()).build();
        let m = admin.read_manifest(None).await.unwrap().expect("manifest");
        let live: std::collections::HashSet<String> = m
            .all_sst_views()
            .map(|v| format!("{}.sst", v.sst.id.value()))
            .collect();
        let listed: Vec<_> = store.list(Some(&dir.into())).try_collect().await.unwrap();
        listed
            .iter()
            .filter(|o| !live.contains(o.location.filename().unwrap_or_default()))
            .map(|o| o.size)
            .sum()
    })
}

/// Appends `BATCHES` batches to one stream, waits for compaction to drain the L0, reads
/// everything back after a restart, and returns (replaced bytes / appended bytes, segmented).
fn appended_then_compacted(store: Arc<dyn ObjectStore>) -> (f64, bool) {
    std::env::set_var("SL8_L0_SST_SIZE_BYTES", "262144");
    // Records stay in SlateDB (no data objects): this is about their compaction.
    let running = start_with(store.clone(), |p| p.data_object_min = usize::MAX);
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams[..1]);
    let (stream, p) = streams[0].clone();
    for n in 0..BATCHES {
        let first = append_sized(&cluster, &stream, &n.to_string(), 4, RECORD).expect("append");
        assert_eq!(first, 4 * n as u64);
    }
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let (l0, _) = l0_and_segments(&store, p);
        if l0 <= 3 {
            break;
        }
        assert!(Instant::now() < give_up, "L0 still holds {l0} SSTs");
        std::thread::sleep(Duration::from_millis(200));
    }
    running.shutdown();

    let running = start_with(store.clone(), |p| p.data_object_min = usize::MAX);
    let read = read_all(&running.cluster(), &stream);
    assert_eq!(read.len(), 4 * BATCHES, "every acked record reads back");
    for (i, (seq, body)) in read.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert!(
            body.starts_with(&format!("{}.{}:", i / 4, i % 4)),
            "record {i}"
        );
    }
    running.shutdown();

    let appended = (BATCHES * 4 * RECORD) as f64;
    let ratio = replaced_bytes(&store, p) as f64 / appended;
    (ratio, l0_and_segments(&store, p).1)
}

#[test]
fn one_streams_records_are_compacted_without_being_rewritten() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (ratio, segmented) = appended_then_compacted(store);
    eprintln!("replaced SST bytes per appended byte: {ratio:.2}");
    assert!(segmented, "a fresh partition is segmented by key type");
    assert!(ratio < 0.05, "compaction rewrote records: {ratio:.2}x");
}

#[test]
fn a_partition_created_before_segments_opens_and_compacts_as_before() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    // What an older Strand left: databases with no segment extractor.
    tokio().block_on(async {
        for p in 0..PARTITIONS {
            let path = strand_shards::store::partition_path(BASE, p);
            let db = slatedb::Db::builder(path, store.clone())
                .build()
                .await
                .unwrap();
            db.close().await.unwrap();
        }
    });
    let (ratio, segmented) = appended_then_compacted(store);
    eprintln!("replaced SST bytes per appended byte: {ratio:.2}");
    assert!(!segmented, "an existing database keeps its single tree");
    // The same workload, rewritten by compaction: what the segmented layout saves.
    assert!(ratio > 0.25, "records were not rewritten: {ratio:.2}x");
}
