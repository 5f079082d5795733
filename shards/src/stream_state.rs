//! A stream's live state on its owning shard: the sequenced position (where the next append
//! goes, including appends still in flight), the durable position (what readers may see),
//! and the window of recent durable records that serves reads near the tail without
//! storage I/O. Loaded from the stream's position key on first use.

use crate::kv::stream_position::StreamPosition as StoredPosition;
use crate::notify::Notify;
use protocol::records::{SequencedRecord, StreamPosition};
use std::collections::VecDeque;

pub struct StreamState {
    pub id: u64,
    /// Sequenced: the next seq_num to assign, counting in-flight appends.
    pub next_seq: u64,
    pub last_timestamp: u64,
    /// The newest timestamp-index bucket written (with the records that sequenced it).
    pub indexed_bucket: Option<u64>,
    pub fencing_token: String,
    pub trim_point: u64,
    /// Sequenced: metered bytes of every record appended (persisted with the position).
    pub appended_bytes: u64,
    /// The same, durable: what the storage gauge counts (`usage`).
    pub durable_appended_bytes: u64,
    /// Durable: the tail readers and acks report.
    pub durable: StreamPosition,
    pub durable_trim_point: u64,
    /// Records below this have been deleted from storage (or a deletion is under way).
    pub trim_collected: u64,
    /// Appends sequenced but not yet answered.
    pub inflight: usize,
    /// A round carrying this stream's records failed: reload before the next append.
    pub broken: bool,
    /// Incremented at each reload after a failure; appends carry it so the pipeline can
    /// leave out exactly those sequenced before the reload (`append_pipeline`).
    pub epoch: u64,
    /// Recent durable records, oldest first, contiguous and ending at `durable.seq_num`.
    pub window: VecDeque<SequencedRecord>,
    /// When each window record expires (ms since the epoch; `u64::MAX`: never), as
    /// SlateDB's TTL will: readers never see a record past its retention.
    pub window_expiry: VecDeque<u64>,
    pub window_bytes: usize,
    /// Claimed for deletion on empty (`lifecycle`): appends are refused from now on.
    pub closing: bool,
    /// Woken whenever the durable tail moves or an in-flight append ends.
    pub changed: Notify,
    /// When a request last took this state; idle ones are dropped (`Partition::evict_idle`).
    pub last_used: std::time::Instant,
}

impl StreamState {
    pub fn new(id: u64, sequenced: StoredPosition, durable: StoredPosition) -> StreamState {
        // The last record's bucket was indexed with it (same batch).
        let indexed_bucket = (sequenced.next_seq > 0)
            .then(|| crate::kv::timestamp_index::bucket(sequenced.last_timestamp));
        StreamState {
            id,
            indexed_bucket,
            next_seq: sequenced.next_seq,
            last_timestamp: sequenced.last_timestamp,
            fencing_token: sequenced.fencing_token,
            trim_point: sequenced.trim_point,
            appended_bytes: sequenced.appended_bytes,
            durable_appended_bytes: durable.appended_bytes,
            durable: StreamPosition {
                seq_num: durable.next_seq,
                timestamp: durable.last_timestamp,
            },
            durable_trim_point: durable.trim_point,
            trim_collected: 0,
            inflight: 0,
            broken: false,
            epoch: 0,
            window: VecDeque::new(),
            window_expiry: VecDeque::new(),
            window_bytes: 0,
            closing: false,
            changed: Notify::default(),
            last_used: std::time::Instant::now(),
        }
    }

    /// The sequenced position as it is persisted with each round.
    pub fn stored(&self) -> StoredPosition {
        StoredPosition {
            next_seq: self.next_seq,
            last_timestamp: self.last_timestamp,
            trim_point: self.trim_point,
            fencing_token: self.fencing_token.clone(),
            appended_bytes: self.appended_bytes,
        }
    }

    /// The seq_num the window starts at, if it holds anything.
    pub fn window_start(&self) -> Option<u64> {
        self.window.front().map(|r| r.seq_num)
    }

    /// Appends newly durable records to the window (they follow its end), expiring at
    /// `expires_at` (ms since the epoch).
    pub fn extend_window(
        &mut self,
        records: impl IntoIterator<Item = SequencedRecord>,
        expires_at: u64,
    ) {
        for r in records {
            debug_assert!(self
                .window
                .back()
                .is_none_or(|last| last.seq_num + 1 == r.seq_num));
            self.window_bytes += r.metered_size();
            self.window.push_back(r);
            self.window_expiry.push_back(expires_at);
        }
    }

    /// Empties the window (after a failure, the truth is in storage).
    pub fn clear_window(&mut self) {
        self.window.clear();
        self.window_expiry.clear();
        self.window_bytes = 0;
    }

    /// Drops window records below `seq_num`; returns the bytes freed.
    pub fn evict_window_below(&mut self, seq_num: u64) -> usize {
        let mut freed = 0;
        while self.window.front().is_some_and(|r| r.seq_num < seq_num) {
            let r = self.window.pop_front().expect("front exists");
            self.window_expiry.pop_front();
            freed += r.metered_size();
        }
        self.window_bytes -= freed;
        freed
    }
}
