//! Live followers, fanned out per shard. Without this, every follower of a stream sends its
//! own long poll to the stream's owning shard, so one stream's followers are served by one
//! core, one envelope and one reply per follower per batch. A hub is the one follower this
//! shard sends to the owner on behalf of all its sessions on that stream: it long-polls the
//! owner, keeps what arrives in a small ring (bounded by bytes and records), and wakes its
//! local followers, who take records from the ring. The owner answers once per shard that
//! has followers, not once per follower.
//!
//! A follower whose position is not in the ring (behind it, or ahead of it) takes the
//! ordinary read path, so the hub is only ever an accelerator: the owner's answer is the
//! truth, and errors (a deleted stream) always come from the ordinary path.

use crate::read::{ReadKey, ReadOutput, ReadRequest, ReadStart};
use crate::record_cipher;
use crate::runtime::{spawn_local, timeout};
use crate::{Cluster, ShardError};
use protocol::encryption::EncryptionKey;
use protocol::names::{BasinName, StreamName};
use protocol::records::{SequencedRecord, StreamPosition};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Records kept per hub: enough for followers that are a few batches apart.
const RING_RECORDS_MAX: usize = 4096;
const RING_BYTES_MAX: usize = 4 << 20;
/// All rings of one shard together: a shard with many followed streams keeps less per ring.
const SHARD_RING_BYTES_MAX: usize = 64 << 20;
/// Hubs per shard; past it, followers use the ordinary path. A ring always keeps its newest
/// batch (≤ POLL_BYTES), so HUBS_MAX × POLL_BYTES must fit SHARD_RING_BYTES_MAX.
const HUBS_MAX: usize = 256;
/// A hub nobody asked for this long stops.
const IDLE_MAX: Duration = Duration::from_secs(30);
/// The hub's long poll (the owner answers sooner when records arrive).
const POLL_WAIT: Duration = Duration::from_secs(10);
/// One batch from the owner, as an ordinary read session takes.
const POLL_RECORDS: usize = 1000;
const POLL_BYTES: usize = 256 << 10;
const _: () = assert!(HUBS_MAX * POLL_BYTES <= SHARD_RING_BYTES_MAX);

/// A hub follows one incarnation of a stream: a re-created stream of the same name gets
/// its own hub, and never the old one's records.
type Key = (BasinName, StreamName, u64);

struct Hub {
    stream_id: u64,
    ring: RefCell<VecDeque<SequencedRecord>>,
    ring_bytes: Cell<usize>,
    /// The next seq num the hub will ask the owner for (one past the ring's end).
    next: Cell<u64>,
    tail: Cell<StreamPosition>,
    /// Set when the owner answered with an error; followers go the ordinary way.
    failed: Cell<bool>,
    last_used: Cell<Instant>,
    /// The stream's cipher: the ring's records are sealed (fixed for an incarnation, so
    /// known from the owner's first answer), and each follower opens them with its key.
    sealed: Cell<Option<protocol::config::Cipher>>,
    changed: crate::notify::Notify,
}

thread_local! {
    static HUBS: RefCell<HashMap<Key, Rc<Hub>>> = RefCell::new(HashMap::new());
    static RING_BYTES: Cell<usize> = const { Cell::new(0) };
}

enum Serve {
    Records(ReadOutput),
    Wait,
    Miss,
}

impl Hub {
    fn serve(&self, from: u64, count: usize, bytes: usize) -> Serve {
        if self.failed.get() {
            return Serve::Miss;
        }
        self.last_used.set(Instant::now());
        let next = self.next.get();
        if from == next {
            return Serve::Wait;
        }
        let ring = self.ring.borrow();
        let Some(first) = ring.front().map(|r| r.seq_num) else {
            return Serve::Miss;
        };
        if from < first || from > next {
            return Serve::Miss;
        }
        // Pages may leave out expired records, so the ring can have gaps: find `from` by
        // seq_num, not by offset.
        let offset = ring.partition_point(|r| r.seq_num < from);
        if offset >= ring.len() {
            return Serve::Miss;
        }
        let mut records = Vec::new();
        let mut used = 0;
        let sealed = self.sealed.get();
        for r in ring.iter().skip(offset) {
            let size = record_cipher::metered_size(r, sealed.is_some());
            // The same limits as an ordinary read (`read::Limits::admits`).
            if records.len() >= count || used + size > bytes {
                break;
            }
            used += size;
            records.push(r.clone());
        }
        if records.is_empty() {
            // The first record alone is over the byte limit: the ordinary path says so.
            return Serve::Miss;
        }
        let next_seq = records.last().map_or(from, |r| r.seq_num + 1);
        let tail = self.tail.get();
        Serve::Records(ReadOutput {
            records,
            tail: Some(tail),
            next_seq,
            durable_tail: tail,
            stream_id: self.stream_id,
            sealed,
        })
    }

    fn absorb(&self, out: ReadOutput) {
        let mut ring = self.ring.borrow_mut();
        let mut bytes = self.ring_bytes.get();
        // A trim can make the owner skip ahead (with or without records); the ring holds
        // only contiguous records ending at `next`.
        let starts_at = out.records.first().map_or(out.next_seq, |r| r.seq_num);
        if starts_at != self.next.get() {
            ring.clear();
            bytes = 0;
        }
        let fresh = out.records.len();
        self.sealed.set(out.sealed);
        // The ring's budget counts what it holds (sealed records as stored).
        for r in out.records {
            bytes += r.metered_size();
            ring.push_back(r);
        }
        let before = self.ring_bytes.get();
        let shard_others = RING_BYTES.with(|t| t.get()).saturating_sub(before);
        // Evict oldest first, but never the batch just absorbed: followers waiting at the
        // old end are about to take it.
        while ring.len() > fresh
            && (ring.len() > RING_RECORDS_MAX
                || bytes > RING_BYTES_MAX
                || shard_others + bytes > SHARD_RING_BYTES_MAX)
        {
            if let Some(r) = ring.pop_front() {
                bytes -= r.metered_size();
            }
        }
        self.ring_bytes.set(bytes);
        RING_BYTES.with(|t| t.set(shard_others + bytes));
        publish_ring_bytes();
        self.next.set(out.next_seq);
        self.tail.set(out.durable_tail);
    }

    fn release(&self) {
        let bytes = self.ring_bytes.replace(0);
        self.ring.borrow_mut().clear();
        RING_BYTES.with(|t| t.set(t.get().saturating_sub(bytes)));
        publish_ring_bytes();
    }
}

/// The owner-facing loop of one hub: long-poll, absorb, wake followers; stop when idle or
/// when the owner says no (the stream is gone or unreadable).
async fn pump(cluster: Cluster, key: Key, hub: Rc<Hub>) {
    loop {
        if hub.last_used.get().elapsed() > IDLE_MAX {
            break;
        }
        let req = ReadRequest {
            start: ReadStart::SeqNum(hub.next.get()),
            clamp: false,
            count: Some(POLL_RECORDS),
            bytes: Some(POLL_BYTES),
            until: None,
            wait: Some(POLL_WAIT),
            may_follow: Some(true),
            incarnation: Some(key.2),
            key: ReadKey::Followers,
        };
        match cluster.read(key.0.clone(), key.1.clone(), req).await {
            Ok(out) if out.stream_id != key.2 => break,
            Ok(out) => {
                let moved = !out.records.is_empty();
                hub.absorb(out);
                if moved {
                    hub.changed.notify_all();
                }
            }
            Err(_) => {
                hub.failed.set(true);
                break;
            }
        }
    }
    HUBS.with(|h| {
        let mut h = h.borrow_mut();
        if h.get(&key).is_some_and(|cur| Rc::ptr_eq(cur, &hub)) {
            h.remove(&key);
        }
        let n = h.len() as u64;
        crate::shard_metrics::with(|m| m.follow_hubs.set(n));
    });
    hub.failed.set(true);
    hub.release();
    hub.changed.notify_all();
}

fn publish_ring_bytes() {
    let bytes = RING_BYTES.with(|t| t.get()) as u64;
    crate::shard_metrics::with(|m| m.follow_hub_bytes.set(bytes));
}

fn hub_for(cluster: &Cluster, key: &Key, from: u64, tail: StreamPosition) -> Option<Rc<Hub>> {
    HUBS.with(|h| {
        let mut hubs = h.borrow_mut();
        if let Some(hub) = hubs.get(key) {
            return Some(hub.clone());
        }
        if hubs.len() >= HUBS_MAX || RING_BYTES.with(|t| t.get()) >= SHARD_RING_BYTES_MAX {
            return None;
        }
        let hub = Rc::new(Hub {
            stream_id: key.2,
            ring: RefCell::new(VecDeque::new()),
            ring_bytes: Cell::new(0),
            next: Cell::new(from),
            tail: Cell::new(tail),
            failed: Cell::new(false),
            last_used: Cell::new(Instant::now()),
            sealed: Cell::new(None),
            changed: Default::default(),
        });
        hubs.insert(key.clone(), hub.clone());
        let n = hubs.len() as u64;
        crate::shard_metrics::with(|m| m.follow_hubs.set(n));
        spawn_local(pump(cluster.clone(), key.clone(), hub.clone())).detach();
        Some(hub)
    })
}

/// A live follower's next read: from `from`, having reached the tail `tail`, at most
/// `count` records and `bytes` metered bytes, waiting up to `wait` for them.
#[derive(Debug, Clone)]
pub struct FollowRead {
    pub from: u64,
    pub tail: StreamPosition,
    pub count: usize,
    pub bytes: usize,
    pub wait: Duration,
    /// The incarnation the follower has been reading (`ReadOutput::stream_id`).
    pub stream_id: u64,
    /// The follower's `s2-encryption-key`, which opens what the hub keeps sealed.
    pub key: Option<EncryptionKey>,
}

/// Records from this shard's hub for the stream, waiting up to `wait` for them; or, when
/// the hub cannot serve that position, the ordinary read.
pub(crate) async fn follow(
    cluster: &Cluster,
    basin: BasinName,
    stream: StreamName,
    f: FollowRead,
) -> Result<ReadOutput, ShardError> {
    let FollowRead {
        from,
        tail,
        count,
        bytes,
        wait,
        stream_id,
        key: encryption_key,
    } = f;
    let key = (basin, stream, stream_id);
    let deadline = Instant::now() + wait;
    if let Some(hub) = hub_for(cluster, &key, from, tail) {
        loop {
            match hub.serve(from, count, bytes) {
                Serve::Records(mut out) => {
                    out.open(&key.0, &key.1, encryption_key.as_ref())?;
                    return Ok(out);
                }
                Serve::Miss => break,
                Serve::Wait => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        let tail = hub.tail.get();
                        if tail.seq_num > from {
                            // The hub is mid-catch-up: an empty answer here would read as
                            // "stopped before the tail". Let the ordinary path answer.
                            break;
                        }
                        return Ok(ReadOutput {
                            records: Vec::new(),
                            tail: Some(tail),
                            next_seq: from,
                            durable_tail: tail,
                            stream_id,
                            sealed: None,
                        });
                    }
                    let _ = timeout(left, hub.changed.listen()).await;
                }
            }
        }
    }
    let (basin, stream, stream_id) = key;
    let req = ReadRequest {
        start: ReadStart::SeqNum(from),
        clamp: false,
        count: Some(count),
        bytes: Some(bytes),
        until: None,
        wait: Some(deadline.saturating_duration_since(Instant::now())),
        may_follow: Some(true),
        incarnation: Some(stream_id),
        key: ReadKey::Request(encryption_key),
    };
    cluster.read(basin, stream, req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(seq: u64, len: usize) -> SequencedRecord {
        SequencedRecord {
            seq_num: seq,
            timestamp: seq,
            headers: Vec::new(),
            body: Bytes::from(vec![0u8; len]),
        }
    }

    fn hub(next: u64) -> Hub {
        Hub {
            stream_id: 7,
            ring: RefCell::new(VecDeque::new()),
            ring_bytes: Cell::new(0),
            next: Cell::new(next),
            tail: Cell::new(StreamPosition {
                seq_num: next,
                timestamp: 0,
            }),
            failed: Cell::new(false),
            last_used: Cell::new(Instant::now()),
            sealed: Cell::new(None),
            changed: Default::default(),
        }
    }

    fn output(seqs: std::ops::Range<u64>, len: usize) -> ReadOutput {
        let records: Vec<_> = seqs.clone().map(|s| rec(s, len)).collect();
        let tail = StreamPosition {
            seq_num: seqs.end,
            timestamp: seqs.end,
        };
        ReadOutput {
            records,
            tail: Some(tail),
            next_seq: seqs.end,
            durable_tail: tail,
            stream_id: 7,
            sealed: None,
        }
    }

    #[test]
    fn followers_at_the_end_wait_and_others_are_served_from_the_ring() {
        let h = hub(10);
        assert!(matches!(h.serve(10, 100, 1 << 20), Serve::Wait));
        assert!(matches!(h.serve(5, 100, 1 << 20), Serve::Miss));
        h.absorb(output(10..20, 100));
        let Serve::Records(out) = h.serve(12, 3, 1 << 20) else {
            panic!("position 12 is in the ring")
        };
        let seqs: Vec<u64> = out.records.iter().map(|r| r.seq_num).collect();
        assert_eq!(seqs, vec![12, 13, 14]);
        assert_eq!(out.next_seq, 15);
        assert_eq!(out.durable_tail.seq_num, 20);
        assert!(matches!(h.serve(20, 100, 1 << 20), Serve::Wait));
        assert!(matches!(h.serve(25, 100, 1 << 20), Serve::Miss));
        h.failed.set(true);
        assert!(matches!(h.serve(12, 100, 1 << 20), Serve::Miss));
        h.release();
    }

    #[test]
    fn the_ring_is_bounded_but_keeps_the_newest_batch() {
        let h = hub(0);
        let mut next = 0;
        for _ in 0..20 {
            h.absorb(output(next..next + 100, 8192));
            next += 100;
        }
        assert!(h.ring_bytes.get() <= RING_BYTES_MAX);
        let first = h.ring.borrow().front().unwrap().seq_num;
        assert!(first > 0, "old records were evicted");
        assert!(matches!(
            h.serve(next - 100, 1000, 1 << 20),
            Serve::Records(_)
        ));
        assert!(matches!(h.serve(0, 1000, 1 << 20), Serve::Miss));
        h.release();
        assert_eq!(h.ring_bytes.get(), 0);
    }

    #[test]
    fn an_empty_skip_ahead_restarts_the_ring_too() {
        let h = hub(0);
        h.absorb(output(0..10, 10));
        let mut skip = output(11..11, 10);
        skip.next_seq = 11;
        h.absorb(skip);
        assert!(h.ring.borrow().is_empty());
        assert!(matches!(h.serve(10, 100, 1 << 20), Serve::Miss));
        h.absorb(output(11..15, 10));
        let Serve::Records(out) = h.serve(11, 100, 1 << 20) else {
            panic!("11 is in the ring")
        };
        assert_eq!(out.records[0].seq_num, 11);
        h.release();
    }

    #[test]
    fn the_byte_limit_is_never_exceeded() {
        let h = hub(0);
        h.absorb(output(0..4, 1000));
        let size = h.ring.borrow()[0].metered_size();
        let Serve::Records(out) = h.serve(0, 100, 2 * size + 1) else {
            panic!("in the ring")
        };
        assert_eq!(out.records.len(), 2);
        assert!(matches!(h.serve(0, 100, size - 1), Serve::Miss));
        h.release();
    }

    #[test]
    fn a_skip_ahead_after_a_trim_restarts_the_ring() {
        let h = hub(0);
        h.absorb(output(0..10, 10));
        h.absorb(output(50..60, 10));
        assert_eq!(h.ring.borrow().front().unwrap().seq_num, 50);
        assert!(matches!(h.serve(5, 100, 1 << 20), Serve::Miss));
        h.release();
    }
}
