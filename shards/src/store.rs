//! Where partitions live: one object store (in memory, a local directory, or an S3-compatible
//! bucket), one SlateDB database per partition under `<path>/<partition>/`, and a small
//! layout object `<path>/strand-layout.json` that fixes the partition count forever.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Which object store holds the data.
#[derive(Debug, Clone)]
pub enum StoreKind {
    /// Not durable across restarts: the emulator mode, for development and benchmarks.
    Memory,
    /// A local directory (created if missing).
    Local(std::path::PathBuf),
    /// An S3-compatible bucket, configured from the standard `AWS_*` variables.
    Bucket(String),
    /// A store built by the embedder (tests wrap one in `fault_store`); shared by all shards.
    Custom(Arc<dyn ObjectStore>),
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// Prefix inside the store (`--path`).
    pub path: String,
    /// Partition count written at first initialisation; ignored afterwards.
    pub partitions_on_init: u32,
    /// With the in-memory store: appends are refused (503) while it holds this many bytes.
    pub memory_store_bytes: u64,
}

/// The persisted layout. Versioned so a future format can be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub version: u32,
    pub partition_count: u32,
}

const LAYOUT_VERSION: u32 = 1;
const LAYOUT_OBJECT: &str = "strand-layout.json";

/// Partitions allowed at initialisation: at least one, and few enough that idle SlateDB
/// instances (tokio tasks, manifest polls) stay cheap.
pub const PARTITIONS_MAX: u32 = 256;

/// Hands each shard its object store. In-memory and local stores are shared (one namespace);
/// a bucket client is built per shard so each shard's connection pool lives on its own
/// storage runtime (shard-nothing, and no pooled connection outlives the runtime it was
/// made on).
#[derive(Clone)]
pub struct ObjectStoreFactory {
    kind: StoreKind,
    shared: Option<Arc<dyn ObjectStore>>,
    memory: Option<crate::memory_store::MemoryStore>,
}

impl ObjectStoreFactory {
    pub fn new(kind: &StoreKind) -> Result<Self, String> {
        let (shared, memory) = match kind {
            StoreKind::Bucket(_) => (None, None),
            StoreKind::Memory => {
                let m = crate::memory_store::MemoryStore::new();
                let counted = crate::object_store_metrics::CountingStore::wrap(Arc::new(m.clone()));
                (Some(counted), Some(m))
            }
            _ => (Some(build_object_store(kind)?), None),
        };
        Ok(Self {
            kind: kind.clone(),
            shared,
            memory,
        })
    }

    /// With the in-memory store, how full it is against `capacity` bytes.
    pub fn memory_room(&self, capacity: u64) -> Option<crate::memory_store::StoreRoom> {
        self.memory.as_ref().map(|m| m.room(capacity))
    }

    pub fn store(&self) -> Result<Arc<dyn ObjectStore>, String> {
        match &self.shared {
            Some(s) => Ok(s.clone()),
            None => build_object_store(&self.kind),
        }
    }
}

fn build_object_store(kind: &StoreKind) -> Result<Arc<dyn ObjectStore>, String> {
    build_uncounted(kind).map(crate::object_store_metrics::CountingStore::wrap)
}

fn build_uncounted(kind: &StoreKind) -> Result<Arc<dyn ObjectStore>, String> {
    match kind {
        // Built once, in `ObjectStoreFactory::new`, so that its capacity counts every write.
        StoreKind::Memory => Err("the in-memory store is built by the factory".into()),
        StoreKind::Custom(store) => Ok(store.clone()),
        StoreKind::Local(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create --local-root {}: {e}", dir.display()))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| format!("cannot open --local-root {}: {e}", dir.display()))?;
            Ok(Arc::new(fs))
        }
        StoreKind::Bucket(bucket) => {
            // Each HTTP call gives up within 30 s (object_store's default is 3 min); SlateDB
            // retries above it, and every caller of SlateDB has its own deadline.
            let retry = object_store::RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                ..Default::default()
            };
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry);
            // s2-lite's variable for a custom endpoint; object_store reads AWS_ENDPOINT.
            if let Ok(ep) = std::env::var("AWS_ENDPOINT_URL_S3") {
                b = b.with_endpoint(ep);
            }
            let s3 = b
                .build()
                .map_err(|e| format!("cannot configure bucket {bucket}: {e}"))?;
            Ok(Arc::new(s3))
        }
    }
}

pub fn partition_path(base: &str, partition: u32) -> Path {
    let base = base.trim_matches('/');
    if base.is_empty() {
        Path::from(format!("{partition}"))
    } else {
        Path::from(format!("{base}/{partition}"))
    }
}

fn layout_path(base: &str) -> Path {
    let base = base.trim_matches('/');
    if base.is_empty() {
        Path::from(LAYOUT_OBJECT)
    } else {
        Path::from(format!("{base}/{LAYOUT_OBJECT}"))
    }
}

/// Reads the layout, or writes it with `partitions_on_init` if this store is new. The write
/// is create-only, so two servers initialising one bucket at once agree on one layout.
pub async fn load_or_init_layout(
    store: &Arc<dyn ObjectStore>,
    base: &str,
    partitions_on_init: u32,
) -> Result<Layout, String> {
    let path = layout_path(base);
    for _ in 0..3 {
        match store.get(&path).await {
            Ok(got) => {
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| format!("reading {path}: {e}"))?;
                let layout: Layout =
                    serde_json::from_slice(&bytes).map_err(|e| format!("corrupt {path}: {e}"))?;
                if layout.version != LAYOUT_VERSION || layout.partition_count == 0 {
                    return Err(format!("unsupported layout in {path}: {layout:?}"));
                }
                return Ok(layout);
            }
            Err(object_store::Error::NotFound { .. }) => {
                let layout = Layout {
                    version: LAYOUT_VERSION,
                    partition_count: partitions_on_init,
                };
                let body = serde_json::to_vec(&layout).expect("layout serializes");
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match store.put_opts(&path, PutPayload::from(body), opts).await {
                    Ok(_) => return Ok(layout),
                    // Someone else initialised it first: read theirs.
                    Err(object_store::Error::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(format!("writing {path}: {e}")),
                }
            }
            Err(e) => return Err(format!("reading {path}: {e}")),
        }
    }
    Err(format!("could not settle {path}"))
}

/// What SlateDB may hold in memory, all partitions together: a share of the server's
/// `--memory-bytes`. Without it each partition would keep up to 256 MiB of unflushed
/// memtables and 640 MiB of block and metadata cache (SlateDB's defaults), several GiB in
/// all, outside every bound.
#[derive(Debug, Clone, Copy)]
pub struct StorageMemory {
    /// Memtables not yet in L0, summed over partitions.
    pub unflushed_bytes: u64,
    /// Block and metadata caches, summed over shards (each shard's partitions share one).
    pub cache_bytes: u64,
}

/// A partition's share of the unflushed budget, and the L0 SST size that fits it (a
/// memtable must freeze well before the bound, or writes would wait on a flush that
/// cannot start).
pub fn unflushed_per_partition(memory: StorageMemory, partitions: u32) -> (usize, usize) {
    const FLOOR: u64 = 8 << 20;
    let share = (memory.unflushed_bytes / partitions.max(1) as u64).max(FLOOR);
    let l0 = (share / 2).min(64 << 20);
    (share as usize, l0 as usize)
}

/// One shard's block and metadata cache (3:1), shared by its partitions (each under its own
/// cache id).
pub fn shard_cache(
    memory: StorageMemory,
    shards: usize,
) -> std::sync::Arc<dyn slatedb::db_cache::DbCache> {
    use slatedb::db_cache::foyer::{FoyerCache, FoyerCacheOptions};
    let total = (memory.cache_bytes / shards.max(1) as u64).max(4 << 20);
    let cache = |bytes: u64| -> std::sync::Arc<dyn slatedb::db_cache::DbCache> {
        std::sync::Arc::new(FoyerCache::new_with_opts(FoyerCacheOptions {
            max_capacity: bytes,
            ..Default::default()
        }))
    };
    std::sync::Arc::new(
        slatedb::db_cache::SplitCache::new()
            .with_block_cache(Some(cache(total / 4 * 3)))
            .with_meta_cache(Some(cache(total / 4)))
            .build(),
    )
}

/// SlateDB settings for one partition: tuned for many small instances whose writes are
/// flushed by their writer, then overridden by any `SL8_*` variables (as in s2-lite).
pub fn slatedb_settings(
    kind: &StoreKind,
    memory: StorageMemory,
    partitions: u32,
) -> Result<slatedb::Settings, String> {
    let (unflushed, l0) = unflushed_per_partition(memory, partitions);
    let mut s = slatedb::Settings {
        // Strand flushes after each write it must make durable; the interval is only a
        // safety net for SlateDB's own bookkeeping.
        flush_interval: Some(Duration::from_secs(1)),
        // Idle instances poll the manifest: 1 s default is ~3 GETs/s each.
        manifest_poll_interval: Duration::from_secs(10),
        // Measured with `s2 bench` above saturation: 16 MiB L0 SSTs with the default 8 L0
        // slots stalled writes for seconds (p99 ack ~8 s, 26 MiB/s); 64 MiB and 16 slots
        // keep the compactor ahead. Smaller when the memory budget says so (see above).
        l0_sst_size_bytes: l0,
        // The position tree's L0 SSTs always overlap (each round rewrites a stream's
        // position key), so the per-key bound is the one that binds; at SlateDB's default
        // of 8, one stream at saturation filled it while a compaction ran and writes froze
        // for 1-3 s. 32 slots, with writes paced from 16 (`write_pacer`), turn that freeze
        // into slower acks.
        l0_max_ssts: 32,
        l0_max_ssts_per_key: 32,
        // Bounds each partition's unflushed memory; past it SlateDB applies backpressure.
        max_unflushed_bytes: unflushed,
        // Writer-driven flushes are frequent; don't let their count force tiny L0s.
        max_wal_flushes_before_l0_flush: 1 << 20,
        ..Default::default()
    };
    // SlateDB's compactor and its worker each poll every 5 s, so a partition whose L0 filled
    // waited up to ~10 s for compaction to start, and writes froze meanwhile. They poll
    // every 250 ms (1 s on a bucket, where each poll is a billed GET). Prompt compaction also
    // lowers peak memory: stalled writes are what piles up (docs/PERFORMANCE.md: the bounded
    // RSS test peaks ~70 MiB lower; slower, smaller compactions raised it). Any `SL8_*`
    // setting overrides these.
    let poll = match kind {
        StoreKind::Bucket(_) => Duration::from_secs(1),
        _ => Duration::from_millis(250),
    };
    let mut compactor = s.compactor_options.take().unwrap_or_default();
    compactor.poll_interval = poll;
    // Compactions of SSTs that do not overlap move them instead of rewriting them: with
    // each key type in its own tree (`kv::segments`), one stream's records are never
    // rewritten (decision 0015).
    compactor.enable_trivial_move = true;
    if let Some(worker) = compactor.worker.as_mut() {
        worker.compactions_poll_interval = poll;
    }
    s.compactor_options = Some(compactor);
    if let (StoreKind::Memory, Some(gc)) = (kind, s.garbage_collector_options.as_mut()) {
        // In memory nothing outlives the process and no other reader exists, so garbage need
        // not wait SlateDB's 5-15 minutes: at 150 MiB/s the WAL SSTs and the SSTs compactions
        // replaced held ~3x the appended bytes in RAM (docs/PERFORMANCE.md). WAL SSTs go once
        // flushed into L0 (only recovery reads them); replaced SSTs after a minute, well
        // past the storage deadline that bounds any read still holding an older view.
        let dir = |interval: u64, min_age: u64| slatedb::config::GarbageCollectorDirectoryOptions {
            interval: Some(Duration::from_secs(interval)),
            min_age: Duration::from_secs(min_age),
            dry_run: false,
        };
        gc.wal_options = Some(dir(2, 5));
        gc.compacted_options = Some(dir(10, 60));
    }
    if let StoreKind::Local(_) = kind {
        // The local filesystem store cannot do If-Match: boundary files must be off.
        if let Some(gc) = s.garbage_collector_options.as_mut() {
            gc.boundary_files_enabled = false;
        }
    }
    slatedb::Settings::from_env_with_default("SL8_", s)
        .map_err(|e| format!("invalid SL8_* setting: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed_at_init() {
        let store = ObjectStoreFactory::new(&StoreKind::Memory)
            .unwrap()
            .store()
            .unwrap();
        futures::executor::block_on(async {
            let a = load_or_init_layout(&store, "p", 8).await.unwrap();
            let b = load_or_init_layout(&store, "p", 3).await.unwrap();
            assert_eq!(a.partition_count, 8);
            assert_eq!(b, a);
        });
    }

    const BUDGET: StorageMemory = StorageMemory {
        unflushed_bytes: 128 << 20,
        cache_bytes: 128 << 20,
    };

    #[test]
    fn compaction_polls_are_prompt_and_cheaper_on_a_bucket() {
        let polls = |kind: &StoreKind| {
            let s = slatedb_settings(kind, BUDGET, 8).unwrap();
            let c = s.compactor_options.unwrap();
            (c.poll_interval, c.worker.unwrap().compactions_poll_interval)
        };
        let quick = Duration::from_millis(250);
        assert_eq!(polls(&StoreKind::Memory), (quick, quick));
        let second = Duration::from_secs(1);
        assert_eq!(polls(&StoreKind::Bucket("b".into())), (second, second));
    }

    #[test]
    fn in_memory_garbage_goes_promptly_and_elsewhere_at_slatedbs_pace() {
        let gc = |kind: &StoreKind| {
            let s = slatedb_settings(kind, BUDGET, 8).unwrap();
            let gc = s.garbage_collector_options.unwrap();
            (
                gc.wal_options.unwrap().min_age,
                gc.compacted_options.unwrap().min_age,
            )
        };
        let (wal, compacted) = gc(&StoreKind::Memory);
        assert_eq!(wal, Duration::from_secs(5));
        assert_eq!(compacted, Duration::from_secs(60));
        let defaults = slatedb::config::GarbageCollectorDirectoryOptions::default().min_age;
        assert_eq!(gc(&StoreKind::Bucket("b".into())), (defaults, defaults));
    }

    #[test]
    fn paths() {
        assert_eq!(partition_path("", 3).as_ref(), "3");
        assert_eq!(partition_path("/a/b/", 3).as_ref(), "a/b/3");
    }
}
