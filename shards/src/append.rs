//! Appending to a stream on its partition (API.md §7): conditions against the in-memory
//! tail, timestamps, seq_nums and command records, then the encoded puts go to the shard's
//! [`AppendPipeline`], which answers once the round is durable.

use crate::append_pipeline::{AppendPipeline, PendingAck};
use crate::error::ShardError;
use crate::kv;
use crate::partition::Partition;
use crate::record_cipher::RecordCipher;
use bytes::Bytes;
use futures::channel::oneshot;
use protocol::config::{RetentionPolicy, TimestampingMode};
use protocol::encryption::EncryptionKey;
use protocol::names::{BasinName, StreamName};
use protocol::records::{AppendAck, AppendInput, Command, SequencedRecord, StreamPosition};
use slatedb::config::{PutOptions, Ttl};
use std::rc::Rc;

impl Partition {
    pub(crate) async fn append(
        &self,
        pipeline: &Rc<AppendPipeline>,
        basin: &BasinName,
        stream: &StreamName,
        batch: AppendBatch,
        sequenced: Option<oneshot::Sender<()>>,
    ) -> Result<AppendAck, ShardError> {
        let AppendBatch {
            input,
            commands,
            sealing,
            origin,
        } = batch;
        let meta = self.get_stream(basin, stream)?.meta;
        // Resolved once the stream is known, before anything else is checked (s2-lite's
        // order: a missing key wins over a failed condition).
        let cipher = match &sealing {
            Sealing::RequestKey(key) => RecordCipher::resolve(meta.cipher, key.as_ref())?,
            Sealing::CommandsOnly => None,
        };
        if pipeline.memory_store_full() && commands.iter().any(Option::is_none) {
            return Err(ShardError::Unavailable(
                "the in-memory store is full (--memory-store-bytes): trim or delete streams, \
                 or wait for retention",
            ));
        }
        let metered = input.metered_size();
        crate::shard_metrics::with(|m| {
            m.append_batch_records.observe(input.records.len() as f64);
            m.append_batch_bytes.observe(metered as f64);
        });
        let asked = std::time::Instant::now();
        let admission = pipeline.admit(metered).await?;
        let admitted = std::time::Instant::now();
        crate::shard_metrics::with(|m| {
            m.append_permit_seconds.observe_duration(admitted - asked);
        });
        let state = self.stream_state(meta.id).await?;
        // Conditions are checked against the tail including in-flight appends; an error
        // that depends on in-flight appends waits until they are settled.
        loop {
            let settle = {
                let st = state.borrow();
                match conditions(&st, &input) {
                    Ok(()) => None,
                    Err(_) if st.inflight > 0 || st.broken => Some(st.changed.listen()),
                    Err(e) => return Err(e),
                }
            };
            match settle {
                None => break,
                Some(changed) => {
                    let _ = changed.await;
                    drop(self.stream_state(meta.id).await?);
                }
            }
        }

        // The one fallible step of sealing, before anything is sequenced.
        let nonces = match &cipher {
            Some(c) => Some(c.nonces(&input.records)?),
            None => None,
        };
        let now_ms = self.now_nanos() / 1_000_000;
        let ts = &meta.config.timestamping;
        let (
            start,
            end,
            mut records,
            position,
            (trim_point, appended_bytes, befores),
            id,
            ttl,
            epoch,
            index,
        ) = {
            // Re-checked at sequencing (no await until `inflight` counts this append): a
            // stream marked deleted meanwhile takes no more records, so its cleanup, which
            // waits for `inflight` to reach 0, is the last writer of its keys.
            if self.get_stream(basin, stream)?.meta.id != meta.id {
                return Err(ShardError::StreamNotFound {
                    basin: basin.clone(),
                    stream: stream.clone(),
                });
            }
            let mut st = state.borrow_mut();
            // Claimed for deletion on empty: it takes no more records (but its terminal
            // trim).
            if st.closing && !matches!(sealing, Sealing::CommandsOnly) {
                return Err(ShardError::StreamDeletionPending {
                    basin: basin.clone(),
                    stream: stream.clone(),
                });
            }
            let timestamps =
                assign_timestamps(&input, ts.mode, ts.uncapped, now_ms, st.last_timestamp)?;
            if let Some(c) = &cipher {
                check_sealable(c, &input, st.next_seq)?;
            }
            let ttl = match meta.config.retention_policy {
                RetentionPolicy::Age(secs) => Ttl::ExpireAfterMillis(secs.saturating_mul(1000)),
                RetentionPolicy::Infinite(_) => Ttl::NoExpiry,
            };
            let start = StreamPosition {
                seq_num: st.next_seq,
                timestamp: timestamps[0],
            };
            let mut records = Vec::with_capacity(input.records.len());
            // The stream's bytes before each record, stored with it (`kv::record`).
            let mut befores = Vec::with_capacity(input.records.len());
            let mut before = st.appended_bytes;
            // Index entries for the buckets this batch enters (timestamps never decrease).
            let mut index = Vec::new();
            for (i, (rec, cmd)) in input.records.into_iter().zip(commands).enumerate() {
                befores.push(before);
                before += protocol::records::metered_size(&rec.headers, rec.body.len()) as u64;
                let seq_num = start.seq_num + i as u64;
                let bucket = kv::timestamp_index::bucket(timestamps[i]);
                if st.indexed_bucket < Some(bucket) {
                    st.indexed_bucket = Some(bucket);
                    index.push((bucket, seq_num));
                }
                match cmd {
                    Some(Command::Fence(token)) => st.fencing_token = token,
                    Some(Command::Trim(point)) => {
                        st.trim_point = st.trim_point.max(point.min(seq_num + 1));
                    }
                    None => {}
                }
                records.push(SequencedRecord {
                    seq_num,
                    timestamp: timestamps[i],
                    headers: rec.headers,
                    body: rec.body,
                });
            }
            let last = records.last().expect("batches are never empty");
            let end = StreamPosition {
                seq_num: last.seq_num + 1,
                timestamp: last.timestamp,
            };
            st.next_seq = end.seq_num;
            st.last_timestamp = end.timestamp;
            // As stored: a sealed record counts its plaintext, as clients count it.
            debug_assert_eq!(before, st.appended_bytes + metered as u64);
            st.appended_bytes = before;
            st.inflight += 1;
            let position = kv::stream_position::encode_value(&st.stored());
            let trim_point = st.trim_point;
            let id = st.id;
            (
                start,
                end,
                records,
                position,
                (trim_point, st.appended_bytes, befores),
                id,
                ttl,
                st.epoch,
                index,
            )
        };

        // Encode now: the one copy of record bytes on the way to storage, handed to SlateDB
        // as is. The window's records are re-sliced from these exact-size values, so they
        // share the memtable's buffers and no longer pin the (up to 2 MiB) request or
        // session frame they arrived in.
        if let (Some(c), Some(nonces)) = (&cipher, nonces) {
            c.seal_all(basin, stream, &mut records, nonces);
        }
        // Each record: key, value, timestamp, bytes before, metered size.
        let mut puts: Vec<([u8; 17], Bytes, u64, u64, u32)> = Vec::with_capacity(records.len());
        for (i, r) in records.iter_mut().enumerate() {
            let before = befores[i];
            let after = befores.get(i + 1).copied().unwrap_or(appended_bytes);
            let value = Bytes::from(kv::record::encode_value(
                r.timestamp,
                before,
                &r.headers,
                &r.body,
            ));
            // Cannot fail on what was just encoded; if it did, the original slices serve.
            if let Ok((_, headers, body)) = kv::record::decode_value(&value) {
                r.headers = headers;
                r.body = body;
            }
            puts.push((
                kv::record::key(id, r.seq_num),
                value,
                r.timestamp,
                before,
                (after - before) as u32,
            ));
        }
        let expires_at = match ttl {
            Ttl::ExpireAfterMillis(ms) => now_ms.saturating_add(ms),
            _ => u64::MAX,
        };
        let last_seq = end.seq_num - 1;
        let fill = move |batch: &mut slatedb::WriteBatch,
                         data: &mut crate::append_pipeline::DataObject| {
            let options = PutOptions { ttl };
            if !data.inline {
                data.note(id, last_seq, expires_at);
            }
            for (k, v, timestamp, before, metered) in puts {
                let v = if data.inline {
                    v
                } else {
                    let len = v.len() as u32;
                    let offset = data.push(v);
                    let pointer = kv::record::Pointer {
                        object: data.id,
                        offset,
                        len,
                        metered,
                    };
                    Bytes::from(kv::record::encode_pointer(timestamp, before, pointer))
                };
                batch.put_bytes_with_options(Bytes::copy_from_slice(&k), v, &options);
            }
            // Expires with the records it points at.
            for (bucket, seq) in index {
                batch.put_with_options(
                    kv::timestamp_index::key(id, bucket),
                    kv::timestamp_index::encode_value(seq),
                    &options,
                );
            }
            batch.put(kv::stream_position::key(id), position);
        };
        let (reply, answer) = oneshot::channel();
        let express = meta.config.storage_class != "standard";
        let ack = PendingAck {
            expires_at,
            state: state.clone(),
            stream: (self.id, id),
            epoch,
            start,
            end,
            trim_point,
            appended_bytes,
            records,
            reply,
        };
        pipeline.submit(self, fill, ack, admission, express);
        if let Some(s) = sequenced {
            let _ = s.send(());
        }
        let answered = answer
            .await
            .map_err(|_| ShardError::Unavailable("append pipeline dropped the append"))?;
        crate::shard_metrics::with(|m| {
            m.append_ack_seconds.observe_duration(admitted.elapsed());
        });
        // Usage counts what was appended (durably); our own terminal trims are not a
        // client's usage.
        if answered.is_ok() && !matches!(sealing, Sealing::CommandsOnly) {
            crate::usage_meter::record_append(
                basin.as_str(),
                origin,
                (self.id, id),
                express,
                metered as u64,
            );
        }
        answered
    }
}

/// One append's records, their parsed commands, and whose key seals them.
pub(crate) struct AppendBatch {
    pub input: AppendInput,
    pub commands: Vec<Option<Command>>,
    pub sealing: Sealing,
    /// The connection it came over, for usage metering (`usage_meter`).
    pub origin: crate::usage_meter::Origin,
}

/// Whose key seals an append's envelope records.
pub(crate) enum Sealing {
    /// A client's append: the request's `s2-encryption-key`, required on a stream with a
    /// cipher.
    RequestKey(Option<EncryptionKey>),
    /// The server's own command records (deletion's terminal trim): nothing to seal.
    CommandsOnly,
}

/// A cipher may seal only so many records (AES-256-GCM: seq_nums up to 2^32 - 1); the
/// whole batch is refused as s2-lite refuses it, naming the first record past the limit.
fn check_sealable(c: &RecordCipher, input: &AppendInput, first: u64) -> Result<(), ShardError> {
    let max = c.max_seq_num();
    for (i, r) in input.records.iter().enumerate() {
        let seq_num = first + i as u64;
        let command = r.headers.len() == 1 && r.headers[0].0.is_empty();
        if !command && seq_num > max {
            return Err(ShardError::Invalid(format!(
                "max assignable sequence number is {max}; attempted {seq_num}"
            )));
        }
    }
    Ok(())
}

/// The append conditions, checked against the sequenced tail (API.md §7.5): the fencing
/// token first, then `match_seq_num`.
fn conditions(
    st: &crate::stream_state::StreamState,
    input: &AppendInput,
) -> Result<(), ShardError> {
    if input
        .fencing_token
        .as_ref()
        .is_some_and(|t| *t != st.fencing_token)
    {
        return Err(ShardError::FencingTokenMismatch(st.fencing_token.clone()));
    }
    if input.match_seq_num.is_some_and(|m| m != st.next_seq) {
        return Err(ShardError::SeqNumMismatch(st.next_seq));
    }
    Ok(())
}

/// Timestamps per the stream's timestamping config (API.md §7.4): client or arrival time,
/// capped at now unless uncapped, and never below the previous record's.
fn assign_timestamps(
    input: &AppendInput,
    mode: TimestampingMode,
    uncapped: bool,
    now_ms: u64,
    mut max: u64,
) -> Result<Vec<u64>, ShardError> {
    let mut out = Vec::with_capacity(input.records.len());
    for r in &input.records {
        let mut t = match (mode, r.timestamp) {
            (TimestampingMode::Arrival, _) => now_ms,
            (TimestampingMode::ClientRequire, None) => {
                return Err(ShardError::Invalid(
                    "record timestamp was required but was missing".into(),
                ))
            }
            (_, Some(t)) => t,
            (TimestampingMode::ClientPrefer, None) => now_ms,
        };
        if !uncapped && t > now_ms {
            t = now_ms;
        }
        if t < max {
            t = max;
        } else {
            max = t;
        }
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use protocol::records::AppendRecord;

    fn input(ts: &[Option<u64>]) -> AppendInput {
        AppendInput {
            records: ts
                .iter()
                .map(|t| AppendRecord {
                    timestamp: *t,
                    headers: vec![],
                    body: Bytes::new(),
                })
                .collect(),
            match_seq_num: None,
            fencing_token: None,
        }
    }

    #[test]
    fn timestamps_are_monotonic_and_capped() {
        let i = input(&[Some(1000), Some(500), Some(2000)]);
        let t = assign_timestamps(&i, TimestampingMode::ClientPrefer, false, 10_000, 0).unwrap();
        assert_eq!(t, vec![1000, 1000, 2000]);
        let t = assign_timestamps(
            &input(&[Some(1500)]),
            TimestampingMode::ClientPrefer,
            false,
            10_000,
            2000,
        )
        .unwrap();
        assert_eq!(t, vec![2000]);
        let t = assign_timestamps(
            &input(&[Some(50_000)]),
            TimestampingMode::ClientPrefer,
            false,
            10_000,
            0,
        )
        .unwrap();
        assert_eq!(t, vec![10_000]);
        let t = assign_timestamps(
            &input(&[Some(50_000)]),
            TimestampingMode::ClientPrefer,
            true,
            10_000,
            0,
        )
        .unwrap();
        assert_eq!(t, vec![50_000]);
        let t = assign_timestamps(
            &input(&[Some(5), None]),
            TimestampingMode::Arrival,
            false,
            7,
            0,
        )
        .unwrap();
        assert_eq!(t, vec![7, 7]);
        assert!(assign_timestamps(
            &input(&[None]),
            TimestampingMode::ClientRequire,
            false,
            7,
            0
        )
        .is_err());
    }
}
