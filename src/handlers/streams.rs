//! `/v1/streams` (API.md §6). Every route needs the `s2-basin` header, checked first.

use super::{
    basin_header, json_body, list_range, optional_json_body, path_stream, provision_header,
    request_token, rfc3339, HandlerResult,
};
use crate::error::from_shard;
use crate::http::{Request, Response};
use http::StatusCode;
use protocol::config::{StreamConfig, StreamReconfiguration};
use protocol::error::ApiError;
use protocol::json::{CreateStreamRequest, ListStreamsResponse, StreamInfo};
use protocol::names::validate_stream_list_field;
use shards::{Cluster, Provision, StreamEntry};

pub fn info(e: &StreamEntry) -> StreamInfo {
    StreamInfo {
        name: e.name.to_string(),
        created_at: rfc3339(e.meta.created_at_nanos),
        deleted_at: e.meta.deleted_at_nanos.map(rfc3339),
        cipher: e.meta.cipher,
    }
}

pub async fn list(cluster: &Cluster, req: Request) -> HandlerResult {
    let basin = basin_header(&req)?;
    let mut range = list_range(&req, validate_stream_list_field)?;
    if !crate::auth::narrow(req.caller.streams_set(), &mut range) {
        return Ok(Response::json(
            StatusCode::OK,
            &ListStreamsResponse {
                streams: Vec::new(),
                has_more: false,
            },
        ));
    }
    let page = cluster
        .list_streams(basin, range)
        .await
        .map_err(from_shard)?;
    Ok(Response::json(
        StatusCode::OK,
        &ListStreamsResponse {
            // A scoped token sees only the streams its scope covers.
            streams: page
                .items
                .iter()
                .filter(|e| req.caller.stream_visible(e.name.as_str()))
                .map(info)
                .collect(),
            has_more: page.has_more,
        },
    ))
}

fn checked(config: Option<StreamConfig>) -> Result<StreamConfig, ApiError> {
    let config = config.unwrap_or_default();
    config.validate().map_err(ApiError::invalid)?;
    Ok(config.normalized())
}

pub async fn create(cluster: &Cluster, req: Request) -> HandlerResult {
    let basin = basin_header(&req)?;
    let token = request_token(&req)?;
    let body: CreateStreamRequest = json_body(&req)?;
    if !req.caller.stream_visible(body.stream.as_str()) {
        return Err(
            crate::auth::denied(format!("stream `{}` is not permitted", body.stream)).into(),
        );
    }
    let config = checked(body.config)?;
    let (entry, provision) = cluster
        .create_stream(basin, body.stream, config, token)
        .await
        .map_err(from_shard)?;
    Ok(Response::json(StatusCode::CREATED, &info(&entry))
        .header("s2-provision-result", provision_header(provision)))
}

pub async fn ensure(cluster: &Cluster, req: Request, stream: &str) -> HandlerResult {
    let basin = basin_header(&req)?;
    let stream = path_stream(stream)?;
    let config = checked(optional_json_body::<StreamConfig>(&req)?)?;
    let (entry, provision) = cluster
        .ensure_stream(basin, stream, config)
        .await
        .map_err(from_shard)?;
    let status = match provision {
        Provision::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok(Response::json(status, &info(&entry))
        .header("s2-provision-result", provision_header(provision)))
}

pub async fn get(cluster: &Cluster, req: Request, stream: &str) -> HandlerResult {
    let basin = basin_header(&req)?;
    let stream = path_stream(stream)?;
    let entry = cluster
        .get_stream(basin, stream)
        .await
        .map_err(from_shard)?;
    Ok(Response::json(StatusCode::OK, &entry.meta.config))
}

pub async fn reconfigure(cluster: &Cluster, req: Request, stream: &str) -> HandlerResult {
    let basin = basin_header(&req)?;
    let stream = path_stream(stream)?;
    let patch: StreamReconfiguration = json_body(&req)?;
    patch.validate().map_err(ApiError::invalid)?;
    let entry = cluster
        .reconfigure_stream(basin, stream, patch)
        .await
        .map_err(from_shard)?;
    Ok(Response::json(StatusCode::OK, &entry.meta.config))
}

pub async fn delete(cluster: &Cluster, req: Request, stream: &str) -> HandlerResult {
    let basin = basin_header(&req)?;
    let stream = path_stream(stream)?;
    cluster
        .delete_stream(basin, stream)
        .await
        .map_err(from_shard)?;
    Ok(Response::empty(StatusCode::ACCEPTED))
}
