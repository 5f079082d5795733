//! The shard's pipelined writer: group commit across every stream of the shard.
//!
//! Appends are sequenced in memory by their partition (seq_nums assigned, conditions checked
//! against the in-memory tail, so a stream can have many batches in flight) and handed here
//! with their encoded puts. They gather in the *open round*. The dispatcher sends a round to
//! the storage runtime as soon as a slot is free (express), or after at most the standard
//! delay (standard), so concurrent appends share one write and one flush per partition. Up
//! to [`ROUNDS_INFLIGHT_MAX`] rounds are in flight; each crosses to the storage runtime once.
//!
//! Order and failure: round writes are chained (a round writes only after the previous
//! round's writes ended), and each partition's part of a round succeeds or fails on its
//! own. A failed part *taints* its streams at their current epoch: later rounds leave out
//! those streams' appends (they were sequenced after the lost records, so writing them
//! would leave a seq_num gap) and fail them, while every other append proceeds. The shard
//! marks a failed stream broken; once its in-flight appends have all failed it reloads its
//! position from storage and moves to the next epoch, which no taint covers. A round whose
//! write was dropped midway (storage runtime lost) leaves its streams tainted, because a
//! round taints its streams *before* writing and clears them only after it is durable.
//! Every storage call has a deadline. Rounds are released strictly in order, and only once
//! durable (write, flush, `await_durable`). Acks are never sent for undurable data.

use crate::error::ShardError;
use crate::notify::Notify;
use crate::placement::PartitionId;
use crate::runtime::spawn_local;
use crate::runtime::storage_runtime::StorageRuntime;
use crate::stream_state::StreamState;
use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use protocol::records::{AppendAck, SequencedRecord, StreamPosition};
use slatedb::{Db, WriteBatch};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds in flight at once per shard. More lets writes overlap flushes; rounds still
/// release in order.
pub const ROUNDS_INFLIGHT_MAX: usize = 4;

/// How often a round held back by a pacer looks again (`write_pacer`).
const PACE_TICK: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Metered bytes of appends admitted but not yet answered, per shard.
    pub inflight_bytes_max: usize,
    /// How long an append waits for room under `inflight_bytes_max` before failing.
    pub admission_timeout: Duration,
    /// How long a round of only `standard` appends may wait to share a flush.
    pub standard_delay: Duration,
    /// Minimum time between round dispatches (0 in memory and on local disk). On a bucket
    /// each round is a PUT per busy partition, so this bounds the PUT rate.
    pub flush_gap_min: Duration,
    /// Deadline for each storage call of a round (write, flush, durability); past it the
    /// part fails (503), its outcome unknown, as any failed write.
    pub storage_deadline: Duration,
    /// Bytes and records of recent durable records kept for reads near the tail.
    pub window_bytes_max: usize,
    pub window_records_max: usize,
    /// A stream's live state (tail, token, window) unused this long is dropped; the next
    /// request reloads it from its durable position.
    pub state_idle: Duration,
    /// How often each shard sweeps its streams for delete-on-empty (`lifecycle`).
    pub lifecycle_tick: Duration,
    /// How often each shard persists its usage counters and samples stored bytes (`usage`).
    pub usage_flush: Duration,
    /// A partition's part of a round with at least this many metered bytes writes its
    /// records as one data object, SlateDB holding pointers (decision 0016); smaller parts
    /// keep them inline. `usize::MAX`: always inline.
    pub data_object_min: usize,
}

/// A stream in the pipeline: its partition and id (ids are per partition).
pub type StreamKey = (PartitionId, u64);

/// What became of a round on the storage runtime.
#[derive(Debug, Default)]
pub struct RoundOutcome {
    /// Partitions whose part failed, with why: their appends fail.
    failed_parts: HashMap<PartitionId, ShardError>,
    /// Streams whose appends were left out, tainted by an earlier failure: they fail.
    excluded: HashSet<StreamKey>,
}

impl RoundOutcome {
    fn lost(why: &'static str, round: &Round) -> RoundOutcome {
        RoundOutcome {
            failed_parts: round
                .acks
                .iter()
                .map(|a| (a.stream.0, ShardError::Unavailable(why)))
                .collect(),
            excluded: HashSet::new(),
        }
    }

    fn error_for(&self, stream: StreamKey) -> Option<ShardError> {
        if let Some(e) = self.failed_parts.get(&stream.0) {
            return Some(e.clone());
        }
        self.excluded
            .contains(&stream)
            .then_some(ShardError::Unavailable(
                "an earlier write of this stream failed; retry",
            ))
    }
}

/// Streams whose records may be missing from storage. Touched only by round writes on the
/// storage runtime, never by a shard thread.
#[derive(Default)]
struct TaintMap {
    /// A write of the stream failed at this epoch: later appends of that epoch are left out.
    failed: HashMap<StreamKey, u64>,
    /// Written by round `.0` at epoch `.1`, not yet known durable. Should that round's
    /// write be abandoned (its task dropped), these become failures.
    in_doubt: HashMap<StreamKey, (u64, u64)>,
}

type Taint = Arc<std::sync::Mutex<TaintMap>>;

/// A round's outcome waiting for its turn to be released.
type Finished = (RoundOutcome, Round);

/// One append's puts, applied to its partition's batch when the round writes; its record
/// bytes go to the part's data object unless the part is small (decision 0016).
type Fill = Box<dyn FnOnce(&mut WriteBatch, &mut DataObject) + Send>;

/// The next data object id, process-wide. Seeded at each partition's open past the clock
/// and past every object the partition holds ([`seed_object_ids`]), so ids never repeat,
/// even across restarts with a clock that stepped back.
static NEXT_OBJECT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Data object ids from now on are above `at_least` and the clock.
pub fn seed_object_ids(at_least: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    NEXT_OBJECT.fetch_max(now.max(at_least), std::sync::atomic::Ordering::Relaxed);
}

/// Offsets in a data object are 32-bit: a larger part stays inline.
const DATA_OBJECT_MAX: usize = 1 << 31;

/// A round's record bytes for one partition, PUT as one object before the batch that
/// points into it is written (decision 0016).
pub struct DataObject {
    pub id: u64,
    pub inline: bool,
    pieces: Vec<bytes::Bytes>,
    len: u64,
    entries: Vec<crate::kv::data_object::Entry>,
}

impl DataObject {
    fn new(inline: bool) -> DataObject {
        DataObject {
            id: NEXT_OBJECT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            inline,
            pieces: Vec::new(),
            len: 0,
            entries: Vec::new(),
        }
    }

    /// Notes that `stream_id` has records up to `last_seq` here, expiring at `expires_at`.
    pub fn note(&mut self, stream_id: u64, last_seq: u64, expires_at: u64) {
        match self.entries.iter_mut().find(|e| e.stream_id == stream_id) {
            Some(e) => {
                e.last_seq = e.last_seq.max(last_seq);
                e.expires_at = e.expires_at.max(expires_at);
            }
            None => self.entries.push(crate::kv::data_object::Entry {
                stream_id,
                last_seq,
                expires_at,
            }),
        }
    }

    /// Adds `value`; returns its offset in the object.
    pub fn push(&mut self, value: bytes::Bytes) -> u32 {
        let at = self.len;
        self.len += value.len() as u64;
        self.pieces.push(value);
        at as u32
    }
}

/// Where partition `path`'s data object `id` lives.
pub fn data_path(path: &str, id: u64) -> slatedb::object_store::path::Path {
    slatedb::object_store::path::Path::from(format!("{path}/data/{id:020}"))
}

/// One append waiting for its round.
pub struct PendingAck {
    pub state: Rc<RefCell<StreamState>>,
    pub stream: StreamKey,
    /// The stream's epoch when sequenced (see `StreamState::epoch`).
    pub epoch: u64,
    pub start: StreamPosition,
    pub end: StreamPosition,
    pub trim_point: u64,
    /// The stream's appended bytes once this append is durable.
    pub appended_bytes: u64,
    pub records: Vec<SequencedRecord>,
    /// When these records expire (ms since the epoch; `u64::MAX`: never).
    pub expires_at: u64,
    pub reply: oneshot::Sender<Result<AppendAck, ShardError>>,
}

struct RoundPart {
    partition: PartitionId,
    db: Arc<Db>,
    store: Arc<dyn slatedb::object_store::ObjectStore>,
    path: String,
    /// Metered bytes of this part's appends.
    bytes: usize,
    appends: Vec<(StreamKey, u64, Fill)>,
}

struct Round {
    parts: Vec<RoundPart>,
    /// Each part's partition pacer, in `parts` order (kept apart: parts cross threads).
    pacers: Vec<Rc<crate::write_pacer::WritePacer>>,
    acks: Vec<PendingAck>,
    /// Metered bytes admitted for this round's appends.
    bytes: usize,
    express: bool,
    opened: Instant,
    /// Held back by a pacer at least once (counted once in `rounds_paced`).
    held: bool,
}

/// Held by an append from admission until its bytes join a round (then the round holds
/// them until released); dropping it early gives the bytes back.
pub struct Admission {
    pipeline: Weak<AppendPipeline>,
    bytes: usize,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(p) = self.pipeline.upgrade() {
            p.release_bytes(self.bytes);
        }
    }
}

pub struct AppendPipeline {
    storage: StorageRuntime,
    config: PipelineConfig,
    open: RefCell<Option<Round>>,
    last_dispatch: Cell<Option<Instant>>,
    next_round: Cell<u64>,
    next_release: Cell<u64>,
    rounds_inflight: Cell<usize>,
    finished: RefCell<BTreeMap<u64, Finished>>,
    /// Rounds handed to storage, by number, until their outcome is known. Kept here (not in
    /// the task that writes them) so `fail_all` can answer every waiting append.
    dispatched: RefCell<BTreeMap<u64, Round>>,
    write_chain: RefCell<Option<Shared<oneshot::Receiver<()>>>>,
    taint: Taint,
    inflight_bytes: Cell<usize>,
    /// In-flight bytes were released or a round slot freed.
    capacity: Notify,
    /// The open round has work.
    work: Notify,
    window: RefCell<WindowBudget>,
    /// With the in-memory store: how full it is (appends of records stop while it is full).
    memory_room: Option<crate::memory_store::StoreRoom>,
}

/// The shard-wide bound on windows: every record pushed into some stream's window is
/// queued here, oldest first; past the budget the oldest are evicted from their streams.
#[derive(Default)]
struct WindowBudget {
    fifo: VecDeque<(Weak<RefCell<StreamState>>, u64, usize)>,
    bytes: usize,
}

impl AppendPipeline {
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn new(
        storage: StorageRuntime,
        config: PipelineConfig,
        memory_room: Option<crate::memory_store::StoreRoom>,
    ) -> Rc<AppendPipeline> {
        let p = Rc::new(AppendPipeline {
            storage,
            config,
            memory_room,
            open: RefCell::new(None),
            last_dispatch: Cell::new(None),
            next_round: Cell::new(0),
            next_release: Cell::new(0),
            rounds_inflight: Cell::new(0),
            finished: RefCell::new(BTreeMap::new()),
            dispatched: RefCell::new(BTreeMap::new()),
            write_chain: RefCell::new(None),
            taint: Taint::default(),
            inflight_bytes: Cell::new(0),
            capacity: Notify::default(),
            work: Notify::default(),
            window: RefCell::new(WindowBudget::default()),
        });
        spawn_local(Self::dispatcher(Rc::downgrade(&p))).detach();
        p
    }

    /// The in-memory store holds its capacity: appends of records are refused (503) until
    /// trims, deletions, retention and garbage collection free room. Command records still
    /// go through, so a client can trim its way out.
    pub fn memory_store_full(&self) -> bool {
        self.memory_room.as_ref().is_some_and(|r| r.is_full())
    }

    /// Waits for room for `bytes` of appends; fails after the admission timeout.
    pub async fn admit(self: &Rc<Self>, bytes: usize) -> Result<Admission, ShardError> {
        let deadline = Instant::now() + self.config.admission_timeout;
        // A batch larger than the whole budget still goes through alone.
        while self.inflight_bytes.get() > 0
            && self.inflight_bytes.get() + bytes > self.config.inflight_bytes_max
        {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ShardError::Backpressure {
                    limit: self.config.inflight_bytes_max,
                });
            }
            let _ = crate::runtime::timeout(left, self.capacity.listen()).await;
        }
        self.inflight_bytes.set(self.inflight_bytes.get() + bytes);
        self.publish_inflight();
        Ok(Admission {
            pipeline: Rc::downgrade(self),
            bytes,
        })
    }

    fn release_bytes(&self, bytes: usize) {
        self.inflight_bytes.set(self.inflight_bytes.get() - bytes);
        self.publish_inflight();
        self.capacity.notify_all();
    }

    fn publish_inflight(&self) {
        let bytes = self.inflight_bytes.get() as u64;
        crate::shard_metrics::with(|m| m.append_inflight_bytes.set(bytes));
    }

    /// Adds one sequenced append (its puts already in `batch`) to the open round.
    pub fn submit(
        &self,
        to: &crate::partition::Partition,
        fill: impl FnOnce(&mut WriteBatch, &mut DataObject) + Send + 'static,
        ack: PendingAck,
        admission: Admission,
        express: bool,
    ) {
        let bytes = admission.bytes;
        std::mem::forget(admission); // the round now owns these bytes
        let partition = to.id;
        let mut open = self.open.borrow_mut();
        let round = open.get_or_insert_with(|| Round {
            parts: Vec::new(),
            pacers: Vec::new(),
            acks: Vec::new(),
            bytes: 0,
            express: false,
            opened: Instant::now(),
            held: false,
        });
        let part = match round
            .parts
            .iter_mut()
            .position(|p| p.partition == partition)
        {
            Some(i) => &mut round.parts[i],
            None => {
                round.parts.push(RoundPart {
                    partition,
                    db: to.db().clone(),
                    store: to.store.clone(),
                    path: to.path.clone(),
                    bytes: 0,
                    appends: Vec::new(),
                });
                round.pacers.push(to.pacer.clone());
                round.parts.last_mut().expect("just pushed")
            }
        };
        part.appends.push((ack.stream, ack.epoch, Box::new(fill)));
        part.bytes += bytes;
        round.acks.push(ack);
        round.bytes += bytes;
        round.express |= express;
        drop(open);
        self.work.notify_all();
    }

    async fn dispatcher(me: Weak<AppendPipeline>) {
        loop {
            let Some(p) = me.upgrade() else { return };
            let round_info = p.open.borrow().as_ref().map(|r| (r.express, r.opened));
            let Some((express, opened)) = round_info else {
                let wait = p.work.listen();
                drop(p);
                let _ = wait.await;
                continue;
            };
            if !express {
                let due = opened + p.config.standard_delay;
                let left = due.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    let wait = p.work.listen();
                    drop(p);
                    // Wake early if an express append joins the round.
                    let _ = crate::runtime::timeout(left, wait).await;
                    continue;
                }
            }
            if let Some(last) = p.last_dispatch.get() {
                let left =
                    (last + p.config.flush_gap_min).saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    drop(p);
                    crate::runtime::sleep(left).await;
                    continue;
                }
            }
            // A partition whose L0 is high holds the round back (`write_pacer`); the
            // round meanwhile gathers more appends.
            let now = Instant::now();
            let paced = p.open.borrow().as_ref().map_or(Duration::ZERO, |r| {
                r.pacers
                    .iter()
                    .map(|pacer| pacer.delay(now))
                    .max()
                    .unwrap_or_default()
            });
            if !paced.is_zero() {
                let first_hold = p
                    .open
                    .borrow_mut()
                    .as_mut()
                    .is_some_and(|r| !std::mem::replace(&mut r.held, true));
                if first_hold {
                    crate::shard_metrics::with(|m| m.rounds_paced.add(1));
                }
                drop(p);
                // In ticks, so a falling L0 (a higher rate, or none) frees the round soon.
                crate::runtime::sleep(paced.min(PACE_TICK)).await;
                continue;
            }
            if p.rounds_inflight.get() >= ROUNDS_INFLIGHT_MAX {
                let wait = p.capacity.listen();
                drop(p);
                let _ = wait.await;
                continue;
            }
            let round = p.open.borrow_mut().take().expect("checked above");
            p.dispatch(round);
        }
    }

    fn dispatch(self: &Rc<Self>, mut round: Round) {
        let now = Instant::now();
        self.last_dispatch.set(Some(now));
        for (part, pacer) in round.parts.iter().zip(&round.pacers) {
            pacer.dispatched(part.bytes, now);
        }
        let no = self.next_round.get();
        self.next_round.set(no + 1);
        self.rounds_inflight.set(self.rounds_inflight.get() + 1);
        let previous = self.write_chain.borrow_mut().take();
        let (written_tx, written_rx) = oneshot::channel();
        *self.write_chain.borrow_mut() = Some(written_rx.shared());
        let parts: Vec<RoundPart> = round.parts.drain(..).collect();
        let storage = self.storage.clone();
        let (taint, deadline) = (self.taint.clone(), self.config.storage_deadline);
        let data_min = self.config.data_object_min;
        let write = async move {
            storage
                .run(write_round(
                    no, previous, parts, written_tx, taint, deadline, data_min,
                ))
                .await
        };
        self.dispatched.borrow_mut().insert(no, round);
        let me = self.clone();
        let started = Instant::now();
        spawn_local(async move {
            let outcome = write.await;
            crate::shard_metrics::with(|m| {
                m.round_seconds.observe_duration(started.elapsed());
                m.rounds.add(1);
                if !outcome.as_ref().is_ok_and(|o| o.failed_parts.is_empty()) {
                    m.rounds_failed.add(1);
                }
            });
            // Gone if `fail_all` already answered its appends.
            let Some(round) = me.dispatched.borrow_mut().remove(&no) else {
                return;
            };
            let outcome = match outcome {
                Ok(r) => r,
                Err(_) => RoundOutcome::lost("storage runtime lost", &round),
            };
            me.finish(no, outcome, round);
        })
        .detach();
    }

    /// At shutdown, after the partitions closed: answers every append still waiting (open,
    /// dispatched or waiting for an earlier round) with 503, outcome unknown, so no caller
    /// waits on a shard that is gone.
    pub fn fail_all(&self) {
        let mut rounds: Vec<Round> = self.open.borrow_mut().take().into_iter().collect();
        rounds.extend(std::mem::take(&mut *self.dispatched.borrow_mut()).into_values());
        rounds.extend(
            std::mem::take(&mut *self.finished.borrow_mut())
                .into_values()
                .map(|(_, r)| r),
        );
        for round in rounds {
            for ack in round.acks {
                let _ = ack.reply.send(Err(ShardError::Unavailable(
                    "server shutting down; outcome unknown",
                )));
            }
        }
    }

    /// Records a round's outcome and releases every round that can go, in order.
    fn finish(&self, no: u64, result: RoundOutcome, round: Round) {
        self.finished.borrow_mut().insert(no, (result, round));
        loop {
            let next = self.next_release.get();
            let Some((result, round)) = self.finished.borrow_mut().remove(&next) else {
                return;
            };
            self.next_release.set(next + 1);
            self.rounds_inflight.set(self.rounds_inflight.get() - 1);
            self.release(result, round);
        }
    }

    fn release(&self, outcome: RoundOutcome, round: Round) {
        let Round { acks, bytes, .. } = round;
        for (partition, e) in &outcome.failed_parts {
            tracing::error!(partition, error = %e, "append round failed for a partition");
        }
        let (mut ok, mut failed) = (Vec::with_capacity(acks.len()), Vec::new());
        for ack in acks {
            match outcome.error_for(ack.stream) {
                None => ok.push(ack),
                Some(e) => failed.push((ack, e)),
            }
        }
        for (ack, e) in failed {
            let mut st = ack.state.borrow_mut();
            st.inflight -= 1;
            st.broken = true;
            st.clear_window();
            st.changed.notify_all();
            drop(st);
            let _ = ack.reply.send(Err(e));
        }
        // First move every stream's durable tail, so each ack reports the tail after its
        // whole round.
        for ack in &mut ok {
            self.advance(ack);
        }
        for ack in ok {
            let st = ack.state.borrow();
            let tail = if st.durable.seq_num >= ack.end.seq_num {
                st.durable
            } else {
                ack.end
            };
            let _ = ack.reply.send(Ok(AppendAck {
                start: ack.start,
                end: ack.end,
                tail,
            }));
        }
        self.release_bytes(bytes);
    }

    /// A durable append moves its stream's durable tail and joins its window.
    fn advance(&self, ack: &mut PendingAck) {
        let mut st = ack.state.borrow_mut();
        st.inflight -= 1;
        if !st.broken && st.durable.seq_num == ack.start.seq_num {
            st.durable = ack.end;
            st.durable_trim_point = st.durable_trim_point.max(ack.trim_point);
            st.durable_appended_bytes = ack.appended_bytes;
            let trim = st.durable_trim_point;
            st.evict_window_below(trim);
            let mut budget = self.window.borrow_mut();
            for r in &ack.records {
                budget
                    .fifo
                    .push_back((Rc::downgrade(&ack.state), r.seq_num, r.metered_size()));
                budget.bytes += r.metered_size();
            }
            st.extend_window(ack.records.iter().cloned(), ack.expires_at);
            let bytes = budget.bytes as u64;
            crate::shard_metrics::with(|m| m.window_bytes.set(bytes));
        } else {
            // Out of step after a failure: the reload will find the truth in storage.
            st.broken = true;
        }
        st.changed.notify_all();
        drop(st);
        self.enforce_window_budget();
    }

    fn enforce_window_budget(&self) {
        let mut budget = self.window.borrow_mut();
        while budget.bytes > self.config.window_bytes_max
            || budget.fifo.len() > self.config.window_records_max
        {
            let Some((state, seq, size)) = budget.fifo.pop_front() else {
                break;
            };
            if let Some(strong) = state.upgrade() {
                let Ok(mut st) = strong.try_borrow_mut() else {
                    // In use right now: count it until it can really be freed (next time).
                    budget.fifo.push_front((state, seq, size));
                    break;
                };
                st.evict_window_below(seq + 1);
            }
            // Freed now, or already (the stream's state is gone or its window was cleared).
            budget.bytes -= size;
        }
        let bytes = budget.bytes as u64;
        crate::shard_metrics::with(|m| m.window_bytes.set(bytes));
    }
}

/// A round storage call's result under its deadline.
fn timed<T>(
    what: &'static str,
    deadline: Duration,
    r: Result<Result<T, slatedb::Error>, tokio::time::error::Elapsed>,
) -> Result<T, ShardError> {
    match r {
        Ok(r) => r.map_err(ShardError::from),
        Err(_) => Err(ShardError::StorageTimeout {
            what,
            after: deadline,
        }),
    }
}

/// Taints `streams` at their epochs: their appends of that epoch or older are left out (and
/// fail) until each stream reloads.
fn mark_failed(taint: &mut TaintMap, streams: &[(StreamKey, u64)]) {
    for &(stream, epoch) in streams {
        let e = taint.failed.entry(stream).or_insert(epoch);
        *e = (*e).max(epoch);
    }
}

/// Runs on the storage runtime: wait for the previous round's writes, leave out appends of
/// tainted streams, then per partition write, flush and await durability, each call under
/// `deadline`. A part that fails (or times out) keeps its streams tainted.
async fn write_round(
    no: u64,
    previous: Option<Shared<oneshot::Receiver<()>>>,
    parts: Vec<RoundPart>,
    written: oneshot::Sender<()>,
    taint: Taint,
    deadline: Duration,
    data_min: usize,
) -> RoundOutcome {
    if let Some(prev) = previous {
        if prev.await.is_err() {
            // The previous round's write was abandoned midway: whatever is in doubt may
            // be missing (conservative: a stream wrongly failed reloads and goes on).
            let mut t = taint.lock().unwrap_or_else(|e| e.into_inner());
            let doubt: Vec<_> = t.in_doubt.drain().collect();
            for (stream, (_, epoch)) in doubt {
                let e = t.failed.entry(stream).or_insert(epoch);
                *e = (*e).max(epoch);
            }
        }
    }
    let mut outcome = RoundOutcome::default();
    // Which appends go, and mark their streams in doubt until durable.
    let mut batches = Vec::with_capacity(parts.len());
    let mut written_streams: Vec<(PartitionId, Vec<(StreamKey, u64)>)> = Vec::new();
    {
        let mut taint = taint.lock().unwrap_or_else(|e| e.into_inner());
        for part in parts {
            let mut batch = WriteBatch::new();
            let mut data = DataObject::new(part.bytes < data_min || part.bytes >= DATA_OBJECT_MAX);
            let mut streams = Vec::new();
            for (stream, epoch, fill) in part.appends {
                match taint.failed.get(&stream) {
                    Some(&failed_at) if epoch <= failed_at => {
                        outcome.excluded.insert(stream);
                        continue;
                    }
                    // Reloaded since: the failure no longer applies.
                    Some(_) => drop(taint.failed.remove(&stream)),
                    None => {}
                }
                taint.in_doubt.insert(stream, (no, epoch));
                if !streams.contains(&(stream, epoch)) {
                    streams.push((stream, epoch));
                }
                fill(&mut batch, &mut data);
            }
            if !data.pieces.is_empty() {
                // The object's catalogue entry goes with the pointers into it.
                batch.put(
                    crate::kv::data_object::key(data.id),
                    crate::kv::data_object::encode_value(&data.entries),
                );
            }
            if !streams.is_empty() {
                batches.push((part.partition, part.db, batch, data, part.store, part.path));
                written_streams.push((part.partition, streams));
            }
        }
    }
    let mut pending = Vec::with_capacity(batches.len());
    for (partition, db, batch, data, store, path) in batches {
        // The records' bytes first: a pointer is never durable before what it points at.
        if !data.pieces.is_empty() {
            let object = data_path(&path, data.id);
            let put = store.put_opts(
                &object,
                slatedb::object_store::PutPayload::from_iter(data.pieces),
                slatedb::object_store::PutMode::Create.into(),
            );
            let failed = match tokio::time::timeout(deadline, put).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(ShardError::Storage(format!("data object: {e}"))),
                Err(_) => Some(ShardError::StorageTimeout {
                    what: "append data",
                    after: deadline,
                }),
            };
            if let Some(e) = failed {
                outcome.failed_parts.insert(partition, e);
                continue;
            }
        }
        match timed(
            "append write",
            deadline,
            tokio::time::timeout(deadline, db.write(batch)).await,
        ) {
            Ok(handle) => pending.push((partition, db, handle)),
            Err(e) => drop(outcome.failed_parts.insert(partition, e)),
        }
    }
    // Parts already failed (a data PUT, or a write that erred) taint their streams before
    // the next round may write: an append of theirs in a later round must not become durable
    // past records that may never exist.
    if !outcome.failed_parts.is_empty() {
        let mut t = taint.lock().unwrap_or_else(|e| e.into_inner());
        for (partition, streams) in &written_streams {
            if outcome.failed_parts.contains_key(partition) {
                mark_failed(&mut t, streams);
            }
        }
    }
    let _ = written.send(());
    let durable =
        futures::future::join_all(pending.into_iter().map(|(partition, db, h)| async move {
            let r = tokio::time::timeout(deadline, async {
                db.flush().await?;
                h.await_durable().await
            })
            .await;
            (partition, timed("append flush", deadline, r))
        }))
        .await;
    for (partition, r) in durable {
        if let Err(e) = r {
            outcome.failed_parts.insert(partition, e);
        }
    }
    // Settle the doubt this round put on its streams (a later round may have taken it).
    let mut taint = taint.lock().unwrap_or_else(|e| e.into_inner());
    for (partition, streams) in written_streams {
        if outcome.failed_parts.contains_key(&partition) {
            mark_failed(&mut taint, &streams);
        }
        for (s, _) in streams {
            if taint
                .in_doubt
                .get(&s)
                .is_some_and(|&(round, _)| round == no)
            {
                taint.in_doubt.remove(&s);
            }
        }
    }
    outcome
}
