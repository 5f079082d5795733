//! Storage really shrinks: after a trim, a stream deletion and retention, the keys those
//! records occupied are gone from the store itself (read back with a fresh SlateDB on the
//! same object store after the server closed), while what should stay stays. (SlateDB
//! alone would keep expired records until some compaction rewrote them: a fresh reader
//! still sees them, which is why the lifecycle sweep deletes them.)

mod common;

use bytes::Bytes;
use common::*;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use protocol::config::{BasinConfig, RetentionPolicy, StreamConfig};
use protocol::records::{AppendInput, AppendRecord, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strand_shards::{Cluster, ShardError};

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(f)
}

fn append_n(cluster: &Cluster, stream: &str, n: usize) {
    let (b, s) = names(stream);
    let input = AppendInput {
        records: (0..n)
            .map(|i| AppendRecord {
                timestamp: None,
                headers: vec![],
                body: Bytes::from(format!("{stream}-{i}")),
            })
            .collect(),
        match_seq_num: None,
        fencing_token: None,
    };
    block(cluster.append(b, s, input, vec![None; n], None)).unwrap();
}

fn trim(cluster: &Cluster, stream: &str, point: u64) {
    let (b, s) = names(stream);
    let input = AppendInput {
        records: vec![AppendRecord {
            timestamp: None,
            headers: vec![(Bytes::new(), Bytes::from_static(b"trim"))],
            body: Bytes::copy_from_slice(&point.to_be_bytes()),
        }],
        match_seq_num: None,
        fencing_token: None,
    };
    block(cluster.append(b, s, input, vec![Some(Command::Trim(point))], None)).unwrap();
}

/// Record keys (ordinal 0x04) and timestamp-index keys (0x06) the store holds now.
fn stored_keys(store: &Arc<dyn ObjectStore>) -> (usize, usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut records, mut index) = (0, 0);
        for p in 0..PARTITIONS {
            let path = strand_shards::store::partition_path(BASE, p);
            let db = slatedb::Db::builder(path, store.clone())
                .with_segment_extractor(Arc::new(strand_shards::kv::segments::KeyType))
                .build()
                .await
                .unwrap();
            for (ordinal, count) in [(4u8, &mut records), (6u8, &mut index)] {
                let mut it = db.scan(vec![ordinal]..vec![ordinal + 1]).await.unwrap();
                while it.next().await.unwrap().is_some() {
                    *count += 1;
                }
            }
            db.close().await.unwrap();
        }
        (records, index)
    })
}

#[test]
fn trim_deletion_and_retention_free_their_keys() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let running = start_with(store.clone(), |p| {
        p.lifecycle_tick = Duration::from_millis(100)
    });
    let cluster = running.cluster();
    let (b, _) = names("x");
    block(cluster.create_basin(b.clone(), BasinConfig::default(), None)).unwrap();
    let create = |name: &str, config: StreamConfig| {
        let (_, s) = names(name);
        block(cluster.create_stream(b.clone(), s, config, None)).unwrap();
    };
    create("kept", StreamConfig::default());
    create("trimmed", StreamConfig::default());
    create("deleted", StreamConfig::default());
    let short = StreamConfig {
        retention_policy: Some(RetentionPolicy::Age(1)),
        ..StreamConfig::default()
    };
    create("expiring", short);

    append_n(&cluster, "kept", 10);
    append_n(&cluster, "trimmed", 100);
    // Seqs 0..60 go; 60..100 and the trim record itself (seq 100) stay.
    trim(&cluster, "trimmed", 60);
    append_n(&cluster, "deleted", 50);
    append_n(&cluster, "expiring", 50);
    let (before, _) = stored_keys_while_running(&cluster);
    assert_eq!(before, 10 + 41 + 50 + 50);

    let (_, s) = names("deleted");
    block(cluster.delete_stream(b.clone(), s.clone())).unwrap();
    let t = Instant::now();
    while !matches!(
        block(cluster.get_stream(b.clone(), s.clone())),
        Err(ShardError::StreamNotFound { .. })
    ) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "deletion never finished"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Past the 1 s retention, and a few sweeps later.
    std::thread::sleep(Duration::from_millis(2000));
    // Stored bytes (the usage metrics' gauge) follow: metered bytes of what is left.
    let kept = 10 * (8 + "kept-0".len() as u64);
    let trimmed = 40 * (8 + "trimmed-60".len() as u64) + (8 + 2 + 4 + 8);
    let want = [("kept", kept), ("trimmed", trimmed), ("expiring", 0)];
    let stored_bytes = |cluster: &Cluster| -> Vec<(&str, u64)> {
        want.iter()
            .map(|&(name, _)| {
                let (_, s) = names(name);
                let samples = block(cluster.stream_storage(b.clone(), s, 0, u32::MAX)).unwrap();
                (name, samples.last().expect("a reading now").1)
            })
            .collect()
    };
    assert_eq!(stored_bytes(&cluster), want);
    running.shutdown();
    // The same after a restart (appended and collected bytes are durable).
    let running = start(store.clone());
    assert_eq!(stored_bytes(&running.cluster()), want);
    running.shutdown();

    let (records, index) = stored_keys(&store);
    assert_eq!(records, 10 + 41, "left: kept 10, trimmed 41");
    // One index bucket per stream that still has records (each wrote within a second).
    assert!(index <= 2, "{index} index keys left");
}

/// What the running server reads back: every live record.
fn stored_keys_while_running(cluster: &Cluster) -> (usize, usize) {
    let n = ["kept", "trimmed", "deleted", "expiring"]
        .iter()
        .map(|s| read_all(cluster, s).len())
        .sum();
    (n, 0)
}
