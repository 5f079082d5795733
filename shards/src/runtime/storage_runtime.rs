//! Each shard's tokio runtime. SlateDB 0.18 needs tokio (it spawns tasks and uses tokio timers;
//! polled on glommio it panics with "no reactor running"), so every shard gets one small
//! current-thread runtime on its own thread, pinned to the shard's core, hosting only that
//! shard's partitions. Adding cores thus adds write capacity rather than queueing all shards
//! on one SlateDB thread. A shard crosses once per operation (one group-commit round later),
//! never per record: a crossing costs ~5 µs CPU each way (NOTES.md).

use crate::error::ShardError;
use std::future::Future;
use std::time::Duration;

#[derive(Clone)]
pub struct StorageRuntime {
    handle: tokio::runtime::Handle,
    /// Every storage call's deadline (`--storage-deadline-ms`): SlateDB retries a failing
    /// object store without end, so without one an outage would hang callers for good.
    deadline: Duration,
}

/// Owns the runtime's thread; dropping it (after the shard closed its partitions) ends it.
pub struct StorageThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
}

/// The storage runtime went away (shutdown or a panic inside SlateDB's task).
#[derive(Debug)]
pub struct StorageTaskLost;

impl StorageRuntime {
    /// `alive` is held by the thread while it runs (see `liveness`).
    pub fn start(
        name: String,
        cpu: usize,
        alive: crate::liveness::AliveGuard,
        deadline: Duration,
    ) -> std::io::Result<(StorageRuntime, StorageThread)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(name.clone())
            .build()?;
        let handle = rt.handle().clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let join = std::thread::Builder::new().name(name).spawn(move || {
            let _alive = alive;
            super::pin_current_thread(cpu);
            rt.block_on(async {
                let _ = stop_rx.await;
            });
            // Dropping the runtime here cancels what SlateDB left behind after close.
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        })?;
        Ok((
            StorageRuntime { handle, deadline },
            StorageThread {
                stop: Some(stop_tx),
                join: Some(join),
            },
        ))
    }

    /// Runs `fut` on the storage runtime and awaits its result from any executor.
    pub async fn run<F>(&self, fut: F) -> Result<F::Output, StorageTaskLost>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut).await.map_err(|_| StorageTaskLost)
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Runs one storage call under the deadline. Past it the call is dropped and the
    /// caller told its outcome is unknown (503): a write may still land, as with S2.
    pub async fn call<T, F>(&self, what: &'static str, fut: F) -> Result<T, ShardError>
    where
        F: Future<Output = Result<T, ShardError>> + Send + 'static,
        T: Send + 'static,
    {
        let deadline = self.deadline;
        let started = std::time::Instant::now();
        // The timer must be made on the storage runtime (tokio), not on the caller's executor.
        let timed = async move { tokio::time::timeout(deadline, fut).await };
        let result = match self.run(timed).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ShardError::StorageTimeout {
                what,
                after: deadline,
            }),
            Err(StorageTaskLost) => Err(ShardError::Unavailable("storage runtime lost")),
        };
        crate::shard_metrics::with(|m| {
            m.storage_call_seconds.observe_duration(started.elapsed());
            match &result {
                Ok(_) => {}
                Err(ShardError::StorageTimeout { .. }) => m.storage_call_timeouts.add(1),
                Err(_) => m.storage_call_errors.add(1),
            }
        });
        result
    }
}

impl Drop for StorageThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}
