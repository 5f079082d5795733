//! Whether each shard's threads are still running. A shard thread or storage thread that
//! ended (a panic that escaped task isolation, or a runtime that died) leaves its
//! partitions unreachable; `/health` must say so rather than answer OK. So does a partition
//! whose SlateDB closed under it (fenced by another writer, or a background task panicked).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct Liveness {
    /// Per shard: (shard thread, storage thread).
    threads: Vec<(Arc<AtomicBool>, Arc<AtomicBool>)>,
    /// Partitions whose database closed while serving, and why. Bounded by the partition
    /// count.
    closed: Mutex<BTreeMap<u32, &'static str>>,
}

/// Held by a thread for as long as it runs; dropping it (on return or unwind) marks the
/// thread dead.
pub struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Liveness {
    /// Every thread starts dead until its guard is taken.
    pub fn new(shards: usize) -> Liveness {
        Liveness {
            threads: (0..shards)
                .map(|_| (Arc::default(), Arc::default()))
                .collect(),
            closed: Mutex::default(),
        }
    }

    /// Records that partition `id`'s database closed for `why` while serving.
    pub fn partition_closed(&self, id: u32, why: &'static str) {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, why);
    }

    /// Partitions whose storage closed under them, with why.
    pub fn closed_partitions(&self) -> Vec<(u32, &'static str)> {
        let closed = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        closed.iter().map(|(&id, &why)| (id, why)).collect()
    }

    pub fn shard_guard(&self, shard: usize) -> AliveGuard {
        Self::guard(&self.threads[shard].0)
    }

    pub fn storage_guard(&self, shard: usize) -> AliveGuard {
        Self::guard(&self.threads[shard].1)
    }

    fn guard(flag: &Arc<AtomicBool>) -> AliveGuard {
        flag.store(true, Ordering::Release);
        AliveGuard(flag.clone())
    }

    /// The threads that are not running, by name; empty when all are.
    pub fn dead(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (shard, storage)) in self.threads.iter().enumerate() {
            if !shard.load(Ordering::Acquire) {
                out.push(format!("shard-{i}"));
            }
            if !storage.load(Ordering::Acquire) {
                out.push(format!("storage-{i}"));
            }
        }
        for (id, why) in self.closed_partitions() {
            out.push(format!("partition-{id} ({why})"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_unwinds_is_reported_dead() {
        let l = Arc::new(Liveness::new(2));
        assert_eq!(l.dead().len(), 4);
        let _a = l.shard_guard(0);
        let _b = l.storage_guard(0);
        let _c = l.storage_guard(1);
        let l2 = l.clone();
        let t = std::thread::spawn(move || {
            let _g = l2.shard_guard(1);
            assert!(l2.dead().is_empty());
            panic!("boom");
        });
        assert!(t.join().is_err());
        assert_eq!(l.dead(), vec!["shard-1".to_string()]);
    }
}
