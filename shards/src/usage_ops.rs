//! Usage persistence and queries (the `/v1/metrics` API; keys in `kv::usage`).
//!
//! Every `usage_flush`, each shard (1) samples the stored bytes of every stream on its
//! partitions, writing a stream's sample when it changed or once an hour, and notes each
//! basin's total as a gauge; (2) writes what its meter counted (`usage_meter`) to its home
//! partition (its lowest id) under keys of their own (the flush's id in each), so no write
//! reads another and a failed flush is retried with the very same keys and values. A query
//! fans out to every partition; each returns its rows, and each home partition adds its
//! shard's rows not yet durable.

use crate::error::ShardError;
use crate::kv::{self, usage::MinuteUsage};
use crate::partition::Partition;
use crate::usage_meter;
use protocol::names::{BasinName, StreamName};
use slatedb::config::{PutOptions, Ttl};
use slatedb::WriteBatch;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A stream's (and a basin's) sample is written again after this many minutes unchanged...
pub const RESAMPLE_MINUTES: u32 = 30;
/// ...so a gauge's value at any time is found at most this many minutes before it (with
/// flushes at most 10 minutes apart: `--usage-flush-ms` is capped there).
pub const SAMPLE_LOOKBACK_MINUTES: u32 = 2 * RESAMPLE_MINUTES + 1;

/// Stream samples per storage call.
const SAMPLES_PER_WRITE: usize = 10_000;

/// At most this many rows answer one query (90 days of minutes for a few basins), from one
/// partition or all together; past it the query fails (503) rather than hold unbounded
/// memory.
pub const ROWS_MAX: usize = 1_000_000;

/// The shard id of rows read live from a partition's stream table (not a real shard's).
pub const LIVE_SHARD: u16 = u16::MAX;

/// One shard's usage of one basin (`""`: account-level) in one minute.
#[derive(Debug, Clone)]
pub struct UsageRow {
    pub basin: String,
    pub minute: u32,
    pub shard: u16,
    /// The flush that wrote it (later flushes have greater ids; `u64::MAX`: not yet).
    pub flush: u64,
    pub usage: MinuteUsage,
}

fn ttl() -> PutOptions {
    PutOptions {
        ttl: Ttl::ExpireAfterMillis(kv::usage::USAGE_TTL_SECS * 1000),
    }
}

fn corrupt(e: kv::DecodeError) -> ShardError {
    ShardError::Storage(format!("corrupt usage: {e}"))
}

impl Partition {
    /// Per basin on this partition: (stored bytes, streams). Writes the stream samples that
    /// changed since the last, or are [`RESAMPLE_MINUTES`] old; a failed write is logged and
    /// retried at the next flush (the totals are right either way).
    pub(crate) async fn sample_storage(&self, minute: u32) -> HashMap<String, (u64, u64)> {
        {
            let states = self.states.borrow();
            let mut stored = self.stored.borrow_mut();
            for (id, st) in states.iter() {
                if let Ok(st) = st.try_borrow() {
                    stored.entry(*id).or_default().appended = st.durable_appended_bytes;
                }
            }
        }
        let mut per_basin: HashMap<String, (u64, u64)> = HashMap::new();
        let mut due = Vec::new();
        {
            let streams = self.streams.borrow();
            let stored = self.stored.borrow();
            let sampled = self.sampled.borrow();
            for (basin, table) in streams.iter() {
                for meta in table.values() {
                    let bytes = stored.get(&meta.id).map_or(0, |s| s.stored());
                    let total = per_basin.entry(basin.as_str().to_owned()).or_default();
                    total.0 += bytes;
                    total.1 += 1;
                    let fresh = sampled.get(&meta.id).is_some_and(|&(b, m)| {
                        b == bytes && minute.saturating_sub(m) < RESAMPLE_MINUTES
                    });
                    if !fresh {
                        due.push((meta.id, bytes));
                    }
                }
            }
        }
        for chunk in due.chunks(SAMPLES_PER_WRITE) {
            let mut batch = WriteBatch::new();
            for (id, bytes) in chunk {
                batch.put_with_options(
                    kv::usage::sample_key(*id, minute),
                    kv::usage::encode_bytes(*bytes),
                    &ttl(),
                );
            }
            if let Err(e) = self.write_durable(batch).await {
                tracing::warn!(partition = self.id, error = %e, "stream samples not written");
                break;
            }
            let mut sampled = self.sampled.borrow_mut();
            for &(id, bytes) in chunk {
                sampled.insert(id, (bytes, minute));
            }
        }
        per_basin
    }

    /// Writes flush `flush` of shard `shard`, durably.
    pub(crate) async fn write_usage(
        &self,
        shard: u16,
        flush: u64,
        rows: &usage_meter::Rows,
    ) -> Result<(), ShardError> {
        let mut batch = WriteBatch::new();
        for ((basin, minute), row) in rows {
            batch.put_with_options(
                kv::usage::usage_key(basin, *minute, shard, flush),
                kv::usage::encode_usage(row),
                &ttl(),
            );
        }
        self.write_durable(batch).await
    }

    /// The usage rows this partition holds for `basin` (`None`: every basin) in minutes
    /// `[from, to)`, plus, with `pending` set to this shard's id, the shard's rows not yet
    /// written, plus, if the range reaches now, a row per basin with streams here now
    /// (shard [`LIVE_SHARD`]: stream counts only, so a basin made since the last flush is
    /// active).
    pub(crate) async fn usage_rows(
        &self,
        basin: Option<String>,
        from: u32,
        to: u32,
        pending: Option<u16>,
    ) -> Result<Vec<UsageRow>, ShardError> {
        let db = self.db().clone();
        // A basin's keys sort by minute: scan just the range's.
        let range = match basin.as_deref() {
            Some(b) => kv::usage::usage_key(b, from, 0, 0)..kv::usage::usage_key(b, to, 0, 0),
            None => kv::usage::usage_range(None),
        };
        if range.start >= range.end {
            return Ok(Vec::new());
        }
        let mut rows = self
            .storage()
            .call("usage scan", async move {
                let mut iter = db.scan(range).await?;
                let mut rows = Vec::new();
                while let Some(kv) = iter.next().await? {
                    let key = kv::usage::decode_usage_key(&kv.key).map_err(corrupt)?;
                    if !(from..to).contains(&key.minute) {
                        continue;
                    }
                    if rows.len() >= ROWS_MAX {
                        return Err(ShardError::Unavailable("usage query spans too many rows"));
                    }
                    let usage = kv::usage::decode_usage(&kv.value).map_err(corrupt)?;
                    rows.push(UsageRow {
                        basin: key.basin,
                        minute: key.minute,
                        shard: key.shard,
                        flush: key.flush,
                        usage,
                    });
                }
                Ok(rows)
            })
            .await?;
        let now = usage_meter::now_minute();
        if (from..to).contains(&now) {
            for (b, table) in self.streams.borrow().iter() {
                if table.is_empty() || basin.as_deref().is_some_and(|x| x != b.as_str()) {
                    continue;
                }
                rows.push(UsageRow {
                    basin: b.as_str().to_owned(),
                    minute: now,
                    shard: LIVE_SHARD,
                    flush: u64::MAX,
                    usage: MinuteUsage {
                        streams: Some(table.len() as u64),
                        ..Default::default()
                    },
                });
            }
        }
        if let Some(shard) = pending {
            let peeked = usage_meter::peek(basin.as_deref(), from, to);
            // A flush not acknowledged may have landed anyway: count it once.
            let unacked: HashSet<u64> = peeked
                .iter()
                .map(|(_, _, flush, _)| *flush)
                .filter(|&f| f != u64::MAX)
                .collect();
            let landed: HashSet<(String, u32)> = rows
                .iter()
                .filter(|r| r.shard == shard && unacked.contains(&r.flush))
                .map(|r| (r.basin.clone(), r.minute))
                .collect();
            for (basin, minute, flush, usage) in peeked {
                if flush != u64::MAX && landed.contains(&(basin.clone(), minute)) {
                    continue;
                }
                rows.push(UsageRow {
                    basin,
                    minute,
                    shard,
                    flush,
                    usage,
                });
            }
        }
        Ok(rows)
    }

    /// A stream's stored-bytes samples in minutes `[from, to)`, with the last one before
    /// `from` (within [`SAMPLE_LOOKBACK_MINUTES`]) and, if `to` is past now, its bytes now.
    pub(crate) async fn stream_storage(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, u64)>, ShardError> {
        let id = self.get_stream(basin, stream)?.meta.id;
        let db = self.db().clone();
        let start = from.saturating_sub(SAMPLE_LOOKBACK_MINUTES);
        let range =
            kv::usage::sample_key(id, start).to_vec()..kv::usage::sample_key(id, to).to_vec();
        let mut samples = if range.start < range.end {
            self.storage()
                .call("usage scan", async move {
                    let mut iter = db.scan(range).await?;
                    let mut samples = Vec::new();
                    while let Some(kv) = iter.next().await? {
                        let minute = kv::usage::decode_sample_key(&kv.key).map_err(corrupt)?;
                        let bytes = kv::usage::decode_bytes(&kv.value).map_err(corrupt)?;
                        samples.push((minute, bytes));
                    }
                    Ok(samples)
                })
                .await?
        } else {
            Vec::new()
        };
        let now = usage_meter::now_minute();
        if now < to {
            let live = self
                .states
                .borrow()
                .get(&id)
                .and_then(|st| st.try_borrow().ok().map(|st| st.durable_appended_bytes));
            let mut bytes = self.stored.borrow().get(&id).copied().unwrap_or_default();
            if let Some(appended) = live {
                bytes.appended = appended;
            }
            samples.push((now, bytes.stored()));
        }
        Ok(samples)
    }
}

/// A shard's usage flush: samples storage on `partitions`, then writes the meter's rows to
/// `home`. `gauges` remembers the last basin gauges noted (bytes, streams, hour), so a
/// basin's gauge is noted when it changes, once an hour, and once more (0) when it empties.
pub(crate) async fn flush(
    partitions: &[Rc<Partition>],
    home: UsageHome<'_>,
    shard: u16,
    gauges: &mut HashMap<String, (u64, u64, u32)>,
) {
    sample(partitions, gauges).await;
    write_pending(home, shard).await;
}

/// Where a shard writes its usage: its lowest partition, or, for a shard that owns none
/// (more shards than partitions), partition `shard % partitions` through its owner.
pub(crate) enum UsageHome<'a> {
    Local(&'a Rc<Partition>),
    Remote(&'a crate::cluster::Cluster),
}

/// Notes the basin gauges of `partitions` in the meter (writing their stream samples):
/// when they changed, are [`RESAMPLE_MINUTES`] old, or the basin emptied (0, once).
/// `gauges` holds the last noted per basin: (bytes, streams, minute).
async fn sample(partitions: &[Rc<Partition>], gauges: &mut HashMap<String, (u64, u64, u32)>) {
    let minute = usage_meter::now_minute();
    let mut totals: HashMap<String, (u64, u64)> = HashMap::new();
    let mut complete = true;
    for p in partitions {
        if p.closed().is_some() {
            complete = false;
            continue;
        }
        for (basin, (bytes, streams)) in p.sample_storage(minute).await {
            let total = totals.entry(basin).or_default();
            total.0 += bytes;
            total.1 += streams;
        }
    }
    for (basin, &(bytes, streams)) in &totals {
        let fresh = gauges.get(basin).is_some_and(|&(b, s, m)| {
            (b, s) == (bytes, streams) && minute.saturating_sub(m) < RESAMPLE_MINUTES
        });
        if !fresh {
            usage_meter::record_gauge(basin, minute, bytes, streams);
            gauges.insert(basin.clone(), (bytes, streams, minute));
        }
    }
    // A basin that lost its last stream here: one gauge of 0 (not if a partition was
    // missing from this round: its streams were not counted).
    if complete {
        gauges.retain(|basin, _| {
            let present = totals.contains_key(basin);
            if !present {
                usage_meter::record_gauge(basin, minute, 0, 0);
            }
            present
        });
    }
}

/// Writes what the meter counted to `home`: a flush not yet acknowledged first (again, as
/// it was), then what was counted since; kept for the next flush if a write fails.
pub(crate) async fn write_pending(home: UsageHome<'_>, shard: u16) {
    for _ in 0..2 {
        if matches!(home, UsageHome::Local(p) if p.closed().is_some()) {
            return;
        }
        let Some((flush, rows)) = usage_meter::next_flush() else {
            return;
        };
        let written = match home {
            UsageHome::Local(p) => p.write_usage(shard, flush, &rows).await,
            UsageHome::Remote(cluster) => cluster.write_usage(shard, flush, rows).await,
        };
        match written {
            Ok(()) => usage_meter::flushed(flush),
            Err(e) => {
                tracing::warn!(shard, error = %e, "usage flush failed; retried next time");
                return;
            }
        }
    }
}
