//! Routes s2-lite answers with `501 not_implemented` after normal extraction: access tokens,
//! usage metrics and locations. Bad input still gets its 400 first, as clients expect.
//! (Access tokens with scopes and the usage-metrics API are planned; see the README.)

use super::{json_body, HandlerResult};
use crate::http::Request;
use protocol::error::{ApiError, ErrorCode};
use protocol::json::IssueAccessTokenRequest;
use protocol::query::{parse_pairs, single, unsigned};

fn not_implemented() -> HandlerResult {
    Err(ApiError::new(ErrorCode::NotImplemented, "Not implemented").into())
}

pub fn list_access_tokens(req: &Request) -> HandlerResult {
    protocol::query::ListParams::parse(&req.query).map_err(ApiError::bad_query)?;
    not_implemented()
}

pub fn issue_access_token(req: &Request) -> HandlerResult {
    let _: IssueAccessTokenRequest = json_body(req)?;
    not_implemented()
}

pub fn revoke_access_token(id: &str) -> HandlerResult {
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
    if id.is_empty() || id.len() > 96 || id.contains('\0') {
        return Err(ApiError::bad_path("access token id must be 1-96 bytes without NUL").into());
    }
    not_implemented()
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

/// `/v1/metrics[/{basin}[/{stream}]]`: `set` is required and must name a known set.
pub fn metrics(req: &Request, depth: usize) -> HandlerResult {
    let pairs = parse_pairs(&req.query);
    let set = single(&pairs, "set")
        .map_err(ApiError::bad_query)?
        .ok_or_else(|| ApiError::bad_query("missing field `set`"))?;
    let known = [ACCOUNT_SETS, BASIN_SETS, STREAM_SETS][depth];
    if !known.contains(&set) {
        return Err(ApiError::bad_query(format!(
            "set: unknown variant `{set}`, expected one of {}",
            known
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    for field in ["start", "end"] {
        unsigned::<u32>(&pairs, field).map_err(ApiError::bad_query)?;
    }
    not_implemented()
}

pub fn locations() -> HandlerResult {
    not_implemented()
}
