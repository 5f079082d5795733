//! Deletion racing the data plane and the control plane: no record or position of a deleted
//! stream ever shows up in a new one (not even after a restart), and a stream created while
//! its basin is being deleted does not outlive the basin.

mod common;

use common::*;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use protocol::config::{BasinConfig, StreamConfig};
use protocol::names::{BasinName, StreamName};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use strand_shards::basin_ops::NameRange;
use strand_shards::fault_store::{FaultPlan, FaultStore};
use strand_shards::{Cluster, ShardError};

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(f)
}

/// Waits until the stream's deletion has finished (its name is free again).
fn wait_removed(cluster: &Cluster, stream: &str) {
    let (b, s) = names(stream);
    let t = Instant::now();
    loop {
        match block(cluster.get_stream(b.clone(), s.clone())) {
            Err(ShardError::StreamNotFound { .. }) => return,
            _ => {
                assert!(
                    t.elapsed() < Duration::from_secs(20),
                    "{stream} never removed"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// The stream's incarnation id, as reads report it.
fn stream_id(cluster: &Cluster, stream: &str) -> u64 {
    let (b, s) = names(stream);
    let req = strand_shards::ReadRequest {
        start: strand_shards::ReadStart::SeqNum(0),
        clamp: true,
        count: Some(0),
        bytes: None,
        until: None,
        wait: None,
        may_follow: Some(false),
        incarnation: None,
        key: strand_shards::ReadKey::Request(None),
    };
    block(cluster.read(b, s, req)).unwrap().stream_id
}

fn tail(cluster: &Cluster, stream: &str) -> u64 {
    let (b, s) = names(stream);
    block(cluster.check_tail(b, s)).unwrap().seq_num
}

#[test]
fn a_stream_deleted_mid_append_leaves_nothing_for_its_successor_even_after_restart() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    // Slow writes keep rounds in flight while the deletion scans, as on S3.
    let (slow, switch) = FaultStore::wrap(inner.clone());
    switch.set(FaultPlan {
        delay: Duration::from_millis(15),
        ..FaultPlan::healthy()
    });
    // Rounds wait to be dispatched, so sequenced appends sit unwritten for a while.
    let gap = |c: &mut strand_shards::append_pipeline::PipelineConfig| {
        c.flush_gap_min = Duration::from_millis(40)
    };
    let mut running = start_with(slow.clone(), gap);
    // The one stream of its partition: before ids were durable, a restart handed its id to
    // the next stream created there.
    let stream = streams_on_every_partition()[0].0.clone();
    setup(&running.cluster(), &[(stream.clone(), 0)]);
    let mut ids_seen = vec![stream_id(&running.cluster(), &stream)];
    for cycle in 0..5 {
        let cluster = running.cluster();
        append(&cluster, &stream, &format!("old-{cycle}-first")).unwrap();
        let stop = AtomicBool::new(false);
        let acked_after_delete = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..4)
                .map(|w| {
                    let (cluster, stream, stop) = (&cluster, &stream, &stop);
                    scope.spawn(move || {
                        let mut n = 0;
                        while !stop.load(Ordering::Relaxed) {
                            let _ = append(cluster, stream, &format!("old-{cycle}-{w}-{n}"));
                            n += 1;
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(20));
            let (b, s) = names(&stream);
            block(cluster.delete_stream(b, s)).unwrap();
            // Appends answered after the delete was acknowledged must all have failed.
            let after = append(&cluster, &stream, "late");
            stop.store(true, Ordering::Relaxed);
            for w in writers {
                w.join().unwrap();
            }
            after
        });
        assert!(
            acked_after_delete.is_err(),
            "an append after the delete was acknowledged"
        );
        wait_removed(&cluster, &stream);
        // Restart, then the same name again: a new, empty stream.
        running.shutdown();
        running = start_with(slow.clone(), gap);
        let cluster = running.cluster();
        let (b, s) = names(&stream);
        block(cluster.create_stream(b, s, StreamConfig::default(), None)).unwrap();
        let id = stream_id(&cluster, &stream);
        assert!(!ids_seen.contains(&id), "cycle {cycle}: id {id} reused");
        ids_seen.push(id);
        assert_eq!(
            tail(&cluster, &stream),
            0,
            "cycle {cycle}: inherited a tail"
        );
        assert!(
            read_all(&cluster, &stream).is_empty(),
            "cycle {cycle}: old records"
        );
        append(&cluster, &stream, "new").unwrap();
        let got = read_all(&cluster, &stream);
        assert_eq!(got, vec![(0, "new".to_string())], "cycle {cycle}");
        let (b, s) = names(&stream);
        block(cluster.delete_stream(b, s)).unwrap();
        wait_removed(&cluster, &stream);
        let (b, s) = names(&stream);
        block(cluster.create_stream(b, s, StreamConfig::default(), None)).unwrap();
        ids_seen.push(stream_id(&cluster, &stream));
    }
    running.shutdown();
}

#[test]
fn a_stream_created_while_its_basin_is_deleted_does_not_outlive_it() {
    let running = start(Arc::new(InMemory::new()));
    let cluster = running.cluster();
    for round in 0..20 {
        let basin = BasinName::parse(&format!("race-basin-{round}")).unwrap();
        block(cluster.create_basin(basin.clone(), BasinConfig::default(), None)).unwrap();
        std::thread::scope(|scope| {
            let creators: Vec<_> = (0..8)
                .map(|i| {
                    let (cluster, basin) = (&cluster, &basin);
                    scope.spawn(move || {
                        let s = StreamName::parse(&format!("s{i}")).unwrap();
                        let _ = block(cluster.create_stream(
                            basin.clone(),
                            s,
                            StreamConfig::default(),
                            None,
                        ));
                    })
                })
                .collect();
            block(cluster.delete_basin(basin.clone())).unwrap();
            for c in creators {
                c.join().unwrap();
            }
        });
        let t = Instant::now();
        while !matches!(
            block(cluster.get_basin(basin.clone())),
            Err(ShardError::BasinNotFound(_))
        ) {
            assert!(t.elapsed() < Duration::from_secs(20), "basin never removed");
            std::thread::sleep(Duration::from_millis(5));
        }
        // The same name again: a new basin, with no stream of the old one.
        block(cluster.create_basin(basin.clone(), BasinConfig::default(), None)).unwrap();
        let all = NameRange {
            prefix: String::new(),
            start_after: String::new(),
            limit: 1000,
        };
        // A create that lost the race may still be deleting its stream (listed with
        // `deleted_at`); none may be live, and they must go.
        let t = Instant::now();
        loop {
            let page = block(cluster.list_streams(basin.clone(), all.clone())).unwrap();
            let live: Vec<_> = page
                .items
                .iter()
                .filter(|e| e.meta.deleted_at_nanos.is_none())
                .map(|e| e.name.to_string())
                .collect();
            assert!(live.is_empty(), "round {round}: orphans {live:?}");
            if page.items.is_empty() {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "orphans never removed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        block(cluster.delete_basin(basin)).unwrap();
    }
    running.shutdown();
}
