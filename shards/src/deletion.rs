//! Background deletion, resumable: a deleted basin or stream is first *marked* (durably), and
//! the mark is what drives the rest. A restart finds the marks and starts again, so the work
//! survives crashes; each step is idempotent.
//!
//! - Stream: remove its data (none is stored yet by the control plane), then its metadata.
//! - Basin: delete every stream in it, wait until none remain, then remove the basin.

use crate::basin_ops::NameRange;
use crate::cluster::Cluster;
use crate::limits::BASIN_CLEANUP_RECHECK_MS;
use crate::partition::Partition;
use crate::runtime::{sleep, spawn_local};
use protocol::limits::LIST_LIMIT_MAX;
use protocol::names::{BasinName, StreamName};
use std::rc::Rc;
use std::time::Duration;

/// Retries after a storage error back off to this.
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(30);

pub(crate) fn spawn_stream_cleanup(p: Rc<Partition>, basin: BasinName, stream: StreamName) {
    spawn_local(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match p.remove_stream(basin.clone(), stream.clone()).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(%basin, %stream, error = %e, "stream cleanup failed; retrying");
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                }
            }
        }
    })
    .detach();
}

pub(crate) fn spawn_basin_cleanup(cluster: Cluster, basin: BasinName) {
    spawn_local(async move {
        let mut backoff = Duration::from_millis(BASIN_CLEANUP_RECHECK_MS);
        loop {
            match basin_cleanup_step(&cluster, &basin).await {
                Ok(true) => return,
                Ok(false) => sleep(Duration::from_millis(BASIN_CLEANUP_RECHECK_MS)).await,
                Err(e) => {
                    tracing::warn!(%basin, error = %e, "basin cleanup failed; retrying");
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                }
            }
        }
    })
    .detach();
}

/// One pass: delete the streams still there; remove the basin once there are none.
/// Returns whether the basin is gone.
async fn basin_cleanup_step(
    cluster: &Cluster,
    basin: &BasinName,
) -> Result<bool, crate::error::ShardError> {
    let page = cluster
        .list_streams_unchecked(
            basin,
            NameRange {
                prefix: String::new(),
                start_after: String::new(),
                limit: LIST_LIMIT_MAX,
            },
        )
        .await?;
    if page.items.is_empty() {
        cluster.remove_basin(basin.clone()).await?;
        return Ok(true);
    }
    for s in page.items {
        if s.meta.deleted_at_nanos.is_none() {
            match cluster.delete_stream(basin.clone(), s.name).await {
                Ok(()) | Err(crate::error::ShardError::StreamNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(false)
}
