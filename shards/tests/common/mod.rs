//! Helpers shared by the shards' integration tests: a cluster on a given object store,
//! one basin, and blocking append and read calls through the public `Cluster` API.
#![allow(dead_code)]

use bytes::Bytes;
use object_store::ObjectStore;
use protocol::config::{BasinConfig, StreamConfig};
use protocol::names::{BasinName, StreamName};
use protocol::records::{AppendInput, AppendRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strand_shards::append_pipeline::PipelineConfig;
use strand_shards::fault_store::{Fault, FaultPlan, FaultSwitch};
use strand_shards::store::{StoreConfig, StoreKind};
use strand_shards::{Cluster, ReadRequest, ReadStart, ShardError};

pub const BASIN: &str = "fault-basin";

pub const DEADLINE: Duration = Duration::from_millis(600);
pub const PARTITIONS: u32 = 4;
pub const BASE: &str = "faults";

pub fn start(store: Arc<dyn ObjectStore>) -> strand_shards::Running {
    start_with(store, |_| {})
}

/// [`start`] with the pipeline's settings adjusted by `tune`.
pub fn start_with(
    store: Arc<dyn ObjectStore>,
    tune: impl FnOnce(&mut PipelineConfig),
) -> strand_shards::Running {
    let mut pipeline = PipelineConfig {
        inflight_bytes_max: 64 << 20,
        admission_timeout: Duration::from_secs(5),
        standard_delay: Duration::ZERO,
        flush_gap_min: Duration::ZERO,
        storage_deadline: DEADLINE,
        window_bytes_max: 1 << 20,
        window_records_max: 10_000,
        state_idle: Duration::from_secs(120),
        lifecycle_tick: Duration::from_secs(60),
        usage_flush: Duration::from_secs(60),
        data_object_min: 64 << 10,
    };
    tune(&mut pipeline);
    strand_shards::start(strand_shards::ShardsConfig {
        shard_count: 2,
        pipeline,
        store: StoreConfig {
            kind: StoreKind::Custom(store),
            path: BASE.into(),
            partitions_on_init: PARTITIONS,
            memory_store_bytes: u64::MAX,
        },
        storage_memory: strand_shards::store::StorageMemory {
            unflushed_bytes: 64 << 20,
            cache_bytes: 64 << 20,
        },
        clock: Arc::new(strand_shards::clock::SystemClock),
    })
    .expect("shards start")
}

pub fn names(stream: &str) -> (BasinName, StreamName) {
    (
        BasinName::parse(BASIN).unwrap(),
        StreamName::parse(stream).unwrap(),
    )
}

pub fn append(cluster: &Cluster, stream: &str, body: &str) -> Result<u64, ShardError> {
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
    futures::executor::block_on(cluster.append(b, s, input, vec![None], None))
        .map(|a| a.start.seq_num)
}

/// Appends `n` records of about `size` bytes each, with one header; record `i`'s body is
/// `tag.i:` repeated. Returns the first seq_num.
pub fn append_sized(
    cluster: &Cluster,
    stream: &str,
    tag: &str,
    n: usize,
    size: usize,
) -> Result<u64, ShardError> {
    let (b, s) = names(stream);
    let records = (0..n)
        .map(|i| {
            let unit = format!("{tag}.{i}:");
            AppendRecord {
                timestamp: None,
                headers: vec![(Bytes::from_static(b"k"), Bytes::from(tag.to_owned()))],
                body: Bytes::from(unit.repeat(size / unit.len() + 1)),
            }
        })
        .collect();
    let input = AppendInput {
        records,
        match_seq_num: None,
        fencing_token: None,
    };
    futures::executor::block_on(cluster.append(b, s, input, vec![None; n], None))
        .map(|a| a.start.seq_num)
}

pub fn read_all(cluster: &Cluster, stream: &str) -> Vec<(u64, String)> {
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
            incarnation: None,
            key: strand_shards::ReadKey::Request(None),
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
pub fn streams_on_every_partition() -> Vec<(String, u32)> {
    let mut by_partition = BTreeMap::new();
    for i in 0.. {
        let name = format!("s{i}");
        let p = strand_shards::placement::partition_for_stream(BASIN, &name, PARTITIONS);
        by_partition.entry(p).or_insert(name);
        if by_partition.len() == PARTITIONS as usize {
            break;
        }
    }
    by_partition.into_iter().map(|(p, s)| (s, p)).collect()
}

pub fn setup(cluster: &Cluster, streams: &[(String, u32)]) {
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

/// Appends until one succeeds; returns (its seq_num, the body it carried, time taken).
/// Each attempt carries its own body (`body#n`): a failed attempt's outcome is unknown and
/// it may still land, which must not read as a duplicate.
pub fn append_until_ok(
    cluster: &Cluster,
    stream: &str,
    body: &str,
    within: Duration,
) -> (u64, String, Duration) {
    let t = Instant::now();
    for attempt in 0.. {
        let body = format!("{body}#{attempt}");
        match append(cluster, stream, &body) {
            Ok(seq) => return (seq, body, t.elapsed()),
            Err(e) => {
                assert!(
                    t.elapsed() < within,
                    "{stream} did not recover within {within:?}: {e}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    unreachable!("attempts are unbounded; the deadline above ends them")
}

/// Every acknowledged (seq_num, body) is in the stream at its position, exactly once.
pub fn assert_acked_present(cluster: &Cluster, stream: &str, acked: &BTreeMap<u64, String>) {
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

pub fn hang_writes(switch: &FaultSwitch, prefix: Option<String>, fault: Fault) {
    switch.set(FaultPlan {
        fault,
        prefix,
        ..FaultPlan::healthy()
    });
}
