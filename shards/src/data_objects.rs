//! Collection of data objects (decision 0016): an object goes once none of its records is
//! left, so trim, retention and deletion free its storage exactly, with no compaction.
//!
//! Each object's catalogue entry (`kv::data_object`) names the streams with records in it,
//! the last seq_num of each there, and when they expire. An entry is gone when its stream
//! no longer exists in the partition (ids are never reused), when the stream's durable trim
//! point is past its last seq_num, or when its records have expired. An object all of whose
//! entries are gone is deleted after a grace period of three storage deadlines, so a read
//! that scanned its pointers before it became collectable has finished or failed by then;
//! a read that still finds it missing treats its records as gone (`read.rs`). The object
//! goes first, then its entry: a crash between them leaves an entry whose object is missing,
//! which the next pass deletes again (a missing object is not an error).

use crate::error::ShardError;
use crate::kv;
use crate::partition::Partition;
use slatedb::config::{DurabilityLevel, ScanOptions};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Catalogue entries judged per partition per pass, at most.
pub(crate) const OBJECTS_PER_PASS: usize = 1024;

/// Objects noted as collectable and waiting out the grace period, at most.
const COLLECTABLE_MAX: usize = 65_536;

/// What one pass remembers for the next: where it stopped, and since when each object seen
/// collectable has been (bounded by [`COLLECTABLE_MAX`]).
#[derive(Default)]
pub(crate) struct CollectionCursor {
    after: Option<u64>,
    collectable_since: HashMap<u64, Instant>,
}

impl Partition {
    /// One pass over up to [`OBJECTS_PER_PASS`] catalogue entries after the cursor (wrapping
    /// around); returns how many objects were deleted.
    pub(crate) async fn collect_data_objects(
        &self,
        cursor: &mut CollectionCursor,
    ) -> Result<usize, ShardError> {
        let grace = self.storage().deadline() * 3;
        let db = self.db().clone();
        let after = cursor.after;
        let judged: Vec<(u64, Vec<kv::data_object::Entry>)> = self
            .storage()
            .call("data object catalogue", async move {
                let options = ScanOptions {
                    durability_filter: DurabilityLevel::Remote,
                    ..Default::default()
                };
                let from = match after {
                    Some(id) => kv::data_object::key(id.saturating_add(1)).to_vec(),
                    None => vec![kv::ordinal::DATA_OBJECT],
                };
                let mut it = db
                    .scan_with_options(from..vec![kv::ordinal::DATA_OBJECT + 1], &options)
                    .await?;
                let mut out = Vec::new();
                while let Some(kv) = it.next().await? {
                    let id = kv::data_object::decode_key(&kv.key).map_err(corrupt)?;
                    let entries = kv::data_object::decode_value(&kv.value).map_err(corrupt)?;
                    out.push((id, entries));
                    if out.len() >= OBJECTS_PER_PASS {
                        break;
                    }
                }
                Ok(out)
            })
            .await?;
        cursor.after = if judged.len() < OBJECTS_PER_PASS {
            None
        } else {
            judged.last().map(|(id, _)| *id)
        };

        let live: HashSet<u64> = self
            .streams
            .borrow()
            .values()
            .flat_map(|streams| streams.values().map(|m| m.id))
            .collect();
        let now_ms = self.now_nanos() / 1_000_000;
        let mut trim_points: HashMap<u64, u64> = HashMap::new();
        let mut deleted = 0;
        for (object, entries) in judged {
            let mut gone = true;
            for e in &entries {
                // Expiry counts from sequencing here but from the write in SlateDB's TTL:
                // a grace later, reads see the records expired too.
                let expired = e.expires_at.saturating_add(grace.as_millis() as u64) <= now_ms;
                if !live.contains(&e.stream_id) || expired {
                    continue;
                }
                let trim = match trim_points.get(&e.stream_id) {
                    Some(&t) => t,
                    None => {
                        let (_, durable) = self.read_positions(e.stream_id).await?;
                        trim_points.insert(e.stream_id, durable.trim_point);
                        durable.trim_point
                    }
                };
                if trim <= e.last_seq {
                    gone = false;
                    break;
                }
            }
            if !gone {
                cursor.collectable_since.remove(&object);
                continue;
            }
            let since = match cursor.collectable_since.get(&object) {
                Some(&since) => since,
                None => {
                    // Bounded: past it, an object waits for a later pass to be noted.
                    if cursor.collectable_since.len() < COLLECTABLE_MAX {
                        cursor.collectable_since.insert(object, Instant::now());
                    }
                    continue;
                }
            };
            if since.elapsed() < grace {
                continue;
            }
            let (db, store) = (self.db().clone(), self.store.clone());
            let path = crate::append_pipeline::data_path(&self.path, object);
            self.storage()
                .call("data object delete", async move {
                    match slatedb::object_store::ObjectStoreExt::delete(&store, &path).await {
                        Ok(()) | Err(slatedb::object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(ShardError::Storage(format!("data object: {e}"))),
                    }
                    db.delete(kv::data_object::key(object)).await?;
                    Ok(())
                })
                .await?;
            cursor.collectable_since.remove(&object);
            deleted += 1;
        }
        Ok(deleted)
    }
}

fn corrupt(e: kv::DecodeError) -> ShardError {
    ShardError::Storage(format!("corrupt data object entry: {e}"))
}

/// At open, before anything is written: deletes the data objects written after the newest
/// one the catalogue names. Their rounds never became durable (a crash between the PUT and
/// the write): a catalogue entry is in the same batch as the pointers into its object, and
/// ids only grow. Only at open is it certain which writes landed: a part that failed while
/// running (a write that timed out may still land) keeps its object, and if its write did
/// not land and later rounds did, that object is left behind (a known leak, decision 0016).
pub(crate) async fn sweep_orphans(
    db: &slatedb::Db,
    store: &std::sync::Arc<dyn slatedb::object_store::ObjectStore>,
    path: &str,
) -> Result<usize, ShardError> {
    use futures::TryStreamExt;
    let options = ScanOptions {
        durability_filter: DurabilityLevel::Remote,
        order: slatedb::IterationOrder::Descending,
        ..Default::default()
    };
    let range = vec![kv::ordinal::DATA_OBJECT]..vec![kv::ordinal::DATA_OBJECT + 1];
    let newest = match db.scan_with_options(range, &options).await?.next().await? {
        Some(kv) => Some(kv::data_object::decode_key(&kv.key).map_err(corrupt)?),
        None => None,
    };
    crate::append_pipeline::seed_object_ids(newest.map_or(0, |id| id + 1));
    let dir = slatedb::object_store::path::Path::from(format!("{path}/data"));
    let listed: Vec<_> = match newest {
        Some(id) => {
            let offset = crate::append_pipeline::data_path(path, id);
            store
                .list_with_offset(Some(&dir), &offset)
                .try_collect()
                .await
        }
        None => store.list(Some(&dir)).try_collect().await,
    }
    .map_err(|e| ShardError::Storage(format!("data object list: {e}")))?;
    let mut deleted = 0;
    for meta in listed {
        match slatedb::object_store::ObjectStoreExt::delete(store, &meta.location).await {
            Ok(()) | Err(slatedb::object_store::Error::NotFound { .. }) => deleted += 1,
            Err(e) => return Err(ShardError::Storage(format!("data object: {e}"))),
        }
    }
    Ok(deleted)
}
