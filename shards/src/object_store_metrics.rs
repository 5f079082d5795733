//! Counts the object-store requests the process makes, by operation, so operators (and
//! `strand-bench`) can see PUT and GET rates and what they would cost on S3. A thin
//! wrapper around whichever store is configured; counters are process-wide relaxed
//! atomics (a handful of increments per SlateDB flush, nothing per record).

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

/// Request kinds as S3 bills them.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Put,
    Get,
    Delete,
    List,
    Copy,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::Put, Op::Get, Op::Delete, Op::List, Op::Copy];

    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Delete => "delete",
            Op::List => "list",
            Op::Copy => "copy",
        }
    }
}

static COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

fn count(op: Op, n: u64) {
    COUNTS[op as usize].fetch_add(n, Ordering::Relaxed);
}

/// Requests made so far of one kind, by every store in this process.
pub fn requests(op: Op) -> u64 {
    COUNTS[op as usize].load(Ordering::Relaxed)
}

#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
}

impl CountingStore {
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(Self { inner })
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        count(Op::Put, 1);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        // Counted as one PUT; the parts are uploaded by the returned handle.
        count(Op::Put, 1);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        count(Op::Get, 1);
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        // At most one request per range (stores may coalesce neighbours).
        count(Op::Get, ranges.len() as u64);
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        use futures::StreamExt;
        let counted = locations
            .inspect(|p| {
                if p.is_ok() {
                    count(Op::Delete, 1)
                }
            })
            .boxed();
        self.inner.delete_stream(counted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        count(Op::List, 1);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        count(Op::List, 1);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        count(Op::List, 1);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        count(Op::Copy, 1);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        count(Op::Copy, 1);
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    #[test]
    fn puts_and_gets_are_counted() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = CountingStore::wrap(Arc::new(InMemory::new()));
            let (p0, g0) = (requests(Op::Put), requests(Op::Get));
            let path = Path::from("a/b");
            store
                .put(&path, PutPayload::from_static(b"x"))
                .await
                .unwrap();
            store.get(&path).await.unwrap();
            // Other tests may count concurrently: at least ours happened.
            assert!(requests(Op::Put) > p0);
            assert!(requests(Op::Get) > g0);
        });
    }
}
