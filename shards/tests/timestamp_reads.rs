//! Reads by timestamp through the timestamp index: the first record at or after `t`, for
//! every kind of `t` (before, inside and between buckets, past the tail), from storage
//! rather than the in-memory window, and again after a restart.

mod common;

use bytes::Bytes;
use common::*;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use protocol::records::{AppendInput, AppendRecord};
use std::sync::Arc;
use strand_shards::{Cluster, ReadRequest, ReadStart, ShardError};

/// Timestamps with gaps: 40 records 30 ms apart, a 5 s silence, 40 more, so buckets hold
/// many records, and some buckets none.
fn timestamps() -> Vec<u64> {
    let mut ts: Vec<u64> = (0..40).map(|i| 10_000 + i * 30).collect();
    ts.extend((0..40).map(|i| 16_000 + i * 30));
    ts
}

fn append_at(cluster: &Cluster, stream: &str, ts: &[u64]) {
    let (b, s) = names(stream);
    for chunk in ts.chunks(7) {
        let input = AppendInput {
            records: chunk
                .iter()
                .map(|&t| AppendRecord {
                    timestamp: Some(t),
                    headers: vec![],
                    body: Bytes::from(format!("at-{t}")),
                })
                .collect(),
            match_seq_num: None,
            fencing_token: None,
        };
        let commands = vec![None; chunk.len()];
        futures::executor::block_on(cluster.append(b.clone(), s.clone(), input, commands, None))
            .unwrap();
    }
}

fn first_at(cluster: &Cluster, stream: &str, t: u64) -> Result<u64, ShardError> {
    let (b, s) = names(stream);
    let req = ReadRequest {
        start: ReadStart::Timestamp(t),
        clamp: false,
        count: Some(1),
        bytes: None,
        until: None,
        wait: None,
        may_follow: Some(false),
        incarnation: None,
        key: strand_shards::ReadKey::Request(None),
    };
    let out = futures::executor::block_on(cluster.read(b, s, req))?;
    Ok(out.records.first().map_or(out.next_seq, |r| r.seq_num))
}

fn check_all(cluster: &Cluster, stream: &str, ts: &[u64]) {
    let mut probes: Vec<u64> = vec![0, 9_999, 10_000, 10_001, 10_999, 11_000, 13_000, 15_999];
    probes.extend(ts.iter().flat_map(|&t| [t - 1, t, t + 1]));
    let last = *ts.last().unwrap();
    for t in probes.into_iter().filter(|&t| t <= last) {
        let want = ts
            .iter()
            .position(|&x| x >= t)
            .expect("probe within the stream") as u64;
        assert_eq!(
            first_at(cluster, stream, t).unwrap(),
            want,
            "first record at {t}"
        );
    }
    // Past the last timestamp: 416 with the tail, as for a seq_num past it.
    let past = ts.last().unwrap() + 1;
    assert!(matches!(
        first_at(cluster, stream, past),
        Err(ShardError::RangeNotSatisfiable(_))
    ));
}

#[test]
fn reads_by_timestamp_find_the_first_record_at_or_after_it() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    // A tiny window, so seeks go to storage and its index.
    let small_window = |c: &mut strand_shards::append_pipeline::PipelineConfig| {
        c.window_records_max = 4;
        c.window_bytes_max = 256;
    };
    let running = start_with(inner.clone(), small_window);
    let stream = streams_on_every_partition()[0].0.clone();
    setup(&running.cluster(), &[(stream.clone(), 0)]);
    let ts = timestamps();
    append_at(&running.cluster(), &stream, &ts);
    check_all(&running.cluster(), &stream, &ts);
    running.shutdown();
    // After a restart nothing is in memory: the index alone guides the seek.
    let running = start_with(inner, small_window);
    check_all(&running.cluster(), &stream, &ts);
    running.shutdown();
}
