//! `GET /metrics`: Prometheus text exposition. s2-lite's append histograms under its names
//! (summed over shards, so dashboards built for s2-lite read the same series), process
//! metrics, object-store request counters, and Strand's per-shard series (`shard` label).

use crate::http::Response;
use bytes::Bytes;
use http::StatusCode;
use shards::object_store_metrics::{requests, Op};
use shards::shard_metrics::{Histogram, ShardMetrics};
use std::fmt::Write;
use std::sync::Arc;

pub fn render(cluster: &shards::Cluster) -> Response {
    let mut out = String::from(
        "# HELP strand_object_store_requests_total Object-store requests made, by operation.\n\
         # TYPE strand_object_store_requests_total counter\n",
    );
    for op in Op::ALL {
        let _ = writeln!(
            out,
            "strand_object_store_requests_total{{op=\"{}\"}} {}",
            op.name(),
            requests(op)
        );
    }
    let _ = write!(
        out,
        "# HELP strand_task_panics_total Connection and request tasks that panicked and were contained.\n\
         # TYPE strand_task_panics_total counter\n\
         strand_task_panics_total {}\n\
         # HELP strand_threads_dead Shard and storage threads that are not running.\n\
         # TYPE strand_threads_dead gauge\n\
         strand_threads_dead {}\n\
         # HELP strand_partitions_closed Partitions whose storage closed under them (fenced or failed).\n\
         # TYPE strand_partitions_closed gauge\n\
         strand_partitions_closed {}\n\
         # HELP strand_stream_states_evicted_total Idle stream states dropped from memory (reloaded on use).\n\
         # TYPE strand_stream_states_evicted_total counter\n\
         strand_stream_states_evicted_total {}\n\
         # HELP strand_client_bytes_held Bytes held for clients (connections, buffers, windows, bodies, session frames).\n\
         # TYPE strand_client_bytes_held gauge\n\
         strand_client_bytes_held {}\n\
         # HELP strand_client_bytes_held_peak The most bytes held for clients at once since start.\n\
         # TYPE strand_client_bytes_held_peak gauge\n\
         strand_client_bytes_held_peak {}\n",
        shards::runtime::task_panics(),
        cluster.dead_threads().len() - cluster.closed_partitions().len(),
        cluster.closed_partitions().len(),
        shards::partition::states_evicted(),
        crate::held_bytes::held_totals().0,
        crate::held_bytes::held_totals().1,
    );
    render_s2_lite_series(&mut out, cluster.shard_metrics());
    render_shard_series(&mut out, cluster);
    render_process(&mut out);
    Response::with_body(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(out),
    )
}

/// A histogram in the exposition format; `labels` is empty or `k="v",`.
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    buckets: &[u64],
    sum: f64,
) {
    let mut cumulative = 0;
    for (bound, n) in bounds.iter().zip(buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
    }
    cumulative += buckets.last().copied().unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {cumulative}");
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", labels.trim_end_matches(','))
    };
    let _ = writeln!(out, "{name}_sum{braces} {sum}");
    let _ = writeln!(out, "{name}_count{braces} {cumulative}");
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// s2-lite's four histograms, one series each, summed over the shards.
fn render_s2_lite_series(out: &mut String, shards: &[Arc<ShardMetrics>]) {
    type Pick = fn(&ShardMetrics) -> &Histogram;
    let series: [(&str, &str, Pick); 4] = [
        (
            "s2_append_permit_latency_seconds",
            "Append permit latency in seconds",
            |m| &m.append_permit_seconds,
        ),
        (
            "s2_append_ack_latency_seconds",
            "Append ack latency in seconds",
            |m| &m.append_ack_seconds,
        ),
        (
            "s2_append_batch_records",
            "Append batch size in number of records",
            |m| &m.append_batch_records,
        ),
        ("s2_append_batch_bytes", "Append batch size in bytes", |m| {
            &m.append_batch_bytes
        }),
    ];
    for (name, help, pick) in series {
        let Some(first) = shards.first() else { return };
        let bounds = pick(first).bounds();
        let mut buckets = vec![0u64; bounds.len() + 1];
        let mut sum = 0.0;
        for m in shards {
            let (b, s) = pick(m).snapshot();
            buckets.iter_mut().zip(b).for_each(|(t, n)| *t += n);
            sum += s;
        }
        header(out, name, "histogram", help);
        histogram(out, name, "", bounds, &buckets, sum);
    }
}

/// Strand's own series, one per shard.
fn render_shard_series(out: &mut String, cluster: &shards::Cluster) {
    let shards = cluster.shard_metrics();
    let depths = cluster.inbox_depths();
    type Value = fn(&ShardMetrics) -> u64;
    let scalars: [(&str, &str, &str, Value); 12] = [
        (
            "strand_shard_rounds_total",
            "counter",
            "Group-commit rounds written.",
            |m| m.rounds.get(),
        ),
        (
            "strand_shard_rounds_failed_total",
            "counter",
            "Rounds in which a partition's write failed.",
            |m| m.rounds_failed.get(),
        ),
        (
            "strand_shard_rounds_paced_total",
            "counter",
            "Rounds held back because a partition's L0 was high (write pacing).",
            |m| m.rounds_paced.get(),
        ),
        (
            "strand_shard_usage_dropped_total",
            "counter",
            "Usage counts dropped because the shard's usage meter was full.",
            |m| m.usage_dropped.get(),
        ),
        (
            "strand_shard_storage_call_errors_total",
            "counter",
            "Storage calls that failed.",
            |m| m.storage_call_errors.get(),
        ),
        (
            "strand_shard_storage_call_timeouts_total",
            "counter",
            "Storage calls past --storage-deadline-ms.",
            |m| m.storage_call_timeouts.get(),
        ),
        (
            "strand_shard_append_inflight_bytes",
            "gauge",
            "Metered append bytes admitted and not yet answered.",
            |m| m.append_inflight_bytes.get(),
        ),
        (
            "strand_shard_window_bytes",
            "gauge",
            "Bytes in the shard's window of recent durable records.",
            |m| m.window_bytes.get(),
        ),
        (
            "strand_shard_follow_hub_bytes",
            "gauge",
            "Bytes in the shard's follow-hub rings.",
            |m| m.follow_hub_bytes.get(),
        ),
        (
            "strand_shard_follow_hubs",
            "gauge",
            "Follow hubs on the shard.",
            |m| m.follow_hubs.get(),
        ),
        (
            "strand_shard_sessions",
            "gauge",
            "S2S and SSE sessions open on the shard's connections.",
            |m| m.sessions.get(),
        ),
        (
            "strand_shard_append_batches_total",
            "counter",
            "Append batches received by the shard.",
            |m| m.append_batch_records.snapshot().0.iter().sum(),
        ),
    ];
    for (name, kind, help, value) in scalars {
        header(out, name, kind, help);
        for (i, m) in shards.iter().enumerate() {
            let _ = writeln!(out, "{name}{{shard=\"{i}\"}} {}", value(m));
        }
    }
    header(
        out,
        "strand_shard_inbox_depth",
        "gauge",
        "Messages waiting in the shard's inbox.",
    );
    for (i, d) in depths.iter().enumerate() {
        let _ = writeln!(out, "strand_shard_inbox_depth{{shard=\"{i}\"}} {d}");
    }
    if let Some((held, capacity)) = cluster.memory_store() {
        for (name, help, v) in [
            (
                "strand_memory_store_bytes",
                "Bytes the in-memory store holds (records and SlateDB's garbage).",
                held,
            ),
            (
                "strand_memory_store_capacity_bytes",
                "--memory-store-bytes: appends of records are refused at it.",
                capacity,
            ),
        ] {
            header(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        }
    }
    type Pick = fn(&ShardMetrics) -> &Histogram;
    let histograms: [(&str, &str, Pick); 2] = [
        (
            "strand_shard_round_seconds",
            "Group-commit rounds, dispatch to durable.",
            |m| &m.round_seconds,
        ),
        (
            "strand_shard_storage_call_seconds",
            "Storage calls (reads, loads, metadata writes), under the deadline.",
            |m| &m.storage_call_seconds,
        ),
    ];
    for (name, help, pick) in histograms {
        header(out, name, "histogram", help);
        for (i, m) in shards.iter().enumerate() {
            let h = pick(m);
            let (buckets, sum) = h.snapshot();
            histogram(
                out,
                name,
                &format!("shard=\"{i}\","),
                h.bounds(),
                &buckets,
                sum,
            );
        }
    }
}

/// The standard process series (as the prometheus crate's process collector names them).
fn render_process(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name (which may hold spaces) start at field 3.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let max_fds = {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
        l.rlim_cur as f64
    };
    let series = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (num(14) + num(15)) / ticks,
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds as f64,
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max_fds,
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            num(23),
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            num(24) * page,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot + num(22) / ticks,
        ),
        (
            "process_threads",
            "gauge",
            "Number of OS threads in the process.",
            num(20),
        ),
    ];
    for (name, kind, help, v) in series {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    }
}
