//! Records in data objects (decision 0016): parts of a round of at least 64 KiB PUT their
//! records as one object and SlateDB keeps pointers. Here: they read back, mixed with inline
//! records, after a restart; trim, retention and deletion delete the objects themselves;
//! a hung data PUT fails its appends (503) and loses nothing acked; objects of rounds that
//! never became durable are deleted at open.

mod common;

use bytes::Bytes;
use common::*;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use protocol::config::{RetentionPolicy, StreamConfig};
use protocol::records::{AppendInput, AppendRecord, Command};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strand_shards::fault_store::{Fault, FaultStore};
use strand_shards::ShardError;

const BIG: usize = 60 << 10;

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(f)
}

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Data objects in the store, over every partition.
fn data_objects(store: &Arc<dyn ObjectStore>) -> usize {
    tokio().block_on(async {
        let mut n = 0;
        for p in 0..PARTITIONS {
            let dir = format!("{}/data", strand_shards::store::partition_path(BASE, p));
            let listed: Vec<_> = store.list(Some(&dir.into())).try_collect().await.unwrap();
            n += listed.len();
        }
        n
    })
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn large_and_small_appends_read_back_in_order_after_a_restart() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let running = start(store.clone());
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams[..1]);
    let stream = streams[0].0.clone();
    let mut expected = Vec::new();
    for round in 0..6 {
        // Big appends (4 x 60 KiB) go to data objects, small ones stay inline.
        let (n, size) = if round % 2 == 0 { (4, BIG) } else { (3, 100) };
        let tag = format!("r{round}");
        let first = append_sized(&cluster, &stream, &tag, n, size).unwrap();
        assert_eq!(first, expected.len() as u64);
        expected.extend((0..n).map(|i| format!("{tag}.{i}:")));
    }
    assert!(data_objects(&store) >= 3, "big appends wrote data objects");
    running.shutdown();

    // From storage (the window is gone with the process).
    let running = start(store.clone());
    let read = read_all(&running.cluster(), &stream);
    assert_eq!(read.len(), expected.len());
    for (i, (seq, body)) in read.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert!(
            body.starts_with(&expected[i]),
            "record {i}: {}",
            &body[..20]
        );
    }
    running.shutdown();
}

#[test]
fn trim_retention_and_deletion_delete_the_objects() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let running = start_with(store.clone(), |p| {
        p.lifecycle_tick = Duration::from_millis(100);
    });
    let cluster = running.cluster();
    let (b, _) = names("x");
    block(cluster.create_basin(b.clone(), Default::default(), None)).unwrap();
    let create = |name: &str, retention: Option<u64>| {
        let mut config = StreamConfig::default();
        if let Some(secs) = retention {
            config.retention_policy = Some(RetentionPolicy::Age(secs));
        }
        let (_, s) = names(name);
        block(cluster.create_stream(b.clone(), s, config, None)).unwrap();
    };
    create("trimmed", None);
    create("expiring", Some(1));
    create("deleted", None);
    create("kept", None);
    for s in ["trimmed", "expiring", "deleted", "kept"] {
        for n in 0..3 {
            append_sized(&cluster, s, &format!("{s}{n}"), 4, BIG).unwrap();
        }
    }
    let all = data_objects(&store);
    assert!(all >= 4, "objects written: {all}");

    // Trim everything of one stream, delete another; the third expires by itself.
    let (_, s) = names("trimmed");
    let trim = AppendInput {
        records: vec![AppendRecord {
            timestamp: None,
            headers: vec![(Bytes::new(), Bytes::from_static(b"trim"))],
            body: Bytes::copy_from_slice(&12u64.to_be_bytes()),
        }],
        match_seq_num: None,
        fencing_token: None,
    };
    block(cluster.append(b.clone(), s, trim, vec![Some(Command::Trim(12))], None)).unwrap();
    let (_, s) = names("deleted");
    block(cluster.delete_stream(b.clone(), s)).unwrap();

    // What is left: the kept stream's objects, and none of the others'. Objects go three
    // storage deadlines (1.8 s here) after they become collectable.
    let kept_objects = || {
        tokio().block_on(async {
            let mut n = 0;
            for p in 0..PARTITIONS {
                let path = strand_shards::store::partition_path(BASE, p);
                let dir = format!("{path}/data");
                let listed: Vec<_> = store.list(Some(&dir.into())).try_collect().await.unwrap();
                n += listed.len();
            }
            n
        })
    };
    wait_until(
        "the other streams' objects deleted",
        Duration::from_secs(20),
        || kept_objects() <= 3,
    );
    let read = read_all(&cluster, "kept");
    assert_eq!(read.len(), 12, "the kept stream reads whole");
    assert!(read[11].1.starts_with("kept2.3:"));
    assert_eq!(
        read_all(&cluster, "trimmed").len(),
        1,
        "only the trim record is left"
    );
    running.shutdown();
}

#[test]
fn a_hung_data_put_fails_its_appends_and_loses_nothing_acked() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (store, switch) = FaultStore::wrap(inner);
    let running = start(store.clone());
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams[..1]);
    let stream = streams[0].0.clone();
    let mut acked = BTreeMap::new();
    let first = append_sized(&cluster, &stream, "before", 4, BIG).unwrap();
    acked.insert(first, "before.0:".to_string());

    // Only data objects hang: SlateDB's own writes go through.
    let data = format!(
        "{}/data",
        strand_shards::store::partition_path(BASE, streams[0].1)
    );
    hang_writes(&switch, Some(data), Fault::Hang);
    let t = Instant::now();
    let err = append_sized(&cluster, &stream, "hung", 4, BIG).unwrap_err();
    assert!(
        matches!(err, ShardError::StorageTimeout { .. }),
        "a hung data PUT is a storage timeout (503): {err}"
    );
    assert!(t.elapsed() < DEADLINE * 4, "failed within its deadline");
    // Small appends stay inline and go on meanwhile.
    append_sized(&cluster, &stream, "small", 2, 100).unwrap();
    switch.heal();
    let (seq, _, _) = append_until_ok(&cluster, &stream, "after", Duration::from_secs(10));
    assert!(seq > first);
    let after = append_sized(&cluster, &stream, "after-big", 4, BIG).unwrap();

    let read: BTreeMap<u64, String> = read_all(&cluster, &stream).into_iter().collect();
    for (seq, prefix) in [(first, "before.0:"), (after, "after-big.0:")] {
        assert!(
            read.get(&seq).is_some_and(|b| b.starts_with(prefix)),
            "acked record {seq} lost"
        );
    }
    assert!(
        read.values().all(|b| !b.starts_with("hung")),
        "no record of the failed append"
    );
    running.shutdown();
}

#[test]
fn objects_of_rounds_never_written_are_deleted_at_open() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let running = start(store.clone());
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams[..1]);
    let (stream, p) = streams[0].clone();
    append_sized(&cluster, &stream, "kept", 4, BIG).unwrap();
    running.shutdown();
    assert_eq!(data_objects(&store), 1);

    // What a crash between a round's PUT and its write leaves: an object past the newest
    // one the catalogue names.
    let orphan = format!(
        "{}/data/{:020}",
        strand_shards::store::partition_path(BASE, p),
        u64::MAX - 1
    );
    tokio().block_on(async {
        store
            .put(&orphan.clone().into(), Bytes::from_static(b"orphan").into())
            .await
            .unwrap();
    });
    assert_eq!(data_objects(&store), 2);
    let running = start(store.clone());
    assert_eq!(
        data_objects(&store),
        1,
        "the orphan is gone, the named object kept"
    );
    let read = read_all(&running.cluster(), &stream);
    assert_eq!(read.len(), 4);
    running.shutdown();
}

/// A big append whose data PUT fails must not leave a hole that a later append of the same
/// stream, in a later round, is acknowledged past. The later round gets its chance while the
/// failed round still waits on another partition's flush, so each try puts an append to a
/// second partition of the same shard in the failed append's round.
#[test]
fn an_append_behind_a_failed_data_put_is_not_acknowledged_past_it() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (store, switch) = FaultStore::wrap(inner);
    let running = start(store.clone());
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    // Partitions 0 and 2 are on shard 0 (of 2).
    setup(&cluster, &[streams[0].clone(), streams[2].clone()]);
    let (stream, other) = (streams[0].0.clone(), streams[2].0.clone());
    append_sized(&cluster, &stream, "first", 4, BIG).unwrap();
    let data = format!(
        "{}/data",
        strand_shards::store::partition_path(BASE, streams[0].1)
    );
    for attempt in 0..5 {
        hang_writes(&switch, Some(data.clone()), Fault::Hang);
        let (big, small) = std::thread::scope(|s| {
            let big = s.spawn(|| append_sized(&cluster, &stream, &format!("big{attempt}"), 4, BIG));
            let _other = s.spawn(|| append_sized(&cluster, &other, "x", 1, 100));
            // Sent while the big one's PUT hangs, so it goes in a later round.
            std::thread::sleep(Duration::from_millis(100));
            let small = append_sized(&cluster, &stream, &format!("small{attempt}"), 1, 100);
            (big.join().unwrap(), small)
        });
        assert!(big.is_err(), "the hung append fails");
        assert!(
            small.is_err(),
            "try {attempt}: an append behind a failed one was acknowledged: {small:?}"
        );
        switch.heal();
        append_until_ok(&cluster, &stream, "after", Duration::from_secs(10));
    }
    let read = read_all(&cluster, &stream);
    for (i, (seq, _)) in read.iter().enumerate() {
        assert_eq!(*seq, i as u64, "no hole in the stream");
    }
    assert!(read
        .iter()
        .all(|(_, b)| !b.starts_with("big") && !b.starts_with("small")));
    running.shutdown();
}
