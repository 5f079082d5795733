//! A partition: one SlateDB database and the in-memory view of the basin and stream metadata
//! it holds. Partitions live on their shard (`Rc`, no locks); their `Db` lives on the shard's
//! storage runtime and is only touched through [`StorageRuntime::run`].
//!
//! Metadata changes are serialized per partition by `meta_lock` and acknowledged only after
//! the write is durable: write, flush the WAL, await durability, then update memory. They are
//! rare next to appends, so one at a time per partition costs little (one flush: ~0.1 ms in
//! memory, one PUT ~8 ms on S3).

use crate::clock::SharedClock;
use crate::error::ShardError;
use crate::kv::stream_position::StreamPosition as StoredPosition;
use crate::kv::{self, BasinMeta, StreamMeta};
use crate::placement::PartitionId;
use crate::runtime::storage_runtime::StorageRuntime;
use crate::stream_state::StreamState;
use object_store::ObjectStore;
use protocol::names::{BasinName, StreamName};
use slatedb::{Db, WriteBatch};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

static STATES_EVICTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Idle stream states dropped so far, by every partition of this process.
pub fn states_evicted() -> u64 {
    STATES_EVICTED.load(std::sync::atomic::Ordering::Relaxed)
}

pub type StreamTable = BTreeMap<BasinName, BTreeMap<StreamName, StreamMeta>>;

pub struct Partition {
    pub id: PartitionId,
    db: Arc<Db>,
    /// The store and this partition's path in it, for data objects (decision 0016).
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) path: String,
    /// Slows this partition's rounds while its L0 is high (`write_pacer`).
    pub(crate) pacer: Rc<crate::write_pacer::WritePacer>,
    storage: StorageRuntime,
    pub(crate) clock: SharedClock,
    pub(crate) meta_lock: futures::lock::Mutex<()>,
    pub(crate) basins: RefCell<BTreeMap<BasinName, BasinMeta>>,
    pub(crate) streams: RefCell<StreamTable>,
    pub(crate) stream_count: Cell<usize>,
    pub(crate) next_stream_id: Cell<u64>,
    /// Live state of streams touched since start-up (data plane), by stream id.
    pub(crate) states: RefCell<HashMap<u64, Rc<RefCell<StreamState>>>>,
    /// Per stream id: records below this were deleted as expired (`lifecycle`). Lost on
    /// restart (the next collection starts again from the first record still stored).
    pub(crate) expired_collected: RefCell<HashMap<u64, u64>>,
    /// Access tokens by id (partition 0 only; `token_ops`), and ids by secret digest.
    pub(crate) tokens: RefCell<BTreeMap<String, crate::kv::access_token::StoredToken>>,
    pub(crate) token_digests: RefCell<HashMap<String, String>>,
    /// Per stream id: metered bytes appended (durable) and deleted by collection, for the
    /// storage gauge (`usage_ops`). Bounded like the stream table: one entry per stream.
    pub(crate) stored: RefCell<HashMap<u64, StoredBytes>>,
    /// Per stream id: the last stored-bytes sample written (bytes, minute).
    pub(crate) sampled: RefCell<HashMap<u64, (u64, u32)>>,
    /// Serializes notes of collected bytes (trim and retention collections may overlap), so
    /// the highest noted is the one stored.
    collect_lock: futures::lock::Mutex<()>,
    load_lock: futures::lock::Mutex<()>,
    /// Set, with why, if the database closes while serving (fenced by another writer, or a
    /// background task panicked): every request then answers 503 with that reason.
    closed: Arc<std::sync::OnceLock<&'static str>>,
}

/// A stream's byte counts: stored bytes are `appended - collected`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StoredBytes {
    pub appended: u64,
    pub collected: u64,
}

impl StoredBytes {
    pub(crate) fn stored(&self) -> u64 {
        // Streams written before metering count from 0 appended bytes.
        self.appended.saturating_sub(self.collected)
    }
}

/// What `open` read back from storage.
struct Loaded {
    stored: HashMap<u64, StoredBytes>,
    tokens: BTreeMap<String, crate::kv::access_token::StoredToken>,
    basins: BTreeMap<BasinName, BasinMeta>,
    streams: StreamTable,
    stream_count: usize,
    next_stream_id: u64,
}

/// Where and how a shard opens its partitions' databases.
#[derive(Clone)]
pub struct OpenWith {
    pub store: Arc<dyn ObjectStore>,
    pub base_path: String,
    pub settings: slatedb::Settings,
    /// The shard's block and metadata cache, shared by its partitions.
    pub cache: Arc<dyn slatedb::db_cache::DbCache>,
    pub storage: StorageRuntime,
    pub clock: SharedClock,
    pub liveness: Arc<crate::liveness::Liveness>,
}

impl Partition {
    /// Opens (or creates) the partition's database and loads its metadata into memory.
    pub async fn open(id: PartitionId, with: OpenWith) -> Result<Partition, ShardError> {
        let OpenWith {
            store,
            base_path,
            settings,
            cache,
            storage,
            clock,
            liveness,
        } = with;
        let path = crate::store::partition_path(&base_path, id);
        let closed = Arc::new(std::sync::OnceLock::new());
        let watch_closed = closed.clone();
        let pace_above = crate::l0_watch::pace_above(crate::l0_watch::l0_full_at(&settings));
        let l0 = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let watched = l0.clone();
        let deadline = storage.deadline();
        let (data_store, data_path) = (store.clone(), path.to_string());
        let (db, loaded) = storage
            .run(async move {
                let (orphan_store, orphan_path) = (store.clone(), path.to_string());
                let segmented = crate::kv::segments::use_segments(&path, &store).await?;
                if !segmented {
                    tracing::info!(
                        partition = id,
                        "partition created before key-type segments: opened unsegmented"
                    );
                }
                let mut builder = Db::builder(path, store)
                    .with_settings(settings)
                    // The shard's cache, within the memory budget; the id keeps this
                    // partition's entries apart.
                    .with_db_cache(cache, u64::from(id));
                if segmented {
                    builder =
                        builder.with_segment_extractor(Arc::new(crate::kv::segments::KeyType));
                }
                let db = builder.build().await?;
                let loaded = load_metadata(&db).await?;
                let orphans =
                    crate::data_objects::sweep_orphans(&db, &orphan_store, &orphan_path).await?;
                if orphans > 0 {
                    tracing::info!(
                        partition = id,
                        orphans,
                        "deleted data objects of rounds never written"
                    );
                }
                let db = Arc::new(db);
                tokio::spawn(crate::l0_watch::watch_l0(
                    db.clone(),
                    watched,
                    pace_above,
                    deadline,
                ));
                let mut status = db.subscribe();
                tokio::spawn(async move {
                    let reason = match status.wait_for(|s| s.close_reason.is_some()).await {
                        Ok(s) => s.close_reason,
                        Err(_) => None,
                    };
                    match reason {
                        None | Some(slatedb::CloseReason::Clean) => {}
                        Some(r) => {
                            let why = crate::error::closed_reason(r);
                            tracing::error!(partition = id, why, "partition storage closed");
                            let _ = watch_closed.set(why);
                            liveness.partition_closed(id, why);
                        }
                    }
                });
                Ok::<_, ShardError>((db, loaded))
            })
            .await
            .map_err(|_| ShardError::Unavailable("storage runtime lost while opening"))??;
        Ok(Partition {
            id,
            db,
            store: data_store,
            path: data_path,
            pacer: Rc::new(crate::write_pacer::WritePacer::new(l0, pace_above)),
            storage,
            clock,
            meta_lock: futures::lock::Mutex::new(()),
            basins: RefCell::new(loaded.basins),
            streams: RefCell::new(loaded.streams),
            stream_count: Cell::new(loaded.stream_count),
            next_stream_id: Cell::new(loaded.next_stream_id),
            states: RefCell::new(HashMap::new()),
            expired_collected: RefCell::new(HashMap::new()),
            token_digests: RefCell::new(
                loaded
                    .tokens
                    .values()
                    .map(|t| (t.secret_sha256.clone(), t.info.id.clone()))
                    .collect(),
            ),
            tokens: RefCell::new(loaded.tokens),
            stored: RefCell::new(loaded.stored),
            sampled: RefCell::new(HashMap::new()),
            collect_lock: futures::lock::Mutex::new(()),
            load_lock: futures::lock::Mutex::new(()),
            closed,
        })
    }

    /// Why the partition's storage stopped serving, if it did.
    pub(crate) fn closed(&self) -> Option<&'static str> {
        self.closed.get().copied()
    }

    /// Writes `batch` and returns once it is durable in the object store.
    pub(crate) async fn write_durable(&self, batch: WriteBatch) -> Result<(), ShardError> {
        let db = self.db.clone();
        self.storage
            .call("metadata write", async move {
                let handle = db.write(batch).await?;
                db.flush().await?;
                handle.await_durable().await?;
                Ok(())
            })
            .await
    }

    /// After a durable trim: deletes the stream's records below the trim point from storage,
    /// in the background. Reads already skip them; this frees the space. A restart
    /// re-collects from 0, which only re-deletes what is gone.
    pub(crate) fn collect_trimmed(self: &Rc<Self>, stream_id: u64, sealed: bool) {
        let Some(state) = self.states.borrow().get(&stream_id).cloned() else {
            return;
        };
        let (from, to) = {
            let mut st = state.borrow_mut();
            if st.durable_trim_point <= st.trim_collected {
                return;
            }
            let range = (st.trim_collected, st.durable_trim_point);
            st.trim_collected = st.durable_trim_point;
            range
        };
        let me = self.clone();
        crate::runtime::spawn_local(async move {
            if let Err(e) = me.delete_records(stream_id, from, to, sealed).await {
                tracing::warn!(stream_id, error = %e, "trim collection failed; retried at next trim");
                if let Some(state) = me.states.borrow().get(&stream_id) {
                    let mut st = state.borrow_mut();
                    st.trim_collected = st.trim_collected.min(from);
                }
            }
        })
        .detach();
    }

    /// Deletes records `[from, to)` of stream `id`, then notes the bytes collected: the bytes
    /// before its first record still stored (or past the last one deleted, or its durable
    /// appended bytes when nothing is left), read from the records themselves
    /// (`kv::record::bytes_before`), so the figure is right however many deletions overlap
    /// and whatever SlateDB's compaction already dropped. Records of a stream with a cipher
    /// (`sealed`) count their plaintext, as appends did.
    pub(crate) async fn delete_records(
        &self,
        id: u64,
        from: u64,
        to: u64,
        sealed: bool,
    ) -> Result<(), ShardError> {
        const KEYS_PER_BATCH: usize = 10_000;
        // Before any scan: if the durable tail is within the range, all of it goes.
        let durable_tail = self
            .states
            .borrow()
            .get(&id)
            .and_then(|st| st.try_borrow().ok().map(|st| st.durable.seq_num));
        let emptied = durable_tail
            .is_some_and(|tail| tail <= to)
            .then(|| self.durable_appended(id));
        let mut next = kv::record::key(id, from).to_vec();
        let end = kv::record::key(id, to).to_vec();
        // Bytes up to the end of the last record deleted that we saw.
        let mut past_deleted = None;
        while next < end {
            let (db, from, to) = (self.db.clone(), next.clone(), end.clone());
            let (exhausted, last, past) = self
                .storage
                .call("record deletion", async move {
                    let mut iter = db.scan(from..to).await?;
                    let mut batch = WriteBatch::new();
                    let (mut n, mut last, mut past) = (0, None, None);
                    while n < KEYS_PER_BATCH {
                        let Some(kv) = iter.next().await? else { break };
                        past = bytes_past(&kv.value, sealed).or(past);
                        last = Some(kv.key.to_vec());
                        batch.delete(kv.key);
                        n += 1;
                    }
                    if n > 0 {
                        db.write(batch).await?;
                    }
                    Ok((n < KEYS_PER_BATCH, last, past))
                })
                .await?;
            past_deleted = past.or(past_deleted);
            match last {
                // The next key after `last` in byte order.
                Some(mut k) if !exhausted => {
                    k.push(0);
                    next = k;
                }
                _ => break,
            }
        }
        let first_live = if to < u64::MAX {
            let db = self.db.clone();
            let range = kv::record::key(id, to).to_vec()..kv::record::key(id, u64::MAX).to_vec();
            self.storage
                .call("record deletion", async move {
                    let mut iter = db.scan(range).await?;
                    Ok(iter
                        .next()
                        .await?
                        .and_then(|kv| kv::record::bytes_before(&kv.value)))
                })
                .await?
        } else {
            None
        };
        if let Some(collected) = first_live.or(past_deleted.max(emptied)) {
            self.note_collected(id, collected).await?;
        }
        Ok(())
    }

    /// Stream `id`'s durable appended bytes: its live state's, else the last known.
    pub(crate) fn durable_appended(&self, id: u64) -> u64 {
        let live = self
            .states
            .borrow()
            .get(&id)
            .and_then(|st| st.try_borrow().ok().map(|st| st.durable_appended_bytes));
        live.unwrap_or_else(|| self.stored.borrow().get(&id).map_or(0, |s| s.appended))
    }

    /// Raises stream `id`'s collected bytes to `collected` (never lowers them), durably.
    pub(crate) async fn note_collected(&self, id: u64, collected: u64) -> Result<(), ShardError> {
        // One note at a time, so the stored value is the highest noted.
        let _noting = self.collect_lock.lock().await;
        let known = self.stored.borrow().get(&id).map_or(0, |s| s.collected);
        if collected <= known {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        batch.put(
            kv::usage::collected_key(id),
            kv::usage::encode_bytes(collected),
        );
        self.write_durable(batch).await?;
        self.stored.borrow_mut().entry(id).or_default().collected = collected;
        Ok(())
    }

    /// Deletes every key in `range`, in bounded batches, each one storage call under the
    /// deadline (a long deletion is many calls, never one unbounded one).
    pub(crate) async fn delete_keys(
        &self,
        range: std::ops::Range<Vec<u8>>,
    ) -> Result<(), ShardError> {
        const KEYS_PER_BATCH: usize = 10_000;
        let (mut next, end) = (range.start, range.end);
        while next < end {
            let (db, from, to) = (self.db.clone(), next.clone(), end.clone());
            let (exhausted, last) = self
                .storage
                .call("key deletion", async move {
                    let mut iter = db.scan(from..to).await?;
                    let mut batch = WriteBatch::new();
                    let (mut n, mut last) = (0, None);
                    while n < KEYS_PER_BATCH {
                        let Some(kv) = iter.next().await? else { break };
                        last = Some(kv.key.to_vec());
                        batch.delete(kv.key);
                        n += 1;
                    }
                    if n > 0 {
                        db.write(batch).await?;
                    }
                    Ok((n < KEYS_PER_BATCH, last))
                })
                .await?;
            match last {
                // The next key after `last` in byte order.
                Some(mut k) if !exhausted => {
                    k.push(0);
                    next = k;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Deletes every record and index entry of stream `id`, then its position, durably.
    pub(crate) async fn delete_stream_data(&self, id: u64) -> Result<(), ShardError> {
        let records = kv::record::key(id, 0).to_vec()..kv::record::key(id, u64::MAX).to_vec();
        self.delete_keys(records).await?;
        let index = kv::timestamp_index::key(id, 0).to_vec()..kv::timestamp_index::end(id).to_vec();
        self.delete_keys(index).await?;
        let mut batch = WriteBatch::new();
        batch.delete(kv::stream_position::key(id));
        batch.delete(kv::usage::collected_key(id));
        let _noting = self.collect_lock.lock().await;
        self.write_durable(batch).await?;
        self.stored.borrow_mut().remove(&id);
        self.sampled.borrow_mut().remove(&id);
        Ok(())
    }

    /// Closes the database, flushing what it holds.
    pub async fn close(&self) -> Result<(), ShardError> {
        let db = self.db.clone();
        self.storage
            .call("close", async move {
                db.close().await.map_err(ShardError::from)
            })
            .await
    }

    pub(crate) fn db(&self) -> &Arc<Db> {
        &self.db
    }

    pub(crate) fn storage(&self) -> &StorageRuntime {
        &self.storage
    }

    /// Stream `id`'s state if it is in memory now (no load).
    pub(crate) fn loaded_state(&self, id: u64) -> Option<Rc<RefCell<StreamState>>> {
        self.states.borrow().get(&id).cloned()
    }

    /// The live state of stream `id`, loaded from its position key on first use, and
    /// reloaded after a failed round once its in-flight appends have settled.
    pub(crate) async fn stream_state(
        &self,
        id: u64,
    ) -> Result<Rc<RefCell<StreamState>>, ShardError> {
        loop {
            let existing = self.states.borrow().get(&id).cloned();
            if let Some(state) = existing {
                let (broken, inflight) = {
                    let st = state.borrow();
                    (st.broken, st.inflight)
                };
                if !broken {
                    state.borrow_mut().last_used = std::time::Instant::now();
                    return Ok(state);
                }
                if inflight > 0 {
                    let changed = state.borrow().changed.listen();
                    let _ = changed.await;
                    continue;
                }
                let (sequenced, durable) = self.read_positions(id).await?;
                let mut st = state.borrow_mut();
                if st.broken && st.inflight == 0 {
                    let fresh = StreamState::new(id, sequenced, durable);
                    st.next_seq = fresh.next_seq;
                    st.last_timestamp = fresh.last_timestamp;
                    st.indexed_bucket = fresh.indexed_bucket;
                    st.fencing_token = fresh.fencing_token;
                    st.trim_point = fresh.trim_point;
                    st.durable = fresh.durable;
                    st.durable_trim_point = fresh.durable_trim_point;
                    st.appended_bytes = fresh.appended_bytes;
                    st.durable_appended_bytes = fresh.durable_appended_bytes;
                    st.clear_window();
                    st.broken = false;
                    st.epoch += 1;
                }
                drop(st);
                return Ok(state);
            }
            let _guard = self.load_lock.lock().await;
            if self.states.borrow().contains_key(&id) {
                continue;
            }
            let (sequenced, durable) = self.read_positions(id).await?;
            let state = Rc::new(RefCell::new(StreamState::new(id, sequenced, durable)));
            self.states.borrow_mut().insert(id, state.clone());
            return Ok(state);
        }
    }

    /// Drops the live state of streams nobody used for `idle`: nothing in flight, no
    /// reader or waiter holding it. Its position is durable, so the next use reloads it;
    /// without this, every stream ever touched would stay in memory until restart.
    pub(crate) fn evict_idle(&self, idle: std::time::Duration) -> usize {
        let mut states = self.states.borrow_mut();
        let before = states.len();
        let mut stored = self.stored.borrow_mut();
        states.retain(|id, state| {
            if Rc::strong_count(state) > 1 {
                return true;
            }
            match state.try_borrow() {
                Ok(st) => {
                    let keep = st.inflight > 0 || st.broken || st.last_used.elapsed() < idle;
                    if !keep {
                        stored.entry(*id).or_default().appended = st.durable_appended_bytes;
                    }
                    keep
                }
                Err(_) => true,
            }
        });
        let evicted = before - states.len();
        STATES_EVICTED.fetch_add(evicted as u64, std::sync::atomic::Ordering::Relaxed);
        evicted
    }

    /// The stream's position as sequenced (including what is not yet durable) and as
    /// durable in the object store.
    pub(crate) async fn read_positions(
        &self,
        id: u64,
    ) -> Result<(StoredPosition, StoredPosition), ShardError> {
        let db = self.db.clone();
        self.storage
            .call("stream load", async move {
                let key = kv::stream_position::key(id);
                let decode = |v: Option<bytes::Bytes>| -> Result<StoredPosition, ShardError> {
                    match v {
                        None => Ok(StoredPosition::default()),
                        Some(b) => kv::stream_position::decode_value(&b)
                            .map_err(|e| ShardError::Storage(format!("corrupt position: {e}"))),
                    }
                };
                let sequenced = decode(db.get(&key).await?)?;
                let remote = slatedb::config::ReadOptions {
                    durability_filter: slatedb::config::DurabilityLevel::Remote,
                    ..Default::default()
                };
                let durable = decode(db.get_with_options(&key, &remote).await?)?;
                Ok((sequenced, durable))
            })
            .await
    }

    pub(crate) fn now_nanos(&self) -> u64 {
        self.clock.now_nanos()
    }
}

/// A stored record's bytes before it plus its own metered size: the stream's bytes up to its
/// end (`None` for a version 1 record). Sealed records count their plaintext.
fn bytes_past(value: &bytes::Bytes, sealed: bool) -> Option<u64> {
    let before = kv::record::bytes_before(value)?;
    if let Some(p) = kv::record::pointer(value) {
        return Some(before + u64::from(p.metered));
    }
    let (timestamp, headers, body) = kv::record::decode_value(value).ok()?;
    let r = protocol::records::SequencedRecord {
        seq_num: 0,
        timestamp,
        headers,
        body,
    };
    Some(before + crate::record_cipher::metered_size(&r, sealed) as u64)
}

async fn load_metadata(db: &Db) -> Result<Loaded, ShardError> {
    let corrupt = |e: kv::DecodeError| ShardError::Storage(format!("corrupt metadata: {e}"));
    let mut basins = BTreeMap::new();
    let mut iter = db
        .scan(vec![kv::ordinal::BASIN_META]..vec![kv::ordinal::BASIN_META + 1])
        .await?;
    while let Some(kv) = iter.next().await? {
        let name = kv::basin_meta::decode_key(&kv.key).map_err(corrupt)?;
        basins.insert(
            name,
            kv::basin_meta::decode_value(&kv.value).map_err(corrupt)?,
        );
    }
    let mut streams: StreamTable = BTreeMap::new();
    let mut stream_count = 0;
    let mut max_stream_id = None;
    let mut iter = db
        .scan(vec![kv::ordinal::STREAM_META]..vec![kv::ordinal::STREAM_META + 1])
        .await?;
    while let Some(kv) = iter.next().await? {
        let (basin, stream) = kv::stream_meta::decode_key(&kv.key).map_err(corrupt)?;
        let meta = kv::stream_meta::decode_value(&kv.value).map_err(corrupt)?;
        max_stream_id = max_stream_id.max(Some(meta.id));
        streams.entry(basin).or_default().insert(stream, meta);
        stream_count += 1;
    }
    // The counter is authoritative; the highest id seen covers data written before it.
    let counter = match db.get(kv::stream_id_counter::key()).await? {
        Some(v) => kv::stream_id_counter::decode_value(&v).map_err(corrupt)?,
        None => 0,
    };
    let mut tokens = BTreeMap::new();
    let mut iter = db
        .scan(vec![kv::ordinal::ACCESS_TOKEN]..vec![kv::ordinal::ACCESS_TOKEN + 1])
        .await?;
    while let Some(kv) = iter.next().await? {
        let id = kv::access_token::decode_key(&kv.key).map_err(corrupt)?;
        tokens.insert(
            id,
            kv::access_token::decode_value(&kv.value).map_err(corrupt)?,
        );
    }
    // Byte counts of every stream: one scan of the position keys, one of collected bytes.
    let mut stored: HashMap<u64, StoredBytes> = HashMap::new();
    let mut iter = db
        .scan(vec![kv::ordinal::STREAM_POSITION]..vec![kv::ordinal::STREAM_POSITION + 1])
        .await?;
    while let Some(kv) = iter.next().await? {
        if kv.key.len() != 9 {
            return Err(corrupt(kv::DecodeError::BadKey {
                expected: kv::ordinal::STREAM_POSITION,
                len: kv.key.len(),
            }));
        }
        let id = u64::from_be_bytes(kv.key[1..].try_into().expect("8 bytes"));
        // A position that does not decode fails its own stream when it loads, not the
        // partition: here it only counts no bytes.
        match kv::stream_position::decode_value(&kv.value) {
            Ok(position) => stored.entry(id).or_default().appended = position.appended_bytes,
            Err(e) => tracing::warn!(stream_id = id, error = %e, "undecodable stream position"),
        }
    }
    let mut iter = db
        .scan(vec![kv::ordinal::COLLECTED_BYTES]..vec![kv::ordinal::COLLECTED_BYTES + 1])
        .await?;
    while let Some(kv) = iter.next().await? {
        let id = kv::usage::decode_collected_key(&kv.key).map_err(corrupt)?;
        stored.entry(id).or_default().collected =
            kv::usage::decode_bytes(&kv.value).map_err(corrupt)?;
    }
    Ok(Loaded {
        stored,
        tokens,
        basins,
        streams,
        stream_count,
        next_stream_id: counter.max(max_stream_id.map_or(0, |m| m + 1)),
    })
}
