//! The way into the shards: an async API over the partitions that routes each request to the
//! owning shard's inbox and awaits its reply. It is `Send + Clone`, held by every front end.
//! Operations that span partitions (listings, stream operations that first consult their
//! basin) are orchestrated here; no state lives here.

use crate::basin_ops::{BasinEntry, NameRange, Page, Provision};
use crate::error::ShardError;
use crate::placement::{
    partition_for_basin, partition_for_stream, shard_for_partition, PartitionId,
};
use crate::read::{ReadKey, ReadOutput, ReadRequest};
use crate::runtime::inbox::{InboxFull, InboxSender};
use crate::shard::{AppendOp, CreateStream, Envelope, Op, Reply};
use crate::shard_metrics::ShardMetrics;
use crate::stream_ops::{BasinView, StreamEntry};
use crate::usage_meter::Origin;
use crate::usage_ops::UsageRow;
use futures::channel::oneshot;
use protocol::config::{BasinConfig, BasinReconfiguration, StreamConfig, StreamReconfiguration};
use protocol::encryption::EncryptionKey;
use protocol::names::{BasinName, StreamName};
use protocol::records::{AppendAck, AppendInput, Command, StreamPosition};
use std::sync::Arc;

#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<InboxSender<Envelope>>,
    partition_count: u32,
    liveness: Arc<crate::liveness::Liveness>,
    metrics: Vec<Arc<ShardMetrics>>,
    memory_room: Option<crate::memory_store::StoreRoom>,
}

impl Cluster {
    pub(crate) fn new(
        shards: Vec<InboxSender<Envelope>>,
        partition_count: u32,
        liveness: Arc<crate::liveness::Liveness>,
        metrics: Vec<Arc<ShardMetrics>>,
        memory_room: Option<crate::memory_store::StoreRoom>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards,
                partition_count,
                liveness,
                metrics,
                memory_room,
            }),
        }
    }

    /// With the in-memory store: the bytes it holds and the capacity appends stop at.
    pub fn memory_store(&self) -> Option<(u64, u64)> {
        let room = self.inner.memory_room.as_ref()?;
        Some((room.held(), room.capacity()))
    }

    /// Each shard's metrics, by shard id.
    pub fn shard_metrics(&self) -> &[Arc<ShardMetrics>] {
        &self.inner.metrics
    }

    /// Messages waiting in each shard's inbox, by shard id.
    pub fn inbox_depths(&self) -> Vec<usize> {
        self.inner.shards.iter().map(|s| s.len()).collect()
    }

    /// Threads of the shards that are not running (empty when healthy).
    pub fn dead_threads(&self) -> Vec<String> {
        self.inner.liveness.dead()
    }

    /// Partitions whose storage closed under them (fenced, or a SlateDB task panicked).
    pub fn closed_partitions(&self) -> Vec<(u32, &'static str)> {
        self.inner.liveness.closed_partitions()
    }

    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    pub fn partition_count(&self) -> u32 {
        self.inner.partition_count
    }

    /// For start-up and shutdown messages; a full inbox hands the envelope back.
    pub(crate) fn try_send_control(&self, shard: usize, e: Envelope) -> Result<(), Envelope> {
        self.inner.shards[shard]
            .try_send(e)
            .map_err(|InboxFull(e)| e)
    }

    /// Puts the operation in the owner's inbox now (never blocks) and returns its answer.
    fn send_op<T>(
        &self,
        partition: PartitionId,
        make: impl FnOnce(Reply<T>) -> Op,
    ) -> Result<oneshot::Receiver<Result<T, ShardError>>, ShardError> {
        let shard = shard_for_partition(partition, self.inner.shards.len());
        let (tx, rx) = oneshot::channel();
        let envelope = Envelope::Op {
            partition,
            op: Box::new(make(tx)),
        };
        if let Err(InboxFull(_)) = self.inner.shards[shard].try_send(envelope) {
            return Err(ShardError::Overloaded { shard });
        }
        Ok(rx)
    }

    async fn call<T>(
        &self,
        partition: PartitionId,
        make: impl FnOnce(Reply<T>) -> Op,
    ) -> Result<T, ShardError> {
        answer(self.send_op(partition, make)?).await
    }

    fn basin_partition(&self, basin: &BasinName) -> PartitionId {
        partition_for_basin(basin.as_str(), self.inner.partition_count)
    }

    fn stream_partition(&self, basin: &BasinName, stream: &StreamName) -> PartitionId {
        partition_for_stream(basin.as_str(), stream.as_str(), self.inner.partition_count)
    }

    // ---- basins ----

    pub async fn list_basins(&self, range: NameRange) -> Result<Page<BasinEntry>, ShardError> {
        let limit = range.limit;
        let pages = futures::future::join_all((0..self.inner.partition_count).map(|p| {
            let range = range.clone();
            self.call(p, move |r| Op::ListBasins(range, r))
        }))
        .await;
        merge_pages(pages, limit)
    }

    pub async fn create_basin(
        &self,
        basin: BasinName,
        config: BasinConfig,
        request_token: Option<String>,
    ) -> Result<(BasinEntry, Provision), ShardError> {
        let p = self.basin_partition(&basin);
        self.call(p, |r| Op::CreateBasin(basin, config, request_token, r))
            .await
    }

    pub async fn ensure_basin(
        &self,
        basin: BasinName,
        config: BasinConfig,
    ) -> Result<(BasinEntry, Provision), ShardError> {
        let p = self.basin_partition(&basin);
        self.call(p, |r| Op::EnsureBasin(basin, config, r)).await
    }

    pub async fn get_basin(&self, basin: BasinName) -> Result<BasinEntry, ShardError> {
        let p = self.basin_partition(&basin);
        self.call(p, |r| Op::GetBasin(basin, r)).await
    }

    pub async fn reconfigure_basin(
        &self,
        basin: BasinName,
        patch: BasinReconfiguration,
    ) -> Result<BasinConfig, ShardError> {
        let p = self.basin_partition(&basin);
        self.call(p, |r| Op::ReconfigureBasin(basin, patch, r))
            .await
    }

    pub async fn delete_basin(&self, basin: BasinName) -> Result<(), ShardError> {
        let p = self.basin_partition(&basin);
        self.call(p, |r| Op::DeleteBasin(basin, r)).await
    }

    pub(crate) async fn remove_basin(&self, basin: BasinName) -> Result<(), ShardError> {
        let p = self.basin_partition(&basin);
        self.call(p, |r| Op::RemoveBasin(basin, r)).await
    }

    /// The basin as a stream create/ensure/reconfigure needs it: existing, not being deleted.
    /// The basin's defaults for a stream write, and its incarnation (creation time).
    async fn basin_view_for_write(
        &self,
        basin: &BasinName,
    ) -> Result<(BasinView, u64), ShardError> {
        let entry = self.get_basin(basin.clone()).await?;
        if entry.meta.deleted_at_nanos.is_some() {
            return Err(ShardError::BasinDeletionPending(basin.clone()));
        }
        let view = BasinView {
            default_stream_config: entry.meta.config.default_stream_config,
            stream_cipher: entry.meta.config.stream_cipher,
        };
        Ok((view, entry.meta.created_at_nanos))
    }

    // ---- streams ----

    /// Streams of an existing basin (404 `basin_not_found` otherwise), from every partition.
    pub async fn list_streams(
        &self,
        basin: BasinName,
        range: NameRange,
    ) -> Result<Page<StreamEntry>, ShardError> {
        self.get_basin(basin.clone()).await?;
        self.list_streams_unchecked(&basin, range).await
    }

    pub(crate) async fn list_streams_unchecked(
        &self,
        basin: &BasinName,
        range: NameRange,
    ) -> Result<Page<StreamEntry>, ShardError> {
        let limit = range.limit;
        let pages = futures::future::join_all((0..self.inner.partition_count).map(|p| {
            let (basin, range) = (basin.clone(), range.clone());
            self.call(p, move |r| Op::ListStreams(basin, range, r))
        }))
        .await;
        merge_pages(pages, limit)
    }

    pub async fn create_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
        config: StreamConfig,
        request_token: Option<String>,
    ) -> Result<(StreamEntry, Provision), ShardError> {
        let (view, incarnation) = self.basin_view_for_write(&basin).await?;
        let p = self.stream_partition(&basin, &stream);
        let c = Box::new(CreateStream {
            basin: basin.clone(),
            stream: stream.clone(),
            config,
            view,
            request_token,
        });
        let created = self.call(p, |r| Op::CreateStream(c, r)).await?;
        self.fence_against_basin_removal(&basin, &stream, incarnation, created)
            .await
    }

    /// A stream created in a basin whose deletion began meanwhile could outlive it (the
    /// cleanup may have listed the basin's streams before the stream was written). Looking
    /// at the basin again *after* the durable create settles it: if the basin is still the
    /// same and not being deleted, any later deletion's listing sees the stream; otherwise
    /// the stream is deleted again and the caller told why.
    async fn fence_against_basin_removal<T>(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        incarnation: u64,
        created: (T, Provision),
    ) -> Result<(T, Provision), ShardError> {
        if created.1 != Provision::Created {
            return Ok(created);
        }
        let refusal = match self.get_basin(basin.clone()).await {
            Ok(e)
                if e.meta.deleted_at_nanos.is_none() && e.meta.created_at_nanos == incarnation =>
            {
                return Ok(created)
            }
            Ok(e) if e.meta.deleted_at_nanos.is_some() => {
                ShardError::BasinDeletionPending(basin.clone())
            }
            Ok(_) | Err(ShardError::BasinNotFound(_)) => ShardError::BasinNotFound(basin.clone()),
            Err(e) => return Err(e),
        };
        match self.delete_stream(basin.clone(), stream.clone()).await {
            Ok(()) | Err(ShardError::StreamNotFound { .. }) => Err(refusal),
            Err(e) => Err(e),
        }
    }

    pub async fn ensure_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
        config: StreamConfig,
    ) -> Result<(StreamEntry, Provision), ShardError> {
        let (view, incarnation) = self.basin_view_for_write(&basin).await?;
        let p = self.stream_partition(&basin, &stream);
        let (b, s) = (basin.clone(), stream.clone());
        let ensured = self
            .call(p, |r| Op::EnsureStream(b, s, config, view, r))
            .await?;
        self.fence_against_basin_removal(&basin, &stream, incarnation, ensured)
            .await
    }

    /// Does not consult the basin: an unknown basin reads as `stream_not_found`, as in s2-lite.
    pub async fn get_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
    ) -> Result<StreamEntry, ShardError> {
        let p = self.stream_partition(&basin, &stream);
        self.call(p, |r| Op::GetStream(basin, stream, r)).await
    }

    pub async fn reconfigure_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
        patch: StreamReconfiguration,
    ) -> Result<StreamEntry, ShardError> {
        let (view, _) = self.basin_view_for_write(&basin).await?;
        let p = self.stream_partition(&basin, &stream);
        self.call(p, |r| Op::ReconfigureStream(basin, stream, patch, view, r))
            .await
    }

    pub async fn delete_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
    ) -> Result<(), ShardError> {
        let p = self.stream_partition(&basin, &stream);
        self.call(p, |r| Op::DeleteStream(basin, stream, r)).await
    }
}

impl Cluster {
    // ---- access tokens (all on partition 0) ----

    /// Stores a new token; returns its secret (the only time it is known). Only tokens
    /// issued by an authenticated caller (`issued_with_auth`) ever authenticate.
    pub async fn issue_access_token(
        &self,
        info: protocol::access::AccessTokenInfo,
        issued_with_auth: bool,
    ) -> Result<String, ShardError> {
        let p = crate::token_ops::TOKENS_PARTITION;
        self.call(p, |r| Op::IssueToken(Box::new((info, issued_with_auth)), r))
            .await
    }

    pub async fn list_access_tokens(
        &self,
        range: NameRange,
    ) -> Result<Page<protocol::access::AccessTokenInfo>, ShardError> {
        let p = crate::token_ops::TOKENS_PARTITION;
        self.call(p, |r| Op::ListTokens(range, r)).await
    }

    pub async fn revoke_access_token(
        &self,
        id: String,
    ) -> Result<protocol::access::AccessTokenInfo, ShardError> {
        let p = crate::token_ops::TOKENS_PARTITION;
        self.call(p, |r| Op::RevokeToken(id, r)).await
    }

    /// The token a request's secret belongs to, if any.
    pub async fn token_for_secret(
        &self,
        secret: &str,
    ) -> Result<Option<protocol::access::AccessTokenInfo>, ShardError> {
        self.token_for_digest(crate::token_ops::secret_digest(secret))
            .await
    }

    /// The token whose secret has this digest, if any.
    pub async fn token_for_digest(
        &self,
        digest: String,
    ) -> Result<Option<protocol::access::AccessTokenInfo>, ShardError> {
        let p = crate::token_ops::TOKENS_PARTITION;
        self.call(p, |r| Op::TokenByDigest(digest, r)).await
    }
}

impl Cluster {
    // ---- records ----

    /// Appends a validated batch; answers once it is durable. `key` is the request's
    /// `s2-encryption-key` (required by a stream with a cipher, ignored by others).
    pub async fn append(
        &self,
        basin: BasinName,
        stream: StreamName,
        input: AppendInput,
        commands: Vec<Option<Command>>,
        key: Option<EncryptionKey>,
    ) -> Result<AppendAck, ShardError> {
        self.append_from(None, basin, stream, input, commands, key)
            .await
    }

    /// [`Cluster::append`] from a connection (`origin`), which usage metering counts as
    /// one append op per stream per minute (`usage_meter`).
    pub async fn append_from(
        &self,
        origin: Origin,
        basin: BasinName,
        stream: StreamName,
        input: AppendInput,
        commands: Vec<Option<Command>>,
        key: Option<EncryptionKey>,
    ) -> Result<AppendAck, ShardError> {
        let p = self.stream_partition(&basin, &stream);
        let op = AppendOp::new(basin, stream, (input, commands), key, origin, None);
        self.call(p, |r| Op::Append(op, r)).await
    }

    /// For sessions: sends the append now, in call order, and returns (a signal that fires
    /// once the append is sequenced or refused, its eventual ack). Waiting for the first
    /// before sending the next append keeps a session's appends in order while their
    /// durability overlaps.
    pub fn append_staged(
        &self,
        origin: Origin,
        basin: BasinName,
        stream: StreamName,
        input: AppendInput,
        commands: Vec<Option<Command>>,
        key: Option<EncryptionKey>,
    ) -> Result<StagedAppend, ShardError> {
        let p = self.stream_partition(&basin, &stream);
        let (seq_tx, seq_rx) = oneshot::channel();
        let op = AppendOp::new(basin, stream, (input, commands), key, origin, Some(seq_tx));
        let ack = self.send_op(p, |r| Op::Append(op, r))?;
        Ok(StagedAppend {
            sequenced: seq_rx,
            ack: Box::pin(answer(ack)),
        })
    }

    /// Reads a page; records of a stream with a cipher are opened here, on the caller's
    /// shard, with the request's key (a follow hub's reads keep them sealed).
    pub async fn read(
        &self,
        basin: BasinName,
        stream: StreamName,
        req: ReadRequest,
    ) -> Result<ReadOutput, ShardError> {
        let p = self.stream_partition(&basin, &stream);
        let opener = match &req.key {
            ReadKey::Request(Some(key)) => Some((basin.clone(), stream.clone(), key.clone())),
            _ => None,
        };
        let op = Box::new((basin, stream, req));
        let mut out = self.call(p, |r| Op::Read(op, r)).await?;
        if let Some((basin, stream, key)) = opener {
            out.open(&basin, &stream, Some(&key))?;
        }
        Ok(out)
    }

    /// The next read of a live follower that has reached the tail: served through this
    /// shard's follow hub for the stream (one long poll to the owner for all of this
    /// shard's followers), or the ordinary read when the hub cannot.
    pub async fn follow(
        &self,
        basin: BasinName,
        stream: StreamName,
        read: crate::follow_hub::FollowRead,
    ) -> Result<ReadOutput, ShardError> {
        crate::follow_hub::follow(self, basin, stream, read).await
    }

    /// Every shard's usage rows of `basin` (`None`: every basin, and account-level rows)
    /// in minutes `[from, to)`, persisted and pending (`usage_ops`).
    pub async fn usage(
        &self,
        basin: Option<&BasinName>,
        from: u32,
        to: u32,
    ) -> Result<Vec<UsageRow>, ShardError> {
        self.usage_named(basin.map(|b| b.as_str().to_owned()), from, to)
            .await
    }

    /// Account-level usage rows (operations on no basin).
    pub async fn account_usage(&self, from: u32, to: u32) -> Result<Vec<UsageRow>, ShardError> {
        self.usage_named(Some(String::new()), from, to).await
    }

    async fn usage_named(
        &self,
        basin: Option<String>,
        from: u32,
        to: u32,
    ) -> Result<Vec<UsageRow>, ShardError> {
        let n = self.inner.shards.len();
        let calls = (0..self.inner.partition_count).map(|p| {
            // A shard's home is its lowest partition, which is its own id.
            let pending = ((p as usize) < n).then_some(p as u16);
            let q = Box::new((basin.clone(), from, to, pending));
            self.call(p, move |r| Op::Usage(q, r))
        });
        let mut rows = Vec::new();
        for part in futures::future::join_all(calls).await {
            rows.extend(part?);
            if rows.len() > crate::usage_ops::ROWS_MAX {
                return Err(ShardError::Unavailable("usage query spans too many rows"));
            }
        }
        Ok(rows)
    }

    /// Writes a usage flush of `shard`, which owns no partition, to partition
    /// `shard % partitions` (`usage_ops::UsageHome`).
    pub(crate) async fn write_usage(
        &self,
        shard: u16,
        flush: u64,
        rows: crate::usage_meter::Rows,
    ) -> Result<(), ShardError> {
        let p = shard as u32 % self.inner.partition_count;
        let w = Box::new((shard, flush, rows));
        self.call(p, |r| Op::WriteUsage(w, r)).await
    }

    /// A stream's stored-bytes samples in minutes `[from, to)` (see
    /// `Partition::stream_storage`).
    pub async fn stream_storage(
        &self,
        basin: BasinName,
        stream: StreamName,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, u64)>, ShardError> {
        let p = self.stream_partition(&basin, &stream);
        let q = Box::new((basin, stream, from, to));
        self.call(p, |r| Op::StreamStorage(q, r)).await
    }

    pub async fn check_tail(
        &self,
        basin: BasinName,
        stream: StreamName,
    ) -> Result<StreamPosition, ShardError> {
        let p = self.stream_partition(&basin, &stream);
        self.call(p, |r| Op::CheckTail(basin, stream, r)).await
    }

    /// After a `StreamNotFound` on append or read: creates the stream if its basin says so
    /// (`create_stream_on_append` / `create_stream_on_read`), else says why not
    /// (`basin_not_found`, `basin_deletion_pending` or `stream_not_found`).
    pub async fn auto_create_stream(
        &self,
        basin: BasinName,
        stream: StreamName,
        on_append: bool,
        config: StreamConfig,
    ) -> Result<(), ShardError> {
        let entry = self.get_basin(basin.clone()).await?;
        if entry.meta.deleted_at_nanos.is_some() {
            return Err(ShardError::BasinDeletionPending(basin));
        }
        let allowed = if on_append {
            entry.meta.config.create_stream_on_append
        } else {
            entry.meta.config.create_stream_on_read
        };
        if !allowed {
            return Err(ShardError::StreamNotFound { basin, stream });
        }
        match self.create_stream(basin, stream, config, None).await {
            Ok(_) | Err(ShardError::StreamAlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// An append sent by [`Cluster::append_staged`].
pub struct StagedAppend {
    /// Resolves (or is cancelled) once the append has its seq_nums or was refused.
    pub sequenced: oneshot::Receiver<()>,
    pub ack:
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<AppendAck, ShardError>> + Send>>,
}

async fn answer<T>(rx: oneshot::Receiver<Result<T, ShardError>>) -> Result<T, ShardError> {
    rx.await
        .map_err(|_| ShardError::Unavailable("shard dropped the request"))?
}

/// Listed things, ordered by name.
pub(crate) trait Named {
    fn name(&self) -> &str;
}

impl Named for BasinEntry {
    fn name(&self) -> &str {
        self.name.as_str()
    }
}

impl Named for StreamEntry {
    fn name(&self) -> &str {
        self.name.as_str()
    }
}

/// Merges per-partition pages (each sorted, each at most `limit`) into one page.
fn merge_pages<T: Named>(
    pages: Vec<Result<Page<T>, ShardError>>,
    limit: usize,
) -> Result<Page<T>, ShardError> {
    let mut items = Vec::new();
    let mut has_more = false;
    for page in pages {
        let page = page?;
        has_more |= page.has_more;
        items.extend(page.items);
    }
    items.sort_by(|a, b| a.name().cmp(b.name()));
    if items.len() > limit {
        items.truncate(limit);
        has_more = true;
    }
    Ok(Page { items, has_more })
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Named for String {
        fn name(&self) -> &str {
            self
        }
    }

    #[test]
    fn merge_takes_the_smallest_and_notes_more() {
        let p = |v: &[&str], more| {
            Ok(Page {
                items: v.iter().map(|s| s.to_string()).collect(),
                has_more: more,
            })
        };
        let m = merge_pages(vec![p(&["a", "d"], false), p(&["b", "c"], false)], 3).unwrap();
        assert_eq!(m.items, vec!["a", "b", "c"]);
        assert!(m.has_more);
        let m = merge_pages(vec![p(&["a"], false), p(&["b"], false)], 3).unwrap();
        assert!(!m.has_more);
        let m = merge_pages(vec![p(&["a"], true), p(&[], false)], 3).unwrap();
        assert!(m.has_more);
    }
}
