//! A shard: one core, one glommio executor, its partitions, and the pump that serves its
//! inbox. Every request for a partition, even from a connection on the same shard, enters
//! the owner's inbox, so each partition's state has exactly one writer and needs no locks.

use crate::append_pipeline::AppendPipeline;
use crate::basin_ops::{BasinEntry, NameRange, Page, Provision};
use crate::cluster::Cluster;
use crate::deletion;
use crate::error::ShardError;
use crate::partition::Partition;
use crate::placement::{PartitionId, ShardId};
use crate::read::{ReadOutput, ReadRequest};
use crate::runtime::inbox::InboxReceiver;
use crate::runtime::{spawn_isolated, spawn_local, timeout, Task};
use crate::stream_ops::{BasinView, StreamEntry};
use crate::usage_ops::UsageHome;
use futures::channel::oneshot;
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use protocol::config::{BasinConfig, BasinReconfiguration, StreamConfig, StreamReconfiguration};
use protocol::names::{BasinName, StreamName};
use protocol::records::{AppendAck, AppendInput, Command, StreamPosition};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ShardError>>;

/// Starts a shard's front end (the acceptor) once storage is open; runs on the shard thread.
pub type ServeFn = Box<dyn FnOnce(ShardContext) -> LocalBoxFuture<'static, ()> + Send>;

/// What crosses into a shard's inbox.
pub(crate) enum Envelope {
    /// A request for one of this shard's partitions. A full inbox refuses it (503).
    /// Boxed so every inbox slot stays small whatever the operation carries.
    Op { partition: PartitionId, op: Box<Op> },
    /// Start the front end (after every shard opened its storage).
    StartServing(ServeFn),
    /// Stop accepting, let in-flight requests finish (bounded), then reply.
    Drain(oneshot::Sender<()>),
    /// Close the partitions and end the shard.
    Close(oneshot::Sender<()>),
}

// The inbox holds INBOX_DEPTH_MAX of these: keep a slot to a few words.
const _: () = assert!(std::mem::size_of::<Envelope>() <= 24);

/// Partition operations; each carries its own reply sender.
pub(crate) enum Op {
    ListBasins(NameRange, Reply<Page<BasinEntry>>),
    CreateBasin(
        BasinName,
        BasinConfig,
        Option<String>,
        Reply<(BasinEntry, Provision)>,
    ),
    EnsureBasin(BasinName, BasinConfig, Reply<(BasinEntry, Provision)>),
    GetBasin(BasinName, Reply<BasinEntry>),
    ReconfigureBasin(BasinName, BasinReconfiguration, Reply<BasinConfig>),
    DeleteBasin(BasinName, Reply<()>),
    RemoveBasin(BasinName, Reply<()>),
    ListStreams(BasinName, NameRange, Reply<Page<StreamEntry>>),
    CreateStream(Box<CreateStream>, Reply<(StreamEntry, Provision)>),
    EnsureStream(
        BasinName,
        StreamName,
        StreamConfig,
        BasinView,
        Reply<(StreamEntry, Provision)>,
    ),
    GetStream(BasinName, StreamName, Reply<StreamEntry>),
    IssueToken(
        Box<(protocol::access::AccessTokenInfo, bool)>,
        Reply<String>,
    ),
    ListTokens(NameRange, Reply<Page<protocol::access::AccessTokenInfo>>),
    RevokeToken(String, Reply<protocol::access::AccessTokenInfo>),
    TokenByDigest(String, Reply<Option<protocol::access::AccessTokenInfo>>),
    ReconfigureStream(
        BasinName,
        StreamName,
        StreamReconfiguration,
        BasinView,
        Reply<StreamEntry>,
    ),
    DeleteStream(BasinName, StreamName, Reply<()>),
    Append(Box<AppendOp>, Reply<AppendAck>),
    Read(Box<(BasinName, StreamName, ReadRequest)>, Reply<ReadOutput>),
    CheckTail(BasinName, StreamName, Reply<StreamPosition>),
    /// Usage rows of a basin (`None`: all) in `[from, to)` minutes; with the shard's
    /// pending rows when its id is given (`usage_ops`).
    Usage(
        Box<(Option<String>, u32, u32, Option<u16>)>,
        Reply<Vec<crate::usage_ops::UsageRow>>,
    ),
    StreamStorage(
        Box<(BasinName, StreamName, u32, u32)>,
        Reply<Vec<(u32, u64)>>,
    ),
    /// A flush of a shard that owns no partition: (shard, flush id, rows).
    WriteUsage(Box<(u16, u64, crate::usage_meter::Rows)>, Reply<()>),
}

pub(crate) struct AppendOp {
    pub basin: BasinName,
    pub stream: StreamName,
    pub input: AppendInput,
    pub commands: Vec<Option<Command>>,
    /// The request's `s2-encryption-key`, for a stream with a cipher.
    pub key: Option<protocol::encryption::EncryptionKey>,
    /// Fired once the append is sequenced (dropped if it is refused first).
    pub sequenced: Option<oneshot::Sender<()>>,
    /// The connection it came over (usage metering).
    pub origin: crate::usage_meter::Origin,
}

impl AppendOp {
    pub(crate) fn new(
        basin: BasinName,
        stream: StreamName,
        (input, commands): (AppendInput, Vec<Option<Command>>),
        key: Option<protocol::encryption::EncryptionKey>,
        origin: crate::usage_meter::Origin,
        sequenced: Option<oneshot::Sender<()>>,
    ) -> Box<AppendOp> {
        Box::new(AppendOp {
            basin,
            stream,
            input,
            commands,
            key,
            sequenced,
            origin,
        })
    }
}

pub(crate) struct CreateStream {
    pub basin: BasinName,
    pub stream: StreamName,
    pub config: StreamConfig,
    pub view: BasinView,
    pub request_token: Option<String>,
}

/// What a shard's front end gets: its identity, the way to reach every partition, and a
/// signal that resolves when the shard starts draining.
#[derive(Clone)]
pub struct ShardContext {
    pub shard_id: ShardId,
    pub cluster: Cluster,
    pub draining: Shared<oneshot::Receiver<()>>,
}

pub(crate) struct Shard {
    id: ShardId,
    partitions: HashMap<PartitionId, Rc<Partition>>,
    cluster: Cluster,
    pipeline: Rc<AppendPipeline>,
    drain_tx: RefCell<Option<oneshot::Sender<()>>>,
    draining: Shared<oneshot::Receiver<()>>,
    front_end: RefCell<Option<Task<()>>>,
    /// The basin gauges the usage flush noted last (`usage_ops::flush`).
    usage_gauges: RefCell<HashMap<String, (u64, u64, u32)>>,
}

impl Shard {
    pub(crate) fn new(
        id: ShardId,
        partitions: Vec<Partition>,
        cluster: Cluster,
        pipeline: Rc<AppendPipeline>,
    ) -> Rc<Shard> {
        let (drain_tx, drain_rx) = oneshot::channel();
        let shard = Rc::new(Shard {
            id,
            partitions: partitions.into_iter().map(|p| (p.id, Rc::new(p))).collect(),
            cluster,
            pipeline,
            drain_tx: RefCell::new(Some(drain_tx)),
            draining: drain_rx.shared(),
            front_end: RefCell::new(None),
            usage_gauges: RefCell::new(HashMap::new()),
        });
        shard.resume_deletions();
        shard.spawn_idle_eviction();
        shard.spawn_lifecycle();
        shard.spawn_usage_flush();
        shard
    }

    /// Its partitions, lowest id first; the first is the shard's home, where its usage
    /// counts are written.
    fn partitions_by_id(&self) -> Vec<Rc<Partition>> {
        let mut all: Vec<Rc<Partition>> = self.partitions.values().cloned().collect();
        all.sort_by_key(|p| p.id);
        all
    }

    /// Every `usage_flush`, persists the usage counted on this shard (`usage_ops`).
    fn spawn_usage_flush(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        spawn_local(async move {
            let every = match me.upgrade() {
                Some(shard) => shard.pipeline.config().usage_flush,
                None => return,
            };
            loop {
                crate::runtime::sleep(every).await;
                let Some(shard) = me.upgrade() else { return };
                if shard.draining.peek().is_some() {
                    return;
                }
                let mut gauges = shard.usage_gauges.take();
                let partitions = shard.partitions_by_id();
                let (id, cluster) = (shard.id as u16, shard.cluster.clone());
                drop(shard);
                let home = match partitions.first() {
                    Some(p) => UsageHome::Local(p),
                    None => UsageHome::Remote(&cluster),
                };
                crate::usage_ops::flush(&partitions, home, id, &mut gauges).await;
                if let Some(shard) = me.upgrade() {
                    *shard.usage_gauges.borrow_mut() = gauges;
                }
            }
        })
        .detach();
    }

    /// Every `lifecycle_tick`, deletes expired records from storage and the streams that
    /// are empty and idle for their `delete_on_empty.min_age_secs`, a bounded number of
    /// streams per partition per tick.
    fn spawn_lifecycle(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        spawn_local(async move {
            let tick = match me.upgrade() {
                Some(shard) => shard.pipeline.config().lifecycle_tick,
                None => return,
            };
            let mut cursors: HashMap<PartitionId, SweepCursors> = HashMap::new();
            loop {
                crate::runtime::sleep(tick).await;
                let Some(shard) = me.upgrade() else { return };
                if shard.draining.peek().is_some() {
                    return;
                }
                let partitions: Vec<Rc<Partition>> = shard
                    .partitions
                    .values()
                    .filter(|p| p.closed().is_none())
                    .cloned()
                    .collect();
                let pipeline = shard.pipeline.clone();
                drop(shard);
                for p in partitions {
                    let cursor = cursors.entry(p.id).or_default();
                    sweep_partition(&p, &pipeline, cursor).await;
                }
            }
        })
        .detach();
    }

    /// Every so often, drops stream states idle for `state_idle` on every partition.
    fn spawn_idle_eviction(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        spawn_local(async move {
            let idle = match me.upgrade() {
                Some(shard) => shard.pipeline.config().state_idle,
                None => return,
            };
            loop {
                crate::runtime::sleep(idle / 2).await;
                let Some(shard) = me.upgrade() else { return };
                for p in shard.partitions.values() {
                    p.evict_idle(idle);
                }
            }
        })
        .detach();
    }

    /// Serves the inbox until told to close.
    pub(crate) async fn pump(self: Rc<Self>, inbox: InboxReceiver<Envelope>) {
        while let Some(envelope) = inbox.recv().await {
            match envelope {
                Envelope::Op { partition, op } => self.dispatch(partition, *op),
                Envelope::StartServing(serve) => {
                    let ctx = ShardContext {
                        shard_id: self.id,
                        cluster: self.cluster.clone(),
                        draining: self.draining.clone(),
                    };
                    *self.front_end.borrow_mut() = Some(spawn_local(serve(ctx)));
                }
                Envelope::Drain(reply) => {
                    if let Some(tx) = self.drain_tx.borrow_mut().take() {
                        let _ = tx.send(());
                    }
                    let front_end = self.front_end.borrow_mut().take();
                    let me = self.clone();
                    spawn_local(async move {
                        if let Some(task) = front_end {
                            let limit = Duration::from_secs(crate::limits::DRAIN_TIMEOUT_SECS);
                            if timeout(limit, task).await.is_none() {
                                tracing::warn!(shard = me.id, "drain timed out");
                            }
                        }
                        // The front end is done counting: write its counts while every shard
                        // still serves (a shard without partitions writes through another).
                        let partitions = me.partitions_by_id();
                        let home = match partitions.first() {
                            Some(p) => UsageHome::Local(p),
                            None => UsageHome::Remote(&me.cluster),
                        };
                        let deadline = me.pipeline.config().storage_deadline;
                        let written = crate::usage_ops::write_pending(home, me.id as u16);
                        let _ = timeout(deadline, written).await;
                        let _ = reply.send(());
                    })
                    .detach();
                }
                Envelope::Close(reply) => {
                    // What was counted after the drain (appends answered since), before the
                    // partitions close: bounded by one deadline, so a hung store delays
                    // shutdown by one more at most. Stored bytes are sampled after a restart.
                    // Not if the drain's write did not go through (the store is failing).
                    let home = self.partitions_by_id().first().cloned();
                    if let Some(home) = home.filter(|_| !crate::usage_meter::stalled()) {
                        let home = &home;
                        let deadline = self.pipeline.config().storage_deadline;
                        let written =
                            crate::usage_ops::write_pending(UsageHome::Local(home), self.id as u16);
                        let _ = timeout(deadline, written).await;
                    }
                    // All at once: each close is bounded by the storage deadline, so a hung
                    // store delays shutdown by one deadline, not one per partition.
                    let closes = self.partitions.values().map(|p| async move {
                        if let Err(e) = p.close().await {
                            tracing::error!(partition = p.id, error = %e, "close failed");
                        }
                    });
                    futures::future::join_all(closes).await;
                    self.pipeline.fail_all();
                    // Let the request tasks just woken pass their answers on before the
                    // executor (and every task on it) ends.
                    crate::runtime::sleep(Duration::from_millis(20)).await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }

    fn dispatch(self: &Rc<Self>, partition: PartitionId, op: Op) {
        let Some(p) = self.partitions.get(&partition).cloned() else {
            // A routing bug, not a client error: say so loudly, fail just this request.
            tracing::error!(shard = self.id, partition, "misrouted request");
            op.fail(ShardError::Unavailable("request reached the wrong shard"));
            return;
        };
        if let Some(why) = p.closed() {
            op.fail(ShardError::Unavailable(why));
            return;
        }
        let cluster = self.cluster.clone();
        // A panic in one request drops its reply (the caller gets 503), not the shard.
        spawn_isolated("request", handle(p, cluster, self.pipeline.clone(), op));
    }

    /// Restarts background deletions interrupted by a restart.
    fn resume_deletions(&self) {
        for p in self.partitions.values() {
            for basin in p.basins_pending_deletion() {
                deletion::spawn_basin_cleanup(self.cluster.clone(), basin);
            }
            for (basin, stream) in p.streams_pending_deletion() {
                deletion::spawn_stream_cleanup(p.clone(), basin, stream);
            }
        }
    }
}

// Each operation's future is boxed where it is awaited: the task spawned per request then
// holds only the small future of the arm it runs (not the largest of all arms), which
// matters at 100k reads per second (measured: the copy was 14% of a shard's CPU).
async fn handle(p: Rc<Partition>, cluster: Cluster, pipeline: Rc<AppendPipeline>, op: Op) {
    match op {
        Op::ListBasins(range, reply) => {
            let _ = reply.send(Ok(p.list_basins(&range)));
        }
        Op::IssueToken(issue, reply) => {
            let (info, with_auth) = *issue;
            let _ = reply.send(Box::pin(p.issue_token(info, with_auth)).await);
        }
        Op::ListTokens(range, reply) => {
            let _ = reply.send(Ok(p.list_tokens(&range)));
        }
        Op::RevokeToken(id, reply) => {
            let _ = reply.send(Box::pin(p.revoke_token(id)).await);
        }
        Op::TokenByDigest(digest, reply) => {
            let _ = reply.send(Ok(p.token_by_digest(&digest)));
        }
        Op::CreateBasin(name, config, token, reply) => {
            let _ = reply.send(Box::pin(p.create_basin(name, config, token)).await);
        }
        Op::EnsureBasin(name, config, reply) => {
            let _ = reply.send(Box::pin(p.ensure_basin(name, config)).await);
        }
        Op::GetBasin(name, reply) => {
            let _ = reply.send(p.get_basin(&name));
        }
        Op::ReconfigureBasin(name, patch, reply) => {
            let _ = reply.send(Box::pin(p.reconfigure_basin(name, patch)).await);
        }
        Op::DeleteBasin(name, reply) => {
            let result = Box::pin(p.delete_basin(name.clone())).await;
            if let Ok(true) = result {
                deletion::spawn_basin_cleanup(cluster, name);
            }
            let _ = reply.send(result.map(|_| ()));
        }
        Op::RemoveBasin(name, reply) => {
            let _ = reply.send(Box::pin(p.remove_basin(name)).await);
        }
        Op::ListStreams(basin, range, reply) => {
            let _ = reply.send(Ok(p.list_streams(&basin, &range)));
        }
        Op::CreateStream(c, reply) => {
            let c = *c;
            let r = Box::pin(p.create_stream(c.basin, c.stream, c.config, c.view, c.request_token))
                .await;
            let _ = reply.send(r);
        }
        Op::EnsureStream(basin, stream, config, view, reply) => {
            let _ = reply.send(Box::pin(p.ensure_stream(basin, stream, config, view)).await);
        }
        Op::GetStream(basin, stream, reply) => {
            let _ = reply.send(p.get_stream(&basin, &stream));
        }
        Op::ReconfigureStream(basin, stream, patch, view, reply) => {
            let _ = reply.send(Box::pin(p.reconfigure_stream(basin, stream, patch, view)).await);
        }
        Op::DeleteStream(basin, stream, reply) => {
            let result = Box::pin(delete_stream(&p, &pipeline, basin, stream)).await;
            let _ = reply.send(result.map(|_| ()));
        }
        Op::Append(a, reply) => {
            let a = *a;
            let trims = a
                .commands
                .iter()
                .any(|c| matches!(c, Some(Command::Trim(_))));
            let r = Box::pin(p.append(
                &pipeline,
                &a.basin,
                &a.stream,
                crate::append::AppendBatch {
                    input: a.input,
                    commands: a.commands,
                    sealing: crate::append::Sealing::RequestKey(a.key),
                    origin: a.origin,
                },
                a.sequenced,
            ))
            .await;
            if trims && r.is_ok() {
                if let Ok(entry) = p.get_stream(&a.basin, &a.stream) {
                    p.collect_trimmed(entry.meta.id, entry.meta.cipher.is_some());
                }
            }
            let _ = reply.send(r);
        }
        Op::Read(r, reply) => {
            let (basin, stream, req) = *r;
            let _ = reply.send(Box::pin(p.read(&basin, &stream, req)).await);
        }
        Op::CheckTail(basin, stream, reply) => {
            let _ = reply.send(Box::pin(p.check_tail(&basin, &stream)).await);
        }
        Op::Usage(q, reply) => {
            let (basin, from, to, pending) = *q;
            let _ = reply.send(Box::pin(p.usage_rows(basin, from, to, pending)).await);
        }
        Op::WriteUsage(w, reply) => {
            let (shard, flush, rows) = *w;
            let _ = reply.send(Box::pin(p.write_usage(shard, flush, &rows)).await);
        }
        Op::StreamStorage(q, reply) => {
            let (basin, stream, from, to) = *q;
            let _ = reply.send(Box::pin(p.stream_storage(&basin, &stream, from, to)).await);
        }
    }
}

/// A stream's deletion, for a client's DELETE or for delete-on-empty: the terminal trim
/// record for its live readers, the durable mark, then the cleanup in the background.
/// `Ok(false)`: it was already being deleted.
async fn delete_stream(
    p: &Rc<Partition>,
    pipeline: &Rc<AppendPipeline>,
    basin: BasinName,
    stream: StreamName,
) -> Result<bool, ShardError> {
    Box::pin(append_terminal_trim(p, pipeline, &basin, &stream)).await;
    let result = Box::pin(p.delete_stream(basin.clone(), stream.clone())).await;
    if let Ok(true) = result {
        deletion::spawn_stream_cleanup(p.clone(), basin, stream);
    }
    result
}

/// Where a partition's sweeps stopped (each sweep takes the next streams in name order).
#[derive(Default)]
struct SweepCursors {
    retention: Option<(BasinName, StreamName)>,
    delete_on_empty: Option<(BasinName, StreamName)>,
    data_objects: crate::data_objects::CollectionCursor,
}

/// One lifecycle sweep of a partition (see `lifecycle`): expired records deleted from
/// storage, then empty streams deleted.
async fn sweep_partition(
    p: &Rc<Partition>,
    pipeline: &Rc<AppendPipeline>,
    cursors: &mut SweepCursors,
) {
    let limit = crate::lifecycle::CHECKS_PER_TICK;
    if let Err(e) = Box::pin(p.collect_data_objects(&mut cursors.data_objects)).await {
        tracing::debug!(partition = p.id, error = %e, "data-object collection failed");
    }
    for c in p.retention_candidates(&mut cursors.retention, limit) {
        if let Err(e) = Box::pin(p.collect_expired(&c)).await {
            tracing::debug!(stream = %c.stream, error = %e, "expired-record collection failed");
        }
    }
    let cursor = &mut cursors.delete_on_empty;
    let candidates = p.delete_on_empty_candidates(p.now_nanos(), cursor, limit);
    for c in candidates {
        let tail = match Box::pin(p.judge_empty(&c)).await {
            Ok(Some(tail)) => tail,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(stream = %c.stream, error = %e, "delete-on-empty check failed");
                continue;
            }
        };
        if !p.claim_for_deletion(&c, tail) {
            continue;
        }
        tracing::info!(basin = %c.basin, stream = %c.stream, "deleting empty stream");
        let id = c.meta.id;
        if let Err(e) = delete_stream(p, pipeline, c.basin, c.stream).await {
            tracing::warn!(error = %e, "delete-on-empty deletion failed; will retry");
            p.release_claim(id);
        }
    }
}

/// What s2-lite appends to a stream it deletes: a trim command record past everything,
/// so its live readers see the stream end (then the session error) at once. It is an
/// ordinary record here (no trim point moves: the whole stream goes with its deletion),
/// stamped now (a command: never sealed, so streams with a cipher take it too); a stream
/// that cannot take it (storage failing) is deleted without it.
async fn append_terminal_trim(
    p: &Rc<Partition>,
    pipeline: &Rc<AppendPipeline>,
    basin: &protocol::names::BasinName,
    stream: &protocol::names::StreamName,
) {
    use protocol::records::{AppendInput, AppendRecord};
    if p.get_stream(basin, stream).is_err() {
        return;
    }
    let input = AppendInput {
        records: vec![AppendRecord {
            timestamp: Some(p.now_nanos() / 1_000_000),
            headers: vec![(bytes::Bytes::new(), bytes::Bytes::from_static(b"trim"))],
            body: bytes::Bytes::copy_from_slice(&u64::MAX.to_be_bytes()),
        }],
        match_seq_num: None,
        fencing_token: None,
    };
    if let Err(e) = p
        .append(
            pipeline,
            basin,
            stream,
            crate::append::AppendBatch {
                input,
                commands: vec![None],
                sealing: crate::append::Sealing::CommandsOnly,
                origin: None,
            },
            None,
        )
        .await
    {
        tracing::debug!(error = %e, "terminal trim record not appended");
    }
}

impl Op {
    /// Answers the request with `e` without running it.
    pub(crate) fn fail(self, e: ShardError) {
        match self {
            Op::ListBasins(_, r) => drop(r.send(Err(e))),
            Op::IssueToken(_, r) => drop(r.send(Err(e))),
            Op::ListTokens(_, r) => drop(r.send(Err(e))),
            Op::RevokeToken(_, r) => drop(r.send(Err(e))),
            Op::TokenByDigest(_, r) => drop(r.send(Err(e))),
            Op::CreateBasin(_, _, _, r) | Op::EnsureBasin(_, _, r) => drop(r.send(Err(e))),
            Op::GetBasin(_, r) => drop(r.send(Err(e))),
            Op::ReconfigureBasin(_, _, r) => drop(r.send(Err(e))),
            Op::DeleteBasin(_, r) | Op::RemoveBasin(_, r) | Op::DeleteStream(_, _, r) => {
                drop(r.send(Err(e)))
            }
            Op::ListStreams(_, _, r) => drop(r.send(Err(e))),
            Op::CreateStream(_, r) | Op::EnsureStream(_, _, _, _, r) => drop(r.send(Err(e))),
            Op::GetStream(_, _, r) | Op::ReconfigureStream(_, _, _, _, r) => drop(r.send(Err(e))),
            Op::Append(_, r) => drop(r.send(Err(e))),
            Op::Read(_, r) => drop(r.send(Err(e))),
            Op::CheckTail(_, _, r) => drop(r.send(Err(e))),
            Op::Usage(_, r) => drop(r.send(Err(e))),
            Op::StreamStorage(_, r) => drop(r.send(Err(e))),
            Op::WriteUsage(_, r) => drop(r.send(Err(e))),
        }
    }
}
