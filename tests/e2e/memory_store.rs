//! The in-memory store's capacity (`--memory-store-bytes`): once it is full, appends of
//! records are refused with 503 while command records still go through, nothing acked is
//! lost, and `/metrics` shows why. Driven by the Rust SDK.

use crate::data_plane::no_retry_client;
use crate::support::{basin_with_stream, http, Server};
use s2_sdk::types::*;

const CAPACITY: u64 = 64 << 20;

fn gauge(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[tokio::test]
async fn a_full_in_memory_store_refuses_records_and_keeps_what_it_acked() {
    let server = Server::start(&["--memory-store-bytes", &CAPACITY.to_string()]);
    let (_, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert_eq!(
        gauge(&metrics, "strand_memory_store_capacity_bytes"),
        CAPACITY
    );

    let s2 = no_retry_client(&server);
    let (_, stream) = basin_with_stream(&s2, "mem-full", "s").await;
    let body = "x".repeat(100 * 1024);
    let mut acked = 0u64;
    let refusal = loop {
        let records = (0..10).map(|_| AppendRecord::new(body.clone()).unwrap());
        let batch = AppendRecordBatch::try_from_iter(records).unwrap();
        match stream.append(AppendInput::new(batch)).await {
            Ok(ack) => {
                acked = ack.end.seq_num;
                // Each record is stored at least once (WAL, then SSTs): 64 MiB fills long
                // before this.
                assert!(acked < 2_000, "never refused: {acked} records acked");
            }
            Err(e) => break format!("{e:?}"),
        }
    };
    assert!(
        refusal.contains("memory-store-bytes"),
        "refused for another reason: {refusal}"
    );
    assert!(acked > 0, "refused before the first append");
    eprintln!("{acked} records acked before the store filled: {refusal}");
    let (_, metrics) = http(server.port, "GET", "/metrics", &[], "");
    assert!(gauge(&metrics, "strand_memory_store_bytes") >= CAPACITY);

    // A trim is a command record: it still goes through, so a client can free room.
    let trim = AppendRecordBatch::try_from_iter([CommandRecord::trim(acked / 2).into()]).unwrap();
    stream.append(AppendInput::new(trim)).await.unwrap();

    // Everything acked (and not trimmed) reads back, once, in order.
    let mut next = acked / 2;
    while next < acked {
        let input = ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(next)));
        let batch = stream.read(input).await.unwrap();
        for r in batch.records.iter().filter(|r| !r.is_command_record()) {
            assert_eq!(r.seq_num, next);
            assert_eq!(r.body.len(), body.len());
            next += 1;
        }
        assert!(!batch.records.is_empty());
    }
    // The server is healthy, not wedged: reads answer and it reports ready.
    let (status, _) = http(server.port, "GET", "/health", &[], "");
    assert_eq!(status, 200);
}

/// In memory SlateDB's garbage goes within seconds (decision 0014): once a partition's
/// memtable reaches L0, its WAL SSTs are deleted and the store shrinks, where SlateDB's
/// defaults would keep them for 5-15 minutes.
#[tokio::test]
async fn in_memory_garbage_is_collected_within_seconds() {
    // Records stay in SlateDB (no data objects): its WAL garbage is what this is about.
    let server = Server::start(&["--data-object-min-bytes", "0"]);
    let s2 = no_retry_client(&server);
    let (_, stream) = basin_with_stream(&s2, "mem-gc", "s").await;
    let body = "y".repeat(100 * 1024);
    // ~60 MiB: past one L0 SST (32 MiB at the default budget), so the WAL behind it is garbage.
    for _ in 0..60 {
        let records = (0..10).map(|_| AppendRecord::new(body.clone()).unwrap());
        let batch = AppendRecordBatch::try_from_iter(records).unwrap();
        stream.append(AppendInput::new(batch)).await.unwrap();
    }
    let deletes = |text: &str| gauge(text, "strand_object_store_requests_total{op=\"delete\"}");
    let (_, text) = http(server.port, "GET", "/metrics", &[], "");
    let (deleted_before, peak) = (deletes(&text), gauge(&text, "strand_memory_store_bytes"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, text) = http(server.port, "GET", "/metrics", &[], "");
        let held = gauge(&text, "strand_memory_store_bytes");
        if deletes(&text) > deleted_before && held < peak {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no garbage collected in 30 s: {held} bytes held (peak {peak})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
