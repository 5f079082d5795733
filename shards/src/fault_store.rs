//! An object store that fails, stalls or hangs on command, for tests that prove the shards
//! survive a misbehaving store (an S3 outage, a slow region, one prefix failing while the
//! rest works). Wraps any store; faults apply to the operations and path prefix chosen, and
//! can be switched at any moment from any thread. Not used by the server itself.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What a faulted call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes through.
    None,
    /// Fails at once with a transient (retryable) error, as a 503 from S3 would.
    Fail,
    /// Never answers until the fault is lifted, as a black-holed connection.
    Hang,
}

/// Which calls a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    pub fault: Fault,
    /// Only paths starting with this (e.g. one partition's directory); `None`: all.
    pub prefix: Option<String>,
    /// Also reads (GET, LIST), not only writes (PUT, DELETE, COPY).
    pub reads_too: bool,
    /// Added before every call, faulted or not.
    pub delay: Duration,
}

impl FaultPlan {
    pub fn healthy() -> Self {
        FaultPlan {
            fault: Fault::None,
            prefix: None,
            reads_too: false,
            delay: Duration::ZERO,
        }
    }
}

/// The switch a test holds; the store reads it on every call.
#[derive(Clone)]
pub struct FaultSwitch {
    plan: Arc<watch::Sender<FaultPlan>>,
    faulted: Arc<AtomicU64>,
}

impl FaultSwitch {
    pub fn set(&self, plan: FaultPlan) {
        self.plan.send_replace(plan);
    }

    pub fn heal(&self) {
        self.set(FaultPlan::healthy());
    }

    /// Calls that were failed or held so far.
    pub fn faulted_calls(&self) -> u64 {
        self.faulted.load(Ordering::Relaxed)
    }
}

pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    plan: watch::Receiver<FaultPlan>,
    faulted: Arc<AtomicU64>,
}

impl FaultStore {
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> (Arc<dyn ObjectStore>, FaultSwitch) {
        let (tx, rx) = watch::channel(FaultPlan::healthy());
        let faulted = Arc::new(AtomicU64::new(0));
        let store = FaultStore {
            inner,
            plan: rx,
            faulted: faulted.clone(),
        };
        let switch = FaultSwitch {
            plan: Arc::new(tx),
            faulted,
        };
        (Arc::new(store), switch)
    }

    /// Applies the current plan to a call on `path`: waits out the delay, then fails, holds
    /// until the plan changes, or lets the call go.
    async fn gate(&self, path: Option<&Path>, write: bool) -> Result<()> {
        let mut rx = self.plan.clone();
        loop {
            let plan = rx.borrow_and_update().clone();
            if !plan.delay.is_zero() {
                tokio::time::sleep(plan.delay).await;
            }
            let applies = (write || plan.reads_too)
                && match (&plan.prefix, path) {
                    (None, _) => true,
                    (Some(pre), Some(p)) => p.as_ref().starts_with(pre.as_str()),
                    (Some(_), None) => false,
                };
            match plan.fault {
                Fault::None => return Ok(()),
                _ if !applies => return Ok(()),
                Fault::Fail => {
                    self.faulted.fetch_add(1, Ordering::Relaxed);
                    return Err(object_store::Error::Generic {
                        store: "fault",
                        source: "injected fault: service unavailable".into(),
                    });
                }
                Fault::Hang => {
                    self.faulted.fetch_add(1, Ordering::Relaxed);
                    // Held until the plan changes, then judged again.
                    if rx.changed().await.is_err() {
                        return Err(object_store::Error::Generic {
                            store: "fault",
                            source: "fault switch dropped".into(),
                        });
                    }
                }
            }
        }
    }
}

impl fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fault({})", self.inner)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.gate(Some(location), true).await?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.gate(Some(location), true).await?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.gate(Some(location), false).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.gate(Some(location), false).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        // Deletions are background garbage collection here; faulting them per path would
        // need the gate inside a stream. They pass through.
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        // Streams are not gated (listing is manifest polling and GC); reads are by GET.
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.gate(prefix, false).await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.gate(Some(to), true).await?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.gate(Some(to), true).await?;
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    #[test]
    fn faults_apply_by_prefix_and_lift() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (store, switch) = FaultStore::wrap(Arc::new(InMemory::new()));
            let (a, b) = (Path::from("p/1/x"), Path::from("p/2/x"));
            switch.set(FaultPlan {
                fault: Fault::Fail,
                prefix: Some("p/1/".into()),
                ..FaultPlan::healthy()
            });
            assert!(store.put(&a, PutPayload::from_static(b"x")).await.is_err());
            store.put(&b, PutPayload::from_static(b"x")).await.unwrap();
            switch.set(FaultPlan {
                fault: Fault::Hang,
                ..FaultPlan::healthy()
            });
            let held = tokio::time::timeout(
                Duration::from_millis(50),
                store.put(&a, PutPayload::from_static(b"x")),
            )
            .await;
            assert!(held.is_err(), "a hung call must not answer");
            let s2 = store.clone();
            let pending =
                tokio::spawn(async move { s2.put(&a, PutPayload::from_static(b"y")).await });
            while switch.faulted_calls() < 3 {
                tokio::task::yield_now().await;
            }
            switch.heal();
            pending.await.unwrap().unwrap();
            assert_eq!(switch.faulted_calls(), 3);
        });
    }
}
