//! The shards against a misbehaving object store (`fault_store`): a hung or failing store
//! fails appends within the storage deadline and never acknowledges what is not durable; a
//! fault on one partition leaves the others working in the same rounds; the shards recover
//! by themselves when the store does; shutdown ends within its bound under a hung store.

mod common;

use common::*;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strand_shards::fault_store::{Fault, FaultPlan, FaultStore};
use strand_shards::ShardError;

#[test]
fn a_hung_store_fails_appends_in_time_and_the_shards_recover_by_themselves() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (store, switch) = FaultStore::wrap(inner.clone());
    let running = start(store);
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams);
    let mut acked: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
    for (s, _) in &streams {
        let seq = append(&cluster, s, &format!("{s}-before")).unwrap();
        acked
            .entry(s.clone())
            .or_default()
            .insert(seq, format!("{s}-before"));
    }

    hang_writes(&switch, None, Fault::Hang);
    for (s, _) in &streams {
        let t = Instant::now();
        let r = append(&cluster, s, &format!("{s}-during"));
        let took = t.elapsed();
        assert!(
            matches!(r, Err(ShardError::StorageTimeout { .. })),
            "{s}: an append to a hung store answered {r:?}"
        );
        assert!(took < DEADLINE * 4, "{s}: failing took {took:?}");
    }
    // Reads of what is durable still answer while writes hang.
    for (s, _) in &streams {
        assert!(!read_all(&cluster, s).is_empty());
    }

    switch.heal();
    let mut worst = Duration::ZERO;
    for (s, _) in &streams {
        let body = format!("{s}-after");
        let (seq, body, took) = append_until_ok(&cluster, s, &body, Duration::from_secs(15));
        worst = worst.max(took);
        acked.get_mut(s).unwrap().insert(seq, body);
    }
    eprintln!("recovery after the store healed: worst {worst:?}");
    for (s, _) in &streams {
        assert_acked_present(&cluster, s, &acked[s]);
    }

    // What was acknowledged is durable: a restart on the same store finds it all.
    running.shutdown();
    let running = start(inner);
    let cluster = running.cluster();
    for (s, _) in &streams {
        assert_acked_present(&cluster, s, &acked[s]);
    }
    running.shutdown();
}

#[test]
fn a_failing_partition_fails_only_its_own_appends() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (store, switch) = FaultStore::wrap(inner);
    let running = start(store);
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams);
    let (bad_stream, bad_partition) = streams[1].clone();
    hang_writes(
        &switch,
        Some(format!("{BASE}/{bad_partition}/")),
        Fault::Fail,
    );

    // Appends to every stream at once, so healthy and failing parts share rounds.
    let mut acked: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
    for round in 0..3 {
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = streams
                .iter()
                .map(|(s, _)| {
                    let cluster = &cluster;
                    scope.spawn(move || {
                        let body = format!("{s}-{round}");
                        (s.clone(), body.clone(), append(cluster, s, &body))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (s, body, r) in results {
            if s == bad_stream {
                assert!(r.is_err(), "append to the failing partition succeeded");
            } else {
                let seq = r.unwrap_or_else(|e| panic!("healthy {s} failed: {e}"));
                acked.entry(s).or_default().insert(seq, body);
            }
        }
    }
    assert!(switch.faulted_calls() > 0);

    switch.heal();
    let (seq, body, took) =
        append_until_ok(&cluster, &bad_stream, "healed", Duration::from_secs(15));
    eprintln!("failing partition recovered in {took:?}");
    acked
        .entry(bad_stream.clone())
        .or_default()
        .insert(seq, body);
    for (s, _) in &streams {
        assert_acked_present(&cluster, s, &acked[s]);
    }
    running.shutdown();
}

#[test]
fn shutdown_ends_in_bounded_time_while_the_store_hangs() {
    let (store, switch) = FaultStore::wrap(Arc::new(InMemory::new()));
    let running = start(store);
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams);
    append(&cluster, &streams[0].0, "x").unwrap();
    switch.set(FaultPlan {
        fault: Fault::Hang,
        reads_too: true,
        ..FaultPlan::healthy()
    });
    let stuck = {
        let cluster = cluster.clone();
        let s = streams[0].0.clone();
        std::thread::spawn(move || append(&cluster, &s, "stuck"))
    };
    let t = Instant::now();
    running.shutdown();
    let took = t.elapsed();
    // Closing waits one storage deadline, then the runtime's own 5 s grace at most.
    assert!(
        took < DEADLINE * 2 + Duration::from_secs(6),
        "shutdown took {took:?}"
    );
    assert!(
        stuck.join().unwrap().is_err(),
        "an append to a hung store was acknowledged"
    );
}

#[test]
fn a_partition_fenced_by_another_writer_answers_503_and_says_so() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let running = start(inner.clone());
    let cluster = running.cluster();
    let streams = streams_on_every_partition();
    setup(&cluster, &streams);
    for (s, _) in &streams {
        append(&cluster, s, "before").unwrap();
    }
    // Another node opens partition `p` of the same bucket: SlateDB fences this one.
    let (fenced_stream, p) = streams[1].clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let intruder = rt
        .block_on(
            slatedb::Db::builder(strand_shards::store::partition_path(BASE, p), inner)
                .with_segment_extractor(Arc::new(strand_shards::kv::segments::KeyType))
                .build(),
        )
        .expect("second writer opens");

    let first = append(&cluster, &fenced_stream, "after");
    assert!(first.is_err(), "a fenced partition acknowledged an append");
    let t = Instant::now();
    while !cluster
        .dead_threads()
        .iter()
        .any(|d| d.starts_with(&format!("partition-{p} ")))
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "fencing never reported"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(cluster.closed_partitions().len(), 1);
    match append(&cluster, &fenced_stream, "again") {
        Err(ShardError::Unavailable(why)) => assert!(why.contains("fenced"), "{why}"),
        other => panic!("fenced partition answered {other:?}"),
    }
    for (s, q) in &streams {
        if *q != p {
            append(&cluster, s, "others-go-on").unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }
    running.shutdown();
    rt.block_on(intruder.close()).unwrap();
}
