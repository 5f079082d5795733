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
//! round's writes succeeded), so a failed write can never be followed by a later round's
//! records, and no seq_num gap can become durable. Rounds are released strictly in order,
//! and only once durable (write, flush, `await_durable`). A failed round fails its appends
//! and marks their streams broken; they reload their position from storage before the next
//! append. Acks are never sent for undurable data.

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
use std::collections::{BTreeMap, VecDeque};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds in flight at once per shard. More lets writes overlap flushes; rounds still
/// release in order.
pub const ROUNDS_INFLIGHT_MAX: usize = 4;

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
    /// Bytes and records of recent durable records kept for reads near the tail.
    pub window_bytes_max: usize,
    pub window_records_max: usize,
}

/// A round's outcome waiting for its turn to be released.
type Finished = (Result<(), String>, Round);

/// One append waiting for its round.
pub struct PendingAck {
    pub state: Rc<RefCell<StreamState>>,
    pub start: StreamPosition,
    pub end: StreamPosition,
    pub trim_point: u64,
    pub records: Vec<SequencedRecord>,
    pub reply: oneshot::Sender<Result<AppendAck, ShardError>>,
}

struct RoundPart {
    partition: PartitionId,
    db: Arc<Db>,
    batch: WriteBatch,
}

struct Round {
    parts: Vec<RoundPart>,
    acks: Vec<PendingAck>,
    /// Metered bytes admitted for this round's appends.
    bytes: usize,
    express: bool,
    opened: Instant,
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
    write_chain: RefCell<Option<Shared<oneshot::Receiver<bool>>>>,
    inflight_bytes: Cell<usize>,
    /// In-flight bytes were released or a round slot freed.
    capacity: Notify,
    /// The open round has work.
    work: Notify,
    window: RefCell<WindowBudget>,
}

/// The shard-wide bound on windows: every record pushed into some stream's window is
/// queued here, oldest first; past the budget the oldest are evicted from their streams.
#[derive(Default)]
struct WindowBudget {
    fifo: VecDeque<(Weak<RefCell<StreamState>>, u64, usize)>,
    bytes: usize,
}

impl AppendPipeline {
    pub fn new(storage: StorageRuntime, config: PipelineConfig) -> Rc<AppendPipeline> {
        let p = Rc::new(AppendPipeline {
            storage,
            config,
            open: RefCell::new(None),
            last_dispatch: Cell::new(None),
            next_round: Cell::new(0),
            next_release: Cell::new(0),
            rounds_inflight: Cell::new(0),
            finished: RefCell::new(BTreeMap::new()),
            write_chain: RefCell::new(None),
            inflight_bytes: Cell::new(0),
            capacity: Notify::default(),
            work: Notify::default(),
            window: RefCell::new(WindowBudget::default()),
        });
        spawn_local(Self::dispatcher(Rc::downgrade(&p))).detach();
        p
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
        Ok(Admission {
            pipeline: Rc::downgrade(self),
            bytes,
        })
    }

    fn release_bytes(&self, bytes: usize) {
        self.inflight_bytes.set(self.inflight_bytes.get() - bytes);
        self.capacity.notify_all();
    }

    /// Adds one sequenced append (its puts already in `batch`) to the open round.
    pub fn submit(
        &self,
        partition: PartitionId,
        db: &Arc<Db>,
        fill: impl FnOnce(&mut WriteBatch),
        ack: PendingAck,
        admission: Admission,
        express: bool,
    ) {
        let bytes = admission.bytes;
        std::mem::forget(admission); // the round now owns these bytes
        let mut open = self.open.borrow_mut();
        let round = open.get_or_insert_with(|| Round {
            parts: Vec::new(),
            acks: Vec::new(),
            bytes: 0,
            express: false,
            opened: Instant::now(),
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
                    db: db.clone(),
                    batch: WriteBatch::new(),
                });
                round.parts.last_mut().expect("just pushed")
            }
        };
        fill(&mut part.batch);
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
        self.last_dispatch.set(Some(Instant::now()));
        let no = self.next_round.get();
        self.next_round.set(no + 1);
        self.rounds_inflight.set(self.rounds_inflight.get() + 1);
        let previous = self.write_chain.borrow_mut().take();
        let (written_tx, written_rx) = oneshot::channel();
        *self.write_chain.borrow_mut() = Some(written_rx.shared());
        let parts: Vec<(Arc<Db>, WriteBatch)> =
            round.parts.drain(..).map(|p| (p.db, p.batch)).collect();
        let storage = self.storage.clone();
        let write = async move { storage.run(write_round(previous, parts, written_tx)).await };
        let me = self.clone();
        spawn_local(async move {
            let result = match write.await {
                Ok(r) => r,
                Err(_) => Err("storage runtime lost".to_owned()),
            };
            me.finish(no, result, round);
        })
        .detach();
    }

    /// Records a round's outcome and releases every round that can go, in order.
    fn finish(&self, no: u64, result: Result<(), String>, round: Round) {
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

    fn release(&self, result: Result<(), String>, round: Round) {
        let Round {
            mut acks, bytes, ..
        } = round;
        match result {
            Ok(()) => {
                // First move every stream's durable tail, so each ack reports the tail
                // after its whole round.
                for ack in &mut acks {
                    self.advance(ack);
                }
                for ack in acks {
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
            }
            Err(e) => {
                tracing::error!(error = %e, appends = acks.len(), "append round failed");
                for ack in acks {
                    let mut st = ack.state.borrow_mut();
                    st.inflight -= 1;
                    st.broken = true;
                    st.window.clear();
                    st.window_bytes = 0;
                    st.changed.notify_all();
                    drop(st);
                    let _ = ack.reply.send(Err(ShardError::Storage(e.clone())));
                }
            }
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
            let trim = st.durable_trim_point;
            st.evict_window_below(trim);
            let mut budget = self.window.borrow_mut();
            for r in &ack.records {
                budget
                    .fifo
                    .push_back((Rc::downgrade(&ack.state), r.seq_num, r.metered_size()));
                budget.bytes += r.metered_size();
            }
            st.extend_window(ack.records.iter().cloned());
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
            budget.bytes -= size;
            if let Some(state) = state.upgrade() {
                if let Ok(mut st) = state.try_borrow_mut() {
                    st.evict_window_below(seq + 1);
                }
            }
        }
    }
}

/// Runs on the storage runtime: chain behind the previous round's writes, write each
/// partition's batch, flush them all, await durability.
async fn write_round(
    previous: Option<Shared<oneshot::Receiver<bool>>>,
    parts: Vec<(Arc<Db>, WriteBatch)>,
    written: oneshot::Sender<bool>,
) -> Result<(), String> {
    if let Some(prev) = previous {
        if prev.await != Ok(true) {
            let _ = written.send(false);
            return Err("an earlier round failed".into());
        }
    }
    let mut handles = Vec::with_capacity(parts.len());
    let mut dbs = Vec::with_capacity(parts.len());
    for (db, batch) in parts {
        match db.write(batch).await {
            Ok(h) => handles.push(h),
            Err(e) => {
                let _ = written.send(false);
                return Err(e.to_string());
            }
        }
        dbs.push(db);
    }
    let _ = written.send(true);
    let flushes = futures::future::join_all(dbs.iter().map(|db| db.flush())).await;
    for f in flushes {
        f.map_err(|e| e.to_string())?;
    }
    for h in handles {
        h.await_durable().await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
