//! JSON request and response bodies of the control plane (API.md §5-6).

use crate::config::{BasinConfig, Cipher, StreamConfig};
use crate::names::{BasinName, LocationName, StreamName};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct CreateBasinRequest {
    pub basin: BasinName,
    #[serde(default)]
    pub config: Option<BasinConfig>,
    #[serde(default)]
    pub location: Option<LocationName>,
}

/// `PUT /v1/basins/{basin}` body.
#[derive(Debug, Default, Deserialize)]
pub struct EnsureBasinRequest {
    #[serde(default)]
    pub config: Option<BasinConfig>,
    #[serde(default)]
    pub location: Option<LocationName>,
}

#[derive(Debug, Deserialize)]
pub struct CreateStreamRequest {
    pub stream: StreamName,
    #[serde(default)]
    pub config: Option<StreamConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BasinInfo {
    pub name: String,
    /// Always `null`: Strand, like s2-lite, has one location.
    pub location: Option<String>,
    pub created_at: String,
    pub deleted_at: Option<String>,
    /// `deleting` iff `deleted_at` is set (deprecated upstream, still serialized).
    pub state: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ListBasinsResponse {
    pub basins: Vec<BasinInfo>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    pub name: String,
    pub created_at: String,
    pub deleted_at: Option<String>,
    pub cipher: Option<Cipher>,
}

#[derive(Debug, Serialize)]
pub struct ListStreamsResponse {
    pub streams: Vec<StreamInfo>,
    pub has_more: bool,
}
