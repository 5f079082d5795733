//! Idle stream states are dropped from memory and come back right: after eviction the
//! stream's tail, `match_seq_num` and records are as before.

mod common;

use bytes::Bytes;
use common::*;
use object_store::memory::InMemory;
use protocol::records::{AppendInput, AppendRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn an_evicted_stream_state_reloads_with_its_tail() {
    let running = start_with(Arc::new(InMemory::new()), |c| {
        c.state_idle = Duration::from_millis(100);
    });
    let cluster = running.cluster();
    let stream = streams_on_every_partition()[0].0.clone();
    setup(&cluster, &[(stream.clone(), 0)]);
    for i in 0..3 {
        append(&cluster, &stream, &format!("r{i}")).unwrap();
    }
    let before = strand_shards::partition::states_evicted();
    let t = Instant::now();
    while strand_shards::partition::states_evicted() == before {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the idle state was never dropped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Reloaded from its position: the next seq_num is still 3.
    let (b, s) = names(&stream);
    let input = AppendInput {
        records: vec![AppendRecord {
            timestamp: None,
            headers: vec![],
            body: Bytes::from_static(b"r3"),
        }],
        match_seq_num: Some(3),
        fencing_token: None,
    };
    let ack = futures::executor::block_on(cluster.append(b, s, input, vec![None], None)).unwrap();
    assert_eq!(ack.start.seq_num, 3);
    let got: Vec<String> = read_all(&cluster, &stream)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert_eq!(got, ["r0", "r1", "r2", "r3"]);
    running.shutdown();
}
