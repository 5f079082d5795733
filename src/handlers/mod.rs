//! Thin handlers: each extracts its inputs in s2-lite's order (headers, path, query, body,
//! then semantic checks; API.md §1.9), makes one `Cluster` call, and encodes the answer.

pub mod access_tokens;
pub mod basins;
pub mod dashboard;
pub mod metrics;
pub mod records;
pub mod sessions;
pub mod streams;
pub mod stubs;
pub mod usage_metrics;

use crate::http::{Request, Response};
use protocol::error::ApiError;
use protocol::limits::REQUEST_TOKEN_LEN_MAX;
use protocol::names::{BasinName, ListField, StreamName};
use protocol::query::ListParams;
use serde::de::DeserializeOwned;
use shards::NameRange;

pub type HandlerResult = Result<Response, crate::error::Failure>;

/// `s2-basin`, required on every `/v1/streams...` route.
pub fn basin_header(req: &Request) -> Result<BasinName, ApiError> {
    let raw = req
        .headers
        .get("s2-basin")
        .ok_or_else(|| ApiError::missing_header("s2-basin"))?;
    let s = raw
        .to_str()
        .map_err(|_| ApiError::bad_header("s2-basin", "invalid header value"))?;
    BasinName::parse(s).map_err(|m| ApiError::bad_header("s2-basin", m))
}

/// Optional `s2-request-token` (at most 36 bytes): makes creates idempotent.
pub fn request_token(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers.get("s2-request-token") else {
        return Ok(None);
    };
    let s = raw
        .to_str()
        .map_err(|_| ApiError::bad_header("s2-request-token", "invalid header value"))?;
    if s.len() > REQUEST_TOKEN_LEN_MAX {
        return Err(ApiError::bad_header(
            "s2-request-token",
            format!(
                "request token was longer than {REQUEST_TOKEN_LEN_MAX} bytes in length: {}",
                s.len()
            ),
        ));
    }
    Ok(Some(s.to_owned()))
}

fn decode_segment(seg: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(ApiError::bad_path)
}

pub fn path_basin(seg: &str) -> Result<BasinName, ApiError> {
    BasinName::parse(&decode_segment(seg)?).map_err(ApiError::bad_path)
}

pub fn path_stream(seg: &str) -> Result<StreamName, ApiError> {
    StreamName::parse(&decode_segment(seg)?).map_err(ApiError::bad_path)
}

/// `prefix`, `start_after` and `limit`, with the name rules of the thing listed.
pub fn list_range(
    req: &Request,
    validate: fn(&str, ListField) -> Result<(), String>,
) -> Result<NameRange, ApiError> {
    let p = ListParams::parse(&req.query).map_err(ApiError::bad_query)?;
    validate(&p.prefix, ListField::Prefix)
        .map_err(|m| ApiError::bad_query(format!("prefix: {m}")))?;
    validate(&p.start_after, ListField::StartAfter)
        .map_err(|m| ApiError::bad_query(format!("start_after: {m}")))?;
    Ok(NameRange {
        prefix: p.prefix,
        start_after: p.start_after,
        limit: p.limit,
    })
}

fn is_json_content_type(req: &Request) -> bool {
    let Some(ct) = req.header_str("content-type") else {
        return false;
    };
    let first = ct
        .split([';', ','])
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    first == "application/json" || (first.starts_with("application/") && first.ends_with("+json"))
}

const EXPECTED_JSON: &str = "Expected request with `Content-Type: application/json`";

/// The content-type rule every JSON body follows (API.md §1.5).
pub fn require_json_content_type(req: &Request) -> Result<(), ApiError> {
    if is_json_content_type(req) {
        Ok(())
    } else {
        Err(ApiError::bad_json(EXPECTED_JSON))
    }
}

/// A required JSON body.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    require_json_content_type(req)?;
    serde_json::from_slice(&req.body).map_err(ApiError::bad_json)
}

/// An optional JSON body, with s2-lite's quirk for ensure (PUT): no `content-type` means no
/// body whatever was sent; JSON with an empty body means no body; any other type is an error.
pub fn optional_json_body<T: DeserializeOwned>(req: &Request) -> Result<Option<T>, ApiError> {
    if !req.headers.contains_key("content-type") {
        return Ok(None);
    }
    if !is_json_content_type(req) {
        return Err(ApiError::bad_json(EXPECTED_JSON));
    }
    if req.body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&req.body)
        .map(Some)
        .map_err(ApiError::bad_json)
}

pub fn provision_header(p: shards::Provision) -> &'static str {
    match p {
        shards::Provision::Created => "created",
        shards::Provision::Updated => "updated",
        shards::Provision::Noop => "noop",
    }
}

pub fn rfc3339(nanos: u64) -> String {
    protocol::time::rfc3339_nanos(nanos as u128)
}
