//! `/v1/streams/{stream}/records` and `/records/tail` (API.md §7-8): unary append, unary
//! read (JSON or protobuf, with long poll) and check-tail, with auto-create on append/read.
//! S2S sessions and SSE are not served yet: they get a clear `501` until then.

use super::{basin_header, path_stream, HandlerResult};
use crate::error::{from_shard, Failure};
use crate::http::{Request, Response};
use bytes::Bytes;
use http::StatusCode;
use protocol::config::StreamConfig;
use protocol::encryption::EncryptionKey;
use protocol::error::{ApiError, ErrorCode};
use protocol::limits::{BATCH_METERED_BYTES_MAX, BATCH_RECORDS_MAX};
use protocol::names::{BasinName, StreamName};
use protocol::query::{parse_pairs, single, unsigned};
use protocol::records::{self, AppendInput, Format, TailResponse};
use shards::{Cluster, ReadKey, ReadRequest, ReadStart, ShardError};
use std::time::Duration;

/// Unary reads wait at most this long (s2-lite caps `wait` silently).
const UNARY_WAIT_MAX_SECS: u32 = 60;

pub(crate) fn media_type(req: &Request, header: &str) -> String {
    req.header_str(header)
        .and_then(|v| v.split([',', ';']).next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_protobuf(media: &str) -> bool {
    media == "application/protobuf" || media == "application/x-protobuf"
}

/// `s2-encryption-key`: checked for length on every append and read, whatever the stream
/// (API.md §10); resolved against the stream's cipher at the shard.
pub(crate) fn encryption_key_header(req: &Request) -> Result<Option<EncryptionKey>, ApiError> {
    req.header_str(protocol::encryption::HEADER)
        .map(EncryptionKey::parse_header)
        .transpose()
}

pub(crate) fn format_header(req: &Request) -> Result<Format, ApiError> {
    match req.header_str("s2-format") {
        None => Ok(Format::Raw),
        Some(v) => Format::parse(v).map_err(|bad| ApiError::bad_header("s2-format", bad)),
    }
}

/// `s2-stream-config`: the config of a stream auto-created by this request. Parsed and
/// validated even when unused, as s2-lite does.
pub(crate) fn stream_config_header(req: &Request) -> Result<StreamConfig, ApiError> {
    let Some(v) = req.header_str("s2-stream-config") else {
        return Ok(StreamConfig::default());
    };
    let config: StreamConfig = serde_json::from_str(v)
        .map_err(|e| ApiError::bad_header("s2-stream-config", format!("invalid JSON: {e}")))?;
    config
        .validate()
        .map_err(|m| ApiError::bad_header("s2-stream-config", m))?;
    Ok(config.normalized())
}

fn sessions_not_served() -> Failure {
    ApiError::new(
        ErrorCode::NotImplemented,
        "S2S sessions and SSE are not supported by this server yet",
    )
    .into()
}

fn decode_append(req: &Request, format: Format) -> Result<AppendInput, ApiError> {
    if is_protobuf(&media_type(req, "content-type")) {
        AppendInput::from_proto(&req.body)
    } else {
        super::require_json_content_type(req)?;
        AppendInput::from_json(&req.body, format)
    }
}

pub async fn append(cluster: &Cluster, req: Request, stream: &str) -> HandlerResult {
    let basin = basin_header(&req)?;
    let stream = path_stream(stream)?;
    let key = encryption_key_header(&req)?;
    let format = format_header(&req)?;
    let auto_config = stream_config_header(&req)?;
    if media_type(&req, "content-type") == "s2s/proto" {
        return Err(sessions_not_served());
    }
    let input = decode_append(&req, format)?;
    let commands = input.validate()?;
    require_command_ops(&req.caller, &commands)?;
    let origin = Some(req.conn).filter(|&c| c != 0);
    let result = cluster
        .append_from(
            origin,
            basin.clone(),
            stream.clone(),
            input,
            commands,
            key.clone(),
        )
        .await;
    let ack = match result {
        Err(ShardError::StreamNotFound { .. }) => {
            auto_create(cluster, &basin, &stream, true, auto_config).await?;
            // The first attempt consumed the batch; decoding again is cheaper than
            // cloning every batch for this rare path.
            let input = decode_append(&req, format)?;
            let commands = input.validate()?;
            cluster
                .append_from(origin, basin, stream, input, commands, key)
                .await
        }
        other => other,
    }
    .map_err(from_shard)?;
    if is_protobuf(&media_type(&req, "accept")) {
        use prost::Message;
        let body = ack.to_proto().encode_to_vec();
        Ok(Response::with_body(
            StatusCode::OK,
            "application/protobuf",
            Bytes::from(body),
        ))
    } else {
        Ok(Response::json(StatusCode::OK, &ack))
    }
}

/// Trim and fence records need the `trim` and `fence` operations besides `append`.
pub(crate) fn require_command_ops(
    caller: &crate::auth::Caller,
    commands: &[Option<protocol::records::Command>],
) -> Result<(), ApiError> {
    use protocol::access::Operation;
    use protocol::records::Command;
    for c in commands.iter().flatten() {
        caller.require(match c {
            Command::Trim(_) => Operation::Trim,
            Command::Fence(_) => Operation::Fence,
        })?;
    }
    Ok(())
}

pub(crate) async fn auto_create(
    cluster: &Cluster,
    basin: &BasinName,
    stream: &StreamName,
    on_append: bool,
    config: StreamConfig,
) -> Result<(), Failure> {
    cluster
        .auto_create_stream(basin.clone(), stream.clone(), on_append, config)
        .await
        .map_err(from_shard)
}

/// Query parameters of a read (API.md §8.1).
pub(crate) fn read_params(query: &str) -> Result<(ReadRequest, bool), ApiError> {
    let pairs = parse_pairs(query);
    let q = |e: String| ApiError::bad_query(e);
    let seq_num = unsigned::<u64>(&pairs, "seq_num").map_err(q)?;
    let timestamp = unsigned::<u64>(&pairs, "timestamp").map_err(q)?;
    let tail_offset = unsigned::<u64>(&pairs, "tail_offset").map_err(q)?;
    let count = unsigned::<usize>(&pairs, "count").map_err(q)?;
    let bytes = unsigned::<usize>(&pairs, "bytes").map_err(q)?;
    let until = unsigned::<u64>(&pairs, "until").map_err(q)?;
    let wait = unsigned::<u32>(&pairs, "wait").map_err(q)?;
    let clamp = match single(&pairs, "clamp").map_err(q)? {
        None => false,
        Some(v) => v
            .parse::<bool>()
            .map_err(|e| ApiError::bad_query(format!("clamp: {e}")))?,
    };
    let start = match (seq_num, timestamp, tail_offset) {
        (None, None, None) => ReadStart::TailOffset(0),
        (Some(s), None, None) => ReadStart::SeqNum(s),
        (None, Some(t), None) => ReadStart::Timestamp(t),
        (None, None, Some(o)) => ReadStart::TailOffset(o),
        _ => {
            return Err(ApiError::invalid(
                "only one of seq_num, timestamp, or tail_offset can be provided",
            ))
        }
    };
    if let (ReadStart::Timestamp(t), Some(u)) = (start, until) {
        if u <= t {
            return Err(ApiError::invalid(
                "start `timestamp` exceeds or equal to `until`",
            ));
        }
    }
    let limited = count.is_some() || bytes.is_some() || until.is_some();
    Ok((
        ReadRequest {
            start,
            clamp,
            count,
            bytes,
            until,
            wait: wait.map(|w| Duration::from_secs(w as u64)),
            may_follow: None,
            incarnation: None,
            key: ReadKey::Request(None),
        },
        limited,
    ))
}

pub async fn read(cluster: &Cluster, req: Request, stream: &str) -> HandlerResult {
    let basin = basin_header(&req)?;
    let stream = path_stream(stream)?;
    let (mut params, _) = read_params(&req.query)?;
    params.key = ReadKey::Request(encryption_key_header(&req)?);
    let format = format_header(&req)?;
    let auto_config = stream_config_header(&req)?;
    if media_type(&req, "content-type") == "s2s/proto"
        || media_type(&req, "accept") == "text/event-stream"
    {
        return Err(sessions_not_served());
    }
    // Unary reads are always bounded: at most 1000 records, 1 MiB, and 60 s of waiting.
    params.count = Some(
        params
            .count
            .unwrap_or(BATCH_RECORDS_MAX)
            .min(BATCH_RECORDS_MAX),
    );
    params.bytes = Some(
        params
            .bytes
            .unwrap_or(BATCH_METERED_BYTES_MAX)
            .min(BATCH_METERED_BYTES_MAX),
    );
    params.wait = params
        .wait
        .map(|w| w.min(Duration::from_secs(UNARY_WAIT_MAX_SECS as u64)));
    let result = cluster
        .read(basin.clone(), stream.clone(), params.clone())
        .await;
    let out = match result {
        Err(ShardError::StreamNotFound { .. }) => {
            auto_create(cluster, &basin, &stream, false, auto_config).await?;
            cluster.read(basin.clone(), stream, params).await
        }
        other => other,
    }
    .map_err(from_shard)?;
    let bytes: usize = out.records.iter().map(|r| r.metered_size()).sum();
    shards::usage_meter::record_read(
        basin.as_str(),
        Some(shards::usage_meter::ReadOp::Unary),
        bytes as u64,
    );
    if is_protobuf(&media_type(&req, "accept")) {
        use prost::Message;
        let body = records::read_batch_proto(&out.records, out.tail).encode_to_vec();
        Ok(Response::with_body(
            StatusCode::OK,
            "application/protobuf",
            Bytes::from(body),
        ))
    } else {
        let body = records::read_batch_json(&out.records, out.tail, format);
        Ok(Response::with_body(
            StatusCode::OK,
            "application/json",
            Bytes::from(body),
        ))
    }
}

pub async fn check_tail(cluster: &Cluster, req: Request, stream: &str) -> HandlerResult {
    let basin = basin_header(&req)?;
    let stream = path_stream(stream)?;
    let result = cluster.check_tail(basin.clone(), stream.clone()).await;
    let tail = match result {
        Err(ShardError::StreamNotFound { .. }) => {
            auto_create(cluster, &basin, &stream, false, StreamConfig::default()).await?;
            cluster.check_tail(basin, stream).await
        }
        other => other,
    }
    .map_err(from_shard)?;
    Ok(Response::json(StatusCode::OK, &TailResponse { tail }))
}
