//! `GET /metrics`: Prometheus text exposition. Today it carries the object-store request
//! counters (what a deployment pays S3 for); per-shard series belong here as they arrive.

use crate::http::Response;
use bytes::Bytes;
use http::StatusCode;
use shards::object_store_metrics::{requests, Op};
use std::fmt::Write;

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
    Response::with_body(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(out),
    )
}
