//! `/v1/metrics[/{basin}[/{stream}]]`: usage metrics (s2's account, basin and stream metric
//! sets) from what every shard counted (`shards::usage_meter`, persisted by
//! `shards::usage_ops`). The query is checked as s2-lite's extractor checks it, field by
//! field in the order given, then the time range.
//!
//! Accumulations (operations, bytes) fold minute rows into the asked interval and leave out
//! empty buckets; gauges (stored bytes) have a point at every interval start up to now, each
//! the last sample at or before it; the active-basins label lists the basins that had a stream.

use super::HandlerResult;
use crate::http::{Request, Response};
use http::StatusCode;
use protocol::error::{ApiError, ErrorCode};
use protocol::names::{BasinName, StreamName};
use protocol::query::parse_pairs;
use serde_json::{json, Value};
use shards::usage_ops::{UsageRow, SAMPLE_LOOKBACK_MINUTES};
use shards::Cluster;
use std::collections::{BTreeMap, BTreeSet};

const ACCOUNT_SETS: &[&str] = &["active-basins", "account-ops", "estimated-billable-usage"];
const BASIN_SETS: &[&str] = &[
    "storage",
    "append-ops",
    "read-ops",
    "read-throughput",
    "append-throughput",
    "basin-ops",
];
const STREAM_SETS: &[&str] = &["storage"];

const INTERVALS: &[&str] = &["minute", "hour", "day"];

/// The longest range a query may span (s2's API: 90 days; usage is kept as long).
const SPAN_MAX_SECS: u32 = 90 * 24 * 3600;
/// How far past now `end` may be (clocks differ).
const END_LEEWAY_SECS: u32 = 3600;

/// What is asked for.
#[derive(Debug)]
pub enum Target {
    Account,
    Basin(BasinName),
    Stream(BasinName, StreamName),
}

struct Query {
    set: String,
    start: Option<u32>,
    end: Option<u32>,
    interval: Option<u32>,
}

/// Checks the query as s2-lite's extractor does (serde, field by field in the order given).
fn parse_query(req: &Request, sets: &[&str]) -> Result<Query, ApiError> {
    let mut q = Query {
        set: String::new(),
        start: None,
        end: None,
        interval: None,
    };
    let pairs = parse_pairs(&req.query);
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in &pairs {
        let key = key.as_str();
        if !["set", "start", "end", "interval"].contains(&key) {
            continue;
        }
        if seen.contains(&key) {
            return Err(ApiError::bad_query(format!("duplicate field `{key}`")));
        }
        seen.push(key);
        let known = match key {
            "set" => sets,
            "interval" => INTERVALS,
            _ => {
                let n = value
                    .parse::<u32>()
                    .map_err(|e| ApiError::bad_query(format!("{key}: {e}")))?;
                if key == "start" {
                    q.start = Some(n);
                } else {
                    q.end = Some(n);
                }
                continue;
            }
        };
        if !known.contains(&value.as_str()) {
            return Err(ApiError::bad_query(format!(
                "{key}: unknown variant `{value}`, {}",
                expected_variants(known)
            )));
        }
        if key == "set" {
            q.set = value.clone();
        } else {
            q.interval = Some(match value.as_str() {
                "minute" => 60,
                "hour" => 3600,
                _ => 86_400,
            });
        }
    }
    if !seen.contains(&"set") {
        return Err(ApiError::bad_query("missing field `set`"));
    }
    Ok(q)
}

/// serde's wording for the variants an enum accepts.
fn expected_variants(known: &[&str]) -> String {
    let quoted: Vec<String> = known.iter().map(|s| format!("`{s}`")).collect();
    match quoted.as_slice() {
        [] => "there are no variants".to_owned(),
        [one] => format!("expected {one}"),
        [a, b] => format!("expected {a} or {b}"),
        all => format!("expected one of {}", all.join(", ")),
    }
}

fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// `[start, end)` in seconds: both required, ordered, at most 90 days, not in the future.
fn time_range(q: &Query, now: u32) -> Result<(u32, u32), ApiError> {
    let (Some(start), Some(end)) = (q.start, q.end) else {
        return Err(ApiError::invalid(format!(
            "metric set `{}` requires `start` and `end`",
            q.set
        )));
    };
    if start > end {
        return Err(ApiError::invalid("`start` must not be after `end`"));
    }
    if end - start > SPAN_MAX_SECS {
        return Err(ApiError::invalid("the time range may span at most 90 days"));
    }
    if end > now.saturating_add(END_LEEWAY_SECS) {
        return Err(ApiError::invalid("`end` is in the future"));
    }
    Ok((start, end))
}

pub async fn metrics(cluster: &Cluster, req: &Request, target: Target) -> HandlerResult {
    let sets = match target {
        Target::Account => ACCOUNT_SETS,
        Target::Basin(_) => BASIN_SETS,
        Target::Stream(..) => STREAM_SETS,
    };
    let q = parse_query(req, sets)?;
    if q.set == "estimated-billable-usage" {
        // A self-hosted server has no prices to estimate with.
        return Err(ApiError::new(
            ErrorCode::NotImplemented,
            "estimated-billable-usage is not available on a self-hosted server",
        )
        .into());
    }
    let now = now_secs();
    let (start, end) = time_range(&q, now)?;
    // `start == end`: the moment itself (a gauge's one reading, s2's "storage now").
    let end = end.max(start + 1);
    // Rows from before `start` carry the gauges' values at `start`.
    let from = (start / 60).saturating_sub(SAMPLE_LOOKBACK_MINUTES);
    // Gauges read the end of their last interval (up to a day past `end`, never past now).
    let to = end
        .max((end.div_ceil(86_400) * 86_400).min(now))
        .div_ceil(60)
        + 1;
    let from_shard = |e| crate::error::from_shard(e);
    let values = match target {
        Target::Account => {
            if q.set == "active-basins" {
                let rows = cluster.usage(None, from, to).await.map_err(from_shard)?;
                let mut basins = active_basins(&rows, start, end);
                if let Some(scope) = req.caller.scope() {
                    basins.retain(|b| scope.basin_allowed(b));
                }
                vec![json!({"label": {"name": "active-basins", "values": basins}})]
            } else {
                let rows = cluster.account_usage(from, to).await.map_err(from_shard)?;
                let iv = q.interval.unwrap_or(3600);
                ops_series(&rows, start, end, iv)
            }
        }
        Target::Basin(basin) => {
            let rows = cluster
                .usage(Some(&basin), from, to)
                .await
                .map_err(from_shard)?;
            basin_set(&q.set, &rows, start, end, q.interval, now)
        }
        Target::Stream(basin, stream) => {
            let samples = cluster
                .stream_storage(basin, stream, from, to)
                .await
                .map_err(from_shard)?;
            let iv = q.interval.unwrap_or(60);
            let points = gauge(&[samples], start, end, iv, now);
            vec![gauge_metric("storage", points)]
        }
    };
    Ok(Response::json(StatusCode::OK, &json!({ "values": values })))
}

fn basin_set(
    set: &str,
    rows: &[UsageRow],
    start: u32,
    end: u32,
    interval: Option<u32>,
    now: u32,
) -> Vec<Value> {
    let minutely = interval.unwrap_or(60);
    let counter = |name: &str, unit: &str, iv: u32, f: fn(&UsageRow) -> u64| {
        accumulation(name, unit, iv, fold(rows, start, end, iv, f))
    };
    match set {
        "storage" => {
            let iv = interval.unwrap_or(3600);
            vec![gauge_metric(
                "storage",
                gauge(&shard_series(rows), start, end, iv, now),
            )]
        }
        "append-ops" => vec![
            counter("express", "operations", minutely, |r| {
                r.usage.append_ops_express
            }),
            counter("standard", "operations", minutely, |r| {
                r.usage.append_ops_standard
            }),
        ],
        "read-ops" => vec![
            counter("unary", "operations", minutely, |r| r.usage.read_ops_unary),
            counter("streaming", "operations", minutely, |r| {
                r.usage.read_ops_streaming
            }),
        ],
        "read-throughput" => vec![counter("read-throughput", "bytes", minutely, |r| {
            r.usage.read_bytes
        })],
        "append-throughput" => vec![counter("append-throughput", "bytes", minutely, |r| {
            r.usage.append_bytes
        })],
        _ => ops_series(rows, start, end, interval.unwrap_or(3600)),
    }
}

/// One accumulation per operation with a count in the range.
fn ops_series(rows: &[UsageRow], start: u32, end: u32, iv: u32) -> Vec<Value> {
    let mut per_op: BTreeMap<&str, BTreeMap<u32, u64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| in_range(r.minute, start, end)) {
        for (op, n) in &r.usage.ops {
            *per_op
                .entry(op.as_str())
                .or_default()
                .entry(bucket(r.minute, iv))
                .or_default() += n;
        }
    }
    per_op
        .into_iter()
        .map(|(op, buckets)| accumulation(op, "operations", iv, buckets))
        .collect()
}

fn in_range(minute: u32, start: u32, end: u32) -> bool {
    let t = minute.saturating_mul(60);
    // A minute counts when it overlaps the range.
    t < end && t + 60 > start
}

fn bucket(minute: u32, iv: u32) -> u32 {
    minute.saturating_mul(60) / iv * iv
}

fn fold(
    rows: &[UsageRow],
    start: u32,
    end: u32,
    iv: u32,
    f: fn(&UsageRow) -> u64,
) -> BTreeMap<u32, u64> {
    let mut buckets = BTreeMap::new();
    for r in rows.iter().filter(|r| in_range(r.minute, start, end)) {
        let v = f(r);
        if v > 0 {
            *buckets.entry(bucket(r.minute, iv)).or_default() += v;
        }
    }
    buckets
}

fn interval_name(iv: u32) -> &'static str {
    match iv {
        60 => "minute",
        3600 => "hour",
        _ => "day",
    }
}

fn accumulation(name: &str, unit: &str, iv: u32, buckets: BTreeMap<u32, u64>) -> Value {
    let values: Vec<(u32, f64)> = buckets.into_iter().map(|(t, v)| (t, v as f64)).collect();
    json!({"accumulation": {
        "name": name,
        "unit": unit,
        "interval": interval_name(iv),
        "values": values,
    }})
}

fn gauge_metric(name: &str, points: Vec<(u32, f64)>) -> Value {
    json!({"gauge": {"name": name, "unit": "bytes", "values": points}})
}

/// Each shard's stored-bytes samples of a basin, oldest first.
fn shard_series(rows: &[UsageRow]) -> Vec<Vec<(u32, u64)>> {
    // (minute, flush, bytes): within a minute the later flush's sample wins.
    let mut per_shard: BTreeMap<u16, Vec<(u32, u64, u64)>> = BTreeMap::new();
    for r in rows {
        if let Some(bytes) = r.usage.stored_bytes {
            per_shard
                .entry(r.shard)
                .or_default()
                .push((r.minute, r.flush, bytes));
        }
    }
    per_shard
        .into_values()
        .map(|mut s| {
            s.sort_unstable();
            s.into_iter()
                .map(|(minute, _, bytes)| (minute, bytes))
                .collect()
        })
        .collect()
}

/// A point at every interval start in the range up to now, reading the bytes stored at the
/// end of its interval (or now, for the current one): the sum over the series of each one's
/// last sample at or before that (no sample within the look-back: 0).
fn gauge(series: &[Vec<(u32, u64)>], start: u32, end: u32, iv: u32, now: u32) -> Vec<(u32, f64)> {
    let mut points = Vec::new();
    let mut t = start / iv * iv;
    while t < end && t <= now {
        // The interval's last minute, or now's.
        let minute = (t + iv - 1).min(now) / 60;
        let mut sum = 0u64;
        for s in series {
            let i = s.partition_point(|&(m, _)| m <= minute);
            if let Some(&(m, v)) = i.checked_sub(1).map(|i| &s[i]) {
                if minute.saturating_sub(m) <= SAMPLE_LOOKBACK_MINUTES {
                    sum += v;
                }
            }
        }
        points.push((t, sum as f64));
        t += iv;
    }
    points
}

/// Basins with a stream at some point in `[start, end)`: a sample in the range, or the last
/// one before it, counted streams.
fn active_basins(rows: &[UsageRow], start: u32, end: u32) -> Vec<String> {
    // The last sample before `start` per (basin, shard), and whether any in range had streams.
    let mut before: BTreeMap<(&str, u16), (u32, u64)> = BTreeMap::new();
    let mut active: BTreeSet<&str> = BTreeSet::new();
    for r in rows {
        let Some(streams) = r.usage.streams else {
            continue;
        };
        if r.basin.is_empty() {
            continue;
        }
        if in_range(r.minute, start, end) {
            if streams > 0 {
                active.insert(&r.basin);
            }
        } else if r.minute.saturating_mul(60) < start {
            let e = before
                .entry((&r.basin, r.shard))
                .or_insert((r.minute, streams));
            if r.minute >= e.0 {
                *e = (r.minute, streams);
            }
        }
    }
    for ((basin, _), (_, streams)) in before {
        if streams > 0 {
            active.insert(basin);
        }
    }
    active.into_iter().map(str::to_owned).collect()
}

/// `/v1/metrics...` answers JSON; also used by the router for the path checks.
pub fn target(basin: Option<&str>, stream: Option<&str>) -> Result<Target, ApiError> {
    Ok(match (basin, stream) {
        (None, _) => Target::Account,
        (Some(b), None) => Target::Basin(super::path_basin(b)?),
        (Some(b), Some(s)) => Target::Stream(super::path_basin(b)?, super::path_stream(s)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shards::kv::usage::MinuteUsage;

    fn row(basin: &str, minute: u32, shard: u16, f: impl FnOnce(&mut MinuteUsage)) -> UsageRow {
        let mut usage = MinuteUsage::default();
        f(&mut usage);
        UsageRow {
            basin: basin.into(),
            minute,
            shard,
            flush: 0,
            usage,
        }
    }

    #[test]
    fn accumulations_fold_minutes_into_intervals_and_skip_empty_buckets() {
        let rows = vec![
            row("b", 60, 0, |u| u.append_bytes = 5),
            row("b", 61, 1, |u| u.append_bytes = 7),
            row("b", 125, 0, |u| u.append_bytes = 1),
            row("b", 200, 0, |u| u.read_bytes = 1),
        ];
        let b = fold(&rows, 3600, 3 * 3600 + 3600, 3600, |r| r.usage.append_bytes);
        assert_eq!(
            b.into_iter().collect::<Vec<_>>(),
            vec![(3600, 12), (7200, 1)]
        );
        // Outside the range: left out.
        let b = fold(&rows, 61 * 60, 62 * 60, 60, |r| r.usage.append_bytes);
        assert_eq!(b.into_iter().collect::<Vec<_>>(), vec![(61 * 60, 7)]);
    }

    #[test]
    fn gauges_carry_each_series_last_sample_and_sum_series() {
        // Each point reads the end of its interval: minutes 14, 19, 24.
        let a = vec![(10, 100), (20, 150)];
        let b = vec![(15, 1)];
        let points = gauge(&[a.clone(), b], 600, 25 * 60, 300, u32::MAX);
        assert_eq!(points, vec![(600, 100.0), (900, 101.0), (1200, 151.0)]);
        // The current interval reads now.
        assert_eq!(gauge(&[a], 600, 1200, 600, 16 * 60), vec![(600, 100.0)]);
        // Past the look-back a sample no longer counts; nothing after now.
        let old = vec![(0, 9)];
        assert_eq!(
            gauge(std::slice::from_ref(&old), 0, 120, 60, u32::MAX),
            vec![(0, 9.0), (60, 9.0)]
        );
        assert_eq!(
            gauge(&[old], 62 * 60, 63 * 60, 60, u32::MAX),
            vec![(62 * 60, 0.0)]
        );
        assert_eq!(gauge(&[], 0, 600, 60, 100).len(), 2);
    }

    #[test]
    fn active_basins_had_a_stream_in_the_range_or_at_its_start() {
        let rows = vec![
            row("a", 10, 0, |u| u.streams = Some(1)),
            row("b", 5, 0, |u| u.streams = Some(2)),
            row("c", 5, 0, |u| u.streams = Some(1)),
            row("c", 8, 0, |u| u.streams = Some(0)),
            row("d", 11, 0, |u| u.streams = Some(0)),
            row("", 10, 0, |u| u.streams = Some(3)),
        ];
        assert_eq!(active_basins(&rows, 9 * 60, 12 * 60), vec!["a", "b"]);
    }

    #[test]
    fn time_ranges_are_required_ordered_and_bounded() {
        let q = |start, end| Query {
            set: "append-ops".into(),
            start,
            end,
            interval: None,
        };
        let now = 10_000_000;
        assert!(time_range(&q(None, Some(5)), now).is_err());
        assert!(time_range(&q(Some(6), Some(5)), now).is_err());
        assert_eq!(time_range(&q(Some(5), Some(5)), now).unwrap(), (5, 5));
        assert!(time_range(&q(Some(0), Some(SPAN_MAX_SECS + 1)), now).is_err());
        assert!(time_range(&q(Some(now), Some(now + 2 * END_LEEWAY_SECS)), now).is_err());
        assert_eq!(time_range(&q(Some(5), Some(9)), now).unwrap(), (5, 9));
    }
}
