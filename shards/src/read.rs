//! Reading a stream on its partition (API.md §8.3-8.4) and checking its tail. Readers see
//! only durable records: near the tail they come from the stream's window without storage
//! I/O; further back, from a SlateDB scan restricted to durable data, with read-ahead.

use crate::error::ShardError;
use crate::kv;
use crate::partition::Partition;
use crate::record_cipher::{self, RecordCipher};
use crate::runtime::timeout;
use crate::stream_state::StreamState;
use bytes::Bytes;
use protocol::config::Cipher;
use protocol::encryption::EncryptionKey;
use protocol::names::{BasinName, StreamName};
use protocol::records::{SequencedRecord, StreamPosition};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub enum ReadStart {
    SeqNum(u64),
    Timestamp(u64),
    TailOffset(u64),
}

#[derive(Debug, Clone)]
pub struct ReadRequest {
    pub start: ReadStart,
    pub clamp: bool,
    pub count: Option<usize>,
    pub bytes: Option<usize>,
    /// Exclusive timestamp bound.
    pub until: Option<u64>,
    pub wait: Option<Duration>,
    /// Overrides whether a read at the tail may wait (sessions decide this themselves).
    pub may_follow: Option<bool>,
    /// A session's next read of the stream incarnation it has been reading: served even
    /// once that stream is marked deleted, until its records are gone, so live readers
    /// still get the terminal trim record deletion appends; at the tail of a deleted
    /// stream it fails at once (stream not found) instead of waiting.
    pub incarnation: Option<u64>,
    /// Who opens the records of a stream with a cipher.
    pub key: ReadKey,
}

/// Who opens a read's sealed records (streams with a cipher; `record_cipher`).
#[derive(Debug, Clone, Default)]
pub enum ReadKey {
    /// The reader, with the request's `s2-encryption-key`: required by a stream with a
    /// cipher (checked at the owner, in s2-lite's order), ignored by others. The records are
    /// opened on the reader's shard ([`crate::Cluster::read`]).
    Request(Option<EncryptionKey>),
    /// A follow hub: the records stay sealed in its ring, and each of its followers opens
    /// them with its own key.
    #[default]
    Followers,
}

impl ReadKey {
    pub fn request(key: Option<EncryptionKey>) -> Self {
        Self::Request(key)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReadOutput {
    pub records: Vec<SequencedRecord>,
    /// Present when the read waited at the tail for new records.
    pub tail: Option<StreamPosition>,
    /// Where the next read should start: after the last record returned, or the resolved
    /// start if none was.
    pub next_seq: u64,
    /// The durable tail when the read finished.
    pub durable_tail: StreamPosition,
    /// Which incarnation of the stream answered (its partition-local id, never reused): a
    /// follower that sees it change knows the stream was deleted and re-created.
    pub stream_id: u64,
    /// The stream's cipher while the records are still sealed with it (until the reader
    /// opens them; `record_cipher`).
    pub sealed: Option<Cipher>,
}

impl ReadOutput {
    /// Opens sealed records with the reader's key (on the reader's shard).
    pub fn open(
        &mut self,
        basin: &BasinName,
        stream: &StreamName,
        key: Option<&EncryptionKey>,
    ) -> Result<(), ShardError> {
        let Some(cipher) = self.sealed else {
            return Ok(());
        };
        if let Some(c) = RecordCipher::resolve(Some(cipher), key)? {
            c.open_all(basin, stream, &mut self.records)?;
        }
        self.sealed = None;
        Ok(())
    }

    /// The records' metered size as the client counts it (plaintext for sealed records).
    pub fn metered_size(&self, r: &SequencedRecord) -> usize {
        record_cipher::metered_size(r, self.sealed.is_some())
    }
}

/// Where a collection stops.
#[derive(Debug, Clone, Copy)]
struct Limits {
    count: usize,
    bytes: usize,
    until: u64,
    /// The stream has a cipher: its envelope records are sealed, and count as plaintext.
    sealed: bool,
}

impl Limits {
    fn size(&self, r: &SequencedRecord) -> usize {
        record_cipher::metered_size(r, self.sealed)
    }

    /// Whether `r` still fits after `taken` records of `used` bytes.
    fn admits(&self, taken: usize, used: usize, r: &SequencedRecord) -> bool {
        taken < self.count && used + self.size(r) <= self.bytes && r.timestamp < self.until
    }
}

/// What a read found: its records, and how far it looked (past expired records it left
/// out, so the next read starts after them).
#[derive(Debug, Default)]
struct Page {
    records: Vec<SequencedRecord>,
    used: usize,
    /// The seq_num after the last record looked at.
    looked_to: u64,
    skipped: usize,
}

/// Expired records a page may pass over before it returns (so one read's work is bounded
/// even over a long run of records SlateDB has not yet dropped).
const EXPIRED_SKIP_MAX: usize = 10_000;

impl Page {
    fn new(from: u64) -> Page {
        Page {
            looked_to: from,
            ..Page::default()
        }
    }

    /// Takes `r` if it fits; `false` once the page is done (`r` not taken). Records read
    /// from storage come owned (moved in); the window's are borrowed and copied only when
    /// taken.
    fn offer(&mut self, r: Cow<'_, SequencedRecord>, expired: bool, limits: &Limits) -> bool {
        if expired {
            if self.skipped >= EXPIRED_SKIP_MAX {
                return false;
            }
            self.skipped += 1;
            self.looked_to = r.seq_num + 1;
            return true;
        }
        if !limits.admits(self.records.len(), self.used, &r) {
            return false;
        }
        self.used += limits.size(&r);
        self.looked_to = r.seq_num + 1;
        self.records.push(r.into_owned());
        true
    }
}

/// Records scanned from storage per read, at most (a scan also stops at the limits).
const SCAN_READ_AHEAD_BYTES: usize = 1 << 20;

impl Partition {
    pub async fn check_tail(
        &self,
        basin: &BasinName,
        stream: &StreamName,
    ) -> Result<StreamPosition, ShardError> {
        let meta = self.get_stream(basin, stream)?.meta;
        let state = self.stream_state(meta.id).await?;
        let tail = state.borrow().durable;
        Ok(tail)
    }

    pub async fn read(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        req: ReadRequest,
    ) -> Result<ReadOutput, ShardError> {
        let meta = match req.incarnation {
            Some(id) => self
                .stream_meta(basin, stream)
                .filter(|m| m.id == id)
                .ok_or_else(|| ShardError::StreamNotFound {
                    basin: basin.clone(),
                    stream: stream.clone(),
                })?,
            None => self.get_stream(basin, stream)?.meta,
        };
        // The key is checked once the stream is known (s2-lite's order: before the start
        // is resolved); the records are opened by the reader, not here.
        if let ReadKey::Request(key) = &req.key {
            RecordCipher::resolve(meta.cipher, key.as_ref())?;
        }
        let mut out = self.read_sealed(basin, stream, &meta, req).await?;
        out.sealed = meta.cipher;
        Ok(out)
    }

    async fn read_sealed(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        meta: &kv::StreamMeta,
        req: ReadRequest,
    ) -> Result<ReadOutput, ShardError> {
        let deleted = meta.deleted_at_nanos.is_some();
        if req.count == Some(0) || req.bytes == Some(0) {
            return Ok(ReadOutput {
                stream_id: meta.id,
                ..ReadOutput::default()
            });
        }
        let state = self.stream_state(meta.id).await?;
        let (tail, trim) = {
            let st = state.borrow();
            (st.durable, st.durable_trim_point)
        };
        let beyond = |clamp: bool| {
            if deleted {
                // A deleted stream's records may already be gone (its state reloads with
                // an empty tail): its reader hears that the stream is gone, not a 416.
                Err(ShardError::StreamNotFound {
                    basin: basin.clone(),
                    stream: stream.clone(),
                })
            } else if clamp {
                Ok(tail.seq_num)
            } else {
                Err(ShardError::RangeNotSatisfiable(tail))
            }
        };
        let requested = match req.start {
            ReadStart::SeqNum(s) if s > tail.seq_num => beyond(req.clamp)?,
            ReadStart::SeqNum(s) => s,
            ReadStart::Timestamp(t) if t > tail.timestamp => beyond(req.clamp)?,
            ReadStart::Timestamp(t) => {
                let page = seek_page(meta.cipher.is_some());
                self.seek_timestamp(&state, t, trim, tail.seq_num, page)
                    .await?
            }
            ReadStart::TailOffset(o) => tail.seq_num.saturating_sub(o),
        };
        let start = requested.max(trim);
        // A start below the tail whose records are all trimmed finds nothing, as in
        // s2-lite (whose trimmed records are gone): 200 with no records, never 416.
        if requested < tail.seq_num && start >= tail.seq_num {
            return Ok(output(meta.id, Page::new(tail.seq_num), None, tail));
        }
        // Every page is bounded as a read batch is, whatever the caller asked.
        let limits = Limits {
            count: req
                .count
                .map_or(SEEK_PAGE.count, |c| c.min(SEEK_PAGE.count)),
            bytes: req
                .bytes
                .map_or(SEEK_PAGE.bytes, |b| b.min(SEEK_PAGE.bytes)),
            until: req.until.unwrap_or(u64::MAX),
            sealed: meta.cipher.is_some(),
        };
        if start < tail.seq_num {
            let page = self.collect(&state, start, tail.seq_num, limits).await?;
            return Ok(output(meta.id, page, None, tail));
        }
        if deleted {
            return Err(ShardError::StreamNotFound {
                basin: basin.clone(),
                stream: stream.clone(),
            });
        }
        let wait = req.wait.unwrap_or_default();
        let may_follow = req.may_follow.unwrap_or(
            !wait.is_zero() || (req.count.is_none() && req.bytes.is_none() && req.until.is_none()),
        );
        if !may_follow {
            return Err(ShardError::RangeNotSatisfiable(tail));
        }
        // Long poll: wait for the durable tail to move past `start`.
        let deadline = Instant::now() + wait;
        loop {
            let (now_tail, changed) = {
                let st = state.borrow();
                (st.durable, st.changed.listen())
            };
            if now_tail.seq_num > start {
                let page = self
                    .collect(&state, start, now_tail.seq_num, limits)
                    .await?;
                return Ok(output(meta.id, page, Some(now_tail), now_tail));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || timeout(left, changed).await.is_none() {
                return Ok(output(meta.id, Page::new(start), None, now_tail));
            }
            // Woken by a deletion (of this incarnation): nothing more will come.
            let live = self
                .stream_meta(basin, stream)
                .is_some_and(|m| m.id == meta.id && m.deleted_at_nanos.is_none());
            if !live {
                return Err(ShardError::StreamNotFound {
                    basin: basin.clone(),
                    stream: stream.clone(),
                });
            }
        }
    }

    /// Durable, unexpired records in `[from, to)` within `limits`. A page that passed over
    /// its limit of expired records without finding a live one is followed by the next, so
    /// a read never comes back empty before `to` only because of a long expired run.
    async fn collect(
        &self,
        state: &RefCell<StreamState>,
        mut from: u64,
        to: u64,
        limits: Limits,
    ) -> Result<Page, ShardError> {
        loop {
            let page = self.collect_page(state, from, to, limits).await?;
            if !page.records.is_empty() || page.looked_to >= to || page.looked_to <= from {
                return Ok(page);
            }
            from = page.looked_to;
        }
    }

    /// One page of [`Partition::collect`]: from the window when it covers `from`, otherwise
    /// from storage.
    async fn collect_page(
        &self,
        state: &RefCell<StreamState>,
        from: u64,
        to: u64,
        limits: Limits,
    ) -> Result<Page, ShardError> {
        let now_ms = self.now_nanos() / 1_000_000;
        let id = {
            let st = state.borrow();
            if let Some(first) = st.window_start().filter(|&w| w <= from) {
                let mut page = Page::new(from);
                let skip = (from - first) as usize;
                let window = st.window.iter().zip(&st.window_expiry).skip(skip);
                for (r, &expires_at) in window {
                    if r.seq_num >= to
                        || !page.offer(Cow::Borrowed(r), expires_at <= now_ms, &limits)
                    {
                        break;
                    }
                }
                return Ok(page);
            }
            st.id
        };
        self.scan(id, from, to, limits).await
    }

    /// Unexpired records in `[from, to)` within `limits`, from storage.
    async fn scan(&self, id: u64, from: u64, to: u64, limits: Limits) -> Result<Page, ShardError> {
        let db = self.db().clone();
        let (store, path) = (self.store.clone(), self.path.clone());
        let now_ms = (self.now_nanos() / 1_000_000) as i64;
        self.storage()
            .call("read", async move {
                let options = slatedb::config::ScanOptions {
                    durability_filter: slatedb::config::DurabilityLevel::Remote,
                    read_ahead_bytes: SCAN_READ_AHEAD_BYTES,
                    max_fetch_tasks: 4,
                    ..Default::default()
                };
                let range = kv::record::key(id, from).to_vec()..kv::record::key(id, to).to_vec();
                let mut iter = db.scan_with_options(range, &options).await?;
                let mut page = Page::new(from);
                let mut done = false;
                while !done {
                    // A chunk of records; pointers into one data object that follow each
                    // other are fetched as one range (decision 0016).
                    let mut chunk: Vec<Stored> = Vec::new();
                    let mut chunk_bytes = 0u64;
                    while chunk.len() < 256 && chunk_bytes < (1 << 20) {
                        let Some(kv) = iter.next().await? else {
                            done = true;
                            break;
                        };
                        let (_, seq_num) = kv::record::decode_key(&kv.key).map_err(corrupt)?;
                        chunk_bytes += match kv::record::pointer(&kv.value) {
                            Some(p) => u64::from(p.len),
                            None => kv.value.len() as u64,
                        };
                        chunk.push(Stored {
                            seq_num,
                            expire_ts: kv.expire_ts,
                            value: kv.value,
                            gone: false,
                        });
                    }
                    resolve_pointers(&store, &path, &mut chunk).await?;
                    for Stored {
                        seq_num,
                        expire_ts,
                        value,
                        gone,
                    } in chunk
                    {
                        // SlateDB's own clock may lag; retention is exact for readers here.
                        let expired = expire_ts.is_some_and(|e| e <= now_ms);
                        // Objects are collected a grace period after their records are
                        // trimmed, expired or deleted, and a read starts at the trim point:
                        // only an expired record's object can be missing. Any other is lost
                        // data, said so rather than passed over.
                        if gone && !expired {
                            return Err(ShardError::Storage(format!(
                                "the data object of record {seq_num} is missing"
                            )));
                        }
                        let (timestamp, headers, body) = if gone {
                            let t = kv::record::timestamp(&value).map_err(corrupt)?;
                            (t, Vec::new(), Bytes::new())
                        } else {
                            kv::record::decode_value(&value).map_err(corrupt)?
                        };
                        let r = SequencedRecord {
                            seq_num,
                            timestamp,
                            headers,
                            body,
                        };
                        if !page.offer(Cow::Owned(r), expired, &limits) {
                            return Ok(page);
                        }
                    }
                }
                page.looked_to = page.looked_to.max(to);
                Ok(page)
            })
            .await
    }

    /// The first seq_num whose record has timestamp ≥ `t` (timestamps never decrease), or
    /// `tail` if none.
    async fn seek_timestamp(
        &self,
        state: &RefCell<StreamState>,
        t: u64,
        trim: u64,
        tail: u64,
        page: Limits,
    ) -> Result<u64, ShardError> {
        let id = {
            let st = state.borrow();
            if st.window.front().is_some_and(|r| r.timestamp < t) {
                return Ok(st
                    .window
                    .iter()
                    .find(|r| r.timestamp >= t)
                    .map_or(tail, |r| r.seq_num));
            }
            st.id
        };
        // The index says where `t`'s bucket starts; at most a bucket of records is scanned.
        if let Some(seq) = self.index_lookup(id, t).await? {
            let start = seq.max(trim);
            // An index that is complete before `start` has nothing ≥ t just below it; a
            // stream written before the index existed fails this and is scanned whole.
            let below = match start.checked_sub(1).filter(|&s| s >= trim) {
                None => None,
                Some(s) => self.scan(id, s, s + 1, page).await?.records.pop(),
            };
            if below.is_none_or(|r| r.timestamp < t) {
                return self.first_at_or_after(id, start, tail, t, page).await;
            }
        }
        self.first_at_or_after(id, trim, tail, t, page).await
    }

    /// The seq_num of the first index entry at or after `t`'s bucket, if any.
    async fn index_lookup(&self, id: u64, t: u64) -> Result<Option<u64>, ShardError> {
        let db = self.db().clone();
        self.storage()
            .call("timestamp index", async move {
                let options = slatedb::config::ScanOptions {
                    durability_filter: slatedb::config::DurabilityLevel::Remote,
                    ..Default::default()
                };
                let from = kv::timestamp_index::key(id, kv::timestamp_index::bucket(t));
                let range = from.to_vec()..kv::timestamp_index::end(id).to_vec();
                let mut iter = db.scan_with_options(range, &options).await?;
                match iter.next().await? {
                    None => Ok(None),
                    Some(kv) => kv::timestamp_index::decode_value(&kv.value)
                        .map(Some)
                        .map_err(corrupt),
                }
            })
            .await
    }

    /// The first record in `[from, tail)` with timestamp ≥ `t`, in bounded pages; `tail` if
    /// none.
    async fn first_at_or_after(
        &self,
        id: u64,
        mut from: u64,
        tail: u64,
        t: u64,
        limits: Limits,
    ) -> Result<u64, ShardError> {
        while from < tail {
            let page = self.scan(id, from, tail, limits).await?;
            if let Some(r) = page.records.iter().find(|r| r.timestamp >= t) {
                return Ok(r.seq_num);
            }
            if page.looked_to <= from {
                break;
            }
            from = page.looked_to;
        }
        Ok(tail)
    }
}

/// A read page's bounds: those of a read batch (a record is at most 1 MiB).
const SEEK_PAGE: Limits = seek_page(false);

/// One page of a timestamp seek, bounded like a read batch.
const fn seek_page(sealed: bool) -> Limits {
    Limits {
        count: protocol::limits::BATCH_RECORDS_MAX,
        bytes: protocol::limits::BATCH_METERED_BYTES_MAX,
        until: u64::MAX,
        sealed,
    }
}

fn output(
    stream_id: u64,
    page: Page,
    tail: Option<StreamPosition>,
    durable_tail: StreamPosition,
) -> ReadOutput {
    ReadOutput {
        next_seq: page.looked_to,
        records: page.records,
        tail,
        durable_tail,
        stream_id,
        sealed: None,
    }
}

fn corrupt(e: kv::DecodeError) -> ShardError {
    ShardError::Storage(format!("corrupt record: {e}"))
}

/// A record as scanned: its value is a pointer until [`resolve_pointers`] replaces it by
/// the record it points at (`gone`: its data object was collected).
struct Stored {
    seq_num: u64,
    expire_ts: Option<i64>,
    value: Bytes,
    gone: bool,
}

/// Replaces each pointer value in `chunk` by the value it points at, one ranged read per run
/// of pointers that follow each other in one data object.
async fn resolve_pointers(
    store: &Arc<dyn slatedb::object_store::ObjectStore>,
    path: &str,
    chunk: &mut [Stored],
) -> Result<(), ShardError> {
    let pointer = |c: &Stored| kv::record::pointer(&c.value);
    let mut i = 0;
    while i < chunk.len() {
        let Some(first) = pointer(&chunk[i]) else {
            i += 1;
            continue;
        };
        let start = u64::from(first.offset);
        let mut end = start + u64::from(first.len);
        let mut j = i + 1;
        while let Some(p) = chunk.get(j).and_then(pointer) {
            if p.object != first.object || u64::from(p.offset) != end {
                break;
            }
            end += u64::from(p.len);
            j += 1;
        }
        let object = crate::append_pipeline::data_path(path, first.object);
        match slatedb::object_store::ObjectStoreExt::get_range(store, &object, start..end).await {
            Ok(bytes) => {
                for c in &mut chunk[i..j] {
                    if let Some(p) = pointer(c) {
                        let at = (u64::from(p.offset) - start) as usize;
                        c.value = bytes.slice(at..at + p.len as usize);
                    }
                }
            }
            Err(slatedb::object_store::Error::NotFound { .. }) => {
                chunk[i..j].iter_mut().for_each(|c| c.gone = true);
            }
            Err(e) => return Err(ShardError::Storage(format!("data object: {e}"))),
        }
        i = j;
    }
    Ok(())
}
