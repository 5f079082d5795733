//! The shards against a misbehaving object store (`fault_store`): a hung or failing store
//! fails appends within the storage deadline and never acknowledges what is not durable; a
//! fault on one partition leaves the others working in the same rounds; the shards recover
//! by themselves when the store does; shutdown ends within its bound under a hung store.

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use protocol::config::{BasinConfig, StreamConfig};
use protocol::names::{BasinName, StreamName};
use protocol::records::{AppendInput, AppendRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strand_shards::append_pipeline::PipelineConfig;
use strand_shards::fault_store::{Fault, FaultPlan, FaultStore, FaultSwitch};
use strand_shards::store::{StoreConfig, StoreKind};
use strand_shards::{Cluster, ReadRequest, ReadStart, ShardError};

const DEADLINE: Duration = Duration::from_millis(600);
const PARTITIONS: u32 = 4;
const BASE: &str = "faults";

fn start(store: Arc<dyn ObjectStore>) -> strand_shards::Running {
    strand_shards::start(strand_shards::ShardsConfig {
        shard_count: 2,
        pipeline: PipelineConfig {
            inflight_bytes_max: 64 << 20,
            admission_timeout: Duration::from_secs(5),
            standard_delay: Duration::ZERO,
            flush_gap_min: Duration::ZERO,
            storage_deadline: DEADLINE,
            window_bytes_max: 1 << 20,
            window_records_max: 10_000,
        },
        store: StoreConfig {
            kind: StoreKind::Custom(store),
            path: BASE.into(),
            partitions_on_init: PARTITIONS,
        },
        clock: Arc::new(strand_shards::clock::SystemClock),
    })
    .expect("shards start")
}

fn names(stream: &str) -> (BasinName, StreamName) {
    (
        BasinName::parse("fault-basin").unwrap(),
        StreamName::parse(stream).unwrap(),
    )
}

fn append(cluster: &Cluster, stream: &str, body: &str) -> Result<u64, ShardError> {
    let (b, s) = names(stream);
    let input = AppendInput {
        records: vec![AppendRecord {
            timestamp: None,
            headers: vec![],
            body: Bytes::from(body.to_owned()),
        }],
        match_seq_num: None,
        fencing_token: None,
    };
    futures::executor::block_on(cluster.append(b, s, input, vec![None])).map(|a| a.start.seq_num)
}

fn read_all(cluster: &Cluster, stream: &str) -> Vec<(u64, String)> {
    let (b, s) = names(stream);
    let mut out = Vec::new();
    let mut next = 0;
    loop {
        let req = ReadRequest {
            start: ReadStart::SeqNum(next),
            clamp: true,
            count: None,
            bytes: None,
            until: None,
            wait: None,
            may_follow: Some(false),
        };
        let got = futures::executor::block_on(cluster.read(b.clone(), s.clone(), req));
        let got = match got {
            Ok(g) => g,
            Err(ShardError::RangeNotSatisfiable(_)) => return out,
            Err(e) => panic!("read {stream}: {e}"),
        };
        if got.records.is_empty() {
            return out;
        }
        for r in &got.records {
            out.push((r.seq_num, String::from_utf8(r.body.to_vec()).unwrap()));
        }
        next = got.next_seq;
    }
}

/// Streams named so that every partition holds at least one.
fn streams_on_every_partition() -> Vec<(String, u32)> {
    let mut by_partition = BTreeMap::new();
    for i in 0.. {
        let name = format!("s{i}");
        let p = strand_shards::placement::partition_for_stream("fault-basin", &name, PARTITIONS);
        by_partition.entry(p).or_insert(name);
        if by_partition.len() == PARTITIONS as usize {
            break;
        }
    }
    by_partition.into_iter().map(|(p, s)| (s, p)).collect()
}

fn setup(cluster: &Cluster, streams: &[(String, u32)]) {
    futures::executor::block_on(async {
        let (b, _) = names("x");
        cluster
            .create_basin(b.clone(), BasinConfig::default(), None)
            .await
            .unwrap();
        for (s, _) in streams {
            let (_, s) = names(s);
            cluster
                .create_stream(b.clone(), s, StreamConfig::default(), None)
                .await
                .unwrap();
        }
    });
}

/// Appends until one succeeds; returns (its seq_num, time taken).
fn append_until_ok(
    cluster: &Cluster,
    stream: &str,
    body: &str,
    within: Duration,
) -> (u64, Duration) {
    let t = Instant::now();
    loop {
        match append(cluster, stream, body) {
            Ok(seq) => return (seq, t.elapsed()),
            Err(e) => {
                assert!(
                    t.elapsed() < within,
                    "{stream} did not recover within {within:?}: {e}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Every acknowledged (seq_num, body) is in the stream at its position, exactly once.
fn assert_acked_present(cluster: &Cluster, stream: &str, acked: &BTreeMap<u64, String>) {
    let got: BTreeMap<u64, String> = read_all(cluster, stream).into_iter().collect();
    for (seq, body) in acked {
        assert_eq!(
            got.get(seq),
            Some(body),
            "{stream}: acked record {seq} lost"
        );
    }
    let bodies: Vec<_> = got.values().collect();
    let mut dedup = bodies.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(
        dedup.len(),
        bodies.len(),
        "{stream}: a record appears twice"
    );
}

fn hang_writes(switch: &FaultSwitch, prefix: Option<String>, fault: Fault) {
    switch.set(FaultPlan {
        fault,
        prefix,
        ..FaultPlan::healthy()
    });
}

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
        let (seq, took) = append_until_ok(&cluster, s, &body, Duration::from_secs(15));
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
    let (seq, took) = append_until_ok(&cluster, &bad_stream, "healed", Duration::from_secs(15));
    eprintln!("failing partition recovered in {took:?}");
    acked
        .entry(bad_stream.clone())
        .or_default()
        .insert(seq, "healed".into());
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
            slatedb::Db::builder(strand_shards::store::partition_path(BASE, p), inner).build(),
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
