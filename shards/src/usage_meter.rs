//! Usage counting for the `/v1/metrics` API: each shard thread counts, in memory, what
//! happens on it per (basin, minute), and its flusher (`usage_ops`) persists the counts every
//! `PipelineConfig::usage_flush`. Appends are counted on the stream's owning shard (which
//! knows its storage class), reads and operations where the request is served.
//!
//! What counts (s2's definitions):
//! - an append op is one minute of appends to one stream over one connection: a connection's
//!   first append to a stream in a minute counts, the rest of that minute do not;
//! - a unary read op is one read request; a streaming read op is up to one minute of one read
//!   session (a session counts one at start and one more per minute it lives);
//! - basin- and account-level requests count one op each, by operation name;
//! - bytes are metered bytes (s2's record size), appended or sent to readers.
//!
//! Bounded: at most [`PENDING_MAX`] (basin, minute) rows wait for a flush and at most
//! [`SEEN_MAX`] (connection, stream) pairs are remembered per minute. Past the first bound
//! counts are dropped (and counted: `strand_shard_usage_dropped_total`); past the second
//! each append counts as an op.

use crate::kv::usage::MinuteUsage;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

pub const PENDING_MAX: usize = 65_536;
pub const SEEN_MAX: usize = 65_536;

/// Who sent an append: the connection it came over (`None`: not from a connection, each
/// append is its own op).
pub type Origin = Option<u64>;

pub type Rows = HashMap<(String, u32), MinuteUsage>;

#[derive(Default)]
pub struct UsageMeter {
    /// By minute, then basin: a count finds its row without allocating.
    pending: HashMap<u32, HashMap<String, MinuteUsage>>,
    pending_rows: usize,
    /// A flush's rows (by flush id) not yet known to be written: written again as they are.
    unacked: Option<(u64, Rows)>,
    /// (origin, partition, stream id) that appended in `seen_minute`.
    seen: HashSet<(u64, u32, u64)>,
    seen_minute: u32,
    dropped: u64,
}

thread_local! {
    static CURRENT: RefCell<Option<UsageMeter>> = const { RefCell::new(None) };
}

/// Gives this thread (a shard's) a meter.
pub(crate) fn install() {
    CURRENT.with(|c| *c.borrow_mut() = Some(UsageMeter::default()));
}

fn with<T>(f: impl FnOnce(&mut UsageMeter) -> T) -> Option<T> {
    CURRENT.with(|c| c.borrow_mut().as_mut().map(f))
}

/// The current Unix minute.
pub fn now_minute() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 60) as u32
}

impl UsageMeter {
    fn row(&mut self, basin: &str, minute: u32) -> Option<&mut MinuteUsage> {
        let full = self.pending_rows >= PENDING_MAX;
        let rows = self.pending.entry(minute).or_default();
        if !rows.contains_key(basin) {
            if full {
                self.dropped += 1;
                crate::shard_metrics::with(|m| m.usage_dropped.add(1));
                return None;
            }
            self.pending_rows += 1;
            rows.insert(basin.to_owned(), MinuteUsage::default());
        }
        rows.get_mut(basin)
    }

    /// Everything counted since the last take.
    fn take(&mut self) -> Rows {
        self.pending_rows = 0;
        std::mem::take(&mut self.pending)
            .into_iter()
            .flat_map(|(minute, rows)| rows.into_iter().map(move |(b, row)| ((b, minute), row)))
            .collect()
    }

    pub fn append(
        &mut self,
        basin: &str,
        origin: Origin,
        stream: (u32, u64),
        express: bool,
        bytes: u64,
    ) {
        let minute = now_minute();
        if minute != self.seen_minute {
            self.seen.clear();
            self.seen_minute = minute;
        }
        let first = match origin {
            Some(o) if self.seen.len() < SEEN_MAX => self.seen.insert((o, stream.0, stream.1)),
            Some(o) => !self.seen.contains(&(o, stream.0, stream.1)),
            None => true,
        };
        if let Some(row) = self.row(basin, minute) {
            row.append_bytes += bytes;
            match (first, express) {
                (false, _) => {}
                (true, true) => row.append_ops_express += 1,
                (true, false) => row.append_ops_standard += 1,
            }
        }
    }

    pub fn read(&mut self, basin: &str, op: Option<ReadOp>, bytes: u64) {
        if let Some(row) = self.row(basin, now_minute()) {
            row.read_bytes += bytes;
            match op {
                Some(ReadOp::Unary) => row.read_ops_unary += 1,
                Some(ReadOp::Streaming) => row.read_ops_streaming += 1,
                None => {}
            }
        }
    }

    pub fn op(&mut self, basin: &str, op: &str) {
        if let Some(row) = self.row(basin, now_minute()) {
            *row.ops.entry(op.to_owned()).or_default() += 1;
        }
    }

    /// Sets this minute's gauges of a basin (the flusher's storage sample).
    pub fn gauge(&mut self, basin: &str, minute: u32, stored_bytes: u64, streams: u64) {
        if let Some(row) = self.row(basin, minute) {
            row.stored_bytes = Some(stored_bytes);
            row.streams = Some(streams);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOp {
    Unary,
    Streaming,
}

/// Counts an append on this shard (its stream's owner).
pub(crate) fn record_append(
    basin: &str,
    origin: Origin,
    stream: (u32, u64),
    express: bool,
    bytes: u64,
) {
    with(|m| m.append(basin, origin, stream, express, bytes));
}

/// Counts a read op (if any) and the metered bytes sent to a reader.
pub fn record_read(basin: &str, op: Option<ReadOp>, bytes: u64) {
    with(|m| m.read(basin, op, bytes));
}

/// Counts a basin-level (`basin` non-empty) or account-level (`""`) operation.
pub fn record_op(basin: &str, op: &str) {
    with(|m| m.op(basin, op));
}

pub(crate) fn record_gauge(basin: &str, minute: u32, stored_bytes: u64, streams: u64) {
    with(|m| m.gauge(basin, minute, stored_bytes, streams));
}

/// The next flush's rows and id: the last flush's again if it was not acknowledged (same id,
/// so a write that landed late is overwritten, not added), else everything counted since.
pub(crate) fn next_flush() -> Option<(u64, Rows)> {
    with(|m| {
        if m.unacked.is_none() && m.pending_rows > 0 {
            let id = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            m.unacked = Some((id, m.take()));
        }
        m.unacked.clone()
    })
    .flatten()
}

/// Whether a flush is waiting to be written again (the last write failed).
pub(crate) fn stalled() -> bool {
    with(|m| m.unacked.is_some()).unwrap_or(false)
}

/// Flush `id` is durable.
pub(crate) fn flushed(id: u64) {
    with(|m| {
        if m.unacked.as_ref().is_some_and(|(u, _)| *u == id) {
            m.unacked = None;
        }
    });
}

/// Copies of the rows not yet durable (pending, then the unacknowledged flush's, with its
/// id; pending rows carry `u64::MAX`, the latest) of `basin` (`None`: all) in `[from, to)`
/// minutes.
pub(crate) fn peek(
    basin: Option<&str>,
    from: u32,
    to: u32,
) -> Vec<(String, u32, u64, MinuteUsage)> {
    with(|m| {
        let wanted =
            |b: &str, minute: u32| basin.is_none_or(|x| x == b) && (from..to).contains(&minute);
        let unacked = m.unacked.iter().flat_map(|(id, rows)| {
            rows.iter()
                .map(move |((b, minute), row)| (b, *minute, *id, row))
        });
        m.pending
            .iter()
            .flat_map(|(minute, rows)| rows.iter().map(|(b, row)| (b, *minute, u64::MAX, row)))
            .chain(unacked)
            .filter(|(b, minute, _, _)| wanted(b, *minute))
            .map(|(b, minute, id, row)| (b.clone(), minute, id, row.clone()))
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_appending_to_a_stream_is_one_op_per_minute() {
        let mut m = UsageMeter::default();
        for _ in 0..10 {
            m.append("b", Some(1), (0, 7), true, 10);
        }
        m.append("b", Some(2), (0, 7), true, 10);
        m.append("b", Some(1), (0, 8), false, 10);
        m.append("b", None, (0, 7), true, 10);
        m.append("b", None, (0, 7), true, 10);
        let row = &m.pending[&now_minute()]["b"];
        assert_eq!(row.append_ops_express, 4);
        assert_eq!(row.append_ops_standard, 1);
        assert_eq!(row.append_bytes, 140);
    }

    #[test]
    fn rows_are_bounded() {
        let mut m = UsageMeter::default();
        for i in 0..PENDING_MAX + 5 {
            m.gauge("b", i as u32, 1, 1);
        }
        assert_eq!(m.pending_rows, PENDING_MAX);
        assert_eq!(m.take().len(), PENDING_MAX);
        assert_eq!(m.dropped, 5);
    }

    #[test]
    fn reads_and_ops() {
        let mut m = UsageMeter::default();
        m.read("b", Some(ReadOp::Unary), 5);
        m.read("b", Some(ReadOp::Streaming), 6);
        m.read("b", None, 7);
        m.op("", "list-basins");
        m.op("", "list-basins");
        let row = &m.pending[&now_minute()]["b"];
        assert_eq!(
            (row.read_ops_unary, row.read_ops_streaming, row.read_bytes),
            (1, 1, 18)
        );
        assert_eq!(m.pending[&now_minute()][""].ops["list-basins"], 2);
    }
}
