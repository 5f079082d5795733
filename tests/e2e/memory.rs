//! The memory bound: with `--memory-bytes` set, a burst of appends larger than it, on
//! streams in many partitions, and reads of it back, keep the server's peak RSS within it.
//! (512 MiB is the smallest budget allowed: below it the fixed costs, about 40 MiB at rest
//! plus per-partition floors, outgrow the shares; measured at 256 MiB: 313 MiB peak.)

use crate::data_plane::no_retry_client;
use crate::support::{temp_dir, unique_basin, Server};
use s2_sdk::types::*;
use std::time::Instant;

const BOUND: u64 = 512 << 20;

#[tokio::test]
async fn appends_many_times_the_memory_bound_keep_rss_within_it() {
    // On disk: with the in-memory store the data itself would be resident.
    let dir = temp_dir("memory");
    let server = Server::start(&[
        "--memory-bytes",
        &BOUND.to_string(),
        "--local-root",
        dir.to_str().unwrap(),
    ]);
    let s2 = no_retry_client(&server);
    let basin = unique_basin("memory");
    s2.create_basin(CreateBasinInput::new(basin.parse().unwrap()))
        .await
        .unwrap();
    let streams: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    for s in &streams {
        s2.basin(basin.parse().unwrap())
            .create_stream(CreateStreamInput::new(s.parse().unwrap()))
            .await
            .unwrap();
    }
    let baseline = server.rss_kib();
    server.reset_peak_rss();
    // 8 writers × 96 batches × ~1 MiB: 750 MiB, half as much again as the bound.
    let t = Instant::now();
    let body = "x".repeat(100 * 1024);
    let writers: Vec<_> = streams
        .iter()
        .map(|s| {
            let stream = s2.basin(basin.parse().unwrap()).stream(s.parse().unwrap());
            let body = body.clone();
            tokio::spawn(async move {
                let mut acked = 0u64;
                for _ in 0..96 {
                    let records = (0..10).map(|_| AppendRecord::new(body.clone()).unwrap());
                    let batch = AppendRecordBatch::try_from_iter(records).unwrap();
                    // 429 (or a client timeout) under pressure is the bound pushing back:
                    // retry. A retried append may land twice; only memory is checked here.
                    let started = Instant::now();
                    loop {
                        match stream.append(AppendInput::new(batch.clone())).await {
                            Ok(_) => break,
                            Err(e) => {
                                let e = format!("{e:?}");
                                assert!(
                                    e.contains("rate_limited") || e.contains("imeout"),
                                    "append failed: {e}"
                                );
                                assert!(started.elapsed().as_secs() < 120, "no progress: {e}");
                            }
                        }
                    }
                    acked += 10;
                }
                acked
            })
        })
        .collect();
    let mut acked = 0;
    for w in writers {
        acked += w.await.unwrap();
    }
    // Read every stream back from the start (storage, not the window).
    for s in &streams {
        let stream = s2.basin(basin.parse().unwrap()).stream(s.parse().unwrap());
        let mut next = 0;
        while next < 960 {
            let input =
                ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(next)));
            let batch = stream.read(input).await.unwrap();
            assert!(!batch.records.is_empty());
            next = batch.records.last().unwrap().seq_num + 1;
        }
    }
    let peak = server.peak_rss_kib() * 1024;
    eprintln!(
        "{acked} records (~{} MiB) in {:?}: peak RSS {} MiB (baseline {} MiB), bound {} MiB",
        acked * 100 / 1024,
        t.elapsed(),
        peak >> 20,
        baseline >> 10,
        BOUND >> 20
    );
    assert!(
        peak <= BOUND,
        "peak RSS {} MiB over the {} MiB bound",
        peak >> 20,
        BOUND >> 20
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
