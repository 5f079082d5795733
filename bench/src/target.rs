//! The S2 endpoint under test: built from `--endpoint` or the usual `S2_*` variables, so
//! the same binary measures Strand, `s2 lite` or s2.dev. Each client is its own connection
//! pool; workloads spread streams over `--clients` of them.

use futures::{stream, StreamExt, TryStreamExt};
use s2_sdk::types::{
    BasinConfig, BasinName, CreateBasinInput, CreateStreamInput, S2Config, S2Endpoints,
    StreamConfig, StreamName,
};
use s2_sdk::{S2Basin, S2Stream, S2};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone)]
pub struct Target {
    endpoints: S2Endpoints,
    token: String,
}

impl Target {
    /// `--endpoint URL` wins; otherwise `S2_ACCOUNT_ENDPOINT`/`S2_BASIN_ENDPOINT`; otherwise
    /// s2.dev. `S2_ACCESS_TOKEN` is sent as given (local servers ignore it).
    pub fn new(endpoint: Option<&str>) -> Result<Self, String> {
        let endpoints = match endpoint {
            Some(e) => S2Endpoints::for_endpoint(e),
            None if std::env::var_os("S2_ACCOUNT_ENDPOINT").is_some() => S2Endpoints::from_env(),
            None => Ok(S2Endpoints::for_cloud()),
        }
        .map_err(|e| format!("bad endpoint: {e}"))?;
        let token = std::env::var("S2_ACCESS_TOKEN").unwrap_or_else(|_| "strand-bench".into());
        Ok(Self { endpoints, token })
    }

    pub fn client(&self) -> S2 {
        let config = S2Config::new(self.token.clone()).with_endpoints(self.endpoints.clone());
        S2::new(config).expect("an S2 client")
    }

    /// `count` independent clients (connection pools).
    pub fn clients(&self, count: usize) -> Vec<S2> {
        (0..count.max(1)).map(|_| self.client()).collect()
    }
}

/// A basin name no earlier run used: `sb-<workload>-<pid>-<n>`.
pub fn fresh_basin_name(workload: &str) -> BasinName {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 1_000_000)
        .unwrap_or(0);
    format!(
        "sb-{}-{}-{millis}-{n}",
        workload.replace('_', "-"),
        std::process::id()
    )
    .parse()
    .expect("a valid basin name")
}

/// Creates a basin whose streams default to `storage_class` (and are created on first
/// append when `create_on_append`).
pub async fn create_basin(
    s2: &S2,
    workload: &str,
    storage_class: &str,
    create_on_append: bool,
) -> Result<BasinName, String> {
    let name = fresh_basin_name(workload);
    let config = BasinConfig::new()
        .with_default_stream_config(StreamConfig::new().with_storage_class(storage_class))
        .with_create_stream_on_append(create_on_append);
    s2.create_basin(CreateBasinInput::new(name.clone()).with_config(config))
        .await
        .map_err(|e| format!("create basin {name}: {e}"))?;
    Ok(name)
}

pub fn stream_name(i: usize) -> StreamName {
    format!("s{i:05}").parse().expect("a valid stream name")
}

/// Creates streams `0..count` with up to 64 requests in flight.
pub async fn create_streams(basin: &S2Basin, count: usize) -> Result<(), String> {
    stream::iter(0..count)
        .map(|i| {
            let basin = basin.clone();
            async move {
                basin
                    .create_stream(CreateStreamInput::new(stream_name(i)))
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("create stream {i}: {e}"))
            }
        })
        .buffer_unordered(64)
        .try_collect::<()>()
        .await
}

/// Stream `i` through client `i mod clients`.
pub fn stream_handle(clients: &[S2], basin: &BasinName, i: usize) -> S2Stream {
    clients[i % clients.len()]
        .basin(basin.clone())
        .stream(stream_name(i))
}
