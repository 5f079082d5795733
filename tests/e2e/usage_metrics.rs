//! The usage-metrics API (`/v1/metrics`) through the Rust SDK: every basin, account and stream
//! set counts what the test did, survives a restart, follows trims, and is scoped by tokens
//! under `--auth`; bad time ranges get 422.

use crate::support::{basin_with_stream, http, temp_dir, unique_basin, Server};
use s2_sdk::types::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// The last ten minutes, to now (exclusive end one second ahead).
fn recent() -> (u32, u32) {
    let n = now();
    (n - 600, n + 1)
}

fn recent_interval() -> TimeRangeAndInterval {
    let (start, end) = recent();
    TimeRangeAndInterval::new(start, end)
}

fn recent_range() -> TimeRange {
    let (start, end) = recent();
    TimeRange::new(start, end)
}

/// Sum of an accumulation series, by name.
fn total(metrics: &[Metric], name: &str) -> f64 {
    metrics
        .iter()
        .find_map(|m| match m {
            Metric::Accumulation(a) if a.name == name => {
                Some(a.values.iter().map(|(_, v)| v).sum())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no accumulation `{name}` in {metrics:?}"))
}

/// The last point of the (only) gauge.
fn last_gauge(metrics: &[Metric]) -> f64 {
    match metrics {
        [Metric::Gauge(g)] => g.values.last().expect("a point").1,
        other => panic!("not one gauge: {other:?}"),
    }
}

struct Expected {
    append_bytes: f64,
    read_bytes: f64,
}

async fn basin_metric(s2: &s2_sdk::S2, basin: &str, set: BasinMetricSet) -> Vec<Metric> {
    s2.get_basin_metrics(GetBasinMetricsInput::new(basin.parse().unwrap(), set))
        .await
        .unwrap()
}

async fn check_basin(s2: &s2_sdk::S2, basin: &str, want: &Expected) {
    let ops = basin_metric(s2, basin, BasinMetricSet::AppendOps(recent_interval())).await;
    // One connection's appends to a stream are one op per minute (two if a minute turned).
    let express = total(&ops, "express");
    assert!((1.0..=2.0).contains(&express), "{ops:?}");
    assert_eq!(total(&ops, "standard"), 1.0, "{ops:?}");
    let appended = basin_metric(
        s2,
        basin,
        BasinMetricSet::AppendThroughput(recent_interval()),
    )
    .await;
    assert_eq!(total(&appended, "append-throughput"), want.append_bytes);
    let reads = basin_metric(s2, basin, BasinMetricSet::ReadOps(recent_interval())).await;
    assert_eq!(total(&reads, "unary"), 2.0, "{reads:?}");
    assert_eq!(total(&reads, "streaming"), 0.0, "{reads:?}");
    let read = basin_metric(s2, basin, BasinMetricSet::ReadThroughput(recent_interval())).await;
    assert_eq!(total(&read, "read-throughput"), want.read_bytes);
    let ops = basin_metric(s2, basin, BasinMetricSet::BasinOps(recent_interval())).await;
    assert_eq!(total(&ops, "create-stream"), 2.0, "{ops:?}");
}

#[tokio::test]
async fn usage_counts_what_clients_did_and_survives_a_restart() {
    let root = temp_dir("usage-root");
    let mut server = Server::start(&[
        "--local-root",
        root.to_str().unwrap(),
        "--usage-flush-ms",
        "300",
    ]);
    let s2 = server.client();
    let b = unique_basin("usage");
    s2.create_basin(CreateBasinInput::new(b.parse().unwrap()))
        .await
        .unwrap();
    let basin = s2.basin(b.parse().unwrap());
    basin
        .create_stream(CreateStreamInput::new("fast".parse().unwrap()))
        .await
        .unwrap();
    basin
        .create_stream(
            CreateStreamInput::new("slow".parse().unwrap())
                .with_config(StreamConfig::new().with_storage_class("standard")),
        )
        .await
        .unwrap();
    let fast = basin.stream("fast".parse().unwrap());
    let slow = basin.stream("slow".parse().unwrap());
    // 5 records of 100 bytes: 108 metered bytes each.
    for _ in 0..5 {
        let record = AppendRecord::new("x".repeat(100)).unwrap();
        fast.append(AppendInput::new(
            AppendRecordBatch::try_from_iter([record]).unwrap(),
        ))
        .await
        .unwrap();
    }
    let record = AppendRecord::new("y".repeat(42)).unwrap();
    slow.append(AppendInput::new(
        AppendRecordBatch::try_from_iter([record]).unwrap(),
    ))
    .await
    .unwrap();
    let all = fast
        .read(ReadInput::new().with_start(ReadStart::new().with_from(ReadFrom::SeqNum(0))))
        .await
        .unwrap();
    assert_eq!(all.records.len(), 5);
    let two = fast
        .read(
            ReadInput::new()
                .with_start(ReadStart::new().with_from(ReadFrom::SeqNum(3)))
                .with_stop(ReadStop::new().with_limits(ReadLimits::new().with_count(2))),
        )
        .await
        .unwrap();
    assert_eq!(two.records.len(), 2);
    let want = Expected {
        append_bytes: 5.0 * 108.0 + 50.0,
        read_bytes: 7.0 * 108.0,
    };
    // Counted at once (what is not yet flushed is part of every answer)...
    check_basin(&s2, &b, &want).await;

    // ... and stored bytes once a flush sampled them.
    let stored = 5.0 * 108.0 + 50.0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = basin_metric(&s2, &b, BasinMetricSet::Storage(recent_range())).await;
        if last_gauge(&m) == stored {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "storage never {stored}: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stream_storage_of(&s2, &b, "fast").await, 540.0);
    assert_eq!(stream_storage_of(&s2, &b, "slow").await, 50.0);
    let active = s2
        .get_account_metrics(GetAccountMetricsInput::new(AccountMetricSet::ActiveBasins(
            recent_range(),
        )))
        .await
        .unwrap();
    match active.as_slice() {
        [Metric::Label(l)] => assert!(l.values.contains(&b), "{l:?}"),
        other => panic!("{other:?}"),
    }
    let account = s2
        .get_account_metrics(GetAccountMetricsInput::new(AccountMetricSet::AccountOps(
            recent_interval(),
        )))
        .await
        .unwrap();
    assert!(total(&account, "create-basin") >= 1.0, "{account:?}");
    assert!(total(&account, "basin-metrics") >= 5.0, "{account:?}");

    // A restart keeps what was counted.
    server.terminate();
    server.restart(&[]);
    let s2 = server.client();
    check_basin(&s2, &b, &want).await;
    let m = basin_metric(&s2, &b, BasinMetricSet::Storage(recent_range())).await;
    assert_eq!(last_gauge(&m), stored);

    // Trimming frees stored bytes once collected: the trim record (8 + 2 + 4 + 8 bytes) stays.
    let fast = s2.basin(b.parse().unwrap()).stream("fast".parse().unwrap());
    fast.append(AppendInput::new(
        AppendRecordBatch::try_from_iter([CommandRecord::trim(5).into()]).unwrap(),
    ))
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = stream_storage_of(&s2, &b, "fast").await;
        if now == 22.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "stored bytes {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stream_storage_of(s2: &s2_sdk::S2, basin: &str, stream: &str) -> f64 {
    let m = s2
        .get_stream_metrics(GetStreamMetricsInput::new(
            basin.parse().unwrap(),
            stream.parse().unwrap(),
            StreamMetricSet::Storage(recent_range()),
        ))
        .await
        .unwrap();
    last_gauge(&m)
}

#[tokio::test]
async fn bad_ranges_are_refused() {
    let server = Server::start(&[]);
    let port = server.port;
    let n = now();
    let cases = [
        ("/v1/metrics?set=account-ops".to_owned(), 422),
        (
            format!("/v1/metrics?set=account-ops&start={n}&end={}", n - 5),
            422,
        ),
        (format!("/v1/metrics?set=account-ops&start=0&end={n}"), 422),
        (
            format!("/v1/metrics?set=account-ops&start={n}&end={}", n + 86_400),
            422,
        ),
        (
            format!(
                "/v1/metrics?set=estimated-billable-usage&start={}&end={n}",
                n - 60
            ),
            501,
        ),
        ("/v1/metrics?set=bogus".to_owned(), 400),
        (
            format!(
                "/v1/metrics/no-such-basin/s?set=storage&start={}&end={n}",
                n - 60
            ),
            404,
        ),
        (
            format!("/v1/metrics?set=account-ops&start={}&end={n}", n - 60),
            200,
        ),
    ];
    for (path, status) in cases {
        let (got, body) = http(port, "GET", &path, &[], "");
        assert_eq!(got, status, "{path}: {body}");
    }
    let (got, _) = http(port, "POST", "/v1/metrics", &[], "");
    assert_eq!(got, 405);
}

#[tokio::test]
async fn tokens_scope_usage_metrics() {
    const ADMIN: &str = "admin-bootstrap-secret";
    let server = Server::start(&["--auth", "--auth-token", ADMIN]);
    let client = |token: &str| crate::access_tokens::client(&server, token);
    let admin = client(ADMIN);
    let (mine, _) = basin_with_stream(&admin, "mine", "s").await;
    let (theirs, _) = basin_with_stream(&admin, "theirs", "s").await;
    let scope =
        AccessTokenScopeInput::from_ops([Operation::GetBasinMetrics, Operation::GetAccountMetrics])
            .with_basins(BasinMatcher::Exact(mine.parse().unwrap()));
    let secret = admin
        .issue_access_token(IssueAccessTokenInput::new(
            "metrics-reader".parse().unwrap(),
            scope,
        ))
        .await
        .unwrap();
    let reader = client(&secret);
    basin_metric(&reader, &mine, BasinMetricSet::AppendOps(recent_interval())).await;
    let refused = reader
        .get_basin_metrics(GetBasinMetricsInput::new(
            theirs.parse().unwrap(),
            BasinMetricSet::AppendOps(recent_interval()),
        ))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("permission_denied"),
        "{refused:?}"
    );
    let refused = reader
        .get_stream_metrics(GetStreamMetricsInput::new(
            mine.parse().unwrap(),
            "s".parse().unwrap(),
            StreamMetricSet::Storage(recent_range()),
        ))
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("permission_denied"),
        "{refused:?}"
    );
}

#[test]
fn the_cli_reads_usage_metrics() {
    use crate::support::{run_cli, run_cli_with_input};
    let server = Server::start(&["--usage-flush-ms", "200"]);
    let endpoint = server.endpoint();
    let b = unique_basin("usage-cli");
    let uri = format!("s2://{b}/s");
    let ok = |args: &[&str]| {
        let (ok, out, err) = run_cli(&endpoint, args);
        assert!(ok, "s2 {args:?}: {err}");
        out
    };
    ok(&["create-basin", &b]);
    ok(&["create-stream", &uri]);
    // Three lines of 5 bytes: 13 metered bytes each.
    let (ok_append, _, err) =
        run_cli_with_input(&endpoint, &["append", &uri], Some("aaaaa\nbbbbb\nccccc\n"));
    assert!(ok_append, "{err}");
    // The end a minute ahead (allowed: clocks differ): `--end-ago 0s` is now truncated to the
    // second, which leaves out what was counted in the first second of a minute.
    let end = (now() + 60).to_string();
    let range = ["--start-ago", "10m", "--end-timestamp", &end];
    let out = ok(&[&["get-basin-metrics", &b, "append-throughput"], &range[..]].concat());
    assert!(
        out.contains("append-throughput") && out.contains(" 39 "),
        "{out}"
    );
    let out = ok(&[&["get-basin-metrics", &b, "append-ops"], &range[..]].concat());
    assert!(out.contains("express") && out.contains("standard"), "{out}");
    // `s2 read` is a read session: one streaming op, and the bytes it delivered.
    ok(&["read", &uri, "--seq-num", "0", "--count", "3"]);
    let out = ok(&[&["get-basin-metrics", &b, "read-ops"], &range[..]].concat());
    let streaming = out.split("streaming").nth(1).unwrap_or_default();
    assert!(streaming.contains(" 1 "), "{out}");
    let out = ok(&[&["get-basin-metrics", &b, "read-throughput"], &range[..]].concat());
    assert!(out.contains(" 39 "), "{out}");
    let out = ok(&[&["get-account-metrics", "active-basins"], &range[..]].concat());
    assert!(out.contains(&b), "{out}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = ok(&[&["get-stream-metrics", &uri, "storage"], &range[..]].concat());
        if out.contains(" 39 ") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A shard that owns no partition (more shards than partitions) writes its counts through
/// another shard's partition: none are lost.
#[test]
fn shards_without_partitions_keep_their_counts() {
    let server = Server::start(&[
        "--shards",
        "2",
        "--partitions",
        "1",
        "--usage-flush-ms",
        "200",
    ]);
    // Each request on a new connection: they spread over both shards' listeners.
    for _ in 0..40 {
        let (status, body) = http(server.port, "GET", "/v1/basins", &[], "");
        assert_eq!(status, 200, "{body}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = now();
        let path = format!(
            "/v1/metrics?set=account-ops&start={}&end={}",
            n - 600,
            n + 1
        );
        let (status, body) = http(server.port, "GET", &path, &[], "");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let listed: f64 = v["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["accumulation"]["name"] == "list-basins")
            .flat_map(|m| m["accumulation"]["values"].as_array().unwrap().clone())
            .map(|p| p[1].as_f64().unwrap())
            .sum();
        if listed == 40.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "list-basins counted {listed}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
