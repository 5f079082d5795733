//! Strand's shards: the thread-per-core runtime, partitions on SlateDB, and basin and stream
//! state. Nothing here knows HTTP; the server reaches every partition through [`Cluster`].
//!
//! Threads per shard: one glommio executor pinned to a core (the pump, the front end) and one
//! tokio runtime thread pinned beside it (the shard's SlateDB instances).

mod append;
pub mod append_pipeline;
pub mod basin_ops;
pub mod clock;
pub mod cluster;
mod data_objects;
mod deletion;
pub mod error;
pub mod fault_store;
mod follow_hub;
pub mod kv;
mod l0_watch;
mod lifecycle;
pub mod limits;
pub mod liveness;
pub mod memory_store;
pub mod notify;
pub mod object_store_metrics;
pub mod partition;
pub mod placement;
pub mod read;
pub mod record_cipher;
pub mod runtime;
mod shard;
pub mod shard_metrics;
pub mod store;
pub mod stream_ops;
pub mod stream_state;
pub mod token_ops;
pub mod usage_meter;
pub mod usage_ops;
mod write_pacer;

pub use basin_ops::{BasinEntry, NameRange, Page, Provision};
pub use cluster::{Cluster, StagedAppend};
pub use error::ShardError;
pub use follow_hub::FollowRead;
pub use read::{ReadKey, ReadOutput, ReadRequest, ReadStart};
pub use shard::{ServeFn, ShardContext};
pub use stream_ops::{BasinView, StreamEntry};

use clock::SharedClock;
use partition::Partition;
use placement::{shard_for_partition, ShardId};
use runtime::inbox::inbox;
use runtime::storage_runtime::{StorageRuntime, StorageThread};
use shard::{Envelope, Shard};
use std::time::Duration;
use store::{ObjectStoreFactory, StoreConfig};

pub struct ShardsConfig {
    pub shard_count: usize,
    pub pipeline: append_pipeline::PipelineConfig,
    pub store: StoreConfig,
    pub storage_memory: store::StorageMemory,
    pub clock: SharedClock,
}

/// Shards that are up: their storage is open and their inboxes are served.
pub struct Running {
    cluster: Cluster,
    shard_threads: Vec<std::thread::JoinHandle<()>>,
    storage_threads: Vec<StorageThread>,
    pub partition_count: u32,
}

/// How long start-up waits for every shard to open its partitions.
const OPEN_TIMEOUT: Duration = Duration::from_secs(300);

/// Starts the shards, opens every partition, and returns once all are ready.
pub fn start(config: ShardsConfig) -> Result<Running, String> {
    let factory = ObjectStoreFactory::new(&config.store.kind)?;
    let memory_room = factory.memory_room(config.store.memory_store_bytes);
    let layout = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("start-up runtime: {e}"))?;
        let store = factory.store()?;
        rt.block_on(store::load_or_init_layout(
            &store,
            &config.store.path,
            config.store.partitions_on_init,
        ))?
    };
    let settings = store::slatedb_settings(
        &config.store.kind,
        config.storage_memory,
        layout.partition_count,
    )?;
    let cpus = runtime::allowed_cpus();
    let n = config.shard_count;
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..n).map(|_| inbox(limits::INBOX_DEPTH_MAX)).unzip();
    let liveness = std::sync::Arc::new(liveness::Liveness::new(n));
    let metrics: Vec<_> = (0..n)
        .map(|_| std::sync::Arc::new(shard_metrics::ShardMetrics::default()))
        .collect();
    let cluster = Cluster::new(
        senders,
        layout.partition_count,
        liveness.clone(),
        metrics.clone(),
        memory_room.clone(),
    );
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<(ShardId, Result<(), String>)>();
    let mut running = Running {
        cluster: cluster.clone(),
        shard_threads: Vec::new(),
        storage_threads: Vec::new(),
        partition_count: layout.partition_count,
    };
    for (id, rx) in receivers.into_iter().enumerate() {
        let cpu = cpus[id % cpus.len()];
        let storage_alive = liveness.storage_guard(id);
        let (storage, storage_thread) = StorageRuntime::start(
            format!("storage-{id}"),
            cpu,
            storage_alive,
            config.pipeline.storage_deadline,
        )
        .map_err(|e| format!("storage thread {id}: {e}"))?;
        running.storage_threads.push(storage_thread);
        let owned: Vec<u32> = (0..layout.partition_count)
            .filter(|&p| shard_for_partition(p, n) == id)
            .collect();
        let with = partition::OpenWith {
            store: factory.store()?,
            base_path: config.store.path.clone(),
            settings: settings.clone(),
            cache: store::shard_cache(config.storage_memory, n),
            storage: storage.clone(),
            clock: config.clock.clone(),
            liveness: liveness.clone(),
        };
        let (cluster, ready) = (cluster.clone(), ready_tx.clone());
        let pipeline_config = config.pipeline;
        let memory_room = memory_room.clone();
        let alive = liveness.shard_guard(id);
        let shard_metrics = metrics[id].clone();
        let thread = runtime::shard_thread(format!("shard-{id}"), cpu, move || async move {
            let _alive = alive;
            shard_metrics::install(shard_metrics);
            usage_meter::install();
            let opened = futures::future::join_all(
                owned.into_iter().map(|p| Partition::open(p, with.clone())),
            )
            .await;
            let partitions: Result<Vec<_>, _> = opened.into_iter().collect();
            match partitions {
                Ok(partitions) => {
                    let _ = ready.send((id, Ok(())));
                    let pipeline =
                        append_pipeline::AppendPipeline::new(storage, pipeline_config, memory_room);
                    Shard::new(id, partitions, cluster, pipeline).pump(rx).await;
                }
                Err(e) => {
                    let _ = ready.send((id, Err(format!("shard {id}: opening storage: {e}"))));
                }
            }
        })
        .map_err(|e| format!("shard thread {id}: {e}"))?;
        running.shard_threads.push(thread);
    }
    drop(ready_tx);
    for _ in 0..n {
        match ready_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok((_, Ok(()))) => {}
            Ok((_, Err(e))) => {
                running.shutdown();
                return Err(e);
            }
            Err(_) => {
                running.shutdown();
                return Err("timed out opening storage".into());
            }
        }
    }
    Ok(running)
}

impl Running {
    pub fn cluster(&self) -> Cluster {
        self.cluster.clone()
    }

    /// Starts each shard's front end; `make(shard)` builds it on the calling thread.
    pub fn start_serving(&self, make: impl Fn(ShardId) -> ServeFn) {
        for id in 0..self.cluster.shard_count() {
            self.send_control(id, Envelope::StartServing(make(id)));
        }
    }

    /// Graceful stop: every shard stops accepting and drains (bounded), then every shard
    /// closes its partitions (flushing SlateDB), then the threads end.
    pub fn shutdown(mut self) {
        let n = self.cluster.shard_count();
        let mut waits = Vec::new();
        for id in 0..n {
            let (tx, rx) = futures::channel::oneshot::channel();
            if self.send_control(id, Envelope::Drain(tx)) {
                waits.push(rx);
            }
        }
        for w in waits.drain(..) {
            let _ = futures::executor::block_on(w);
        }
        for id in 0..n {
            let (tx, rx) = futures::channel::oneshot::channel();
            if self.send_control(id, Envelope::Close(tx)) {
                waits.push(rx);
            }
        }
        for w in waits {
            let _ = futures::executor::block_on(w);
        }
        for t in self.shard_threads.drain(..) {
            let _ = t.join();
        }
        self.storage_threads.clear();
    }

    /// Control messages must get through even to a busy inbox: retry briefly.
    fn send_control(&self, shard: ShardId, mut envelope: Envelope) -> bool {
        for _ in 0..1000 {
            match self.cluster.try_send_control(shard, envelope) {
                Ok(()) => return true,
                Err(back) => {
                    envelope = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        false
    }
}
