//! `GET /metrics`: Prometheus text exposition. Today it carries the object-store request
//! counters (what a deployment pays S3 for); per-shard series belong here as they arrive.

use crate::http::Response;
use bytes::Bytes;
use http::StatusCode;
use shards::object_store_metrics::{requests, Op};
use std::fmt::Write;

pub fn render() -> Response {
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
    Response::with_body(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(out),
    )
}
