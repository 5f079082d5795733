//! Watches a partition's L0 for the write pacer, and keeps its view fresh while it is high.
//!
//! SlateDB (0.18) turns a frozen memtable into L0 SSTs only while the L0 of each tree
//! (key type, decision 0015) it writes has a free slot (`l0_max_ssts`, and
//! `l0_max_ssts_per_key` for overlapping SSTs; the position tree's always overlap, since
//! every round rewrites a stream's position key). The count published is the fullest
//! tree's. The compactor frees slots by
//! writing a new manifest, but the writer sees that manifest only at its next poll
//! (`manifest_poll_interval`, 10 s here so idle partitions cost few GETs): until then a full
//! L0 stays full to the writer, and the pacer would go on slowing writes that compaction
//! has already made room for. So while the L0 is over the pacer's mark this task refreshes
//! the manifest every [`INTERVAL`]; the rest of the time it waits, at no cost, for the
//! database's status to change, and publishes the L0 count each time it does.

use slatedb::Db;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the manifest is read while the L0 is high. Each read is a LIST and a GET; it
/// only happens while the partition is writing hard, which PUTs far more often.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// The L0 size at which SlateDB stops flushing memtables, for these settings.
pub fn l0_full_at(settings: &slatedb::Settings) -> usize {
    settings.l0_max_ssts.min(settings.l0_max_ssts_per_key)
}

/// The L0 size above which writes are paced: half way to full, so the pacer has room to
/// find a rate compaction keeps up with before SlateDB stops writes.
pub fn pace_above(full_at: usize) -> usize {
    full_at / 2
}

/// Runs on the partition's storage runtime until the database closes, publishing the L0
/// count to `l0`. Each refresh has `deadline`; one that fails or times out is simply tried
/// again at the next tick (a database that closes ends the task).
pub async fn watch_l0(db: Arc<Db>, l0: Arc<AtomicUsize>, high: usize, deadline: Duration) {
    let mut status = db.subscribe();
    loop {
        let (closed, count) = {
            let s = status.borrow_and_update();
            (
                s.close_reason.is_some(),
                s.current_manifest
                    .segments()
                    .iter()
                    .map(|seg| seg.l0().len())
                    .chain([s.current_manifest.l0().len()])
                    .max()
                    .unwrap_or(0),
            )
        };
        if closed {
            return;
        }
        l0.store(count, Ordering::Relaxed);
        if count > high {
            tokio::time::sleep(INTERVAL).await;
            let _ = tokio::time::timeout(deadline, db.refresh_manifest()).await;
        } else if status.changed().await.is_err() {
            return;
        }
    }
}
