//! `/metrics`: s2-lite's append histograms under its names (one series each, whatever the
//! shard count), Strand's per-shard series, and process metrics, moved by real traffic from
//! the Rust SDK.

use crate::support::{basin_with_stream, http, Server};
use s2_sdk::types::*;
use std::time::Duration;

/// The value of the series named exactly `series` (name plus labels), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The sum of a per-shard series over every shard.
fn over_shards(text: &str, name: &str, shards: usize) -> f64 {
    (0..shards)
        .map(|i| {
            value(text, &format!("{name}{{shard=\"{i}\"}}"))
                .unwrap_or_else(|| panic!("{name} shard {i} missing"))
        })
        .sum()
}

fn scrape(server: &Server) -> String {
    let (status, text) = http(server.port, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    text
}

#[tokio::test]
async fn metrics_follow_appends_rounds_and_sessions() {
    let server = Server::start(&["--shards", "2"]);
    let before = scrape(&server);
    assert_eq!(
        value(&before, "s2_append_ack_latency_seconds_count"),
        Some(0.0)
    );
    assert!(value(&before, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(value(&before, "process_cpu_seconds_total").is_some());

    let s2 = server.client();
    let (_, stream) = basin_with_stream(&s2, "rs-metrics", "s").await;
    for i in 0..5 {
        let bodies: Vec<String> = (0..=i).map(|j| format!("r{i}-{j}")).collect();
        stream
            .append(crate::data_plane::batch(&bodies))
            .await
            .unwrap();
    }
    // A live read session counts while it is open.
    let mut session = stream
        .read_session(
            ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))),
            ReadSessionConfig::new(),
        )
        .await
        .unwrap();
    {
        use futures::StreamExt;
        session.next().await.unwrap().unwrap();
    }
    // An append's ack latency is recorded on its shard just after the ack is sent: under
    // load a scrape can come between the two, so wait for the fifth.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let during = loop {
        let text = scrape(&server);
        if value(&text, "s2_append_ack_latency_seconds_count") == Some(5.0)
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(over_shards(&during, "strand_shard_sessions", 2), 1.0);
    drop(session);

    // s2-lite's series: one per name, counting each append batch once.
    assert_eq!(
        value(&during, "s2_append_ack_latency_seconds_count"),
        Some(5.0)
    );
    assert_eq!(
        value(&during, "s2_append_permit_latency_seconds_count"),
        Some(5.0)
    );
    assert_eq!(value(&during, "s2_append_batch_records_count"), Some(5.0));
    assert_eq!(value(&during, "s2_append_batch_records_sum"), Some(15.0));
    assert_eq!(
        value(&during, "s2_append_batch_records_bucket{le=\"1\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&during, "s2_append_batch_records_bucket{le=\"10\"}"),
        Some(5.0)
    );
    assert_eq!(
        value(&during, "s2_append_batch_records_bucket{le=\"+Inf\"}"),
        Some(5.0)
    );
    assert!(value(&during, "s2_append_batch_bytes_sum").unwrap() > 15.0 * 8.0);
    // Strand's per-shard series.
    assert!(over_shards(&during, "strand_shard_rounds_total", 2) >= 1.0);
    assert_eq!(
        over_shards(&during, "strand_shard_rounds_failed_total", 2),
        0.0
    );
    assert_eq!(
        over_shards(&during, "strand_shard_append_inflight_bytes", 2),
        0.0
    );
    assert!(over_shards(&during, "strand_shard_window_bytes", 2) > 0.0);
    assert!(over_shards(&during, "strand_shard_round_seconds_count", 2) >= 1.0);
    assert!(over_shards(&during, "strand_shard_storage_call_seconds_count", 2) >= 1.0);
    // A message can be on its way to a shard at the instant of a scrape (the session's
    // next read, a timer): the gauge is checked for being idle at the end.
    assert!(over_shards(&during, "strand_shard_inbox_depth", 2) < 64.0);
    assert!(during.contains("# TYPE strand_shard_round_seconds histogram"));

    // The session's slot is given back once it ends, and idle inboxes are empty.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(&server);
        if over_shards(&text, "strand_shard_sessions", 2) == 0.0
            && over_shards(&text, "strand_shard_inbox_depth", 2) == 0.0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "session still counted or inbox not drained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
