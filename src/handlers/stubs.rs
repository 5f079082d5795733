//! Routes s2-lite answers with `501 not_implemented` after normal extraction: usage metrics
//! and locations. Bad input still gets its 400 first, as clients expect. (The usage-metrics
//! API is planned: issue 13.)

use super::HandlerResult;
use crate::http::Request;
use protocol::error::{ApiError, ErrorCode};
use protocol::query::parse_pairs;

fn not_implemented() -> HandlerResult {
    Err(ApiError::new(ErrorCode::NotImplemented, "Not implemented").into())
}

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

/// `/v1/metrics[/{basin}[/{stream}]]`: the query is checked as s2-lite's extractor does
/// (serde, field by field in the order given), then answered 501.
pub fn metrics(req: &Request, depth: usize) -> HandlerResult {
    let pairs = parse_pairs(&req.query);
    let sets = [ACCOUNT_SETS, BASIN_SETS, STREAM_SETS][depth];
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in &pairs {
        let key = key.as_str();
        if !["set", "start", "end", "interval"].contains(&key) {
            continue;
        }
        if seen.contains(&key) {
            return Err(ApiError::bad_query(format!("duplicate field `{key}`")).into());
        }
        seen.push(key);
        let known = match key {
            "set" => sets,
            "interval" => INTERVALS,
            _ => {
                value
                    .parse::<u32>()
                    .map_err(|e| ApiError::bad_query(format!("{key}: {e}")))?;
                continue;
            }
        };
        if !known.contains(&value.as_str()) {
            return Err(ApiError::bad_query(format!(
                "{key}: unknown variant `{value}`, {}",
                expected_variants(known)
            ))
            .into());
        }
    }
    if !seen.contains(&"set") {
        return Err(ApiError::bad_query("missing field `set`").into());
    }
    not_implemented()
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

pub fn locations() -> HandlerResult {
    not_implemented()
}
