//! `/v1/basins` (API.md §5).

use super::{
    json_body, list_range, optional_json_body, path_basin, provision_header, request_token,
    rfc3339, HandlerResult,
};
use crate::error::from_shard;
use crate::http::{Request, Response};
use http::StatusCode;
use protocol::config::{BasinConfig, BasinReconfiguration};
use protocol::error::ApiError;
use protocol::json::{BasinInfo, CreateBasinRequest, EnsureBasinRequest, ListBasinsResponse};
use protocol::names::validate_basin_list_field;
use shards::{BasinEntry, Cluster, Provision};

pub fn info(e: &BasinEntry) -> BasinInfo {
    BasinInfo {
        name: e.name.to_string(),
        location: None,
        created_at: rfc3339(e.meta.created_at_nanos),
        deleted_at: e.meta.deleted_at_nanos.map(rfc3339),
        state: if e.meta.deleted_at_nanos.is_some() {
            "deleting"
        } else {
            "active"
        },
    }
}

pub async fn list(cluster: &Cluster, req: Request) -> HandlerResult {
    let mut range = list_range(&req, validate_basin_list_field)?;
    if !crate::auth::narrow(req.caller.basins_set(), &mut range) {
        return Ok(Response::json(
            StatusCode::OK,
            &ListBasinsResponse {
                basins: Vec::new(),
                has_more: false,
            },
        ));
    }
    let page = cluster.list_basins(range).await.map_err(from_shard)?;
    Ok(Response::json(
        StatusCode::OK,
        &ListBasinsResponse {
            // A scoped token sees only the basins its scope covers.
            basins: page
                .items
                .iter()
                .filter(|e| req.caller.basin_visible(e.name.as_str()))
                .map(info)
                .collect(),
            has_more: page.has_more,
        },
    ))
}

fn checked(config: Option<BasinConfig>) -> Result<BasinConfig, ApiError> {
    let config = config.unwrap_or_default();
    config.validate().map_err(ApiError::invalid)?;
    Ok(config.normalized())
}

pub async fn create(cluster: &Cluster, req: Request) -> HandlerResult {
    let token = request_token(&req)?;
    let body: CreateBasinRequest = json_body(&req)?;
    let config = checked(body.config)?;
    // The name is in the body here, so the router could not check it.
    if !req.caller.basin_visible(body.basin.as_str()) {
        return Err(crate::auth::denied(format!("basin `{}` is not permitted", body.basin)).into());
    }
    let (entry, provision) = cluster
        .create_basin(body.basin, config, token)
        .await
        .map_err(from_shard)?;
    // Create answers 201 even for an idempotent replay; the header tells them apart.
    Ok(Response::json(StatusCode::CREATED, &info(&entry))
        .header("s2-provision-result", provision_header(provision)))
}

pub async fn ensure(cluster: &Cluster, req: Request, basin: &str) -> HandlerResult {
    let basin = path_basin(basin)?;
    let body: Option<EnsureBasinRequest> = optional_json_body(&req)?;
    let config = checked(body.and_then(|b| b.config))?;
    let (entry, provision) = cluster
        .ensure_basin(basin, config)
        .await
        .map_err(from_shard)?;
    let status = match provision {
        Provision::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok(Response::json(status, &info(&entry))
        .header("s2-provision-result", provision_header(provision)))
}

pub async fn get(cluster: &Cluster, basin: &str) -> HandlerResult {
    let basin = path_basin(basin)?;
    let entry = cluster.get_basin(basin).await.map_err(from_shard)?;
    Ok(Response::json(StatusCode::OK, &entry.meta.config))
}

pub async fn reconfigure(cluster: &Cluster, req: Request, basin: &str) -> HandlerResult {
    let basin = path_basin(basin)?;
    let patch: BasinReconfiguration = json_body(&req)?;
    patch.validate().map_err(ApiError::invalid)?;
    let config = cluster
        .reconfigure_basin(basin, patch)
        .await
        .map_err(from_shard)?;
    Ok(Response::json(StatusCode::OK, &config))
}

pub async fn delete(cluster: &Cluster, basin: &str) -> HandlerResult {
    let basin = path_basin(basin)?;
    cluster.delete_basin(basin).await.map_err(from_shard)?;
    Ok(Response::empty(StatusCode::ACCEPTED))
}
