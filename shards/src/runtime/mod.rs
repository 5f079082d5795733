//! The executor seam. glommio and tokio are named only under this module: the rest of Strand
//! spawns, sleeps, listens and hops through these few items, so the executor stays a visible,
//! replaceable choice (glommio is lightly maintained upstream).
//!
//! - [`shard_thread`]: one glommio executor pinned to one core.
//! - [`inbox`]: crossbeam-channel between threads, with a waker so no shard thread blocks.
//! - [`storage_runtime`]: each shard's small tokio runtime, where its SlateDB instances live.

pub mod inbox;
pub mod storage_runtime;

use std::future::Future;
use std::time::Duration;

pub use glommio::net::{TcpListener, TcpStream};
pub use glommio::Task;

/// Spawns a task on the current shard.
pub fn spawn_local<T: 'static>(fut: impl Future<Output = T> + 'static) -> Task<T> {
    glommio::spawn_local(fut)
}

/// Tasks that panicked and were contained by [`spawn_isolated`], process-wide.
static TASK_PANICS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Panics contained so far (exported on `/metrics`).
pub fn task_panics() -> u64 {
    TASK_PANICS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Spawns a detached task whose panic ends only that task. glommio propagates a task's
/// panic out of the executor, which would end the shard thread and leave its partitions
/// answering 503 forever; a connection or request task must never be able to do that.
/// The panic is logged and counted; whatever the task owned is dropped, so its peers see
/// a closed connection or a dropped reply (503), not a hang.
pub fn spawn_isolated(what: &'static str, fut: impl Future<Output = ()> + 'static) {
    use futures::FutureExt;
    glommio::spawn_local(async move {
        if let Err(panic) = std::panic::AssertUnwindSafe(fut).catch_unwind().await {
            TASK_PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(task = what, panic = %msg, "task panicked; contained");
        }
    })
    .detach();
}

/// Sleeps on the current shard's timer.
pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await
}

/// Runs `fut` to completion, or returns `None` after `d`.
pub async fn timeout<T>(d: Duration, fut: impl Future<Output = T>) -> Option<T> {
    use futures::future::{select, Either};
    let fut = std::pin::pin!(fut);
    let timer = std::pin::pin!(sleep(d));
    match select(fut, timer).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// Runs `fut` on a fresh, unpinned executor on this thread (tests and tools, not shards).
pub fn block_on_local<T: 'static>(fut: impl Future<Output = T> + 'static) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1 << 20)
        .make()
        .expect("glommio executor starts")
        .run(fut)
}

/// The CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity writes into the zeroed set we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to one CPU (used for each shard's storage thread).
pub fn pin_current_thread(cpu: usize) {
    // SAFETY: plain syscall on a set we own; failure only loses the pinning.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!(cpu, "could not pin storage thread");
        }
    }
}

/// Starts a thread running one glommio executor pinned to `cpu`, driving `main` to completion.
/// `make_main` runs on the new thread, so the future need not be `Send`.
pub fn shard_thread<F, Fut>(
    name: String,
    cpu: usize,
    make_main: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(cpu))
                .name(&name)
                // glommio's io memory serves DMA file I/O, which Strand does not use: keep
                // it small (10 MiB per executor by default).
                .io_memory(1 << 20)
                // A short spin before parking halves cross-thread hop latency (NOTES.md).
                .spin_before_park(Duration::from_micros(50))
                .make()
                .expect("glommio executor starts (io_uring and ulimit -l >= 512 KiB)");
            ex.run(make_main());
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without isolation glommio re-raises the panic from `run` and the shard thread ends.
    #[test]
    fn a_panicking_task_leaves_its_shard_running() {
        let before = task_panics();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = shard_thread(
            "isolation-test".into(),
            allowed_cpus()[0],
            move || async move {
                spawn_isolated("test", async { panic!("injected") });
                sleep(Duration::from_millis(20)).await;
                // The executor still runs tasks after the panic.
                let later = spawn_local(async { 7 }).await;
                tx.send(later).unwrap();
            },
        )
        .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
        assert!(t.join().is_ok(), "shard thread ended by the panic");
        assert!(task_panics() > before);
    }
}
