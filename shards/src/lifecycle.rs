//! A stream's lifecycle in the background: records past their retention are deleted from
//! storage, and empty streams are deleted on request.
//!
//! **Retention.** Reads already leave out expired records (`read.rs`); here their keys go
//! too. SlateDB keeps an expired entry until a compaction happens to rewrite it, and a
//! stream nobody writes to may never be compacted, so each sweep deletes the expired prefix
//! of a bounded number of streams with an age retention (at most [`EXPIRED_SCAN_MAX`]
//! records each), with their timestamp-index entries. Only records seen expired are
//! deleted: they cannot come back, so no append or read can race it.
//!
//! **Delete-on-empty** (API.md §16): a stream whose config sets `delete_on_empty.min_age_secs`
//! is deleted once it has no live record left (all trimmed or past their retention) and
//! nothing was written to it for that long. Each shard sweeps its partitions every tick
//! (`PipelineConfig::lifecycle_tick`), looking at a bounded number of streams per partition
//! per tick, so the sweep never crowds out appends; a deletion then goes exactly as a
//! client's DELETE (terminal trim record, durable mark, background cleanup).
//!
//! The race that matters: an append arriving while a stream is judged empty. The judgement
//! records the tail it saw; the stream is then *claimed* synchronously on its shard only if
//! that tail is still the sequenced and durable tail with nothing in flight, and from the
//! claim on, its appends are refused (409 `stream_deletion_pending`) instead of being
//! acknowledged into a stream about to go.

use crate::error::ShardError;
use crate::kv;
use crate::kv::StreamMeta;
use crate::partition::Partition;
use protocol::config::RetentionPolicy;
use protocol::names::{BasinName, StreamName};
use slatedb::config::{DurabilityLevel, ScanOptions};
use slatedb::IterationOrder;

/// Streams judged per partition per tick, at most.
pub(crate) const CHECKS_PER_TICK: usize = 256;
/// Expired records a judgement passes over before it calls the stream "not yet empty"
/// (SlateDB drops expired records itself; this only bounds one check's work).
const EXPIRED_SCAN_MAX: usize = 10_000;

/// Up to `limit` of `all` (in name order) after `cursor`, wrapping around; the cursor moves
/// to the last one taken, so every stream gets its turn however many there are.
fn take_turn(
    all: Vec<(BasinName, StreamName, StreamMeta)>,
    cursor: &mut Option<(BasinName, StreamName)>,
    limit: usize,
) -> Vec<Candidate> {
    let start = match cursor {
        Some(c) => all.partition_point(|(b, s, _)| (b, s) <= (&c.0, &c.1)),
        None => 0,
    };
    let picked: Vec<Candidate> = all[start..]
        .iter()
        .chain(all[..start].iter())
        .take(limit)
        .map(|(basin, stream, meta)| Candidate {
            basin: basin.clone(),
            stream: stream.clone(),
            meta: meta.clone(),
        })
        .collect();
    *cursor = picked.last().map(|c| (c.basin.clone(), c.stream.clone()));
    picked
}

fn corrupt(e: kv::DecodeError) -> ShardError {
    ShardError::Storage(format!("corrupt record: {e}"))
}

/// A stream that may be due for deletion, with the config it was judged under.
pub(crate) struct Candidate {
    pub basin: BasinName,
    pub stream: StreamName,
    pub meta: StreamMeta,
}

impl Partition {
    /// Up to `limit` streams with an age retention, after `cursor` (wrapping).
    pub(crate) fn retention_candidates(
        &self,
        cursor: &mut Option<(BasinName, StreamName)>,
        limit: usize,
    ) -> Vec<Candidate> {
        let all = self.streams_with(|m| {
            m.deleted_at_nanos.is_none()
                && matches!(m.config.retention_policy, RetentionPolicy::Age(_))
        });
        take_turn(all, cursor, limit)
    }

    /// Deletes the stream's expired records (and their index entries) from where the last
    /// collection stopped to its first live record, at most [`EXPIRED_SCAN_MAX`] records
    /// at a time. Returns how many were deleted.
    pub(crate) async fn collect_expired(&self, c: &Candidate) -> Result<usize, ShardError> {
        let id = c.meta.id;
        let from = self
            .expired_collected
            .borrow()
            .get(&id)
            .copied()
            .unwrap_or(0);
        let now_ms = (self.now_nanos() / 1_000_000) as i64;
        let db = self.db().clone();
        // Before the scan: every record durable now is in it unless it is gone.
        let appended = self.durable_appended(id);
        // The expired run from `from`: (its end, the last expired record's timestamp), and
        // the bytes before the first record kept (`None`: none seen).
        let (run, kept) = self
            .storage()
            .call("retention scan", async move {
                let options = ScanOptions {
                    durability_filter: DurabilityLevel::Remote,
                    ..Default::default()
                };
                let range =
                    kv::record::key(id, from).to_vec()..kv::record::key(id, u64::MAX).to_vec();
                let mut it = db.scan_with_options(range, &options).await?;
                let mut run: Option<(u64, u64)> = None;
                let mut kept = None;
                let mut looked = 0;
                while let Some(kv) = it.next().await? {
                    if kv.expire_ts.is_none_or(|e| e > now_ms) || looked >= EXPIRED_SCAN_MAX {
                        kept = Some(kv::record::bytes_before(&kv.value));
                        break;
                    }
                    looked += 1;
                    let (_, seq) = kv::record::decode_key(&kv.key).map_err(corrupt)?;
                    let ts = kv::record::timestamp(&kv.value).map_err(corrupt)?;
                    run = Some((seq + 1, ts));
                }
                Ok((run, kept))
            })
            .await?;
        let Some((end, last_ts)) = run else {
            // SlateDB's compaction may have dropped expired records before we saw them:
            // the first record kept still says how many bytes are gone, and no record at all
            // means every durable one is.
            match kept {
                Some(Some(before)) => self.note_collected(id, before).await?,
                Some(None) => {}
                None => self.note_collected(id, appended).await?,
            }
            return Ok(0);
        };
        self.delete_records(id, from, end, c.meta.cipher.is_some())
            .await?;
        // Index buckets wholly before the last expired record's bucket point only at
        // deleted records now.
        let bucket = kv::timestamp_index::bucket(last_ts);
        let index =
            kv::timestamp_index::key(id, 0).to_vec()..kv::timestamp_index::key(id, bucket).to_vec();
        if index.start < index.end {
            self.delete_keys(index).await?;
        }
        self.expired_collected.borrow_mut().insert(id, end);
        Ok((end - from) as usize)
    }

    /// Up to `limit` streams with delete-on-empty on, not being deleted, created at least
    /// their `min_age` ago, after `cursor` in name order (wrapping), so every stream gets
    /// its turn however many there are.
    pub(crate) fn delete_on_empty_candidates(
        &self,
        now_nanos: u64,
        cursor: &mut Option<(BasinName, StreamName)>,
        limit: usize,
    ) -> Vec<Candidate> {
        let all = self.streams_with(|m| {
            let min_age = m.config.delete_on_empty.min_age_secs;
            m.deleted_at_nanos.is_none()
                && min_age > 0
                && now_nanos.saturating_sub(m.created_at_nanos) >= min_age * 1_000_000_000
        });
        take_turn(all, cursor, limit)
    }

    /// `Some(tail)` if the stream has no live record and was last written (or created) at
    /// least `min_age` ago, as of `tail`; `None` otherwise.
    pub(crate) async fn judge_empty(&self, c: &Candidate) -> Result<Option<u64>, ShardError> {
        let min_age_ms = c
            .meta
            .config
            .delete_on_empty
            .min_age_secs
            .saturating_mul(1000);
        let state = self.stream_state(c.meta.id).await?;
        let (tail, trim) = {
            let st = state.borrow();
            if st.inflight > 0 || st.next_seq != st.durable.seq_num || st.closing {
                return Ok(None);
            }
            (st.durable.seq_num, st.durable_trim_point)
        };
        let now_ms = (self.now_nanos() / 1_000_000) as i64;
        let id = c.meta.id;
        let db = self.db().clone();
        let (live, last_write_ms) = self
            .storage()
            .call("delete-on-empty check", async move {
                let options = ScanOptions {
                    durability_filter: DurabilityLevel::Remote,
                    ..Default::default()
                };
                // The position key is rewritten by every append: its write time is the
                // stream's last write.
                let pos = kv::stream_position::key(id).to_vec();
                let mut after = pos.clone();
                after.push(0);
                let mut it = db.scan_with_options(pos..after, &options).await?;
                let last_write = it.next().await?.map(|kv| kv.create_ts);
                // SlateDB refuses (panics on) an empty range: trimmed to its tail is empty.
                if trim >= tail {
                    return Ok((false, last_write));
                }
                // Newest first: one live record is enough to say no.
                let options = ScanOptions {
                    order: IterationOrder::Descending,
                    ..options
                };
                let range = kv::record::key(id, trim).to_vec()..kv::record::key(id, tail).to_vec();
                let mut it = db.scan_with_options(range, &options).await?;
                let mut looked = 0;
                while let Some(kv) = it.next().await? {
                    let expired = kv.expire_ts.is_some_and(|e| e <= now_ms);
                    looked += 1;
                    if !expired || looked >= EXPIRED_SCAN_MAX {
                        return Ok((true, last_write));
                    }
                }
                Ok((false, last_write))
            })
            .await?;
        if live {
            return Ok(None);
        }
        let created_ms = (c.meta.created_at_nanos / 1_000_000) as i64;
        let last_write_ms = last_write_ms.unwrap_or(created_ms).max(created_ms);
        let idle_ms = now_ms.saturating_sub(last_write_ms).max(0) as u64;
        Ok((idle_ms >= min_age_ms).then_some(tail))
    }

    /// Claims the stream for deletion if `tail` is still its tail with nothing in flight
    /// and its config still asks for delete-on-empty; its later appends are refused.
    pub(crate) fn claim_for_deletion(&self, c: &Candidate, tail: u64) -> bool {
        let current = self.stream_meta(&c.basin, &c.stream);
        let same = current.is_some_and(|m| {
            m.id == c.meta.id
                && m.deleted_at_nanos.is_none()
                && m.config.delete_on_empty.min_age_secs > 0
        });
        if !same {
            return false;
        }
        let Some(state) = self.loaded_state(c.meta.id) else {
            return false;
        };
        let mut st = state.borrow_mut();
        if st.inflight > 0 || st.next_seq != tail || st.durable.seq_num != tail || st.closing {
            return false;
        }
        st.closing = true;
        true
    }

    /// Gives a claim back (the deletion did not happen).
    pub(crate) fn release_claim(&self, id: u64) {
        if let Some(state) = self.loaded_state(id) {
            state.borrow_mut().closing = false;
        }
    }
}
